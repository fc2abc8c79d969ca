//! Counters and the `stats()` / `health()` views.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The provider's counters (cold-path ones are plain atomics).
#[derive(Default)]
pub(crate) struct Counters {
    pub misses: AtomicU64,
    pub fetches: AtomicU64,
    pub fetch_failures: AtomicU64,
    pub failures_by_code: Mutex<HashMap<String, u64>>,
    pub forced_refreshes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub new_versions: AtomicU64,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    pub(crate) fn failure(&self, code: &str) {
        self.fetch_failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.failures_by_code.lock() {
            *map.entry(code.to_owned()).or_default() += 1;
        }
    }
}

/// A point-in-time copy of a provider's counters. Cache hits are not counted: a hit writes
/// nothing shared (see the manual's Benchmarks); `misses` and `fetches` tell how often the
/// cache could not answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found no usable cached value and waited for a fetch.
    pub misses: u64,
    /// Fetches started (each may send requests to several endpoints).
    pub fetches: u64,
    /// Fetches that failed.
    pub fetch_failures: u64,
    /// Failed fetches by KMS error code (`Transport`, `InvalidResponse`, `Request`,
    /// `SecretFile`, `SecretData` for failures without a KMS code).
    pub failures_by_code: BTreeMap<String, u64>,
    /// Forced refreshes started by `report_rejected` or `refresh_now`.
    pub forced_refreshes: u64,
    /// `report_rejected` calls refused by the per-secret rate limit.
    pub rate_limited: u64,
    /// Fetches that brought a new secret version.
    pub new_versions: u64,
    /// Requests moved to the next endpoint after a retryable error.
    pub failovers: u64,
    /// Hedged requests sent to the next endpoint because the current one was slow.
    pub hedged_requests: u64,
}

/// Health of one cached secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretHealth {
    /// Secret name.
    pub name: String,
    /// Version currently served, if any.
    pub version_id: Option<String>,
    /// Time since the served version was fetched.
    pub age: Option<Duration>,
    /// Next scheduled refresh (`None` while a fetch is in flight or nothing is cached).
    pub next_refresh: Option<SystemTime>,
    /// Until when the served value may be used (`ExpireTimestamp`, else fetch + max_staleness).
    pub usable_until: Option<SystemTime>,
    /// The last refresh failed and an older value is being served.
    pub stale: bool,
    /// The cached value is past `usable_until` and is no longer served.
    pub expired: bool,
    /// Failed fetches since the last success.
    pub consecutive_failures: u32,
    /// The last failure (error text; never secret material). For a secret read from files
    /// (`secret_files_dir`), the last read error.
    pub last_error: Option<String>,
    /// For a secret read from files (`secret_files_dir`): time since the files last read were
    /// modified, i.e. since the operator that syncs them last wrote a new version. A value
    /// much older than the secret's rotation interval means the sync has stopped. `None` for
    /// KMS endpoints and before the first successful read.
    pub file_age: Option<Duration>,
}

/// Expiry of a certificate the provider depends on (ClientKey, instance CA).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateHealth {
    /// What it is, e.g. `ClientKey KAAP.xxx` or `CA /etc/kms/ca.pem`.
    pub label: String,
    /// `notAfter`.
    pub not_after: SystemTime,
    /// Time left (`None` once expired).
    pub remaining: Option<Duration>,
}

/// The provider's health view.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// One entry per secret the provider knows, sorted by name.
    pub secrets: Vec<SecretHealth>,
    /// Certificates given to the builder, with time left.
    pub certificates: Vec<CertificateHealth>,
    /// The endpoint the next fetch starts with.
    pub preferred_endpoint: String,
    /// Whether `close()` was called.
    pub closed: bool,
}

impl Health {
    /// True when every known secret has a usable, non-stale value and no certificate expired.
    pub fn is_healthy(&self) -> bool {
        !self.closed
            && self
                .secrets
                .iter()
                .all(|s| s.version_id.is_some() && !s.stale && !s.expired)
            && self.certificates.iter().all(|c| c.remaining.is_some())
    }
}
