//! Configuration: the `managed_credentials_providers.properties` file (Java `.properties`
//! grammar) or a typed builder, both producing one validated [`Config`].
//!
//! * The `.properties` parser follows Java `Properties.load` (see the [manual](crate::manual)).
//! * [`Config::from_properties_file`], [`Config::from_default_location`] and
//!   [`Config::from_properties_str`]: the loader. Precedence of the file location: a path in
//!   code, then the environment variable `ALIYUN_MANAGED_CREDENTIALS_FILE`, then
//!   `managed_credentials_providers.properties` in the
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
mod keys;
mod oidc;
pub(crate) mod properties;
#[cfg(test)]
mod tests;
mod types;

pub use builder::ConfigBuilder;
#[cfg(test)]
pub(crate) use builder::DEFAULT_VERSION_STAGE;
pub(crate) use builder::RESTART_CACHE_IDENTITY_HINT;
pub use error::{ConfigError, Location};
pub use keys::{ConfigKey, UnknownConfigKey};
pub use types::*;
