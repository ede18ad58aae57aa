//! An incident as the API shows it: a city emergency, its area and linked requests.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use kontakt_workflow::incidents;
use kontakt_workflow::incidents::area::HouseSpan;

use super::super::errors::{OrGql, validation};
use super::super::{app, visible};
use super::{Organization, RequestNode};

/// The source of incidents entered by hand: only those are edited through the API.
pub const MANUAL_SOURCE: &str = "manual";

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
        self.inner.source == MANUAL_SOURCE
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

/// A street of an incident's area and its houses.
#[derive(Clone, Debug, async_graphql::SimpleObject)]
pub struct StreetRangeOut {
    /// The street as written.
    pub street: String,
    /// The houses (`1–15 нечётные, 2–10`), empty for the whole street.
    pub houses: String,
}

/// A page of incidents.
#[derive(async_graphql::SimpleObject)]
pub struct IncidentConnection {
    /// The incidents, by id.
    pub edges: Vec<IncidentEdge>,
    /// Where to go on.
    pub page_info: super::PageInfo,
}

/// One incident and its position.
#[derive(async_graphql::SimpleObject)]
pub struct IncidentEdge {
    /// The incident.
    pub node: Incident,
    /// Its position, for `after`.
    pub cursor: String,
}
