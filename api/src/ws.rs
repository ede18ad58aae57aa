//! GraphQL over websockets, spoken by Kontakt itself rather than by
//! async-graphql's adapter, because the socket's own rules are security rules:
//!
//! - the token is checked at `connection_init`, again before every operation,
//!   and the socket is closed by the server the moment the token is revoked
//!   (Auth announces every revocation) or expires — every running operation
//!   gets one UNAUTHENTICATED `error` and then the socket closes 4403;
//! - a socket that does not send `connection_init` in time is closed 4408;
//!   operations per socket and sockets per token are bounded;
//! - messages larger than the HTTP body limit are refused by the websocket
//!   layer before they are assembled (`max_message_size`), fragments included.
//!
//! Both dialects are spoken on the same socket: `graphql-transport-ws`
//! (`subscribe`/`next`/`complete`, `ping`/`pong`) and the legacy
//! `graphql-ws` of subscriptions-transport-ws (`start`/`data`/`stop`). The
//! answered subprotocol is only a default: a client whose first operation is
//! a `start` is answered in the legacy dialect, so a client that could not
//! read the handshake's answer header (some match it case-sensitively) and
//! fell back to the legacy dialect still gets its events.
//!
//! Close codes (the README's security model lists the same table):
//!
//! | code | when |
//! |---|---|
//! | 1000 | the client completed, or asked to terminate |
//! | 1001 | the server is shutting down |
//! | 1009 | a message over the size limit |
//! | 4400 | a message that is not JSON or not of the protocol |
//! | 4401 | an operation before `connection_init`, or `connection_init` without a token |
//! | 4403 | a bad token, or one that expired or was revoked while the socket was open |
//! | 4408 | no `connection_init` within `ws.init_timeout_secs` |
//! | 4409 | a second operation under an id that is still running |
//! | 4429 | a second `connection_init`, or more sockets for one token than `ws.max_sockets_per_token` |

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::auth::{AuthError, Principal};
use crate::state::AppState;

/// The close codes of the table above.
pub mod close {
    /// Completed normally.
    pub const NORMAL: u16 = 1000;
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A message over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// Not of the protocol.
    pub const BAD_MESSAGE: u16 = 4400;
    /// No token, or not initialised.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Bad, expired or revoked token.
    pub const FORBIDDEN: u16 = 4403;
    /// `connection_init` did not come in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// An id already running.
    pub const DUPLICATE_ID: u16 = 4409;
    /// Too many initialisations or sockets.
    pub const TOO_MANY: u16 = 4429;
}

/// Sockets open per token id, shared by every socket of the server.
#[derive(Debug, Default)]
pub struct SocketCounts(Mutex<HashMap<String, usize>>);

impl SocketCounts {
    /// Counts a socket for `jti` unless `max` are open already.
    fn enter(self: &Arc<Self>, jti: &str, max: usize) -> Option<SocketSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(jti.to_string()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SocketSlot { counts: self.clone(), jti: jti.to_string() })
    }
}

/// One counted socket; dropping it frees the place.
struct SocketSlot {
    counts: Arc<SocketCounts>,
    jti: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.jti) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.jti);
            }
        }
    }
}

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

/// Why the socket ends.
struct Ending(u16, String);

/// What a running operation hands its socket.
enum Out {
    /// A result of its own execution.
    Response(Box<async_graphql::Response>),
    /// A result of a shared execution, serialized once for every subscriber.
    Shared(Arc<str>),
    /// It ended.
    Done,
}

/// One socket's state.
struct Session {
    app: AppState,
    dialect: Dialect,
    principal: Option<(Principal, SocketSlot)>,
    running: HashMap<String, AbortHandle>,
    results: mpsc::Sender<(String, Out)>,
}

