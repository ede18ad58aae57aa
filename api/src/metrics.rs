//! `/metrics` in the Prometheus text format: requests by status and
//! organization, writes, flushes and their latency, subscribers, HTTP and
//! GraphQL traffic.

use std::sync::Arc;

use kontakt_storage::Engine;
use kontakt_storage::sled_store::FLUSH_BUCKETS_MS;
use kontakt_workflow::Kontakt;
use kontakt_workflow::model::RequestStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::bus::Bus;

/// Labels of the GraphQL operation counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// query, mutation or subscription.
    pub kind: String,
    /// ok or error.
    pub outcome: String,
}

/// An empty label set (exemplars of the flush histogram carry none).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoLabels {}

/// Labels of the auth failure counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why.
    pub reason: String,
}

/// Labels of the rate-limit refusal counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SurfaceLabels {
    /// `public` or `open311`.
    pub surface: String,
}

/// Labels of the feed failure counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedLabels {
    /// The feed's name.
    pub feed: String,
    /// unreachable, oversized, malformed, wrong_schema or rejected.
    pub reason: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// GraphQL operations by kind and outcome.
    pub operations: Family<OperationLabels, Counter>,
    /// Refused tokens by reason.
    pub auth_failures: Family<ReasonLabels, Counter>,
    /// Refused feed documents by feed and reason.
    pub feed_failures: Family<FeedLabels, Counter>,
    /// Escalation steps taken by the sweep.
    pub escalations: Counter,
    /// Requests to the public endpoints refused by the rate limit, by surface.
    pub rate_limited: Family<SurfaceLabels, Counter>,
    /// The node's place in the cluster, once known.
    cluster: Arc<std::sync::OnceLock<Arc<crate::cluster::ClusterState>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric; the store and request gauges are read at scrape time.
    pub fn new(kontakt: Kontakt, store: impl Into<Engine>, bus: Bus) -> Self {
        let store = store.into();
        let cluster: Arc<std::sync::OnceLock<Arc<crate::cluster::ClusterState>>> = Arc::default();
        let mut registry = Registry::with_prefix("kontakt");
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register("graphql_operations", "GraphQL operations by kind and outcome", operations.clone());
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register("auth_failures", "Refused tokens by reason", auth_failures.clone());
        let feed_failures = Family::<FeedLabels, Counter>::default();
        registry.register(
            "feed_failures",
            "Refused feed documents by feed and reason",
            feed_failures.clone(),
        );
        let escalations = Counter::default();
        registry.register(
            "escalation_steps",
            "Escalation steps taken (warning, overdue, escalated)",
            escalations.clone(),
        );
        let rate_limited = Family::<SurfaceLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests to /public and /open311 refused by the per-address rate limit",
            rate_limited.clone(),
        );
        registry.register_collector(Box::new(Live { kontakt, store, bus, cluster: cluster.clone() }));
        Self { registry, operations, auth_failures, feed_failures, escalations, rate_limited, cluster }
    }

    /// Reports the node, its leases and its feed lag from now on.
    pub fn set_cluster(&self, cluster: Arc<crate::cluster::ClusterState>) {
        let _ = self.cluster.set(cluster);
    }

    /// Counts one GraphQL operation.
    pub fn operation(&self, kind: &str, ok: bool) {
        self.operations
            .get_or_create(&OperationLabels {
                kind: kind.into(),
                outcome: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

/// Reads the store and the request indexes at scrape time.
#[derive(Debug)]
struct Live {
    kontakt: Kontakt,
    store: Engine,
    bus: Bus,
    cluster: Arc<std::sync::OnceLock<Arc<crate::cluster::ClusterState>>>,
}

/// Counting stops here per organization and status: a gauge, not an audit.
const COUNT_CAP: usize = 1_000_000;

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.store.stats();
        let mut counters = vec![
            ("store_commits", "Durable transactions committed", stats.commits),
            (
                "store_conflicts",
                "Transactions refused for a version conflict or a lost lease",
                stats.conflicts,
            ),
        ];
        if let Some(f) = stats.flushes {
            counters.push(("store_flushes", "Flushes (one per commit group)", f));
        }
        if let Some(u) = stats.unreachable {
            counters.push((
                "store_unreachable",
                "Statements refused because the database could not be reached",
                u,
            ));
        }
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        if let Some((micros, counts)) = &stats.flush {
            // The encoder accumulates: it takes each bucket's own count.
            let mut buckets: Vec<(f64, u64)> =
                FLUSH_BUCKETS_MS.iter().zip(counts.iter()).map(|(bound, n)| (bound / 1000.0, *n)).collect();
            buckets.push((f64::INFINITY, counts.get(FLUSH_BUCKETS_MS.len()).copied().unwrap_or(0)));
            let count = buckets.iter().map(|(_, n)| n).sum();
            let sum = *micros as f64 / 1e6;
            let mut h = encoder.encode_descriptor(
                "store_flush_seconds",
                "Flush latency",
                None,
                MetricType::Histogram,
            )?;
            h.encode_histogram::<NoLabels>(sum, count, &buckets, None)?;
        }
        if let Some(cluster) = self.cluster.get() {
            cluster.encode(&mut encoder)?;
        }

        let subs = ConstGauge::new(self.bus.subscribers() as i64);
        subs.encode(encoder.encode_descriptor(
            "subscribers",
            "Live subscription receivers",
            None,
            subs.metric_type(),
        )?)?;

        // Notices not yet delivered (waiting, held for a digest, or failing and retried).
        let undelivered = ConstGauge::new(self.kontakt.undelivered_notices(COUNT_CAP).unwrap_or(0) as i64);
        undelivered.encode(encoder.encode_descriptor(
            "notices_undelivered",
            "Notices to organizations and the administration not delivered yet",
            None,
            undelivered.metric_type(),
        )?)?;

        let mut family = encoder.encode_descriptor(
            "requests",
            "Requests by status and organization (open statuses)",
            None,
            MetricType::Gauge,
        )?;
        let orgs = self.kontakt.organizations().unwrap_or_default();
        for org in &orgs {
            for status in RequestStatus::ALL.iter().filter(|s| s.is_open()) {
                let n = self.kontakt.count_org_status(org.id.as_str(), *status, COUNT_CAP).unwrap_or(0);
                let labels = [("organization", org.id.as_str()), ("status", status.as_str())];
                let g = ConstGauge::new(n as i64);
                g.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
