//! Analysis of each organization against its regulated deadlines — weekly
//! compliance, by class and category, the worst categories, the addresses
//! that keep calling — with city and regional subordination side by side and
//! a draft appeal for each regional organization below target. The plan of
//! what each organization needs over the coming year is [`crate::capacity`].
//!
//! Everything here is a pure function of requests and their histories.
//! Compliance is on time ÷ (resolved + still open past the deadline), over
//! the requests whose deadline fell in the period.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};

use crate::lifecycle::Request;
use crate::model::{CategoryCode, DeadlineClass, OrgId, Organization, Subordination};

/// Compliance counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Resolved within the deadline.
    pub on_time: u32,
    /// Resolved after it.
    pub late: u32,
    /// Still open past it at the end of the period.
    pub open_overdue: u32,
}

impl Tally {
    /// on time ÷ (resolved + open overdue); `None` with nothing to judge.
    pub fn compliance(&self) -> Option<f64> {
        let d = self.on_time + self.late + self.open_overdue;
        (d > 0).then(|| f64::from(self.on_time) / f64::from(d))
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::OnTime => self.on_time += 1,
            Outcome::Late => self.late += 1,
            Outcome::OpenOverdue => self.open_overdue += 1,
        }
    }
}

/// How a request due in the period ended up, as of the period's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Resolved within the deadline.
    OnTime,
    /// Resolved after it.
    Late,
    /// Still open past it at the end of the period.
    OpenOverdue,
}

fn outcome(r: &Request, to: DateTime<Utc>) -> Option<Outcome> {
    match (r.resolved_at, r.resolved_late) {
        (Some(at), Some(late)) if at < to => Some(if late { Outcome::Late } else { Outcome::OnTime }),
        _ if r.status.is_open() || r.resolved_at.is_some_and(|at| at >= to) => Some(Outcome::OpenOverdue),
        _ => None,
    }
}

/// The requests judged against `org` over `[from, to)` with their outcomes:
/// those whose deadline fell in the period, judged against whoever held
/// them when they became overdue — rejecting or passing on a late request
/// does not take it off one's figures. Cancelled ones are not judged.
pub fn judged<'a>(
    org: &OrgId,
    requests: &'a [Request],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(&'a Request, Outcome)> {
    requests
        .iter()
        .filter(|r| r.responsible() == Some(org) && r.deadline >= from && r.deadline < to)
        .filter(|r| r.status != crate::model::RequestStatus::Cancelled)
        .filter(|r| r.resolved_at.is_some() || r.deadline <= to)
        .filter_map(|r| outcome(r, to).map(|o| (r, o)))
        .collect()
}

/// The Monday (city date) starting the week of `at`.
pub fn week_of(at: DateTime<Utc>, city: FixedOffset) -> NaiveDate {
    monday(at, city)
}

/// One organization over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Performance {
    /// The organization.
    pub organization: Organization,
    /// Over the whole period.
    pub total: Tally,
    /// Per week, by the Monday (city date) that starts it.
    pub weeks: Vec<(NaiveDate, Tally)>,
    /// Per deadline class.
    pub by_class: Vec<(DeadlineClass, Tally)>,
    /// Per category.
    pub by_category: Vec<(CategoryCode, Tally)>,
    /// Categories with the lowest compliance (at least 3 judged), worst first.
    pub worst_categories: Vec<CategoryCode>,
    /// Buildings with 3 or more requests in the period, most first.
    pub repeat_addresses: Vec<(String, u32)>,
    /// For a regional organization below target: the appeal the city would file.
    pub appeal: Option<String>,
}

