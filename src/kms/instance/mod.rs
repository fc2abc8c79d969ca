//! The KMS instance API (`{instanceId}.cryptoservice.kms.aliyuncs.com`): protobuf bodies,
//! `x-kms-*` headers signed with the ClientKey (RSA PKCS#1 v1.5 SHA-256), TLS trusting exactly
//! the instance CA bundle.
//!
//! (Skeleton: the client is filled in by the instance API work.)

pub mod proto;
