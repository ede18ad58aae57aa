//! The resource plan in the API: demand forecast, crews by an M/M/c model on
//! each organization's working clock, vehicles and materials by the norms,
//! and where moving crews between city organizations helps most; with the
//! norms and working hours it is made from (ADMIN edits them, audited).

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use kontakt_workflow::capacity::{self, CategoryNorm, MaterialNorm, WorkingHours};
use kontakt_workflow::model::{self, Role};

use super::errors::validation;
use super::types::{DeadlineClass, Organization};
use super::{RoleGuard, app, blocking, principal};

const REPORTERS: &[Role] = &[Role::Supervisor, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];

/// How requests queue: emergencies first and at any hour when crews are on call.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClassGroup {
    /// The EMERGENCY class.
    Emergency,
    /// SHORT, MEDIUM and LONG.
    Regular,
}

impl From<capacity::ClassGroup> for ClassGroup {
    fn from(g: capacity::ClassGroup) -> Self {
        match g {
            capacity::ClassGroup::Emergency => ClassGroup::Emergency,
            capacity::ClassGroup::Regular => ClassGroup::Regular,
        }
    }
}

/// One class group's queue in the peak month.
#[derive(SimpleObject)]
pub struct GroupPlan {
    /// The group.
    pub group: ClassGroup,
    /// Requests expected in the peak month.
    pub requests: f64,
    /// Mean service hours, weighted by the expected mix.
    pub mean_service_hours: f64,
    /// The fewest crews that meet the target for this group alone.
    pub crews_needed: Option<u32>,
    /// Predicted share on time with the configured crews.
    pub compliance_configured: Option<f64>,
    /// The best share on time any number of crews could reach with these hours.
    pub compliance_ceiling: Option<f64>,
}

/// A quantity of a material.
#[derive(SimpleObject, Clone)]
pub struct Material {
    /// What.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// How much.
    pub quantity: f64,
}

/// One organization's needs over the planned months.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct OrganizationPlan {
    /// The organization's code.
    pub organization_id: ID,
    /// Requests expected over the planned months.
    pub expected_requests: f64,
    /// The busiest month, `YYYY-MM`: crews are sized for it.
    pub peak_month: Option<String>,
    /// Arrivals per hour in the peak month.
    pub peak_arrivals_per_hour: f64,
    /// The busiest hour of the week (Monday 00:00 is 0).
    pub peak_hour_of_week: Option<u32>,
    /// Mean working hours per request.
    pub mean_service_hours: f64,
    /// The queue of each class group in the peak month.
    pub groups: Vec<GroupPlan>,
    /// The fewest crews meeting the target in every group; null when none can.
    pub crews_needed: Option<u32>,
    /// The crews needed or, when the target is out of reach with these
    /// working hours, the fewest that come within a point of what they allow.
    pub crews_for_best: Option<u32>,
    /// Crews it has.
    pub crews_configured: u32,
    /// Needed minus configured: positive when short.
    pub gap: Option<i64>,
    /// Predicted share on time with the crews it has.
    pub compliance_configured: Option<f64>,
    /// Predicted share on time with the crews needed.
    pub compliance_needed: Option<f64>,
    /// The best share any number of crews could reach with its working hours.
    pub compliance_ceiling: Option<f64>,
    /// Crew-hours of work over the planned months.
    pub crew_hours: f64,
    /// Vehicle-hours over the planned months, by the norms.
    pub vehicle_hours: f64,
    /// Vehicles that cover them within the working hours.
    pub vehicles_needed: u32,
    /// Materials over the planned months, by the norms.
    pub materials: Vec<Material>,
    /// Categories expected without a norm: no vehicles or materials counted for them.
    pub categories_without_norm: Vec<ID>,
}

#[async_graphql::ComplexObject]
impl OrganizationPlan {
    /// The organization.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let k = app(ctx).kontakt.clone();
        let id = self.organization_id.to_string();
        Ok(blocking(move || k.organization(&id)).await?.map(Organization))
    }
}

/// Requests expected of one class in a month.
#[derive(SimpleObject)]
pub struct ClassForecast {
    /// The class.
    pub deadline_class: DeadlineClass,
    /// Requests expected.
    pub expected_requests: f64,
}

/// One organization's expected month.
#[derive(SimpleObject)]
pub struct MonthForecast {
    /// The organization's code.
    pub organization_id: ID,
    /// `YYYY-MM`.
    pub month: String,
    /// Requests expected.
    pub expected_requests: f64,
    /// By deadline class.
    pub by_class: Vec<ClassForecast>,
}

