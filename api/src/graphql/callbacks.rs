//! Callbacks in the API: each request's callback tasks with their attempts,
//! and recording the applicant's answer.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::callbacks;
use kontakt_workflow::model::Role;

use super::errors::{OrGql, not_found};
use super::query::load_visible;
use super::types::RequestNode;
use super::{RoleGuard, app, blocking, principal};

const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];

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
    task: callbacks::CallbackTask,
    request: kontakt_workflow::Request,
    script: String,
    callable_from: DateTime<Utc>,
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

/// Callback queries.
#[derive(Default)]
pub struct CallbackQuery;

#[Object]
impl CallbackQuery {
    /// Calls for the operators to make, oldest first: tasks whose every
    /// attempt failed, and — when no dialer is configured — every task
    /// waiting for its call; each with the script to read and when calling
    /// hours let it be made.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn callback_worklist(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        #[graphql(default = "ru")] lang: String,
    ) -> Result<Vec<CallbackWorkItem>> {
        let a = app(ctx);
        let (k, waiting_too, hours) = (a.kontakt.clone(), !a.dialer_configured, a.calling_hours);
        let first = first.clamp(1, 200) as usize;
        let english = lang == "en";
        blocking(move || {
            let now = k.now();
            let mut out = Vec::new();
            for task in k.callback_worklist(waiting_too, first)? {
                let Some(request) = k.request(task.request)? else { continue };
                let org = match &task.organization {
                    Some(o) => {
                        k.organization(o.as_str())?.map(|o| if english { o.name_en } else { o.name_ru })
                    }
                    None => None,
                };
                let script = callbacks::message(&task, org.as_deref().unwrap_or_default(), english);
                let callable_from =
                    hours.next_open(now.max(task.next_at), kontakt_workflow::service::moscow());
                out.push(CallbackWorkItem { task, request, script, callable_from });
            }
            Ok(out)
        })
        .await
    }
}

/// Callback mutations.
#[derive(Default)]
pub struct CallbackMutation;

#[Object]
impl CallbackMutation {
    /// Records what the applicant answered: CONFIRMED closes the request,
    /// NOT_FIXED reopens it to its organization, NO_ANSWER retries.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn record_callback_outcome(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        outcome: CallbackOutcome,
        note: Option<String>,
    ) -> Result<RequestNode> {
        let a = app(ctx);
        let task = a
            .kontakt
            .callback(&task_id)
            .gql()?
            .ok_or_else(|| not_found(format!("no callback {}", *task_id)))?;
        load_visible(ctx, &task.request.to_string()).await?;
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let o = blocking(move || k.record_callback_outcome(&task_id, outcome.into(), note, &actor)).await?;
        a.bus.publish(&o.events, o.before.as_ref(), &o.request);
        Ok(RequestNode::new(o.request))
    }
}
