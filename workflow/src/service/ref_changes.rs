//! Reference data changes in the store: the record and one entry per event in
//! the reference log, in one atomic write.
//!
//! The log (`reflog`) is numbered by the gap-free counter `reference-changes`,
//! so "what changed lately" is a reverse scan, and a record's history is
//! the index `"rl" kind:str key:str seq:u64 n:u32`. Deleting a record (a
//! routing rule) drops its own log, not the reference log's.

use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, StoreError, Transaction};

use super::reference_store::{ADDRESSES, CATEGORIES, ORGS, RULES, address_keys};
use super::{Kontakt, decode, encode};
use crate::DomainError;
use crate::model::{Actor, Address, Category, Organization, RoutingRule};
use crate::refdata::{self, DeliveryOf, RefCommand, RefEvent, RefKind, RefRecord};

const LOG: &str = "reflog";
const COUNTER: &str = "reference-changes";
/// Records changed per write by a bulk change (an import).
const BATCH: usize = 500;

/// Where a kind of reference record is stored, and the index keys it has.
pub trait Stored: RefRecord + Send + 'static {
    /// Its collection.
    const COLLECTION: &'static str;
    /// Its index keys.
    fn index(&self) -> Vec<Vec<u8>> {
        vec![]
    }
    /// The value as read from its record: some kinds keep their key only in the record's id.
    fn keyed(self, _key: &str) -> Self {
        self
    }
}

impl Stored for Organization {
    const COLLECTION: &'static str = ORGS;
}

impl Stored for Category {
    const COLLECTION: &'static str = CATEGORIES;
}

impl Stored for RoutingRule {
    const COLLECTION: &'static str = RULES;
}

impl Stored for Address {
    const COLLECTION: &'static str = ADDRESSES;
    fn index(&self) -> Vec<Vec<u8>> {
        address_keys(self)
    }
}

impl Stored for DeliveryOf {
    const COLLECTION: &'static str = super::notices::DELIVERY;
    fn keyed(mut self, key: &str) -> Self {
        key.clone_into(&mut self.recipient);
        self
    }
}

/// Per-request norms of categories, for the resource plan.
const NORMS: &str = "norm";
/// Organizations' working hours, for the resource plan.
const HOURS: &str = "hours";

impl Stored for crate::capacity::CategoryNorm {
    const COLLECTION: &'static str = NORMS;
}

impl Stored for refdata::WorkingHoursOf {
    const COLLECTION: &'static str = HOURS;
}

impl Kontakt {
    /// Every category's norms, by category code.
    pub fn category_norms(&self) -> Result<Vec<crate::capacity::CategoryNorm>, DomainError> {
        self.all(NORMS)
    }

    /// Sets a category's norms (ADMIN), recorded with who set them; the
    /// category must exist.
    pub fn set_category_norm(
        &self,
        norm: &crate::capacity::CategoryNorm,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        if self.category(norm.category.as_str())?.is_none() {
            return Err(DomainError::Validation(format!("unknown category {}", norm.category)));
        }
        self.change_reference(norm.category.as_str(), RefCommand::Put(norm.clone()), actor)?;
        Ok(())
    }

    /// Every organization's working hours that differ from the default.
    pub fn working_hours(
        &self,
    ) -> Result<std::collections::BTreeMap<crate::model::OrgId, crate::capacity::WorkingHours>, DomainError>
    {
        Ok(self
            .all::<refdata::WorkingHoursOf>(HOURS)?
            .into_iter()
            .map(|w| (w.organization, w.hours))
            .collect())
    }

    /// Sets an organization's working hours, recorded with who set them.
    pub fn set_working_hours(
        &self,
        organization: &str,
        hours: crate::capacity::WorkingHours,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        let Some(org) = self.organization(organization)? else {
            return Err(DomainError::NotFound(format!("no organization {organization}")));
        };
        let of = refdata::WorkingHoursOf { organization: org.id, hours };
        self.change_reference(organization, RefCommand::Put(of), actor)?;
        Ok(())
    }
}

fn log_key(seq: u64, n: u32) -> RecordKey {
    let mut id = seq.to_be_bytes().to_vec();
    id.extend_from_slice(&n.to_be_bytes());
    RecordKey::new(LOG, &id)
}

fn history_prefix(kind: RefKind, key: &str) -> KeyBuilder {
    KeyBuilder::index("rl").str(kind.as_str()).str(key)
}

/// What a reference command comes to against the stored record.
enum Decided<T> {
    /// Nothing changes; the value as stored.
    Unchanged(Option<T>),
    /// The write, its events, and the value after.
    Change(Put, Vec<RefEvent>, Option<T>),
}

/// One entry of the reference log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedChange {
    /// Its place in the log: later changes have greater numbers.
    pub seq: u64,
    /// The change.
    pub event: RefEvent,
}