/// Moving one crew between two city organizations.
#[derive(SimpleObject)]
pub struct BalanceMove {
    /// The organization giving a crew.
    pub from_id: ID,
    /// The organization receiving it.
    pub to_id: ID,
    /// Both do the same kind of work.
    pub same_kind: bool,
    /// The giver's crews before.
    pub from_crews: u32,
    /// The receiver's crews before.
    pub to_crews: u32,
    /// The giver's predicted compliance before the move.
    pub from_before: f64,
    /// … and after.
    pub from_after: f64,
    /// The receiver's predicted compliance before the move.
    pub to_before: f64,
    /// … and after.
    pub to_after: f64,
    /// The city organizations' compliance, weighted by expected requests, before.
    pub overall_before: f64,
    /// … and after.
    pub overall_after: f64,
}

/// The resource plan for the coming months.
#[derive(SimpleObject)]
pub struct ResourcePlan {
    /// The probability of meeting the deadline the crews are sized for.
    pub target: f64,
    /// The months planned, `YYYY-MM`.
    pub months: Vec<String>,
    /// One row per organization.
    pub organizations: Vec<OrganizationPlan>,
    /// Expected requests per organization and month.
    pub forecast: Vec<MonthForecast>,
    /// Crew moves between city organizations, best first, each after the ones above.
    pub balance: Vec<BalanceMove>,
    /// Inputs that could not be used as given, and what was used instead.
    pub warnings: Vec<String>,
}

impl From<capacity::Plan> for ResourcePlan {
    fn from(p: capacity::Plan) -> Self {
        let material =
            |m: capacity::MaterialTotal| Material { name: m.name, unit: m.unit, quantity: m.quantity };
        Self {
            target: p.target,
            months: p.months,
            organizations: p
                .organizations
                .into_iter()
                .map(|o| OrganizationPlan {
                    organization_id: ID(o.organization.to_string()),
                    expected_requests: o.expected_requests,
                    peak_month: o.peak_month,
                    peak_arrivals_per_hour: o.peak_arrivals_per_hour,
                    peak_hour_of_week: o.peak_hour_of_week,
                    mean_service_hours: o.mean_service_hours,
                    groups: o
                        .groups
                        .into_iter()
                        .map(|g| GroupPlan {
                            group: g.group.into(),
                            requests: g.requests,
                            mean_service_hours: g.mean_service_hours,
                            crews_needed: g.crews_needed,
                            compliance_configured: g.compliance_configured,
                            compliance_ceiling: g.compliance_ceiling,
                        })
                        .collect(),
                    crews_needed: o.crews_needed,
                    crews_for_best: o.crews_for_best,
                    crews_configured: o.crews_configured,
                    gap: o.gap,
                    compliance_configured: o.compliance_configured,
                    compliance_needed: o.compliance_needed,
                    compliance_ceiling: o.compliance_ceiling,
                    crew_hours: o.crew_hours,
                    vehicle_hours: o.vehicle_hours,
                    vehicles_needed: o.vehicles_needed,
                    materials: o.materials.into_iter().map(material).collect(),
                    categories_without_norm: o
                        .categories_without_norm
                        .into_iter()
                        .map(|c| ID(c.to_string()))
                        .collect(),
                })
                .collect(),
            forecast: p
                .forecast
                .into_iter()
                .map(|m| MonthForecast {
                    organization_id: ID(m.organization.to_string()),
                    month: m.month,
                    expected_requests: m.expected_requests,
                    by_class: m
                        .by_class
                        .into_iter()
                        .map(|(c, n)| ClassForecast { deadline_class: c.into(), expected_requests: n })
                        .collect(),
                })
                .collect(),
            balance: p
                .balance
                .into_iter()
                .map(|b| BalanceMove {
                    from_id: ID(b.from.to_string()),
                    to_id: ID(b.to.to_string()),
                    same_kind: b.same_kind,
                    from_crews: b.from_crews,
                    to_crews: b.to_crews,
                    from_before: b.from_compliance.0,
                    from_after: b.from_compliance.1,
                    to_before: b.to_compliance.0,
                    to_after: b.to_compliance.1,
                    overall_before: b.overall.0,
                    overall_after: b.overall.1,
                })
                .collect(),
            warnings: p.warnings,
        }
    }
}

/// A category's per-request norms.
#[derive(SimpleObject)]
pub struct NormInfo {
    /// The category's code.
    pub category_code: ID,
    /// Crew-hours per request.
    pub crew_hours: f64,
    /// Vehicle-hours per request.
    pub vehicle_hours: f64,
    /// Materials per request.
    pub materials: Vec<Material>,
}

/// A material used per request.
#[derive(InputObject)]
pub struct MaterialInput {
    /// What.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// Quantity per request.
    pub per_request: f64,
}

/// A category's per-request norms, as an admin enters them.
#[derive(InputObject)]
pub struct NormInput {
    /// The category's code.
    pub category_code: ID,
    /// Crew-hours per request.
    pub crew_hours: f64,
    /// Vehicle-hours per request.
    pub vehicle_hours: f64,
    /// Materials per request.
    #[graphql(default)]
    pub materials: Vec<MaterialInput>,
}

