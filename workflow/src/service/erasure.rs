//! Erasing applicants' personal data, as personal-data law requires: after
//! the retention period (the request ended that long ago: closed, cancelled,
//! or resolved and never closed) and on an administrator's order for one
//! applicant, found by phone.
//!
//! The event log is append-only everywhere else. Here it is rewritten: the
//! registration's copy of the card is the only event that holds the name and
//! the phone, so the log is rewritten with them taken out, in the same atomic
//! write as the record and an APPLICANT_ERASED event that records who erased
//! and why. The request, its history, its deadlines and every figure stay;
//! `kontakt check` still finds the record equal to the fold of its events.
//! (Encrypting each applicant under a key to destroy later — crypto-shredding —
//! would leave the log untouched, but put a key lookup and a decryption on
//! every read of every card; erasure is rare, reads are not.)
//!
//! Callback tasks lose the phone too, and a call not yet placed is cancelled.

use chrono::{DateTime, Duration, Utc};
use kontakt_storage::{Expect, Rewrite, Transaction};

use super::{Kontakt, Outcome, REQUESTS, decode, encode, put_request, request_key};
use crate::DomainError;
use crate::lifecycle::{self, Command, Request};
use crate::model::{Actor, Phone, RequestId, RequestStatus};

/// The marker that remembers where the retention pass stopped.
const CURSOR: &str = "retention-cursor";

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// Requests whose applicant was erased.
    pub erased: usize,
    /// Requests looked at.
    pub examined: usize,
}

/// When a request ended, for retention: closed or cancelled, or resolved and never closed.
fn ended_at(r: &Request) -> Option<DateTime<Utc>> {
    match r.status {
        RequestStatus::Closed | RequestStatus::Cancelled => r.closed_at,
        RequestStatus::Resolved => r.resolved_at,
        _ => None,
    }
}

impl Kontakt {
    /// Erases the applicant of one request: its record, the copies in its
    /// history, and its callback tasks' phone, in one atomic write.
    pub fn erase_applicant(
        &self,
        id: RequestId,
        reason: &str,
        actor: &Actor,
    ) -> Result<Outcome, DomainError> {
        for _ in 0..5 {
            let r = self.request(id)?.ok_or_else(|| DomainError::NotFound("no such request".into()))?;
            let history = self.history(id)?;
            let now = self.now();
            let command = Command::EraseApplicant { reason: reason.to_string() };
            let events = lifecycle::decide(Some(&r), &command, actor, now)?;
            let after = events
                .iter()
                .fold(Some(r.clone()), lifecycle::apply)
                .ok_or_else(|| DomainError::NotFound("no such request".into()))?;
            let mut puts = put_request(&self.policy, &after, Expect::Version(r.version), &events)?;
            for task in self.callbacks_of(id)? {
                if let (_, Some(put)) =
                    self.task_change(&task, &crate::callbacks::task::TaskCommand::Erase, None)?
                {
                    puts.push(put);
                }
            }
            let rewritten = lifecycle::redact(&history).iter().map(encode).collect::<Result<_, _>>()?;
            let rewrites = vec![Rewrite { key: request_key(id), events: rewritten }];
            match self.store.commit(Transaction { puts, rewrites, fence: None }) {
                Ok(c) => {
                    let mut request = after;
                    request.version = c.versions.first().copied().unwrap_or(r.version + 1);
                    return Ok(Outcome { before: Some(r), request, events });
                }
                Err(kontakt_storage::StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict)
    }

    /// Erases every applicant with `phone` (an administrator's order for one
    /// person), found through the phone index.
    pub fn erase_applicant_by_phone(
        &self,
        phone: &Phone,
        reason: &str,
        actor: &Actor,
    ) -> Result<Vec<Outcome>, DomainError> {
        let query = super::RequestQuery { phone: Some(phone.clone()), ..Default::default() };
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = self.list(&query, after, 1000)?;
            ids.extend(page.items.iter().map(|r| r.id));
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        ids.iter().map(|id| self.erase_applicant(*id, reason, actor)).collect()
    }

    /// One bounded pass of the retention rule over at most `limit` requests
    /// registered before `now - retention`, resuming where the last pass
    /// stopped and starting over once it reaches the end. Only a request
    /// that ended at least `retention` ago loses its applicant.
    pub fn erase_expired(
        &self,
        retention: Duration,
        limit: usize,
    ) -> Result<(RetentionRun, Vec<Outcome>), DomainError> {
        let now = self.now();
        let horizon = now - retention;
        let cursor = self.marker(CURSOR)?.and_then(|c| RequestId::parse(&c).ok());
        let after = cursor.map(|c| c.to_bytes().to_vec());
        let page = self.store.scan_collection(REQUESTS, after.as_deref(), limit)?;
        let (mut run, mut outcomes, mut last) = (RetentionRun::default(), Vec::new(), None);
        for (_, stored) in &page {
            let r: Request = decode(&stored.body)?;
            if r.registered_at > horizon {
                // Ids follow registration time: nothing further is old enough.
                last = None;
                break;
            }
            run.examined += 1;
            last = Some(r.id);
            let expired = ended_at(&r).is_some_and(|t| t + retention <= now);
            if expired && r.applicant.holds_personal_data() {
                let reason = format!("retention period of {} days ended", retention.num_days());
                match self.erase_applicant(r.id, &reason, &Actor::system()) {
                    Ok(o) => {
                        run.erased += 1;
                        outcomes.push(o);
                    }
                    // Changed meanwhile (reopened): the next pass looks again.
                    Err(DomainError::Conflict | DomainError::Validation(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let next = if page.len() == limit { last } else { None };
        // A marker write clears the reference cache: write only when the pass moved.
        if next != cursor {
            self.set_marker(CURSOR, &next.map(|id| id.to_string()).unwrap_or_default())?;
        }
        Ok((run, outcomes))
    }
}
