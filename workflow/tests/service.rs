//! The service over a real sled store: registration, numbering, queries,
//! the sweep, and durability across reopening.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_workflow::model::{Actor, Channel, Code, EscalationStep, RequestStatus, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{
    Applicant, Command, DomainError, Kontakt, ManualClock, NewRequest, RequestQuery, check, demo,
};

struct City {
    kontakt: Kontakt,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> Kontakt {
    let store = SledStore::open(dir).unwrap();
    Kontakt::new(Arc::new(store), clock)
}

fn city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()));
    let kontakt = open(dir.path(), clock.clone());
    demo::load(&kontakt).unwrap().unwrap();
    City { kontakt, clock, _dir: Some(dir) }
}

fn operator() -> Actor {
    Actor::person("op1", Role::Operator, None)
}

fn card(category: &str, address: &str) -> NewRequest {
    NewRequest {
        category: Code::parse(category).unwrap(),
        address: AddressPoint::Id(address.into()),
        description: "Нет света во всём подъезде".into(),
        channel: Channel::Phone,
        applicant: Applicant { name: Some("Петров".into()), phone: None, callback_consent: false },
        raise_reason: None,
        incident: None,
    }
}

#[test]
fn the_demo_city_is_big_enough_and_loads_once() {
    let c = city();
    let k = &c.kontakt;
    assert!(k.organizations().unwrap().len() >= 6);
    assert!(k.categories().unwrap().len() >= 25);
    let regional =
        k.organizations().unwrap().into_iter().filter(|o| o.subordination.as_str() == "REGIONAL").count();
    assert!(regional >= 2);
    assert!(demo::addresses().unwrap().len() >= 2000);
    assert!(demo::load(k).unwrap().is_none(), "a second load writes nothing");
    for class in kontakt_workflow::model::DeadlineClass::ALL {
        assert!(k.categories().unwrap().iter().any(|c| c.deadline_class == *class), "{class} has categories");
    }
}

#[test]
fn registration_routes_by_district_and_numbers_sequentially() {
    let c = city();
    let k = &c.kontakt;
    let first = k.register(card("power-outage-building", "g001-001"), &operator()).unwrap();
    assert_eq!(first.request.number.to_string(), "2026-000001");
    assert_eq!(first.request.status, RequestStatus::Dispatched);
    assert_eq!(first.request.organization.as_ref().unwrap().as_str(), "res-gorlovka");
    assert_eq!(first.request.deadline - first.request.registered_at, Duration::hours(6));
    let second = k.register(card("other", "g001-002"), &operator()).unwrap();
    assert_eq!(second.request.number.to_string(), "2026-000002");
    assert_eq!(second.request.status, RequestStatus::Registered, "no route: the unrouted queue");
    let by_number = k.request_by_number(&first.request.number).unwrap().unwrap();
    assert_eq!(by_number.id, first.request.id);
}

#[test]
fn an_unknown_category_or_address_changes_nothing() {
    let c = city();
    let k = &c.kontakt;
    assert!(matches!(k.register(card("no-such", "g001-001"), &operator()), Err(DomainError::Validation(_))));
    assert!(matches!(k.register(card("other", "nowhere"), &operator()), Err(DomainError::Validation(_))));
    let mut far = card("other", "x");
    far.address = AddressPoint::Point { lat: 55.75, lon: 37.61 };
    assert!(matches!(k.register(far, &operator()), Err(DomainError::Validation(_))));
    let ok = k.register(card("other", "g001-001"), &operator()).unwrap();
    assert_eq!(ok.request.number.seq, 1, "refused cards consumed no number");
}

#[test]
fn a_point_registers_at_the_nearest_building() {
    let c = city();
    let a = c.kontakt.address("g002-010").unwrap().unwrap();
    let mut near = card("other", "x");
    near.address = AddressPoint::Point { lat: a.lat + 0.00003, lon: a.lon };
    let r = c.kontakt.register(near, &operator()).unwrap();
    assert_eq!(r.request.address.id.as_str(), "g002-010");
}

#[test]
fn concurrent_registrations_get_unique_gap_free_numbers() {
    let c = city();
    let k = c.kontakt.clone();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let k = k.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| {
                        let addr = format!("g{:03}-{:03}", t + 1, i + 1);
                        k.register(card("pothole", &addr), &operator()).unwrap().request.number.seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u32> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (1..=160).collect::<Vec<_>>());
    assert!(check::check(&k).unwrap().is_clean());
}

