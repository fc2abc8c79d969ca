//! Rotation-aware calls: run an operation with the current AccessKey and, when the service says
//! the key is dead, replay it exactly once, and only if a *different* key is current by then.
//!
//! This is the official plugins' AK-expire handling (reference §c.8) with two fixes: the replay
//! happens only when it can help (the official plugins replay even when no refresh was allowed),
//! and the operation gets one consistent key snapshot per attempt.
//!
//! ```no_run
//! # struct ApiError { code: String }
//! # async fn call_api(_id: &str, _secret: &str) -> Result<String, ApiError> { todo!() }
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) {
//! use aliyun_managed_credentials::with_access_key;
//!
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let answer = with_access_key(
//!     &creds,
//!     |e: &ApiError| Some(e.code.clone()),
//!     |ak| async move { call_api(ak.access_key_id(), ak.access_key_secret()).await },
//! )
//! .await;
//! # let _ = answer;
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::credentials::ProvideAccessKey;
use crate::provider::RefreshOutcome;
use crate::secret::AccessKey;

/// Why a [`with_access_key`] call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError<E> {
    /// No AccessKey could be obtained; the operation never ran.
    Credentials(crate::Error),
    /// The operation failed (after the one replay, if there was one).
    Operation(E),
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credentials(e) => write!(f, "could not get the managed AccessKey: {e}"),
            Self::Operation(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Credentials(e) => Some(e),
            Self::Operation(e) => Some(e),
        }
    }
}

/// Runs `operation` with the current AccessKey of `credentials`.
///
/// If it fails and `error_code` reads a code from the error, the code is reported with
/// [`ProvideAccessKey::report_rejected`]; the provider decides whether it means "key is dead"
/// (`rejected_key_error_codes`) and, within its rate limit, fetches the secret again. The
/// operation is replayed exactly once, only when that yields a key different from the one that
/// was rejected; otherwise the original error is returned. Make sure the operation can be run
/// twice (rebuild request bodies inside the closure).
pub async fn with_access_key<P, T, E, C, F, Fut>(
    credentials: &P,
    error_code: C,
    mut operation: F,
) -> Result<T, CallError<E>>
where
    P: ProvideAccessKey + ?Sized,
    C: Fn(&E) -> Option<String>,
    F: FnMut(Arc<AccessKey>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let key = credentials
        .access_key()
        .await
        .map_err(CallError::Credentials)?;
    let error = match operation(Arc::clone(&key)).await {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Some(code) = error_code(&error) else {
        return Err(CallError::Operation(error));
    };
    match credentials.report_rejected(&key, &code).await {
        RefreshOutcome::NewKey(new_key) => {
            tracing::info!(
                secret = credentials.secret_name(),
                rejected_access_key_id = key.access_key_id(),
                access_key_id = new_key.access_key_id(),
                error_code = %code,
                "replaying the call once with the new AccessKey"
            );
            operation(new_key).await.map_err(CallError::Operation)
        }
        RefreshOutcome::NotRejection => Err(CallError::Operation(error)),
        other => {
            tracing::warn!(
                secret = credentials.secret_name(),
                access_key_id = key.access_key_id(),
                error_code = %code,
                outcome = outcome_name(&other),
                "AccessKey rejected and no different key is available; not replaying"
            );
            Err(CallError::Operation(error))
        }
    }
}

fn outcome_name(outcome: &RefreshOutcome) -> &'static str {
    match outcome {
        RefreshOutcome::NewKey(_) => "new_key",
        RefreshOutcome::Unchanged(_) => "unchanged",
        RefreshOutcome::RateLimited => "rate_limited",
        RefreshOutcome::NotRejection => "not_rejection",
        RefreshOutcome::Failed(_) => "failed",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}
