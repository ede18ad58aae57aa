//! [`Kontakt`]: the domain service. It loads state through the
//! [`Store`](kontakt_storage::Store) trait, lets the state machine decide, and
//! writes the new record, its events and its index entries in one atomic,
//! durable write.
//!
//! Commands carry intent, not versions: when another writer got there first
//! (a version conflict), the service reloads and decides again, so the rule is
//! always checked against the state it changes. A caller that pins a version
//! gets [`DomainError::Conflict`] instead.

mod appeals;
mod board;
mod callbacks;
mod cluster;
mod erasure;
mod finished;
mod hints;
mod idempotency;
mod incidents;
mod migrate;
mod notices;
mod queries;
mod ref_changes;
pub(crate) mod reference_store;
mod reports;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use kontakt_storage::{Expect, Put, RecordKey, Store, StoreError, Transaction};

pub use board::BoardSnapshot;
pub use cluster::FedChange;
pub use erasure::RetentionRun;
pub use finished::finished_at;
pub use hints::{CardHints, CardOutcome, RECURRING_DAYS};
pub use incidents::IncidentChange;
pub use notices::ADMINISTRATION;
pub use queries::{Count, Cursor, MAX_PAGES, Page, RequestQuery};
pub use ref_changes::{LoggedChange, Stored as StoredReference};
pub use reference_store::{AddressPoint, normalize, tokens};

use crate::clock::Clock;
use crate::indexes;
use crate::lifecycle::{self, Applicant, Command, Event, Registration, Request, SlaPolicy};
use crate::model::{Actor, CategoryCode, Channel, RequestId, RequestNumber};
use crate::{DomainError, routing};

/// Collection of request records.
pub const REQUESTS: &str = "req";

/// How many times a command is decided again after losing a race.
const RETRIES: usize = 8;

/// A card as the operator entered it, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    /// The chosen category.
    pub category: CategoryCode,
    /// Where: a registry entry or a point (the nearest building is taken).
    pub address: AddressPoint,
    /// What the caller said.
    pub description: String,
    /// How it came in.
    pub channel: Channel,
    /// The caller.
    pub applicant: Applicant,
    /// The operator's reason to raise the class to EMERGENCY.
    pub raise_reason: Option<String>,
    /// An active incident to link the card to at registration.
    pub incident: Option<String>,
}

/// What an operator corrects on a card.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorrectionInput {
    /// The right category.
    pub category: Option<CategoryCode>,
    /// The right building.
    pub address: Option<AddressPoint>,
    /// The right description.
    pub description: Option<String>,
    /// Why.
    pub reason: String,
}

/// A committed change: the new state and the events that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The request before the change (`None` for a registration).
    pub before: Option<Request>,
    /// The request after the change.
    pub request: Request,
    /// The events appended.
    pub events: Vec<Event>,
}

/// The smallest sweep batch, however busy the store: the storm still moves.
const MIN_SWEEP_BATCH: usize = 16;

/// The domain service; cheap to clone.
#[derive(Clone)]
pub struct Kontakt {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: SlaPolicy,
    city_offset: FixedOffset,
    cache: Arc<std::sync::RwLock<Option<Arc<reference_store::Reference>>>>,
    callback_policy: crate::callbacks::CallbackPolicy,
}

