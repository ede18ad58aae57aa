//! The escalation ladder: WARNING, OVERDUE, ESCALATED at configured shares of
//! the deadline window, each taken once, in order, by the system.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EventKind, Request};
use crate::DomainError;
use crate::model::{Actor, EscalationStep};

/// When each ladder step falls due, in percent of the class's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// WARNING (default 75 %).
    pub warning_pct: u32,
    /// OVERDUE (default 100 %: the deadline itself).
    pub overdue_pct: u32,
    /// ESCALATED to the city administration (default 200 %).
    pub escalated_pct: u32,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self { warning_pct: 75, overdue_pct: 100, escalated_pct: 200 }
    }
}

impl SlaPolicy {
    /// Refuses a ladder whose steps are not strictly increasing.
    pub fn validate(self) -> Result<Self, DomainError> {
        if 0 < self.warning_pct
            && self.warning_pct < self.overdue_pct
            && self.overdue_pct < self.escalated_pct
        {
            Ok(self)
        } else {
            Err(DomainError::Validation(format!(
                "escalation percentages must increase: warning {} < overdue {} < escalated {}",
                self.warning_pct, self.overdue_pct, self.escalated_pct
            )))
        }
    }

    /// When `step` falls due for `r`.
    pub fn due(&self, r: &Request, step: EscalationStep) -> DateTime<Utc> {
        let pct = match step {
            EscalationStep::Warning => self.warning_pct,
            EscalationStep::Overdue => self.overdue_pct,
            EscalationStep::Escalated => self.escalated_pct,
        };
        let window = r.deadline - r.registered_at;
        r.registered_at + window * pct as i32 / 100
    }

    /// The next step not yet taken and when it falls due; `None` once the
    /// request is finished or fully escalated.
    pub fn next(&self, r: &Request) -> Option<(EscalationStep, DateTime<Utc>)> {
        if !r.status.is_open() {
            return None;
        }
        let step = match r.escalation {
            None => EscalationStep::Warning,
            Some(EscalationStep::Warning) => EscalationStep::Overdue,
            Some(EscalationStep::Overdue) => EscalationStep::Escalated,
            Some(EscalationStep::Escalated) => return None,
        };
        Some((step, self.due(r, step)))
    }
}

/// Takes `step` if it is the next one and due at `now`.
pub fn mark(
    r: &Request,
    actor: &Actor,
    step: EscalationStep,
    policy: &SlaPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, DomainError> {
    if !actor.is_system() {
        return Err(DomainError::Forbidden("escalation steps are taken by the system only".into()));
    }
    match policy.next(r) {
        Some((next, due)) if next == step && due <= now => Ok(vec![EventKind::Escalation { step }]),
        Some((next, due)) if next == step => Err(DomainError::NotDue(format!("{step} is due at {due}"))),
        _ => Err(DomainError::NotDue(format!("{step} is not the next step of request {}", r.number))),
    }
}
