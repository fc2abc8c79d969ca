//! The fleet simulation shared by `examples/fleet` (full size, tables, CSV, charts) and
//! `tests/fleet.rs` (reduced size, invariants). Only the crate's public API is used.
//!
//! N pods run in one process on tokio's paused clock. Each pod is one real
//! [`ManagedCredentialsProvider`] (the real cache, scheduler, backoff and forced-refresh code)
//! built with [`ProviderBuilder`](aliyun_managed_credentials::ProviderBuilder), a [`Clock`] that
//! moves with tokio time, and its own [`KmsClient`] handle onto one simulated KMS. The simulated
//! KMS serves a managed RAM credential (rotation metadata as KMS sends it), enforces a
//! per-second request quota (`Rejected.Throttling` above it), and can rotate the key (switch the
//! current version, optionally revoking the old AccessKey) or be down for a while
//! (`ServiceUnavailableTemporary`).
//!
//! What it does not exercise: the per-request HTTP retries inside the gateway and instance
//! clients (`RetryConfig`, `http.retry`). Those live in the HTTP clients, behind the
//! `KmsClient` trait this simulation replaces; running them would need one real TLS connection
//! and one signature per request, whose socket waits do not work on a paused clock (it jumps
//! ahead while a socket is pending and fires the request timeouts) and would cost far more CPU
//! than the cache itself at 10,000 pods. What runs here is the cache engine's own retry path:
//! the shared backoff of a failed fetch, the background retries with capped exponential backoff
//! and full jitter, stale-if-error, and the rate-limited forced refresh. `Scenario::http_attempts`
//! can stand in for the client's retries by repeating a throttled request, modelled on
//! `RetryConfig` (see [`PodClient`]), to show how much they add.
//!
//! [`Source::SyncedFiles`] runs the file source instead (`with_secret_files`): one operator
//! (modelled on ack-secret-manager: `GetSecretValue` every `--polling-interval`, 120 s by
//! default) writes the secret with [`KubeletAtomicWriter`] into a temporary directory, and the
//! pods read it there, with real file I/O in tokio's blocking pool. The paused clock does not
//! move while a blocking task runs (tokio inhibits auto-advance for it on a current-thread
//! runtime); [`Report::blocking_clock_advance`] checks that on the operator's writes. The
//! kubelet's own propagation of a Secret into the volume (its sync period) is not modelled: the
//! operator writes the volume directory directly.

#![allow(dead_code)] // the test and the example use different parts

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::config::{Endpoint, RefreshConfig, RetryConfig};
use aliyun_managed_credentials::testing::KubeletAtomicWriter;
use aliyun_managed_credentials::{
    AccessKeyProvider, BoxFuture, Clock, ConfigBuilder, GetSecretValueRequest, KmsClient, KmsError,
    ManagedCredentialsProvider, ProvideAccessKey, RefreshOutcome, SecretValue,
};
use rand::{Rng, SeedableRng};

/// The one secret every pod reads.
pub const SECRET: &str = "acs/ram/user/fleet-app";
/// The error code an Alibaba Cloud API answers for a deleted AccessKey.
const REVOKED_CODE: &str = "InvalidAccessKeyId.NotFound";
/// 2026-01-01T00:00:00Z: the wall-clock date the simulation starts at.
const WALL_START_SECS: u64 = 1_767_225_600;
/// The rotation interval the simulated secret advertises (7 days, like the official vectors).
const ROTATION_INTERVAL: Duration = Duration::from_secs(7 * 86_400);

/// Wall time that moves with tokio's (paused) clock, so KMS dates and the cache's timers agree.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    wall_start: SystemTime,
    start: tokio::time::Instant,
}

impl SimClock {
    fn new(start: tokio::time::Instant) -> Self {
        Self {
            wall_start: SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_START_SECS),
            start,
        }
    }
}

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        self.wall_start + self.start.elapsed()
    }
}

/// How the pods come up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// Every pod starts at t = 0 (a deployment that restarts all pods at once).
    AllAtOnce,
    /// Pods start at uniformly random times in `[0, over)` (a rolling deployment).
    Spread { over: Duration },
}

/// Something that happens to KMS at a simulated time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A new version becomes current. `scheduled`: it happens at the advertised
    /// `NextRotationDate` (the old key stays valid); otherwise it is out of schedule and the old
    /// AccessKey is deleted at once.
    Rotate { at: Duration, scheduled: bool },
    /// KMS answers `ServiceUnavailableTemporary` from `from` until `until`.
    Outage { from: Duration, until: Duration },
}

/// Where the pods get their key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// Each pod fetches from KMS itself.
    Kms,
    /// One operator fetches from KMS every `operator_poll` and writes the secret through the
    /// kubelet's atomic writer into a directory; each pod reads it there every `pod_poll`
    /// (`with_secret_files(dir, pod_poll)`) and sends nothing to KMS.
    SyncedFiles {
        operator_poll: Duration,
        pod_poll: Duration,
    },
}

