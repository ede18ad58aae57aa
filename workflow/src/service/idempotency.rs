//! Idempotent registration: a caller that retries a registration with the
//! same key (a phone line dropped before the number was read out, a client
//! that timed out) gets the first result and no second card.
//!
//! The key's record is written in the same atomic write as the registration,
//! so a key is never remembered without its card nor a card registered
//! without its key. It remembers the request and a fingerprint of what was
//! asked: the same key with a different request is refused. Keys are per
//! caller (the token's subject) and held for [`KEY_HOURS`] hours.
//!
//! Record layout: collection `"idem"`, id `subject 0x1f key`.

use chrono::{DateTime, Utc};
use kontakt_storage::{Expect, Put, RecordKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Kontakt, NewRequest, Outcome, decode, encode};
use crate::DomainError;
use crate::model::{Actor, RequestId};

const KEYS: &str = "idem";
/// How long a key is remembered.
pub const KEY_HOURS: i64 = 24;
/// Lookups while a racing call with the same key lands.
const RACE_ROUNDS: usize = 200;

/// What a key remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRecord {
    request: RequestId,
    fingerprint: String,
    at: DateTime<Utc>,
}

/// The key's record to write with a registration.
#[derive(Debug, Clone)]
pub(crate) struct KeyWrite {
    key: RecordKey,
    expect: Expect,
    fingerprint: String,
}

impl KeyWrite {
    pub(crate) fn put(&self, request: RequestId, at: DateTime<Utc>) -> Result<Put, DomainError> {
        let record = KeyRecord { request, fingerprint: self.fingerprint.clone(), at };
        Ok(Put {
            key: self.key.clone(),
            expect: self.expect,
            body: Some(encode(&record)?),
            index: vec![],
            events: vec![],
        })
    }
}

/// A fingerprint of everything a registration asks for.
fn fingerprint(new: &NewRequest) -> String {
    let digest = Sha256::digest(format!("{new:?}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Kontakt {
    /// Registers `new` once per `key` of this caller: a retry with the same
    /// key and the same request answers the first registration (with no new
    /// events); the same key with another request is refused.
    pub fn register_once(&self, new: NewRequest, actor: &Actor, key: &str) -> Result<Outcome, DomainError> {
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
            return Err(DomainError::Validation(
                "an idempotency key is 1 to 200 printable characters".into(),
            ));
        }
        let record_key = RecordKey::new(KEYS, format!("{}\u{1f}{key}", actor.subject).as_bytes());
        let fingerprint = fingerprint(&new);
        // A call with the same key racing this one is refused at the store
        // with a conflict before its own write may be visible: look again
        // until it is, then answer with its result.
        for _ in 0..RACE_ROUNDS {
            let expect = match self.remembered(&record_key)? {
                Some((record, _)) if self.fresh(&record) => return self.replay(&record, &fingerprint, key),
                Some((_, version)) => Expect::Version(version),
                None => Expect::Absent,
            };
            let write = KeyWrite { key: record_key.clone(), expect, fingerprint: fingerprint.clone() };
            match self.register_with(new.clone(), actor, Some(write)) {
                Err(DomainError::Conflict) => std::thread::sleep(std::time::Duration::from_millis(5)),
                other => return other,
            }
        }
        Err(DomainError::Conflict)
    }

    fn remembered(&self, key: &RecordKey) -> Result<Option<(KeyRecord, u64)>, DomainError> {
        match self.store.get(key)? {
            Some(s) => Ok(Some((decode(&s.body)?, s.version))),
            None => Ok(None),
        }
    }

    fn fresh(&self, record: &KeyRecord) -> bool {
        self.now() - record.at < chrono::Duration::hours(KEY_HOURS)
    }

    fn replay(&self, record: &KeyRecord, fingerprint: &str, key: &str) -> Result<Outcome, DomainError> {
        if record.fingerprint != fingerprint {
            return Err(DomainError::Superseded(format!(
                "the idempotency key {key:?} was used for another request within {KEY_HOURS} hours"
            )));
        }
        let request = self
            .request(record.request)?
            .ok_or_else(|| DomainError::NotFound("the request of this idempotency key is gone".into()))?;
        Ok(Outcome { before: Some(request.clone()), request, events: vec![] })
    }
}
