//! The daily monitoring report: for each organization and deadline class,
//! what came in, what was resolved and how fast, what is overdue, and how
//! well the regulated deadlines were kept — plus every request that was open
//! during the day with its time left or how long it is overdue.
//!
//! Compliance (formula 2) is over the requests **due** that day: of those
//! whose deadline fell in the day, the share resolved on time, judged at the
//! report's fixed cut-off (08:00 city time the next morning) whenever it is
//! generated; a request is counted against the organization that held it
//! when it became overdue, else the one that held it at its deadline or
//! resolution. The stock of open overdue requests at the cut-off is a
//! separate figure. Snapshots made by formula 1 — on time ÷ (resolved that
//! day + open overdue when generated) — are kept as they were and say so.
//! `compute` is a pure function of the requests and their histories; the
//! service gathers them and stores the result as an immutable snapshot.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::analytics::Outcome;
use crate::lifecycle::{self, Event, EventKind, Request};
use crate::model::{DeadlineClass, OrgId, RequestNumber, RequestStatus};

/// One organization and class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The organization; `None` for requests no organization had.
    pub organization: Option<OrgId>,
    /// The deadline class.
    pub class: DeadlineClass,
    /// Registered during the day.
    pub received: u32,
    /// Resolved during the day.
    pub resolved: u32,
    /// Of those, within the deadline.
    pub resolved_on_time: u32,
    /// Formula 1: open and past the deadline when the report was made.
    /// Formula 2: the same at the cut-off (equals `overdue_at_cutoff`).
    pub overdue_now: u32,
    /// Due during the day (deadline in the day; cancelled ones left out).
    #[serde(default)]
    pub due: u32,
    /// Of those, resolved by the deadline.
    #[serde(default)]
    pub due_on_time: u32,
    /// Resolved after the deadline, by the cut-off.
    #[serde(default)]
    pub due_late: u32,
    /// Still open at the cut-off.
    #[serde(default)]
    pub due_open: u32,
    /// Open and overdue at the cut-off (a stock, not the day's flow).
    #[serde(default)]
    pub overdue_at_cutoff: u32,
    /// Reopened during the day (a resolution that did not hold).
    pub reopened: u32,
    /// Median time from registration to resolution of the day's resolutions, seconds.
    pub median_secs: Option<i64>,
    /// 90th percentile of the same.
    pub p90_secs: Option<i64>,
    /// Formula 2: due on time ÷ due. Formula 1: on time ÷ (resolved + open
    /// overdue). `None` with nothing to judge.
    pub compliance: Option<f64>,
}

/// A request open at some moment of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLine {
    /// Its number.
    pub number: RequestNumber,
    /// Its organization at the end of the day.
    pub organization: Option<OrgId>,
    /// Its class.
    pub class: DeadlineClass,
    /// Its status at the end of the day.
    pub status: RequestStatus,
    /// Its deadline.
    pub deadline: DateTime<Utc>,
    /// Time left at the end of the day, seconds; negative: overdue by.
    pub seconds_left: i64,
}

/// The report of one day, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyReport {
    /// The city date reported.
    pub date: NaiveDate,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// Which compliance formula it uses (1 for snapshots made before formula 2).
    #[serde(default = "formula_one")]
    pub formula: u32,
    /// The moment its figures are judged at (formula 2): 08:00 city time after the day.
    #[serde(default)]
    pub cutoff: Option<DateTime<Utc>>,
    /// One row per organization and class with anything to report.
    pub rows: Vec<ReportRow>,
    /// Every request open during the day.
    pub open: Vec<OpenLine>,
}

fn formula_one() -> u32 {
    1
}

/// The compliance formula reports are made with now.
pub const FORMULA: u32 = 2;

/// The cut-off after the day ending at `end` (city midnight): 08:00 city time.
pub fn cutoff_after(end: DateTime<Utc>) -> DateTime<Utc> {
    end + chrono::Duration::hours(8)
}

