//! `kontakt migrate --to URL` moves a sled store into an empty PostgreSQL
//! database: every record with its version, index entries and events, the
//! counters and the counts; the copy checks clean, a node serves it, and a
//! second copy into the same database is refused.

use std::sync::Arc;

use kontakt_storage::pg_server::PgServer;
use kontakt_storage::{PgStore, SledStore, Store, prefix_end};
use kontakt_tests::app::{kontakt_bin, spawn};
use kontakt_tests::demo_card;
use kontakt_workflow::model::{Actor, Role};
use kontakt_workflow::{Command, Kontakt, SystemClock, demo};
use serde_json::json;

/// Every index entry of a store, in order.
fn all_index(store: &dyn Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .scan_range(&[], &prefix_end(&[0xfe]), usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.record.as_bytes().to_vec()))
        .collect()
}

#[test]
fn a_sled_store_moves_into_postgres_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut numbers = Vec::new();
    {
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let k = Kontakt::new(store, Arc::new(SystemClock));
        demo::load(&k).unwrap();
        let op = Actor::person("operator", Role::Operator, None);
        for i in 0..60 {
            let o = k.register(demo_card(i), &op).unwrap();
            numbers.push(o.request.number.to_string());
            if i % 4 == 0 {
                let org = o.request.organization.clone().unwrap();
                let crew = Actor::person("crew", Role::Contractor, Some(org));
                k.execute(o.request.id, Command::Accept, &crew).unwrap();
            }
        }
    }
    let server = PgServer::start(false).expect("a private PostgreSQL server");
    let url = server.create_database("moved").unwrap();
    let migrate = || {
        std::process::Command::new(kontakt_bin())
            .args(["migrate", "--data"])
            .arg(dir.path())
            .args(["--to", &url])
            .env("KONTAKT_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("0 problems") && stdout.contains("copied"), "{stdout}");

    {
        let sled = SledStore::open(dir.path()).unwrap();
        let pg = PgStore::open(&url, 2).unwrap();
        let mut copied = 0;
        sled.export(&mut |r| {
            let got = pg.get(&r.key)?.unwrap_or_else(|| panic!("{} was not copied", r.key));
            assert_eq!(
                (got.version, &got.body, got.events as usize),
                (r.version, &r.body, r.events.len()),
                "{}",
                r.key
            );
            assert_eq!(pg.events(&r.key)?, r.events, "{}", r.key);
            copied += 1;
            Ok(())
        })
        .unwrap();
        assert!(copied > 60);
        assert_eq!(all_index(&pg), all_index(&sled), "every index entry, in the same order");
        assert_eq!(pg.counter("request-number/2026").unwrap(), sled.counter("request-number/2026").unwrap());
        assert!(pg.check().unwrap().is_clean());
    }

    // A database that holds a store is not copied into again.
    let again = migrate();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A node serves the moved city: the requests, their numbers and counts.
    let node_dir = tempfile::tempdir().unwrap();
    let app = spawn(
        node_dir.path(),
        &["--demo"],
        &[("KONTAKT__STORE__ENGINE", "postgres"), ("KONTAKT__STORE__URL", &url)],
    );
    assert!(app.output().iter().any(|l| l.starts_with("The demo city is already in")), "{:?}", app.output());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let token = app.token("SUPERVISOR");
        let (_, b) = app.gql(Some(&token), "{ requests(first: 1) { totalCount } }", json!({})).await;
        assert_eq!(b["data"]["requests"]["totalCount"], 60, "{b}");
        let (_, b) = app
            .gql(
                Some(&token),
                "query($n: String) { request(number: $n) { number status } }",
                json!({ "n": numbers[4] }),
            )
            .await;
        assert_eq!(b["data"]["request"]["status"], "IN_PROGRESS", "{b}");
    });
}
