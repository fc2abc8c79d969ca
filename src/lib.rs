//! Use Alibaba Cloud AccessKeys that KMS Secrets Manager hosts, encrypts and rotates
//! ("managed RAM credentials") from any Rust application, without an AccessKey in code or
//! configuration.
//!
//! The application ships `managed_credentials_providers.properties` (the format of the official
//! Java/Go/Python providers) and asks for the AccessKey of a secret by name. The provider fetches
//! it from KMS, caches it, refreshes it ahead of rotation and expiry, keeps serving the last good
//! key through KMS outages, and fetches a new one when an Alibaba Cloud API says the key is dead.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let kms = aliyun_managed_credentials::testing::LocalKms::start().await?;
//! # let access_point = kms.issue_access_point(&["acs/ram/user/*"]);
//! # kms.put_ram_credential("acs/ram/user/app");
//! # let path = access_point.properties_file.clone();
//! use aliyun_managed_credentials::ManagedCredentialsProvider;
//!
//! // ManagedCredentialsProvider::from_default_file() reads the file named by
//! // ALIYUN_MANAGED_CREDENTIALS_FILE, else ./managed_credentials_providers.properties.
//! let provider = ManagedCredentialsProvider::from_properties_file(&path).await?;
//! let key = provider.get_access_key("acs/ram/user/app").await?; // from memory after the first call
//! assert!(!key.access_key_id().is_empty());
//! // sign with key.access_key_id() and key.access_key_secret(): both from one snapshot.
//!
//! // An Alibaba Cloud API answered InvalidAccessKeyId.NotFound: the key was rotated early.
//! let outcome = provider
//!     .report_rejected("acs/ram/user/app", &key, "InvalidAccessKeyId.NotFound")
//!     .await;
//! if let Some(new_key) = outcome.new_key() {
//!     // a different key is current now: retry the call once with it
//! #   let _ = new_key;
//! }
//! # provider.close().await;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "test-util"))]
//! # fn main() {}
//! ```
//!
//! Programs without an async runtime use [`blocking::ManagedCredentialsProvider`] (the same
//! methods, no `.await`).
//!
//! # Where to go next
//! * [`ManagedCredentialsProvider`]: every way to read a secret, report a dead key, subscribe
//!   to rotations, and check health; [`ProviderBuilder`] adds custom [`KmsClient`]s and a
//!   [`Clock`].
//! * [`config`]: the properties file ([`config::ConfigKey`] lists every key) and
//!   [`ConfigBuilder`], the same configuration in code. Both produce one validated [`Config`].
//! * Handing the key to other code: [`ProvideAccessKey`] and [`AccessKeyProvider`] for any
//!   signer, [`with_access_key`] for rotation-aware calls, [`RpcRequest`] to sign Alibaba Cloud
//!   OpenAPI requests, and the adapters and credentials endpoint in [`integrations`].
//! * [`Error`]: one error type with questions a caller can ask ([`Error::is_retryable`],
//!   [`Error::code`], [`Error::is_secret_not_found`], [`Error::is_configuration`]).
//! * `testing::LocalKms` (feature `test-util`): a KMS emulator on 127.0.0.1 for your own tests.
//! * [`manual`]: the long-form reference (configuration keys, endpoints, adapters, LocalKms,
//!   benchmarks).
//!
//! # Cargo features
//! None are on by default. `endpoint` (the local credentials endpoint for other languages),
//! `cli` (the `aliyun-managed-credentials` binary: `cargo install aliyun-managed-credentials
//! --features cli`), `reqsign`, `ossify`, `rusty-oss`, `object-store` and `sls` (adapters; `sls`
//! links the system OpenSSL through the SLS SDK, `sls-vendored-openssl` builds OpenSSL from
//! source instead), `test-util` (LocalKms).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Errors are flat structs with context (endpoint, key, line, request id) so callers can match on
// them; they only travel on the cold path (a fetch every few hours), so their size is irrelevant
// and boxing every payload would cost readability for nothing.
#![allow(clippy::result_large_err)]

mod cache;
mod clock;
pub mod config;
mod error;
mod identity;
pub mod integrations;
mod kms;
pub mod manual;
mod provider;
mod secret;
mod secret_files;
// Owner-only atomic file writes (restart cache, LocalKms secrets; the binary includes it with
// #[path]).
mod private_file;

pub mod blocking;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

pub use cache::stats::{CertificateHealth, Health, SecretHealth, Stats};
pub use clock::Clock;
pub use config::{Config, ConfigBuilder, ConfigError};
pub use error::{Error, Result};
pub use identity::IdentityError;
pub use integrations::credentials::{
    AccessKeyFuture, AccessKeyProvider, ExpiryPolicy, ProvideAccessKey,
};
pub use integrations::retry::{with_access_key, CallError};
pub use integrations::rpc::RpcRequest;
pub use kms::{
    BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue, TransportErrorKind,
};
pub use provider::{ManagedCredentialsProvider, ProviderBuilder, ProviderError, RefreshOutcome};
pub use secret::{AccessKey, Secret, SecretError};