/// The `p`-quantile (nearest rank) of sorted values.
pub fn quantile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

#[derive(Default)]
struct Acc {
    received: u32,
    resolved: u32,
    on_time: u32,
    overdue_now: u32,
    reopened: u32,
    durations: Vec<i64>,
    due: u32,
    due_on_time: u32,
    due_late: u32,
    due_open: u32,
}

fn state_at(history: &[Event], at: DateTime<Utc>) -> Option<Request> {
    lifecycle::fold(history.iter().filter(|e| e.at < at))
}

/// Whether a request was due in `[start, end)` — as it stood at `judged`
/// (the cut-off), not cancelled — and how it ended up by then.
pub fn due_in(
    history: &[Event],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    judged: DateTime<Utc>,
) -> Option<(Request, Outcome)> {
    let r = state_at(history, judged)?;
    if !(start..end).contains(&r.deadline) || r.status == RequestStatus::Cancelled {
        return None;
    }
    let outcome = match (r.resolved_at, r.resolved_late) {
        (Some(_), Some(false)) => Outcome::OnTime,
        (Some(_), Some(true)) => Outcome::Late,
        _ => Outcome::OpenOverdue,
    };
    Some((r, outcome))
}

/// Computes the report of the day `[start, end)` at `now` from the candidate
/// requests (current state and full history each).
pub fn compute(
    date: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    requests: &[(Request, Vec<Event>)],
) -> DailyReport {
    let mut acc: BTreeMap<(Option<OrgId>, DeadlineClass), Acc> = BTreeMap::new();
    let mut open = Vec::new();
    let cutoff = cutoff_after(end);
    for (current, history) in requests {
        if (start..end).contains(&current.registered_at) {
            let first = state_at(history, current.registered_at + chrono::Duration::milliseconds(1));
            let org = first.as_ref().and_then(|r| r.organization.clone());
            acc.entry((org, current.deadline_class)).or_default().received += 1;
        }
        for e in history.iter().filter(|e| (start..end).contains(&e.at)) {
            let after = lifecycle::fold(history.iter().take_while(|x| x.seq <= e.seq));
            let Some(after) = after else { continue };
            let key = (after.organization.clone(), after.deadline_class);
            match &e.kind {
                EventKind::Resolved { late, .. } => {
                    let a = acc.entry(key).or_default();
                    a.resolved += 1;
                    a.on_time += u32::from(!late);
                    a.durations.push((e.at - after.registered_at).num_seconds());
                }
                EventKind::Reopened { .. } => acc.entry(key).or_default().reopened += 1,
                _ => {}
            }
        }
        // Judged at the cut-off, or now for a day whose cut-off has not come.
        let judged = cutoff.min(now);
        if let Some(at_cutoff) = state_at(history, judged)
            && at_cutoff.status.is_open()
            && at_cutoff.deadline <= judged
        {
            acc.entry((at_cutoff.responsible().cloned(), at_cutoff.deadline_class))
                .or_default()
                .overdue_now += 1;
        }
        if let Some((r, outcome)) = due_in(history, start, end, judged) {
            let a = acc.entry((r.responsible().cloned(), r.deadline_class)).or_default();
            a.due += 1;
            match outcome {
                Outcome::OnTime => a.due_on_time += 1,
                Outcome::Late => a.due_late += 1,
                Outcome::OpenOverdue => a.due_open += 1,
            }
        }
        let at_start = state_at(history, start);
        let open_during = at_start.as_ref().is_some_and(|r| r.status.is_open())
            || (start..end).contains(&current.registered_at);
        if open_during && let Some(at_end) = state_at(history, end) {
            open.push(OpenLine {
                number: at_end.number,
                organization: at_end.organization.clone(),
                class: at_end.deadline_class,
                status: at_end.status,
                deadline: at_end.deadline,
                seconds_left: (at_end.deadline - end.min(now)).num_seconds(),
            });
        }
    }
    let rows = acc
        .into_iter()
        .map(|((organization, class), mut a)| {
            a.durations.sort_unstable();
            ReportRow {
                organization,
                class,
                received: a.received,
                resolved: a.resolved,
                resolved_on_time: a.on_time,
                overdue_now: a.overdue_now,
                due: a.due,
                due_on_time: a.due_on_time,
                due_late: a.due_late,
                due_open: a.due_open,
                overdue_at_cutoff: a.overdue_now,
                reopened: a.reopened,
                median_secs: quantile(&a.durations, 0.5),
                p90_secs: quantile(&a.durations, 0.9),
                compliance: (a.due > 0).then(|| f64::from(a.due_on_time) / f64::from(a.due)),
            }
        })
        .collect();
    open.sort_by_key(|l| l.number);
    DailyReport { date, generated_at: now, formula: FORMULA, cutoff: Some(cutoff), rows, open }
}

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Words.
    Text(String),
    /// A number, shown with `decimals` digits.
    Number(f64, usize),
    /// A share, shown as per cent.
    Share(f64),
    /// Nothing.
    Empty,
}

