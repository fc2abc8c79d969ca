//! The provider end to end against LocalKms (real TLS, real ClientKey signatures on 127.0.0.1).
//!
//! Real sockets and a real signature clock (LocalKms rejects requests dated more than 15 min
//! off), so these tests use real time with short intervals; the timing-heavy cache logic is
//! covered under paused time in `src/cache/tests.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::config::Config;
use aliyun_managed_credentials::testing::{AccessPoint, Fault, LocalKms, RamCredentialOptions};
use aliyun_managed_credentials::RefreshOutcome;
use aliyun_managed_credentials::{Error, ManagedCredentialsProvider};

const NAME: &str = "acs/ram/user/app";

async fn setup() -> (LocalKms, AccessPoint, Config) {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    let mut config = Config::from_properties_file(&ap.properties_file).unwrap();
    // One attempt per endpoint so fault scripts map 1:1 to requests.
    config.http.retry.max_attempts = 1;
    config.refresh.jitter = Duration::ZERO;
    (kms, ap, config)
}

async fn build(config: Config) -> ManagedCredentialsProvider {
    ManagedCredentialsProvider::builder()
        .config(config)
        .build()
        .await
        .unwrap()
}

fn unavailable() -> Fault {
    Fault::Error {
        http_status: 503,
        code: "ServiceUnavailableTemporary".into(),
        message: "Service Unavailable Temporary.".into(),
    }
}

#[tokio::test]
async fn from_properties_file_fetches_ram_generic_and_binary_secrets() {
    let (kms, ap, _) = setup().await;
    let pair = kms.put_ram_credential(NAME);
    kms.put_generic_secret("db/password", "hunter2");
    kms.put_binary_secret("blob", &[0, 159, 146, 150]);
    let p = ManagedCredentialsProvider::from_properties_file(&ap.properties_file)
        .await
        .unwrap();
    let ak = p.get_access_key(NAME).await.unwrap();
    assert_eq!(ak.access_key_id(), pair.access_key_id);
    assert_eq!(ak.access_key_secret(), pair.access_key_secret);
    assert!(ak.next_rotation().unwrap() > SystemTime::now() + Duration::from_secs(6 * 86400));
    assert_eq!(
        p.get_secret("db/password").await.unwrap().text(),
        Some("hunter2")
    );
    assert_eq!(
        p.get_secret("blob").await.unwrap().bytes(),
        &[0, 159, 146, 150]
    );
    let health = p.health();
    assert!(health.is_healthy(), "{health:?}");
    assert!(
        health
            .certificates
            .iter()
            .any(|c| c.label.starts_with("ClientKey")),
        "{health:?}"
    );
    let err = p.get_access_key("missing").await.unwrap_err();
    assert!(matches!(err, Error::Kms(_)), "{err}");
    assert_eq!(err.code(), Some("Forbidden.ResourceNotFound"));
    assert!(err.is_secret_not_found(), "{err}");
    assert!(!err.is_retryable(), "{err}");
    p.close().await;
}

#[tokio::test]
async fn rotation_is_picked_up_after_next_rotation_date() {
    let (kms, _ap, mut config) = setup().await;
    // KMS dates have whole seconds: a rotation 2 s ahead.
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rotation = SystemTime::UNIX_EPOCH + Duration::from_secs(secs + 2);
    let first = kms.put_ram_credential_with(
        NAME,
        RamCredentialOptions {
            rotation_interval: Duration::from_secs(2),
            next_rotation: Some(rotation),
            expire: None,
        },
    );
    config.refresh.rotation_delay = Duration::from_millis(300);
    let p = build(config).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        first.access_key_id
    );
    let wait = rotation
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let second = kms.rotate(NAME);
    // Before NextRotationDate + rotation_delay: still the old key, no extra request.
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        first.access_key_id
    );
    assert_eq!(kms.request_count(NAME), 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        second.access_key_id
    );
    assert_eq!(kms.request_count(NAME), 2, "exactly one scheduled refresh");
    p.close().await;
}