/// Serves one upgraded socket until it closes.
pub async fn serve(socket: WebSocket, app: AppState, dialect: Dialect) {
    let (mut sink, mut stream) = socket.split();
    let (results, mut results_rx) = mpsc::channel::<(String, Out)>(256);
    let mut revocations = app.auth.revocations();
    let mut shutdown = app.shutdown.clone();
    let init_deadline = tokio::time::Instant::now() + Duration::from_secs(app.ws.init_timeout_secs);
    let mut session = Session { app, dialect, principal: None, running: HashMap::new(), results };
    let ending = loop {
        let expiry = match &session.principal {
            Some((p, _)) => expiry_instant(p.expires_at, session.app.kontakt.now().timestamp()),
            None => init_deadline,
        };
        let step = tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(t))) => session.on_message(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => session.on_message(&b),
                Some(Ok(Message::Close(_))) | None => Err(Ending(close::NORMAL, String::new())),
                Some(Ok(_)) => Ok(vec![]),
                Some(Err(e)) => {
                    let why = e.to_string().to_lowercase();
                    if why.contains("too long") || why.contains("size") {
                        Err(Ending(close::TOO_BIG, "message over the size limit".into()))
                    } else {
                        // The connection broke: nobody is left to tell.
                        Err(Ending(0, String::new()))
                    }
                }
            },
            Some((id, response)) = results_rx.recv() => Ok(session.on_result(id, response)),
            _ = tokio::time::sleep_until(expiry) => match &session.principal {
                None => Err(Ending(close::INIT_TIMEOUT, "Connection initialisation timeout".into())),
                Some(_) => session.token_ended("the token expired"),
            },
            // The sender lives in Auth, which this session holds: it cannot close first.
            _ = revocations.changed() => session.recheck(),
            _ = shutdown.changed() => Err(Ending(close::GOING_AWAY, "server shutting down".into())),
        };
        match step {
            Ok(frames) => {
                for f in frames {
                    if sink.send(Message::Text(f.into())).await.is_err() {
                        break;
                    }
                }
            }
            Err(Ending(code, reason)) => break Some((code, reason, session.closing_frames(code))),
        }
    };
    for task in session.running.values() {
        task.abort();
    }
    if let Some((code, reason, frames)) = ending.filter(|(code, ..)| *code != 0) {
        for f in frames {
            let _ = sink.send(Message::Text(f.into())).await;
        }
        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

fn expiry_instant(expires_at: i64, now: i64) -> tokio::time::Instant {
    let left = expires_at - now;
    tokio::time::Instant::now() + Duration::from_secs(left.max(0) as u64)
}

/// One GraphQL error as the protocols carry it.
fn coded_error(code: &str, message: &str) -> Value {
    json!({ "message": message, "extensions": { "code": code } })
}

/// Gives every error of a result a stable code: one without is a malformed
/// operation, as the HTTP endpoint says too.
pub(crate) fn code_errors(r: &mut async_graphql::Response) {
    for e in &mut r.errors {
        let coded = e.extensions.as_ref().is_some_and(|x| x.get("code").is_some());
        if !coded {
            e.extensions.get_or_insert_with(Default::default).set("code", "VALIDATION");
        }
    }
}

/// A JSON string literal.
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

impl Session {
    fn on_message(&mut self, raw: &[u8]) -> Result<Vec<String>, Ending> {
        let msg: Value = serde_json::from_slice(raw)
            .map_err(|_| Ending(close::BAD_MESSAGE, "the message is not JSON".into()))?;
        let kind = msg.get("type").and_then(Value::as_str).unwrap_or_default();
        let id = msg.get("id").and_then(Value::as_str).map(str::to_owned);
        match kind {
            "connection_init" => self.init(msg.get("payload")),
            "ping" => Ok(vec![json!({ "type": "pong" }).to_string()]),
            "pong" => Ok(vec![]),
            "subscribe" | "start" => {
                if kind == "start" {
                    self.dialect = Dialect::Legacy;
                }
                let id = id.ok_or_else(|| Ending(close::BAD_MESSAGE, "an operation needs an id".into()))?;
                self.start(id, msg.get("payload").cloned().unwrap_or(Value::Null))
            }
            "complete" | "stop" => {
                if let Some(task) = id.and_then(|id| self.running.remove(&id)) {
                    task.abort();
                }
                Ok(vec![])
            }
            "connection_terminate" => Err(Ending(close::NORMAL, String::new())),
            other => Err(Ending(close::BAD_MESSAGE, format!("unknown message type {other:?}"))),
        }
    }

    fn init(&mut self, payload: Option<&Value>) -> Result<Vec<String>, Ending> {
        if self.principal.is_some() {
            return Err(Ending(close::TOO_MANY, "Too many initialisation requests".into()));
        }
        let token = payload
            .and_then(|p| {
                p.get("token").or_else(|| p.get("authorization")).or_else(|| p.get("Authorization"))
            })
            .and_then(Value::as_str)
            .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).to_string());
        let verified = match token {
            None => Err(AuthError::Missing),
            Some(t) => self.app.auth.verify(&t),
        };
        let principal = match verified {
            Ok(p) => p,
            Err(e) => {
                crate::state::auth_failure(&self.app.metrics, &e);
                let code = if e == AuthError::Missing { close::UNAUTHORIZED } else { close::FORBIDDEN };
                return Err(Ending(code, e.to_string()));
            }
        };
        let Some(slot) = self.app.ws_counts.enter(&principal.jti, self.app.ws.max_sockets_per_token) else {
            return Err(Ending(
                close::TOO_MANY,
                format!("more than {} sockets open with this token", self.app.ws.max_sockets_per_token),
            ));
        };
        self.principal = Some((principal, slot));
        Ok(vec![json!({ "type": "connection_ack" }).to_string()])
    }

    fn start(&mut self, id: String, payload: Value) -> Result<Vec<String>, Ending> {
        let Some((principal, _)) = &self.principal else {
            return Err(Ending(close::UNAUTHORIZED, "Unauthorized".into()));
        };
        if !principal.still_valid(&self.app.kontakt) {
            return self.token_ended("the token expired or was revoked");
        }
        if self.running.contains_key(&id) {
            return Err(Ending(close::DUPLICATE_ID, format!("Subscriber for {id} already exists")));
        }
        if self.running.len() >= self.app.ws.max_subscriptions {
            let message = format!(
                "at most {} operations run at once on one socket: complete one first",
                self.app.ws.max_subscriptions
            );
            return Ok(vec![self.error_frame(&id, &coded_error("LIMIT", &message))]);
        }
        let request: async_graphql::Request = match serde_json::from_value(payload) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("not a GraphQL request: {e}");
                return Ok(vec![self.error_frame(&id, &coded_error("BAD_REQUEST", &message))]);
            }
        };
        let (tx, task_id) = (self.results.clone(), id.clone());
        let task = match self.app.hub.join(&self.app.schema, &request, principal) {
            Some(listener) => tokio::spawn(listen(listener, tx, task_id)),
            None => {
                let mut responses = self.app.schema.execute_stream(request.data(principal.clone()));
                tokio::spawn(async move {
                    while let Some(r) = responses.next().await {
                        if tx.send((task_id.clone(), Out::Response(Box::new(r)))).await.is_err() {
                            return;
                        }
                    }
                    let _ = tx.send((task_id, Out::Done)).await;
                })
            }
        };
        self.running.insert(id, task.abort_handle());
        self.app.metrics.operation("ws", true);
        Ok(vec![])
    }

    /// A response of a running operation, or its end.
    fn on_result(&mut self, id: String, out: Out) -> Vec<String> {
        if !self.running.contains_key(&id) {
            // Completed by the client meanwhile.
            return vec![];
        }
        let kind = if self.dialect == Dialect::Legacy { "data" } else { "next" };
        match out {
            Out::Response(mut r) => {
                code_errors(&mut r);
                vec![json!({ "type": kind, "id": id, "payload": r }).to_string()]
            }
            // The payload is shared text: only the frame around it is this socket's.
            Out::Shared(payload) => {
                vec![format!(r#"{{"type":"{kind}","id":{},"payload":{payload}}}"#, quoted(&id))]
            }
            Out::Done => {
                self.running.remove(&id);
                vec![json!({ "type": "complete", "id": id }).to_string()]
            }
        }
    }

    /// After a revocation somewhere: is this socket's token still good?
    fn recheck(&mut self) -> Result<Vec<String>, Ending> {
        match &self.principal {
            Some((p, _)) if !p.still_valid(&self.app.kontakt) => self.token_ended("the token was revoked"),
            _ => Ok(vec![]),
        }
    }

    fn token_ended(&mut self, why: &str) -> Result<Vec<String>, Ending> {
        Err(Ending(close::FORBIDDEN, why.into()))
    }

    /// What every running operation is told before the socket closes with `code`.
    fn closing_frames(&mut self, code: u16) -> Vec<String> {
        let refused = matches!(code, close::UNAUTHORIZED | close::FORBIDDEN | close::TOO_MANY);
        if self.principal.is_none() && refused && self.dialect == Dialect::Legacy {
            // The legacy dialect refuses an initialisation in its own words first.
            let message = if code == close::UNAUTHORIZED { "Unauthorized" } else { "Forbidden" };
            return vec![
                json!({ "type": "connection_error", "payload": { "message": message } }).to_string(),
            ];
        }
        if code != close::FORBIDDEN {
            return vec![];
        }
        let error = coded_error("UNAUTHENTICATED", "the token expired or was revoked");
        let ids: Vec<String> = self.running.keys().cloned().collect();
        ids.iter().map(|id| self.error_frame(id, &error)).collect()
    }

    fn error_frame(&self, id: &str, error: &Value) -> String {
        match self.dialect {
            Dialect::TransportWs => json!({ "type": "error", "id": id, "payload": [error] }).to_string(),
            Dialect::Legacy => json!({ "type": "error", "id": id, "payload": error }).to_string(),
        }
    }
}

/// Hands a shared execution's results to one socket: the current state first
/// (for a board), then each result as it comes; a subscriber that fell
/// behind is told how many it missed, as a stream of its own would say.
async fn listen(mut listener: crate::fanout::Listener, tx: mpsc::Sender<(String, Out)>, id: String) {
    if let Some(first) = listener.first.take()
        && tx.send((id.clone(), Out::Shared(first))).await.is_err()
    {
        return;
    }
    loop {
        let out = match listener.rx.recv().await {
            Ok(payload) => Out::Shared(payload),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let e = async_graphql::ServerError::new(
                    format!("the subscriber fell behind and missed {n} events; reload"),
                    None,
                );
                let mut e = e;
                e.extensions.get_or_insert_with(Default::default).set("code", "LAGGED");
                Out::Response(Box::new(async_graphql::Response::from_errors(vec![e])))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => Out::Done,
        };
        let done = matches!(out, Out::Done);
        if tx.send((id.clone(), out)).await.is_err() || done {
            break;
        }
    }
}
