//! Migration of a format-1 sled store to the current format, when it is
//! opened.
//!
//! Format 1 kept plain sled pages and JSON values. The migration copies the
//! store into a new database (with compressed pages when asked: sled cannot
//! switch compression on in place), recoding every record body and event on
//! the way ([`codec::recode_v1`](crate::codec::recode_v1)), and then swaps
//! files. A copy, not a rewrite in place, so that format 1 stays whole until
//! the new store is complete:
//!
//! 1. copy into `DIR/.format-v2`, flush, close, and write the file `done`;
//! 2. move format 1's sled files (`conf`, `db`, `blobs`, `snap.*`) into
//!    `DIR/.format-v1`, and then write the file `complete` there;
//! 3. move the new files from `DIR/.format-v2` into `DIR`, and remove it.
//!
//! Every step can be repeated, and [`recover`] finishes or undoes an
//! interrupted migration when the store is next opened: a copy without
//! `done` is thrown away (format 1 is untouched until then), a copy with it
//! is moved in. Anything else in `DIR` (the feed folders) stays where it is.
//! Format 1's files are kept in `DIR/.format-v1` for whoever wants to go
//! back to the previous build; deleting that folder reclaims the space.

use std::path::Path;

use crate::envelope::Envelope;
use crate::sled_store::{FORMAT, sled_config, wait_for_release};
use crate::{StoreError, codec, keys};

/// Where the copy is made, inside the store's directory.
pub const STAGING: &str = ".format-v2";
/// Where format 1's files are kept after the migration.
pub const BACKUP: &str = ".format-v1";
/// Entries copied in one sled batch.
const BATCH: usize = 10_000;

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Format(format!("cannot {what} {}: {e}", path.display()))
}

/// True for the entries of a directory that belong to sled's database.
fn is_sled_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs") || name.starts_with("snap.")
}

