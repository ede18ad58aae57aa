//! Soak: the real server under a steady stream of writes while many websocket
//! subscribers listen, for a while. What a short end-to-end test cannot show:
//! that under sustained load every subscriber still receives every event in
//! its scope that a writer had acknowledged (or is told, with a `LAGGED`
//! notice, how many it missed), that none receives anything outside its
//! scope, and that the server's memory stays flat once it is warm.
//!
//! Short by default, so it runs with the other tests; the parameters come
//! from the environment. The long form:
//! `KONTAKT_SOAK_SECS=1800 KONTAKT_SOAK_SUBSCRIBERS=1000 KONTAKT_SOAK_RATE=100 cargo test --release -p kontakt-tests --test soak -- --nocapture`.

use std::str::FromStr;
use std::time::{Duration, Instant};

use kontakt_tests::app::{TestApp, kontakt_bin, kontakt_release_bin, spawn_bin};
use kontakt_tests::load::{
    KINDS, Lifecycles, Pace, SHARED_TOKENS, Scope, Subscribers, WriteLog, account, drain, drive,
    raise_fd_limit, wait_subscribed,
};

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const MIB: f64 = 1024.0 * 1024.0;
/// Writer tasks, each one write at a time, sharing the rate.
const WRITERS: usize = 8;
/// The server's page cache, in MiB. sled's cache grows with the store up to
/// this bound by design; kept small, it is full by the end of the warm-up, so
/// memory that still grows afterwards is not the cache filling.
const CACHE_MB: &str = "16";

/// Samples the server's RSS every second for `d`; returns the highest.
async fn peak_rss(app: &TestApp, d: Duration) -> u64 {
    let until = Instant::now() + d;
    let mut peak = 0;
    while Instant::now() < until {
        peak = peak.max(app.rss_bytes().unwrap_or(0));
        tokio::time::sleep(Duration::from_secs(1).min(until.saturating_duration_since(Instant::now()))).await;
    }
    peak
}

