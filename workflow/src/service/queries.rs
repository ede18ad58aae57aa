//! Listing requests. Every list is a range scan over one *driving* source — an
//! index picked by the most selective filter, or the records themselves in
//! registration order — and the remaining filters are applied to the records
//! read. Every source orders by `(registered, id)`, so one cursor format pages
//! through any of them, newest first, and several scans (one per status) merge.
//!
//! Work per page is bounded: at most [`MAX_EXAMINED`] entries are read, and a
//! page may come back short with a cursor to go on from.

use chrono::{DateTime, Utc};
use kontakt_storage::{KeyBuilder, prefix_end};

use super::{Kontakt, decode, request_key};
use crate::DomainError;
use crate::indexes;
use crate::lifecycle::Request;
use crate::model::{CategoryCode, DeadlineClass, OrgId, RequestId, RequestNumber, RequestStatus};

/// Most index entries one page reads.
pub const MAX_EXAMINED: usize = 5000;

/// Most pages [`Kontakt::list_up_to`] reads: a rare filter over a long window
/// comes back short instead of reading on through the store.
pub const MAX_PAGES: usize = 20;

/// Filters of a request list; all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestQuery {
    /// Any of these statuses (empty: any).
    pub statuses: Vec<RequestStatus>,
    /// The executing organization.
    pub organization: Option<OrgId>,
    /// The deadline class.
    pub class: Option<DeadlineClass>,
    /// The category.
    pub category: Option<CategoryCode>,
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
    /// Called in by this phone (the applicant's).
    pub phone: Option<crate::model::Phone>,
    /// Registered with an address the registry does not have (true), or not.
    pub address_unconfirmed: Option<bool>,
    /// Words of the description, each the start of one of its words
    /// («теч крыш» finds «течёт крыша»).
    pub words: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The requests, newest first.
    pub items: Vec<Request>,
    /// Where the next page starts, when there may be one.
    pub next: Option<Cursor>,
    /// Index entries or records read to make the page (what a count is bounded by).
    pub examined: usize,
}

/// A bounded count: how many were found, and whether that is all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Matches found (a lower bound unless `exact`).
    pub found: usize,
    /// True when every candidate was examined.
    pub exact: bool,
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
    /// True when `r` satisfies every filter; the text matches the number or
    /// the address (for live streams, where there is no scan to drive).
    pub fn matches_request(&self, r: &Request, now: DateTime<Utc>) -> bool {
        let text_ok = self.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).is_none_or(|t| {
            let label = super::reference_store::tokens(&r.address.label());
            r.number.to_string() == t
                || super::reference_store::tokens(t)
                    .iter()
                    .all(|w| label.iter().any(|l| l.starts_with(w.as_str())))
        });
        text_ok && self.matches(r, now, None)
    }

    fn matches(&self, r: &Request, now: DateTime<Utc>, text_addresses: Option<&[String]>) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self.organization.as_ref().is_none_or(|o| r.organization.as_ref() == Some(o))
            && self.class.is_none_or(|c| r.deadline_class == c)
            && self.category.as_ref().is_none_or(|c| &r.category == c)
            && self.overdue.is_none_or(|o| (r.status.is_open() && r.deadline <= now) == o)
            && self.district.as_ref().is_none_or(|d| &r.address.district == d)
            && self.registered_from.is_none_or(|t| r.registered_at >= t)
            && self.registered_to.is_none_or(|t| r.registered_at < t)
            && self.incident.as_ref().is_none_or(|i| r.incident.as_ref() == Some(i))
            && self.phone.as_ref().is_none_or(|p| r.called_from(p))
            && text_addresses.is_none_or(|ids| ids.iter().any(|a| a == r.address.id.as_str()))
            && self.words.as_deref().is_none_or(|w| words_match(w, &r.description))
            && self.address_unconfirmed.is_none_or(|u| r.address_unconfirmed == u)
    }
}

/// True when every word of `words` starts a word of `text` (case and ё folded).
fn words_match(words: &str, text: &str) -> bool {
    let have = super::reference_store::tokens(text);
    super::reference_store::tokens(words).iter().all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
}

/// Where a list's candidates come from.
enum Source {
    /// An index prefix whose keys end in `registered:i64 id`.
    Index(Vec<u8>),
    /// The request records themselves, in id (= registration time) order.
    Records,
}

/// The `(time, id)` suffix of an index key (registration time in most indexes).
pub(super) fn suffix_cursor(key: &[u8]) -> Option<Cursor> {
    let at = key.len().checked_sub(24)?;
    let raw = u64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?);
    Some(Cursor { registered_ms: (raw ^ (1 << 63)) as i64, id: RequestId::from_bytes(key.get(at + 8..)?)? })
}

/// The smallest ULID registered at `ms`.
fn ulid_floor(ms: i64) -> [u8; 16] {
    ulid::Ulid::from_parts(u64::try_from(ms).unwrap_or(0), 0).to_bytes()
}