impl Cell {
    /// The cell as CSV text.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Number(n, d) => format!("{n:.*}", *d),
            Cell::Share(x) => format!("{:.1}", x * 100.0),
            Cell::Empty => String::new(),
        }
    }
}

/// One table of a report: one CSV file or one sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Its name (a sheet's, a file's suffix).
    pub name: String,
    /// The column headers.
    pub headers: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The table as CSV, every text cell safe to open in a spreadsheet.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = SafeCsv(csv::Writer::from_writer(Vec::new()));
        w.write_record(&self.headers)?;
        for r in &self.rows {
            w.write_record(r.iter().map(Cell::text))?;
        }
        let bytes = w.0.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A deadline class in words.
pub fn class_words(c: DeadlineClass, en: bool) -> &'static str {
    match (c, en) {
        (DeadlineClass::Emergency, false) => "аварийная (6 ч)",
        (DeadlineClass::Short, false) => "краткосрочная (24 ч)",
        (DeadlineClass::Medium, false) => "среднесрочная (72 ч)",
        (DeadlineClass::Long, false) => "долгосрочная (неделя)",
        (DeadlineClass::Emergency, true) => "emergency (6 h)",
        (DeadlineClass::Short, true) => "short (24 h)",
        (DeadlineClass::Medium, true) => "medium (72 h)",
        (DeadlineClass::Long, true) => "long (one week)",
    }
}

/// A request status in words.
pub fn status_words(s: RequestStatus, en: bool) -> &'static str {
    match (s, en) {
        (RequestStatus::Registered, false) => "зарегистрирована",
        (RequestStatus::Dispatched, false) => "направлена исполнителю",
        (RequestStatus::InProgress, false) => "в работе",
        (RequestStatus::Overdue, false) => "просрочена",
        (RequestStatus::Resolved, false) => "исполнена",
        (RequestStatus::Closed, false) => "закрыта",
        (RequestStatus::Cancelled, false) => "отменена",
        (RequestStatus::Registered, true) => "registered",
        (RequestStatus::Dispatched, true) => "dispatched",
        (RequestStatus::InProgress, true) => "in progress",
        (RequestStatus::Overdue, true) => "overdue",
        (RequestStatus::Resolved, true) => "resolved",
        (RequestStatus::Closed, true) => "closed",
        (RequestStatus::Cancelled, true) => "cancelled",
    }
}

/// A moment in city time as a person writes it: `30.11.2026 08:00`.
pub fn city_time(at: DateTime<Utc>, city: chrono::FixedOffset) -> String {
    at.with_timezone(&city).format("%d.%m.%Y %H:%M").to_string()
}

