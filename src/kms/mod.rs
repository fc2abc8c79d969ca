//! Talking to KMS: one [`KmsClient`] trait with two implementations, the KMS instance API
//! ([`instance`], protobuf over TLS with the instance CA) and the shared gateway (`gateway`,
//! RPC signature v1). Both return the same wire-level [`SecretValue`] and [`KmsError`].

use std::future::Future;
use std::pin::Pin;

use crate::config::{Endpoint, SecretString};

pub(crate) mod backoff;
pub(crate) mod gateway;
mod http;
pub(crate) mod instance;

/// A boxed, `Send` future: keeps [`KmsClient`] object-safe without a macro crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `GetSecretValue` parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetSecretValueRequest {
    /// Secret name, e.g. `acs/ram/user/app-prod`.
    pub secret_name: String,
    /// Version stage (`ACSCurrent` unless asked otherwise); `None` omits the field.
    pub version_stage: Option<String>,
    /// Version id; `None` omits the field.
    pub version_id: Option<String>,
    /// Ask for `ExtendedConfig` and rotation metadata (always true in the secrets-manager clients).
    pub fetch_extended_config: bool,
}

impl GetSecretValueRequest {
    #[cfg(test)]
    /// The request the secrets-manager clients send: stage `ACSCurrent`, extended config on.
    pub(crate) fn current(secret_name: impl Into<String>) -> Self {
        Self {
            secret_name: secret_name.into(),
            version_stage: Some(crate::config::DEFAULT_VERSION_STAGE.to_owned()),
            version_id: None,
            fetch_extended_config: true,
        }
    }
}

/// A `GetSecretValue` answer as received (strings as sent by KMS; empty when absent).
/// `secret_data` is zeroized on drop and redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretValue {
    /// `SecretName`.
    pub secret_name: String,
    /// `SecretType`: `Generic`, `RAMCredentials`, `Rds`, ...
    pub secret_type: String,
    /// `SecretData`: the plaintext (for RAM credentials, a JSON document).
    pub secret_data: SecretString,
    /// `SecretDataType`: `text` or `binary` (base64 in `secret_data`).
    pub secret_data_type: String,
    /// `VersionStages`.
    pub version_stages: Vec<String>,
    /// `VersionId`.
    pub version_id: String,
    /// `CreateTime` (`YYYY-MM-DDThh:mm:ssZ`).
    pub create_time: String,
    /// `RequestId` of the answer.
    pub request_id: String,
    /// `LastRotationDate`.
    pub last_rotation_date: String,
    /// `NextRotationDate`.
    pub next_rotation_date: String,
    /// `ExtendedConfig` JSON text.
    pub extended_config: String,
    /// `AutomaticRotation`: `Enabled` / `Disabled`.
    pub automatic_rotation: String,
    /// `RotationInterval`, e.g. `604800s`.
    pub rotation_interval: String,
}

