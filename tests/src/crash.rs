//! Tools of the crash test (`tests/tests/crash.rs`): a seeded die, so a run
//! that found a problem can be replayed; a GraphQL call that reports a dead
//! server instead of panicking, so clients can run until the kill; the
//! offline `kontakt check`; and a child process that is this very test
//! binary running one ignored test, so time-driven jobs can be killed with
//! SIGKILL at any instruction while the parent keeps its own clock.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::kontakt_bin;

/// The environment variable that turns an ignored child test on, naming its job.
pub const CHILD_ENV: &str = "KONTAKT_CRASH_CHILD";

/// A SplitMix64 die: small, fast, and the same numbers for the same seed.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// The seed from `KONTAKT_CRASH_SEED`, or one from the clock; printed
    /// either way, so a failing run can be repeated with the same choices.
    pub fn from_env(test: &str) -> Self {
        let seed =
            std::env::var("KONTAKT_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0x5EED, |d| d.as_nanos() as u64)
            });
        println!("{test}: KONTAKT_CRASH_SEED={seed}");
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `[lo, hi]`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An independent die for a concurrent client, derived from this one.
    pub fn fork(&mut self) -> Dice {
        Dice(self.next_u64())
    }
}

/// Posts a GraphQL operation to `base`; `Err` when the server is gone (killed
/// mid-request), which the caller treats as "not acknowledged".
pub async fn try_gql(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<(u16, Value), reqwest::Error> {
    let resp = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?;
    let status = resp.status().as_u16();
    // A body cut off by the kill is an error too: the write was not acknowledged.
    let body = resp.bytes().await?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Runs `kontakt check --data DIR` on a stopped store and returns its summary
/// line; panics with the report when it finds any problem.
pub fn check_offline(data: &Path) -> String {
    let out =
        Command::new(kontakt_bin()).args(["check", "--data"]).arg(data).output().expect("run kontakt check");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "check found problems: {report}{}", String::from_utf8_lossy(&out.stderr));
    let summary = report.lines().next().unwrap_or_default().to_string();
    assert!(summary.ends_with(" 0 problems"), "{report}");
    summary
}

/// This test binary running one of its ignored tests as a separate process,
/// with its stdout read line by line.
pub struct ChildTest {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildTest {
    /// Starts `test` (a name matched exactly) with `CHILD_ENV=job` and `env`.
    pub fn start(test: &str, job: &str, env: &[(&str, String)]) -> ChildTest {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", test, "--nocapture", "--include-ignored", "--test-threads=1"]);
        cmd.env(CHILD_ENV, job);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start the child test");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildTest { child, lines }
    }

    /// What follows `prefix` on the next line holding it, within `timeout`;
    /// `None` when the child exited or was too slow.
    pub fn next_with(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            // The harness prints `test name ... ` without a newline before the test's first line.
            if let Some(at) = line.find(prefix) {
                return Some(line[at + prefix.len()..].trim().to_string());
            }
        }
    }

    /// SIGKILL: the child gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit by itself.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().expect("wait for the child test")
    }
}

impl Drop for ChildTest {
    fn drop(&mut self) {
        self.kill();
    }
}
