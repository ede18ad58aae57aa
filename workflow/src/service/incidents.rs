//! Incidents in the store: upserting reports by `(source, identifier)`,
//! ending them (which resolves every linked open request), expiring them,
//! linking requests, and finding the ones that cover a building.
//!
//! Index layout: `"ia" status:u8 id:str` — incidents by status; the active
//! ones are few at any time, so coverage is tested against each of them.

use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction, prefix_end};

use super::{Kontakt, Outcome, decode, encode};
use crate::DomainError;
use crate::incidents::lifecycle::{self as incident_lifecycle, IncidentCommand};
use crate::incidents::{Incident, IncidentReport, IncidentStatus};
use crate::indexes;
use crate::lifecycle::{self, Command, Request};
use crate::model::{Actor, Address, RequestId, RequestStatus};

const INCIDENTS: &str = "inc";
/// Linked requests resolved per atomic write when an incident ends.
const RESOLVE_BATCH: usize = 500;

fn status_code(s: IncidentStatus) -> u8 {
    match s {
        IncidentStatus::Active => 1,
        IncidentStatus::Ended => 2,
        IncidentStatus::Expired => 3,
        IncidentStatus::Cancelled => 4,
    }
}

fn key(id: &str) -> RecordKey {
    RecordKey::new(INCIDENTS, id.as_bytes())
}

/// What a report did.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentChange {
    /// The incident after the report.
    pub incident: Incident,
    /// It was new.
    pub created: bool,
    /// Anything changed (false for a repeated, identical report).
    pub changed: bool,
    /// Requests resolved because it ended.
    pub resolved: Vec<Outcome>,
}

/// Most open requests one "link the covered requests" looks through.
pub const MAX_COVERED: usize = 5000;

impl Kontakt {
    /// One incident.
    pub fn incident(&self, id: &str) -> Result<Option<Incident>, DomainError> {
        match self.store.get(&key(id))? {
            Some(s) => {
                let mut i: Incident = decode(&s.body)?;
                i.version = s.version;
                Ok(Some(i))
            }
            None => Ok(None),
        }
    }

    /// An incident that must exist and be active.
    pub fn active_incident(&self, id: &str) -> Result<Incident, DomainError> {
        match self.incident(id)? {
            Some(i) if i.status == IncidentStatus::Active => Ok(i),
            Some(_) => Err(DomainError::Validation(format!("incident {id} has ended"))),
            None => Err(DomainError::Validation(format!("no incident {id}"))),
        }
    }

