//! The sled implementation of [`Store`].

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::envelope::Envelope;
use crate::group_commit::GroupCommit;
use crate::keys::{self, MAX_KEY};
use crate::{CheckReport, Committed, Expect, IndexEntry, RecordKey, Store, StoreError, Stored, Transaction};

/// The store format this build reads and writes.
pub const FORMAT: &[u8] = b"kontakt-store/1";
const STRIPES: usize = 256;
const MAX_INDEX_KEYS: usize = 256;

/// Counters a monitoring endpoint can read.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Transactions refused for a version conflict.
    pub conflicts: AtomicU64,
    /// Flushes performed (fewer than commits under load: group commit).
    pub flushes: AtomicU64,
    /// Total time spent flushing, in microseconds.
    pub flush_micros: AtomicU64,
    /// Flush latency histogram: counts of flushes at or under 1, 2, 5, 10, 25, 50, 100, 250, 1000 ms, +Inf.
    pub flush_buckets: [AtomicU64; 10],
}

/// Upper bounds in milliseconds of [`StoreStats::flush_buckets`].
pub const FLUSH_BUCKETS_MS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// A [`Store`] on an embedded sled database.
pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    stripes: Vec<Mutex<()>>,
    sequence: Mutex<()>,
    group: GroupCommit,
    stats: StoreStats,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    // The guarded unit carries no data, so poisoning cannot expose a broken state.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, refusing a directory that holds
    /// something else or a store of another format.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        if dir.exists() {
            if !dir.is_dir() {
                return Err(StoreError::Format(format!("{} is not a directory", dir.display())));
            }
            let has_entries = std::fs::read_dir(dir)
                .map_err(|e| StoreError::Format(format!("cannot read {}: {e}", dir.display())))?
                .next()
                .is_some();
            if has_entries && !dir.join("conf").exists() {
                return Err(StoreError::Format(format!(
                    "{} is not empty and holds no Kontakt store; refusing to write into it",
                    dir.display()
                )));
            }
        }
        let db =
            sled::Config::new().path(dir).mode(sled::Mode::HighThroughput).open().map_err(|e| {
                StoreError::Format(format!("cannot open the store in {}: {e}", dir.display()))
            })?;
        match db.get(keys::meta("format"))? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) => {
                return Err(StoreError::Format(format!(
                    "{} holds store format {:?}; this build reads {:?}",
                    dir.display(),
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(FORMAT)
                )));
            }
            None if db.is_empty() => {
                db.insert(keys::meta("format"), FORMAT)?;
                db.flush()?;
            }
            None => {
                return Err(StoreError::Format(format!(
                    "{} holds a sled database without a Kontakt format mark",
                    dir.display()
                )));
            }
        }
        Ok(Self {
            db,
            path: dir.to_path_buf(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            sequence: Mutex::new(()),
            group: GroupCommit::default(),
            stats: StoreStats::default(),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commit and flush counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Writes a consistent copy of the whole store into the empty directory
    /// `dest`. Writers are paused for the duration of the copy.
    pub fn backup(&self, dest: &Path) -> Result<u64, StoreError> {
        let _seq = lock(&self.sequence);
        let _all: Vec<_> = self.stripes.iter().map(lock).collect();
        let copy = SledStore::open(dest)?;
        if copy.db.len() > 1 {
            return Err(StoreError::Format(format!("{} already holds a store", dest.display())));
        }
        let mut n = 0u64;
        let mut batch = sled::Batch::default();
        for item in self.db.iter() {
            let (k, v) = item?;
            batch.insert(k, v);
            n += 1;
            if n % 10_000 == 0 {
                copy.db.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        copy.db.apply_batch(batch)?;
        copy.db.flush()?;
        Ok(n)
    }

    fn stripe(&self, key: &RecordKey) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() as usize) % STRIPES
    }

    fn read_envelope(&self, key: &RecordKey) -> Result<Option<Envelope>, StoreError> {
        match self.db.get(keys::record(key))? {
            Some(v) => Ok(Some(Envelope::decode(&v)?)),
            None => Ok(None),
        }
    }

    fn validate(tx: &Transaction) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for put in &tx.puts {
            if !seen.insert(&put.key) {
                return Err(StoreError::Invalid(format!("record {} appears twice", put.key)));
            }
            if put.key.as_bytes().len() > MAX_KEY || put.index.iter().any(|k| k.len() > MAX_KEY) {
                return Err(StoreError::Invalid(format!("a key of {} is too long", put.key)));
            }
            if put.index.len() > MAX_INDEX_KEYS {
                return Err(StoreError::Invalid(format!("{} owns too many index keys", put.key)));
            }
        }
        Ok(())
    }

    /// Checks preconditions and applies the batch; the caller holds the locks.
    fn apply(&self, tx: &Transaction, counter: Option<(&str, u64)>) -> Result<Vec<u64>, StoreError> {
        let mut batch = sled::Batch::default();
        let mut versions = Vec::with_capacity(tx.puts.len());
        for put in &tx.puts {
            let current = self.read_envelope(&put.key)?;
            let found = current.as_ref().map(|e| e.version);
            let ok = match (put.expect, found) {
                (Expect::Any, _) | (Expect::Absent, None) => true,
                (Expect::Version(v), Some(f)) => v == f,
                _ => false,
            };
            if !ok {
                self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                let show = |v: Option<u64>| v.map_or("no record".to_string(), |v| format!("version {v}"));
                return Err(StoreError::Conflict {
                    key: put.key.to_string(),
                    expected: match put.expect {
                        Expect::Absent => "no record".into(),
                        Expect::Version(v) => format!("version {v}"),
                        Expect::Any => "anything".into(),
                    },
                    found: show(found),
                });
            }
            let old_index: BTreeSet<&[u8]> =
                current.iter().flat_map(|e| e.index.iter().map(Vec::as_slice)).collect();
            let old_events = current.as_ref().map_or(0, |e| e.events);
            match &put.body {
                None => {
                    for k in &old_index {
                        batch.remove(keys::index(k));
                    }
                    for seq in 0..old_events {
                        batch.remove(keys::event(&put.key, seq));
                    }
                    batch.remove(keys::record(&put.key));
                    versions.push(0);
                }
                Some(body) => {
                    let new_index: BTreeSet<&[u8]> = put.index.iter().map(Vec::as_slice).collect();
                    for k in old_index.difference(&new_index) {
                        batch.remove(keys::index(k));
                    }
                    for k in new_index.difference(&old_index) {
                        batch.insert(keys::index(k), put.key.as_bytes());
                    }
                    for (i, ev) in put.events.iter().enumerate() {
                        batch.insert(keys::event(&put.key, old_events + i as u32), ev.as_slice());
                    }
                    let version = found.unwrap_or(0) + 1;
                    let envelope = Envelope {
                        version,
                        events: old_events + put.events.len() as u32,
                        index: new_index.into_iter().map(<[u8]>::to_vec).collect(),
                        body: body.clone(),
                    };
                    batch.insert(keys::record(&put.key), envelope.encode());
                    versions.push(version);
                }
            }
        }
        if let Some((name, value)) = counter {
            batch.insert(keys::counter(name), &value.to_be_bytes());
        }
        self.db.apply_batch(batch)?;
        Ok(versions)
    }

    fn locks(&self, tx: &Transaction) -> Vec<MutexGuard<'_, ()>> {
        // Sorted, deduplicated stripes: every writer locks in the same order.
        let stripes: BTreeSet<usize> = tx.puts.iter().map(|p| self.stripe(&p.key)).collect();
        stripes.into_iter().map(|s| lock(&self.stripes[s])).collect()
    }

    fn durable(&self) -> Result<(), StoreError> {
        self.group
            .sync(
                || {
                    let start = Instant::now();
                    let r = self.db.flush().map(|_| ()).map_err(|e| e.to_string());
                    let took = start.elapsed();
                    self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                    self.stats.flush_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
                    let ms = took.as_secs_f64() * 1000.0;
                    let bucket =
                        FLUSH_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(FLUSH_BUCKETS_MS.len());
                    self.stats.flush_buckets[bucket].fetch_add(1, Ordering::Relaxed);
                    r
                },
                || "flush failed".to_string(),
            )
            .map_err(|e| StoreError::Engine(sled::Error::Io(std::io::Error::other(e))))?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn scan(
        &self,
        iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            out.push(IndexEntry { key: k[1..].to_vec(), record: RecordKey::from_bytes(v.to_vec()) });
        }
        Ok(out)
    }

    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl Store for SledStore {
    fn get(&self, key: &RecordKey) -> Result<Option<Stored>, StoreError> {
        Ok(self.read_envelope(key)?.map(|e| Stored { version: e.version, body: e.body, events: e.events }))
    }

    fn commit(&self, tx: Transaction) -> Result<Committed, StoreError> {
        Self::validate(&tx)?;
        let versions = {
            let _guards = self.locks(&tx);
            self.apply(&tx, None)?
        };
        self.durable()?;
        Ok(Committed { versions, sequence: None })
    }

    fn commit_sequenced(
        &self,
        counter: &str,
        build: &mut dyn FnMut(u64) -> Result<Transaction, StoreError>,
    ) -> Result<Committed, StoreError> {
        let (versions, next) = {
            let _seq = lock(&self.sequence);
            let next = self.counter(counter)? + 1;
            let tx = build(next)?;
            Self::validate(&tx)?;
            let _guards = self.locks(&tx);
            (self.apply(&tx, Some((counter, next)))?, next)
        };
        self.durable()?;
        Ok(Committed { versions, sequence: Some(next) })
    }

    fn counter(&self, counter: &str) -> Result<u64, StoreError> {
        match self.db.get(keys::counter(counter))? {
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| StoreError::Corrupt(format!("counter {counter}")))?,
            )),
            None => Ok(0),
        }
    }

    fn events(&self, key: &RecordKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.db
            .scan_prefix(keys::event_prefix(key))
            .map(|item| item.map(|(_, v)| v.to_vec()).map_err(StoreError::from))
            .collect()
    }

    fn scan_range(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.scan(self.db.range(keys::index(from)..keys::index(to)), limit)
    }

    fn scan_range_rev(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.scan(self.db.range(keys::index(from)..keys::index(to)).rev(), limit)
    }

    fn scan_collection(
        &self,
        collection: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, Stored)>, StoreError> {
        let prefix = keys::record(&RecordKey::new(collection, &[]));
        let end = crate::prefix_end(&prefix);
        let start = match after {
            Some(id) => {
                let mut k = keys::record(&RecordKey::new(collection, id));
                k.push(0); // the smallest key after `id`
                k
            }
            None => prefix,
        };
        let mut out = Vec::new();
        for item in self.db.range(start..end).take(limit) {
            let (k, v) = item?;
            let e = Envelope::decode(&v)?;
            out.push((
                RecordKey::from_bytes(k[1..].to_vec()),
                Stored { version: e.version, body: e.body, events: e.events },
            ));
        }
        Ok(out)
    }

    fn check(&self) -> Result<CheckReport, StoreError> {
        crate::check::check(self)
    }
}
