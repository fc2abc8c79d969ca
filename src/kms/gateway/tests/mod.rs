//! Gateway tests: golden signatures and recorded answers (`tests/fixtures/gateway`), and the
//! client against LocalKms's gateway over real TLS.

#[cfg(feature = "test-util")]
mod acs3_api;
mod acs3_vectors;
#[cfg(feature = "test-util")]
mod api;
mod conformance;
#[cfg(feature = "test-util")]
mod oidc_api;
mod oidc_vectors;
