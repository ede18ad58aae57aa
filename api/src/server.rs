//! `kontakt serve`: open the store, load the demo city when asked, build the
//! schema, serve until SIGINT/SIGTERM, then finish in-flight writes and close
//! the store cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kontakt_storage::Engine;
use kontakt_workflow::model::Role;
use kontakt_workflow::{Kontakt, SlaPolicy, SystemClock, demo};
use rand::RngExt;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::bus::Bus;
use crate::config::{FeedFormat, FeedSource, Settings};
use crate::dialer::Dialer;
use crate::graphql::{self, AppCtx, Limits};
use crate::http;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::public::PublicState;
use crate::ratelimit::RateLimit;
use crate::state::{AppState, Readiness};
use tokio_cron_scheduler::{Job, JobScheduler};

/// How `serve` was asked to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Load the demo city, print tokens, allow a generated key and turn on GraphiQL.
    pub demo: bool,
    /// Days of past demo activity to write into a fresh store.
    pub demo_days: i64,
    /// Overrides `data_dir`.
    pub data: Option<PathBuf>,
    /// Overrides `http.listen`.
    pub listen: Option<String>,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Settings are incomplete or wrong.
    #[error("{0}")]
    Config(String),
    /// The store refused to open.
    #[error("{0}")]
    Store(#[from] kontakt_storage::StoreError),
    /// The domain refused something at start.
    #[error("{0}")]
    Domain(#[from] kontakt_workflow::DomainError),
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
}

/// Opens the store and the domain service with the configured ladder.
pub fn open(settings: &Settings, data: &std::path::Path) -> Result<(Kontakt, Engine), StartError> {
    open_with_clock(settings, data, Arc::new(SystemClock))
}

/// [`open`] with the service reading `clock`.
pub fn open_with_clock(
    settings: &Settings,
    data: &std::path::Path,
    clock: Arc<dyn kontakt_workflow::Clock>,
) -> Result<(Kontakt, Engine), StartError> {
    let engine = Engine::open(&settings.engine(data).map_err(StartError::Config)?)?;
    open_engine(settings, engine, clock)
}

/// [`open_with_clock`] over an engine already open.
pub fn open_engine(
    settings: &Settings,
    engine: Engine,
    clock: Arc<dyn kontakt_workflow::Clock>,
) -> Result<(Kontakt, Engine), StartError> {
    let store = engine.store();
    let policy = SlaPolicy {
        warning_pct: settings.sla.warning_pct,
        overdue_pct: settings.sla.overdue_pct,
        escalated_pct: settings.sla.escalated_pct,
    };
    let kontakt =
        Kontakt::new(store, clock).with_policy(policy)?.with_callback_policy(settings.callbacks.policy());
    // A store written by an older version is brought up to date once, here
    // (by one node at a time when several share it).
    let _migrating = exclusive(&engine, "migrate", &settings.node())?;
    let migrated = kontakt.migrate(&mut |n| {
        if n % 50_000 == 0 {
            eprintln!("bringing the store's indexes up to date: {n} requests");
        }
    })?;
    if migrated > 0 {
        tracing::info!(requests = migrated, "store indexes brought up to date");
    }
    Ok((kontakt, engine))
}

/// Holds the lease `name` while it lives: waits until no other node holds
/// it, for start-up work that must run on one node at a time (migrations,
/// loading the demo city).
pub struct Exclusive {
    store: Arc<dyn kontakt_storage::Store>,
    fence: Option<kontakt_storage::Fence>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some(f) = self.fence.take() {
            let _ = self.store.release(&f);
        }
    }
}

