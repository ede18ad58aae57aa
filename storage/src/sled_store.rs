//! The sled implementation of [`Store`]: reads go straight to sled; writes go
//! through the [committer](crate::committer).
//!
//! A write that fails to reach the disk (disk full, I/O error) stops the store:
//! sled has already applied the failed group in memory and cannot take it
//! back, so from then on every read and write is refused with the cause until
//! the store is reopened. Otherwise readers would see a change its writer was
//! told had failed, which vanishes at the next start (and a request number
//! shown to a caller would be given to someone else).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use crate::committer::{self, Work};
use crate::envelope::Envelope;
use crate::keys;
use crate::{BuildFn, CheckReport, Committed, IndexEntry, RecordKey, Store, StoreError, Stored, Transaction};

/// The store format this build reads and writes: values in the v2 encoding
/// of [`codec`](crate::codec), sled pages plain or zstd-compressed.
pub const FORMAT: &[u8] = b"kontakt-store/2";
/// The format before it, migrated when opened: plain pages, JSON values.
pub const FORMAT_V1: &[u8] = b"kontakt-store/1";
/// zstd's level for the pages: level 3 measured no smaller than 1 on
/// request records, and costs more on every flush.
const COMPRESSION_LEVEL: i32 = 1;
/// The page cache when none is configured: 128 MiB (the server's default too).
pub const DEFAULT_CACHE_BYTES: u64 = 128 << 20;
/// Writers queued beyond this wait to enqueue (backpressure).
const QUEUE: usize = 8192;

/// Counters a monitoring endpoint can read.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Transactions committed (acknowledged durable).
    pub commits: AtomicU64,
    /// Transactions refused for a version conflict.
    pub conflicts: AtomicU64,
    /// Flushes performed (one per group: fewer than commits under load).
    pub flushes: AtomicU64,
    /// Total time spent flushing, in microseconds.
    pub flush_micros: AtomicU64,
    /// Flush latency histogram: counts at or under each of [`FLUSH_BUCKETS_MS`], then +Inf.
    pub flush_buckets: [AtomicU64; 10],
}

/// Upper bounds in milliseconds of [`StoreStats::flush_buckets`].
pub const FLUSH_BUCKETS_MS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];

/// A [`Store`] on an embedded sled database.
pub struct SledStore {
    /// Taken only by `drop`, so that the database closes before the drop returns.
    db: Option<sled::Db>,
    path: PathBuf,
    queue: Mutex<Option<SyncSender<Work>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<StoreStats>,
    failure: Failure,
    /// The counted indexes, kept by the committer.
    counted: crate::counted::Rules,
    /// Writers between handing in a transaction and hearing its outcome.
    waiting: std::sync::atomic::AtomicUsize,
}

/// The first write failure, once one happened; shared with the committer.
pub(crate) type Failure = Arc<OnceLock<String>>;

