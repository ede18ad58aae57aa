//! The request indexes: each key layout is written once, here, next to the
//! function that encodes it. Timestamps are milliseconds since the epoch as
//! sign-flipped big-endian i64; ids are the 16 ULID bytes; strings are
//! 0x00-terminated. Every list query is a range scan over one of these, or over
//! the request records themselves, whose ULID keys sort by registration time.
//!
//! Each key written costs a B-tree update in sled, so an index exists only
//! where no other one serves: district and class are filters applied to the
//! rows of a driving scan, not indexes of their own.

use chrono::{DateTime, Utc};
use kontakt_storage::{CountedIndex, IndexKey, KeyBuilder, Part};

use crate::lifecycle::{Request, SlaPolicy};
use crate::model::{RequestId, RequestStatus};

/// `"st" status:u8 registered:i64 id` — requests by status, oldest first.
pub const BY_STATUS: &str = "st";
/// `"os" org:str status:u8 deadline:i64 id` — an organization's board, by deadline.
pub const BY_ORG_STATUS: &str = "os";
/// `"or" org:str registered:i64 id` — an organization's requests by time.
pub const BY_ORG_TIME: &str = "or";
/// `"du" due:i64 id` — when the next ladder step falls due; absent when none.
pub const BY_DUE: &str = "du";
/// `"ab" address:str registered:i64 id` — requests at a building.
pub const BY_ADDRESS: &str = "ab";
/// `"nu" number:str` — the unique human number.
pub const BY_NUMBER: &str = "nu";
/// `"rs" org:str resolved:i64 id` — resolved (and then closed) requests by resolution time.
pub const BY_RESOLVED: &str = "rs";
/// `"li" incident:str registered:i64 id` — requests linked to an incident.
pub const BY_INCIDENT: &str = "li";
/// `"ph" phone:str registered:i64 id` — requests by any applicant's phone
/// (gone with the phone when the applicant is erased).
pub const BY_PHONE: &str = "ph";

/// `"ch" updated:i64 id` — requests by their last change, for the board's
/// changes since a snapshot.
pub const BY_CHANGED: &str = "ch";

/// `"au" registered:i64 id` — requests whose address is the caller's words,
/// awaiting a registry building.
pub const BY_UNCONFIRMED: &str = "au";

/// The version of the request indexes' layout. A store whose marker says an
/// older one has its index entries rebuilt when it is opened.
pub const LAYOUT: &str = "3";

/// The indexes the store counts per prefix: requests per status, and per
/// organization and status (the board's cells).
pub fn counted() -> Vec<CountedIndex> {
    vec![
        CountedIndex { name: BY_STATUS.into(), parts: vec![Part::Byte] },
        CountedIndex { name: BY_ORG_STATUS.into(), parts: vec![Part::Str, Part::Byte] },
    ]
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Every index key a request owns in its current state.
pub fn request_keys(r: &Request, policy: &SlaPolicy) -> Vec<IndexKey> {
    let id = r.id.to_bytes();
    let reg = ms(r.registered_at);
    let mut keys = vec![
        KeyBuilder::index(BY_STATUS).u8(r.status.code()).i64(reg).bytes(&id).build(),
        KeyBuilder::index(BY_ADDRESS).str(r.address.id.as_str()).i64(reg).bytes(&id).build(),
        KeyBuilder::index(BY_NUMBER).str(&r.number.to_string()).build(),
        KeyBuilder::index(BY_CHANGED).i64(ms(r.updated_at)).bytes(&id).build(),
    ];
    if let Some(org) = &r.organization {
        keys.push(KeyBuilder::index(BY_ORG_TIME).str(org.as_str()).i64(reg).bytes(&id).build());
        keys.push(
            KeyBuilder::index(BY_ORG_STATUS)
                .str(org.as_str())
                .u8(r.status.code())
                .i64(ms(r.deadline))
                .bytes(&id)
                .build(),
        );
    }
    if let (Some(org), Some(at)) = (&r.organization, r.resolved_at)
        && matches!(r.status, RequestStatus::Resolved | RequestStatus::Closed)
    {
        keys.push(KeyBuilder::index(BY_RESOLVED).str(org.as_str()).i64(ms(at)).bytes(&id).build());
    }
    if let Some((_, due)) = policy.next(r) {
        keys.push(due_key(due, r.id));
    }
    if let Some(incident) = &r.incident {
        keys.push(KeyBuilder::index(BY_INCIDENT).str(incident).i64(reg).bytes(&id).build());
    }
    if r.address_unconfirmed {
        keys.push(KeyBuilder::index(BY_UNCONFIRMED).i64(reg).bytes(&id).build());
    }
    for phone in r.applicants().filter_map(|a| a.phone.as_ref()) {
        keys.push(KeyBuilder::index(BY_PHONE).str(phone.as_str()).i64(reg).bytes(&id).build());
    }
    keys
}

/// The due-index key of a request whose next step falls due at `due`.
pub fn due_key(due: DateTime<Utc>, id: RequestId) -> IndexKey {
    KeyBuilder::index(BY_DUE).i64(ms(due)).bytes(&id.to_bytes()).build()
}

/// The start of the due index.
pub fn due_start() -> IndexKey {
    KeyBuilder::index(BY_DUE).build()
}

/// The smallest due key after everything due at or before `now`.
pub fn due_until(now: DateTime<Utc>) -> IndexKey {
    KeyBuilder::index(BY_DUE).i64(ms(now) + 1).build()
}

/// The prefix of an index with `parts` appended by `f`.
pub fn prefix(name: &str, f: impl FnOnce(KeyBuilder) -> KeyBuilder) -> IndexKey {
    f(KeyBuilder::index(name)).build()
}

/// The number key of a request number.
pub fn number_key(number: &str) -> IndexKey {
    KeyBuilder::index(BY_NUMBER).str(number).build()
}

/// The prefix of an organization's requests in one status.
pub fn org_status_prefix(org: &str, status: RequestStatus) -> IndexKey {
    KeyBuilder::index(BY_ORG_STATUS).str(org).u8(status.code()).build()
}

/// A time bound inside an index whose next part is a timestamp.
pub fn with_time(prefix: &[u8], at: DateTime<Utc>) -> IndexKey {
    KeyBuilder::default().bytes(prefix).i64(ms(at)).build()
}
