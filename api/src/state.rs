//! What the HTTP handlers, the websocket sessions and the REST adapters
//! share: the application state and the checks every entry point makes. It
//! sits below them all, so every module imports it and none imports back.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::http::{HeaderMap, header};
use tokio::sync::watch;

use crate::auth::{Auth, AuthError};
use crate::graphql::AppSchema;
use crate::metrics::{Metrics, ReasonLabels};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The schema, with its context inside.
    pub schema: AppSchema,
    /// Token checks.
    pub auth: Auth,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// GraphiQL served (demo or configured).
    pub graphiql: bool,
    /// Readiness of the store and background jobs.
    pub ready: Arc<Readiness>,
    /// Flips to true when the server shuts down; websockets close on it.
    pub shutdown: watch::Receiver<bool>,
    /// Largest request body.
    pub body_limit: usize,
    /// The domain service, for the REST adapters.
    pub kontakt: kontakt_workflow::Kontakt,
    /// Where changes are published.
    pub bus: crate::bus::Bus,
    /// HMAC key of `POST /callbacks/outcome`; the endpoint is off without one.
    pub outcome_secret: Option<String>,
    /// The public map's settings and the rate limit of the public endpoints.
    pub public: Arc<crate::public::PublicState>,
    /// The built web client's folder.
    pub ui_dir: std::path::PathBuf,
    /// Websocket limits.
    pub ws: crate::config::Ws,
    /// The bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<String>,
    /// Incoming calls, announced to the consoles.
    pub calls: crate::telephony::Calls,
    /// The PBX's shared secret; `/telephony/incoming` is off without one.
    pub telephony_secret: Option<String>,
    /// Sockets open per token.
    pub ws_counts: Arc<crate::ws::SocketCounts>,
    /// Subscriptions executed once and shared by every socket that asked.
    pub hub: Arc<crate::fanout::Hub>,
}

/// What `/readyz` reports.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The store is open and answers.
    pub store: AtomicBool,
    /// The scheduler runs the time-driven jobs.
    pub scheduler: AtomicBool,
    /// Unix seconds of the last sweep (0: not yet).
    pub last_sweep: Arc<std::sync::atomic::AtomicI64>,
    /// Unix seconds of the last feed pull (0: not yet).
    pub last_pull: Arc<std::sync::atomic::AtomicI64>,
}

/// Counts a refused token by its reason.
pub(crate) fn auth_failure(metrics: &Metrics, e: &AuthError) {
    let reason = match e {
        AuthError::Missing => "missing",
        AuthError::Invalid(why) => why,
    };
    metrics.auth_failures.get_or_create(&ReasonLabels { reason: reason.to_string() }).inc();
}

/// True when the request carries `Authorization: Bearer <secret>`; the
/// secret is compared in full whatever matches, so timing tells nothing.
pub(crate) fn bearer_is(headers: &HeaderMap, secret: &str) -> bool {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let given = given.strip_prefix("Bearer ").unwrap_or("");
    given.len() == secret.len()
        && given.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
