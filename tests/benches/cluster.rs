//! Several nodes on PostgreSQL: durable registrations per second over HTTP
//! with 1, 2 and 3 release `kontakt serve` nodes on one database, next to the
//! sled single node and to `pgbench` inserting and committing on the same
//! server (PostgreSQL's own limit here), all in one run; then the change
//! feed's delivery lag from a commit on node 1 to a subscriber on node 3.
//!
//! Everything shares this machine's cores: the nodes, the database and the
//! load generator. The figures measure what each layer costs, not how the
//! cluster scales; BENCHMARKS.md estimates per-node capacity from them.
//!
//! - **pgbench insert+commit**: one 600-byte row per transaction, the floor
//!   of a durable write through this server.
//! - **pgbench with the feed's number**: the same, plus taking the next
//!   number from the one feed row and writing a feed row, as every Kontakt
//!   commit does: the cost of serialising feed numbers at commit.
//! - **registrations**: `registerRequest` over HTTP from `--clients` clients
//!   spread over the nodes, each acknowledged after its durable commit.
//! - **feed lag**: from the moment node 1 acknowledged a registration to the
//!   moment its REGISTERED event reached a websocket subscriber on node 1 and
//!   on node 3 (negative when the event beat the acknowledgement); the sled
//!   single node's own bus is the baseline.
//!
//! Run: `cargo bench -p kontakt-tests --bench cluster [-- --seconds 10 --clients 16]`; `--quick` for 4 s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kontakt_storage::pg_server::PgServer;
use kontakt_tests::app::{TestApp, WsClient, kontakt_release_bin, spawn_nodes};
use kontakt_tests::load::quantile;
use serde_json::{Value, json};

const REGISTER: &str =
    "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { number } }";

fn card(n: usize) -> Value {
    json!({ "input": {
        "categoryCode": "power-outage-building", "addressId": "g001-001",
        "description": format!("Нет света в подъезде, обращение {n}"),
        "applicant": { "name": "Иванова Мария", "phone": "8 (856) 412-34-56", "callbackConsent": false }
    }})
}

fn start(bin: &std::path::Path, dirs: &[tempfile::TempDir], url: Option<&str>) -> Vec<TestApp> {
    let paths: Vec<&std::path::Path> = dirs.iter().map(|d| d.path()).collect();
    spawn_nodes(bin, &paths, url, &[])
}

/// Registrations per second and their latency p50/p99 (ms) from `clients`
/// clients spread over `bases` for `secs`.
async fn register_load(bases: &[String], token: &str, clients: usize, secs: f64) -> (f64, f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bases, token, stop) = (bases.to_vec(), token.to_string(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut took = Vec::new();
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = http
                        .post(format!("{}/graphql", bases[i % bases.len()]))
                        .bearer_auth(&token)
                        .json(&json!({ "query": REGISTER, "variables": card(i) }))
                        .send()
                        .await;
                    i += clients;
                    let ok = match r {
                        Ok(r) => r
                            .json::<Value>()
                            .await
                            .is_ok_and(|v| v["data"]["registerRequest"]["number"].is_string()),
                        Err(_) => false,
                    };
                    if ok {
                        took.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                took
            })
        })
        .collect();
    let began = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let elapsed = began.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (all.len() as f64 / elapsed, quantile(&all, 0.5), quantile(&all, 0.99))
}

/// `pgbench` transactions per second for `script` on `db`.
fn pgbench(server: &PgServer, db: &str, script: &str, name: &str, clients: usize, secs: f64) -> f64 {
    let file = server.dir().join(name);
    std::fs::write(&file, script).expect("script");
    let out = server
        .tool(
            "pgbench",
            &[
                "-n",
                "-h",
                "127.0.0.1",
                "-p",
                &server.port().to_string(),
                "-U",
                "kontakt",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &(secs.ceil() as u64).to_string(),
                "-f",
                &file.display().to_string(),
                db,
            ],
        )
        .expect("pgbench runs");
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ").and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {out}"))
}

