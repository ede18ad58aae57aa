//! Incidents in the API: the list, manual entry (create, update, end), and
//! linking requests. Feeds enter incidents through the jobs, not here.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use kontakt_workflow::incidents::area::{Circle, HouseSpan, StreetRange};
use kontakt_workflow::incidents::{Area, IncidentReport};
use kontakt_workflow::model::{Code, RequestId, Role};

use super::errors::{OrGql, not_found, validation};
use super::load_visible;
use super::types::{Incident, IncidentConnection, IncidentEdge, IncidentStatus, RequestNode};
use super::{RoleGuard, app, blocking, principal};

use super::types::MANUAL_SOURCE as MANUAL;
const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];
const ANY: &[Role] = &[Role::Operator, Role::Contractor, Role::Supervisor, Role::Admin];

/// An incident as an operator enters it.
#[derive(Clone, Debug, InputObject)]
pub struct IncidentInput {
    /// Headline.
    pub title: String,
    /// `power`, `water`, `heating`, …
    pub kind: String,
    /// The organization handling it.
    pub organization_id: Option<ID>,
    /// Registry buildings covered.
    #[graphql(default)]
    pub address_ids: Vec<ID>,
    /// Streets covered, whole.
    #[graphql(default)]
    pub streets: Vec<String>,
    /// Streets with house ranges («Пушкинская», «1-15 нечётные, 2-10»).
    #[graphql(default)]
    pub street_ranges: Vec<StreetRangeInput>,
    /// An area covered: a ring of `[lat, lon]`.
    pub polygon: Option<Vec<Vec<f64>>>,
    /// A circle covered: centre and radius.
    pub circle: Option<CircleInput>,
    /// A description of the area.
    pub area_description: Option<String>,
    /// When it is expected to end.
    pub expected_end_at: Option<DateTime<Utc>>,
}

/// A street, whole or some of its houses.
#[derive(Clone, Debug, InputObject)]
pub struct StreetRangeInput {
    /// The street as written (`ул. Пушкинская`, `Пушкинская`).
    pub street: String,
    /// House numbers and ranges: `1-15 нечётные, 2-10 чётные, 21`; empty for the whole street.
    pub houses: Option<String>,
}

/// A circle.
#[derive(Clone, Debug, InputObject)]
pub struct CircleInput {
    /// Centre latitude.
    pub lat: f64,
    /// Centre longitude.
    pub lon: f64,
    /// Radius in kilometres.
    pub radius_km: f64,
}

