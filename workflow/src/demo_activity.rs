//! The demo city's recent past: a working fortnight of calls, acceptances,
//! resolutions (some late), misrouted cards, closings and one incident still
//! under way, written through the service itself with a clock that walks from
//! the past to now. The SLA sweep runs along the way, so every warning,
//! overdue mark and escalation in the history is the engine's own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Timelike, Utc};
use kontakt_storage::Store;

use crate::incidents::{Area, IncidentReport};
use crate::model::{Actor, Address, Category, Channel, OrgId, Phone, RequestId, Role};
use crate::service::{AddressPoint, moscow};
use crate::{Applicant, Command, DomainError, Kontakt, ManualClock, NewRequest, SlaPolicy};

/// The marker recording that the activity is written.
pub const ACTIVITY_MARK: &str = "demo-activity";

/// What the simulation wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Requests registered.
    pub requests: usize,
    /// Commands carried out after registration.
    pub commands: usize,
    /// Ladder steps the sweep took.
    pub steps: usize,
}

/// SplitMix64: the same city on every machine, without a dependency.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Steps by time; equal times keep the order they were planned in.
#[derive(Default)]
struct Agenda {
    queue: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
    steps: Vec<Option<Step>>,
}

impl Agenda {
    fn push(&mut self, at: DateTime<Utc>, step: Step) {
        self.queue.push(Reverse((at, self.steps.len())));
        self.steps.push(Some(step));
    }

    fn pop(&mut self) -> Option<(DateTime<Utc>, Step)> {
        let Reverse((at, index)) = self.queue.pop()?;
        self.steps.get_mut(index).and_then(Option::take).map(|s| (at, s))
    }
}

enum Step {
    Register(Box<NewRequest>, Plan),
    Run(RequestId, Command, Actor),
}

/// What happens to a card after it is registered, as shares of its window.
#[derive(Clone, Copy)]
struct Plan {
    accept: Option<f64>,
    resolve: Option<f64>,
    reject: bool,
    close_after_h: Option<i64>,
}

const NAMES: &[&str] = &[
    "Коваленко Ирина",
    "Шевченко Пётр",
    "Бондаренко Анна",
    "Ткаченко Сергей",
    "Кравченко Людмила",
    "Олейник Виктор",
    "Мельник Татьяна",
    "Руденко Андрей",
    "Савченко Наталья",
    "Литвиненко Олег",
];

fn description(group: &str, dice: &mut Dice) -> String {
    let lines: &[&str] = match group {
        "Электроснабжение" => &[
            "Нет света в квартире и у соседей по площадке.",
            "Мигает свет, напряжение скачет с вечера.",
            "Отключилось электричество во всём подъезде.",
        ],
        "Водоснабжение" => &[
            "Нет холодной воды с утра.",
            "Во дворе из люка течёт вода.",
            "Вода идёт ржавая, пить невозможно.",
        ],
        "Теплоснабжение" => &[
            "Батареи холодные второй день.",
            "Течёт стояк отопления в подвале.",
            "Нет горячей воды, сосед сверху тоже без воды.",
        ],
        _ => &[
            "Прошу принять меры, жильцы жалуются.",
            "Проблема повторяется, просим устранить.",
            "Обращаюсь от имени жильцов дома.",
        ],
    };
    (*dice.pick(lines)).to_string()
}

