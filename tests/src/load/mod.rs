//! Steady load for the soak test and the fan-out benchmark: writers that walk
//! requests through their lifecycle over GraphQL at a set rate and log every
//! acknowledged change with the events it committed, and websocket
//! subscribers that log what they receive.
//!
//! Both logs key an event by (request id, kind): that is what a writer knows
//! from its acknowledgement and what a subscriber sees, so the two can be
//! compared without trusting the server's own account of what it published.
//! A subscriber keeps one small entry per request (a bitmask of kinds and the
//! last position seen) rather than one per event, so a thousand of them can
//! listen for half an hour; receipt times are kept only when asked for.

mod listen;
mod write;

/// The setting that lets a load's many subscribers share the demo's few
/// tokens (a real client opens a few sockets per token; the limit defaults to 20).
pub const SHARED_TOKENS: (&str, &str) = ("KONTAKT__WS__MAX_SOCKETS_PER_TOKEN", "1000000");

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

pub use listen::{Heard, SUBSCRIPTION, Seen, Subscriber, Subscribers, drain, owed, wait_subscribed};
pub use write::{Cursor, Lifecycles, Pace, Target, WriteLog, drive};

/// The event kinds one lifecycle commits, in order; an event is known by its index here.
pub const KINDS: [&str; 5] = ["REGISTERED", "DISPATCHED", "ACCEPTED", "RESOLVED", "CLOSED"];

/// The position of `kind` in [`KINDS`].
pub fn kind_index(kind: &str) -> Option<u8> {
    KINDS.iter().position(|k| *k == kind).map(|i| i as u8)
}

/// A request id as a number (ids are ULIDs).
pub fn request_key(id: &str) -> Option<u128> {
    ulid::Ulid::from_string(id).ok().map(u128::from)
}

/// One event a write was acknowledged for.
#[derive(Debug, Clone)]
pub struct Acked {
    /// The request.
    pub request: u128,
    /// Index into [`KINDS`].
    pub kind: u8,
    /// The request's organization right after the event.
    pub after: Option<Arc<str>>,
    /// The request's organization before the change that committed the event.
    pub before: Option<Arc<str>>,
    /// When the writer sent the write.
    pub sent: Instant,
    /// When the writer received the acknowledgement.
    pub at: Instant,
}

/// Who a subscriber is and what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A city-wide role, no filter: every event.
    All,
    /// A contractor of this organization, filtering by it: the events of
    /// requests that are, or were until the change, with the organization.
    Contractor(String),
    /// A city-wide role filtering by organization: the events after which the
    /// request is with the organization.
    Organization(String),
}

impl Scope {
    /// Whether a subscriber of this scope is to receive `event`.
    pub fn sees(&self, event: &Acked) -> bool {
        let is = |o: &Option<Arc<str>>, org: &str| o.as_deref() == Some(org);
        match self {
            Scope::All => true,
            Scope::Contractor(org) => is(&event.after, org) || is(&event.before, org),
            Scope::Organization(org) => is(&event.after, org),
        }
    }

    /// The subscription filter this scope sends.
    pub fn filter(&self) -> Value {
        match self {
            Scope::All => Value::Null,
            Scope::Contractor(org) | Scope::Organization(org) => json!({ "organizationId": org }),
        }
    }
}

/// One subscriber's account against the acknowledged writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Acknowledged events in its scope.
    pub owed: u64,
    /// Of those, received.
    pub delivered: u64,
    /// Of those, not received.
    pub missing: u64,
    /// Received but not in its scope, or not acknowledged to any writer.
    pub outside: u64,
}

/// Compares what a subscriber of `scope` heard with the acknowledged events.
pub fn account(acked: &[Acked], scope: &Scope, heard: &Heard) -> Account {
    let mut due: HashMap<u128, u8> = HashMap::new();
    let mut a = Account::default();
    for e in acked.iter().filter(|e| scope.sees(e)) {
        *due.entry(e.request).or_default() |= 1 << e.kind;
        a.owed += 1;
        if heard.seen.get(&e.request).is_some_and(|s| s.kinds & (1 << e.kind) != 0) {
            a.delivered += 1;
        } else {
            a.missing += 1;
        }
    }
    for (request, seen) in &heard.seen {
        let extra = seen.kinds & !due.get(request).copied().unwrap_or(0);
        a.outside += u64::from(extra.count_ones());
    }
    a
}

/// Raises this process's open-file limit to its hard limit (children inherit
/// it) and checks that `needed` descriptors fit: each subscriber holds one
/// socket here and one in the server.
pub fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_some() && limit.current != limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    assert!(
        now >= needed,
        "{needed} open files are needed and the limit is {now}: raise it (`ulimit -n {needed}`) and run again"
    );
    now
}

/// The value at quantile `p` (0..=1) of `sorted`.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}
