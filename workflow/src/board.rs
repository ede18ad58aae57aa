//! The SLA board as a domain rule: what each organization holds by status,
//! what it resolved since midnight in city time, and what waits unrouted —
//! and how the board moves when one request changes, so a past board is a
//! stored snapshot plus the changes after it.
//!
//! A request adds to the board through its [`Cell`]: its organization, its
//! status and when it was resolved. A change of a request is a [`Transition`]
//! from one cell to another; applying it takes the old cell's share away and
//! adds the new one's. "Resolved today" depends on which day the board is
//! for, so every share is counted against the midnight of the board's moment.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::{self, Event, Request};
use crate::model::{OrgId, RequestStatus};

/// One organization's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Sent to it, not yet accepted.
    pub dispatched: u32,
    /// Accepted, being worked on.
    pub in_progress: u32,
    /// Past the deadline.
    pub overdue: u32,
    /// Resolved since midnight (city time).
    pub resolved_today: u32,
}

/// The board at a moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Board {
    /// The moment.
    pub at: DateTime<Utc>,
    /// Waiting for an organization: registered and unrouted, or overdue with none.
    pub unrouted: u32,
    /// Per organization.
    pub rows: BTreeMap<OrgId, Row>,
}

/// What of a request the board counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Who holds it.
    pub organization: Option<OrgId>,
    /// Its status.
    pub status: RequestStatus,
    /// When it was resolved, while resolved or closed.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Cell {
    /// The cell of a request in its state.
    pub fn of(r: &Request) -> Self {
        Self {
            organization: r.organization.clone(),
            status: r.status,
            resolved_at: r
                .resolved_at
                .filter(|_| matches!(r.status, RequestStatus::Resolved | RequestStatus::Closed)),
        }
    }
}

/// One request's change of cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When.
    pub at: DateTime<Utc>,
    /// The cell before; none before registration.
    pub before: Option<Cell>,
    /// The cell after; none once the request is gone (erased by retention).
    pub after: Option<Cell>,
}

/// Midnight in city time of the day `at` falls in.
pub fn city_midnight(at: DateTime<Utc>, city: FixedOffset) -> DateTime<Utc> {
    at.with_timezone(&city)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(city).single())
        .map_or(at, |t| t.with_timezone(&Utc))
}

impl Board {
    /// An empty board at `at`.
    pub fn empty(at: DateTime<Utc>) -> Self {
        Self { at, unrouted: 0, rows: BTreeMap::new() }
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) a cell's share, judged at midnight `midnight`.
    fn count(&mut self, cell: &Cell, sign: i64, midnight: DateTime<Utc>) {
        let bump = |n: &mut u32| *n = u32::try_from((i64::from(*n) + sign).max(0)).unwrap_or(u32::MAX);
        match (&cell.organization, cell.status) {
            (None, RequestStatus::Registered | RequestStatus::Overdue) => bump(&mut self.unrouted),
            (Some(_), RequestStatus::Registered) => bump(&mut self.unrouted),
            (Some(org), status) => {
                let row = self.rows.entry(org.clone()).or_default();
                match status {
                    RequestStatus::Dispatched => bump(&mut row.dispatched),
                    RequestStatus::InProgress => bump(&mut row.in_progress),
                    RequestStatus::Overdue => bump(&mut row.overdue),
                    RequestStatus::Resolved | RequestStatus::Closed
                        if cell.resolved_at.is_some_and(|t| t >= midnight) =>
                    {
                        bump(&mut row.resolved_today)
                    }
                    _ => {}
                }
            }
            (None, _) => {}
        }
    }

    /// The board one transition later; `at` moves to the transition's time.
    pub fn apply(&mut self, t: &Transition, city: FixedOffset) {
        let midnight = city_midnight(t.at, city);
        if city_midnight(self.at, city) != midnight {
            // A new day: what was resolved before its midnight is not "today" any more.
            for row in self.rows.values_mut() {
                row.resolved_today = 0;
            }
        }
        self.at = self.at.max(t.at);
        if let Some(b) = &t.before {
            self.count(b, -1, midnight);
        }
        if let Some(a) = &t.after {
            self.count(a, 1, midnight);
        }
    }

