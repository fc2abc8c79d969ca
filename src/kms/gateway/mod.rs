//! The KMS shared gateway (`kms.{region}.aliyuncs.com`, `kms-vpc.{region}.aliyuncs.com`):
//! `GetSecretValue` (API 2016-01-20) as an RPC call with signature version 1.0, every parameter
//! in the query of `POST /`, authenticated with any KMS identity type — ClientKey
//! (`SHA256withRSA`), AccessKey, STS token, RAM role ARN (STS `AssumeRole`), ECS RAM role
//! (instance metadata service) or OIDC role (RRSA, STS `AssumeRoleWithOIDC`, [`oidc`]).
//!
//! * [`signing`]: pure canonicalization and signature functions (golden-vector tested).
//! * [`credentials`]: [`IdentitySession`], static or refreshing role credentials.
//! * [`response`]: JSON decoding of answers and POP error bodies.
//! * [`GatewayClient`]: the [`KmsClient`](crate::kms::KmsClient) implementation.

mod client;
mod connection;
pub(crate) mod credentials;
mod oidc;
pub(crate) mod response;
pub(crate) mod signing;
#[cfg(test)]
mod tests;

pub(crate) use client::GatewayClient;
pub(crate) use credentials::IdentitySession;
