//! Who we are to KMS: the ClientKey (PKCS#12 → RSA signer), AccessKey/STS HMAC signers,
//! password sources and the instance CA bundle.
//!
//! Every bad input has its own [`IdentityError`] variant whose message names the file (or
//! environment variable) and says how to fix it; no message, `Debug` output or log event carries
//! a password or key material.

mod ca;
mod client_key;
mod expiry;
mod hmac;
mod password;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub(crate) use ca::{CaBundle, CertificateInfo};
pub(crate) use client_key::ClientKey;
pub(crate) use hmac::acs3_hmac_sha256_signature;
#[cfg(test)]
pub(crate) use hmac::hmac_sha1_base64;
pub(crate) use hmac::rpc_hmac_sha1_signature;
pub(crate) use password::Password;

/// A ClientKey, password, AccessKey or CA file problem. Messages name the file and never
/// contain a password or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file exists but could not be read (permissions, I/O error).
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is ("ClientKey file", "CA file").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ClientKey JSON is not UTF-8 text or not a JSON object.
    #[error("ClientKey {origin} is invalid: {detail}")]
    ClientKeyFormat {
        /// The file path or "inline content".
        origin: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The password does not open the PKCS#12 (MAC check or decryption failed).
    #[error("the password does not open ClientKey {key_id} ({origin}): check the password file or variable for this access point (it must be the password shown when the ClientKey was created)")]
    WrongPassword {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
    },
    /// The PKCS#12 uses an algorithm the decoder does not support.
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
        /// The sources tried, by file path or environment variable name (never a value).
        tried: Vec<String>,
    },
    /// The CA file holds malformed PEM (broken armour or base64).
    #[error("CA file {path} is invalid: {detail}")]
    CaFile {
        /// The path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// Signing failed (should not happen with a loaded key).
    #[error("signing with ClientKey {key_id} failed")]
    Signing {
        /// The ClientKey id.
        key_id: String,
    },
    /// The configured ClientKey file does not exist.
    #[error("ClientKey file {path} does not exist: download clientKey_<KeyId>.json from the application access point in the KMS console and point client_key_file (or the builder) at it")]
    ClientKeyFileMissing {
        /// The path.
        path: PathBuf,
    },
    /// The ClientKey is not syntactically valid JSON.
    #[error("ClientKey {origin} is not JSON (syntax error at line {line}, column {column}); expected {{\"KeyId\": \"KAAP.…\", \"PrivateKeyData\": \"<base64>\"}} as downloaded from the KMS console")]
    ClientKeyNotJson {
        /// The file path or "inline content".
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The ClientKey JSON has no usable `KeyId`.
    #[error("ClientKey {origin}: member \"KeyId\" {problem}; it must be the access point key id (\"KAAP.…\") as downloaded from the KMS console")]
    ClientKeyMissingKeyId {
        /// The file path or "inline content".
        origin: String,
        /// "is missing", "is not a string", "is empty", ...
        problem: &'static str,
    },
    /// The ClientKey JSON has no usable `PrivateKeyData`.
    #[error("ClientKey {key_id} ({origin}): member \"PrivateKeyData\" {problem}; it must be the base64 PKCS#12 as downloaded from the KMS console")]
    ClientKeyMissingPrivateKeyData {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
        /// "is missing", "is not a string", "is empty".
        problem: &'static str,
    },
    /// `PrivateKeyData` is not standard base64.
    #[error("ClientKey {key_id} ({origin}): PrivateKeyData is not standard base64; download the ClientKey file again (do not edit it)")]
    PrivateKeyDataNotBase64 {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
    },
    /// The decoded `PrivateKeyData` is not a readable PKCS#12 (PFX) file.
    #[error("ClientKey {key_id} ({origin}): PrivateKeyData is not a readable PKCS#12 (PFX) file; download the ClientKey file again")]
    NotPkcs12 {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
    },
    /// The PKCS#12 opened but holds no private key.
    #[error("ClientKey {key_id} ({origin}): the PKCS#12 holds no private key; use the ClientKey file downloaded when the ClientKey was created")]
    Pkcs12NoPrivateKey {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
    },
    /// The private key is not RSA (KMS ClientKeys sign with RSA_PKCS1_SHA_256).
    #[error("ClientKey {key_id} ({origin}): the private key is {algorithm}, but KMS ClientKeys must be RSA (RSA_PKCS1_SHA_256); create a ClientKey in the KMS console")]
    KeyNotRsa {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
        /// The key algorithm found ("EC", "Ed25519", or an OID).
        algorithm: String,
    },
    /// The RSA key is outside what the signer accepts (2048–4096 bits, e ≥ 65537) or malformed.
    #[error("ClientKey {key_id} ({origin}): the RSA key cannot be used: {reason}; KMS ClientKeys are RSA-2048, create a new one in the KMS console")]
    RsaKeyRejected {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
        /// Why the key was rejected.
        reason: String,
    },
    /// The ClientKey certificate has expired; KMS rejects expired access point keys.
    #[error("ClientKey {key_id} ({origin}) expired on {not_after} (certificate {subject}): KMS rejects expired ClientKeys; create a new ClientKey for the application access point in the KMS console")]
    ClientKeyExpired {
        /// The ClientKey id.
        key_id: String,
        /// The file path or "inline content".
        origin: String,
        /// Certificate subject.
        subject: String,
        /// End of validity, `YYYY-MM-DD hh:mm:ss UTC`.
        not_after: String,
    },
    /// A configured password file does not exist (no fall-through to later sources).
    #[error("password file {path} does not exist: put the ClientKey password (clientKey_<KeyId>_Password.txt from the KMS console) there, or remove this setting to use the next password source")]
    PasswordFileMissing {
        /// The path.
        path: PathBuf,
    },
    /// A password file exists but cannot be read.
    #[error("cannot read password file {path}: {source}; make it readable by this process")]
    PasswordFileUnreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A password file is not UTF-8 text.
    #[error("password file {path} is not UTF-8 text; save the password as plain UTF-8 text")]
    PasswordFileNotUtf8 {
        /// The path.
        path: PathBuf,
    },
    /// A password file is empty (or white space only).
    #[error("password file {path} is empty; put the ClientKey password in it")]
    PasswordFileEmpty {
        /// The path.
        path: PathBuf,
    },
    /// A password file looks like JSON but is not `{"ClientKeyPassword": "..."}`.
    #[error("password file {path} starts with '{{' but is not {{\"ClientKeyPassword\": \"...\"}}: {detail}; write either the bare password or that JSON object")]
    PasswordFileJson {
        /// The path.
        path: PathBuf,
        /// What is wrong (never the content).
        detail: String,
    },
    /// A password environment variable is set but not valid Unicode.
    #[error("environment variable {name} (ClientKey password) is not valid Unicode")]
    PasswordEnvNotUnicode {
        /// The variable name.
        name: String,
    },
    /// The configured CA file does not exist.
    #[error("CA file {path} does not exist: download PrivateKmsCA_<instanceId>.pem from the KMS instance page and point ca_file_path at it")]
    CaFileMissing {
        /// The path.
        path: PathBuf,
    },
    /// The CA file is empty.
    #[error("CA file {path} is empty: download PrivateKmsCA_<instanceId>.pem from the KMS instance page again")]
    CaFileEmpty {
        /// The path.
        path: PathBuf,
    },
    /// The CA file holds no PEM certificate (DER, text, or another PEM type).
    #[error("CA file {path} is not a PEM certificate file: {detail}")]
    CaFileNotPem {
        /// The path.
        path: PathBuf,
        /// What was found and how to fix it.
        detail: String,
    },
    /// A PEM `CERTIFICATE` block of the CA file is not an X.509 certificate.
    #[error("CA file {path}: certificate #{index} is not a valid X.509 certificate; download PrivateKmsCA_<instanceId>.pem from the KMS instance page again")]
    CaCertificateInvalid {
        /// The path.
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        index: usize,
    },
}
