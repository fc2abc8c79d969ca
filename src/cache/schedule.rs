//! When to refresh a cached secret: pure functions, so the policy is tested without timers.
//!
//! * [`official_next_refresh`] / [`official_ttl`] reproduce the official managed-credentials
//!   strategy (`RotateAKSecretRefreshSecretStrategy`) exactly, and are checked against
//!   `refresh_strategy_vectors.json`.
//! * [`next_refresh`] is ours: the earliest of `NextRotationDate + rotation_delay`,
//!   `now + max_interval` and `ExpireTimestamp - expiry_buffer`, with a fresh random jitter per
//!   refresh. With jitter 0 and the official defaults it gives the same answers as the official
//!   function on every vector; where the two differ, see the function docs.
//! * [`hard_expiry`] bounds stale-if-error, [`retry_delay`] spaces retries after a failure.

use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::config::{RefreshConfig, RetryConfig};

#[cfg(test)]
/// The official `parseNextExecuteTime`: with `R` = rotation interval (6 h), `D` = delay (5 min)
/// and `J` = the per-process random disturbance: if `NextRotationDate` is absent, in the past,
/// or at least `R + J` ahead → `now + R + J`; else `NextRotationDate + D + J`.
pub(crate) fn official_next_refresh(
    now: SystemTime,
    next_rotation: Option<SystemTime>,
    rotation_interval: Duration,
    delay_interval: Duration,
    disturbance: Duration,
) -> SystemTime {
    let horizon = now + rotation_interval + disturbance;
    match next_rotation {
        Some(nrd) if nrd > now && nrd < horizon => nrd + delay_interval + disturbance,
        _ => horizon,
    }
}

#[cfg(test)]
/// The official `parseTTL` (on-read expiry of a cached value): for `RAMCredentials` +
/// `SecretSubType=RamUserAccessKey`, `RotationInterval` (or `R` if absent) + `J`; otherwise the
/// secret's own `refreshInterval` + `J`; otherwise `None` (the official clients then use 1 h).
/// We do not expire on read (stale-if-error instead); kept to document and test the difference.
pub(crate) fn official_ttl(
    secret_type: &str,
    secret_sub_type: Option<&str>,
    rotation_interval: Option<Duration>,
    refresh_interval: Option<Duration>,
    default_rotation_interval: Duration,
    disturbance: Duration,
) -> Option<Duration> {
    if secret_type.eq_ignore_ascii_case("RAMCredentials")
        && secret_sub_type == Some("RamUserAccessKey")
    {
        Some(rotation_interval.unwrap_or(default_rotation_interval) + disturbance)
    } else {
        refresh_interval.map(|r| r + disturbance)
    }
}

/// What the schedule looks at, taken from the freshly fetched secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScheduleInput {
    /// `NextRotationDate` (or legacy `scheduleRotateTimestamp`).
    pub next_rotation: Option<SystemTime>,
    /// `ExpireTimestamp` of the AccessKey.
    pub expire: Option<SystemTime>,
    /// Legacy per-secret `refreshInterval` (generic secrets).
    pub refresh_interval: Option<Duration>,
}

/// Our next refresh after a successful fetch at `now`: the earliest of
///
/// * `now + max_interval + jitter` (the official 6 h floor);
/// * `now + refreshInterval + jitter` when the secret data carries one;
/// * `NextRotationDate + rotation_delay + jitter`, if `NextRotationDate` is in the future;
/// * `ExpireTimestamp - expiry_buffer - jitter` (never after the key dies; if that is already
///   past, half of the remaining lifetime, at least 1 s, so a short-lived key cannot cause a
///   refresh loop).
///
/// Differences from [`official_next_refresh`], on purpose: (1) jitter is drawn per refresh, not
/// once per process, so a fleet started together does not stay in lock-step; (2) we take the
/// minimum, so a rotation just under 6 h ahead never pushes the refresh past `now + 6 h` (the
/// official band rule gives `NRD + D`, up to 5 min later); (3) `ExpireTimestamp` is honoured
/// (the official clients parse it but never use it); (4) after a failure we retry with backoff
/// ([`retry_delay`]) instead of waiting a full interval.
pub(crate) fn next_refresh(
    config: &RefreshConfig,
    now: SystemTime,
    input: &ScheduleInput,
    jitter: Duration,
) -> SystemTime {
    let mut at = later(now, config.max_interval.saturating_add(jitter));
    if let Some(interval) = input.refresh_interval.filter(|i| !i.is_zero()) {
        at = at.min(later(now, interval.saturating_add(jitter)));
    }
    if let Some(nrd) = input.next_rotation.filter(|nrd| *nrd > now) {
        at = at.min(later(nrd, config.rotation_delay.saturating_add(jitter)));
    }
    if let Some(expire) = input.expire {
        let ahead = expire
            .checked_sub(config.expiry_buffer.saturating_add(jitter))
            .filter(|t| *t > now)
            .unwrap_or_else(|| {
                let left = expire.duration_since(now).unwrap_or(Duration::ZERO);
                later(now, (left / 2).max(Duration::from_secs(1)))
            });
        at = at.min(ahead);
    }
    at
}

