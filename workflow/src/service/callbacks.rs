//! Callback tasks in the store: written with the resolution that causes them,
//! worked off by the delivery worker, finished by the recorded outcome.
//!
//! Index layouts: `"cq" next_at:i64 id:str` — tasks the worker must look at
//! (pending, dialing past its lease, sent past its outcome timeout);
//! `"cf" created:i64 id:str` — tasks whose every attempt failed, for the
//! operators' worklist.

use chrono::{DateTime, Utc};
use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction, prefix_end};

use super::{Kontakt, Outcome, decode, encode};
use crate::DomainError;
use crate::callbacks::task::{self, TaskCommand, TaskEventKind};
use crate::callbacks::{CallbackEvent, CallbackOutcome, CallbackStatus, CallbackTask};
use crate::lifecycle::{Command, Request};
use crate::model::{Actor, RequestId};

pub(super) const CALLBACKS: &str = "cb";

fn key(id: &str) -> RecordKey {
    RecordKey::new(CALLBACKS, id.as_bytes())
}

/// The store write of a task's new state with the event that explains it.
pub(super) fn task_put(
    task: &CallbackTask,
    expect: Expect,
    kind: &str,
    note: Option<String>,
    at: DateTime<Utc>,
) -> Result<Put, DomainError> {
    let waiting =
        matches!(task.status, CallbackStatus::Pending | CallbackStatus::Dialing | CallbackStatus::Sent);
    let index = if waiting {
        vec![KeyBuilder::index("cq").i64(task.next_at.timestamp_millis()).str(&task.id).build()]
    } else if task.status == CallbackStatus::Failed {
        // Every attempt failed: a person calls instead.
        vec![KeyBuilder::index("cf").i64(task.created_at.timestamp_millis()).str(&task.id).build()]
    } else {
        vec![]
    };
    let event = CallbackEvent { at, kind: kind.into(), note };
    Ok(Put { key: key(&task.id), expect, body: Some(encode(task)?), index, events: vec![encode(&event)?] })
}

