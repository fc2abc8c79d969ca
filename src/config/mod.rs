//! Configuration: the `managed_credentials_providers.properties` file (Java `.properties`
//! grammar) or a typed builder, both producing one validated [`Config`].
//!
//! * [`properties`]: the `.properties` parser (Java `Properties.load` semantics).
//! * [`Config::from_properties_file`], [`Config::from_default_location`], [`Config::load`] and
//!   [`Config::from_properties_str`]: the loader. Precedence of the file location: a path in
//!   code, then the environment variable [`CONFIG_FILE_ENV`], then [`DEFAULT_CONFIG_FILE`] in the
//!   working directory. Nothing else is merged in.
//! * [`ConfigBuilder`]: the same configuration in code; [`ConfigBuilder::from_config`] starts from
//!   a loaded file and lets code override it.
//!
//! Loading never reads the ClientKey, password or CA files the configuration names; the
//! identity module does, so errors about those files come from there.

mod builder;
mod endpoint;
mod error;
mod file;
pub mod keys;
pub mod properties;
mod types;

pub use builder::{ConfigBuilder, DEFAULT_VERSION_STAGE};
pub use error::{ConfigError, Location, CREDENTIALS_TYPES};
pub use file::{CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE};
pub use types::*;
