//! What only the sled engine does: refusing foreign, damaged or other-format
//! directories, the check finding damage, sharing flushes, backups. The
//! contract both engines keep is in `conformance.rs`.

use std::sync::Arc;

use kontakt_storage::{Expect, RecordKey, SledStore, Store, StoreError, Transaction};

mod common;
use common::{index_of, put};

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
        let db = kontakt_storage::sled_store::open_raw(dir.path()).unwrap();
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
    kontakt_storage::sled_store::open_raw(dir.path()).unwrap().flush().unwrap();
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
        let db = kontakt_storage::sled_store::open_raw(dir.path()).unwrap();
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
