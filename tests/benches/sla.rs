//! Time-driven control at scale, next to baselines measured in the same run:
//!
//! 1. the SLA sweep with N open requests and nothing due (goal < 1 ms),
//!    against a raw sled scan of an empty key range;
//! 2. 100 k requests falling due at once: time until every one is warned
//!    (goal < 10 s) and registration p99 meanwhile, against registration p99
//!    with the sweep idle (goal: under 2×);
//! 3. card hints for an address at N stored requests (goal p99 < 20 ms),
//!    against reading one request by id.
//!
//! Run: `cargo bench -p kontakt-tests --bench sla [-- --requests 1000000 --due 100000 --batch 64]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_workflow::incidents::{Area, IncidentReport};
use kontakt_workflow::model::{Actor, Channel, Code, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Clock, Kontakt, ManualClock, NewRequest, demo};

fn card(category: &str, i: u64) -> NewRequest {
    NewRequest {
        category: Code::parse(category).expect("code"),
        address: AddressPoint::Id(format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1)),
        description: "Нет света во всём подъезде".into(),
        channel: Channel::Phone,
        applicant: Applicant::default(),
        raise_reason: None,
        incident: None,
    }
}

fn preload(k: &Kontakt, category: &'static str, n: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (k, next) = (k.clone(), next.clone());
            std::thread::spawn(move || {
                let op = Actor::person("bench", Role::Operator, None);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    k.register(card(category, i), &op).expect("register");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("preload");
    }
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0)
}

fn micros(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e6
}

/// Registration latencies (µs) of `writers` threads for `secs`.
fn registration_latencies(k: &Kontakt, writers: usize, secs: f64) -> Vec<f64> {
    let until = Instant::now() + StdDuration::from_secs_f64(secs);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let k = k.clone();
            std::thread::spawn(move || {
                let op = Actor::person("bench", Role::Operator, None);
                let mut lat = Vec::new();
                let mut i = w as u64 * 1_000_000;
                while Instant::now() < until {
                    lat.push(micros(|| {
                        k.register(card("pothole", i), &op).expect("register");
                    }));
                    i += 1;
                }
                lat
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().expect("writer")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let n: u64 = arg("--requests").and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let due: u64 = arg("--due").and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let batch: usize = arg("--batch").and_then(|s| s.parse().ok()).unwrap_or(64);
    // `--fixed`: every batch takes `--batch`, as before batches were sized by the store's backlog.
    let fixed = args.iter().any(|a| a == "--fixed");
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).single().expect("time");

    // 1. N open LONG requests, nothing due an hour later.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("store"));
    let clock = Arc::new(ManualClock::new(t0));
    let k = Kontakt::new(store.clone(), clock.clone());
    demo::load(&k).expect("demo");
    let t = Instant::now();
    preload(&k, "pothole", n);
    eprintln!("preloaded {n} open requests in {:.0} s", t.elapsed().as_secs_f64());
    clock.advance(Duration::hours(1));
    let mut ours = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..1000 {
        ours.push(micros(|| assert!(k.sweep(500).expect("sweep").is_empty())));
        raw.push(micros(|| {
            let from = [b"Idu\0".as_slice(), &[0x80, 0, 0, 0, 0, 0, 0, 0]].concat();
            let to = [b"Idu\0".as_slice(), &[0x80, 0, 0, 0, 0, 0, 0, 1]].concat();
            kontakt_storage::Store::scan_range(store.as_ref(), &from[1..], &to[1..], 500).expect("scan");
        }));
    }
    println!("| figure | baseline | kontakt | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    let (o50, r50) = (percentile(ours.clone(), 0.5), percentile(raw.clone(), 0.5));
    println!(
        "| sweep, {n} open, nothing due: p50 / p99 | raw empty scan {r50:.1} µs | {o50:.1} / {:.1} µs | {:.2} | < 1 ms |",
        percentile(ours, 0.99),
        o50 / r50.max(0.001)
    );

    // 3. Card hints at N stored: incidents, duplicates and recurring at the building, the route.
    k.report_incident(
        IncidentReport {
            source: "bench".into(),
            identifier: "1".into(),
            title: "Отключение".into(),
            kind: "power".into(),
            organization: None,
            started_at: clock.now(),
            expected_end_at: None,
            area: Area { streets: vec!["ул. Пушкинская".into()], ..Default::default() },
            area_description: None,
            ended: None,
        },
        &Actor::system(),
    )
    .expect("incident");
    let ids: Vec<_> =
        k.list(&Default::default(), None, 200).expect("list").items.into_iter().map(|r| r.id).collect();
    let mut hints = Vec::new();
    let mut reads = Vec::new();
    for i in 0..2000u64 {
        let address = format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1);
        hints.push(micros(|| {
            let a = k.resolve_address(&AddressPoint::Id(address.clone())).expect("address");
            let since = clock.now() - Duration::days(90);
            let at = k.requests_at_address(a.id.as_str(), since, 200).expect("at address");
            let inc = k.incidents_at(&a).expect("incidents");
            let rules = k.rules_for("roof-leak").expect("rules");
            std::hint::black_box((at, inc, rules));
        }));
        reads.push(micros(|| {
            std::hint::black_box(k.request(ids[i as usize % ids.len()]).expect("read"));
        }));
    }
    let (h99, r99) = (percentile(hints.clone(), 0.99), percentile(reads, 0.99));
    println!(
        "| card hints at {n} stored: p50 / p99 | one read by id p99 {r99:.1} µs | {:.0} / {h99:.0} µs | {:.1} | p99 < 20 ms |",
        percentile(hints, 0.5),
        h99 / r99.max(0.001)
    );
    drop(k);
    drop(store);

    // 2. A storm: `due` requests fall due at once while operators keep registering.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("store"));
    let clock = Arc::new(ManualClock::new(t0));
    let k = Kontakt::new(store, clock.clone());
    demo::load(&k).expect("demo");
    preload(&k, "power-outage-building", due); // EMERGENCY: warning at 4.5 h
    let idle = registration_latencies(&k, 8, 3.0);
    clock.advance(Duration::minutes(4 * 60 + 31));
    let done = Arc::new(AtomicBool::new(false));
    let sweeper = {
        let (k, done) = (k.clone(), done.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut steps = 0usize;
            loop {
                let size = if fixed { batch } else { k.sweep_batch(batch) };
                let taken = k.sweep(size).expect("sweep");
                steps += taken.len();
                if taken.len() < size {
                    break;
                }
                std::thread::yield_now();
            }
            done.store(true, Ordering::Release);
            (steps, start.elapsed().as_secs_f64())
        })
    };
    let mut busy = Vec::new();
    while !done.load(Ordering::Acquire) {
        busy.extend(registration_latencies(&k, 8, 0.5));
    }
    let (steps, secs) = sweeper.join().expect("sweeper");
    let (i99, b99) = (percentile(idle, 0.99), percentile(busy, 0.99));
    println!("| {due} due at once: all warned in | — | {secs:.1} s ({steps} steps) | — | < 10 s |");
    println!(
        "| registration p99 during that storm | idle {:.1} ms | {:.1} ms | {:.2} | < 2× |",
        i99 / 1000.0,
        b99 / 1000.0,
        b99 / i99.max(0.001)
    );
}
