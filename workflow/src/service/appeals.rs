//! Appeals in the store: drafted from the same analysis that serves
//! `organization_performance`, then edited, sent and withdrawn through the
//! pure rules in [`crate::appeals`]. Each change writes the folded record and
//! its event in one atomic write, pinned to the version the caller saw.
//!
//! Index layouts: `"ad" created:i64 id:str` — every appeal by drafting time;
//! `"ao" organization:str created:i64 id:str` — one organization's appeals
//! by drafting time. Both are read newest first.

use chrono::{DateTime, Utc};
use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction, prefix_end};

use super::{Kontakt, decode, encode};
use crate::DomainError;
use crate::appeals::{self, Appeal, AppealCommand, AppealEvent, Draft};
use crate::model::{Actor, DeadlineClass, OrgId, in_calendar};

const APPEALS: &str = "appeal";
/// The longest period one appeal may judge: a year.
const MAX_APPEAL_DAYS: i64 = 366;

fn key(id: &str) -> RecordKey {
    RecordKey::new(APPEALS, id.as_bytes())
}

fn index_keys(a: &Appeal) -> Vec<kontakt_storage::IndexKey> {
    let created = a.created_at.timestamp_millis();
    vec![
        KeyBuilder::index("ad").i64(created).str(&a.id).build(),
        KeyBuilder::index("ao").str(a.organization.as_str()).i64(created).str(&a.id).build(),
    ]
}

impl Kontakt {
    /// One appeal.
    pub fn appeal(&self, id: &str) -> Result<Option<Appeal>, DomainError> {
        match self.store.get(&key(id))? {
            Some(s) => {
                let mut a: Appeal = decode(&s.body)?;
                a.version = s.version;
                Ok(Some(a))
            }
            None => Ok(None),
        }
    }

