//! A blocking facade over [`crate::ManagedCredentialsProvider`] for programs without an async
//! runtime, in the style of `reqwest::blocking`: the provider owns a small multi-thread tokio
//! runtime that runs the scheduler and fetches; methods block the calling thread. Cached reads
//! do not touch the runtime at all.
//!
//! Do not call these methods from inside an async runtime: they return
//! [`ProviderError::BlockingInAsync`] instead of blocking it.

use std::path::Path;
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::cache::stats::{Health, Stats};
use crate::config::Config;
use crate::provider::{self, ProviderError, RefreshOutcome};
use crate::secret::{AccessKey, Secret};
use crate::Result;

/// What every clone shares: the async provider and the runtime it runs on. Dropped once, when
/// the last clone goes (as reqwest's blocking client does): closes the provider, then shuts the
/// runtime down without blocking, so dropping inside another runtime does not panic.
#[derive(Debug)]
struct Inner {
    provider: provider::ManagedCredentialsProvider,
    runtime: Option<Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.provider.close_now();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn new_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("aliyun-managed-credentials")
        .enable_all()
        .build()
        .map_err(|e| ProviderError::Runtime(e.to_string()).into())
}

fn block_on<F: std::future::Future>(
    runtime: &Runtime,
    method: &'static str,
    f: F,
) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(ProviderError::BlockingInAsync { method }.into());
    }
    Ok(runtime.block_on(f))
}

/// The blocking [`crate::ManagedCredentialsProvider`]: same methods, no `.await`. Cheap to
/// clone; background work stops when the last clone is dropped or on [`close`](Self::close).
#[derive(Clone, Debug)]
pub struct ManagedCredentialsProvider {
    inner: Arc<Inner>,
}

impl ManagedCredentialsProvider {
    /// See [`crate::ManagedCredentialsProvider::from_config`].
    pub fn from_config(config: Config) -> Result<Self> {
        Self::start("from_config", move || {
            provider::ManagedCredentialsProvider::from_config(config)
        })
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
        let runtime = new_runtime()?;
        let provider = block_on(&runtime, method, make())??;
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                runtime: Some(runtime),
            }),
        })
    }

    fn block_on<F: std::future::Future>(&self, method: &'static str, f: F) -> Result<F::Output> {
        match &self.inner.runtime {
            Some(runtime) => block_on(runtime, method, f),
            None => Err(ProviderError::Closed.into()),
        }
    }

    /// See [`crate::ManagedCredentialsProvider::get_access_key`]. A cached hit does not enter
    /// the runtime.
    pub fn get_access_key(&self, name: &str) -> Result<Arc<AccessKey>> {
        if let Some(hit) = self.inner.provider.cached_access_key(name) {
            return hit;
        }
        self.block_on("get_access_key", self.inner.provider.get_access_key(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::get_secret`].
    pub fn get_secret(&self, name: &str) -> Result<Arc<Secret>> {
        self.block_on("get_secret", self.inner.provider.get_secret(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::refresh_now`].
    pub fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        self.block_on("refresh_now", self.inner.provider.refresh_now(name))?
    }

    /// See [`crate::ManagedCredentialsProvider::report_rejected`].
    pub fn report_rejected(
        &self,
        name: &str,
        access_key: &AccessKey,
        error_code: &str,
    ) -> RefreshOutcome {
        self.block_on(
            "report_rejected",
            self.inner
                .provider
                .report_rejected(name, access_key, error_code),
        )
        .unwrap_or_else(RefreshOutcome::Failed)
    }

    /// See [`crate::ManagedCredentialsProvider::health`].
    pub fn health(&self) -> Health {
        self.inner.provider.health()
    }

    /// See [`crate::ManagedCredentialsProvider::stats`].
    pub fn stats(&self) -> Stats {
        self.inner.provider.stats()
    }

    /// See [`crate::ManagedCredentialsProvider::close`].
    pub fn close(&self) {
        self.inner.provider.close_now();
        let _ = self.block_on("close", self.inner.provider.close());
    }
}
