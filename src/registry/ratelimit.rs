//! Per-registry politeness: a token bucket for the request rate and a semaphore for the number
//! of requests in flight. Every request to a registry, paging and auth included, passes here.

use std::time::Duration;

use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

#[derive(Debug)]
pub(super) struct Limiter {
    bucket: Mutex<Bucket>,
    in_flight: Semaphore,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens added per second.
    rate: f64,
    /// At most this many tokens saved up (a burst of one second's worth).
    capacity: f64,
    /// May go negative: waiters reserve tokens ahead, so they are served in order.
    tokens: f64,
    refilled: Instant,
}

impl Limiter {
    pub(super) fn new(rate_per_second: f64, max_in_flight: usize) -> Limiter {
        let capacity = rate_per_second.max(1.0);
        Limiter {
            bucket: Mutex::new(Bucket {
                rate: rate_per_second,
                capacity,
                tokens: capacity,
                refilled: Instant::now(),
            }),
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// Waits for a slot and a token; the slot is held until the permit is dropped.
    pub(super) async fn acquire(&self) -> SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let wait = {
            let mut bucket = self.bucket.lock().await;
            let now = Instant::now();
            let earned = now.duration_since(bucket.refilled).as_secs_f64() * bucket.rate;
            bucket.tokens = (bucket.tokens + earned).min(bucket.capacity);
            bucket.refilled = now;
            bucket.tokens -= 1.0;
            if bucket.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.tokens / bucket.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_is_held_after_a_burst() {
        let limiter = Limiter::new(2.0, 8);
        let start = Instant::now();
        for _ in 0..6 {
            drop(limiter.acquire().await);
        }
        // Two tokens at once, then one every half second for the other four.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_are_capped() {
        let limiter = Limiter::new(1000.0, 2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert!(limiter.in_flight.try_acquire().is_err());
        drop(a);
        assert!(limiter.in_flight.try_acquire().is_ok());
    }
}
