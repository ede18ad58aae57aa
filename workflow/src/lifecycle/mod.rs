//! The request lifecycle as a pure state machine.
//!
//! `decide(state, command, actor, now)` checks a command against the current
//! state and returns the events it causes, or a typed error; `apply(state,
//! event)` folds one event into the state. Neither does I/O or reads a clock,
//! so every rule is tested by feeding commands and looking at events. The
//! stored record is always `events.fold(apply)`; the service writes both in
//! one atomic write.
//!
//! Each command's rule lives in one place: [`register`], [`execution`]
//! (accept, resolve, reject), [`supervision`] (reassign, raise, cancel, reopen,
//! close, link) and [`ladder`] (the time-driven warning / overdue / escalated).

pub mod actions;
pub mod correction;
pub mod execution;
pub mod ladder;
pub mod register;
pub mod supervision;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::model::{
    Actor, Address, CategoryCode, Channel, DeadlineClass, EscalationStep, OrgId, Phone, RequestId,
    RequestNumber, RequestStatus, Role,
};
pub use ladder::SlaPolicy;
pub use register::Registration;

/// The person who called, and whether they may be called back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Applicant {
    /// Name as given.
    pub name: Option<String>,
    /// Phone, normalized.
    pub phone: Option<Phone>,
    /// Consent to an automatic call back with the result.
    pub callback_consent: bool,
}

impl Applicant {
    /// What is left of an applicant after erasure: nobody to name or call.
    pub fn erased() -> Self {
        Self::default()
    }

    /// True while a name or a phone is held.
    pub fn holds_personal_data(&self) -> bool {
        self.name.is_some() || self.phone.is_some()
    }
}

impl Request {
    /// The organization its deadline is judged against: the one that held it
    /// when it became overdue, else the one holding it now.
    pub fn responsible(&self) -> Option<&OrgId> {
        self.overdue_holder.as_ref().or(self.organization.as_ref())
    }

    /// Everyone who called about it: the first applicant, then those attached.
    pub fn applicants(&self) -> impl Iterator<Item = &Applicant> {
        std::iter::once(&self.applicant).chain(self.co_applicants.iter())
    }

    /// True when any applicant's phone is `phone`.
    pub fn called_from(&self, phone: &Phone) -> bool {
        self.applicants().any(|a| a.phone.as_ref() == Some(phone))
    }
}

/// The events of a history with the applicants' personal data taken out of
/// each (the registration's copy of the card and the added applicants hold it).
pub fn redact(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Registered { request } => {
                let mut request = request.clone();
                request.applicant = Applicant::erased();
                request.co_applicants.clear();
                Event { kind: EventKind::Registered { request }, ..e.clone() }
            }
            EventKind::ApplicantAdded { .. } => {
                Event { kind: EventKind::ApplicantAdded { applicant: Applicant::erased() }, ..e.clone() }
            }
            _ => e.clone(),
        })
        .collect()
}

/// A request card: the fold of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Internal identity.
    pub id: RequestId,
    /// The number read out to the caller.
    pub number: RequestNumber,
    /// Current status.
    pub status: RequestStatus,
    /// The category chosen at registration.
    pub category: CategoryCode,
    /// The regulated class (raised to EMERGENCY by an evented change only).
    pub deadline_class: DeadlineClass,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// Registration plus the class's window.
    pub deadline: DateTime<Utc>,
    /// The executing organization; `None` while in the unrouted queue.
    pub organization: Option<OrgId>,
    /// When the organization accepted it.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The building, as registered.
    pub address: Address,
    /// True while the address is the caller's words, not a registry
    /// building: listed for the administration to attach one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub address_unconfirmed: bool,
    /// What the caller said.
    pub description: String,
    /// How it came in.
    pub channel: Channel,
    /// The caller.
    pub applicant: Applicant,
    /// Other callers with the same problem, attached instead of a duplicate
    /// card: each is called back with the result like the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_applicants: Vec<Applicant>,
    /// The incident it is linked to.
    pub incident: Option<String>,
    /// What was done, once resolved.
    pub resolution: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// True when resolved after its deadline.
    pub resolved_late: Option<bool>,
    /// When it was closed or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    /// The last escalation step taken.
    pub escalation: Option<EscalationStep>,
    /// The organization that held the request when it became overdue: the
    /// lateness counts against it whoever finishes the request (a rejection
    /// or a reassignment afterwards does not take it off its figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overdue_holder: Option<OrgId>,
    /// How many times it was reopened.
    pub reopened: u32,
    /// Time of the last event.
    pub updated_at: DateTime<Utc>,
    /// How many events have been folded in.
    pub events: u32,
    /// The stored record's version (filled in on load; not part of the fold).
    #[serde(skip)]
    pub version: u64,
}

