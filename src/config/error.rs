//! [`ConfigError`]: what is wrong with the configuration, where, and how to fix it.
//!
//! Every variant carries a [`Location`] (file or builder, line, key, JSON entry and field) so the
//! message points at the exact spot. Values are quoted only for keys that can never hold a
//! secret (numbers, booleans, endpoints, `credentials_type`); secret keys are named, never shown.

use std::fmt;
use std::path::PathBuf;

use super::properties::PropertiesError;

/// Where a configuration value came from: a file (or other labelled text) or the builder, plus
/// the line, key, and for the JSON lists the 1-based entry and field. Boxed so that
/// [`ConfigError`] stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location(Box<Parts>);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Parts {
    origin: String,
    line: Option<usize>,
    key: Option<String>,
    entry: Option<usize>,
    field: Option<String>,
}

impl Location {
    /// A location naming only the origin (file path, label or `ConfigBuilder`).
    pub(crate) fn origin(origin: impl Into<String>) -> Self {
        Self(Box::new(Parts {
            origin: origin.into(),
            ..Parts::default()
        }))
    }

    /// The file path, the label given to `from_properties_str`, or `ConfigBuilder`.
    pub(crate) fn origin_name(&self) -> &str {
        &self.0.origin
    }

    /// 1-based line in the file, when known.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// The properties key (for the builder: the equivalent properties key).
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    pub(crate) fn with_key(mut self, key: &str, line: Option<usize>) -> Self {
        self.0.key = Some(key.to_owned());
        self.0.line = line;
        self
    }

    pub(crate) fn with_entry(mut self, entry: usize) -> Self {
        self.0.entry = Some(entry);
        self
    }

    pub(crate) fn with_entry_opt(mut self, entry: Option<usize>) -> Self {
        self.0.entry = entry;
        self
    }

    pub(crate) fn with_field(mut self, field: &str) -> Self {
        self.0.field = Some(field.to_owned());
        self
    }

    pub(crate) fn with_field_opt(mut self, field: Option<&str>) -> Self {
        self.0.field = field.map(str::to_owned);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.0;
        f.write_str(&p.origin)?;
        if let Some(line) = p.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &p.key {
            write!(f, ", key `{key}`")?;
        }
        if let Some(entry) = p.entry {
            write!(f, ", entry {entry}")?;
        }
        if let Some(field) = &p.field {
            write!(f, ", field `{field}`")?;
        }
        Ok(())
    }
}

/// The allowed `credentials_type` values, for messages and docs.
pub(crate) const CREDENTIALS_TYPES: &str =
    "client_key, ak, token, sts, ram_role, ecs_ram_role, oidc_role_arn, sts_token";

/// A configuration problem. Every variant names where (file, line, key, JSON entry and field)
/// and how to fix it, and never contains the value of a secret key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A problem found outside the loader (kept for callers that need a free-form message).
    #[error("{0}")]
    Invalid(String),

    /// No configuration file exists at any of the searched locations.
    #[error("no configuration file found; searched: {}. Create one (see managed_credentials_providers.properties.example), pass its path to Config::from_properties_file, or set the environment variable ALIYUN_MANAGED_CREDENTIALS_FILE to its path", .searched.join("; "))]
    NotFound {
        /// Each location tried, with how it was chosen.
        searched: Vec<String>,
    },

    /// The configuration file exists (or was named explicitly) but cannot be read.
    #[error("cannot read configuration file {} ({how}): {source}; check the path and the file's permissions", .path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// How the path was chosen ("given in code", "from ALIYUN_MANAGED_CREDENTIALS_FILE", ...).
        how: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The text is not valid `.properties` syntax (bad escape, not UTF-8).
    #[error("{origin}: {source}")]
    Syntax {
        /// The file path or label.
        origin: String,
        /// The syntax problem, with its line.
        source: PropertiesError,
    },

    /// `credentials_type` has a value we do not know.
    #[error("{at}: unknown credentials_type `{value}`; allowed values: {CREDENTIALS_TYPES}")]
    UnknownCredentialsType {
        /// Where.
        at: Location,
        /// The value given (never a secret).
        value: String,
    },

    /// A key required by the chosen `credentials_type` is missing or empty.
    #[error("{at}: `{key}` is required when credentials_type is `{credentials_type}`; add a line `{key}=...`")]
    MissingKey {
        /// Where (`credentials_type`'s line).
        at: Location,
        /// The missing key.
        key: String,
        /// The chosen credentials type.
        credentials_type: String,
    },

    /// A required field of a JSON entry is missing or empty.
    #[error("{at}: required field is missing or empty; {hint}")]
    MissingField {
        /// Where (key, entry and field).
        at: Location,
        /// How to fix it.
        hint: String,
    },

    /// A value is not a valid number, or out of range.
    #[error("{at}: `{value}` is not valid: expected {expected}")]
    InvalidNumber {
        /// Where.
        at: Location,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },

    /// A value is not `true` or `false`.
    #[error("{at}: `{value}` is not a boolean: write `true` or `false`")]
    InvalidBool {
        /// Where.
        at: Location,
        /// The value given.
        value: String,
    },

    /// An endpoint is not `host`, `host:port` or `https://host[:port][/]`.
    #[error("{at}: endpoint `{value}` is invalid: {problem}; write `host`, `host:port` or `https://host[:port]`")]
    InvalidEndpoint {
        /// Where.
        at: Location,
        /// The value given.
        value: String,
        /// What is wrong.
        problem: String,
    },

    /// A JSON list value is malformed or has a field of the wrong type.
    #[error("{at}: {problem}")]
    InvalidJson {
        /// Where (key, and entry/field when known).
        at: Location,
        /// What is wrong and how to fix it (never the value).
        problem: String,
    },

    /// A value is present but not acceptable (conflicting settings, empty names, ...).
    #[error("{at}: {problem}")]
    InvalidValue {
        /// Where.
        at: Location,
        /// What is wrong and how to fix it (never a secret value).
        problem: String,
    },

    /// Neither a KMS instance nor a shared-gateway endpoint is configured.
    #[error("{origin}: no KMS endpoint configured; set cache_client_dkms_config_info (KMS instance endpoints, ClientKey auth) and/or cache_client_region_id (shared gateway regions, needs credentials_type), or secret_files_dir (secrets synced into files by the cluster)")]
    NoEndpoint {
        /// The file path, label or `ConfigBuilder`.
        origin: String,
    },

    /// Shared-gateway endpoints are configured but no KMS identity.
    #[error("{origin}: cache_client_region_id lists shared-gateway regions but no credentials_type is set; set credentials_type (client_key, ak, sts_token, ram_role, ecs_ram_role, oidc_role_arn, ...) and its keys, run with the RRSA environment variables ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE all set, or remove cache_client_region_id")]
    MissingIdentity {
        /// The file path, label or `ConfigBuilder`.
        origin: String,
    },
}