/// The refusal of a store stopped by `cause`.
pub(crate) fn stopped_by(cause: &str) -> StoreError {
    StoreError::Engine(format!(
        "the store stopped after a write failed to reach the disk ({cause}); \
         restart it once the disk is writable"
    ))
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, refusing a directory that holds
    /// something else or a store of another format.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens the store with a page cache of `cache_bytes` (reads of records not
    /// in the cache go to disk; size it to the working set).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        Self::open_with(dir, cache_bytes, false)
    }

    /// Opens the store with a page cache of `cache_bytes`; a store made or
    /// migrated now keeps its pages zstd-compressed on disk when
    /// `compress_pages` (an existing store keeps what it was made with).
    /// Compressed pages take about a third of the disk, and cost write
    /// throughput and start time (BENCHMARKS.md, "Footprint").
    pub fn open_with(dir: &Path, cache_bytes: u64, compress_pages: bool) -> Result<Self, StoreError> {
        let db = match open_db(dir, cache_bytes, compress_pages)? {
            Opened::Current(db) => db,
            Opened::V1(db) => {
                drop(db);
                wait_for_release(&dir.join("db"));
                crate::migrate_v1::migrate(dir, compress_pages)?;
                match open_db(dir, cache_bytes, compress_pages)? {
                    Opened::Current(db) => db,
                    Opened::V1(_) => {
                        return Err(StoreError::Format(format!(
                            "{} is still format 1 after its migration",
                            dir.display()
                        )));
                    }
                }
            }
        };
        let stats = Arc::new(StoreStats::default());
        let failure = Failure::default();
        let counted: crate::counted::Rules = Arc::new(std::sync::RwLock::new(crate::counted::load(&db)?));
        let (tx, rx) = sync_channel(QUEUE);
        let committer = {
            let (db, stats, failure, counted) = (db.clone(), stats.clone(), failure.clone(), counted.clone());
            std::thread::Builder::new()
                .name("kontakt-committer".into())
                .spawn(move || committer::run(db, rx, stats, failure, counted))
                .map_err(|e| StoreError::Engine(e.to_string()))?
        };
        Ok(Self {
            db: Some(db),
            path: dir.to_path_buf(),
            queue: Mutex::new(Some(tx)),
            committer: Mutex::new(Some(committer)),
            stats,
            failure,
            counted,
            waiting: Default::default(),
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
        self.healthy()?;
        Ok(self.db().size_on_disk()?)
    }

    /// Writes a consistent copy of the whole store into the empty directory
    /// `dest`; runs on the committer, so no write is half in the copy.
    pub fn backup(&self, dest: &Path) -> Result<u64, StoreError> {
        self.healthy()?;
        let dest = dest.to_path_buf();
        let (reply, answer) = sync_channel(1);
        self.send(Work::Exclusive(Box::new(move |db: &sled::Db| {
            let _ = reply.send(copy_into(db, &dest));
        })))?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Refuses to serve a store that a failed write stopped.
    fn healthy(&self) -> Result<(), StoreError> {
        match self.failure.get() {
            Some(cause) => Err(stopped_by(cause)),
            None => Ok(()),
        }
    }

    fn send(&self, work: Work) -> Result<(), StoreError> {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(stopped)?;
        queue.send(work).map_err(|_| stopped())
    }

    fn ask(
        &self,
        work: impl FnOnce(SyncSender<Result<Committed, StoreError>>) -> Work,
    ) -> Result<Committed, StoreError> {
        let (reply, answer) = sync_channel(1);
        self.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.send(work(reply)).and_then(|()| answer.recv().map_err(|_| stopped())?);
        self.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        outcome
    }

    fn read_envelope(&self, key: &RecordKey) -> Result<Option<Envelope>, StoreError> {
        self.healthy()?;
        match self.db().get(keys::record(key))? {
            Some(v) => Ok(Some(Envelope::decode(&v)?)),
            None => Ok(None),
        }
    }

    fn scan(
        &self,
        iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        self.healthy()?;
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (k, v) = item?;
            out.push(IndexEntry { key: k[1..].to_vec(), record: RecordKey::from_bytes(v.to_vec()) });
        }
        Ok(out)
    }

    pub(crate) fn db(&self) -> &sled::Db {
        // Present from `open` until `drop`, which nothing can call through afterwards.
        self.db.as_ref().expect("the database is open until the store is dropped")
    }
}

impl Store for SledStore {
    fn get(&self, key: &RecordKey) -> Result<Option<Stored>, StoreError> {
        Ok(self.read_envelope(key)?.map(|e| Stored { version: e.version, body: e.body, events: e.events }))
    }

    fn commit(&self, tx: Transaction) -> Result<Committed, StoreError> {
        // Malformed transactions and a stopped store are refused here, without queueing.
        self.healthy()?;
        committer::validate(&tx)?;
        self.ask(|reply| Work::Commit(tx, reply))
    }

    fn commit_sequenced(&self, counter: &str, build: BuildFn) -> Result<Committed, StoreError> {
        self.healthy()?;
        self.ask(|reply| Work::Sequenced(counter.to_string(), build, reply))
    }

    fn counter(&self, counter: &str) -> Result<u64, StoreError> {
        self.healthy()?;
        match self.db().get(keys::counter(counter))? {
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| StoreError::Corrupt(format!("counter {counter}")))?,
            )),
            None => Ok(0),
        }
    }

    fn events(&self, key: &RecordKey) -> Result<Vec<Vec<u8>>, StoreError> {
        self.healthy()?;
        let mut out = Vec::new();
        for item in self.db().scan_prefix(keys::event_prefix(key)) {
            let (_, v) = item?;
            out.extend(
                keys::unpack_events(&v).ok_or_else(|| StoreError::Corrupt(format!("event pack of {key}")))?,
            );
        }
        Ok(out)
    }

    fn scan_range(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.scan(self.db().range(keys::index(from)..keys::index(to)), limit)
    }

    fn scan_range_rev(&self, from: &[u8], to: &[u8], limit: usize) -> Result<Vec<IndexEntry>, StoreError> {
        self.scan(self.db().range(keys::index(from)..keys::index(to)).rev(), limit)
    }

    fn scan_collection(
        &self,
        collection: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(RecordKey, Stored)>, StoreError> {
        self.healthy()?;
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
        for item in self.db().range(start..end).take(limit) {
            let (k, v) = item?;
            let e = Envelope::decode(&v)?;
            out.push((
                RecordKey::from_bytes(k[1..].to_vec()),
                Stored { version: e.version, body: e.body, events: e.events },
            ));
        }
        Ok(out)
    }

    fn scan_ids_rev(
        &self,
        collection: &str,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        self.healthy()?;
        let lo = keys::record(&RecordKey::new(collection, from));
        let hi = keys::record(&RecordKey::new(collection, to));
        self.db()
            .range(lo..hi)
            .rev()
            .take(limit)
            .map(|item| item.map(|(k, _)| RecordKey::from_bytes(k[1..].to_vec())).map_err(StoreError::from))
            .collect()
    }

    fn write_backlog(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_indexes(&self, indexes: Vec<crate::CountedIndex>) -> Result<(), StoreError> {
        self.healthy()?;
        let (reply, answer) = sync_channel(1);
        let rules = self.counted.clone();
        // On the committer: no write lands between the recount and the first kept change.
        self.send(Work::Exclusive(Box::new(move |db: &sled::Db| {
            let _ = reply.send(crate::counted::declare(db, &rules, indexes));
        })))?;
        answer.recv().map_err(|_| stopped())?
    }

    fn index_count(&self, prefix: &[u8]) -> Result<Option<u64>, StoreError> {
        self.healthy()?;
        let rules = self.counted.read().unwrap_or_else(|e| e.into_inner());
        if !crate::counted::is_counted_prefix(&rules, prefix) {
            return Ok(None);
        }
        drop(rules);
        match self.db().get(crate::counted::count_key(prefix))? {
            Some(v) => Ok(Some(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| StoreError::Corrupt(format!("count of {prefix:?}")))?,
            ))),
            None => Ok(Some(0)),
        }
    }

    fn check(&self) -> Result<CheckReport, StoreError> {
        self.healthy()?;
        crate::check::check(self)
    }

    fn quiesce(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), StoreError> {
        self.healthy()?;
        let (done, finished) = sync_channel(1);
        // Runs on the committer between groups: no write is applied meanwhile.
        self.send(Work::Exclusive(Box::new(move |_db: &sled::Db| {
            f();
            let _ = done.send(());
        })))?;
        finished.recv().map_err(|_| stopped())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Closing the queue lets the committer finish what is queued and stop.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = self.committer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        drop(self.db.take());
        wait_for_release(&self.path.join("db"));
    }
}

