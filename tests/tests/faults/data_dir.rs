//! `kontakt serve` and `kontakt check` pointed at something that is not a
//! healthy store of this build: each exits non-zero within seconds with one
//! `kontakt: …` line naming the directory, prints no panic or backtrace, and
//! leaves files that are not its own exactly as they were.
//!
//! A damaged log is opened by sled, which has no read-only mode: its recovery
//! may rewrite the files before Kontakt can refuse them, so for those cases
//! only the refusal is checked. Damage at the end of the log is a known gap:
//! sled cannot tell it from a write torn by a crash, keeps the longest valid
//! prefix, and the store opens with its last writes missing and no error
//! (the ignored test at the end states what should happen).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kontakt_storage::SledStore;
use kontakt_tests::{code, small_city};
use kontakt_workflow::model::{Actor, Channel, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, SystemClock};

use super::{Run, kontakt};

/// Refusing must not take longer than this (debug build, loaded CI machine).
const QUICK: Duration = Duration::from_secs(15);

/// A real store with reference data, requests and their events, closed cleanly.
fn real_store(dir: &Path) {
    let store = Arc::new(SledStore::open(dir).unwrap());
    let k = Kontakt::new(store, Arc::new(SystemClock));
    small_city(&k, 40).unwrap();
    let op = Actor::person("op", Role::Operator, None);
    for i in 0..40 {
        let card = NewRequest {
            category: code(&format!("cat-{}", i % 3)),
            address: AddressPoint::Id(format!("a{}", i % 40)),
            description: format!("заявка {i}"),
            channel: Channel::Phone,
            applicant: Applicant::default(),
            raise_reason: None,
            incident: None,
        };
        k.register(card, &op).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `path` (or `path` itself) with its bytes.
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if path.is_file() {
        out.insert(path.to_path_buf(), std::fs::read(path).unwrap());
        return out;
    }
    for entry in std::fs::read_dir(path).unwrap() {
        out.extend(snapshot(&entry.unwrap().path()));
    }
    out
}

/// Deterministic noise (xorshift), so a failure replays byte for byte.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn overwrite(file: &Path, at: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// Checks the refusal contract for one run and returns its error line.
fn refused(run: &Run, what: &str, dir: &Path) -> String {
    assert_eq!(run.code, Some(1), "{what}: exit code; stdout {}; stderr {}", run.stdout, run.stderr);
    assert!(run.took < QUICK, "{what}: took {:?}", run.took);
    for noise in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!run.stderr.contains(noise), "{what}: {noise} in {}", run.stderr);
    }
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("kontakt: ")).collect();
    assert_eq!(lines.len(), 1, "{what}: one error line in {}", run.stderr);
    assert!(lines[0].contains(&dir.display().to_string()), "{what}: the directory is named: {}", lines[0]);
    assert!(!run.stdout.contains("problems"), "{what}: nothing was checked: {}", run.stdout);
    lines[0].to_string()
}

/// Both commands that open a store, refused; their error lines.
fn serve_and_check_refuse(dir: &Path, what: &str) -> Vec<String> {
    [&["serve", "--listen", "127.0.0.1:0"][..], &["check"][..]]
        .iter()
        .map(|args| refused(&kontakt(args, dir, QUICK * 2), &format!("{what} ({})", args[0]), dir))
        .collect()
}

#[test]
fn a_store_with_garbage_in_its_files_is_refused_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    real_store(&original);
    let db_len = std::fs::metadata(original.join("db")).unwrap().len();
    type Damage = fn(&Path, u64);
    let cases: [(&str, Damage); 4] = [
        ("the log overwritten with noise", |dir, len| {
            overwrite(&dir.join("db"), 0, &garbage(1, len as usize))
        }),
        ("the log emptied", |dir, _| std::fs::File::create(dir.join("db")).map(drop).unwrap()),
        ("the settings overwritten with noise", |dir, _| {
            let len = std::fs::metadata(dir.join("conf")).unwrap().len();
            overwrite(&dir.join("conf"), 0, &garbage(2, len as usize))
        }),
        ("noise sprinkled through the log", |dir, len| {
            for (i, at) in (0..len).step_by(16 * 1024).enumerate() {
                overwrite(&dir.join("db"), at, &garbage(3 + i as u64, 16));
            }
        }),
    ];
    for (i, (what, damage)) in cases.iter().enumerate() {
        let dir = root.path().join(format!("damaged-{i}"));
        copy_dir(&original, &dir);
        damage(&dir, db_len);
        for line in serve_and_check_refuse(&dir, what) {
            assert!(line.contains("damaged") || line.contains("cannot open the store"), "{what}: {line}");
        }
    }
}

