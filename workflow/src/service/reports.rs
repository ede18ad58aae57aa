//! Daily reports in the store: gathered from the indexes, computed by
//! [`crate::reports::compute`], and kept as immutable snapshots — a report,
//! once made for a finished day, is never rewritten by later changes.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, StoreError, Transaction, prefix_end};

use super::{Kontakt, REQUESTS, decode, encode};
use crate::lifecycle::{Event, Request};
use crate::model::{DeadlineClass, RequestId, RequestStatus};
use crate::reports::{self, DailyReport};
use crate::{DomainError, indexes};

const REPORTS: &str = "report";
/// The longest period the analysis reads: five years of history.
const MAX_PERIOD_DAYS: i64 = 1830;

impl Kontakt {
    /// The UTC bounds of a city date.
    pub fn city_day(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(self.city_offset).single())
                .map_or_else(|| d.and_time(chrono::NaiveTime::MIN).and_utc(), |t| t.with_timezone(&Utc))
        };
        (at(date), at(date.succ_opt().unwrap_or(date)))
    }

    /// The city's offset from UTC.
    pub fn city_offset(&self) -> chrono::FixedOffset {
        self.city_offset
    }

    /// Today's date in the city.
    pub fn city_today(&self) -> NaiveDate {
        self.now().with_timezone(&self.city_offset).date_naive()
    }

    /// The stored report of a day, if one was made.
    pub fn stored_daily_report(&self, date: NaiveDate) -> Result<Option<DailyReport>, DomainError> {
        match self.store.get(&RecordKey::new(REPORTS, date.to_string().as_bytes()))? {
            Some(s) => Ok(Some(decode(&s.body)?)),
            None => Ok(None),
        }
    }

    /// The report of a day: the stored snapshot when there is one; otherwise
    /// computed now, and stored once the day is over.
    pub fn daily_report(&self, date: NaiveDate) -> Result<DailyReport, DomainError> {
        if !crate::model::CALENDAR_YEARS.contains(&chrono::Datelike::year(&date)) {
            return Err(DomainError::Validation("the date must fall between the years 1970 and 9999".into()));
        }
        if let Some(r) = self.stored_daily_report(date)? {
            return Ok(r);
        }
        let (start, end) = self.city_day(date);
        let now = self.now();
        let report = reports::compute(date, start, end, now, &self.report_candidates(start, end)?);
        // Its figures are final at the cut-off: stored from then on, never before.
        if reports::cutoff_after(end) > now {
            return Ok(report);
        }
        let put = Put {
            key: RecordKey::new(REPORTS, date.to_string().as_bytes()),
            expect: Expect::Absent,
            body: Some(encode(&report)?),
            index: vec![],
            events: vec![],
        };
        match self.store.commit(Transaction::single(put)) {
            Ok(_) => Ok(report),
            // Made meanwhile by another caller: that one stands.
            Err(StoreError::Conflict { .. }) => self.stored_daily_report(date)?.ok_or(DomainError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// The requests behind the "due" figures of the day's report (formula 2):
    /// due that day as they stood at the cut-off, of one organization
    /// (`None`: every one, `Some("")`: none held it), class and outcome.
    pub fn daily_report_requests(
        &self,
        date: NaiveDate,
        organization: Option<&str>,
        class: Option<DeadlineClass>,
        outcome: Option<crate::analytics::Outcome>,
    ) -> Result<Vec<(Request, crate::analytics::Outcome)>, DomainError> {
        if !crate::model::CALENDAR_YEARS.contains(&chrono::Datelike::year(&date)) {
            return Err(DomainError::Validation("the date must fall between the years 1970 and 9999".into()));
        }
        let (start, end) = self.city_day(date);
        let judged = reports::cutoff_after(end).min(self.now());
        let mut out: Vec<_> = self
            .report_candidates(start, end)?
            .into_iter()
            .filter_map(|(_, history)| reports::due_in(&history, start, end, judged))
            .filter(|(r, o)| {
                organization.is_none_or(|org| r.responsible().map_or("", |x| x.as_str()) == org)
                    && class.is_none_or(|c| r.deadline_class == c)
                    && outcome.is_none_or(|x| *o == x)
            })
            .collect();
        out.sort_by_key(|(r, _)| r.deadline);
        Ok(out)
    }

    /// Every request that may figure in the day's report: open now,
    /// registered during the day, or resolved during it.
    fn report_candidates(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(Request, Vec<Event>)>, DomainError> {
        let mut ids: BTreeSet<RequestId> = BTreeSet::new();
        for status in RequestStatus::ALL.iter().filter(|s| s.is_open()) {
            let p = KeyBuilder::index(indexes::BY_STATUS).u8(status.code()).build();
            ids.extend(
                self.store
                    .scan_range(&p, &prefix_end(&p), usize::MAX)?
                    .iter()
                    .filter_map(|e| RequestId::from_bytes(e.record.id())),
            );
        }
        let ulid = |t: DateTime<Utc>| {
            ulid::Ulid::from_parts(u64::try_from(t.timestamp_millis()).unwrap_or(0), 0).to_bytes()
        };
        ids.extend(
            self.store
                // Registered in the day, or up to a week before: a deadline in the day.
                .scan_ids_rev(REQUESTS, &ulid(start - DeadlineClass::Long.window()), &ulid(end), usize::MAX)?
                .iter()
                .filter_map(|k| RequestId::from_bytes(k.id())),
        );
        for org in self.organizations()? {
            let p = KeyBuilder::index(indexes::BY_RESOLVED).str(org.id.as_str()).build();
            let from = indexes::with_time(&p, start);
            ids.extend(
                self.store
                    .scan_range(&from, &prefix_end(&p), usize::MAX)?
                    .iter()
                    .filter_map(|e| RequestId::from_bytes(e.record.id())),
            );
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.request(id)? {
                let history = self.history(id)?;
                out.push((r, history));
            }
        }
        Ok(out)
    }
}

/// Most requests an analysis reads (the rest of a larger window is left out).
pub const ANALYSIS_CAP: usize = 500_000;

impl Kontakt {
    /// Requests registered in `[from, to)`, at most [`ANALYSIS_CAP`].
    pub fn requests_registered(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Request>, DomainError> {
        let ulid = |t: DateTime<Utc>| {
            ulid::Ulid::from_parts(u64::try_from(t.timestamp_millis()).unwrap_or(0), 0).to_bytes()
        };
        let mut out = Vec::new();
        for k in self.store.scan_ids_rev(REQUESTS, &ulid(from), &ulid(to), ANALYSIS_CAP)? {
            if let Some(id) = RequestId::from_bytes(k.id())
                && let Some(r) = self.request(id)?
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Each organization (of one subordination, or all) against its deadlines
    /// over `[from, to)`, with draft appeals for regional ones below `target`.
    pub fn organization_performance(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        subordination: Option<crate::model::Subordination>,
        target: f64,
    ) -> Result<Vec<crate::analytics::Performance>, DomainError> {
        let (from, to) = (crate::model::in_calendar("from", from)?, crate::model::in_calendar("to", to)?);
        if to <= from {
            return Err(DomainError::Validation("the period ends before it starts".into()));
        }
        if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
            return Err(DomainError::Validation(format!("a period spans at most {MAX_PERIOD_DAYS} days")));
        }
        // A deadline in the period belongs to a request registered up to a week before it.
        let requests = self.requests_registered(from - DeadlineClass::Long.window(), to)?;
        let orgs: Vec<_> = self
            .organizations()?
            .into_iter()
            .filter(|o| subordination.is_none_or(|s| o.subordination == s))
            .collect();
        Ok(crate::analytics::performance(
            &orgs,
            &self.categories()?,
            &requests,
            from,
            to.min(self.now()),
            self.city_offset,
            target,
        ))
    }

    /// The requests behind a compliance figure of `org` over `[from, to)`:
    /// those judged against it (see [`crate::analytics::judged`]), narrowed to
    /// a class, a category, a week (its Monday, city date) and an outcome.
    #[expect(clippy::too_many_arguments, reason = "one argument per way the figures are cut")]
    pub fn compliance_requests(
        &self,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        class: Option<DeadlineClass>,
        category: Option<&str>,
        week: Option<chrono::NaiveDate>,
        outcome: Option<crate::analytics::Outcome>,
    ) -> Result<Vec<(crate::lifecycle::Request, crate::analytics::Outcome)>, DomainError> {
        let (from, to) = (crate::model::in_calendar("from", from)?, crate::model::in_calendar("to", to)?);
        if to <= from || to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
            return Err(DomainError::Validation(format!("a period is 1 second to {MAX_PERIOD_DAYS} days")));
        }
        let org = crate::model::Code::parse(org)?;
        let requests = self.requests_registered(from - DeadlineClass::Long.window(), to)?;
        let city = self.city_offset;
        let mut out: Vec<_> = crate::analytics::judged(&org, &requests, from, to.min(self.now()))
            .into_iter()
            .filter(|(r, o)| {
                class.is_none_or(|c| r.deadline_class == c)
                    && category.is_none_or(|c| r.category.as_str() == c)
                    && week.is_none_or(|w| crate::analytics::week_of(r.deadline, city) == w)
                    && outcome.is_none_or(|x| *o == x)
            })
            .map(|(r, o)| (r.clone(), o))
            .collect();
        out.sort_by_key(|(r, _)| r.deadline);
        Ok(out)
    }

    /// The resource plan for the `months` after this one from the last three
    /// years' requests (a season needs one, a trend two), the categories'
    /// norms and the organizations' working hours (see [`crate::capacity::plan`]).
    pub fn resource_plan(&self, months: u32, target: f64) -> Result<crate::capacity::Plan, DomainError> {
        let now = self.now();
        let history = self.requests_registered(now - chrono::Duration::days(3 * 365), now)?;
        Ok(crate::capacity::plan(
            &self.organizations()?,
            &history,
            &self.category_norms()?,
            &self.working_hours()?,
            now,
            months.clamp(1, 24),
            self.city_offset,
            target,
        ))
    }
}
