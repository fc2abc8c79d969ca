//! [`ProvideAccessKey`]: the one credentials trait every signer in this crate's integrations
//! calls, and [`AccessKeyProvider`], the cheap per-secret handle that implements it over the
//! shared cache of a [`ManagedCredentialsProvider`].
//!
//! ```no_run
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
//! # -> aliyun_managed_credentials::Result<()> {
//! use std::sync::Arc;
//! use aliyun_managed_credentials::ProvideAccessKey;
//!
//! // Any provider fits behind one trait object, as SDK code holds credentials.
//! let creds: Arc<dyn ProvideAccessKey> = Arc::new(provider.access_key_provider("acs/ram/user/app"));
//! let ak = creds.access_key().await?; // one snapshot: id and secret always belong together
//! # let _ = ak;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::cache::schedule::later;
use crate::cache::KeyHit;
use crate::kms::BoxFuture;
use crate::provider::RefreshOutcome;
use crate::secret::AccessKey;
use crate::{ManagedCredentialsProvider, Result};

/// Something that hands out the current AccessKey of one managed secret.
///
/// Called per request by signers, so implementations must answer from memory when they can.
/// Every call returns one immutable snapshot: never pair the id of one call with the secret of
/// another (the official Java plugin's two-read bug, reference §c.8).
///
/// Usable as a trait object (`Arc<dyn ProvideAccessKey>`), as smithy's `ProvideCredentials` is:
/// [`access_key`](Self::access_key) returns the named [`AccessKeyFuture`], which is ready at once
/// (no allocation) on a cache hit.
pub trait ProvideAccessKey: Send + Sync + fmt::Debug {
    /// The secret this provider is bound to.
    fn secret_name(&self) -> &str;

    /// The current AccessKey (cache hit: no I/O).
    fn access_key(&self) -> AccessKeyFuture<'_>;

    /// Tells the provider that a service rejected `key` with `error_code`; see
    /// [`ManagedCredentialsProvider::report_rejected`].
    fn report_rejected<'a>(
        &'a self,
        key: &'a AccessKey,
        error_code: &'a str,
    ) -> BoxFuture<'a, RefreshOutcome>;
}

/// The future [`ProvideAccessKey::access_key`] returns: either the answer already (a cache hit,
/// no allocation) or a boxed fetch. A named type keeps the trait usable as `dyn`.
#[must_use = "futures do nothing unless awaited"]
pub struct AccessKeyFuture<'a>(Inner<'a>);

enum Inner<'a> {
    Ready(Option<Result<Arc<AccessKey>>>),
    Pending(BoxFuture<'a, Result<Arc<AccessKey>>>),
}

/// A future that is ready at once with `result` (for implementations answering from memory).
impl From<Result<Arc<AccessKey>>> for AccessKeyFuture<'_> {
    fn from(result: Result<Arc<AccessKey>>) -> Self {
        Self(Inner::Ready(Some(result)))
    }
}

/// A future that runs a fetch (for implementations that may have to wait): box it with
/// `Box::pin(async move { ... })`.
impl<'a> From<BoxFuture<'a, Result<Arc<AccessKey>>>> for AccessKeyFuture<'a> {
    fn from(future: BoxFuture<'a, Result<Arc<AccessKey>>>) -> Self {
        Self(Inner::Pending(future))
    }
}

impl Future for AccessKeyFuture<'_> {
    type Output = Result<Arc<AccessKey>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Inner::Ready(result) => Poll::Ready(
                result
                    .take()
                    .expect("AccessKeyFuture polled after it completed"),
            ),
            Inner::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for AccessKeyFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(_) => "AccessKeyFuture::Ready",
            Inner::Pending(_) => "AccessKeyFuture::Pending",
        })
    }
}

