//! Retries with exponential backoff and full jitter, bounded in attempts AND in total time.
//!
//! Unlike configure-aws-credentials (which retries every error, so a wrong trust policy takes
//! minutes to report), only transient failures are retried: throttling, `IDPCommunicationError`,
//! HTTP 5xx and network errors. A refusal is reported at once.

use std::time::{Duration, Instant};

/// Whether a failed attempt may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transience {
    /// Throttling, 5xx, IdP trouble, network: try again after a delay.
    Transient,
    /// A refusal or an input error: trying again cannot help.
    Permanent,
}

/// The retry budget.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total tries including the first (1 = no retry). Default 6.
    pub max_attempts: u32,
    /// First backoff ceiling; doubles each retry. Default 250 ms.
    pub base: Duration,
    /// Largest single delay. Default 8 s.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first try. Default 60 s.
    pub total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based), given a uniform random `unit` in [0, 1):
    /// full jitter over `min(max_delay, base · 2^retry)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .checked_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A uniform number in [0, 1) from the standard library's per-process random hash keys; enough
/// for jitter (which only has to de-synchronise clients), not for anything secret.
#[expect(
    clippy::disallowed_methods,
    reason = "the time only varies the hash's input; no rule depends on it"
)]
pub fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `op` until it succeeds, fails permanently, or the budget is spent; returns the last result
/// and the number of attempts made. `describe` turns an error into a one-line message for the
/// progress line on stderr; it must not contain secrets.
pub async fn run<T, E, F, Fut>(
    policy: &RetryPolicy,
    label: &str,
    mut op: F,
    classify: impl Fn(&E) -> Transience,
    describe: impl Fn(&E) -> String,
) -> (Result<T, E>, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let max = policy.max_attempts.max(1);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = op().await;
        let err = match result {
            Ok(v) => return (Ok(v), attempt),
            Err(e) => e,
        };
        if classify(&err) == Transience::Permanent || attempt >= max {
            return (Err(err), attempt);
        }
        let delay = policy.delay(attempt - 1, jitter_unit());
        if started.elapsed() + delay > policy.total {
            eprintln!(
                "retry {label}: attempt {attempt} of {max} failed: {}; giving up: the retry time budget of {} s is spent",
                describe(&err),
                policy.total.as_secs()
            );
            return (Err(err), attempt);
        }
        eprintln!(
            "retry {label}: attempt {attempt} of {max} failed: {}; retrying in {} ms",
            describe(&err),
            delay.as_millis()
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_and_are_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, 1.0), Duration::from_millis(250));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(2));
        assert_eq!(p.delay(10, 1.0), Duration::from_secs(8));
        assert_eq!(p.delay(u32::MAX, 1.0), Duration::from_secs(8));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(2, 0.0), Duration::ZERO);
    }

    #[test]
    fn jitter_is_in_the_unit_interval_and_varies() {
        let samples: Vec<f64> = (0..64).map(|_| jitter_unit()).collect();
        assert!(samples.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]));
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            total: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let mut calls = 0;
        let (r, n) = run(
            &fast(),
            "t",
            || {
                calls += 1;
                let c = calls;
                async move { if c < 3 { Err("503") } else { Ok(c) } }
            },
            |_| Transience::Transient,
            |e| e.to_string(),
        )
        .await;
        assert_eq!(r, Ok(3));
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let (r, n) = run::<(), _, _, _>(
            &fast(),
            "t",
            || async { Err("AccessDenied") },
            |_| Transience::Permanent,
            |e| e.to_string(),
        )
        .await;
        assert_eq!(r, Err("AccessDenied"));
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let (r, n) = run::<(), _, _, _>(
            &fast(),
            "t",
            || async { Err("503") },
            |_| Transience::Transient,
            |e| e.to_string(),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(n, 5);
    }

    #[tokio::test]
    async fn total_time_is_bounded() {
        let p = RetryPolicy {
            max_attempts: 1000,
            base: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
            total: Duration::from_millis(120),
        };
        let started = Instant::now();
        let (_, n) = run::<(), _, _, _>(
            &p,
            "t",
            || async { Err("503") },
            |_| Transience::Transient,
            |e| e.to_string(),
        )
        .await;
        assert!(n < 1000);
        assert!(started.elapsed() < Duration::from_millis(400));
    }
}
