//! Who we are to KMS: the ClientKey (PKCS#12 → RSA signer), AccessKey/STS HMAC signers,
//! password sources and the instance CA bundle.
//!
//! (Skeleton: filled in by the identity work.)

/// A ClientKey, password, AccessKey or CA file problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Placeholder until identity lands.
    #[error("{0}")]
    Invalid(String),
}
