//! The HTTP surface: GraphQL over POST and websockets, GraphiQL, health,
//! readiness and metrics, plus the unauthenticated public map and Open311
//! (behind a per-address rate limit) and the web client at `/`. Errors of
//! the GraphQL transport (bad JSON, oversized body, bad token) are answered
//! here, as GraphQL-shaped JSON with a code.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_graphql::http::GraphiQLSource;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Auth;
pub use crate::state::{AppState, Readiness};
use crate::state::{auth_failure, bearer_is};

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
        .route("/telephony/incoming", post(crate::telephony::incoming))
        .route("/reports/daily/{file}", get(crate::reports::daily))
        .route("/reports/appeals/{file}", get(crate::appeals_docx::download));
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

async fn graphql_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // A GraphQL client reads errors as JSON, also the transport's own.
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let message = format!("the body is over the limit of {} bytes or unreadable", app.body_limit);
            return gql_error(e.status(), "PAYLOAD_TOO_LARGE", &message);
        }
    };
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
        Ok(Err(e @ kontakt_workflow::DomainError::Store(_))) => {
            tracing::error!(error = %e, "recording a callback outcome");
            gql_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            gql_error(status, e.code(), &e.to_string())
        }
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

async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = app.metrics_token.as_deref()
        && !bearer_is(&headers, expected)
    {
        let refusal = (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "metrics need a bearer token\n",
        );
        return refusal.into_response();
    }
    let body = tokio::task::spawn_blocking(move || app.metrics.render()).await.unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn graphql_ws(State(app): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    // Prefer graphql-transport-ws whatever the client's order; a client that
    // then speaks the legacy dialect is answered in it (see `ws`).
    let (name, dialect) = if offered.iter().any(|p| p == "graphql-transport-ws") {
        ("graphql-transport-ws", crate::ws::Dialect::TransportWs)
    } else if offered.iter().any(|p| p == "graphql-ws") {
        ("graphql-ws", crate::ws::Dialect::Legacy)
    } else {
        return gql_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "offer the graphql-transport-ws subprotocol",
        );
    };
    // Larger messages are refused while they arrive, however they are fragmented.
    let limit = app.body_limit;
    ws.protocols([name])
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| crate::ws::serve(socket, app, dialect))
}

/// `POST /testing/clock` (only when `testing.movable_clock` is set): an
/// ADMIN moves the server's clock forward by `{"advanceSecs": n}` and gets
/// the new time.
pub fn testing_clock(clock: Arc<kontakt_workflow::ShiftedClock>, auth: Auth) -> Router {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Advance {
        advance_secs: i64,
    }
    let clock_route = move |headers: HeaderMap, body: Bytes| {
        let (clock, auth) = (clock.clone(), auth.clone());
        async move {
            let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            match auth.verify_header(header) {
                Ok(Some(p)) if p.role == kontakt_workflow::model::Role::Admin => {}
                _ => return gql_error(StatusCode::FORBIDDEN, "FORBIDDEN", "an ADMIN token moves the clock"),
            }
            let by = serde_json::from_slice::<Advance>(&body)
                .ok()
                .and_then(|a| chrono::Duration::try_seconds(a.advance_secs))
                .ok_or_else(|| "send {\"advanceSecs\": n}".to_string());
            match by.and_then(|by| clock.advance(by).map_err(|e| e.to_string())) {
                Ok(now) => Json(json!({ "now": now.to_rfc3339() })).into_response(),
                Err(e) => gql_error(StatusCode::BAD_REQUEST, "VALIDATION", &e),
            }
        }
    };
    Router::new().route("/testing/clock", post(clock_route))
}
