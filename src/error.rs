//! The crate-wide error type: one enum that wraps each module's typed error, so callers can
//! match on the stage that failed while every message still names the file, key or endpoint.

use crate::config::ConfigError;
use crate::identity::IdentityError;
use crate::kms::KmsError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the crate reports. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (file, environment or builder) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A ClientKey, password, AccessKey or CA file could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// KMS could not be reached or answered with an error.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// A fetched secret could not be understood (or is not the kind asked for).
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    /// The provider itself: closed, no endpoints, no runtime, no configuration file.
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
}
