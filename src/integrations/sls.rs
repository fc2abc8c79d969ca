//! aliyun-log-rust-sdk (Alibaba's official SLS / Log Service SDK): [`AccessKeyProvider`]
//! implements `aliyun_log_rust_sdk::CredentialsProvider`.
//!
//! The SDK caches what its provider returns and asks again only for credentials that carry an
//! expiration (shortly before it: 10–20 % of the remaining time, at most 5 min); credentials
//! without one are kept for the life of the client, so a rotation would never be seen (read in the
//! SDK's 0.3.3 source, `credentials.rs`). Every credential this adapter returns therefore carries
//! the synthetic expiry of the handle's [`ExpiryPolicy`](crate::ExpiryPolicy) (by default the
//! provider's next refresh, within 5 min .. 1 h), and the SDK comes back for the next key.
//!
//! The SDK bounds each fetch by its `credentials_fetch_timeout` (default 5 s); only the first
//! fetch of a secret, before anything is cached, goes to KMS.
//!
//! ```no_run
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use aliyun_log_rust_sdk::{Client, Config, FromConfig};
//!
//! let config = Config::builder()
//!     .endpoint("cn-hangzhou.log.aliyuncs.com")
//!     .credentials_provider(provider.access_key_provider("acs/ram/user/app"))
//!     .build()?;
//! let client = Client::from_config(config)?;
//! # let _ = client;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use aliyun_log_rust_sdk::{async_trait, Credentials, CredentialsError, CredentialsProvider};

use super::credentials::{AccessKeyProvider, CredentialError, ProvideAccessKey};
use crate::secret::AccessKey;

impl AccessKeyProvider {
    /// The key as SLS SDK credentials, expiring at [`valid_until`](Self::valid_until).
    pub(crate) fn sls_credentials(&self, key: &AccessKey) -> Result<Credentials, CredentialsError> {
        Ok(
            Credentials::new(key.access_key_id(), key.access_key_secret())?
                .with_expiration(self.valid_until(key)),
        )
    }
}

#[async_trait]
impl CredentialsProvider for AccessKeyProvider {
    async fn fetch_credentials(&self) -> Result<Credentials, CredentialsError> {
        let key = self.access_key().await.map_err(|source| {
            CredentialsError::provider(CredentialError {
                secret_name: Arc::from(self.secret_name()),
                source,
            })
        })?;
        self.sls_credentials(&key)
    }
}
