//! Certificate expiry: a pure threshold function (testable with any `now`) and the one log event
//! emitted per certificate when loading.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days before `not_after` at which loading warns: a certificate with at most this many whole
/// days left gets a warning naming the tightest threshold reached.
pub(crate) const EXPIRY_WARNING_THRESHOLDS_DAYS: [i64; 4] = [7, 30, 90, 180];

const SECS_PER_DAY: i64 = 86_400;

/// Why a certificate deserves a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExpiryWarning {
    /// `not_after` is in the past.
    Expired {
        /// Whole days since expiry (0 on the day it expired).
        days_ago: i64,
    },
    /// `not_after` is within one of [`EXPIRY_WARNING_THRESHOLDS_DAYS`].
    ExpiresSoon {
        /// Whole days left (rounded down).
        days_left: i64,
        /// The tightest threshold reached (7, 30, 90 or 180).
        threshold_days: i64,
    },
}

/// The warning due for a certificate valid until `not_after`, seen at `now`; `None` while more
/// than 180 whole days are left.
pub(crate) fn expiry_warning(not_after: SystemTime, now: SystemTime) -> Option<ExpiryWarning> {
    let left = unix_secs(not_after) - unix_secs(now);
    if left < 0 {
        return Some(ExpiryWarning::Expired {
            days_ago: (-left) / SECS_PER_DAY,
        });
    }
    let days_left = left / SECS_PER_DAY;
    EXPIRY_WARNING_THRESHOLDS_DAYS
        .iter()
        .find(|&&t| days_left <= t)
        .map(|&threshold_days| ExpiryWarning::ExpiresSoon {
            days_left,
            threshold_days,
        })
}

#[cfg(test)]
/// Whole days from `now` to `t` (negative once `t` has passed; rounded towards −∞).
pub(crate) fn days_until(t: SystemTime, now: SystemTime) -> i64 {
    (unix_secs(t) - unix_secs(now)).div_euclid(SECS_PER_DAY)
}

/// Signed seconds since the Unix epoch (saturating).
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// `SystemTime` from signed Unix seconds (saturating at what the platform can represent).
pub(crate) fn from_unix_secs(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// `YYYY-MM-DD hh:mm:ss UTC`, for messages.
pub(crate) fn format_date(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix_secs(t))
        .ok()
        .and_then(|d| d.format(&format).ok())
        .unwrap_or_else(|| format!("{} seconds since 1970", unix_secs(t)))
}

/// Logs one `warn` event if `not_after` is within a threshold or passed. `kind` is e.g.
/// "ClientKey certificate"; `fix` says what to do.
pub(crate) fn log_expiry(
    kind: &str,
    subject: &str,
    file: &str,
    not_after: SystemTime,
    now: SystemTime,
    fix: &str,
) -> Option<ExpiryWarning> {
    let warning = expiry_warning(not_after, now)?;
    let date = format_date(not_after);
    match warning {
        ExpiryWarning::Expired { days_ago } => tracing::warn!(
            subject,
            file,
            not_after = %date,
            days_ago,
            "{kind} {subject} in {file} expired on {date} ({days_ago} days ago); {fix}"
        ),
        ExpiryWarning::ExpiresSoon {
            days_left,
            threshold_days,
        } => tracing::warn!(
            subject,
            file,
            not_after = %date,
            days_left,
            threshold_days,
            "{kind} {subject} in {file} expires on {date} ({days_left} days left); {fix}"
        ),
    }
    Some(warning)
}

/// Logs one `warn` event if the certificate is not valid yet (clock skew or a pre-dated file).
pub(crate) fn log_not_yet_valid(
    kind: &str,
    subject: &str,
    file: &str,
    not_before: SystemTime,
    now: SystemTime,
) -> bool {
    if unix_secs(not_before) <= unix_secs(now) {
        return false;
    }
    let date = format_date(not_before);
    tracing::warn!(
        subject,
        file,
        not_before = %date,
        "{kind} {subject} in {file} is not valid before {date}; check the system clock"
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64, extra_secs: i64) -> SystemTime {
        from_unix_secs(1_700_000_000 + days * SECS_PER_DAY + extra_secs)
    }

    #[test]
    fn thresholds() {
        let now = at(0, 0);
        assert_eq!(expiry_warning(at(181, 0), now), None);
        let soon = |d, t| {
            Some(ExpiryWarning::ExpiresSoon {
                days_left: d,
                threshold_days: t,
            })
        };
        assert_eq!(expiry_warning(at(179, 0), now), soon(179, 180));
        assert_eq!(expiry_warning(at(180, 86_399), now), soon(180, 180));
        assert_eq!(expiry_warning(at(180, 0), now), soon(180, 180));
        assert_eq!(expiry_warning(at(91, 0), now), soon(91, 180));
        assert_eq!(expiry_warning(at(90, 3600), now), soon(90, 90));
        assert_eq!(expiry_warning(at(31, 0), now), soon(31, 90));
        assert_eq!(expiry_warning(at(30, 0), now), soon(30, 30));
        assert_eq!(expiry_warning(at(8, 0), now), soon(8, 30));
        assert_eq!(expiry_warning(at(7, 86_399), now), soon(7, 7));
        assert_eq!(expiry_warning(at(0, 0), now), soon(0, 7));
        assert_eq!(
            expiry_warning(at(0, -1), now),
            Some(ExpiryWarning::Expired { days_ago: 0 })
        );
        assert_eq!(
            expiry_warning(at(-3, -5), now),
            Some(ExpiryWarning::Expired { days_ago: 3 })
        );
    }

    #[test]
    fn days_until_rounds_down() {
        let now = at(0, 0);
        assert_eq!(days_until(at(1, 0), now), 1);
        assert_eq!(days_until(at(0, 86_399), now), 0);
        assert_eq!(days_until(at(0, -1), now), -1);
    }

    #[test]
    fn unix_round_trip_before_epoch() {
        for s in [-1_000_000_i64, -1, 0, 1, 4_102_444_800] {
            assert_eq!(unix_secs(from_unix_secs(s)), s);
        }
        assert_eq!(format_date(from_unix_secs(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            format_date(from_unix_secs(1_706_774_400)),
            "2024-02-01 08:00:00 UTC"
        );
    }
}
