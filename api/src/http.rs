//! The HTTP surface: GraphQL over POST and websockets, GraphiQL, health,
//! readiness and metrics, plus the unauthenticated public map and Open311
//! (behind a per-address rate limit) and the web client at `/`. Errors of
//! the GraphQL transport (bad JSON, oversized body, bad token) are answered
//! here, as GraphQL-shaped JSON with a code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Data;
use async_graphql::http::{GraphiQLSource, WebSocket as GqlWebSocket, WebSocketProtocols, WsMessage};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt, future};
use serde_json::json;
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

/// The router.
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit;
    let mut router = Router::new()
        .route("/graphql", post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/callbacks/outcome", post(callback_outcome))
        .route("/reports/daily/{file}", get(crate::reports::daily));
    if state.graphiql {
        router = router.route("/graphiql", get(graphiql));
    }
    let open = Router::new()
        .nest("/public", crate::public::router())
        .nest("/open311", crate::open311::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::ratelimit::limit));
    router.merge(open).fallback(crate::ui::serve).layer(DefaultBodyLimit::max(limit)).with_state(state)
}

fn gql_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })))
        .into_response()
}

/// Counts a refused token by its reason.
pub(crate) fn auth_failure(metrics: &Metrics, e: &AuthError) {
    let reason = match e {
        AuthError::Missing => "missing",
        AuthError::Invalid(why) => why,
    };
    metrics.auth_failures.get_or_create(&ReasonLabels { reason: reason.to_string() }).inc();
}

async fn graphql_post(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}"));
    let principal = match app.auth.verify_header(header) {
        Ok(p) => p,
        Err(e) => {
            auth_failure(&app.metrics, &e);
            return gql_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.to_string());
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return gql_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("the body is not JSON: {e}"));
        }
    };
    if value.is_array() {
        return gql_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "batched operations are not accepted");
    }
    let mut request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return gql_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &format!("not a GraphQL request: {e}"));
        }
    };
    if let Some(p) = principal {
        request = request.data(p);
    }
    let mut response = app.schema.execute(request).await;
    app.metrics.operation("http", response.errors.is_empty());
    // Resolver errors carry their codes; what async-graphql itself refuses
    // (parse, validation, depth, complexity) is bad input.
    for e in &mut response.errors {
        let coded = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if !coded {
            e.extensions.get_or_insert_with(Default::default).set("code", "VALIDATION");
        }
    }
    Json(response).into_response()
}

/// The body of a signed outcome from a PBX or SMS gateway: the answer to one
/// call attempt, named by the key the attempt was placed with.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OutcomeBody {
    task_id: String,
    attempt_key: String,
    outcome: kontakt_workflow::callbacks::CallbackOutcome,
    #[serde(default)]
    note: Option<String>,
}

async fn callback_outcome(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = app.outcome_secret.clone() else {
        return gql_error(StatusCode::NOT_FOUND, "NOT_FOUND", "outcome webhooks are not configured");
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = app.kontakt.now().timestamp();
    if let Err(e) = crate::dialer::verify_signature(
        secret.as_bytes(),
        header("x-kontakt-timestamp"),
        &body,
        header("x-kontakt-signature"),
        now,
    ) {
        return gql_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.to_string());
    }
    let outcome: OutcomeBody = match serde_json::from_slice(&body) {
        Ok(o) => o,
        Err(e) => return gql_error(StatusCode::BAD_REQUEST, "VALIDATION", &format!("not an outcome: {e}")),
    };
    let k = app.kontakt.clone();
    let done = tokio::task::spawn_blocking(move || {
        k.record_attempt_outcome(&outcome.task_id, &outcome.attempt_key, outcome.outcome, outcome.note)
    })
    .await;
    match done {
        Ok(Ok(o)) => {
            app.bus.publish(&o.events, o.before.as_ref(), &o.request);
            Json(json!({ "request": o.request.number.to_string(), "status": o.request.status.as_str() }))
                .into_response()
        }
        Ok(Err(kontakt_workflow::DomainError::NotFound(m))) => {
            gql_error(StatusCode::NOT_FOUND, "NOT_FOUND", &m)
        }
        Ok(Err(e @ kontakt_workflow::DomainError::Store(_))) => {
            tracing::error!(error = %e, "recording a callback outcome");
            gql_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
        Ok(Err(e)) => gql_error(StatusCode::CONFLICT, "INVALID_TRANSITION", &e.to_string()),
        Err(_) => gql_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error"),
    }
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Kontakt")
            .finish(),
    )
}

