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
    /// The number is not the applicant's: nobody can confirm; the request
    /// closes with a note.
    WrongNumber,
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

/// The callbacks a change causes: a resolution calls back every applicant
/// who gave a phone and consent — the first as `request/seq`, each attached
/// one as `request/seq/k`.
pub fn callbacks_for(after: &Request, events: &[Event], now: DateTime<Utc>) -> Vec<CallbackTask> {
    let Some(resolved) = events.iter().find(|e| matches!(e.kind, EventKind::Resolved { .. })) else {
        return vec![];
    };
    after
        .applicants()
        .enumerate()
        .filter_map(|(k, a)| Some((k, a.phone.clone().filter(|_| a.callback_consent)?)))
        .map(|(k, phone)| {
            let suffix = if k == 0 { String::new() } else { format!("/{k}") };
            CallbackTask {
                idempotency_key: format!(
                    "kontakt-callback-{}-{}{}",
                    after.id,
                    resolved.seq,
                    suffix.replace('/', "-")
                ),
                id: format!("{}/{}{suffix}", after.id, resolved.seq),
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
            }
        })
        .collect()
}

impl CallbackTask {
    /// The resolution this call reports, `request/seq`: the calls to every
    /// applicant about one result share it.
    pub fn resolution_key(&self) -> &str {
        match self.id.match_indices('/').nth(1) {
            Some((i, _)) => &self.id[..i],
            None => &self.id,
        }
    }

    /// True while the call may still be made or answered.
    pub fn is_open(&self) -> bool {
        !matches!(self.status, CallbackStatus::Done | CallbackStatus::Cancelled)
    }
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

/// The hours applicants may be called, in city time: every call waits for
/// them, automatic or from the operators' worklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingHours {
    /// First minute of the day calls may start (minutes after midnight).
    pub from: u32,
    /// The minute calls stop (exclusive; 1440 = midnight).
    pub to: u32,
}

impl Default for CallingHours {
    /// Any time: tests and simulations that do not care.
    fn default() -> Self {
        Self { from: 0, to: 24 * 60 }
    }
}

impl CallingHours {
    /// Parses `09:00-21:00` (`00:00-24:00`: any time).
    pub fn parse(s: &str) -> Result<Self, crate::DomainError> {
        let bad = || crate::DomainError::Validation(format!("{s:?} is not calling hours like 09:00-21:00"));
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (from, to) = s.split_once('-').ok_or_else(bad)?;
        let (from, to) = (minutes(from).ok_or_else(bad)?, minutes(to).ok_or_else(bad)?);
        if from >= to {
            return Err(bad());
        }
        Ok(Self { from, to })
    }

    /// The first moment at or after `now` when calls may be made.
    pub fn next_open(&self, now: DateTime<Utc>, zone: chrono::FixedOffset) -> DateTime<Utc> {
        let local = now.with_timezone(&zone);
        let minute = chrono::Timelike::hour(&local) * 60 + chrono::Timelike::minute(&local);
        if (self.from..self.to).contains(&minute) {
            return now;
        }
        let day = if minute < self.from {
            local.date_naive()
        } else {
            local.date_naive() + chrono::Duration::days(1)
        };
        let opens = day.and_hms_opt(self.from / 60, self.from % 60, 0).unwrap_or_default();
        opens.and_local_timezone(zone).single().map_or(now, |t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod hours_tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_call_due_at_night_waits_for_the_morning_in_city_time() {
        let hours = CallingHours::parse("09:00-21:00").unwrap();
        let msk = crate::service::moscow();
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 30, h, m, 0).unwrap();
        assert_eq!(hours.next_open(at(10, 0), msk), at(10, 0), "13:00 in the city: now");
        assert_eq!(
            hours.next_open(at(19, 30), msk),
            Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap(),
            "22:30: tomorrow 09:00"
        );
        assert_eq!(hours.next_open(at(2, 0), msk), at(6, 0), "05:00: this morning 09:00");
        assert_eq!(CallingHours::parse("00:00-24:00").unwrap().next_open(at(2, 0), msk), at(2, 0));
        for bad in ["21:00-09:00", "9-21", "09:00-25:00", ""] {
            assert!(CallingHours::parse(bad).is_err(), "{bad}");
        }
    }
}