impl Kontakt {
    /// Decides `command` on the record `key` of kind `T` and writes the new
    /// value with its events in one atomic write; answers the value after.
    /// A write that changes nothing writes nothing.
    pub fn change_reference<T: Stored>(
        &self,
        key: &str,
        command: RefCommand<T>,
        actor: &Actor,
    ) -> Result<Option<T>, DomainError> {
        if let RefCommand::Put(v) | RefCommand::Create(v) | RefCommand::Update(v) = &command
            && v.key() != key
        {
            return Err(DomainError::Validation(format!("the value's key {} is not {key}", v.key())));
        }
        for attempt in 0.. {
            let (put, events, after) = match self.decide_reference(key, &command, actor)? {
                Decided::Unchanged(current) => return Ok(current),
                Decided::Change(put, events, after) => (put, events, after),
            };
            match self.commit_logged(vec![put], vec![(T::KIND, key.to_string(), events)]) {
                Ok(()) => {
                    self.forget_reference();
                    return Ok(after);
                }
                // Someone changed it between the read and the write: decide again on theirs.
                Err(StoreError::Conflict { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict)
    }

    /// Puts many records of one kind (an import), [`BATCH`] per atomic
    /// write, each with its events; `progress` hears how many are done.
    /// Answers how many changed.
    pub fn put_references<T: Stored + Sync>(
        &self,
        values: &[T],
        actor: &Actor,
        progress: &mut dyn FnMut(usize),
    ) -> Result<usize, DomainError> {
        for v in values {
            v.validate()?;
        }
        let mut changed = 0;
        let mut done = 0;
        for chunk in values.chunks(BATCH) {
            for attempt in 0.. {
                let mut puts = Vec::new();
                let mut logged = Vec::new();
                for v in chunk {
                    let key = v.key();
                    if let Decided::Change(put, events, _) =
                        self.decide_reference(&key, &RefCommand::Put(v.clone()), actor)?
                    {
                        puts.push(put);
                        logged.push((T::KIND, key, events));
                    }
                }
                let n = puts.len();
                if n == 0 {
                    break;
                }
                match self.commit_logged(puts, logged) {
                    Ok(()) => {
                        changed += n;
                        break;
                    }
                    Err(StoreError::Conflict { .. }) if attempt < 3 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            done += chunk.len();
            progress(done);
        }
        self.forget_reference();
        Ok(changed)
    }

    /// Decides `command` on the stored record `key`: nothing to write, or the
    /// write (expecting the version read) with its events and the value after.
    fn decide_reference<T: Stored>(
        &self,
        key: &str,
        command: &RefCommand<T>,
        actor: &Actor,
    ) -> Result<Decided<T>, DomainError> {
        let record = RecordKey::new(T::COLLECTION, key.as_bytes());
        let stored = self.store.get(&record)?;
        let current: Option<T> =
            stored.as_ref().map(|s| decode::<T>(&s.body).map(|v| v.keyed(key))).transpose()?;
        let events = refdata::decide(current.as_ref(), command, actor, self.now())?;
        if events.is_empty() {
            return Ok(Decided::Unchanged(current));
        }
        let after = events.iter().fold(current, refdata::apply::<T>);
        let put = Put {
            key: record,
            expect: stored.as_ref().map_or(Expect::Absent, |s| Expect::Version(s.version)),
            body: after.as_ref().map(encode).transpose()?,
            index: after.as_ref().map(Stored::index).unwrap_or_default(),
            events: vec![],
        };
        Ok(Decided::Change(put, events, after))
    }

    /// Commits `puts` and a log entry per event, numbered by the log's counter.
    pub(super) fn commit_logged(
        &self,
        puts: Vec<Put>,
        logged: Vec<(RefKind, String, Vec<RefEvent>)>,
    ) -> Result<(), StoreError> {
        let mut entries = Vec::new();
        for (kind, key, events) in logged {
            for e in events {
                entries.push((kind, key.clone(), encode(&e)?));
            }
        }
        self.store.commit_sequenced(
            COUNTER,
            Box::new(move |seq| {
                let mut puts = puts;
                for (n, (kind, key, body)) in entries.into_iter().enumerate() {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    puts.push(Put {
                        key: log_key(seq, n),
                        expect: Expect::Absent,
                        body: Some(body),
                        index: vec![history_prefix(kind, &key).u64(seq).u64(u64::from(n)).build()],
                        events: vec![],
                    });
                }
                Ok(Transaction::of(puts))
            }),
        )?;
        Ok(())
    }

    /// A record's history, oldest first: the events recorded with it before
    /// the reference log existed, then the log's.
    pub fn reference_history(&self, kind: RefKind, key: &str) -> Result<Vec<RefEvent>, DomainError> {
        let legacy_collection = match kind {
            RefKind::Building => Some(ADDRESSES),
            RefKind::Delivery => Some(super::notices::DELIVERY),
            _ => None,
        };
        let mut out: Vec<RefEvent> = Vec::new();
        if let Some(c) = legacy_collection {
            for e in self.store.events(&RecordKey::new(c, key.as_bytes()))? {
                let mut e: RefEvent = decode(&e)?;
                e.kind.get_or_insert(kind);
                e.key.get_or_insert_with(|| key.to_string());
                out.push(e);
            }
        }
        let prefix = history_prefix(kind, key).build();
        for entry in self.store.scan_range(&prefix, &kontakt_storage::prefix_end(&prefix), 10_000)? {
            if let Some(s) = self.store.get(&entry.record)? {
                out.push(decode(&s.body)?);
            }
        }
        Ok(out)
    }

    /// The latest changes of reference data, newest first, at most `limit`,
    /// of one kind if given.
    pub fn reference_changes(
        &self,
        kind: Option<RefKind>,
        limit: usize,
    ) -> Result<Vec<LoggedChange>, DomainError> {
        let mut out = Vec::new();
        let mut to: Vec<u8> = vec![0xff; 12];
        loop {
            let keys = self.store.scan_ids_rev(LOG, &[], &to, 500)?;
            let Some(last) = keys.last() else { break };
            to = last.id().to_vec();
            for k in &keys {
                let Some(s) = self.store.get(k)? else { continue };
                let event: RefEvent = decode(&s.body)?;
                if kind.is_none_or(|kind| event.kind == Some(kind)) {
                    let seq = k
                        .id()
                        .get(..8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map_or(0, u64::from_be_bytes);
                    out.push(LoggedChange { seq, event });
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            if keys.len() < 500 {
                break;
            }
        }
        Ok(out)
    }
}
