//! Queries. Every field checks its caller; a contractor sees only its own
//! organization's requests.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Duration, Utc};
use kontakt_workflow::RequestQuery;
use kontakt_workflow::model::{Code, RequestId, RequestNumber, Role};
use kontakt_workflow::service::{AddressPoint, Cursor};

use super::errors::{OrGql, forbidden, validation};
use super::types::*;
use super::{RoleGuard, app, blocking, load_visible, principal};

/// Roles that see the whole city.
const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];
/// Every role.
const OVERSEERS: &[Role] = &[Role::Supervisor, Role::Admin];
const ANY: &[Role] = &[Role::Operator, Role::Contractor, Role::Supervisor, Role::Admin];

/// Turns the GraphQL filter into the domain's, scoping contractors to their organization.
pub(crate) fn to_query(ctx: &Context<'_>, filter: Option<RequestFilter>) -> Result<RequestQuery> {
    let p = principal(ctx)?;
    let f = filter.unwrap_or_default();
    let mut organization =
        f.organization_id.map(|id| Code::parse(&id).map_err(|e| validation(e.to_string()))).transpose()?;
    if p.role == Role::Contractor {
        if organization.is_some() && organization != p.organization {
            return Err(forbidden("a contractor sees only its own organization's requests"));
        }
        organization = p.organization.clone();
    }
    Ok(RequestQuery {
        statuses: f.status.unwrap_or_default().into_iter().map(Into::into).collect(),
        organization,
        class: f.deadline_class.map(Into::into),
        category: None,
        overdue: f.overdue,
        district: f.district,
        registered_from: f.registered_from,
        registered_to: f.registered_to,
        text: f.text,
        words: f.words.filter(|w| !w.trim().is_empty()),
        address_unconfirmed: f.address_unconfirmed,
        incident: None,
        phone: f
            .phone
            .filter(|p| !p.trim().is_empty())
            .map(|p| kontakt_workflow::model::Phone::parse_in(&p, &app(ctx).numbering))
            .transpose()
            .map_err(|e| validation(e.to_string()))?,
    })
}

/// The query root.
#[derive(Default)]
pub struct Query;

