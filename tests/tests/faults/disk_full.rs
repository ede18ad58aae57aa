//! The disk fills up under a store in use.
//!
//! sled has applied a group in memory before its flush fails, and cannot take
//! it back; so the store stops at the first failed write and refuses reads and
//! writes until it is reopened. These tests hold it to that: the writer that
//! hit the full disk hears so, no later writer is acknowledged, no reader sees
//! a change that was refused, every acknowledged write is there after the
//! restart, `check` is clean, and writes go on once there is room.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kontakt_storage::{SledStore, Store};
use kontakt_tests::app::{TEST_SECRET, TestApp, claims, mint, spawn};
use kontakt_tests::{code, small_city};
use kontakt_workflow::model::{Actor, Channel, RequestId, RequestNumber, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, DomainError, Kontakt, NewRequest, SystemClock, check};
use serde_json::{Value, json};

use super::{Tmpfs, alone, fill_leaving, kontakt};

const DISK_FULL: &str = "No space left on device";

fn card(description: &str, address: usize) -> NewRequest {
    NewRequest {
        category: code("cat-2"),
        address: AddressPoint::Id(format!("a{}", address % 6)),
        description: description.to_string(),
        channel: Channel::Phone,
        applicant: Applicant::default(),
        raise_reason: None,
        incident: None,
    }
}

/// A registration the store acknowledged.
struct Acked {
    id: RequestId,
    number: RequestNumber,
    description: String,
}

/// What one writer thread saw: acknowledged cards, and refused ones with their errors.
type Seen = (Vec<Acked>, Vec<(String, DomainError)>);

/// Registers cards until the store has refused three; gives up (and fails the
/// test later) after `limit` attempts.
fn write_until_refused(k: &Kontakt, writer: usize, limit: usize) -> Seen {
    let op = Actor::person("op", Role::Operator, None);
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    for i in 0..limit {
        let description = format!("writer {writer} card {i}: {}", ["течёт крыша"; 60].join(", "));
        match k.register(card(&description, i), &op) {
            Ok(o) => acked.push(Acked { id: o.request.id, number: o.request.number, description }),
            Err(e) => {
                refused.push((description, e));
                if refused.len() == 3 {
                    break;
                }
            }
        }
    }
    (acked, refused)
}

#[test]
fn a_full_disk_stops_the_store_without_losing_or_showing_anything_it_should_not() {
    let _alone = alone();
    let Some(disk) = Tmpfs::mount(2048) else { return };
    let data = disk.path().join("data");
    let (acked, refused) = {
        let store = Arc::new(SledStore::open(&data).unwrap());
        let k = Kontakt::new(store, Arc::new(SystemClock));
        small_city(&k, 6).unwrap();
        // Four writers share group commits until the disk runs out.
        let seen: Vec<Seen> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let k = &k;
                    s.spawn(move || write_until_refused(k, w, 5000))
                })
                .collect();
            writers.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut acked = Vec::new();
        let mut refused = Vec::new();
        for (a, r) in seen {
            assert_eq!(r.len(), 3, "every writer ran into the full disk");
            for (_, e) in &r {
                assert!(matches!(e, DomainError::Store(_)), "a storage error, not {e:?}");
                assert!(e.to_string().contains(DISK_FULL), "the cause is named: {e}");
            }
            acked.extend(a);
            refused.extend(r);
        }
        assert!(acked.len() > 20, "the disk took {} cards before it was full", acked.len());

        // Nothing is read from memory that may not be on disk.
        let read = k.request(acked[0].id).unwrap_err().to_string();
        assert!(read.contains(DISK_FULL), "{read}");
        assert!(check::check(&k).is_err(), "no check of a stopped store");

        // Room again, but the store stays stopped until it is reopened.
        disk.resize(64 * 1024);
        let op = Actor::person("op", Role::Operator, None);
        let again = k.register(card("после освобождения места", 0), &op).unwrap_err();
        assert!(again.to_string().contains(DISK_FULL), "{again}");
        (acked, refused)
    };

    let store = Arc::new(SledStore::open(&data).unwrap());
    let k = Kontakt::new(store.clone(), Arc::new(SystemClock));
    for a in &acked {
        let r = k.request(a.id).unwrap().unwrap_or_else(|| panic!("acknowledged {} is lost", a.number));
        assert_eq!((r.number, &r.description), (a.number, &a.description));
    }
    // Every number up to the counter is an acknowledged card, or one whose
    // writer was told it may not have been saved: nothing else, nothing twice.
    let year = acked[0].number.year;
    let last = store.counter(&RequestNumber::counter(year)).unwrap();
    let by_number: HashMap<u32, &str> =
        acked.iter().map(|a| (a.number.seq, a.description.as_str())).collect();
    assert_eq!(by_number.len(), acked.len(), "acknowledged numbers are unique");
    let refused: HashSet<&str> = refused.iter().map(|(d, _)| d.as_str()).collect();
    for seq in 1..=last as u32 {
        let r = k.request_by_number(&RequestNumber { year, seq }).unwrap().expect("numbers have no gaps");
        assert!(
            by_number.get(&seq) == Some(&r.description.as_str()) || refused.contains(r.description.as_str()),
            "{} is neither acknowledged nor refused",
            r.number
        );
    }
    let report = check::check(&k).unwrap();
    assert!(report.is_clean(), "{report}");
    let op = Actor::person("op", Role::Operator, None);
    for i in 0..3 {
        let r = k.register(card("снова есть место", i), &op).unwrap().request;
        assert_eq!(r.number.seq, last as u32 + 1 + i as u32);
    }
}

