//! Retries of one request against one endpoint: capped exponential backoff with full jitter
//! (AWS "Exponential Backoff And Jitter"), re-running the whole operation so every attempt is
//! re-signed with a fresh date / nonce. Shared by the instance and gateway clients.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::KmsError;
use crate::config::RetryConfig;

/// The ceiling of the wait before retry number `retry` (1-based): `min(max, base * 2^(retry-1))`.
pub(crate) fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    config
        .base_delay
        .checked_mul(factor)
        .unwrap_or(config.max_delay)
        .min(config.max_delay)
}

/// A full-jitter wait before retry number `retry`: uniform in `[0, ceiling]`.
pub(crate) fn backoff_delay(config: &RetryConfig, retry: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(config, retry);
    if ceiling.is_zero() {
        return ceiling;
    }
    Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64))
}

/// Runs `attempt(n)` (n = 0, 1, ...) until it succeeds, fails with a non-retryable error, or
/// `config.max_attempts` attempts were made; sleeps a full-jitter backoff between attempts.
/// The last error is returned as is, so callers see the real code.
pub(crate) async fn with_retries<T, F, Fut>(
    config: &RetryConfig,
    mut attempt: F,
) -> Result<T, KmsError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, KmsError>>,
{
    let max_attempts = config.max_attempts.max(1);
    let mut n = 0;
    loop {
        match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_retryable() && n + 1 < max_attempts => {
                n += 1;
                let delay = backoff_delay(config, n, &mut rand::rng());
                tracing::debug!(
                    endpoint = error.endpoint(),
                    attempt = n,
                    delay_ms = delay.as_millis() as u64,
                    error = %error,
                    "retrying KMS request"
                );
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::TransportErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn config() -> RetryConfig {
        RetryConfig {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        }
    }

    fn service(code: &str) -> KmsError {
        KmsError::Service {
            endpoint: "e".into(),
            secret_name: "s".into(),
            http_status: 400,
            code: code.into(),
            message: String::new(),
            request_id: String::new(),
            details: None,
        }
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let c = config();
        let got: Vec<_> = (1..=5)
            .map(|r| backoff_ceiling(&c, r).as_millis())
            .collect();
        assert_eq!(got, [100, 200, 350, 350, 350]);
        assert_eq!(backoff_ceiling(&c, 80), c.max_delay);
    }

    #[test]
    fn delays_are_jittered_within_the_ceiling() {
        let c = config();
        let mut rng = rand::rng();
        let delays: Vec<_> = (0..200).map(|_| backoff_delay(&c, 3, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(350)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "full jitter must spread delays");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_up_to_max_attempts() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&config(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(service("Rejected.Throttling")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Some("Rejected.Throttling"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_first_non_retryable_error() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&config(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(service("Forbidden.NoPermission")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Some("Forbidden.NoPermission"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_transport_failure_with_attempt_numbers() {
        let seen = std::sync::Mutex::new(Vec::new());
        let result = with_retries(&config(), |n| {
            seen.lock().unwrap().push(n);
            async move {
                if n == 0 {
                    Err(KmsError::Transport {
                        endpoint: "e".into(),
                        kind: TransportErrorKind::Connect,
                        detail: "refused".into(),
                    })
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 1);
        assert_eq!(*seen.lock().unwrap(), [0, 1]);
    }
}
