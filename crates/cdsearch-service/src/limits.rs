//! Limits of the service and the per-key rate limiter (token buckets).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits a server enforces. [`Default`] suits one machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Largest request body in bytes (uploads included); larger → 413.
    pub max_upload_bytes: usize,
    /// Most masks in one search; more → 400.
    pub max_masks: usize,
    /// Searches a key may submit in a burst; more → 429.
    pub submit_burst: u32,
    /// Searches a key may submit per minute, sustained.
    pub submits_per_minute: u32,
    /// Requests of any kind a key may make in a burst; more → 429.
    pub request_burst: u32,
    /// Requests a key may make per minute, sustained.
    pub requests_per_minute: u32,
    /// A search running longer than this stops with status `timed_out`.
    pub search_timeout: Duration,
    /// Finished searches older than this (since they finished) are deleted
    /// by the periodic sweep; `None` keeps them forever. Embedded service
    /// only (on AWS, a lifecycle rule of the bucket does this).
    pub retention: Option<Duration>,
    /// Most bytes the data directory may hold (searches, results, runtime
    /// state, thumbnails); a submission when it is full → 507. `None`: no cap.
    pub max_data_bytes: Option<u64>,
    /// How often the retention sweep runs.
    pub sweep_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 32 << 20,
            max_masks: 10,
            submit_burst: 10,
            submits_per_minute: 30,
            request_burst: 600,
            requests_per_minute: 6000,
            search_timeout: Duration::from_secs(3600),
            retention: None,
            max_data_bytes: None,
            sweep_interval: Duration::from_secs(600),
        }
    }
}

/// One bucket: `capacity` tokens, refilled at `per_sec`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A rate limiter per key: each key may spend `capacity` tokens at once and
/// gets `per_minute` back every minute.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing bursts of `capacity` and `per_minute` sustained.
    pub fn new(capacity: u32, per_minute: u32) -> Self {
        Self {
            capacity: f64::from(capacity.max(1)),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key` at time `now`, or says how long to wait for one.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_sec;
        bucket.tokens = (bucket.tokens + refill).min(self.capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        if self.per_sec <= 0.0 {
            return Err(Duration::from_secs(3600));
        }
        Err(Duration::from_secs_f64(
            (1.0 - bucket.tokens) / self.per_sec,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refills() {
        let limiter = RateLimiter::new(2, 60);
        let t0 = Instant::now();
        assert!(limiter.take("a", t0).is_ok());
        assert!(limiter.take("a", t0).is_ok());
        let wait = limiter.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9, "{wait:?}");
        assert!(limiter.take("b", t0).is_ok(), "keys have their own buckets");
        assert!(limiter.take("a", t0 + Duration::from_millis(1000)).is_ok());
        assert!(limiter.take("a", t0 + Duration::from_millis(1000)).is_err());
    }
}