const REGISTER: &str =
    "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number } }";

async fn register(app: &TestApp, token: &str, description: &str, i: usize) -> (u16, Value) {
    let input =
        json!({ "categoryCode": "cat-2", "addressId": format!("a{}", i % 6), "description": description });
    app.gql(Some(token), REGISTER, json!({ "input": input })).await
}

/// The code of every error in a response; panics on a response that is neither data nor coded errors.
fn codes(status: u16, body: &Value) -> Vec<String> {
    assert!(matches!(status, 200 | 401), "HTTP {status}: {body}");
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors in {body}"));
    errors
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {body}")).to_string())
        .collect()
}

#[tokio::test]
async fn through_the_server_a_full_disk_is_a_coded_error_and_a_restart_recovers() {
    let Some(disk) = Tmpfs::mount(8 * 1024) else { return };
    let data = disk.path().join("data");
    {
        let store = Arc::new(SledStore::open(&data).unwrap());
        small_city(&Kontakt::new(store, Arc::new(SystemClock)), 6).unwrap();
    }
    let filler = fill_leaving(disk.path(), 512 * 1024);
    let token = mint(&claims("OPERATOR", None), TEST_SECRET);
    let mut app = spawn(&data, &[], &[]);

    let mut acked: Vec<(String, String, String)> = Vec::new();
    let mut refused = 0;
    for i in 0..5000 {
        let description = format!("заявка {i}: {}", ["нет воды в подъезде"; 50].join(", "));
        let (status, body) = register(&app, &token, &description, i).await;
        if body["errors"].is_null() {
            let r = &body["data"]["registerRequest"];
            acked.push((r["id"].as_str().unwrap().into(), r["number"].as_str().unwrap().into(), description));
            continue;
        }
        assert_eq!(codes(status, &body), vec!["INTERNAL"], "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("may not have been saved"), "the caller is told to check: {message}");
        refused += 1;
        break;
    }
    assert_eq!(refused, 1, "the disk filled up after {} cards", acked.len());
    assert!(acked.len() > 20, "{} cards fitted", acked.len());

    // The server keeps running; whatever it is asked now, it answers with a code
    // (the token check reads the store too, so a stopped store refuses it).
    let (status, body) = app.gql(Some(&token), "{ requests(first: 1) { totalCount } }", json!({})).await;
    let read = codes(status, &body);
    let (status, body) = register(&app, &token, "ещё одна", 0).await;
    let write = codes(status, &body);
    assert_eq!(app.get("/healthz").await, (200, "ok".into()));
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 503, "a stopped store is not ready: {ready}");
    assert!(ready.contains("\"store\":false"), "{ready}");

    // Room again: the stopped store still refuses, with a code, until the restart.
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = register(&app, &token, "место освободилось", 1).await;
    let later = codes(status, &body);
    println!("after the failure: read {read:?}, write {write:?}, write with room again {later:?}");
    assert_eq!(app.terminate(), Some(0), "a clean exit on SIGTERM");

    let mut app = spawn(&data, &[], &[]);
    for (id, number, description) in &acked {
        let (_, body) = app
            .gql(
                Some(&token),
                "query($id: ID!) { request(id: $id) { number description } }",
                json!({ "id": id }),
            )
            .await;
        let r = &body["data"]["request"];
        assert_eq!(
            (r["number"].as_str(), r["description"].as_str()),
            (Some(number.as_str()), Some(description.as_str())),
            "{body}"
        );
    }
    let (_, body) = app.gql(Some(&token), "{ requests(first: 1) { totalCount } }", json!({})).await;
    let total = body["data"]["requests"]["totalCount"].as_u64().unwrap() as usize;
    assert!(
        (acked.len()..=acked.len() + 1).contains(&total),
        "{total} requests for {} acknowledged",
        acked.len()
    );
    let (_, body) = register(&app, &token, "после перезапуска", 2).await;
    let number =
        body["data"]["registerRequest"]["number"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
    assert!(acked.iter().all(|(_, n, _)| *n < number), "{number} follows every acknowledged number");
    assert_eq!(app.terminate(), Some(0));
    drop(app);

    let run = kontakt(&["check"], &data, std::time::Duration::from_secs(60));
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(" 0 problems"), "{}", run.stdout);
}
