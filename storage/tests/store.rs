//! Behaviour of the sled store: atomicity, versions, indexes, durability across reopen.

use std::sync::Arc;

use kontakt_storage::{
    Expect, KeyBuilder, Put, RecordKey, SledStore, Store, StoreError, Transaction, prefix_end,
};

fn put(key: &RecordKey, expect: Expect, body: &str, index: &[&str], events: &[&str]) -> Put {
    Put {
        key: key.clone(),
        expect,
        body: Some(body.as_bytes().to_vec()),
        index: index.iter().map(|i| KeyBuilder::index("t").str(i).bytes(key.id()).build()).collect(),
        events: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
    }
}

fn index_of(store: &SledStore, value: &str) -> Vec<RecordKey> {
    let prefix = KeyBuilder::index("t").str(value).build();
    store.scan_range(&prefix, &prefix_end(&prefix), 1000).unwrap().into_iter().map(|e| e.record).collect()
}

#[test]
fn everything_committed_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = RecordKey::new("req", b"a");
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["open"], &["e1"]))).unwrap();
        store.commit(Transaction::single(put(&a, Expect::Version(1), "two", &["done"], &["e2"]))).unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let got = store.get(&a).unwrap().unwrap();
    assert_eq!((got.version, got.body.as_slice(), got.events), (2, b"two".as_slice(), 2));
    assert_eq!(store.events(&a).unwrap(), vec![b"e1".to_vec(), b"e2".to_vec()]);
    assert!(index_of(&store, "open").is_empty(), "stale index entry removed");
    assert_eq!(index_of(&store, "done"), vec![a]);
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn a_stale_version_conflicts_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let a = RecordKey::new("req", b"a");
    let b = RecordKey::new("req", b"b");
    store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["x"], &["e1"]))).unwrap();
    let tx = Transaction {
        rewrites: vec![],
        fence: None,
        puts: vec![
            put(&b, Expect::Absent, "b", &["y"], &["b1"]),
            put(&a, Expect::Version(7), "stale", &["z"], &["e2"]),
        ],
    };
    assert!(matches!(store.commit(tx), Err(StoreError::Conflict { .. })));
    assert!(store.get(&b).unwrap().is_none(), "the other put of the transaction is not applied");
    assert_eq!(store.get(&a).unwrap().unwrap().body, b"one");
    assert!(index_of(&store, "y").is_empty());
    assert!(store.check().unwrap().is_clean());
    let dup = Transaction::of(vec![put(&b, Expect::Any, "1", &[], &[]), put(&b, Expect::Any, "2", &[], &[])]);
    assert!(matches!(store.commit(dup), Err(StoreError::Invalid(_))));
}

#[test]
fn delete_removes_the_record_its_index_and_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let a = RecordKey::new("org", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["k"], &["e1", "e2"]))).unwrap();
    store
        .commit(Transaction::single(Put {
            key: a.clone(),
            expect: Expect::Version(1),
            body: None,
            index: vec![],
            events: vec![],
        }))
        .unwrap();
    assert!(store.get(&a).unwrap().is_none());
    assert!(store.events(&a).unwrap().is_empty());
    assert!(index_of(&store, "k").is_empty());
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn concurrent_sequenced_commits_get_unique_gap_free_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..25 {
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
                    if let Ok(c) = r {
                        got.push(c.sequence.unwrap());
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
    assert_eq!(store.scan_collection("req", None, 10_000).unwrap().len() as u64, n);
}

#[test]
fn collection_scan_pages_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    for id in ["c", "a", "b"] {
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
    let page = store.scan_collection("org", None, 2).unwrap();
    assert_eq!(
        page.iter().map(|(k, _)| k.id().to_vec()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    let rest = store.scan_collection("org", Some(b"b"), 10).unwrap();
    assert_eq!(rest.iter().map(|(k, _)| k.id().to_vec()).collect::<Vec<_>>(), vec![b"c".to_vec()]);
}

#[test]
fn a_foreign_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("holiday.jpg"), b"not a store").unwrap();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Format(_)), "{err}");
}

#[test]
fn a_store_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"Mformat", b"kontakt-store/0".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("kontakt-store/0"), "{err}");
}

#[test]
fn a_sled_database_without_the_mark_is_refused_not_made_a_new_store() {
    // What sled makes of a damaged or emptied log: a database with nothing in it.
    let dir = tempfile::tempdir().unwrap();
    sled::open(dir.path()).unwrap().flush().unwrap();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("without a Kontakt format mark"), "{err}");
    assert!(SledStore::open(dir.path()).is_err(), "and it stays refused");
}

#[test]
fn check_reports_an_index_entry_without_its_record() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .commit(Transaction::single(put(
                &RecordKey::new("req", b"a"),
                Expect::Absent,
                "x",
                &["k"],
                &["e"],
            )))
            .unwrap();
    }
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"I-orphan", RecordKey::new("req", b"gone").as_bytes()).unwrap();
        db.remove([b"R".as_slice(), RecordKey::new("req", b"a").as_bytes()].concat()).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let report = store.check().unwrap();
    assert!(report.problems.iter().any(|p| p.contains("missing record req/gone")), "{report}");
    assert!(report.problems.iter().any(|p| p.contains("events of missing record req/a")), "{report}");
}

