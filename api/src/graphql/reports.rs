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
    /// Open and past the deadline: at the report's cut-off (formula 2), or
    /// when it was made (formula 1).
    pub overdue_now: u32,
    /// Due during the day (formula 2).
    pub due: u32,
    /// Of those, resolved by the deadline.
    pub due_on_time: u32,
    /// Resolved after the deadline, by the cut-off.
    pub due_late: u32,
    /// Still open at the cut-off.
    pub due_open: u32,
    /// Reopened during the day.
    pub reopened: u32,
    /// Median time to resolve.
    pub median_time_to_resolve: Option<super::scalars::IsoDuration>,
    /// 90th percentile time to resolve.
    pub p90_time_to_resolve: Option<super::scalars::IsoDuration>,
    /// Formula 2: due on time ÷ due. Formula 1: on time ÷ (resolved + open overdue).
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
    /// The compliance formula it was made with: 2 today; 1 for snapshots made before.
    pub formula: u32,
    /// The moment its figures are judged at: 08:00 city time after the day (formula 2).
    pub cutoff: Option<DateTime<Utc>>,
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
            formula: r.formula,
            cutoff: r.cutoff,
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
                    due: x.due,
                    due_on_time: x.due_on_time,
                    due_late: x.due_late,
                    due_open: x.due_open,
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

/// Compliance over a slice of a period.
#[derive(Clone, Debug, SimpleObject)]
pub struct Compliance {
    /// Resolved within the deadline.
    pub on_time: u32,
    /// Resolved after it.
    pub late: u32,
    /// Still open past it at the period's end.
    pub open_overdue: u32,
    /// on time ÷ (resolved + open overdue).
    pub compliance: Option<f64>,
}

impl From<kontakt_workflow::analytics::Tally> for Compliance {
    fn from(t: kontakt_workflow::analytics::Tally) -> Self {
        Self { on_time: t.on_time, late: t.late, open_overdue: t.open_overdue, compliance: t.compliance() }
    }
}

/// A week's compliance.
#[derive(Clone, Debug, SimpleObject)]
pub struct WeekCompliance {
    /// The Monday that starts it, YYYY-MM-DD.
    pub week_start: String,
    /// The figures.
    pub compliance: Compliance,
}

/// A class's compliance.
#[derive(Clone, Debug, SimpleObject)]
pub struct ClassCompliance {
    /// The class.
    pub deadline_class: super::types::DeadlineClass,
    /// The figures.
    pub compliance: Compliance,
}

/// A category's compliance.
#[derive(Clone, Debug, SimpleObject)]
pub struct CategoryCompliance {
    /// The category code.
    pub category_code: ID,
    /// The figures.
    pub compliance: Compliance,
}

/// A building that keeps calling.
#[derive(Clone, Debug, SimpleObject)]
pub struct RepeatAddress {
    /// `ул. Пушкинская, 12`.
    pub label: String,
    /// Requests in the period.
    pub requests: u32,
}

/// One organization against its regulated deadlines.
#[derive(Clone, Debug, SimpleObject)]
pub struct OrganizationPerformance {
    /// The organization.
    pub organization: super::types::Organization,
    /// Over the whole period.
    pub total: Compliance,
    /// Week by week.
    pub weeks: Vec<WeekCompliance>,
    /// By deadline class.
    pub by_class: Vec<ClassCompliance>,
    /// By category.
    pub by_category: Vec<CategoryCompliance>,
    /// The categories with the lowest compliance, worst first.
    pub worst_category_codes: Vec<ID>,
    /// Buildings with 3 or more requests.
    pub repeat_addresses: Vec<RepeatAddress>,
    /// For a regional organization below target: the appeal to the region.
    pub appeal_draft: Option<String>,
}

/// Analysis queries.
#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Each organization against its regulated deadlines over `[from, to)`,
    /// city and regional side by side (or one subordination), with draft
    /// appeals for regional organizations below `target`.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn organization_performance(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        subordination: Option<super::types::Subordination>,
        #[graphql(default = 0.9)] target: f64,
    ) -> Result<Vec<OrganizationPerformance>> {
        if !(0.0..=1.0).contains(&target) {
            return Err(super::errors::validation("target is a share between 0 and 1"));
        }
        let k = app(ctx).kontakt.clone();
        let rows =
            blocking(move || k.organization_performance(from, to, subordination.map(Into::into), target))
                .await?;
        Ok(rows
            .into_iter()
            .map(|p| OrganizationPerformance {
                organization: super::types::Organization(p.organization),
                total: p.total.into(),
                weeks: p
                    .weeks
                    .into_iter()
                    .map(|(d, t)| WeekCompliance { week_start: d.to_string(), compliance: t.into() })
                    .collect(),
                by_class: p
                    .by_class
                    .into_iter()
                    .map(|(c, t)| ClassCompliance { deadline_class: c.into(), compliance: t.into() })
                    .collect(),
                by_category: p
                    .by_category
                    .into_iter()
                    .map(|(c, t)| CategoryCompliance {
                        category_code: ID(c.to_string()),
                        compliance: t.into(),
                    })
                    .collect(),
                worst_category_codes: p.worst_categories.into_iter().map(|c| ID(c.to_string())).collect(),
                repeat_addresses: p
                    .repeat_addresses
                    .into_iter()
                    .map(|(label, requests)| RepeatAddress { label, requests })
                    .collect(),
                appeal_draft: p.appeal,
            })
            .collect())
    }
}
