//! Analysis of each organization against its regulated deadlines — weekly
//! compliance, by class and category, the worst categories, the addresses
//! that keep calling — with city and regional subordination side by side and
//! a draft appeal for each regional organization below target; and the plan
//! of what each organization needs over the coming year.
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

    fn add(&mut self, r: &Request, to: DateTime<Utc>) {
        match (r.resolved_at, r.resolved_late) {
            (Some(at), Some(late)) if at < to => {
                if late {
                    self.late += 1;
                } else {
                    self.on_time += 1;
                }
            }
            _ if r.status.is_open() || r.resolved_at.is_some_and(|at| at >= to) => self.open_overdue += 1,
            _ => {}
        }
    }
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
    requests: &[Request],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    city: FixedOffset,
    target: f64,
) -> Vec<Performance> {
    organizations
        .iter()
        .map(|org| {
            let mine: Vec<&Request> = requests
                .iter()
                // Judged against whoever held it when it became overdue: rejecting or
                // passing on a late request does not take it off one's figures.
                .filter(|r| r.responsible() == Some(&org.id) && r.deadline >= from && r.deadline < to)
                .filter(|r| r.status != crate::model::RequestStatus::Cancelled)
                .filter(|r| r.resolved_at.is_some() || r.deadline <= to)
                .collect();
            let mut total = Tally::default();
            let mut weeks: BTreeMap<NaiveDate, Tally> = BTreeMap::new();
            let mut by_class: BTreeMap<DeadlineClass, Tally> = BTreeMap::new();
            let mut by_category: BTreeMap<CategoryCode, Tally> = BTreeMap::new();
            for r in &mine {
                total.add(r, to);
                weeks.entry(monday(r.deadline, city)).or_default().add(r, to);
                by_class.entry(r.deadline_class).or_default().add(r, to);
                by_category.entry(r.category.clone()).or_default().add(r, to);
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
                    Some(appeal_text(org, &total, c, target, from, to, city, &worst))
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
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    city: FixedOffset,
    worst: &[(CategoryCode, f64)],
) -> String {
    let day = |d: DateTime<Utc>| d.with_timezone(&city).format("%d.%m.%Y").to_string();
    let worst: Vec<String> = worst.iter().take(3).map(|(c, x)| format!("{c} ({:.0} %)", x * 100.0)).collect();
    format!(
        "В областную администрацию. О соблюдении регламентных сроков: {name}.\n\
         За период с {from} по {to} Контакт-центр города направил в {name} обращения граждан, срок исполнения \
         которых истекал в этом периоде. В срок исполнено {on_time}, с нарушением срока — {late}, \
         не исполнено на конец периода при истёкшем сроке — {open}. Доля исполненных в срок составила {pct:.1} % \
         при нормативе {target_pct:.0} %.{worst}\n\
         Просим принять меры к соблюдению регламентных сроков и сообщить о принятых мерах.",
        name = org.name_ru,
        from = day(from),
        to = day(to - Duration::seconds(1)),
        on_time = t.on_time,
        late = t.late,
        open = t.open_overdue,
        pct = compliance * 100.0,
        target_pct = target * 100.0,
        worst = if worst.is_empty() {
            String::new()
        } else {
            format!(" Наибольшие нарушения: {}.", worst.join(", "))
        },
    )
}

/// One organization's expected month.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityRow {
    /// The organization.
    pub organization: OrgId,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Requests expected: the organization's average month times the
    /// seasonal factor of that calendar month (heating season shows here).
    pub expected_requests: f64,
    /// Crews needed so that, by Little's law, the work in hand fits the crews:
    /// Σ over classes of arrival rate × mean handling time.
    pub crews_needed: f64,
    /// Crews the organization has.
    pub crews_configured: u32,
    /// Needed minus configured (positive: short).
    pub gap: f64,
}

/// Mean hours from acceptance (or registration) to resolution per class, from
/// history. A class with no history is assumed to take a quarter of its window.
fn handling_hours(mine: &[&Request]) -> BTreeMap<DeadlineClass, f64> {
    let mut sums: BTreeMap<DeadlineClass, (f64, u32)> = BTreeMap::new();
    for r in mine {
        if let Some(done) = r.resolved_at {
            let start = r.accepted_at.unwrap_or(r.registered_at).min(done);
            let e = sums.entry(r.deadline_class).or_default();
            e.0 += (done - start).num_seconds() as f64 / 3600.0;
            e.1 += 1;
        }
    }
    sums.into_iter().map(|(c, (s, n))| (c, s / f64::from(n))).collect()
}

/// The next `months` months per organization, from the requests of the history window.
pub fn capacity_plan(
    organizations: &[Organization],
    history: &[Request],
    now: DateTime<Utc>,
    months: u32,
    city: FixedOffset,
) -> Vec<CapacityRow> {
    let today = now.with_timezone(&city).date_naive();
    let mut out = Vec::new();
    for org in organizations {
        let mine: Vec<&Request> =
            history.iter().filter(|r| r.organization.as_ref() == Some(&org.id)).collect();
        // Requests per (year, month) and per class, in city time.
        let mut per_month: BTreeMap<(i32, u32), f64> = BTreeMap::new();
        let mut per_class: BTreeMap<DeadlineClass, f64> = BTreeMap::new();
        for r in &mine {
            let d = r.registered_at.with_timezone(&city).date_naive();
            *per_month.entry((d.year(), d.month())).or_default() += 1.0;
            *per_class.entry(r.deadline_class).or_default() += 1.0;
        }
        let observed = per_month.len().max(1) as f64;
        let total: f64 = per_month.values().sum();
        let base = total / observed;
        // Seasonal factor of a calendar month: its average over the average month.
        let mut by_calendar: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
        for ((_, m), n) in &per_month {
            let e = by_calendar.entry(*m).or_default();
            e.0 += n;
            e.1 += 1.0;
        }
        let handling = handling_hours(&mine);
        let share: BTreeMap<DeadlineClass, f64> =
            per_class.iter().map(|(c, n)| (*c, n / total.max(1.0))).collect();
        let (mut year, mut month) = (today.year(), today.month());
        for _ in 0..months {
            month += 1;
            if month > 12 {
                month = 1;
                year += 1;
            }
            let factor =
                by_calendar.get(&month).map_or(1.0, |(n, k)| if base > 0.0 { n / k / base } else { 1.0 });
            let expected = base * factor;
            let hours_in_month = f64::from(days_in(year, month)) * 24.0;
            let crews: f64 = share
                .iter()
                .map(|(c, s)| {
                    expected * s / hours_in_month * handling.get(c).copied().unwrap_or(c.hours() as f64 / 4.0)
                })
                .sum();
            out.push(CapacityRow {
                organization: org.id.clone(),
                month: format!("{year:04}-{month:02}"),
                expected_requests: expected,
                crews_needed: crews,
                crews_configured: org.crews,
                gap: crews - f64::from(org.crews),
            });
        }
    }
    out
}

fn days_in(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    }
}
