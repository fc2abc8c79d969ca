//! ClientKey passwords: resolved from an ordered list of sources, zeroized on drop.
//!
//! Semantics (the configuration decides the order):
//! * `File`: must exist and hold a non-empty password — a configured but missing, unreadable or
//!   empty file is an error, never a silent fall-through. Read as UTF-8, surrounding white space
//!   (CR/LF included) trimmed; a file starting with `{` is read as `{"ClientKeyPassword": "..."}`.
//! * `EnvVar`: unset (or set to white space only) falls through to the next source; the value is
//!   trimmed like a file's.
//! * `Inline`: used as given.

use std::path::Path;

use zeroize::Zeroizing;

use super::IdentityError;
use crate::config::{PasswordSource, PasswordSources};

/// A ClientKey password. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub(crate) struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// `{"ClientKeyPassword": "..."}` password files (as written by confidential-containers).
#[derive(serde::Deserialize)]
struct PasswordJson {
    #[serde(rename = "ClientKeyPassword")]
    password: Option<Zeroizing<String>>,
}

impl Password {
    /// Wraps a password string as given (no trimming).
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The password text. Never log it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The first password that one of `sources` yields, in order (see the module docs).
    pub(crate) fn resolve(sources: &PasswordSources) -> Result<Self, IdentityError> {
        let mut tried = Vec::new();
        for source in sources {
            match source {
                PasswordSource::Inline(secret) => {
                    tracing::debug!("ClientKey password taken from the builder (inline)");
                    return Ok(Self::new(secret.expose()));
                }
                PasswordSource::EnvVar(name) => match std::env::var_os(name) {
                    None => tried.push(format!("environment variable {name} (unset)")),
                    Some(value) => {
                        let value = Zeroizing::new(value.into_string().map_err(|raw| {
                            drop(Zeroizing::new(raw.into_encoded_bytes()));
                            IdentityError::PasswordEnvNotUnicode { name: name.clone() }
                        })?);
                        let trimmed = value.trim();
                        if trimmed.is_empty() {
                            tried.push(format!("environment variable {name} (empty)"));
                        } else {
                            tracing::debug!(
                                variable = %name,
                                "ClientKey password taken from the environment"
                            );
                            return Ok(Self::new(trimmed));
                        }
                    }
                },
                PasswordSource::File(path) => {
                    let password = Self::from_file(path)?;
                    tracing::debug!(file = %path.display(), "ClientKey password read from file");
                    return Ok(password);
                }
            }
        }
        let detail = if tried.is_empty() {
            "no password source is configured; set client_key_password_from_file_path, client_key_password_from_env_variable or the environment variable client_key_password".to_owned()
        } else {
            format!(
                "tried {}; set one of them, or configure client_key_password_from_file_path",
                tried.join(", ")
            )
        };
        Err(IdentityError::PasswordMissing { detail, tried })
    }

    /// Reads a password file: plain text (trimmed) or `{"ClientKeyPassword": "..."}`.
    pub(crate) fn from_file(path: &Path) -> Result<Self, IdentityError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                IdentityError::PasswordFileMissing {
                    path: path.to_owned(),
                }
            } else {
                IdentityError::PasswordFileUnreadable {
                    path: path.to_owned(),
                    source,
                }
            }
        })?);
        warn_if_world_readable(path);
        let text = std::str::from_utf8(&bytes).map_err(|_| IdentityError::PasswordFileNotUtf8 {
            path: path.to_owned(),
        })?;
        let text = text.trim_start_matches('\u{feff}').trim();
        let password = if text.starts_with('{') {
            let parsed: PasswordJson = serde_json::from_str(text).map_err(|e| {
                // Only the position: serde_json messages may quote the offending value.
                IdentityError::PasswordFileJson {
                    path: path.to_owned(),
                    detail: format!("invalid JSON at line {}, column {}", e.line(), e.column()),
                }
            })?;
            let value = parsed
                .password
                .ok_or_else(|| IdentityError::PasswordFileJson {
                    path: path.to_owned(),
                    detail: "member \"ClientKeyPassword\" is missing".into(),
                })?;
            Self::new(value.trim())
        } else {
            Self::new(text)
        };
        if password.0.is_empty() {
            return Err(IdentityError::PasswordFileEmpty {
                path: path.to_owned(),
            });
        }
        Ok(password)
    }
}

/// A password readable by every local user is worth a warning (not an error: containers often
/// mount secrets 0644).
#[cfg(unix)]
fn warn_if_world_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                file = %path.display(),
                "password file {} is readable by every local user; consider chmod 600",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_path: &Path) {}
