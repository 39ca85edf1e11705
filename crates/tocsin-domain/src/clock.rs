//! Time is injected: domain code and the engine ask a [`Clock`] instead of the system, so tests move time forward
//! instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Mutex, OnceLock};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Time since a fixed point, never going backwards: for measuring intervals (rate limits), which a wall-clock
    /// step back must not stretch.
    fn elapsed(&self) -> std::time::Duration;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn elapsed(&self) -> std::time::Duration {
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }

    /// The manual time since the Unix epoch: it moves exactly as far as the test moves it.
    fn elapsed(&self) -> std::time::Duration {
        (self.now() - DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }
}