    /// Incidents in a status, by id, at most `limit`.
    pub fn incidents(&self, status: IncidentStatus, limit: usize) -> Result<Vec<Incident>, DomainError> {
        let p = KeyBuilder::index("ia").u8(status_code(status)).build();
        let mut out = Vec::new();
        for e in self.store.scan_range(&p, &prefix_end(&p), limit)? {
            if let Some(i) = self.incident(&String::from_utf8_lossy(e.record.id()))? {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// A page of incidents in a status, by id, after the id `after`: the
    /// incidents and the id to go on from when there may be more.
    pub fn incidents_page(
        &self,
        status: IncidentStatus,
        after: Option<&str>,
        first: usize,
    ) -> Result<(Vec<Incident>, Option<String>), DomainError> {
        let p = KeyBuilder::index("ia").u8(status_code(status)).build();
        let from = match after {
            Some(id) => {
                [KeyBuilder::index("ia").u8(status_code(status)).str(id).build().as_slice(), &[0]].concat()
            }
            None => p.clone(),
        };
        let entries = self.store.scan_range(&from, &prefix_end(&p), first + 1)?;
        let more = entries.len() > first;
        let mut out = Vec::new();
        for e in entries.iter().take(first) {
            if let Some(i) = self.incident(&String::from_utf8_lossy(e.record.id()))? {
                out.push(i);
            }
        }
        let next = if more {
            entries.get(first - 1).map(|e| String::from_utf8_lossy(e.record.id()).into_owned())
        } else {
            None
        };
        Ok((out, next))
    }

    /// Active incidents covering a building, with how they cover it
    /// (`building`, `street` or `area`).
    pub fn incidents_at(&self, address: &Address) -> Result<Vec<(Incident, &'static str)>, DomainError> {
        Ok(self
            .incidents(IncidentStatus::Active, 10_000)?
            .into_iter()
            .filter_map(|i| i.area.covers(address).map(|how| (i, how)))
            .collect())
    }

    /// Decides `command` on the incident `id` and writes the folded record
    /// with its events; an end also resolves, in the same write, the first
    /// batch of linked requests its ender may resolve (the rest follow in
    /// [`Kontakt::settle_incident`]). `None` when the command caused nothing
    /// about an incident never seen.
    fn run_incident(
        &self,
        id: &str,
        command: &IncidentCommand,
        actor: &Actor,
    ) -> Result<Option<IncidentChange>, DomainError> {
        for _ in 0..5 {
            let existing = self.incident(id)?;
            let now = self.now();
            let events = incident_lifecycle::decide(existing.as_ref(), command, actor, now)?;
            if events.is_empty() {
                return Ok(existing.map(|incident| IncidentChange {
                    incident,
                    created: false,
                    changed: false,
                    resolved: vec![],
                }));
            }
            let created = existing.is_none();
            let expect = existing.as_ref().map_or(Expect::Absent, |i| Expect::Version(i.version));
            let mut incident = events
                .iter()
                .fold(existing, incident_lifecycle::apply)
                .ok_or_else(|| DomainError::NotFound(format!("no incident {id}")))?;
            let put = Put {
                key: key(&incident.id),
                expect,
                body: Some(encode(&incident)?),
                index: vec![
                    KeyBuilder::index("ia").u8(status_code(incident.status)).str(&incident.id).build(),
                ],
                events: events.iter().map(encode).collect::<Result<_, _>>()?,
            };
            let ended = incident.status == IncidentStatus::Ended;
            let (mut resolved, puts) =
                if ended { self.resolutions(&incident, RESOLVE_BATCH)? } else { (vec![], vec![]) };
            let mut tx = Transaction::of(puts);
            tx.puts.insert(0, put);
            match self.store.commit(tx) {
                Ok(c) => {
                    incident.version = c.versions.first().copied().unwrap_or(1);
                    if ended {
                        resolved.extend(self.settle_incident(&incident)?);
                    }
                    return Ok(Some(IncidentChange { incident, created, changed: true, resolved }));
                }
                // The incident or a linked request changed meanwhile: decide again.
                Err(kontakt_storage::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict)
    }

    /// Applies a report: creates, revises, ends or withdraws the incident it
    /// names (see [`incident_lifecycle`]). Reports about an incident that is
    /// over change nothing; an end of an unknown one is ignored.
    pub fn report_incident(
        &self,
        report: IncidentReport,
        actor: &Actor,
    ) -> Result<Option<IncidentChange>, DomainError> {
        if let Some(org) = &report.organization
            && self.organization(org.as_str())?.is_none()
        {
            return Err(DomainError::Validation(format!("unknown organization {org}")));
        }
        let id = report.id();
        self.run_incident(&id, &IncidentCommand::Report(Box::new(report)), actor)
    }

    /// Ends an active incident by hand and resolves its linked open requests
    /// that `actor` may resolve.
    pub fn end_incident(
        &self,
        id: &str,
        resolution: &str,
        actor: &Actor,
    ) -> Result<IncidentChange, DomainError> {
        let resolution = lifecycle::text_field("resolution", resolution, 2000)?;
        self.run_incident(id, &IncidentCommand::End { resolution }, actor)?
            .ok_or_else(|| DomainError::NotFound(format!("no incident {id}")))
    }

    /// Who resolves an ended incident's linked requests.
    fn ender(incident: &Incident) -> Actor {
        incident.ended_by.clone().unwrap_or_else(Actor::system)
    }

    /// Resolves the ended incident's linked requests that are still open, in
    /// atomic batches; returns what it resolved (nothing once settled).
    pub fn settle_incident(&self, incident: &Incident) -> Result<Vec<Outcome>, DomainError> {
        let mut all = Vec::new();
        if incident.status != IncidentStatus::Ended {
            return Ok(all);
        }
        loop {
            let (mut batch, puts) = self.resolutions(incident, RESOLVE_BATCH)?;
            if batch.is_empty() {
                return Ok(all);
            }
            match self.store.commit(Transaction::of(puts)) {
                Ok(_) => all.append(&mut batch),
                // Someone changed one of them meanwhile: decide each again.
                Err(kontakt_storage::StoreError::Conflict { .. }) => {
                    for o in batch {
                        let resolution = incident.resolution.clone().unwrap_or_default();
                        match self.execute(
                            o.request.id,
                            Command::Resolve { resolution, note: None },
                            &Self::ender(incident),
                        ) {
                            Ok(done) => all.push(done),
                            Err(DomainError::InvalidTransition { .. } | DomainError::Forbidden(_)) => {}
                            // What is committed is returned; the next settle pass retries the rest.
                            Err(e) => {
                                tracing::warn!(error = %e, incident = %incident.id, "resolving a linked request");
                                return Ok(all);
                            }
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The resolutions of up to `limit` open requests linked to an ended
    /// incident that its ender may resolve; the others stay open.
    fn resolutions(
        &self,
        incident: &Incident,
        limit: usize,
    ) -> Result<(Vec<Outcome>, Vec<Put>), DomainError> {
        let p = KeyBuilder::index(indexes::BY_INCIDENT).str(&incident.id).build();
        let resolution = incident.resolution.clone().unwrap_or_default();
        let ender = Self::ender(incident);
        let now = self.now();
        let (mut outcomes, mut puts) = (Vec::new(), Vec::new());
        let mut after = p.clone();
        'scan: loop {
            let page = self.store.scan_range(&after, &prefix_end(&p), 1000)?;
            let Some(last) = page.last() else { break };
            after = [last.key.as_slice(), &[0]].concat();
            for e in &page {
                let Some(id) = RequestId::from_bytes(e.record.id()) else { continue };
                let Some(r) = self.request(id)? else { continue };
                if !r.status.is_open() {
                    continue;
                }
                let events = match lifecycle::decide(
                    Some(&r),
                    &Command::Resolve { resolution: resolution.clone(), note: None },
                    &ender,
                    now,
                ) {
                    Ok(events) => events,
                    Err(DomainError::Forbidden(_) | DomainError::InvalidTransition { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let after_state = events
                    .iter()
                    .fold(Some(r.clone()), lifecycle::apply)
                    .ok_or_else(|| DomainError::NotFound(format!("request {id}")))?;
                puts.extend(self.change_puts(&after_state, Expect::Version(r.version), &events, now)?);
                outcomes.push(Outcome { before: Some(r), request: after_state, events });
                if outcomes.len() == limit {
                    break 'scan;
                }
            }
        }
        Ok((outcomes, puts))
    }

    /// Marks every active incident whose expected end has passed EXPIRED.
    /// Expiry is not completion: the linked requests keep their organization,
    /// their deadline and the link, and nobody is told the work is done.
    pub fn expire_incidents(&self) -> Result<Vec<IncidentChange>, DomainError> {
        let now = self.now();
        let mut out = Vec::new();
        for i in self.incidents(IncidentStatus::Active, 10_000)? {
            if i.expected_end_at.is_some_and(|t| t <= now) {
                // One incident that cannot be written now does not hold the others back.
                match self.run_incident(&i.id, &IncidentCommand::Expire, &Actor::system()) {
                    Ok(Some(change)) => out.push(change),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, incident = %i.id, "expiring an incident; retried next sweep")
                    }
                }
            }
        }
        Ok(out)
    }

    /// Links an open request to an active incident (moving it to the
    /// incident's organization only when `actor` may; see `lifecycle::supervision::link`).
    pub fn link_to_incident(
        &self,
        request: RequestId,
        incident: &str,
        actor: &Actor,
    ) -> Result<Outcome, DomainError> {
        let i = self.active_incident(incident)?;
        self.execute(request, Command::LinkIncident { incident: i.id, organization: i.organization }, actor)
    }

    /// Links every open request at a building the active incident covers
    /// and not linked to it yet (at most [`MAX_COVERED`] of the newest), each
    /// by `actor`'s authority; a request `actor` may not link is left as it is.
    pub fn link_covered_requests(&self, incident: &str, actor: &Actor) -> Result<Vec<Outcome>, DomainError> {
        let i = self.active_incident(incident)?;
        let open = super::RequestQuery {
            statuses: RequestStatus::ALL.iter().copied().filter(|s| s.is_open()).collect(),
            ..Default::default()
        };
        let mut out = Vec::new();
        for r in self.list_up_to(&open, MAX_COVERED)? {
            if r.incident.as_deref() == Some(i.id.as_str()) || i.area.covers(&r.address).is_none() {
                continue;
            }
            let command =
                Command::LinkIncident { incident: i.id.clone(), organization: i.organization.clone() };
            match self.execute(r.id, command, actor) {
                Ok(o) => out.push(o),
                Err(
                    DomainError::Forbidden(_)
                    | DomainError::InvalidTransition { .. }
                    | DomainError::Validation(_),
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The requests linked to an incident, newest first.
    pub fn linked_requests(&self, incident: &str, limit: usize) -> Result<Vec<Request>, DomainError> {
        let p = KeyBuilder::index(indexes::BY_INCIDENT).str(incident).build();
        let mut out = Vec::new();
        for e in self.store.scan_range_rev(&p, &prefix_end(&p), limit)? {
            if let Some(id) = RequestId::from_bytes(e.record.id())
                && let Some(r) = self.request(id)?
            {
                out.push(r);
            }
        }
        Ok(out)
    }
}
