//! A blocking facade over [`crate::ManagedCredentialsProvider`] for programs without an async
//! runtime, in the style of `reqwest::blocking`: the provider owns a small multi-thread tokio
//! runtime that runs the scheduler and fetches; methods hand their work to that runtime and
//! park the calling thread until it is done. Cached reads do not touch the runtime at all.
//!
//! Because the work always runs on the provider's own runtime, the calling thread may be any
//! thread: a plain one, a `tokio::task::spawn_blocking` thread, or one holding a runtime
//! `enter()` guard. Called from an async task of another runtime it works too, but blocks that
//! task's worker thread while KMS answers: use the async provider there. The one place where
//! blocking would deadlock, a thread of the provider's own runtime, is refused with
//! [`ProviderError::BlockingWouldDeadlock`].

use std::cell::Cell;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::cache::stats::{Health, Stats};
use crate::config::Config;
use crate::provider::{self, ProviderError, RefreshOutcome};
use crate::secret::{AccessKey, Secret};
use crate::Result;

thread_local! {
    /// Set on every thread of a blocking provider's runtime (workers and its blocking pool).
    static ON_PROVIDER_RUNTIME: Cell<bool> = const { Cell::new(false) };
}

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
        .on_thread_start(|| ON_PROVIDER_RUNTIME.with(|on| on.set(true)))
        .enable_all()
        .build()
        .map_err(|e| ProviderError::Runtime(e.to_string()).into())
}

/// Runs `work` on `runtime` and parks the calling thread until it is done. Not tokio's
/// `block_on`: that refuses any thread inside a runtime context, while here the work never
/// needs the calling thread, so only the provider's own threads are refused.
fn run<T: Send + 'static>(
    runtime: &Runtime,
    method: &'static str,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T> {
    if ON_PROVIDER_RUNTIME.with(Cell::get) {
        return Err(ProviderError::BlockingWouldDeadlock { method }.into());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    // The sender is gone without an answer only when the runtime shut down.
    rx.recv().map_err(|_| ProviderError::Closed.into())
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
        Fut: Future<Output = Result<provider::ManagedCredentialsProvider>> + Send + 'static,
    {
        let runtime = new_runtime()?;
        // Built on the provider's runtime, so its scheduler and fetches run there.
        let provider = run(&runtime, method, make())??;
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                runtime: Some(runtime),
            }),
        })
    }

    fn run<T: Send + 'static>(
        &self,
        method: &'static str,
        work: impl FnOnce(provider::ManagedCredentialsProvider) -> BoxedWork<T>,
    ) -> Result<T> {
        match &self.inner.runtime {
            Some(runtime) => run(runtime, method, work(self.inner.provider.clone())),
            None => Err(ProviderError::Closed.into()),
        }
    }

    /// See [`crate::ManagedCredentialsProvider::get_access_key`]. A cached hit does not enter
    /// the runtime.
    pub fn get_access_key(&self, name: &str) -> Result<Arc<AccessKey>> {
        if let Some(hit) = self.inner.provider.cached_access_key(name) {
            return hit;
        }
        let name = name.to_owned();
        self.run("get_access_key", move |p| {
            Box::pin(async move { p.get_access_key(&name).await })
        })?
    }

    /// See [`crate::ManagedCredentialsProvider::get_secret`].
    pub fn get_secret(&self, name: &str) -> Result<Arc<Secret>> {
        let name = name.to_owned();
        self.run("get_secret", move |p| {
            Box::pin(async move { p.get_secret(&name).await })
        })?
    }

    /// See [`crate::ManagedCredentialsProvider::refresh_now`].
    pub fn refresh_now(&self, name: &str) -> Result<Arc<Secret>> {
        let name = name.to_owned();
        self.run("refresh_now", move |p| {
            Box::pin(async move { p.refresh_now(&name).await })
        })?
    }

    /// See [`crate::ManagedCredentialsProvider::report_rejected`].
    pub fn report_rejected(
        &self,
        name: &str,
        access_key: &AccessKey,
        error_code: &str,
    ) -> RefreshOutcome {
        let (name, key, code) = (name.to_owned(), access_key.clone(), error_code.to_owned());
        self.run("report_rejected", move |p| {
            Box::pin(async move { p.report_rejected(&name, &key, &code).await })
        })
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
        let _ = self.run("close", |p| Box::pin(async move { p.close().await }));
    }
}

/// The work a method hands to the provider's runtime.
type BoxedWork<T> = crate::kms::BoxFuture<'static, T>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocking on a thread of the provider's own runtime would wait for work that needs that
    /// very thread: refused with a clear error instead.
    #[test]
    fn refuses_only_the_providers_own_threads() {
        let runtime = Arc::new(new_runtime().unwrap());
        let inner = Arc::clone(&runtime);
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(run(&inner, "get_access_key", async { 1 }).map_err(|e| e.to_string()));
        });
        let refused = rx.recv().unwrap().unwrap_err();
        assert!(refused.contains("deadlock"), "{refused}");
        // Any other thread is fine, including one inside another runtime's context.
        assert_eq!(run(&runtime, "get_access_key", async { 2 }).unwrap(), 2);
        let other = tokio::runtime::Runtime::new().unwrap();
        let _guard = other.enter();
        assert_eq!(run(&runtime, "get_access_key", async { 3 }).unwrap(), 3);
        drop(_guard);
        let runtime2 = Arc::clone(&runtime);
        let on_blocking_pool = other
            .block_on(async move {
                tokio::task::spawn_blocking(move || {
                    run(&runtime2, "get_access_key", async { 4 }).map_err(|e| e.to_string())
                })
                .await
            })
            .unwrap();
        assert_eq!(on_blocking_pool, Ok(4));
        drop(other);
        if let Ok(runtime) = Arc::try_unwrap(runtime) {
            runtime.shutdown_background();
        }
    }
}
