//! Configuration: the `managed_credentials_providers.properties` file (Java `.properties`
//! grammar), environment, and a typed builder, all producing one validated [`Config`].
//!
//! (Skeleton: the loader, builder and [`ConfigError`] variants are filled in by the config work.)

mod types;

pub use types::*;

/// A configuration problem. Every variant names where (file, line, key) and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Placeholder until the loader lands.
    #[error("{0}")]
    Invalid(String),
}
