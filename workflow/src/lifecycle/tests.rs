//! The transition table: every command from every status, allowed or refused.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::model::{Actor, Address, Category, Code, RequestStatus as S};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn code(s: &str) -> Code {
    Code::parse(s).unwrap()
}

fn operator() -> Actor {
    Actor::person("op1", Role::Operator, None)
}
fn supervisor() -> Actor {
    Actor::person("sup", Role::Supervisor, None)
}
fn contractor(org: &str) -> Actor {
    Actor::person("crew", Role::Contractor, Some(code(org)))
}

fn registration(class: DeadlineClass, route: Option<&str>) -> Registration {
    Registration {
        id: RequestId::generate(t0()),
        number: RequestNumber { year: 2026, seq: 1 },
        category: Category {
            code: code("roof-leak"),
            group: "Жилищное хозяйство".into(),
            name_ru: "Протекает крыша".into(),
            name_en: "Roof leak".into(),
            deadline_class: class,
            script_ru: "до {deadline}".into(),
            script_en: "by {deadline}".into(),
            keywords: vec![],
        },
        address: Address {
            id: code("a1"),
            street: "ул. Пушкинская".into(),
            house: "12".into(),
            district: "Центрально-Городской".into(),
            lat: 48.3,
            lon: 38.05,
        },
        description: "Течёт с потолка на 5 этаже".into(),
        channel: Channel::Phone,
        applicant: Applicant {
            name: Some("Иванова".into()),
            phone: Phone::parse("+78564123456").ok(),
            callback_consent: true,
        },
        route: route.map(code),
        raise_reason: None,
        incident: None,
    }
}

/// Runs commands in order, each by its actor, `step` apart; panics on refusal.
fn run(reg: Registration, steps: &[(Command, Actor)], step: Duration) -> Request {
    let mut now = t0();
    let mut events = decide(None, &Command::Register(Box::new(reg)), &operator(), now).unwrap();
    let mut r = fold(&events).unwrap();
    for (cmd, actor) in steps {
        now += step;
        let new = decide(Some(&r), cmd, actor, now).unwrap_or_else(|e| panic!("{} refused: {e}", cmd.name()));
        r = new.iter().fold(Some(r), apply).unwrap();
        events.extend(new);
    }
    assert_eq!(fold(&events).unwrap(), r, "state is the fold of the events");
    r
}

fn dispatched() -> Request {
    run(registration(DeadlineClass::Short, Some("zhek-1")), &[], Duration::zero())
}

fn system_step(step: EscalationStep) -> Command {
    Command::MarkStep { step, policy: SlaPolicy::default() }
}

/// A request in each status, with the actor who may act on it as its organization.
fn in_each_status() -> Vec<(S, Request)> {
    let unrouted = run(registration(DeadlineClass::Short, None), &[], Duration::zero());
    let d = dispatched();
    let in_progress = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::Accept, contractor("zhek-1"))],
        Duration::hours(1),
    );
    let overdue = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[
            (system_step(EscalationStep::Warning), Actor::system()),
            (system_step(EscalationStep::Overdue), Actor::system()),
        ],
        Duration::hours(20),
    );
    let resolved = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::Resolve { resolution: "Залатали".into(), note: None }, contractor("zhek-1"))],
        Duration::hours(2),
    );
    let closed = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[
            (Command::Resolve { resolution: "Залатали".into(), note: None }, contractor("zhek-1")),
            (Command::Close { note: None }, operator()),
        ],
        Duration::hours(2),
    );
    let cancelled = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::Cancel { reason: "Дубль".into() }, operator())],
        Duration::hours(1),
    );
    vec![
        (S::Registered, unrouted),
        (S::Dispatched, d),
        (S::InProgress, in_progress),
        (S::Overdue, overdue),
        (S::Resolved, resolved),
        (S::Closed, closed),
        (S::Cancelled, cancelled),
    ]
}

