//! Appeals to regional organizations in the API (supervisors and admins):
//! the list, one appeal with its history and document link, and drafting,
//! editing, sending and withdrawing. Every change names the version the
//! caller saw; a change made meanwhile is answered CONFLICT.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::appeals;
use kontakt_workflow::model::{Code, Role};

use super::errors::{OrGql, validation};
use super::types::{Category, GqlRole, Organization, RequestStatus};
use super::{RoleGuard, app, blocking, principal};

const REPORTERS: &[Role] = &[Role::Supervisor, Role::Admin];

/// Where an appeal stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::appeals::AppealStatus")]
pub enum AppealStatus {
    /// Being written; only a draft may be edited.
    Draft,
    /// Sent under an outgoing number.
    Sent,
    /// Withdrawn with a reason.
    Withdrawn,
}

/// The figures an appeal cites, as they stood when it was drafted.
#[derive(Clone, Debug, SimpleObject)]
pub struct AppealFigures {
    /// Resolved within the deadline.
    pub on_time: u32,
    /// Resolved after it.
    pub late: u32,
    /// Still open past it at the end of the period.
    pub open_overdue: u32,
    /// on time ÷ (resolved + open overdue).
    pub compliance: f64,
    /// The regulated share the organization fell below.
    pub target: f64,
}

/// A request of an appeal's attachment: resolved late, or open past its deadline.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct LateRequestLine {
    /// Its number.
    pub number: String,
    /// Its category's code.
    pub category_code: ID,
    /// Its deadline.
    pub deadline: DateTime<Utc>,
    /// When it was resolved; null while open.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Its status when the appeal was drafted.
    pub status: RequestStatus,
}

#[async_graphql::ComplexObject]
impl LateRequestLine {
    /// Its category; null when it is no longer in the reference data.
    async fn category(&self, ctx: &Context<'_>) -> Result<Option<Category>> {
        Ok(app(ctx).kontakt.category(&self.category_code).gql()?.map(Category))
    }
}

/// One entry of an appeal's history.
#[derive(Clone, Debug, SimpleObject)]
pub struct AppealEvent {
    /// `DRAFTED`, `EDITED`, `SENT` or `WITHDRAWN`.
    pub kind: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a token subject.
    pub actor: String,
    /// The actor's role.
    pub actor_role: Option<GqlRole>,
    /// The outgoing number of a sending, the reason of a withdrawal.
    pub note: Option<String>,
}

/// A letter to a regional organization below target.
#[derive(Clone, Debug)]
pub struct Appeal(pub Arc<appeals::Appeal>);

impl Appeal {
    fn new(a: appeals::Appeal) -> Self {
        Self(Arc::new(a))
    }
}

#[Object]
impl Appeal {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The organization appealed about; null when it is no longer in the reference data.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        Ok(app(ctx).kontakt.organization(self.0.organization.as_str()).gql()?.map(Organization))
    }
    /// Start of the period judged.
    async fn period_from(&self) -> DateTime<Utc> {
        self.0.period_from
    }
    /// End of the period judged (exclusive).
    async fn period_to(&self) -> DateTime<Utc> {
        self.0.period_to
    }
    async fn figures(&self) -> AppealFigures {
        let f = &self.0.figures;
        AppealFigures {
            on_time: f.on_time,
            late: f.late,
            open_overdue: f.open_overdue,
            compliance: f.compliance,
            target: f.target,
        }
    }
    /// The attachment: every request behind the late and open-overdue figures, by deadline.
    async fn late_requests(&self) -> Vec<LateRequestLine> {
        self.0
            .late_requests
            .iter()
            .map(|l| LateRequestLine {
                number: l.number.to_string(),
                category_code: ID(l.category.to_string()),
                deadline: l.deadline,
                resolved_at: l.resolved_at,
                status: l.status.into(),
            })
            .collect()
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    /// The letter's text; paragraphs are separated by line breaks.
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn status(&self) -> AppealStatus {
        self.0.status.into()
    }
    /// The stored version, for `expectedVersion`.
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Who drafted it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// Who recorded the sending.
    async fn sent_by(&self) -> Option<&str> {
        self.0.sent_by.as_deref()
    }
    /// The outgoing letter's number.
    async fn outgoing_number(&self) -> Option<&str> {
        self.0.outgoing_number.as_deref()
    }
    async fn withdrawn_at(&self) -> Option<DateTime<Utc>> {
        self.0.withdrawn_at
    }
    async fn withdrawn_by(&self) -> Option<&str> {
        self.0.withdrawn_by.as_deref()
    }
    async fn withdrawal_reason(&self) -> Option<&str> {
        self.0.withdrawal_reason.as_deref()
    }
    /// What happened to it, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<AppealEvent>> {
        let (k, id) = (app(ctx).kontakt.clone(), self.0.id.clone());
        let events = blocking(move || k.appeal_history(&id)).await?;
        Ok(events
            .into_iter()
            .map(|e| AppealEvent {
                kind: e.name().to_string(),
                note: e.note(),
                at: e.at,
                actor_role: e.actor.role.map(Into::into),
                actor: e.actor.subject,
            })
            .collect())
    }
    /// Where to download it as a Word letter (with a supervisor's or admin's token).
    async fn docx_url(&self) -> String {
        format!("/reports/appeals/{}.docx", self.0.id)
    }
}

