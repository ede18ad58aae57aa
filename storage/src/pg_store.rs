//! The PostgreSQL implementation of [`Store`], for several Kontakt nodes over
//! one database.
//!
//! - **One PostgreSQL transaction per [`Transaction`].** Each put reads its
//!   record `FOR UPDATE`, checks the version precondition, and writes the
//!   record, its index entries and events; a record created concurrently by
//!   another node makes the insert fail on the primary key, which is reported
//!   as a [`StoreError::Conflict`]. Nothing is written when any put is refused.
//! - **Gap-free counters**: `commit_sequenced` increments the counter's row
//!   inside the transaction it builds, so the row stays locked until commit and
//!   a rollback gives the number back.
//! - **Index counts without a hot row**: each connection adds its deltas to
//!   its own row (keyed by the server process id), and a count is the sum of
//!   its rows, so concurrent writers never wait on one another for a count.
//! - **The change feed**: every committed transaction appends one row to
//!   `kontakt_feed`, numbered by a counter row taken as the transaction's last
//!   statement. The row lock is held until commit, so feed numbers commit in
//!   order: a reader that sees number n sees every number below it. The cost is
//!   that committing transactions pass that row one at a time (measured in
//!   BENCHMARKS.md); registrations already pass the request counter's row the
//!   same way. `NOTIFY` wakes the readers; they catch up by number, so a lost
//!   connection loses nothing.
//! - **Leases with fencing tokens** (`kontakt_leases`): a transaction carrying
//!   a [`Fence`] first takes its lease row `FOR SHARE` and is refused unless
//!   the lease is still its holder's with the same token, so a node that lost
//!   its lease cannot commit stale work.
//!
//! The synchronous client runs its own small runtime, so it must not be called
//! from an async task: every statement runs on the store's own worker threads,
//! each owning one connection, and callers wait on a channel.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::counted::{self, CountedIndex};
use crate::{
    BuildFn, Change, CheckReport, Committed, Expect, Fence, IndexEntry, RecordKey, Store, StoreError, Stored,
    Transaction,
};

/// The store format this build reads and writes.
pub const FORMAT: &str = "kontakt-store/1";
/// The name of the feed's counter row (not a valid domain counter name).
const FEED: &str = "#feed";
/// The channel `NOTIFY` wakes readers on.
const CHANNEL: &str = "kontakt_feed";

const SCHEMA: &str = "
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS kontakt_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS kontakt_records (
    key bytea PRIMARY KEY, version bigint NOT NULL, events integer NOT NULL,
    idx bytea[] NOT NULL, body bytea NOT NULL);
