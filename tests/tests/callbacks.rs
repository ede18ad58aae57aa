//! Calling applicants back: the task written with the resolution, delivery
//! with retries and backoff through real dialers (a webhook receiver and a
//! scripted Asterisk AMI peer), idempotency across a crash between sending
//! and recording, and each outcome's effect on the request.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use hmac::{Hmac, Mac};
use kontakt_api::bus::Bus;
use kontakt_api::dialer::{Dialer, DialerSettings};
use kontakt_api::jobs::Jobs;
use kontakt_api::metrics::Metrics;
use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city};
use kontakt_workflow::callbacks::{CallbackOutcome, CallbackStatus, CallbackTask};
use kontakt_workflow::model::{Actor, Channel, Phone, RequestStatus, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Command, Kontakt, ManualClock, NewRequest, Request, check};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct City {
    kontakt: Kontakt,
    store: Arc<SledStore>,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()));
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let kontakt = Kontakt::new(store.clone(), clock.clone());
    small_city(&kontakt, 4).unwrap();
    City { kontakt, store, clock, _dir: dir }
}

fn crew() -> Actor {
    Actor::person("crew", Role::Contractor, Some(code("water")))
}

/// Registers a MEDIUM request (routed to `water`) and resolves it.
fn resolved(c: &City, consent: bool) -> Request {
    let new = NewRequest {
        category: code("cat-2"),
        address: AddressPoint::Id("a0".into()),
        description: "слабый напор".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Сидоров".into()),
            phone: Some(Phone::parse("+78564111111").unwrap()),
            callback_consent: consent,
        },
        raise_reason: None,
        incident: None,
    };
    let r = c.kontakt.register(new, &Actor::person("op", Role::Operator, None)).unwrap().request;
    c.kontakt
        .execute(r.id, Command::Resolve { resolution: "Заменили задвижку".into(), note: None }, &crew())
        .unwrap()
        .request
}

fn jobs(c: &City, dialer: DialerSettings) -> Jobs {
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    Jobs::new(c.kontakt.clone(), bus, metrics, vec![], 64).with_dialer(Dialer::new(dialer), false)
}

fn task_of(c: &City, r: &Request) -> CallbackTask {
    let tasks = c.kontakt.callbacks_of(r.id).unwrap();
    assert_eq!(tasks.len(), 1, "one callback per resolution");
    tasks[0].clone()
}

#[test]
fn a_resolution_with_consent_writes_its_callback_in_the_same_write() {
    let c = city();
    let r = resolved(&c, true);
    let t = task_of(&c, &r);
    assert_eq!(
        (t.status, t.attempts, t.phone.as_ref().map(|p| p.as_str())),
        (CallbackStatus::Pending, 0, Some("+78564111111"))
    );
    assert_eq!(t.result, "Заменили задвижку");
    let quiet = resolved(&c, false);
    assert!(c.kontakt.callbacks_of(quiet.id).unwrap().is_empty(), "no consent, no call");
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}

#[tokio::test]
async fn a_call_about_a_result_that_no_longer_stands_is_cancelled_not_placed() {
    let c = city();
    let jobs = jobs(&c, DialerSettings::Log);
    let (closed, reopened, kept) = (resolved(&c, true), resolved(&c, true), resolved(&c, true));
    let op = Actor::person("op", Role::Operator, None);
    c.kontakt
        .execute(closed.id, Command::Close { note: Some("подтвердил по телефону".into()) }, &op)
        .unwrap();
    c.kontakt.execute(reopened.id, Command::Reopen { reason: "снова течёт".into() }, &op).unwrap();

    let report = jobs.callback_tick().await;
    assert_eq!((report.sent, report.cancelled), (1, 2), "one call placed, two dropped");
    for r in [&closed, &reopened] {
        let t = task_of(&c, r);
        assert_eq!(t.status, CallbackStatus::Cancelled);
        let kinds: Vec<String> =
            c.kontakt.callback_history(&t.id).unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec!["CREATED", "CANCELLED"]);
    }
    assert_eq!(task_of(&c, &kept).status, CallbackStatus::Sent);
    assert_eq!(c.kontakt.request(closed.id).unwrap().unwrap().status, RequestStatus::Closed, "untouched");
    let again = jobs.callback_tick().await;
    assert_eq!((again.sent, again.cancelled), (0, 0), "a cancelled task leaves the queue");
    assert!(check::check(&c.kontakt).unwrap().is_clean());

    // The resolution's own full stop is not doubled in the spoken message.
    let t = task_of(&c, &kept);
    let spoken = kontakt_workflow::callbacks::message(&t, "Водоканал", false);
    assert!(spoken.contains("Водоканал сообщает: Заменили задвижку. Если"), "{spoken}");
}

