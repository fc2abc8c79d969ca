//! The notion of "now" shared by the cache (schedules, expiry) and the KMS clients (request
//! dates that are signed).
//!
//! KMS dates are wall-clock times, but the scheduler sleeps on tokio timers. Deriving wall time
//! from `wall time at start + tokio::time::Instant elapsed` keeps both consistent, so tests with
//! paused tokio time move dates and timers together. The clock is injectable for tests that need
//! a fixed date (e.g. the official schedule vectors).

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

/// A source of wall-clock time. The provider's default is the system clock, read on every
/// use, so NTP corrections and suspend/resume are followed (KMS dates are wall-clock dates);
/// inject your own with [`ProviderBuilder::clock`](crate::ProviderBuilder::clock) to pin or
/// move dates in tests.
pub trait Clock: Send + Sync + Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// `SystemTime::now()`: the default clock, and what a request is dated (and signed) with.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Wall time captured once, advanced by `tokio::time::Instant`: for tests under paused tokio
/// time, where dates must move with the timers.
#[cfg(test)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokioClock {
    wall_start: SystemTime,
    start: tokio::time::Instant,
}

#[cfg(test)]
impl TokioClock {
    /// Starts at `wall_start` (for tests that pin the date).
    pub(crate) fn starting_at(wall_start: SystemTime) -> Self {
        Self {
            wall_start,
            start: tokio::time::Instant::now(),
        }
    }
}

#[cfg(test)]
impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.wall_start + self.start.elapsed()
    }
}

/// How long from `now` until `at` (zero if `at` is not in the future).
pub(crate) fn until(now: SystemTime, at: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn advances_with_paused_tokio_time() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = TokioClock::starting_at(start);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), start + Duration::from_secs(3600));
        assert_eq!(until(clock.now(), start), Duration::ZERO);
    }
}
