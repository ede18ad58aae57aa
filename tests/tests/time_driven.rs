//! Time-driven control with an injected clock: the escalation ladder taken
//! exactly once per step (also across a crash in the middle of a sweep), the
//! emergency feeds served by a local HTTP server (good, revised, cancelled,
//! expired and broken documents), incident coverage, and a linked batch
//! resolved when its incident ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{Duration, TimeZone, Utc};
use kontakt_api::bus::Bus;
use kontakt_api::config::{FeedFormat, FeedSource};
use kontakt_api::jobs::Jobs;
use kontakt_api::metrics::Metrics;
use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city, steps_of};
use kontakt_workflow::incidents::{Area, IncidentReport, IncidentStatus};
use kontakt_workflow::model::{Actor, Channel, RequestStatus, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, ManualClock, NewRequest, check};

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap()
}

struct City {
    kontakt: Kontakt,
    store: Arc<SledStore>,
}

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> City {
    let store = Arc::new(SledStore::open(dir).unwrap());
    let kontakt = Kontakt::new(store.clone(), clock);
    City { kontakt, store }
}

fn card(category: &str, address: &str, incident: Option<&str>) -> NewRequest {
    NewRequest {
        category: code(category),
        address: AddressPoint::Id(address.into()),
        description: "описание".into(),
        channel: Channel::Phone,
        applicant: Applicant::default(),
        raise_reason: None,
        incident: incident.map(str::to_string),
    }
}

fn operator() -> Actor {
    Actor::person("op", Role::Operator, None)
}

#[test]
fn each_ladder_step_is_taken_exactly_once_also_across_a_crash_mid_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let ids: Vec<_> = {
        let c = open(dir.path(), clock.clone());
        small_city(&c.kontakt, 20).unwrap();
        // cat-1 is SHORT (24 h): warning at 18 h, overdue at 24 h, escalated at 48 h.
        (0..60)
            .map(|i| {
                c.kontakt
                    .register(card("cat-1", &format!("a{}", i % 20), None), &operator())
                    .unwrap()
                    .request
                    .id
            })
            .collect()
    };
    clock.advance(Duration::hours(18));
    {
        let c = open(dir.path(), clock.clone());
        assert_eq!(c.kontakt.sweep(25).unwrap().len(), 25, "a bounded batch");
        // The process dies here: 25 warned, 35 not yet.
    }
    let c = open(dir.path(), clock.clone());
    assert_eq!(c.kontakt.sweep(1000).unwrap().len(), 35, "the rest after the restart");
    assert!(c.kontakt.sweep(1000).unwrap().is_empty(), "nothing twice");
    for id in &ids {
        assert_eq!(steps_of(&c.kontakt, *id), vec!["WARNING"]);
    }
    // The clock jumps past both remaining steps at once: both are taken, in order, once.
    clock.advance(Duration::hours(40));
    let outcomes = c.kontakt.sweep(1000).unwrap();
    assert_eq!(outcomes.len(), 60);
    assert!(c.kontakt.sweep(1000).unwrap().is_empty());
    for id in &ids {
        assert_eq!(steps_of(&c.kontakt, *id), vec!["WARNING", "OVERDUE", "ESCALATED"]);
        assert_eq!(c.kontakt.request(*id).unwrap().unwrap().status, RequestStatus::Overdue);
    }
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}

#[tokio::test]
async fn the_sweep_job_publishes_each_step_to_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let c = open(dir.path(), clock.clone());
    small_city(&c.kontakt, 4).unwrap();
    let r = c.kontakt.register(card("cat-0", "a0", None), &operator()).unwrap().request; // EMERGENCY, 6 h
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let jobs = Jobs::new(c.kontakt.clone(), bus.clone(), metrics, vec![], 100);
    let mut rx = bus.subscribe();
    clock.advance(Duration::hours(5)); // past 75 % (4.5 h)
    assert_eq!(jobs.sweep_tick().await.steps, 1);
    let p = rx.recv().await.unwrap();
    assert_eq!((p.event.kind.name(), p.request.id), ("WARNING", r.id));
    clock.advance(Duration::hours(1));
    assert_eq!(jobs.sweep_tick().await.steps, 1);
    let p = rx.recv().await.unwrap();
    assert_eq!((p.event.kind.name(), p.request.status), ("OVERDUE", RequestStatus::Overdue));
    assert_eq!(jobs.sweep_tick().await.steps, 0, "nothing due");
}