/// Lag (ms) from node `writer`'s acknowledgement to delivery at each of `listeners`, for `n` registrations.
async fn feed_lag(writer: &TestApp, listeners: &[&TestApp], n: usize) -> Vec<(f64, f64)> {
    let token = writer.token("OPERATOR");
    let mut subs = Vec::new();
    for l in listeners {
        let mut ws =
            WsClient::connect(&l.base, "graphql-transport-ws", json!({ "token": token })).await.expect("ws");
        ws.subscribe("1", "subscription { requestEvents { kind request { number } } }", json!({})).await;
        subs.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received: Vec<_> = subs
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut at = std::collections::HashMap::new();
                while at.len() < n {
                    let Some(p) = ws.next_payload(10).await else { break };
                    let e = &p["data"]["requestEvents"];
                    if e["kind"] == "REGISTERED" {
                        at.insert(
                            e["request"]["number"].as_str().unwrap_or_default().to_string(),
                            Instant::now(),
                        );
                    }
                }
                at
            })
        })
        .collect();
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    for i in 0..n {
        let v: Value = http
            .post(format!("{}/graphql", writer.base))
            .bearer_auth(&token)
            .json(&json!({ "query": REGISTER, "variables": card(900_000 + i) }))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let now = Instant::now();
        acked.push((v["data"]["registerRequest"]["number"].as_str().unwrap_or_default().to_string(), now));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    for r in received {
        let at = r.await.expect("listener");
        let mut lags: Vec<f64> = acked
            .iter()
            .filter_map(|(num, ack)| {
                at.get(num).map(|t| {
                    if *t >= *ack {
                        t.duration_since(*ack).as_secs_f64() * 1000.0
                    } else {
                        -(ack.duration_since(*t).as_secs_f64() * 1000.0)
                    }
                })
            })
            .collect();
        assert_eq!(lags.len(), n, "every event reached every listener");
        lags.sort_by(f64::total_cmp);
        out.push((quantile(&lags, 0.5), quantile(&lags, 0.99)));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let secs: f64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(if quick { 4.0 } else { 10.0 });
    let clients: usize = arg("--clients").and_then(|s| s.parse().ok()).unwrap_or(16);
    let lag_n: usize = if quick { 100 } else { 300 };
    let bin = kontakt_release_bin();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = PgServer::start(true).expect("a private PostgreSQL server (fsync on)");

    // PostgreSQL's own limit on this machine.
    let db = "pgb";
    server.create_database(db).expect("database");
    {
        let url = server.url(db);
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            c.batch_execute(
                "CREATE TABLE bench (id bigserial PRIMARY KEY, body bytea NOT NULL);
                 CREATE TABLE feedc (v bigint NOT NULL); INSERT INTO feedc VALUES (0);
                 CREATE TABLE feed (seq bigint PRIMARY KEY);",
            )
        })
        .join()
        .expect("setup thread")
        .expect("pgbench tables");
    }
    let insert = "INSERT INTO bench (body) VALUES (decode(repeat('ab', 600), 'hex'));\n";
    let with_feed = "BEGIN;\nINSERT INTO bench (body) VALUES (decode(repeat('ab', 600), 'hex'));\n\
                     UPDATE feedc SET v = v + 1 RETURNING v AS seq \\gset\nINSERT INTO feed VALUES (:seq);\nCOMMIT;\n";
    let pg_plain = pgbench(&server, db, insert, "insert.sql", clients, secs);
    let pg_feed = pgbench(&server, db, with_feed, "feed.sql", clients, secs);

    let mut rows: Vec<(String, f64, f64, f64)> = Vec::new();
    let sled_lag = runtime.block_on(async {
        let dirs = vec![tempfile::tempdir().expect("dir")];
        let apps = start(&bin, &dirs, None);
        let bases = vec![apps[0].base.clone()];
        let (rate, p50, p99) = register_load(&bases, &apps[0].token("OPERATOR"), clients, secs).await;
        rows.push(("sled, 1 node".into(), rate, p50, p99));
        let lag = feed_lag(&apps[0], &[&apps[0]], lag_n).await;
        lag[0]
    });
    let mut pg_lag = Vec::new();
    for n in 1..=3usize {
        let url = server.create_database(&format!("nodes{n}")).expect("database");
        runtime.block_on(async {
            let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().expect("dir")).collect();
            let apps = start(&bin, &dirs, Some(&url));
            let bases: Vec<String> = apps.iter().map(|a| a.base.clone()).collect();
            let (rate, p50, p99) = register_load(&bases, &apps[0].token("OPERATOR"), clients, secs).await;
            rows.push((format!("postgres, {n} node{}", if n > 1 { "s" } else { "" }), rate, p50, p99));
            if n == 3 {
                pg_lag = feed_lag(&apps[0], &[&apps[0], &apps[2]], lag_n).await;
            }
        });
    }

    println!(
        "\n## Several nodes on PostgreSQL ({clients} clients, {secs} s each, fsync on, one 2-core machine)\n"
    );
    println!("| what | per second | ratio to pgbench insert+commit | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    println!("| pgbench insert+commit (baseline) | {pg_plain:.0} | 1.00 | | |");
    println!("| pgbench insert + feed number + commit | {pg_feed:.0} | {:.2} | | |", pg_feed / pg_plain);
    for (what, rate, p50, p99) in &rows {
        println!(
            "| registrations over HTTP, {what} | {rate:.0} | {:.2} | {p50:.1} | {p99:.1} |",
            rate / pg_plain
        );
    }
    println!(
        "\n| change-feed delivery lag after the acknowledgement ({lag_n} registrations at ~40/s) | p50 ms | p99 ms |"
    );
    println!("|---|---:|---:|");
    println!("| sled, same node (local bus, baseline) | {:.1} | {:.1} |", sled_lag.0, sled_lag.1);
    if let [local, remote] = pg_lag[..] {
        println!("| postgres, subscriber on the writing node | {:.1} | {:.1} |", local.0, local.1);
        println!("| postgres, subscriber on another node | {:.1} | {:.1} |", remote.0, remote.1);
    }
}
