//! Time-driven work: the SLA sweep (with incident expiry and settling) and
//! the emergency feeds. The scheduler only wakes these jobs; everything that
//! must survive a restart is in the store, so a crash mid-job resumes where
//! the store says. Each job is one `tick` that tests call directly.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use kontakt_workflow::Kontakt;
use kontakt_workflow::incidents::feeds::{self, FeedError};
use kontakt_workflow::incidents::{IncidentReport, IncidentStatus};
use kontakt_workflow::model::Actor;
use kontakt_workflow::service::IncidentChange;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::bus::Bus;
use crate::config::{FeedFormat, FeedSource};
use crate::dialer::{Call, Dialer};
use crate::metrics::{FeedLabels, Metrics};
use kontakt_workflow::callbacks::{CallbackOutcome, CallbackStatus, CallbackTask, message};

/// Change-feed entries kept behind its head: far more than a running node
/// falls behind (a node starting afresh begins at the head).
const FEED_KEEP: u64 = 1_000_000;

/// The jobs and what they share.
#[derive(Clone)]
pub struct Jobs {
    kontakt: Kontakt,
    bus: Bus,
    metrics: Arc<Metrics>,
    feeds: Arc<Vec<FeedSource>>,
    http: reqwest::Client,
    sweep_batch: usize,
    sweeping: Arc<AtomicBool>,
    pulling: Arc<AtomicBool>,
    calling: Arc<AtomicBool>,
    dialer: Option<Dialer>,
    english: bool,
    hours: kontakt_workflow::callbacks::CallingHours,
    /// Per feed URL: its last `ETag` / `Last-Modified`, and the index
    /// entries already taken (id → updated), so an unchanged index costs a 304
    /// and an unchanged alert is not fetched again.
    seen: Arc<std::sync::Mutex<HashMap<String, FeedMemory>>>,
    /// The city's extent `[south, west, north, east]`: alerts drawn wholly
    /// outside it are about another place and are ignored.
    bounds: Option<[f64; 4]>,
    notifier: Option<crate::notify::Notifier>,
    /// Unix seconds of the last completed sweep and feed pull (0: never).
    pub last_sweep: Arc<AtomicI64>,
    /// See `last_sweep`.
    pub last_pull: Arc<AtomicI64>,
    /// What each feed did lately, for the administration's page.
    pub feed_board: FeedBoard,
    /// Set when nodes share the store: each job then runs on the node that
    /// holds its lease, and writes under the lease's fencing token.
    cluster: Option<Arc<crate::cluster::ClusterState>>,
}

/// One feed's recent record, since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStatus {
    /// Its name (the incidents' source).
    pub name: String,
    /// Its URL or folder.
    pub location: String,
    /// `cap` or `json`.
    pub format: &'static str,
    /// When it was last pulled.
    pub last_pull: Option<chrono::DateTime<chrono::Utc>>,
    /// When a pull last went without a refused document.
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    /// The last refusal: when, why (`unreachable`, `malformed`, …), the detail.
    pub last_error: Option<(chrono::DateTime<chrono::Utc>, String, String)>,
    /// Documents refused.
    pub errors: u64,
    /// Incidents it created.
    pub created: u64,
    /// Incidents it revised.
    pub revised: u64,
    /// Incidents it ended or withdrew.
    pub ended: u64,
    /// Alerts about places outside the city.
    pub ignored: u64,
}

/// Every configured feed's status, shared with the API.
pub type FeedBoard = Arc<std::sync::Mutex<Vec<FeedStatus>>>;

/// What a feed URL answered last time.
#[derive(Debug, Default, Clone)]
struct FeedMemory {
    etag: Option<String>,
    last_modified: Option<String>,
    entries: HashMap<String, String>,
}

/// Most alerts one pull of an index fetches.
const MAX_INDEX_ENTRIES: usize = 200;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Escalation steps taken.
    pub steps: usize,
    /// Incidents that expired.
    pub expired: usize,
    /// Linked requests resolved by ended incidents.
    pub resolved: usize,
}

/// What one feed pull did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PullReport {
    /// Incidents created.
    pub created: usize,
    /// Incidents revised.
    pub revised: usize,
    /// Incidents ended or withdrawn.
    pub ended: usize,
    /// Alerts about places outside the city, ignored.
    pub ignored: usize,
    /// Documents refused (unreachable, malformed, oversized, wrong schema).
    pub failed: usize,
}

