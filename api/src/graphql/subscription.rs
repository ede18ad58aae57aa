//! Subscriptions over graphql-transport-ws: request events as they commit,
//! and the SLA board whenever it changes. Both are scoped to the caller: a
//! contractor receives only its own organization's events and row.

use std::time::Duration as StdDuration;

use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;
use kontakt_workflow::model::Role;
use tokio::sync::broadcast::error::RecvError;

use super::errors::coded;
use super::query::{card_hints_for, hint_point, sla_board_for, to_query};
use super::types::*;
use super::{RoleGuard, app, principal};

const ANY: &[Role] = &[Role::Operator, Role::Contractor, Role::Supervisor, Role::Admin];
const CITY: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];

/// How often the board checks whether anything changed.
const BOARD_TICK: StdDuration = StdDuration::from_millis(500);

/// The subscription root.
#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Every request event after it commits, filtered. A subscriber that fell
    /// behind receives a `LAGGED` error item saying how many events it missed.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn request_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<RequestFilter>,
    ) -> Result<impl Stream<Item = Result<RequestEvent>> + use<>> {
        let query = to_query(ctx, filter)?;
        let principal = principal(ctx)?.clone();
        let a = app(ctx);
        let now = a.kontakt.clone();
        let rx = a.bus.subscribe();
        // The state is the receiver while the token holds; `None` once the one
        // last item saying why has been given, so the stream ends there.
        Ok(futures_util::stream::unfold(Some(rx), move |rx| {
            let (query, principal, now) = (query.clone(), principal.clone(), now.clone());
            async move {
                let mut rx = rx?;
                loop {
                    let received = rx.recv().await;
                    if !principal.still_valid(&now) {
                        return Some((
                            Err(coded("UNAUTHENTICATED", "the token expired or was revoked")),
                            None,
                        ));
                    }
                    match received {
                        Ok(p) => {
                            let scoped = match principal.role {
                                Role::Contractor => {
                                    principal.is_contractor_of(p.request.organization.as_ref())
                                        || principal.is_contractor_of(p.previous_organization.as_ref())
                                }
                                _ => true,
                            };
                            // The contractor's own scope is enforced above; the
                            // filter's organization must not hide a request that
                            // just left it.
                            let mut q = query.clone();
                            if principal.role == Role::Contractor {
                                q.organization = None;
                            }
                            if scoped && q.matches_request(&p.request, now.now()) {
                                let item = RequestEvent {
                                    event: p.event.clone(),
                                    after: std::sync::Arc::new(p.request.clone()),
                                };
                                return Some((Ok(item), Some(rx)));
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            let e = coded(
                                "LAGGED",
                                format!("the subscriber fell behind and missed {n} events; reload"),
                            );
                            return Some((Err(e), Some(rx)));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }

    /// Calls ringing at the caller's telephone extension (a claim of their
    /// token), as the PBX reports them: the console opens the caller's panel.
    #[graphql(guard = "RoleGuard(&[Role::Operator, Role::Supervisor])")]
    async fn incoming_calls(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = IncomingCallEvent> + use<>> {
        let p = principal(ctx)?;
        let Some(extension) = p.extension.clone() else {
            return Err(super::errors::validation("this token names no telephone extension"));
        };
        let a = app(ctx);
        let plan = a.numbering.clone();
        let rx = a.calls.listen();
        Ok(futures_util::stream::unfold(rx, move |mut rx| {
            let (extension, plan) = (extension.clone(), plan.clone());
            async move {
                loop {
                    match rx.recv().await {
                        Ok(call) if call.extension == extension => {
                            let phone = kontakt_workflow::model::Phone::parse_in(&call.caller_id, &plan).ok();
                            return Some((IncomingCallEvent { call, phone }, rx));
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }

    /// The SLA board now, and again whenever a change moves it.
    #[graphql(guard = "RoleGuard(ANY)")]
    async fn sla_board(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<SlaBoard>> + use<>> {
        let principal = principal(ctx)?.clone();
        let a = app(ctx);
        let (kontakt, bus) = (a.kontakt.clone(), a.bus.clone());
        let (k, p) = (kontakt.clone(), principal.clone());
        let first = super::off_workers(move || sla_board_for(&k, &p)).await?;
        let (p, k) = (principal.clone(), kontakt.clone());
        Ok(recomputed(bus, first, p, k, move || sla_board_for(&kontakt, &principal)))
    }

    /// The hints of an open card, now and again whenever a request or an
    /// incident changes.
    #[graphql(guard = "RoleGuard(CITY)")]
    #[expect(clippy::too_many_arguments, reason = "each a GraphQL argument of the field")]
    async fn card_hints(
        &self,
        ctx: &Context<'_>,
        address_id: Option<async_graphql::ID>,
        lat: Option<f64>,
        lon: Option<f64>,
        category_code: Option<async_graphql::ID>,
        #[graphql(default)] raised: bool,
        #[graphql(default = "ru")] lang: String,
    ) -> Result<impl Stream<Item = Result<CardHints>> + use<>> {
        let at = hint_point(address_id, lat, lon)?;
        let a = app(ctx);
        let (kontakt, bus) = (a.kontakt.clone(), a.bus.clone());
        let (k, at1, code1, lang1) = (kontakt.clone(), at.clone(), category_code.clone(), lang.clone());
        let first =
            super::off_workers(move || card_hints_for(&k, at1.as_ref(), code1, raised, &lang1)).await?;
        let (p, k) = (principal(ctx)?.clone(), kontakt.clone());
        Ok(recomputed(bus, first, p, k, move || {
            card_hints_for(&kontakt, at.as_ref(), category_code.clone(), raised, &lang)
        }))
    }
}

/// A call ringing at the caller's extension, with what the caller already has.
pub struct IncomingCallEvent {
    call: crate::telephony::IncomingCall,
    phone: Option<kontakt_workflow::model::Phone>,
}

#[async_graphql::Object]
impl IncomingCallEvent {
    /// The caller id as the PBX gave it.
    async fn caller_id(&self) -> &str {
        &self.call.caller_id
    }
    /// The caller's phone, normalized (null when the caller id is not a phone number).
    async fn phone(&self) -> Option<&str> {
        self.phone.as_ref().map(|p| p.as_str())
    }
    /// The extension that rings.
    async fn extension(&self) -> &str {
        &self.call.extension
    }
    /// When the PBX reported it.
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.call.at
    }
    /// The caller's requests of the last year, newest first.
    async fn requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<RequestNode>> {
        let Some(phone) = self.phone.clone() else { return Ok(vec![]) };
        let k = app(ctx).kontakt.clone();
        let query = kontakt_workflow::RequestQuery {
            phone: Some(phone),
            registered_from: Some(k.now() - chrono::Duration::days(365)),
            ..Default::default()
        };
        let first = first.clamp(1, 100) as usize;
        let page = super::blocking(move || k.list(&query, None, first)).await?;
        Ok(page.items.into_iter().map(RequestNode::new).collect())
    }
}

/// `first` at once, then `compute()` again each time the bus has moved
/// (checked every [`BOARD_TICK`], so a burst of changes costs one recompute).
/// Ends with an UNAUTHENTICATED item once `principal`'s token expires or is revoked.
fn recomputed<T: Send + 'static>(
    bus: crate::bus::Bus,
    first: T,
    principal: crate::auth::Principal,
    kontakt: kontakt_workflow::Kontakt,
    compute: impl Fn() -> Result<T> + Send + Sync + 'static,
) -> impl Stream<Item = Result<T>> {
    let compute = std::sync::Arc::new(compute);
    let mut interval = tokio::time::interval(BOARD_TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (Some(first), bus.generation(), interval, false);
    futures_util::stream::unfold(state, move |(first, mut seen, mut interval, ended)| {
        let (bus, compute, principal, kontakt) =
            (bus.clone(), compute.clone(), principal.clone(), kontakt.clone());
        async move {
            if ended {
                return None;
            }
            if let Some(value) = first {
                return Some((Ok(value), (None, seen, interval, false)));
            }
            loop {
                interval.tick().await;
                if !principal.still_valid(&kontakt) {
                    let e = coded("UNAUTHENTICATED", "the token expired or was revoked");
                    return Some((Err(e), (None, seen, interval, true)));
                }
                let now = bus.generation();
                if now != seen {
                    seen = now;
                    let compute = compute.clone();
                    let value = super::off_workers(move || compute()).await;
                    return Some((value, (None, seen, interval, false)));
                }
            }
        }
    })
}