/// Half the subscribers see the whole city (operators and supervisors); the
/// other half are scoped to one organization, as its contractor or as an
/// operator filtering by it, round the organizations.
fn audience(app: &TestApp, n: usize) -> Vec<(String, Scope)> {
    let mut orgs: Vec<&String> =
        app.tokens.keys().filter(|k| !["OPERATOR", "SUPERVISOR", "ADMIN"].contains(&k.as_str())).collect();
    orgs.sort();
    (0..n)
        .map(|i| {
            let org = orgs[(i / 4) % orgs.len()].clone();
            match i % 4 {
                0 => (app.token("OPERATOR"), Scope::All),
                1 => (app.token("SUPERVISOR"), Scope::All),
                2 => (app.token(&org), Scope::Contractor(org)),
                _ => (app.token("OPERATOR"), Scope::Organization(org)),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_hears_its_scope_under_steady_writes_and_memory_stays_flat() {
    let secs: u64 = env_or("KONTAKT_SOAK_SECS", 15);
    let n: usize = env_or("KONTAKT_SOAK_SUBSCRIBERS", 100);
    let rate: f64 = env_or("KONTAKT_SOAK_RATE", 40.0);
    raise_fd_limit(2 * n as u64 + 256);
    let dir = tempfile::tempdir().unwrap();
    // The server is built like the test: `--release` soaks the release server.
    let bin = if cfg!(debug_assertions) { kontakt_bin() } else { kontakt_release_bin() };
    let app = spawn_bin(&bin, dir.path(), &["--demo"], &[("KONTAKT__CACHE_MB", CACHE_MB), SHARED_TOKENS]);

    let started = Instant::now();
    let subs = Subscribers::connect(&app.base, audience(&app, n), false).await;
    wait_subscribed(&app.base, n, Duration::from_secs(120)).await;
    let connected = started.elapsed();

    // Warm-up: the first tenth of the run (at least 3 s) fills the server's
    // pools and buffers; memory is judged from its end.
    let total = Duration::from_secs(secs);
    let warm = (total / 10).max(Duration::from_secs(3)).min(total);
    let writers = Lifecycles::new(&app);
    let mut log = drive(&writers, WRITERS, Pace::Writes(rate), warm).await;
    let rss_start = app.rss_bytes().expect("the server's RSS");
    let (rest, peak) = tokio::join!(
        drive(&writers, WRITERS, Pace::Writes(rate), total - warm),
        peak_rss(&app, total - warm)
    );
    log.extend(rest);
    let drained = drain(&subs, &log.acked, Duration::from_secs(10)).await;
    let rss_end = app.rss_bytes().expect("the server's RSS");

    subs.stop();
    let mut heard = Vec::with_capacity(n);
    for s in subs.all {
        let scope = s.scope.clone();
        heard.push((scope, s.heard().await));
    }
    summarize(secs, n, rate, &log, &heard, connected, drained, (rss_start, rss_end, peak.max(rss_end)));

    assert!(log.failures.is_empty(), "{} writes failed, first: {}", log.failures.len(), log.failures[0]);
    let achieved = log.writes as f64 / log.elapsed.as_secs_f64();
    assert!(
        achieved >= rate * 0.5,
        "only {achieved:.1} writes/s of {rate} were made (the server and these clients share the machine): \
         the run proves little; ask for fewer writes or subscribers"
    );
    let mut scoped_delivered = 0;
    for (i, (scope, h)) in heard.iter().enumerate() {
        let a = account(&log.acked, scope, h);
        let who = format!("subscriber {i} ({scope:?})");
        assert_eq!(h.ended_early, None, "{who}: the server ended the subscription");
        assert!(h.unexpected.is_empty(), "{who} received something unexpected: {:?}", h.unexpected);
        assert_eq!(a.outside, 0, "{who} received {} events outside its scope", a.outside);
        assert_eq!(h.duplicates, 0, "{who} received an event twice");
        assert_eq!(h.out_of_order, 0, "{who} received a request's events out of order");
        assert!(
            a.missing <= h.lagged,
            "{who} is missing {} of {} events and was told of {} missed ({} notices)",
            a.missing,
            a.owed,
            h.lagged,
            h.lag_notices
        );
        if *scope != Scope::All {
            scoped_delivered += a.delivered;
        }
    }
    assert!(
        scoped_delivered > 0,
        "no organization-scoped subscriber received anything: the scopes prove little"
    );
    let growth = rss_end as f64 / rss_start as f64 - 1.0;
    assert!(
        growth < 0.10,
        "the server's RSS grew {:.1} % after warm-up ({:.1} → {:.1} MiB)",
        growth * 100.0,
        rss_start as f64 / MIB,
        rss_end as f64 / MIB
    );
}

#[expect(clippy::too_many_arguments, reason = "one summary of one run, printed once")]
fn summarize(
    secs: u64,
    n: usize,
    rate: f64,
    log: &WriteLog,
    heard: &[(Scope, kontakt_tests::load::Heard)],
    connected: Duration,
    drained: Duration,
    (rss_start, rss_end, peak): (u64, u64, u64),
) {
    let scoped = heard.iter().filter(|(s, _)| *s != Scope::All).count();
    let (mut owed, mut delivered, mut missing, mut notices, mut lagged) = (0, 0, 0, 0, 0);
    for (scope, h) in heard {
        let a = account(&log.acked, scope, h);
        (owed, delivered, missing) = (owed + a.owed, delivered + a.delivered, missing + a.missing);
        (notices, lagged) = (notices + h.lag_notices, lagged + h.lagged);
    }
    let mut by_kind = [0usize; KINDS.len()];
    for e in &log.acked {
        by_kind[e.kind as usize] += 1;
    }
    let kinds: Vec<String> = KINDS.iter().zip(by_kind).map(|(k, c)| format!("{k} {c}")).collect();
    println!(
        "soak: {secs} s, {n} subscribers ({} whole city, {scoped} by organization), {rate} writes/s asked",
        n - scoped
    );
    println!("  connected and subscribed in {:.1} s", connected.as_secs_f64());
    println!(
        "  writes: {} acknowledged ({:.1}/s), {} failed; events acknowledged: {} ({})",
        log.writes,
        log.writes as f64 / log.elapsed.as_secs_f64(),
        log.failures.len(),
        log.acked.len(),
        kinds.join(", ")
    );
    println!(
        "  deliveries: {delivered} of {owed} owed, {missing} missing; {notices} LAGGED notices for {lagged} events"
    );
    println!("  drained {:.1} s after the last write", drained.as_secs_f64());
    println!(
        "  server RSS: {:.1} MiB after warm-up, {:.1} MiB at the end ({:+.1} %), peak {:.1} MiB",
        rss_start as f64 / MIB,
        rss_end as f64 / MIB,
        (rss_end as f64 / rss_start as f64 - 1.0) * 100.0,
        peak as f64 / MIB
    );
}
