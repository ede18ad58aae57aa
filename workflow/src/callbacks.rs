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

/// A callback task as a pure state machine: `decide(task, command, now)`
/// gives the events a command causes or refuses it; `apply` folds one in.
/// The service writes the folded task with its events in one atomic write;
/// each event is kept in the task's history under its [`TaskEventKind::name`].
pub mod task {
    use chrono::{DateTime, Duration, Utc};

    use super::{CallbackOutcome, CallbackPolicy, CallbackStatus, CallbackTask};
    use crate::DomainError;

    /// What may be done to a task.
    #[derive(Debug, Clone, PartialEq)]
    pub enum TaskCommand {
        /// Start the next attempt (or re-send the one whose lease ran out).
        Begin,
        /// The dialer took the call.
        Sent,
        /// The dialer refused it.
        Failed {
            /// Its words.
            error: String,
        },
        /// The applicant asked to talk to a person during attempt `attempt_key`.
        ToPerson {
            /// The attempt under way.
            attempt_key: String,
        },
        /// The applicant's answer, from the dialer (with the attempt's key) or
        /// from an operator who called (without).
        Answer {
            /// What they said.
            outcome: CallbackOutcome,
            /// The attempt it answers, when a dialer reports it.
            attempt_key: Option<String>,
        },
        /// No call any more: the result no longer stands, or another applicant answered.
        Cancel {
            /// Why.
            reason: String,
        },
        /// The applicant's phone was erased.
        Erase,
    }

    /// What happened to a task.
    #[derive(Debug, Clone, PartialEq)]
    pub enum TaskEventKind {
        /// Attempt `n` started.
        Attempt(u32),
        /// The attempt under way was handed over again (same key).
        Resend(u32),
        /// The dialer took the call; its answer is awaited until `until`.
        Sent {
            /// When an unanswered call counts as not answered.
            until: DateTime<Utc>,
        },
        /// The dialer refused the call; retried at `retry_at`, or never after the last attempt.
        Failed {
            /// The dialer's words.
            error: String,
            /// When the next attempt may start; `None` after the last.
            retry_at: Option<DateTime<Utc>>,
        },
        /// The applicant asked for a person: the task goes to the worklist.
        ToPerson,
        /// Nobody answered; the call is tried again at `retry_at`.
        Unanswered {
            /// When.
            retry_at: DateTime<Utc>,
            /// True when a person called (that was an attempt too).
            by_person: bool,
        },
        /// The answer that settles the call.
        Answered(CallbackOutcome),
        /// Not needed any more.
        Cancelled(String),
        /// The phone was erased (a call not yet placed is cancelled).
        Erased,
    }