fn report(
    source: &str,
    identifier: &str,
    input: IncidentInput,
    started_at: DateTime<Utc>,
) -> Result<IncidentReport> {
    let polygon = match input.polygon {
        Some(ring) => vec![
            ring.into_iter()
                .map(|p| match p.as_slice() {
                    [lat, lon] => Ok((*lat, *lon)),
                    _ => Err(validation("a polygon point is [lat, lon]")),
                })
                .collect::<Result<Vec<_>>>()?,
        ],
        None => vec![],
    };
    let street_ranges = input
        .street_ranges
        .into_iter()
        .map(|r| {
            Ok(StreetRange {
                street: r.street.trim().to_string(),
                houses: HouseSpan::parse_list(r.houses.as_deref().unwrap_or("")).gql()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(IncidentReport {
        source: source.to_string(),
        identifier: identifier.to_string(),
        title: input.title.trim().to_string(),
        kind: input.kind.trim().to_string(),
        organization: input.organization_id.map(|o| Code::parse(&o)).transpose().gql()?,
        started_at,
        expected_end_at: input.expected_end_at,
        area: Area {
            addresses: input.address_ids.into_iter().map(|a| a.to_string()).collect(),
            streets: input.streets,
            street_ranges,
            districts: vec![],
            polygons: polygon,
            circles: input
                .circle
                .map(|c| Circle { lat: c.lat, lon: c.lon, radius_km: c.radius_km })
                .into_iter()
                .collect(),
        },
        area_description: input.area_description,
        ended: None,
    })
}

/// Incident queries.
#[derive(Default)]
pub struct IncidentQuery;

#[Object]
impl IncidentQuery {
    /// Incidents in a status (active by default), a page at a time.
    #[graphql(guard = "RoleGuard(ANY)", complexity = "first.max(0) as usize * child_complexity + 1")]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "IncidentStatus::Active")] status: IncidentStatus,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<IncidentConnection> {
        let a = app(ctx);
        if !(1..=a.max_first).contains(&first) {
            return Err(super::errors::validation(format!("first must be between 1 and {}", a.max_first)));
        }
        let k = a.kontakt.clone();
        let (items, next) =
            super::blocking(move || k.incidents_page(status.into(), after.as_deref(), first as usize))
                .await?;
        Ok(IncidentConnection {
            edges: items
                .into_iter()
                .map(|i| IncidentEdge { cursor: i.id.clone(), node: Incident::new(i) })
                .collect(),
            page_info: super::types::PageInfo { has_next_page: next.is_some(), end_cursor: next },
        })
    }

    /// One incident.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn incident(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Incident>> {
        Ok(app(ctx).kontakt.incident(&id).gql()?.map(Incident::new))
    }
}

/// Incident mutations.
#[derive(Default)]
pub struct IncidentMutation;

#[Object]
impl IncidentMutation {
    /// Enters an incident by hand.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn create_incident(&self, ctx: &Context<'_>, input: IncidentInput) -> Result<Incident> {
        let a = app(ctx);
        let r = report(MANUAL, &ulid::Ulid::generate().to_string(), input, a.kontakt.now())?;
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let change = blocking(move || k.report_incident(r, &actor)).await?;
        a.bus.touch();
        change.map(|c| Incident::new(c.incident)).ok_or_else(|| validation("nothing was created"))
    }

    /// Revises an active incident (title, kind, organization, area, expected end).
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn update_incident(&self, ctx: &Context<'_>, id: ID, input: IncidentInput) -> Result<Incident> {
        let a = app(ctx);
        let current = a.kontakt.active_incident(&id).gql()?;
        if current.source != MANUAL {
            return Err(super::errors::forbidden(format!(
                "incident {} comes from the feed {}: only the feed revises it (it may be ended)",
                current.id, current.source
            )));
        }
        let r = report(&current.source, &current.identifier, input, current.started_at)?;
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let change = blocking(move || k.report_incident(r, &actor)).await?;
        a.bus.touch();
        change.map(|c| Incident::new(c.incident)).ok_or_else(|| not_found(format!("no incident {}", *id)))
    }

    /// Ends an incident. Every linked open request the caller may resolve is
    /// resolved with `resolution`: a supervisor or admin resolves them all, the
    /// incident's organization its own; an operator's ending resolves none,
    /// they stay with their organizations.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn end_incident(&self, ctx: &Context<'_>, id: ID, resolution: String) -> Result<Incident> {
        let a = app(ctx);
        let p = principal(ctx)?;
        if p.role == Role::Contractor {
            let incident = a.kontakt.incident(&id).gql()?;
            if !incident.is_some_and(|i| p.is_contractor_of(i.organization.as_ref())) {
                return Err(super::errors::forbidden(
                    "a contractor ends only its own organization's incidents",
                ));
            }
        }
        let (k, actor) = (a.kontakt.clone(), p.actor());
        let change = blocking(move || k.end_incident(&id, &resolution, &actor)).await?;
        for o in &change.resolved {
            a.bus.publish(&o.events, o.before.as_ref(), &o.request);
        }
        a.bus.touch();
        Ok(Incident::new(change.incident))
    }

    /// Links every open request at a building the incident covers, in one
    /// action; the number linked. Linking moves a request to the incident's
    /// organization only when the caller may reassign it.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn link_covered_requests(&self, ctx: &Context<'_>, incident_id: ID) -> Result<i32> {
        let a = app(ctx);
        let (k, actor) = (a.kontakt.clone(), principal(ctx)?.actor());
        let outcomes = blocking(move || k.link_covered_requests(&incident_id, &actor)).await?;
        for o in &outcomes {
            a.bus.publish(&o.events, o.before.as_ref(), &o.request);
        }
        Ok(outcomes.len() as i32)
    }

    /// Links a request to an active incident. It moves to the incident's
    /// organization when it has none yet, or when the caller may reassign it.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn link_to_incident(&self, ctx: &Context<'_>, id: ID, incident_id: ID) -> Result<RequestNode> {
        let r = load_visible(ctx, &id).await?;
        let a = app(ctx);
        let (k, actor, id): (_, _, RequestId) = (a.kontakt.clone(), principal(ctx)?.actor(), r.id);
        let outcome = blocking(move || k.link_to_incident(id, &incident_id, &actor)).await?;
        a.bus.publish(&outcome.events, outcome.before.as_ref(), &outcome.request);
        Ok(RequestNode::new(outcome.request))
    }
}