impl Request {
    /// The status an open request has given its fields: OVERDUE once the
    /// overdue step was taken, else by how far it got.
    pub fn open_status(&self) -> RequestStatus {
        if self.escalation >= Some(EscalationStep::Overdue) {
            RequestStatus::Overdue
        } else if self.organization.is_none() {
            RequestStatus::Registered
        } else if self.accepted_at.is_none() {
            RequestStatus::Dispatched
        } else {
            RequestStatus::InProgress
        }
    }
}

/// One entry of a request's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the request's history, from 0.
    pub seq: u32,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub kind: EventKind,
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The card was registered.
    Registered {
        /// The card's initial state (stored without what every new card has).
        #[serde(with = "registered_card")]
        request: Box<Request>,
    },
    /// Sent to an organization by a routing rule.
    Dispatched {
        /// Where.
        organization: OrgId,
    },
    /// The organization took it.
    Accepted,
    /// The organization reported it done.
    Resolved {
        /// What was done, in words for the public: read to the applicant and
        /// shown without a key on Open311.
        resolution: String,
        /// The organization's internal note, for staff only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// After the deadline.
        late: bool,
    },
    /// The organization refused it as not theirs.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Sent to another organization by hand.
    Reassigned {
        /// The new organization.
        organization: OrgId,
        /// Why.
        reason: String,
    },
    /// Raised to the EMERGENCY class; the deadline moves with it.
    RaisedToEmergency {
        /// Why.
        reason: String,
        /// The new deadline.
        deadline: DateTime<Utc>,
    },
    /// Withdrawn.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// Back to its organization after a resolution that did not hold.
    Reopened {
        /// Why.
        reason: String,
    },
    /// Finished.
    Closed {
        /// A closing note.
        note: Option<String>,
    },
    /// A step of the escalation ladder was taken.
    Escalation {
        /// Which.
        step: EscalationStep,
    },
    /// The card was corrected (category, building, description), with a reason.
    Corrected(Box<correction::Corrected>),
    /// A note added to the card ("the caller called again, it is worse").
    NoteAdded {
        /// What was noted.
        note: String,
    },
    /// No longer linked to the incident.
    UnlinkedFromIncident {
        /// The incident it was linked to.
        incident: String,
        /// Why.
        reason: String,
    },
    /// The applicant's name and phone were erased (retention or their own
    /// request): from the record and from every earlier event.
    ApplicantErased {
        /// Why: the retention period, or the data subject's request.
        reason: String,
    },
    /// Another caller with the same problem, attached to this request.
    ApplicantAdded {
        /// Who, and whether they may be called back.
        applicant: Applicant,
    },
    /// Linked to an incident (and dispatched to its organization when it has one).
    LinkedToIncident {
        /// The incident.
        incident: String,
        /// The incident's organization, when the request moves to it.
        organization: Option<OrgId>,
    },
}

