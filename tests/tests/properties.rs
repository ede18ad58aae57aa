//! Property tests: random command sequences, by random actors, with the clock
//! jumping around, never break the store's invariants.
//!
//! After every sequence: each record equals the fold of its events; each index
//! entry matches a record and each record its entries (`check`); a deadline
//! moved only with a RAISED_TO_EMERGENCY event; numbers are unique and gap-free.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use kontakt_storage::SledStore;
use kontakt_tests::{ORGS, code, small_city};
use kontakt_workflow::model::{Actor, Channel, RequestId, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Command, EventKind, Kontakt, ManualClock, NewRequest, check};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Register { category: usize, address: usize, raise: bool },
    Act { request: usize, command: usize, actor: usize },
    Advance { minutes: i64 },
    Sweep,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, 0..6usize, any::<bool>()).prop_map(|(category, address, raise)| Step::Register { category, address, raise }),
        6 => (0..16usize, 0..9usize, 0..6usize).prop_map(|(request, command, actor)| Step::Act { request, command, actor }),
        2 => (1..(60 * 24 * 4i64)).prop_map(|minutes| Step::Advance { minutes }),
        2 => Just(Step::Sweep),
    ]
}

fn actor(i: usize) -> Actor {
    match i {
        0 => Actor::person("op", Role::Operator, None),
        1 => Actor::person("sup", Role::Supervisor, None),
        2 => Actor::person("adm", Role::Admin, None),
        3 => Actor::person("c-res", Role::Contractor, Some(code("res"))),
        4 => Actor::person("c-zhek", Role::Contractor, Some(code("zhek"))),
        _ => Actor::person("c-water", Role::Contractor, Some(code("water"))),
    }
}

fn command(i: usize) -> Command {
    match i {
        0 => Command::Accept,
        1 => Command::Resolve { resolution: "сделано".into(), note: None },
        2 => Command::Reject { reason: "не наше".into() },
        3 => Command::Reassign {
            organization: code(ORGS[i % 3]), reason: "перераспределение".into()
        },
        4 => Command::RaiseToEmergency { reason: "угроза".into() },
        5 => Command::Cancel { reason: "дубль".into() },
        6 => Command::Reopen { reason: "не исправлено".into() },
        7 => Command::Close { note: None },
        _ => Command::LinkIncident { incident: "inc-1".into(), organization: Some(code("res")) },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_every_invariant(steps in proptest::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 31, 12, 0, 0).unwrap()));
        let k = Kontakt::new(Arc::new(SledStore::open(dir.path()).unwrap()), clock.clone());
        small_city(&k, 6).unwrap();
        let mut ids: Vec<RequestId> = Vec::new();
        for s in steps {
            match s {
                Step::Register { category, address, raise } => {
                    let new = NewRequest {
                        category: code(&format!("cat-{category}")),
                        address: AddressPoint::Id(format!("a{address}")),
                        description: "описание".into(),
                        channel: Channel::Phone,
                        applicant: Applicant::default(),
                        raise_reason: raise.then(|| "угроза жизни".to_string()),
                        incident: None,
                    };
                    ids.push(k.register(new, &actor(0)).unwrap().request.id);
                }
                Step::Act { request, command: c, actor: a } => {
                    if let Some(id) = ids.get(request % ids.len().max(1)) {
                        let before = k.request(*id).unwrap().unwrap();
                        match k.execute(*id, command(c), &actor(a)) {
                            Ok(o) => prop_assert_eq!(o.request.version, before.version + 1),
                            Err(_) => {
                                let after = k.request(*id).unwrap().unwrap();
                                prop_assert_eq!(after, before, "a refused command changes nothing");
                            }
                        }
                    }
                }
                Step::Advance { minutes } => clock.advance(Duration::minutes(minutes)),
                Step::Sweep => {
                    k.sweep(1000).unwrap();
                }
            }
        }
        let report = check::check(&k).unwrap();
        prop_assert!(report.is_clean(), "{}", report);
        let mut numbers = HashSet::new();
        for id in &ids {
            let history = k.history(*id).unwrap();
            let mut deadline = None;
            for e in &history {
                let r = history.iter().take_while(|x| x.seq <= e.seq).fold(None, kontakt_workflow::lifecycle::apply).unwrap();
                if let Some(d) = deadline
                    && d != r.deadline
                {
                    prop_assert!(matches!(e.kind, EventKind::RaisedToEmergency { .. }), "deadline moved by {}", e.kind.name());
                }
                deadline = Some(r.deadline);
            }
            prop_assert!(numbers.insert(k.request(*id).unwrap().unwrap().number), "numbers are unique");
        }
        // Numbers restart each year; within a year they are 1..=n.
        let mut by_year: std::collections::BTreeMap<i32, Vec<u32>> = Default::default();
        for n in &numbers {
            by_year.entry(n.year).or_default().push(n.seq);
        }
        for (_, mut seqs) in by_year {
            seqs.sort();
            prop_assert_eq!(seqs.clone(), (1..=seqs.len() as u32).collect::<Vec<_>>());
        }
    }
}
