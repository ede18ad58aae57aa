//! Telling the organizations and the administration, through real peers: a
//! webhook receiver that checks the signature and sees each delivery's key,
//! and a real SMTP server (Python's standard `smtpd`) that receives the
//! mails. A dispatch reaches the organization by both channels (after a
//! failing webhook is retried), an overdue emergency and an escalation
//! reach the administration, and a busy organization gets one digest.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{Duration, TimeZone, Utc};
use kontakt_api::bus::Bus;
use kontakt_api::dialer::verify_signature;
use kontakt_api::jobs::Jobs;
use kontakt_api::metrics::Metrics;
use kontakt_api::notify::{Notifier, SmtpSettings};
use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city};
use kontakt_workflow::delivery::Delivery;
use kontakt_workflow::model::{Actor, Channel, Role};
use kontakt_workflow::notify::NoticeStatus;
use kontakt_workflow::service::{ADMINISTRATION, AddressPoint};
use kontakt_workflow::{Applicant, Kontakt, ManualClock, NewRequest, Request};
use serde_json::Value;

const SECRET: &str = "water-utility-webhook-secret-0123456789";

/// A real SMTP server: Python's `smtpd`, each message parsed and written as JSON.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SINK: &str = r#"
import sys, os, json, warnings
warnings.simplefilter("ignore")
import asyncore, smtpd, email, email.policy
class Sink(smtpd.SMTPServer):
    n = 0
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        Sink.n += 1
        m = email.message_from_bytes(data, policy=email.policy.default)
        plain = m.get_body(("plain",))
        html = m.get_body(("html",))
        out = {"from": mailfrom, "to": rcpttos, "subject": str(m["subject"]),
               "plain": plain.get_content() if plain else "", "html": html.get_content() if html else "",
               "attachments": [[a.get_filename(), a.get_content_type(), len(a.get_content())] for a in m.iter_attachments()]}
        with open(os.path.join(sys.argv[1], "%03d.json" % Sink.n), "w") as f:
            json.dump(out, f, ensure_ascii=False)
s = Sink(("127.0.0.1", 0), None, decode_data=False)
print(s.socket.getsockname()[1], flush=True)
asyncore.loop()
"#;