CREATE TABLE IF NOT EXISTS kontakt_index (key bytea PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS kontakt_events (
    record bytea NOT NULL, n integer NOT NULL, body bytea NOT NULL, PRIMARY KEY (record, n));
CREATE TABLE IF NOT EXISTS kontakt_counters (name text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS kontakt_counts (
    prefix bytea NOT NULL, slot integer NOT NULL, n bigint NOT NULL, PRIMARY KEY (prefix, slot));
CREATE TABLE IF NOT EXISTS kontakt_counted (name text PRIMARY KEY, parts text NOT NULL);
CREATE TABLE IF NOT EXISTS kontakt_feed (
    seq bigint PRIMARY KEY, keys bytea[] NOT NULL, firsts integer[] NOT NULL, counts integer[] NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS kontakt_leases (
    name text PRIMARY KEY, holder text NOT NULL, token bigint NOT NULL, expires timestamptz NOT NULL);
INSERT INTO kontakt_counters (name, value) VALUES ('#feed', 0) ON CONFLICT DO NOTHING;
-- One put of a transaction in one round trip: checks the version (expect 0:
-- any, 1: absent, 2: exactly p_version; a refusal raises KC001 with the
-- version found), then writes the record, its index entries and its events.
-- Returns the new version (0 for a delete), the first appended event's
-- place, and the index keys the record owned before.
CREATE OR REPLACE FUNCTION kontakt_put(p_key bytea, p_expect smallint, p_version bigint, p_body bytea,
                                       p_idx bytea[], p_events bytea[])
RETURNS TABLE (version bigint, first integer, old_idx bytea[]) LANGUAGE plpgsql AS $fn$
DECLARE
    found_it boolean;
    created boolean := false;
    cur_version bigint;
    cur_events integer;
    cur_idx bytea[];
BEGIN
    SELECT r.version, r.events, r.idx INTO cur_version, cur_events, cur_idx
        FROM kontakt_records r WHERE r.key = p_key FOR UPDATE;
    found_it := FOUND;
    -- A new record is claimed by inserting its row first: a writer racing to
    -- create the same one waits for this transaction and then finds the row,
    -- so it is refused by its precondition, or updates it, never failing on
    -- the key's uniqueness.
    IF NOT found_it AND p_expect <> 2 AND p_body IS NOT NULL THEN
        INSERT INTO kontakt_records (key, version, events, idx, body)
            VALUES (p_key, 0, 0, '{}', p_body) ON CONFLICT (key) DO NOTHING;
        IF FOUND THEN
            created := true;
        ELSE
            SELECT r.version, r.events, r.idx INTO cur_version, cur_events, cur_idx
                FROM kontakt_records r WHERE r.key = p_key FOR UPDATE;
            found_it := FOUND;
        END IF;
    END IF;
    IF (p_expect = 1 AND found_it) OR (p_expect = 2 AND (NOT found_it OR cur_version <> p_version)) THEN
        RAISE EXCEPTION USING ERRCODE = 'KC001', MESSAGE = COALESCE(cur_version::text, 'none');
    END IF;
    cur_idx := COALESCE(cur_idx, '{}');
    cur_events := COALESCE(cur_events, 0);
    IF p_body IS NULL THEN
        IF found_it THEN
            DELETE FROM kontakt_index WHERE key = ANY(cur_idx) AND record = p_key;
            DELETE FROM kontakt_events WHERE record = p_key;
            DELETE FROM kontakt_records WHERE key = p_key;
        END IF;
        RETURN QUERY SELECT 0::bigint, cur_events, cur_idx;
        RETURN;
    END IF;
    IF found_it THEN
        DELETE FROM kontakt_index
            WHERE key = ANY(ARRAY(SELECT unnest(cur_idx) EXCEPT SELECT unnest(p_idx))) AND record = p_key;
    END IF;
    INSERT INTO kontakt_index (key, record)
        SELECT k, p_key FROM (SELECT unnest(p_idx) EXCEPT SELECT unnest(cur_idx)) AS a(k)
        ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record;
    INSERT INTO kontakt_events (record, n, body)
        SELECT p_key, cur_events + (o - 1)::integer, b FROM unnest(p_events) WITH ORDINALITY AS e(b, o);
    IF found_it OR created THEN
        UPDATE kontakt_records SET version = COALESCE(cur_version, 0) + 1,
            events = cur_events + cardinality(p_events), idx = p_idx, body = p_body WHERE key = p_key;
    ELSE
        INSERT INTO kontakt_records (key, version, events, idx, body)
            VALUES (p_key, 1, cardinality(p_events), p_idx, p_body);
    END IF;
    RETURN QUERY SELECT COALESCE(cur_version, 0) + 1, cur_events, cur_idx;
END
$fn$;
";

/// What the engine has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct PgStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Transactions refused for a version conflict or a lost lease.
    pub conflicts: AtomicU64,
    /// Statements that failed because the database could not be reached.
    pub unreachable: AtomicU64,
}

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// This worker thread's connection (workers only).
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
    /// This worker's connection settings, to reconnect after a failure.
    static URL: RefCell<Option<Arc<Endpoint>>> = const { RefCell::new(None) };
}

#[derive(Debug)]
struct Endpoint {
    config: postgres::Config,
    stats: Arc<PgStats>,
}

/// Wakes feed readers: a generation moved by every `NOTIFY` received (and by
/// every reconnection of the listener, after which readers must catch up).
#[derive(Debug, Default)]
struct Wake {
    generation: Mutex<u64>,
    moved: Condvar,
}

impl Wake {
    fn bump(&self) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.moved.notify_all();
    }
}

/// A [`Store`] on a PostgreSQL database shared by any number of nodes.
pub struct PgStore {
    jobs: Mutex<Option<Sender<Job>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    stats: Arc<PgStats>,
    counted: Arc<RwLock<Vec<CountedIndex>>>,
    wake: Arc<Wake>,
    stop: Arc<AtomicBool>,
    listener: Mutex<Option<std::thread::JoinHandle<()>>>,
    url: String,
    /// Writers waiting for their commit.
    waiting: AtomicUsize,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &redact(&self.url)).finish_non_exhaustive()
    }
}

/// The URL without its password, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// A PostgreSQL error as a store error: a duplicate key of a record created
/// concurrently is a conflict; anything else is the engine's.
fn pg(e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Conflict {
            key: "a record".into(),
            expected: "no record".into(),
            found: "one created concurrently".into(),
        };
    }
    match e.as_db_error() {
        // Class 08: connection exceptions; class 57: the server shuts down or is starting.
        Some(db) if db.code().code().starts_with("08") || db.code().code().starts_with("57") => {
            StoreError::Unavailable(format!("postgres: {} ({})", db.message(), db.code().code()))
        }
        Some(db) => StoreError::Engine(format!("postgres: {} ({})", db.message(), db.code().code())),
        None if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => {
            StoreError::Unavailable(format!("postgres: {e}"))
        }
        None => StoreError::Engine(format!("postgres: {e}")),
    }
}

/// Runs `f` with this worker's connection, connecting first when there is none
/// and dropping a connection that broke so the next statement reconnects.
fn with_client<R>(f: impl FnOnce(&mut Client) -> Result<R, StoreError>) -> Result<R, StoreError> {
    CLIENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_none_or(Client::is_closed) {
            let endpoint = URL.with(|u| u.borrow().clone()).ok_or_else(|| engine("not a store worker"))?;
            match endpoint.config.connect(NoTls) {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    endpoint.stats.unreachable.fetch_add(1, Ordering::Relaxed);
                    return Err(StoreError::Unavailable(format!("cannot connect to the database: {e}")));
                }
            }
        }
        let client = slot.as_mut().ok_or_else(|| engine("no connection"))?;
        let out = f(client);
        if client.is_closed() {
            *slot = None;
        }
        out
    })
}

