//! ossify (community OSS SDK): [`AccessKeyProvider`] implements
//! `ossify::credentials::CredentialsProvider`, with `expiration` set to the synthetic expiry of
//! the handle's [`ExpiryPolicy`](crate::ExpiryPolicy) so ossify's own caching layers
//! (`CachingCredentialsProvider`) come back for the next key.
//!
//! ```no_run
//! # fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> ossify::Result<()> {
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let client = ossify::Client::builder()
//!     .endpoint("https://oss-cn-hangzhou.aliyuncs.com")
//!     .region("cn-hangzhou")
//!     .bucket("my-bucket")
//!     .credentials_provider(creds)
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```

use ossify::credentials::{Credentials, CredentialsProvider};

use super::credentials::{AccessKeyProvider, ProvideAccessKey};
use crate::secret::AccessKey;

impl AccessKeyProvider {
    /// The key as ossify credentials with the synthetic expiry of
    /// [`valid_until`](Self::valid_until).
    pub(crate) fn ossify_credentials(&self, key: &AccessKey) -> Credentials {
        let mut creds = Credentials::new(key.access_key_id(), key.access_key_secret());
        creds.expiration = jiff::Timestamp::try_from(self.valid_until(key)).ok();
        creds
    }
}

impl CredentialsProvider for AccessKeyProvider {
    async fn get_credentials(&self) -> ossify::Result<Credentials> {
        let key = self.access_key().await.map_err(|e| {
            ossify::Error::Other(format!(
                "could not get the managed AccessKey of secret '{}': {e}",
                self.secret_name()
            ))
        })?;
        Ok(self.ossify_credentials(&key))
    }
}