/// A sled database opened by [`open_db`], by the format it holds.
enum Opened {
    /// The format this build writes.
    Current(sled::Db),
    /// Format 1, to migrate before use.
    V1(sled::Db),
}

/// The sled settings of a store, with plain or zstd-compressed pages.
pub(crate) fn sled_config(dir: &Path, cache_bytes: u64, compressed: bool) -> sled::Config {
    let config = sled::Config::new().path(dir).mode(sled::Mode::HighThroughput).cache_capacity(cache_bytes);
    if compressed { config.use_compression(true).compression_factor(COMPRESSION_LEVEL) } else { config }
}

/// The sled settings of the store in `dir` (of a new one with plain pages,
/// the default, when there is none yet), for tools and tests that open its
/// database directly.
pub fn raw_config(dir: &Path) -> sled::Config {
    let compressed = dir.join("conf").exists() && compressed_on_disk(dir).unwrap_or(false);
    sled_config(dir, DEFAULT_CACHE_BYTES, compressed)
}

/// Opens the sled database of the store in `dir` directly, with its
/// settings, once the process that last had it open has let go of its lock
/// (sled releases it a moment after a database is dropped).
pub fn open_raw(dir: &Path) -> sled::Result<sled::Db> {
    wait_for_release(&dir.join("db"));
    raw_config(dir).open()
}