#[test]
fn the_transition_table_holds_for_every_status_and_command() {
    // (command, actor, statuses it is allowed from, status it leads to (None: unchanged))
    let reason = || "причина".to_string();
    let table: Vec<(Command, Actor, Vec<S>)> = vec![
        (Command::Accept, contractor("zhek-1"), vec![S::Dispatched, S::Overdue]),
        (
            Command::Resolve { resolution: "сделано".into(), note: None },
            contractor("zhek-1"),
            vec![S::Dispatched, S::InProgress, S::Overdue],
        ),
        (
            Command::Reject { reason: reason() },
            contractor("zhek-1"),
            vec![S::Dispatched, S::InProgress, S::Overdue],
        ),
        (
            Command::Reassign { organization: code("heating"), reason: reason() },
            supervisor(),
            vec![S::Registered, S::Dispatched, S::InProgress, S::Overdue],
        ),
        (
            Command::RaiseToEmergency { reason: reason() },
            operator(),
            vec![S::Registered, S::Dispatched, S::InProgress, S::Overdue],
        ),
        (
            Command::Cancel { reason: reason() },
            operator(),
            vec![S::Registered, S::Dispatched, S::InProgress, S::Overdue],
        ),
        (Command::Reopen { reason: reason() }, operator(), vec![S::Resolved, S::Closed]),
        (Command::Close { note: None }, operator(), vec![S::Resolved]),
        (
            Command::LinkIncident { incident: "inc-1".into(), organization: Some(code("res")) },
            operator(),
            vec![S::Registered, S::Dispatched, S::InProgress, S::Overdue],
        ),
    ];
    let states = in_each_status();
    for (cmd, actor, allowed) in &table {
        for (status, r) in &states {
            assert_eq!(r.status, *status);
            let result = decide(Some(r), cmd, actor, r.updated_at + Duration::minutes(1));
            if allowed.contains(status) {
                assert!(result.is_ok(), "{} from {status} should be allowed: {:?}", cmd.name(), result.err());
            } else {
                assert!(
                    matches!(result, Err(DomainError::InvalidTransition { .. })),
                    "{} from {status} should be an invalid transition, got {result:?}",
                    cmd.name()
                );
            }
        }
    }
}

#[test]
fn registration_sets_the_deadline_from_the_class_and_dispatches_by_route() {
    for class in DeadlineClass::ALL {
        let r = run(registration(*class, Some("zhek-1")), &[], Duration::zero());
        assert_eq!(r.deadline - r.registered_at, Duration::hours(class.hours()));
        assert_eq!(r.status, S::Dispatched);
        assert_eq!(r.organization, Some(code("zhek-1")));
    }
    let unrouted = run(registration(DeadlineClass::Long, None), &[], Duration::zero());
    assert_eq!((unrouted.status, unrouted.organization), (S::Registered, None));
}

#[test]
fn the_happy_path_ends_closed() {
    let r = run(
        registration(DeadlineClass::Medium, Some("zhek-1")),
        &[
            (Command::Accept, contractor("zhek-1")),
            (Command::Resolve { resolution: "Заменили кровлю".into(), note: None }, contractor("zhek-1")),
            (Command::Close { note: Some("Заявитель подтвердил".into()) }, Actor::system()),
        ],
        Duration::hours(3),
    );
    assert_eq!(r.status, S::Closed);
    assert_eq!(r.resolved_late, Some(false));
}

#[test]
fn overdue_request_can_still_be_accepted_and_resolved_late() {
    let r = run(
        registration(DeadlineClass::Emergency, Some("res")),
        &[
            (system_step(EscalationStep::Warning), Actor::system()),
            (system_step(EscalationStep::Overdue), Actor::system()),
            (Command::Accept, contractor("res")),
            (Command::Resolve { resolution: "Восстановили питание".into(), note: None }, contractor("res")),
        ],
        Duration::hours(5),
    );
    assert_eq!(r.status, S::Resolved);
    assert_eq!(r.resolved_late, Some(true));
}

#[test]
fn a_contractor_cannot_touch_another_organizations_request() {
    let r = dispatched();
    for cmd in [
        Command::Accept,
        Command::Resolve { resolution: "x".into(), note: None },
        Command::Reject { reason: "x".into() },
    ] {
        let e = decide(Some(&r), &cmd, &contractor("water"), t0()).unwrap_err();
        assert!(matches!(e, DomainError::Forbidden(_)), "{} by another org: {e:?}", cmd.name());
    }
}