fn is_worker() -> bool {
    URL.with(|u| u.borrow().is_some())
}

impl PgStore {
    /// Connects to `url` with `pool` connections, creating the tables on an
    /// empty database and refusing one that holds another store format.
    pub fn open(url: &str, pool: usize) -> Result<Self, StoreError> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| StoreError::Format(format!("store url {}: {e}", redact(url))))?;
        config.connect_timeout(Duration::from_secs(3));
        config.keepalives_idle(Duration::from_secs(10));
        config.application_name("kontakt");
        let stats = Arc::new(PgStats::default());
        let endpoint = Arc::new(Endpoint { config: config.clone(), stats: stats.clone() });
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..pool.max(2) {
            let (rx, endpoint) = (rx.clone(), endpoint.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("kontakt-pg-{i}"))
                    .spawn(move || worker(rx, endpoint))
                    .map_err(engine)?,
            );
        }
        let store = Self {
            jobs: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
            stats,
            counted: Arc::default(),
            wake: Arc::default(),
            stop: Arc::default(),
            listener: Mutex::new(None),
            url: url.to_string(),
            waiting: AtomicUsize::new(0),
        };
        store.run(prepare)?;
        let rules = store.run(load_rules::<Client>)?;
        *store.counted.write().unwrap_or_else(|e| e.into_inner()) = rules;
        let (wake, stop) = (store.wake.clone(), store.stop.clone());
        *store.listener.lock().unwrap_or_else(|e| e.into_inner()) = Some(
            std::thread::Builder::new()
                .name("kontakt-pg-listen".into())
                .spawn(move || listen(config, wake, stop))
                .map_err(engine)?,
        );
        Ok(store)
    }

    /// What the engine has done.
    pub fn stats(&self) -> &PgStats {
        &self.stats
    }

    /// The database URL, without its password.
    pub fn url(&self) -> String {
        redact(&self.url)
    }

    /// Runs `f` on a worker's connection (inline when already on one).
    fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        if is_worker() {
            return with_client(f);
        }
        let (reply, answer) = sync_channel(1);
        self.submit(Box::new(move || {
            let _ = reply.send(with_client(f));
        }))?;
        answer.recv().map_err(|_| engine("the store is closed"))?
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        let queue = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        queue
            .ok_or_else(|| engine("the store is closed"))?
            .send(job)
            .map_err(|_| engine("the store is closed"))
    }

    fn commit_with(&self, counter: Option<String>, build: BuildFn) -> Result<Committed, StoreError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let out = self.commit_inner(counter, build);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        out
    }

    fn commit_inner(&self, counter: Option<String>, build: BuildFn) -> Result<Committed, StoreError> {
        let rules = self.counted.read().unwrap_or_else(|e| e.into_inner()).clone();
        let stats = self.stats.clone();
        let out = self.run(move |c| {
            let mut t = c.transaction().map_err(pg)?;
            let sequence = match &counter {
                Some(name) => Some(bump_counter(&mut t, name)?),
                None => None,
            };
            let tx = build(sequence.unwrap_or(0))?;
            crate::committer::validate(&tx)?;
            let versions = apply(&mut t, &tx, &rules)?;
            t.commit().map_err(pg)?;
            Ok(Committed { versions, sequence })
        });
        match &out {
            Ok(_) => stats.commits.fetch_add(1, Ordering::Relaxed),
            Err(StoreError::Conflict { .. } | StoreError::Fenced(_)) => {
                stats.conflicts.fetch_add(1, Ordering::Relaxed)
            }
            Err(_) => 0,
        };
        out
    }
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>, endpoint: Arc<Endpoint>) {
    URL.with(|u| *u.borrow_mut() = Some(endpoint));
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => {
                // Closed here, not by the thread-local's destructor: the
                // client's runtime cannot shut down once thread-locals are gone.
                drop(CLIENT.with(|c| c.borrow_mut().take()));
                return;
            }
        };
        // A panicking job (a caller's transaction builder) answers its caller
        // with a closed channel; the worker and its connection stay.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Creates the tables once per database (an advisory lock keeps nodes that
/// start together from racing on the catalog) and checks the format mark.
fn prepare(c: &mut Client) -> Result<(), StoreError> {
    const LOCK: i64 = 0x006b_6f6e_7461_6b74; // "kontakt"
    c.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).map_err(pg)?;
    let done = (|| {
        c.batch_execute(SCHEMA).map_err(pg)?;
        let format: Option<String> = c
            .query_opt("SELECT value FROM kontakt_meta WHERE name = 'format'", &[])
            .map_err(pg)?
            .map(|r| r.get(0));
        match format {
            Some(f) if f == FORMAT => Ok(()),
            Some(f) => Err(StoreError::Format(format!(
                "the database holds store format {f:?}; this build reads {FORMAT:?}"
            ))),
            None => {
                c.execute("INSERT INTO kontakt_meta (name, value) VALUES ('format', $1)", &[&FORMAT])
                    .map_err(pg)?;
                Ok(())
            }
        }
    })();
    c.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]).map_err(pg)?;
    done
}

