//! rusty-oss (sans-IO OSS): it signs with a `RotatingCredentials` value the application holds,
//! so we push every new key into it from the provider's `watch` subscription.
//!
//! ```no_run
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
//! # -> aliyun_managed_credentials::Result<()> {
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let (rotating, task) = aliyun_managed_credentials::integrations::rusty_oss::rotating_credentials(&creds).await?;
//! // sign with rotating.get() ...; `task` ends when the provider is closed.
//! # let _ = (rotating, task);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use rusty_oss::credentials::RotatingCredentials;
use tokio::task::JoinHandle;

use super::credentials::AccessKeyProvider;
use crate::Result;

/// A `RotatingCredentials` holding the current key, and the task that pushes each new key into
/// it (it ends when the provider is closed or dropped).
pub async fn rotating_credentials(
    credentials: &AccessKeyProvider,
) -> Result<(Arc<RotatingCredentials>, JoinHandle<()>)> {
    let mut rx = credentials.subscribe().await?;
    let first = Arc::clone(&rx.borrow_and_update());
    let rotating = Arc::new(RotatingCredentials::new(
        first.access_key_id().to_owned(),
        first.access_key_secret().to_owned(),
        None,
    ));
    let target = Arc::clone(&rotating);
    let task = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let key = Arc::clone(&rx.borrow_and_update());
            target.update(
                key.access_key_id().to_owned(),
                key.access_key_secret().to_owned(),
                None,
            );
        }
    });
    Ok((rotating, task))
}