#[tokio::test]
async fn confirmed_closes_and_not_fixed_reopens_to_the_organization() {
    let c = city();
    let jobs = jobs(&c, DialerSettings::Log);
    let (a, b) = (resolved(&c, true), resolved(&c, true));
    assert_eq!(jobs.callback_tick().await.sent, 2);
    assert_eq!(task_of(&c, &a).status, CallbackStatus::Sent);
    let op = Actor::person("op", Role::Operator, None);
    let closed = c
        .kontakt
        .record_callback_outcome(&task_of(&c, &a).id, CallbackOutcome::Confirmed, None, &op)
        .unwrap();
    assert_eq!(closed.request.status, RequestStatus::Closed);
    let reopened = c
        .kontakt
        .record_callback_outcome(
            &task_of(&c, &b).id,
            CallbackOutcome::NotFixed,
            Some("всё ещё течёт".into()),
            &op,
        )
        .unwrap();
    assert_eq!((reopened.request.status, reopened.request.reopened), (RequestStatus::Dispatched, 1));
    assert_eq!(
        reopened.request.organization.as_ref().map(|o| o.as_str()),
        Some("water"),
        "back on its organization's board"
    );
    assert!(c.kontakt.board("water", RequestStatus::Dispatched, 10).unwrap().iter().any(|r| r.id == b.id));
    let history: Vec<String> =
        c.kontakt.callback_history(&task_of(&c, &b).id).unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(history, vec!["CREATED", "ATTEMPT", "SENT", "NOT_FIXED"]);
    assert!(
        c.kontakt
            .record_callback_outcome(&task_of(&c, &b).id, CallbackOutcome::Confirmed, None, &op)
            .is_err(),
        "an outcome is recorded once"
    );
    // Resolved again, the request gets a new call.
    c.kontakt
        .execute(b.id, Command::Resolve { resolution: "Заменили трубу".into(), note: None }, &crew())
        .unwrap();
    assert_eq!(c.kontakt.callbacks_of(b.id).unwrap().len(), 2);
}

#[tokio::test]
async fn no_answer_retries_with_backoff_then_closes_with_a_note() {
    let c = city();
    let jobs = jobs(&c, DialerSettings::Log);
    let r = resolved(&c, true);
    let op = Actor::system();
    for attempt in 1..=3u32 {
        assert_eq!(jobs.callback_tick().await.sent, 1, "attempt {attempt}");
        let t = task_of(&c, &r);
        assert_eq!(t.attempts, attempt);
        let o = c.kontakt.record_callback_outcome(&t.id, CallbackOutcome::NoAnswer, None, &op).unwrap();
        if attempt < 3 {
            let t = task_of(&c, &r);
            assert_eq!(
                t.next_at - c.kontakt.now(),
                Duration::seconds(60 << (attempt - 1)),
                "backoff doubles"
            );
            assert_eq!(jobs.callback_tick().await.sent, 0, "not before the backoff");
            c.clock.advance(Duration::seconds(60 << (attempt - 1)));
        } else {
            assert_eq!(o.request.status, RequestStatus::Closed);
        }
    }
    let closed = c.kontakt.request(r.id).unwrap().unwrap();
    let history = c.kontakt.history(r.id).unwrap();
    assert!(
        history.last().unwrap().kind.note().unwrap().contains("Не удалось дозвониться"),
        "{:?}",
        history.last()
    );
    assert_eq!(closed.status, RequestStatus::Closed);
}

/// One delivery as received: idempotency key, signature, timestamp, body.
type Post = (String, String, String, String);

#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<Post>>>,
    fail_first: Arc<Mutex<usize>>,
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let sig =
        headers.get("x-kontakt-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let ts = headers.get("x-kontakt-timestamp").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    rx.posts.lock().unwrap().push((key, sig, ts, body));
    let mut fail = rx.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}