#[test]
fn only_supervisors_reassign_and_operators_only_dispatch_the_unrouted() {
    let r = dispatched();
    let cmd = Command::Reassign { organization: code("heating"), reason: "не их".into() };
    assert!(matches!(decide(Some(&r), &cmd, &operator(), t0()), Err(DomainError::Forbidden(_))));
    assert!(decide(Some(&r), &cmd, &supervisor(), t0()).is_ok());
    let unrouted = run(registration(DeadlineClass::Short, None), &[], Duration::zero());
    assert!(decide(Some(&unrouted), &cmd, &operator(), t0()).is_ok());
}

#[test]
fn rejecting_as_misrouted_returns_to_the_unrouted_queue() {
    let r = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::Reject { reason: "Это водоканал".into() }, contractor("zhek-1"))],
        Duration::hours(1),
    );
    assert_eq!((r.status, r.organization), (S::Registered, None));
}

#[test]
fn raising_to_emergency_moves_the_deadline_by_an_event() {
    let r = run(
        registration(DeadlineClass::Long, Some("zhek-1")),
        &[(Command::RaiseToEmergency { reason: "Угроза обрушения".into() }, operator())],
        Duration::hours(1),
    );
    assert_eq!(r.deadline_class, DeadlineClass::Emergency);
    assert_eq!(r.deadline, r.registered_at + Duration::hours(6));
}

#[test]
fn ladder_steps_are_taken_once_in_order_and_only_when_due() {
    let r = dispatched(); // SHORT: warning at 18 h, overdue at 24 h, escalated at 48 h
    let sys = Actor::system();
    let early = decide(Some(&r), &system_step(EscalationStep::Warning), &sys, t0() + Duration::hours(17));
    assert!(matches!(early, Err(DomainError::NotDue(_))));
    let skip = decide(Some(&r), &system_step(EscalationStep::Overdue), &sys, t0() + Duration::hours(30));
    assert!(matches!(skip, Err(DomainError::NotDue(_))), "overdue before warning is refused");
    let w =
        decide(Some(&r), &system_step(EscalationStep::Warning), &sys, t0() + Duration::hours(18)).unwrap();
    let r = w.iter().fold(Some(r), apply).unwrap();
    assert_eq!(r.status, S::Dispatched);
    let again = decide(Some(&r), &system_step(EscalationStep::Warning), &sys, t0() + Duration::hours(19));
    assert!(matches!(again, Err(DomainError::NotDue(_))), "a step is taken once");
    let by_person =
        decide(Some(&r), &system_step(EscalationStep::Overdue), &supervisor(), t0() + Duration::hours(25));
    assert!(matches!(by_person, Err(DomainError::Forbidden(_))));
}

#[test]
fn bad_input_is_refused() {
    let mut reg = registration(DeadlineClass::Short, None);
    reg.description = "   ".into();
    assert!(matches!(
        decide(None, &Command::Register(Box::new(reg)), &operator(), t0()),
        Err(DomainError::Validation(_))
    ));
    let mut reg = registration(DeadlineClass::Short, None);
    reg.applicant.phone = None;
    assert!(matches!(
        decide(None, &Command::Register(Box::new(reg)), &operator(), t0()),
        Err(DomainError::Validation(_))
    ));
    let reg = registration(DeadlineClass::Short, None);
    assert!(matches!(
        decide(None, &Command::Register(Box::new(reg)), &contractor("zhek-1"), t0()),
        Err(DomainError::Forbidden(_))
    ));
    let r = dispatched();
    assert!(matches!(
        decide(
            Some(&r),
            &Command::Resolve { resolution: "".into(), note: None },
            &contractor("zhek-1"),
            t0()
        ),
        Err(DomainError::Validation(_))
    ));
}

