//! The demo city's past fortnight, written through the service with a walking
//! clock: every state a working city has, each ladder step once, a clean store.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_workflow::model::{EscalationStep, RequestStatus};
use kontakt_workflow::{Kontakt, ManualClock, RequestQuery, SlaPolicy, check, demo, demo_activity};

#[test]
fn a_fortnight_of_activity_has_every_state_and_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let k = Kontakt::new(store.clone(), Arc::new(ManualClock::new(now)));
    demo::load(&k).unwrap().unwrap();

    let a = demo_activity::seed(store.clone(), SlaPolicy::default(), now, 14).unwrap().expect("written");
    assert!(a.requests > 100, "{a:?}");
    assert!(a.commands > a.requests, "most requests move on: {a:?}");
    assert!(a.steps > 0, "the sweep ran along: {a:?}");
    assert_eq!(
        demo_activity::seed(store, SlaPolicy::default(), now, 14).unwrap(),
        None,
        "written once per store"
    );

    let all = k.list_up_to(&RequestQuery::default(), 10_000).unwrap();
    assert_eq!(all.len(), a.requests);
    let mut by_status: HashMap<RequestStatus, usize> = HashMap::new();
    for r in &all {
        *by_status.entry(r.status).or_default() += 1;
        assert!(r.registered_at > now - Duration::days(14) && r.registered_at <= now, "{}", r.number);
        assert!(r.registered_at <= r.resolved_at.unwrap_or(r.registered_at));
        assert_eq!(r.deadline - r.registered_at, r.deadline_class.window(), "{}", r.number);
    }
    for status in [
        RequestStatus::Dispatched,
        RequestStatus::InProgress,
        RequestStatus::Overdue,
        RequestStatus::Resolved,
        RequestStatus::Closed,
    ] {
        assert!(by_status.get(&status).copied().unwrap_or(0) > 0, "some {status:?}: {by_status:?}");
    }
    assert!(all.iter().any(|r| r.resolved_late == Some(true)), "some resolved late");
    assert!(all.iter().any(|r| r.resolved_late == Some(false)), "some on time");
    assert!(all.iter().any(|r| r.incident.is_some()), "the incident under way has its calls");
    assert!(k.incident("manual/demo-tp-207").unwrap().is_some());

    // Every open request past its deadline was marked, and no step was taken twice.
    for r in all.iter().filter(|r| r.status.is_open() && r.deadline <= now && r.organization.is_some()) {
        assert_eq!(r.status, RequestStatus::Overdue, "{}", r.number);
    }
    for r in &all {
        let steps: Vec<String> = k
            .history(r.id)
            .unwrap()
            .iter()
            .map(|e| e.kind.name().to_string())
            .filter(|n| ["WARNING", "OVERDUE", "ESCALATED"].contains(&n.as_str()))
            .collect();
        let mut unique = steps.clone();
        unique.dedup();
        assert_eq!(steps, unique, "{} took a step twice", r.number);
        if r.escalation == Some(EscalationStep::Escalated) {
            assert_eq!(steps, ["WARNING", "OVERDUE", "ESCALATED"], "{}", r.number);
        }
    }
    assert!(check::check(&k).unwrap().is_clean());
}