fn monday(at: DateTime<Utc>, city: FixedOffset) -> NaiveDate {
    let d = at.with_timezone(&city).date_naive();
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// Each organization's performance on the requests whose deadline fell in `[from, to)`.
pub fn performance(
    organizations: &[Organization],
    categories: &[crate::model::Category],
    requests: &[Request],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    city: FixedOffset,
    target: f64,
) -> Vec<Performance> {
    organizations
        .iter()
        .map(|org| {
            let mut total = Tally::default();
            let mut weeks: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
            let mut by_class: BTreeMap<DeadlineClass, Tally> = BTreeMap::new();
            let mut by_category: BTreeMap<CategoryCode, Tally> = BTreeMap::new();
            for (r, o) in judged(&org.id, requests, from, to) {
                total.add(o);
                weeks.entry(monday(r.deadline, city)).or_default().add(o);
                by_class.entry(r.deadline_class).or_default().add(o);
                by_category.entry(r.category.clone()).or_default().add(o);
            }
            let mut worst: Vec<(CategoryCode, f64)> = by_category
                .iter()
                .filter(|(_, t)| t.on_time + t.late + t.open_overdue >= 3)
                .filter_map(|(c, t)| t.compliance().map(|x| (c.clone(), x)))
                .filter(|(_, x)| *x < 1.0)
                .collect();
            worst.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let mut at_address: BTreeMap<String, u32> = BTreeMap::new();
            for r in requests.iter().filter(|r| {
                r.organization.as_ref() == Some(&org.id) && r.registered_at >= from && r.registered_at < to
            }) {
                *at_address.entry(r.address.label()).or_default() += 1;
            }
            let mut repeat: Vec<(String, u32)> = at_address.into_iter().filter(|(_, n)| *n >= 3).collect();
            repeat.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let appeal = match (org.subordination, total.compliance()) {
                (Subordination::Regional, Some(c)) if c < target => {
                    Some(appeal_text(org, &total, c, target, (from, to), city, &worst, categories))
                }
                _ => None,
            };
            Performance {
                organization: org.clone(),
                total,
                weeks: weeks.into_iter().collect(),
                by_class: by_class.into_iter().collect(),
                by_category: by_category.into_iter().collect(),
                worst_categories: worst.into_iter().take(5).map(|(c, _)| c).collect(),
                repeat_addresses: repeat.into_iter().take(10).collect(),
                appeal,
            }
        })
        .collect()
}

#[expect(clippy::too_many_arguments, reason = "the appeal cites every figure it is built from")]
fn appeal_text(
    org: &Organization,
    t: &Tally,
    compliance: f64,
    target: f64,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    city: FixedOffset,
    worst: &[(CategoryCode, f64)],
    categories: &[crate::model::Category],
) -> String {
    let day = |d: DateTime<Utc>| d.with_timezone(&city).format("%d.%m.%Y").to_string();
    let name = |c: &CategoryCode| {
        categories.iter().find(|x| &x.code == c).map_or_else(|| c.to_string(), |x| format!("«{}»", x.name_ru))
    };
    // Russian writes a decimal comma: 68,0 %.
    let pct = |x: f64, digits: usize| format!("{:.*}", digits, x * 100.0).replace('.', ",");
    let worst: Vec<String> =
        worst.iter().take(3).map(|(c, x)| format!("{} ({} %)", name(c), pct(*x, 0))).collect();
    format!(
        "В областную администрацию. О соблюдении регламентных сроков: {name}.\n\
         За период с {from} по {to} Контакт-центр города направил в {name} обращения граждан, срок исполнения \
         которых истекал в этом периоде. В срок исполнено {on_time}, с нарушением срока — {late}, \
         не исполнено на конец периода при истёкшем сроке — {open}. Доля исполненных в срок составила {pct} % \
         при нормативе {target_pct} %.{worst}\n\
         Просим принять меры к соблюдению регламентных сроков и сообщить о принятых мерах.",
        name = org.name_ru,
        from = day(from),
        to = day(to - Duration::seconds(1)),
        on_time = t.on_time,
        late = t.late,
        open = t.open_overdue,
        pct = pct(compliance, 1),
        target_pct = pct(target, 0),
        worst = if worst.is_empty() {
            String::new()
        } else {
            format!(" Наибольшие нарушения: {}.", worst.join(", "))
        },
    )
}
