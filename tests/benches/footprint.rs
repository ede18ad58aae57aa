//! Footprint: what a store of M requests costs on disk, in memory and at
//! restart, each next to a baseline measured in the same run.
//!
//! 1. Disk: the data directory against the raw JSON of the same request
//!    records (each record serialized as JSON, summed). Goal: ≤ 2.5×.
//! 2. Memory: RSS of the release `kontakt serve` on that store once it is
//!    ready, and after a burst of reads by id, against an idle `kontakt serve`
//!    on an empty store. Goal: ≤ 300 MiB after the reads with the default
//!    page cache (`cache_mb`, 128 MiB): memory is bounded by configuration,
//!    not by the size of the store.
//! 3. Restart: spawn → `/readyz` 200 on the store, against reading every byte
//!    of the data directory sequentially right before (the same page-cache
//!    state for both). Twice: first after the build, when sled replays what
//!    it logged since its last snapshot, then after a clean stop of the
//!    server. Goals at 1 M: first start < 5 s, restart < 2 s.
//!
//! The store is built the fastest honest way the other benchmarks use: 64
//! threads registering through `Kontakt::register` in process (routing,
//! numbering, durable group commit), so it holds exactly what the server
//! writes; the server is then started on it as a separate process.
//!
//! Run: `cargo bench -p kontakt-tests --bench footprint [-- --requests 1000000 --reads 100000]`;
//! `--quick` for 20 000 requests and 5 000 reads; `--compress-pages` for a
//! store made with `[store] compress_pages` (the server keeps a store's setting).

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kontakt_storage::SledStore;
use kontakt_tests::app::{TEST_SECRET, TestApp, claims, kontakt_release_bin, mint, spawn_bin};
use kontakt_workflow::model::{Actor, Channel, Code, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, SystemClock, demo};
use serde_json::json;

const CATEGORIES: [&str; 4] = ["power-outage-building", "roof-leak", "pothole", "street-light-out"];
const MIB: f64 = 1024.0 * 1024.0;
/// The server's default page cache (`cache_mb`).
const CACHE_MIB: f64 = 128.0;
/// The memory goal after the reads.
const RSS_GOAL_MIB: f64 = 300.0;

fn card(i: u64) -> NewRequest {
    NewRequest {
        category: Code::parse(CATEGORIES[(i % 4) as usize]).expect("code"),
        address: AddressPoint::Id(format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1)),
        description: "Нет света во всём подъезде, соседи тоже без электричества".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Иванова Мария".into()), phone: None, callback_consent: false
        },
        raise_reason: None,
        incident: None,
    }
}

/// Registers `n` requests with 64 writers; returns their ids and the bytes of
/// their records as JSON.
fn preload(k: &Kontakt, n: u64) -> (Vec<String>, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let json_bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (k, next, json_bytes) = (k.clone(), next.clone(), json_bytes.clone());
            std::thread::spawn(move || {
                let op = Actor::person("bench", Role::Operator, None);
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return ids;
                    }
                    let outcome = k.register(card(i), &op).expect("register");
                    // The record as stored: the request after its registration commit.
                    let size = serde_json::to_vec(&outcome.request).expect("json").len() as u64;
                    json_bytes.fetch_add(size, Ordering::Relaxed);
                    ids.push(outcome.request.id.to_string());
                    if i % 100_000 == 0 && i > 0 {
                        eprintln!("  preloaded {i} in {:.0} s", started.elapsed().as_secs_f64());
                    }
                }
            })
        })
        .collect();
    let ids = threads.into_iter().flat_map(|t| t.join().expect("preload thread")).collect();
    (ids, json_bytes.load(Ordering::Relaxed))
}

/// Apparent and allocated bytes of every file under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).expect("read dir").map_while(Result::ok) {
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            let (a, b) = dir_size(&entry.path());
            total = (total.0 + a, total.1 + b);
        } else {
            total = (total.0 + meta.len(), total.1 + meta.blocks() * 512);
        }
    }
    total
}

/// Reads every byte under `dir`, file after file; returns the bytes read.
fn read_all(dir: &Path, buf: &mut [u8]) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("read dir").map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            n += read_all(&path, buf);
        } else {
            let mut f = std::fs::File::open(&path).expect("open");
            loop {
                let got = f.read(buf).expect("read");
                if got == 0 {
                    break;
                }
                n += got as u64;
                std::hint::black_box(&buf[..got]);
            }
        }
    }
    n
}

