//! The file source does not grow the heap as it polls: 50 providers (each with a `subscribe`
//! receiver waiting) reading one synced file
//! every 2 s (paused clock), 400 polls each, measured by a counting global allocator. A leak of
//! 145 bytes per poll would show as 2 MB; the fleet simulation's file-source pods grew by
//! ~145 bytes per poll, and this test pins that growth outside the library (in the simulation's
//! own bookkeeping).
//!
//! Its own test binary because it installs a global allocator.

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::{Clock, ConfigBuilder, ManagedCredentialsProvider};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NAME: &str = "acs/ram/user/app";

/// Wall time that moves with tokio's paused clock, so the scheduler polls on simulated time.
#[derive(Debug)]
struct PausedWallClock(SystemTime, tokio::time::Instant);

impl Clock for PausedWallClock {
    fn now(&self) -> SystemTime {
        self.0 + self.1.elapsed()
    }
}

fn live_heap() -> i64 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

#[tokio::test(start_paused = true)]
async fn polling_a_synced_file_does_not_grow_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("acs/ram/user");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(
        parent.join("app"),
        r#"{"AccessKeyId":"LTAI5tHeapTest","AccessKeySecret":"heap-test-secret","GenerateTimestamp":"2024-02-01T08:00:00Z"}"#,
    )
    .unwrap();
    let config = ConfigBuilder::new()
        .with_secret_files(dir.path(), Duration::from_secs(2))
        .build()
        .unwrap();
    let mut pods = Vec::new();
    for _ in 0..50 {
        let clock = PausedWallClock(SystemTime::now(), tokio::time::Instant::now());
        let pod = ManagedCredentialsProvider::builder()
            .config(config.clone())
            .clock(Arc::new(clock))
            .build()
            .await
            .unwrap();
        pod.get_access_key(NAME).await.unwrap();
        // A subscriber per pod too, as the fleet simulation has.
        let mut keys = pod.subscribe(NAME).await.unwrap();
        tokio::spawn(async move { while keys.changed().await.is_ok() {} });
        pods.push(pod);
    }
    let mut marks = Vec::new();
    for _ in 0..4 {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            pods[0].get_access_key(NAME).await.unwrap();
        }
        marks.push((live_heap(), pods[0].stats().fetches));
    }
    // Every pod polled: 1 + 400 reads of the file each.
    assert!(marks[3].1 >= 400, "{marks:?}");
    // From the first mark on (everything lazily allocated by then), 300 more polls per pod.
    let growth = marks[3].0 - marks[0].0;
    assert!(
        growth < 64 * 1024,
        "heap grew {growth} bytes over 15,000 polls: {marks:?}"
    );
}
