//! A store written in format 1 (plain sled pages, JSON values, the REGISTERED
//! event carrying the whole card) is migrated when the real server opens it:
//! every request reads back as it was, with its whole history, the indexes
//! answer as before, and `kontakt check` finds nothing wrong.
//!
//! The format-1 store is made by the format-1 writer kept here: a store is
//! built by today's code, then each of its entries is written again as
//! format 1 wrote it (the same keys; each value as JSON; each REGISTERED
//! event with the full card), into a sled database with plain pages and the
//! format-1 mark.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use kontakt_storage::{SledStore, Store, codec};
use kontakt_tests::app::{TEST_SECRET, claims, kontakt_bin, mint, spawn};
use kontakt_tests::demo_card;
use kontakt_workflow::model::{Actor, Role};
use kontakt_workflow::service::REQUESTS;
use kontakt_workflow::{Applicant, Event, Kontakt, NewRequest, Request, SlaPolicy, SystemClock, demo};
use serde_json::{Value, json};

/// Every request of the store with its history, in id order.
fn everything(store: Arc<dyn Store>) -> Vec<(Request, Vec<Event>)> {
    let k = Kontakt::new(store.clone(), Arc::new(SystemClock));
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan_collection(REQUESTS, after.as_deref(), 500).unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.id().to_vec());
        for (_, stored) in page {
            let r: Request = codec::decode(&stored.body).unwrap();
            let mut request = k.request(r.id).unwrap().unwrap();
            // The record's version counts its writes; the migration is not one.
            request.version = 0;
            out.push((request, k.history(r.id).unwrap()));
        }
    }
    out
}

/// A format-1 value: the same value as JSON, REGISTERED events with the
/// whole card as format 1 kept it.
fn as_v1(value: &[u8]) -> Vec<u8> {
    let mut v: Value = codec::decode(value).unwrap();
    if v.pointer("/kind/type") == Some(&json!("REGISTERED")) {
        let event: Event = codec::decode(value).unwrap();
        let kontakt_workflow::EventKind::Registered { request } = event.kind else { unreachable!() };
        v["kind"]["request"] = serde_json::to_value(&*request).unwrap();
    }
    serde_json::to_vec(&v).unwrap()
}

/// Writes the current-format store in `from` into `to` as format 1 wrote it.
fn write_as_v1(from: &Path, to: &Path) {
    let src = kontakt_storage::sled_store::open_raw(from).unwrap();
    let dst = sled::Config::new().path(to).open().unwrap();
    for item in src.iter() {
        let (k, v) = item.unwrap();
        let v = match k[0] {
            b'M' if k.as_ref() == b"Mformat" => b"kontakt-store/1".to_vec(),
            // version u64, events u32, n u16, n × (len u16, key), body
            b'R' => {
                let n = u16::from_be_bytes([v[12], v[13]]) as usize;
                let mut at = 14;
                for _ in 0..n {
                    at += 2 + u16::from_be_bytes([v[at], v[at + 1]]) as usize;
                }
                [&v[..at], &as_v1(&v[at..])].concat()
            }
            // count u32, then (len u32, bytes) per event
            b'E' => {
                let count = u32::from_be_bytes(v[..4].try_into().unwrap());
                let mut out = v[..4].to_vec();
                let mut at = 4;
                for _ in 0..count {
                    let len = u32::from_be_bytes(v[at..at + 4].try_into().unwrap()) as usize;
                    let json = as_v1(&v[at + 4..at + 4 + len]);
                    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
                    out.extend_from_slice(&json);
                    at += 4 + len;
                }
                out
            }
            _ => v.to_vec(),
        };
        dst.insert(k, v).unwrap();
    }
    dst.flush().unwrap();
}

/// A demo card from a caller who left a phone, some of them raised.
fn card(i: usize) -> NewRequest {
    NewRequest {
        applicant: Applicant {
            name: Some("Иванова Мария".into()),
            phone: Some(kontakt_workflow::model::Phone::parse("+7 949 123-45-67").unwrap()),
            callback_consent: i.is_multiple_of(2),
        },
        raise_reason: i.is_multiple_of(5).then(|| "Дети в квартире".to_string()),
        ..demo_card(i)
    }
}

#[tokio::test]
async fn a_format_1_store_is_migrated_by_the_server_and_reads_as_it_was() {
    let built = tempfile::tempdir().unwrap();
    let before = {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(built.path()).unwrap());
        let k = Kontakt::new(store.clone(), Arc::new(SystemClock));
        demo::load(&k).unwrap();
        // Days of realistic work: accepted, resolved, late, escalated, reopened, closed.
        kontakt_workflow::demo_activity::seed(store.clone(), SlaPolicy::default(), Utc::now(), 5).unwrap();
        let op = Actor::person("operator", Role::Operator, None);
        let erased = k.register(card(1), &op).unwrap().request.id;
        k.erase_applicant(erased, "по просьбе заявителя", &Actor::person("admin", Role::Admin, None))
            .unwrap();
        for i in 2..30 {
            k.register(card(i), &op).unwrap();
        }
        everything(store)
    };
    assert!(before.len() > 40, "{} requests", before.len());
    assert!(before.iter().any(|(_, h)| h.len() > 3), "some requests went far");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_as_v1(built.path(), &data);
    std::fs::create_dir_all(data.join("feeds/cap")).unwrap();

    let mut app = spawn(&data, &[], &[]);
    let (status, body) = app
        .gql(
            Some(&mint(&claims("OPERATOR", None), TEST_SECRET)),
            "query($n: String!) { request(number: $n) { number status history { kind } } }",
            json!({ "n": before[0].0.number.to_string() }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["request"]["number"], json!(before[0].0.number.to_string()), "{body}");
    assert_eq!(
        body["data"]["request"]["history"].as_array().map(Vec::len),
        Some(before[0].1.len()),
        "{body}"
    );
    app.terminate();
    drop(app);

    assert!(data.join(".format-v1/db").exists(), "format 1 is kept beside the migrated store");
    assert!(data.join("feeds/cap").exists(), "the feed folders stay where they were");
    let out = std::process::Command::new(kontakt_bin())
        .args(["check", "--data"])
        .arg(&data)
        .env("KONTAKT_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("0 problems"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let store: Arc<dyn Store> = Arc::new(SledStore::open(&data).unwrap());
    let raw = store.scan_collection(REQUESTS, None, 1).unwrap();
    assert!(codec::is_current(&raw[0].1.body), "records are recoded into the current format");
    let after = everything(store);
    assert_eq!(after.len(), before.len());
    for ((a, ha), (b, hb)) in after.iter().zip(&before) {
        assert_eq!(a, b, "request {}", b.number);
        assert_eq!(ha, hb, "history of {}", b.number);
    }
}