impl EventKind {
    /// The event's wire name (`REGISTERED`, `ESCALATION`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Registered { .. } => "REGISTERED",
            EventKind::Dispatched { .. } => "DISPATCHED",
            EventKind::Accepted => "ACCEPTED",
            EventKind::Resolved { .. } => "RESOLVED",
            EventKind::Rejected { .. } => "REJECTED",
            EventKind::Reassigned { .. } => "REASSIGNED",
            EventKind::RaisedToEmergency { .. } => "RAISED_TO_EMERGENCY",
            EventKind::Cancelled { .. } => "CANCELLED",
            EventKind::Reopened { .. } => "REOPENED",
            EventKind::Closed { .. } => "CLOSED",
            EventKind::Escalation { step: EscalationStep::Warning } => "WARNING",
            EventKind::Escalation { step: EscalationStep::Overdue } => "OVERDUE",
            EventKind::Escalation { step: EscalationStep::Escalated } => "ESCALATED",
            EventKind::LinkedToIncident { .. } => "LINKED_TO_INCIDENT",
            EventKind::ApplicantErased { .. } => "APPLICANT_ERASED",
            EventKind::NoteAdded { .. } => "NOTE_ADDED",
            EventKind::Corrected(_) => "CORRECTED",
            EventKind::UnlinkedFromIncident { .. } => "UNLINKED_FROM_INCIDENT",
            EventKind::ApplicantAdded { .. } => "APPLICANT_ADDED",
        }
    }

    /// The human note the event carries (reason, resolution with its internal note), if any: staff text.
    pub fn note(&self) -> Option<String> {
        match self {
            EventKind::Resolved { resolution, note: None, .. } => Some(resolution.clone()),
            EventKind::Resolved { resolution, note: Some(note), .. } => {
                Some(format!("{resolution} ({note})"))
            }
            EventKind::Rejected { reason }
            | EventKind::Reassigned { reason, .. }
            | EventKind::RaisedToEmergency { reason, .. }
            | EventKind::Cancelled { reason }
            | EventKind::Reopened { reason }
            | EventKind::ApplicantErased { reason }
            | EventKind::UnlinkedFromIncident { reason, .. } => Some(reason.clone()),
            EventKind::NoteAdded { note } => Some(note.clone()),
            EventKind::Corrected(c) => Some(c.reason.clone()),
            EventKind::Closed { note } => note.clone(),
            EventKind::Dispatched { organization } => Some(organization.to_string()),
            EventKind::LinkedToIncident { incident, .. } => Some(incident.clone()),
            _ => None,
        }
    }
}

/// A command on a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Register a new card (auto-dispatched when a route exists).
    Register(Box<Registration>),
    /// The organization takes the request.
    Accept,
    /// The organization reports it done.
    Resolve {
        /// What was done, for the public and the applicant.
        resolution: String,
        /// An internal note, for staff only.
        note: Option<String>,
    },
    /// The organization refuses it as misrouted.
    Reject {
        /// Why it is not theirs.
        reason: String,
    },
    /// Send it to another organization.
    Reassign {
        /// The new organization.
        organization: OrgId,
        /// Why.
        reason: String,
    },
    /// Raise to the EMERGENCY class.
    RaiseToEmergency {
        /// Why.
        reason: String,
    },
    /// Withdraw it.
    Cancel {
        /// Why.
        reason: String,
    },
    /// Reopen a resolved or closed request.
    Reopen {
        /// Why.
        reason: String,
    },
    /// Close a resolved request.
    Close {
        /// A closing note.
        note: Option<String>,
    },
    /// Take a time-driven ladder step.
    MarkStep {
        /// The step.
        step: EscalationStep,
        /// The ladder in force.
        policy: SlaPolicy,
    },
    /// Correct the card.
    Correct(Box<correction::Correction>),
    /// Add a note to the card.
    AddNote {
        /// The note.
        note: String,
    },
    /// Unlink from its incident.
    UnlinkIncident {
        /// Why.
        reason: String,
    },
    /// Erase the applicant's name and phone.
    EraseApplicant {
        /// Why.
        reason: String,
    },
    /// Link to an incident.
    LinkIncident {
        /// The incident.
        incident: String,
        /// The incident's organization, to dispatch to.
        organization: Option<OrgId>,
    },
    /// Attach another caller with the same problem.
    AddApplicant {
        /// The caller.
        applicant: Applicant,
    },
}

impl Command {
    /// The command's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Register(_) => "register",
            Command::Accept => "accept",
            Command::Resolve { .. } => "resolve",
            Command::Reject { .. } => "reject",
            Command::Reassign { .. } => "reassign",
            Command::RaiseToEmergency { .. } => "raise to emergency",
            Command::Cancel { .. } => "cancel",
            Command::Reopen { .. } => "reopen",
            Command::Close { .. } => "close",
            Command::MarkStep { .. } => "mark an escalation step on",
            Command::LinkIncident { .. } => "link",
            Command::EraseApplicant { .. } => "erase the applicant of",
            Command::AddNote { .. } => "add a note to",
            Command::Correct(_) => "correct",
            Command::UnlinkIncident { .. } => "unlink",
            Command::AddApplicant { .. } => "add an applicant to",
        }
    }
}