impl Kontakt {
    /// A page of requests matching `query`, newest first, after `after`.
    pub fn list(
        &self,
        query: &RequestQuery,
        after: Option<Cursor>,
        first: usize,
    ) -> Result<Page, DomainError> {
        self.list_within(query, after, first, MAX_EXAMINED)
    }

    /// [`Kontakt::list`] reading at most about `max_examined` entries.
    fn list_within(
        &self,
        query: &RequestQuery,
        after: Option<Cursor>,
        first: usize,
        max_examined: usize,
    ) -> Result<Page, DomainError> {
        let now = self.now();
        let text = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        if let Some(number) = text.and_then(|t| RequestNumber::parse(t).ok()) {
            let items: Vec<Request> = self
                .request_by_number(&number)?
                .into_iter()
                .filter(|r| query.matches(r, now, None) && after.is_none_or(|c| Cursor::of(r) < c))
                .collect();
            return Ok(Page { items, next: None, examined: 1 });
        }
        let text_addresses: Option<Vec<String>> = match text {
            Some(t) => Some(self.search_addresses(t, 50)?.into_iter().map(|a| a.id.to_string()).collect()),
            None => None,
        };
        let sources = self.sources(query, text_addresses.as_deref());
        if sources.is_empty() {
            return Ok(Page { items: vec![], next: None, examined: 0 });
        }
        // One descending scan per source, bounded by the time filters and the cursor.
        let per_scan = max_examined.max(1).div_ceil(sources.len());
        let mut scans: Vec<Vec<Cursor>> = Vec::with_capacity(sources.len());
        for source in &sources {
            scans.push(match source {
                Source::Index(p) => {
                    let low = query.registered_from.map_or_else(|| p.clone(), |t| indexes::with_time(p, t));
                    let mut high =
                        query.registered_to.map_or_else(|| prefix_end(p), |t| indexes::with_time(p, t));
                    if let Some(c) = after {
                        high = high.min(
                            KeyBuilder::default()
                                .bytes(p)
                                .i64(c.registered_ms)
                                .bytes(&c.id.to_bytes())
                                .build(),
                        );
                    }
                    self.store
                        .scan_range_rev(&low, &high, per_scan)?
                        .iter()
                        .filter_map(|e| suffix_cursor(&e.key))
                        .collect()
                }
                Source::Records => {
                    let low = ulid_floor(query.registered_from.map_or(0, |t| t.timestamp_millis()));
                    let mut high =
                        query.registered_to.map_or([0xff; 16], |t| ulid_floor(t.timestamp_millis()));
                    if let Some(c) = after {
                        high = high.min(c.id.to_bytes());
                    }
                    self.store
                        .scan_ids_rev(super::REQUESTS, &low, &high, per_scan)?
                        .iter()
                        .filter_map(|k| RequestId::from_bytes(k.id()))
                        .map(|id| Cursor { registered_ms: id.0.timestamp_ms() as i64, id })
                        .collect()
                }
            });
        }
        // A scan that hit its bound may hide older entries: the page stops at
        // the newest such bound so nothing is skipped.
        let floor = scans.iter().filter(|s| s.len() >= per_scan).filter_map(|s| s.last().copied()).max();
        let scanned: usize = scans.iter().map(Vec::len).sum();
        let mut merged: Vec<Cursor> = scans.into_iter().flatten().collect();
        merged.sort_by(|a, b| b.cmp(a));
        merged.dedup();
        let mut items = Vec::new();
        let mut last_examined = None;
        for cursor in merged {
            if floor.is_some_and(|f| cursor < f) {
                break;
            }
            last_examined = Some(cursor);
            let Some(stored) = self.store.get(&request_key(cursor.id))? else { continue };
            let mut r: Request = decode(&stored.body)?;
            r.version = stored.version;
            if query.matches(&r, now, text_addresses.as_deref()) {
                items.push(r);
                if items.len() == first {
                    break;
                }
            }
        }
        // The cursor is the last position examined, so filtered-out rows are not read again.
        let more = items.len() == first || floor.is_some();
        Ok(Page { items, next: if more { last_examined } else { None }, examined: scanned })
    }