#[test]
fn everything_is_there_after_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()));
    let (id, number) = {
        let k = open(dir.path(), clock.clone());
        demo::load(&k).unwrap();
        let r = k.register(card("roof-leak", "g003-004"), &operator()).unwrap().request;
        let org = r.organization.clone().unwrap();
        k.execute(r.id, Command::Accept, &Actor::person("crew", Role::Contractor, Some(org))).unwrap();
        (r.id, r.number)
    };
    let k = open(dir.path(), clock);
    let r = k.request(id).unwrap().unwrap();
    assert_eq!((r.number, r.status, r.version), (number, RequestStatus::InProgress, 2));
    assert_eq!(k.history(id).unwrap().len(), 3, "registered, dispatched, accepted");
    assert!(check::check(&k).unwrap().is_clean());
    let next = k.register(card("roof-leak", "g003-005"), &operator()).unwrap().request;
    assert_eq!(next.number.seq, number.seq + 1, "numbering continues after reopening");
}

#[test]
fn the_sweep_takes_each_step_once_when_due() {
    let c = city();
    let k = &c.kontakt;
    let r = k.register(card("garbage-not-collected", "g005-001"), &operator()).unwrap().request;
    let window = r.deadline - r.registered_at;
    assert!(k.sweep(100).unwrap().is_empty(), "nothing due at registration");
    c.clock.advance(window * 3 / 4);
    let steps: Vec<_> =
        k.sweep(100).unwrap().into_iter().flat_map(|o| o.events).map(|e| e.kind.name()).collect();
    assert_eq!(steps, vec!["WARNING"]);
    assert!(k.sweep(100).unwrap().is_empty(), "a step is taken once");
    // The clock jumps past both remaining steps: both are taken, in order, once.
    c.clock.advance(window * 2);
    let steps: Vec<_> =
        k.sweep(100).unwrap().into_iter().flat_map(|o| o.events).map(|e| e.kind.name()).collect();
    assert_eq!(steps, vec!["OVERDUE", "ESCALATED"]);
    assert!(k.sweep(100).unwrap().is_empty());
    let r = k.request(r.id).unwrap().unwrap();
    assert_eq!((r.status, r.escalation), (RequestStatus::Overdue, Some(EscalationStep::Escalated)));
    assert!(check::check(k).unwrap().is_clean());
}

#[test]
fn lists_filter_and_page_without_gaps_or_repeats() {
    let c = city();
    let k = &c.kontakt;
    let mut ids = Vec::new();
    for i in 0..30 {
        let cat = if i % 3 == 0 { "power-outage-building" } else { "pothole" };
        ids.push(k.register(card(cat, &format!("g001-{:03}", i + 1)), &operator()).unwrap().request.id);
        c.clock.advance(Duration::minutes(1));
    }
    let all = RequestQuery::default();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = k.list(&all, after, 7).unwrap();
        seen.extend(page.items.iter().map(|r| r.id));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let res = RequestQuery { organization: Some(Code::parse("res-gorlovka").unwrap()), ..Default::default() };
    assert_eq!(k.list(&res, None, 100).unwrap().items.len(), 10);
    let emergency = RequestQuery { class: Some("EMERGENCY".parse().unwrap()), ..Default::default() };
    assert_eq!(k.list(&emergency, None, 100).unwrap().items.len(), 10);
    let dispatched = RequestQuery { statuses: vec![RequestStatus::Dispatched], ..Default::default() };
    assert_eq!(k.list(&dispatched, None, 100).unwrap().items.len(), 30);
    let by_number = RequestQuery { text: Some("2026-000005".into()), ..Default::default() };
    assert_eq!(k.list(&by_number, None, 10).unwrap().items.len(), 1);
    let street = k.address("g001-001").unwrap().unwrap().street;
    let by_address = RequestQuery { text: Some(format!("{street} 1")), ..Default::default() };
    assert!(k.list(&by_address, None, 50).unwrap().items.iter().any(|r| r.address.id.as_str() == "g001-001"));
    c.clock.advance(Duration::hours(7));
    let overdue = RequestQuery { overdue: Some(true), ..Default::default() };
    assert_eq!(k.list(&overdue, None, 100).unwrap().items.len(), 10, "emergencies are past 6 h");
}

#[test]
fn address_search_finds_by_street_prefix_and_house() {
    let c = city();
    let a = c.kontakt.address("g004-012").unwrap().unwrap();
    let word = a.street.split_whitespace().last().unwrap();
    let prefix: String = word.chars().take(4).collect();
    let found = c.kontakt.search_addresses(&format!("{prefix} {}", a.house), 10).unwrap();
    assert_eq!(found.first().map(|f| f.id.as_str()), Some("g004-012"), "{found:?}");
}

