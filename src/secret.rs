//! Fetched secrets and the `AccessKey` snapshot handed to callers.
//!
//! (Skeleton: filled in by the provider work.)