    /// Up to `limit` requests matching `query`, newest first, in as many pages
    /// as it takes (at most [`MAX_PAGES`]).
    pub fn list_up_to(&self, query: &RequestQuery, limit: usize) -> Result<Vec<Request>, DomainError> {
        let mut out = Vec::new();
        let mut after = None;
        for _ in 0..MAX_PAGES {
            if out.len() >= limit {
                break;
            }
            let page = self.list(query, after, limit - out.len())?;
            out.extend(page.items);
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// How many requests match, reading at most `budget` index entries or
    /// records: a filter that matches little cannot make a count walk the
    /// whole store. Past the budget the count found so far is returned as a
    /// lower bound (`exact: false`).
    pub fn count(&self, query: &RequestQuery, budget: usize) -> Result<Count, DomainError> {
        if let Some(found) = self.counted_total(query)? {
            return Ok(Count { found, exact: true });
        }
        let (mut found, mut examined, mut after) = (0, 0, None);
        loop {
            let page =
                self.list_within(query, after, 1000, budget.saturating_sub(examined).clamp(1, MAX_EXAMINED))?;
            found += page.items.len();
            examined += page.examined.max(1);
            match page.next {
                None => return Ok(Count { found, exact: true }),
                Some(_) if examined >= budget => return Ok(Count { found, exact: false }),
                Some(c) => after = Some(c),
            }
        }
    }

    /// The count of a query that asks only for statuses (and perhaps an
    /// organization): the sum of the kept index counts, one read per status.
    fn counted_total(&self, q: &RequestQuery) -> Result<Option<usize>, DomainError> {
        let RequestQuery {
            statuses,
            organization,
            class,
            category,
            overdue,
            district,
            registered_from,
            registered_to,
            text,
            incident,
            phone,
            address_unconfirmed,
            words,
        } = q;
        let narrowed = class.is_some()
            || category.is_some()
            || overdue.is_some()
            || district.is_some()
            || registered_from.is_some()
            || registered_to.is_some()
            || text.is_some()
            || incident.is_some()
            || phone.is_some()
            || address_unconfirmed.is_some()
            || words.is_some();
        if narrowed || statuses.is_empty() {
            return Ok(None);
        }
        let mut total = 0usize;
        let mut seen = Vec::with_capacity(statuses.len());
        for status in statuses {
            if seen.contains(status) {
                continue;
            }
            seen.push(*status);
            let p = match organization {
                Some(org) => indexes::org_status_prefix(org.as_str(), *status),
                None => KeyBuilder::index(indexes::BY_STATUS).u8(status.code()).build(),
            };
            match self.store.index_count(&p)? {
                Some(n) => total += usize::try_from(n).unwrap_or(usize::MAX),
                None => return Ok(None),
            }
        }
        Ok(Some(total))
    }

    fn sources(&self, q: &RequestQuery, text_addresses: Option<&[String]>) -> Vec<Source> {
        if let Some(incident) = &q.incident {
            return vec![Source::Index(KeyBuilder::index(indexes::BY_INCIDENT).str(incident).build())];
        }
        if let Some(phone) = &q.phone {
            return vec![Source::Index(KeyBuilder::index(indexes::BY_PHONE).str(phone.as_str()).build())];
        }
        if q.address_unconfirmed == Some(true) {
            return vec![Source::Index(KeyBuilder::index(indexes::BY_UNCONFIRMED).build())];
        }
        if let Some(ids) = text_addresses {
            return ids
                .iter()
                .map(|a| Source::Index(KeyBuilder::index(indexes::BY_ADDRESS).str(a).build()))
                .collect();
        }
        if let Some(org) = &q.organization {
            return vec![Source::Index(KeyBuilder::index(indexes::BY_ORG_TIME).str(org.as_str()).build())];
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
                .map(|s| Source::Index(KeyBuilder::index(indexes::BY_STATUS).u8(s.code()).build()))
                .collect();
        }
        vec![Source::Records]
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

    /// How many requests of an organization were resolved at or after `since` (up to `cap`).
    pub fn count_resolved_since(
        &self,
        org: &str,
        since: DateTime<Utc>,
        cap: usize,
    ) -> Result<usize, DomainError> {
        let p = KeyBuilder::index(indexes::BY_RESOLVED).str(org).build();
        let from = indexes::with_time(&p, since);
        Ok(self.store.scan_range(&from, &prefix_end(&p), cap)?.len())
    }

    /// How many requests wait in a status with no organization or any (by the status index, up to `cap`).
    pub fn count_status(&self, status: RequestStatus, cap: usize) -> Result<usize, DomainError> {
        let p = KeyBuilder::index(indexes::BY_STATUS).u8(status.code()).build();
        if let Some(n) = self.store.index_count(&p)? {
            return Ok(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(self.store.scan_range(&p, &prefix_end(&p), cap)?.len())
    }

    /// Requests at a building registered at or after `since`, newest first.
    pub fn requests_at_address(
        &self,
        address: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Request>, DomainError> {
        let p = KeyBuilder::index(indexes::BY_ADDRESS).str(address).build();
        let from = indexes::with_time(&p, since);
        let mut out = Vec::new();
        for e in self.store.scan_range_rev(&from, &prefix_end(&p), limit)? {
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
        if let Some(n) = self.store.index_count(&p)? {
            return Ok(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(self.store.scan_range(&p, &prefix_end(&p), cap)?.len())
    }
}