#[tokio::test]
async fn forced_refresh_on_each_rejection_code_then_rate_limited() {
    let (kms, _ap, config) = setup().await;
    kms.put_ram_credential(NAME);
    let p = build(config).await;
    let mut key = p.get_access_key(NAME).await.unwrap();
    for code in [
        "InvalidAccessKeyId",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "Unauthorized",
    ] {
        let rotated = kms.rotate(NAME);
        kms.revoke_previous(NAME);
        assert!(!kms.is_access_key_valid(key.access_key_id()));
        let outcome = p.report_rejected(NAME, &key, code).await;
        let new = outcome
            .new_key()
            .unwrap_or_else(|| panic!("{code}: {outcome:?}"));
        assert_eq!(new.access_key_id(), rotated.access_key_id, "{code}");
        key = new.clone();
    }
    assert_eq!(kms.request_count(NAME), 5);
    assert!(matches!(
        p.report_rejected(NAME, &key, "SignatureDoesNotMatch").await,
        RefreshOutcome::NotRejection
    ));
    // Fifth token: KMS has not rotated, so the key is unchanged; then the bucket is empty.
    assert!(matches!(
        p.report_rejected(NAME, &key, "InvalidAccessKeyId").await,
        RefreshOutcome::Unchanged(_)
    ));
    assert!(matches!(
        p.report_rejected(NAME, &key, "InvalidAccessKeyId").await,
        RefreshOutcome::RateLimited
    ));
    assert_eq!(kms.request_count(NAME), 6);
    let stats = p.stats();
    assert_eq!((stats.forced_refreshes, stats.rate_limited), (5, 1));
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_of_one_dead_key_cost_one_token_and_one_request() {
    let (kms, _ap, config) = setup().await;
    kms.put_ram_credential(NAME);
    let p = build(config).await;
    let old = p.get_access_key(NAME).await.unwrap();
    let rotated = kms.rotate(NAME);
    kms.revoke_previous(NAME);
    // Slow the one refresh down so every report arrives while it is in flight.
    kms.push_fault(Fault::Delay(Duration::from_millis(300)));
    let reports = (0..32).map(|_| {
        let p = p.clone();
        let old = Arc::clone(&old);
        tokio::spawn(async move {
            p.report_rejected(NAME, &old, "InvalidAccessKeyId.NotFound")
                .await
        })
    });
    for report in reports.collect::<Vec<_>>() {
        let outcome = report.await.unwrap();
        let new = outcome.new_key().unwrap_or_else(|| panic!("{outcome:?}"));
        assert_eq!(new.access_key_id(), rotated.access_key_id);
    }
    assert_eq!(
        kms.request_count(NAME),
        2,
        "one initial fetch + one forced refresh"
    );
    let stats = p.stats();
    assert_eq!((stats.forced_refreshes, stats.rate_limited), (1, 0));
    p.close().await;
}

#[tokio::test]
async fn stale_if_error_through_an_outage_then_recovery() {
    let (kms, _ap, mut config) = setup().await;
    let first = kms.put_ram_credential(NAME);
    config.refresh.max_interval = Duration::from_millis(200);
    config.refresh.retry_base = Duration::from_millis(50);
    config.refresh.retry_max = Duration::from_millis(100);
    config.refresh.max_staleness = Some(Duration::from_millis(1500));
    let p = build(config).await;
    p.get_access_key(NAME).await.unwrap();
    kms.set_fault_always(Some(unavailable()));
    // Refreshes fail in the background; readers keep the last good key without waiting.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = tokio::time::Instant::now();
        let ak = p.get_access_key(NAME).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_eq!(ak.access_key_id(), first.access_key_id);
    }
    let failures = p
        .stats()
        .failures_by_code
        .get("ServiceUnavailableTemporary")
        .copied();
    assert!(failures.unwrap_or(0) >= 3, "{:?}", p.stats());
    assert!(p.health().secrets[0].stale);
    // Past max_staleness the key is not served any more: the KMS error is.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(matches!(err, Error::Kms(_)), "{err}");
    assert_eq!(err.code(), Some("ServiceUnavailableTemporary"));
    assert!(err.is_retryable(), "{err}");
    // Recovery, at the latest when the shared backoff (refresh_retry_max_ms, 100 ms here) is
    // over: until then readers get the last error without a new KMS request each.
    kms.clear_faults();
    let second = kms.rotate(NAME);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        second.access_key_id
    );
    let h = &p.health().secrets[0];
    assert!(!h.stale && !h.expired, "{h:?}");
    p.close().await;
}

#[tokio::test]
async fn fails_over_and_hedges_between_two_instances() {
    let (kms_a, ap_a, mut config) = setup().await;
    let kms_b = LocalKms::start().await.unwrap();
    let ap_b = kms_b.issue_access_point(&["*"]);
    config.instances.push(kms_b.instance_config(&ap_b));
    config.refresh.hedge_delay = Duration::from_millis(200);
    kms_a.put_ram_credential(NAME);
    let pair_b = kms_b.put_ram_credential(NAME);
    let _ = ap_a;

    // Failover: A drops the connection, B answers; B becomes the preferred endpoint.
    kms_a.push_fault(Fault::DropConnection);
    let p = build(config.clone()).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair_b.access_key_id
    );
    assert_eq!(
        (kms_a.request_count(NAME), kms_b.request_count(NAME)),
        (1, 1)
    );
    assert_eq!(p.health().preferred_endpoint, kms_b.endpoint().to_string());
    p.refresh_now(NAME).await.unwrap();
    assert_eq!(
        kms_a.request_count(NAME),
        1,
        "starts with the last good endpoint"
    );
    assert_eq!(p.stats().failovers, 1);
    p.close().await;

    // Hedging: A is slow, B is asked after hedge_delay and wins.
    kms_a.push_fault(Fault::Delay(Duration::from_secs(3)));
    let p = build(config).await;
    let start = tokio::time::Instant::now();
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair_b.access_key_id
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(p.stats().hedged_requests, 1);
    p.close().await;
}

