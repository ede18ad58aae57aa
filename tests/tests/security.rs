//! Security regressions, each against the real server binary over HTTP and
//! websockets: sockets that outlived their token, authority through
//! incidents, what a contractor can learn about other organizations' numbers,
//! forged tokens, panics from far dates, personal data in Open311 and in the
//! logs, replayed callback outcomes, formula cells in CSV, socket abuse, and
//! a client that speaks the legacy protocol after offering both.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use kontakt_tests::app::{TEST_SECRET, TestApp, WsClient, WsRefused, claims, mint, spawn, spawn_demo};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::{Bytes, Message};

const REGISTER: &str = r#"mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number status organization { id } } }"#;

fn card(category: &str, address: &str) -> Value {
    json!({ "input": {
        "categoryCode": category, "addressId": address, "description": "Проверка",
        "applicant": { "name": "Иванова Анна", "phone": "+78564123456", "callbackConsent": true }
    }})
}

async fn register(app: &TestApp, category: &str, address: &str) -> (String, String) {
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), REGISTER, card(category, address)).await;
    let r = &b["data"]["registerRequest"];
    (
        r["id"].as_str().unwrap_or_else(|| panic!("registered: {b}")).into(),
        r["number"].as_str().unwrap().into(),
    )
}

async fn issue(app: &TestApp, role: &str, ttl: &str) -> (String, String) {
    let (_, b) = app
        .gql(
            Some(&app.token("ADMIN")),
            &format!(r#"mutation {{ issueToken(role: {role}, ttl: "{ttl}") {{ token jti }} }}"#),
            json!({}),
        )
        .await;
    let t = &b["data"]["issueToken"];
    (t["token"].as_str().unwrap_or_else(|| panic!("issued: {b}")).into(), t["jti"].as_str().unwrap().into())
}

fn code_of(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

/// Reads frames until the socket closes (within `secs`): the frames seen, and the close code.
async fn until_closed(ws: &mut WsClient, secs: u64) -> (Vec<Value>, Option<u16>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, ws.next_raw()).await {
            Ok(Some(Ok(v))) => seen.push(v),
            Ok(Some(Err(code))) => return (seen, Some(code)),
            Ok(None) | Err(_) => return (seen, None),
        }
    }
}

/// Item 1: a revoked token's socket ends every subscription with one error and closes 4403.
#[tokio::test]
async fn a_socket_closes_soon_after_its_token_is_revoked_with_one_error_per_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (token, jti) = issue(&app, "OPERATOR", "PT1H").await;
    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    ws.subscribe("events", "subscription { requestEvents { kind } }", json!({})).await;
    ws.subscribe("board", "subscription { slaBoard { unrouted } }", json!({})).await;
    assert!(ws.next_payload(5).await.is_some(), "the board answers at once");
    let (_, b) = app
        .gql(Some(&app.token("ADMIN")), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["revokeToken"], true, "{b}");
    // Something happens after the revocation: nothing of it may reach the socket.
    register(&app, "pothole", "g001-003").await;
    let (frames, closed) = until_closed(&mut ws, 5).await;
    assert_eq!(closed, Some(4403), "closed by the server within 5 s: {frames:?}");
    let errors: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
    assert_eq!(errors.len(), 2, "one error per running subscription: {frames:?}");
    assert!(errors.iter().all(|e| e["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"), "{frames:?}");
    assert!(!frames.iter().any(|f| f["type"] == "next"), "no event after the revocation: {frames:?}");
}

/// Sockets asking for the same subscription in the same scope share one
/// execution; revoking one of their tokens closes that socket only, and a
/// board joined late still answers at once with the current state.
#[tokio::test]
async fn a_shared_subscription_ends_only_for_the_revoked_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (doomed, jti) = issue(&app, "OPERATOR", "PT1H").await;
    let (kept, _) = issue(&app, "OPERATOR", "PT1H").await;
    let events = "subscription { requestEvents { kind request { number } } }";
    let mut a =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": doomed })).await.unwrap();
    let mut b = WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": kept })).await.unwrap();
    a.subscribe("e", events, json!({})).await;
    b.subscribe("mine", events, json!({})).await;
    a.subscribe("board", "subscription { slaBoard { unrouted } }", json!({})).await;
    assert!(a.next_payload(5).await.is_some(), "the board answers at once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, number) = register(&app, "pothole", "g001-003").await;
    for (ws, id) in [(&mut a, "e"), (&mut b, "mine")] {
        let frame = loop {
            let f = ws.next_raw().await.unwrap().unwrap();
            if f["id"] == id {
                break f;
            }
        };
        assert_eq!(frame["type"], "next");
        assert_eq!(
            frame["payload"]["data"]["requestEvents"]["request"]["number"],
            number.as_str(),
            "{frame}"
        );
    }
    let (_, r) = app
        .gql(Some(&app.token("ADMIN")), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({}))
        .await;
    assert_eq!(r["data"]["revokeToken"], true, "{r}");
    let (_, closed) = until_closed(&mut a, 5).await;
    assert_eq!(closed, Some(4403), "the revoked token's socket closes");
    let (_, later) = register(&app, "pothole", "g001-004").await;
    let mut heard = Vec::new();
    while let Some(p) = b.next_payload(5).await {
        let n = p["data"]["requestEvents"]["request"]["number"].as_str().unwrap_or_default().to_string();
        heard.push(n.clone());
        if n == later {
            break;
        }
    }
    assert!(heard.contains(&later), "the other subscriber still hears events: {heard:?}");
    // A board joined while another socket already runs it gets the current state at once.
    let mut c = WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": kept })).await.unwrap();
    c.subscribe("board", "subscription { slaBoard { unrouted } }", json!({})).await;
    let mut d = WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": kept })).await.unwrap();
    d.subscribe("board", "subscription { slaBoard { unrouted } }", json!({})).await;
    assert!(c.next_payload(5).await.is_some() && d.next_payload(5).await.is_some(), "both boards answer");
}

