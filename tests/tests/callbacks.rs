//! Calling applicants back: the task written with the resolution, delivery
//! with retries and backoff through real dialers (a webhook receiver and a
//! scripted Asterisk AMI peer), idempotency across a crash between sending
//! and recording, and each outcome's effect on the request.

use std::collections::HashMap;
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
    resolved_as(c, "+78564111111", consent)
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

/// A resolved request whose applicant agreed to a call at `phone`.
fn resolved_at(c: &City, phone: &str) -> Request {
    resolved_as(c, phone, true)
}

/// Registers a MEDIUM request (routed to `water`) from `phone` and resolves it.
fn resolved_as(c: &City, phone: &str, consent: bool) -> Request {
    let new = NewRequest {
        category: code("cat-2"),
        address: AddressPoint::Id("a0".into()),
        description: "слабый напор".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Сидоров".into()),
            phone: Some(Phone::parse(phone).unwrap()),
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

/// A scripted Asterisk Manager Interface, from Asterisk's documentation of
/// the protocol: a banner, `Response: Success` to Login and Originate (with
/// the `ActionID`), then per dialled number an `OriginateResponse` event and
/// the dialplan's `UserEvent` — or a dropped connection. Every action block
/// it received is kept.
async fn ami_peer(script: HashMap<String, &'static str>) -> (String, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let kept = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (script, seen) = (script.clone(), seen.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"Asterisk Call Manager/9.0.0\r\n").await.unwrap();
                let mut block: Vec<String> = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.is_empty() {
                        block.push(line);
                        continue;
                    }
                    if block.is_empty() {
                        continue;
                    }
                    let field = |name: &str| {
                        block
                            .iter()
                            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
                            .unwrap_or_default()
                    };
                    let (action, id) = (field("Action"), field("ActionID"));
                    let variable = |name: &str| {
                        block
                            .iter()
                            .find_map(|l| l.strip_prefix(&format!("Variable: {name}=")).map(str::to_string))
                            .unwrap_or_default()
                    };
                    let (channel, key) = (field("Channel"), variable("KONTAKT_KEY"));
                    seen.lock().unwrap().push(std::mem::take(&mut block));
                    let mut out = String::new();
                    match action.as_str() {
                        "Login" => {
                            out += &format!(
                                "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
                            )
                        }
                        "Originate" => {
                            out += &format!(
                                "Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n"
                            );
                            let phone = channel
                                .trim_start_matches("PJSIP/")
                                .split('@')
                                .next()
                                .unwrap_or_default()
                                .to_string();
                            let behaviour = script.get(&phone).copied().unwrap_or("1");
                            if behaviour == "drop" {
                                write.write_all(out.as_bytes()).await.unwrap();
                                // The line to the PBX is cut while the applicant is on the phone.
                                return;
                            }
                            if let Some(reason) = behaviour.strip_prefix("fail:") {
                                out += &format!(
                                    "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {id}\r\nResponse: Failure\r\nChannel: {channel}\r\nContext: kontakt-callback\r\nExten: s\r\nReason: {reason}\r\nUniqueid: <null>\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n"
                                );
                            } else {
                                out += &format!(
                                    "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {id}\r\nResponse: Success\r\nChannel: {channel}-00000001\r\nContext: kontakt-callback\r\nExten: s\r\nReason: 4\r\nUniqueid: 1764489600.1\r\nCallerIDNum: {phone}\r\nCallerIDName: <unknown>\r\n\r\n"
                                );
                                out += &format!(
                                    "Event: UserEvent\r\nPrivilege: user,all\r\nChannel: {channel}-00000001\r\nUniqueid: 1764489600.1\r\nUserEvent: KontaktAnswer\r\nKey: {key}\r\nDigit: {behaviour}\r\n\r\n"
                                );
                            }
                        }
                        _ => {}
                    }
                    if write.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, kept)
}

async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn ami_settings(address: String) -> DialerSettings {
    DialerSettings::AsteriskAmi {
        address,
        username: "kontakt".into(),
        secret: "s3cret".into(),
        channel: "PJSIP/{phone}@city-trunk".into(),
        context: "kontakt-callback".into(),
        exten: "s".into(),
    }
}

// The AMI session runs beside the test, as it runs beside the jobs in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ami_session_places_calls_and_records_the_applicants_answers() {
    let c = city();
    let script: HashMap<String, &'static str> = [
        ("+78564000001".to_string(), "1"),
        ("+78564000002".to_string(), "2"),
        ("+78564000003".to_string(), "0"),
        ("+78564000004".to_string(), "fail:5"),
    ]
    .into();
    let (address, seen) = ami_peer(script).await;
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let dialer = Dialer::new(ami_settings(address)).started(&c.kontakt, &bus);
    let jobs = Jobs::new(c.kontakt.clone(), bus, metrics, vec![], 64).with_dialer(dialer, false);
    let mut rs = Vec::new();
    for n in 1..=4 {
        rs.push(resolved_at(&c, &format!("+7856400000{n}")));
        c.clock.advance(Duration::seconds(1));
    }
    let report = jobs.callback_tick().await;
    assert_eq!(report.sent, 4);
    let status = |r: &Request| c.kontakt.request(r.id).unwrap().unwrap().status;
    eventually("the answers are recorded", || {
        status(&rs[0]) == RequestStatus::Closed && status(&rs[1]) != RequestStatus::Resolved
    })
    .await;
    // 2: not fixed, back to its organization.
    assert_eq!(c.kontakt.request(rs[1].id).unwrap().unwrap().reopened, 1);
    // 0: a person, please — the task waits in the operators' worklist.
    eventually("the worklist", || {
        c.kontakt.callback_worklist(false, 10).unwrap().iter().any(|t| t.request == rs[2].id)
    })
    .await;
    // Busy: retried with backoff, the request still awaiting its answer.
    eventually("the busy line settled", || task_of(&c, &rs[3]).status == CallbackStatus::Pending).await;
    let busy = task_of(&c, &rs[3]);
    assert_eq!((busy.attempts, status(&rs[3])), (1, RequestStatus::Resolved));
    let kinds: Vec<String> =
        c.kontakt.callback_history(&busy.id).unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"NO_ANSWER".to_string()), "{kinds:?}");
    // The originate carried the task, its key, the number and the spoken message.
    let blocks = seen.lock().unwrap().clone();
    assert_eq!(
        blocks[0][..3],
        ["Action: Login".to_string(), "Username: kontakt".into(), "Secret: s3cret".into()]
    );
    let originate = blocks.iter().find(|b| b.iter().any(|l| l.contains("+78564000001@"))).unwrap();
    let first = task_of(&c, &rs[0]);
    for wanted in [
        "Channel: PJSIP/+78564000001@city-trunk".to_string(),
        format!("Variable: KONTAKT_TASK={}", first.id),
        format!("Variable: KONTAKT_KEY={}-1", first.idempotency_key),
        format!("Variable: KONTAKT_NUMBER={}", rs[0].number),
    ] {
        assert!(originate.contains(&wanted), "{wanted} in {originate:?}");
    }
    assert!(
        originate
            .iter()
            .any(|l| l.starts_with("Variable: KONTAKT_MESSAGE=") && l.contains("Заменили задвижку"))
    );
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_call_settles_the_attempt_and_never_dials_it_twice() {
    let c = city();
    let (address, seen) = ami_peer([("+78564000005".to_string(), "drop")].into()).await;
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let dialer = Dialer::new(ami_settings(address)).started(&c.kontakt, &bus);
    let jobs = Jobs::new(c.kontakt.clone(), bus, metrics, vec![], 64).with_dialer(dialer, false);
    let r = resolved_at(&c, "+78564000005");
    assert_eq!(jobs.callback_tick().await.sent, 1);
    eventually("the attempt settled", || task_of(&c, &r).status == CallbackStatus::Pending).await;
    let t = task_of(&c, &r);
    assert_eq!(t.attempts, 1);
    let notes: Vec<String> =
        c.kontakt.callback_history(&t.id).unwrap().into_iter().filter_map(|e| e.note).collect();
    assert!(notes.iter().any(|n| n.contains("outcome unknown")), "{notes:?}");
    // Until its backoff passes, nothing dials the applicant again.
    assert_eq!(jobs.callback_tick().await.sent, 0);
    let originates = seen.lock().unwrap().iter().filter(|b| b[0] == "Action: Originate").count();
    assert_eq!(originates, 1);
    // The session reconnects by itself; the retry is a new attempt with a new key.
    c.clock.advance(Duration::minutes(5));
    let mut sent = 0;
    for _ in 0..40 {
        sent = jobs.callback_tick().await.sent;
        if sent == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 1, "placed again after the reconnection");
    assert_eq!(task_of(&c, &r).attempts, 2);
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
