//! The daily monitoring report in the API (supervisors and admins).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use kontakt_workflow::model::Role;

use super::errors::OrGql;
use super::{RoleGuard, app, blocking};

/// One organization and deadline class of a daily report.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct DailyReportRow {
    #[graphql(skip)]
    organization_id: Option<String>,
    /// The deadline class.
    pub deadline_class: super::types::DeadlineClass,
    /// Registered during the day.
    pub received: u32,
    /// Resolved during the day.
    pub resolved: u32,
    /// Of those, within the deadline.
    pub resolved_on_time: u32,
    /// Open and past the deadline when the report was made.
    pub overdue_now: u32,
    /// Reopened during the day.
    pub reopened: u32,
    /// Median time to resolve.
    pub median_time_to_resolve: Option<super::scalars::IsoDuration>,
    /// 90th percentile time to resolve.
    pub p90_time_to_resolve: Option<super::scalars::IsoDuration>,
    /// On time ÷ (resolved + open overdue).
    pub compliance: Option<f64>,
}

#[async_graphql::ComplexObject]
impl DailyReportRow {
    /// The organization; null for requests no organization had.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<super::types::Organization>> {
        match &self.organization_id {
            Some(id) => Ok(app(ctx).kontakt.organization(id).gql()?.map(super::types::Organization)),
            None => Ok(None),
        }
    }
}

/// A request open during the reported day.
#[derive(Clone, Debug, SimpleObject)]
pub struct OpenRequestLine {
    /// Its number.
    pub number: String,
    /// Its organization's code.
    pub organization_id: Option<ID>,
    /// Its class.
    pub deadline_class: super::types::DeadlineClass,
    /// Its status at the end of the day.
    pub status: super::types::RequestStatus,
    /// Its deadline.
    pub deadline: DateTime<Utc>,
    /// Time left at the end of the day; negative: overdue by.
    pub time_left: super::scalars::IsoDuration,
}

/// The daily monitoring report.
#[derive(Clone, Debug, SimpleObject)]
pub struct DailyReport {
    /// The city date, YYYY-MM-DD.
    pub date: String,
    /// When it was made (a stored report never changes).
    pub generated_at: DateTime<Utc>,
    /// Per organization and class.
    pub rows: Vec<DailyReportRow>,
    /// Every request open during the day.
    pub open_requests: Vec<OpenRequestLine>,
    /// Where to download it as CSV.
    pub csv_url: String,
    /// Where to download it as XLSX.
    pub xlsx_url: String,
}

impl From<kontakt_workflow::reports::DailyReport> for DailyReport {
    fn from(r: kontakt_workflow::reports::DailyReport) -> Self {
        Self {
            date: r.date.to_string(),
            generated_at: r.generated_at,
            rows: r
                .rows
                .into_iter()
                .map(|x| DailyReportRow {
                    organization_id: x.organization.map(|o| o.to_string()),
                    deadline_class: x.class.into(),
                    received: x.received,
                    resolved: x.resolved,
                    resolved_on_time: x.resolved_on_time,
                    overdue_now: x.overdue_now,
                    reopened: x.reopened,
                    median_time_to_resolve: x.median_secs.map(super::scalars::IsoDuration),
                    p90_time_to_resolve: x.p90_secs.map(super::scalars::IsoDuration),
                    compliance: x.compliance,
                })
                .collect(),
            open_requests: r
                .open
                .into_iter()
                .map(|l| OpenRequestLine {
                    number: l.number.to_string(),
                    organization_id: l.organization.map(|o| ID(o.to_string())),
                    deadline_class: l.class.into(),
                    status: l.status.into(),
                    deadline: l.deadline,
                    time_left: super::scalars::IsoDuration(l.seconds_left),
                })
                .collect(),
            csv_url: format!("/reports/daily/{}.csv", r.date),
            xlsx_url: format!("/reports/daily/{}.xlsx", r.date),
        }
    }
}

const REPORTERS: &[Role] = &[Role::Supervisor, Role::Admin];

/// Report queries.
#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// The daily report of a city date (YYYY-MM-DD): stored once the day is over.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn daily_report(&self, ctx: &Context<'_>, date: String) -> Result<DailyReport> {
        let date = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| super::errors::validation("the date is YYYY-MM-DD"))?;
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.daily_report(date)).await?.into())
    }
}
