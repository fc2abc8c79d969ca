//! Who we are to KMS: the ClientKey (PKCS#12 → RSA signer), AccessKey/STS HMAC signers,
//! password sources and the instance CA bundle.

mod ca;
mod client_key;
mod hmac;
mod password;

pub use ca::{CaBundle, CertificateInfo};
pub use client_key::ClientKey;
pub use hmac::hmac_sha1_base64;
pub use password::Password;

/// A ClientKey, password, AccessKey or CA file problem. Messages name the file and never
/// contain a password or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is ("ClientKey file", "password file", "CA file").
        what: &'static str,
        /// The path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ClientKey JSON is malformed or lacks a member.
    #[error("ClientKey {origin} is invalid: {detail}")]
    ClientKeyFormat {
        /// The file path or "inline content".
        origin: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The password does not open the PKCS#12 (MAC check failed).
    #[error("the password does not open ClientKey {key_id} ({origin}): check the password file or variable for this access point")]
    WrongPassword {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
    },
    /// The PKCS#12 could not be used (not PKCS#12, no key, not RSA, ...).
    #[error("ClientKey {key_id} ({origin}): {detail}")]
    Pkcs12 {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// No password source yielded a password.
    #[error("no ClientKey password found: {detail}")]
    PasswordMissing {
        /// Which sources were tried and how to provide one.
        detail: String,
    },
    /// The CA file is empty, unreadable or holds no PEM certificate.
    #[error("CA file {path} is invalid: {detail}")]
    CaFile {
        /// The path.
        path: std::path::PathBuf,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// Signing failed (should not happen with a loaded key).
    #[error("signing with ClientKey {key_id} failed")]
    Signing {
        /// The ClientKey id.
        key_id: String,
    },
}
