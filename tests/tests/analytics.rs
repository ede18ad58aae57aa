//! Organization analysis and the capacity plan, checked against figures the
//! test computes itself from the histories it generates.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, Duration, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city};
use kontakt_workflow::model::{Actor, Channel, Role, Subordination};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Command, Kontakt, ManualClock, NewRequest};

fn card(cat: &str, address: &str) -> NewRequest {
    NewRequest {
        category: code(cat),
        address: AddressPoint::Id(address.into()),
        description: "x".into(),
        channel: Channel::Phone,
        applicant: Applicant::default(),
        raise_reason: None,
        incident: None,
    }
}

fn setup() -> (Kontakt, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap())); // a Monday, 09:00 city time
    let k = Kontakt::new(Arc::new(SledStore::open(dir.path()).unwrap()), clock.clone());
    small_city(&k, 10).unwrap();
    (k, clock, dir)
}

#[test]
fn performance_counts_on_time_late_and_open_overdue_and_drafts_appeals_for_regional_laggards() {
    let (k, clock, _dir) = setup();
    let op = Actor::person("op", Role::Operator, None);
    let start = clock_now(&clock);
    // Week 1: res (regional, EMERGENCY 6 h): 3 on time, 2 late; water (city, MEDIUM 72 h): 2 on time.
    // Week 2: res: 1 on time, 2 left open past the deadline; all at building a0 (a repeat address).
    let mut expected: BTreeMap<(String, u32), (u32, u32, u32)> = BTreeMap::new();
    let mut plan = |k: &Kontakt, week: u32, cat: &str, org: &str, hours: i64, resolve: bool| {
        let r = k.register(card(cat, "a0"), &op).unwrap().request;
        let t = clock_now(&clock);
        if resolve {
            clock.advance(Duration::hours(hours));
            let crew = Actor::person("crew", Role::Contractor, Some(code(org)));
            k.execute(r.id, Command::Resolve { resolution: "готово".into(), note: None }, &crew).unwrap();
            clock.set(t);
        }
        let e = expected.entry((org.to_string(), week)).or_default();
        let late = hours > cat_hours(cat);
        match (resolve, late) {
            (true, false) => e.0 += 1,
            (true, true) => e.1 += 1,
            (false, _) => e.2 += 1,
        }
        clock.advance(Duration::minutes(30));
    };
    for (h, ok) in [(2, true), (3, true), (5, true), (8, true), (12, true)] {
        plan(&k, 1, "cat-0", "res", h, ok);
    }
    plan(&k, 1, "cat-2", "water", 10, true);
    plan(&k, 1, "cat-2", "water", 20, true);
    clock.set(start + Duration::days(7));
    plan(&k, 2, "cat-0", "res", 1, true);
    plan(&k, 2, "cat-0", "res", 0, false);
    plan(&k, 2, "cat-0", "res", 0, false);
    clock.set(start + Duration::days(14));

    let rows = k.organization_performance(start, start + Duration::days(14), None, 0.9).unwrap();
    let of = |id: &str| rows.iter().find(|p| p.organization.id.as_str() == id).unwrap();
    let res_p = of("res");
    assert_eq!((res_p.total.on_time, res_p.total.late, res_p.total.open_overdue), (4, 2, 2));
    assert_eq!(res_p.total.compliance(), Some(0.5));
    let weeks: Vec<(u32, u32, u32)> =
        res_p.weeks.iter().map(|(_, t)| (t.on_time, t.late, t.open_overdue)).collect();
    assert_eq!(weeks, vec![expected[&("res".into(), 1)], expected[&("res".into(), 2)]]);
    assert_eq!(res_p.weeks[0].0.weekday(), chrono::Weekday::Mon);
    let appeal = res_p.appeal.as_deref().expect("a regional organization below 90 % gets an appeal");
    assert!(
        appeal.contains("В срок исполнено 4") && appeal.contains("50,0 %") && appeal.contains("90 %"),
        "{appeal}"
    );
    assert_eq!(res_p.repeat_addresses[0].1, 8, "every res request came from a0");
    let water = of("water");
    assert_eq!(water.total.compliance(), Some(1.0));
    assert!(water.appeal.is_none());
    // Side by side: one subordination at a time.
    let regional = k
        .organization_performance(start, start + Duration::days(14), Some(Subordination::Regional), 0.9)
        .unwrap();
    assert!(regional.iter().all(|p| p.organization.subordination == Subordination::Regional));
    assert!(k.organization_performance(start, start - Duration::days(1), None, 0.9).is_err());
}

fn cat_hours(cat: &str) -> i64 {
    match cat {
        "cat-0" => 6,
        "cat-1" => 24,
        "cat-2" => 72,
        _ => 168,
    }
}

fn clock_now(c: &ManualClock) -> chrono::DateTime<Utc> {
    kontakt_workflow::Clock::now(c)
}

#[test]
fn the_resource_plan_follows_the_season_and_sizes_crews_for_the_deadline() {
    let (k, clock, _dir) = setup();
    let op = Actor::person("op", Role::Operator, None);
    // Thirteen months of water (MEDIUM) requests: 10 a month, 30 in December
    // and January; each accepted and resolved 4 h later. A season is told
    // from a trend once a year is seen.
    let year_ago = Utc.with_ymd_and_hms(2025, 10, 1, 9, 0, 0).unwrap();
    for m in 0..13 {
        let month_start = year_ago + Duration::days(31 * m);
        let month = (month_start + Duration::hours(3)).month();
        let n = if month == 12 || month == 1 { 30 } else { 10 };
        for i in 0..n {
            clock.set(month_start + Duration::hours(i64::from(i) * 12));
            let r = k.register(card("cat-2", "a1"), &op).unwrap().request;
            let crew = Actor::person("crew", Role::Contractor, Some(code("water")));
            k.execute(r.id, Command::Accept, &crew).unwrap();
            clock.advance(Duration::hours(4));
            k.execute(r.id, Command::Resolve { resolution: "готово".into(), note: None }, &crew).unwrap();
        }
    }
    clock.set(Utc.with_ymd_and_hms(2026, 11, 15, 9, 0, 0).unwrap());
    // Crews on duty around the clock: service time is counted on the working clock.
    k.set_working_hours(
        "water",
        kontakt_workflow::capacity::WorkingHours::around_the_clock(),
        &Actor::system(),
    )
    .unwrap();
    let plan = k.resource_plan(12, 0.9).unwrap();
    assert_eq!(plan.months.first().map(String::as_str), Some("2026-12"));
    let month = |m: &str| {
        plan.forecast
            .iter()
            .find(|f| f.organization.as_str() == "water" && f.month == m)
            .map(|f| f.expected_requests)
            .unwrap_or_else(|| panic!("no forecast for {m}"))
    };
    assert!(
        month("2026-12") > 2.0 * month("2027-04"),
        "December is heating season: {} vs {}",
        month("2026-12"),
        month("2027-04")
    );
    let water = plan.organizations.iter().find(|o| o.organization.as_str() == "water").unwrap();
    let needed = water.crews_needed.expect("a few crews meet a 72 h deadline");
    assert!((1..=3).contains(&needed), "4 h jobs, tens a month: {needed}");
    assert!(water.compliance_needed.unwrap() >= 0.9, "{water:?}");
    assert_eq!(water.crews_configured, 3);
    // The measured service time: 4 h from acceptance to resolution.
    assert!((water.mean_service_hours - 4.0).abs() < 0.5, "{}", water.mean_service_hours);
}
