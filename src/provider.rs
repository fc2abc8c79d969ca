//! [`ManagedCredentialsProvider`]: the public face of the cache.
//!
//! ```no_run
//! # async fn demo() -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::ManagedCredentialsProvider;
//!
//! let provider = ManagedCredentialsProvider::from_default_file().await?;
//! let ak = provider.get_access_key("acs/ram/user/app-prod").await?;
//! // sign with ak.access_key_id() / ak.access_key_secret() — both from one snapshot.
//! // When an Alibaba Cloud API says the key is dead:
//! let outcome = provider
//!     .report_rejected("acs/ram/user/app-prod", &ak, "InvalidAccessKeyId.NotFound")
//!     .await;
//! if let Some(new_key) = outcome.new_key() {
//!     // retry the call once with new_key
//! #   let _ = new_key;
//! }
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::cache::endpoints::Endpoints;
use crate::cache::restart::{RestartCache, RestartKey};
use crate::cache::{
    wait, Cache, CacheParts, CertificateExpiry, FetchError, ForcedRefresh, KeyHit, Reason, Snapshot,
};
use crate::clock::{Clock, WallClock};
use crate::config::Config;
use crate::kms::KmsClient;
use crate::secret::{AccessKey, Secret};
use crate::{Error, Result};

use crate::cache::stats::{Health, Stats};

/// Provider-level failures (configuration of the provider itself, lifecycle).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// `close()` was called (or the runtime that ran the provider shut down).
    #[error("the credentials provider is closed; build a new one")]
    Closed,
    /// No KMS endpoint to fetch from.
    #[error("no KMS endpoint configured: set cache_client_dkms_config_info (KMS instances) or cache_client_region_id (shared gateway) in the properties file, or pass clients to ManagedCredentialsProvider::builder().clients(...)")]
    NoEndpoints,
    /// The async constructors need a tokio runtime.
    #[error("ManagedCredentialsProvider must be built inside a tokio runtime (or use aliyun_managed_credentials::blocking::ManagedCredentialsProvider)")]
    NoRuntime,
    /// The blocking facade could not start its runtime.
    #[error("could not start the blocking provider's runtime: {0}")]
    Runtime(String),
    /// A blocking method was called on a thread of the blocking provider's own runtime, where
    /// waiting would deadlock (e.g. from a task spawned onto it).
    #[error("aliyun_managed_credentials::blocking::ManagedCredentialsProvider::{method} was called on the provider's own runtime thread, where blocking would deadlock; call it from your own thread or use the async ManagedCredentialsProvider")]
    BlockingWouldDeadlock {
        /// The method called.
        method: &'static str,
    },
}

/// What [`ManagedCredentialsProvider::report_rejected`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// A different AccessKey than the rejected one is current now: retry the call once with it.
    NewKey(Arc<AccessKey>),
    /// KMS still returns the rejected key (e.g. rotation not done yet): retrying will not help.
    Unchanged(Arc<AccessKey>),
    /// The per-secret forced-refresh budget is used up; nothing was fetched.
    RateLimited,
    /// The error code is not in `rejected_key_codes`; nothing was done.
    NotRejection,
    /// The forced refresh failed.
    Failed(Error),
}

impl RefreshOutcome {
    /// The new key, if a different one was obtained.
    pub fn new_key(&self) -> Option<&Arc<AccessKey>> {
        match self {
            Self::NewKey(k) => Some(k),
            _ => None,
        }
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Kms(e) => e.into(),
            FetchError::Secret(e) => e.into(),
            FetchError::Closed => ProviderError::Closed.into(),
        }
    }
}

/// Fetches managed secrets from KMS and keeps them fresh. Cheap to clone (an `Arc` inside);
/// several independent providers can live in one process. Must be created inside a tokio
/// runtime; background work runs on that runtime until [`close`](Self::close) or the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct ManagedCredentialsProvider {
    pub(crate) cache: Arc<Cache>,
}