fn smtp_sink(dir: &Path) -> SmtpSink {
    let mut child = Process::new("python3")
        .args(["-c", SINK, dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the SMTP server");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    SmtpSink { child, port: line.trim().parse().expect("the SMTP server's port"), dir: dir.to_path_buf() }
}

impl SmtpSink {
    fn mails(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.iter().filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()).collect()
    }
}

/// A webhook receiver: refuses the first `fail` posts, checks every signature.
#[derive(Clone, Default)]
struct Receiver {
    posts: Arc<Mutex<Vec<(String, Value)>>>,
    fail: Arc<Mutex<usize>>,
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let now = Utc::now().timestamp();
    if verify_signature(SECRET.as_bytes(), &h("x-kontakt-timestamp"), &body, &h("x-kontakt-signature"), now)
        .is_err()
    {
        return StatusCode::UNAUTHORIZED;
    }
    rx.posts.lock().unwrap().push((h("idempotency-key"), serde_json::from_slice(&body).unwrap()));
    let mut fail = rx.fail.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}

struct City {
    kontakt: Kontakt,
    clock: Arc<ManualClock>,
    jobs: Jobs,
    _dir: tempfile::TempDir,
}

fn register(c: &City, category: &str, address: &str) -> Request {
    let new = NewRequest {
        category: code(category),
        address: AddressPoint::Id(address.into()),
        description: "нет воды во всём доме".into(),
        channel: Channel::Phone,
        applicant: Applicant::default(),
        raise_reason: None,
        incident: None,
    };
    c.kontakt.register(new, &Actor::person("op", Role::Operator, None)).unwrap().request
}

#[tokio::test]
async fn organizations_and_the_administration_are_told_by_webhook_and_mail() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = tempfile::tempdir().unwrap();
    let sink = smtp_sink(mail_dir.path());
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap()));
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let kontakt = Kontakt::new(store.clone(), clock.clone());
    small_city(&kontakt, 4).unwrap();

    let rx = Receiver::default();
    *rx.fail.lock().unwrap() = 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let admin = Actor::person("admin", Role::Admin, None);
    let water = Delivery {
        webhook_url: Some(url),
        webhook_secret: Some(SECRET.into()),
        emails: vec!["dispatch@water.example".into()],
        ..Default::default()
    };
    kontakt.set_delivery("water", &water, &admin).unwrap();
    let zhek =
        Delivery { emails: vec!["zhek@city.example".into()], digest_minutes: 30, ..Default::default() };
    kontakt.set_delivery("zhek", &zhek, &admin).unwrap();
    kontakt
        .set_delivery(
            ADMINISTRATION,
            &Delivery { emails: vec!["mayor@city.example".into()], ..Default::default() },
            &admin,
        )
        .unwrap();
    assert!(
        kontakt
            .set_delivery(
                "water",
                &Delivery { webhook_url: Some("ftp://x".into()), ..Default::default() },
                &admin
            )
            .is_err()
    );

    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port,
        from: "Контакт-центр <kontakt@city.example>".into(),
        tls: "none".into(),
        username: None,
        password: None,
    };
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(kontakt.clone(), store.clone(), bus.clone()));
    let jobs = Jobs::new(kontakt.clone(), bus, metrics, vec![], 64)
        .with_notifier(Notifier::new(kontakt.clone(), Some(&smtp)).unwrap());
    let c = City { kontakt, clock, jobs, _dir: dir };

    // A request for the water utility: its notice is written with the dispatch.
    let r = register(&c, "cat-2", "a0");
    let notices = c.kontakt.notices_of(r.id).unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        (notices[0].kind.as_str(), notices[0].organization.as_ref().map(|o| o.as_str())),
        ("DISPATCHED", Some("water"))
    );

    // The webhook is down at first: the failure is kept on the notice, and retried.
    let first = c.jobs.notify_tick().await;
    assert_eq!(first.failed, 1, "{first:?}");
    let n = c.kontakt.notices_of(r.id).unwrap().remove(0);
    assert_eq!(n.status, NoticeStatus::Failing);
    assert!(n.failing_since.is_some() && n.last_error.as_deref().is_some_and(|e| e.contains("503")), "{n:?}");
    assert_eq!(c.jobs.notify_tick().await.delivered, 0, "not before its backoff");
    c.clock.advance(Duration::minutes(1));
    assert_eq!(c.jobs.notify_tick().await.delivered, 1);
    let n = c.kontakt.notices_of(r.id).unwrap().remove(0);
    assert_eq!(
        (n.status, n.channels.clone()),
        (NoticeStatus::Delivered, vec!["webhook".to_string(), "email".into()])
    );
    let posts = rx.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2);
    assert!(
        posts.iter().all(|(key, _)| key == &n.id),
        "one key for the notice: the receiver drops the repeat"
    );
    assert_eq!(posts[1].1["notices"][0]["number"], r.number.to_string());
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["to"][0], "dispatch@water.example");
    let subject = mails[0]["subject"].as_str().unwrap();
    assert!(subject.contains(&r.number.to_string()) && subject.contains("направлена вам"), "{subject}");
    assert!(mails[0]["plain"].as_str().unwrap().contains("нет воды во всём доме"));
    assert!(mails[0]["html"].as_str().unwrap().contains("<li>"));

    // An emergency past its deadline, then twice past it: the administration hears both.
    let emergency = register(&c, "cat-0", "a1");
    c.clock.advance(Duration::hours(7));
    c.jobs.sweep_tick().await;
    c.clock.advance(Duration::hours(6));
    c.jobs.sweep_tick().await;
    c.jobs.notify_tick().await;
    let to_admin: Vec<String> = sink
        .mails()
        .iter()
        .filter(|m| m["to"][0] == "mayor@city.example")
        .map(|m| m["subject"].as_str().unwrap().to_string())
        .collect();
    assert!(
        to_admin.iter().any(|s| s.contains("просрочена") && s.contains(&emergency.number.to_string())),
        "{to_admin:?}"
    );
    assert!(to_admin.iter().any(|s| s.contains("эскалирована")), "{to_admin:?}");

    // A busy housing office takes a digest: two dispatches, one mail once the period is over.
    let d1 = register(&c, "cat-1", "a0");
    let d2 = register(&c, "cat-1", "a2");
    let held = c.jobs.notify_tick().await;
    assert_eq!(held.held, 2, "{held:?}");
    assert!(!sink.mails().iter().any(|m| m["to"][0] == "zhek@city.example"));
    c.clock.advance(Duration::minutes(31));
    c.jobs.notify_tick().await;
    let digests: Vec<Value> =
        sink.mails().into_iter().filter(|m| m["to"][0] == "zhek@city.example").collect();
    assert_eq!(digests.len(), 1, "one digest");
    let body = digests[0]["plain"].as_str().unwrap();
    assert!(body.contains(&d1.number.to_string()) && body.contains(&d2.number.to_string()), "{body}");
    assert!(digests[0]["subject"].as_str().unwrap().contains("2 уведомления"));

    // The morning report reaches the administration with its CSV and XLSX.
    c.clock.advance(Duration::days(1));
    let date = c.jobs.report_tick().await.expect("the report is made");
    let report = sink
        .mails()
        .into_iter()
        .find(|m| m["subject"].as_str().unwrap().contains("ежедневный отчёт"))
        .expect("the report is mailed");
    assert_eq!(report["to"][0], "mayor@city.example");
    let files: Vec<(String, String)> = report["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a[0].as_str().unwrap().to_string(), a[1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        files,
        vec![
            (format!("kontakt-daily-{date}.csv"), "text/csv".to_string()),
            (
                format!("kontakt-daily-{date}.xlsx"),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn deliveries_survive_a_kill_9_signed_and_each_under_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let env = [("KONTAKT__JOBS__NOTIFY", "*/1 * * * * *")];
    let mut server = kontakt_tests::app::spawn(dir.path(), &["--demo"], &env);
    let admin = server.token("ADMIN");
    let (_, b) = server.gql(Some(&admin), "{ organizations { id } }", serde_json::json!({})).await;
    for org in b["data"]["organizations"].as_array().unwrap() {
        let (_, b) = server
            .gql(
                Some(&admin),
                "mutation($r: ID!, $u: String!, $s: String!) { setDelivery(recipient: $r, input: { webhookUrl: $u, webhookSecret: $s }) }",
                serde_json::json!({ "r": org["id"], "u": url, "s": SECRET }),
            )
            .await;
        assert_eq!(b["data"]["setDelivery"], true, "{b}");
    }
    // Twenty dispatches, and the server dies while their notices are being delivered.
    let op = server.token("OPERATOR");
    let mut ids = Vec::new();
    for n in 0..20 {
        let (_, b) = server
            .gql(
                Some(&op),
                r#"mutation($d: String!) { registerRequest(input: { categoryCode: "no-cold-water", addressId: "g001-010", description: $d }) { id } }"#,
                serde_json::json!({ "d": format!("Нет холодной воды, звонок {n}") }),
            )
            .await;
        ids.push(b["data"]["registerRequest"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    server.kill();
    let before = rx.posts.lock().unwrap().len();
    let server = kontakt_tests::app::spawn(dir.path(), &[], &env);
    let mut keys = std::collections::HashSet::new();
    for _ in 0..300 {
        keys = rx.posts.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
        if ids.iter().all(|id| keys.iter().any(|k| k.starts_with(&format!("{id}/")))) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for id in &ids {
        assert!(
            keys.iter().any(|k| k.starts_with(&format!("{id}/"))),
            "the dispatch of {id} was delivered (before the kill: {before})"
        );
    }
    // Every post carried a valid signature (the receiver refuses others) and a
    // repeat after the kill carries the key of the first, for the receiver to drop.
    let posts = rx.posts.lock().unwrap().clone();
    for (key, body) in &posts {
        assert_eq!(body["notices"][0]["id"].as_str(), Some(key.as_str()));
    }
    let (_, b) = server
        .gql(
            Some(&op),
            r#"query($id: ID!) { request(id: $id) { notifications { status channels } } }"#,
            serde_json::json!({ "id": ids[0] }),
        )
        .await;
    assert_eq!(b["data"]["request"]["notifications"][0]["status"], "DELIVERED", "{b}");
}