#[Object(name = "CoreQuery")]
impl Query {
    /// Who the caller is.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let p = principal(ctx)?;
        let organization = match &p.organization {
            Some(o) => app(ctx).kontakt.organization(o.as_str()).gql()?.map(Organization),
            None => None,
        };
        Ok(Me {
            subject: p.subject.clone(),
            role: p.role.into(),
            organization,
            extension: p.extension.clone(),
        })
    }

    /// One request by id or number.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn request(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        number: Option<String>,
    ) -> Result<Option<RequestNode>> {
        let k = app(ctx).kontakt.clone();
        let r = match (id, number) {
            (Some(id), None) => {
                let id = RequestId::parse(&id).map_err(|e| validation(e.to_string()))?;
                blocking(move || k.request(id)).await?
            }
            (None, Some(n)) => {
                let n = RequestNumber::parse(&n).map_err(|e| validation(e.to_string()))?;
                blocking(move || k.request_by_number(&n)).await?
            }
            _ => return Err(validation("give either id or number")),
        };
        // Another organization's request reads as one that does not exist.
        let p = principal(ctx)?;
        Ok(r.filter(|r| super::may_see(p, r)).map(RequestNode::new))
    }

    /// Requests matching the filter, newest first.
    #[graphql(guard = "RoleGuard(ANY)", complexity = "first.max(0) as usize * child_complexity + 1")]
    async fn requests(
        &self,
        ctx: &Context<'_>,
        filter: Option<RequestFilter>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<RequestConnection> {
        let max = app(ctx).max_first;
        if !(1..=max).contains(&first) {
            return Err(validation(format!("first must be between 1 and {max}")));
        }
        let query = to_query(ctx, filter)?;
        let after = after.map(|c| Cursor::decode(&c)).transpose().gql()?;
        let (k, q) = (app(ctx).kontakt.clone(), query.clone());
        let page = blocking(move || k.list(&q, after, first as usize)).await?;
        let end_cursor = page.next.map(|c| c.encode());
        let edges = page
            .items
            .into_iter()
            .map(|r| {
                let cursor = Cursor { registered_ms: r.registered_at.timestamp_millis(), id: r.id }.encode();
                RequestEdge { node: RequestNode::new(r), cursor }
            })
            .collect();
        Ok(RequestConnection {
            edges,
            page_info: PageInfo { has_next_page: end_cursor.is_some(), end_cursor },
            query,
            total: Default::default(),
        })
    }

    /// A request's events, oldest first.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn request_history(&self, ctx: &Context<'_>, id: ID) -> Result<Vec<RequestEvent>> {
        let r = load_visible(ctx, &id).await?;
        history(ctx, &r).await
    }

    /// The request as it stood at a past moment, folded from its events.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn request_at(&self, ctx: &Context<'_>, id: ID, at: DateTime<Utc>) -> Result<Option<RequestNode>> {
        let r = load_visible(ctx, &id).await?;
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.request_at(r.id, at)).await?.map(RequestNode::new))
    }

    /// Every organization.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn organizations(&self, ctx: &Context<'_>) -> Result<Vec<Organization>> {
        Ok(app(ctx).kontakt.organizations().gql()?.into_iter().map(Organization).collect())
    }

    /// Every category.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn categories(&self, ctx: &Context<'_>) -> Result<Vec<Category>> {
        Ok(app(ctx).kontakt.categories().gql()?.into_iter().map(Category).collect())
    }

    /// Recorded tokens, oldest first: who holds each, its role, organization,
    /// expiry, who issued it and who revoked it (ADMIN). The tokens themselves
    /// are never stored.
    #[graphql(guard = "RoleGuard(&[Role::Admin])")]
    async fn tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: i32,
    ) -> Result<Vec<TokenInfo>> {
        if !(1..=1000).contains(&first) {
            return Err(validation("first must be between 1 and 1000"));
        }
        let k = app(ctx).kontakt.clone();
        let records = super::blocking(move || k.tokens(first as usize)).await?;
        Ok(records
            .into_iter()
            .map(|t| TokenInfo {
                jti: ID(t.jti),
                subject: t.subject,
                role: t.role.into(),
                organization_id: t.organization.map(|o| ID(o.to_string())),
                issued_at: t.issued_at,
                expires_at: t.expires_at,
                issued_by: t.issued_by,
                revoked_at: t.revoked_at,
                revoked_by: t.revoked_by,
            })
            .collect())
    }

    /// Address autocomplete over the registry.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn addresses(
        &self,
        ctx: &Context<'_>,
        search: String,
        #[graphql(default = 10)] first: i32,
    ) -> Result<Vec<Address>> {
        if !(1..=50).contains(&first) {
            return Err(validation("first must be between 1 and 50"));
        }
        if search.chars().count() > 200 {
            return Err(validation("the search is longer than 200 characters"));
        }
        let k = app(ctx).kontakt.clone();
        Ok(blocking(move || k.search_addresses(&search, first as usize))
            .await?
            .into_iter()
            .map(|inner| Address { inner })
            .collect())
    }

    /// The districts of the address registry, for cards with an address it does not have.
    #[graphql(guard = "RoleGuard(CITY)")]
    async fn districts(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let k = app(ctx).kontakt.clone();
        super::blocking(move || k.districts()).await
    }

    /// What the card being entered would get, and what is known at its address.
    #[graphql(guard = "RoleGuard(CITY)")]
    #[expect(clippy::too_many_arguments, reason = "each a GraphQL argument of the field")]
    async fn card_hints(
        &self,
        ctx: &Context<'_>,
        address_id: Option<ID>,
        lat: Option<f64>,
        lon: Option<f64>,
        category_code: Option<ID>,
        #[graphql(default)] raised: bool,
        #[graphql(default = "ru")] lang: String,
    ) -> Result<CardHints> {
        let (k, at) = (app(ctx).kontakt.clone(), hint_point(address_id, lat, lon)?);
        super::off_workers(move || card_hints_for(&k, at.as_ref(), category_code, raised, &lang)).await
    }

    /// Events of the kinds named (`WARNING`, `OVERDUE`, `ESCALATED`,
    /// `REJECTED`, `REOPENED`, `RAISED_TO_EMERGENCY`, …; all when none) taken
    /// since `since` (at most 7 days back), newest first: what the escalation
    /// feed shows when a board opens.
    #[graphql(guard = "RoleGuard(OVERSEERS)")]
    async fn recent_events(
        &self,
        ctx: &Context<'_>,
        since: DateTime<Utc>,
        #[graphql(default)] kinds: Vec<String>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<RequestEvent>> {
        let k = app(ctx).kontakt.clone();
        if since < k.now() - Duration::days(7) {
            return Err(validation("since is at most 7 days back"));
        }
        let limit = usize::try_from(first.clamp(1, 500)).unwrap_or(50);
        let found = blocking(move || k.events_since(since, &kinds, limit)).await?;
        Ok(found
            .into_iter()
            .map(|(event, after)| RequestEvent { event, after: std::sync::Arc::new(after) })
            .collect())
    }

    /// Per-organization counts by status: now, or as the board stood at a
    /// past moment `at` (kept from hourly snapshots and the changes after them).
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn sla_board(&self, ctx: &Context<'_>, at: Option<DateTime<Utc>>) -> Result<SlaBoard> {
        let Some(at) = at else { return sla_board(ctx).await };
        let (k, p) = (app(ctx).kontakt.clone(), principal(ctx)?.clone());
        let board = blocking(move || k.board_at(at)).await?;
        board_as_seen(&app(ctx).kontakt, board, &p)
    }
}

