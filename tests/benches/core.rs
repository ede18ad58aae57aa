//! Durable registrations per second through the storage and workflow layers,
//! next to a raw sled baseline measured in the same run: insert of a value of
//! the same size plus a flush, at the same concurrency, with the store's sled
//! settings.
//!
//! Run: `cargo bench -p kontakt-tests --bench core [-- --seconds 5 --writers 1,8,64]`.
//! Goal: ratio ≥ 0.6 at 64 writers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city};
use kontakt_workflow::model::{Actor, Channel, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, SystemClock};

const BUILDINGS: usize = 500;

fn card(i: u64) -> NewRequest {
    NewRequest {
        category: code(["cat-0", "cat-1", "cat-2", "cat-3"][(i % 4) as usize]),
        address: AddressPoint::Id(format!("a{}", i % BUILDINGS as u64)),
        description: "Нет света во всём подъезде, соседи тоже без электричества".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Иванова Мария".into()), phone: None, callback_consent: false
        },
        raise_reason: None,
        incident: None,
    }
}

fn kontakt(dir: &std::path::Path) -> (Kontakt, Arc<SledStore>) {
    let store = Arc::new(SledStore::open(dir).expect("open store"));
    let k = Kontakt::new(store.clone(), Arc::new(SystemClock));
    small_city(&k, BUILDINGS).expect("load city");
    (k, store)
}

/// Runs `op` on `writers` threads for `secs`; returns operations per second.
fn drive(writers: usize, secs: f64, op: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let op = op.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut i = t as u64 * 1_000_000_000;
                while Instant::now() < until {
                    op(i);
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let secs: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let writers: Vec<usize> = arg("--writers")
        .map(|s| s.split(',').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 64]);

    // The size of what one registration stores: its record plus its events.
    let probe_dir = tempfile::tempdir().expect("tempdir");
    let (probe, _) = kontakt(probe_dir.path());
    let o = probe.register(card(1), &Actor::person("op", Role::Operator, None)).expect("register");
    // As stored: the record and its events in the current format.
    let value_size = kontakt_storage::codec::encode(&o.request).expect("encode").len()
        + o.events.iter().map(|e| kontakt_storage::codec::encode(e).expect("encode").len()).sum::<usize>();

    println!("durable registrations/s, {secs} s per figure, stored value ≈ {value_size} B");
    println!("| writers | raw sled insert+flush /s | kontakt register /s | ratio | goal |");
    println!("|---:|---:|---:|---:|---|");
    for n in writers {
        let raw_dir = tempfile::tempdir().expect("tempdir");
        // The store's own sled settings, so only Kontakt's work differs.
        let db = kontakt_storage::sled_store::raw_config(raw_dir.path()).open().expect("sled");
        let value = vec![b'x'; value_size];
        let raw = drive(n, secs, move |i| {
            db.insert(i.to_be_bytes(), value.as_slice()).expect("insert");
            db.flush().expect("flush");
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let (k, store) = kontakt(dir.path());
        let before = (
            store.stats().commits.load(Ordering::Relaxed),
            store.stats().flushes.load(Ordering::Relaxed),
            store.stats().flush_micros.load(Ordering::Relaxed),
        );
        let operator = Actor::person("op", Role::Operator, None);
        let ours = drive(n, secs, move |i| {
            k.register(card(i), &operator).expect("register");
        });
        let st = store.stats();
        eprintln!(
            "  {n} writers: {} commits, {} flushes, {:.0} µs per flush",
            st.commits.load(Ordering::Relaxed) - before.0,
            st.flushes.load(Ordering::Relaxed) - before.1,
            (st.flush_micros.load(Ordering::Relaxed) - before.2) as f64
                / (st.flushes.load(Ordering::Relaxed) - before.1).max(1) as f64
        );
        let goal = if n == 64 { "≥ 0.6" } else { "" };
        println!("| {n} | {raw:.0} | {ours:.0} | {:.2} | {goal} |", ours / raw);
    }
}