/// Opens the sled database in `dir` with the settings it was created with,
/// creating a current store when `dir` is absent or empty.
fn open_db(dir: &Path, cache_bytes: u64, compress_new: bool) -> Result<Opened, StoreError> {
    crate::migrate_v1::recover(dir)?;
    // Only an absent or empty directory becomes a new store: sled reads
    // damaged files as an empty database, which must not be taken for one.
    let mut fresh = true;
    if dir.exists() {
        if !dir.is_dir() {
            return Err(StoreError::Format(format!("{} is not a directory", dir.display())));
        }
        let has_entries = std::fs::read_dir(dir)
            .map_err(|e| StoreError::Format(format!("cannot read {}: {e}", dir.display())))?
            .next()
            .is_some();
        // sled would silently make a database out of any directory.
        if has_entries && !(dir.join("conf").exists() && dir.join("db").exists()) {
            return Err(StoreError::Format(format!(
                "{} is not empty and holds no Kontakt store; refusing to write into it",
                dir.display()
            )));
        }
        fresh = !has_entries;
    }
    // sled refuses to open a database with other compression settings than
    // it was made with, so they are read from its own settings file first.
    let compressed = if fresh { compress_new } else { compressed_on_disk(dir)? };
    let db = match open_quietly(&sled_config(dir, cache_bytes, compressed)) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            return Err(StoreError::Format(format!("cannot open the store in {}: {e}", dir.display())));
        }
        Err(why) => {
            return Err(StoreError::Format(format!(
                "cannot open the store in {}: its files are damaged (sled: {why})",
                dir.display()
            )));
        }
    };
    match db.get(keys::meta("format"))? {
        Some(v) if v.as_ref() == FORMAT => Ok(Opened::Current(db)),
        Some(v) if v.as_ref() == FORMAT_V1 && !compressed => Ok(Opened::V1(db)),
        Some(v) => Err(StoreError::Format(format!(
            "{} holds store format {:?}{}; this build reads {:?} and migrates {:?}",
            dir.display(),
            String::from_utf8_lossy(&v),
            if compressed { " with compressed pages" } else { " with plain pages" },
            String::from_utf8_lossy(FORMAT),
            String::from_utf8_lossy(FORMAT_V1),
        ))),
        None if fresh && db.is_empty() => {
            db.insert(keys::meta("format"), FORMAT)?;
            db.flush()?;
            Ok(Opened::Current(db))
        }
        None => Err(StoreError::Format(format!(
            "{} holds a sled database without a Kontakt format mark: its files are damaged, \
             or it is not a Kontakt store",
            dir.display()
        ))),
    }
}

/// Whether the sled database in `dir` was made with compressed pages, from
/// the `use_compression` line of its `conf` file.
pub(crate) fn compressed_on_disk(dir: &Path) -> Result<bool, StoreError> {
    let conf = std::fs::read(dir.join("conf"))
        .map_err(|e| StoreError::Format(format!("cannot read {}: {e}", dir.join("conf").display())))?;
    // The text is followed by a binary checksum.
    Ok(String::from_utf8_lossy(&conf)
        .lines()
        .any(|l| l.split_once(':').is_some_and(|(k, v)| k.trim() == "use_compression" && v.trim() == "true")))
}