/// What went wrong talking to KMS (or reading a synced secret file, [`KmsError::SecretFile`]).
/// Never carries secret material. `Clone` so every waiter of a
/// shared (single-flight) fetch gets the same error.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// KMS answered with an error code.
    #[error("KMS at {endpoint} rejected GetSecretValue for '{secret_name}': HTTP {http_status} {code}: {message} (RequestId {request_id})")]
    Service {
        /// The endpoint that answered.
        endpoint: String,
        /// The secret asked for.
        secret_name: String,
        /// HTTP status code.
        http_status: u16,
        /// `ErrorCode` / `Code`, e.g. `Rejected.Throttling`.
        code: String,
        /// `ErrorMessage` / `Message`.
        message: String,
        /// `RequestId` (empty when the body had none).
        request_id: String,
        /// Gateway only: `HostId` and `Recommend` when present.
        details: Option<String>,
    },
    /// The connection, TLS handshake or a timeout failed.
    #[error("could not reach KMS at {endpoint} ({kind}): {detail}")]
    Transport {
        /// The endpoint tried.
        endpoint: String,
        /// What kind of failure.
        kind: TransportErrorKind,
        /// The underlying error, flattened to text (no secrets are ever in it).
        detail: String,
    },
    /// KMS (or a proxy in front of it) sent something that is not a valid answer.
    #[error("invalid answer from KMS at {endpoint} (HTTP {http_status}): {detail}")]
    InvalidResponse {
        /// The endpoint that answered.
        endpoint: String,
        /// HTTP status code.
        http_status: u16,
        /// What was wrong (never the body itself when it may hold a secret).
        detail: String,
    },
    /// The request could not be built or signed locally (bad key, bad endpoint, TLS setup).
    #[error("cannot send a request to KMS at {endpoint}: {detail}")]
    Request {
        /// The endpoint concerned.
        endpoint: String,
        /// What was wrong and how to fix it.
        detail: String,
    },
    /// A secret file (`secret_files_dir`) could not be read or is not laid out as expected.
    /// Retryable: the operator that syncs the file may write it again.
    #[error("cannot read secret file {path}: {problem}")]
    SecretFile {
        /// The file or directory concerned (or `secret_files_dir`).
        path: String,
        /// What is wrong and how to fix it (never file content).
        problem: String,
    },
}

/// Kinds of transport failure, all retryable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// TCP connect failed or the connection dropped.
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// Connect or request timeout.
    Timeout,
    /// Any other I/O failure while sending or receiving.
    Io,
}

impl std::fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Tls => "TLS failed",
            Self::Timeout => "timed out",
            Self::Io => "I/O error",
        })
    }
}

/// Service error codes that are worth retrying (every official SDK retries these).
pub(crate) const RETRYABLE_CODES: &[&str] = &[
    "Rejected.Throttling",
    "ServiceUnavailableTemporary",
    "InternalFailure",
];

/// Account-level answers: the Alibaba Cloud account is overdue, and KMS refuses every call
/// until it is topped up. No retry, endpoint or key change helps, so the cache backs off for
/// its longest delay (`refresh_retry_max_ms`) instead of its usual schedule.
pub(crate) const ACCOUNT_IN_DEBT_CODES: &[&str] = &["Forbidden.InDebt", "Forbidden.InDebtOverdue"];

impl KmsError {
    /// Whether KMS refused because the account is overdue ([`ACCOUNT_IN_DEBT_CODES`]).
    pub(crate) fn is_account_in_debt(&self) -> bool {
        self.code()
            .is_some_and(|code| ACCOUNT_IN_DEBT_CODES.contains(&code))
    }

    /// The service error code, if KMS answered with one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The endpoint this error is about (for a secret file: its path).
    pub fn endpoint(&self) -> &str {
        match self {
            Self::Service { endpoint, .. }
            | Self::Transport { endpoint, .. }
            | Self::InvalidResponse { endpoint, .. }
            | Self::Request { endpoint, .. } => endpoint,
            Self::SecretFile { path, .. } => path,
        }
    }

    /// Whether another attempt (same or next endpoint) may succeed: transport failures, the
    /// throttling/unavailable/internal codes, and 5xx answers that are not KMS error bodies.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Service { code, .. } => RETRYABLE_CODES.contains(&code.as_str()),
            Self::Transport { .. } => true,
            Self::InvalidResponse { http_status, .. } => *http_status >= 500,
            Self::Request { .. } => false,
            Self::SecretFile { .. } => true,
        }
    }
}

/// Something that can fetch a secret from one KMS endpoint. Implemented by
/// the KMS instance client and the gateway client; the cache only sees this trait. Implement it
/// to put your own transport (a proxy, a test double) behind the provider.
pub trait KmsClient: Send + Sync + std::fmt::Debug {
    /// The endpoint this client talks to (for logs, health and failover).
    fn endpoint(&self) -> &Endpoint;

    /// Fetch one secret, with this client's own retries.
    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>>;
}
