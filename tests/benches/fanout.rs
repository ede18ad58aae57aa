//! Fan-out: how long a committed change takes to reach every websocket
//! subscriber, next to a bare broadcast server measured in the same run.
//!
//! Writers walk requests through their lifecycle over GraphQL against the
//! release `kontakt serve --demo` at a steady rate of committed events, while
//! N clients are subscribed to `requestEvents` over graphql-transport-ws.
//! Writers and subscribers share one process and one clock. An event's
//! delivery latency, per subscriber, runs from the moment its writer received
//! the acknowledgement of the commit to the moment the subscriber received the
//! frame; the server publishes before it answers the writer, so a frame may
//! beat the acknowledgement, and then counts as 0 (how many did is printed).
//! The second figure runs from the moment the write was sent, so it includes
//! the durable commit and never goes below zero.
//!
//! Baseline: a minimal axum server on its own runtime whose `/publish` sends
//! the same frames (same JSON, same size) through a tokio broadcast channel of
//! the same capacity to the same number of websocket clients, driven at the
//! same rate by the same writers and heard by the same client code. The ratio
//! is kontakt over baseline: what the GraphQL execution per subscriber, the
//! scope checks and the durable commit add to the floor of the fan-out itself.
//!
//! Run: `cargo bench -p kontakt-tests --bench fanout [-- --subscribers 1000 --rate 100 --seconds 30]`;
//! `--quick` for 100 subscribers over 5 s.
//! Goal: delivery p99 < 100 ms through kontakt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Json, State};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use kontakt_tests::app::{kontakt_release_bin, spawn_bin};
use kontakt_tests::load::{
    Acked, Cursor, Heard, KINDS, Lifecycles, Pace, Scope, Subscribers, Target, WriteLog, account, drain,
    drive, quantile, raise_fd_limit, wait_subscribed,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The same as the server's bus.
const CAPACITY: usize = 4096;
/// Writer tasks, each one write at a time: enough that a slow acknowledgement
/// does not lower the rate asked for (a shortfall is printed).
const WRITERS: usize = 16;

/// The bare server's state: the channel and how many sockets listen.
#[derive(Clone)]
struct Bare {
    tx: broadcast::Sender<Arc<str>>,
    live: Arc<AtomicUsize>,
}

/// Sends each posted event as one graphql-transport-ws `next` frame, the way
/// kontakt frames `requestEvents { kind seq request { id } }` (every client
/// here subscribes with id "1", so the frame is built once per event).
async fn publish(State(bare): State<Bare>, Json(body): Json<Value>) -> Json<Value> {
    for e in body["events"].as_array().into_iter().flatten() {
        let frame = json!({ "id": "1", "type": "next", "payload": { "data": { "requestEvents": {
            "kind": e["kind"], "seq": e["seq"], "request": { "id": e["id"] } } } } });
        let _ = bare.tx.send(frame.to_string().into());
    }
    Json(json!({ "data": { "publish": true } }))
}

/// The same readiness signal as kontakt's `/metrics`.
async fn metrics(State(bare): State<Bare>) -> String {
    format!("kontakt_subscribers {}\n", bare.live.load(Ordering::Relaxed))
}

async fn ws(State(bare): State<Bare>, upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade.protocols(["graphql-transport-ws"]).on_upgrade(move |socket| session(socket, bare))
}

/// graphql-transport-ws, as little of it as the clients need: ack the
/// init, start on subscribe, then forward the channel.
async fn session(mut socket: WebSocket, bare: Bare) {
    let mut rx = None;
    while rx.is_none() {
        let Some(Ok(Message::Text(t))) = socket.recv().await else { return };
        let msg: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
        if msg["type"] == "connection_init" {
            let ack = json!({ "type": "connection_ack" }).to_string();
            if socket.send(Message::Text(ack.into())).await.is_err() {
                return;
            }
        } else if msg["type"] == "subscribe" {
            rx = Some(bare.tx.subscribe());
        }
    }
    let Some(mut rx) = rx else { return };
    bare.live.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            received = rx.recv() => {
                let frame: Arc<str> = match received {
                    Ok(f) => f,
                    Err(broadcast::error::RecvError::Lagged(n)) => json!({ "id": "1", "type": "next", "payload": {
                        "data": null, "errors": [{ "message": format!("the subscriber fell behind and missed {n} events; reload"),
                        "extensions": { "code": "LAGGED" } }] } }).to_string().into(),
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if sink.send(Message::Text(frame.as_ref().into())).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    bare.live.fetch_sub(1, Ordering::Relaxed);
}

/// Starts the bare server on a runtime of its own (two workers, like the
/// server process); returns its base URL.
fn start_bare() -> String {
    let (tx_addr, rx_addr) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async move {
            let bare = Bare { tx: broadcast::channel(CAPACITY).0, live: Arc::default() };
            let app = axum::Router::new()
                .route("/publish", post(publish))
                .route("/metrics", get(metrics))
                .route("/graphql/ws", get(ws))
                .with_state(bare);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx_addr.send(listener.local_addr().expect("addr")).expect("report the address");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{}", rx_addr.recv().expect("the bare server started"))
}

/// Writes to the bare server: the same lifecycle shape (two events, then one
/// per step, five in all) under fresh request ids.
struct BareWrites {
    url: String,
    client: reqwest::Client,
}

impl Target for BareWrites {
    async fn step(&self, cursor: &mut Cursor) -> Result<Vec<Acked>, String> {
        let (id, stage) = match cursor.current.take() {
            Some((id, _, stage)) => (id, stage + 1),
            None => (ulid::Ulid::generate().to_string(), 0),
        };
        let kinds: &[u8] = if stage == 0 { &[0, 1] } else { &[stage + 1] };
        let events: Vec<Value> =
            kinds.iter().map(|k| json!({ "id": id, "kind": KINDS[*k as usize], "seq": k })).collect();
        let sent = Instant::now();
        let resp = self.client.post(&self.url).json(&json!({ "events": events })).send().await;
        let ok = match resp {
            Ok(r) => {
                r.status().is_success() && r.json::<Value>().await.is_ok_and(|v| v["data"]["publish"] == true)
            }
            Err(_) => false,
        };
        let at = Instant::now();
        if !ok {
            return Err("publish failed".into());
        }
        if stage < 3 {
            cursor.current = Some((id.clone(), "".into(), stage));
        }
        let request = kontakt_tests::load::request_key(&id).ok_or("not a ULID")?;
        Ok(kinds.iter().map(|&kind| Acked { request, kind, after: None, before: None, sent, at }).collect())
    }
}

/// Delivery figures of one run, in milliseconds.
struct Figures {
    /// Acknowledgement → receipt (0 when the frame came first): p50, p99, max.
    acked: [f64; 3],
    /// Write sent → receipt: p50, p99, max.
    sent: [f64; 3],
    owed: u64,
    delivered: u64,
    early: u64,
    lag_notices: u32,
    lagged: u64,
    /// Missing deliveries no `LAGGED` notice accounted for.
    unaccounted: u64,
    events_per_s: f64,
    drained: Duration,
}

fn figures(log: &WriteLog, heard: &[Heard], drained: Duration) -> Figures {
    let acked: HashMap<(u128, u8), (Instant, Instant)> =
        log.acked.iter().map(|e| ((e.request, e.kind), (e.sent, e.at))).collect();
    let total = heard.iter().map(|h| h.times.len()).sum();
    let (mut from_ack, mut from_sent) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut early = 0;
    for h in heard {
        for (request, kind, at) in &h.times {
            if let Some((sent, ack)) = acked.get(&(*request, *kind)) {
                if at < ack {
                    early += 1;
                }
                from_ack.push(at.saturating_duration_since(*ack).as_secs_f64() * 1000.0);
                from_sent.push(at.saturating_duration_since(*sent).as_secs_f64() * 1000.0);
            }
        }
    }
    let three = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        [quantile(&v, 0.5), quantile(&v, 0.99), v.last().copied().unwrap_or(0.0)]
    };
    Figures {
        delivered: from_ack.len() as u64,
        acked: three(from_ack),
        sent: three(from_sent),
        owed: (log.acked.len() * heard.len()) as u64,
        early,
        lag_notices: heard.iter().map(|h| h.lag_notices).sum(),
        lagged: heard.iter().map(|h| h.lagged).sum(),
        unaccounted: heard
            .iter()
            .map(|h| account(&log.acked, &Scope::All, h).missing.saturating_sub(h.lagged))
            .sum(),
        events_per_s: log.acked.len() as f64 / log.elapsed.as_secs_f64(),
        drained,
    }
}

/// Subscribes `n` clients at `base`, drives `target` for `secs`, drains, and measures.
async fn run<T: Target>(base: &str, token: &str, n: usize, target: &T, rate: f64, secs: f64) -> Figures {
    let who = (0..n).map(|_| (token.to_string(), Scope::All)).collect();
    let subs = Subscribers::connect(base, who, true).await;
    wait_subscribed(base, n, Duration::from_secs(120)).await;
    let log = drive(target, WRITERS, Pace::Events(rate), Duration::from_secs_f64(secs)).await;
    assert!(log.failures.is_empty(), "{} writes failed, first: {}", log.failures.len(), log.failures[0]);
    let drained = drain(&subs, &log.acked, Duration::from_secs(10)).await;
    subs.stop();
    let mut heard = Vec::with_capacity(n);
    for s in subs.all {
        let h = s.heard().await;
        assert!(h.unexpected.is_empty() && h.ended_early.is_none(), "{:?} {:?}", h.unexpected, h.ended_early);
        heard.push(h);
    }
    figures(&log, &heard, drained)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let n: usize =
        arg("--subscribers").and_then(|s| s.parse().ok()).unwrap_or(if quick { 100 } else { 1000 });
    let rate: f64 = arg("--rate").and_then(|s| s.parse().ok()).unwrap_or(100.0);
    let secs: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(if quick { 5.0 } else { 30.0 });

    // Both ends of every socket of the bare run live in this process.
    raise_fd_limit(2 * n as u64 + 256);
    let bin = kontakt_release_bin();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let (bare, ours) = runtime.block_on(async {
        let base = start_bare();
        let target = BareWrites { url: format!("{base}/publish"), client: reqwest::Client::new() };
        let bare = run(&base, "-", n, &target, rate, secs).await;

        let dir = tempfile::tempdir().expect("tempdir");
        let app = spawn_bin(&bin, dir.path(), &["--demo"], &[kontakt_tests::load::SHARED_TOKENS]);
        let ours = run(&app.base, &app.token("OPERATOR"), n, &Lifecycles::new(&app), rate, secs).await;
        eprintln!("  kontakt server RSS at the end: {} MiB", app.rss_bytes().unwrap_or(0) >> 20);
        (bare, ours)
    });

    for (name, f) in [("bare", &bare), ("kontakt", &ours)] {
        eprintln!(
            "  {name}: {:.1} events/s committed, {} of {} deliveries, {} before the writer's ack, \
             {} LAGGED notices for {} events, {} missing without one, drained {:.1} s after the last write",
            f.events_per_s,
            f.delivered,
            f.owed,
            f.early,
            f.lag_notices,
            f.lagged,
            f.unaccounted,
            f.drained.as_secs_f64()
        );
    }
    println!("fan-out over websockets: {n} subscribers, {rate} events/s asked, {secs} s, same machine");
    println!("| figure | bare broadcast server | kontakt | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    // A baseline that rounds to 0 ms has no meaningful ratio.
    let ratio = |o: f64, b: f64| if b >= 0.05 { format!("{:.1}", o / b) } else { "—".into() };
    let row = |name: &str, b: f64, o: f64, goal: &str| {
        println!("| {name} | {b:.1} ms | {o:.1} ms | {} | {goal} |", ratio(o, b));
    };
    let met = if ours.acked[1] < 100.0 { "< 100 ms — met" } else { "< 100 ms — missed" };
    row("delivery after the ack: p50", bare.acked[0], ours.acked[0], "");
    row("delivery after the ack: p99", bare.acked[1], ours.acked[1], met);
    row("delivery after the ack: max", bare.acked[2], ours.acked[2], "");
    row("write sent → delivered: p50", bare.sent[0], ours.sent[0], "");
    row("write sent → delivered: p99", bare.sent[1], ours.sent[1], "");
    row("write sent → delivered: max", bare.sent[2], ours.sent[2], "");
    println!(
        "| events committed /s (asked {rate}) | {:.1} | {:.1} | {:.2} | |",
        bare.events_per_s,
        ours.events_per_s,
        ours.events_per_s / bare.events_per_s
    );
    println!(
        "| delivered / owed (LAGGED notices) | {} / {} ({}) | {} / {} ({}) | | all, or told by LAGGED |",
        bare.delivered, bare.owed, bare.lag_notices, ours.delivered, ours.owed, ours.lag_notices
    );
}