/// When an organization's crews work, in city time.
#[derive(SimpleObject)]
pub struct WorkingHoursInfo {
    /// The organization's code.
    pub organization_id: ID,
    /// The hour work starts, 0–23.
    pub start_hour: u32,
    /// The hour work stops, at most 24.
    pub end_hour: u32,
    /// Working days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u32>,
    /// Crews on call take emergencies at any hour.
    pub around_the_clock_for_emergencies: bool,
    /// True when set for this organization; false: the default hours.
    pub set: bool,
}

/// Working hours as an admin enters them.
#[derive(InputObject)]
pub struct WorkingHoursInput {
    /// The hour work starts, 0–23.
    pub start_hour: u32,
    /// The hour work stops, at most 24.
    pub end_hour: u32,
    /// Working days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u32>,
    /// Crews on call take emergencies at any hour.
    pub around_the_clock_for_emergencies: bool,
}

fn days_of(mask: u8) -> Vec<u32> {
    (0..7).filter(|d| mask & (1 << d) != 0).map(|d| d + 1).collect()
}

/// Plan queries.
#[derive(Default)]
pub struct PlanQuery;

#[Object]
impl PlanQuery {
    /// The resource plan for the `months` after this one, crews sized so
    /// each deadline is met with probability ≥ `target` (see the README's
    /// "The resource plan" for the model).
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn resource_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 12)] months: u32,
        #[graphql(default = 0.9)] target: f64,
    ) -> Result<ResourcePlan> {
        if !(1..=24).contains(&months) {
            return Err(validation("months is 1 to 24"));
        }
        if !(0.5..=0.999).contains(&target) {
            return Err(validation("target is a share between 0.5 and 0.999"));
        }
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.resource_plan(months, target)).await?.into())
    }

    /// Every category's per-request norms.
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn category_norms(&self, ctx: &Context<'_>) -> Result<Vec<NormInfo>> {
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.category_norms())
            .await?
            .into_iter()
            .map(|n| NormInfo {
                category_code: ID(n.category.to_string()),
                crew_hours: n.crew_hours,
                vehicle_hours: n.vehicle_hours,
                materials: n
                    .materials
                    .into_iter()
                    .map(|m| Material { name: m.name, unit: m.unit, quantity: m.per_request })
                    .collect(),
            })
            .collect())
    }

    /// Every organization's working hours (the default where none are set).
    #[graphql(guard = "RoleGuard(REPORTERS)")]
    async fn working_hours(&self, ctx: &Context<'_>) -> Result<Vec<WorkingHoursInfo>> {
        let k = app(ctx).kontakt.clone();
        let (orgs, set) = blocking(move || Ok((k.organizations()?, k.working_hours()?))).await?;
        Ok(orgs
            .into_iter()
            .map(|o| {
                let h = set.get(&o.id).copied();
                let hours = h.unwrap_or_default();
                WorkingHoursInfo {
                    organization_id: ID(o.id.to_string()),
                    start_hour: hours.start_hour,
                    end_hour: hours.end_hour,
                    days: days_of(hours.days),
                    around_the_clock_for_emergencies: hours.around_the_clock_for_emergencies,
                    set: h.is_some(),
                }
            })
            .collect())
    }
}

/// Plan mutations (ADMIN; each recorded with who did it).
#[derive(Default)]
pub struct PlanMutation;

#[Object]
impl PlanMutation {
    /// Sets a category's per-request norms.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn set_category_norm(&self, ctx: &Context<'_>, input: NormInput) -> Result<bool> {
        let norm = CategoryNorm {
            category: model::Code::parse(&input.category_code).map_err(super::errors::domain)?,
            crew_hours: input.crew_hours,
            vehicle_hours: input.vehicle_hours,
            materials: input
                .materials
                .into_iter()
                .map(|m| MaterialNorm {
                    name: m.name.trim().to_string(),
                    unit: m.unit.trim().to_string(),
                    per_request: m.per_request,
                })
                .collect(),
        };
        let (k, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        blocking(move || k.set_category_norm(&norm, &actor)).await?;
        Ok(true)
    }

    /// Sets an organization's working hours.
    #[graphql(guard = "RoleGuard(ADMIN)")]
    async fn set_working_hours(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        input: WorkingHoursInput,
    ) -> Result<bool> {
        let mut days = 0u8;
        for d in &input.days {
            if !(1..=7).contains(d) {
                return Err(validation("working days are 1 (Monday) to 7 (Sunday)"));
            }
            days |= 1 << (d - 1);
        }
        let hours = WorkingHours {
            start_hour: input.start_hour,
            end_hour: input.end_hour,
            days,
            around_the_clock_for_emergencies: input.around_the_clock_for_emergencies,
        };
        let (k, actor) = (app(ctx).kontakt.clone(), principal(ctx)?.actor());
        blocking(move || k.set_working_hours(&organization_id, hours, &actor)).await?;
        Ok(true)
    }
}
