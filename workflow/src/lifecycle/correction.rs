//! `correct`: a card registered with the wrong category, address or
//! description is corrected, with a reason, as an event — the original values
//! stay in the history. The consequences are the domain's:
//!
//! - a new category takes its deadline class; a tighter class moves the
//!   deadline closer at once, a looser one needs a supervisor (the design's
//!   rule for lowering a class);
//! - a new category or building routes again, but the request moves only
//!   while no organization has accepted it; once accepted it stays, and only
//!   a reassignment by someone who may reassign moves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::execution::MAX_NOTE;
use super::register::MAX_DESCRIPTION;
use super::{EventKind, Request, require, require_open, text};
use crate::DomainError;
use crate::model::{Actor, Address, Category, CategoryCode, DeadlineClass, OrgId, Role};

/// What a correction changes (the service resolves category, building and route).
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// The right category.
    pub category: Option<Category>,
    /// The right building.
    pub address: Option<Address>,
    /// The right description.
    pub description: Option<String>,
    /// Where routing sends the corrected card.
    pub route: Option<OrgId>,
    /// Why.
    pub reason: String,
}

/// What a correction changed, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Corrected {
    /// The new category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryCode>,
    /// The new class and deadline, when the category changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<(DeadlineClass, DateTime<Utc>)>,
    /// The new building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// The new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The organization it moved to (only before anyone accepted it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrgId>,
    /// Why.
    pub reason: String,
}

/// Corrects an open card.
pub fn correct(r: &Request, actor: &Actor, c: &Correction) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "correct")?;
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], false, "correct requests")?;
    let reason = text("reason", &c.reason, MAX_NOTE)?;
    let category = c.category.as_ref().filter(|k| k.code != r.category);
    let address = c.address.clone().filter(|a| a.id != r.address.id);
    let description = match c.description.as_deref().map(str::trim) {
        Some(d) if d != r.description => Some(text("description", d, MAX_DESCRIPTION)?),
        _ => None,
    };
    let deadline = match category.map(|k| k.deadline_class).filter(|class| *class != r.deadline_class) {
        Some(class)
            if class.window() > r.deadline_class.window()
                && !actor.has_role(&[Role::Supervisor, Role::Admin]) =>
        {
            return Err(DomainError::Forbidden(format!(
                "only a supervisor may loosen the deadline class from {} to {class}",
                r.deadline_class
            )));
        }
        Some(class) => Some((class, r.registered_at + class.window())),
        None => None,
    };
    let rerouted = category.is_some() || address.is_some();
    let organization =
        c.route.clone().filter(|o| rerouted && r.accepted_at.is_none() && r.organization.as_ref() != Some(o));
    if category.is_none() && address.is_none() && description.is_none() {
        return Err(DomainError::Validation("the correction changes nothing".into()));
    }
    Ok(vec![EventKind::Corrected(Box::new(Corrected {
        category: category.map(|k| k.code.clone()),
        deadline,
        address,
        description,
        organization,
        reason,
    }))])
}
