//! Telling organizations and the administration what concerns them: a
//! notice is written in the same atomic write as the event that causes it
//! (the outbox), and a delivery job sends it by the organization's channels
//! (a signed webhook, e-mail) with retries, or in a digest. Deciding which
//! events become notices is pure; sending lives with the server.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{Event, EventKind, Request};
use crate::model::{DeadlineClass, EscalationStep, OrgId, RequestId, RequestNumber};

/// Why an organization or the administration is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoticeKind {
    /// A new request for the organization.
    Dispatched,
    /// A request moved to the organization.
    Reassigned,
    /// A request of the organization was reopened.
    Reopened,
    /// A request of the organization became an emergency.
    RaisedToEmergency,
    /// 75 % of a request's time has gone.
    Warning,
    /// A request is past its deadline.
    Overdue,
    /// A request is long past its deadline (the administration).
    Escalated,
}

impl NoticeKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Dispatched => "DISPATCHED",
            NoticeKind::Reassigned => "REASSIGNED",
            NoticeKind::Reopened => "REOPENED",
            NoticeKind::RaisedToEmergency => "RAISED_TO_EMERGENCY",
            NoticeKind::Warning => "WARNING",
            NoticeKind::Overdue => "OVERDUE",
            NoticeKind::Escalated => "ESCALATED",
        }
    }
}

/// Where a notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoticeStatus {
    /// Waiting for its first delivery (or for its digest).
    Pending,
    /// Delivery failed; retried with backoff.
    Failing,
    /// Delivered by every channel it had.
    Delivered,
    /// Its recipient has no delivery channel: nothing to send.
    Skipped,
}

/// One thing to tell one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `request/seq[/admin]`: also the delivery's idempotency key.
    pub id: String,
    /// The request.
    pub request: RequestId,
    /// Its number.
    pub number: RequestNumber,
    /// Why.
    pub kind: NoticeKind,
    /// The organization told; `None` for the administration.
    pub organization: Option<OrgId>,
    /// The request's deadline when it happened.
    pub deadline: DateTime<Utc>,
    /// The request's class.
    pub class: DeadlineClass,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Where it stands.
    pub status: NoticeStatus,
    /// Deliveries tried.
    pub attempts: u32,
    /// When the job looks at it next.
    pub next_at: DateTime<Utc>,
    /// Since when delivery keeps failing.
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// The last failure, in words.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The channels it went by (`webhook`, `email`).
    #[serde(default)]
    pub channels: Vec<String>,
    /// The stored version.
    #[serde(skip)]
    pub version: u64,
}

impl Notice {
    fn new(r: &Request, e: &Event, kind: NoticeKind, organization: Option<OrgId>) -> Self {
        let suffix = if organization.is_none() { "/admin" } else { "" };
        Notice {
            id: format!("{}/{}{suffix}", r.id, e.seq),
            request: r.id,
            number: r.number,
            kind,
            organization,
            deadline: r.deadline,
            class: r.deadline_class,
            at: e.at,
            status: NoticeStatus::Pending,
            attempts: 0,
            next_at: e.at,
            failing_since: None,
            last_error: None,
            delivered_at: None,
            channels: vec![],
            version: 0,
        }
    }

    /// The delay before the next try after `attempts` failures: 30 s,
    /// doubling, at most an hour.
    pub fn backoff(attempts: u32) -> chrono::Duration {
        chrono::Duration::seconds((30i64 << attempts.saturating_sub(1).min(7)).min(3600))
    }
}

/// The notices `events` cause for the request as it is after them.
pub fn notices_for(after: &Request, events: &[Event]) -> Vec<Notice> {
    let mut out = Vec::new();
    let org = after.organization.clone();
    for e in events {
        match &e.kind {
            EventKind::Dispatched { organization } => {
                out.push(Notice::new(after, e, NoticeKind::Dispatched, Some(organization.clone())))
            }
            EventKind::Reassigned { organization, .. } => {
                out.push(Notice::new(after, e, NoticeKind::Reassigned, Some(organization.clone())))
            }
            EventKind::LinkedToIncident { organization: Some(o), .. } => {
                out.push(Notice::new(after, e, NoticeKind::Reassigned, Some(o.clone())))
            }
            EventKind::Reopened { .. } => {
                if let Some(o) = &org {
                    out.push(Notice::new(after, e, NoticeKind::Reopened, Some(o.clone())));
                }
            }
            EventKind::RaisedToEmergency { .. } => {
                if let Some(o) = &org {
                    out.push(Notice::new(after, e, NoticeKind::RaisedToEmergency, Some(o.clone())));
                }
            }
            EventKind::Escalation { step } => {
                let kind = match step {
                    EscalationStep::Warning => NoticeKind::Warning,
                    EscalationStep::Overdue => NoticeKind::Overdue,
                    EscalationStep::Escalated => NoticeKind::Escalated,
                };
                if let Some(o) = &org {
                    out.push(Notice::new(after, e, kind, Some(o.clone())));
                }
                // The administration hears escalations, and emergencies as soon as they are overdue.
                let admin = *step == EscalationStep::Escalated
                    || (*step == EscalationStep::Overdue && after.deadline_class == DeadlineClass::Emergency);
                if admin {
                    out.push(Notice::new(after, e, kind, None));
                }
            }
            _ => {}
        }
    }
    out
}
