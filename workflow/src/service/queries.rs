//! Listing requests. Every list is a range scan over one *driving* index, picked
//! by the most selective filter; the remaining filters are applied to the
//! records read. All driving indexes end in `registered:i64 id`, so one cursor
//! format (that suffix) pages through any of them, newest first, and several
//! scans (one per status) merge by it.
//!
//! Work per page is bounded: at most [`MAX_EXAMINED`] entries are read, and a
//! page may come back short with a cursor to go on from.

use chrono::{DateTime, Utc};
use kontakt_storage::{KeyBuilder, prefix_end};

use super::{Kontakt, decode, request_key};
use crate::DomainError;
use crate::indexes::{self, class_code};
use crate::lifecycle::Request;
use crate::model::{DeadlineClass, OrgId, RequestId, RequestNumber, RequestStatus};

/// Most index entries one page reads.
pub const MAX_EXAMINED: usize = 5000;

/// Filters of a request list; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    /// Any of these statuses (empty: any).
    pub statuses: Vec<RequestStatus>,
    /// The executing organization.
    pub organization: Option<OrgId>,
    /// The deadline class.
    pub class: Option<DeadlineClass>,
    /// Open with the deadline passed (true) or not (false).
    pub overdue: Option<bool>,
    /// The address's district.
    pub district: Option<String>,
    /// Registered at or after.
    pub registered_from: Option<DateTime<Utc>>,
    /// Registered before.
    pub registered_to: Option<DateTime<Utc>>,
    /// A request number, or words of the address.
    pub text: Option<String>,
    /// Linked to this incident.
    pub incident: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The requests, newest first.
    pub items: Vec<Request>,
    /// Where the next page starts, when there may be one.
    pub next: Option<Cursor>,
}

/// A position in a list: the `(registered, id)` of the last request returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// Milliseconds since the epoch.
    pub registered_ms: i64,
    /// The request id.
    pub id: RequestId,
}

impl Cursor {
    /// The opaque text form.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.registered_ms, self.id)
    }

    /// Parses [`Cursor::encode`]'s output.
    pub fn decode(s: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::Validation(format!("{s:?} is not a cursor of this list"));
        let (ms, id) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            registered_ms: ms.parse().map_err(|_| bad())?,
            id: RequestId::parse(id).map_err(|_| bad())?,
        })
    }

    fn of(r: &Request) -> Self {
        Self { registered_ms: r.registered_at.timestamp_millis(), id: r.id }
    }
}

impl RequestQuery {
    fn matches(&self, r: &Request, now: DateTime<Utc>, text_addresses: Option<&[String]>) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self.organization.as_ref().is_none_or(|o| r.organization.as_ref() == Some(o))
            && self.class.is_none_or(|c| r.deadline_class == c)
            && self.overdue.is_none_or(|o| (r.status.is_open() && r.deadline <= now) == o)
            && self.district.as_ref().is_none_or(|d| &r.address.district == d)
            && self.registered_from.is_none_or(|t| r.registered_at >= t)
            && self.registered_to.is_none_or(|t| r.registered_at < t)
            && self.incident.as_ref().is_none_or(|i| r.incident.as_ref() == Some(i))
            && text_addresses.is_none_or(|ids| ids.iter().any(|a| a == r.address.id.as_str()))
    }
}

