//! Tests of the `.properties` parser (Java `Properties.load` semantics, property tests).

// One log-capture helper for these unit tests and the `tests/config_load.rs` integration test.
#[path = "../../../tests/log_capture/mod.rs"]
mod log_capture;
mod properties;
