//! The `Store` contract, one set of cases run against every engine: sled in a
//! temporary directory, and PostgreSQL on a private server this test starts
//! (a fresh database per case). Versions, conflicts, atomicity, ordered scans
//! both ways, gap-free counters under concurrency, counted indexes, rewrites,
//! the check, and durability across a reopen.

use std::sync::Arc;

use kontakt_storage::pg_server::PgServer;
use kontakt_storage::{
    Committed, CountedIndex, Expect, KeyBuilder, Part, PgStore, Put, RecordKey, Rewrite, SledStore, Store,
    StoreError, Transaction, prefix_end,
};

/// Opens the case's store; every call opens the same data afresh (the
/// previous handle must be dropped first).
type Open<'a> = &'a dyn Fn() -> Arc<dyn Store>;

mod common;
use common::{index_of, put};

fn clean(store: &dyn Store) {
    let report = store.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

fn everything_committed_is_there_after_reopen(open: Open) {
    let a = RecordKey::new("req", b"a");
    {
        let store = open();
        store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["open"], &["e1"]))).unwrap();
        store.commit(Transaction::single(put(&a, Expect::Version(1), "two", &["done"], &["e2"]))).unwrap();
    }
    let store = open();
    let got = store.get(&a).unwrap().unwrap();
    assert_eq!((got.version, got.body.as_slice(), got.events), (2, b"two".as_slice(), 2));
    assert_eq!(store.events(&a).unwrap(), vec![b"e1".to_vec(), b"e2".to_vec()]);
    assert!(index_of(&*store, "open").is_empty(), "stale index entry removed");
    assert_eq!(index_of(&*store, "done"), vec![a]);
    clean(&*store);
}

fn a_stale_version_conflicts_and_writes_nothing(open: Open) {
    let store = open();
    let a = RecordKey::new("req", b"a");
    let b = RecordKey::new("req", b"b");
    store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["x"], &["e1"]))).unwrap();
    let tx = Transaction::of(vec![
        put(&b, Expect::Absent, "b", &["y"], &["b1"]),
        put(&a, Expect::Version(7), "stale", &["z"], &["e2"]),
    ]);
    assert!(matches!(store.commit(tx), Err(StoreError::Conflict { .. })));
    assert!(store.get(&b).unwrap().is_none(), "the other put of the transaction is not applied");
    assert!(store.events(&b).unwrap().is_empty());
    assert_eq!(store.get(&a).unwrap().unwrap().body, b"one");
    assert!(index_of(&*store, "y").is_empty());
    // Creating what exists conflicts too.
    let again = Transaction::single(put(&a, Expect::Absent, "again", &[], &[]));
    assert!(matches!(store.commit(again), Err(StoreError::Conflict { .. })));
    clean(&*store);
    let dup = Transaction::of(vec![put(&b, Expect::Any, "1", &[], &[]), put(&b, Expect::Any, "2", &[], &[])]);
    assert!(matches!(store.commit(dup), Err(StoreError::Invalid(_))));
}

fn delete_removes_the_record_its_index_and_its_events(open: Open) {
    let store = open();
    let a = RecordKey::new("org", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["k"], &["e1", "e2"]))).unwrap();
    let delete =
        Put { key: a.clone(), expect: Expect::Version(1), body: None, index: vec![], events: vec![] };
    assert_eq!(store.commit(Transaction::single(delete)).unwrap().versions, vec![0]);
    assert!(store.get(&a).unwrap().is_none());
    assert!(store.events(&a).unwrap().is_empty());
    assert!(index_of(&*store, "k").is_empty());
    clean(&*store);
}