/// One scenario to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name (file names, table).
    pub name: &'static str,
    /// Number of pods.
    pub pods: usize,
    /// Simulated length.
    pub duration: Duration,
    /// How the pods start.
    pub start: Start,
    /// What happens to KMS.
    pub events: Vec<Event>,
    /// Each pod reads its key this often (at its own random phase), in whole seconds.
    pub read_period_secs: u64,
    /// Requests per second KMS accepts (the shared gateway: 450).
    pub quota_qps: u32,
    /// Simulated KMS answer time.
    pub latency: Duration,
    /// The refresh tuning every pod runs with.
    pub refresh: RefreshConfig,
    /// Requests a pod's client sends per fetch when throttled (1 = the cache's retries only;
    /// 4 = the HTTP clients' default `max_attempts`, modelled, see [`PodClient`]).
    pub http_attempts: u32,
    /// Random seed (pod phases and start times; the crate's own jitter is not seeded).
    pub seed: u64,
    /// Where the pods get their key.
    pub source: Source,
}

impl Scenario {
    /// The six scenarios with this crate's default refresh tuning.
    pub fn standard(pods: usize) -> Vec<Scenario> {
        let hour = Duration::from_secs(3600);
        let base = Scenario {
            name: "",
            pods,
            duration: hour * 4,
            start: Start::Spread { over: hour },
            events: Vec::new(),
            read_period_secs: 10,
            quota_qps: 450,
            latency: Duration::from_millis(30),
            refresh: RefreshConfig::default(),
            http_attempts: 1,
            seed: 7,
            source: Source::Kms,
        };
        vec![
            Scenario {
                name: "steady_day",
                duration: hour * 25,
                read_period_secs: 60,
                ..base.clone()
            },
            Scenario {
                name: "scheduled_rotation",
                events: vec![Event::Rotate {
                    at: hour * 2,
                    scheduled: true,
                }],
                ..base.clone()
            },
            Scenario {
                name: "revoked_rotation",
                events: vec![Event::Rotate {
                    at: hour * 2,
                    scheduled: false,
                }],
                ..base.clone()
            },
            Scenario {
                name: "cold_start",
                duration: hour,
                start: Start::AllAtOnce,
                ..base.clone()
            },
            // Pods started over the first hour refresh (max_interval, 6 h) between 6 h and
            // 7 h: the outage takes in most of those refreshes.
            Scenario {
                name: "kms_outage",
                duration: hour * 8,
                events: vec![Event::Outage {
                    from: hour * 6 + hour / 4,
                    until: hour * 7 + hour / 4,
                }],
                ..base.clone()
            },
            // The file source: KMS sees the operator only. Short (every pod reads its files
            // every 2 s, real I/O): pods start over the first minute, the key rotates at 130 s,
            // 10 s after an operator poll, so the operator picks it up at 240 s (its worst case
            // but 10 s), and the run ends a minute later.
            Scenario {
                name: "synced_file_rotation",
                duration: Duration::from_secs(300),
                start: Start::Spread {
                    over: Duration::from_secs(60),
                },
                events: vec![Event::Rotate {
                    at: Duration::from_secs(130),
                    scheduled: true,
                }],
                source: Source::SyncedFiles {
                    operator_poll: Duration::from_secs(120),
                    pod_poll: Duration::from_secs(2),
                },
                ..base
            },
        ]
    }

    /// The simulated time from which "time until each pod has the new key" is measured.
    pub fn mark(&self) -> Option<Duration> {
        match self.start {
            Start::AllAtOnce => return Some(Duration::ZERO),
            Start::Spread { .. } => {}
        }
        self.events.first().map(|e| match e {
            Event::Rotate { at, .. } => *at,
            Event::Outage { until, .. } => *until,
        })
    }
}

/// Per simulated second, what KMS saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Second {
    /// Requests that arrived.
    pub requests: u32,
    /// Answered with the secret.
    pub ok: u32,
    /// Answered `Rejected.Throttling`.
    pub throttled: u32,
    /// Answered `ServiceUnavailableTemporary` (outage).
    pub unavailable: u32,
    /// Pods whose last answer carried the current version, at the end of this second.
    pub on_current: u32,
    /// Pods whose last answer from KMS was an error (serving a stale key, or none), likewise.
    pub stale: u32,
    /// Whether an answer set the two gauges in this second (else they carry over).
    answered: bool,
}

/// The simulated KMS, shared by every pod.
#[derive(Debug)]
pub struct SimKms {
    start: tokio::time::Instant,
    clock: SimClock,
    quota: u32,
    latency: Duration,
    state: Mutex<KmsState>,
    /// Versions below this one are deleted AccessKeys (read on every application read).
    min_valid_version: AtomicU32,
}

