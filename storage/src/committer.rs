//! The committer: one thread that turns queued transactions into one atomic
//! sled batch per group, and a flusher thread that makes applied groups
//! durable before anyone hears back.
//!
//! Writers send [`Work`] and block on their own reply channel. The committer
//! drains the queue (up to [`MAX_GROUP`]), stages each transaction against the
//! store *and* what the group already staged (so two writers of one record in
//! one group conflict exactly as they would one after another), applies the
//! group's batch atomically, and hands the group's writers to the flusher.
//! Being the only writer, it needs no locks: staging order is commit order.
//!
//! The flusher takes every group applied so far, flushes once (a flush covers
//! everything applied before it started) and only then answers their writers.
//! So staging the next group overlaps the disk wait of the previous one, and a
//! slow disk makes groups larger rather than writers slower.
//!
//! A failed apply or flush is recorded as the store's [failure](Failure) and
//! ends all writing: later groups were staged on top of the failed one's
//! in-memory changes, so none of them may be acknowledged, not even if the
//! disk takes them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use crate::envelope::Envelope;
use crate::keys::{self, MAX_KEY};
use crate::sled_store::{FLUSH_BUCKETS_MS, Failure, StoreStats, stopped_by};
use crate::{BuildFn, Committed, Expect, StoreError, Transaction};

/// Most transactions folded into one batch.
pub(crate) const MAX_GROUP: usize = 4096;
const MAX_INDEX_KEYS: usize = 256;

/// What a writer asks of the committer.
pub(crate) enum Work {
    /// Commit a transaction.
    Commit(Transaction, SyncSender<Result<Committed, StoreError>>),
    /// Allocate the next counter value and commit what the builder makes of it.
    Sequenced(String, BuildFn, SyncSender<Result<Committed, StoreError>>),
    /// Run with no write in flight (backups).
    Exclusive(Box<dyn FnOnce(&sled::Db) + Send>),
}

/// Keys staged by the current group: physical key → new value (None: removed).
#[derive(Default)]
struct Staged {
    writes: HashMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Staged {
    fn get(&self, db: &sled::Db, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => Ok(db.get(key)?.map(|v| v.to_vec())),
        }
    }
}

/// Writers of one applied group, waiting for the flush that covers it.
type Waiting = Vec<(SyncSender<Result<Committed, StoreError>>, Committed)>;

pub(crate) fn run(
    db: sled::Db,
    queue: Receiver<Work>,
    stats: Arc<StoreStats>,
    failure: Failure,
    counted: crate::counted::Rules,
) {
    let (to_flusher, flusher_queue) = std::sync::mpsc::channel::<Waiting>();
    let flusher = {
        let (db, stats, failure) = (db.clone(), stats.clone(), failure.clone());
        std::thread::Builder::new()
            .name("kontakt-flusher".into())
            .spawn(move || flush_loop(&db, &flusher_queue, &stats, &failure))
    };
    let flusher = match flusher {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the flusher; writes will be refused");
            return;
        }
    };
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        match failure.get() {
            Some(cause) => refuse(group, cause),
            None => commit_group(&db, group, &stats, &to_flusher, &failure, &counted),
        }
    }
    // The queue closed: let the flusher answer what is applied, then stop.
    drop(to_flusher);
    let _ = flusher.join();
}

/// Answers a group that arrived after the store stopped.
fn refuse(group: Vec<Work>, cause: &str) {
    for work in group {
        match work {
            Work::Commit(_, reply) | Work::Sequenced(_, _, reply) => {
                let _ = reply.send(Err(stopped_by(cause)));
            }
            // Dropping the job closes its reply channel: the caller hears of it.
            Work::Exclusive(_) => {}
        }
    }
}

fn flush_loop(db: &sled::Db, groups: &Receiver<Waiting>, stats: &StoreStats, failure: &Failure) {
    while let Ok(first) = groups.recv() {
        let mut waiting = first;
        while let Ok(more) = groups.try_recv() {
            waiting.extend(more);
        }
        if let Some(cause) = failure.get() {
            for (reply, _) in waiting {
                let _ = reply.send(Err(stopped_by(cause)));
            }
            continue;
        }
        let start = Instant::now();
        let result = db.flush();
        record_flush(stats, start);
        match result {
            Ok(_) => {
                stats.commits.fetch_add(waiting.len() as u64, Ordering::Relaxed);
                for (reply, committed) in waiting {
                    let _ = reply.send(Ok(committed));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, writers = waiting.len(), "flush failed; the store stops");
                let _ = failure.set(msg.clone());
                for (reply, _) in waiting {
                    let _ = reply.send(Err(StoreError::Engine(msg.clone())));
                }
            }
        }
    }
}