#[tokio::test]
async fn one_request_for_a_thousand_concurrent_callers_cold_and_expiring() {
    let (kms, _ap, mut config) = setup().await;
    kms.put_ram_credential(NAME);
    config.refresh.max_staleness = Some(Duration::from_millis(300));
    let p = build(config).await;
    let stampede = |p: ManagedCredentialsProvider| async move {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let p = p.clone();
            set.spawn(async move { p.get_access_key(NAME).await.unwrap() });
        }
        let mut ids = std::collections::HashSet::new();
        while let Some(ak) = set.join_next().await {
            ids.insert(ak.unwrap().access_key_id().to_owned());
        }
        ids.len()
    };
    kms.push_fault(Fault::Delay(Duration::from_millis(200)));
    assert_eq!(stampede(p.clone()).await, 1);
    assert_eq!(kms.request_count(NAME), 1, "cold");
    // Let the cached value reach its hard expiry (no refresh is due before it).
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(p.health().secrets[0].expired);
    kms.push_fault(Fault::Delay(Duration::from_millis(200)));
    assert_eq!(stampede(p.clone()).await, 1);
    assert_eq!(kms.request_count(NAME), 2, "expired");
    p.close().await;
}

#[tokio::test]
async fn jitter_spreads_refresh_times_of_many_providers() {
    let (kms, _ap, mut config) = setup().await;
    kms.put_ram_credential(NAME);
    config.refresh.jitter = Duration::from_secs(60);
    let mut offsets = Vec::new();
    for _ in 0..8 {
        let p = build(config.clone()).await;
        p.get_access_key(NAME).await.unwrap();
        let h = &p.health().secrets[0];
        let fetched = SystemTime::now() - h.age.unwrap();
        let offset = h.next_refresh.unwrap().duration_since(fetched).unwrap();
        offset
            .checked_sub(config.refresh.max_interval)
            .expect("never before max_interval");
        offsets.push(offset.as_millis() / 100);
        p.close().await;
    }
    offsets.sort();
    offsets.dedup();
    assert!(
        offsets.len() >= 6,
        "refresh offsets not spread: {offsets:?}"
    );
}

#[tokio::test]
async fn close_stops_background_work() {
    let (kms, _ap, mut config) = setup().await;
    kms.put_ram_credential(NAME);
    config.refresh.max_interval = Duration::from_millis(100);
    let p = build(config).await;
    p.get_access_key(NAME).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let before = kms.request_count(NAME);
    assert!(before >= 3, "refreshes ran: {before}");
    p.close().await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(kms.request_count(NAME) <= before + 1);
    let after = kms.request_count(NAME);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kms.request_count(NAME), after);
    assert!(matches!(
        p.get_access_key(NAME).await,
        Err(e) if e.is_closed()
    ));
}

#[test]
fn blocking_provider_from_properties_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (kms, ap, _) = rt.block_on(setup());
    let pair = kms.put_ram_credential(NAME);
    let p = aliyun_managed_credentials::blocking::ManagedCredentialsProvider::from_properties_file(
        &ap.properties_file,
    )
    .unwrap();
    let ak = p.get_access_key(NAME).unwrap();
    assert_eq!(ak.access_key_id(), pair.access_key_id);
    let rotated = kms.rotate(NAME);
    let outcome = p.report_rejected(NAME, &ak, "InvalidAccessKeyId.NotFound");
    assert_eq!(
        outcome.new_key().unwrap().access_key_id(),
        rotated.access_key_id
    );
    assert_eq!(p.stats().forced_refreshes, 1);
    p.close();
    drop(kms);
}

