//! The Contact Center's own commands: `reassign`, `raise_to_emergency`,
//! `cancel`, `reopen`, `close`, `link`.

use super::execution::MAX_NOTE;
use super::{Applicant, EventKind, Request, require, require_open, text};
use crate::DomainError;
use crate::model::{Actor, DeadlineClass, OrgId, RequestStatus, Role};

/// Sends an open request to another organization. Supervisors may always;
/// operators only dispatch from the unrouted queue.
pub fn reassign(
    r: &Request,
    actor: &Actor,
    organization: &OrgId,
    reason: &str,
) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "reassign")?;
    if r.organization.is_none() {
        require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], false, "dispatch requests")?;
    } else {
        require(actor, &[Role::Supervisor, Role::Admin], false, "reassign requests")?;
    }
    if r.organization.as_ref() == Some(organization) {
        return Err(DomainError::Validation(format!("the request is already with {organization}")));
    }
    let reason = text("reason", reason, MAX_NOTE)?;
    Ok(vec![EventKind::Reassigned { organization: organization.clone(), reason }])
}

/// Raises an open request to EMERGENCY: the deadline becomes registration + 6 h.
pub fn raise_to_emergency(r: &Request, actor: &Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "raise to emergency")?;
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], false, "raise requests to emergency")?;
    if r.deadline_class == DeadlineClass::Emergency {
        return Err(DomainError::Validation("the request is an emergency already".into()));
    }
    let reason = text("reason", reason, MAX_NOTE)?;
    Ok(vec![EventKind::RaisedToEmergency {
        reason,
        deadline: r.registered_at + DeadlineClass::Emergency.window(),
    }])
}

/// Withdraws an open request.
pub fn cancel(r: &Request, actor: &Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "cancel")?;
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], false, "cancel requests")?;
    Ok(vec![EventKind::Cancelled { reason: text("reason", reason, MAX_NOTE)? }])
}

/// Sends a resolved or closed request back to its organization.
pub fn reopen(r: &Request, actor: &Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    if !matches!(r.status, RequestStatus::Resolved | RequestStatus::Closed) {
        return Err(DomainError::InvalidTransition { from: r.status, command: "reopen" });
    }
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], true, "reopen requests")?;
    Ok(vec![EventKind::Reopened { reason: text("reason", reason, MAX_NOTE)? }])
}

/// Closes a resolved request (the applicant confirmed, or the operator decided).
pub fn close(r: &Request, actor: &Actor, note: Option<&str>) -> Result<Vec<EventKind>, DomainError> {
    if r.status != RequestStatus::Resolved {
        return Err(DomainError::InvalidTransition { from: r.status, command: "close" });
    }
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], true, "close requests")?;
    let note = match note.map(str::trim) {
        None | Some("") => None,
        Some(n) => Some(text("note", n, MAX_NOTE)?),
    };
    Ok(vec![EventKind::Closed { note }])
}

/// Links an open request to an incident. The request moves to the
/// incident's organization only when the actor could have sent it there by
/// hand: anyone who links may dispatch an unrouted request, but a request an
/// organization already holds moves only for those who may reassign it.
/// Otherwise it is linked for the record and stays where it is.
pub fn link(
    r: &Request,
    actor: &Actor,
    incident: &str,
    organization: Option<&OrgId>,
) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "link")?;
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], true, "link requests to incidents")?;
    if r.incident.as_deref() == Some(incident) {
        return Err(DomainError::Validation(format!("the request is already linked to {incident}")));
    }
    let may_move = r.organization.is_none() || actor.has_role(&[Role::Supervisor, Role::Admin]);
    let organization = organization.filter(|o| may_move && r.organization.as_ref() != Some(*o)).cloned();
    Ok(vec![EventKind::LinkedToIncident { incident: text("incident", incident, 200)?, organization }])
}

/// Erases the applicant's name and phone, in any status: when the retention
/// period has run out (the system) or on the data subject's request (an
/// administrator). The request, its history and its figures stay.
pub fn erase_applicant(r: &Request, actor: &Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    require(actor, &[Role::Admin], true, "erase personal data")?;
    if !r.applicants().any(Applicant::holds_personal_data) {
        return Err(DomainError::Validation("the request holds no personal data".into()));
    }
    Ok(vec![EventKind::ApplicantErased { reason: text("reason", reason, MAX_NOTE)? }])
}

/// Adds a note, in any status: the Contact Center's roles, and the
/// organization that holds the request.
pub fn add_note(r: &Request, actor: &Actor, note: &str) -> Result<Vec<EventKind>, DomainError> {
    if !actor.has_role(&[Role::Operator, Role::Supervisor, Role::Admin]) {
        super::require_executor(r, actor, "add notes to")?;
    }
    Ok(vec![EventKind::NoteAdded { note: text("note", note, MAX_NOTE)? }])
}

/// Unlinks an open request from its incident: it stays with its organization.
pub fn unlink(r: &Request, actor: &Actor, reason: &str) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "unlink")?;
    require(
        actor,
        &[Role::Operator, Role::Supervisor, Role::Admin],
        false,
        "unlink requests from incidents",
    )?;
    let Some(incident) = r.incident.clone() else {
        return Err(DomainError::Validation("the request is not linked to an incident".into()));
    };
    Ok(vec![EventKind::UnlinkedFromIncident { incident, reason: text("reason", reason, MAX_NOTE)? }])
}

/// Most callers one request may carry: a burst beyond this is an incident.
pub const MAX_APPLICANTS: usize = 50;

/// Attaches another caller with the same problem to an open request, so the
/// duplicate card is never made and they too are called back with the
/// result: the Contact Center's roles only; the same phone twice is refused.
pub fn add_applicant(
    r: &Request,
    actor: &Actor,
    applicant: &Applicant,
) -> Result<Vec<EventKind>, DomainError> {
    require_open(r, "add an applicant to")?;
    require(actor, &[Role::Operator, Role::Supervisor, Role::Admin], false, "add applicants")?;
    let name = match &applicant.name {
        Some(n) if !n.trim().is_empty() => Some(text("name", n, 200)?),
        _ => None,
    };
    if name.is_none() && applicant.phone.is_none() {
        return Err(DomainError::Validation("an applicant needs a name or a phone".into()));
    }
    if applicant.callback_consent && applicant.phone.is_none() {
        return Err(DomainError::Validation("a call back needs a phone".into()));
    }
    if let Some(phone) = &applicant.phone
        && r.called_from(phone)
    {
        return Err(DomainError::Validation("this phone is an applicant of the request already".into()));
    }
    if r.co_applicants.len() + 1 >= MAX_APPLICANTS {
        return Err(DomainError::Validation(format!(
            "a request carries at most {MAX_APPLICANTS} applicants; link further callers through an incident"
        )));
    }
    Ok(vec![EventKind::ApplicantAdded {
        applicant: Applicant {
            name,
            phone: applicant.phone.clone(),
            callback_consent: applicant.callback_consent,
        },
    }])
}
