//! The crate-wide error type: one enum that wraps each module's typed error, so callers can
//! match on the stage that failed while every message still names the file, key or endpoint.

use crate::config::ConfigError;
use crate::identity::IdentityError;
use crate::kms::KmsError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the crate reports. Messages never contain secrets.
///
/// Each variant holds its stage's typed error **boxed**, so that an `Error` is two words and a
/// `Result<Arc<AccessKey>, Error>` is returned in registers: the stage errors carry the
/// endpoint, secret name and KMS request id (up to 152 bytes), and moving that size through
/// every cached read cost more than the read itself. Match the stage, then the boxed error:
///
/// ```
/// # use aliyun_managed_credentials::{Error, KmsError};
/// fn describe(error: &Error) -> &'static str {
///     match error {
///         Error::Kms(kms) => match &**kms {
///             KmsError::Transport { .. } => "KMS unreachable",
///             _ => "KMS refused",
///         },
///         Error::Config(_) | Error::Identity(_) => "fix the configuration",
///         _ => "other",
///     }
/// }
/// # let _ = describe;
/// ```
///
/// The questions most callers ask have methods: [`is_retryable`](Self::is_retryable),
/// [`code`](Self::code), [`is_secret_not_found`](Self::is_secret_not_found),
/// [`is_configuration`](Self::is_configuration), [`is_closed`](Self::is_closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (file, environment or builder) is invalid.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// A ClientKey, password, AccessKey or CA file could not be loaded.
    #[error(transparent)]
    Identity(Box<IdentityError>),
    /// KMS could not be reached or answered with an error.
    #[error(transparent)]
    Kms(Box<KmsError>),
    /// A fetched secret could not be understood (or is not the kind asked for).
    #[error(transparent)]
    Secret(Box<crate::secret::SecretError>),
    /// The provider itself: closed, no endpoints, no runtime, no configuration file.
    #[error(transparent)]
    Provider(Box<crate::provider::ProviderError>),
}

// The point of the boxes: a `Result<Arc<_>, Error>` fits in two registers.
const _: () = assert!(std::mem::size_of::<Error>() <= 16);

/// `?` converts each stage's error into [`Error`], boxing it.
macro_rules! from_stage_error {
    ($($variant:ident($stage:ty)),* $(,)?) => {$(
        impl From<$stage> for Error {
            #[cold]
            fn from(e: $stage) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

from_stage_error!(
    Config(ConfigError),
    Identity(IdentityError),
    Kms(KmsError),
    Secret(crate::secret::SecretError),
    Provider(crate::provider::ProviderError),
);

/// KMS codes that mean "no such secret (or version)". `Forbidden.ResourceNotFound` is the
/// shared gateway's documented code; the instance API's code for a missing secret is not
/// documented, and the same one is assumed there.
const SECRET_NOT_FOUND_CODES: &[&str] = &["Forbidden.ResourceNotFound"];

impl Error {
    /// Whether trying again later may succeed: KMS unreachable, throttled or failing
    /// internally, or a 5xx from a proxy. Configuration, identity, permission and "no such
    /// secret" errors are not retryable: fix the setup instead.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Kms(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The error code KMS answered with (e.g. `Forbidden.NoPermission`,
    /// `Rejected.Throttling`), if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Kms(e) => e.code(),
            _ => None,
        }
    }

    /// Whether KMS says the secret (or the asked version stage) does not exist: check the
    /// secret name and the `version_stage` setting.
    pub fn is_secret_not_found(&self) -> bool {
        self.code()
            .is_some_and(|code| SECRET_NOT_FOUND_CODES.contains(&code))
    }

    /// Whether KMS refused because the Alibaba Cloud account is overdue (`Forbidden.InDebt`,
    /// `Forbidden.InDebtOverdue`): nothing in the application can fix it, the account must be
    /// topped up. The provider keeps serving a cached key that is still valid and retries only
    /// at its longest backoff (`refresh_retry_max_ms`) meanwhile; alert an operator on this.
    pub fn is_account_in_debt(&self) -> bool {
        matches!(self, Error::Kms(e) if e.is_account_in_debt())
    }

    /// Whether the setup is wrong and no retry will help: the configuration (file, key, line
    /// named in the message), a ClientKey, password or CA file, or a secret that is not a RAM
    /// credential.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Error::Config(_) | Error::Identity(_) | Error::Secret(_)
        ) || matches!(
            self,
            Error::Provider(e) if matches!(
                **e,
                crate::provider::ProviderError::NoEndpoints
                    | crate::provider::ProviderError::NoRuntime
                    | crate::provider::ProviderError::BlockingWouldDeadlock { .. }
            )
        )
    }

    /// Whether the provider was closed (by `close()`, or its runtime shut down): build a new one.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Provider(e) if matches!(**e, crate::provider::ProviderError::Closed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::TransportErrorKind;

    fn service(code: &str) -> Error {
        Error::from(KmsError::Service {
            endpoint: "kms.cn-hangzhou.aliyuncs.com".into(),
            secret_name: "acs/ram/user/app".into(),
            http_status: 404,
            code: code.into(),
            message: "m".into(),
            request_id: "r".into(),
            details: None,
        })
    }

    #[test]
    fn callers_can_ask_what_kind_of_failure_it_is() {
        let missing = service("Forbidden.ResourceNotFound");
        assert!(missing.is_secret_not_found());
        assert!(!missing.is_retryable());
        assert!(!missing.is_configuration());
        assert_eq!(missing.code(), Some("Forbidden.ResourceNotFound"));

        let throttled = service("Rejected.Throttling");
        assert!(throttled.is_retryable());
        assert!(!throttled.is_secret_not_found());

        let down = Error::from(KmsError::Transport {
            endpoint: "e".into(),
            kind: TransportErrorKind::Timeout,
            detail: "d".into(),
        });
        assert!(down.is_retryable());
        assert_eq!(down.code(), None);

        let config = Error::from(crate::config::ConfigError::NoEndpoint { origin: "f".into() });
        assert!(config.is_configuration());
        assert!(!config.is_retryable());

        let closed = Error::from(crate::provider::ProviderError::Closed);
        assert!(closed.is_closed());
        assert!(!closed.is_configuration());
    }
}
