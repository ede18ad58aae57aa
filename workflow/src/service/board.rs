//! The SLA board now and in the past.
//!
//! Now: counted from the status indexes. In the past: a snapshot of the board
//! is stored at least once an hour (by the sweep), each with the transitions
//! of the requests that changed since the one before, so the board at any
//! past moment is the snapshot before it plus at most an hour of changes —
//! never a fold of every request. The first snapshot of a store reconstructs
//! the week before it once, from the requests' histories.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, DurationRound, Utc};
use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction, prefix_end};
use serde::{Deserialize, Serialize};

use super::{Kontakt, REQUESTS, decode, encode};
use crate::DomainError;
use crate::board::{self, Board, Cell, Transition};
use crate::indexes;
use crate::lifecycle::{Event, Request};
use crate::model::{RequestId, RequestStatus};

const SNAPSHOTS: &str = "boardsnap";
/// How far back the first snapshot of a store reconstructs the board.
const BACKFILL_DAYS: i64 = 7;
/// Counting stops here on the board.
const BOARD_CAP: usize = 1_000_000;

/// A stored board, and the changes that led to it from the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardSnapshot {
    /// The board at its moment.
    pub board: Board,
    /// The moment of the snapshot before (none for the first).
    pub since: Option<DateTime<Utc>>,
    /// The transitions in `(since, board.at]`, oldest first.
    pub transitions: Vec<Transition>,
}

fn snapshot_key(at: DateTime<Utc>) -> RecordKey {
    RecordKey::new(SNAPSHOTS, &u64::try_from(at.timestamp_millis()).unwrap_or(0).to_be_bytes())
}

impl Kontakt {
    /// The board now, from the status indexes.
    pub fn live_board(&self) -> Result<Board, DomainError> {
        let now = self.now();
        let midnight = board::city_midnight(now, self.city_offset);
        let mut b = Board::empty(now);
        let mut routed_overdue = 0;
        for org in self.organizations()? {
            let id = org.id.to_string();
            let row = board::Row {
                dispatched: self.count_org_status(&id, RequestStatus::Dispatched, BOARD_CAP)? as u32,
                in_progress: self.count_org_status(&id, RequestStatus::InProgress, BOARD_CAP)? as u32,
                overdue: self.count_org_status(&id, RequestStatus::Overdue, BOARD_CAP)? as u32,
                resolved_today: self.count_resolved_since(&id, midnight, BOARD_CAP)? as u32,
            };
            routed_overdue += row.overdue;
            b.rows.insert(org.id, row);
        }
        // Unrouted and already overdue too: a gas smell left days without an
        // organization is still in the queue.
        let overdue = self.count_status(RequestStatus::Overdue, BOARD_CAP)? as u32;
        b.unrouted = self.count_status(RequestStatus::Registered, BOARD_CAP)? as u32
            + overdue.saturating_sub(routed_overdue);
        Ok(b)
    }

    /// The board as it stood at `at`: now for a moment not yet past.
    pub fn board_at(&self, at: DateTime<Utc>) -> Result<Board, DomainError> {
        if at >= self.now() {
            return self.live_board();
        }
        let upto = snapshot_key(at + Duration::milliseconds(1));
        let Some(key) = self.store.scan_ids_rev(SNAPSHOTS, &[], upto.id(), 1)?.into_iter().next() else {
            let first = self.store.scan_collection(SNAPSHOTS, None, 1)?;
            return Err(DomainError::NotFound(match first.first() {
                Some((_, s)) => {
                    let s: BoardSnapshot = decode(&s.body)?;
                    format!("the board is kept from {}", s.board.at.format("%Y-%m-%d %H:%M UTC"))
                }
                None => "no board has been kept yet".into(),
            }));
        };
        let Some(stored) = self.store.get(&key)? else {
            return Err(DomainError::NotFound("no board".into()));
        };
        let base: BoardSnapshot = decode(&stored.body)?;
        let mut b = base.board;
        let after = self.store.scan_collection(SNAPSHOTS, Some(key.id()), 1)?;
        let changes = match after.first() {
            Some((_, s)) => decode::<BoardSnapshot>(&s.body)?.transitions,
            None => self.transitions_since(b.at, at)?,
        };
        for t in changes.iter().filter(|t| t.at <= at) {
            b.apply(t, self.city_offset);
        }
        b.advance(at, self.city_offset);
        b.at = at;
        Ok(b)
    }