/// Migrates the format-1 store in `dir` (closed) to the current format.
pub(crate) fn migrate(dir: &Path, compress_pages: bool) -> Result<(), StoreError> {
    let staging = dir.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io("remove", &staging, e))?;
    }
    if dir.join(BACKUP).exists() {
        return Err(StoreError::Format(format!(
            "{} holds format 1 and a kept format-1 copy in {}; move that copy away and start again",
            dir.display(),
            dir.join(BACKUP).display()
        )));
    }
    tracing::info!(store = %dir.display(), "migrating the store from format 1 to 2");
    let started = std::time::Instant::now();
    let copied = copy(dir, &staging, compress_pages).inspect_err(|_| {
        // Format 1 is untouched; the partial copy would only be discarded at the next open.
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    std::fs::write(staging.join("done"), b"").map_err(|e| io("write", &staging.join("done"), e))?;
    swap(dir)?;
    tracing::info!(
        store = %dir.display(),
        entries = copied,
        secs = started.elapsed().as_secs_f64(),
        kept = %dir.join(BACKUP).display(),
        "the store is now format 2; format 1's files are kept until that folder is deleted"
    );
    Ok(())
}

/// Finishes a migration that was interrupted after its copy was complete,
/// or throws away one interrupted before.
pub(crate) fn recover(dir: &Path) -> Result<(), StoreError> {
    let staging = dir.join(STAGING);
    if !staging.exists() {
        return Ok(());
    }
    if staging.join("done").exists() {
        tracing::warn!(store = %dir.display(), "finishing an interrupted migration to format 2");
        swap(dir)
    } else {
        tracing::warn!(store = %dir.display(), "discarding an interrupted migration's partial copy");
        std::fs::remove_dir_all(&staging).map_err(|e| io("remove", &staging, e))
    }
}

/// Copies the store in `from` into a new current-format database in `to`,
/// recoding values; returns how many entries were copied.
fn copy(from: &Path, to: &Path, compress_pages: bool) -> Result<u64, StoreError> {
    let old = sled_config(from, 64 << 20, false).open()?;
    let new = sled_config(to, 64 << 20, compress_pages).open()?;
    let mut batch = sled::Batch::default();
    let (mut n, mut in_batch) = (0u64, 0usize);
    for item in old.iter() {
        let (k, v) = item?;
        let value = match k.first() {
            Some(&keys::META) if k.as_ref() == keys::meta("format").as_slice() => continue,
            Some(&keys::RECORD) => {
                let mut e = Envelope::decode(&v)?;
                e.body = codec::recode_v1(&e.body).map_err(|err| {
                    StoreError::Corrupt(format!("record {:?}: {err}", String::from_utf8_lossy(&k)))
                })?;
                e.encode()
            }
            Some(&keys::EVENT) => {
                let events = keys::unpack_events(&v).ok_or_else(|| {
                    StoreError::Corrupt(format!("event pack {:?}", String::from_utf8_lossy(&k)))
                })?;
                let recoded = events.iter().map(|e| codec::recode_v1(e)).collect::<Result<Vec<_>, _>>()?;
                keys::pack_events(&recoded)
            }
            _ => v.to_vec(),
        };
        batch.insert(k, value);
        n += 1;
        in_batch += 1;
        if in_batch == BATCH {
            new.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
        if n.is_multiple_of(1_000_000) {
            tracing::info!(entries = n, "migrating to format 2");
        }
    }
    new.apply_batch(batch)?;
    // The mark goes last: a copy without it is not a store.
    new.insert(keys::meta("format"), FORMAT)?;
    new.flush()?;
    drop((old, new));
    wait_for_release(&from.join("db"));
    wait_for_release(&to.join("db"));
    Ok(n)
}

/// Steps 2 and 3: format 1's sled files out, the copy's in.
fn swap(dir: &Path) -> Result<(), StoreError> {
    let staging = dir.join(STAGING);
    let backup = dir.join(BACKUP);
    if !backup.join("complete").exists() {
        std::fs::create_dir_all(&backup).map_err(|e| io("create", &backup, e))?;
        for name in entries(dir)? {
            if is_sled_file(&name) {
                rename(&dir.join(&name), &backup.join(&name))?;
            }
        }
        std::fs::write(backup.join("complete"), b"").map_err(|e| io("write", &backup.join("complete"), e))?;
    }
    for name in entries(&staging)? {
        if name != "done" {
            rename(&staging.join(&name), &dir.join(&name))?;
        }
    }
    std::fs::remove_dir_all(&staging).map_err(|e| io("remove", &staging, e))
}

fn entries(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io("read", dir, e))? {
        let entry = entry.map_err(|e| io("read", dir, e))?;
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to)
        .map_err(|e| StoreError::Format(format!("cannot move {} to {}: {e}", from.display(), to.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Expect, Put, RecordKey, SledStore, Store, Transaction};

    /// What [`write_v1`] wrote: each record's key, body and events, as JSON.
    type Written = Vec<(RecordKey, serde_json::Value, Vec<serde_json::Value>)>;

    /// Writes a format-1 store, as the previous build did: the same keys,
    /// JSON values, plain pages, the format-1 mark. Returns its JSON bodies.
    fn write_v1(dir: &Path, n: usize) -> Written {
        let built = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        {
            let store = SledStore::open(built.path()).unwrap();
            store
                .count_indexes(vec![crate::CountedIndex {
                    name: "by-kind".into(),
                    parts: vec![crate::Part::Str],
                }])
                .unwrap();
            for i in 0..n {
                let key = RecordKey::new("req", format!("r{i:05}").as_bytes());
                let body = serde_json::json!({"id": i, "status": "DISPATCHED", "note": null, "lat": 48.5 + i as f64 / 7.0});
                let events = vec![
                    serde_json::json!({"seq": 0, "kind": {"type": "REGISTERED", "text": "Нет света"}}),
                    serde_json::json!({"seq": 1, "kind": {"type": "DISPATCHED", "organization": "res"}}),
                ];
                let index = vec![
                    crate::KeyBuilder::index("by-kind")
                        .str(if i % 2 == 0 { "even" } else { "odd" })
                        .u64(i as u64)
                        .build(),
                ];
                store
                    .commit_sequenced(
                        "numbers",
                        Box::new({
                            let (key, body, events) = (key.clone(), body.clone(), events.clone());
                            move |_| {
                                Ok(Transaction::single(Put {
                                    key,
                                    expect: Expect::Absent,
                                    body: Some(serde_json::to_vec(&body).unwrap()),
                                    index,
                                    events: events.iter().map(|e| serde_json::to_vec(e).unwrap()).collect(),
                                }))
                            }
                        }),
                    )
                    .unwrap();
                written.push((key, body, events));
            }
        }
        let from = crate::sled_store::open_raw(built.path()).unwrap();
        let to = sled_config(dir, 64 << 20, false).open().unwrap();
        for item in from.iter() {
            let (k, v) = item.unwrap();
            to.insert(k, v).unwrap();
        }
        to.insert(keys::meta("format"), crate::sled_store::FORMAT_V1).unwrap();
        to.flush().unwrap();
        drop((from, to));
        wait_for_release(&built.path().join("db"));
        wait_for_release(&dir.join("db"));
        written
    }

    fn raw_open(dir: &Path, compressed: bool) -> sled::Db {
        sled_config(dir, 8 << 20, compressed).open().unwrap()
    }

    /// Opens `dir` and checks it holds `written`, in the current encoding.
    fn assert_migrated(dir: &Path, written: &Written) {
        let store = SledStore::open(dir).unwrap();
        for (key, body, events) in written {
            let stored = store.get(key).unwrap().expect("record kept");
            assert!(codec::is_current(&stored.body), "{key} recoded");
            assert_eq!(&codec::decode::<serde_json::Value>(&stored.body).unwrap(), body);
            let got = store.events(key).unwrap();
            assert!(got.iter().all(|e| codec::is_current(e)));
            let got: Vec<serde_json::Value> = got.iter().map(|e| codec::decode(e).unwrap()).collect();
            assert_eq!(&got, events);
        }
        assert_eq!(store.counter("numbers").unwrap(), written.len() as u64);
        let evens = crate::KeyBuilder::index("by-kind").str("even").build();
        assert_eq!(store.index_count(&evens).unwrap(), Some(written.len().div_ceil(2) as u64));
        let all = store.scan_range(b"by-kind\0", b"by-kind\x01", usize::MAX).unwrap();
        assert_eq!(all.len(), written.len());
        let report = store.check().unwrap();
        assert!(report.problems.is_empty(), "{report}");
        assert!(!dir.join(STAGING).exists(), "no copy left behind");
    }

    #[test]
    fn a_v1_store_opens_migrated_with_every_entry_and_its_neighbours_kept() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_v1(dir.path(), 300);
        std::fs::create_dir_all(dir.path().join("feeds/cap")).unwrap();
        std::fs::write(dir.path().join("feeds/cap/alert.xml"), b"<alert/>").unwrap();
        assert_migrated(dir.path(), &written);
        assert_eq!(std::fs::read(dir.path().join("feeds/cap/alert.xml")).unwrap(), b"<alert/>");
        // Format 1 is kept whole, and opens as it was with the previous build's settings.
        let kept = raw_open(&dir.path().join(BACKUP), false);
        assert_eq!(kept.get(keys::meta("format")).unwrap().unwrap().as_ref(), crate::sled_store::FORMAT_V1);
        drop(kept);
        // A second open finds the current format and changes nothing.
        assert_migrated(dir.path(), &written);
    }

    #[test]
    fn a_v1_store_migrated_with_compressed_pages_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_v1(dir.path(), 100);
        drop(SledStore::open_with(dir.path(), 8 << 20, true).unwrap());
        assert!(crate::sled_store::compressed_on_disk(dir.path()).unwrap(), "migrated into compressed pages");
        // Opened later without asking, it keeps what it was made with.
        assert_migrated(dir.path(), &written);
        assert!(crate::sled_store::compressed_on_disk(dir.path()).unwrap());
    }

    #[test]
    fn a_copy_interrupted_before_it_was_done_is_discarded_and_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_v1(dir.path(), 50);
        // Half a copy: a database without the mark and without `done`.
        let half = raw_open(&dir.path().join(STAGING), true);
        half.insert(b"Rreq\0r00000", b"half".as_slice()).unwrap();
        half.flush().unwrap();
        drop(half);
        assert_migrated(dir.path(), &written);
    }

    #[test]
    fn a_swap_interrupted_at_any_step_is_finished_when_opened_again() {
        /// A format-1 store whose copy is done (step 1), and its staging folder.
        fn copied() -> (tempfile::TempDir, Written, std::path::PathBuf) {
            let dir = tempfile::tempdir().unwrap();
            let written = write_v1(dir.path(), 50);
            let staging = dir.path().join(STAGING);
            copy(dir.path(), &staging, true).unwrap();
            std::fs::write(staging.join("done"), b"").unwrap();
            (dir, written, staging)
        }

        // Step 2 half-way: only `conf` has moved out.
        let (dir, written, _) = copied();
        std::fs::create_dir_all(dir.path().join(BACKUP)).unwrap();
        std::fs::rename(dir.path().join("conf"), dir.path().join(BACKUP).join("conf")).unwrap();
        assert_migrated(dir.path(), &written);

        // Step 3 half-way: format 1 has moved out and only the new `db` has moved in.
        let (dir, written, staging) = copied();
        let backup = dir.path().join(BACKUP);
        std::fs::create_dir_all(&backup).unwrap();
        for name in entries(dir.path()).unwrap() {
            if is_sled_file(&name) {
                std::fs::rename(dir.path().join(&name), backup.join(&name)).unwrap();
            }
        }
        std::fs::write(backup.join("complete"), b"").unwrap();
        std::fs::rename(staging.join("db"), dir.path().join("db")).unwrap();
        assert_migrated(dir.path(), &written);
    }

    #[test]
    fn a_value_that_is_not_json_stops_the_migration_and_keeps_format_1() {
        let dir = tempfile::tempdir().unwrap();
        write_v1(dir.path(), 3);
        {
            let db = raw_open(dir.path(), false);
            let k = keys::record(&RecordKey::new("req", b"r00001"));
            let env = Envelope { version: 1, events: 0, index: vec![], body: b"\xff not json".to_vec() };
            db.insert(k, env.encode()).unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("req"), "{err}");
        assert!(!dir.path().join(BACKUP).exists(), "format 1 is where it was");
        let db = raw_open(dir.path(), false);
        assert_eq!(db.get(keys::meta("format")).unwrap().unwrap().as_ref(), crate::sled_store::FORMAT_V1);
    }
}