mod torn {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]
        /// Concurrent readers never see an id with another version's secret while the key is
        /// rotated and refreshed under them.
        #[test]
        fn no_torn_id_secret_under_concurrent_rotation(rotations in 3usize..10, readers in 2usize..6) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let (kms, _ap, config) = setup().await;
                let pairs = Arc::new(Mutex::new(HashMap::new()));
                let first = kms.put_ram_credential(NAME);
                pairs.lock().unwrap().insert(first.access_key_id.clone(), first.access_key_secret.clone());
                let p = build(config).await;
                p.get_access_key(NAME).await.unwrap();
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let tasks: Vec<_> = (0..readers).map(|_| {
                    let (p, pairs, stop) = (p.clone(), pairs.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut reads = 0u32;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let ak = p.get_access_key(NAME).await.unwrap();
                            let expected = pairs.lock().unwrap().get(ak.access_key_id()).cloned();
                            assert_eq!(expected.as_deref(), Some(ak.access_key_secret()));
                            reads += 1;
                            tokio::task::yield_now().await;
                        }
                        reads
                    })
                }).collect();
                for _ in 0..rotations {
                    let pair = kms.rotate(NAME);
                    pairs.lock().unwrap().insert(pair.access_key_id.clone(), pair.access_key_secret.clone());
                    p.refresh_now(NAME).await.unwrap();
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                for t in tasks {
                    assert!(t.await.unwrap() > 0);
                }
                let current = kms.current_access_key(NAME);
                assert_eq!(p.get_access_key(NAME).await.unwrap().access_key_id(), current.access_key_id);
                p.close().await;
            });
        }
    }
}

#[tokio::test]
async fn shared_gateway_endpoint_and_failover_from_instance_to_gateway() {
    use aliyun_managed_credentials::config::KmsIdentity;

    let (kms, _ap, mut config) = setup().await;
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["*"]);
    config.identity = Some(KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
    });
    config.gateways.push(kms.gateway_config());

    // Gateway only.
    let mut gateway_only = config.clone();
    gateway_only.instances.clear();
    let p = build(gateway_only).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair.access_key_id
    );
    p.close().await;
    assert!(kms.requests().iter().any(|r| r.protocol == "gateway"));

    // Instance first; when it is unavailable the gateway answers.
    kms.push_fault(unavailable());
    let p = build(config).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair.access_key_id
    );
    assert_eq!(p.stats().failovers, 1);
    p.close().await;
}

/// tokio allows blocking on a `spawn_blocking` thread and under an `enter()` guard, and so does
/// the blocking provider (it used to answer "called inside an async runtime" in both).
#[test]
fn blocking_provider_works_on_spawn_blocking_threads_and_under_enter_guards() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (kms, ap, _) = rt.block_on(setup());
    let pair = kms.put_ram_credential(NAME);
    kms.put_ram_credential("acs/ram/user/other");
    let path = ap.properties_file.clone();
    let (other, id) = rt
        .block_on(async move {
            tokio::task::spawn_blocking(move || {
                let p = aliyun_managed_credentials::blocking::ManagedCredentialsProvider::from_properties_file(&path)
                    .unwrap();
                let id = p.get_access_key(NAME).unwrap().access_key_id().to_owned();
                (p, id)
            })
            .await
        })
        .unwrap();
    assert_eq!(id, pair.access_key_id);
    {
        let _guard = rt.enter();
        // A cold read (a KMS request) and a build, both under the guard.
        other.get_access_key("acs/ram/user/other").unwrap();
        let again =
            aliyun_managed_credentials::blocking::ManagedCredentialsProvider::from_properties_file(
                &ap.properties_file,
            )
            .unwrap();
        assert_eq!(
            again.get_access_key(NAME).unwrap().access_key_id(),
            pair.access_key_id
        );
    }
    drop(other);
    drop(kms);
}

/// When the runtime that built the provider shuts down, nothing refreshes any more: the provider
/// reports itself closed, serves cached keys only until they really expire, and misses fail as
/// "closed" at once.
#[test]
fn provider_whose_runtime_is_gone_serves_until_expiry_and_reports_closed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (kms, _ap, config) = rt.block_on(setup());
    let whole_second = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expire = SystemTime::UNIX_EPOCH + Duration::from_secs(whole_second + 3);
    kms.put_ram_credential_with(
        NAME,
        RamCredentialOptions {
            expire: Some(expire),
            ..RamCredentialOptions::default()
        },
    );
    let p = rt.block_on(build(config));
    let key = rt.block_on(p.get_access_key(NAME)).unwrap();
    assert!(!p.health().closed);
    drop(kms);
    drop(rt);

    assert!(
        p.health().closed,
        "the provider must say its runtime is gone"
    );
    let cached = p.cached_access_key(NAME).expect("still valid").unwrap();
    assert_eq!(cached.access_key_id(), key.access_key_id());
    let other = tokio::runtime::Runtime::new().unwrap();
    let miss = other.block_on(p.get_access_key("acs/ram/user/never-fetched"));
    assert!(miss.unwrap_err().is_closed());

    std::thread::sleep(
        expire.duration_since(SystemTime::now()).unwrap_or_default() + Duration::from_millis(200),
    );
    assert!(
        p.cached_access_key(NAME).is_none(),
        "served past its ExpireTimestamp"
    );
    let err = other.block_on(p.get_access_key(NAME)).unwrap_err();
    assert!(err.is_closed(), "{err}");
}
