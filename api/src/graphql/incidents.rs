//! Incidents in the API: the list, manual entry (create, update, end), and
//! linking requests. Feeds enter incidents through the jobs, not here.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use kontakt_workflow::incidents::area::{Circle, HouseSpan, StreetRange};
use kontakt_workflow::incidents::{self, Area, IncidentReport};
use kontakt_workflow::model::{Code, RequestId, Role};

use super::errors::{OrGql, not_found, validation};
use super::query::load_visible;
use super::types::{Organization, RequestNode};
use super::{RoleGuard, app, blocking, principal, visible};

/// The source of incidents entered by hand.
const MANUAL: &str = "manual";
const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];
const ANY: &[Role] = &[Role::Operator, Role::Contractor, Role::Supervisor, Role::Admin];

/// Whether an incident is going on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "kontakt_workflow::incidents::IncidentStatus")]
pub enum IncidentStatus {
    /// Going on.
    Active,
    /// Over: the work is done; linked requests were resolved on the authority of whoever ended it.
    Ended,
    /// Its expected end passed with no word that the work is done; linked requests stay open.
    Expired,
    /// Withdrawn by its source (CAP `Cancel`); linked requests stay open.
    Cancelled,
}

/// A city emergency.
#[derive(Clone, Debug)]
pub struct Incident {
    /// The incident.
    pub inner: Arc<incidents::Incident>,
    /// How it covers the address asked about (`building`, `street`, `area`), in card hints.
    pub coverage: Option<&'static str>,
}

impl Incident {
    /// Wraps an incident.
    pub fn new(i: incidents::Incident) -> Self {
        Self { inner: Arc::new(i), coverage: None }
    }
}

#[Object]
impl Incident {
    /// `source/identifier`.
    async fn id(&self) -> ID {
        ID(self.inner.id.clone())
    }
    /// The feed's name, or `manual`.
    async fn source(&self) -> &str {
        &self.inner.source
    }
    async fn title(&self) -> &str {
        &self.inner.title
    }
    /// `power`, `water`, `heating`, or the feed's event name.
    async fn kind(&self) -> &str {
        &self.inner.kind
    }
    /// The organization handling it.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        match &self.inner.organization {
            Some(o) => Ok(app(ctx).kontakt.organization(o.as_str()).gql()?.map(Organization)),
            None => Ok(None),
        }
    }
    async fn status(&self) -> IncidentStatus {
        self.inner.status.into()
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }
    async fn expected_end_at(&self) -> Option<DateTime<Utc>> {
        self.inner.expected_end_at
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.inner.ended_at
    }
    async fn area_description(&self) -> Option<&str> {
        self.inner.area_description.as_deref()
    }
    /// Registry buildings it covers.
    async fn address_ids(&self) -> Vec<ID> {
        self.inner.area.addresses.iter().map(|a| ID(a.clone())).collect()
    }
    /// Streets it covers.
    async fn street_ranges(&self) -> Vec<StreetRangeOut> {
        self.inner
            .area
            .street_ranges
            .iter()
            .map(|r| StreetRangeOut {
                street: r.street.clone(),
                houses: r.houses.iter().map(HouseSpan::label).collect::<Vec<_>>().join(", "),
            })
            .collect()
    }
    /// True for an incident entered by hand: one from a feed is revised only by its feed.
    async fn editable(&self) -> bool {
        self.inner.source == MANUAL
    }
    async fn streets(&self) -> &[String] {
        &self.inner.area.streets
    }
    /// Polygons it covers, as rings of `[lat, lon]`.
    async fn polygons(&self) -> Vec<Vec<Vec<f64>>> {
        self.inner.area.polygons.iter().map(|r| r.iter().map(|(a, b)| vec![*a, *b]).collect()).collect()
    }
    /// What was done, once ended.
    async fn resolution(&self) -> Option<&str> {
        self.inner.resolution.as_deref()
    }
    /// How many times the source revised it.
    async fn revision(&self) -> u32 {
        self.inner.revision
    }
    /// In card hints: how it covers the address (`building`, `street` or `area`).
    async fn coverage(&self) -> Option<&str> {
        self.coverage
    }
    /// Requests linked to it, newest first (a contractor sees its own only).
    #[graphql(complexity = "first.max(0) as usize * child_complexity")]
    async fn linked_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<RequestNode>> {
        if !(1..=100).contains(&first) {
            return Err(validation("first must be between 1 and 100"));
        }
        let linked = app(ctx).kontakt.linked_requests(&self.inner.id, first as usize).gql()?;
        Ok(linked.into_iter().filter(|r| visible(ctx, r).is_ok()).map(RequestNode::new).collect())
    }
}

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

/// A street of an incident's area and its houses.
#[derive(Clone, Debug, async_graphql::SimpleObject)]
pub struct StreetRangeOut {
    /// The street as written.
    pub street: String,
    /// The houses (`1–15 нечётные, 2–10`), empty for the whole street.
    pub houses: String,
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

/// A page of incidents.
#[derive(async_graphql::SimpleObject)]
pub struct IncidentConnection {
    /// The incidents, by id.
    pub edges: Vec<IncidentEdge>,
    /// Where to go on.
    pub page_info: super::types::PageInfo,
}

/// One incident and its position.
#[derive(async_graphql::SimpleObject)]
pub struct IncidentEdge {
    /// The incident.
    pub node: Incident,
    /// Its position, for `after`.
    pub cursor: String,
}