/// Takes the lease `name` for `node`, waiting (up to ten minutes) while another node has it.
pub fn exclusive(engine: &Engine, name: &str, node: &str) -> Result<Exclusive, StartError> {
    let store = engine.store();
    if !engine.shared() {
        return Ok(Exclusive { store, fence: None });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        if let Some(f) = store.lease(name, node, std::time::Duration::from_secs(600))? {
            return Ok(Exclusive { store, fence: Some(f) });
        }
        if std::time::Instant::now() > deadline {
            return Err(StartError::Config(format!(
                "another node has held the {name} lease for ten minutes"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Runs the server until a shutdown signal.
pub async fn serve(mut settings: Settings, options: ServeOptions) -> Result<(), StartError> {
    if let Some(d) = options.data {
        settings.data_dir = d;
    }
    if let Some(l) = options.listen {
        settings.http.listen = l;
    }
    settings.check().map_err(StartError::Config)?;
    if options.demo && settings.callbacks.dialer.is_none() {
        // The demo shows calls being placed; a real deployment names its dialer or has none.
        settings.callbacks.dialer = Some(crate::dialer::DialerSettings::Log);
    }
    let key = match settings.jwt_secret().map_err(StartError::Config)? {
        Some(k) => k,
        None if options.demo => {
            let mut key = [0u8; 32];
            rand::rng().fill(&mut key[..]);
            key.to_vec()
        }
        None => {
            return Err(StartError::Config(
                "no JWT key: set KONTAKT_JWT_SECRET (32+ bytes) or auth.secret_file, or run with --demo"
                    .into(),
            ));
        }
    };
    // Tests move a running server through time; production never does.
    let shifted = settings.testing.movable_clock.then(|| Arc::new(kontakt_workflow::ShiftedClock::default()));
    let clock: Arc<dyn kontakt_workflow::Clock> = match &shifted {
        Some(c) => {
            tracing::warn!("testing.movable_clock is on: POST /testing/clock moves this server's time");
            c.clone()
        }
        None => Arc::new(SystemClock),
    };
    let (kontakt, store) = open_with_clock(&settings, &settings.data_dir, clock)?;
    tracing::info!(engine = store.name(), at = %store.location(), node = %settings.node(), "store open");
    if options.demo && settings.feeds.is_empty() {
        // The demo watches two folders: drop a CAP or JSON file in and it becomes an incident.
        for (dir, format) in [("cap", FeedFormat::Cap), ("json", FeedFormat::Json)] {
            let folder = settings.data_dir.join("feeds").join(dir);
            std::fs::create_dir_all(&folder)
                .map_err(|e| StartError::Config(format!("cannot create {}: {e}", folder.display())))?;
            settings.feeds.push(FeedSource {
                name: format!("demo-{dir}"),
                location: folder.display().to_string(),
                format,
                max_bytes: 2 << 20,
                timeout_secs: 10,
            });
        }
    }
    let auth = Auth::new(&key, settings.auth.clone(), kontakt.clone());
    if options.demo {
        let (k, engine, node) = (kontakt.clone(), store.clone(), settings.node());
        // Loaded once per store: nodes starting together over one database take turns.
        let loaded = tokio::task::spawn_blocking(move || {
            let _turn = exclusive(&engine, "demo", &node)?;
            demo::load(&k).map_err(StartError::from)
        })
        .await
        .map_err(|e| StartError::Config(e.to_string()))??;
        match loaded {
            Some(l) => println!(
                "Loaded the demo city: {} organizations, {} categories, {} routing rules, {} buildings.",
                l.organizations, l.categories, l.rules, l.addresses
            ),
            None => println!("The demo city is already in {}.", store.location()),
        }
        if options.demo_days > 0 {
            let (engine, policy, days, node) =
                (store.clone(), kontakt.policy(), options.demo_days, settings.node());
            let seeded = tokio::task::spawn_blocking(move || {
                let _turn = exclusive(&engine, "demo", &node)?;
                kontakt_workflow::demo_activity::seed(engine.store(), policy, chrono::Utc::now(), days)
                    .map_err(StartError::from)
            })
            .await
            .map_err(|e| StartError::Config(e.to_string()))??;
            if let Some(a) = seeded {
                println!(
                    "Wrote {days} days of demo activity: {} requests, {} commands, {} ladder steps.",
                    a.requests, a.commands, a.steps
                );
            }
        }
        print_demo_tokens(&auth, &kontakt)?;
        for f in &settings.feeds {
            let kind = match f.format {
                FeedFormat::Cap => "CAP 1.2 (.xml)",
                FeedFormat::Json => "JSON (.json)",
            };
            println!("Feed {}: drop {kind} files into {}", f.name, f.location);
        }
    }

    let (stop, shutdown) = watch::channel(false);
    let introspection = options.demo || settings.graphql.introspection;
    let admin = crate::admin::Target {
        kontakt: kontakt.clone(),
        store: store.clone(),
        auth: Some(auth.clone()),
        bus: None,
    };
    let clock_auth = auth.clone();
    let (app, ready, jobs) = app(&settings, kontakt.clone(), store, auth, introspection, shutdown.clone())?;
    let app = match shifted {
        Some(clock) => app.merge(crate::http::testing_clock(clock, clock_auth)),
        None => app,
    };
    let socket = settings.data_dir.join(crate::admin::SOCKET);
    let admin = crate::admin::Target { bus: Some(jobs.bus()), ..admin };
    match crate::admin::bind(&socket) {
        Ok(listener) => drop(tokio::spawn(crate::admin::serve(listener, socket, admin, shutdown))),
        Err(e) => tracing::warn!(
            socket = %socket.display(), error = %e,
            "no administration socket: the command line cannot reach this server"
        ),
    }
    let scheduler = start_jobs(&settings, jobs, ready.clone()).await?;
    let listener = tokio::net::TcpListener::bind(&settings.http.listen)
        .await
        .map_err(|e| StartError::Listen(settings.http.listen.clone(), e))?;
    let addr: SocketAddr =
        listener.local_addr().map_err(|e| StartError::Listen(settings.http.listen.clone(), e))?;
    println!(
        "Kontakt is listening on http://{addr}/graphql{}",
        if introspection { format!(" — GraphiQL: http://{addr}/graphiql") } else { String::new() }
    );
    if options.demo {
        println!("KONTAKT_UI http://{addr}/");
    }
    // A line for scripts and tests that start the server on port 0.
    println!("KONTAKT_LISTENING http://{addr}");
    tracing::info!(%addr, data = %settings.data_dir.display(), "serving");

    let signal = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop.send(true);
    };
    // The peer address keys the public endpoints' rate limit.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| StartError::Listen(addr.to_string(), e))?;
    ready.store.store(false, Ordering::Release);
    ready.scheduler.store(false, Ordering::Release);
    let mut scheduler = scheduler;
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!(error = %e, "stopping the scheduler");
    }
    // Dropping the last handle lets the committer finish its queue and stop.
    drop(kontakt);
    tracing::info!("stopped");
    Ok(())
}

/// Builds the HTTP application over an open store: schema, bus, metrics,
/// router, and the jobs that the scheduler will run. Serve it with
/// connection info (`into_make_service_with_connect_info::<SocketAddr>`) so
/// the public endpoints limit each client address on its own.
pub fn app(
    settings: &Settings,
    kontakt: Kontakt,
    store: impl Into<Engine>,
    auth: Auth,
    introspection: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<(axum::Router, Arc<Readiness>, Jobs), StartError> {
    let store: Engine = store.into();
    let limit =
        RateLimit::new(settings.public.rate_per_minute, settings.public.burst).map_err(StartError::Config)?;
    let bus = if store.shared() { Bus::fed() } else { Bus::default() };
    let calls = crate::telephony::Calls::default();
    let cluster = Arc::new(crate::cluster::ClusterState::new(
        settings.node(),
        store.name(),
        std::time::Duration::from_secs(settings.cluster.lease_secs.max(1)),
    ));
    let metrics = Arc::new(Metrics::new(kontakt.clone(), store.clone(), bus.clone()));
    metrics.set_cluster(cluster.clone());
    if store.shared() {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        crate::cluster::tail(kontakt.clone(), bus.clone(), auth.clone(), cluster.clone(), stop.clone())
            .map_err(|e| StartError::Config(format!("cannot start the change-feed reader: {e}")))?;
        let mut down = shutdown.clone();
        tokio::spawn(async move {
            let _ = down.wait_for(|s| *s).await;
            stop.store(true, Ordering::Release);
        });
    }
    let (jobs_kontakt, jobs_bus) = (kontakt.clone(), bus.clone());
    let jobs = Jobs::new(
        kontakt.clone(),
        bus.clone(),
        metrics.clone(),
        settings.feeds.clone(),
        settings.jobs.sweep_batch,
    )
    .with_cluster(store.shared().then(|| cluster.clone()))
    .with_calling_hours(settings.callbacks.hours())
    .with_bounds(settings.map.bounds)
    .with_notifier(
        crate::notify::Notifier::new(kontakt.clone(), settings.notify.smtp.as_ref())
            .map_err(StartError::Config)?,
    );
    if !settings.notify.admin_emails.is_empty() {
        let mut d =
            kontakt.delivery(kontakt_workflow::service::ADMINISTRATION).ok().flatten().unwrap_or_default();
        if d.emails != settings.notify.admin_emails {
            d.emails = settings.notify.admin_emails.clone();
            kontakt
                .set_delivery(
                    kontakt_workflow::service::ADMINISTRATION,
                    &d,
                    &kontakt_workflow::model::Actor::system(),
                )
                .map_err(|e| StartError::Config(format!("notify.admin_emails: {e}")))?;
        }
    }
    let dialer =
        settings.callbacks.dialer.clone().filter(|d| !matches!(d, crate::dialer::DialerSettings::None));
    let dialer_configured = dialer.is_some();
    let jobs = match dialer {
        Some(d) => jobs.with_dialer(
            Dialer::new(d).started(&jobs_kontakt, &jobs_bus),
            settings.callbacks.language == "en",
        ),
        None => jobs,
    };
    let ctx = AppCtx {
        kontakt,
        auth: auth.clone(),
        bus,
        metrics: metrics.clone(),
        max_first: settings.graphql.max_first,
        count_budget: settings.graphql.count_budget,
        numbering: settings.phone.plan(),
        calls: calls.clone(),
        dialer_configured,
        calling_hours: settings.callbacks.hours(),
        feeds: jobs.feed_board.clone(),
        imports: Default::default(),
    };
    let schema = graphql::build(
        Some(ctx),
        &Limits {
            max_depth: settings.graphql.max_depth,
            max_complexity: settings.graphql.max_complexity,
            max_aliases: settings.graphql.max_aliases,
            introspection,
        },
    );
    let ready = Arc::new(Readiness {
        last_sweep: jobs.last_sweep.clone(),
        last_pull: jobs.last_pull.clone(),
        ..Readiness::default()
    });
    ready.store.store(true, Ordering::Release);
    let hub = Arc::new(crate::fanout::Hub::new(jobs_bus.shared_listeners()));
    let state = AppState {
        schema,
        auth,
        metrics,
        graphiql: introspection,
        ready: ready.clone(),
        shutdown,
        body_limit: settings.http.body_limit_bytes,
        kontakt: jobs_kontakt,
        bus: jobs_bus,
        outcome_secret: settings.callbacks.outcome_secret.clone(),
        public: PublicState::new(limit, settings.map.clone()),
        ui_dir: settings.ui.dir.clone(),
        ws: settings.ws.clone(),
        metrics_token: settings.http.metrics_token.clone().filter(|t| !t.is_empty()),
        calls,
        telephony_secret: settings.telephony.secret.clone().filter(|t| !t.is_empty()),
        ws_counts: Default::default(),
        hub,
    };
    Ok((http::router(state), ready, jobs))
}

/// Starts the scheduler with the sweep and feed jobs (each also runs once now).
async fn start_jobs(
    settings: &Settings,
    jobs: Jobs,
    ready: Arc<Readiness>,
) -> Result<JobScheduler, StartError> {
    let bad = |e: tokio_cron_scheduler::JobSchedulerError| StartError::Config(format!("scheduler: {e}"));
    let scheduler = JobScheduler::new().await.map_err(bad)?;
    let schedule = |name: &str, cron: &str, run: fn(Jobs) -> futures_util::future::BoxFuture<'static, ()>| {
        let jobs = jobs.clone();
        Job::new_async(cron, move |_, _| run(jobs.clone()))
            .map_err(|e| StartError::Config(format!("jobs.{name} {cron:?}: {e}")))
    };
    let sweep = schedule("sla_sweep", &settings.jobs.sla_sweep, |j| {
        Box::pin(async move {
            j.leased("sla-sweep", |j| async move {
                j.sweep_tick().await;
            })
            .await;
        })
    })?;
    let pull = schedule("feeds", &settings.jobs.feeds, |j| {
        Box::pin(async move {
            j.leased("feeds", |j| async move {
                j.feed_tick().await;
            })
            .await;
        })
    })?;
    let call = schedule("callbacks", &settings.jobs.callbacks, |j| {
        Box::pin(async move {
            j.leased("callbacks", |j| async move {
                j.callback_tick().await;
            })
            .await;
        })
    })?;
    let report_jobs = jobs.clone();
    let report = Job::new_async_tz(
        settings.jobs.daily_report.as_str(),
        kontakt_workflow::service::moscow(),
        move |_, _| {
            let jobs = report_jobs.clone();
            Box::pin(async move {
                jobs.leased("daily-report", |j| async move {
                    j.report_tick().await;
                })
                .await;
            })
        },
    )
    .map_err(|e| StartError::Config(format!("jobs.daily_report {:?}: {e}", settings.jobs.daily_report)))?;
    let retention_jobs = jobs.clone();
    let keep = chrono::Duration::days(i64::from(settings.retention.days.max(1)));
    let retention = Job::new_async(settings.jobs.retention.as_str(), move |_, _| {
        let jobs = retention_jobs.clone();
        Box::pin(async move {
            jobs.leased("retention", |j| async move {
                j.retention_tick(keep).await;
            })
            .await;
        })
    })
    .map_err(|e| StartError::Config(format!("jobs.retention {:?}: {e}", settings.jobs.retention)))?;
    let notify = schedule("notify", &settings.jobs.notify, |j| {
        Box::pin(async move {
            j.leased("notify", |j| async move {
                j.notify_tick().await;
            })
            .await;
        })
    })?;
    for job in [sweep, pull, call, report, retention, notify] {
        scheduler.add(job).await.map_err(bad)?;
    }
    scheduler.start().await.map_err(bad)?;
    ready.scheduler.store(true, Ordering::Release);
    tokio::spawn(async move {
        jobs.leased("feeds", |j| async move {
            j.feed_tick().await;
        })
        .await;
        jobs.leased("sla-sweep", |j| async move {
            j.sweep_tick().await;
        })
        .await;
    });
    Ok(scheduler)
}

/// The demo operator's telephone extension.
pub const DEMO_EXTENSION: &str = "101";

fn print_demo_tokens(auth: &Auth, kontakt: &Kontakt) -> Result<(), StartError> {
    let now = kontakt.now();
    let ttl = chrono::Duration::days(7);
    println!("Demo tokens (valid 7 days; paste one into GraphiQL as `Authorization: Bearer <token>`):");
    let issue = |subject: &str, role: Role, org: Option<&str>| -> Result<(), StartError> {
        // The demo operator sits at extension 101, so a test call to
        // `/telephony/incoming` pops their console.
        let extension = (role == Role::Operator).then_some(DEMO_EXTENSION);
        let (token, _) = auth.issue_with(
            subject,
            role,
            org,
            extension,
            ttl,
            now,
            &kontakt_workflow::model::Actor::system(),
        )?;
        println!("KONTAKT_TOKEN role={role} org={} token={token}", org.unwrap_or("-"));
        Ok(())
    };
    issue("operator-demo", Role::Operator, None)?;
    issue("supervisor-demo", Role::Supervisor, None)?;
    issue("admin-demo", Role::Admin, None)?;
    for org in kontakt.organizations()? {
        issue(&format!("crew-{}", org.id), Role::Contractor, Some(org.id.as_str()))?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