fn report(identifier: &str, area: Area) -> IncidentReport {
    IncidentReport {
        source: "manual".into(),
        identifier: identifier.into(),
        title: "Отключение электроэнергии".into(),
        kind: "power".into(),
        organization: Some(code("res")),
        started_at: start(),
        expected_end_at: None,
        area,
        area_description: None,
        ended: None,
    }
}

#[test]
fn ending_an_incident_resolves_its_linked_requests_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let c = open(dir.path(), clock.clone());
    small_city(&c.kontakt, 30).unwrap();
    let area = Area { streets: vec!["ул. Тестовая 0".into()], ..Default::default() };
    let incident =
        c.kontakt.report_incident(report("outage-1", area), &operator()).unwrap().unwrap().incident;
    // Linked at registration they go to the incident's organization, whatever routing says.
    let linked: Vec<_> = (0..30)
        .map(|i| {
            c.kontakt
                .register(card("cat-2", &format!("a{i}"), Some(&incident.id)), &operator())
                .unwrap()
                .request
        })
        .collect();
    assert!(linked.iter().all(|r| r.organization.as_ref().map(|o| o.as_str()) == Some("res")));
    let unrelated = c.kontakt.register(card("cat-2", "a1", None), &operator()).unwrap().request;
    // One linked later, by hand; one already resolved by its crew.
    let later = c.kontakt.register(card("cat-3", "a2", None), &operator()).unwrap().request;
    c.kontakt.link_to_incident(later.id, &incident.id, &operator()).unwrap();
    let crew = Actor::person("crew", Role::Contractor, Some(code("res")));
    c.kontakt
        .execute(
            linked[0].id,
            kontakt_workflow::Command::Resolve { resolution: "раньше".into(), note: None },
            &crew,
        )
        .unwrap();

    clock.advance(Duration::hours(3));
    let supervisor = Actor::person("sup", Role::Supervisor, None);
    let change = c.kontakt.end_incident(&incident.id, "Питание восстановлено", &supervisor).unwrap();
    assert_eq!(change.incident.status, IncidentStatus::Ended);
    assert_eq!(change.resolved.len(), 30, "29 open at registration plus the one linked later");
    for r in linked.iter().skip(1).chain([&later]) {
        let now = c.kontakt.request(r.id).unwrap().unwrap();
        assert_eq!(
            (now.status, now.resolution.as_deref()),
            (RequestStatus::Resolved, Some("Питание восстановлено"))
        );
    }
    assert_eq!(c.kontakt.request(linked[0].id).unwrap().unwrap().resolution.as_deref(), Some("раньше"));
    assert_eq!(c.kontakt.request(unrelated.id).unwrap().unwrap().status, RequestStatus::Dispatched);
    assert!(
        c.kontakt.register(card("cat-2", "a3", Some(&incident.id)), &operator()).is_err(),
        "no linking to an ended incident"
    );
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}

#[test]
fn incidents_cover_buildings_streets_and_areas() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), Arc::new(ManualClock::new(start())));
    small_city(&c.kontakt, 100).unwrap();
    let a0 = c.kontakt.address("a0").unwrap().unwrap();
    let a60 = c.kontakt.address("a60").unwrap().unwrap(); // on street 1
    let d = 0.0002;
    let square = vec![
        (a0.lat - d, a0.lon - d),
        (a0.lat - d, a0.lon + d),
        (a0.lat + d, a0.lon + d),
        (a0.lat + d, a0.lon - d),
        (a0.lat - d, a0.lon - d),
    ];
    c.kontakt
        .report_incident(report("area", Area { polygons: vec![square], ..Default::default() }), &operator())
        .unwrap();
    c.kontakt
        .report_incident(
            report("street", Area { streets: vec!["УЛ. ТЕСТОВАЯ 1".into()], ..Default::default() }),
            &operator(),
        )
        .unwrap();
    c.kontakt
        .report_incident(
            report("house", Area { addresses: vec!["a60".into()], ..Default::default() }),
            &operator(),
        )
        .unwrap();
    let at = |a| {
        let mut v: Vec<(String, &str)> =
            c.kontakt.incidents_at(a).unwrap().into_iter().map(|(i, how)| (i.identifier, how)).collect();
        v.sort();
        v
    };
    assert_eq!(at(&a0), vec![("area".to_string(), "area")]);
    assert_eq!(at(&a60), vec![("house".to_string(), "building"), ("street".to_string(), "street")]);
    let far = c.kontakt.address("a45").unwrap().unwrap();
    assert!(at(&far).is_empty());
}

