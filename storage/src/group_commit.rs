//! Group commit: many writers, one flush.
//!
//! A writer that has applied its batch needs a flush that *starts after* its
//! batch. If none is running it becomes the leader and flushes; otherwise it
//! waits, and the next leader's flush covers it and every writer that arrived
//! meanwhile. Under load this turns N fsyncs into about two.

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct State {
    /// Generations of flushes started so far.
    started: u64,
    /// The last generation that finished.
    finished: u64,
    flushing: bool,
    /// Generations whose flush failed and that someone still waits for.
    failed: Vec<u64>,
}

/// Coordinates writers so that concurrent ones share flushes.
#[derive(Debug, Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters behind, which
        // stay consistent, so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until a flush that started after this call has finished, running
    /// it with `flush` when no other writer is. Returns that flush's error.
    pub fn sync<E: Clone>(&self, flush: impl Fn() -> Result<(), E>, error: impl Fn() -> E) -> Result<(), E> {
        let mut s = self.lock();
        let ticket = s.started + 1;
        loop {
            if s.finished >= ticket {
                return if s.failed.contains(&ticket) { Err(error()) } else { Ok(()) };
            }
            if s.flushing {
                s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            s.flushing = true;
            s.started += 1;
            let generation = s.started;
            drop(s);
            let result = flush();
            s = self.lock();
            s.flushing = false;
            s.finished = generation;
            // Keep failure marks only for generations a waiter may still ask about.
            s.failed.retain(|g| *g + 1024 > generation);
            if result.is_err() {
                s.failed.push(generation);
            }
            self.done.notify_all();
            if let Err(e) = result {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_writers_share_flushes() {
        let gc = Arc::new(GroupCommit::default());
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let gc = gc.clone();
                let flushes = flushes.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        gc.sync(
                            || {
                                flushes.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_millis(1));
                                Ok::<(), ()>(())
                            },
                            || (),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n >= 20, "each writer needs at least its own rounds");
        assert!(n < 32 * 20, "writers shared no flush: {n}");
    }

    #[test]
    fn a_failed_flush_is_reported_to_its_writer() {
        let gc = GroupCommit::default();
        assert_eq!(gc.sync(|| Err("disk full"), || "disk full"), Err("disk full"));
        assert_eq!(gc.sync(|| Ok(()), || "x"), Ok(()));
    }
}
