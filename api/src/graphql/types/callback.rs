//! A callback as the API shows it: the task, its attempts and outcome, and
//! the operators' worklist item.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::callbacks;

use super::super::app;
use super::super::errors::OrGql;
use super::RequestNode;

/// What the applicant answered.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::callbacks::CallbackOutcome")]
pub enum CallbackOutcome {
    /// Fixed: the request closes.
    Confirmed,
    /// Not fixed: the request goes back to its organization.
    NotFixed,
    /// Nobody answered: retried, then closed with a note.
    NoAnswer,
    /// Not the applicant's number: the request closes with a note.
    WrongNumber,
}

/// Where a callback stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::callbacks::CallbackStatus")]
pub enum CallbackStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Being handed to the dialer.
    Dialing,
    /// Placed; waiting for the answer.
    Sent,
    /// Answered.
    Done,
    /// Every attempt failed.
    Failed,
    /// Not needed: the request was closed, reopened or withdrawn before the call.
    Cancelled,
}

/// One attempt or outcome.
#[derive(Clone, Debug, SimpleObject)]
pub struct CallbackEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// `CREATED`, `ATTEMPT`, `RESEND`, `SENT`, `FAILED`, or the outcome.
    pub kind: String,
    /// Details.
    pub note: Option<String>,
}

/// A call back to the applicant with the result.
#[derive(Clone, Debug)]
pub struct Callback(pub callbacks::CallbackTask);

#[Object]
impl Callback {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn status(&self) -> CallbackStatus {
        self.0.status.into()
    }
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }
    /// The key the current attempt was placed with: a PBX or gateway names
    /// it when it reports the answer (`POST /callbacks/outcome`).
    async fn attempt_key(&self) -> String {
        self.0.attempt_key()
    }
    /// When the worker looks at it next.
    async fn next_at(&self) -> DateTime<Utc> {
        self.0.next_at
    }
    async fn outcome(&self) -> Option<CallbackOutcome> {
        self.0.outcome.map(Into::into)
    }
    /// The result read out.
    async fn result(&self) -> &str {
        &self.0.result
    }
    /// Every attempt and outcome.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<CallbackEvent>> {
        Ok(app(ctx)
            .kontakt
            .callback_history(&self.0.id)
            .gql()?
            .into_iter()
            .map(|e| CallbackEvent { at: e.at, kind: e.kind, note: e.note })
            .collect())
    }
}

/// One call for a person to make.
pub struct CallbackWorkItem {
    /// The task.
    pub task: callbacks::CallbackTask,
    /// The request it reports on.
    pub request: kontakt_workflow::Request,
    /// What to say.
    pub script: String,
    /// When the call may be made.
    pub callable_from: DateTime<Utc>,
}

#[Object]
impl CallbackWorkItem {
    /// The callback task (record its answer with `recordCallbackOutcome`).
    async fn callback(&self) -> Callback {
        Callback(self.task.clone())
    }
    /// The request it reports on.
    async fn request(&self) -> RequestNode {
        RequestNode::new(self.request.clone())
    }
    /// Whom to call.
    async fn phone(&self) -> Option<&str> {
        self.task.phone.as_ref().map(|p| p.as_str())
    }
    /// What to say: the result, and the question to ask.
    async fn script(&self) -> &str {
        &self.script
    }
    /// When the call may be made: now, or when calling hours open.
    async fn callable_from(&self) -> DateTime<Utc> {
        self.callable_from
    }
    /// Why a person calls: every attempt failed (`FAILED`), or no dialer places calls (`NO_DIALER`).
    async fn reason(&self) -> &'static str {
        if self.task.status == callbacks::CallbackStatus::Failed { "FAILED" } else { "NO_DIALER" }
    }
}