/// Checks `command` against `state` and returns the events it causes.
pub fn decide(
    state: Option<&Request>,
    command: &Command,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, DomainError> {
    let kinds = match (state, command) {
        (None, Command::Register(reg)) => return register::decide(reg, actor, now),
        (Some(_), Command::Register(_)) => {
            return Err(DomainError::Validation("the request is registered already".into()));
        }
        (None, _) => return Err(DomainError::NotFound("no such request".into())),
        (Some(r), Command::Accept) => execution::accept(r, actor)?,
        (Some(r), Command::Resolve { resolution, note }) => {
            execution::resolve(r, actor, resolution, note.as_deref(), now)?
        }
        (Some(r), Command::Reject { reason }) => execution::reject(r, actor, reason)?,
        (Some(r), Command::Reassign { organization, reason }) => {
            supervision::reassign(r, actor, organization, reason)?
        }
        (Some(r), Command::RaiseToEmergency { reason }) => supervision::raise_to_emergency(r, actor, reason)?,
        (Some(r), Command::Cancel { reason }) => supervision::cancel(r, actor, reason)?,
        (Some(r), Command::Reopen { reason }) => supervision::reopen(r, actor, reason)?,
        (Some(r), Command::Close { note }) => supervision::close(r, actor, note.as_deref())?,
        (Some(r), Command::MarkStep { step, policy }) => ladder::mark(r, actor, *step, policy, now)?,
        (Some(r), Command::LinkIncident { incident, organization }) => {
            supervision::link(r, actor, incident, organization.as_ref())?
        }
        (Some(r), Command::EraseApplicant { reason }) => supervision::erase_applicant(r, actor, reason)?,
        (Some(r), Command::AddNote { note }) => supervision::add_note(r, actor, note)?,
        (Some(r), Command::Correct(c)) => correction::correct(r, actor, c)?,
        (Some(r), Command::UnlinkIncident { reason }) => supervision::unlink(r, actor, reason)?,
        (Some(r), Command::AddApplicant { applicant }) => supervision::add_applicant(r, actor, applicant)?,
    };
    let first = state.map_or(0, |r| r.events);
    Ok(kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event { seq: first + i as u32, at: now, actor: actor.clone(), kind })
        .collect())
}

/// Folds one event into the state. Events were validated by [`decide`]; an
/// event that does not fit (a non-REGISTERED first event) leaves the state as is.
pub fn apply(state: Option<Request>, event: &Event) -> Option<Request> {
    let mut r = match (&event.kind, state) {
        (EventKind::Registered { request }, _) => {
            let mut r = (**request).clone();
            r.events = event.seq + 1;
            r.updated_at = event.at;
            return Some(r);
        }
        (_, None) => return None,
        (_, Some(r)) => r,
    };
    match &event.kind {
        EventKind::Registered { .. } => {}
        EventKind::Dispatched { organization } => {
            r.organization = Some(organization.clone());
            r.accepted_at = None;
            r.status = r.open_status();
        }
        EventKind::Accepted => {
            r.accepted_at = Some(event.at);
            r.status = r.open_status();
        }
        EventKind::Resolved { resolution, late, .. } => {
            r.resolution = Some(resolution.clone());
            r.resolved_at = Some(event.at);
            r.resolved_late = Some(*late);
            r.status = RequestStatus::Resolved;
        }
        EventKind::Rejected { .. } => {
            r.organization = None;
            r.accepted_at = None;
            r.status = r.open_status();
        }
        EventKind::Reassigned { organization, .. } => {
            r.organization = Some(organization.clone());
            r.accepted_at = None;
            r.status = r.open_status();
        }
        EventKind::RaisedToEmergency { deadline, .. } => {
            r.deadline_class = DeadlineClass::Emergency;
            r.deadline = *deadline;
        }
        EventKind::Cancelled { .. } => {
            r.status = RequestStatus::Cancelled;
            r.closed_at = Some(event.at);
        }
        EventKind::Reopened { .. } => {
            r.reopened += 1;
            r.accepted_at = None;
            r.resolution = None;
            r.resolved_at = None;
            r.resolved_late = None;
            r.closed_at = None;
            r.status = r.open_status();
        }
        EventKind::Closed { .. } => {
            r.status = RequestStatus::Closed;
            r.closed_at = Some(event.at);
        }
        EventKind::Escalation { step } => {
            r.escalation = Some(*step);
            if *step == EscalationStep::Overdue && r.overdue_holder.is_none() {
                r.overdue_holder = r.organization.clone();
            }
            if r.status.is_open() {
                r.status = r.open_status();
            }
        }
        EventKind::ApplicantErased { .. } => {
            r.applicant = Applicant::erased();
            r.co_applicants.clear();
        }
        EventKind::ApplicantAdded { applicant } => {
            // An erased history keeps the event but not the person.
            if applicant.holds_personal_data() {
                r.co_applicants.push(applicant.clone());
            }
        }
        EventKind::NoteAdded { .. } => {}
        EventKind::Corrected(c) => {
            if let Some(category) = &c.category {
                r.category = category.clone();
            }
            if let Some((class, deadline)) = c.deadline {
                r.deadline_class = class;
                r.deadline = deadline;
            }
            if let Some(address) = &c.address {
                r.address = address.clone();
                r.address_unconfirmed = address.id.as_str().starts_with(crate::model::UNCONFIRMED_PREFIX);
            }
            if let Some(description) = &c.description {
                r.description = description.clone();
            }
            if let Some(org) = &c.organization {
                r.organization = Some(org.clone());
                r.accepted_at = None;
            }
            r.status = r.open_status();
        }
        EventKind::UnlinkedFromIncident { .. } => {
            r.incident = None;
        }
        EventKind::LinkedToIncident { incident, organization } => {
            r.incident = Some(incident.clone());
            if let Some(org) = organization {
                r.organization = Some(org.clone());
                r.accepted_at = None;
            }
            r.status = r.open_status();
        }
    }
    r.events = event.seq + 1;
    r.updated_at = event.at;
    Some(r)
}