/// How long adapters tell their consumers a key stays good (a synthetic expiry: managed
/// AccessKeys have none of their own, and consumers such as reqsign keep a credential without
/// expiry forever, so they would never see a rotation).
///
/// The reported expiry is the provider's next refresh point for the secret (also bounded by the
/// key's `ExpireTimestamp`, and optionally by `NextRotationDate`), clamped into
/// `[now + min_validity, now + max_validity]`; when the two bounds conflict the minimum wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpiryPolicy {
    /// Never report less than this (default 5 min). Raise it to the longest presigned-URL
    /// lifetime you sign: reqsign refuses to sign a URL that outlives its credential.
    pub min_validity: Duration,
    /// Never report more than this (default 1 h): bounds how long a consumer that caches the
    /// credential keeps an old key after an early (forced or manual) rotation.
    pub max_validity: Duration,
    /// Also end the validity at the secret's `NextRotationDate` (default false; the credentials
    /// endpoint turns it on so clients come back before the rotation).
    pub before_rotation: bool,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        Self {
            min_validity: Duration::from_secs(5 * 60),
            max_validity: Duration::from_secs(3600),
            before_rotation: false,
        }
    }
}

impl ExpiryPolicy {
    /// The synthetic expiry of `key` at `now`, given the provider's next scheduled refresh.
    pub(crate) fn valid_until(
        &self,
        key: &AccessKey,
        next_refresh: Option<SystemTime>,
        now: SystemTime,
    ) -> SystemTime {
        let rotation = key
            .next_rotation()
            .filter(|_| self.before_rotation)
            .filter(|t| *t > now);
        let point = [next_refresh, key.expire_time(), rotation]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| later(now, self.max_validity));
        let clamped = point
            .min(later(now, self.max_validity))
            .max(later(now, self.min_validity));
        // Never advertise a key as good past its real expiry, whatever min_validity says.
        match key.expire_time() {
            Some(expire) => clamped.min(expire),
            None => clamped,
        }
    }
}

/// A cheap, cloneable handle bound to one secret of a [`ManagedCredentialsProvider`]. All
/// handles and adapters built from one provider share its cache, its single-flight fetches and
/// its forced-refresh rate limit.
///
/// Behind cargo features it is also the credentials provider of reqsign (`reqsign`), ossify
/// (`ossify`), object_store (`object-store`) and Alibaba's official Log Service SDK,
/// aliyun-log-rust-sdk (`sls`: `aliyun_log_rust_sdk::CredentialsProvider`); the adapters whose
/// consumers cache credentials report the synthetic expiry of [`ExpiryPolicy`], so they come back
/// for the key after a rotation.
#[derive(Clone)]
pub struct AccessKeyProvider {
    provider: ManagedCredentialsProvider,
    name: Arc<str>,
    /// The secret's cache slot, held so a read skips the name lookup.
    slot: Arc<crate::cache::Slot>,
    expiry: ExpiryPolicy,
    /// The key last handed to object_store, converted once (shared by clones).
    #[cfg(feature = "object-store")]
    aws: Arc<super::object_store::AwsCredentialMemo>,
}

impl fmt::Debug for AccessKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyProvider")
            .field("secret_name", &self.name)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl ManagedCredentialsProvider {
    /// A handle bound to the RAM-credential secret `name`, implementing [`ProvideAccessKey`]
    /// (and, behind cargo features, the credential traits of reqsign, ossify, rusty-oss,
    /// object_store and aliyun-log-rust-sdk, the official SLS SDK).
    /// Cheap: no I/O until the first key is needed.
    pub fn access_key_provider(&self, name: impl Into<String>) -> AccessKeyProvider {
        let name: Arc<str> = Arc::from(name.into());
        AccessKeyProvider {
            slot: self.cache.slot(&name),
            provider: self.clone(),
            name,
            expiry: ExpiryPolicy::default(),
            #[cfg(feature = "object-store")]
            aws: Arc::default(),
        }
    }
}

impl AccessKeyProvider {
    /// Replaces the synthetic-expiry policy reported to adapters.
    pub fn with_expiry_policy(mut self, policy: ExpiryPolicy) -> Self {
        self.expiry = policy;
        self
    }

    /// The cached key if a usable one is cached; never does I/O or waits.
    #[inline]
    pub fn cached(&self) -> Option<Result<Arc<AccessKey>>> {
        self.with_cached(Arc::clone)
    }

