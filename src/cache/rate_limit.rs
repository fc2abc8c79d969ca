//! Per-secret token bucket for forced refreshes (like the official plugins: 5 tokens, one more
//! every 10 minutes), so a burst of "key rejected" reports cannot hammer KMS.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket refilled by one token per `period`, holding at most `capacity`.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: u32,
    tokens: u32,
    period: Duration,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(capacity: u32, period: Duration, now: Instant) -> Self {
        Self {
            capacity,
            tokens: capacity,
            period,
            last_refill: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }

    #[cfg(test)]
    /// Tokens available at `now`.
    pub(crate) fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.capacity || self.period.is_zero() {
            self.tokens = self.capacity;
            self.last_refill = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.last_refill);
        let periods = (elapsed.as_nanos() / self.period.as_nanos()).min(u32::MAX as u128) as u32;
        if periods > 0 {
            self.tokens = self.tokens.saturating_add(periods).min(self.capacity);
            // Keep the remainder so partial periods are not lost.
            self.last_refill += self.period * periods;
            if self.tokens == self.capacity {
                self.last_refill = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_period() {
        let t0 = Instant::now();
        let p = Duration::from_secs(600);
        let mut b = TokenBucket::new(5, p, t0);
        assert!((0..5).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(599)));
        assert!(b.try_take(t0 + Duration::from_secs(600)));
        assert!(!b.try_take(t0 + Duration::from_secs(900)));
        assert!(b.try_take(t0 + Duration::from_secs(1200)));
        // A long pause refills to capacity, never beyond.
        assert_eq!(b.available(t0 + Duration::from_secs(100_000)), 5);
    }
}