impl Kontakt {
    /// One callback task.
    pub fn callback(&self, id: &str) -> Result<Option<CallbackTask>, DomainError> {
        match self.store.get(&key(id))? {
            Some(s) => {
                let mut t: CallbackTask = decode(&s.body)?;
                t.version = s.version;
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }

    /// A task's attempts and outcomes, oldest first.
    pub fn callback_history(&self, id: &str) -> Result<Vec<CallbackEvent>, DomainError> {
        self.store.events(&key(id))?.iter().map(|b| decode(b)).collect()
    }

    /// The callback tasks of a request, oldest first.
    pub fn callbacks_of(&self, request: RequestId) -> Result<Vec<CallbackTask>, DomainError> {
        let prefix = format!("{request}/");
        let mut out = Vec::new();
        for (_, s) in self.store.scan_collection(CALLBACKS, Some(request.to_string().as_bytes()), 100)? {
            let mut t: CallbackTask = decode(&s.body)?;
            if !t.id.starts_with(&prefix) {
                break;
            }
            t.version = s.version;
            out.push(t);
        }
        // Ids end in the resolution's position as text ("…/9" sorts after
        // "…/12"): order by when each task was made.
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Tasks the worker must look at now, at most `limit`.
    pub fn due_callbacks(&self, limit: usize) -> Result<Vec<CallbackTask>, DomainError> {
        let p = KeyBuilder::index("cq").build();
        let until = KeyBuilder::index("cq").i64(self.now().timestamp_millis() + 1).build();
        self.tasks_between(&p, &until.min(prefix_end(&p)), limit)
    }

    /// The task after `command` with the write that records it (uncommitted):
    /// the pure rules in [`crate::callbacks::task`] decide, the store keeps
    /// each event in the task's history. `note` is a person's words, kept
    /// with an answer.
    pub(super) fn task_change(
        &self,
        task: &CallbackTask,
        command: &TaskCommand,
        note: Option<String>,
    ) -> Result<(CallbackTask, Option<Put>), DomainError> {
        let now = self.now();
        let events = task::decide(task, command, &self.callback_policy, now)?;
        let Some(last) = events.last() else { return Ok((task.clone(), None)) };
        let after = events.iter().fold(task.clone(), |t, e| task::apply(t, e, &self.callback_policy, now));
        let note = match last {
            TaskEventKind::Attempt(n) | TaskEventKind::Resend(n) => Some(format!("attempt {n}")),
            // A PBX's refusal may quote the number it dialled: kept masked.
            TaskEventKind::Failed { error, .. } => {
                Some(crate::model::mask_numbers(&error.chars().take(500).collect::<String>()))
            }
            TaskEventKind::ToPerson => Some("the applicant asked to talk to an operator".into()),
            TaskEventKind::Cancelled(reason) => Some(reason.clone()),
            _ => note,
        };
        let put = task_put(&after, Expect::Version(task.version), last.name(), note, now)?;
        Ok((after, Some(put)))
    }

    /// Applies `command` to `task` and commits it.
    fn run_task(&self, task: &CallbackTask, command: &TaskCommand) -> Result<CallbackTask, DomainError> {
        let (mut after, put) = self.task_change(task, command, None)?;
        if let Some(put) = put {
            let c = self.store.commit(Transaction::single(put))?;
            after.version = c.versions.first().copied().unwrap_or(task.version + 1);
        }
        Ok(after)
    }

    /// Starts the next attempt of a pending task (or re-sends a dialing one
    /// whose lease ran out, with the same key). Recorded before dialing.
    /// `None` when the request left RESOLVED meanwhile (closed by an operator,
    /// reopened, withdrawn): the task is cancelled instead of calling about a
    /// result that no longer stands.
    pub fn begin_attempt(&self, task: &CallbackTask) -> Result<Option<CallbackTask>, DomainError> {
        let status = self.request(task.request)?.map(|r| r.status);
        let reason = if task.phone.is_none() {
            Some("the applicant's phone was erased".to_string())
        } else {
            match status {
                Some(crate::model::RequestStatus::Resolved) => None,
                Some(s) => Some(format!("the request is {} now", s.as_str())),
                None => Some("the request is gone".to_string()),
            }
        };
        if let Some(reason) = reason {
            self.run_task(task, &TaskCommand::Cancel { reason })?;
            return Ok(None);
        }
        self.run_task(task, &TaskCommand::Begin).map(Some)
    }

    /// Records that the dialer took the call; the outcome is awaited.
    pub fn attempt_sent(&self, task: &CallbackTask) -> Result<CallbackTask, DomainError> {
        self.run_task(task, &TaskCommand::Sent)
    }

    /// Records a failed attempt: retried with backoff, or given up after the last.
    pub fn attempt_failed(&self, task: &CallbackTask, error: &str) -> Result<CallbackTask, DomainError> {
        self.run_task(task, &TaskCommand::Failed { error: error.to_string() })
    }

    /// The applicant pressed "talk to a person" during attempt `attempt_key`:
    /// the task leaves the dialer for the operators' callback worklist.
    pub fn hand_callback_to_person(
        &self,
        task_id: &str,
        attempt_key: &str,
    ) -> Result<CallbackTask, DomainError> {
        let task = self
            .callback(task_id)?
            .ok_or_else(|| DomainError::NotFound(format!("no callback task {task_id}")))?;
        self.run_task(&task, &TaskCommand::ToPerson { attempt_key: attempt_key.to_string() })
    }

    /// Records the applicant's answer: CONFIRMED closes the request, NOT_FIXED
    /// reopens it to its organization, NO_ANSWER retries and after the last
    /// attempt closes it with a note. The request and the task change in one
    /// atomic write.
    pub fn record_callback_outcome(
        &self,
        task_id: &str,
        outcome: CallbackOutcome,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<Outcome, DomainError> {
        self.record_outcome(task_id, None, outcome, note, actor)
    }

    /// Records the answer to one call attempt, as a PBX or gateway reports it:
    /// `attempt_key` is the key the attempt was placed with, so an answer is
    /// accepted only for the attempt under way, and only once (a replayed
    /// answer finds that attempt settled).
    pub fn record_attempt_outcome(
        &self,
        task_id: &str,
        attempt_key: &str,
        outcome: CallbackOutcome,
        note: Option<String>,
    ) -> Result<Outcome, DomainError> {
        self.record_outcome(task_id, Some(attempt_key), outcome, note, &Actor::system())
    }

    /// The call about `r`'s current result that awaits the applicant's
    /// answer, if any: the one an outcome may be recorded for.
    pub fn callback_awaiting_outcome(&self, r: &Request) -> Result<Option<CallbackTask>, DomainError> {
        Ok(self.callbacks_awaiting_outcome(r)?.into_iter().next())
    }

    /// Every call about `r`'s current result still to be made or answered:
    /// one per applicant who agreed to be called.
    pub fn callbacks_awaiting_outcome(&self, r: &Request) -> Result<Vec<CallbackTask>, DomainError> {
        if r.status != crate::model::RequestStatus::Resolved {
            return Ok(vec![]);
        }
        let tasks = self.callbacks_of(r.id)?;
        let Some(current) = tasks.last().map(|t| t.resolution_key().to_string()) else { return Ok(vec![]) };
        Ok(tasks.into_iter().filter(|t| t.resolution_key() == current && t.is_open()).collect())
    }

    /// The dialer's queue, soonest first, at most `limit`: tasks waiting for
    /// their next attempt, being dialled, or waiting for the outcome.
    pub fn callback_queue(&self, limit: usize) -> Result<Vec<CallbackTask>, DomainError> {
        self.tasks_in("cq", limit)
    }

    /// Tasks whose every attempt failed, at most `limit`.
    pub fn failed_callbacks(&self, limit: usize) -> Result<Vec<CallbackTask>, DomainError> {
        self.tasks_in("cf", limit)
    }

    fn tasks_in(&self, index: &str, limit: usize) -> Result<Vec<CallbackTask>, DomainError> {
        let p = KeyBuilder::index(index).build();
        self.tasks_between(&p, &prefix_end(&p), limit)
    }

    /// The tasks an index range points at, in its order, at most `limit`.
    fn tasks_between(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<CallbackTask>, DomainError> {
        let mut out = Vec::new();
        for e in self.store.scan_range(from, to, limit)? {
            if let Some(t) = self.callback(&String::from_utf8_lossy(e.record.id()))? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The operators' callback worklist, oldest first, at most `limit`: every
    /// task whose attempts all failed, and — when no dialer places calls
    /// (`waiting_too`) — every task still waiting for its call.
    pub fn callback_worklist(
        &self,
        waiting_too: bool,
        limit: usize,
    ) -> Result<Vec<CallbackTask>, DomainError> {
        let mut out = self.failed_callbacks(limit)?;
        if waiting_too {
            out.extend(self.callback_queue(limit)?);
        }
        out.retain(|t| matches!(t.status, CallbackStatus::Failed | CallbackStatus::Pending));
        out.sort_by_key(|t| t.created_at);
        out.truncate(limit);
        Ok(out)
    }

    fn record_outcome(
        &self,
        task_id: &str,
        attempt_key: Option<&str>,
        outcome: CallbackOutcome,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<Outcome, DomainError> {
        let task = self
            .callback(task_id)?
            .ok_or_else(|| DomainError::NotFound(format!("no callback task {task_id}")))?;
        let answer = TaskCommand::Answer { outcome, attempt_key: attempt_key.map(str::to_string) };
        // The task's own rules first: finished, or not the attempt under way.
        task::decide(&task, &answer, &self.callback_policy, self.now())?;
        // Only the call about the request's current resolution may settle it:
        // an answer about an earlier resolution says nothing about this one.
        let awaiting = match self.request(task.request)? {
            Some(r) => self.callbacks_awaiting_outcome(&r)?,
            None => vec![],
        };
        if !awaiting.iter().any(|t| t.id == task.id) {
            return Err(DomainError::Superseded(format!(
                "callback {task_id} is about a result that no longer stands"
            )));
        }
        let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        let (done, done_put) = self.task_change(&task, &answer, note.clone())?;
        // The other applicants' calls about the same result.
        let siblings: Vec<&CallbackTask> = awaiting.iter().filter(|t| t.id != task.id).collect();
        let retried = done.status == CallbackStatus::Pending;
        let settles_alone = matches!(outcome, CallbackOutcome::NoAnswer | CallbackOutcome::WrongNumber);
        if retried || (settles_alone && !siblings.is_empty()) {
            // Tried again later, or nobody reached at this number while another applicant may still answer.
            self.store.commit(Transaction::of(done_put.into_iter().collect()))?;
            let request = self
                .request(task.request)?
                .ok_or_else(|| DomainError::NotFound("the request is gone".into()))?;
            return Ok(Outcome { before: Some(request.clone()), request, events: vec![] });
        }
        let command = match outcome {
            CallbackOutcome::Confirmed => Command::Close {
                note: Some(note.clone().unwrap_or_else(|| "Заявитель подтвердил устранение".into())),
            },
            CallbackOutcome::NotFixed => Command::Reopen {
                reason: note.clone().unwrap_or_else(|| "Заявитель сообщил, что проблема не устранена".into()),
            },
            CallbackOutcome::WrongNumber => Command::Close {
                note: Some(
                    note.clone()
                        .unwrap_or_else(|| "Неверный номер заявителя: результат не подтверждён".into()),
                ),
            },
            CallbackOutcome::NoAnswer => Command::Close {
                note: Some(format!("Не удалось дозвониться ({} попыток)", task.attempts)),
            },
        };
        // The answer settles the result for everyone: the others' calls are not made.
        let task_write = |_: &Request| {
            let mut puts: Vec<Put> = done_put.clone().into_iter().collect();
            for s in &siblings {
                let reason =
                    format!("another applicant answered: {}", task::TaskEventKind::Answered(outcome).name());
                if let (_, Some(put)) = self.task_change(s, &TaskCommand::Cancel { reason }, None)? {
                    puts.push(put);
                }
            }
            Ok(puts)
        };
        self.execute_with(task.request, command, actor, None, &task_write)
    }
}