#[test]
fn linking_moves_a_held_request_only_for_those_who_may_reassign_it() {
    let r = dispatched();
    let link = Command::LinkIncident { incident: "manual/x".into(), organization: Some(code("res")) };
    let by_operator = decide(Some(&r), &link, &operator(), t0()).unwrap();
    let after = by_operator.iter().fold(Some(r.clone()), apply).unwrap();
    assert_eq!(after.organization, r.organization, "an operator's link leaves the request where it is");
    assert_eq!(after.incident.as_deref(), Some("manual/x"), "but records the link");
    let by_supervisor = decide(Some(&r), &link, &supervisor(), t0()).unwrap();
    let after = by_supervisor.iter().fold(Some(r.clone()), apply).unwrap();
    assert_eq!(after.organization, Some(code("res")), "a supervisor's link moves it");
}

#[test]
fn an_incident_resolves_its_linked_requests_only_on_the_authority_of_its_ender() {
    let r = dispatched();
    let link = Command::LinkIncident { incident: "manual/x".into(), organization: None };
    let linked =
        decide(Some(&r), &link, &operator(), t0()).unwrap().iter().fold(Some(r.clone()), apply).unwrap();
    let resolve = Command::Resolve { resolution: "Свет дали".into(), note: None };
    for (who, allowed) in [
        (operator(), false),
        (contractor("res"), false),
        (contractor("zhek-1"), true),
        (supervisor(), true),
        (Actor::system(), true),
    ] {
        let got = decide(Some(&linked), &resolve, &who, t0());
        assert_eq!(got.is_ok(), allowed, "{who:?}: {got:?}");
        if let Ok(events) = got {
            assert_eq!(events[0].actor, who, "the event carries the real actor");
        }
    }
}

#[test]
fn erasure_takes_the_applicant_out_of_the_record_and_of_every_event_and_only_admins_or_the_system_erase() {
    let r = dispatched();
    let erase = Command::EraseApplicant { reason: "срок хранения истёк".into() };
    assert!(matches!(decide(Some(&r), &erase, &operator(), t0()), Err(DomainError::Forbidden(_))));
    let admin = Actor::person("admin", Role::Admin, None);
    let register = Command::Register(Box::new(registration(DeadlineClass::Short, Some("zhek-1"))));
    let history = decide(None, &register, &operator(), t0()).unwrap();
    let before = fold(&history).unwrap();
    let erased = decide(Some(&before), &erase, &admin, t0()).unwrap();
    let rewritten: Vec<Event> = redact(&history).into_iter().chain(erased).collect();
    let after = fold(&rewritten).unwrap();
    assert_eq!(after.applicant, Applicant::erased());
    assert_eq!((after.status, after.deadline, after.number), (before.status, before.deadline, before.number));
    assert!(rewritten.iter().all(|e| !format!("{e:?}").contains("Иванова")), "no event names the applicant");
    assert!(decide(Some(&after), &erase, &admin, t0()).is_err(), "nothing left to erase");
}

/// The command an operator's page would really send for `action`.
fn real_command(action: actions::Action) -> Command {
    use actions::Action as A;
    match action {
        A::Accept => Command::Accept,
        A::Resolve => Command::Resolve {
            resolution: "Заменили кровлю".into(),
            note: Some("бригада 3".into()),
        },
        A::Reject => {
            Command::Reject { reason: "Это не наш участок, это теплосеть".into() }
        }
        A::Reassign => {
            Command::Reassign { organization: code("water"), reason: "это водоканал".into() }
        }
        A::RaiseToEmergency => {
            Command::RaiseToEmergency { reason: "течёт на проводку".into() }
        }
        A::Cancel => Command::Cancel { reason: "дубликат".into() },
        A::Reopen => Command::Reopen { reason: "снова течёт".into() },
        A::Close => Command::Close { note: Some("подтвердил".into()) },
        A::LinkToIncident => {
            Command::LinkIncident { incident: "manual/roof".into(), organization: Some(code("res")) }
        }
        A::UnlinkFromIncident => Command::UnlinkIncident { reason: "другая причина".into() },
        A::AddNote => Command::AddNote { note: "Звонила снова, стало хуже".into() },
        A::Correct => Command::Correct(Box::new(correction::Correction {
            category: None,
            address: None,
            description: Some("Течёт с потолка на 9 этаже, не на 5".into()),
            route: None,
            reason: "ошибся этажом".into(),
        })),
        A::AddApplicant => Command::AddApplicant {
            applicant: Applicant {
                name: Some("Соседка Петрова".into()),
                phone: Phone::parse("+78564129999").ok(),
                callback_consent: true,
            },
        },
    }
}