/// What one callback tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CallReport {
    /// Calls handed to the dialer.
    pub sent: usize,
    /// Attempts the dialer refused (retried with backoff).
    pub failed: usize,
    /// Calls whose outcome never came (counted as unanswered).
    pub unanswered: usize,
    /// Tasks dropped because their request left RESOLVED before the call.
    pub cancelled: usize,
}

/// Requests one retention pass looks at.
const RETENTION_BATCH: usize = 5000;

/// Counters of one feed's problems, by reason.
pub type FeedFailures = Family<FeedLabels, Counter>;

impl Jobs {
    /// Where the jobs publish changes.
    pub fn bus(&self) -> Bus {
        self.bus.clone()
    }

    /// Jobs over the service, publishing to the bus.
    pub fn new(
        kontakt: Kontakt,
        bus: Bus,
        metrics: Arc<Metrics>,
        feeds: Vec<FeedSource>,
        sweep_batch: usize,
    ) -> Self {
        Self {
            kontakt,
            bus,
            metrics,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            sweep_batch: sweep_batch.max(1),
            sweeping: Arc::default(),
            pulling: Arc::default(),
            calling: Arc::default(),
            dialer: None,
            english: false,
            hours: Default::default(),
            seen: Arc::default(),
            bounds: None,
            notifier: None,
            last_sweep: Arc::default(),
            last_pull: Arc::default(),
            feed_board: Arc::new(std::sync::Mutex::new(
                feeds
                    .iter()
                    .map(|f| FeedStatus {
                        name: f.name.clone(),
                        location: f.location.clone(),
                        format: match f.format {
                            FeedFormat::Cap => "cap",
                            FeedFormat::Json => "json",
                        },
                        ..FeedStatus::default()
                    })
                    .collect(),
            )),
            feeds: Arc::new(feeds),
            cluster: None,
        }
    }

    /// Runs each job only while this node holds the job's lease.
    pub fn with_cluster(mut self, cluster: Option<Arc<crate::cluster::ClusterState>>) -> Self {
        self.cluster = cluster;
        self
    }

    /// Runs `work` with jobs whose every write carries the lease `lease`,
    /// when this node holds it (or takes it now); otherwise does nothing.
    /// A node that loses the lease mid-run has its remaining writes refused.
    pub async fn leased<F, Fut>(&self, lease: &'static str, work: F)
    where
        F: FnOnce(Jobs) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Some(cluster) = self.cluster.clone() else {
            return work(self.clone()).await;
        };
        let (store, node, ttl) = (self.kontakt.store().clone(), cluster.node.clone(), cluster.lease_ttl);
        match tokio::task::spawn_blocking(move || store.lease(lease, &node, ttl)).await {
            Ok(Ok(Some(fence))) => {
                cluster.set_held(lease, fence.token);
                let mut jobs = self.clone();
                jobs.kontakt = self.kontakt.fenced(fence);
                jobs.notifier = self.notifier.as_ref().map(|n| n.with_kontakt(jobs.kontakt.clone()));
                work(jobs).await;
            }
            Ok(Ok(None)) => cluster.set_held(lease, 0),
            Ok(Err(e)) => {
                cluster.set_held(lease, 0);
                tracing::warn!(lease, error = %e, "cannot take the job's lease; the job waits");
            }
            Err(e) => tracing::error!(lease, error = %e, "lease task failed"),
        }
    }

