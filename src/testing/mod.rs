//! `LocalKms`: an in-process KMS emulator for tests (feature `test-util`).
//!
//! (Skeleton: filled in by the LocalKms work.)