/// Where the hints are asked for; `None` before an address is chosen.
pub(crate) fn hint_point(
    address_id: Option<ID>,
    lat: Option<f64>,
    lon: Option<f64>,
) -> Result<Option<AddressPoint>> {
    match (address_id, lat, lon) {
        (Some(id), None, None) => Ok(Some(AddressPoint::Id(id.to_string()))),
        (None, Some(lat), Some(lon)) => Ok(Some(AddressPoint::Point { lat, lon })),
        (None, None, None) => Ok(None),
        _ => Err(validation("give either addressId or lat and lon")),
    }
}

/// The hints for a card at `at` (when an address is chosen) of `category_code`
/// (when one is), registered as an emergency when `raised` (the rules are the
/// domain's: [`kontakt_workflow::Kontakt::card_hints`]).
pub(crate) fn card_hints_for(
    k: &kontakt_workflow::Kontakt,
    at: Option<&AddressPoint>,
    category_code: Option<ID>,
    raised: bool,
    lang: &str,
) -> Result<CardHints> {
    let h = k
        .card_hints(at, category_code.as_deref().map(String::as_str), raised, lang.eq_ignore_ascii_case("en"))
        .gql()?;
    let card = h.card;
    Ok(CardHints {
        active_incidents: h
            .incidents
            .into_iter()
            .map(|(i, how)| Incident { inner: std::sync::Arc::new(i), coverage: Some(how) })
            .collect(),
        open_requests_at_address: h.open_at_address.into_iter().map(RequestNode::new).collect(),
        recurring_at_address: h.recurring_at_address.into_iter().map(RequestNode::new).collect(),
        deadline_class: card.as_ref().map(|c| c.class.into()),
        deadline: card.as_ref().map(|c| c.deadline),
        organization: card.as_ref().and_then(|c| c.organization.clone()).map(Organization),
        script: card.map(|c| c.script),
    })
}

pub(crate) async fn sla_board(ctx: &Context<'_>) -> Result<SlaBoard> {
    let (k, p) = (app(ctx).kontakt.clone(), principal(ctx)?.clone());
    super::off_workers(move || sla_board_for(&k, &p)).await
}

/// The live board as `p` may see it.
pub(crate) fn sla_board_for(k: &kontakt_workflow::Kontakt, p: &crate::auth::Principal) -> Result<SlaBoard> {
    board_as_seen(k, k.live_board().gql()?, p)
}

/// A board's rows for `p`: every organization (a contractor: its own), in the
/// organizations' order; the unrouted queue is not a contractor's business.
pub(crate) fn board_as_seen(
    k: &kontakt_workflow::Kontakt,
    board: kontakt_workflow::board::Board,
    p: &crate::auth::Principal,
) -> Result<SlaBoard> {
    let mut rows = Vec::new();
    for org in k.organizations().gql()? {
        if p.role == Role::Contractor && p.organization.as_ref() != Some(&org.id) {
            continue;
        }
        let row = board.rows.get(&org.id).copied().unwrap_or_default();
        rows.push(OrgBoardRow {
            dispatched: row.dispatched,
            in_progress: row.in_progress,
            overdue: row.overdue,
            resolved_today: row.resolved_today,
            organization: Organization(org),
        });
    }
    let unrouted = if p.role == Role::Contractor { 0 } else { board.unrouted };
    Ok(SlaBoard { at: board.at, unrouted, rows })
}

/// An issued token as recorded (never the token itself).
#[derive(async_graphql::SimpleObject)]
pub struct TokenInfo {
    /// Its id (`jti`), for revocation.
    pub jti: ID,
    /// Who holds it.
    pub subject: String,
    /// Its role.
    pub role: GqlRole,
    /// A contractor's organization.
    pub organization_id: Option<ID>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who issued it.
    pub issued_by: String,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}
