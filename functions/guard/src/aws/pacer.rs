//! Pacing of endpoint writes. EC2 gives `CreateVpcEndpoint`, `ModifyVpcEndpoint` and
//! `DeleteVpcEndpoints` one shared token bucket per account and region (4 calls, refilled at
//! 0.3 per second; EC2 API reference, "Request throttling"), and every other writer in the
//! account (a tenant's Terraform, another tool) spends the same bucket. A fixed client-side
//! rate therefore still meets `RequestLimitExceeded` in a busy account; so the pacer adapts, as
//! the SDK's adaptive retry mode does: a throttled answer halves the rate and empties the
//! client's bucket, and each call that goes through wins back a tenth of the full rate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far below its configured rate a throttled pacer may slow down (as a divisor): with AWS's
/// 0.3 per second, one write every 13 s at the slowest.
const FLOOR_DIVISOR: f64 = 4.0;
/// Multiplier applied to the rate on a throttled answer.
const SLOW_DOWN: f64 = 0.5;
/// Share of the configured rate won back by each call that goes through.
const RECOVERY_STEP: f64 = 0.1;

/// The client-side bucket: tokens, when they were last counted, and the current refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
}

/// A client-side token bucket for endpoint writes that slows down when AWS throttles and
/// recovers gradually when calls go through.
#[derive(Debug)]
pub struct WritePacer {
    capacity: f64,
    max_rate: f64,
    min_rate: f64,
    bucket: Mutex<Bucket>,
}

impl WritePacer {
    /// A full bucket of `capacity` tokens refilled at `per_second` (and, after throttled
    /// answers, at no less than a quarter of it).
    pub fn new(capacity: f64, per_second: f64) -> Self {
        Self {
            capacity,
            max_rate: per_second,
            min_rate: per_second / FLOOR_DIVISOR,
            bucket: Mutex::new(Bucket { tokens: capacity, last: Instant::now(), rate: per_second }),
        }
    }

    /// Waits for a token unless it would come after `limit`: then takes none and answers false.
    pub async fn acquire_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while let Some(wait) = self.try_take(Instant::now()) {
            if started.elapsed() + wait > limit {
                return false;
            }
            tokio::time::sleep(wait).await;
        }
        true
    }

    /// Takes a token at `now`, or tells how long to wait for one.
    fn try_take(&self, now: Instant) -> Option<Duration> {
        let mut bucket = self.bucket.lock().expect("write pacer");
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(self.capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs_f64((1.0 - bucket.tokens) / bucket.rate))
    }

    /// AWS throttled a write: slow down and start again from an empty bucket.
    pub fn throttled(&self) {
        let mut bucket = self.bucket.lock().expect("write pacer");
        bucket.rate = (bucket.rate * SLOW_DOWN).max(self.min_rate);
        bucket.tokens = bucket.tokens.min(0.0);
    }

    /// A write went through: win back part of the configured rate.
    pub fn succeeded(&self) {
        let mut bucket = self.bucket.lock().expect("write pacer");
        bucket.rate = (bucket.rate + self.max_rate * RECOVERY_STEP).min(self.max_rate);
    }

    /// The current refill rate, in calls per second.
    pub fn rate(&self) -> f64 {
        self.bucket.lock().expect("write pacer").rate
    }
}

impl Default for WritePacer {
    /// AWS's bucket for endpoint writes: 4 calls, 0.3 per second.
    fn default() -> Self {
        Self::new(4.0, 0.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_capacity_calls_through_then_asks_to_wait_by_the_rate() {
        let pacer = WritePacer::new(4.0, 2.0);
        let start = Instant::now();
        for _ in 0..4 {
            assert_eq!(pacer.try_take(start), None);
        }
        let wait = pacer.try_take(start).expect("empty bucket");
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(pacer.try_take(start + Duration::from_millis(500)), None);
    }

    #[test]
    fn a_throttled_answer_halves_the_rate_and_empties_the_bucket() {
        let pacer = WritePacer::new(4.0, 2.0);
        let start = Instant::now();
        pacer.throttled();
        assert_eq!(pacer.rate(), 1.0);
        let wait = pacer.try_take(start).expect("the bucket was emptied");
        assert!(wait >= Duration::from_millis(999), "{wait:?}");
    }

    #[test]
    fn the_rate_never_falls_below_its_floor_and_recovers_step_by_step() {
        let pacer = WritePacer::new(4.0, 8.0);
        for _ in 0..20 {
            pacer.throttled();
        }
        assert_eq!(pacer.rate(), 2.0, "a quarter of the configured rate");
        pacer.succeeded();
        assert!((pacer.rate() - 2.8).abs() < 1e-9, "a tenth of the configured rate back: {}", pacer.rate());
        for _ in 0..20 {
            pacer.succeeded();
        }
        assert_eq!(pacer.rate(), 8.0, "never above the configured rate");
    }

    #[tokio::test]
    async fn a_wait_past_the_limit_takes_no_token() {
        let pacer = WritePacer::new(1.0, 1.0);
        assert!(pacer.acquire_within(Duration::ZERO).await, "a full bucket needs no wait");
        assert!(!pacer.acquire_within(Duration::from_millis(100)).await, "the next token is a second away");
        assert!(pacer.try_take(Instant::now() + Duration::from_secs(1)).is_none(), "nothing was taken");
    }
}
