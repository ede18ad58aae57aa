//! Calling applicants back with the result (автодозвон). When a request is
//! resolved and its applicant gave a phone and consent, a callback task is
//! written in the same atomic write as the resolution (an outbox). A worker
//! hands due tasks to a dialer; the outcome — CONFIRMED, NOT_FIXED or
//! NO_ANSWER — closes the request, reopens it to its organization, or retries.
//!
//! Every task carries an idempotency key the dialer passes on, so a call
//! re-sent after a crash between sending and recording is recognised by the
//! PBX or gateway as the same call.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{Event, EventKind, Request};
use crate::model::{OrgId, Phone, RequestId, RequestNumber};

/// Where a callback task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallbackStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Being handed to the dialer; past its lease the same attempt is re-sent
    /// with the same idempotency key.
    Dialing,
    /// Handed to the dialer; waiting for the outcome.
    Sent,
    /// The outcome was recorded.
    Done,
    /// Every attempt failed.
    Failed,
    /// Not needed any more: the request was closed, reopened or withdrawn
    /// before the call was placed.
    Cancelled,
}

/// What the applicant answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallbackOutcome {
    /// The problem is fixed: the request closes.
    Confirmed,
    /// It is not: the request goes back to its organization and counts against it.
    NotFixed,
    /// Nobody answered: try again, then close with a note.
    NoAnswer,
}

/// One attempt or outcome in a task's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// `ATTEMPT`, `SENT`, `FAILED`, or an outcome.
    pub kind: String,
    /// Details (the dialer's error, the operator's note).
    pub note: Option<String>,
}

/// A call to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackTask {
    /// `request-id/event-seq` of the resolution it reports.
    pub id: String,
    /// The request.
    pub request: RequestId,
    /// Its number, read out in the call.
    pub number: RequestNumber,
    /// Whom to call; `None` once the applicant's data was erased.
    #[serde(default)]
    pub phone: Option<Phone>,
    /// Who resolved it.
    pub organization: Option<OrgId>,
    /// What was done.
    pub result: String,
    /// Where it stands.
    pub status: CallbackStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the worker looks at it next.
    pub next_at: DateTime<Utc>,
    /// The recorded outcome.
    pub outcome: Option<CallbackOutcome>,
    /// The key of the task; the dialer gets it with the attempt number, so a
    /// re-sent attempt carries the same key and a new attempt a new one.
    pub idempotency_key: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The stored version.
    #[serde(skip)]
    pub version: u64,
}

/// Retries and timeouts of callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackPolicy {
    /// Most attempts (sending failures and unanswered calls together).
    pub max_attempts: u32,
    /// First retry delay; each further one doubles.
    pub backoff_secs: i64,
    /// How long a sent call may wait for its outcome before it counts as unanswered.
    pub outcome_timeout_secs: i64,
    /// How long an attempt may stay unrecorded before it is re-sent.
    pub dial_lease_secs: i64,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self { max_attempts: 3, backoff_secs: 60, outcome_timeout_secs: 3600, dial_lease_secs: 120 }
    }
}

impl CallbackPolicy {
    /// The delay before attempt `attempts + 1`: backoff, 2× backoff, 4× …
    pub fn backoff(&self, attempts: u32) -> chrono::Duration {
        chrono::Duration::seconds(self.backoff_secs.saturating_mul(1 << attempts.saturating_sub(1).min(16)))
    }
}

impl CallbackTask {
    /// The idempotency key of the current attempt.
    pub fn attempt_key(&self) -> String {
        format!("{}-{}", self.idempotency_key, self.attempts)
    }
}

/// The callback a change causes: a resolution of a request whose applicant
/// gave a phone and consent.
pub fn callback_for(after: &Request, events: &[Event], now: DateTime<Utc>) -> Option<CallbackTask> {
    let resolved = events.iter().find(|e| matches!(e.kind, EventKind::Resolved { .. }))?;
    let phone = after.applicant.phone.clone().filter(|_| after.applicant.callback_consent)?;
    let id = format!("{}/{}", after.id, resolved.seq);
    Some(CallbackTask {
        idempotency_key: format!("kontakt-callback-{}-{}", after.id, resolved.seq),
        id,
        request: after.id,
        number: after.number,
        phone: Some(phone),
        organization: after.organization.clone(),
        result: after.resolution.clone().unwrap_or_default(),
        status: CallbackStatus::Pending,
        attempts: 0,
        next_at: now,
        outcome: None,
        created_at: now,
        version: 0,
    })
}

/// The spoken message, in Russian (default) or English.
pub fn message(task: &CallbackTask, organization: &str, english: bool) -> String {
    if english {
        format!(
            "Hello, this is the city Contact Center calling about your request {}. {} reports: {}. \
             If the problem is solved, press 1; if not, press 2.",
            task.number,
            organization,
            spoken(&task.result)
        )
    } else {
        format!(
            "Здравствуйте! Вас беспокоит Контакт-центр города по вашему обращению {}. {} сообщает: {}. \
             Если проблема решена, нажмите 1, если нет — нажмите 2.",
            task.number,
            organization,
            spoken(&task.result)
        )
    }
}

/// The resolution as a clause of the message: its own closing stop would double the message's.
fn spoken(result: &str) -> &str {
    result.trim().trim_end_matches(['.', ' '])
}
