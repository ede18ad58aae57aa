//! The requests behind the analysis figures: every compliance number on the
//! analysis page opens the list it counts.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use kontakt_workflow::analytics::Outcome;
use kontakt_workflow::model::Role;

use super::types::{DeadlineClass, RequestNode};
use super::{RoleGuard, app, blocking};

const REPORTERS: &[Role] = &[Role::Supervisor, Role::Admin];

/// How a request due in a period ended up.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ComplianceOutcome")]
pub enum GqlOutcome {
    /// Resolved within the deadline.
    OnTime,
    /// Resolved after it.
    Late,
    /// Still open past it at the end of the period.
    OpenOverdue,
}

impl From<GqlOutcome> for Outcome {
    fn from(o: GqlOutcome) -> Self {
        match o {
            GqlOutcome::OnTime => Outcome::OnTime,
            GqlOutcome::Late => Outcome::Late,
            GqlOutcome::OpenOverdue => Outcome::OpenOverdue,
        }
    }
}

impl From<Outcome> for GqlOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::OnTime => GqlOutcome::OnTime,
            Outcome::Late => GqlOutcome::Late,
            Outcome::OpenOverdue => GqlOutcome::OpenOverdue,
        }
    }
}

/// A request judged in a compliance figure, with how it ended up.
#[derive(SimpleObject)]
pub struct JudgedRequest {
    /// The request.
    pub request: RequestNode,
    /// On time, late, or still open past the deadline.
    pub outcome: GqlOutcome,
}

/// Analysis queries behind the figures.
#[derive(Default)]
pub struct AnalysisQuery;

#[Object]
impl AnalysisQuery {
    /// The requests behind the "due" figures of a daily report (formula 2):
    /// due on `date` (city date) as they stood at the cut-off, of one
    /// organization (`""`: the ones no organization held), class and outcome.
    /// Their count equals the figure.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn daily_report_requests(
        &self,
        ctx: &Context<'_>,
        date: String,
        organization_id: Option<ID>,
        deadline_class: Option<DeadlineClass>,
        outcome: Option<GqlOutcome>,
    ) -> Result<Vec<JudgedRequest>> {
        let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| super::errors::validation("date is YYYY-MM-DD"))?;
        let k = app(ctx).kontakt.clone();
        let found = blocking(move || {
            k.daily_report_requests(
                date,
                organization_id.as_ref().map(|o| o.as_str()),
                deadline_class.map(Into::into),
                outcome.map(Into::into),
            )
        })
        .await?;
        Ok(found
            .into_iter()
            .map(|(r, o)| JudgedRequest { request: RequestNode::new(r), outcome: o.into() })
            .collect())
    }

    /// The requests behind a figure of `organizationPerformance` for one
    /// organization over `[from, to)`: narrowed to a class, a category, a
    /// week (`weekStart`, the Monday as in `weeks`) and an outcome. Their
    /// count equals the figure.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    #[expect(clippy::too_many_arguments, reason = "one argument per way the figures are cut")]
    async fn compliance_requests(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        deadline_class: Option<DeadlineClass>,
        category_code: Option<ID>,
        week_start: Option<String>,
        outcome: Option<GqlOutcome>,
    ) -> Result<Vec<JudgedRequest>> {
        let week = match week_start {
            Some(w) => Some(
                NaiveDate::parse_from_str(&w, "%Y-%m-%d")
                    .map_err(|_| super::errors::validation("weekStart is YYYY-MM-DD"))?,
            ),
            None => None,
        };
        let k = app(ctx).kontakt.clone();
        let found = blocking(move || {
            k.compliance_requests(
                &organization_id,
                from,
                to,
                deadline_class.map(Into::into),
                category_code.as_ref().map(|c| c.as_str()),
                week,
                outcome.map(Into::into),
            )
        })
        .await?;
        Ok(found
            .into_iter()
            .map(|(r, o)| JudgedRequest { request: RequestNode::new(r), outcome: o.into() })
            .collect())
    }
}
