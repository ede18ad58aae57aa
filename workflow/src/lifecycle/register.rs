//! `register`: a new card gets its number, class, deadline and — when a
//! routing rule matched — its organization, at once.

use chrono::{DateTime, Utc};

use super::{Applicant, Event, EventKind, Request, require, text};
use crate::DomainError;
use crate::model::{Actor, Address, Category, Channel, OrgId, RequestId, RequestNumber, RequestStatus, Role};

/// Everything a new card needs, resolved by the caller (category, address,
/// route and number come from the store).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The new id.
    pub id: RequestId,
    /// The allocated number.
    pub number: RequestNumber,
    /// The chosen category.
    pub category: Category,
    /// The building.
    pub address: Address,
    /// What the caller said.
    pub description: String,
    /// How it came in.
    pub channel: Channel,
    /// The caller.
    pub applicant: Applicant,
    /// Where routing sends it, if anywhere.
    pub route: Option<OrgId>,
    /// The operator's reason to raise the class to EMERGENCY at once.
    pub raise_reason: Option<String>,
    /// An incident to link at registration, with its organization.
    pub incident: Option<(String, Option<OrgId>)>,
}

/// Longest description accepted.
pub const MAX_DESCRIPTION: usize = 4000;

pub(super) fn decide(
    reg: &Registration,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], true, "register requests")?;
    let description = text("description", &reg.description, MAX_DESCRIPTION)?;
    if reg.applicant.callback_consent && reg.applicant.phone.is_none() {
        return Err(DomainError::Validation("a call back needs the applicant's phone".into()));
    }
    if let Some(name) = &reg.applicant.name {
        text("applicant name", name, 200)?;
    }
    let class = reg.category.deadline_class;
    let request = Request {
        id: reg.id,
        number: reg.number,
        status: RequestStatus::Registered,
        category: reg.category.code.clone(),
        deadline_class: class,
        registered_at: now,
        deadline: now + class.window(),
        organization: None,
        accepted_at: None,
        address: reg.address.clone(),
        address_unconfirmed: reg.address.id.as_str().starts_with(crate::model::UNCONFIRMED_PREFIX),
        description,
        channel: reg.channel,
        applicant: reg.applicant.clone(),
        co_applicants: vec![],
        incident: None,
        resolution: None,
        resolved_at: None,
        resolved_late: None,
        closed_at: None,
        escalation: None,
        overdue_holder: None,
        reopened: 0,
        updated_at: now,
        events: 0,
        version: 0,
    };
    let mut kinds = vec![EventKind::Registered { request: Box::new(request) }];
    if let Some(reason) = &reg.raise_reason {
        let reason = text("reason", reason, 1000)?;
        if class != crate::model::DeadlineClass::Emergency {
            kinds.push(EventKind::RaisedToEmergency {
                reason,
                deadline: now + crate::model::DeadlineClass::Emergency.window(),
            });
        }
    }
    match &reg.incident {
        // The incident's organization takes precedence over the routing rule:
        // the whole burst of calls goes to whoever handles the outage.
        Some((incident, Some(org))) => kinds.push(EventKind::LinkedToIncident {
            incident: incident.clone(),
            organization: Some(org.clone()),
        }),
        Some((incident, None)) => {
            kinds.push(EventKind::LinkedToIncident { incident: incident.clone(), organization: None });
            if let Some(org) = &reg.route {
                kinds.push(EventKind::Dispatched { organization: org.clone() });
            }
        }
        None => {
            if let Some(org) = &reg.route {
                kinds.push(EventKind::Dispatched { organization: org.clone() });
            }
        }
    }
    Ok(kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event { seq: i as u32, at: now, actor: actor.clone(), kind })
        .collect())
}
