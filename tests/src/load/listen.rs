//! The listening side: websocket subscribers that log what they receive,
//! compactly, until told to stop, and the waits around them (subscriptions
//! started, deliveries drained).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Acked, Scope, kind_index, request_key};
use crate::app::WsClient;

/// What one subscriber saw of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// Bit `k` set: an event of kind `KINDS[k]` arrived.
    pub kinds: u8,
    /// The highest history position received so far.
    pub last_seq: u32,
}

/// What one subscriber received.
#[derive(Debug, Default)]
pub struct Heard {
    /// Per request.
    pub seen: HashMap<u128, Seen>,
    /// Events received.
    pub events: u64,
    /// (request, kind, receipt) of every event, when asked for.
    pub times: Vec<(u128, u8, Instant)>,
    /// `LAGGED` notices and the events they said were missed.
    pub lag_notices: u32,
    /// Sum of the missed counts of the notices.
    pub lagged: u64,
    /// The same (request, kind) more than once.
    pub duplicates: u64,
    /// An event of a request at or before a position already received.
    pub out_of_order: u64,
    /// Anything else: errors, unknown kinds, malformed items (first few).
    pub unexpected: Vec<String>,
    /// The server closed the socket or ended the subscription before it was told to stop.
    pub ended_early: Option<String>,
}

impl Heard {
    fn unexpected(&mut self, what: String) {
        if self.unexpected.len() < 5 {
            self.unexpected.push(what);
        }
    }

    fn record(&mut self, payload: &Value, keep_times: bool) -> u64 {
        let at = Instant::now();
        if let Some(errors) = payload.get("errors") {
            let e = &errors[0];
            if e["extensions"]["code"] == "LAGGED" {
                // "the subscriber fell behind and missed N events; reload"
                let n = e["message"]
                    .as_str()
                    .and_then(|m| m.split_whitespace().find_map(|w| w.parse::<u64>().ok()))
                    .unwrap_or(0);
                self.lag_notices += 1;
                self.lagged += n;
                return n;
            }
            self.unexpected(payload.to_string());
            return 0;
        }
        let e = &payload["data"]["requestEvents"];
        let (Some(kind), Some(request), Some(seq)) = (
            e["kind"].as_str().and_then(kind_index),
            e["request"]["id"].as_str().and_then(request_key),
            e["seq"].as_u64().map(|s| s as u32),
        ) else {
            self.unexpected(payload.to_string());
            return 0;
        };
        self.events += 1;
        if keep_times {
            self.times.push((request, kind, at));
        }
        let s = self.seen.entry(request).or_default();
        if s.kinds & (1 << kind) != 0 {
            self.duplicates += 1;
        } else if s.kinds != 0 && seq <= s.last_seq {
            self.out_of_order += 1;
        }
        s.kinds |= 1 << kind;
        s.last_seq = s.last_seq.max(seq);
        1
    }
}

/// A live subscriber.
pub struct Subscriber {
    /// What it asked for.
    pub scope: Scope,
    /// Events received plus events a `LAGGED` notice said were missed.
    pub progress: Arc<AtomicU64>,
    task: JoinHandle<Heard>,
}

impl Subscriber {
    /// Waits for the task to stop (after [`Subscribers::stop`]) and returns what it heard.
    pub async fn heard(self) -> Heard {
        self.task.await.expect("subscriber task")
    }
}

/// The subscription every subscriber starts.
pub const SUBSCRIPTION: &str =
    "subscription($f: RequestFilter) { requestEvents(filter: $f) { kind seq request { id } } }";

/// Many subscribers and the signal that stops them.
pub struct Subscribers {
    /// In the order they were asked for.
    pub all: Vec<Subscriber>,
    stop: watch::Sender<bool>,
}

impl Subscribers {
    /// Connects one subscriber per (token, scope), a few dozen handshakes at
    /// a time, and starts each one's subscription.
    pub async fn connect(base: &str, who: Vec<(String, Scope)>, keep_times: bool) -> Subscribers {
        let (stop, stopped) = watch::channel(false);
        let all = futures_util::stream::iter(who)
            .map(|(token, scope)| {
                let stopped = stopped.clone();
                async move {
                    let mut ws = WsClient::connect(base, "graphql-transport-ws", json!({ "token": token }))
                        .await
                        .expect("the server acknowledged the connection");
                    ws.subscribe("1", SUBSCRIPTION, json!({ "f": scope.filter() })).await;
                    let progress = Arc::new(AtomicU64::new(0));
                    let task = tokio::spawn(listen(ws, stopped, progress.clone(), keep_times));
                    Subscriber { scope, progress, task }
                }
            })
            .buffered(32)
            .collect()
            .await;
        Subscribers { all, stop }
    }

    /// Tells every subscriber to stop listening.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

async fn listen(
    mut ws: WsClient,
    mut stop: watch::Receiver<bool>,
    progress: Arc<AtomicU64>,
    keep_times: bool,
) -> Heard {
    let mut heard = Heard::default();
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.changed() => return heard,
            m = ws.next_raw() => m,
        };
        match msg {
            Some(Ok(v)) if v["type"] == "next" => {
                let n = heard.record(&v["payload"], keep_times);
                progress.fetch_add(n, Ordering::Relaxed);
            }
            Some(Ok(v)) if v["type"] == "ping" => ws.send(json!({ "type": "pong" })).await,
            Some(Ok(v)) if v["type"] == "pong" => {}
            Some(Ok(v)) => {
                heard.ended_early = Some(v.to_string());
                return heard;
            }
            Some(Err(code)) => {
                heard.ended_early = Some(format!("closed with {code}"));
                return heard;
            }
            None => {
                heard.ended_early = Some("the connection dropped".into());
                return heard;
            }
        }
    }
}

/// Waits until the server at `base` counts at least `n` live subscription
/// receivers (`kontakt_subscribers` on `/metrics`): a graphql-transport-ws
/// subscribe is not acknowledged, and an event published before the receiver
/// exists is not owed to it.
pub async fn wait_subscribed(base: &str, n: usize, within: Duration) {
    let until = Instant::now() + within;
    let client = reqwest::Client::new();
    loop {
        let text = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let live = text
            .lines()
            .find_map(|l| l.strip_prefix("kontakt_subscribers "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if live >= n {
            return;
        }
        assert!(Instant::now() < until, "only {live} of {n} subscriptions started within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many of `acked` each scope is owed, for draining.
pub fn owed(acked: &[Acked], scope: &Scope) -> u64 {
    acked.iter().filter(|e| scope.sees(e)).count() as u64
}

/// Waits until every subscriber has received (or been told it missed) what it
/// is owed, or nothing moved for `quiet`; returns how long that took.
pub async fn drain(subs: &Subscribers, acked: &[Acked], quiet: Duration) -> Duration {
    let start = Instant::now();
    let mut owed_by_scope: HashMap<Scope, u64> = HashMap::new();
    let owed: Vec<u64> = subs
        .all
        .iter()
        .map(|s| *owed_by_scope.entry(s.scope.clone()).or_insert_with(|| owed(acked, &s.scope)))
        .collect();
    let (mut last_total, mut last_move) = (0, Instant::now());
    loop {
        let counts: Vec<u64> = subs.all.iter().map(|s| s.progress.load(Ordering::Relaxed)).collect();
        if counts.iter().zip(&owed).all(|(c, o)| c >= o) {
            return start.elapsed();
        }
        let total: u64 = counts.iter().sum();
        if total != last_total {
            (last_total, last_move) = (total, Instant::now());
        } else if last_move.elapsed() > quiet {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
