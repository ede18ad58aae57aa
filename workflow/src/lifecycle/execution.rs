//! The executing organization's commands: `accept`, `resolve`, `reject`.

use chrono::{DateTime, Utc};

use super::{EventKind, Request, require_executor, text};
use crate::DomainError;
use crate::model::{RequestStatus, Role};

/// Longest resolution or reason accepted.
pub const MAX_NOTE: usize = 2000;

/// The organization takes a dispatched request (also once it is overdue).
pub fn accept(r: &Request, actor: &crate::model::Actor) -> Result<Vec<EventKind>, DomainError> {
    let ok = match r.status {
        RequestStatus::Dispatched => true,
        RequestStatus::Overdue => r.organization.is_some() && r.accepted_at.is_none(),
        _ => false,
    };
    if !ok {
        return Err(DomainError::InvalidTransition { from: r.status, command: "accept" });
    }
    require_executor(r, actor, "accept")?;
    Ok(vec![EventKind::Accepted])
}

/// The organization reports the work done; after the deadline it is marked
/// late. When the incident a request is linked to ends, the request is
/// resolved on the authority of whoever ended it: a feed that says the work
/// is done (the system) or a supervisor resolves any open linked request, the
/// organization only its own; an operator resolves none.
pub fn resolve(
    r: &Request,
    actor: &crate::model::Actor,
    resolution: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<EventKind>, DomainError> {
    let overseer = actor.is_system() || actor.has_role(&[Role::Supervisor, Role::Admin]);
    let ok = matches!(r.status, RequestStatus::Dispatched | RequestStatus::InProgress)
        || (r.status == RequestStatus::Overdue && r.organization.is_some())
        || (overseer && r.status.is_open() && r.incident.is_some());
    if !ok {
        return Err(DomainError::InvalidTransition { from: r.status, command: "resolve" });
    }
    if !actor.is_system() {
        require_executor(r, actor, "resolve")?;
    }
    let resolution = text("resolution", resolution, MAX_NOTE)?;
    let note = match note.map(str::trim) {
        None | Some("") => None,
        Some(n) => Some(text("note", n, MAX_NOTE)?),
    };
    Ok(vec![EventKind::Resolved { resolution, note, late: now > r.deadline }])
}

/// The organization sends a misrouted request back to the unrouted queue.
pub fn reject(r: &Request, actor: &crate::model::Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    if !r.status.is_open() || r.organization.is_none() {
        return Err(DomainError::InvalidTransition { from: r.status, command: "reject" });
    }
    require_executor(r, actor, "reject")?;
    let reason = text("reason", reason, MAX_NOTE)?;
    Ok(vec![EventKind::Rejected { reason }])
}