    /// The board moved on to `at` with no change in between (a new day clears "resolved today").
    pub fn advance(&mut self, at: DateTime<Utc>, city: FixedOffset) {
        if city_midnight(self.at, city) != city_midnight(at, city) {
            for row in self.rows.values_mut() {
                row.resolved_today = 0;
            }
        }
        self.at = self.at.max(at);
    }

    /// The board of these requests' cells at `at`.
    pub fn of_cells<'a>(
        cells: impl IntoIterator<Item = &'a Cell>,
        at: DateTime<Utc>,
        city: FixedOffset,
    ) -> Self {
        let midnight = city_midnight(at, city);
        let mut b = Self::empty(at);
        for c in cells {
            b.count(c, 1, midnight);
        }
        b
    }
}

/// The transitions of one request's history within `(from, to]`, oldest first.
pub fn transitions(history: &[Event], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut state: Option<Request> = None;
    for e in history {
        let before = state.as_ref().map(Cell::of);
        state = lifecycle::apply(state, e);
        if e.at <= from {
            continue;
        }
        if e.at > to {
            break;
        }
        let after = state.as_ref().map(Cell::of);
        if before != after {
            out.push(Transition { at: e.at, before, after });
        }
    }
    out
}

/// The request's cell at `at`: the fold of its history up to then.
pub fn cell_at(history: &[Event], at: DateTime<Utc>) -> Option<Cell> {
    lifecycle::fold(history.iter().take_while(|e| e.at <= at)).as_ref().map(Cell::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Code;

    fn city() -> FixedOffset {
        FixedOffset::east_opt(3 * 3600).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn cell(org: Option<&str>, status: RequestStatus, resolved: Option<&str>) -> Cell {
        Cell { organization: org.map(|o| Code::parse(o).unwrap()), status, resolved_at: resolved.map(t) }
    }

    #[test]
    fn a_transition_moves_a_request_between_rows() {
        let mut b = Board::empty(t("2026-11-30T06:00:00Z"));
        b.apply(
            &Transition {
                at: t("2026-11-30T06:10:00Z"),
                before: None,
                after: Some(cell(Some("a"), RequestStatus::Dispatched, None)),
            },
            city(),
        );
        b.apply(
            &Transition {
                at: t("2026-11-30T06:20:00Z"),
                before: Some(cell(Some("a"), RequestStatus::Dispatched, None)),
                after: Some(cell(Some("b"), RequestStatus::Dispatched, None)),
            },
            city(),
        );
        let a = Code::parse("a").unwrap();
        let bb = Code::parse("b").unwrap();
        assert_eq!(b.rows[&a].dispatched, 0);
        assert_eq!(b.rows[&bb].dispatched, 1);
    }

    #[test]
    fn resolved_today_starts_again_at_city_midnight() {
        // 20:30 UTC is 23:30 in the city; 21:30 UTC is 00:30 the next day.
        let resolved = cell(Some("a"), RequestStatus::Resolved, Some("2026-11-30T20:30:00Z"));
        let mut b = Board::of_cells([&resolved], t("2026-11-30T20:45:00Z"), city());
        let a = Code::parse("a").unwrap();
        assert_eq!(b.rows[&a].resolved_today, 1);
        b.advance(t("2026-11-30T21:30:00Z"), city());
        assert_eq!(b.rows[&a].resolved_today, 0);
        // Reopened after midnight: yesterday's resolution is not taken away twice.
        b.apply(
            &Transition {
                at: t("2026-11-30T21:40:00Z"),
                before: Some(resolved),
                after: Some(cell(Some("a"), RequestStatus::InProgress, None)),
            },
            city(),
        );
        assert_eq!(b.rows[&a].resolved_today, 0);
        assert_eq!(b.rows[&a].in_progress, 1);
    }

    #[test]
    fn unrouted_counts_registered_and_overdue_without_an_organization() {
        let cells = [
            cell(None, RequestStatus::Registered, None),
            cell(None, RequestStatus::Overdue, None),
            cell(Some("a"), RequestStatus::Overdue, None),
        ];
        let b = Board::of_cells(cells.iter(), t("2026-11-30T06:00:00Z"), city());
        assert_eq!(b.unrouted, 2);
        assert_eq!(b.rows[&Code::parse("a").unwrap()].overdue, 1);
    }
}