/// Starts the server on `data` and waits for `/readyz` 200; returns it and how long that took.
async fn start(bin: &Path, data: &Path) -> (TestApp, Duration) {
    let t = Instant::now();
    let app = spawn_bin(bin, data, &[], &[]);
    loop {
        if app.get("/readyz").await.0 == 200 {
            return (app, t.elapsed());
        }
        assert!(t.elapsed() < Duration::from_secs(600), "the server was not ready within 10 minutes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The server's RSS once it has settled for a second.
async fn settled_rss(app: &TestApp) -> u64 {
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.rss_bytes().expect("the server's RSS")
}

/// `reads` reads by id from 32 clients; returns reads per second.
async fn read_burst(app: &TestApp, ids: &[String], reads: u64) -> f64 {
    let token = mint(&claims("OPERATOR", None), TEST_SECRET);
    let q = "query($id: ID!) { request(id: $id) { id number status deadline organization { id } } }";
    let next = AtomicU64::new(0);
    let t = Instant::now();
    futures_util::future::join_all((0..32).map(|_| async {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= reads {
                return;
            }
            let id = &ids[(i.wrapping_mul(2_654_435_761) % ids.len() as u64) as usize];
            let (status, body) = app.gql(Some(&token), q, json!({ "id": id })).await;
            assert!(status == 200 && body["data"]["request"]["id"] == id.as_str(), "read {id}: {body}");
        }
    }))
    .await;
    reads as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let n: u64 =
        arg("--requests").and_then(|s| s.parse().ok()).unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let reads: u64 =
        arg("--reads").and_then(|s| s.parse().ok()).unwrap_or(if quick { 5_000 } else { 100_000 });
    // `[store] compress_pages`: the store is made with zstd-compressed pages.
    let compress = args.iter().any(|a| a == "--compress-pages");
    let bin = kontakt_release_bin();

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let t = Instant::now();
    let (ids, raw_json) = {
        let store = Arc::new(
            SledStore::open_with(&data, kontakt_storage::sled_store::DEFAULT_CACHE_BYTES, compress)
                .expect("store"),
        );
        let kontakt = Kontakt::new(store, Arc::new(SystemClock));
        demo::load(&kontakt).expect("demo city");
        eprintln!(
            "building a store of {n} requests with {} pages…",
            if compress { "compressed" } else { "plain" }
        );
        preload(&kontakt, n)
        // Dropping the last handle finishes the committer's queue and closes the store.
    };
    let built = t.elapsed().as_secs_f64();
    let (disk, allocated) = dir_size(&data);
    let city_dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Arc::new(SledStore::open(city_dir.path()).expect("store"));
        demo::load(&Kontakt::new(store, Arc::new(SystemClock))).expect("demo city");
    }
    let (city, _) = dir_size(city_dir.path());
    eprintln!(
        "  built in {built:.0} s ({:.0} requests/s); data dir {:.0} MiB apparent, {:.0} MiB allocated; \
         the demo city alone {:.1} MiB",
        n as f64 / built,
        disk as f64 / MIB,
        allocated as f64 / MIB,
        city as f64 / MIB
    );

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let mut buf = vec![0u8; 1 << 20];
    let mut read_dir = || {
        let t = Instant::now();
        let bytes = read_all(&data, &mut buf);
        let secs = t.elapsed().as_secs_f64();
        eprintln!("  read {:.0} MiB sequentially in {secs:.2} s", bytes as f64 / MIB);
        secs
    };
    let m = runtime.block_on(async {
        let empty = tempfile::tempdir().expect("tempdir");
        let (idle_app, _) = start(&bin, empty.path()).await;
        let idle = settled_rss(&idle_app).await;
        drop(idle_app);

        // The first start replays what sled logged since its last snapshot
        // during the build; the second starts from the snapshot the first left.
        let read_before_first = read_dir();
        let (mut app, first_open) = start(&bin, &data).await;
        let opened = settled_rss(&app).await;
        let read_rate = read_burst(&app, &ids, reads).await;
        let after_reads = settled_rss(&app).await;
        app.terminate();
        drop(app);
        let read_before_second = read_dir();
        let (app, second_open) = start(&bin, &data).await;
        drop(app);
        Measured {
            idle,
            opened,
            after_reads,
            read_rate,
            starts: [
                (read_before_first, first_open.as_secs_f64()),
                (read_before_second, second_open.as_secs_f64()),
            ],
        }
    });
    eprintln!("  {reads} reads by id at {:.0}/s", m.read_rate);

    let mib = |b: u64| b as f64 / MIB;
    println!("footprint of {n} requests (release server, default settings)");
    println!("| figure | baseline (same run) | kontakt | ratio | goal |");
    println!("|---|---:|---:|---:|---|");
    let disk_ratio = disk as f64 / raw_json as f64;
    println!(
        "| disk | raw JSON of the records {:.0} MiB | data dir {:.0} MiB | {disk_ratio:.2} | ≤ 2.5×{} |",
        mib(raw_json),
        mib(disk),
        if disk_ratio <= 2.5 { " — met" } else { " — missed" }
    );
    println!(
        "| RSS once ready | idle on an empty store {:.0} MiB | {:.0} MiB | {:.2} | |",
        mib(m.idle),
        mib(m.opened),
        m.opened as f64 / m.idle as f64
    );
    println!(
        "| RSS after {reads} reads by id, {CACHE_MIB:.0} MiB page cache | idle on an empty store {:.0} MiB | {:.0} MiB | {:.2} | ≤ {RSS_GOAL_MIB:.0} MiB{} |",
        mib(m.idle),
        mib(m.after_reads),
        m.after_reads as f64 / m.idle as f64,
        if mib(m.after_reads) <= RSS_GOAL_MIB { " — met" } else { " — missed" }
    );
    let names =
        ["start after the build: spawn → /readyz 200", "restart after a clean stop: spawn → /readyz 200"];
    for ((name, goal), (read_secs, secs)) in names.iter().zip([5.0, 2.0]).zip(m.starts) {
        println!(
            "| {name} | read the data dir sequentially {read_secs:.2} s | {secs:.2} s | {:.2} | < {goal:.0} s{} |",
            secs / read_secs,
            if secs < goal { " — met" } else { " — missed" }
        );
    }
}

/// What the servers showed.
struct Measured {
    idle: u64,
    opened: u64,
    after_reads: u64,
    read_rate: f64,
    /// (sequential read of the data dir just before, spawn → ready), in seconds.
    starts: [(f64, f64); 2],
}
