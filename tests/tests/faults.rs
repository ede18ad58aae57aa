//! Fault injection: what Kontakt does when the world around it breaks.
//!
//! - [`disk_full`]: a store on a tiny tmpfs is written until the disk is full.
//!   Writes fail with a clear error (a GraphQL code through the server, which
//!   keeps running), nothing acknowledged is lost, nothing refused is shown,
//!   and once space returns and the store is reopened it is clean and takes
//!   writes again.
//! - [`data_dir`]: `kontakt serve` and `kontakt check` on a damaged store, a
//!   folder of unrelated files, a file, and a store of a future format: each
//!   exits non-zero at once with a one-line error, never a panic, and leaves
//!   what is not its own untouched.
//! - [`hostile_feeds`]: feed servers that hang, reset, stream without end,
//!   announce a huge body, or serve entity bombs and deep nesting. A pull
//!   returns within its timeout, counts the failure by reason, creates
//!   nothing, and reads no more than its limit.
//!
//! Mounting needs root (CI runs the suite as root); elsewhere the disk tests
//! print why they are skipped and pass.

#[path = "faults/data_dir.rs"]
mod data_dir;
#[path = "faults/disk_full.rs"]
mod disk_full;
#[path = "faults/hostile_feeds.rs"]
mod hostile_feeds;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kontakt_tests::app::{TEST_SECRET, kontakt_bin};

/// Tests that measure this process (memory, timing) or fill its disk run one at a time.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// True when this process may mount file systems.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:").map(|ids| ids.split_whitespace().nth(1) == Some("0")))
        })
        .unwrap_or(false)
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts `size_kib` of tmpfs; `None` (after saying why) when not root.
    fn mount(size_kib: u64) -> Option<Tmpfs> {
        if !is_root() {
            println!("skipped: mounting tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("a mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs on {} failed as root", dir.path().display());
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grows (or shrinks) the mounted file system.
    fn resize(&self, size_kib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_kib}k")])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remounting {} failed", self.path().display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file open: detach now, free when it closes.
            let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}

/// Fills the file system holding `dir` with `dir/filler`, then gives back
/// `headroom` bytes: the disk is full save for that.
fn fill_leaving(dir: &Path, headroom: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let len = file.metadata().expect("filler size").len();
    assert!(len > headroom, "the file system is smaller than the headroom asked for");
    file.set_len(len - headroom).expect("give back the headroom");
    file.sync_all().expect("sync the filler");
    path
}

/// How a `kontakt` run ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `kontakt ARGS --data DATA` as an operator would (no log filter, backtraces
/// on), killing it if it has not exited within `limit`.
fn kontakt(args: &[&str], data: &Path, limit: Duration) -> Run {
    use std::io::Read;
    let bin = kontakt_bin();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .arg("--data")
        .arg(data)
        .env("KONTAKT_JWT_SECRET", TEST_SECRET)
        .env_remove("KONTAKT_LOG")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kontakt");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll kontakt") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kontakt {args:?} on {} still ran after {limit:?}", data.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        took: start.elapsed(),
    }
}