impl ManagedCredentialsProvider {
    /// A builder for full control (clients, refresh tuning, clock).
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder::default()
    }

    /// Builds the provider from a configuration ([`Config::from_properties_file`] or
    /// [`ConfigBuilder`](crate::ConfigBuilder)).
    pub async fn from_config(config: Config) -> Result<Self> {
        Self::builder().config(config).build().await
    }

    /// Reads a `managed_credentials_providers.properties` file and builds the provider.
    pub async fn from_properties_file(path: impl AsRef<Path>) -> Result<Self> {
        let config = Config::from_properties_file(path.as_ref())?;
        Self::builder().config(config).build().await
    }

    /// Like [`from_properties_file`](Self::from_properties_file) with the file named by
    /// `ALIYUN_MANAGED_CREDENTIALS_FILE`, else `managed_credentials_providers.properties` in the
    /// working directory (see [`Config::from_default_location`]).
    pub async fn from_default_file() -> Result<Self> {
        let config = Config::from_default_location()?;
        Self::builder().config(config).build().await
    }

    /// The AccessKey stored in the RAM-credential secret `name`: from the cache when usable
    /// (no I/O), else one fetch shared by all concurrent callers.
    pub async fn get_access_key(&self, name: &str) -> Result<Arc<AccessKey>> {
        // The hot path; everything else (closed, not cached, not an AccessKey) goes through
        // `get`, which answers each.
        if !self.cache.is_closed() {
            if let KeyHit::Key(key) = self.cache.access_key_hit(name, Arc::clone) {
                return Ok(key);
            }
        }
        // Boxed so that this future stays a few words: the fetch path's state machine is large,
        // and every cached read would otherwise create (and move) a future of that size.
        Box::pin(self.fetch_access_key(name)).await
    }

    /// The rest of [`get_access_key`](Self::get_access_key): closed, not cached, or not an
    /// AccessKey.
    async fn fetch_access_key(&self, name: &str) -> Result<Arc<AccessKey>> {
        let snapshot = self.cache.get(name).await?;
        snapshot.access_key.clone().map_err(Error::from)
    }

    /// The cached AccessKey of `name` if a usable one is cached; never does I/O or waits.
    #[inline]
    pub fn cached_access_key(&self, name: &str) -> Option<Result<Arc<AccessKey>>> {
        if self.cache.is_closed() {
            return Some(Err(ProviderError::Closed.into()));
        }
        match self.cache.access_key_hit(name, Arc::clone) {
            KeyHit::Key(key) => Some(Ok(key)),
            KeyHit::Miss => None,
            KeyHit::NotAccessKey => self
                .cache
                .access_key_error_by_name(name)
                .map(|e| Err(e.into())),
        }
    }

    /// Any secret (text, or binary decoded from base64), cached like AccessKeys.
    pub async fn get_secret(&self, name: &str) -> Result<Arc<Secret>> {
        if self.cache.is_closed() {
            return Err(ProviderError::Closed.into());
        }
        if let Some(secret) = self.cache.with_current(name, |s| Arc::clone(&s.secret)) {
            return Ok(secret);
        }
        Ok(Arc::clone(&self.cache.get(name).await?.secret))
    }

    /// Fetches `name` now (joining a fetch already in flight), whatever the schedule says.
    /// Not rate-limited: meant for operators and tests; for "this key was rejected" use
    /// [`report_rejected`](Self::report_rejected).
    pub async fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        self.cache
            .counters
            .forced_refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let snapshot = self.cache.fetch_shared(name, Reason::Forced).await?;
        Ok(Arc::clone(&snapshot.secret))
    }

    /// Tells the provider that an Alibaba Cloud API rejected `access_key` with `error_code`.
    /// If the code means "key is dead" (`RefreshConfig::rejected_key_codes`) and the key is
    /// still the current one, forces one rate-limited refresh. If a different key is already
    /// current, answers at once with it. Retry the failed call only on
    /// [`RefreshOutcome::NewKey`].
    pub async fn report_rejected(
        &self,
        name: &str,
        access_key: &AccessKey,
        error_code: &str,
    ) -> RefreshOutcome {
        let is_rejection = self
            .cache
            .refresh_config()
            .rejected_key_codes
            .iter()
            .any(|c| c.eq_ignore_ascii_case(error_code.trim()));
        if !is_rejection {
            return RefreshOutcome::NotRejection;
        }
        if let Some(Ok(current)) = self.cached_access_key(name) {
            if current.access_key_id() != access_key.access_key_id() {
                return RefreshOutcome::NewKey(current);
            }
        }
        let rx = match self.cache.force_refresh(name, access_key.access_key_id()) {
            ForcedRefresh::Fetching(rx) => rx,
            ForcedRefresh::AlreadyReplaced(snapshot) => return outcome(&snapshot, access_key),
            ForcedRefresh::RateLimited => {
                tracing::warn!(
                    secret = name,
                    access_key_id = access_key.access_key_id(),
                    error_code,
                    "AccessKey rejected but the forced-refresh budget is used up"
                );
                return RefreshOutcome::RateLimited;
            }
        };
        tracing::info!(
            secret = name,
            access_key_id = access_key.access_key_id(),
            error_code,
            "AccessKey rejected; forcing a refresh (or joining the one in flight)"
        );
        match wait(rx).await {
            Ok(snapshot) => outcome(&snapshot, access_key),
            Err(e) => RefreshOutcome::Failed(e.into()),
        }
    }

    /// A receiver that always holds the current AccessKey of `name` and is notified on every
    /// new key (push-style consumers). Fetches first if nothing is cached. `changed()` returns
    /// an error once the provider is closed, so consumer loops end with it.
    pub async fn subscribe(&self, name: &str) -> Result<watch::Receiver<Arc<AccessKey>>> {
        let current = self.get_access_key(name).await?;
        Ok(self.cache.subscribe(name, current))
    }

    /// Per-secret age, next refresh and staleness, plus certificate expiry.
    pub fn health(&self) -> Health {
        self.cache.health()
    }

    /// Counters since the provider was built.
    pub fn stats(&self) -> Stats {
        self.cache.stats()
    }

    /// Stops all background work (the scheduler and in-flight fetches) and waits for the
    /// scheduler to end. Later calls fail with [`ProviderError::Closed`]. Affects all clones.
    pub async fn close(&self) {
        self.cache.close().await;
    }

    pub(crate) fn close_now(&self) {
        self.cache.close_now();
    }
}