/// Folds a whole history.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Option<Request> {
    events.into_iter().fold(None, apply)
}

/// Refuses unless the actor holds one of `roles` (the system passes when `system` is true).
pub(crate) fn require(actor: &Actor, roles: &[Role], system: bool, what: &str) -> Result<(), DomainError> {
    if actor.has_role(roles) || (system && actor.is_system()) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!("{} may not {what}", actor_name(actor))))
    }
}

/// Refuses unless the actor is the request's organization or a supervisor/admin.
pub(crate) fn require_executor(r: &Request, actor: &Actor, what: &str) -> Result<(), DomainError> {
    if actor.has_role(&[Role::Supervisor, Role::Admin]) {
        return Ok(());
    }
    if actor.role == Some(Role::Contractor)
        && actor.organization.is_some()
        && actor.organization == r.organization
    {
        return Ok(());
    }
    Err(DomainError::Forbidden(format!(
        "{} may not {what} a request of another organization",
        actor_name(actor)
    )))
}

fn actor_name(actor: &Actor) -> String {
    match (&actor.role, &actor.organization) {
        (None, _) => "the system".into(),
        (Some(role), Some(org)) => format!("{role} of {org}"),
        (Some(role), None) => format!("{role}"),
    }
}

/// Refuses an empty or overlong text field; returns it trimmed.
pub fn text_field(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    text(field, value, max)
}

/// Refuses an empty or overlong text field.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::Validation(format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(DomainError::Validation(format!("{field} is longer than {max} characters")));
    }
    Ok(v.to_string())
}

/// Refuses unless the request is open.
pub(crate) fn require_open(r: &Request, command: &'static str) -> Result<(), DomainError> {
    if r.status.is_open() { Ok(()) } else { Err(DomainError::InvalidTransition { from: r.status, command }) }
}

