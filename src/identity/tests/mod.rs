//! Identity tests against the fixture ClientKeys, CA bundles and golden signatures
//! (`tests/fixtures/identity`, `tests/fixtures/kms-instance`, the real Alibaba ClientKey).

mod ca;
mod clientkey;
mod password;
mod signing;
mod support;
