//! Callbacks in the API: each request's callback tasks with their attempts,
//! and recording the applicant's answer.

use async_graphql::{Context, ID, Object, Result};
use kontakt_workflow::callbacks;
use kontakt_workflow::model::Role;

use super::errors::{OrGql, not_found};
use super::load_visible;
use super::types::{CallbackOutcome, CallbackWorkItem, RequestNode};
use super::{RoleGuard, app, blocking, principal};

const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];

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