fn commit_group(
    db: &sled::Db,
    group: Vec<Work>,
    stats: &StoreStats,
    flusher: &std::sync::mpsc::Sender<Waiting>,
    failure: &Failure,
    counted: &crate::counted::Rules,
) {
    let mut staged = Staged::default();
    let mut waiting: Vec<(SyncSender<Result<Committed, StoreError>>, Committed)> =
        Vec::with_capacity(group.len());
    for work in group {
        match work {
            Work::Commit(tx, reply) => match stage(db, &mut staged, &tx, None, counted) {
                Ok(versions) => waiting.push((reply, Committed { versions, sequence: None })),
                Err(e) => {
                    if matches!(e, StoreError::Conflict { .. }) {
                        stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    stop_on_engine_failure(&e, failure);
                    let _ = reply.send(Err(e));
                }
            },
            Work::Sequenced(counter, build, reply) => {
                let result = next_value(db, &staged, &counter).and_then(|next| {
                    let tx = build(next)?;
                    stage(db, &mut staged, &tx, Some((&counter, next)), counted)
                        .map(|versions| Committed { versions, sequence: Some(next) })
                });
                match result {
                    Ok(c) => waiting.push((reply, c)),
                    Err(e) => {
                        stop_on_engine_failure(&e, failure);
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Work::Exclusive(job) => {
                // Apply what is staged first so the job sees every earlier write.
                apply(db, std::mem::take(&mut staged), std::mem::take(&mut waiting), flusher, failure);
                if failure.get().is_none() {
                    job(db);
                }
            }
        }
    }
    apply(db, staged, waiting, flusher, failure);
}

/// An engine that fails while a write is staged (a full disk met by a read)
/// stops the store before the writer hears of it, as a failed batch does:
/// nothing is read afterwards that may not be on disk.
fn stop_on_engine_failure(e: &StoreError, failure: &Failure) {
    if let StoreError::Engine(engine) = e {
        let msg = engine.to_string();
        tracing::error!(error = %msg, "the engine failed while staging a write; the store stops");
        let _ = failure.set(msg);
    }
}

/// Applies a group's staged writes as one atomic batch and passes its writers
/// to the flusher; a refused batch is answered at once.
fn apply(
    db: &sled::Db,
    staged: Staged,
    waiting: Waiting,
    flusher: &std::sync::mpsc::Sender<Waiting>,
    failure: &Failure,
) {
    if waiting.is_empty() {
        return;
    }
    let mut batch = sled::Batch::default();
    for (k, v) in staged.writes {
        match v {
            Some(v) => batch.insert(k, v),
            None => batch.remove(k),
        }
    }
    match db.apply_batch(batch) {
        Ok(()) => {
            if let Err(lost) = flusher.send(waiting) {
                for (reply, _) in lost.0 {
                    let _ = reply.send(Err(StoreError::Engine("the flusher stopped".to_string())));
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!(error = %msg, writers = waiting.len(), "applying a group failed; the store stops");
            // sled may hold part of the batch in memory: nothing after it is safe.
            let _ = failure.set(msg.clone());
            for (reply, _) in waiting {
                let _ = reply.send(Err(StoreError::Engine(msg.clone())));
            }
        }
    }
}

fn record_flush(stats: &StoreStats, start: Instant) {
    let took = start.elapsed();
    stats.flushes.fetch_add(1, Ordering::Relaxed);
    stats.flush_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    let ms = took.as_secs_f64() * 1000.0;
    let bucket = FLUSH_BUCKETS_MS.iter().position(|b| ms <= *b).unwrap_or(FLUSH_BUCKETS_MS.len());
    stats.flush_buckets[bucket].fetch_add(1, Ordering::Relaxed);
}

fn next_value(db: &sled::Db, staged: &Staged, counter: &str) -> Result<u64, StoreError> {
    match staged.get(db, &keys::counter(counter))? {
        Some(v) => Ok(u64::from_be_bytes(
            v.as_slice().try_into().map_err(|_| StoreError::Corrupt(format!("counter {counter}")))?,
        ) + 1),
        None => Ok(1),
    }
}

/// Every event-pack key of a record, stored or staged.
fn event_keys(db: &sled::Db, staged: &Staged, key: &crate::RecordKey) -> Result<Vec<Vec<u8>>, StoreError> {
    let prefix = keys::event_prefix(key);
    let mut found: BTreeSet<Vec<u8>> = BTreeSet::new();
    for item in db.scan_prefix(&prefix) {
        found.insert(item?.0.to_vec());
    }
    for (k, v) in &staged.writes {
        if k.starts_with(&prefix) {
            if v.is_some() {
                found.insert(k.clone());
            } else {
                found.remove(k);
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Refuses a malformed transaction before anything is read.
pub(crate) fn validate(tx: &Transaction) -> Result<(), StoreError> {
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
    let mut rewritten = HashSet::new();
    for r in &tx.rewrites {
        if !seen.contains(&r.key) || !rewritten.insert(&r.key) {
            return Err(StoreError::Invalid(format!(
                "the log of {} is rewritten without its record, or twice",
                r.key
            )));
        }
        if tx.puts.iter().any(|p| p.key == r.key && p.body.is_none()) {
            return Err(StoreError::Invalid(format!("the log of {} is rewritten as it is deleted", r.key)));
        }
    }
    Ok(())
}

/// Checks `tx`'s preconditions and stages its writes; on refusal stages nothing.
fn stage(
    db: &sled::Db,
    staged: &mut Staged,
    tx: &Transaction,
    counter: Option<(&str, u64)>,
    counted: &crate::counted::Rules,
) -> Result<Vec<u64>, StoreError> {
    validate(tx)?;
    let rules = counted.read().unwrap_or_else(|e| e.into_inner());
    // Each counted prefix's change by this transaction's index entries.
    let mut deltas: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut count = |key: &[u8], by: i64| {
        if let Some(p) = crate::counted::counted_prefix(&rules, key) {
            *deltas.entry(p.to_vec()).or_default() += by;
        }
    };
    let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut versions = Vec::with_capacity(tx.puts.len());
    for put in &tx.puts {
        let current = staged.get(db, &keys::record(&put.key))?.map(|v| Envelope::decode(&v)).transpose()?;
        let found = current.as_ref().map(|e| e.version);
        let ok = match (put.expect, found) {
            (Expect::Any, _) | (Expect::Absent, None) => true,
            (Expect::Version(v), Some(f)) => v == f,
            _ => false,
        };
        if !ok {
            return Err(put.expect.refused(&put.key, found));
        }
        let old_index: BTreeSet<&[u8]> =
            current.iter().flat_map(|e| e.index.iter().map(Vec::as_slice)).collect();
        let old_events = current.as_ref().map_or(0, |e| e.events);
        match &put.body {
            None => {
                old_index.iter().for_each(|k| count(k, -1));
                writes.extend(old_index.iter().map(|k| (keys::index(k), None)));
                writes.extend(event_keys(db, staged, &put.key)?.into_iter().map(|k| (k, None)));
                writes.push((keys::record(&put.key), None));
                versions.push(0);
            }
            Some(body) => {
                let new_index: BTreeSet<&[u8]> = put.index.iter().map(Vec::as_slice).collect();
                old_index.difference(&new_index).for_each(|k| count(k, -1));
                new_index.difference(&old_index).for_each(|k| count(k, 1));
                writes.extend(old_index.difference(&new_index).map(|k| (keys::index(k), None)));
                writes.extend(
                    new_index
                        .difference(&old_index)
                        .map(|k| (keys::index(k), Some(put.key.as_bytes().to_vec()))),
                );
                if let Some(r) = tx.rewrites.iter().find(|r| r.key == put.key) {
                    if r.events.len() != old_events as usize {
                        return Err(StoreError::Invalid(format!(
                            "the log of {} holds {old_events} events, not {}",
                            put.key,
                            r.events.len()
                        )));
                    }
                    writes.extend(event_keys(db, staged, &put.key)?.into_iter().map(|k| (k, None)));
                    if !r.events.is_empty() {
                        writes.push((keys::event(&put.key, 0), Some(keys::pack_events(&r.events))));
                    }
                }
                if !put.events.is_empty() {
                    writes.push((keys::event(&put.key, old_events), Some(keys::pack_events(&put.events))));
                }
                let version = found.unwrap_or(0) + 1;
                let envelope = Envelope {
                    version,
                    events: old_events + put.events.len() as u32,
                    index: new_index.into_iter().map(<[u8]>::to_vec).collect(),
                    body: body.clone(),
                };
                writes.push((keys::record(&put.key), Some(envelope.encode())));
                versions.push(version);
            }
        }
    }
    if let Some((name, value)) = counter {
        writes.push((keys::counter(name), Some(value.to_be_bytes().to_vec())));
    }
    for (prefix, delta) in deltas.into_iter().filter(|(_, d)| *d != 0) {
        let key = crate::counted::count_key(&prefix);
        let now = match staged.get(db, &key)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice().try_into().map_err(|_| StoreError::Corrupt(format!("count of {prefix:?}")))?,
            ),
            None => 0,
        };
        // A count below zero means it drifted: the write still goes through
        // (a count never blocks a change), and `check` reports the drift.
        let after = now.checked_add_signed(delta).unwrap_or_else(|| {
            tracing::error!(?prefix, now, delta, "an index count would go below zero");
            0
        });
        writes.push((key, if after == 0 { None } else { Some(after.to_be_bytes().to_vec()) }));
    }
    staged.writes.extend(writes);
    Ok(versions)
}
