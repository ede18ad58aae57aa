//! The notice outbox and the organizations' delivery settings.
//!
//! Index layouts: `"nq" next_at:i64 id:str` — notices the delivery job must
//! look at (pending or failing); `"nr" request:bytes id:str` — a request's
//! notices, for its page.

use chrono::{DateTime, Utc};
use kontakt_storage::{Expect, KeyBuilder, Put, RecordKey, Transaction, prefix_end};

use super::{Kontakt, decode, encode};
use crate::DomainError;
use crate::delivery::Delivery;
use crate::model::{Actor, RequestId};
use crate::notify::{Notice, NoticeStatus};

const NOTICES: &str = "notice";
pub(super) const DELIVERY: &str = "delivery";
/// The administration's delivery settings are kept under this name.
pub const ADMINISTRATION: &str = "administration";

fn key(id: &str) -> RecordKey {
    RecordKey::new(NOTICES, id.as_bytes())
}

/// The write of a notice in its state, with a log line when `change` is given.
pub(super) fn notice_put(
    n: &Notice,
    expect: Expect,
    change: Option<&str>,
) -> Result<Put, kontakt_storage::StoreError> {
    let mut index = vec![KeyBuilder::index("nr").bytes(&n.request.to_bytes()).str(&n.id).build()];
    if matches!(n.status, NoticeStatus::Pending | NoticeStatus::Failing) {
        index.push(KeyBuilder::index("nq").i64(n.next_at.timestamp_millis()).str(&n.id).build());
    }
    let events = match change {
        Some(c) => vec![encode(&serde_json::json!({ "change": c, "at": n.next_at, "error": n.last_error }))?],
        None => vec![],
    };
    Ok(Put { key: key(&n.id), expect, body: Some(encode(n)?), index, events })
}

impl Kontakt {
    /// One notice.
    pub fn notice(&self, id: &str) -> Result<Option<Notice>, DomainError> {
        Ok(match self.store.get(&key(id))? {
            Some(s) => {
                let mut n: Notice = decode(&s.body)?;
                n.version = s.version;
                Some(n)
            }
            None => None,
        })
    }

    /// The notices a request caused, oldest first.
    pub fn notices_of(&self, request: RequestId) -> Result<Vec<Notice>, DomainError> {
        let p = KeyBuilder::index("nr").bytes(&request.to_bytes()).build();
        let mut out = Vec::new();
        for e in self.store.scan_range(&p, &prefix_end(&p), 200)? {
            if let Some(n) = self.notice(&String::from_utf8_lossy(e.record.id()))? {
                out.push(n);
            }
        }
        out.sort_by_key(|n| n.at);
        Ok(out)
    }

    /// Up to `limit` notices due at `now` or before, oldest first.
    pub fn due_notices(&self, limit: usize) -> Result<Vec<Notice>, DomainError> {
        let p = KeyBuilder::index("nq").build();
        let until = KeyBuilder::index("nq").i64(self.now().timestamp_millis() + 1).build();
        let mut out = Vec::new();
        for e in self.store.scan_range(&p, &until, limit)? {
            if let Some(n) = self.notice(&String::from_utf8_lossy(e.record.id()))? {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Notices waiting or failing, by recipient (`None`: the administration), for `/metrics`.
    pub fn undelivered_notices(&self, limit: usize) -> Result<usize, DomainError> {
        let p = KeyBuilder::index("nq").build();
        Ok(self.store.scan_range(&p, &prefix_end(&p), limit)?.len())
    }

    /// Records a delivery: delivered by `channels`, or failed with `error`
    /// (retried with backoff), or skipped for want of a channel.
    pub fn record_delivery(
        &self,
        n: &Notice,
        outcome: Result<Vec<String>, String>,
        no_channel: bool,
    ) -> Result<Notice, DomainError> {
        let now = self.now();
        let mut d = n.clone();
        d.attempts += 1;
        let change = if no_channel {
            d.status = NoticeStatus::Skipped;
            "SKIPPED"
        } else {
            match outcome {
                Ok(channels) => {
                    d.status = NoticeStatus::Delivered;
                    d.delivered_at = Some(now);
                    d.channels = channels;
                    d.last_error = None;
                    "DELIVERED"
                }
                Err(e) => {
                    d.status = NoticeStatus::Failing;
                    d.failing_since.get_or_insert(now);
                    d.last_error = Some(crate::model::mask_numbers(&e.chars().take(500).collect::<String>()));
                    d.next_at = now + Notice::backoff(d.attempts);
                    "FAILED"
                }
            }
        };
        let c = self.store.commit(Transaction::single(notice_put(
            &d,
            Expect::Version(n.version),
            Some(change),
        )?))?;
        d.version = c.versions.first().copied().unwrap_or(n.version + 1);
        Ok(d)
    }

    /// Postpones a notice held back for its recipient's digest.
    pub fn hold_notice(&self, n: &Notice, until: DateTime<Utc>) -> Result<(), DomainError> {
        let mut d = n.clone();
        d.next_at = until;
        self.store.commit(Transaction::single(notice_put(&d, Expect::Version(n.version), None)?))?;
        Ok(())
    }

    /// An organization's delivery channels (`administration` for the administration's).
    pub fn delivery(&self, recipient: &str) -> Result<Option<Delivery>, DomainError> {
        Ok(match self.store.get(&RecordKey::new(DELIVERY, recipient.as_bytes()))? {
            Some(s) => Some(decode(&s.body)?),
            None => None,
        })
    }

    /// Sets an organization's (or the administration's) delivery channels,
    /// recorded with who set them.
    pub fn set_delivery(&self, recipient: &str, d: &Delivery, actor: &Actor) -> Result<(), DomainError> {
        d.validate()?;
        if recipient != ADMINISTRATION && self.organization(recipient)?.is_none() {
            return Err(DomainError::NotFound(format!("no organization {recipient}")));
        }
        let of = crate::refdata::DeliveryOf { recipient: recipient.to_string(), delivery: d.clone() };
        self.change_reference(recipient, crate::refdata::RefCommand::Put(of), actor)?;
        Ok(())
    }
}