    /// Lends the cached key to `f` without cloning its `Arc`: for a signer that needs the key
    /// for one signature, it saves the clone and drop of the reference count (a few ns; on a
    /// hit the count is this thread's own either way, so neither read contends across
    /// threads). `None` when no
    /// usable key is cached (then use [`access_key`](ProvideAccessKey::access_key)). Keep `f`
    /// short: the snapshot is pinned while it runs.
    pub fn with_cached<R>(&self, f: impl FnOnce(&Arc<AccessKey>) -> R) -> Option<Result<R>> {
        let cache = &self.provider.cache;
        if cache.is_closed() {
            return Some(Err(crate::ProviderError::Closed.into()));
        }
        match cache.slot_access_key_hit(&self.slot, f) {
            KeyHit::Key(value) => Some(Ok(value)),
            KeyHit::Miss => None,
            KeyHit::NotAccessKey => cache.access_key_error(&self.slot).map(|e| Err(e.into())),
        }
    }

    /// A receiver that always holds the current key and is notified on every new one
    /// (push-style consumers such as `rusty-oss`'s `RotatingCredentials`).
    pub async fn subscribe(&self) -> Result<watch::Receiver<Arc<AccessKey>>> {
        self.provider.subscribe(&self.name).await
    }

    /// The object_store adapter's converted-credential memo.
    #[cfg(feature = "object-store")]
    pub(super) fn aws_memo(&self) -> &super::object_store::AwsCredentialMemo {
        &self.aws
    }

    /// The provider's next scheduled refresh of this secret, if one is scheduled.
    pub(crate) fn next_refresh(&self) -> Option<SystemTime> {
        self.provider
            .health()
            .secrets
            .into_iter()
            .find(|s| *s.name == *self.name)
            .and_then(|s| s.next_refresh)
    }

    /// The synthetic expiry to report for `key` now (see [`ExpiryPolicy`]).
    pub fn valid_until(&self, key: &AccessKey) -> SystemTime {
        self.expiry
            .valid_until(key, self.next_refresh(), SystemTime::now())
    }
}

impl ProvideAccessKey for AccessKeyProvider {
    fn secret_name(&self) -> &str {
        &self.name
    }

    fn access_key(&self) -> AccessKeyFuture<'_> {
        match self.cached() {
            Some(hit) => hit.into(),
            None => {
                let fetch: BoxFuture<'_, _> = Box::pin(self.provider.get_access_key(&self.name));
                fetch.into()
            }
        }
    }

    // Concurrent reports of one dead key share one forced refresh inside the provider, so no
    // serialization is needed here.
    fn report_rejected<'a>(
        &'a self,
        key: &'a AccessKey,
        error_code: &'a str,
    ) -> BoxFuture<'a, RefreshOutcome> {
        Box::pin(self.provider.report_rejected(&self.name, key, error_code))
    }
}