fn org_code(id: &ID) -> Result<Code> {
    Code::parse(id).map_err(|e| validation(e.to_string()))
}

/// Appeal queries.
#[derive(Default)]
pub struct AppealQuery;

#[Object]
impl AppealQuery {
    /// Appeals, newest first: about one organization, or all.
    #[graphql(guard = "RoleGuard(REPORTERS)", complexity = "first.max(0) as usize * child_complexity + 1")]
    async fn appeals(
        &self,
        ctx: &Context<'_>,
        organization_id: Option<ID>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<Appeal>> {
        let a = app(ctx);
        if !(1..=a.max_first).contains(&first) {
            return Err(validation(format!("first must be between 1 and {}", a.max_first)));
        }
        let org = organization_id.as_ref().map(org_code).transpose()?;
        let k = a.kontakt.clone();
        let found = blocking(move || k.appeals(org.as_ref(), first as usize)).await?;
        Ok(found.into_iter().map(Appeal::new).collect())
    }

    /// One appeal.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn appeal(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Appeal>> {
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.appeal(&id)).await?.map(Appeal::new))
    }
}

/// Appeal mutations.
#[derive(Default)]
pub struct AppealMutation;

#[Object]
impl AppealMutation {
    /// Drafts an appeal to a regional organization below `target` over
    /// `[from, to)`, citing its figures and late requests as they stand now.
    /// A city organization, one at or above target, or one with nothing due
    /// in the period is refused (VALIDATION).
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn draft_appeal(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default = 0.9)] target: f64,
    ) -> Result<Appeal> {
        let org = org_code(&organization_id)?;
        let a = app(ctx);
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let drafted = blocking(move || k.draft_appeal(&org, from, to, target, &actor)).await;
        a.metrics.operation("mutation", drafted.is_ok());
        drafted.map(Appeal::new)
    }

    /// Rewrites a draft's subject (3–300 characters) and text (20–20000).
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn edit_appeal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: u64,
        subject: String,
        body: String,
    ) -> Result<Appeal> {
        let a = app(ctx);
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let edited = blocking(move || k.edit_appeal(&id, expected_version, &subject, &body, &actor)).await;
        a.metrics.operation("mutation", edited.is_ok());
        edited.map(Appeal::new)
    }

    /// Records that a draft went out under `outgoingNumber` (1–50 characters).
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn mark_appeal_sent(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: u64,
        outgoing_number: String,
    ) -> Result<Appeal> {
        let a = app(ctx);
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let sent =
            blocking(move || k.mark_appeal_sent(&id, expected_version, &outgoing_number, &actor)).await;
        a.metrics.operation("mutation", sent.is_ok());
        sent.map(Appeal::new)
    }

    /// Withdraws a draft or a sent appeal, with a reason of at least 10 characters.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn withdraw_appeal(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: u64,
        reason: String,
    ) -> Result<Appeal> {
        let a = app(ctx);
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let withdrawn = blocking(move || k.withdraw_appeal(&id, expected_version, &reason, &actor)).await;
        a.metrics.operation("mutation", withdrawn.is_ok());
        withdrawn.map(Appeal::new)
    }
}