fn load_rules<C: postgres::GenericClient>(c: &mut C) -> Result<Vec<CountedIndex>, StoreError> {
    let mut out = Vec::new();
    for row in c.query("SELECT name, parts FROM kontakt_counted ORDER BY name", &[]).map_err(pg)? {
        let (name, parts): (String, String) = (row.get(0), row.get(1));
        out.push(
            CountedIndex::decode(&name, parts.as_bytes())
                .ok_or_else(|| StoreError::Corrupt(format!("counted index {name}: parts {parts:?}")))?,
        );
    }
    Ok(out)
}

fn bump_counter(t: &mut postgres::Transaction<'_>, name: &str) -> Result<u64, StoreError> {
    let row = t
        .query_one(
            "INSERT INTO kontakt_counters (name, value) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET value = kontakt_counters.value + 1 RETURNING value",
            &[&name],
        )
        .map_err(pg)?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Applies `tx` inside `t`: the same rules as the sled committer's staging.
/// Each put is one round trip (`kontakt_put`, which checks the version and
/// writes the record, its index entries and events); the counts, the feed
/// row and the wake-up are one more.
fn apply(
    t: &mut postgres::Transaction<'_>,
    tx: &Transaction,
    rules: &[CountedIndex],
) -> Result<Vec<u64>, StoreError> {
    if let Some(fence) = &tx.fence {
        let held = t
            .query_opt(
                "SELECT 1 FROM kontakt_leases WHERE name = $1 AND holder = $2 AND token = $3 \
                 AND expires > clock_timestamp() FOR SHARE",
                &[&fence.lease, &fence.holder, &(fence.token as i64)],
            )
            .map_err(pg)?;
        if held.is_none() {
            return Err(StoreError::Fenced(format!(
                "lease {} is no longer {}'s with token {}",
                fence.lease, fence.holder, fence.token
            )));
        }
    }
    let mut deltas: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut count = |key: &[u8], by: i64| {
        if let Some(p) = counted::counted_prefix(rules, key) {
            *deltas.entry(p.to_vec()).or_default() += by;
        }
    };
    let mut versions = Vec::with_capacity(tx.puts.len());
    let (mut keys, mut firsts, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for put in &tx.puts {
        let key = put.key.as_bytes();
        if let Some(r) = tx.rewrites.iter().find(|r| r.key == put.key) {
            let held = t
                .query_opt("SELECT events FROM kontakt_records WHERE key = $1 FOR UPDATE", &[&key])
                .map_err(pg)?
                .map_or(0, |r| r.get::<_, i32>(0) as usize);
            if r.events.len() != held {
                return Err(StoreError::Invalid(format!(
                    "the log of {} holds {held} events, not {}",
                    put.key,
                    r.events.len()
                )));
            }
            let ns: Vec<i32> = (0..r.events.len() as i32).collect();
            t.execute(
                "UPDATE kontakt_events e SET body = v.body FROM unnest($2::integer[], $3::bytea[]) \
                 AS v(n, body) WHERE e.record = $1 AND e.n = v.n",
                &[&key, &ns, &r.events],
            )
            .map_err(pg)?;
        }
        let (expect, expected): (i16, i64) = match put.expect {
            Expect::Any => (0, 0),
            Expect::Absent => (1, 0),
            Expect::Version(v) => (2, v as i64),
        };
        let new_index: BTreeSet<&[u8]> = put.index.iter().map(Vec::as_slice).collect();
        let idx: Vec<&[u8]> = new_index.iter().copied().collect();
        let row = t
            .query_one(
                "SELECT version, first, old_idx FROM kontakt_put($1, $2, $3, $4, $5, $6)",
                &[&key, &expect, &expected, &put.body, &idx, &put.events],
            )
            .map_err(|e| {
                if e.code().is_some_and(|c| c.code() == "KC001") {
                    let found = e.as_db_error().and_then(|d| d.message().parse::<u64>().ok());
                    put.expect.refused(&put.key, found)
                } else {
                    match pg(e) {
                        StoreError::Conflict { .. } => put.expect.refused(&put.key, Some(0)),
                        other => other,
                    }
                }
            })?;
        let (version, first, old_idx): (i64, i32, Vec<Vec<u8>>) = (row.get(0), row.get(1), row.get(2));
        let old_index: BTreeSet<&[u8]> = old_idx.iter().map(Vec::as_slice).collect();
        if put.body.is_some() {
            old_index.difference(&new_index).for_each(|k| count(k, -1));
            new_index.difference(&old_index).for_each(|k| count(k, 1));
        } else {
            old_index.iter().for_each(|k| count(k, -1));
        }
        versions.push(version as u64);
        keys.push(key.to_vec());
        firsts.push(first);
        counts.push(if put.body.is_some() { put.events.len() as i32 } else { 0 });
    }
    let (prefixes, ns): (Vec<Vec<u8>>, Vec<i64>) = deltas.into_iter().filter(|(_, d)| *d != 0).unzip();
    if !keys.is_empty() {
        // The feed's row is taken last, so it is held only from here to the commit.
        t.query_one(
            "WITH c AS (INSERT INTO kontakt_counts (prefix, slot, n) \
               SELECT p, pg_backend_pid(), d FROM unnest($1::bytea[], $2::bigint[]) AS v(p, d) \
               ON CONFLICT (prefix, slot) DO UPDATE SET n = kontakt_counts.n + EXCLUDED.n), \
             s AS (UPDATE kontakt_counters SET value = value + 1 WHERE name = '#feed' RETURNING value), \
             f AS (INSERT INTO kontakt_feed (seq, keys, firsts, counts) SELECT value, $3, $4, $5 FROM s RETURNING seq) \
             SELECT pg_notify('kontakt_feed', ''), (SELECT seq FROM f)",
            &[&prefixes, &ns, &keys, &firsts, &counts],
        )
        .map_err(pg)?;
    }
    Ok(versions)
}

/// Listens for feed notifications on its own connection, reconnecting after
/// a failure; every notification or reconnection wakes the readers.
fn listen(config: postgres::Config, wake: Arc<Wake>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            continue;
        }
        // Anything committed while this connection was down is caught up by number.
        wake.bump();
        while !stop.load(Ordering::Relaxed) && !client.is_closed() {
            let mut notes = client.notifications();
            let got = notes.timeout_iter(Duration::from_millis(500)).next();
            match got {
                Ok(Some(_)) => {
                    // Drain what else arrived: one wake-up for all of them.
                    while let Ok(Some(_)) = notes.iter().next() {}
                    wake.bump();
                }
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        for w in self.workers.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = w.join();
        }
        if let Some(l) = self.listener.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = l.join();
        }
    }
}