impl std::fmt::Debug for Kontakt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kontakt").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The city's time zone offset: Europe/Moscow, UTC+3 all year.
pub fn moscow() -> FixedOffset {
    // 3 h is within FixedOffset's ±24 h range.
    FixedOffset::east_opt(3 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

impl Kontakt {
    /// A service over `store`, reading time from `clock`, with the default ladder.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        // The board, `totalCount` and `/metrics` read these counts in one read
        // each; a store that cannot keep them is still served, by scans.
        if let Err(e) = store.count_indexes(indexes::counted()) {
            tracing::warn!(error = %e, "index counts are not kept; counts scan the indexes");
        }
        let kontakt = Self {
            store,
            clock,
            policy: SlaPolicy::default(),
            city_offset: moscow(),
            cache: Arc::default(),
            callback_policy: Default::default(),
        };
        // A store without requests is written in the current layout from its
        // first request on: nothing to bring up to date at the next start.
        if let Err(e) = kontakt.mark_fresh_layout() {
            tracing::warn!(error = %e, "cannot mark the store's index layout");
        }
        kontakt
    }

    /// Uses another escalation ladder.
    pub fn with_policy(mut self, policy: SlaPolicy) -> Result<Self, DomainError> {
        self.policy = policy.validate()?;
        Ok(self)
    }

    /// Uses other callback retries and timeouts.
    pub fn with_callback_policy(mut self, policy: crate::callbacks::CallbackPolicy) -> Self {
        self.callback_policy = policy;
        self
    }

    /// Uses another city time zone offset (request numbers follow the city's year).
    pub fn with_city_offset(mut self, offset: FixedOffset) -> Self {
        self.city_offset = offset;
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The escalation ladder in force.
    pub fn policy(&self) -> SlaPolicy {
        self.policy
    }

    /// The current time by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Registers a card: number, class, deadline and dispatch in one durable write.
    pub fn register(&self, new: NewRequest, actor: &Actor) -> Result<Outcome, DomainError> {
        self.register_with(new, actor, None)
    }

    /// Registers, also writing `key`'s record (made from the new request's
    /// id) in the same atomic write.
    pub(crate) fn register_with(
        &self,
        new: NewRequest,
        actor: &Actor,
        key: Option<idempotency::KeyWrite>,
    ) -> Result<Outcome, DomainError> {
        let category = self
            .category(new.category.as_str())?
            .ok_or_else(|| DomainError::Validation(format!("unknown category {}", new.category)))?;
        let address = self.resolve_address(&new.address)?;
        let incident = match &new.incident {
            Some(id) => {
                let i = self.active_incident(id)?;
                Some((i.id, i.organization))
            }
            None => None,
        };
        let route = routing::route(
            &self.rules_for(category.code.as_str())?,
            category.code.as_str(),
            &address.district,
        );
        let now = self.now();
        let year = RequestNumber::year_of(now, self.city_offset);
        // The builder runs on the store's committer, which hands it the next
        // number; it reports its outcome or refusal through `result`.
        let result: Arc<std::sync::Mutex<Option<Result<Outcome, DomainError>>>> = Arc::default();
        let build = {
            let result = result.clone();
            let (policy, actor) = (self.policy, actor.clone());
            Box::new(move |seq: u64| {
                let reg = Registration {
                    id: RequestId::generate(now),
                    number: RequestNumber { year, seq: u32::try_from(seq).unwrap_or(u32::MAX) },
                    category,
                    address,
                    description: new.description,
                    channel: new.channel,
                    applicant: new.applicant,
                    route,
                    raise_reason: new.raise_reason,
                    incident,
                };
                let decided = lifecycle::decide(None, &Command::Register(Box::new(reg)), &actor, now)
                    .and_then(|events| {
                        let request = lifecycle::fold(&events).ok_or_else(|| {
                            DomainError::Validation("registration produced no request".into())
                        })?;
                        Ok(Outcome { before: None, request, events })
                    });
                let mut slot = result.lock().unwrap_or_else(|e| e.into_inner());
                match decided {
                    Ok(outcome) => {
                        let mut puts =
                            put_request(&policy, &outcome.request, Expect::Absent, &outcome.events)?;
                        if let Some(k) = &key {
                            puts.push(
                                k.put(outcome.request.id, now)
                                    .map_err(|e| StoreError::Aborted(e.to_string()))?,
                            );
                        }
                        *slot = Some(Ok(outcome));
                        Ok(Transaction::of(puts))
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        *slot = Some(Err(e));
                        Err(StoreError::Aborted(msg))
                    }
                }
            })
        };
        let committed = self.store.commit_sequenced(&RequestNumber::counter(year), build);
        let decided = result.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (committed, decided) {
            (Ok(c), Some(Ok(mut outcome))) => {
                outcome.request.version = c.versions.first().copied().unwrap_or(1);
                Ok(outcome)
            }
            (_, Some(Err(refusal))) => Err(refusal),
            (Err(e), _) => Err(e.into()),
            (Ok(_), None) => Err(DomainError::Validation("nothing was registered".into())),
        }
    }

    /// Corrects a card's category, building or description (see
    /// `lifecycle::correction` for what follows): the new category and
    /// building are looked up and routed here, the rule decides.
    pub fn correct(
        &self,
        id: RequestId,
        fix: CorrectionInput,
        actor: &Actor,
        version: Option<u64>,
    ) -> Result<Outcome, DomainError> {
        let current = self.request(id)?.ok_or_else(|| DomainError::NotFound("no such request".into()))?;
        let category = match &fix.category {
            Some(code) => Some(
                self.category(code.as_str())?
                    .ok_or_else(|| DomainError::Validation(format!("unknown category {code}")))?,
            ),
            None => None,
        };
        let address = fix.address.as_ref().map(|a| self.resolve_address(a)).transpose()?;
        let code = category.as_ref().map_or(&current.category, |c| &c.code);
        let district = address.as_ref().map_or(&current.address.district, |a| &a.district);
        let route = routing::route(&self.rules_for(code.as_str())?, code.as_str(), district);
        let correction = lifecycle::correction::Correction {
            category,
            address,
            description: fix.description,
            route,
            reason: fix.reason,
        };
        self.execute_at(id, Command::Correct(Box::new(correction)), actor, version)
    }

    /// Runs a command on a request, deciding again if another writer got there first.
    pub fn execute(&self, id: RequestId, command: Command, actor: &Actor) -> Result<Outcome, DomainError> {
        self.execute_at(id, command, actor, None)
    }

    /// Runs a command only if the request is still at `version`.
    pub fn execute_at(
        &self,
        id: RequestId,
        command: Command,
        actor: &Actor,
        version: Option<u64>,
    ) -> Result<Outcome, DomainError> {
        self.execute_with(id, command, actor, version, &|_| Ok(vec![]))
    }

    /// Runs a command and writes `extra`'s puts (made from the new state) in
    /// the same atomic write, with the callback the change causes, if any.
    pub(crate) fn execute_with(
        &self,
        id: RequestId,
        command: Command,
        actor: &Actor,
        version: Option<u64>,
        extra: &dyn Fn(&Request) -> Result<Vec<Put>, DomainError>,
    ) -> Result<Outcome, DomainError> {
        for _ in 0..RETRIES {
            let current =
                self.request(id)?.ok_or_else(|| DomainError::NotFound(format!("no request with id {id}")))?;
            if version.is_some_and(|v| v != current.version) {
                return Err(DomainError::Conflict);
            }
            let now = self.now();
            let events = lifecycle::decide(Some(&current), &command, actor, now)?;
            let mut request = events
                .iter()
                .fold(Some(current.clone()), lifecycle::apply)
                .ok_or_else(|| DomainError::NotFound(format!("no request with id {id}")))?;
            let mut puts = self.change_puts(&request, Expect::Version(current.version), &events, now)?;
            puts.extend(extra(&request)?);
            match self.store.commit(Transaction::of(puts)) {
                Ok(c) => {
                    request.version = c.versions.first().copied().unwrap_or(current.version + 1);
                    return Ok(Outcome { before: Some(current), request, events });
                }
                Err(StoreError::Conflict { .. }) if version.is_none() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict)
    }

    /// One request, by id.
    pub fn request(&self, id: RequestId) -> Result<Option<Request>, DomainError> {
        match self.store.get(&request_key(id))? {
            Some(stored) => {
                let mut r: Request = decode(&stored.body)?;
                r.version = stored.version;
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// One request, by its human number.
    pub fn request_by_number(&self, number: &RequestNumber) -> Result<Option<Request>, DomainError> {
        let key = indexes::number_key(&number.to_string());
        let end = kontakt_storage::prefix_end(&key);
        match self.store.scan_range(&key, &end, 1)?.first() {
            Some(entry) => match RequestId::from_bytes(entry.record.id()) {
                Some(id) => self.request(id),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// The request's events, oldest first.
    pub fn history(&self, id: RequestId) -> Result<Vec<Event>, DomainError> {
        self.store.events(&request_key(id))?.iter().map(|b| decode(b)).collect()
    }

    /// The request as it stood at `at`: the fold of the events up to then.
    pub fn request_at(&self, id: RequestId, at: DateTime<Utc>) -> Result<Option<Request>, DomainError> {
        let history = self.history(id)?;
        Ok(lifecycle::fold(history.iter().take_while(|e| e.at <= at)))
    }

    /// How many requests the next sweep batch should take, at most `cap`: all
    /// of it while no writer waits on the store, and less the more writers
    /// wait, so a storm of due requests goes through in large batches when
    /// the city is quiet and lets registrations through when it is not.
    pub fn sweep_batch(&self, cap: usize) -> usize {
        let waiting = self.store.write_backlog();
        (cap / (1 + waiting)).clamp(MIN_SWEEP_BATCH.min(cap), cap.max(1))
    }

    /// Takes every escalation step due now, for at most `limit` requests, and
    /// returns the outcomes. A request late by several steps takes them in
    /// order. The steps of the whole batch are one atomic write, and each is
    /// re-checked against the stored version, so a step is taken exactly once
    /// even when sweeps overlap or the process dies mid-sweep.
    pub fn sweep(&self, limit: usize) -> Result<Vec<Outcome>, DomainError> {
        let now = self.now();
        let due = self.store.scan_range(&indexes::due_start(), &indexes::due_until(now), limit)?;
        let system = crate::model::Actor::system();
        let (mut outcomes, mut puts) = (Vec::with_capacity(due.len()), Vec::with_capacity(due.len()));
        // Where each outcome's request put sits among the puts (notices follow it).
        let mut at_put = Vec::with_capacity(due.len());
        for entry in due {
            let Some(id) = RequestId::from_bytes(entry.record.id()) else { continue };
            let Some(r) = self.request(id)? else { continue };
            let mut state = r.clone();
            let mut events = Vec::new();
            while let Some((step, at)) = self.policy.next(&state) {
                if at > now {
                    break;
                }
                let new = lifecycle::decide(
                    Some(&state),
                    &Command::MarkStep { step, policy: self.policy },
                    &system,
                    now,
                )?;
                state = new
                    .iter()
                    .fold(Some(state), lifecycle::apply)
                    .ok_or_else(|| DomainError::NotFound(format!("request {id}")))?;
                events.extend(new);
            }
            if events.is_empty() {
                continue;
            }
            at_put.push(puts.len());
            puts.extend(put_request(&self.policy, &state, Expect::Version(r.version), &events)?);
            outcomes.push(Outcome { before: Some(r), request: state, events });
        }
        if puts.is_empty() {
            return Ok(outcomes);
        }
        match self.store.commit(Transaction::of(puts)) {
            Ok(c) => {
                for (o, i) in outcomes.iter_mut().zip(at_put) {
                    o.request.version = c.versions.get(i).copied().unwrap_or(o.request.version + 1);
                }
                Ok(outcomes)
            }
            // A request changed under the sweep: take its steps one by one.
            Err(StoreError::Conflict { .. }) => {
                let mut done = Vec::new();
                for o in outcomes {
                    for e in &o.events {
                        if let crate::EventKind::Escalation { step } = e.kind {
                            match self.execute(
                                o.request.id,
                                Command::MarkStep { step, policy: self.policy },
                                &system,
                            ) {
                                Ok(x) => done.push(x),
                                Err(DomainError::NotDue(_)) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                Ok(done)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Kontakt {
    /// The writes of a request's change: its record, events and indexes, and
    /// the callback tasks a resolution causes (the outbox, in the same write).
    pub(crate) fn change_puts(
        &self,
        request: &Request,
        expect: Expect,
        events: &[Event],
        now: DateTime<Utc>,
    ) -> Result<Vec<Put>, DomainError> {
        let mut puts = put_request(&self.policy, request, expect, events)?;
        for task in crate::callbacks::callbacks_for(request, events, now) {
            puts.push(callbacks::task_put(&task, Expect::Absent, "CREATED", None, now)?);
        }
        Ok(puts)
    }
}

/// The store writes of a request's new state with the events that made it,
/// and the notices those events cause (the outbox), for one atomic write.
fn put_request(
    policy: &SlaPolicy,
    request: &Request,
    expect: Expect,
    events: &[Event],
) -> Result<Vec<Put>, StoreError> {
    let mut puts = vec![Put {
        key: request_key(request.id),
        expect,
        body: Some(encode(request)?),
        index: indexes::request_keys(request, policy),
        events: events.iter().map(encode).collect::<Result<_, _>>()?,
    }];
    for n in crate::notify::notices_for(request, events) {
        puts.push(notices::notice_put(&n, Expect::Absent, None)?);
    }
    Ok(puts)
}

/// The record key of a request.
pub fn request_key(id: RequestId) -> RecordKey {
    RecordKey::new(REQUESTS, &id.to_bytes())
}

/// Reads a stored value in any format version this build reads.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DomainError> {
    kontakt_storage::codec::decode(bytes).map_err(DomainError::Store)
}

/// Encodes a value to store, in the current format version.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    kontakt_storage::codec::encode(value)
}