/// A random jitter in `[0, config.jitter]`, drawn for each refresh.
pub(crate) fn draw_jitter(config: &RefreshConfig, rng: &mut impl Rng) -> Duration {
    if config.jitter.is_zero() {
        return Duration::ZERO;
    }
    let max = config.jitter.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rng.random_range(0..=max))
}

/// Until when a key fetched at `fetched_at` may be served while refreshes fail: its
/// `ExpireTimestamp`, else `fetched_at + max_staleness`, else never (the far future).
pub(crate) fn hard_expiry(
    config: &RefreshConfig,
    fetched_at: SystemTime,
    expire: Option<SystemTime>,
) -> SystemTime {
    expire.unwrap_or_else(|| match config.max_staleness {
        Some(limit) => later(fetched_at, limit),
        None => later(fetched_at, Duration::MAX),
    })
}

/// `t + d`, saturating at the year 9999 instead of panicking: `refreshInterval` and the
/// configured durations can be any `u64`, and `SystemTime + Duration` panics on overflow.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    // 9999-12-31T23:59:59Z, representable by `SystemTime` on every platform.
    const FAR_FUTURE_SECS: u64 = 253_402_300_799;
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(FAR_FUTURE_SECS);
    t.checked_add(d).unwrap_or(far.max(t))
}