#[test]
fn a_log_damaged_at_its_start_is_refused_or_served_whole() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    real_store(&original);
    let baseline = kontakt(&["check"], &copy(&original, &root.path().join("baseline")), QUICK * 2);
    assert_eq!(baseline.code, Some(0), "{}", baseline.stderr);
    for (seed, len) in [(7, 20), (8, 4096), (9, 64 * 1024)] {
        let what = format!("noise over the log's first {len} bytes");
        let dir = copy(&original, &root.path().join(format!("start-{len}")));
        overwrite(&dir.join("db"), 0, &garbage(seed, len));
        let run = kontakt(&["check"], &dir, QUICK * 2);
        if run.code == Some(0) {
            assert_eq!(run.stdout, baseline.stdout, "{what}: served, so with every record, entry and event");
        } else {
            refused(&run, &what, &dir);
        }
    }
}

fn copy(from: &Path, to: &Path) -> PathBuf {
    copy_dir(from, to);
    to.to_path_buf()
}

#[test]
fn a_folder_of_other_files_and_a_file_are_refused_and_left_untouched() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("photos");
    std::fs::create_dir_all(folder.join("2025")).unwrap();
    std::fs::write(folder.join("notes.txt"), "не база данных").unwrap();
    std::fs::write(folder.join("2025").join("IMG_0001.jpg"), garbage(9, 50_000)).unwrap();
    // Names sled uses, holding something else.
    std::fs::write(folder.join("db"), garbage(10, 4096)).unwrap();
    let file = root.path().join("kontakt.db");
    std::fs::write(&file, garbage(11, 10_000)).unwrap();

    for (path, expected) in [(&folder, "holds no Kontakt store"), (&file, "is not a directory")] {
        let before = snapshot(path);
        for line in serve_and_check_refuse(path, expected) {
            assert!(line.contains(expected), "{line}");
        }
        assert!(snapshot(path) == before, "{} was modified", path.display());
    }
}

#[test]
fn a_store_of_a_future_format_is_refused_and_its_contents_kept() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    real_store(&dir);
    // The format mark lives under the meta prefix `M` (storage/src/keys.rs).
    let contents = || -> Vec<(Vec<u8>, Vec<u8>)> {
        let db = kontakt_storage::sled_store::open_raw(&dir).unwrap();
        db.iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap()).collect()
    };
    {
        let db = kontakt_storage::sled_store::open_raw(&dir).unwrap();
        db.insert(b"Mformat", b"kontakt-store/3".as_slice()).unwrap();
        db.flush().unwrap();
    }
    let before = contents();
    for line in serve_and_check_refuse(&dir, "a future format") {
        assert!(line.contains("kontakt-store/3") && line.contains("this build reads"), "{line}");
    }
    assert!(contents() == before, "Kontakt wrote into a store it refused");
}

#[test]
#[ignore = "sled 0.34 reads a damaged or missing end of its log as a torn write and drops it silently"]
fn a_log_cut_short_or_damaged_at_its_end_is_refused_not_served_smaller() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("original");
    real_store(&original);
    let db_len = std::fs::metadata(original.join("db")).unwrap().len();
    let cut = copy(&original, &root.path().join("cut"));
    std::fs::OpenOptions::new().write(true).open(cut.join("db")).unwrap().set_len(db_len / 2).unwrap();
    let noisy = copy(&original, &root.path().join("noisy"));
    overwrite(&noisy.join("db"), db_len - 65536, &garbage(12, 65536));
    for (dir, what) in [(cut, "a log cut in half"), (noisy, "noise over the log's last 64 KiB")] {
        refused(&kontakt(&["check"], &dir, QUICK * 2), what, &dir);
    }
}