fn concurrent_sequenced_commits_get_unique_gap_free_values(open: Open) {
    let store = open();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..20 {
                    // Every third build fails: a failed build must not consume a number.
                    let fail = (t + i) % 3 == 0;
                    let r = store.commit_sequenced(
                        "n",
                        Box::new(move |n| {
                            if fail {
                                return Err(StoreError::Aborted("no".into()));
                            }
                            let key = RecordKey::new("req", &n.to_be_bytes());
                            Ok(Transaction::single(put(&key, Expect::Absent, &n.to_string(), &[], &["r"])))
                        }),
                    );
                    match r {
                        Ok(c) => got.push(c.sequence.unwrap()),
                        Err(e) => assert!(fail, "{e}"),
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort();
    let n = all.len() as u64;
    assert_eq!(all, (1..=n).collect::<Vec<_>>());
    assert_eq!(store.counter("n").unwrap(), n);
    assert_eq!(store.counter("never").unwrap(), 0);
    assert_eq!(store.scan_collection("req", None, 10_000).unwrap().len() as u64, n);
    clean(&*store);
}

fn a_sequenced_commit_refused_by_a_conflict_gives_its_number_back(open: Open) {
    let store = open();
    let a = RecordKey::new("req", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "x", &[], &[]))).unwrap();
    let refused = store.commit_sequenced(
        "n",
        Box::new({
            let a = a.clone();
            move |_| Ok(Transaction::single(put(&a, Expect::Absent, "y", &[], &[])))
        }),
    );
    assert!(matches!(refused, Err(StoreError::Conflict { .. })));
    assert_eq!(store.counter("n").unwrap(), 0);
    let ok = store
        .commit_sequenced(
            "n",
            Box::new(|n| {
                Ok(Transaction::single(put(
                    &RecordKey::new("req", &[n as u8]),
                    Expect::Absent,
                    "z",
                    &[],
                    &[],
                )))
            }),
        )
        .unwrap();
    assert_eq!(ok.sequence, Some(1));
}

fn collections_page_in_id_order_and_ids_scan_backwards(open: Open) {
    let store = open();
    for id in ["c", "a", "b", "d"] {
        store
            .commit(Transaction::single(put(
                &RecordKey::new("org", id.as_bytes()),
                Expect::Absent,
                id,
                &[],
                &[],
            )))
            .unwrap();
    }
    store
        .commit(Transaction::single(put(&RecordKey::new("orgx", b"z"), Expect::Absent, "z", &[], &[])))
        .unwrap();
    let ids =
        |v: Vec<RecordKey>| v.iter().map(|k| String::from_utf8(k.id().to_vec()).unwrap()).collect::<Vec<_>>();
    let page = store.scan_collection("org", None, 2).unwrap();
    assert_eq!(ids(page.iter().map(|(k, _)| k.clone()).collect()), ["a", "b"]);
    assert_eq!(page[0].1.body, b"a");
    let rest = store.scan_collection("org", Some(b"b"), 10).unwrap();
    assert_eq!(ids(rest.into_iter().map(|(k, _)| k).collect()), ["c", "d"]);
    assert_eq!(ids(store.scan_ids_rev("org", b"b", b"d", 10).unwrap()), ["c", "b"]);
    assert_eq!(ids(store.scan_ids_rev("org", b"", b"\xff", 3).unwrap()), ["d", "c", "b"]);
}

fn index_ranges_scan_in_byte_order_both_ways(open: Open) {
    let store = open();
    // Numbers whose byte order differs from their text order, and bytes above 0x7f.
    let values: [u64; 6] = [300, 2, 255, 256, 1 << 40, 0];
    let puts: Vec<Put> = values
        .iter()
        .map(|v| Put {
            key: RecordKey::new("n", &v.to_be_bytes()),
            expect: Expect::Absent,
            body: Some(vec![]),
            index: vec![KeyBuilder::index("num").u64(*v).build()],
            events: vec![],
        })
        .collect();
    store.commit(Transaction::of(puts)).unwrap();
    let lo = KeyBuilder::index("num").build();
    let hi = prefix_end(&lo);
    let up: Vec<u64> = store
        .scan_range(&lo, &hi, 100)
        .unwrap()
        .into_iter()
        .map(|e| u64::from_be_bytes(e.record.id().try_into().unwrap()))
        .collect();
    assert_eq!(up, [0, 2, 255, 256, 300, 1 << 40]);
    let down: Vec<u64> = store
        .scan_range_rev(&lo, &hi, 4)
        .unwrap()
        .into_iter()
        .map(|e| u64::from_be_bytes(e.record.id().try_into().unwrap()))
        .collect();
    assert_eq!(down, [1 << 40, 300, 256, 255]);
    let from = KeyBuilder::index("num").u64(255).build();
    let to = KeyBuilder::index("num").u64(300).build();
    assert_eq!(store.scan_range(&from, &to, 100).unwrap().len(), 2, "[from, to)");
    assert_eq!(store.scan_range(&lo, &hi, 100).unwrap()[0].key, KeyBuilder::index("num").u64(0).build());
}

