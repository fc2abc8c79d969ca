//! Tests of the `.properties` parser (Java `Properties.load` semantics, property tests).

mod log_capture;
mod properties;
