//! Several KMS endpoints in failover order: ordered failover on retryable errors, a hedged
//! request to the next endpoint when the current one is slow, and a memory of the last endpoint
//! that answered (the next fetch starts there). No pings: the real request is the probe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::kms::{GetSecretValueRequest, KmsClient, KmsError, SecretValue};

/// The endpoints of one provider.
#[derive(Debug)]
pub(crate) struct Endpoints {
    clients: Vec<Arc<dyn KmsClient>>,
    preferred: AtomicUsize,
    hedge_delay: Duration,
    failovers: AtomicU64,
    hedges: AtomicU64,
}

impl Endpoints {
    /// `clients` in failover order (must not be empty; the builder checks).
    pub(crate) fn new(clients: Vec<Arc<dyn KmsClient>>, hedge_delay: Duration) -> Self {
        Self {
            clients,
            preferred: AtomicUsize::new(0),
            hedge_delay,
            failovers: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
        }
    }

    /// Number of endpoints.
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// The endpoint the next fetch starts with (the last one that answered).
    pub(crate) fn preferred(&self) -> String {
        let i = self.preferred.load(Ordering::Relaxed);
        self.clients
            .get(i)
            .map(|c| c.endpoint().to_string())
            .unwrap_or_default()
    }

    /// Failovers after a retryable error, and hedged requests started, so far.
    pub(crate) fn counters(&self) -> (u64, u64) {
        (
            self.failovers.load(Ordering::Relaxed),
            self.hedges.load(Ordering::Relaxed),
        )
    }

    /// Fetches from the preferred endpoint; on a retryable error moves on to the next one at
    /// once, and if an endpoint has not answered after `hedge_delay` also asks the next one.
    /// The first success wins (the others are cancelled). A non-retryable error ends the fetch
    /// once nothing else is in flight (another region will not know the secret any better).
    pub(crate) async fn fetch(
        &self,
        request: &GetSecretValueRequest,
    ) -> Result<SecretValue, KmsError> {
        let n = self.clients.len();
        if n == 0 {
            return Err(KmsError::Request {
                endpoint: String::new(),
                detail: "no KMS endpoint configured".into(),
            });
        }
        let start = self.preferred.load(Ordering::Relaxed) % n;
        let order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        let mut set: JoinSet<(usize, Result<SecretValue, KmsError>)> = JoinSet::new();
        // Which endpoint each task asks, so a task that panics is still named and counted.
        let mut task_endpoint: HashMap<tokio::task::Id, usize> = HashMap::new();
        let mut launched = 0usize;
        // `None`: no hedge (a `hedge_delay` too large to add to the clock never fires).
        let mut hedge_at: Option<Instant> = None;
        let launch = |set: &mut JoinSet<_>,
                      task_endpoint: &mut HashMap<tokio::task::Id, usize>,
                      launched: &mut usize,
                      hedge_at: &mut Option<Instant>| {
            let index = order[*launched];
            let client = Arc::clone(&self.clients[index]);
            let request = request.clone();
            let span = tracing::debug_span!(
                "kms_request",
                secret = %request.secret_name,
                endpoint = %client.endpoint(),
                attempt = *launched + 1,
                request_id = tracing::field::Empty,
                version_id = tracing::field::Empty,
            );
            let task = set.spawn(
                async move {
                    let result = client.get_secret_value(&request).await;
                    let span = tracing::Span::current();
                    match &result {
                        Ok(v) => {
                            span.record("request_id", v.request_id.as_str());
                            span.record("version_id", v.version_id.as_str());
                            tracing::debug!("KMS answered");
                        }
                        Err(e) => {
                            if let KmsError::Service { request_id, .. } = e {
                                span.record("request_id", request_id.as_str());
                            }
                            tracing::debug!(error = %e, "KMS request failed");
                        }
                    }
                    (index, result)
                }
                .instrument(span),
            );
            task_endpoint.insert(task.id(), index);
            *launched += 1;
            *hedge_at = Instant::now().checked_add(self.hedge_delay);
        };
        launch(&mut set, &mut task_endpoint, &mut launched, &mut hedge_at);
        let mut best_error: Option<KmsError> = None;
        loop {
            let hedge = hedge_at.filter(|_| launched < n);
            tokio::select! {
                joined = set.join_next_with_id() => {
                    let (index, result, panicked) = match joined {
                        Some(Ok((_, (index, result)))) => (index, result, false),
                        Some(Err(join_error)) => {
                            let index = task_endpoint.get(&join_error.id()).copied().unwrap_or(usize::MAX);
                            let endpoint = self.clients.get(index).map(|c| c.endpoint().to_string()).unwrap_or_default();
                            tracing::error!(secret = %request.secret_name, endpoint = %endpoint, "the KMS client panicked; counted as a failed attempt");
                            (index, Err(KmsError::Request {
                                detail: format!("the KMS client for {endpoint} failed unexpectedly ({}); report this as a bug", if join_error.is_panic() { "it panicked" } else { "its task was cancelled" }),
                                endpoint,
                            }), true)
                        }
                        None => return Err(best_error.take().unwrap_or_else(no_answer)),
                    };
                    match result {
                        Ok(value) => {
                            if index < n {
                                self.preferred.store(index, Ordering::Relaxed);
                            }
                            return Ok(value);
                        }
                        Err(error) => {
                            // A panicking client is a broken endpoint, not a definite answer about
                            // the secret: fail over as for a transient error.
                            let retryable = panicked || error.is_retryable();
                            // Report a definite (non-retryable) answer over transient ones.
                            if !error.is_retryable() || best_error.as_ref().is_none_or(|e| e.is_retryable()) {
                                best_error = Some(error);
                            }
                            if retryable && launched < n {
                                self.failovers.fetch_add(1, Ordering::Relaxed);
                                tracing::info!(secret = %request.secret_name, "failing over to the next KMS endpoint");
                                launch(&mut set, &mut task_endpoint, &mut launched, &mut hedge_at);
                            } else if set.is_empty() {
                                return Err(best_error.take().unwrap_or_else(no_answer));
                            }
                        }
                    }
                }
                _ = async { if let Some(at) = hedge { tokio::time::sleep_until(at).await } }, if hedge.is_some() => {
                    self.hedges.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(secret = %request.secret_name, hedge_delay_ms = self.hedge_delay.as_millis() as u64, "KMS endpoint slow, hedging to the next one");
                    launch(&mut set, &mut task_endpoint, &mut launched, &mut hedge_at);
                }
            }
        }
    }
}

fn no_answer() -> KmsError {
    KmsError::Request {
        endpoint: String::new(),
        detail: "no KMS endpoint answered".into(),
    }
}
