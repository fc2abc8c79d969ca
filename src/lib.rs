//! Use Alibaba Cloud AccessKeys that KMS Secrets Manager hosts, encrypts and rotates
//! ("managed RAM credentials") from any Rust application, without an AccessKey in code or config.
//!
//! The data flow, one module per step:
//!
//! ```text
//! properties / env / builder ─► config ─► identity ─► kms ─► secret ─► cache ─► provider
//! ```
//!
//! * [`config`]: `managed_credentials_providers.properties` (Java `.properties` grammar), typed
//!   [`config::Config`] and its builder.
//! * [`identity`]: ClientKey (PKCS#12) RSA signer, AccessKey/STS HMAC signers, CA bundles.
//! * [`kms`]: the KMS instance API (protobuf over TLS) and the shared gateway (RPC signature v1).
//! * [`secret`]: the fetched secret and the [`secret::AccessKey`] snapshot handed to callers.
//! * [`cache`] / [`provider`]: per-secret cache with single-flight, refresh-ahead and
//!   stale-if-error; [`ManagedCredentialsProvider`] is the public face ([`blocking`] for
//!   programs without an async runtime).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Errors are flat structs with context (endpoint, key, line, request id) so callers can match on
// them; they only travel on the cold path (a fetch every few hours), so their size is irrelevant
// and boxing every payload would cost readability for nothing.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod config;
pub mod error;
pub mod identity;
pub mod integrations;
pub mod kms;
pub mod secret;

pub mod blocking;
pub mod provider;

#[cfg(feature = "test-util")]
pub mod testing;

pub use error::{Error, Result};
pub use provider::ManagedCredentialsProvider;