#[derive(Debug)]
struct KmsState {
    version: u32,
    rotated_at: SystemTime,
    next_rotation: SystemTime,
    outage: bool,
    window: u64,
    window_count: u32,
    seconds: Vec<Second>,
    /// Per pod: the version of its last good answer (0 = none) and whether its last answer
    /// was an error.
    pod_version: Vec<u32>,
    pod_stale: Vec<bool>,
    on_current: u32,
    stale: u32,
    /// Per pod: seconds from the mark until it first had the target version.
    mark: Option<(f64, u32)>,
    pod_reached: Vec<Option<f64>>,
}

impl SimKms {
    fn new(scenario: &Scenario, start: tokio::time::Instant) -> Self {
        let clock = SimClock::new(start);
        let wall = clock.now();
        // A scheduled rotation happens at the NextRotationDate the pods were told.
        let next_rotation = scenario
            .events
            .iter()
            .find_map(|e| match e {
                Event::Rotate {
                    at,
                    scheduled: true,
                } => Some(wall + *at),
                _ => None,
            })
            .unwrap_or(wall + ROTATION_INTERVAL / 2);
        let seconds = scenario.duration.as_secs() as usize + 120;
        Self {
            start,
            clock,
            quota: scenario.quota_qps,
            latency: scenario.latency,
            state: Mutex::new(KmsState {
                version: 1,
                rotated_at: next_rotation - ROTATION_INTERVAL,
                next_rotation,
                outage: false,
                window: 0,
                window_count: 0,
                seconds: vec![Second::default(); seconds],
                pod_version: vec![0; scenario.pods],
                pod_stale: vec![false; scenario.pods],
                on_current: 0,
                stale: 0,
                mark: scenario.mark().map(|m| (m.as_secs_f64(), 1)),
                pod_reached: vec![None; scenario.pods],
            }),
            min_valid_version: AtomicU32::new(1),
        }
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Rotates: version + 1 becomes current; the old key is deleted unless `scheduled`.
    fn rotate(&self, scheduled: bool) {
        let now = self.clock.now();
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        s.rotated_at = now;
        s.next_rotation = now + ROTATION_INTERVAL;
        s.on_current = 0;
        s.pod_reached.iter_mut().for_each(|r| *r = None);
        let idx = (self.elapsed().as_secs() as usize).min(s.seconds.len() - 1);
        let stale = s.stale;
        s.seconds[idx].on_current = 0;
        s.seconds[idx].stale = stale;
        s.seconds[idx].answered = true;
        let version = s.version;
        if let Some(mark) = s.mark.as_mut() {
            mark.1 = version;
        }
        drop(s);
        if !scheduled {
            // The old key is deleted at once: only this version is valid from now on.
            self.min_valid_version.store(version, Ordering::SeqCst);
        }
    }

    fn set_outage(&self, down: bool) {
        self.state.lock().unwrap().outage = down;
    }

    /// Whether the AccessKey with this id has been deleted.
    fn is_revoked(&self, access_key_id: &str) -> bool {
        key_version(access_key_id) < self.min_valid_version.load(Ordering::Relaxed)
    }

    /// One request from `pod` (`None`: the file operator, which is not a pod): quota and
    /// outage decided on arrival, the answer after `latency`.
    async fn answer(
        &self,
        pod: Option<usize>,
        request: &GetSecretValueRequest,
    ) -> Result<SecretValue, KmsError> {
        let t = self.elapsed();
        let second = t.as_secs();
        let outcome = {
            let mut s = self.state.lock().unwrap();
            if s.window != second {
                s.window = second;
                s.window_count = 0;
            }
            s.window_count += 1;
            let idx = (second as usize).min(s.seconds.len() - 1);
            s.seconds[idx].requests += 1;
            if s.outage {
                s.seconds[idx].unavailable += 1;
                Err((
                    503,
                    "ServiceUnavailableTemporary",
                    "Service Unavailable Temporary.",
                ))
            } else if s.window_count > self.quota {
                s.seconds[idx].throttled += 1;
                Err((400, "Rejected.Throttling", "QPS Limit Exceeded"))
            } else {
                s.seconds[idx].ok += 1;
                Ok(s.version)
            }
        };
        tokio::time::sleep(self.latency).await;
        let at = self.elapsed();
        let mut s = self.state.lock().unwrap();
        match outcome {
            Ok(version) => {
                if let Some(pod) = pod {
                    s.pod_has(pod, version, at, false);
                }
                Ok(secret_value(
                    request,
                    version,
                    s.rotated_at,
                    s.next_rotation,
                ))
            }
            Err((http_status, code, message)) => {
                if let Some(pod) = pod {
                    let kept = s.pod_version[pod];
                    s.pod_has(pod, kept, at, true);
                }
                Err(KmsError::Service {
                    endpoint: "kms.fleet.example".into(),
                    secret_name: request.secret_name.clone(),
                    http_status,
                    code: code.into(),
                    message: message.into(),
                    request_id: format!("sim-{}-{}", pod.unwrap_or(usize::MAX), at.as_millis()),
                    details: None,
                })
            }
        }
    }

    /// A file-source pod now serves `version` (seen through its `subscribe` receiver).
    fn pod_serves(&self, pod: usize, version: u32) {
        let at = self.elapsed();
        self.state.lock().unwrap().pod_has(pod, version, at, false);
    }
}

impl KmsState {
    /// Pod `pod` got `version` at `at` (its last answer, or `stale`: its last answer was an
    /// error and it keeps `version`): the per-pod gauges, the time to the target version, and
    /// this second's gauge entry.
    fn pod_has(&mut self, pod: usize, version: u32, at: Duration, stale: bool) {
        let current = self.version;
        if !stale {
            if self.pod_version[pod] != current && version == current {
                self.on_current += 1;
            }
            self.pod_version[pod] = version;
            if let Some((mark, target)) = self.mark {
                if version >= target && self.pod_reached[pod].is_none() {
                    self.pod_reached[pod] = Some((at.as_secs_f64() - mark).max(0.0));
                }
            }
        }
        if self.pod_stale[pod] != stale {
            self.pod_stale[pod] = stale;
            if stale {
                self.stale += 1;
            } else {
                self.stale -= 1;
            }
        }
        let (on_current, stale) = (self.on_current, self.stale);
        let idx = (at.as_secs() as usize).min(self.seconds.len() - 1);
        let entry = &mut self.seconds[idx];
        entry.on_current = on_current;
        entry.stale = stale;
        entry.answered = true;
    }
}

/// The version number in a simulated AccessKey id (`...v<version>`), 0 if none.
fn key_version(access_key_id: &str) -> u32 {
    access_key_id
        .rsplit('v')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn format_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A managed RAM credential as KMS answers it (the shape of the gateway's golden vectors).
fn secret_value(
    request: &GetSecretValueRequest,
    version: u32,
    rotated_at: SystemTime,
    next_rotation: SystemTime,
) -> SecretValue {
    let data = format!(
        "{{\"AccessKeyId\":\"LTAI5tFleetSimulationv{version}\",\"AccessKeySecret\":\"fleet-secret-{version}\",\"GenerateTimestamp\":\"{}\"}}",
        format_date(rotated_at)
    );
    SecretValue {
        secret_name: request.secret_name.clone(),
        secret_type: "RAMCredentials".into(),
        secret_data: data.into(),
        secret_data_type: "text".into(),
        version_stages: vec!["ACSCurrent".into()],
        version_id: format!("v{version}"),
        create_time: format_date(rotated_at - ROTATION_INTERVAL),
        request_id: String::new(),
        last_rotation_date: format_date(rotated_at),
        next_rotation_date: format_date(next_rotation),
        extended_config:
            r#"{"SecretSubType":"RamUserAccessKey","UserName":"fleet-app","CustomData":{}}"#.into(),
        automatic_rotation: "Enabled".into(),
        rotation_interval: format!("{}s", ROTATION_INTERVAL.as_secs()),
    }
}

/// One pod's `KmsClient`: a handle onto the shared [`SimKms`] that knows which pod asks.
///
/// With `attempts` > 1 it repeats a throttled or unavailable request like the HTTP clients'
/// per-request retries would (`RetryConfig`: up to `max_attempts`, full-jitter backoff from
/// `base_delay` doubling to `max_delay`). This is a model of that policy for measuring its
/// extra load, not the clients' code (which needs real HTTP, see the module docs).
#[derive(Debug)]
pub struct PodClient {
    kms: Arc<SimKms>,
    pod: usize,
    endpoint: Endpoint,
    retry: RetryConfig,
}

impl KmsClient for PodClient {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move {
            let attempts = self.retry.max_attempts.max(1);
            let mut n = 0;
            loop {
                match self.kms.answer(Some(self.pod), request).await {
                    Err(_) if n + 1 < attempts => {
                        n += 1;
                        let ceiling = self
                            .retry
                            .base_delay
                            .saturating_mul(1 << (n - 1).min(20))
                            .min(self.retry.max_delay);
                        let wait = rand::rng().random_range(0..=ceiling.as_millis() as u64);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    other => return other,
                }
            }
        })
    }
}

/// What the application saw, summed over all pods.
#[derive(Debug, Default)]
pub struct AppCounters {
    /// Reads that got a valid key.
    pub ok: AtomicU64,
    /// Reads where the provider gave no key although the pod had had one: must stay 0.
    pub failed: AtomicU64,
    /// Reads before the pod's first key (cold start: the pod is not ready yet).
    pub not_ready: AtomicU64,
    /// Reads that got the deleted key; the call failed, `report_rejected` answered with the new
    /// key, and the retried call succeeded.
    pub revoked_recovered: AtomicU64,
    /// Reads that got the deleted key and no new key yet (the application's call fails).
    pub revoked_failed: AtomicU64,
    /// Reads skipped because the pod's previous read was still waiting.
    pub waiting: AtomicU64,
}

/// The file source's shared parts: the directory, the operator's writer and what it did.
struct FileSync {
    dir: tempfile::TempDir,
    writer: KubeletAtomicWriter,
    operator_poll: Duration,
    pod_poll: Duration,
    log: Arc<Mutex<OperatorLog>>,
}

#[derive(Debug, Default)]
struct OperatorLog {
    writes: Vec<(f64, u32)>,
    failures: u64,
    clock_advance: Duration,
}

/// One poll of the operator (ack-secret-manager's loop, reduced to what matters here): fetch
/// the secret from KMS and project its `SecretData` into the volume with the kubelet's atomic
/// writer, which writes only when the content changed. A failed fetch keeps the files as they
/// are until the next poll.
async fn operator_poll(kms: &SimKms, writer: &KubeletAtomicWriter, log: &Mutex<OperatorLog>) {
    let request = GetSecretValueRequest {
        secret_name: SECRET.into(),
        version_stage: Some("ACSCurrent".into()),
        version_id: None,
        fetch_extended_config: true,
    };
    let value = match kms.answer(None, &request).await {
        Ok(value) => value,
        Err(_) => {
            log.lock().unwrap().failures += 1;
            return;
        }
    };
    let version = key_version(&value.version_id);
    let data = value.secret_data.expose().as_bytes().to_vec();
    let writer = writer.clone();
    let before = tokio::time::Instant::now();
    let written = tokio::task::spawn_blocking(move || writer.write(&[(SECRET, &data)]))
        .await
        .expect("the write task ran");
    let advance = before.elapsed();
    let mut log = log.lock().unwrap();
    log.clock_advance = log.clock_advance.max(advance);
    match written {
        Ok(true) => log.writes.push((kms.elapsed().as_secs_f64(), version)),
        Ok(false) => {}
        Err(_) => log.failures += 1,
    }
}

/// One simulated pod.
struct Pod {
    provider: OnceLock<(ManagedCredentialsProvider, AccessKeyProvider)>,
    had_key: AtomicBool,
    busy: AtomicBool,
}

/// The figures of one run.
#[derive(Debug)]
pub struct Report {
    pub name: &'static str,
    pub pods: usize,
    pub quota_qps: u32,
    pub seconds: Vec<Second>,
    pub peak_qps: u32,
    /// Requests per second over the whole run.
    pub mean_qps: f64,
    pub requests: u64,
    pub throttled: u64,
    pub unavailable: u64,
    pub reads_ok: u64,
    pub reads_failed: u64,
    pub reads_not_ready: u64,
    pub revoked_recovered: u64,
    pub revoked_failed: u64,
    pub reads_waiting: u64,
    /// Seconds from the mark (rotation, outage end, cold start) until each pod had the target
    /// version; `None` for pods that never got it. Empty without a mark.
    pub reached: Vec<Option<f64>>,
    /// Pods that needed the target version (all, or for an outage the stale ones).
    pub needed: usize,
    /// Whether the scenario has a new key to roll out.
    pub has_mark: bool,
    /// The provider's own counters, summed over pods.
    pub fetches: u64,
    pub fetch_failures: u64,
    pub forced_refreshes: u64,
    pub rate_limited: u64,
    /// Largest live-heap growth while the pods ran, per pod (see [`run`]).
    pub heap_per_pod: f64,
    /// The seconds around the event (rotation, outage, cold start) the chart shows.
    pub focus: (usize, usize),
    /// The chart's time origin (second) and what happened then.
    pub origin: (usize, &'static str),
    /// File source: when the operator wrote each version into the directory (simulated
    /// seconds, version).
    pub file_writes: Vec<(f64, u32)>,
    /// File source: operator polls that failed (KMS error or write error).
    pub operator_failures: u64,
    /// File source: seconds from the operator's write of the target version until each pod
    /// served it (`None`: never). Empty for KMS scenarios.
    pub reached_after_write: Vec<Option<f64>>,
    /// File source: the most the paused clock moved while the operator waited for a blocking
    /// write (must be zero: tokio does not auto-advance while a blocking task runs).
    pub blocking_clock_advance: Duration,
}

impl Report {
    /// Seconds per CSV row and chart point: 1 s for runs up to 2 h, else 60 s.
    pub fn bucket_secs(&self) -> usize {
        if self.seconds.len() > 2 * 3600 + 1 {
            60
        } else {
            1
        }
    }

    /// p-th percentile (0..=100) of the pods' times to the target version (`None` pods count
    /// as infinite).
    pub fn reach_percentile(&self, p: f64) -> Option<f64> {
        let mut v: Vec<f64> = self
            .reached
            .iter()
            .map(|r| r.unwrap_or(f64::INFINITY))
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        Some(v[idx])
    }

    /// Pods that never got the target version.
    pub fn never_reached(&self) -> usize {
        self.reached.iter().filter(|r| r.is_none()).count()
    }
}

/// p50, p99 and max of per-pod times (`None` counts as infinite); `None` when empty.
pub fn percentiles(times: &[Option<f64>]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = times.iter().map(|r| r.unwrap_or(f64::INFINITY)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| v[((p / 100.0) * (v.len() - 1) as f64).round() as usize];
    Some((at(50.0), at(99.0), at(100.0)))
}

/// Runs one scenario on the current (paused-clock) runtime.
///
/// `heap` reads the process's live heap bytes (the example's counting allocator; the test
/// passes `|| 0`): read once the simulation is set up and then every simulated minute, so
/// [`Report::heap_per_pod`] is the largest growth over that baseline divided by the pods.
pub async fn run(scenario: &Scenario, heap: &dyn Fn() -> i64) -> Report {
    let start = tokio::time::Instant::now();
    let kms = Arc::new(SimKms::new(scenario, start));
    let clock = Arc::new(SimClock::new(start));
    let counters = Arc::new(AppCounters::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(scenario.seed);
    let n = scenario.pods;
    let period = scenario.read_period_secs.max(1);

    // Start times (whole ms) and read phases.
    let mut starts: Vec<(Duration, usize)> = (0..n)
        .map(|i| {
            let at = match scenario.start {
                Start::AllAtOnce => Duration::ZERO,
                Start::Spread { over } => {
                    Duration::from_millis(rng.random_range(0..over.as_millis().max(1) as u64))
                }
            };
            (at, i)
        })
        .collect();
    starts.sort();
    let mut by_phase: Vec<Vec<usize>> = vec![Vec::new(); period as usize];
    for i in 0..n {
        by_phase[rng.random_range(0..period) as usize].push(i);
    }
    let pods: Arc<Vec<Pod>> = Arc::new(
        (0..n)
            .map(|_| Pod {
                provider: OnceLock::new(),
                had_key: AtomicBool::new(false),
                busy: AtomicBool::new(false),
            })
            .collect(),
    );
    let files = match scenario.source {
        Source::Kms => None,
        Source::SyncedFiles {
            operator_poll,
            pod_poll,
        } => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let writer = KubeletAtomicWriter::new(dir.path()).expect("the volume directory");
            Some(FileSync {
                dir,
                writer,
                operator_poll,
                pod_poll,
                log: Arc::default(),
            })
        }
    };
    let mut config = ConfigBuilder::new()
        .with_secret_names([SECRET])
        .with_refresh(scenario.refresh.clone());
    if let Some(f) = &files {
        config = config.with_secret_files(f.dir.path(), f.pod_poll);
    }
    let config = config.build().expect("valid simulation config");
    // The operator writes the files before the first pod starts, then polls on its own.
    let operator = files.as_ref().map(|f| {
        let (kms, writer, log, poll) = (
            Arc::clone(&kms),
            f.writer.clone(),
            Arc::clone(&f.log),
            f.operator_poll,
        );
        tokio::spawn(async move {
            let mut next = tokio::time::Instant::now();
            loop {
                tokio::time::sleep_until(next).await;
                operator_poll(&kms, &writer, &log).await;
                next += poll;
            }
        })
    });
    if let Some(f) = &files {
        while f
            .log
            .lock()
            .map(|l| l.writes.is_empty() && l.failures == 0)
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut watchers = tokio::task::JoinSet::new();
    let retry = RetryConfig {
        max_attempts: scenario.http_attempts,
        ..RetryConfig::default()
    };

    let heap_baseline = heap();
    let mut heap_peak = 0i64;
    // The application: every second, each pod of that second's phase reads once.
    let mut next_start = 0;
    let mut events: Vec<Event> = scenario.events.clone();
    let mut outage_mark_done = false;
    let total = scenario.duration.as_secs();
    let mut builds = tokio::task::JoinSet::new();
    for tick in 0..=total {
        tokio::time::sleep_until(start + Duration::from_secs(tick)).await;
        let now = Duration::from_secs(tick);
        events.retain(|e| match *e {
            Event::Rotate { at, scheduled } if at <= now => {
                kms.rotate(scheduled);
                false
            }
            Event::Outage { from, until } if from <= now => {
                if until <= now {
                    kms.set_outage(false);
                    false
                } else {
                    kms.set_outage(true);
                    true
                }
            }
            _ => true,
        });
        if !outage_mark_done
            && scenario
                .events
                .iter()
                .any(|e| matches!(e, Event::Outage { until, .. } if *until <= now))
        {
            // Pods that are stale when KMS comes back are the ones that must catch up.
            outage_mark_done = true;
            let mut s = kms.state.lock().unwrap();
            let stale = s.pod_stale.clone();
            for (i, st) in stale.into_iter().enumerate() {
                if !st {
                    s.pod_reached[i] = Some(0.0);
                } else {
                    s.pod_reached[i] = None;
                }
            }
        }
        while next_start < starts.len() && starts[next_start].0 <= now {
            let i = starts[next_start].1;
            next_start += 1;
            let client = Arc::new(PodClient {
                kms: Arc::clone(&kms),
                pod: i,
                endpoint: Endpoint {
                    host: "kms.fleet.example".into(),
                    port: 443,
                },
                retry: retry.clone(),
            });
            let mut builder = ManagedCredentialsProvider::builder()
                .config(config.clone())
                .clock(Arc::clone(&clock) as Arc<dyn Clock>);
            if files.is_none() {
                builder = builder.client(client);
            }
            let pods = Arc::clone(&pods);
            let kms = Arc::clone(&kms);
            let file_source = files.is_some();
            builds.spawn(async move {
                let provider = builder.build().await.expect("provider builds");
                let handle = provider.access_key_provider(SECRET);
                // A file-source pod sends nothing to KMS: what it serves is seen through
                // `subscribe`, which is notified on every new key.
                let watcher = if file_source {
                    let mut keys = provider
                        .subscribe(SECRET)
                        .await
                        .expect("the operator wrote the files");
                    kms.pod_serves(i, key_version(keys.borrow_and_update().access_key_id()));
                    Some(async move {
                        while keys.changed().await.is_ok() {
                            let version = key_version(keys.borrow_and_update().access_key_id());
                            kms.pod_serves(i, version);
                        }
                    })
                } else {
                    None
                };
                let _ = pods[i].provider.set((provider, handle));
                watcher
            });
        }
        while let Some(built) = builds.try_join_next() {
            if let Some(watcher) = built.expect("pod task") {
                watchers.spawn(watcher);
            }
        }
        for &i in &by_phase[(tick % period) as usize] {
            read(&pods, i, &kms, &counters);
        }
        if tick % 60 == 0 || tick == total {
            heap_peak = heap_peak.max(heap() - heap_baseline);
        }
    }
    while let Some(built) = builds.join_next().await {
        if let Some(watcher) = built.expect("pod task") {
            watchers.spawn(watcher);
        }
    }
    if let Some(operator) = operator {
        operator.abort();
    }

    let (mut seconds, has_mark, pod_reached) = {
        let s = kms.state.lock().unwrap();
        let used = (total as usize + 1).min(s.seconds.len());
        (
            s.seconds[..used].to_vec(),
            s.mark.is_some(),
            s.pod_reached.clone(),
        )
    };
    // Carry the per-pod gauges through seconds without answers.
    for i in 1..seconds.len() {
        if !seconds[i].answered {
            seconds[i].on_current = seconds[i - 1].on_current;
            seconds[i].stale = seconds[i - 1].stale;
        }
    }
    let requests: u64 = seconds.iter().map(|s| s.requests as u64).sum();
    let (reached, needed) = if has_mark {
        let is_outage = scenario
            .events
            .iter()
            .any(|e| matches!(e, Event::Outage { .. }));
        if is_outage {
            // Only pods that were stale at recovery had to catch up.
            let v: Vec<Option<f64>> = pod_reached
                .iter()
                .filter(|r| *r != &Some(0.0))
                .cloned()
                .collect();
            let needed = v.len();
            (v, needed)
        } else {
            (pod_reached, n)
        }
    } else {
        (Vec::new(), 0)
    };
    let focus = {
        let len = seconds.len();
        let mark = scenario.mark().map(|m| m.as_secs() as usize);
        let outage = scenario.events.iter().find_map(|e| match e {
            Event::Outage { from, until } => {
                Some((from.as_secs() as usize, until.as_secs() as usize))
            }
            _ => None,
        });
        let last = reached
            .iter()
            .flatten()
            .fold(0.0f64, |a, b| a.max(*b))
            .ceil() as usize;
        match (outage, mark) {
            (Some((from, until)), _) => (from.saturating_sub(600), (until + last + 300).min(len)),
            (None, Some(mark)) => (mark.saturating_sub(60), (mark + last + 120).min(len)),
            (None, None) => (0, len),
        }
    };
    let mut fetches = 0;
    let mut fetch_failures = 0;
    let mut forced = 0;
    let mut rate_limited = 0;
    for pod in pods.iter() {
        if let Some((provider, _)) = pod.provider.get() {
            let st = provider.stats();
            fetches += st.fetches;
            fetch_failures += st.fetch_failures;
            forced += st.forced_refreshes;
            rate_limited += st.rate_limited;
        }
    }
    for pod in pods.iter() {
        if let Some((provider, _)) = pod.provider.get() {
            provider.close().await;
        }
    }
    // Closing the providers ends their receivers' loops.
    while watchers.join_next().await.is_some() {}
    let operator_log = files
        .as_ref()
        .map(|f| std::mem::take(&mut *f.log.lock().unwrap()))
        .unwrap_or_default();
    // From the operator's write of the target version (the first write after the mark).
    let reached_after_write = match (scenario.mark(), files.is_some()) {
        (Some(mark), true) => {
            let mark = mark.as_secs_f64();
            match operator_log.writes.iter().find(|(at, _)| *at >= mark) {
                Some((written, _)) => reached
                    .iter()
                    .map(|r| r.map(|r| r + mark - written))
                    .collect(),
                None => vec![None; reached.len()],
            }
        }
        _ => Vec::new(),
    };
    let c = &counters;
    Report {
        name: scenario.name,
        pods: n,
        quota_qps: scenario.quota_qps,
        peak_qps: seconds.iter().map(|s| s.requests).max().unwrap_or(0),
        mean_qps: requests as f64 / seconds.len().max(1) as f64,
        requests,
        throttled: seconds.iter().map(|s| s.throttled as u64).sum(),
        unavailable: seconds.iter().map(|s| s.unavailable as u64).sum(),
        seconds,
        reads_ok: c.ok.load(Ordering::Relaxed),
        reads_failed: c.failed.load(Ordering::Relaxed),
        reads_not_ready: c.not_ready.load(Ordering::Relaxed),
        revoked_recovered: c.revoked_recovered.load(Ordering::Relaxed),
        revoked_failed: c.revoked_failed.load(Ordering::Relaxed),
        reads_waiting: c.waiting.load(Ordering::Relaxed),
        reached,
        needed,
        has_mark,
        fetches,
        fetch_failures,
        forced_refreshes: forced,
        rate_limited,
        heap_per_pod: heap_peak.max(0) as f64 / n.max(1) as f64,
        focus,
        origin: match (scenario.start, scenario.events.first()) {
            (Start::AllAtOnce, _) => (0, "the start of every pod"),
            (
                _,
                Some(Event::Rotate {
                    at,
                    scheduled: true,
                }),
            ) => (at.as_secs() as usize, "the rotation"),
            (_, Some(Event::Rotate { at, .. })) => (
                at.as_secs() as usize,
                "the rotation and deletion of the old key",
            ),
            (_, Some(Event::Outage { from, .. })) => {
                (from.as_secs() as usize, "the start of the outage")
            }
            (_, None) => (0, "the start"),
        },
        file_writes: operator_log.writes,
        operator_failures: operator_log.failures,
        reached_after_write,
        blocking_clock_advance: operator_log.clock_advance,
    }
}

/// One application read of pod `i`: a cache hit is answered here; a miss, or a key that an
/// API would reject, continues in a task (the pod waits; its next reads are skipped meanwhile).
fn read(pods: &Arc<Vec<Pod>>, i: usize, kms: &Arc<SimKms>, counters: &Arc<AppCounters>) {
    let pod = &pods[i];
    let Some((_, handle)) = pod.provider.get() else {
        return; // not started yet
    };
    if pod.busy.load(Ordering::Relaxed) {
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        return;
    }
    match handle.cached() {
        Some(Ok(key)) if !kms.is_revoked(key.access_key_id()) => {
            pod.had_key.store(true, Ordering::Relaxed);
            counters.ok.fetch_add(1, Ordering::Relaxed);
        }
        Some(Err(_)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        cached => {
            pod.busy.store(true, Ordering::Relaxed);
            let pods = Arc::clone(pods);
            let kms = Arc::clone(kms);
            let counters = Arc::clone(counters);
            tokio::spawn(async move {
                let pod = &pods[i];
                let handle = &pod.provider.get().unwrap().1;
                match cached {
                    Some(Ok(revoked)) => {
                        // The API call failed with the deleted key: report it, retry once.
                        let outcome =
                            ProvideAccessKey::report_rejected(handle, &revoked, REVOKED_CODE).await;
                        match outcome {
                            RefreshOutcome::NewKey(key) if !kms.is_revoked(key.access_key_id()) => {
                                counters.revoked_recovered.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => counters.revoked_failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    _ => match ProvideAccessKey::access_key(handle).await {
                        Ok(_) => {
                            pod.had_key.store(true, Ordering::Relaxed);
                            counters.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) if pod.had_key.load(Ordering::Relaxed) => {
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            counters.not_ready.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                }
                pod.busy.store(false, Ordering::Relaxed);
            });
        }
    }
}
