//! Time, injected: the service asks a [`Clock`], tests move a [`ManualClock`].

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    /// Moves the clock forward (or back) by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    /// Sets the clock.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The machine's clock shifted by an offset that can only grow: a test
/// moves a running server forward in time (night callbacks, storms,
/// retention, leases) while its timers keep running. Only built into a
/// server when `testing.movable_clock` is set.
#[derive(Debug, Default)]
pub struct ShiftedClock(std::sync::atomic::AtomicI64);

impl ShiftedClock {
    /// Moves the clock forward by `by` (a step back is refused: the time a
    /// server has shown never returns). Returns the new time.
    pub fn advance(&self, by: chrono::Duration) -> Result<DateTime<Utc>, crate::DomainError> {
        if by < chrono::Duration::zero() {
            return Err(crate::DomainError::Validation("the clock moves forward only".into()));
        }
        let ms = by.num_milliseconds();
        let moved = self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst).checked_add(ms);
        moved.ok_or_else(|| crate::DomainError::Validation("the clock cannot move that far".into()))?;
        Ok(self.now())
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = self.0.load(std::sync::atomic::Ordering::SeqCst);
        Utc::now() + chrono::Duration::milliseconds(offset)
    }
}