#[test]
fn writers_racing_on_one_version_see_exactly_one_win() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let a = RecordKey::new("req", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "v1", &["x"], &["e1"]))).unwrap();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            std::thread::spawn(move || {
                store
                    .commit(Transaction::single(put(
                        &a,
                        Expect::Version(1),
                        &format!("by {i}"),
                        &["y"],
                        &["e2"],
                    )))
                    .is_ok()
            })
        })
        .collect();
    let wins = threads.into_iter().map(|t| t.join().unwrap()).filter(|w| *w).count();
    assert_eq!(wins, 1);
    let got = store.get(&a).unwrap().unwrap();
    assert_eq!((got.version, got.events), (2, 2));
    assert!(store.check().unwrap().is_clean());
}

#[test]
fn concurrent_writers_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let key = RecordKey::new("req", format!("{t}-{i}").as_bytes());
                    store
                        .commit(Transaction::single(put(&key, Expect::Absent, "x", &["k"], &["e"])))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = store.stats();
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    let flushes = stats.flushes.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(commits, 320);
    assert!(flushes < commits, "{flushes} flushes for {commits} commits: nothing shared");
}

#[test]
fn a_backup_opens_as_a_store_with_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let a = RecordKey::new("req", b"a");
    store.commit(Transaction::single(put(&a, Expect::Absent, "one", &["k"], &["e1"]))).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let target = dest.path().join("copy");
    assert!(store.backup(&target).unwrap() >= 4);
    drop(store);
    let copy = SledStore::open(&target).unwrap();
    assert_eq!(copy.get(&a).unwrap().unwrap().body, b"one");
    assert_eq!(index_of(&copy, "k"), vec![a]);
    assert!(copy.check().unwrap().is_clean());
}

#[test]
fn a_rewritten_log_keeps_its_length_and_takes_the_appended_events_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let a = RecordKey::new("req", b"a");
    store
        .commit(Transaction::single(put(&a, Expect::Absent, "one", &["x"], &["name=Ivanova", "e2"])))
        .unwrap();
    store.commit(Transaction::single(put(&a, Expect::Version(1), "two", &["x"], &["e3"]))).unwrap();
    let rewrite = |events: &[&str]| kontakt_storage::Rewrite {
        key: a.clone(),
        events: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
    };
    // The wrong length, or a rewrite without its record, changes nothing.
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
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    let events: Vec<String> =
        store.events(&a).unwrap().into_iter().map(|e| String::from_utf8(e).unwrap()).collect();
    assert_eq!(events, ["name=", "e2", "e3", "erased"]);
    assert_eq!(store.get(&a).unwrap().unwrap().events, 4);
    assert!(store.check().unwrap().is_clean());
}

/// A counted index keeps its counts per prefix in the same write as its
/// entries: adds, moves, deletes; an index declared on a store that already
/// has entries counts them first; the counts survive a reopen; the check recounts.
#[test]
fn counted_indexes_keep_their_counts_in_the_same_write() {
    use kontakt_storage::{CountedIndex, KeyBuilder, Part};
    let dir = tempfile::tempdir().unwrap();
    let by_status = |s: u8, id: u8| KeyBuilder::index("st").u8(s).bytes(&[id]).build();
    let put = |id: u8, status: Option<u8>, expect: Expect| Put {
        key: RecordKey::new("r", &[id]),
        expect,
        body: status.map(|_| b"x".to_vec()),
        index: status.map(|s| vec![by_status(s, id)]).unwrap_or_default(),
        events: vec![],
    };
    let prefix = |s: u8| KeyBuilder::index("st").u8(s).build();
    {
        let store = SledStore::open(dir.path()).unwrap();
        // Entries written before the index is declared are counted when it is.
        store.commit(Transaction::single(put(1, Some(1), Expect::Absent))).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), None, "not declared yet");
        store.count_indexes(vec![CountedIndex { name: "st".into(), parts: vec![Part::Byte] }]).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(1));
        store
            .commit(Transaction::of(vec![put(2, Some(1), Expect::Absent), put(3, Some(2), Expect::Absent)]))
            .unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(2));
        // A move is one write: one prefix down, the other up.
        store.commit(Transaction::single(put(1, Some(2), Expect::Version(1)))).unwrap();
        assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(1));
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(2));
        // A refused transaction changes no count.
        assert!(store.commit(Transaction::single(put(3, Some(1), Expect::Version(9)))).is_err());
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(2));
        store.commit(Transaction::single(put(3, None, Expect::Any))).unwrap();
        assert_eq!(store.index_count(&prefix(2)).unwrap(), Some(1));
        assert_eq!(store.index_count(b"st").unwrap(), None, "not a whole counted prefix");
    }
    let store = SledStore::open(dir.path()).unwrap();
    // Kept by every process that opens the store, declared or not.
    store.commit(Transaction::single(put(4, Some(1), Expect::Absent))).unwrap();
    assert_eq!(store.index_count(&prefix(1)).unwrap(), Some(2));
    assert!(store.check().unwrap().is_clean(), "{}", store.check().unwrap());
}
