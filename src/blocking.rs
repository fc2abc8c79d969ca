//! A blocking facade over [`crate::ManagedCredentialsProvider`] for programs without an async
//! runtime, in the style of `reqwest::blocking`: the provider owns a small multi-thread tokio
//! runtime that runs the scheduler and fetches; methods block the calling thread. Cached reads
//! do not touch the runtime at all.
//!
//! Do not call these methods from inside an async runtime: they return
//! [`ProviderError::BlockingInAsync`] instead of blocking it.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::runtime::Runtime;

use crate::cache::clock::Clock;
use crate::config::{Config, RefreshConfig};
use crate::kms::KmsClient;
use crate::provider::{self, Health, ProviderError, RefreshOutcome, Stats};
use crate::secret::{AccessKey, Secret};
use crate::Result;

/// Owns the runtime; shuts it down without blocking when the last provider clone is dropped
/// (so dropping inside another runtime does not panic).
#[derive(Debug)]
struct RuntimeHolder(Option<Runtime>);

impl Drop for RuntimeHolder {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl RuntimeHolder {
    fn new() -> Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aliyun-managed-credentials")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|e| ProviderError::Runtime(e.to_string()).into())
    }

    fn block_on<F: std::future::Future>(&self, method: &'static str, f: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ProviderError::BlockingInAsync { method }.into());
        }
        match &self.0 {
            Some(rt) => Ok(rt.block_on(f)),
            None => Err(ProviderError::Closed.into()),
        }
    }
}

/// The blocking [`crate::ManagedCredentialsProvider`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ManagedCredentialsProvider {
    inner: provider::ManagedCredentialsProvider,
    runtime: Arc<RuntimeHolder>,
}

impl Drop for ManagedCredentialsProvider {
    fn drop(&mut self) {
        // Last user handle: stop background work (the runtime goes with the holder).
        if Arc::strong_count(&self.runtime) == 1 {
            self.inner.close_now();
        }
    }
}

impl ManagedCredentialsProvider {
    /// See [`crate::ManagedCredentialsProvider::builder`].
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder(provider::ManagedCredentialsProvider::builder())
    }

    /// See [`crate::ManagedCredentialsProvider::from_properties_file`].
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        Self::start("from_properties_file", move || async move {
            provider::ManagedCredentialsProvider::from_properties_file(path).await
        })
    }

    /// See [`crate::ManagedCredentialsProvider::from_default_file`].
    pub fn from_default_file() -> Result<Self> {
        Self::start(
            "from_default_file",
            provider::ManagedCredentialsProvider::from_default_file,
        )
    }

    fn start<F, Fut>(method: &'static str, make: F) -> Result<Self>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<provider::ManagedCredentialsProvider>>,
    {
        let runtime = RuntimeHolder::new()?;
        let inner = runtime.block_on(method, make())??;
        Ok(Self {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// See [`crate::ManagedCredentialsProvider::get_access_key`]. A cached hit does not enter
    /// the runtime.
    pub fn get_access_key(&self, name: &str) -> Result<Arc<AccessKey>> {
        if let Some(hit) = self.inner.cached_access_key(name) {
            return hit;
        }
        self.runtime
            .block_on("get_access_key", self.inner.get_access_key(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::get_secret`].
    pub fn get_secret(&self, name: &str) -> Result<Arc<Secret>> {
        self.runtime
            .block_on("get_secret", self.inner.get_secret(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::refresh_now`].
    pub fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        self.runtime
            .block_on("refresh_now", self.inner.refresh_now(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::report_rejected`].
    pub fn report_rejected(
        &self,
        name: &str,
        access_key: &AccessKey,
        error_code: &str,
    ) -> RefreshOutcome {
        self.runtime
            .block_on(
                "report_rejected",
                self.inner.report_rejected(name, access_key, error_code),
            )
            .unwrap_or_else(RefreshOutcome::Failed)
    }

    /// See [`crate::ManagedCredentialsProvider::subscribe`]; use `borrow()` / `has_changed()`
    /// on the receiver from blocking code.
    pub fn subscribe(&self, name: &str) -> Result<tokio::sync::watch::Receiver<Arc<AccessKey>>> {
        self.runtime
            .block_on("subscribe", self.inner.subscribe(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::health`].
    pub fn health(&self) -> Health {
        self.inner.health()
    }

    /// See [`crate::ManagedCredentialsProvider::stats`].
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// See [`crate::ManagedCredentialsProvider::close`].
    pub fn close(&self) {
        self.inner.close_now();
        let _ = self.runtime.block_on("close", self.inner.close());
    }
}

/// Builder of the blocking provider; same options as [`provider::ProviderBuilder`].
#[derive(Debug)]
pub struct ProviderBuilder(provider::ProviderBuilder);

impl ProviderBuilder {
    /// See [`provider::ProviderBuilder::clients`].
    pub fn clients(self, clients: Vec<Arc<dyn KmsClient>>) -> Self {
        Self(self.0.clients(clients))
    }
    /// See [`provider::ProviderBuilder::client`].
    pub fn client(self, client: Arc<dyn KmsClient>) -> Self {
        Self(self.0.client(client))
    }
    /// See [`provider::ProviderBuilder::config`].
    pub fn config(self, config: Config) -> Self {
        Self(self.0.config(config))
    }
    /// See [`provider::ProviderBuilder::refresh`].
    pub fn refresh(self, refresh: RefreshConfig) -> Self {
        Self(self.0.refresh(refresh))
    }
    /// See [`provider::ProviderBuilder::secret_names`].
    pub fn secret_names<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(self.0.secret_names(names))
    }
    /// See [`provider::ProviderBuilder::version_stage`].
    pub fn version_stage(self, stage: impl Into<String>) -> Self {
        Self(self.0.version_stage(stage))
    }
    /// See [`provider::ProviderBuilder::clock`].
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        Self(self.0.clock(clock))
    }
    /// See [`provider::ProviderBuilder::certificate_expiry`].
    pub fn certificate_expiry(self, label: impl Into<String>, not_after: SystemTime) -> Self {
        Self(self.0.certificate_expiry(label, not_after))
    }
    /// Starts the runtime and builds the provider on it.
    pub fn build(self) -> Result<ManagedCredentialsProvider> {
        let builder = self.0;
        ManagedCredentialsProvider::start("build", move || builder.build())
    }
}
