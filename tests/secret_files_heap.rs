//! The file source does not grow the heap as it polls: 50 providers (each with a `subscribe`
//! receiver waiting) reading one synced file every 2 s (paused clock), 400 polls each, measured
//! by a counting global allocator; once from a plain file, once from a volume the kubelet's
//! atomic writer updates (`..data` swaps), with a new key between measurements, as in the fleet
//! simulation. A leak of 145 bytes per poll would show as 2 MB; the fleet simulation's
//! file-source pods grew by ~145 bytes per poll, which these tests place outside the library.
//!
//! Its own test binary because it installs a global allocator.

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::testing::KubeletAtomicWriter;
use aliyun_managed_credentials::{Clock, ConfigBuilder, ManagedCredentialsProvider};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NAME: &str = "acs/ram/user/app";

/// The allocator's counts are process-wide: the tests measure one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

fn secret_data(n: u32) -> String {
    format!(
        r#"{{"AccessKeyId":"LTAI5tHeapTest{n}","AccessKeySecret":"heap-test-secret-{n}","GenerateTimestamp":"2024-02-01T08:00:00Z"}}"#
    )
}

#[tokio::test(start_paused = true)]
async fn polling_a_synced_file_does_not_grow_the_heap() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("acs/ram/user");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(parent.join("app"), secret_data(0)).unwrap();
    poll_and_measure(dir.path(), |_| {}).await;
}

#[tokio::test(start_paused = true)]
async fn polling_a_kubelet_volume_through_rotations_does_not_grow_the_heap() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let writer = KubeletAtomicWriter::new(dir.path()).unwrap();
    let write = |n: u32| {
        writer
            .write(&[(NAME, secret_data(n).as_bytes())])
            .expect("kubelet write");
    };
    write(0);
    poll_and_measure(dir.path(), write).await;
}

/// 50 pods poll `dir` 400 times each; `between(n)` runs before each of the four measured
/// stretches (n = 1..=4). Asserts the polls happened and the heap stayed flat.
async fn poll_and_measure(dir: &std::path::Path, between: impl Fn(u32)) {
    let config = ConfigBuilder::new()
        .with_secret_files(dir, Duration::from_secs(2))
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
    for n in 1..=4 {
        between(n);
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            pods[0].get_access_key(NAME).await.unwrap();
        }
        let fetches: u64 = pods.iter().map(|p| p.stats().fetches).sum();
        marks.push((live_heap(), pods[0].stats().fetches, fetches));
    }
    // Every pod polled: 1 + 400 reads of the file each.
    assert!(marks[3].1 >= 400, "{marks:?}");
    assert!(marks[3].2 >= 50 * 400, "{marks:?}");
    // From the first mark on (everything lazily allocated by then), 300 more polls per pod.
    let growth = marks[3].0 - marks[0].0;
    assert!(
        growth < 64 * 1024,
        "heap grew {growth} bytes over 15,000 polls: {marks:?}"
    );
}