fn stored(version: i64, body: Vec<u8>, events: i32) -> Stored {
    Stored { version: version as u64, body, events: events as u32 }
}

fn entries(rows: Vec<postgres::Row>) -> Vec<IndexEntry> {
    rows.into_iter().map(|r| IndexEntry { key: r.get(0), record: RecordKey::from_bytes(r.get(1)) }).collect()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The bounds of a collection's record keys: `collection\0` up to `collection\x01`.
fn collection_bounds(collection: &str) -> (Vec<u8>, Vec<u8>) {
    let lo = RecordKey::new(collection, &[]).as_bytes().to_vec();
    (lo.clone(), crate::prefix_end(&lo))
}

impl Store for PgStore {
    fn get(&self, key: &RecordKey) -> Result<Option<Stored>, StoreError> {
        let key = key.as_bytes().to_vec();
        self.run(move |c| {
            Ok(c.query_opt("SELECT version, body, events FROM kontakt_records WHERE key = $1", &[&key])
                .map_err(pg)?
                .map(|r| stored(r.get(0), r.get(1), r.get(2))))
        })
    }

    fn commit(&self, tx: Transaction) -> Result<Committed, StoreError> {
        crate::committer::validate(&tx)?;
        self.commit_with(None, Box::new(move |_| Ok(tx)))
    }

    fn commit_sequenced(&self, counter: &str, build: BuildFn) -> Result<Committed, StoreError> {
        self.commit_with(Some(counter.to_string()), build)
    }

    fn counter(&self, counter: &str) -> Result<u64, StoreError> {
        let name = counter.to_string();
        self.run(move |c| {
            Ok(c.query_opt("SELECT value FROM kontakt_counters WHERE name = $1", &[&name])
                .map_err(pg)?
                .map_or(0, |r| r.get::<_, i64>(0) as u64))
        })
    }

    fn events(&self, key: &RecordKey) -> Result<Vec<Vec<u8>>, StoreError> {
        let key = key.as_bytes().to_vec();
        self.run(move |c| {
            Ok(c.query("SELECT body FROM kontakt_events WHERE record = $1 ORDER BY n", &[&key])
                .map_err(pg)?
                .into_iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn scan_range(&self, from: &[u8], to: &[u8], n: usize) -> Result<Vec<IndexEntry>, StoreError> {
        let (from, to) = (from.to_vec(), to.to_vec());
        self.run(move |c| {
            c.query(
                "SELECT key, record FROM kontakt_index WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                &[&from, &to, &limit(n)],
            )
            .map(entries)
            .map_err(pg)
        })
    }

    fn scan_range_rev(&self, from: &[u8], to: &[u8], n: usize) -> Result<Vec<IndexEntry>, StoreError> {
        let (from, to) = (from.to_vec(), to.to_vec());
        self.run(move |c| {
            c.query(
                "SELECT key, record FROM kontakt_index WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3",
                &[&from, &to, &limit(n)],
            )
            .map(entries)
            .map_err(pg)
        })
    }

    fn scan_collection(
        &self,
        collection: &str,
        after: Option<&[u8]>,
        n: usize,
    ) -> Result<Vec<(RecordKey, Stored)>, StoreError> {
        let (lo, hi) = collection_bounds(collection);
        let after = after.map(|id| RecordKey::new(collection, id).as_bytes().to_vec());
        self.run(move |c| {
            let rows = match &after {
                Some(a) => c.query(
                    "SELECT key, version, body, events FROM kontakt_records \
                     WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3",
                    &[a, &hi, &limit(n)],
                ),
                None => c.query(
                    "SELECT key, version, body, events FROM kontakt_records \
                     WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                    &[&lo, &hi, &limit(n)],
                ),
            }
            .map_err(pg)?;
            Ok(rows
                .into_iter()
                .map(|r| (RecordKey::from_bytes(r.get(0)), stored(r.get(1), r.get(2), r.get(3))))
                .collect())
        })
    }

    fn scan_ids_rev(
        &self,
        collection: &str,
        from: &[u8],
        to: &[u8],
        n: usize,
    ) -> Result<Vec<RecordKey>, StoreError> {
        let lo = RecordKey::new(collection, from).as_bytes().to_vec();
        let hi = RecordKey::new(collection, to).as_bytes().to_vec();
        self.run(move |c| {
            Ok(c.query(
                "SELECT key FROM kontakt_records WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3",
                &[&lo, &hi, &limit(n)],
            )
            .map_err(pg)?
            .into_iter()
            .map(|r| RecordKey::from_bytes(r.get(0)))
            .collect())
        })
    }

    fn count_indexes(&self, indexes: Vec<CountedIndex>) -> Result<(), StoreError> {
        let rules = self.run(move |c| {
            let mut t = c.transaction().map_err(pg)?;
            // Writers wait while an index new to the store is counted as it stands.
            t.batch_execute("LOCK TABLE kontakt_counted IN EXCLUSIVE MODE").map_err(pg)?;
            let known = load_rules(&mut t)?;
            let fresh: Vec<&CountedIndex> =
                indexes.iter().filter(|i| !known.iter().any(|k| k == *i)).collect();
            if !fresh.is_empty() {
                t.batch_execute("LOCK TABLE kontakt_index IN SHARE MODE").map_err(pg)?;
                for index in fresh {
                    let name = name_part(index);
                    t.execute(
                        "DELETE FROM kontakt_counts WHERE prefix >= $1 AND prefix < $2",
                        &[&name, &crate::prefix_end(&name)],
                    )
                    .map_err(pg)?;
                    let (prefixes, ns): (Vec<Vec<u8>>, Vec<i64>) =
                        recount(&mut t, index)?.into_iter().map(|(p, n)| (p, n as i64)).unzip();
                    t.execute(
                        "INSERT INTO kontakt_counts (prefix, slot, n) SELECT p, 0, n FROM unnest($1::bytea[], $2::bigint[]) AS v(p, n)",
                        &[&prefixes, &ns],
                    )
                    .map_err(pg)?;
                    let parts = String::from_utf8_lossy(&index.encode()).into_owned();
                    t.execute(
                        "INSERT INTO kontakt_counted (name, parts) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET parts = EXCLUDED.parts",
                        &[&index.name, &parts],
                    )
                    .map_err(pg)?;
                }
            }
            let rules = load_rules(&mut t)?;
            t.commit().map_err(pg)?;
            Ok(rules)
        })?;
        *self.counted.write().unwrap_or_else(|e| e.into_inner()) = rules;
        Ok(())
    }

    fn index_count(&self, prefix: &[u8]) -> Result<Option<u64>, StoreError> {
        let rules = self.counted.read().unwrap_or_else(|e| e.into_inner());
        if !counted::is_counted_prefix(&rules, prefix) {
            return Ok(None);
        }
        drop(rules);
        let prefix = prefix.to_vec();
        self.run(move |c| {
            let n: i64 = c
                .query_one(
                    "SELECT COALESCE(SUM(n), 0)::bigint FROM kontakt_counts WHERE prefix = $1",
                    &[&prefix],
                )
                .map_err(pg)?
                .get(0);
            Ok(Some(n.max(0) as u64))
        })
    }

    fn quiesce(&self, f: Box<dyn FnOnce() + Send>) -> Result<(), StoreError> {
        if is_worker() {
            f();
            return Ok(());
        }
        // One snapshot for every read `f` makes: `f` runs on the worker that
        // opened it, whose reads run inline on its connection. It sees no
        // change half-way, and writers need not wait.
        let (reply, answer) = sync_channel(1);
        self.submit(Box::new(move || {
            let out = with_client(|c| {
                c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").map_err(pg)
            })
            .map(|()| {
                f();
                let _ = with_client(|c| c.batch_execute("COMMIT").map_err(pg));
            });
            let _ = reply.send(out);
        }))?;
        answer.recv().map_err(|_| engine("the store is closed"))?
    }

    fn check(&self) -> Result<CheckReport, StoreError> {
        let rules = self.counted.read().unwrap_or_else(|e| e.into_inner()).clone();
        if is_worker() {
            // Inside `quiesce`: its snapshot is already open on this connection.
            return with_client(|c| check(c, &rules));
        }
        self.run(move |c| {
            let mut t = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(pg)?;
            let out = check(&mut t, &rules);
            t.commit().map_err(pg)?;
            out
        })
    }

    fn feed(&self, after: u64, n: usize) -> Result<Option<Vec<Change>>, StoreError> {
        self.run(move |c| {
            let rows = c
                .query(
                    "SELECT seq, keys, firsts, counts FROM kontakt_feed WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(after as i64), &limit(n)],
                )
                .map_err(pg)?;
            let mut out = Vec::new();
            for r in rows {
                let seq = r.get::<_, i64>(0) as u64;
                let keys: Vec<Vec<u8>> = r.get(1);
                let firsts: Vec<i32> = r.get(2);
                let counts: Vec<i32> = r.get(3);
                for ((k, f), n) in keys.into_iter().zip(firsts).zip(counts) {
                    out.push(Change {
                        seq,
                        record: RecordKey::from_bytes(k),
                        first_event: f as u32,
                        events: n as u32,
                    });
                }
            }
            Ok(Some(out))
        })
    }

    fn feed_head(&self) -> Result<u64, StoreError> {
        self.counter(FEED)
    }

    fn feed_prune(&self, keep: u64) -> Result<u64, StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.run(move |c| {
            c.execute(
                "DELETE FROM kontakt_feed WHERE seq <= (SELECT value FROM kontakt_counters WHERE name = '#feed') - $1",
                &[&keep],
            )
            .map_err(pg)
        })
    }

    fn feed_wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = self.wake.generation.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) =
            self.wake.moved.wait_timeout_while(g, timeout, |g| *g == seen).unwrap_or_else(|e| e.into_inner());
        *g
    }

    fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<Fence>, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let secs = ttl.as_secs_f64();
        self.run(move |c| {
            let row = c
                .query_opt(
                    "INSERT INTO kontakt_leases AS l (name, holder, token, expires) \
                     VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 second') \
                     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires, \
                       token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires > clock_timestamp() \
                                    THEN l.token ELSE l.token + 1 END \
                     WHERE l.holder = EXCLUDED.holder OR l.expires <= clock_timestamp() \
                     RETURNING token",
                    &[&name, &holder, &secs],
                )
                .map_err(pg)?;
            Ok(row.map(|r| Fence { lease: name, holder, token: r.get::<_, i64>(0) as u64 }))
        })
    }

    fn release(&self, fence: &Fence) -> Result<(), StoreError> {
        let f = fence.clone();
        self.run(move |c| {
            c.execute(
                "UPDATE kontakt_leases SET expires = clock_timestamp() WHERE name = $1 AND holder = $2 AND token = $3",
                &[&f.lease, &f.holder, &(f.token as i64)],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn write_backlog(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| c.simple_query("SELECT 1").map(|_| ()).map_err(pg))
    }

    fn leases(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.run(|c| {
            Ok(c.query(
                "SELECT name, holder, token FROM kontakt_leases WHERE expires > clock_timestamp() ORDER BY name",
                &[],
            )
            .map_err(pg)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u64))
            .collect())
        })
    }
}

fn name_part(index: &CountedIndex) -> Vec<u8> {
    let mut p = index.name.as_bytes().to_vec();
    p.push(0);
    p
}

/// Counts the entries of `index` per prefix as they stand.
fn recount<C: postgres::GenericClient>(
    t: &mut C,
    index: &CountedIndex,
) -> Result<HashMap<Vec<u8>, u64>, StoreError> {
    let name = name_part(index);
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let rows = t
        .query(
            "SELECT key FROM kontakt_index WHERE key >= $1 AND key < $2",
            &[&name, &crate::prefix_end(&name)],
        )
        .map_err(pg)?;
    for r in rows {
        let k: Vec<u8> = r.get(0);
        if let Some(n) = index.prefix_of(&k) {
            *counts.entry(k[..n].to_vec()).or_default() += 1;
        }
    }
    Ok(counts)
}

fn check<C: postgres::GenericClient>(t: &mut C, rules: &[CountedIndex]) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    let one = |t: &mut C, sql: &str| -> Result<u64, StoreError> {
        Ok(t.query_one(sql, &[]).map_err(pg)?.get::<_, i64>(0) as u64)
    };
    report.records = one(t, "SELECT count(*) FROM kontakt_records")?;
    report.index_entries = one(t, "SELECT count(*) FROM kontakt_index")?;
    report.events = one(t, "SELECT count(*) FROM kontakt_events")?;
    let show = |k: Vec<u8>| RecordKey::from_bytes(k).to_string();
    for r in t
        .query(
            "SELECT r.key, k, i.record FROM kontakt_records r CROSS JOIN LATERAL unnest(r.idx) k \
             LEFT JOIN kontakt_index i ON i.key = k WHERE i.record IS DISTINCT FROM r.key LIMIT 10000",
            &[],
        )
        .map_err(pg)?
    {
        let ik: Vec<u8> = r.get(1);
        report.problems.push(match r.get::<_, Option<Vec<u8>>>(2) {
            Some(other) => format!("record {}: index entry {ik:?} points at {}", show(r.get(0)), show(other)),
            None => format!("record {}: index entry {ik:?} is missing", show(r.get(0))),
        });
    }
    for r in t
        .query(
            "SELECT i.key, i.record, r.key IS NULL FROM kontakt_index i LEFT JOIN kontakt_records r \
             ON r.key = i.record WHERE r.key IS NULL OR NOT (i.key = ANY(r.idx)) LIMIT 10000",
            &[],
        )
        .map_err(pg)?
    {
        let (ik, target, missing): (Vec<u8>, Vec<u8>, bool) = (r.get(0), r.get(1), r.get(2));
        report.problems.push(if missing {
            format!("index entry {ik:?} points at missing record {}", show(target))
        } else {
            format!("index entry {ik:?} is not owned by record {}", show(target))
        });
    }
    for r in t
        .query(
            "SELECT COALESCE(r.key, e.record), r.events, e.n, e.top FROM kontakt_records r FULL JOIN \
             (SELECT record, count(*)::integer AS n, max(n) AS top FROM kontakt_events GROUP BY record) e \
             ON e.record = r.key WHERE COALESCE(r.events, -1) <> COALESCE(e.n, 0) \
             OR (e.n IS NOT NULL AND e.top <> e.n - 1) LIMIT 10000",
            &[],
        )
        .map_err(pg)?
    {
        let key = show(r.get(0));
        let (expected, n): (Option<i32>, Option<i32>) = (r.get(1), r.get(2));
        report.problems.push(match expected {
            None => format!("events of missing record {key}"),
            Some(e) => format!("record {key}: {} events stored, envelope says {e}", n.unwrap_or(0)),
        });
    }
    for index in rules {
        let actual = recount(t, index)?;
        let name = name_part(index);
        let mut stored: HashMap<Vec<u8>, u64> = HashMap::new();
        for r in t
            .query(
                "SELECT prefix, SUM(n)::bigint FROM kontakt_counts WHERE prefix >= $1 AND prefix < $2 GROUP BY prefix",
                &[&name, &crate::prefix_end(&name)],
            )
            .map_err(pg)?
        {
            stored.insert(r.get(0), r.get::<_, i64>(1).max(0) as u64);
        }
        for (prefix, n) in &actual {
            let s = stored.get(prefix).copied().unwrap_or(0);
            if s != *n {
                report.problems.push(format!("count of index prefix {prefix:?}: {s} stored, {n} entries"));
            }
        }
        for (prefix, s) in &stored {
            if !actual.contains_key(prefix) && *s != 0 {
                report.problems.push(format!("count of index prefix {prefix:?}: {s} stored, no entries"));
            }
        }
    }
    let (rows, head) = {
        let r = t.query_one("SELECT count(*), COALESCE(max(seq), 0) FROM kontakt_feed", &[]).map_err(pg)?;
        (r.get::<_, i64>(0), r.get::<_, i64>(1))
    };
    let counter = one(t, "SELECT value FROM kontakt_counters WHERE name = '#feed'")? as i64;
    let low =
        t.query_one("SELECT COALESCE(min(seq), 1) FROM kontakt_feed", &[]).map_err(pg)?.get::<_, i64>(0);
    if head != counter || (rows > 0 && rows != head - low + 1) {
        report.problems.push(format!(
            "the change feed holds {rows} rows from {low} to {head}, its counter says {counter}"
        ));
    }
    Ok(report)
}

impl PgStore {
    /// Copies a sled store into this database, which must hold no records:
    /// records with their versions, index entries and events, the counters,
    /// and the counted indexes (recounted here). `progress(done, total)` hears
    /// after every batch. Returns the records copied.
    pub fn copy_from(
        &self,
        from: &crate::SledStore,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, StoreError> {
        let present = self.run(|c| {
            Ok(c.query_one("SELECT count(*) FROM kontakt_records", &[]).map_err(pg)?.get::<_, i64>(0))
        })?;
        if present > 0 {
            return Err(StoreError::Format(format!(
                "the database already holds {present} records; copy into an empty one"
            )));
        }
        let total = from.record_count()?;
        let mut done = 0u64;
        let mut batch: Vec<crate::sled_store::Exported> = Vec::new();
        let (counters, counted) = from.export(&mut |record| {
            batch.push(record);
            if batch.len() >= 500 {
                done += self.import(std::mem::take(&mut batch))?;
                progress(done, total);
            }
            Ok(())
        })?;
        done += self.import(batch)?;
        progress(done, total);
        self.run(move |c| {
            for (name, value) in &counters {
                c.execute(
                    "INSERT INTO kontakt_counters (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = GREATEST(kontakt_counters.value, EXCLUDED.value)",
                    &[name, &(*value as i64)],
                )
                .map_err(pg)?;
            }
            Ok(())
        })?;
        self.count_indexes(counted)?;
        Ok(done)
    }

    fn import(&self, records: Vec<crate::sled_store::Exported>) -> Result<u64, StoreError> {
        let n = records.len() as u64;
        self.run(move |c| {
            let mut t = c.transaction().map_err(pg)?;
            for r in &records {
                let key = r.key.as_bytes();
                t.execute(
                    "INSERT INTO kontakt_records (key, version, events, idx, body) VALUES ($1, $2, $3, $4, $5)",
                    &[&key, &(r.version as i64), &(r.events.len() as i32), &r.index, &r.body],
                )
                .map_err(pg)?;
                if !r.index.is_empty() {
                    t.execute(
                        "INSERT INTO kontakt_index (key, record) SELECT k, $2 FROM unnest($1::bytea[]) k",
                        &[&r.index, &key],
                    )
                    .map_err(pg)?;
                }
                if !r.events.is_empty() {
                    let ns: Vec<i32> = (0..r.events.len() as i32).collect();
                    t.execute(
                        "INSERT INTO kontakt_events (record, n, body) \
                         SELECT $1, v.n, v.body FROM unnest($2::integer[], $3::bytea[]) AS v(n, body)",
                        &[&key, &ns, &r.events],
                    )
                    .map_err(pg)?;
                }
            }
            t.commit().map_err(pg)?;
            Ok(n)
        })
    }
}