// ---- the feed server ----

#[derive(Clone, Default)]
struct Files(Arc<std::sync::Mutex<HashMap<String, (u16, String)>>>);

async fn serve_file(State(files): State<Files>, Path(name): Path<String>) -> axum::response::Response {
    if name == "hang.xml" {
        tokio::time::sleep(StdDuration::from_secs(30)).await;
    }
    match files.0.lock().unwrap().get(&name) {
        Some((status, body)) => (StatusCode::from_u16(*status).unwrap(), body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn feed_server(files: Files) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/{name}", axum::routing::get(serve_file)).with_state(files);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn cap(
    identifier: &str,
    msg_type: &str,
    references: &str,
    headline: &str,
    polygon: &str,
    expires: &str,
) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>res@gorlovka</sender><sent>2026-11-30T09:00:00+03:00</sent>
  <status>Actual</status><msgType>{msg_type}</msgType>{references}<scope>Public</scope>
  <info><category>Infra</category><event>power</event><urgency>Immediate</urgency><severity>Moderate</severity><certainty>Observed</certainty>
    <headline>{headline}</headline><expires>{expires}</expires>
    <parameter><valueName>kontakt:organization</valueName><value>res</value></parameter>
    <area><areaDesc>Квартал</areaDesc><polygon>{polygon}</polygon></area>
  </info>
</alert>"#
    )
}

fn feed(name: &str, location: String, format: FeedFormat) -> FeedSource {
    FeedSource { name: name.into(), location, format, max_bytes: 64 * 1024, timeout_secs: 2 }
}

