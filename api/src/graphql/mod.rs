//! The GraphQL schema: query, mutation and subscription roots, the context
//! every resolver reads, authorization guards, and the abuse limits.
//!
//! Authorization lives here, not in the client: every root field carries a
//! [`RoleGuard`], every request read goes through [`visible`], and personal
//! fields check the caller themselves (see `types::may_see_applicant`).

pub mod admin;
pub mod analysis;
pub mod appeals;
pub mod callbacks;
pub mod errors;
pub mod incidents;
pub mod limits;
pub mod mutation;
pub mod plan;
pub mod query;
pub mod reports;
pub mod scalars;
pub mod subscription;
pub mod types;

use std::sync::Arc;

use async_graphql::{Context, Guard, Result, SDLExportOptions, Schema};
use kontakt_workflow::model::Role;
use kontakt_workflow::{DomainError, Kontakt, Request};

use crate::auth::{Auth, Principal};
use crate::bus::Bus;
use crate::metrics::Metrics;
use errors::{forbidden, unauthenticated};

/// The query root: requests and reference data, and incidents.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::Query,
    incidents::IncidentQuery,
    reports::ReportQuery,
    reports::AnalyticsQuery,
    callbacks::CallbackQuery,
    admin::AdminQuery,
    analysis::AnalysisQuery,
    plan::PlanQuery,
    appeals::AppealQuery,
);

/// The mutation root: the state machine's commands and administration, and incidents.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::Mutation,
    incidents::IncidentMutation,
    callbacks::CallbackMutation,
    admin::AdminMutation,
    plan::PlanMutation,
    appeals::AppealMutation,
);

/// The schema type.
pub type AppSchema = Schema<QueryRoot, MutationRoot, subscription::Subscription>;

/// What every resolver can reach.
#[derive(Clone)]
pub struct AppCtx {
    /// The domain service.
    pub kontakt: Kontakt,
    /// Token issuing and checking.
    pub auth: Auth,
    /// Where committed events are published.
    pub bus: Bus,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Largest page size.
    pub max_first: i32,
    /// Most index entries or records one count reads.
    pub count_budget: usize,
    /// How phones typed without a country or city code are read.
    pub numbering: kontakt_workflow::model::NumberingPlan,
    /// Incoming calls from the PBX.
    pub calls: crate::telephony::Calls,
    /// True when a dialer places calls; otherwise every callback waits for a person.
    pub dialer_configured: bool,
    /// When applicants may be called.
    pub calling_hours: kontakt_workflow::callbacks::CallingHours,
    /// What each feed did lately.
    pub feeds: crate::jobs::FeedBoard,
    /// Building imports started here.
    pub imports: admin::Imports,
}

/// The shared context.
pub fn app<'a>(ctx: &Context<'a>) -> &'a AppCtx {
    // Built into every schema by `build`; its absence is a programming error.
    ctx.data_unchecked::<AppCtx>()
}

/// The authenticated caller, or UNAUTHENTICATED.
pub fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal> {
    ctx.data_opt::<Principal>().ok_or_else(unauthenticated)
}

/// Refuses a request the caller may not see: contractors see their own
/// organization's only. Another organization's request is answered exactly as
/// one that does not exist, so a contractor cannot tell which numbers are taken.
pub fn visible(ctx: &Context<'_>, r: &Request) -> Result<()> {
    if may_see(principal(ctx)?, r) { Ok(()) } else { Err(errors::no_such_request()) }
}

/// Loads a request the caller may see.
pub(crate) async fn load_visible(ctx: &Context<'_>, id: &str) -> Result<Request> {
    let id = kontakt_workflow::model::RequestId::parse(id).map_err(|e| errors::validation(e.to_string()))?;
    let k = app(ctx).kontakt.clone();
    let r = blocking(move || k.request(id)).await?.ok_or_else(errors::no_such_request)?;
    visible(ctx, &r)?;
    Ok(r)
}

/// True when `p` may see `r`.
pub fn may_see(p: &Principal, r: &Request) -> bool {
    p.role != Role::Contractor || p.is_contractor_of(r.organization.as_ref())
}

/// Runs `f` on the blocking pool: store reads never hold an async worker,
/// so one slow scan does not stall every socket.
pub async fn off_workers<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "blocking task failed");
            Err(errors::coded("INTERNAL", "internal error"))
        }
    }
}

/// Admits callers holding one of the roles.
pub struct RoleGuard(pub &'static [Role]);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let p = principal(ctx)?;
        if self.0.contains(&p.role) { Ok(()) } else { Err(forbidden(format!("{} may not do this", p.role))) }
    }
}

/// Runs blocking domain work (a durable write waits for its flush) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DomainError> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(errors::domain),
        Err(e) => {
            tracing::error!(error = %e, "blocking task failed");
            Err(errors::coded("INTERNAL", "internal error"))
        }
    }
}

/// Limits of the schema.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deepest nesting.
    pub max_depth: usize,
    /// Highest complexity.
    pub max_complexity: usize,
    /// Most aliases in a document.
    pub max_aliases: usize,
    /// Introspection and suggestions.
    pub introspection: bool,
}

/// Builds the schema with its limits.
pub fn build(ctx: Option<AppCtx>, limits: &Limits) -> AppSchema {
    let mut builder =
        Schema::build(QueryRoot::default(), MutationRoot::default(), subscription::Subscription)
            .limit_depth(limits.max_depth)
            .limit_complexity(limits.max_complexity)
            .limit_recursive_depth(32)
            .limit_directives(8)
            .extension(limits::DocumentLimits { max_operations: 1, max_aliases: limits.max_aliases });
    if !limits.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(ctx) = ctx {
        builder = builder.data(ctx);
    }
    builder.finish()
}

/// The schema in SDL, sorted, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    let schema = build(
        None,
        &Limits {
            max_depth: usize::MAX,
            max_complexity: usize::MAX,
            max_aliases: usize::MAX,
            introspection: true,
        },
    );
    schema.sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_schema_matches_the_code() {
        let checked_in = include_str!("../../../schema.graphql");
        assert!(
            checked_in == super::sdl(),
            "schema.graphql is out of date: run `cargo run -p kontakt-api --bin kontakt -- schema > schema.graphql`"
        );
    }
}
