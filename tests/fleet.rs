//! The fleet simulation (`examples/fleet`) at a reduced size, on tokio's paused clock: 300 pods,
//! each a real provider, against one simulated KMS whose quota is scaled down with the fleet
//! (450 requests/s for 10,000 pods → 13 for 300, rounded down), so the pressure per unit of quota is the
//! same as at full size. Asserts the invariants the full-size runs are measured against:
//!
//! * no failed read while the pod holds a valid key (stale-if-error through throttling and an
//!   outage);
//! * KMS's quota respected: with the default tuning no scenario but the cold start (every pod at
//!   once) and the revoked key (every pod must fetch at once) gets near the quota; those two are
//!   throttled, and every throttled pod is retried to success with a bounded number of requests;
//! * every pod ends on the new key (rotation, revocation), or has its first key (cold start).
//!
//! The file source (`synced_file_rotation`, shortened) runs with two fleet sizes: KMS sees the
//! operator's polls only, the same count for both, and every pod serves the new key within
//! one file poll of the operator's write.

#[path = "../examples/fleet/sim.rs"]
mod sim;

use std::time::Duration;

use sim::{Event, Report, Scenario, Source, Start};

const PODS: usize = 300;
/// 450 × 300 / 10,000, rounded down.
const QUOTA: u32 = 13;

fn scenario(name: &str) -> Scenario {
    let mut s = Scenario::standard(PODS)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap();
    s.quota_qps = QUOTA;
    // Shorter than the example's runs (debug build, a few seconds each): just past the event.
    let hour = Duration::from_secs(3600);
    s.duration = match name {
        "steady_day" => hour * 13,
        "scheduled_rotation" | "revoked_rotation" => hour * 5 / 2,
        "kms_outage" => hour * 15 / 2,
        _ => s.duration,
    };
    s
}

async fn run(name: &str) -> Report {
    let report = sim::run(&scenario(name), &|| 0).await;
    // Printed so `-- --nocapture` shows what the assertions saw.
    println!(
        "{name}: peak {} QPS, {} requests, {} throttled, {} unavailable, reads ok {} failed {} not-ready {}, revoked recovered {} failed {}, p99 {:?} s",
        report.peak_qps,
        report.requests,
        report.throttled,
        report.unavailable,
        report.reads_ok,
        report.reads_failed,
        report.reads_not_ready,
        report.revoked_recovered,
        report.revoked_failed,
        report.reach_percentile(99.0)
    );
    // Every scenario: the application read its key, and never lost one it had.
    assert!(
        report.reads_ok > PODS as u64,
        "{name}: the pods read their keys"
    );
    assert_eq!(
        report.reads_failed, 0,
        "{name}: a read failed while a key was held"
    );
    report
}

/// Every pod that needed the new key got it, within `within`.
fn all_reached(report: &Report, within: Duration) {
    assert!(report.needed > 0);
    assert_eq!(
        report.never_reached(),
        0,
        "{}: pods never got the key",
        report.name
    );
    let max = report.reach_percentile(100.0).unwrap();
    assert!(
        max <= within.as_secs_f64(),
        "{}: the last pod took {max} s",
        report.name
    );
}

#[tokio::test(start_paused = true)]
async fn steady_state_stays_far_below_the_quota() {
    let report = run("steady_day").await;
    assert!(report.peak_qps <= QUOTA, "peak {}", report.peak_qps);
    assert_eq!(report.throttled, 0);
    // One fetch at start, then one per max_interval (6 h, + up to 5 min of jitter): in 13 h
    // two refreshes for the pods that started early enough, at least one for the others.
    assert!(report.requests >= PODS as u64 * 2, "{}", report.requests);
    assert!(report.requests <= PODS as u64 * 3, "{}", report.requests);
}

#[tokio::test(start_paused = true)]
async fn scheduled_rotation_is_spread_by_the_jitter() {
    let report = run("scheduled_rotation").await;
    assert!(report.peak_qps <= QUOTA, "peak {}", report.peak_qps);
    assert_eq!(report.throttled, 0);
    assert_eq!(report.revoked_recovered + report.revoked_failed, 0);
    // NextRotationDate + rotation_delay (5 min) + jitter.
    let defaults = aliyun_managed_credentials::config::RefreshConfig::default();
    let first = report.reach_percentile(0.0).unwrap();
    assert!(first >= defaults.rotation_delay.as_secs_f64(), "{first}");
    all_reached(
        &report,
        defaults.rotation_delay + defaults.jitter + Duration::from_secs(1),
    );
}