/// How the REGISTERED event's card is stored: only what registration
/// decided. What every card just registered has (no organization yet,
/// nothing resolved, no escalation, last changed when registered) is left
/// out and filled back in when read, so the event does not repeat the
/// record. A field is written whenever it differs from that, so any card
/// reads back exactly; a full card, as format 1 stored it, reads too.
mod registered_card {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Applicant, Request};
    use crate::model::{
        Address, CategoryCode, Channel, DeadlineClass, EscalationStep, OrgId, RequestId, RequestNumber,
        RequestStatus,
    };

    fn is_registered(s: &RequestStatus) -> bool {
        *s == RequestStatus::Registered
    }

    fn registered() -> RequestStatus {
        RequestStatus::Registered
    }

    fn is_zero(n: &u32) -> bool {
        *n == 0
    }

    #[derive(Serialize)]
    struct Out<'a> {
        id: &'a RequestId,
        number: &'a RequestNumber,
        #[serde(skip_serializing_if = "is_registered")]
        status: &'a RequestStatus,
        category: &'a CategoryCode,
        deadline_class: &'a DeadlineClass,
        registered_at: &'a DateTime<Utc>,
        deadline: &'a DateTime<Utc>,
        #[serde(skip_serializing_if = "Option::is_none")]
        organization: &'a Option<OrgId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        accepted_at: &'a Option<DateTime<Utc>>,
        address: &'a Address,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        address_unconfirmed: bool,
        description: &'a str,
        channel: &'a Channel,
        applicant: &'a Applicant,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        co_applicants: &'a Vec<Applicant>,
        #[serde(skip_serializing_if = "Option::is_none")]
        incident: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resolution: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resolved_at: &'a Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resolved_late: &'a Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        closed_at: &'a Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        escalation: &'a Option<EscalationStep>,
        #[serde(skip_serializing_if = "Option::is_none")]
        overdue_holder: &'a Option<OrgId>,
        #[serde(skip_serializing_if = "is_zero")]
        reopened: u32,
        /// Written only when it is not the registration time.
        #[serde(skip_serializing_if = "Option::is_none")]
        updated_at: Option<&'a DateTime<Utc>>,
        #[serde(skip_serializing_if = "is_zero")]
        events: u32,
    }

    #[derive(Deserialize)]
    struct In {
        id: RequestId,
        number: RequestNumber,
        #[serde(default = "registered")]
        status: RequestStatus,
        category: CategoryCode,
        deadline_class: DeadlineClass,
        registered_at: DateTime<Utc>,
        deadline: DateTime<Utc>,
        #[serde(default)]
        organization: Option<OrgId>,
        #[serde(default)]
        accepted_at: Option<DateTime<Utc>>,
        address: Address,
        #[serde(default)]
        address_unconfirmed: bool,
        description: String,
        channel: Channel,
        applicant: Applicant,
        #[serde(default)]
        co_applicants: Vec<Applicant>,
        #[serde(default)]
        incident: Option<String>,
        #[serde(default)]
        resolution: Option<String>,
        #[serde(default)]
        resolved_at: Option<DateTime<Utc>>,
        #[serde(default)]
        resolved_late: Option<bool>,
        #[serde(default)]
        closed_at: Option<DateTime<Utc>>,
        #[serde(default)]
        escalation: Option<EscalationStep>,
        #[serde(default)]
        overdue_holder: Option<OrgId>,
        #[serde(default)]
        reopened: u32,
        #[serde(default)]
        updated_at: Option<DateTime<Utc>>,
        #[serde(default)]
        events: u32,
    }

    pub fn serialize<S: Serializer>(r: &Request, s: S) -> Result<S::Ok, S::Error> {
        Out {
            id: &r.id,
            number: &r.number,
            status: &r.status,
            category: &r.category,
            deadline_class: &r.deadline_class,
            registered_at: &r.registered_at,
            deadline: &r.deadline,
            organization: &r.organization,
            accepted_at: &r.accepted_at,
            address: &r.address,
            address_unconfirmed: r.address_unconfirmed,
            description: &r.description,
            channel: &r.channel,
            applicant: &r.applicant,
            co_applicants: &r.co_applicants,
            incident: &r.incident,
            resolution: &r.resolution,
            resolved_at: &r.resolved_at,
            resolved_late: &r.resolved_late,
            closed_at: &r.closed_at,
            escalation: &r.escalation,
            overdue_holder: &r.overdue_holder,
            reopened: r.reopened,
            updated_at: (r.updated_at != r.registered_at).then_some(&r.updated_at),
            events: r.events,
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Request>, D::Error> {
        let c = In::deserialize(d)?;
        Ok(Box::new(Request {
            id: c.id,
            number: c.number,
            status: c.status,
            category: c.category,
            deadline_class: c.deadline_class,
            registered_at: c.registered_at,
            deadline: c.deadline,
            organization: c.organization,
            accepted_at: c.accepted_at,
            address: c.address,
            address_unconfirmed: c.address_unconfirmed,
            description: c.description,
            channel: c.channel,
            applicant: c.applicant,
            co_applicants: c.co_applicants,
            incident: c.incident,
            resolution: c.resolution,
            resolved_at: c.resolved_at,
            resolved_late: c.resolved_late,
            closed_at: c.closed_at,
            escalation: c.escalation,
            overdue_holder: c.overdue_holder,
            reopened: c.reopened,
            updated_at: c.updated_at.unwrap_or(c.registered_at),
            events: c.events,
            version: 0,
        }))
    }
}