fn writers_racing_on_one_version_see_exactly_one_win(open: Open) {
    let store = open();
    let a = RecordKey::new("req", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "v1", &["x"], &["e1"]))).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            std::thread::spawn(move || {
                store.commit(Transaction::single(put(
                    &a,
                    Expect::Version(1),
                    &format!("by {i}"),
                    &["y"],
                    &["e2"],
                )))
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict { .. }))));
    let got = store.get(&a).unwrap().unwrap();
    assert_eq!((got.version, got.events), (2, 2));
    clean(&*store);
}

/// Eight writers putting `key` at once with `expect`; their outcomes.
fn race(store: &Arc<dyn Store>, key: &RecordKey, expect: Expect) -> Vec<Result<Committed, StoreError>> {
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || {
                store.commit(Transaction::single(put(&key, expect, &format!("by {i}"), &["y"], &["e"])))
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn creators_racing_on_one_new_record_see_exactly_one_win(open: Open) {
    let store = open();
    let results = race(&store, &RecordKey::new("req", b"new"), Expect::Absent);
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict { .. }))),
        "{results:?}"
    );
    assert_eq!(store.get(&RecordKey::new("req", b"new")).unwrap().unwrap().events, 1);
    clean(&*store);
}

fn writers_without_a_precondition_racing_on_one_new_record_all_land(open: Open) {
    let store = open();
    let results = race(&store, &RecordKey::new("marker", b"new"), Expect::Any);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got = store.get(&RecordKey::new("marker", b"new")).unwrap().unwrap();
    assert_eq!((got.version, got.events), (8, 8));
    clean(&*store);
}

fn a_rewritten_log_keeps_its_length_and_takes_the_appended_events_after_it(open: Open) {
    let a = RecordKey::new("req", b"a");
    {
        let store = open();
        store
            .commit(Transaction::single(put(&a, Expect::Absent, "one", &["x"], &["name=Ivanova", "e2"])))
            .unwrap();
        store.commit(Transaction::single(put(&a, Expect::Version(1), "two", &["x"], &["e3"]))).unwrap();
        let rewrite = |events: &[&str]| Rewrite {
            key: a.clone(),
            events: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
        };
        for tx in [
            Transaction {
                puts: vec![put(&a, Expect::Version(2), "three", &["x"], &["erased"])],
                rewrites: vec![rewrite(&["name=", "e2"])],
                fence: None,
            },
            Transaction { puts: vec![], rewrites: vec![rewrite(&["name=", "e2", "e3"])], fence: None },
        ] {
            assert!(matches!(store.commit(tx), Err(StoreError::Invalid(_))));
        }
        assert_eq!(store.get(&a).unwrap().unwrap().version, 2);
        store
            .commit(Transaction {
                puts: vec![put(&a, Expect::Version(2), "three", &["x"], &["erased"])],
                rewrites: vec![rewrite(&["name=", "e2", "e3"])],
                fence: None,
            })
            .unwrap();
    }
    let store = open();
    let events: Vec<String> =
        store.events(&a).unwrap().into_iter().map(|e| String::from_utf8(e).unwrap()).collect();
    assert_eq!(events, ["name=", "e2", "e3", "erased"]);
    assert_eq!(store.get(&a).unwrap().unwrap().events, 4);
    clean(&*store);
}

