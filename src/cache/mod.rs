//! Per-secret cache: single-flight, refresh-ahead, stale-if-error, forced refresh.
//!
//! (Skeleton: filled in by the provider work.)