impl<T: ProvideAccessKey + ?Sized> ProvideAccessKey for Arc<T> {
    fn secret_name(&self) -> &str {
        (**self).secret_name()
    }
    fn access_key(&self) -> AccessKeyFuture<'_> {
        (**self).access_key()
    }
    fn report_rejected<'a>(
        &'a self,
        key: &'a AccessKey,
        error_code: &'a str,
    ) -> BoxFuture<'a, RefreshOutcome> {
        (**self).report_rejected(key, error_code)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::SecretString;
    use crate::kms::SecretValue;
    use crate::secret::{format_date, Secret};

    pub(crate) fn key(
        id: &str,
        next_rotation: Option<SystemTime>,
        expire: Option<SystemTime>,
    ) -> AccessKey {
        let mut data = format!(r#"{{"AccessKeyId":"{id}","AccessKeySecret":"s-{id}""#);
        if let Some(e) = expire {
            data.push_str(&format!(r#","ExpireTimestamp":"{}""#, format_date(e)));
        }
        data.push('}');
        let value = SecretValue {
            secret_name: "acs/ram/user/app".into(),
            secret_type: "RAMCredentials".into(),
            secret_data: SecretString::new(data),
            secret_data_type: "text".into(),
            version_stages: vec!["ACSCurrent".into()],
            version_id: "v1".into(),
            create_time: String::new(),
            request_id: "r".into(),
            last_rotation_date: String::new(),
            next_rotation_date: next_rotation.map(format_date).unwrap_or_default(),
            extended_config: r#"{"SecretSubType":"RamUserAccessKey"}"#.into(),
            automatic_rotation: "Enabled".into(),
            rotation_interval: "604800s".into(),
        };
        let secret = Secret::from_value(&value, SystemTime::UNIX_EPOCH).unwrap();
        AccessKey::from_secret(&secret).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    const MIN: Duration = Duration::from_secs(60);

    impl ExpiryPolicy {
        fn min_validity(mut self, d: Duration) -> Self {
            self.min_validity = d;
            self
        }
        fn max_validity(mut self, d: Duration) -> Self {
            self.max_validity = d;
            self
        }
        fn before_rotation(mut self, yes: bool) -> Self {
            self.before_rotation = yes;
            self
        }
    }

    #[test]
    fn valid_until_is_the_next_refresh_clamped_to_min_and_max() {
        let now = at(0);
        let p = ExpiryPolicy::default()
            .min_validity(Duration::from_secs(300))
            .max_validity(Duration::from_secs(3600));
        let k = key("A", Some(at(1800)), None);
        assert_eq!(p.valid_until(&k, Some(at(2000)), now), at(2000));
        assert_eq!(p.valid_until(&k, Some(at(100)), now), at(300), "min wins");
        assert_eq!(p.valid_until(&k, Some(at(9000)), now), at(3600), "max caps");
        assert_eq!(p.valid_until(&k, None, now), at(3600), "nothing scheduled");
        let long = p.min_validity(Duration::from_secs(7200));
        assert_eq!(
            long.valid_until(&k, Some(at(100)), now),
            at(7200),
            "min beats max"
        );
    }

    /// Review finding: `now + max_validity` panicked for `--max-validity 18446744073709551615`
    /// (the CLI parses any u64); the bounds now saturate.
    #[test]
    fn huge_validity_bounds_do_not_panic() {
        let now = at(0);
        let k = key("A", None, None);
        let p = ExpiryPolicy::default().max_validity(Duration::from_secs(u64::MAX));
        assert!(p.valid_until(&k, None, now) > now);
        let p = p.min_validity(Duration::MAX);
        assert!(p.valid_until(&k, Some(at(10)), now) > at(10));
    }

    #[test]
    fn before_rotation_and_expire_timestamp_bound_the_validity() {
        let now = at(0);
        let p = ExpiryPolicy::default().min_validity(MIN);
        let k = key("A", Some(at(1200)), None);
        assert_eq!(p.valid_until(&k, Some(at(2000)), now), at(2000));
        let p = p.before_rotation(true);
        assert_eq!(p.valid_until(&k, Some(at(2000)), now), at(1200));
        // A rotation date in the past (rotation done, not yet fetched) does not count.
        let past = key("A", Some(SystemTime::UNIX_EPOCH), None);
        assert_eq!(p.valid_until(&past, Some(at(2000)), now), at(2000));
        let expiring = key("A", None, Some(at(900)));
        assert_eq!(p.valid_until(&expiring, Some(at(2000)), now), at(900));
        // min_validity never pushes the advertised expiry past ExpireTimestamp.
        let long_min = p.min_validity(Duration::from_secs(3600));
        assert_eq!(long_min.valid_until(&expiring, None, now), at(900));
        assert_eq!(long_min.valid_until(&expiring, Some(at(100)), now), at(900));
    }
}

/// Why an adapter got no key: the secret's name and the provider's error, both in the message
/// (SDKs often print only the top message), and the error as the source. No secret in either.
#[cfg(any(feature = "object-store", feature = "sls"))]
#[derive(Debug)]
pub(crate) struct CredentialError {
    pub secret_name: Arc<str>,
    pub source: crate::Error,
}

#[cfg(any(feature = "object-store", feature = "sls"))]
impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not get the managed AccessKey of secret '{}': {}",
            self.secret_name, self.source
        )
    }
}

#[cfg(any(feature = "object-store", feature = "sls"))]
impl std::error::Error for CredentialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