#[test]
fn the_offered_actions_are_exactly_the_commands_decide_accepts_in_every_status_for_every_role() {
    let mut states = in_each_status();
    let linked = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::LinkIncident { incident: "manual/x".into(), organization: None }, operator())],
        Duration::hours(1),
    );
    states.push((linked.status, linked));
    let actors = [
        operator(),
        supervisor(),
        Actor::person("admin", Role::Admin, None),
        contractor("zhek-1"),
        contractor("water"),
        Actor::system(),
    ];
    let mut checked = 0;
    for (status, r) in &states {
        for actor in &actors {
            let offered = actions::allowed(r, actor, t0());
            for action in actions::Action::ALL {
                let accepted = decide(Some(r), &real_command(action), actor, t0()).is_ok();
                assert_eq!(offered.contains(&action), accepted, "{action:?} on {status:?} by {actor:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, states.len() * actors.len() * actions::Action::ALL.len());
}

#[test]
fn the_status_answer_reads_out_the_number_the_organization_the_deadline_and_the_state() {
    let zone = crate::service::moscow();
    let r = dispatched();
    let ru = crate::status_script::status_answer(&r, Some("ЖЭК №1"), t0() + Duration::hours(2), zone, false);
    assert_eq!(
        ru,
        "Ваша заявка № 2026-000001 передана в ЖЭК №1, срок исполнения до 03.11.2026 12:00 (осталось 22 ч 0 мин), сейчас исполнитель ещё не приступил."
    );
    let en = crate::status_script::status_answer(&r, Some("Housing office 1"), t0(), zone, true);
    assert!(
        en.starts_with(
            "Your request No. 2026-000001 was sent to Housing office 1, deadline 03.11.2026 12:00"
        ),
        "{en}"
    );
    let raised = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::RaiseToEmergency { reason: "искрит".into() }, operator())],
        Duration::minutes(1),
    );
    let ru = crate::status_script::status_answer(&raised, Some("ЖЭК №1"), t0(), zone, false);
    assert!(ru.contains("до 02.11.2026 18:00"), "an emergency's 6 hours, never 24: {ru}");
}

#[test]
fn a_correction_tightens_the_deadline_at_once_loosens_it_only_for_a_supervisor_and_reroutes_only_unaccepted_cards()
 {
    let mut emergency = registration(DeadlineClass::Emergency, Some("res")).category;
    emergency.code = code("gas-smell");
    let mut long = registration(DeadlineClass::Long, Some("zhek-1")).category;
    long.code = code("bench-repair");
    let correct = |category: &Category, route: &str| {
        Command::Correct(Box::new(correction::Correction {
            category: Some(category.clone()),
            address: None,
            description: None,
            route: Some(code(route)),
            reason: "не та категория".into(),
        }))
    };
    let r = dispatched();
    let tighter = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(correct(&emergency, "gas"), operator())],
        Duration::minutes(1),
    );
    assert_eq!(
        (tighter.deadline_class, tighter.deadline),
        (DeadlineClass::Emergency, r.registered_at + Duration::hours(6))
    );
    assert_eq!(tighter.organization, Some(code("gas")), "not accepted yet: routed again");
    assert!(matches!(
        decide(Some(&r), &correct(&long, "zhek-1"), &operator(), t0()),
        Err(DomainError::Forbidden(_))
    ));
    assert!(
        decide(Some(&r), &correct(&long, "zhek-1"), &supervisor(), t0()).is_ok(),
        "a supervisor may loosen it"
    );
    let accepted = run(
        registration(DeadlineClass::Short, Some("zhek-1")),
        &[(Command::Accept, contractor("zhek-1")), (correct(&emergency, "gas"), operator())],
        Duration::minutes(1),
    );
    assert_eq!(accepted.organization, Some(code("zhek-1")), "accepted: it stays until someone reassigns it");
    assert_eq!(accepted.deadline_class, DeadlineClass::Emergency);
}

