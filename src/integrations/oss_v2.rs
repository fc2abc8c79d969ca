//! **Unstable.** Alibaba's pre-release OSS SDK v2 for Rust (`alibabacloud-oss-sdk-rust-v2`,
//! `0.1.0-delta.1`, pinned exactly because its API may change in any release):
//! [`SecretCredentials`] implements its `CredentialsProvider`.
//!
//! The SDK calls the provider for every request, so this answers from the shared cache (no I/O
//! on a hit). It has no expiry-driven cache of its own, so a rotation is seen on the next
//! request; `expires` is still set to the synthetic expiry for code that looks at it. The
//! SDK's configuration takes the provider as an `Rc`, so the client is `!Send`.
//!
//! ```no_run
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) {
//! use std::rc::Rc;
//! let creds = provider.credentials_provider("acs/ram/user/app");
//! let config = alibabacloud_oss_sdk_rust_v2::config::Config::new()
//!     .with_region("cn-hangzhou")
//!     .with_credentials_provider(Rc::new(creds));
//! # let _ = config;
//! # }
//! ```

use alibabacloud_oss_sdk_rust_v2::credential::{Credentials, CredentialsProvider};

use super::credentials::{ProvideAccessKey, SecretCredentials};
use crate::secret::AccessKey;

impl SecretCredentials {
    /// The key as OSS SDK v2 credentials (empty security token, synthetic expiry).
    pub fn oss_v2_credentials(&self, key: &AccessKey) -> Credentials {
        Credentials {
            access_key_id: key.access_key_id().to_owned(),
            access_key_secret: key.access_key_secret().to_owned(),
            security_token: String::new(),
            expires: Some(self.valid_until(key)),
        }
    }
}

#[async_trait::async_trait]
impl CredentialsProvider for SecretCredentials {
    async fn get_credentials(
        &self,
    ) -> Result<Credentials, Box<dyn std::error::Error + Send + Sync>> {
        let key = self.access_key().await?;
        Ok(self.oss_v2_credentials(&key))
    }
}