#[test]
fn request_at_shows_the_past_state() {
    let c = city();
    let k = &c.kontakt;
    let r = k.register(card("pothole", "g001-001"), &operator()).unwrap().request;
    let registered = c.clock.now_for_test();
    c.clock.advance(Duration::hours(1));
    let org = r.organization.clone().unwrap();
    k.execute(r.id, Command::Accept, &Actor::person("crew", Role::Contractor, Some(org))).unwrap();
    assert_eq!(k.request_at(r.id, registered).unwrap().unwrap().status, RequestStatus::Dispatched);
    assert_eq!(k.request(r.id).unwrap().unwrap().status, RequestStatus::InProgress);
}

trait NowForTest {
    fn now_for_test(&self) -> chrono::DateTime<Utc>;
}
impl NowForTest for ManualClock {
    fn now_for_test(&self) -> chrono::DateTime<Utc> {
        kontakt_workflow::Clock::now(self)
    }
}

#[test]
fn finished_since_reaches_past_registration_and_orders_by_the_finish() {
    let c = city();
    let k = &c.kontakt;
    let crew = |org: &str| Actor::person("crew", Role::Contractor, Some(Code::parse(org).unwrap()));
    let resolve = |id, org: &str| {
        k.execute(id, Command::Accept, &crew(org)).unwrap();
        k.execute(id, Command::Resolve { resolution: "Сделано".into(), note: None }, &crew(org)).unwrap();
    };
    let old = k.register(card("power-outage-building", "g001-001"), &operator()).unwrap().request;
    let pothole = k.register(card("pothole", "g001-002"), &operator()).unwrap().request;
    // Registered 40 days ago, fixed today: it is news for the last 30 days.
    c.clock.advance(Duration::days(40));
    resolve(old.id, "res-gorlovka");
    let cancelled = k.register(card("pothole", "g001-003"), &operator()).unwrap().request;
    k.execute(cancelled.id, Command::Cancel { reason: "Дубль".into() }, &operator()).unwrap();
    c.clock.advance(Duration::hours(1));
    resolve(pothole.id, "roads-gorlovka");
    let open = k.register(card("pothole", "g001-004"), &operator()).unwrap().request;

    let since = k.now() - Duration::days(30);
    let ids = |rs: Vec<kontakt_workflow::Request>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(k.finished_since(since, None, 10).unwrap()), [pothole.id, cancelled.id, old.id]);
    let potholes = Code::parse("pothole").unwrap();
    assert_eq!(ids(k.finished_since(since, Some(&potholes), 10).unwrap()), [pothole.id, cancelled.id]);
    assert_eq!(ids(k.finished_since(since, None, 1).unwrap()), [pothole.id]);
    assert!(k.finished_since(k.now() + Duration::seconds(1), None, 10).unwrap().is_empty());

    let open_potholes = RequestQuery {
        statuses: RequestStatus::ALL.iter().copied().filter(|s| s.is_open()).collect(),
        category: Some(potholes),
        ..Default::default()
    };
    assert_eq!(ids(k.list_up_to(&open_potholes, 10).unwrap()), [open.id]);
}

#[test]
fn a_store_written_with_the_previous_index_layout_is_brought_up_to_date_on_open() {
    use kontakt_storage::{Expect, Put, Store, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()));
    let phone = kontakt_workflow::model::Phone::parse("+78564123456").unwrap();
    let id = {
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let k = Kontakt::new(store.clone(), clock.clone());
        demo::load(&k).unwrap();
        let mut new = card("pothole", "g001-001");
        new.applicant.phone = Some(phone.clone());
        let r = k.register(new, &operator()).unwrap().request;
        // Written as the previous version wrote it: no phone index, layout 1.
        let key = kontakt_workflow::service::request_key(r.id);
        let stored = store.get(&key).unwrap().unwrap();
        let old_index: Vec<Vec<u8>> = kontakt_workflow::indexes::request_keys(&r, &k.policy())
            .into_iter()
            .filter(|i| {
                !i.starts_with(
                    &kontakt_storage::KeyBuilder::index(kontakt_workflow::indexes::BY_PHONE).build(),
                )
            })
            .collect();
        store
            .commit(Transaction::single(Put {
                key,
                expect: Expect::Version(stored.version),
                body: Some(stored.body),
                index: old_index,
                events: vec![],
            }))
            .unwrap();
        k.set_marker("request-index-layout", "1").unwrap();
        assert!(!check::check(&k).unwrap().is_clean(), "the old layout lacks the phone index");
        r.id
    };
    let k = open(dir.path(), clock);
    assert_eq!(k.migrate(&mut |_| {}).unwrap(), 1, "one request written again");
    assert_eq!(k.migrate(&mut |_| {}).unwrap(), 0, "once");
    let found = k.list(&RequestQuery { phone: Some(phone), ..Default::default() }, None, 10).unwrap();
    assert_eq!(found.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);
    assert!(check::check(&k).unwrap().is_clean());
}