    impl TaskEventKind {
        /// The name the task's history keeps.
        pub fn name(&self) -> &'static str {
            match self {
                TaskEventKind::Attempt(_) => "ATTEMPT",
                TaskEventKind::Resend(_) => "RESEND",
                TaskEventKind::Sent { .. } => "SENT",
                TaskEventKind::Failed { .. } => "FAILED",
                TaskEventKind::ToPerson => "TO_PERSON",
                TaskEventKind::Unanswered { .. } | TaskEventKind::Answered(CallbackOutcome::NoAnswer) => {
                    "NO_ANSWER"
                }
                TaskEventKind::Answered(CallbackOutcome::Confirmed) => "CONFIRMED",
                TaskEventKind::Answered(CallbackOutcome::NotFixed) => "NOT_FIXED",
                TaskEventKind::Answered(CallbackOutcome::WrongNumber) => "WRONG_NUMBER",
                TaskEventKind::Cancelled(_) => "CANCELLED",
                TaskEventKind::Erased => "ERASED",
            }
        }
    }

    fn superseded(t: &CallbackTask, why: &str) -> DomainError {
        DomainError::Superseded(format!("callback {} {why}", t.id))
    }

    /// Checks `command` against `t` and returns what it causes.
    pub fn decide(
        t: &CallbackTask,
        command: &TaskCommand,
        policy: &CallbackPolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<TaskEventKind>, DomainError> {
        let under_way = matches!(t.status, CallbackStatus::Dialing | CallbackStatus::Sent);
        let finished = matches!(t.status, CallbackStatus::Done | CallbackStatus::Cancelled);
        Ok(match command {
            TaskCommand::Begin => match t.status {
                CallbackStatus::Pending => vec![TaskEventKind::Attempt(t.attempts + 1)],
                CallbackStatus::Dialing => vec![TaskEventKind::Resend(t.attempts)],
                other => return Err(DomainError::Validation(format!("a {other:?} callback is not dialed"))),
            },
            TaskCommand::Sent if t.status == CallbackStatus::Dialing => {
                vec![TaskEventKind::Sent { until: now + Duration::seconds(policy.outcome_timeout_secs) }]
            }
            TaskCommand::Sent => return Err(superseded(t, "is not being dialled")),
            TaskCommand::Failed { error } if under_way => {
                let retry_at = (t.attempts < policy.max_attempts).then(|| now + policy.backoff(t.attempts));
                vec![TaskEventKind::Failed { error: error.clone(), retry_at }]
            }
            TaskCommand::Failed { .. } => return Err(superseded(t, "has no call under way")),
            TaskCommand::ToPerson { attempt_key } if under_way && *attempt_key == t.attempt_key() => {
                vec![TaskEventKind::ToPerson]
            }
            TaskCommand::ToPerson { attempt_key } => {
                return Err(superseded(t, &format!("has no call under way with key {attempt_key}")));
            }
            TaskCommand::Answer { .. } if finished => return Err(superseded(t, "is finished already")),
            TaskCommand::Answer { attempt_key: Some(key), .. } if !under_way || *key != t.attempt_key() => {
                return Err(superseded(
                    t,
                    &format!(
                        "has no call under way with key {key}: its answer was recorded already, or it is not the current attempt"
                    ),
                ));
            }
            TaskCommand::Answer { outcome: CallbackOutcome::NoAnswer, attempt_key }
                if t.attempts < policy.max_attempts =>
            {
                vec![TaskEventKind::Unanswered {
                    retry_at: now + policy.backoff(t.attempts),
                    // A person called from the worklist: that was an attempt too.
                    by_person: attempt_key.is_none() && t.status == CallbackStatus::Pending,
                }]
            }
            TaskCommand::Answer { outcome, .. } => vec![TaskEventKind::Answered(*outcome)],
            TaskCommand::Cancel { .. } if finished => vec![],
            TaskCommand::Cancel { reason } => vec![TaskEventKind::Cancelled(reason.clone())],
            TaskCommand::Erase if t.phone.is_none() => vec![],
            TaskCommand::Erase => vec![TaskEventKind::Erased],
        })
    }

    /// Folds one event into the task.
    pub fn apply(
        mut t: CallbackTask,
        e: &TaskEventKind,
        policy: &CallbackPolicy,
        now: DateTime<Utc>,
    ) -> CallbackTask {
        match e {
            TaskEventKind::Attempt(n) => {
                t.attempts = *n;
                t.status = CallbackStatus::Dialing;
                t.next_at = now + Duration::seconds(policy.dial_lease_secs);
            }
            TaskEventKind::Resend(_) => t.next_at = now + Duration::seconds(policy.dial_lease_secs),
            TaskEventKind::Sent { until } => {
                t.status = CallbackStatus::Sent;
                t.next_at = *until;
            }
            TaskEventKind::Failed { retry_at: Some(at), .. } => {
                t.status = CallbackStatus::Pending;
                t.next_at = *at;
            }
            TaskEventKind::Failed { retry_at: None, .. } | TaskEventKind::ToPerson => {
                t.status = CallbackStatus::Failed
            }
            TaskEventKind::Unanswered { retry_at, by_person } => {
                if *by_person {
                    t.attempts += 1;
                }
                t.status = CallbackStatus::Pending;
                t.next_at = *retry_at;
            }
            TaskEventKind::Answered(o) => {
                t.status = CallbackStatus::Done;
                t.outcome = Some(*o);
            }
            TaskEventKind::Cancelled(_) => t.status = CallbackStatus::Cancelled,
            TaskEventKind::Erased => {
                t.phone = None;
                if matches!(t.status, CallbackStatus::Pending | CallbackStatus::Dialing) {
                    t.status = CallbackStatus::Cancelled;
                }
            }
        }
        t
    }

    #[cfg(test)]
    mod tests {
        use chrono::TimeZone;

        use super::*;
        use crate::model::{Phone, RequestId, RequestNumber};

        fn t0() -> DateTime<Utc> {
            Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
        }

        fn task() -> CallbackTask {
            CallbackTask {
                id: "r/3".into(),
                request: RequestId::generate(t0()),
                number: RequestNumber { year: 2026, seq: 1 },
                phone: Phone::parse("+78564111111").ok(),
                organization: None,
                result: "Сделано".into(),
                status: CallbackStatus::Pending,
                attempts: 0,
                next_at: t0(),
                outcome: None,
                idempotency_key: "k".into(),
                created_at: t0(),
                version: 0,
            }
        }

        fn run(t: CallbackTask, c: TaskCommand, p: &CallbackPolicy) -> Result<CallbackTask, DomainError> {
            Ok(decide(&t, &c, p, t0())?.iter().fold(t, |t, e| apply(t, e, p, t0())))
        }

        #[test]
        fn an_attempt_is_sent_answered_once_and_never_again() {
            let p = CallbackPolicy::default();
            let t = run(task(), TaskCommand::Begin, &p).unwrap();
            assert_eq!(
                (t.status, t.attempts, t.attempt_key()),
                (CallbackStatus::Dialing, 1, "k-1".to_string())
            );
            let resent = run(t.clone(), TaskCommand::Begin, &p).unwrap();
            assert_eq!(
                (resent.attempts, resent.attempt_key()),
                (1, "k-1".to_string()),
                "a re-send keeps its key"
            );
            let t = run(t, TaskCommand::Sent, &p).unwrap();
            let answer = |key: &str| TaskCommand::Answer {
                outcome: CallbackOutcome::Confirmed,
                attempt_key: Some(key.into()),
            };
            assert!(
                matches!(run(t.clone(), answer("k-0"), &p), Err(DomainError::Superseded(_))),
                "not this attempt"
            );
            let done = run(t, answer("k-1"), &p).unwrap();
            assert_eq!((done.status, done.outcome), (CallbackStatus::Done, Some(CallbackOutcome::Confirmed)));
            assert!(
                matches!(run(done, answer("k-1"), &p), Err(DomainError::Superseded(_))),
                "a replay finds it settled"
            );
        }

        #[test]
        fn failures_retry_with_backoff_until_the_last_attempt_then_a_person_calls() {
            let p = CallbackPolicy { max_attempts: 2, ..Default::default() };
            let mut t = task();
            for n in 1..=2 {
                t = run(t, TaskCommand::Begin, &p).unwrap();
                t = run(t, TaskCommand::Failed { error: "busy".into() }, &p).unwrap();
                assert_eq!(t.attempts, n);
            }
            assert_eq!(t.status, CallbackStatus::Failed, "the worklist takes it");
            // An operator's call that nobody answers counts as an attempt too.
            let p = CallbackPolicy { max_attempts: 3, ..Default::default() };
            let t = run(t, TaskCommand::Answer { outcome: CallbackOutcome::NoAnswer, attempt_key: None }, &p)
                .unwrap();
            assert_eq!(t.status, CallbackStatus::Pending);
        }

        #[test]
        fn a_person_is_asked_for_only_during_the_call_and_erasure_cancels_what_is_not_placed() {
            let p = CallbackPolicy::default();
            assert!(run(task(), TaskCommand::ToPerson { attempt_key: "k-1".into() }, &p).is_err());
            let t = run(
                run(task(), TaskCommand::Begin, &p).unwrap(),
                TaskCommand::ToPerson { attempt_key: "k-1".into() },
                &p,
            )
            .unwrap();
            assert_eq!(t.status, CallbackStatus::Failed);
            let erased = run(task(), TaskCommand::Erase, &p).unwrap();
            assert_eq!((erased.phone.clone(), erased.status), (None, CallbackStatus::Cancelled));
            assert!(decide(&erased, &TaskCommand::Erase, &p, t0()).unwrap().is_empty());
        }
    }
}
