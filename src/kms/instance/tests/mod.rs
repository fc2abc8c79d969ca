//! Instance API tests: golden requests and recorded answers (`tests/fixtures/kms-instance`),
//! the client against LocalKms and against raw TLS servers that misbehave on the wire.

#[cfg(feature = "test-util")]
mod api;
mod conformance;
#[cfg(feature = "test-util")]
mod wire;