    /// Delivers the notice outbox through `notifier`.
    pub fn with_notifier(mut self, notifier: crate::notify::Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// One pass of the notice delivery.
    pub async fn notify_tick(&self) -> crate::notify::NotifyReport {
        match &self.notifier {
            Some(n) => n.tick().await,
            None => Default::default(),
        }
    }

    /// Ignores alerts whose shapes lie wholly outside `bounds`.
    pub fn with_bounds(mut self, bounds: Option<[f64; 4]>) -> Self {
        self.bounds = bounds;
        self
    }

    /// Calls only within `hours` (city time); a task due outside waits for them.
    pub fn with_calling_hours(mut self, hours: kontakt_workflow::callbacks::CallingHours) -> Self {
        self.hours = hours;
        self
    }

    /// Places callbacks through `dialer`, in English when `english`.
    pub fn with_dialer(mut self, dialer: Dialer, english: bool) -> Self {
        self.dialer = Some(dialer);
        self.english = english;
        self
    }

    /// Works off due callbacks: starts (or re-sends) attempts, hands them to
    /// the dialer, and treats calls whose outcome never came as unanswered.
    /// Each step is recorded before the next, so a crash between sending and
    /// recording re-sends the same attempt with the same idempotency key.
    pub async fn callback_tick(&self) -> CallReport {
        let mut report = CallReport::default();
        let Some(dialer) = &self.dialer else { return report };
        let now = self.kontakt.now();
        if self.hours.next_open(now, kontakt_workflow::service::moscow()) > now {
            // Night: nobody is called; what is due waits for the morning.
            return report;
        }
        if self.calling.swap(true, Ordering::AcqRel) {
            return report;
        }
        let k = self.kontakt.clone();
        let due = tokio::task::spawn_blocking(move || k.due_callbacks(100)).await;
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading due callbacks");
                vec![]
            }
            Err(e) => {
                tracing::error!(error = %e, "callback task failed");
                vec![]
            }
        };
        for task in due {
            if let Err(e) = self.call_one(dialer, task, &mut report).await {
                tracing::error!(error = %e, "callback step failed; the next tick retries");
            }
        }
        self.calling.store(false, Ordering::Release);
        report
    }

    async fn call_one(
        &self,
        dialer: &Dialer,
        task: CallbackTask,
        report: &mut CallReport,
    ) -> Result<(), String> {
        let k = self.kontakt.clone();
        if task.status == CallbackStatus::Sent {
            // The outcome never came: as if nobody answered.
            let id = task.id.clone();
            let o = tokio::task::spawn_blocking(move || {
                k.record_callback_outcome(&id, CallbackOutcome::NoAnswer, None, &Actor::system())
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            self.bus.publish(&o.events, o.before.as_ref(), &o.request);
            report.unanswered += 1;
            return Ok(());
        }
        let started = {
            let (k, t) = (k.clone(), task.clone());
            tokio::task::spawn_blocking(move || k.begin_attempt(&t))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        let Some(started) = started else {
            report.cancelled += 1;
            return Ok(());
        };
        let organization = match &started.organization {
            Some(o) => self
                .kontakt
                .organization(o.as_str())
                .ok()
                .flatten()
                .map(|o| if self.english { o.name_en } else { o.name_ru }),
            None => None,
        }
        .unwrap_or_else(|| {
            if self.english { "The Contact Center".into() } else { "Контакт-центр".into() }
        });
        let call = Call {
            task_id: started.id.clone(),
            idempotency_key: started.attempt_key(),
            phone: started.phone.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default(),
            number: started.number.to_string(),
            message: message(&started, &organization, self.english),
        };
        let result = dialer.dial(&call).await;
        let k = self.kontakt.clone();
        match result {
            Ok(()) => {
                let id = started.id.clone();
                let recorded = tokio::task::spawn_blocking(move || {
                    let mut task = started;
                    let mut last = None;
                    for _ in 0..5 {
                        match k.attempt_sent(&task) {
                            Ok(t) => return Ok(t),
                            Err(e) => last = Some(e),
                        }
                        match k.callback(&id) {
                            // A dialer that reports back on its own session (AMI) may have
                            // settled the attempt before it is marked sent: it was placed.
                            Ok(Some(t)) if t.status != CallbackStatus::Dialing => return Ok(t),
                            Ok(Some(t)) => task = t,
                            _ => break,
                        }
                    }
                    Err(last.unwrap_or(kontakt_workflow::DomainError::Conflict))
                })
                .await
                .map_err(|e| e.to_string())?;
                recorded.map_err(|e| e.to_string())?;
                report.sent += 1;
            }
            Err(e) => {
                tracing::warn!(task = %call.task_id, error = %e, "callback not placed");
                tokio::task::spawn_blocking(move || k.attempt_failed(&started, &e))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                report.failed += 1;
            }
        }
        Ok(())
    }

    /// One bounded pass of the personal-data retention rule: applicants of
    /// requests that ended `retention` ago are erased (see
    /// `Kontakt::erase_expired`); the changes are published.
    pub async fn retention_tick(
        &self,
        retention: chrono::Duration,
    ) -> kontakt_workflow::service::RetentionRun {
        let k = self.kontakt.clone();
        let done = tokio::task::spawn_blocking(move || {
            // The change feed keeps what a node could still be behind by, not history.
            if let Err(e) = k.store().feed_prune(FEED_KEEP) {
                tracing::warn!(error = %e, "pruning the change feed");
            }
            k.erase_expired(retention, RETENTION_BATCH)
        })
        .await;
        match done {
            Ok(Ok((run, outcomes))) => {
                for o in &outcomes {
                    self.bus.publish(&o.events, o.before.as_ref(), &o.request);
                }
                if run.erased > 0 {
                    tracing::info!(
                        erased = run.erased,
                        examined = run.examined,
                        "retention: applicants erased"
                    );
                }
                run
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "retention pass failed; the next one retries");
                Default::default()
            }
            Err(e) => {
                tracing::error!(error = %e, "retention task failed");
                Default::default()
            }
        }
    }

    /// Makes and stores yesterday's daily report (a stored one stands).
    pub async fn report_tick(&self) -> Option<chrono::NaiveDate> {
        let k = self.kontakt.clone();
        let made = tokio::task::spawn_blocking(move || {
            let yesterday = k.city_today().pred_opt()?;
            k.daily_report(yesterday).map_err(|e| tracing::error!(error = %e, "daily report")).ok()
        })
        .await;
        let report = made.ok().flatten()?;
        if let Some(n) = &self.notifier {
            // The administration reads it in the morning mail, CSV and XLSX attached.
            match n.mail_report(&report).await {
                Ok(true) => tracing::info!(date = %report.date, "daily report mailed"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, date = %report.date, "mailing the daily report"),
            }
        }
        Some(report.date)
    }

    fn publish_change(&self, change: &IncidentChange) {
        for o in &change.resolved {
            self.bus.publish(&o.events, o.before.as_ref(), &o.request);
        }
        self.bus.touch();
    }

    /// Takes every due escalation step in bounded batches (so a storm never
    /// holds registrations back for long), expires incidents past their end,
    /// and finishes any interrupted incident settlement. A tick that finds
    /// another still running returns at once.
    pub async fn sweep_tick(&self) -> SweepReport {
        let mut report = SweepReport::default();
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return report;
        }
        loop {
            let k = self.kontakt.clone();
            let batch = self.kontakt.sweep_batch(self.sweep_batch);
            match tokio::task::spawn_blocking(move || k.sweep(batch)).await {
                Ok(Ok(outcomes)) => {
                    report.steps += outcomes.iter().map(|o| o.events.len()).sum::<usize>();
                    self.metrics.escalations.inc_by(outcomes.iter().map(|o| o.events.len() as u64).sum());
                    for o in &outcomes {
                        self.bus.publish(&o.events, o.before.as_ref(), &o.request);
                    }
                    if outcomes.len() < batch {
                        break;
                    }
                    // Let registrations queued meanwhile through before the next batch.
                    tokio::task::yield_now().await;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "SLA sweep failed; the next tick retries");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "SLA sweep task failed");
                    break;
                }
            }
        }
        let k = self.kontakt.clone();
        match tokio::task::spawn_blocking(move || -> Result<_, kontakt_workflow::DomainError> {
            let expired = k.expire_incidents()?;
            let mut settled = Vec::new();
            for i in k.incidents(IncidentStatus::Ended, 10_000)? {
                if i.ended_at.is_some_and(|t| k.now() - t < chrono::Duration::days(2)) {
                    settled.extend(k.settle_incident(&i)?);
                }
            }
            Ok((expired, settled))
        })
        .await
        {
            Ok(Ok((expired, settled))) => {
                report.expired = expired.len();
                report.resolved = expired.iter().map(|c| c.resolved.len()).sum::<usize>() + settled.len();
                for c in &expired {
                    self.publish_change(c);
                }
                for o in &settled {
                    self.bus.publish(&o.events, o.before.as_ref(), &o.request);
                }
            }
            Ok(Err(e)) => tracing::error!(error = %e, "incident expiry failed"),
            Err(e) => tracing::error!(error = %e, "incident expiry task failed"),
        }
        let k = self.kontakt.clone();
        match tokio::task::spawn_blocking(move || k.snapshot_board_if_due()).await {
            Ok(Ok(Some(at))) => tracing::debug!(%at, "board snapshot kept"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "board snapshot failed; the next tick retries"),
            Err(e) => tracing::error!(error = %e, "board snapshot task failed"),
        }
        self.last_sweep.store(self.kontakt.now().timestamp(), Ordering::Release);
        self.sweeping.store(false, Ordering::Release);
        report
    }

    /// Pulls every configured feed once. A feed that fails is logged and
    /// counted; nothing already stored is touched by it.
    pub async fn feed_tick(&self) -> PullReport {
        let mut report = PullReport::default();
        if self.pulling.swap(true, Ordering::AcqRel) {
            return report;
        }
        for feed in self.feeds.iter() {
            let before = report;
            self.pull_feed(feed, &mut report).await;
            self.record_pull(feed, &before, &report);
        }
        self.last_pull.store(self.kontakt.now().timestamp(), Ordering::Release);
        self.pulling.store(false, Ordering::Release);
        report
    }

    /// Adds one pull's counts to the feed's status.
    fn record_pull(&self, feed: &FeedSource, before: &PullReport, after: &PullReport) {
        let now = self.kontakt.now();
        let mut board = self.feed_board.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = board.iter_mut().find(|s| s.name == feed.name) {
            s.last_pull = Some(now);
            let failed = (after.failed - before.failed) as u64;
            s.errors += failed;
            if failed == 0 {
                s.last_success = Some(now);
            }
            s.created += (after.created - before.created) as u64;
            s.revised += (after.revised - before.revised) as u64;
            s.ended += (after.ended - before.ended) as u64;
            s.ignored += (after.ignored - before.ignored) as u64;
        }
    }

    async fn pull_feed(&self, feed: &FeedSource, report: &mut PullReport) {
        {
            let documents = match self.fetch(feed).await {
                Ok(d) => d,
                Err(reason) => {
                    self.fail(feed, "unreachable", &reason, report);
                    return;
                }
            };
            for (name, doc) in documents {
                let doc = match doc {
                    Ok(d) => d,
                    Err(reason) => {
                        self.fail(feed, "oversized", &format!("{name}: {reason}"), report);
                        continue;
                    }
                };
                let parsed = match feed.format {
                    FeedFormat::Cap => {
                        feeds::parse_cap(&feed.name, &doc).map(|r| r.into_iter().collect::<Vec<_>>())
                    }
                    FeedFormat::Json => feeds::parse_json(&feed.name, &doc),
                };
                match parsed {
                    Ok(reports) => self.apply(feed, reports, report).await,
                    Err(e) => {
                        let kind = match e {
                            FeedError::Malformed(_) => "malformed",
                            FeedError::WrongSchema(_) => "wrong_schema",
                        };
                        self.fail(feed, kind, &format!("{name}: {e}"), report);
                    }
                }
            }
        }
    }

    fn fail(&self, feed: &FeedSource, reason: &str, detail: &str, report: &mut PullReport) {
        tracing::warn!(feed = %feed.name, reason, detail, "feed document refused");
        self.metrics
            .feed_failures
            .get_or_create(&FeedLabels { feed: feed.name.clone(), reason: reason.into() })
            .inc();
        report.failed += 1;
        let now = self.kontakt.now();
        let mut board = self.feed_board.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = board.iter_mut().find(|s| s.name == feed.name) {
            s.last_error = Some((now, reason.to_string(), detail.chars().take(500).collect()));
        }
    }

    async fn apply(&self, feed: &FeedSource, reports: Vec<IncidentReport>, report: &mut PullReport) {
        for r in reports {
            if let Some(bounds) = self.bounds
                && r.ended.is_none()
                && r.area.lies_outside(bounds)
            {
                tracing::info!(feed = %feed.name, alert = %r.identifier, "alert ignored: its area lies outside the city");
                report.ignored += 1;
                continue;
            }
            let k = self.kontakt.clone();
            let ending = r.ended.is_some();
            match tokio::task::spawn_blocking(move || k.report_incident(r, &Actor::system())).await {
                Ok(Ok(Some(change))) if change.changed => {
                    if change.created && !ending {
                        report.created += 1;
                    } else if ending {
                        report.ended += 1;
                    } else {
                        report.revised += 1;
                    }
                    self.publish_change(&change);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => self.fail(feed, "rejected", &e.to_string(), report),
                Err(e) => tracing::error!(error = %e, "feed task failed"),
            }
        }
    }

    /// The feed's documents: each file of a folder, or the body at a URL —
    /// and when that body is an Atom or RSS index of CAP alerts, each alert
    /// it lists that is new or changed since the last pull.
    async fn fetch(&self, feed: &FeedSource) -> Result<Vec<(String, Result<String, String>)>, String> {
        if feed.location.starts_with("http://") || feed.location.starts_with("https://") {
            let Some(body) = self.download(feed, &feed.location, true).await? else { return Ok(vec![]) };
            let index = match (&body, feed.format) {
                (Ok(text), FeedFormat::Cap) => feeds::parse_index(text).ok().flatten(),
                _ => None,
            };
            let Some(entries) = index else { return Ok(vec![(feed.location.clone(), body)]) };
            let mut docs = Vec::new();
            for entry in entries.into_iter().take(MAX_INDEX_ENTRIES) {
                let known = self.memory(&feed.location, |m| m.entries.get(&entry.id).cloned());
                if known.as_deref() == Some(entry.updated.as_str()) {
                    continue;
                }
                let link = resolve_link(&feed.location, &entry.link);
                match self.download(feed, &link, false).await {
                    Ok(Some(doc)) => {
                        if doc.is_ok() {
                            self.memory(&feed.location, |m| {
                                m.entries.insert(entry.id.clone(), entry.updated.clone())
                            });
                        }
                        docs.push((link, doc));
                    }
                    Ok(None) => {}
                    Err(reason) => docs.push((link, Err(reason))),
                }
            }
            return Ok(docs);
        }
        let dir = Path::new(&feed.location);
        let mut entries =
            tokio::fs::read_dir(dir).await.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            let wanted = match feed.format {
                FeedFormat::Cap => "xml",
                FeedFormat::Json => "json",
            };
            if path.extension().and_then(|e| e.to_str()) == Some(wanted) {
                files.push(path);
            }
        }
        files.sort();
        let mut docs = Vec::with_capacity(files.len());
        for path in files {
            let name = path.display().to_string();
            let doc = match tokio::fs::metadata(&path).await {
                Ok(m) if m.len() as usize > feed.max_bytes => {
                    Err(format!("{} bytes is over {}", m.len(), feed.max_bytes))
                }
                Ok(_) => tokio::fs::read_to_string(&path).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            docs.push((name, doc));
        }
        Ok(docs)
    }

    /// GETs a feed URL, refusing bodies over the limit without reading them
    /// whole; `conditional` sends what the URL answered last time and gives
    /// `None` for a 304.
    async fn download(
        &self,
        feed: &FeedSource,
        url: &str,
        conditional: bool,
    ) -> Result<Option<Result<String, String>>, String> {
        let fetch = async {
            let mut req = self.http.get(url);
            if conditional {
                let (etag, modified) = self.memory(url, |m| (m.etag.clone(), m.last_modified.clone()));
                if let Some(e) = etag {
                    req = req.header(reqwest::header::IF_NONE_MATCH, e);
                }
                if let Some(m) = modified {
                    req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
                }
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            if resp.content_length().is_some_and(|n| n as usize > feed.max_bytes) {
                return Ok(Some(Err(format!("declared length is over {} bytes", feed.max_bytes))));
            }
            let header = |name| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (etag, modified) = (header(reqwest::header::ETAG), header(reqwest::header::LAST_MODIFIED));
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                if body.len() + chunk.len() > feed.max_bytes {
                    return Ok(Some(Err(format!("body is over {} bytes", feed.max_bytes))));
                }
                body.extend_from_slice(&chunk);
            }
            if conditional {
                self.memory(url, |m| {
                    m.etag = etag;
                    m.last_modified = modified;
                });
            }
            Ok(Some(String::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())))
        };
        match tokio::time::timeout(Duration::from_secs(feed.timeout_secs), fetch).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", feed.timeout_secs)),
        }
    }

    fn memory<T>(&self, url: &str, f: impl FnOnce(&mut FeedMemory) -> T) -> T {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        f(seen.entry(url.to_string()).or_default())
    }
}

/// An index entry's link made absolute against the index's URL.
fn resolve_link(base: &str, link: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(link)) {
        Ok(u) => u.to_string(),
        Err(_) => link.to_string(),
    }
}
