//! Kontakt's durable record store.
//!
//! The store knows nothing of requests, deadlines or organizations. It keeps
//! *records* (a versioned body under a [`RecordKey`]), each record's append-only
//! *event log*, the record's *index entries* (opaque ordered byte keys that the
//! domain computes), and named *counters*. One [`Transaction`] is applied as one
//! atomic sled batch and is acknowledged only after it is flushed to disk.
//!
//! Design decisions:
//! - **One tree, prefixed keys.** Everything lives in sled's default tree under
//!   one-byte prefixes, so a transaction is a single `apply_batch`, which sled
//!   makes atomic, also across a crash. See [`keys`] for the layout.
//! - **One committer, group commit.** Writers hand their transactions to a
//!   single committer thread and wait. The committer takes everything queued,
//!   checks each transaction's version preconditions against the store plus
//!   what the group already staged, folds the accepted ones into one sled
//!   batch, applies it, flushes once, and only then answers each writer. A
//!   refused transaction is answered at once and stages nothing; a failed
//!   flush is reported to every writer of its group and stops the store
//!   until it is reopened (see [`sled_store`]).
//! - **Optimistic concurrency** on each record's version; conflicting writers get
//!   [`StoreError::Conflict`] and nothing is written.
//! - **Self-describing indexes.** A record's envelope lists the index keys it
//!   owns, so an update removes stale entries without the domain's help and the
//!   consistency [`check`](Store::check) can verify every entry both ways.
//!
//! ```
//! use kontakt_storage::{Expect, Put, RecordKey, SledStore, Store, Transaction};
//! let dir = tempfile::tempdir().unwrap();
//! let store = SledStore::open(dir.path()).unwrap();
//! let key = RecordKey::new("org", b"water");
//! store.commit(Transaction::single(Put {
//!     key: key.clone(),
//!     expect: Expect::Absent,
//!     body: Some(b"{\"name\":\"Water\"}".to_vec()),
//!     index: vec![b"kind/water".to_vec()],
//!     events: vec![b"created".to_vec()],
//! })).unwrap();
//! assert_eq!(store.get(&key).unwrap().unwrap().version, 1);
//! ```

// Library code handles its errors; tests may unwrap.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod check;
pub mod codec;
mod committer;
mod counted;
mod engine;
mod envelope;
mod error;
pub mod keys;
pub mod migrate_v1;
pub mod pg_server;
pub mod pg_store;
pub mod sled_store;

pub use check::CheckReport;
pub use counted::{CountedIndex, Part};
pub use engine::{Engine, EngineConfig, EngineStats};
pub use error::StoreError;
pub use keys::{IndexKey, KeyBuilder, RecordKey};
pub use pg_store::{PgStats, PgStore};
pub use sled_store::{SledStore, StoreStats};

/// What a [`Put`] expects of the record's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist yet.
    Absent,
    /// The record must exist at exactly this version.
    Version(u64),
    /// No precondition (reference data loads, idempotent markers).
    Any,
}

impl Expect {
    /// The refusal of a write that expected this and found the record at
    /// `found` (`None`: no record).
    pub fn refused(self, key: &RecordKey, found: Option<u64>) -> StoreError {
        let show = |v: Option<u64>| v.map_or("no record".to_string(), |v| format!("version {v}"));
        StoreError::Conflict {
            key: key.to_string(),
            expected: match self {
                Expect::Absent => "no record".into(),
                Expect::Version(v) => format!("version {v}"),
                Expect::Any => "anything".into(),
            },
            found: show(found),
        }
    }
}

/// One record's change inside a [`Transaction`].
#[derive(Debug, Clone)]
pub struct Put {
    /// The record written.
    pub key: RecordKey,
    /// The precondition on its current version.
    pub expect: Expect,
    /// The new body, or `None` to delete the record with its index entries and events.
    pub body: Option<Vec<u8>>,
    /// The complete set of index keys the record owns after this write.
    pub index: Vec<IndexKey>,
    /// Events appended to the record's log, in order.
    pub events: Vec<Vec<u8>>,
}

/// A set of record changes applied atomically and durably, or not at all.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// The record changes; each record may appear once.
    pub puts: Vec<Put>,
    /// Event logs rewritten in the same write: the one exception to
    /// append-only, for erasing personal data as the law requires.
    pub rewrites: Vec<Rewrite>,
    /// The lease this write is made under: refused with
    /// [`StoreError::Fenced`] unless the lease is still its holder's.
    pub fence: Option<Fence>,
}

/// A lease held by a node, with the fencing token that proves it in writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name (one per job).
    pub lease: String,
    /// The node holding it.
    pub holder: String,
    /// Grows every time the lease changes hands.
    pub token: u64,
}

/// One record changed by a committed transaction, in the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The transaction's place in the feed: gap-free, and visible in order.
    pub seq: u64,
    /// The record written.
    pub record: RecordKey,
    /// The index in the record's log of the first event the write appended.
    pub first_event: u32,
    /// How many events it appended.
    pub events: u32,
}

/// A record's whole event log replaced by as many events, rewritten (personal
/// data erased from them). The record must be put in the same transaction;
/// that put's own events are appended after the rewritten ones.
#[derive(Debug, Clone)]
pub struct Rewrite {
    /// The record whose log is rewritten.
    pub key: RecordKey,
    /// Every event of its log, in order: exactly as many as it holds.
    pub events: Vec<Vec<u8>>,
}