/// Waits (up to 10 s) until sled's lock on `file` is gone: sled's own
/// background threads may hold the database a moment after the last handle
/// drops, and a store reopened in that moment would fail on the lock.
pub(crate) fn wait_for_release(file: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Ok(f) = std::fs::File::open(file) {
        // std's file lock is the same flock(2) sled takes through fs2.
        if f.try_lock().is_ok() {
            let _ = f.unlock();
            return;
        }
        if std::time::Instant::now() > deadline {
            tracing::warn!(file = %file.display(), "the store's lock is still held after closing");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

thread_local! {
    /// Set while this thread opens a sled database: its panics are reported as errors, not printed.
    static OPENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Opens sled, turning a panic on damaged files into an error. sled 0.34
/// asserts on some malformed logs instead of failing; the panic is caught,
/// and a process-wide hook (installed once, passing every other panic to the
/// hook it replaces) keeps its message and backtrace off the terminal.
fn open_quietly(config: &sled::Config) -> Result<sled::Result<sled::Db>, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !OPENING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    OPENING.with(|o| o.set(true));
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
    OPENING.with(|o| o.set(false));
    opened.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "an internal assertion failed".into())
    })
}

fn stopped() -> StoreError {
    StoreError::Engine("the store is shutting down".to_string())
}

fn copy_into(db: &sled::Db, dest: &Path) -> Result<u64, StoreError> {
    let copy = SledStore::open(dest)?;
    if copy.db().len() > 1 {
        return Err(StoreError::Format(format!("{} already holds a store", dest.display())));
    }
    let mut n = 0u64;
    let mut batch = sled::Batch::default();
    for item in db.iter() {
        let (k, v) = item?;
        batch.insert(k, v);
        n += 1;
        if n.is_multiple_of(10_000) {
            copy.db().apply_batch(std::mem::take(&mut batch))?;
        }
    }
    copy.db().apply_batch(batch)?;
    copy.db().flush()?;
    Ok(n)
}

/// One record as [`SledStore::export`] hands it out: everything a copy into
/// another engine needs.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The record's key.
    pub key: RecordKey,
    /// Its version.
    pub version: u64,
    /// The index keys it owns.
    pub index: Vec<Vec<u8>>,
    /// Its body.
    pub body: Vec<u8>,
    /// Its whole event log, oldest first.
    pub events: Vec<Vec<u8>>,
}

/// What an export ends with: the counters (name, value) and the counted indexes.
pub type ExportTail = (Vec<(String, u64)>, Vec<crate::CountedIndex>);

impl SledStore {
    /// The bytes of every key and value the store holds (one pass), before
    /// the engine's own overhead: what a change costs in the stored format.
    pub fn stored_bytes(&self) -> Result<u64, StoreError> {
        self.healthy()?;
        let mut n = 0u64;
        for item in self.db().iter() {
            let (k, v) = item?;
            n += (k.len() + v.len()) as u64;
        }
        Ok(n)
    }

    /// How many records the store holds (one pass over the record keys).
    pub fn record_count(&self) -> Result<u64, StoreError> {
        self.healthy()?;
        let mut n = 0;
        for item in self.db().scan_prefix([keys::RECORD]) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Hands every record with its events to `each`, in key order, then
    /// returns the counters and the counted indexes. Run it on a store no
    /// server writes to (the command line opens the store itself).
    pub fn export(
        &self,
        each: &mut dyn FnMut(Exported) -> Result<(), StoreError>,
    ) -> Result<ExportTail, StoreError> {
        self.healthy()?;
        for item in self.db().scan_prefix([keys::RECORD]) {
            let (k, v) = item?;
            let key = RecordKey::from_bytes(k[1..].to_vec());
            let env = Envelope::decode(&v)?;
            let events = if env.events > 0 { self.events(&key)? } else { vec![] };
            each(Exported { key, version: env.version, index: env.index, body: env.body, events })?;
        }
        let mut counters = Vec::new();
        for item in self.db().scan_prefix([keys::COUNTER]) {
            let (k, v) = item?;
            let value = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(format!("counter {:?}", &k[1..])))?;
            counters.push((String::from_utf8_lossy(&k[1..]).into_owned(), value));
        }
        Ok((counters, crate::counted::load(self.db())?))
    }
}