fn counted_indexes_keep_their_counts_in_the_same_write(open: Open) {
    fn put(id: u8, status: Option<u8>, expect: Expect) -> Put {
        Put {
            key: RecordKey::new("r", &[id]),
            expect,
            body: status.map(|_| b"x".to_vec()),
            index: status
                .map(|s| vec![KeyBuilder::index("st").u8(s).bytes(&[id]).build()])
                .unwrap_or_default(),
            events: vec![],
        }
    }
    let prefix = |s: u8| KeyBuilder::index("st").u8(s).build();
    {
        let store = open();
        store.commit(Transaction::single(put(1, Some(1), Expect::Absent))).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), None, "not declared yet");
        store.count_indexes(vec![CountedIndex { name: "st".into(), parts: vec![Part::Byte] }]).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(1), "counted as it stood");
        store.count_indexes(vec![CountedIndex { name: "st".into(), parts: vec![Part::Byte] }]).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(1), "declaring again changes nothing");
        store
            .commit(Transaction::of(vec![put(2, Some(1), Expect::Absent), put(3, Some(2), Expect::Absent)]))
            .unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(2));
        store.commit(Transaction::single(put(1, Some(2), Expect::Version(1)))).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(1));
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(2));
        assert!(store.commit(Transaction::single(put(3, Some(1), Expect::Version(9)))).is_err());
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(2), "a refused write changes no count");
        store.commit(Transaction::single(put(3, None, Expect::Any))).unwrap();
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(1));
        assert_eq!(store.index_count(b"st").unwrap(), None, "not a whole counted prefix");
    }
    let store = open();
    store.commit(Transaction::single(put(4, Some(1), Expect::Absent))).unwrap();
    assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(2), "kept by every handle that opens the store");
    // Many writers at once keep an exact count.
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    let id = 10 + t * 10 + i;
                    store.commit(Transaction::single(put(id, Some(3), Expect::Absent))).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(store.index_count(&prefix(3)).unwrap(), Some(40));
    clean(&*store);
}

fn a_quiesced_reader_sees_the_store_whole(open: Open) {
    let store = open();
    let a = RecordKey::new("req", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "x", &["k"], &["e"]))).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let inner = store.clone();
    store
        .quiesce(Box::new(move || {
            let got = inner.get(&RecordKey::new("req", b"a")).unwrap().map(|s| s.version);
            let _ = tx.send((got, inner.check().map(|r| r.is_clean()).unwrap_or(false)));
        }))
        .unwrap();
    assert_eq!(rx.recv().unwrap(), (Some(1), true));
}

type Case = (&'static str, fn(Open));

const CASES: &[Case] = &[
    ("everything_committed_is_there_after_reopen", everything_committed_is_there_after_reopen),
    ("a_stale_version_conflicts_and_writes_nothing", a_stale_version_conflicts_and_writes_nothing),
    (
        "delete_removes_the_record_its_index_and_its_events",
        delete_removes_the_record_its_index_and_its_events,
    ),
    (
        "concurrent_sequenced_commits_get_unique_gap_free_values",
        concurrent_sequenced_commits_get_unique_gap_free_values,
    ),
    (
        "a_sequenced_commit_refused_by_a_conflict_gives_its_number_back",
        a_sequenced_commit_refused_by_a_conflict_gives_its_number_back,
    ),
    (
        "collections_page_in_id_order_and_ids_scan_backwards",
        collections_page_in_id_order_and_ids_scan_backwards,
    ),
    ("index_ranges_scan_in_byte_order_both_ways", index_ranges_scan_in_byte_order_both_ways),
    ("writers_racing_on_one_version_see_exactly_one_win", writers_racing_on_one_version_see_exactly_one_win),
    (
        "creators_racing_on_one_new_record_see_exactly_one_win",
        creators_racing_on_one_new_record_see_exactly_one_win,
    ),
    (
        "writers_without_a_precondition_racing_on_one_new_record_all_land",
        writers_without_a_precondition_racing_on_one_new_record_all_land,
    ),
    (
        "a_rewritten_log_keeps_its_length_and_takes_the_appended_events_after_it",
        a_rewritten_log_keeps_its_length_and_takes_the_appended_events_after_it,
    ),
    (
        "counted_indexes_keep_their_counts_in_the_same_write",
        counted_indexes_keep_their_counts_in_the_same_write,
    ),
    ("a_quiesced_reader_sees_the_store_whole", a_quiesced_reader_sees_the_store_whole),
];

/// Every case on a fresh sled store, with plain or compressed pages.
fn on_sled(compress_pages: bool) {
    for (name, case) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        eprintln!("sled (compressed pages: {compress_pages}): {name}");
        case(&move || {
            Arc::new(SledStore::open_with(&path, 16 << 20, compress_pages).unwrap()) as Arc<dyn Store>
        });
    }
}

#[test]
fn the_sled_engine_keeps_the_contract() {
    on_sled(false);
}

#[test]
fn the_sled_engine_with_compressed_pages_keeps_the_contract() {
    on_sled(true);
}

