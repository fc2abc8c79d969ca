//! Using the managed AccessKey: from any Rust signer ([`ProvideAccessKey`], [`SecretCredentials`]),
//! with rotation-aware retries ([`with_access_key`]), through adapters for third-party signing
//! crates (cargo features `reqsign`, `ossify`, `oss-v2`, `rusty-oss`), and from other languages
//! through a local credentials endpoint (feature `endpoint`, binary `aliyun-managed-credentials`).

pub mod credentials;
pub mod retry;
pub mod rpc;

#[cfg(feature = "endpoint")]
pub mod endpoint;
#[cfg(feature = "oss-v2")]
pub mod oss_v2;
#[cfg(feature = "ossify")]
pub mod ossify;
#[cfg(feature = "reqsign")]
pub mod reqsign;
#[cfg(feature = "rusty-oss")]
pub mod rusty_oss;

pub use credentials::{ExpiryPolicy, ProvideAccessKey, SecretCredentials};
pub use retry::{with_access_key, CallError};