/// Item 1: an operation sent on a socket after its token was revoked does not run.
#[tokio::test]
async fn an_operation_sent_after_the_revocation_is_not_executed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (token, jti) = issue(&app, "OPERATOR", "PT1H").await;
    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    app.gql(Some(&app.token("ADMIN")), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({}))
        .await;
    ws.subscribe("reg", REGISTER, card("pothole", "g001-004")).await;
    let (frames, closed) = until_closed(&mut ws, 5).await;
    assert_eq!(closed, Some(4403), "{frames:?}");
    assert!(!frames.iter().any(|f| f["type"] == "next"), "the mutation did not run: {frames:?}");
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            r#"{ requests(first: 1, filter: {text: "Проверка"}) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["requests"]["totalCount"], 0, "nothing was registered: {b}");
}

/// Item 1: at expiry the server closes the socket itself.
#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (token, _) = issue(&app, "SUPERVISOR", "PT2S").await;
    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    ws.subscribe("events", "subscription { requestEvents { kind } }", json!({})).await;
    let (frames, closed) = until_closed(&mut ws, 10).await;
    assert_eq!(closed, Some(4403), "{frames:?}");
    assert_eq!(frames.iter().filter(|f| f["type"] == "error").count(), 1, "{frames:?}");
}

/// Item 2: forged tokens for organizations that do not exist, or issued in the future.
#[tokio::test]
async fn tokens_for_unknown_organizations_or_issued_in_the_future_are_refused_and_issued_ones_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let ghost = mint(&claims("CONTRACTOR", Some("no-such-org")), TEST_SECRET);
    let mut future = claims("OPERATOR", None);
    future["iat"] = json!(chrono::Utc::now().timestamp() + 3600);
    let future = mint(&future, TEST_SECRET);
    for (what, token) in [("unknown organization", ghost), ("issued in the future", future)] {
        let (status, body) = app.gql(Some(&token), "{ me { role } }", json!({})).await;
        assert_eq!((status, code_of(&body).as_deref()), (401, Some("UNAUTHENTICATED")), "{what}: {body}");
        let ws = WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await;
        assert_eq!(ws.err(), Some(WsRefused::Closed(4403)), "{what} over a websocket");
    }
    let (_, jti) = issue(&app, "OPERATOR", "PT1H").await;
    app.gql(Some(&app.token("ADMIN")), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({}))
        .await;
    let list = "{ tokens(first: 1000) { jti role subject issuedBy revokedBy expiresAt } }";
    let (_, b) = app.gql(Some(&app.token("ADMIN")), list, json!({})).await;
    let mine = b["data"]["tokens"].as_array().unwrap().iter().find(|t| t["jti"] == jti.as_str()).cloned();
    let mine = mine.unwrap_or_else(|| panic!("the issued token is listed: {b}"));
    assert_eq!(
        (&mine["role"], &mine["issuedBy"], &mine["revokedBy"]),
        (&json!("OPERATOR"), &json!("admin-demo"), &json!("admin-demo"))
    );
    let (_, b) = app.gql(Some(&app.token("SUPERVISOR")), list, json!({})).await;
    assert_eq!(code_of(&b).as_deref(), Some("FORBIDDEN"), "only admins list tokens: {b}");
}