/// Wait before background retry number `failures` (1-based) after failed refreshes: capped
/// exponential backoff with full jitter between `retry_base` and `retry_max`.
pub(crate) fn retry_delay(config: &RefreshConfig, failures: u32, rng: &mut impl Rng) -> Duration {
    let retry = RetryConfig {
        max_attempts: u32::MAX,
        base_delay: config.retry_base,
        max_delay: config.retry_max,
    };
    crate::kms::backoff::backoff_delay(&retry, failures.max(1), rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{parse_date, parse_interval};

    const VECTORS: &str =
        include_str!("../../tests/fixtures/gateway/refresh_strategy_vectors.json");

    fn date(s: &str) -> SystemTime {
        parse_date("v", "date", s).unwrap().unwrap()
    }

    fn ms(t: SystemTime) -> u128 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    }

    fn official_defaults() -> RefreshConfig {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let d = &v["defaults"];
        RefreshConfig {
            max_interval: Duration::from_millis(d["rotation_interval_ms"].as_u64().unwrap()),
            rotation_delay: Duration::from_millis(d["delay_interval_ms"].as_u64().unwrap()),
            jitter: Duration::ZERO,
            ..RefreshConfig::default()
        }
    }

    #[test]
    fn official_and_ours_reproduce_the_vectors_with_zero_jitter() {
        let v: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
        let config = official_defaults();
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 6);
        for case in cases {
            let name = case["case"].as_str().unwrap();
            let now = date(case["now"].as_str().unwrap());
            let nrd = case["NextRotationDate"].as_str().map(date);
            let want = case["next_refresh_ms"].as_f64().unwrap() as u128;
            assert_eq!(
                ms(date(case["next_refresh_at"].as_str().unwrap())),
                want,
                "{name}"
            );
            let official = official_next_refresh(
                now,
                nrd,
                config.max_interval,
                config.rotation_delay,
                Duration::ZERO,
            );
            assert_eq!(ms(official), want, "official: {name}");
            let input = ScheduleInput {
                next_rotation: nrd,
                ..ScheduleInput::default()
            };
            assert_eq!(
                ms(next_refresh(&config, now, &input, Duration::ZERO)),
                want,
                "ours: {name}"
            );

            let interval = case["RotationInterval"]
                .as_str()
                .and_then(|s| parse_interval("v", "RotationInterval", s).unwrap());
            let secret_type = case["SecretType"].as_str().unwrap();
            let (sub_type, refresh_interval) = if secret_type == "RAMCredentials" {
                (Some("RamUserAccessKey"), None)
            } else {
                // "generic secret with refreshInterval in value": the value says 3600s.
                (None, Some(Duration::from_secs(3600)))
            };
            let ttl = official_ttl(
                secret_type,
                sub_type,
                interval,
                refresh_interval,
                config.max_interval,
                Duration::ZERO,
            );
            assert_eq!(
                ttl.map(|t| t.as_millis()),
                Some(case["parse_ttl_ms"].as_u64().unwrap() as u128),
                "ttl: {name}"
            );
        }
    }

    #[test]
    fn ours_differs_where_documented() {
        let config = official_defaults();
        let now = date("2024-02-01T08:00:00Z");
        // Rotation 5h58m ahead: official waits until NRD + 5 min (6h03m), ours caps at 6 h.
        let nrd = now + Duration::from_secs(5 * 3600 + 58 * 60);
        let official = official_next_refresh(
            now,
            Some(nrd),
            config.max_interval,
            config.rotation_delay,
            Duration::ZERO,
        );
        assert_eq!(official, nrd + Duration::from_secs(300));
        let input = ScheduleInput {
            next_rotation: Some(nrd),
            ..Default::default()
        };
        assert_eq!(
            next_refresh(&config, now, &input, Duration::ZERO),
            now + Duration::from_secs(6 * 3600)
        );
        // ExpireTimestamp in 1 h: refresh 10 min before it (official ignores it).
        let input = ScheduleInput {
            expire: Some(now + Duration::from_secs(3600)),
            ..Default::default()
        };
        assert_eq!(
            next_refresh(&config, now, &input, Duration::ZERO),
            now + Duration::from_secs(3000)
        );
        // Already inside the buffer: half the remaining life, not a refresh loop.
        let input = ScheduleInput {
            expire: Some(now + Duration::from_secs(120)),
            ..Default::default()
        };
        assert_eq!(
            next_refresh(&config, now, &input, Duration::ZERO),
            now + Duration::from_secs(60)
        );
    }

    #[test]
    fn jitter_is_fresh_per_refresh_and_bounded() {
        let config = RefreshConfig::default();
        let mut rng = rand::rng();
        let now = date("2024-02-01T08:00:00Z");
        let input = ScheduleInput::default();
        let times: std::collections::HashSet<_> = (0..100)
            .map(|_| next_refresh(&config, now, &input, draw_jitter(&config, &mut rng)))
            .collect();
        assert!(times.len() > 90);
        for t in times {
            let d = t.duration_since(now).unwrap();
            assert!(d >= config.max_interval && d <= config.max_interval + config.jitter);
        }
        // Expiry-driven refreshes jitter earlier, never later than the buffer.
        let input = ScheduleInput {
            expire: Some(now + Duration::from_secs(3600)),
            ..Default::default()
        };
        let t = next_refresh(&config, now, &input, draw_jitter(&config, &mut rng));
        assert!(t <= now + Duration::from_secs(3000));
    }

    #[test]
    fn hard_expiry_and_retry_delay() {
        let config = RefreshConfig::default();
        let t0 = date("2024-02-01T08:00:00Z");
        // No ExpireTimestamp and no configured limit: served as long as needed.
        assert!(hard_expiry(&config, t0, None) > t0 + Duration::from_secs(100 * 365 * 86_400));
        let limited = RefreshConfig {
            max_staleness: Some(Duration::from_secs(3600)),
            ..RefreshConfig::default()
        };
        assert_eq!(
            hard_expiry(&limited, t0, None),
            t0 + Duration::from_secs(3600)
        );
        let exp = t0 + Duration::from_secs(60);
        assert_eq!(hard_expiry(&config, t0, Some(exp)), exp);
        let mut rng = rand::rng();
        for failures in 1..20 {
            let d = retry_delay(&config, failures, &mut rng);
            assert!(d <= config.retry_max);
            let ceiling = config.retry_base * 2u32.saturating_pow(failures - 1);
            assert!(d <= ceiling.min(config.retry_max));
        }
    }

    /// Review finding: `now + refreshInterval` with `refreshInterval` = u64::MAX seconds (from
    /// secret data) panicked; it now saturates and the 6 h floor still wins.
    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let config = RefreshConfig::default();
        let now = date("2024-02-01T08:00:00Z");
        let input = ScheduleInput {
            refresh_interval: Some(Duration::from_secs(u64::MAX)),
            next_rotation: Some(later(now, Duration::from_secs(u64::MAX))),
            ..Default::default()
        };
        let at = next_refresh(&config, now, &input, Duration::MAX);
        assert!(at > now);
        let at = next_refresh(&config, now, &input, Duration::ZERO);
        assert_eq!(at, now + config.max_interval);

        let huge = RefreshConfig {
            max_interval: Duration::MAX,
            max_staleness: Some(Duration::MAX),
            rotation_delay: Duration::MAX,
            ..RefreshConfig::default()
        };
        assert!(next_refresh(&huge, now, &input, Duration::MAX) > now);
        assert!(hard_expiry(&huge, now, None) > now);
        assert_eq!(
            later(now, Duration::from_secs(60)),
            now + Duration::from_secs(60)
        );
        assert_eq!(
            later(now, Duration::MAX),
            later(now, Duration::from_secs(u64::MAX))
        );
    }
}
