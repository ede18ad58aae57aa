//! The Asterisk Manager Interface dialer: one AMI session kept open, calls
//! originated on it, and their answers read from it — no separate webhook.
//!
//! - Each attempt is an `Originate` (`Async: true`) whose `ActionID` is the
//!   attempt's idempotency key, with the task, key, request number and spoken
//!   message as channel variables (`KONTAKT_TASK`, `KONTAKT_KEY`,
//!   `KONTAKT_NUMBER`, `KONTAKT_MESSAGE`).
//! - `Event: OriginateResponse` with `Response: Failure` (busy, no answer,
//!   congestion, …; `Reason` says which) settles the attempt as NO_ANSWER: the
//!   callback policy retries it with backoff.
//! - `Event: UserEvent` named `KontaktAnswer`, raised by the dialplan
//!   (`docs/asterisk/extensions.conf`) with `Key:` and `Digit:`, is the
//!   applicant's answer: 1 CONFIRMED, 2 NOT_FIXED, 0 "a person, please" (the
//!   task moves to the operators' worklist), anything else NO_ANSWER.
//! - When the session drops, every call placed on it whose answer has not
//!   come is settled as NO_ANSWER: its outcome cannot be known, and the
//!   applicant is never dialled twice for one attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kontakt_workflow::Kontakt;
use kontakt_workflow::callbacks::CallbackOutcome;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use crate::bus::Bus;
use crate::dialer::Call;

/// Where and how to reach the AMI.
#[derive(Debug, Clone)]
pub struct AmiSettings {
    /// `host:port`.
    pub address: String,
    /// AMI user.
    pub username: String,
    /// AMI secret.
    pub secret: String,
    /// The channel to dial, `{phone}` replaced.
    pub channel: String,
    /// The dialplan context that talks to the applicant.
    pub context: String,
    /// Its extension.
    pub exten: String,
}

/// The name of the dialplan's answer event.
pub const ANSWER_EVENT: &str = "KontaktAnswer";

/// A handle on the running AMI session.
#[derive(Clone)]
pub struct AmiHandle {
    tx: mpsc::Sender<(Call, Reply)>,
}

impl std::fmt::Debug for AmiHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AmiHandle")
    }
}

impl AmiHandle {
    /// Originates one call; Ok once Asterisk has queued it.
    pub async fn originate(&self, call: &Call) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((call.clone(), reply)).await.map_err(|_| "the AMI session has stopped".to_string())?;
        match tokio::time::timeout(Duration::from_secs(15), answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the AMI session dropped the call".into()),
            Err(_) => Err("AMI did not answer in 15 s".into()),
        }
    }
}

/// Starts the session: it connects, logs in, and reconnects with backoff
/// whenever the connection drops, recording answers on `kontakt`.
pub fn start(settings: AmiSettings, kontakt: Kontakt, bus: Bus) -> AmiHandle {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(Arc::new(settings), kontakt, bus, rx));
    AmiHandle { tx }
}

/// Where the answer to an `Originate` goes: Ok once Asterisk queued the call.
type Reply = oneshot::Sender<Result<(), String>>;

/// Originates asked for and not yet answered, by `ActionID`: the task and the reply.
type Asked = HashMap<String, (String, Reply)>;

/// One AMI message: its `Key: Value` lines.
type Message = HashMap<String, String>;

