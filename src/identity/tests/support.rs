//! Shared helpers for the identity_* integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const KEY_ID: &str = "KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c";
pub(crate) const PASSWORD: &str = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c";
pub(crate) const REAL_PASSWORD: &str = "c383f5528f54394676ca89b8e47096e7";
pub(crate) const FIXTURE_PASSWORD: &str = "fixture-pass-1234";
pub(crate) const PROFILES: [&str; 3] = ["legacy", "alibabalike", "aes256"];

/// `tests/fixtures/<rel>`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub(crate) fn instance_clientkey(profile: &str) -> PathBuf {
    fixture(&format!("kms-instance/clientKey_{KEY_ID}_{profile}.json"))
}

pub(crate) fn instance_password_file() -> PathBuf {
    fixture(&format!("kms-instance/clientKey_{KEY_ID}_Password.txt"))
}

pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// `YYYY-MM-DD` as a `SystemTime` at midnight UTC.
pub(crate) fn date(y: i32, m: u8, d: u8) -> SystemTime {
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap();
    let secs = date.midnight().assume_utc().unix_timestamp();
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    /// Lines at WARN level.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.warnings_about("")
    }
    /// Lines at WARN level containing `needle`.
    pub(crate) fn warnings_about(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a thread-local subscriber capturing every event at DEBUG and above.
pub(crate) fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, Logs) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, logs)
}