    /// The transitions of every request that changed in `(from, to]`, oldest first.
    fn transitions_since(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Transition>, DomainError> {
        let mut out = Vec::new();
        self.each_changed_since(from, &mut |history| {
            out.extend(board::transitions(history, from, to));
            true
        })?;
        out.sort_by_key(|t| t.at);
        Ok(out)
    }

    /// Calls `f` with the history of every request changed after `since`
    /// (by the last-change index) until it answers false.
    fn each_changed_since(
        &self,
        since: DateTime<Utc>,
        f: &mut dyn FnMut(&[Event]) -> bool,
    ) -> Result<(), DomainError> {
        let p = KeyBuilder::index(indexes::BY_CHANGED).build();
        let mut cursor = indexes::with_time(&p, since + Duration::milliseconds(1));
        let mut seen = std::collections::HashSet::new();
        loop {
            let page = self.store.scan_range(&cursor, &prefix_end(&p), 1000)?;
            let Some(last) = page.last() else { break };
            cursor = last.key.clone();
            cursor.push(0);
            for e in &page {
                let Some(id) = RequestId::from_bytes(e.record.id()) else { continue };
                if seen.insert(id) && !f(&self.history(id)?) {
                    return Ok(());
                }
            }
            if page.len() < 1000 {
                break;
            }
        }
        Ok(())
    }

    /// Events of the kinds named (`WARNING`, `OVERDUE`, …; every kind when
    /// none) taken after `since`, newest first, at most `limit`, each with
    /// its request right after it. Reads only the requests changed since.
    pub fn events_since(
        &self,
        since: DateTime<Utc>,
        kinds: &[String],
        limit: usize,
    ) -> Result<Vec<(Event, Request)>, DomainError> {
        let mut out: Vec<(Event, Request)> = Vec::new();
        self.each_changed_since(since, &mut |history| {
            let mut state: Option<Request> = None;
            for e in history {
                state = crate::lifecycle::apply(state, e);
                let wanted = kinds.is_empty() || kinds.iter().any(|k| k == e.kind.name());
                if e.at > since
                    && wanted
                    && let Some(r) = &state
                {
                    out.push((e.clone(), r.clone()));
                }
            }
            true
        })?;
        out.sort_by_key(|e| std::cmp::Reverse(e.0.at));
        out.truncate(limit);
        Ok(out)
    }

    /// Stores a board snapshot when the last one is from before this hour
    /// began; answers its moment when one was taken. The first one of a store
    /// reconstructs the week before it.
    pub fn snapshot_board_if_due(&self) -> Result<Option<DateTime<Utc>>, DomainError> {
        let now = self.now();
        let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        let latest = self.store.scan_ids_rev(SNAPSHOTS, &[], &[0xff; 9], 1)?.into_iter().next();
        let latest: Option<BoardSnapshot> = match latest {
            Some(k) => self.store.get(&k)?.map(|s| decode(&s.body)).transpose()?,
            None => None,
        };
        match latest {
            Some(s) if s.board.at >= hour => Ok(None),
            Some(s) => {
                // Counted while no write is applied, so the counts and the changes agree.
                let taken: Arc<Mutex<Option<Result<BoardSnapshot, DomainError>>>> = Arc::default();
                let (me, out, since) = (self.clone(), taken.clone(), s.board.at);
                self.store.quiesce(Box::new(move || {
                    let r = me.live_board().and_then(|board| {
                        let transitions = me.transitions_since(since, board.at)?;
                        Ok(BoardSnapshot { board, since: Some(since), transitions })
                    });
                    *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                }))?;
                let snap = taken
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_else(|| Err(DomainError::NotFound("the board was not counted".into())))?;
                let at = snap.board.at;
                self.put_snapshots(&[snap])?;
                Ok(Some(at))
            }
            None => {
                let snaps = self.reconstruct_board(now - Duration::days(BACKFILL_DAYS), now)?;
                let at = snaps.last().map(|s| s.board.at);
                self.put_snapshots(&snaps)?;
                Ok(at)
            }
        }
    }

    fn put_snapshots(&self, snaps: &[BoardSnapshot]) -> Result<(), DomainError> {
        for chunk in snaps.chunks(50) {
            let puts = chunk
                .iter()
                .map(|s| {
                    Ok(Put {
                        key: snapshot_key(s.board.at),
                        expect: Expect::Any,
                        body: Some(encode(s)?),
                        index: vec![],
                        events: vec![],
                    })
                })
                .collect::<Result<Vec<_>, DomainError>>()?;
            self.store.commit(Transaction::of(puts))?;
        }
        Ok(())
    }

    /// Hourly snapshots over `(from, to]` rebuilt from the requests: their
    /// cells at `from`, then their changes. One pass over every request, once.
    fn reconstruct_board(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BoardSnapshot>, DomainError> {
        let mut cells: Vec<Cell> = Vec::new();
        let mut changes: Vec<Transition> = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.scan_collection(REQUESTS, after.as_deref(), 1000)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.id().to_vec());
            for (_, stored) in &page {
                let r: Request = decode(&stored.body)?;
                if r.registered_at > to {
                    continue;
                }
                if r.updated_at <= from {
                    cells.push(Cell::of(&r));
                } else {
                    let history = self.history(r.id)?;
                    if let Some(c) = board::cell_at(&history, from) {
                        cells.push(c);
                    }
                    changes.extend(board::transitions(&history, from, to));
                }
            }
        }
        changes.sort_by_key(|t| t.at);
        let mut b = Board::of_cells(cells.iter(), from, self.city_offset);
        let mut out = vec![BoardSnapshot { board: b.clone(), since: None, transitions: vec![] }];
        let mut pending = changes.into_iter().peekable();
        let mut hour = from.duration_trunc(Duration::hours(1)).unwrap_or(from) + Duration::hours(1);
        while hour <= to {
            let mut moved = Vec::new();
            while let Some(t) = pending.next_if(|t| t.at <= hour) {
                b.apply(&t, self.city_offset);
                moved.push(t);
            }
            b.advance(hour, self.city_offset);
            let since = out.last().map(|s| s.board.at);
            out.push(BoardSnapshot { board: b.clone(), since, transitions: moved });
            hour += Duration::hours(1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, Channel, Role};
    use crate::{Applicant, Clock, Command, ManualClock, NewRequest, service::AddressPoint};
    use kontakt_storage::SledStore;

    #[test]
    fn a_past_board_equals_the_board_that_was_live_then() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new("2026-11-20T05:30:00Z".parse().unwrap()));
        let k = Kontakt::new(Arc::new(SledStore::open(dir.path()).unwrap()), clock.clone());
        crate::demo::load(&k).unwrap();
        let categories = k.categories().unwrap();
        let operator = Actor { subject: "op".into(), role: Some(Role::Operator), organization: None };
        let mut boards = Vec::new();
        let mut ids = Vec::new();
        for step in 0..40 {
            clock.advance(Duration::minutes(47));
            let cat = &categories[step % categories.len()];
            let addr = k.search_addresses("1", 1).unwrap().remove(0);
            let r = k
                .register(
                    NewRequest {
                        category: cat.code.clone(),
                        address: AddressPoint::Id(addr.id.to_string()),
                        description: format!("проверка доски {step}"),
                        channel: Channel::Phone,
                        applicant: Applicant::default(),
                        raise_reason: None,
                        incident: None,
                    },
                    &operator,
                )
                .unwrap();
            ids.push(r.request.id);
            if step % 3 == 0
                && let Some(org) = r.request.organization.clone()
            {
                let contractor =
                    Actor { subject: "c".into(), role: Some(Role::Contractor), organization: Some(org) };
                let _ = k.execute(ids[step / 2], Command::Accept, &contractor);
            }
            k.sweep(1000).unwrap();
            if step == 5 {
                k.snapshot_board_if_due().unwrap();
            }
            if step > 5 {
                k.snapshot_board_if_due().unwrap();
            }
            boards.push(k.live_board().unwrap());
        }
        assert!(k.store.check().unwrap().is_clean(), "the kept counts equal the indexes");
        let last = boards.last().unwrap();
        assert!(last.rows.values().any(|r| r.overdue > 0), "the deadlines passed: {last:?}");
        assert!(last.rows.values().any(|r| r.in_progress > 0 && r.resolved_today == 0));
        assert!(k.store.scan_collection(SNAPSHOTS, None, 1000).unwrap().len() > 24, "hourly snapshots");
        assert!(matches!(k.board_at(clock.now() - Duration::days(30)), Err(DomainError::NotFound(_))));
        for b in &boards {
            let past = k.board_at(b.at).unwrap();
            assert_eq!(past.unrouted, b.unrouted, "unrouted at {}", b.at);
            for (org, row) in &b.rows {
                let got = past.rows.get(org).copied().unwrap_or_default();
                assert_eq!(got, *row, "{org} at {}", b.at);
            }
        }
    }
}
