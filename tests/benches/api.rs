//! Registrations and request-by-id reads per second over HTTP, 64 concurrent
//! clients, next to bare async-graphql resolvers on the same axum stack,
//! measured in the same run:
//! - a mutation and a query that do no I/O (the floor of the stack);
//! - the honest baseline of a registration: a mutation that writes as many
//!   bytes as a registration stores (measured first, in the current stored
//!   format) with one raw sled insert and a flush, on a sled of its own with
//!   the store's settings.
//!
//! Run: `cargo bench -p kontakt-tests --bench api [-- --requests 1000000 --seconds 5 --clients 64 --cache-mb 128]`.
//! Goals: registrations ≥ 0.7 of the honest baseline; reads ≥ 0.7 of the bare query, with 1 M requests stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_graphql::{EmptySubscription, ID, Object, Schema, SimpleObject};
use kontakt_api::auth::Auth;
use kontakt_api::config::Settings;
use kontakt_storage::SledStore;
use kontakt_workflow::model::{Actor, Channel, Code, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, SystemClock, demo};
use serde_json::{Value, json};

#[derive(SimpleObject, Clone)]
struct Req {
    id: ID,
    number: String,
    status: String,
    deadline: String,
}

fn fixed() -> Req {
    Req {
        id: ID("01M8KRPZ0692EH7XWSJMCFKS16".into()),
        number: "2026-000001".into(),
        status: "DISPATCHED".into(),
        deadline: "2026-11-29T19:43:02Z".into(),
    }
}

struct BareQuery;
#[Object]
impl BareQuery {
    async fn request(&self, id: ID) -> Req {
        Req { id, ..fixed() }
    }
}
/// A mutation that stores as many bytes as a registration, durably.
struct DurableMutation {
    db: sled::Db,
    bytes: usize,
    next: AtomicU64,
}
#[Object]
impl DurableMutation {
    async fn register_request(&self, category_code: String, address_id: String, description: String) -> Req {
        let _ = (category_code, address_id, description);
        let (db, key, value) =
            (self.db.clone(), self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes(), vec![7u8; self.bytes]);
        tokio::task::spawn_blocking(move || {
            db.insert(key, value).expect("insert");
            db.flush().expect("flush");
        })
        .await
        .expect("write");
        fixed()
    }
}

/// Serves a bare schema's `POST /graphql`, as plainly as the stack allows.
async fn bare_post<M: async_graphql::ObjectType + 'static>(
    axum::extract::State(schema): axum::extract::State<Schema<BareQuery, M, EmptySubscription>>,
    body: axum::body::Bytes,
) -> axum::Json<async_graphql::Response> {
    let req: async_graphql::Request = serde_json::from_slice(&body).expect("json");
    axum::Json(schema.execute(req).await)
}

/// The bytes (keys and values) one registration adds to the store, over 200 of them.
fn bytes_per_registration() -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path()).expect("store"));
    let k = Kontakt::new(store.clone(), Arc::new(SystemClock));
    demo::load(&k).expect("demo city");
    let op = Actor::person("bench", Role::Operator, None);
    let before = store.stored_bytes().expect("bytes");
    for i in 0..200 {
        k.register(card(i), &op).expect("register");
    }
    ((store.stored_bytes().expect("bytes") - before) / 200) as usize
}

struct BareMutation;
#[Object]
impl BareMutation {
    async fn register_request(&self, category_code: String, address_id: String, description: String) -> Req {
        let _ = (category_code, address_id, description);
        fixed()
    }
}

const CATEGORIES: [&str; 4] = ["power-outage-building", "roof-leak", "pothole", "street-light-out"];

fn card(i: u64) -> NewRequest {
    let street = i as usize % 65 + 1;
    NewRequest {
        category: Code::parse(CATEGORIES[(i % 4) as usize]).expect("code"),
        address: AddressPoint::Id(format!("g{street:03}-{:03}", (i as usize / 65) % 15 + 1)),
        description: "Нет света во всём подъезде, соседи тоже без электричества".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Иванова Мария".into()), phone: None, callback_consent: false
        },
        raise_reason: None,
        incident: None,
    }
}

/// Fills the store with `n` requests through the domain, 64 writers at a time.
fn preload(k: &Kontakt, n: u64) -> Vec<String> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let (k, next) = (k.clone(), next.clone());
            std::thread::spawn(move || {
                let op = Actor::person("bench", Role::Operator, None);
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return ids;
                    }
                    ids.push(k.register(card(i), &op).expect("register").request.id.to_string());
                    if i % 100_000 == 0 && i > 0 {
                        eprintln!("  preloaded {i} in {:.0} s", started.elapsed().as_secs_f64());
                    }
                }
            })
        })
        .collect();
    threads.into_iter().flat_map(|t| t.join().expect("preload thread")).collect()
}

