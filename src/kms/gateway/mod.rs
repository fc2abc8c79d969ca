//! The KMS OpenAPI gateways: the shared gateway (`kms.{region}.aliyuncs.com`,
//! `kms-vpc.{region}.aliyuncs.com`) and a KMS instance's own gateway
//! (`{instanceId}.cryptoservice.kms.aliyuncs.com` reached with RAM identities, as the v2
//! clients do). `GetSecretValue` (API 2016-01-20) as an RPC call with signature version 1.0
//! (every parameter in the query of `POST /`) or with the V3 header signature
//! `ACS3-HMAC-SHA256`, authenticated with any KMS identity type — ClientKey (`SHA256withRSA`,
//! RPC v1 only), AccessKey, STS token, RAM role ARN (STS `AssumeRole`), ECS RAM role
//! (instance metadata service) or OIDC role (RRSA, STS `AssumeRoleWithOIDC`, [`oidc`]).
//!
//! * [`signing`]: RPC v1 canonicalization and signature functions (golden-vector tested), and
//!   the [`SigningKey`](signing::SigningKey) every identity boils down to.
//! * [`acs3`]: the V3 signature over the same percent-encoding and canonical query.
//! * [`credentials`]: [`IdentitySession`], static or refreshing role credentials.
//! * [`response`]: JSON decoding of answers and POP error bodies.
//! * [`GatewayClient`]: the [`KmsClient`](crate::kms::KmsClient) implementation.

pub(crate) mod acs3;
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