async fn receiver(rx: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/calls", axum::routing::post(receive)).with_state(rx);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/calls")
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_webhook_dialer_signs_retries_with_backoff_and_keeps_the_key_of_an_attempt() {
    let c = city();
    let rx = Receiver::default();
    *rx.fail_first.lock().unwrap() = 1;
    let url = receiver(rx.clone()).await;
    let secret = "gateway-shared-secret";
    let jobs = jobs(&c, DialerSettings::Webhook { url, secret: secret.into() });
    let r = resolved(&c, true);

    let first = jobs.callback_tick().await;
    assert_eq!((first.sent, first.failed), (0, 1), "the gateway was down");
    assert_eq!(task_of(&c, &r).status, CallbackStatus::Pending);
    assert_eq!(jobs.callback_tick().await.sent, 0, "not before the backoff");
    c.clock.advance(Duration::seconds(60));
    assert_eq!(jobs.callback_tick().await.sent, 1);
    let posts = rx.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2);
    let (key1, key2) = (&posts[0].0, &posts[1].0);
    assert_ne!(key1, key2, "a new attempt is a new call");
    for (_, sig, ts, raw) in &posts {
        assert_eq!(
            sig,
            &format!("sha256={}", hmac_hex(secret, format!("{ts}.{raw}").as_bytes())),
            "the signature over the timestamp and the body verifies independently"
        );
        assert!(
            (chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() < 60,
            "a current timestamp"
        );
        let body: Value = serde_json::from_str(raw).unwrap();
        assert!(body["message"].as_str().unwrap().contains(&r.number.to_string()));
        assert_eq!(body["phone"], "+78564111111");
    }

    // A crash between sending and recording: the attempt is re-sent after its lease with the same key.
    let r2 = resolved(&c, true);
    let t = task_of(&c, &r2);
    let started = c.kontakt.begin_attempt(&t).unwrap().expect("the request is still resolved");
    let key = started.attempt_key();
    // (the process died here, after the gateway got the call, before `attempt_sent`)
    c.clock.advance(Duration::seconds(121));
    assert_eq!(jobs.callback_tick().await.sent, 1);
    let resent: Vec<String> = rx.posts.lock().unwrap().iter().skip(2).map(|p| p.0.clone()).collect();
    assert_eq!(resent, vec![key.clone()], "the gateway sees the same key and places one call");
    assert_eq!(task_of(&c, &r2).attempts, 1, "a re-send is not a new attempt");
}

#[tokio::test]
async fn the_ami_dialer_logs_in_and_originates_with_the_message_as_variables() {
    let c = city();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let peer = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"Asterisk Call Manager/9.0.0\r\n").await.unwrap();
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut block = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.is_empty() {
                let action = block.first().cloned().unwrap_or_default();
                blocks.push(std::mem::take(&mut block));
                match action.as_str() {
                    "Action: Login" => write
                        .write_all(b"Response: Success\r\nMessage: Authentication accepted\r\n\r\n")
                        .await
                        .unwrap(),
                    "Action: Originate" => write
                        .write_all(b"Response: Success\r\nMessage: Originate successfully queued\r\n\r\n")
                        .await
                        .unwrap(),
                    _ => break,
                }
            } else {
                block.push(line);
            }
        }
        blocks
    });
    let jobs = jobs(
        &c,
        DialerSettings::AsteriskAmi {
            address,
            username: "kontakt".into(),
            secret: "s3cret".into(),
            channel: "PJSIP/{phone}@city-trunk".into(),
            context: "kontakt-callback".into(),
            exten: "s".into(),
        },
    );
    let r = resolved(&c, true);
    assert_eq!(jobs.callback_tick().await.sent, 1);
    let blocks = peer.await.unwrap();
    assert_eq!(
        blocks[0][..3],
        ["Action: Login".to_string(), "Username: kontakt".into(), "Secret: s3cret".into()]
    );
    let originate = &blocks[1];
    assert!(originate.contains(&"Channel: PJSIP/+78564111111@city-trunk".to_string()), "{originate:?}");
    assert!(originate.contains(&"Context: kontakt-callback".to_string()));
    assert!(originate.contains(&format!("Variable: KONTAKT_NUMBER={}", r.number)));
    assert!(
        originate
            .iter()
            .any(|l| l.starts_with("Variable: KONTAKT_MESSAGE=") && l.contains("Заменили задвижку")),
        "{originate:?}"
    );
    assert_eq!(blocks[2][0], "Action: Logoff");
    assert_eq!(task_of(&c, &r).status, CallbackStatus::Sent);
}