/// Builds a [`ManagedCredentialsProvider`] from one [`Config`] (endpoints, refresh tuning,
/// secrets to prefetch, version stage) plus, for custom setups and tests, your own
/// [`KmsClient`]s and [`Clock`]. Every setting lives in the `Config`: the properties file and
/// [`ConfigBuilder`](crate::ConfigBuilder) produce it, validated once.
///
/// ```no_run
/// # async fn demo() -> aliyun_managed_credentials::Result<()> {
/// use std::time::Duration;
/// use aliyun_managed_credentials::{Config, ConfigBuilder, ManagedCredentialsProvider};
///
/// let config = Config::from_properties_file("managed_credentials_providers.properties")?;
/// let mut refresh = config.refresh.clone();
/// refresh.jitter = Duration::from_secs(120);
/// let config = ConfigBuilder::from_config(config).with_refresh(refresh).build()?;
/// let provider = ManagedCredentialsProvider::builder().config(config).build().await?;
/// # let _ = provider; Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ProviderBuilder {
    clients: Vec<Arc<dyn KmsClient>>,
    config: Option<Config>,
    clock: Option<Arc<dyn Clock>>,
}

impl ProviderBuilder {
    /// The configuration. Its endpoints become clients (KMS instances first, then shared
    /// gateways); without one the defaults apply and only [`client`](Self::client)s are used.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// One more KMS client, after those built from the configuration in the failover order:
    /// your own [`KmsClient`] (a proxy, a test double, another transport).
    pub fn client(mut self, client: Arc<dyn KmsClient>) -> Self {
        self.clients.push(client);
        self
    }

    /// The clock schedules and expiry are computed with (default: the system clock). For
    /// tests that pin or move dates.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the provider, starts its scheduler and prefetches the configuration's
    /// `secret_names`.
    pub async fn build(self) -> Result<ManagedCredentialsProvider> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ProviderError::NoRuntime.into());
        }
        let config = self.config.unwrap_or_else(Config::defaults);
        let built = clients_from_config(&config)?;
        let restart = restart_cache(&config, built.first_client_key.as_ref())?;
        let mut clients = built.clients;
        clients.extend(self.clients);
        if clients.is_empty() {
            return Err(ProviderError::NoEndpoints.into());
        }
        let Config {
            mut refresh,
            secret_names,
            version_stage,
            secret_files_poll_interval,
            ..
        } = config;
        if built.secret_files.is_some() {
            refresh = crate::secret_files::polling_refresh(refresh, secret_files_poll_interval);
        }
        let fail_fast = refresh.prefetch_fail_fast;
        let cache = Cache::start(CacheParts {
            endpoints: Endpoints::new(clients, refresh.hedge_delay),
            refresh,
            version_stage: Some(version_stage),
            clock: self
                .clock
                .unwrap_or_else(|| Arc::new(WallClock) as Arc<dyn Clock>),
            certificates: built.certificates,
            restart,
            secret_files: built.secret_files,
        });
        let provider = ManagedCredentialsProvider { cache };
        if !secret_names.is_empty() {
            let failures = provider.cache.prefetch(&secret_names).await;
            for (name, error) in failures {
                if fail_fast {
                    provider.close().await;
                    return Err(error.into());
                }
                tracing::warn!(secret = %name, error = %error, "prefetch failed; will fetch on first use");
            }
        }
        Ok(provider)
    }
}

