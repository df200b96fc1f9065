//! Per-client rate limits: a token bucket per client (decision 0029).
//!
//! A client configured with `rate_limit = { per_second = R, burst = B }` may make B requests
//! at once and R per second on average; one more gets `429 Too Many Requests` with
//! `Retry-After` (RFC 6585 §4) in whole seconds until a token is back. Clients without a
//! limit are bounded only by the global limits (`limits.max_in_flight`, queued documents).
//! The buckets live in this process: with several instances each one applies the limit.

use crate::config::ClientConfig;
use crate::error::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of all clients with a limit.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token for `client`, or says when to come back.
    pub fn check(&self, client: &ClientConfig) -> Result<(), ApiError> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: &ClientConfig, now: Instant) -> Result<(), ApiError> {
        let Some(limit) = &client.rate_limit else {
            return Ok(());
        };
        let burst = f64::from(limit.burst.max(1));
        let rate = limit.per_second;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets.entry(client.name.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / rate).ceil().clamp(1.0, 3600.0);
        // The cast is of a value clamped to 1..=3600.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped"
        )]
        let secs = wait as u32;
        Err(ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "this client may make {} requests per second (bursts of {}); retry after the time in Retry-After",
                    limit.per_second, limit.burst
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RateLimit, Role};
    use std::time::Duration;

    fn client(per_second: f64, burst: u32) -> ClientConfig {
        ClientConfig {
            name: "c".into(),
            api_key_sha256: None,
            client_cert_sha256: vec![],
            role: Role::Signer,
            keys: vec![],
            profiles: vec![],
            rate_limit: Some(RateLimit { per_second, burst }),
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let l = RateLimiter::default();
        let c = client(2.0, 3);
        let t = Instant::now();
        for _ in 0..3 {
            l.check_at(&c, t).unwrap();
        }
        let e = l.check_at(&c, t).unwrap_err();
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(1)));
        // Half a second gives one token back at 2/s.
        l.check_at(&c, t + Duration::from_millis(500)).unwrap();
        assert!(l.check_at(&c, t + Duration::from_millis(500)).is_err());
        // A slow rate asks for a longer wait.
        let slow = client(0.1, 1);
        let l = RateLimiter::default();
        l.check_at(&slow, t).unwrap();
        assert_eq!(l.check_at(&slow, t).unwrap_err().retry_after, Some(10));
        // No limit: never refused.
        let mut free = client(1.0, 1);
        free.rate_limit = None;
        for _ in 0..100 {
            l.check_at(&free, t).unwrap();
        }
    }
}
