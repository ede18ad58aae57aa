//! A node among several over one PostgreSQL store: what it knows of the
//! cluster (its name, the leases it holds, how far it has read the change
//! feed), and the tailer that turns other nodes' writes into this node's bus
//! events, cache drops and revocation wake-ups.
//!
//! On a shared store every event reaches the bus through the feed, this
//! node's own writes included (the bus does not publish at commit), so every
//! subscriber on every node sees every change once, in the feed's order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kontakt_storage::Store;
use kontakt_workflow::Kontakt;
use kontakt_workflow::service::FedChange;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use crate::auth::Auth;
use crate::bus::Bus;

/// What this node knows of the cluster.
#[derive(Debug)]
pub struct ClusterState {
    /// This node's name.
    pub node: String,
    /// The engine's name.
    pub engine: &'static str,
    /// How long a job lease lasts without renewal.
    pub lease_ttl: Duration,
    /// The last feed number this node published (shared stores).
    pub applied: AtomicU64,
    /// The feed's head when last read.
    pub head: AtomicU64,
    /// True while the tailer reaches the store.
    pub tailing: AtomicBool,
    /// Per job lease: the token this node holds (0: not held).
    held: Mutex<BTreeMap<&'static str, u64>>,
}

impl ClusterState {
    /// A node named `node` on `engine`.
    pub fn new(node: String, engine: &'static str, lease_ttl: Duration) -> Self {
        Self {
            node,
            engine,
            lease_ttl,
            applied: AtomicU64::new(0),
            head: AtomicU64::new(0),
            tailing: AtomicBool::new(false),
            held: Mutex::default(),
        }
    }

    /// Records whether this node holds `lease` (token 0: not held).
    pub fn set_held(&self, lease: &'static str, token: u64) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(lease, token);
    }

    /// The leases this node holds, with their tokens.
    pub fn held(&self) -> Vec<(&'static str, u64)> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Feed numbers committed but not yet published here.
    pub fn lag(&self) -> u64 {
        self.head.load(Ordering::Relaxed).saturating_sub(self.applied.load(Ordering::Relaxed))
    }

    /// `/metrics`: the node, its leases, and the feed lag.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut info = encoder.encode_descriptor(
            "node",
            "This node (always 1), labelled with its name and store engine",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        ConstGauge::new(1i64)
            .encode(info.encode_family(&[("node", self.node.as_str()), ("engine", self.engine)])?)?;
        let mut leases = encoder.encode_descriptor(
            "lease_held",
            "Job leases: 1 while this node holds it",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (lease, token) in self.held() {
            ConstGauge::new(i64::from(token > 0)).encode(leases.encode_family(&[("lease", lease)])?)?;
        }
        let lag = ConstGauge::new(self.lag() as i64);
        lag.encode(encoder.encode_descriptor(
            "feed_lag",
            "Changes committed by any node and not yet published on this one",
            None,
            lag.metric_type(),
        )?)?;
        let applied = ConstGauge::new(self.applied.load(Ordering::Relaxed) as i64);
        applied.encode(encoder.encode_descriptor(
            "feed_applied",
            "The last change-feed number published on this node",
            None,
            applied.metric_type(),
        )?)?;
        Ok(())
    }
}

/// How many feed transactions one read takes.
const BATCH: usize = 500;

/// Tails the store's change feed on its own thread until `stop` is set,
/// starting after what is committed now.
pub fn tail(
    kontakt: Kontakt,
    bus: Bus,
    auth: Auth,
    state: Arc<ClusterState>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("kontakt-feed".into()).spawn(move || {
        let store: Arc<dyn Store> = kontakt.store().clone();
        // Wait for the store: the node starts even while the database is away.
        let mut last = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match store.feed_head() {
                Ok(h) => break h,
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        };
        state.applied.store(last, Ordering::Relaxed);
        state.head.store(last, Ordering::Relaxed);
        let mut generation = store.feed_wait(u64::MAX, Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            match store.feed(last, BATCH) {
                Ok(Some(changes)) if !changes.is_empty() => {
                    state.tailing.store(true, Ordering::Relaxed);
                    let mut touched = false;
                    for change in &changes {
                        match kontakt.fed_change(change) {
                            Ok(FedChange::Request { events, before, after }) => {
                                bus.publish_fed(&events, before.as_deref(), &after);
                            }
                            Ok(FedChange::Reference { revocation }) => {
                                touched = true;
                                if revocation {
                                    auth.revoked_elsewhere();
                                }
                            }
                            Ok(FedChange::Other) => touched = true,
                            Err(e) => tracing::warn!(error = %e, seq = change.seq, "reading a fed change"),
                        }
                        last = last.max(change.seq);
                    }
                    if touched {
                        bus.touch();
                    }
                    state.applied.store(last, Ordering::Relaxed);
                    if let Ok(h) = store.feed_head() {
                        state.head.store(h, Ordering::Relaxed);
                    }
                }
                Ok(Some(_)) => {
                    state.tailing.store(true, Ordering::Relaxed);
                    state.head.store(last, Ordering::Relaxed);
                    generation = store.feed_wait(generation, Duration::from_secs(1));
                }
                Ok(None) => return,
                Err(e) => {
                    state.tailing.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "reading the change feed; retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    })
}
