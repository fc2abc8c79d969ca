//! ClientKey passwords: resolved from an ordered list of sources, zeroized on drop.

use zeroize::Zeroizing;

use super::IdentityError;
use crate::config::{PasswordSource, PasswordSources};

/// A ClientKey password. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Wraps a password string as given (no trimming).
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The password text. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first password that one of `sources` yields, in order.
    pub fn resolve(sources: &PasswordSources) -> Result<Self, IdentityError> {
        for source in sources {
            match source {
                PasswordSource::Inline(secret) => return Ok(Self::new(secret.expose())),
                PasswordSource::EnvVar(name) => {
                    if let Ok(value) = std::env::var(name) {
                        if !value.is_empty() {
                            return Ok(Self::new(value));
                        }
                    }
                }
                PasswordSource::File(path) => {
                    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                        IdentityError::Read {
                            what: "password file",
                            path: path.clone(),
                            source,
                        }
                    })?);
                    return Ok(Self::new(text.trim()));
                }
            }
        }
        Err(IdentityError::PasswordMissing {
            detail: "set client_key_password_from_file_path, client_key_password_from_env_variable or the environment variable client_key_password".into(),
        })
    }
}