#[tokio::test]
async fn an_outcome_arrives_by_signed_webhook_on_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "outcome-secret-of-the-gateway-32-bytes-or-more";
    let app = kontakt_tests::app::spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__JOBS__CALLBACKS", "*/1 * * * * *"), ("KONTAKT__CALLBACKS__OUTCOME_SECRET", secret)],
    );
    let op = app.token("OPERATOR");
    let (_, b) = app
        .gql(
            Some(&op),
            r#"mutation { registerRequest(input: {categoryCode: "pothole", addressId: "g001-003", description: "яма",
                applicant: {name: "Петрова", phone: "+78564222222", callbackConsent: true}}) { id } }"#,
            json!({}),
        )
        .await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap().to_string();
    app.gql(
        Some(&app.token("roads-gorlovka")),
        &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Яму заделали") {{ status }} }}"#),
        json!({}),
    )
    .await;
    let (mut task, mut attempt_key) = (String::new(), String::new());
    for _ in 0..50 {
        let (_, b) = app
            .gql(
                Some(&op),
                &format!(r#"{{ request(id: "{id}") {{ callbacks {{ id status attemptKey }} }} }}"#),
                json!({}),
            )
            .await;
        if b["data"]["request"]["callbacks"][0]["status"] == "SENT" {
            task = b["data"]["request"]["callbacks"][0]["id"].as_str().unwrap().to_string();
            attempt_key = b["data"]["request"]["callbacks"][0]["attemptKey"].as_str().unwrap().to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!task.is_empty(), "the log dialer placed the call");
    let body = serde_json::to_vec(
        &json!({ "taskId": task, "attemptKey": attempt_key, "outcome": "CONFIRMED", "note": "спасибо" }),
    )
    .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/callbacks/outcome", app.base);
    let now = chrono::Utc::now().timestamp();
    let bad = client
        .post(&url)
        .header("x-kontakt-timestamp", now.to_string())
        .header("x-kontakt-signature", "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let good = client
        .post(&url)
        .header("x-kontakt-timestamp", now.to_string())
        .header(
            "x-kontakt-signature",
            format!("sha256={}", hmac_hex(secret, &[format!("{now}.").as_bytes(), &body].concat())),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status().as_u16(), 200);
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(r#"{{ request(id: "{id}") {{ status callbacks {{ outcome history {{ kind }} }} }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["request"]["status"], "CLOSED", "{b}");
    assert_eq!(b["data"]["request"]["callbacks"][0]["outcome"], "CONFIRMED");
}

#[test]
fn the_current_call_is_the_newest_also_after_many_reopenings() {
    let c = city();
    let r = resolved(&c, true);
    let op = Actor::person("op", Role::Operator, None);
    // Each round: not fixed (reopen), fixed again: the resolution's position passes 9.
    for round in 0..4 {
        let tasks = c.kontakt.callbacks_of(r.id).unwrap();
        assert_eq!(tasks.len(), round + 1);
        let now = c.kontakt.request(r.id).unwrap().unwrap();
        let current = c.kontakt.callback_awaiting_outcome(&now).unwrap().expect("a call awaits its answer");
        assert_eq!(current.id, tasks.last().unwrap().id, "the newest task, oldest first in the list");
        c.kontakt.record_callback_outcome(&current.id, CallbackOutcome::NotFixed, None, &op).unwrap();
        c.kontakt
            .execute(
                r.id,
                Command::Resolve { resolution: format!("Переделали, раз {round}"), note: None },
                &crew(),
            )
            .unwrap();
        c.clock.advance(Duration::minutes(5));
    }
    let now = c.kontakt.request(r.id).unwrap().unwrap();
    assert!(now.events > 10, "positions past 9: {}", now.events);
    let current = c.kontakt.callback_awaiting_outcome(&now).unwrap().unwrap();
    let closed =
        c.kontakt.record_callback_outcome(&current.id, CallbackOutcome::Confirmed, None, &op).unwrap();
    assert_eq!(closed.request.status, RequestStatus::Closed);
}