/// Runs `clients` loops posting bodies from `body(i)` for `secs`; returns successful operations per second.
async fn load(
    url: String,
    token: Option<String>,
    clients: usize,
    secs: f64,
    body: Arc<dyn Fn(u64) -> Value + Send + Sync>,
) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let ok = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url, token, ok, body) =
                (client.clone(), url.clone(), token.clone(), ok.clone(), body.clone());
            tokio::spawn(async move {
                let mut i = c as u64 * 1_000_000_000;
                while Instant::now() < until {
                    let mut req = client.post(&url).json(&body(i));
                    if let Some(t) = &token {
                        req = req.bearer_auth(t);
                    }
                    if let Ok(resp) = req.send().await
                        && let Ok(v) = resp.json::<Value>().await
                        && v.get("errors").is_none()
                    {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn bind(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    format!("http://{addr}/graphql")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let n: u64 = arg("--requests").and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let secs: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let clients: usize = arg("--clients").and_then(|s| s.parse().ok()).unwrap_or(64);
    let cache_mb: u64 = arg("--cache-mb").and_then(|s| s.parse().ok()).unwrap_or(128);
    let only = arg("--only").unwrap_or_default();

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open_with_cache(dir.path(), cache_mb << 20).expect("store"));
    let kontakt = Kontakt::new(store.clone(), Arc::new(SystemClock));
    demo::load(&kontakt).expect("demo city");
    eprintln!("preloading {n} requests…");
    let t = Instant::now();
    let ids = Arc::new(preload(&kontakt, n));
    eprintln!(
        "preloaded {n} requests in {:.0} s ({:.0}/s); store on disk {} MB",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64(),
        store.size_on_disk().unwrap_or(0) >> 20
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let mut settings = Settings::load(None).expect("settings");
        settings.graphql.max_complexity = 10_000;
        let key = b"benchmark-key-benchmark-key-benchmark-key".to_vec();
        let auth = Auth::new(&key, settings.auth.clone(), kontakt.clone());
        let (token, _) = auth.issue("bench", Role::Operator, None, chrono::Duration::hours(2), kontakt.now(), &kontakt_workflow::model::Actor::system()).expect("token");
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (router, _, _) =
            kontakt_api::server::app(&settings, kontakt.clone(), store.clone(), auth, false, shutdown).expect("app");
        let ours = bind(router).await;
        let bare_schema = Schema::build(BareQuery, BareMutation, EmptySubscription).finish();
        let bare = bind(axum::Router::new().route("/graphql", axum::routing::post(bare_post::<BareMutation>)).with_state(bare_schema)).await;
        let bytes = bytes_per_registration();
        let raw_dir = tempfile::tempdir().expect("tempdir");
        // The store's own sled settings, so only Kontakt's work differs.
        let raw = kontakt_storage::sled_store::raw_config(raw_dir.path()).open().expect("sled");
        let durable_schema = Schema::build(BareQuery, DurableMutation { db: raw, bytes, next: AtomicU64::new(0) }, EmptySubscription).finish();
        let durable = bind(axum::Router::new().route("/graphql", axum::routing::post(bare_post::<DurableMutation>)).with_state(durable_schema)).await;

        let read_q = "query($id: ID!) { request(id: $id) { id number status deadline } }";
        let ids2 = ids.clone();
        let read: Arc<dyn Fn(u64) -> Value + Send + Sync> =
            Arc::new(move |i| json!({ "query": read_q, "variables": { "id": ids2[(i.wrapping_mul(2_654_435_761) % ids2.len() as u64) as usize] } }));
        let reg_ours: Arc<dyn Fn(u64) -> Value + Send + Sync> = Arc::new(|i| {
            json!({ "query": "mutation($c: ID!, $a: ID!) { registerRequest(input: {categoryCode: $c, addressId: $a, description: \"Нет света во всём подъезде\"}) { id number status deadline } }",
                    "variables": { "c": CATEGORIES[(i % 4) as usize], "a": format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1) } })
        });
        let reg_bare: Arc<dyn Fn(u64) -> Value + Send + Sync> = Arc::new(|i| {
            json!({ "query": "mutation($c: String!, $a: String!) { registerRequest(categoryCode: $c, addressId: $a, description: \"Нет света во всём подъезде\") { id number status deadline } }",
                    "variables": { "c": CATEGORIES[(i % 4) as usize], "a": format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1) } })
        });

        println!("over HTTP, {clients} clients, {secs} s per figure, {n} requests stored");
        println!("| operation | baseline | baseline /s | kontakt /s | ratio | goal |");
        println!("|---|---|---:|---:|---:|---|");
        if only != "read" {
        let d = load(durable, None, clients, secs, reg_bare.clone()).await;
        let b = load(bare.clone(), None, clients, secs, reg_bare).await;
        let (c0, f0) = (store.stats().commits.load(Ordering::Relaxed), store.stats().flushes.load(Ordering::Relaxed));
        let o = load(ours.clone(), Some(token.clone()), clients, secs, reg_ours).await;
        let (c1, f1) = (store.stats().commits.load(Ordering::Relaxed), store.stats().flushes.load(Ordering::Relaxed));
        eprintln!("  registrations: {} commits in {} flushes", c1 - c0, f1 - f0);
        println!("| register (durable) | bare mutation writing {bytes} B with sled insert + flush | {d:.0} | {o:.0} | {:.2} | ≥ 0.7 |", o / d);
        println!("| register (durable) | bare mutation, no I/O | {b:.0} | {o:.0} | {:.2} | |", o / b);
        }
        if only == "register" {
            return;
        }
        let b = load(bare, None, clients, secs, read.clone()).await;
        let o = load(ours, Some(token), clients, secs, read).await;
        println!("| request by id | bare query, no I/O | {b:.0} | {o:.0} | {:.2} | ≥ 0.7 |", o / b);
    });
}