impl Kontakt {
    /// A page of requests matching `query`, newest first, after `after`.
    pub fn list(
        &self,
        query: &RequestQuery,
        after: Option<Cursor>,
        first: usize,
    ) -> Result<Page, DomainError> {
        let now = self.now();
        let text = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if let Some(number) = text.and_then(|t| RequestNumber::parse(t).ok()) {
            let items: Vec<Request> = self
                .request_by_number(&number)?
                .into_iter()
                .filter(|r| query.matches(r, now, None) && after.is_none_or(|c| Cursor::of(r) < c))
                .collect();
            return Ok(Page { items, next: None });
        }
        let text_addresses: Option<Vec<String>> = match text {
            Some(t) => Some(self.search_addresses(t, 50)?.into_iter().map(|a| a.id.to_string()).collect()),
            None => None,
        };
        let prefixes = self.driving_prefixes(query, text_addresses.as_deref());
        if prefixes.is_empty() {
            return Ok(Page { items: vec![], next: None });
        }
        // One descending scan per prefix, bounded by the time filters and the cursor.
        let mut scans = Vec::with_capacity(prefixes.len());
        let per_scan = MAX_EXAMINED / prefixes.len() + 1;
        for p in &prefixes {
            let low = match query.registered_from {
                Some(t) => indexes::with_time(p, t),
                None => p.clone(),
            };
            let mut high = match query.registered_to {
                Some(t) => indexes::with_time(p, t),
                None => prefix_end(p),
            };
            if let Some(c) = after {
                let at = KeyBuilder::default().bytes(p).i64(c.registered_ms).bytes(&c.id.to_bytes()).build();
                high = high.min(at);
            }
            scans.push(self.store.scan_range_rev(&low, &high, per_scan)?);
        }
        // Merge by (registered, id), newest first, dropping duplicates.
        let mut merged: Vec<(Cursor, RequestId)> = scans
            .iter()
            .flatten()
            .filter_map(|e| {
                let id = RequestId::from_bytes(e.record.id())?;
                let ms_bytes = e.key.get(e.key.len() - 24..e.key.len() - 16)?;
                let raw = u64::from_be_bytes(ms_bytes.try_into().ok()?);
                Some((Cursor { registered_ms: (raw ^ (1 << 63)) as i64, id }, id))
            })
            .collect();
        merged.sort_by(|a, b| b.0.cmp(&a.0));
        merged.dedup_by(|a, b| a.1 == b.1);
        // A scan that hit its bound may hide older entries: stop the page at the
        // newest such bound so nothing is skipped.
        let exhausted_floor = scans
            .iter()
            .filter(|s| s.len() >= per_scan)
            .filter_map(|s| s.last())
            .filter_map(|e| {
                let ms_bytes = e.key.get(e.key.len() - 24..e.key.len() - 16)?;
                let raw = u64::from_be_bytes(ms_bytes.try_into().ok()?);
                Some(Cursor {
                    registered_ms: (raw ^ (1 << 63)) as i64,
                    id: RequestId::from_bytes(e.record.id())?,
                })
            })
            .max();
        let mut items = Vec::new();
        let mut last_examined = None;
        for (cursor, id) in merged {
            if exhausted_floor.is_some_and(|f| cursor < f) {
                break;
            }
            last_examined = Some(cursor);
            let Some(stored) = self.store.get(&request_key(id))? else { continue };
            let mut r: Request = decode(&stored.body)?;
            r.version = stored.version;
            if query.matches(&r, now, text_addresses.as_deref()) {
                items.push(r);
                if items.len() == first {
                    break;
                }
            }
        }
        let more = items.len() == first || exhausted_floor.is_some();
        let next =
            if more { items.last().map(Cursor::of).max(last_examined).or(last_examined) } else { None };
        // The cursor must be the last *examined* position, so filtered-out entries are not re-read.
        let next = if more { last_examined.or(next) } else { None };
        Ok(Page { items, next })
    }

    fn driving_prefixes(&self, q: &RequestQuery, text_addresses: Option<&[String]>) -> Vec<Vec<u8>> {
        if let Some(incident) = &q.incident {
            return vec![KeyBuilder::index(indexes::BY_INCIDENT).str(incident).build()];
        }
        if let Some(ids) = text_addresses {
            return ids.iter().map(|a| KeyBuilder::index(indexes::BY_ADDRESS).str(a).build()).collect();
        }
        if let Some(org) = &q.organization {
            return vec![KeyBuilder::index(indexes::BY_ORG_TIME).str(org.as_str()).build()];
        }
        let statuses: Vec<RequestStatus> = if !q.statuses.is_empty() {
            q.statuses.clone()
        } else if q.overdue == Some(true) {
            RequestStatus::ALL.iter().copied().filter(|s| s.is_open()).collect()
        } else {
            vec![]
        };
        if !statuses.is_empty() {
            return statuses
                .iter()
                .map(|s| KeyBuilder::index(indexes::BY_STATUS).u8(s.code()).build())
                .collect();
        }
        if let Some(d) = &q.district {
            return vec![KeyBuilder::index(indexes::BY_DISTRICT).str(d).build()];
        }
        if let Some(c) = q.class {
            return vec![KeyBuilder::index(indexes::BY_CLASS).u8(class_code(c)).build()];
        }
        vec![KeyBuilder::index(indexes::BY_TIME).build()]
    }

    /// Open requests of one organization in one status, soonest deadline first.
    pub fn board(&self, org: &str, status: RequestStatus, limit: usize) -> Result<Vec<Request>, DomainError> {
        let p = indexes::org_status_prefix(org, status);
        let mut out = Vec::new();
        for e in self.store.scan_range(&p, &prefix_end(&p), limit)? {
            if let Some(id) = RequestId::from_bytes(e.record.id())
                && let Some(r) = self.request(id)?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// How many requests an organization has in a status (counted on its index, up to `cap`).
    pub fn count_org_status(
        &self,
        org: &str,
        status: RequestStatus,
        cap: usize,
    ) -> Result<usize, DomainError> {
        let p = indexes::org_status_prefix(org, status);
        Ok(self.store.scan_range(&p, &prefix_end(&p), cap)?.len())
    }
}
