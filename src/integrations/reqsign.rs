//! reqsign (Apache OpenDAL's signer) for Aliyun OSS: [`AccessKeyProvider`] implements
//! `reqsign_core::ProvideCredential<Credential = reqsign_aliyun_oss::Credential>`.
//!
//! reqsign's `Signer` keeps a credential until `is_valid()` turns false (120 s before its
//! `expires_in`), and a credential without expiry forever, so a rotation would never be seen.
//! We therefore report a synthetic `expires_in` = the provider's next refresh point, clamped by
//! the handle's [`ExpiryPolicy`](crate::ExpiryPolicy). reqsign also refuses a refreshed
//! credential that expires before `now + expires_in` of a presigned URL: set
//! `min_validity` to at least the longest presigned-URL lifetime you sign.
//!
//! ```no_run
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider) -> reqsign_core::Result<()> {
//! use reqsign_aliyun_oss::RequestSigner;
//! use reqsign_core::{Context, Signer};
//!
//! let creds = provider.access_key_provider("acs/ram/user/app");
//! let signer = Signer::new(Context::new(), creds, RequestSigner::new("my-bucket"));
//! let mut parts = http::Request::get("https://my-bucket.oss-cn-hangzhou.aliyuncs.com/a.txt")
//!     .body(())
//!     .map_err(|e| reqsign_core::Error::unexpected(e.to_string()))?
//!     .into_parts()
//!     .0;
//! signer.sign(&mut parts, None).await?;
//! # Ok(()) }
//! ```

use std::time::UNIX_EPOCH;

use reqsign_aliyun_oss::Credential;
use reqsign_core::time::Timestamp;
use reqsign_core::{Context, ProvideCredential};

use super::credentials::{AccessKeyProvider, ProvideAccessKey};
use crate::secret::AccessKey;

impl AccessKeyProvider {
    /// The key as a reqsign OSS credential with the synthetic expiry of
    /// [`valid_until`](Self::valid_until).
    pub(crate) fn reqsign_credential(&self, key: &AccessKey) -> reqsign_core::Result<Credential> {
        let until = self.valid_until(key);
        let secs = until
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let expires = i64::try_from(secs)
            .map_err(|e| reqsign_core::Error::unexpected(e.to_string()))
            .and_then(Timestamp::from_second)?;
        Ok(Credential {
            access_key_id: key.access_key_id().to_owned(),
            access_key_secret: key.access_key_secret().to_owned(),
            security_token: None,
            expires_in: Some(expires),
        })
    }
}

impl ProvideCredential for AccessKeyProvider {
    type Credential = Credential;

    async fn provide_credential(&self, _ctx: &Context) -> reqsign_core::Result<Option<Credential>> {
        let key = self.access_key().await.map_err(|e| {
            reqsign_core::Error::credential_invalid("could not get the managed AccessKey")
                .with_context(format!("secret: {}", self.secret_name()))
                .with_source(e)
        })?;
        self.reqsign_credential(&key).map(Some)
    }
}