#[tokio::test]
async fn feeds_create_revise_cancel_and_expire_incidents_and_broken_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let c = open(dir.path(), clock.clone());
    small_city(&c.kontakt, 100).unwrap();
    let a0 = c.kontakt.address("a0").unwrap().unwrap();
    let d = 0.0005;
    let polygon = format!(
        "{},{} {},{} {},{} {},{} {},{}",
        a0.lat - d,
        a0.lon - d,
        a0.lat - d,
        a0.lon + d,
        a0.lat + d,
        a0.lon + d,
        a0.lat + d,
        a0.lon - d,
        a0.lat - d,
        a0.lon - d
    );
    let files = Files::default();
    let base = feed_server(files.clone()).await;
    let put =
        |name: &str, status: u16, body: String| files.0.lock().unwrap().insert(name.into(), (status, body));
    put(
        "alert.xml",
        200,
        cap("RES-1", "Alert", "", "Авария на подстанции", &polygon, "2026-11-30T18:00:00+03:00"),
    );
    put(
        "water.json",
        200,
        r#"{"incidents":[{"id":"W-7","title":"Порыв водовода","kind":"water","organization":"water","streets":["ул. Тестовая 1"],"started":"2026-11-30T05:00:00Z","expectedEnd":"2026-11-30T08:00:00Z"}]}"#.into(),
    );
    put("broken.xml", 200, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>".into());
    put("rss.xml", 200, "<rss version=\"2.0\"><channel/></rss>".into());
    put("big.xml", 200, format!("<!-- {} -->", "x".repeat(100_000)));
    put("bad.json", 200, r#"{"alerts": 1}"#.into());
    let sources = vec![
        feed("res", format!("{base}/alert.xml"), FeedFormat::Cap),
        feed("water", format!("{base}/water.json"), FeedFormat::Json),
        feed("broken", format!("{base}/broken.xml"), FeedFormat::Cap),
        feed("rss", format!("{base}/rss.xml"), FeedFormat::Cap),
        feed("big", format!("{base}/big.xml"), FeedFormat::Cap),
        feed("badjson", format!("{base}/bad.json"), FeedFormat::Json),
        feed("gone", format!("{base}/missing.xml"), FeedFormat::Cap),
        feed("hang", format!("{base}/hang.xml"), FeedFormat::Cap),
        feed("nowhere", "http://127.0.0.1:9/feed.xml".into(), FeedFormat::Cap),
    ];
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let jobs = Jobs::new(c.kontakt.clone(), bus.clone(), metrics.clone(), sources, 100);

    let r = jobs.feed_tick().await;
    // An empty RSS channel is an index with nothing in it, not a failure.
    assert_eq!((r.created, r.failed), (2, 6), "{r:?}");
    let active = c.kontakt.incidents(IncidentStatus::Active, 100).unwrap();
    assert_eq!(active.len(), 2);
    assert_eq!(c.kontakt.incidents_at(&a0).unwrap()[0].0.id, "res/RES-1", "the CAP polygon covers a0");
    let rendered = metrics.render();
    for reason in ["malformed", "wrong_schema", "oversized", "unreachable"] {
        assert!(rendered.contains(&format!("reason=\"{reason}\"")), "{reason} counted: {rendered}");
    }
    // A repeated pull changes nothing.
    assert_eq!(jobs.feed_tick().await.created, 0);

    // A request linked to the outage, then the source revises and finally cancels it.
    let linked = c.kontakt.register(card("cat-1", "a0", Some("res/RES-1")), &operator()).unwrap().request;
    put(
        "alert.xml",
        200,
        cap(
            "RES-2",
            "Update",
            "<references>res@gorlovka,RES-1,2026-11-30T09:00:00+03:00</references>",
            "Авария: работает бригада",
            &polygon,
            "2026-11-30T20:00:00+03:00",
        ),
    );
    assert_eq!(jobs.feed_tick().await.revised, 1);
    let i = c.kontakt.incident("res/RES-1").unwrap().unwrap();
    assert_eq!((i.title.as_str(), i.revision), ("Авария: работает бригада", 1));
    // Broken documents from the same feed leave the stored incident as it is.
    put("alert.xml", 200, "<alert".into());
    jobs.feed_tick().await;
    assert_eq!(c.kontakt.incident("res/RES-1").unwrap().unwrap().revision, 1);
    put(
        "alert.xml",
        200,
        cap(
            "RES-3",
            "Cancel",
            "<references>res@gorlovka,RES-1,2026-11-30T09:00:00+03:00</references>",
            "Авария устранена",
            &polygon,
            "2026-11-30T20:00:00+03:00",
        ),
    );
    assert_eq!(jobs.feed_tick().await.ended, 1);
    let i = c.kontakt.incident("res/RES-1").unwrap().unwrap();
    // Withdrawn is not done: the linked request stays with its organization, linked for the record.
    assert_eq!(i.status, IncidentStatus::Cancelled);
    let r = c.kontakt.request(linked.id).unwrap().unwrap();
    assert!(r.status.is_open(), "a withdrawn alert resolves nothing: {:?}", r.status);
    assert_eq!(r.incident.as_deref(), Some("res/RES-1"));

    // The water outage expires when its expected end passes.
    clock.advance(Duration::hours(3));
    let s = jobs.sweep_tick().await;
    assert_eq!(s.expired, 1);
    assert_eq!(c.kontakt.incident("water/W-7").unwrap().unwrap().status, IncidentStatus::Expired);
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}

#[tokio::test]
async fn a_folder_feed_takes_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), Arc::new(ManualClock::new(start())));
    small_city(&c.kontakt, 10).unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("1.xml"),
        cap(
            "F-1",
            "Alert",
            "",
            "Нет света",
            "48.29,38.03 48.29,38.06 48.31,38.06 48.29,38.03",
            "2026-11-30T18:00:00+03:00",
        ),
    )
    .unwrap();
    std::fs::write(folder.path().join("2.xml"), "not xml").unwrap();
    std::fs::write(folder.path().join("notes.txt"), "ignored").unwrap();
    // A Russian outage notice that names its area only in words, and the CAP specification's own example.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cap");
    std::fs::copy(fixtures.join("gorlovka-outage-ru.xml"), folder.path().join("3.xml")).unwrap();
    std::fs::copy(fixtures.join("oasis-earthquake.xml"), folder.path().join("4.xml")).unwrap();
    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let jobs = Jobs::new(
        c.kontakt.clone(),
        bus,
        metrics,
        vec![feed("drop", folder.path().display().to_string(), FeedFormat::Cap)],
        100,
    )
    .with_bounds(Some([48.20, 37.85, 48.42, 38.25]));
    let r = jobs.feed_tick().await;
    assert_eq!((r.created, r.failed, r.ignored), (2, 1, 1), "{r:?}");
    let notice =
        c.kontakt.incident("drop/RES-2026-1130-17").unwrap().expect("the notice in words is an incident");
    assert_eq!(notice.area.street_ranges.len(), 2);
    assert_eq!(notice.status, kontakt_workflow::incidents::IncidentStatus::Active);
    // The earthquake report is about California: ignored, nothing stored.
    assert!(c.kontakt.incident("drop/TRI13970876.1").unwrap().is_none());
}