    /// Appeals, newest first, about one organization or all, at most `limit`.
    pub fn appeals(&self, organization: Option<&OrgId>, limit: usize) -> Result<Vec<Appeal>, DomainError> {
        let prefix = match organization {
            Some(o) => KeyBuilder::index("ao").str(o.as_str()).build(),
            None => KeyBuilder::index("ad").build(),
        };
        let mut out = Vec::new();
        for e in self.store.scan_range_rev(&prefix, &prefix_end(&prefix), limit)? {
            if let Some(a) = self.appeal(&String::from_utf8_lossy(e.record.id()))? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// An appeal's events, oldest first.
    pub fn appeal_history(&self, id: &str) -> Result<Vec<AppealEvent>, DomainError> {
        self.store.events(&key(id))?.iter().map(|b| decode(b)).collect()
    }

    /// Drafts an appeal to a regional organization that fell below `target`
    /// over `[from, to)`: its figures and late requests as the analysis
    /// counts them now. A period reaching past now ends now.
    pub fn draft_appeal(
        &self,
        organization: &OrgId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        target: f64,
        actor: &Actor,
    ) -> Result<Appeal, DomainError> {
        let org = self
            .organization(organization.as_str())?
            .ok_or_else(|| DomainError::NotFound(format!("no organization {organization}")))?;
        let now = self.now();
        let (from, to) = (in_calendar("from", from)?, in_calendar("to", to)?.min(now));
        if to <= from {
            return Err(DomainError::Validation(
                "the period must start before it ends and before now".into(),
            ));
        }
        if to - from > chrono::Duration::days(MAX_APPEAL_DAYS) {
            return Err(DomainError::Validation(format!("an appeal judges at most {MAX_APPEAL_DAYS} days")));
        }
        // A deadline in the period belongs to a request registered up to a week before it.
        let requests = self.requests_registered(from - DeadlineClass::Long.window(), to)?;
        let performance = crate::analytics::performance(
            std::slice::from_ref(&org),
            &self.categories()?,
            &requests,
            from,
            to,
            self.city_offset,
            target,
        )
        .pop()
        .ok_or_else(|| DomainError::NotFound(format!("no organization {organization}")))?;
        let late_requests = appeals::late_requests(&org.id, &requests, from, to);
        let id = ulid::Ulid::from_parts(
            u64::try_from(now.timestamp_millis()).unwrap_or(0),
            ulid::Ulid::generate().random(),
        )
        .to_string();
        let command = AppealCommand::Draft(Box::new(Draft {
            id: id.clone(),
            performance,
            from,
            to,
            target,
            late_requests,
        }));
        let events = appeals::decide(None, &command, actor, now)?;
        self.commit_appeal(None, events)
    }

    /// Rewrites a draft's subject and text, if it is still at `expected_version`.
    pub fn edit_appeal(
        &self,
        id: &str,
        expected_version: u64,
        subject: &str,
        body: &str,
        actor: &Actor,
    ) -> Result<Appeal, DomainError> {
        let command = AppealCommand::Edit { subject: subject.to_string(), body: body.to_string() };
        self.run_appeal(id, expected_version, &command, actor)
    }

    /// Records that the appeal went out under `outgoing_number`, if it is still at `expected_version`.
    pub fn mark_appeal_sent(
        &self,
        id: &str,
        expected_version: u64,
        outgoing_number: &str,
        actor: &Actor,
    ) -> Result<Appeal, DomainError> {
        let command = AppealCommand::MarkSent { outgoing_number: outgoing_number.to_string() };
        self.run_appeal(id, expected_version, &command, actor)
    }

    /// Withdraws the appeal with a reason, if it is still at `expected_version`.
    pub fn withdraw_appeal(
        &self,
        id: &str,
        expected_version: u64,
        reason: &str,
        actor: &Actor,
    ) -> Result<Appeal, DomainError> {
        let command = AppealCommand::Withdraw { reason: reason.to_string() };
        self.run_appeal(id, expected_version, &command, actor)
    }

    /// Decides `command` on the appeal the caller saw at `expected_version`:
    /// a letter is edited by people, so a change made meanwhile is reported,
    /// never decided again over their heads.
    fn run_appeal(
        &self,
        id: &str,
        expected_version: u64,
        command: &AppealCommand,
        actor: &Actor,
    ) -> Result<Appeal, DomainError> {
        let current = self.appeal(id)?.ok_or_else(|| DomainError::NotFound(format!("no appeal {id}")))?;
        if current.version != expected_version {
            return Err(DomainError::Conflict);
        }
        let events = appeals::decide(Some(&current), command, actor, self.now())?;
        self.commit_appeal(Some(current), events)
    }

    /// Writes the fold of `events` over `current` with the events, expecting
    /// the record as `current` saw it (absent for a draft).
    fn commit_appeal(
        &self,
        current: Option<Appeal>,
        events: Vec<AppealEvent>,
    ) -> Result<Appeal, DomainError> {
        let expect = current.as_ref().map_or(Expect::Absent, |a| Expect::Version(a.version));
        let mut appeal = events
            .iter()
            .fold(current, appeals::apply)
            .ok_or_else(|| DomainError::NotFound("no such appeal".into()))?;
        let put = Put {
            key: key(&appeal.id),
            expect,
            body: Some(encode(&appeal)?),
            index: index_keys(&appeal),
            events: events.iter().map(encode).collect::<Result<_, _>>()?,
        };
        let committed = self.store.commit(Transaction::single(put))?;
        appeal.version = committed.versions.first().copied().unwrap_or(appeal.version + 1);
        Ok(appeal)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::appeals::AppealStatus;
    use crate::model::{Channel, Code, Role};
    use crate::service::AddressPoint;
    use crate::{Applicant, Command, ManualClock, NewRequest};

    fn setup() -> (Kontakt, Arc<ManualClock>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 2, 6, 0, 0).unwrap()));
        let store = kontakt_storage::SledStore::open(dir.path()).unwrap();
        let k = Kontakt::new(Arc::new(store), clock.clone());
        crate::demo::load(&k).unwrap();
        (k, clock, dir)
    }

    fn register(k: &Kontakt, category: &str, address: &str) -> crate::Request {
        let new = NewRequest {
            category: Code::parse(category).unwrap(),
            address: AddressPoint::Id(address.into()),
            description: "описание".into(),
            channel: Channel::Phone,
            applicant: Applicant::default(),
            raise_reason: None,
            incident: None,
        };
        k.register(new, &Actor::person("op", Role::Operator, None)).unwrap().request
    }

    fn resolve(k: &Kontakt, r: &crate::Request) {
        let crew = Actor::person("crew", Role::Contractor, r.organization.clone());
        k.execute(r.id, Command::Resolve { resolution: "готово".into(), note: None }, &crew).unwrap();
    }