async fn readyz(State(app): State<AppState>) -> Response {
    // A store stopped by a failed write refuses reads: ask it, not only the flag set at start.
    let k = app.kontakt.clone();
    let answers =
        tokio::task::spawn_blocking(move || k.store().counter("readyz").is_ok()).await.unwrap_or(false);
    let store = app.ready.store.load(Ordering::Acquire) && answers;
    let scheduler = app.ready.scheduler.load(Ordering::Acquire);
    let when = |t: i64| (t > 0).then(|| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()));
    let status = if store && scheduler { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "store": store,
        "scheduler": scheduler,
        "jobs": {
            "slaSweep": { "lastRun": when(app.ready.last_sweep.load(Ordering::Acquire)) },
            "feeds": { "lastRun": when(app.ready.last_pull.load(Ordering::Acquire)) },
        },
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(app): State<AppState>) -> Response {
    let body = tokio::task::spawn_blocking(move || app.metrics.render()).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// Close reasons the websocket maps to 4401 / 4403.
const UNAUTHORIZED: &str = "Unauthorized";
const FORBIDDEN: &str = "Forbidden";

async fn graphql_ws(State(app): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    // Prefer graphql-transport-ws whatever the client's order, and answer
    // exactly the protocol that will be spoken.
    let (name, protocol) = if offered.iter().any(|p| p == "graphql-transport-ws") {
        ("graphql-transport-ws", WebSocketProtocols::GraphQLWS)
    } else if offered.iter().any(|p| p == "graphql-ws") {
        ("graphql-ws", WebSocketProtocols::SubscriptionsTransportWS)
    } else {
        return gql_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "offer the graphql-transport-ws subprotocol",
        );
    };
    ws.protocols([name]).on_upgrade(move |socket| serve_ws(socket, app, protocol))
}

async fn serve_ws(socket: WebSocket, app: AppState, protocol: WebSocketProtocols) {
    let (mut sink, stream) = socket.split();
    let input = stream.take_while(|r| future::ready(r.is_ok())).filter_map(|r| {
        future::ready(match r {
            Ok(Message::Text(t)) => Some(Bytes::from(t)),
            Ok(Message::Binary(b)) => Some(b),
            _ => None,
        })
    });
    let (auth, metrics) = (app.auth.clone(), app.metrics.clone());
    let out = GqlWebSocket::new(app.schema.clone(), input, protocol).on_connection_init(
        move |payload| async move {
            let token = payload
                .get("token")
                .or_else(|| payload.get("authorization"))
                .or_else(|| payload.get("Authorization"))
                .and_then(|v| v.as_str())
                .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).to_string());
            let result = match token {
                None => Err(AuthError::Missing),
                Some(t) => auth.verify(&t),
            };
            match result {
                Ok(principal) => {
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                }
                Err(e) => {
                    auth_failure(&metrics, &e);
                    Err(async_graphql::Error::new(if e == AuthError::Missing {
                        UNAUTHORIZED
                    } else {
                        FORBIDDEN
                    }))
                }
            }
        },
    );
    futures_util::pin_mut!(out);
    let mut shutdown = app.shutdown.clone();
    loop {
        let msg = tokio::select! {
            m = out.next() => m,
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))).await;
                return;
            }
        };
        let Some(msg) = msg else { break };
        let frame = match msg {
            // The legacy protocol refuses with `connection_error`; close as the modern one would.
            WsMessage::Text(t) if t.contains("\"connection_error\"") => {
                let code = if t.contains(UNAUTHORIZED) { 4401 } else { 4403 };
                let _ = sink.send(Message::Text(t.into())).await;
                let _ = sink
                    .send(Message::Close(Some(CloseFrame { code, reason: "connection refused".into() })))
                    .await;
                return;
            }
            WsMessage::Text(t) => Message::Text(t.into()),
            WsMessage::Close(code, reason) => {
                let code = match (code, reason.as_str()) {
                    (1002, FORBIDDEN) => 4403,
                    (1002, UNAUTHORIZED) | (1011, "The handshake is not completed.") => 4401,
                    _ => code,
                };
                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                return;
            }
        };
        if sink.send(frame).await.is_err() {
            return;
        }
    }
    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
}