fn caller(phone: &str, consent: bool) -> Applicant {
    Applicant {
        name: Some("Другой заявитель".into()),
        phone: Some(crate::model::Phone::parse(phone).unwrap()),
        callback_consent: consent,
    }
}

#[test]
fn another_caller_is_attached_once_by_the_contact_center_while_the_request_is_open() {
    let r = dispatched();
    let add = |r: &Request, a: Applicant, who: &Actor| {
        decide(Some(r), &Command::AddApplicant { applicant: a }, who, t0())
    };
    let events = add(&r, caller("+78564120001", true), &operator()).unwrap();
    let after = events.iter().fold(Some(r.clone()), apply).unwrap();
    assert_eq!(after.co_applicants.len(), 1);
    assert!(after.called_from(&crate::model::Phone::parse("+78564120001").unwrap()));
    // The same phone twice, or the first applicant's phone, is refused.
    assert!(matches!(
        add(&after, caller("+78564120001", false), &operator()),
        Err(DomainError::Validation(_))
    ));
    let first = after.applicant.phone.clone().unwrap();
    let again = Applicant { phone: Some(first), ..caller("+78564120001", false) };
    assert!(matches!(add(&after, again, &operator()), Err(DomainError::Validation(_))));
    // A contractor may not; nobody may on a finished request; nobody without a name or phone.
    assert!(matches!(
        add(&r, caller("+78564120002", true), &contractor("res-gorlovka")),
        Err(DomainError::Forbidden(_))
    ));
    let (_, closed) = in_each_status().into_iter().find(|(s, _)| *s == S::Closed).unwrap();
    assert!(matches!(
        add(&closed, caller("+78564120002", true), &operator()),
        Err(DomainError::InvalidTransition { .. })
    ));
    assert!(matches!(add(&r, Applicant::default(), &operator()), Err(DomainError::Validation(_))));
}

#[test]
fn a_resolution_calls_back_every_applicant_who_agreed() {
    let r = dispatched();
    let mut events = decide(
        Some(&r),
        &Command::AddApplicant { applicant: caller("+78564120001", true) },
        &operator(),
        t0(),
    )
    .unwrap();
    let r = events.iter().fold(Some(r), apply).unwrap();
    events = decide(
        Some(&r),
        &Command::AddApplicant { applicant: caller("+78564120002", false) },
        &operator(),
        t0(),
    )
    .unwrap();
    let r = events.iter().fold(Some(r), apply).unwrap();
    let accepted = decide(Some(&r), &Command::Accept, &contractor("zhek-1"), t0()).unwrap();
    let r = accepted.iter().fold(Some(r), apply).unwrap();
    let resolved = decide(
        Some(&r),
        &Command::Resolve { resolution: "Сделано".into(), note: None },
        &contractor("zhek-1"),
        t0(),
    )
    .unwrap();
    let after = resolved.iter().fold(Some(r), apply).unwrap();
    let tasks = crate::callbacks::callbacks_for(&after, &resolved, t0());
    let phones: Vec<&str> = tasks.iter().filter_map(|t| t.phone.as_ref().map(|p| p.as_str())).collect();
    // The first applicant agreed; of the two attached, only the first did.
    assert_eq!(phones.len(), 2, "{phones:?}");
    assert!(phones.contains(&"+78564120001"));
    assert_eq!(tasks[0].resolution_key(), tasks[1].resolution_key());
    assert_ne!(tasks[0].id, tasks[1].id);
    assert_ne!(tasks[0].idempotency_key, tasks[1].idempotency_key);
}