/// Writes `days` of past activity ending at `now`, unless it was written
/// before (`None`). Resumable: requests are written one by one, the marker last.
pub fn seed(
    store: Arc<dyn Store>,
    policy: SlaPolicy,
    now: DateTime<Utc>,
    days: i64,
) -> Result<Option<Activity>, DomainError> {
    let start = now - Duration::days(days);
    let clock = Arc::new(ManualClock::new(start));
    let k = Kontakt::new(store, clock.clone()).with_policy(policy)?;
    if k.marker(ACTIVITY_MARK)?.is_some() || days <= 0 {
        return Ok(None);
    }
    let addresses = crate::demo::addresses()?;
    let categories: Vec<Category> = k.categories()?;
    if addresses.is_empty() || categories.is_empty() {
        return Err(DomainError::Validation("the demo city is not loaded".into()));
    }
    let mut dice = Dice(0x4B4F_4E54_414B_5431);
    let operator = Actor::person("operator-demo", Role::Operator, None);
    let mut queue = Agenda::default();

    for day in 0..days {
        let midnight = (start + Duration::days(day)).with_timezone(&moscow()).with_hour(0);
        let Some(midnight) = midnight.and_then(|d| d.with_minute(0)).map(|d| d.with_timezone(&Utc)) else {
            continue;
        };
        for _ in 0..(10 + dice.below(8)) {
            let at = midnight + Duration::minutes(7 * 60 + dice.below(15 * 60) as i64);
            if at < start || at >= now {
                continue;
            }
            let category = dice.pick(&categories);
            let address: &Address = dice.pick(&addresses);
            let with_phone = dice.unit() < 0.75;
            let applicant = Applicant {
                name: with_phone.then(|| (*dice.pick(NAMES)).to_string()),
                phone: if with_phone {
                    Some(Phone::parse(&format!("+7856{:07}", dice.next() % 10_000_000))?)
                } else {
                    None
                },
                callback_consent: with_phone && dice.unit() < 0.6,
            };
            let new = NewRequest {
                category: category.code.clone(),
                address: AddressPoint::Id(address.id.as_str().to_string()),
                description: description(&category.group, &mut dice),
                channel: if dice.unit() < 0.85 { Channel::Phone } else { Channel::Web },
                applicant,
                raise_reason: None,
                incident: None,
            };
            let roll = dice.unit();
            // Most cards are taken soon; about one in five waits in a backlog.
            // The work itself takes a small part of the window, so lateness
            // comes from waiting, as in a real organization: the analysis has
            // something to find and the plan crews to size.
            let backlog = dice.unit() < 0.2;
            let accept = if backlog { 0.4 + dice.unit() * 0.8 } else { 0.02 + dice.unit() * 0.3 };
            let work = 0.04 + dice.unit() * 0.3;
            let plan = Plan {
                accept: (roll < 0.93).then_some(accept),
                resolve: (roll < 0.85).then_some(accept + work),
                reject: roll >= 0.96,
                close_after_h: (dice.unit() < 0.6).then(|| 1 + dice.below(20) as i64),
            };
            queue.push(at, Step::Register(Box::new(new), plan));
        }
    }

    let mut activity = Activity { requests: 0, commands: 0, steps: 0 };
    let mut swept_to = start;
    while let Some((at, step)) = queue.pop() {
        if at >= now {
            break;
        }
        activity.steps += sweep_until(&k, &clock, &mut swept_to, at)?;
        clock.set(at);
        match step {
            Step::Register(new, plan) => {
                let outcome = k.register(*new, &operator)?;
                activity.requests += 1;
                let r = outcome.request;
                let Some(org) = r.organization.clone() else { continue };
                let window = (r.deadline - r.registered_at).num_seconds() as f64;
                let after = |share: f64| at + Duration::seconds((window * share) as i64);
                let crew = crew(&org);
                if plan.reject {
                    let reason = "Не наш участок: передайте в управляющую компанию.".to_string();
                    queue.push(after(0.05), Step::Run(r.id, Command::Reject { reason }, crew.clone()));
                    continue;
                }
                if let Some(share) = plan.accept {
                    queue.push(after(share), Step::Run(r.id, Command::Accept, crew.clone()));
                }
                if let Some(share) = plan.resolve {
                    let resolve_at = after(share.max(plan.accept.unwrap_or(0.0) + 0.05));
                    let resolution = "Неисправность устранена, работы выполнены.".to_string();
                    queue.push(
                        resolve_at,
                        Step::Run(r.id, Command::Resolve { resolution, note: None }, crew.clone()),
                    );
                    if let Some(h) = plan.close_after_h {
                        let note = Some("Заявитель подтвердил выполнение.".to_string());
                        let close = Command::Close { note };
                        queue.push(resolve_at + Duration::hours(h), Step::Run(r.id, close, operator.clone()));
                    }
                }
            }
            Step::Run(id, command, actor) => match k.execute(id, command, &actor) {
                Ok(_) => activity.commands += 1,
                // A ladder step or an incident may have moved the request on; the plan simply lapses.
                Err(DomainError::InvalidTransition { .. }) => {}
                Err(e) => return Err(e),
            },
        }
    }
    activity.steps += sweep_until(&k, &clock, &mut swept_to, now)?;
    clock.set(now);
    activity.requests += incident_under_way(&k, &addresses, now, &operator)?;
    k.set_marker(ACTIVITY_MARK, &now.to_rfc3339())?;
    Ok(Some(activity))
}

fn crew(org: &OrgId) -> Actor {
    Actor::person(&format!("crew-{org}"), Role::Contractor, Some(org.clone()))
}

/// Runs the SLA sweep every quarter of an hour of simulated time up to `until`.
fn sweep_until(
    k: &Kontakt,
    clock: &ManualClock,
    swept_to: &mut DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let mut steps = 0;
    while *swept_to + Duration::minutes(15) <= until {
        *swept_to += Duration::minutes(15);
        clock.set(*swept_to);
        loop {
            let done = k.sweep(256)?;
            steps += done.len();
            if done.len() < 256 {
                break;
            }
        }
    }
    Ok(steps)
}

/// A transformer substation fault since two hours ago on one street, with the
/// calls it brought linked to it.
fn incident_under_way(
    k: &Kontakt,
    addresses: &[Address],
    now: DateTime<Utc>,
    operator: &Actor,
) -> Result<usize, DomainError> {
    let street = addresses[addresses.len() / 3].street.clone();
    let report = IncidentReport {
        source: "manual".into(),
        identifier: "demo-tp-207".into(),
        title: format!("Повреждение на ТП-207: нет света, {street}"),
        kind: "power".into(),
        organization: Some(OrgId::parse("res-gorlovka")?),
        started_at: now - Duration::hours(2),
        expected_end_at: Some(now + Duration::hours(3)),
        area: Area { streets: vec![street.clone()], ..Default::default() },
        area_description: Some(format!("{street}, вся улица")),
        ended: None,
    };
    let incident = match k.report_incident(report, &Actor::system())? {
        Some(change) => change.incident.id,
        None => return Ok(0),
    };
    let on_street: Vec<&Address> = addresses.iter().filter(|a| a.street == street).take(4).collect();
    for a in &on_street {
        k.register(
            NewRequest {
                category: crate::model::CategoryCode::parse("power-outage-building")?,
                address: AddressPoint::Id(a.id.as_str().to_string()),
                description: "Нет света во всём доме.".into(),
                channel: Channel::Phone,
                applicant: Applicant::default(),
                raise_reason: None,
                incident: Some(incident.clone()),
            },
            operator,
        )?;
    }
    Ok(on_street.len())
}