async fn run(settings: Arc<AmiSettings>, kontakt: Kontakt, bus: Bus, mut rx: mpsc::Receiver<(Call, Reply)>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(&settings, &kontakt, &bus, &mut rx).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, address = %settings.address, "AMI session lost; reconnecting");
                // Calls asked for while disconnected are refused, so the callback policy retries them.
                while let Ok((_, reply)) = rx.try_recv() {
                    let _ = reply.send(Err(format!("AMI unavailable: {e}")));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Reads one message (lines up to a blank line); `None` at end of stream.
async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
) -> Result<Option<Message>, String> {
    let mut m = Message::new();
    loop {
        match lines.next_line().await.map_err(|e| e.to_string())? {
            None => return Ok(None),
            Some(line) => {
                let line = line.trim_end();
                if line.is_empty() {
                    if m.is_empty() {
                        continue;
                    }
                    return Ok(Some(m));
                }
                if let Some((k, v)) = line.split_once(':') {
                    m.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
}

/// AMI values end at the line: nothing that could start a new header.
fn value(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

/// A call placed on this session: its task, awaiting its answer.
struct InFlight {
    task: String,
}

async fn session(
    settings: &AmiSettings,
    kontakt: &Kontakt,
    bus: &Bus,
    rx: &mut mpsc::Receiver<(Call, Reply)>,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(&settings.address)
        .await
        .map_err(|e| format!("AMI {}: {e}", settings.address))?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let banner = lines.next_line().await.map_err(|e| e.to_string())?.unwrap_or_default();
    if !banner.starts_with("Asterisk Call Manager") {
        return Err(format!("not an AMI: {banner:?}"));
    }
    let login = format!(
        "Action: Login\r\nUsername: {}\r\nSecret: {}\r\nEvents: call,user\r\nActionID: kontakt-login\r\n\r\n",
        value(&settings.username),
        value(&settings.secret)
    );
    write.write_all(login.as_bytes()).await.map_err(|e| e.to_string())?;
    loop {
        let m = read_message(&mut lines).await?.ok_or("AMI closed during login")?;
        if m.get("ActionID").map(String::as_str) == Some("kontakt-login") || m.contains_key("Response") {
            match m.get("Response").map(String::as_str) {
                Some("Success") => break,
                _ => {
                    return Err(format!(
                        "AMI refused the login: {}",
                        m.get("Message").cloned().unwrap_or_default()
                    ));
                }
            }
        }
    }
    tracing::info!(address = %settings.address, "AMI session open");
    let mut asked: Asked = HashMap::new();
    let mut in_flight: HashMap<String, InFlight> = HashMap::new();
    let mut current = Message::new();
    let result = loop {
        tokio::select! {
            req = rx.recv() => {
                let Some((call, reply)) = req else { break Ok(()) };
                let channel = settings.channel.replace("{phone}", &call.phone);
                let action = format!(
                    "Action: Originate\r\nActionID: {key}\r\nChannel: {}\r\nContext: {}\r\nExten: {}\r\nPriority: 1\r\nAsync: true\r\nTimeout: 45000\r\nCallerID: Kontakt <{}>\r\nVariable: KONTAKT_TASK={}\r\nVariable: KONTAKT_KEY={key}\r\nVariable: KONTAKT_NUMBER={}\r\nVariable: KONTAKT_MESSAGE={}\r\n\r\n",
                    value(&channel),
                    value(&settings.context),
                    value(&settings.exten),
                    value(&call.number),
                    value(&call.task_id),
                    value(&call.number),
                    value(&call.message),
                    key = value(&call.idempotency_key),
                );
                if let Err(e) = write.write_all(action.as_bytes()).await {
                    let _ = reply.send(Err(e.to_string()));
                    break Err(e.to_string());
                }
                asked.insert(call.idempotency_key.clone(), (call.task_id.clone(), reply));
            }
            // Line by line (cancel-safe): a message half read when a call is
            // asked for stays in `current` instead of being lost with the future.
            line = lines.next_line() => {
                match line {
                    Ok(Some(line)) => {
                        let line = line.trim_end();
                        if line.is_empty() {
                            if !current.is_empty() {
                                handle(std::mem::take(&mut current), kontakt, bus, &mut asked, &mut in_flight).await;
                            }
                        } else if let Some((k, v)) = line.split_once(':') {
                            current.insert(k.trim().to_string(), v.trim().to_string());
                        }
                    }
                    Ok(None) => break Err("AMI closed the connection".to_string()),
                    Err(e) => break Err(e.to_string()),
                }
            }
        }
    };
    // What was asked and not yet queued is refused; what was placed cannot be known.
    for (_, (_, reply)) in asked.drain() {
        let _ = reply.send(Err("the AMI connection was lost".into()));
    }
    for (key, call) in in_flight.drain() {
        settle(
            kontakt,
            bus,
            &call.task,
            &key,
            CallbackOutcome::NoAnswer,
            "AMI connection lost during the call: outcome unknown",
        )
        .await;
    }
    result
}

async fn handle(
    m: Message,
    kontakt: &Kontakt,
    bus: &Bus,
    asked: &mut Asked,
    in_flight: &mut HashMap<String, InFlight>,
) {
    let action = m.get("ActionID").cloned().unwrap_or_default();
    if let Some(response) = m.get("Response").filter(|_| !m.contains_key("Event")) {
        if let Some((task, reply)) = asked.remove(&action) {
            if response == "Success" {
                in_flight.insert(action, InFlight { task });
                let _ = reply.send(Ok(()));
            } else {
                let _ = reply.send(Err(format!(
                    "AMI refused the call: {}",
                    m.get("Message").cloned().unwrap_or_default()
                )));
            }
        }
        return;
    }
    match m.get("Event").map(String::as_str) {
        Some("OriginateResponse") if m.get("Response").map(String::as_str) != Some("Success") => {
            if let Some(call) = in_flight.remove(&action) {
                let reason = match m.get("Reason").map(String::as_str) {
                    Some("5") => "busy",
                    Some("8") => "congestion",
                    Some("3") | Some("1") => "no answer",
                    Some("0") => "no such channel",
                    _ => "not answered",
                };
                settle(
                    kontakt,
                    bus,
                    &call.task,
                    &action,
                    CallbackOutcome::NoAnswer,
                    &format!("the call failed: {reason}"),
                )
                .await;
            }
        }
        Some("UserEvent") if m.get("UserEvent").map(String::as_str) == Some(ANSWER_EVENT) => {
            let key = m.get("Key").cloned().unwrap_or_default();
            let Some(call) = in_flight.remove(&key) else { return };
            match m.get("Digit").map(String::as_str) {
                Some("1") => {
                    settle(
                        kontakt,
                        bus,
                        &call.task,
                        &key,
                        CallbackOutcome::Confirmed,
                        "нажата 1: проблема решена",
                    )
                    .await
                }
                Some("2") => {
                    settle(
                        kontakt,
                        bus,
                        &call.task,
                        &key,
                        CallbackOutcome::NotFixed,
                        "нажата 2: проблема не решена",
                    )
                    .await
                }
                Some("0") => {
                    let (k, task, attempt) = (kontakt.clone(), call.task.clone(), key.clone());
                    let handed = move || retried(|| k.hand_callback_to_person(&task, &attempt));
                    match tokio::task::spawn_blocking(handed).await {
                        Ok(Ok(_)) => tracing::info!(task = %call.task, "the applicant asked for an operator"),
                        Ok(Err(e)) => {
                            tracing::warn!(task = %call.task, error = %e, "moving a callback to the worklist")
                        }
                        Err(e) => tracing::error!(error = %e, "callback task failed"),
                    }
                }
                _ => {
                    settle(kontakt, bus, &call.task, &key, CallbackOutcome::NoAnswer, "no digit pressed")
                        .await
                }
            }
        }
        _ => {}
    }
}

/// Records the answer to one attempt and publishes the change.
async fn settle(kontakt: &Kontakt, bus: &Bus, task: &str, key: &str, outcome: CallbackOutcome, note: &str) {
    let (k, task, key, note) = (kontakt.clone(), task.to_string(), key.to_string(), note.to_string());
    let done = tokio::task::spawn_blocking(move || {
        retried(|| k.record_attempt_outcome(&task, &key, outcome, Some(note.clone())))
    })
    .await;
    match done {
        Ok(Ok(o)) => bus.publish(&o.events, o.before.as_ref(), &o.request),
        Ok(Err(e)) => tracing::warn!(error = %e, "recording a call's answer"),
        Err(e) => tracing::error!(error = %e, "callback task failed"),
    }
}

/// Runs `f` again while it meets a concurrent change: the answer can come
/// back on the session while the job is still recording the call as sent.
fn retried<T>(
    mut f: impl FnMut() -> Result<T, kontakt_workflow::DomainError>,
) -> Result<T, kontakt_workflow::DomainError> {
    let mut last = None;
    for _ in 0..5 {
        match f() {
            Err(kontakt_workflow::DomainError::Conflict) => {
                last = Some(kontakt_workflow::DomainError::Conflict)
            }
            other => return other,
        }
    }
    Err(last.unwrap_or(kontakt_workflow::DomainError::Conflict))
}
