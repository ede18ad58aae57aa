//! What a node needs to share a store with other nodes: reading the changes
//! they committed from the store's feed, and working under a lease.

use std::sync::Arc;

use kontakt_storage::{
    BuildFn, Change, CheckReport, Committed, CountedIndex, Fence, IndexEntry, RecordKey, Store, StoreError,
    Stored, Transaction,
};

use super::reference_store::{CATEGORIES, ORGS, REVOKED, RULES};
use super::{Kontakt, REQUESTS, decode};
use crate::{DomainError, Event, Request, lifecycle};

/// A change read from the feed, as this process must react to it.
#[derive(Debug)]
pub enum FedChange {
    /// Events appended to a request: publish them, each with its state.
    Request {
        /// The events appended by the change, in order.
        events: Vec<Event>,
        /// The request before them.
        before: Option<Box<Request>>,
        /// The request after them.
        after: Box<Request>,
    },
    /// Reference data changed (organizations, categories, routing, revoked
    /// tokens): the cache was dropped; `revocation` when a token was revoked.
    Reference {
        /// A token was revoked.
        revocation: bool,
    },
    /// Anything else (incidents, callbacks, notices): boards recompute.
    Other,
}

impl Kontakt {
    /// Reads what `change` did, dropping what this process caches of it.
    pub fn fed_change(&self, change: &Change) -> Result<FedChange, DomainError> {
        match change.record.collection() {
            REQUESTS if change.events > 0 => {
                let history: Vec<Event> =
                    self.store.events(&change.record)?.iter().map(|b| decode(b)).collect::<Result<_, _>>()?;
                let first = change.first_event as usize;
                let end = (first + change.events as usize).min(history.len());
                let before = lifecycle::fold(history[..first.min(end)].iter()).map(Box::new);
                let Some(after) = lifecycle::fold(history[..end].iter()).map(Box::new) else {
                    return Ok(FedChange::Other);
                };
                Ok(FedChange::Request { events: history[first.min(end)..end].to_vec(), before, after })
            }
            ORGS | CATEGORIES | RULES | REVOKED => {
                self.forget_reference();
                Ok(FedChange::Reference { revocation: change.record.collection() == REVOKED })
            }
            _ => Ok(FedChange::Other),
        }
    }

    /// The same service whose every write is made under `fence`: once the
    /// lease is lost, writes are refused and nothing stale lands.
    pub fn fenced(&self, fence: Fence) -> Kontakt {
        let mut k = self.clone();
        k.store = Arc::new(Fenced { inner: self.store.clone(), fence });
        k
    }
}

/// A store whose commits carry a lease's fencing token.
struct Fenced {
    inner: Arc<dyn Store>,
    fence: Fence,
}

impl Store for Fenced {
    fn get(&self, key: &RecordKey) -> Result<Option<Stored>, StoreError> {
        self.inner.get(key)
    }
    fn commit(&self, mut tx: Transaction) -> Result<Committed, StoreError> {
        tx.fence = Some(self.fence.clone());
        self.inner.commit(tx)
    }
    fn commit_sequenced(&self, counter: &str, build: BuildFn) -> Result<Committed, StoreError> {
        let fence = self.fence.clone();
        self.inner.commit_sequenced(
            counter,
            Box::new(move |n| {
                build(n).map(|mut tx| {
                    tx.fence = Some(fence);
                    tx
                })
            }),
        )
    }
    fn counter(&self, counter: &str) -> Result<u64, StoreError> {
        self.inner.counter(counter)
    }
    fn events(&self, key: &RecordKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.events(key)
    }
    fn scan_range(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.inner.scan_range(from, to, limit)
    }
    fn scan_range_rev(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.inner.scan_range_rev(from, to, limit)
    }
    fn scan_collection(
        &self,
        collection: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, Stored)>, StoreError> {
        self.inner.scan_collection(collection, after, limit)
    }
    fn scan_ids_rev(
        &self,
        collection: &str,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        self.inner.scan_ids_rev(collection, from, to, limit)
    }
    fn count_indexes(&self, indexes: Vec<CountedIndex>) -> Result<(), StoreError> {
        self.inner.count_indexes(indexes)
    }
    fn index_count(&self, prefix: &[u8]) -> Result<Option<u64>, StoreError> {
        self.inner.index_count(prefix)
    }
    fn quiesce(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), StoreError> {
        self.inner.quiesce(f)
    }
    fn write_backlog(&self) -> usize {
        self.inner.write_backlog()
    }
    fn check(&self) -> Result<CheckReport, StoreError> {
        self.inner.check()
    }
}