/// Item 4: an operator can neither move nor resolve a dispatched request through an incident.
#[tokio::test]
async fn an_operator_cannot_move_or_resolve_a_request_through_an_incident() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let (id, number) = register(&app, "pothole", "g001-005").await;
    let (_, b) = app
        .gql(Some(&op), r#"mutation { createIncident(input: {title: "Ловушка", kind: "power", organizationId: "res-gorlovka", addressIds: ["g001-005"]}) { id } }"#, json!({}))
        .await;
    let incident = b["data"]["createIncident"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let (_, b) = app
        .gql(Some(&op), &format!(r#"mutation {{ linkToIncident(id: "{id}", incidentId: "{incident}") {{ organization {{ id }} incident {{ id }} }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["linkToIncident"]["organization"]["id"], "roads-gorlovka", "not moved: {b}");
    assert_eq!(b["data"]["linkToIncident"]["incident"]["id"], incident.as_str(), "but linked: {b}");
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(r#"mutation {{ endIncident(id: "{incident}", resolution: "Сделано") {{ status }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["endIncident"]["status"], "ENDED", "{b}");
    let (_, b) = app
        .gql(Some(&op), &format!(r#"{{ request(number: "{number}") {{ status callbacks {{ id }} history {{ kind actor }} }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["request"]["status"], "DISPATCHED", "not resolved by the operator's ending: {b}");
    assert_eq!(b["data"]["request"]["callbacks"], json!([]), "nobody is called: {b}");

    // A supervisor's link moves it, and a supervisor's ending resolves it in the supervisor's name.
    let sup = app.token("SUPERVISOR");
    let (_, b) = app
        .gql(Some(&sup), r#"mutation { createIncident(input: {title: "Авария", kind: "power", organizationId: "res-gorlovka", addressIds: ["g001-005"]}) { id } }"#, json!({}))
        .await;
    let second = b["data"]["createIncident"]["id"].as_str().unwrap().to_string();
    let (_, b) = app
        .gql(Some(&sup), &format!(r#"mutation {{ linkToIncident(id: "{id}", incidentId: "{second}") {{ organization {{ id }} }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["linkToIncident"]["organization"]["id"], "res-gorlovka", "{b}");
    app.gql(
        Some(&sup),
        &format!(
            r#"mutation {{ endIncident(id: "{second}", resolution: "Питание восстановлено") {{ status }} }}"#
        ),
        json!({}),
    )
    .await;
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(r#"{{ request(number: "{number}") {{ status history {{ kind actor }} }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["request"]["status"], "RESOLVED", "{b}");
    let last = b["data"]["request"]["history"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (&last["kind"], &last["actor"]),
        (&json!("RESOLVED"), &json!("supervisor-demo")),
        "the real actor"
    );
}

/// Item 5: another organization's request reads exactly as one that does not exist.
#[tokio::test]
async fn a_contractor_cannot_tell_another_organizations_request_from_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (id, number) = register(&app, "pothole", "g001-006").await;
    let crew = app.token("zhek-central");
    let missing_number = "2099-999999";
    let missing_id = "01M8NHHCP9AD3Y6KHC45FXS3XT";
    let q = |n: &str| format!(r#"{{ request(number: "{n}") {{ status }} }}"#);
    let (_, theirs) = app.gql(Some(&crew), &q(&number), json!({})).await;
    let (_, absent) = app.gql(Some(&crew), &q(missing_number), json!({})).await;
    assert_eq!(theirs, absent, "the same answer for both");
    for op in [
        |x: &str| format!(r#"mutation {{ acceptRequest(id: "{x}") {{ status }} }}"#),
        |x: &str| format!(r#"{{ requestHistory(id: "{x}") {{ kind }} }}"#),
    ] {
        let (_, theirs) = app.gql(Some(&crew), &op(&id), json!({})).await;
        let (_, absent) = app.gql(Some(&crew), &op(missing_id), json!({})).await;
        assert_eq!(code_of(&theirs).as_deref(), Some("NOT_FOUND"), "{theirs}");
        assert_eq!(theirs["errors"][0]["message"], absent["errors"][0]["message"], "{theirs} vs {absent}");
    }
}

/// Item 9: inputs that used to panic the server get a coded error.
#[tokio::test]
async fn far_dates_and_endless_durations_get_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let admin = app.token("ADMIN");
    let (_, b) = app
        .gql(
            Some(&admin),
            r#"mutation { issueToken(role: OPERATOR, ttl: "PT9999999999999999S") { jti } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code_of(&b).as_deref(), Some("VALIDATION"), "{b}");
    let (status, body) = app.get("/open311/v2/requests.json?start_date=%2B262142-12-31").await;
    assert_eq!(status, 400, "{body}");
    let (_, b) = app
        .gql(Some(&admin), r#"{ organizationPerformance(from: "-262143-01-01T00:00:00Z", to: "+262142-12-31T00:00:00Z") { total { rate } } }"#, json!({}))
        .await;
    assert_eq!(code_of(&b).as_deref(), Some("VALIDATION"), "{b}");
    let (_, b) = app.gql(Some(&admin), r#"{ dailyReport(date: "+262142-12-31") { date } }"#, json!({})).await;
    assert!(code_of(&b).is_some(), "{b}");
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "still serving");
}

/// Item 10: staff text never reaches an anonymous Open311 reader.
#[tokio::test]
async fn anonymous_open311_reads_show_only_the_public_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (id, number) = register(&app, "pothole", "g001-007").await;
    let crew = app.token("roads-gorlovka");
    app.gql(Some(&crew), &format!(r#"mutation {{ rejectRequest(id: "{id}", reason: "Звонила Петрова +78560001122, не наше") {{ status }} }}"#), json!({})).await;
    let (_, anon) = app.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert!(!anon.contains("Петрова") && !anon.contains("status_notes"), "{anon}");
    let (_, staff) =
        app.get(&format!("/open311/v2/requests/{number}.json?api_key={}", app.token("OPERATOR"))).await;
    assert!(staff.contains("Петрова"), "a key of an entitled role reads staff notes: {staff}");
    let sup = app.token("SUPERVISOR");
    app.gql(Some(&sup), &format!(r#"mutation {{ reassignRequest(id: "{id}", organizationId: "roads-gorlovka", reason: "дороги") {{ status }} }}"#), json!({})).await;
    app.gql(Some(&crew), &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Яму заделали", note: "бригада Сидорова, тел. 8 856 000 11 22") {{ status }} }}"#), json!({})).await;
    let (_, anon) = app.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert!(anon.contains("Яму заделали"), "the public resolution is shown: {anon}");
    assert!(!anon.contains("Сидорова") && !anon.contains("000 11 22"), "the internal note is not: {anon}");
}

/// Item 11: the log dialer masks the phone it calls.
#[tokio::test]
async fn logs_never_carry_an_applicants_whole_phone() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__JOBS__CALLBACKS", "*/1 * * * * *"), ("KONTAKT_LOG", "debug")],
    );
    let (id, _) = register(&app, "pothole", "g001-008").await;
    app.gql(
        Some(&app.token("roads-gorlovka")),
        &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Готово") {{ status }} }}"#),
        json!({}),
    )
    .await;
    let mut called = false;
    for _ in 0..50 {
        if app.output().iter().any(|l| l.contains("KONTAKT_CALLBACK")) {
            called = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(called, "the callback was placed");
    let out = app.output().join("\n");
    assert!(out.contains("*********56"), "the last two digits identify the call");
    for form in ["78564123456", "8564123456", "4123456", "Иванова"] {
        assert!(!out.contains(form), "{form} in the log");
    }
}

fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Item 14: a captured outcome cannot be replayed, nor sent late, nor for another attempt.
#[tokio::test]
async fn a_replayed_stale_or_foreign_callback_outcome_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "outcome-secret-of-the-pbx-gateway-0123456789";
    let app = spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__JOBS__CALLBACKS", "*/1 * * * * *"), ("KONTAKT__CALLBACKS__OUTCOME_SECRET", secret)],
    );
    let (id, number) = register(&app, "pothole", "g001-009").await;
    app.gql(
        Some(&app.token("roads-gorlovka")),
        &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Готово") {{ status }} }}"#),
        json!({}),
    )
    .await;
    let op = app.token("OPERATOR");
    let task = async || {
        let (_, b) = app.gql(Some(&op), &format!(r#"{{ request(number: "{number}") {{ status callbacks {{ id status attempts attemptKey }} }} }}"#), json!({})).await;
        b["data"]["request"].clone()
    };
    let mut sent = Value::Null;
    for _ in 0..50 {
        sent = task().await;
        if sent["callbacks"][0]["status"] == "SENT" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sent["callbacks"][0]["status"], "SENT", "{sent}");
    let (task_id, key) =
        (sent["callbacks"][0]["id"].as_str().unwrap(), sent["callbacks"][0]["attemptKey"].as_str().unwrap());
    let url = format!("{}/callbacks/outcome", app.base);
    let client = reqwest::Client::new();
    let post = async |body: &Value, ts: i64| {
        let raw = serde_json::to_vec(body).unwrap();
        client
            .post(&url)
            .header("x-kontakt-timestamp", ts.to_string())
            .header("x-kontakt-signature", sign(secret, ts, &raw))
            .body(raw)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let now = chrono::Utc::now().timestamp();
    let no_answer = json!({ "taskId": task_id, "attemptKey": key, "outcome": "NO_ANSWER" });
    assert_eq!(post(&no_answer, now - 600).await, 401, "signed ten minutes ago: a replay");
    assert_eq!(
        post(&json!({ "taskId": task_id, "outcome": "NO_ANSWER" }), now).await,
        400,
        "bound to an attempt"
    );
    assert_eq!(
        post(&json!({ "taskId": task_id, "attemptKey": "other-1", "outcome": "CONFIRMED" }), now).await,
        409
    );
    assert_eq!(post(&no_answer, now).await, 200, "the genuine answer");
    for _ in 0..3 {
        assert_eq!(post(&no_answer, now).await, 409, "the same body again is refused");
    }
    let after = task().await;
    assert_eq!(
        (&after["status"], &after["callbacks"][0]["status"]),
        (&json!("RESOLVED"), &json!("PENDING")),
        "{after}"
    );
    assert_eq!(after["callbacks"][0]["attempts"], 1, "one attempt answered once: {after}");
}

/// Item 14: a short outcome secret stops the server at start.
#[test]
fn an_outcome_secret_shorter_than_32_bytes_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(kontakt_tests::app::kontakt_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env("KONTAKT__CALLBACKS__OUTCOME_SECRET", "short")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway would serve for good: wait a while, then stop it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = server.wait_with_output().unwrap();
    assert!(status.is_some_and(|s| !s.success()), "the server must refuse to start");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 bytes"), "{out:?}");
}

/// Item 15: a name that begins like a formula is written so no spreadsheet runs it.
#[tokio::test]
async fn csv_reports_neutralise_cells_that_a_spreadsheet_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path(), &["--demo", "--demo-days", "3"], &[]);
    let admin = app.token("ADMIN");
    let (_, orgs) = app.gql(Some(&admin), "{ organizations { id kind subordination } }", json!({})).await;
    let org = orgs["data"]["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "roads-gorlovka")
        .cloned()
        .unwrap();
    let (_, b) = app
        .gql(Some(&admin), "mutation($i: OrganizationInput!) { upsertOrganization(input: $i) { id } }", json!({ "i": {
            "id": "roads-gorlovka", "nameRu": "=HYPERLINK(\"http://evil.example/\",\"Дороги\")", "nameEn": "@SUM(1)",
            "kind": org["kind"], "subordination": org["subordination"] } }))
        .await;
    assert!(code_of(&b).is_none(), "{b}");
    let yesterday =
        (chrono::Utc::now() + chrono::Duration::hours(3) - chrono::Duration::days(1)).date_naive();
    let bearer = format!("Bearer {}", app.token("SUPERVISOR"));
    let (status, _, csv) =
        app.get_with(&format!("/reports/daily/{yesterday}.csv"), &[("authorization", bearer.as_str())]).await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "the name is there, neutralised: {csv}");
    for cell in csv.lines().flat_map(|l| l.split(',')) {
        let cell = cell.trim_start_matches('"');
        assert!(!cell.starts_with(['=', '+', '@']), "a live formula cell {cell:?}");
        assert!(!cell.starts_with('-') || cell.parse::<f64>().is_ok(), "a live formula cell {cell:?}");
    }
}

/// Item 6: sockets that never initialise, oversized (fragmented) messages, too many operations or sockets.
#[tokio::test]
async fn socket_abuse_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(
        dir.path(),
        &["--demo"],
        &[
            ("KONTAKT__WS__INIT_TIMEOUT_SECS", "1"),
            ("KONTAKT__WS__MAX_SUBSCRIPTIONS", "3"),
            ("KONTAKT__WS__MAX_SOCKETS_PER_TOKEN", "2"),
        ],
    );
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let open = async || {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
        tokio_tungstenite::connect_async(req).await.unwrap().0
    };
    // Silent after the handshake: closed 4408.
    let mut idle = open().await;
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = idle.next().await {
            if let Message::Close(f) = m {
                return f.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(code, Some(4408));

    // A connection_init of 256 KiB sent in 16 KiB fragments: refused, never acknowledged.
    let mut big = open().await;
    let chunk = vec![b' '; 16 << 10];
    let mut first = true;
    for i in 0..16 {
        let opcode = if first { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        first = false;
        let header = FrameHeader { is_final: i == 15, opcode, ..FrameHeader::default() };
        if big.send(Message::Frame(Frame::from_payload(header, Bytes::from(chunk.clone())))).await.is_err() {
            break;
        }
    }
    let mut acked = false;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), big.next()).await {
        match m {
            Message::Text(t) if t.contains("connection_ack") => acked = true,
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert!(!acked, "an oversized message is never acknowledged");

    // Operations per socket and sockets per token.
    let token = app.token("SUPERVISOR");
    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    for i in 0..4 {
        ws.subscribe(&format!("s{i}"), "subscription { requestEvents { kind } }", json!({})).await;
    }
    let refused = ws.next_payload(5).await.unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "LIMIT", "{refused}");
    let _second =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    let third = WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await;
    assert_eq!(third.err(), Some(WsRefused::Closed(4429)));

    // Over the body limit on /graphql: a GraphQL-shaped JSON error.
    let (status, body) = app.post_raw(Some(&token), vec![b' '; 100_000]).await;
    assert_eq!((status, code_of(&body).as_deref()), (413, Some("PAYLOAD_TOO_LARGE")), "{body}");
}

/// Item 16: a client that offers both protocols legacy first, ignores the answer header and speaks legacy gets its events.
#[tokio::test]
async fn a_client_that_falls_back_to_the_legacy_protocol_gets_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let url = format!("{}/graphql/ws", app.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-ws, graphql-transport-ws"));
    let (mut ws, _ignored_answer) = tokio_tungstenite::connect_async(req).await.unwrap();
    let send = |v: Value| Message::Text(v.to_string().into());
    ws.send(send(json!({ "type": "connection_init", "payload": { "token": app.token("OPERATOR") } })))
        .await
        .unwrap();
    ws.send(send(json!({ "type": "start", "id": "1", "payload": { "query": "subscription { requestEvents { kind request { number } } }" } })))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, number) = register(&app, "pothole", "g001-010").await;
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "data" {
                    return v;
                }
            }
        }
        Value::Null
    })
    .await
    .unwrap();
    assert_eq!(got["payload"]["data"]["requestEvents"]["request"]["number"], number.as_str(), "{got}");
}

/// Item 8: `/metrics` behind a static bearer token when one is set.
#[tokio::test]
async fn metrics_can_be_put_behind_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path(), &["--demo"], &[("KONTAKT__HTTP__METRICS_TOKEN", "scrape-token-0123456789")]);
    let (status, _) = app.get("/metrics").await;
    assert_eq!(status, 401);
    let (status, _, _) = app.get_with("/metrics", &[("authorization", "Bearer wrong")]).await;
    assert_eq!(status, 401);
    let (status, _, body) =
        app.get_with("/metrics", &[("authorization", "Bearer scrape-token-0123456789")]).await;
    assert_eq!(status, 200);
    assert!(body.contains("kontakt_"), "{body}");
}

/// Item 7: a count reads a bounded number of entries and says when it stopped short; incidents come in pages.
#[tokio::test]
async fn counts_are_bounded_and_say_when_they_are_a_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path(), &["--demo", "--demo-days", "3"], &[("KONTAKT__GRAPHQL__COUNT_BUDGET", "10")]);
    let sup = app.token("SUPERVISOR");
    let count = async |filter: &str| {
        let q = format!("{{ requests(first: 1, filter: {filter}) {{ totalCount totalCountIsExact }} }}");
        let (_, b) = app.gql(Some(&sup), &q, json!({})).await;
        (
            b["data"]["requests"]["totalCount"].as_u64().unwrap_or_else(|| panic!("{b}")),
            b["data"]["requests"]["totalCountIsExact"].clone(),
        )
    };
    let (all, exact) = count("{}").await;
    assert!(all >= 10 && exact == json!(false), "past the budget: a lower bound ({all}, {exact})");
    let (none, exact) = count(r#"{district: "zz"}"#).await;
    assert_eq!((none, exact), (0, json!(false)), "a filter that matches nothing stops at the budget too");
    let (_, exact) = count("{status: [CANCELLED], registeredFrom: \"2020-01-01T00:00:00Z\", registeredTo: \"2020-01-02T00:00:00Z\"}").await;
    assert_eq!(exact, json!(true), "a small range is counted exactly");
    // Nineteen aliases of the worst count are still answered promptly.
    let aliases: String = (0..19)
        .map(|i| format!(r#"c{i}: requests(first: 1, filter: {{district: "zz"}}) {{ totalCount }} "#))
        .collect();
    let started = std::time::Instant::now();
    let (_, b) = app.gql(Some(&sup), &format!("{{ {aliases} }}"), json!({})).await;
    assert!(b.get("errors").is_none(), "{b}");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded: {:?}", started.elapsed());

    for t in ["Первая", "Вторая", "Третья"] {
        app.gql(Some(&sup), &format!(r#"mutation {{ createIncident(input: {{title: "{t}", kind: "power", addressIds: ["g001-001"]}}) {{ id }} }}"#), json!({})).await;
    }
    let page = async |after: Option<&str>| {
        let after = after.map_or(String::new(), |a| format!(r#", after: "{a}""#));
        let (_, b) = app.gql(Some(&sup), &format!("{{ incidents(first: 2{after}) {{ edges {{ node {{ title }} }} pageInfo {{ hasNextPage endCursor }} }} }}"), json!({})).await;
        b["data"]["incidents"].clone()
    };
    let first = page(None).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true, "{first}");
    let mut seen = first["edges"].as_array().unwrap().len();
    let mut after = first["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    while let Some(a) = after {
        let next = page(Some(&a)).await;
        seen += next["edges"].as_array().unwrap().len();
        after = next["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert!(seen >= 3, "every incident, page by page: {seen}");
}

/// Item 13: a retried registration with the same idempotency key makes one card.
#[tokio::test]
async fn a_retried_registration_with_the_same_key_makes_one_card() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let mut input = card("pothole", "g001-011");
    input["input"]["idempotencyKey"] = json!("call-7781-card-1");
    input["input"]["description"] = json!("Яма у подъезда, ключ 7781");
    // Five retries at once, as a client that timed out might send them.
    let answers =
        futures_util::future::join_all((0..5).map(|_| app.gql(Some(&op), REGISTER, input.clone()))).await;
    let numbers: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, b)| {
            b["data"]["registerRequest"]["number"].as_str().unwrap_or_else(|| panic!("{b}")).to_string()
        })
        .collect();
    assert_eq!(numbers.len(), 1, "every retry answers the first card: {numbers:?}");
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(
                r#"{{ request(number: "{}") {{ history {{ kind }} }} }}"#,
                numbers.iter().next().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        b["data"]["request"]["history"].as_array().unwrap().len(),
        2,
        "registered and dispatched once: {b}"
    );
    let mut other = input.clone();
    other["input"]["description"] = json!("Совсем другая заявка");
    let (_, b) = app.gql(Some(&op), REGISTER, other).await;
    assert_eq!(code_of(&b).as_deref(), Some("CONFLICT"), "the same key with another card: {b}");

    // Open311 with the Idempotency-Key header.
    let post = async |description: &str| {
        let form = format!(
            "api_key={}&service_code=pothole&address_id=g001-012&description={}",
            app.token("OPERATOR"),
            description
        );
        let resp = reqwest::Client::new()
            .post(format!("{}/open311/v2/requests.json", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("Idempotency-Key", "open311-retry-1")
            .body(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    let (s1, first) = post("pit").await;
    let (s2, again) = post("pit").await;
    assert_eq!((s1, s2), (200, 200), "{first} {again}");
    let id = |t: &str| serde_json::from_str::<Value>(t).unwrap()[0]["service_request_id"].clone();
    assert_eq!(id(&first), id(&again), "one card for both posts");
    let (s3, refused) = post("another").await;
    assert_eq!(s3, 409, "{refused}");
}

fn kontakt(args: &[&str], data: &std::path::Path) -> std::process::Output {
    std::process::Command::new(kontakt_tests::app::kontakt_bin())
        .args(args)
        .arg("--data")
        .arg(data)
        .env("KONTAKT_JWT_SECRET", TEST_SECRET)
        .env_remove("KONTAKT_CONFIG")
        .output()
        .expect("run kontakt")
}

/// Item 3: the command line works on a store a running server holds, through its socket, and never creates a store.
#[tokio::test]
async fn the_command_line_reaches_a_running_server_and_never_creates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let socket = dir.path().join("admin.sock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only the store's owner reaches the socket");

    let out = kontakt(
        &["token", "issue", "--role", "CONTRACTOR", "--org", "roads-gorlovka", "--ttl", "1h"],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let jti = String::from_utf8_lossy(&out.stderr).split_whitespace().nth(1).unwrap().to_string();
    let (status, b) = app.gql(Some(&token), "{ me { organization { id } } }", json!({})).await;
    assert_eq!((status, &b["data"]["me"]["organization"]["id"]), (200, &json!("roads-gorlovka")), "{b}");
    let (_, b) =
        app.gql(Some(&app.token("ADMIN")), "{ tokens(first: 1000) { jti issuedBy } }", json!({})).await;
    assert!(
        b["data"]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["jti"] == jti.as_str() && t["issuedBy"] == "kontakt-cli"),
        "{b}"
    );

    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    ws.subscribe("e", "subscription { requestEvents { kind } }", json!({})).await;
    let out = kontakt(&["token", "revoke", &jti], dir.path());
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("revoked"), "{out:?}");
    let (status, _) = app.gql(Some(&token), "{ me { role } }", json!({})).await;
    assert_eq!(status, 401, "revoked through the running server");
    let (_, closed) = until_closed(&mut ws, 5).await;
    assert_eq!(closed, Some(4403), "and its socket closed");

    let csv = dir.path().join("orgs.csv");
    std::fs::write(&csv, "id,name_ru,name_en,kind,subordination,district,crews,phone\nlift-service,Лифтсервис,Lift service,HOUSING,CITY,,4,\n").unwrap();
    let out = kontakt(&["import", "organizations", csv.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{out:?}");
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), "{ organizations { id } }", json!({})).await;
    assert!(
        b["data"]["organizations"].as_array().unwrap().iter().any(|o| o["id"] == "lift-service"),
        "imported while running: {b}"
    );

    let backup = tempfile::tempdir().unwrap();
    let dest = backup.path().join("copy");
    let out = kontakt(&["backup", dest.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{out:?}");
    let out = kontakt(&["check"], &dest);
    assert!(out.status.success(), "the copy is a clean store: {out:?}");
    let out = kontakt(&["check"], dir.path());
    assert!(out.status.success(), "check through the running server: {out:?}");

    // Nowhere near a store: a clear refusal, and nothing is created.
    let empty = tempfile::tempdir().unwrap();
    let out = kontakt(&["token", "issue", "--role", "OPERATOR"], empty.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no Kontakt store"), "{out:?}");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "no store was created");
}

/// Every file under `dir`, read whole.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Item 12: applicants are erased after the retention period and on an admin's order; the requests stay.
#[tokio::test]
async fn applicants_are_erased_after_retention_and_on_request_and_the_requests_stay() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__TESTING__MOVABLE_CLOCK", "true"), ("KONTAKT__JOBS__RETENTION", "*/1 * * * * *")],
    );
    let op = app.token("OPERATOR");
    let with_phone = |address: &str, name: &str, phone: &str| {
        json!({ "input": { "categoryCode": "pothole", "addressId": address, "description": "Яма",
            "applicant": { "name": name, "phone": phone, "callbackConsent": true } } })
    };
    let reg = async |input: Value| {
        let (_, b) = app.gql(Some(&op), REGISTER, input).await;
        b["data"]["registerRequest"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string()
    };
    let ended = reg(with_phone("g001-013", "Сидорова Мария", "+7 856 411 77 01")).await;
    let open = reg(with_phone("g001-014", "Сидорова Мария", "+7 856 411 77 01")).await;
    let asked = reg(with_phone("g001-015", "Кузнецов Пётр", "+7 856 411 77 02")).await;
    let crew = app.token("roads-gorlovka");
    app.gql(
        Some(&crew),
        &format!(r#"mutation {{ resolveRequest(id: "{ended}", resolution: "Заделали") {{ status }} }}"#),
        json!({}),
    )
    .await;
    app.gql(
        Some(&op),
        &format!(r#"mutation {{ closeRequest(id: "{ended}", note: "подтвердила") {{ status }} }}"#),
        json!({}),
    )
    .await;

    // The data subject asks: an admin erases by phone, in any form it was typed.
    let (_, b) = app
        .gql(Some(&app.token("ADMIN")), r#"mutation { eraseApplicant(phone: "8 (856) 411-77-02", reason: "заявление субъекта персональных данных") }"#, json!({}))
        .await;
    assert_eq!(b["data"]["eraseApplicant"], 1, "{b}");
    let view = async |token: &str, id: &str| {
        let q = format!(
            r#"{{ request(id: "{id}") {{ status applicant {{ name phone }} history {{ kind request {{ applicant {{ name phone }} }} }} }} }}"#
        );
        app.gql(Some(token), &q, json!({})).await.1["data"]["request"].clone()
    };
    let c = view(&op, &asked).await;
    assert_eq!(c["applicant"], json!({ "name": null, "phone": null }), "{c}");
    let kinds: Vec<&str> =
        c["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"APPLICANT_ERASED"), "an audit event: {kinds:?}");
    assert!(
        c["history"].as_array().unwrap().iter().all(|e| e["request"]["applicant"]["phone"].is_null()),
        "{c}"
    );

    // Three years and a day later the retention pass erases the ended request's applicant, not the open one's.
    let out = kontakt(&["token", "issue", "--role", "ADMIN", "--ttl", "30d"], dir.path());
    let admin_before = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let client = reqwest::Client::new();
    let moved = client
        .post(format!("{}/testing/clock", app.base))
        .bearer_auth(&admin_before)
        .json(&json!({ "advanceSecs": 1096 * 86_400 }))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status().as_u16(), 200);
    let out = kontakt(&["token", "issue", "--role", "ADMIN", "--ttl", "1h"], dir.path());
    let admin = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut a = Value::Null;
    for _ in 0..50 {
        a = view(&admin, &ended).await;
        if a["applicant"]["phone"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(a["applicant"], json!({ "name": null, "phone": null }), "erased after retention: {a}");
    assert_eq!(a["status"], "CLOSED", "the request stays");
    let b = view(&admin, &open).await;
    assert_eq!(b["applicant"]["phone"], "+78564117701", "an open request keeps its applicant: {b}");

    let out = kontakt(&["check"], dir.path());
    assert!(out.status.success(), "check is clean after erasure: {out:?}");
    let backup = tempfile::tempdir().unwrap();
    let copy = backup.path().join("copy");
    assert!(kontakt(&["backup", copy.to_str().unwrap()], dir.path()).status.success());
    let bytes = all_bytes(&copy);
    assert!(
        !contains(&bytes, "+78564117702") && !contains(&bytes, "Кузнецов"),
        "no erased applicant in the store's live data"
    );
    assert!(contains(&bytes, "+78564117701"), "the open request's applicant is kept");
}