#[test]
fn erasure_takes_every_applicant_out_of_the_record_and_the_history() {
    let r = dispatched();
    let added = decide(
        Some(&r),
        &Command::AddApplicant { applicant: caller("+78564120001", true) },
        &operator(),
        t0(),
    )
    .unwrap();
    let r = added.iter().fold(Some(r), apply).unwrap();
    let redacted = redact(&added);
    assert!(
        matches!(&redacted[0].kind, EventKind::ApplicantAdded { applicant } if !applicant.holds_personal_data())
    );
    let admin = Actor::person("admin", Role::Admin, None);
    let erased =
        decide(Some(&r), &Command::EraseApplicant { reason: "срок хранения".into() }, &admin, t0()).unwrap();
    let after = erased.iter().fold(Some(r), apply).unwrap();
    assert!(after.applicants().all(|a| !a.holds_personal_data()));
    assert!(after.co_applicants.is_empty());
}

#[test]
fn a_request_overdue_in_an_organizations_hands_stays_against_it_after_a_rejection() {
    let r = dispatched();
    let policy = SlaPolicy::default();
    let late = r.deadline + Duration::minutes(1);
    let step = |r: &Request, step| {
        let e = decide(Some(r), &Command::MarkStep { step, policy }, &Actor::system(), late).unwrap();
        e.iter().fold(Some(r.clone()), apply).unwrap()
    };
    let r = step(&step(&r, EscalationStep::Warning), EscalationStep::Overdue);
    assert_eq!(r.overdue_holder.as_ref().map(|o| o.as_str()), Some("zhek-1"));
    // "Not ours", with any reason, does not take it off the figures.
    let e =
        decide(Some(&r), &Command::Reject { reason: "не наша".into() }, &contractor("zhek-1"), late).unwrap();
    let r = e.iter().fold(Some(r), apply).unwrap();
    assert_eq!(r.organization, None);
    assert_eq!(r.responsible().map(|o| o.as_str()), Some("zhek-1"));
    // A rejection before the deadline is no lateness of its own.
    let fresh = dispatched();
    let e = decide(Some(&fresh), &Command::Reject { reason: "не наша".into() }, &contractor("zhek-1"), t0())
        .unwrap();
    assert_eq!(e.iter().fold(Some(fresh), apply).unwrap().responsible(), None);
}

#[test]
fn the_registered_event_is_stored_without_what_every_new_card_has_and_reads_back_whole() {
    let events = decide(
        None,
        &Command::Register(Box::new(registration(DeadlineClass::Short, Some("zhek-1")))),
        &operator(),
        t0(),
    )
    .unwrap();
    let registered = &events[0];
    let EventKind::Registered { request } = &registered.kind else { panic!("{registered:?}") };
    let stored = kontakt_storage::codec::encode(registered).unwrap();
    assert_eq!(&kontakt_storage::codec::decode::<Event>(&stored).unwrap(), registered);
    let as_value: serde_json::Value = kontakt_storage::codec::decode(&stored).unwrap();
    for left_out in ["status", "organization", "resolution", "escalation", "updated_at", "events", "reopened"]
    {
        assert!(as_value["kind"]["request"].get(left_out).is_none(), "{left_out} in {as_value}");
    }
    // Format 1 stored the whole card as JSON; it reads as the same event.
    let mut v1 = serde_json::to_value(registered).unwrap();
    v1["kind"]["request"] = serde_json::to_value(&**request).unwrap();
    let v1 = serde_json::to_vec(&v1).unwrap();
    assert_eq!(kontakt_storage::codec::decode::<Event>(&v1).unwrap(), *registered);
    assert!(stored.len() * 3 < v1.len() * 2, "{} B against {} B", stored.len(), v1.len());

    // A card that is not as registration leaves it (an unusual history) keeps every field.
    let mut odd = (**request).clone();
    odd.status = S::InProgress;
    odd.organization = Some(code("zhek-1"));
    odd.escalation = Some(EscalationStep::Warning);
    odd.updated_at = t0() + Duration::hours(1);
    odd.events = 3;
    odd.reopened = 1;
    let event = Event { kind: EventKind::Registered { request: Box::new(odd) }, ..registered.clone() };
    let back: Event =
        kontakt_storage::codec::decode(&kontakt_storage::codec::encode(&event).unwrap()).unwrap();
    assert_eq!(back, event);
}