impl DailyReport {
    /// The report's tables in Russian (`en` false) or English: the figures
    /// per organization and class, and the requests open during the day.
    /// Names come from `organization_name`; times are city time to the minute.
    pub fn tables(
        &self,
        en: bool,
        organization_name: &dyn Fn(&OrgId) -> String,
        city: chrono::FixedOffset,
    ) -> Vec<Table> {
        let w = |ru: &str, e: &str| if en { e.to_string() } else { ru.to_string() };
        let nobody = w("— без исполнителя", "— no organization");
        let org =
            |o: &Option<OrgId>| Cell::Text(o.as_ref().map_or_else(|| nobody.clone(), organization_name));
        let count = |n: u32| Cell::Number(f64::from(n), 0);
        let hours = |s: Option<i64>| s.map_or(Cell::Empty, |s| Cell::Number(s as f64 / 3600.0, 1));
        let figures = Table {
            name: w("Исполнители", "Organizations"),
            headers: vec![
                w("Организация", "Organization"),
                w("Класс срока", "Deadline class"),
                w("Поступило", "Received"),
                w("Срок истёк за день", "Due that day"),
                w("Из них исполнено в срок", "Of those, on time"),
                w("Исполнено с нарушением срока", "Resolved late"),
                w("Не исполнено к 08:00", "Still open at 08:00"),
                w("Соблюдение сроков, %", "Compliance, %"),
                w("Просрочено на 08:00 (всего)", "Overdue at 08:00 (stock)"),
                w("Исполнено за день", "Resolved that day"),
                w("Повторно открыто", "Reopened"),
                w("Медиана исполнения, ч", "Median time to resolve, h"),
                w("90-й перцентиль, ч", "90th percentile, h"),
            ],
            rows: self
                .rows
                .iter()
                .map(|r| {
                    vec![
                        org(&r.organization),
                        Cell::Text(class_words(r.class, en).into()),
                        count(r.received),
                        count(r.due),
                        count(r.due_on_time),
                        count(r.due_late),
                        count(r.due_open),
                        r.compliance.map_or(Cell::Empty, Cell::Share),
                        count(if self.formula >= 2 { r.overdue_at_cutoff } else { r.overdue_now }),
                        count(r.resolved),
                        count(r.reopened),
                        hours(r.median_secs),
                        hours(r.p90_secs),
                    ]
                })
                .collect(),
        };
        let open = Table {
            name: w("Открытые за день", "Open during the day"),
            headers: vec![
                w("Номер", "Number"),
                w("Организация", "Organization"),
                w("Класс срока", "Deadline class"),
                w("Статус на конец дня", "Status at the day's end"),
                w("Срок", "Deadline"),
                w("Осталось, ч (минус — просрочено)", "Hours left (negative: overdue)"),
            ],
            rows: self
                .open
                .iter()
                .map(|l| {
                    vec![
                        Cell::Text(l.number.to_string()),
                        org(&l.organization),
                        Cell::Text(class_words(l.class, en).into()),
                        Cell::Text(status_words(l.status, en).into()),
                        Cell::Text(city_time(l.deadline, city)),
                        Cell::Number(l.seconds_left as f64 / 3600.0, 1),
                    ]
                })
                .collect(),
        };
        vec![figures, open]
    }
}

/// A CSV writer whose cells a spreadsheet cannot run: a text cell that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by
/// Excel and LibreOffice as a formula (names come from administrators and
/// feeds), so it is written behind a `'`. Plain numbers, negative ones
/// included, stay numbers.
struct SafeCsv<W: std::io::Write>(csv::Writer<W>);

impl<W: std::io::Write> SafeCsv<W> {
    fn write_record<I, T>(&mut self, record: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(record.into_iter().map(|c| neutralise(c.as_ref()).into_owned()))
    }
}

/// The cell as a spreadsheet will show it and never evaluate it.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() { format!("'{cell}").into() } else { cell.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_numbers_are_not() {
        for bad in ["=HYPERLINK(\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        for fine in ["-3.50", "12", "ЖЭК №1", "", "a=b"] {
            assert_eq!(neutralise(fine), fine);
        }
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[10], 0.9), Some(10));
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(quantile(&(1..=10).collect::<Vec<_>>(), 0.9), Some(9));
    }
}