    fn clock_now(c: &ManualClock) -> DateTime<Utc> {
        crate::Clock::now(c)
    }

    #[test]
    fn an_appeal_is_drafted_from_the_analysis_changed_at_its_version_and_listed_with_its_history() {
        let (k, clock, _dir) = setup();
        let sup = Actor::person("sup", Role::Supervisor, None);
        let start = clock_now(&clock);
        // Gas (regional, 6 h): one on time, one late, one left open past its deadline.
        let on_time = register(&k, "gas-smell", "g001-001");
        resolve(&k, &on_time);
        let late = register(&k, "gas-smell", "g001-002");
        let open = register(&k, "gas-smell", "g001-003");
        clock.advance(Duration::hours(7));
        resolve(&k, &late);
        clock.advance(Duration::minutes(1));
        let gas = Code::parse("gas-gorlovka").unwrap();
        let a = k.draft_appeal(&gas, start, start + Duration::days(1), 0.9, &sup).unwrap();
        assert_eq!((a.version, a.status), (1, AppealStatus::Draft));
        assert_eq!(a.period_to, clock_now(&clock), "a period reaching past now ends now");
        assert_eq!((a.figures.on_time, a.figures.late, a.figures.open_overdue), (1, 1, 1));
        let numbers: Vec<_> = a.late_requests.iter().map(|l| l.number).collect();
        assert_eq!(numbers, vec![late.number, open.number]);

        let edited =
            k.edit_appeal(&a.id, 1, "Тема", "Просим принять меры к соблюдению сроков.", &sup).unwrap();
        assert_eq!(edited.version, 2);
        assert!(matches!(
            k.edit_appeal(&a.id, 1, "Другая", "Другой текст письма, длинный.", &sup),
            Err(DomainError::Conflict)
        ));
        assert_eq!(k.appeal(&a.id).unwrap().unwrap(), edited, "a refused change changes nothing");
        let sent = k.mark_appeal_sent(&a.id, 2, "01-15/7", &sup).unwrap();
        assert_eq!((sent.version, sent.status), (3, AppealStatus::Sent));
        let withdrawn = k.withdraw_appeal(&a.id, 3, "направлено ошибочно, отзываем", &sup).unwrap();
        assert_eq!(withdrawn.status, AppealStatus::Withdrawn);

        let kinds: Vec<_> = k.appeal_history(&a.id).unwrap().iter().map(AppealEvent::name).collect();
        assert_eq!(kinds, ["DRAFTED", "EDITED", "SENT", "WITHDRAWN"]);
        clock.advance(Duration::minutes(1));
        let second = k.draft_appeal(&gas, start, start + Duration::days(1), 0.9, &sup).unwrap();
        let ids = |o: Option<&OrgId>| -> Vec<String> {
            k.appeals(o, 10).unwrap().into_iter().map(|a| a.id).collect()
        };
        assert_eq!(ids(Some(&gas)), vec![second.id.clone(), a.id.clone()], "newest first");
        assert_eq!(ids(None), ids(Some(&gas)));
        assert!(ids(Some(&Code::parse("res-gorlovka").unwrap())).is_empty());
    }

    #[test]
    fn drafting_is_refused_for_city_organizations_and_those_at_target() {
        let (k, clock, _dir) = setup();
        let sup = Actor::person("sup", Role::Supervisor, None);
        let start = clock_now(&clock);
        let pothole = register(&k, "pothole", "g001-004");
        let power = register(&k, "power-outage-building", "g001-005");
        resolve(&k, &power);
        clock.advance(Duration::days(8));
        let draft =
            |org: &str| k.draft_appeal(&Code::parse(org).unwrap(), start, clock_now(&clock), 0.9, &sup);
        assert_eq!(pothole.organization.as_ref().map(Code::as_str), Some("roads-gorlovka"));
        assert!(draft("roads-gorlovka").unwrap_err().to_string().contains("city organization"));
        assert!(draft("res-gorlovka").unwrap_err().to_string().contains("met the target"));
        assert!(matches!(draft("nobody"), Err(DomainError::NotFound(_))));
        assert!(k.appeals(None, 10).unwrap().is_empty(), "nothing was written");
    }
}