#[test]
fn the_postgres_engine_keeps_the_contract() {
    let server = PgServer::start(false).expect("a private PostgreSQL server starts");
    for (i, (name, case)) in CASES.iter().enumerate() {
        let url = server.create_database(&format!("case{i}")).unwrap();
        eprintln!("postgres: {name}");
        case(&move || Arc::new(PgStore::open(&url, 4).unwrap()) as Arc<dyn Store>);
    }
}

/// PostgreSQL-only parts of the contract that several nodes rely on: the
/// change feed numbers every committed transaction in commit order without
/// gaps, and a lease's fencing token refuses a write from a node that lost it.
#[test]
fn postgres_feeds_changes_in_order_and_fences_lost_leases() {
    let server = PgServer::start(false).expect("a private PostgreSQL server starts");
    let url = server.create_database("feed").unwrap();
    let a = Arc::new(PgStore::open(&url, 4).unwrap());
    let b = Arc::new(PgStore::open(&url, 4).unwrap());
    let head = a.feed_head().unwrap();
    // Two "nodes" write concurrently; each sees the other's changes in one order.
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            std::thread::spawn(move || {
                for i in 0..50u8 {
                    let key = RecordKey::new("req", &[n as u8, i]);
                    s.commit(Transaction::single(put(&key, Expect::Absent, "x", &[], &["e1", "e2"])))
                        .unwrap();
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    let seen_a = a.feed(head, 1000).unwrap().unwrap();
    let seen_b = b.feed(head, 1000).unwrap().unwrap();
    assert_eq!(seen_a, seen_b);
    assert_eq!(seen_a.len(), 100);
    let seqs: Vec<u64> = seen_a.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (head + 1..=head + 100).collect::<Vec<_>>(), "gap-free, ascending");
    assert!(seen_a.iter().all(|c| c.first_event == 0 && c.events == 2));
    assert_eq!(a.feed_head().unwrap(), head + 100);
    // A wake-up arrives for a commit made elsewhere.
    let generation = a.feed_wait(u64::MAX, std::time::Duration::from_millis(0));
    let waiter = {
        let a = a.clone();
        std::thread::spawn(move || a.feed_wait(generation, std::time::Duration::from_secs(5)) != generation)
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    b.commit(Transaction::single(put(&RecordKey::new("req", b"late"), Expect::Absent, "x", &[], &["e"])))
        .unwrap();
    assert!(waiter.join().unwrap(), "NOTIFY woke the other node");

    // Leases: one holder at a time; a lapsed lease taken over fences the old holder.
    let ttl = std::time::Duration::from_millis(300);
    let first = a.lease("sweep", "node-a", ttl).unwrap().expect("free lease");
    assert!(b.lease("sweep", "node-b", ttl).unwrap().is_none(), "held by a");
    assert_eq!(
        a.lease("sweep", "node-a", ttl).unwrap().unwrap().token,
        first.token,
        "renewal keeps the token"
    );
    let fenced = |f: &kontakt_storage::Fence, id: &[u8]| {
        let mut tx = Transaction::single(put(&RecordKey::new("step", id), Expect::Absent, "x", &[], &[]));
        tx.fence = Some(f.clone());
        tx
    };
    a.commit(fenced(&first, b"1")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let second = b.lease("sweep", "node-b", ttl).unwrap().expect("lapsed lease taken over");
    assert!(second.token > first.token);
    assert!(matches!(a.commit(fenced(&first, b"2")), Err(StoreError::Fenced(_))), "stale holder refused");
    assert!(a.get(&RecordKey::new("step", b"2")).unwrap().is_none());
    b.commit(fenced(&second, b"3")).unwrap();
    b.release(&second).unwrap();
    assert!(a.lease("sweep", "node-a", ttl).unwrap().is_some(), "released early");
    // Pruning keeps the newest entries, still numbered without a gap.
    let head = a.feed_head().unwrap();
    assert_eq!(a.feed_prune(10).unwrap(), head - 10);
    let kept = a.feed(0, 1000).unwrap().unwrap();
    assert_eq!(kept.first().map(|c| c.seq), Some(head - 9));
    assert!(a.check().unwrap().is_clean(), "{}", a.check().unwrap());
}
