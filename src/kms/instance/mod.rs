//! The KMS instance API (`{instanceId}.cryptoservice.kms.aliyuncs.com`): protobuf bodies,
//! `x-kms-*` headers signed with the ClientKey (RSA PKCS#1 v1.5 SHA-256), TLS trusting exactly
//! the instance CA bundle.
//!
//! * [`signing`]: pure request building (body, headers, string-to-sign, `authorization`).
//! * [`decode_response`]: answer → [`SecretValue`](crate::kms::SecretValue) or typed error.
//! * [`InstanceClient`]: the HTTPS client (reqwest + rustls/ring), retries, size cap.

mod client;
pub(crate) mod proto;
pub(crate) mod response;
pub(crate) mod signing;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

pub(crate) use client::InstanceClient;