impl Transaction {
    /// A transaction of one record change.
    pub fn single(put: Put) -> Self {
        Self { puts: vec![put], rewrites: vec![], fence: None }
    }

    /// A transaction of these record changes.
    pub fn of(puts: Vec<Put>) -> Self {
        Self { puts, rewrites: vec![], fence: None }
    }
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Starts at 1 and grows by one with every committed change.
    pub version: u64,
    /// The body bytes, as the domain encoded them.
    pub body: Vec<u8>,
    /// How many events the record's log holds.
    pub events: u32,
}

/// The outcome of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The new version of each put, in the transaction's order (0 for deletes).
    pub versions: Vec<u64>,
    /// The counter value allocated by [`Store::commit_sequenced`], if any.
    pub sequence: Option<u64>,
}

/// One entry of an index scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The full index key.
    pub key: IndexKey,
    /// The record it points at.
    pub record: RecordKey,
}

/// Builds a transaction for an allocated counter value. It runs on the
/// committer and must not call back into the store.
pub type BuildFn = Box<dyn FnOnce(u64) -> Result<Transaction, StoreError> + Send>;

/// The narrow door through which the domain reaches storage.
///
/// Every method is synchronous and may block on disk I/O; async callers run
/// them on a blocking thread.
pub trait Store: Send + Sync {
    /// Reads one record.
    fn get(&self, key: &RecordKey) -> Result<Option<Stored>, StoreError>;

    /// Applies `tx` atomically; returns after it is durable.
    fn commit(&self, tx: Transaction) -> Result<Committed, StoreError>;

    /// Allocates the next value of `counter` and commits the transaction built
    /// for it, atomically: a failed build or commit consumes no value, so the
    /// sequence has no gaps and no duplicates under any concurrency.
    fn commit_sequenced(&self, counter: &str, build: BuildFn) -> Result<Committed, StoreError>;

    /// The current value of a counter (0 when never used).
    fn counter(&self, counter: &str) -> Result<u64, StoreError>;

    /// The record's events, oldest first.
    fn events(&self, key: &RecordKey) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Index entries in `[from, to)`, ascending, at most `limit`.
    fn scan_range(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError>;

    /// Index entries in `[from, to)`, descending, at most `limit`.
    fn scan_range_rev(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError>;

    /// All records of a collection, in id order, at most `limit`, starting after `after`.
    fn scan_collection(
        &self,
        collection: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, Stored)>, StoreError>;

    /// Record keys of a collection with ids in `[from, to)`, descending, at most `limit`.
    fn scan_ids_rev(
        &self,
        collection: &str,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<RecordKey>, StoreError>;

    /// Keeps, from now on and for every process that opens the store, the
    /// number of entries of each of `indexes` under each counted prefix, in
    /// the same atomic write as the entries; indexes new to the store are
    /// counted as they stand first. Declaring the same index again does nothing.
    fn count_indexes(&self, indexes: Vec<CountedIndex>) -> Result<(), StoreError>;

    /// How many index entries lie under `prefix`, when it is exactly a
    /// counted prefix of a declared index (one read); `None` otherwise.
    fn index_count(&self, prefix: &[u8]) -> Result<Option<u64>, StoreError>;

    /// Runs `f` while no write is in flight (writers wait until it returns),
    /// for reads of the whole store that must not see a change half-way, such
    /// as a consistency check of a store a server keeps writing to. `f` must
    /// not write.
    fn quiesce(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), StoreError>;

    /// Verifies every index entry and event against the records.
    fn check(&self) -> Result<CheckReport, StoreError>;

    /// How many writers are waiting for their commit right now: a busy
    /// store's signal to background work to write in smaller pieces.
    fn write_backlog(&self) -> usize {
        0
    }

    /// Committed changes numbered after `after`, in feed order, at most
    /// `limit` transactions; `None` when the engine keeps no feed because one
    /// process owns the store (its writers publish directly).
    fn feed(&self, _after: u64, _limit: usize) -> Result<Option<Vec<Change>>, StoreError> {
        Ok(None)
    }

    /// The number of the last committed transaction in the feed.
    fn feed_head(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Waits until the feed may have moved since wake-up generation `seen`,
    /// or `timeout` passed; returns the generation now.
    fn feed_wait(&self, seen: u64, timeout: std::time::Duration) -> u64 {
        std::thread::sleep(timeout);
        seen
    }

    /// Forgets feed entries more than `keep` numbers behind the head (a node
    /// that far behind restarts from the head); returns how many went.
    fn feed_prune(&self, _keep: u64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Takes or renews the lease `name` for `holder` for `ttl`; `None` while
    /// another holder has it. An engine one process owns grants every lease.
    fn lease(
        &self,
        name: &str,
        holder: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<Fence>, StoreError> {
        Ok(Some(Fence { lease: name.to_string(), holder: holder.to_string(), token: 1 }))
    }

    /// Gives a lease up before it expires.
    fn release(&self, _fence: &Fence) -> Result<(), StoreError> {
        Ok(())
    }

    /// The leases held now: name, holder, token.
    fn leases(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        Ok(vec![])
    }

    /// Succeeds when the engine can be reached.
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The upper bound of a prefix scan: the smallest key greater than every key
/// starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // An all-0xff prefix has no finite successor; the whole keyspace above it.
    vec![0xff; prefix.len() + 1]
}