#[tokio::test(start_paused = true)]
async fn revoked_key_is_replaced_through_forced_refreshes() {
    let report = run("revoked_rotation").await;
    // Pods found the dead key and recovered through report_rejected.
    assert!(report.revoked_recovered > 0);
    assert!(report.forced_refreshes > 0);
    // Bounded: each pod needs one good answer; throttled ones retry with backoff, so the total
    // stays within a few requests per pod (start-up fetch + forced + retries).
    assert!(
        report.requests <= PODS as u64 * 8,
        "requests {}",
        report.requests
    );
    all_reached(&report, Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn cold_start_of_every_pod_converges() {
    let report = run("cold_start").await;
    // Every pod asks at once, so the first second is over the quota by construction...
    assert!(report.peak_qps > QUOTA);
    assert!(report.throttled > 0);
    // ...and the shared backoff keeps the retries bounded and converging.
    assert!(
        report.requests <= PODS as u64 * 10,
        "requests {}",
        report.requests
    );
    all_reached(&report, Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn outage_serves_stale_keys_and_recovers() {
    let report = run("kms_outage").await;
    assert!(report.unavailable > 0, "pods refreshed during the outage");
    assert!(report.peak_qps <= QUOTA, "peak {}", report.peak_qps);
    // Pods that were stale at recovery caught up within the backoff cap (5 min) + a bit.
    all_reached(&report, Duration::from_secs(330));
}

/// `synced_file_rotation` shortened for a debug build: the operator polls KMS every 20 s (at
/// 0, 20, 40 s), pods start over the first 10 s and read the files every 2 s, the key rotates
/// at 25 s (written at 40 s), the run ends at 50 s.
fn synced_files(pods: usize) -> Scenario {
    let mut s = Scenario::standard(pods)
        .into_iter()
        .find(|s| s.name == "synced_file_rotation")
        .unwrap();
    s.quota_qps = QUOTA;
    s.start = Start::Spread {
        over: Duration::from_secs(10),
    };
    s.events = vec![Event::Rotate {
        at: Duration::from_secs(25),
        scheduled: true,
    }];
    s.duration = Duration::from_secs(50);
    s.source = Source::SyncedFiles {
        operator_poll: Duration::from_secs(20),
        pod_poll: Duration::from_secs(2),
    };
    s
}

#[tokio::test(start_paused = true)]
async fn synced_files_put_no_pod_load_on_kms() {
    let mut requests = Vec::new();
    for pods in [40, 160] {
        let scenario = synced_files(pods);
        let Source::SyncedFiles {
            operator_poll,
            pod_poll,
        } = scenario.source
        else {
            unreachable!()
        };
        let report = sim::run(&scenario, &|| 0).await;
        println!(
            "synced files, {pods} pods: {} requests, peak {} QPS, reads ok {} failed {} not-ready {}, writes {:?}, reached {:?}, after write {:?}, clock moved {:?} in blocking writes",
            report.requests,
            report.peak_qps,
            report.reads_ok,
            report.reads_failed,
            report.reads_not_ready,
            report.file_writes,
            sim::percentiles(&report.reached),
            sim::percentiles(&report.reached_after_write),
            report.blocking_clock_advance,
        );
        // Every pod read the files from its start (the operator wrote them first), always.
        assert!(report.reads_ok >= pods as u64 * 3, "{}", report.reads_ok);
        assert_eq!(report.reads_failed, 0);
        assert_eq!(report.reads_not_ready, 0);
        assert_eq!(report.revoked_recovered + report.revoked_failed, 0);
        // KMS saw the operator only: one request per poll, whatever the fleet size.
        let polls = scenario.duration.as_secs() / operator_poll.as_secs() + 1;
        assert_eq!(report.requests, polls);
        assert_eq!(report.throttled, 0);
        assert_eq!(report.operator_failures, 0);
        requests.push(report.requests);
        // The first version at start, the new one at the operator's first poll after the
        // rotation.
        let versions: Vec<u32> = report.file_writes.iter().map(|w| w.1).collect();
        assert_eq!(versions, [1, 2]);
        let rotation = scenario.mark().unwrap().as_secs_f64();
        let written = report.file_writes[1].0 - rotation;
        assert!(
            written > 0.0 && written <= (operator_poll + scenario.latency).as_secs_f64(),
            "written {written} s after the rotation"
        );
        // Every pod on the new key within one file poll of the write, so within the poll
        // interval + the operator's delay of the rotation. A paused clock that moved while the
        // blocking file reads ran would show here as well as in the operator's writes.
        assert_eq!(report.needed, pods);
        assert_eq!(report.never_reached(), 0);
        let after = sim::percentiles(&report.reached_after_write).unwrap();
        assert!(after.2 <= pod_poll.as_secs_f64(), "{after:?}");
        let max = report.reach_percentile(100.0).unwrap();
        assert!(max <= written + pod_poll.as_secs_f64(), "{max}");
        assert_eq!(report.blocking_clock_advance, Duration::ZERO);
    }
    assert_eq!(requests[0], requests[1]);
}

/// What the file source relies on in this simulation: on a current-thread runtime with a
/// paused clock, tokio does not auto-advance time while a `spawn_blocking` task runs, so a
/// real file read takes no simulated time (and fires no timer early).
#[tokio::test(start_paused = true)]
async fn paused_clock_waits_for_blocking_tasks() {
    let start = tokio::time::Instant::now();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::time::Instant::now()
    });
    tokio::task::yield_now().await;
    // Real time passes in the blocking pool while nothing else is runnable.
    tokio::task::spawn_blocking(|| std::thread::sleep(std::time::Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(!timer.is_finished());
    let fired = timer.await.unwrap();
    assert_eq!(fired - start, Duration::from_secs(1));
}
