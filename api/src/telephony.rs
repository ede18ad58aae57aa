//! The telephone's side of the operator's day: when the PBX reports an
//! incoming call (`POST /telephony/incoming`, with the caller id and the
//! extension that rings), the console of the operator at that extension
//! opens the caller's panel by itself — the `incomingCalls` subscription
//! delivers the call with the caller's requests of the last year.
//!
//! The PBX authenticates with a shared secret (`telephony.secret`, 32 bytes
//! or more) as a bearer token, which Asterisk's `CURL()` can send
//! (`CURLOPT(httpheader)`). An operator's extension is a claim of their
//! token (`issueToken(extension:)`, `kontakt token issue --extension`), so it
//! follows the operator to whichever desk they sign in at. Calls are not
//! stored: a console that is not listening when the phone rings misses the
//! pop, not the call.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::broadcast;

use crate::state::AppState;

/// An incoming call as the PBX reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The caller id as the PBX gave it.
    pub caller_id: String,
    /// The extension that rings.
    pub extension: String,
    /// When the PBX reported it.
    pub at: DateTime<Utc>,
}

/// Where incoming calls are announced to the consoles.
#[derive(Debug, Clone)]
pub struct Calls(broadcast::Sender<IncomingCall>);

impl Default for Calls {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Calls {
    /// Announces a call; how many consoles listen.
    pub fn ring(&self, call: IncomingCall) -> usize {
        self.0.send(call).unwrap_or(0)
    }

    /// A console's ear.
    pub fn listen(&self) -> broadcast::Receiver<IncomingCall> {
        self.0.subscribe()
    }
}

/// The PBX's report: JSON `{"callerId", "extension"}` or the same as a form
/// (`caller_id=…&extension=…`, as a dialplan's `CURL()` posts it).
#[derive(Debug, serde::Deserialize)]
struct Report {
    #[serde(alias = "caller_id", alias = "callerid")]
    #[serde(rename = "callerId")]
    caller_id: String,
    extension: String,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })))
        .into_response()
}

/// `POST /telephony/incoming`.
pub async fn incoming(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = app.telephony_secret.as_deref() else {
        return refuse(StatusCode::NOT_FOUND, "NOT_FOUND", "telephony is not configured (telephony.secret)");
    };
    if !crate::state::bearer_is(&headers, secret) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "the PBX's bearer secret is missing or wrong",
        );
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let report: Result<Report, String> = if form {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let report = match report {
        Ok(r) if !r.extension.trim().is_empty() && r.caller_id.len() <= 64 && r.extension.len() <= 20 => r,
        Ok(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                "callerId (64 at most) and extension are required",
            );
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "VALIDATION", &format!("not a call report: {e}")),
    };
    let call = IncomingCall {
        caller_id: report.caller_id.trim().to_string(),
        extension: report.extension.trim().to_string(),
        at: app.kontakt.now(),
    };
    let consoles = app.calls.ring(call);
    (StatusCode::ACCEPTED, axum::Json(json!({ "listening": consoles }))).into_response()
}