/// An index server: `/index.atom` answers 304 to the ETag it last gave; the
/// alerts are files under `/cap/`.
#[derive(Clone, Default)]
struct Index {
    atom: Arc<std::sync::Mutex<(String, String)>>,
    alerts: Files,
    hits: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn serve_index(State(ix): State<Index>, headers: axum::http::HeaderMap) -> axum::response::Response {
    let (etag, body) = ix.atom.lock().unwrap().clone();
    let fresh = headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    ix.hits.lock().unwrap().push(if fresh { "304".into() } else { "200".into() });
    if fresh {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([("etag", etag), ("content-type", "application/atom+xml".into())], body).into_response()
}

async fn serve_alert(State(ix): State<Index>, Path(name): Path<String>) -> axum::response::Response {
    ix.hits.lock().unwrap().push(name.clone());
    serve_file(State(ix.alerts.clone()), Path(name)).await
}

fn atom(entries: &[(&str, &str)]) -> String {
    let items: String = entries
        .iter()
        .map(|(id, updated)| {
            format!(
                r#"<entry><id>urn:res:{id}</id><updated>{updated}</updated><title>{id}</title>
                   <link rel="alternate" type="application/cap+xml" href="cap/{id}.xml"/></entry>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:res</id>
           <title>Горловский РЭС: отключения</title><updated>2026-11-30T09:05:00+03:00</updated>{items}</feed>"#
    )
}

#[tokio::test]
async fn a_cap_atom_index_is_followed_and_a_notice_in_words_covers_the_houses_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let c = open(dir.path(), clock.clone());
    small_city(&c.kontakt, 10).unwrap();
    let street: Vec<kontakt_workflow::model::Address> = (1..=14)
        .map(|n| kontakt_workflow::model::Address {
            id: code(&format!("s{n}")),
            street: "ул. Садовая".into(),
            house: n.to_string(),
            district: "Центр".into(),
            lat: 48.31,
            lon: 38.06 + f64::from(n) * 0.0002,
        })
        .collect();
    c.kontakt.put_addresses(&street, &Actor::system(), &mut |_| {}).unwrap();

    let fixture = |name: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cap").join(name),
        )
        .unwrap()
    };
    let notice = fixture("gorlovka-outage-ru.xml");
    // The same notice, already run out when it arrives.
    let stale = notice
        .replace("RES-2026-1130-17", "RES-2026-1129-03")
        .replace("2026-11-30T18:00:00+03:00", "2026-11-30T08:30:00+03:00");
    let ix = Index::default();
    {
        let mut alerts = ix.alerts.0.lock().unwrap();
        alerts.insert("notice.xml".into(), (200, notice.clone()));
        alerts.insert("stale.xml".into(), (200, stale));
        alerts.insert("storm.xml".into(), (200, fixture("oasis-thunderstorm.xml")));
    }
    *ix.atom.lock().unwrap() = (
        "\"v1\"".into(),
        atom(&[
            ("notice", "2026-11-30T09:05:00+03:00"),
            ("stale", "2026-11-29T08:00:00+03:00"),
            ("storm", "2003-06-17T14:57:00-07:00"),
        ]),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/index.atom", axum::routing::get(serve_index))
        .route("/cap/{name}", axum::routing::get(serve_alert))
        .with_state(ix.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let bus = Bus::default();
    let metrics = Arc::new(Metrics::new(c.kontakt.clone(), c.store.clone(), bus.clone()));
    let jobs = Jobs::new(
        c.kontakt.clone(),
        bus,
        metrics,
        vec![feed("res", format!("{base}/index.atom"), FeedFormat::Cap)],
        100,
    )
    .with_bounds(Some([48.20, 37.85, 48.42, 38.25]));
    // 06:00Z is 09:00 in the city: the stale alert ran out at 08:30.
    clock.advance(Duration::minutes(10));
    let r = jobs.feed_tick().await;
    assert_eq!((r.created, r.ignored, r.failed), (2, 1, 0), "{r:?}");

    let i = c.kontakt.incident("res/RES-2026-1130-17").unwrap().unwrap();
    assert_eq!(i.status, IncidentStatus::Active);
    assert_eq!(
        c.kontakt.incident("res/RES-2026-1129-03").unwrap().unwrap().status,
        IncidentStatus::Expired,
        "recorded, never active"
    );
    assert!(c.kontakt.incident("res/KSTO1055887203").unwrap().is_none(), "California is not this city");
    // The odd houses 1–9 and house 12 of the street, and not the others.
    let covered: Vec<u32> = (1..=14)
        .filter(|n| {
            let a = c.kontakt.address(&format!("s{n}")).unwrap().unwrap();
            c.kontakt.incidents_at(&a).unwrap().iter().any(|(x, how)| x.id == i.id && *how == "houses")
        })
        .collect();
    assert_eq!(covered, vec![1, 3, 5, 7, 9, 12]);

    // Nothing new: the index answers 304 and no alert is fetched again.
    let before = ix.hits.lock().unwrap().len();
    let r = jobs.feed_tick().await;
    assert_eq!((r.created, r.revised, r.failed), (0, 0, 0), "{r:?}");
    assert_eq!(ix.hits.lock().unwrap()[before..], ["304".to_string()]);

    // A request at a covered house, then the all-clear: the work is done, the request is resolved.
    let linked = c.kontakt.register(card("cat-0", "s3", Some(&i.id)), &operator()).unwrap().request;
    let all_clear = notice
        .replace("<identifier>RES-2026-1130-17</identifier>", "<identifier>RES-2026-1130-18</identifier>")
        .replace(
            "<msgType>Alert</msgType>",
            "<msgType>Update</msgType><references>dispatch@res-gorlovka.example,RES-2026-1130-17,2026-11-30T09:05:00+03:00</references>",
        )
        .replace("<urgency>", "<responseType>AllClear</responseType><urgency>")
        .replace("<description>", "<instruction>Кабель заменён, электроснабжение восстановлено.</instruction><description>");
    ix.alerts.0.lock().unwrap().insert("clear.xml".into(), (200, all_clear));
    *ix.atom.lock().unwrap() = (
        "\"v2\"".into(),
        atom(&[("clear", "2026-11-30T11:40:00+03:00"), ("notice", "2026-11-30T09:05:00+03:00")]),
    );
    let r = jobs.feed_tick().await;
    assert_eq!(r.ended, 1, "{r:?}");
    let i = c.kontakt.incident(&i.id).unwrap().unwrap();
    assert_eq!(i.status, IncidentStatus::Ended);
    let r = c.kontakt.request(linked.id).unwrap().unwrap();
    assert_eq!(r.status, RequestStatus::Resolved);
    assert_eq!(r.resolution.as_deref(), Some("Кабель заменён, электроснабжение восстановлено."));
    assert!(check::check(&c.kontakt).unwrap().is_clean());
}
