//! Recently finished requests, for the public map and Open311's closed list.
//!
//! "Finished since" is a question about the time of the resolution, not of
//! registration: a request open for months and fixed yesterday belongs in the
//! answer. Resolved and closed requests are found on each organization's
//! resolution index (`"rs" org resolved id`), which answers it exactly with a
//! range scan; cancellations have no index by their time, so those registered
//! in the window are read from the status index. Requests cancelled in the
//! window but registered before it, and requests resolved while they had no
//! organization, are therefore left out — both rare, and the price of not
//! adding an index that every write would pay for.

use chrono::{DateTime, Utc};
use kontakt_storage::{KeyBuilder, prefix_end};

use super::Kontakt;
use super::queries::{MAX_EXAMINED, suffix_cursor};
use crate::DomainError;
use crate::indexes;
use crate::lifecycle::Request;
use crate::model::{CategoryCode, RequestStatus};

/// When a finished request finished: its resolution, or its cancellation.
pub fn finished_at(r: &Request) -> Option<DateTime<Utc>> {
    match r.status {
        RequestStatus::Resolved | RequestStatus::Closed => r.resolved_at.or(r.closed_at),
        RequestStatus::Cancelled => r.closed_at,
        _ => None,
    }
}

impl Kontakt {
    /// Up to `limit` requests resolved, closed or cancelled at or after
    /// `since` (of `category`, when given), most recently finished first.
    /// At most [`MAX_EXAMINED`] records are read.
    pub fn finished_since(
        &self,
        since: DateTime<Utc>,
        category: Option<&CategoryCode>,
        limit: usize,
    ) -> Result<Vec<Request>, DomainError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        // Without a category filter the newest `limit` of each scan hold the newest `limit` overall.
        let per_scan = if category.is_some() { MAX_EXAMINED } else { limit.min(MAX_EXAMINED) };
        let mut prefixes: Vec<Vec<u8>> = self
            .organizations()?
            .iter()
            .map(|o| KeyBuilder::index(indexes::BY_RESOLVED).str(o.id.as_str()).build())
            .collect();
        prefixes.push(KeyBuilder::index(indexes::BY_STATUS).u8(RequestStatus::Cancelled.code()).build());
        let mut candidates = Vec::new();
        for p in &prefixes {
            let from = indexes::with_time(p, since);
            candidates.extend(
                self.store
                    .scan_range_rev(&from, &prefix_end(p), per_scan)?
                    .iter()
                    .filter_map(|e| suffix_cursor(&e.key)),
            );
        }
        candidates.sort_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        for c in candidates.into_iter().take(MAX_EXAMINED) {
            let Some(r) = self.request(c.id)? else { continue };
            let finished = finished_at(&r).is_some_and(|t| t >= since);
            if finished && category.is_none_or(|code| &r.category == code) {
                out.push(r);
                if out.len() == limit {
                    break;
                }
            }
        }
        // A cancellation's key holds its registration, not its end: order by the real time.
        out.sort_by(|a, b| finished_at(b).cmp(&finished_at(a)).then_with(|| b.id.cmp(&a.id)));
        Ok(out)
    }
}