/// KMS clients and certificate expiries built from a configuration.
pub(crate) struct BuiltClients {
    pub clients: Vec<Arc<dyn KmsClient>>,
    pub certificates: Vec<CertificateExpiry>,
    /// The ClientKey of the first KMS instance, if any (the restart cache's key source).
    pub first_client_key: Option<crate::identity::ClientKey>,
    /// The file source (`secret_files_dir`), also in `clients`.
    pub secret_files: Option<Arc<crate::secret_files::SecretFiles>>,
}

/// Builds one client per configured endpoint: the secret files source if configured (it
/// excludes KMS endpoints), KMS instances (the recommended path), then shared-gateway
/// endpoints, each list in configuration order. Each instance client loads its ClientKey and
/// CA, whose expiry is reported in [`Health`].
pub(crate) fn clients_from_config(config: &Config) -> Result<BuiltClients> {
    use crate::kms::instance::InstanceClient;

    let mut clients: Vec<Arc<dyn KmsClient>> = Vec::new();
    let mut certificates = Vec::new();
    let mut first_client_key = None;
    let secret_files = config
        .secret_files_dir
        .as_ref()
        .map(|dir| Arc::new(crate::secret_files::SecretFiles::new(dir.clone())));
    if let Some(files) = &secret_files {
        clients.push(Arc::clone(files) as Arc<dyn KmsClient>);
    }
    for instance in &config.instances {
        let client = InstanceClient::new(instance, &config.http)?;
        certificates.extend_from_slice(client.certificate_expiries());
        first_client_key.get_or_insert_with(|| client.client_key().clone());
        clients.push(Arc::new(client));
    }
    gateway_clients(config, &mut clients)?;
    Ok(BuiltClients {
        clients,
        certificates,
        first_client_key,
        secret_files,
    })
}

/// Shared-gateway endpoints (`cache_client_region_id`): one set of KMS identity (one STS
/// session) shared by every region.
fn gateway_clients(config: &Config, clients: &mut Vec<Arc<dyn KmsClient>>) -> Result<()> {
    use crate::kms::gateway::{GatewayClient, IdentitySession};

    let Some(first) = config.gateways.first() else {
        return Ok(());
    };
    let credential =
        config
            .identity
            .as_ref()
            .ok_or_else(|| crate::config::ConfigError::MissingIdentity {
                origin: config.origin_name(),
            })?;
    // STS is a public service: trusted like a shared gateway (public roots plus the first shared
    // entry's caFilePath, a proxy CA), never through an instance CA file.
    let sts_ca_file = config
        .gateways
        .iter()
        .find(|g| !g.is_instance_gateway())
        .and_then(|g| g.ca_file.as_deref());
    let credentials = Arc::new(IdentitySession::new(
        credential,
        &first.region_id,
        &config.http,
        sts_ca_file,
    )?);
    for gateway in &config.gateways {
        clients.push(Arc::new(GatewayClient::with_credentials(
            gateway,
            Arc::clone(&credentials),
            &config.http,
            gateway.signature_for(credential),
        )?));
    }
    Ok(())
}

/// The restart cache when `restart_cache_dir` is set and its directory is usable (else a
/// warning and none). Its key comes from the KMS identity (see `cache::restart`).
fn restart_cache(
    config: &Config,
    first_client_key: Option<&crate::identity::ClientKey>,
) -> Result<Option<Arc<RestartCache>>> {
    let Some(dir) = &config.restart_cache_dir else {
        return Ok(None);
    };
    let Some(key) = RestartKey::for_config(config, first_client_key)? else {
        // Validation refuses this configuration; a Config changed by hand after it can get here.
        return Err(crate::config::ConfigError::InvalidValue {
            at: crate::config::Location::origin(config.origin_name())
                .with_key(crate::config::ConfigKey::RestartCacheDir.as_str(), None),
            problem: crate::config::RESTART_CACHE_IDENTITY_HINT.to_owned(),
        }
        .into());
    };
    Ok(RestartCache::open(dir, key).map(Arc::new))
}

/// `NewKey` when `snapshot` holds a different AccessKey than `rejected`, else `Unchanged`.
fn outcome(snapshot: &Snapshot, rejected: &AccessKey) -> RefreshOutcome {
    match &snapshot.access_key {
        Ok(ak) if ak.access_key_id() != rejected.access_key_id() => {
            RefreshOutcome::NewKey(Arc::clone(ak))
        }
        Ok(ak) => RefreshOutcome::Unchanged(Arc::clone(ak)),
        Err(e) => RefreshOutcome::Failed(e.clone().into()),
    }
}
