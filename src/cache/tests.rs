//! Cache logic under paused tokio time, against a scripted in-memory `KmsClient`.
//! (Protocol-level behaviour is tested against LocalKms in `tests/provider.rs`.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::TokioClock;
use crate::config::{Endpoint, RefreshConfig, SecretString};
use crate::kms::{
    BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue, TransportErrorKind,
};
use crate::provider::{ManagedCredentialsProvider, RefreshOutcome};
use crate::secret::{format_date, parse_date};

const NAME: &str = "acs/ram/user/app";

fn t0() -> SystemTime {
    parse_date("t", "t", "2024-02-01T08:00:00Z")
        .unwrap()
        .unwrap()
}

#[derive(Debug, Clone)]
struct Version {
    n: u32,
    next_rotation: Option<SystemTime>,
    expire: Option<SystemTime>,
}

#[derive(Debug)]
enum Step {
    Fail(&'static str),
    Drop,
    Panic,
}

#[derive(Debug)]
struct ScriptedKms {
    endpoint: Endpoint,
    version: Mutex<Version>,
    script: Mutex<VecDeque<Step>>,
    fail_always: Mutex<Option<Step>>,
    delay: Mutex<Duration>,
    requests: AtomicUsize,
}

impl ScriptedKms {
    fn new(host: &str) -> Arc<Self> {
        Arc::new(Self {
            endpoint: Endpoint {
                host: host.into(),
                port: 443,
            },
            version: Mutex::new(Version {
                n: 1,
                next_rotation: None,
                expire: None,
            }),
            script: Mutex::new(VecDeque::new()),
            fail_always: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            requests: AtomicUsize::new(0),
        })
    }
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    fn rotate(&self, next_rotation: Option<SystemTime>) {
        let mut v = self.version.lock().unwrap();
        v.n += 1;
        v.next_rotation = next_rotation;
    }
    fn set(&self, next_rotation: Option<SystemTime>, expire: Option<SystemTime>) {
        let mut v = self.version.lock().unwrap();
        v.next_rotation = next_rotation;
        v.expire = expire;
    }
    fn push(&self, step: Step) {
        self.script.lock().unwrap().push_back(step);
    }
    fn fail_always(&self, step: Option<Step>) {
        *self.fail_always.lock().unwrap() = step;
    }
    fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
    fn error(&self, step: &Step, name: &str) -> KmsError {
        match step {
            Step::Fail(code) => KmsError::Service {
                endpoint: self.endpoint.to_string(),
                secret_name: name.into(),
                http_status: 503,
                code: (*code).into(),
                message: "scripted".into(),
                request_id: "req-err".into(),
                details: None,
            },
            Step::Drop => KmsError::Transport {
                endpoint: self.endpoint.to_string(),
                kind: TransportErrorKind::Connect,
                detail: "scripted drop".into(),
            },
            Step::Panic => panic!("scripted panic in the KMS client"),
        }
    }
}

pub(crate) fn ak_id(n: u32) -> String {
    format!("LTAI{n:04}")
}

fn ak_secret(n: u32) -> String {
    format!("secret-of-{n:04}")
}

impl KmsClient for ScriptedKms {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move {
            self.requests.fetch_add(1, Ordering::SeqCst);
            let delay = *self.delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let step = self.script.lock().unwrap().pop_front();
            if let Some(step) = step {
                return Err(self.error(&step, &request.secret_name));
            }
            if let Some(step) = self.fail_always.lock().unwrap().as_ref() {
                return Err(self.error(step, &request.secret_name));
            }
            let v = self.version.lock().unwrap().clone();
            let mut data = format!(
                r#"{{"AccessKeyId":"{}","AccessKeySecret":"{}","GenerateTimestamp":"2024-02-01T08:00:00Z""#,
                ak_id(v.n),
                ak_secret(v.n)
            );
            if let Some(e) = v.expire {
                data.push_str(&format!(r#","ExpireTimestamp":"{}""#, format_date(e)));
            }
            data.push('}');
            Ok(SecretValue {
                secret_name: request.secret_name.clone(),
                secret_type: "RAMCredentials".into(),
                secret_data: SecretString::new(data),
                secret_data_type: "text".into(),
                version_stages: vec!["ACSCurrent".into()],
                version_id: format!("v{}", v.n),
                create_time: String::new(),
                request_id: format!("req-{}", self.requests()),
                last_rotation_date: String::new(),
                next_rotation_date: v.next_rotation.map(format_date).unwrap_or_default(),
                extended_config: r#"{"SecretSubType":"RamUserAccessKey"}"#.into(),
                automatic_rotation: "Enabled".into(),
                rotation_interval: "604800s".into(),
            })
        })
    }
}

fn refresh() -> RefreshConfig {
    RefreshConfig {
        jitter: Duration::ZERO,
        hedge_delay: Duration::from_secs(2),
        ..RefreshConfig::default()
    }
}

async fn provider_with(
    clients: Vec<Arc<ScriptedKms>>,
    refresh: RefreshConfig,
) -> ManagedCredentialsProvider {
    let mut builder = ManagedCredentialsProvider::builder().config(config_with(refresh, &[]));
    for client in clients {
        builder = builder.client(client as Arc<dyn KmsClient>);
    }
    builder
        .clock(Arc::new(TokioClock::starting_at(t0())))
        .build()
        .await
        .unwrap()
}

/// A configuration without endpoints (the test's scripted clients are added to the builder).
fn config_with(refresh: RefreshConfig, secret_names: &[&str]) -> crate::Config {
    crate::ConfigBuilder::new()
        .with_refresh(refresh)
        .with_secret_names(secret_names.iter().copied())
        .build()
        .unwrap()
}

async fn sleep(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn one_fetch_for_a_thousand_cold_callers_then_pure_hits() {
    let kms = ScriptedKms::new("a");
    kms.set_delay(Duration::from_millis(100));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let p = p.clone();
        tasks.spawn(async move { p.get_access_key(NAME).await.unwrap() });
    }
    while let Some(ak) = tasks.join_next().await {
        assert_eq!(ak.unwrap().access_key_id(), ak_id(1));
    }
    assert_eq!(kms.requests(), 1);
    for _ in 0..100 {
        p.get_access_key(NAME).await.unwrap();
    }
    assert_eq!(kms.requests(), 1);
    let stats = p.stats();
    assert_eq!(stats.fetches, 1);
    // The 100 later reads were hits: no further miss (a miss is counted before it waits).
    assert!(stats.misses <= 1000, "{stats:?}");
    let misses = stats.misses;
    for _ in 0..100 {
        p.get_access_key(NAME).await.unwrap();
    }
    assert_eq!(p.stats().misses, misses, "hits are not misses");
}

#[tokio::test(start_paused = true)]
async fn picks_up_rotation_after_next_rotation_date_plus_delay() {
    let kms = ScriptedKms::new("a");
    let rotation = t0() + Duration::from_secs(3600);
    kms.set(Some(rotation), None);
    let p = provider_with(vec![kms.clone()], refresh()).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    let health = p.health();
    assert_eq!(
        health.secrets[0].next_refresh,
        Some(rotation + Duration::from_secs(300))
    );
    sleep(3600).await;
    kms.rotate(Some(rotation + Duration::from_secs(7 * 86400)));
    sleep(299).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    assert_eq!(kms.requests(), 1);
    sleep(2).await;
    let ak = p.get_access_key(NAME).await.unwrap();
    assert_eq!(ak.access_key_id(), ak_id(2));
    assert_eq!(ak.access_key_secret(), ak_secret(2));
    assert_eq!(kms.requests(), 2);
    // Next rotation is a week away: the 6 h ceiling applies.
    let next = p.health().secrets[0].next_refresh.unwrap();
    assert_eq!(
        next.duration_since(t0()).unwrap().as_secs(),
        3600 + 300 + 6 * 3600
    );
}

#[tokio::test(start_paused = true)]
async fn refreshes_at_most_every_max_interval_and_before_expiry() {
    let kms = ScriptedKms::new("a");
    kms.set(None, Some(t0() + Duration::from_secs(24 * 3600 + 1800)));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    sleep(6 * 3600 + 1).await;
    assert_eq!(kms.requests(), 2);
    sleep(3 * 6 * 3600).await;
    // 6 h, 12 h, 18 h, then 24 h + 30 min - 10 min buffer = 24h20m, not 24 h... 24 h comes first.
    assert_eq!(kms.requests(), 5);
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_with_backoff_until_hard_expiry_then_recovery() {
    let kms = ScriptedKms::new("a");
    let expire = t0() + Duration::from_secs(8 * 3600);
    kms.set(None, Some(expire));
    let config = RefreshConfig {
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(300),
        ..refresh()
    };
    let p = provider_with(vec![kms.clone()], config).await;
    p.get_access_key(NAME).await.unwrap();
    kms.fail_always(Some(Step::Fail("ServiceUnavailableTemporary")));
    // First refresh at 6 h fails; readers keep getting the cached key, without waiting.
    sleep(6 * 3600 + 1).await;
    let before = kms.requests();
    // The scheduled refresh, plus maybe a few quick retries (full jitter: [0, 1 s], [0, 2 s]...).
    assert!(before >= 2, "{before}");
    for _ in 0..10 {
        assert_eq!(
            p.get_access_key(NAME).await.unwrap().access_key_id(),
            ak_id(1)
        );
    }
    assert_eq!(kms.requests(), before, "readers never wait on a refresh");
    let h = &p.health().secrets[0];
    assert!(
        h.stale && !h.expired && h.consecutive_failures >= 1,
        "{h:?}"
    );
    assert!(h
        .last_error
        .as_deref()
        .unwrap()
        .contains("ServiceUnavailableTemporary"));
    // Retries are spaced by capped exponential backoff: far fewer than one per second, far
    // more than one per full interval.
    sleep(3600).await;
    let retries = kms.requests() - before;
    // Ceilings 1, 2, 4 ... 256 s then 300 s: at least ~20 waits fit in an hour, ~31 on average.
    assert!((10..=60).contains(&retries), "retries in 1 h: {retries}");
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    // Past ExpireTimestamp the key is no longer served.
    sleep(3600).await;
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(
        err.to_string().contains("ServiceUnavailableTemporary"),
        "{err}"
    );
    assert!(p.health().secrets[0].expired);
    assert_eq!(
        p.stats()
            .failures_by_code
            .get("ServiceUnavailableTemporary")
            .copied(),
        Some(p.stats().fetch_failures)
    );
    // Recovery: the next background retry brings a fresh key.
    kms.set(None, Some(t0() + Duration::from_secs(48 * 3600)));
    kms.fail_always(None);
    sleep(301).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    let h = &p.health().secrets[0];
    assert!(!h.stale && !h.expired, "{h:?}");
}

#[tokio::test(start_paused = true)]
async fn cold_fetch_error_is_returned_with_its_code() {
    let kms = ScriptedKms::new("a");
    kms.push(Step::Fail("Forbidden.ResourceNotFound"));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let err = p.get_access_key(NAME).await.unwrap_err();
    match err {
        crate::Error::Kms(e) => assert_eq!(e.code(), Some("Forbidden.ResourceNotFound")),
        other => panic!("{other}"),
    }
    // Not cached, and readers share the backoff: an immediate second read gets the same error
    // without a second KMS request.
    let again = p.get_access_key(NAME).await.unwrap_err();
    assert_eq!(again.code(), Some("Forbidden.ResourceNotFound"));
    assert_eq!(kms.requests(), 1);
    // Once the retry is due (first backoff ceiling: refresh_retry_base_ms, 1 s), the next call
    // fetches again and succeeds.
    sleep(2).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    assert_eq!(kms.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_overdue_account_is_reported_distinctly_and_backs_off_for_long() {
    let kms = ScriptedKms::new("a");
    let expire = t0() + Duration::from_secs(8 * 3600);
    kms.set(None, Some(expire));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    kms.fail_always(Some(Step::Fail("Forbidden.InDebt")));
    // The scheduled refresh at 6 h fails; the cached key is still served.
    sleep(6 * 3600 + 1).await;
    let first = kms.requests();
    assert_eq!(first, 2, "one request, no quick retries");
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    // Each retry waits the longest backoff (refresh_retry_max_ms, 5 min), from the first
    // failure on: in one hour, 12 requests at most (a transient error makes ~30).
    sleep(3600).await;
    let in_an_hour = kms.requests() - first;
    assert!((11..=12).contains(&in_an_hour), "{in_an_hour} requests");
    // Past expiry the caller gets an error that says what it is.
    sleep(3600).await;
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(err.is_account_in_debt(), "{err}");
    assert!(!err.is_retryable() && !err.is_configuration());
    kms.fail_always(Some(Step::Fail("Forbidden.InDebtOverdue")));
    p.refresh_now(NAME).await.unwrap_err();
    assert!(p
        .get_access_key(NAME)
        .await
        .unwrap_err()
        .is_account_in_debt());
    // Other refusals are not mistaken for it.
    kms.fail_always(Some(Step::Fail("Forbidden.NoPermission")));
    let other = p.refresh_now(NAME).await.unwrap_err();
    assert!(!other.is_account_in_debt(), "{other}");
}

#[tokio::test(start_paused = true)]
async fn readers_share_the_backoff_instead_of_storming_kms() {
    let kms = ScriptedKms::new("a");
    kms.fail_always(Some(Step::Fail("Forbidden.NoPermission")));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    for _ in 0..1000 {
        let err = p.get_access_key(NAME).await.unwrap_err();
        assert_eq!(err.code(), Some("Forbidden.NoPermission"));
    }
    assert_eq!(kms.requests(), 1, "one failure, then the shared backoff");
    // The backoff grows with each failure but never past refresh_retry_max_ms (5 min): over
    // ten minutes of constant reads, KMS sees a handful of requests, not one per read.
    for _ in 0..600 {
        sleep(1).await;
        for _ in 0..10 {
            assert!(p.get_access_key(NAME).await.is_err());
        }
    }
    let storm_free = kms.requests();
    assert!((3..=20).contains(&storm_free), "{storm_free} requests");
    // An explicit refresh_now is not held back by the backoff.
    kms.fail_always(None);
    p.refresh_now(NAME).await.unwrap();
    assert_eq!(kms.requests(), storm_free + 1);
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
}

#[tokio::test(start_paused = true)]
async fn an_already_expired_key_is_a_failed_fetch() {
    let kms = ScriptedKms::new("a");
    // Nothing cached: a clear error, and the backoff (not one KMS request per read).
    kms.set(None, Some(t0() - Duration::from_secs(3600)));
    let p = provider_with(vec![kms.clone()], refresh()).await;
    for _ in 0..10 {
        let err = p.get_access_key(NAME).await.unwrap_err();
        assert!(
            matches!(
                &err,
                crate::Error::Secret(e) if matches!(**e, crate::SecretError::Expired { .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("2024-02-01T07:00:00Z"), "{err}");
    }
    assert_eq!(kms.requests(), 1);

    // A good key cached: KMS later answers with an expired one; the good key stays.
    sleep(3600).await;
    kms.set(None, Some(t0() + Duration::from_secs(48 * 3600)));
    let good = p.get_access_key(NAME).await.unwrap();
    kms.rotate(None);
    kms.set(None, Some(t0()));
    assert!(p.refresh_now(NAME).await.is_err());
    let served = p.get_access_key(NAME).await.unwrap();
    assert_eq!(served.access_key_id(), good.access_key_id());
    assert!(p.health().secrets[0].stale);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_endpoint_fails_over_and_is_named() {
    let a = ScriptedKms::new("kms-a.example");
    let b = ScriptedKms::new("kms-b.example");
    a.push(Step::Panic);
    let p = provider_with(vec![a.clone(), b.clone()], refresh()).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    assert_eq!((a.requests(), b.requests()), (1, 1));
    assert_eq!(p.stats().failovers, 1);

    // With a single endpoint the panic is the error, naming the endpoint, and the secret is not
    // wedged: once the backoff is over the next read fetches and succeeds.
    let only = ScriptedKms::new("kms-only.example");
    only.push(Step::Panic);
    let p = provider_with(vec![only.clone()], refresh()).await;
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(err.to_string().contains("kms-only.example"), "{err}");
    assert!(!err.is_closed(), "{err}");
    sleep(2).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
}

/// A clock that panics on the call it is armed for: a panic in the fetch path outside any
/// client (where `Instant::now() + hedge_delay` used to overflow).
#[derive(Debug)]
struct PanickyClock {
    inner: TokioClock,
    armed: std::sync::atomic::AtomicBool,
}

impl crate::Clock for PanickyClock {
    fn now(&self) -> SystemTime {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("scripted panic in the fetch path");
        }
        self.inner.now()
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_fetch_path_does_not_wedge_the_secret() {
    let kms = ScriptedKms::new("a");
    let clock = Arc::new(PanickyClock {
        inner: TokioClock::starting_at(t0()),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let p = ManagedCredentialsProvider::builder()
        .config(config_with(refresh(), &[]))
        .client(kms.clone() as Arc<dyn KmsClient>)
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    // Let the scheduler take its first look (it reads the clock) before arming the panic, so
    // the panic hits the fetch.
    sleep(1).await;
    clock.armed.store(true, Ordering::SeqCst);
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(
        !err.is_closed(),
        "a panic must not read as a closed provider: {err}"
    );
    assert!(err.to_string().contains("failed unexpectedly"), "{err}");
    sleep(2).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    assert!(!p.health().closed);
}

#[tokio::test(start_paused = true)]
async fn ram_user_keys_without_expiry_are_served_through_a_long_outage() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let key = p.get_access_key(NAME).await.unwrap();
    kms.fail_always(Some(Step::Drop));
    // Three days of KMS outage: the key (which has no ExpireTimestamp) stays in service.
    sleep(72 * 3600).await;
    let served = p.get_access_key(NAME).await.unwrap();
    assert_eq!(served.access_key_id(), key.access_key_id());
    let h = &p.health().secrets[0];
    assert!(h.stale && !h.expired, "{h:?}");
}

/// A clock whose wall time can jump (NTP correction, resume after suspend) without tokio time
/// moving.
#[derive(Debug)]
struct SteppingClock {
    inner: TokioClock,
    step_secs: std::sync::atomic::AtomicU64,
}

impl crate::Clock for SteppingClock {
    fn now(&self) -> SystemTime {
        self.inner.now() + Duration::from_secs(self.step_secs.load(Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_step_is_followed_within_a_minute() {
    let kms = ScriptedKms::new("a");
    kms.set(Some(t0() + Duration::from_secs(2 * 3600)), None);
    let clock = Arc::new(SteppingClock {
        inner: TokioClock::starting_at(t0()),
        step_secs: std::sync::atomic::AtomicU64::new(0),
    });
    let p = ManagedCredentialsProvider::builder()
        .config(config_with(refresh(), &[]))
        .client(kms.clone() as Arc<dyn KmsClient>)
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    p.get_access_key(NAME).await.unwrap();
    sleep(10).await;
    assert_eq!(kms.requests(), 1);
    // The machine resumes three hours later: the rotation (due at +2 h 5 min) is overdue.
    clock.step_secs.store(3 * 3600, Ordering::SeqCst);
    sleep(61).await;
    assert_eq!(
        kms.requests(),
        2,
        "the overdue refresh ran within a minute of the step"
    );
}

#[tokio::test(start_paused = true)]
async fn subscribe_starts_from_the_value_current_at_registration() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let first = p.get_access_key(NAME).await.unwrap();
    kms.rotate(None);
    p.refresh_now(NAME).await.unwrap();
    // A subscriber registering with the key it read before the rotation still starts from the
    // key that is current now.
    let rx = p.cache.subscribe(NAME, first);
    assert_eq!(rx.borrow().access_key_id(), ak_id(2));
    let via_api = p.subscribe(NAME).await.unwrap();
    assert_eq!(via_api.borrow().access_key_id(), ak_id(2));
}

#[tokio::test(start_paused = true)]
async fn forced_refresh_on_rejection_is_rate_limited() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let old = p.get_access_key(NAME).await.unwrap();
    assert!(matches!(
        p.report_rejected(NAME, &old, "Throttling").await,
        RefreshOutcome::NotRejection
    ));
    assert_eq!(kms.requests(), 1);
    // KMS has not rotated: the key is unchanged (one token used).
    assert!(matches!(
        p.report_rejected(NAME, &old, "InvalidAccessKeyId.NotFound")
            .await,
        RefreshOutcome::Unchanged(_)
    ));
    assert_eq!(kms.requests(), 2);
    kms.rotate(None);
    let outcome = p.report_rejected(NAME, &old, "InvalidAccessKeyId").await;
    let new = outcome.new_key().expect("new key").clone();
    assert_eq!(new.access_key_id(), ak_id(2));
    assert_eq!(kms.requests(), 3);
    // The old key reported again: a different key is current, answered without a fetch.
    assert!(matches!(
        p.report_rejected(NAME, &old, "Unauthorized").await,
        RefreshOutcome::NewKey(_)
    ));
    assert_eq!(kms.requests(), 3);
    // Three tokens left (5 - 2), then rate-limited.
    for code in [
        "InvalidAccessKeyId.Inactive",
        "InvalidAccessKeyId",
        "Unauthorized",
    ] {
        assert!(matches!(
            p.report_rejected(NAME, &new, code).await,
            RefreshOutcome::Unchanged(_)
        ));
    }
    assert!(matches!(
        p.report_rejected(NAME, &new, "InvalidAccessKeyId").await,
        RefreshOutcome::RateLimited
    ));
    assert_eq!(kms.requests(), 6);
    sleep(600).await;
    assert!(matches!(
        p.report_rejected(NAME, &new, "InvalidAccessKeyId").await,
        RefreshOutcome::Unchanged(_)
    ));
    let stats = p.stats();
    assert_eq!(stats.forced_refreshes, 6);
    assert_eq!(stats.rate_limited, 1);
}

#[tokio::test(start_paused = true)]
async fn fails_over_on_retryable_errors_and_remembers_the_good_endpoint() {
    let a = ScriptedKms::new("a");
    let b = ScriptedKms::new("b");
    a.fail_always(Some(Step::Drop));
    let p = provider_with(vec![a.clone(), b.clone()], refresh()).await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(1)
    );
    assert_eq!((a.requests(), b.requests()), (1, 1));
    assert_eq!(p.health().preferred_endpoint, "b");
    p.refresh_now(NAME).await.unwrap();
    assert_eq!(
        (a.requests(), b.requests()),
        (1, 2),
        "starts with the last good one"
    );
    assert_eq!(p.stats().failovers, 1);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_errors_do_not_fail_over() {
    let a = ScriptedKms::new("a");
    let b = ScriptedKms::new("b");
    a.push(Step::Fail("Forbidden.NoPermission"));
    let p = provider_with(vec![a.clone(), b.clone()], refresh()).await;
    assert!(p.get_access_key(NAME).await.is_err());
    assert_eq!((a.requests(), b.requests()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn hedges_to_the_next_endpoint_when_slow() {
    let a = ScriptedKms::new("a");
    let b = ScriptedKms::new("b");
    a.set_delay(Duration::from_secs(30));
    let p = provider_with(vec![a.clone(), b.clone()], refresh()).await;
    let start = tokio::time::Instant::now();
    p.get_access_key(NAME).await.unwrap();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!((a.requests(), b.requests()), (1, 1));
    assert_eq!(p.stats().hedged_requests, 1);
    assert_eq!(p.health().preferred_endpoint, "b");
}

#[tokio::test(start_paused = true)]
async fn id_and_secret_never_torn_under_concurrent_rotation() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                for _ in 0..2000 {
                    let ak = p.get_access_key(NAME).await.unwrap();
                    let n: u32 = ak.access_key_id()[4..].parse().unwrap();
                    assert_eq!(ak.access_key_secret(), ak_secret(n));
                    assert_eq!(ak.version_id(), format!("v{n}"));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for _ in 0..50 {
        kms.rotate(None);
        p.refresh_now(NAME).await.unwrap();
        tokio::task::yield_now().await;
    }
    for r in readers {
        r.await.unwrap();
    }
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        ak_id(51)
    );
}

#[tokio::test(start_paused = true)]
async fn subscribers_see_each_new_key() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let mut rx = p.subscribe(NAME).await.unwrap();
    assert_eq!(rx.borrow_and_update().access_key_id(), ak_id(1));
    p.refresh_now(NAME).await.unwrap();
    assert!(!rx.has_changed().unwrap(), "same key: no notification");
    kms.rotate(None);
    p.refresh_now(NAME).await.unwrap();
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow().access_key_id(), ak_id(2));
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_refreshes_of_many_providers() {
    let kms = ScriptedKms::new("a");
    let config = RefreshConfig {
        jitter: Duration::from_secs(60),
        ..refresh()
    };
    let mut times = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let p = provider_with(vec![kms.clone()], config.clone()).await;
        p.get_access_key(NAME).await.unwrap();
        let next = p.health().secrets[0].next_refresh.unwrap();
        let offset = next.duration_since(t0()).unwrap() - Duration::from_secs(6 * 3600);
        assert!(offset <= Duration::from_secs(60));
        times.insert(next);
        p.close().await;
    }
    assert!(times.len() >= 18, "{} distinct refresh times", times.len());
}

#[tokio::test(start_paused = true)]
async fn close_stops_background_work_and_drop_too() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    p.close().await;
    assert!(p.get_access_key(NAME).await.is_err_and(|e| e.is_closed()));
    sleep(48 * 3600).await;
    assert_eq!(kms.requests(), 1);
    assert!(p.health().closed);

    let kms2 = ScriptedKms::new("b");
    let p2 = provider_with(vec![kms2.clone()], refresh()).await;
    p2.get_access_key(NAME).await.unwrap();
    drop(p2);
    sleep(48 * 3600).await;
    assert_eq!(
        kms2.requests(),
        1,
        "dropping the last handle stops the scheduler"
    );
}

#[tokio::test(start_paused = true)]
async fn providers_are_independent_and_prefetch() {
    let a = ScriptedKms::new("a");
    let b = ScriptedKms::new("b");
    let pa = ManagedCredentialsProvider::builder()
        .config(config_with(RefreshConfig::default(), &[NAME, "other"]))
        .client(a.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(a.requests(), 2, "prefetched");
    b.push(Step::Fail("Forbidden.NoPermission"));
    let fail_fast = RefreshConfig {
        prefetch_fail_fast: true,
        ..refresh()
    };
    let err = ManagedCredentialsProvider::builder()
        .config(config_with(fail_fast, &[NAME]))
        .client(b.clone())
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Forbidden.NoPermission"), "{err}");
    pa.get_access_key(NAME).await.unwrap();
    assert_eq!(a.requests(), 2);
    assert_eq!(pa.health().secrets.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn generic_and_binary_secrets() {
    #[derive(Debug)]
    struct Generic(Endpoint);
    impl KmsClient for Generic {
        fn endpoint(&self) -> &Endpoint {
            &self.0
        }
        fn get_secret_value<'a>(
            &'a self,
            request: &'a GetSecretValueRequest,
        ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
            Box::pin(async move {
                let binary = request.secret_name == "bin";
                Ok(SecretValue {
                    secret_name: request.secret_name.clone(),
                    secret_type: "Generic".into(),
                    secret_data: SecretString::new(if binary { "AAEC" } else { "hello" }),
                    secret_data_type: if binary { "binary" } else { "text" }.into(),
                    version_stages: vec![],
                    version_id: "v1".into(),
                    create_time: String::new(),
                    request_id: String::new(),
                    last_rotation_date: String::new(),
                    next_rotation_date: String::new(),
                    extended_config: String::new(),
                    automatic_rotation: String::new(),
                    rotation_interval: String::new(),
                })
            })
        }
    }
    let p = ManagedCredentialsProvider::builder()
        .client(Arc::new(Generic(Endpoint {
            host: "g".into(),
            port: 443,
        })))
        .build()
        .await
        .unwrap();
    assert_eq!(p.get_secret("bin").await.unwrap().bytes(), &[0, 1, 2]);
    assert_eq!(p.get_secret("txt").await.unwrap().text(), Some("hello"));
    let err = p.get_access_key("txt").await.unwrap_err();
    assert!(err.to_string().contains("get_secret"), "{err}");
    // The secret is cached now: every AccessKey read of it says why, without a fetch.
    let by_name = p.cached_access_key("txt").unwrap().unwrap_err();
    assert!(by_name.to_string().contains("get_secret"), "{by_name}");
    let again = p.get_access_key("txt").await.unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    let handle = p.access_key_provider("txt");
    let lent = handle.with_cached(|_| ()).unwrap().unwrap_err();
    assert!(lent.to_string().contains("get_secret"), "{lent}");
    assert!(handle.cached().unwrap().is_err());
    assert_eq!(p.stats().fetches, 2, "txt and bin, once each");
}

#[tokio::test(start_paused = true)]
async fn the_handle_lends_the_cached_key_without_a_lookup_or_a_clone() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let handle = p.access_key_provider(NAME);
    assert!(handle
        .with_cached(|k| k.access_key_id().to_owned())
        .is_none());
    assert!(handle.cached().is_none());
    p.get_access_key(NAME).await.unwrap();
    let lent = || {
        handle
            .with_cached(|k| (k.access_key_id().to_owned(), Arc::strong_count(k)))
            .unwrap()
            .unwrap()
    };
    // The first read fills this thread's memo; later ones hit it and lend this thread's copy.
    assert_eq!(lent().0, ak_id(1));
    let (id, only_the_memo) = lent();
    assert_eq!(id, ak_id(1));
    assert_eq!(only_the_memo, 1, "lending does not clone the Arc");
    assert_eq!(lent().1, 1);
    let held = handle.cached().unwrap().unwrap();
    assert_eq!(held.access_key_id(), ak_id(1));
    assert_eq!(lent().1, 2, "cached() clones the Arc it lends");
    assert_eq!(Arc::strong_count(&held), 2);
    drop(held);
    // A new version is seen through the held slot.
    kms.rotate(None);
    p.refresh_now(NAME).await.unwrap();
    assert_eq!(
        handle
            .with_cached(|k| k.access_key_id().to_owned())
            .unwrap()
            .unwrap(),
        ak_id(2)
    );
    p.close().await;
    assert!(handle.with_cached(|_| ()).unwrap().unwrap_err().is_closed());
}

#[tokio::test(start_paused = true)]
async fn the_thread_memo_never_mixes_secrets_or_providers_and_follows_each_new_version() {
    // Two providers with the same secret name and different keys, and more secrets than the
    // memo has entries, read in turn on one thread: every read must be its own slot's current
    // key, also right after a rotation that this thread's memo has not seen.
    let kms_a = ScriptedKms::new("a");
    let kms_b = ScriptedKms::new("b");
    kms_b.rotate(None);
    kms_b.rotate(None); // b serves version 3
    let a = provider_with(vec![kms_a.clone()], refresh()).await;
    let b = provider_with(vec![kms_b.clone()], refresh()).await;
    let names: Vec<String> = (0..6).map(|i| format!("acs/ram/user/app-{i}")).collect();
    for name in &names {
        a.get_access_key(name).await.unwrap();
        b.get_access_key(name).await.unwrap();
    }
    let handles: Vec<_> = names
        .iter()
        .flat_map(|n| {
            [
                (a.access_key_provider(n), true),
                (b.access_key_provider(n), false),
            ]
        })
        .collect();
    for round in 0..3 {
        for (handle, of_a) in &handles {
            let expected = if *of_a { ak_id(1 + round) } else { ak_id(3) };
            assert_eq!(handle.cached().unwrap().unwrap().access_key_id(), expected);
        }
        for name in &names {
            let by_name = a.cached_access_key(name).unwrap().unwrap();
            assert_eq!(by_name.access_key_id(), ak_id(1 + round));
        }
        // The lending read may read the cache again inside its closure.
        let (outer, inner) = handles[0]
            .0
            .with_cached(|k| {
                let inner = handles[0].0.cached().unwrap().unwrap();
                (
                    k.access_key_id().to_owned(),
                    inner.access_key_id().to_owned(),
                )
            })
            .unwrap()
            .unwrap();
        assert_eq!(outer, inner);
        // Rotate `a`: the next read on this thread must see the new version at once.
        kms_a.rotate(None);
        for name in &names {
            a.refresh_now(name).await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_thread_hands_out_its_own_copy_of_the_key() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    let handle = p.access_key_provider(NAME);
    // The first read on a thread fills its memo (and hands out the shared key).
    p.cached_access_key(NAME).unwrap().unwrap();
    let here = (
        p.cached_access_key(NAME).unwrap().unwrap(),
        p.cached_access_key(NAME).unwrap().unwrap(),
        handle.cached().unwrap().unwrap(),
    );
    assert!(Arc::ptr_eq(&here.0, &here.1), "one thread, one copy");
    assert!(Arc::ptr_eq(&here.0, &here.2), "by name and by handle alike");
    let there = std::thread::scope(|s| {
        s.spawn(|| {
            // The first read on a thread fills its memo (and hands out the shared key).
            p.cached_access_key(NAME).unwrap().unwrap();
            (
                p.cached_access_key(NAME).unwrap().unwrap(),
                handle.cached().unwrap().unwrap(),
            )
        })
        .join()
        .unwrap()
    });
    assert!(Arc::ptr_eq(&there.0, &there.1));
    assert!(
        !Arc::ptr_eq(&here.0, &there.0),
        "another thread clones another reference count"
    );
    assert!(here.0.same_key(&there.0), "the same key");
    assert_eq!(p.stats().fetches, 1);
    // After a rotation this thread's copy is replaced on its next read (by name and by handle).
    kms.rotate(None);
    p.refresh_now(NAME).await.unwrap();
    assert_eq!(
        p.cached_access_key(NAME).unwrap().unwrap().access_key_id(),
        ak_id(2)
    );
    assert_eq!(handle.cached().unwrap().unwrap().access_key_id(), ak_id(2));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_provider_ends_its_receivers_though_a_thread_remembers_its_slot() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let mut rx = p.subscribe(NAME).await.unwrap();
    // This thread's memo now holds the slot.
    assert!(p.cached_access_key(NAME).unwrap().is_ok());
    drop(p);
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while rx.changed().await.is_ok() {}
    })
    .await
    .expect("the receiver ends with the provider");
}

#[tokio::test(start_paused = true)]
async fn a_thread_copies_a_key_only_when_it_reads_it_again() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    // More secrets than a thread remembers, read round robin: every read fills the memo anew
    // and hands out the shared key, so nothing is copied.
    let names: Vec<String> = (0..6).map(|i| format!("acs/ram/user/app-{i}")).collect();
    let mut shared = Vec::new();
    for name in &names {
        shared.push(p.get_access_key(name).await.unwrap());
    }
    for _ in 0..3 {
        for (name, shared) in names.iter().zip(&shared) {
            let read = p.cached_access_key(name).unwrap().unwrap();
            assert!(Arc::ptr_eq(&read, shared), "{name}: no copy on a miss");
        }
    }
    // Read twice in a row: the second read hits and hands out this thread's own copy.
    let first = p.cached_access_key(&names[0]).unwrap().unwrap();
    let second = p.cached_access_key(&names[0]).unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &shared[0]));
    assert!(
        !Arc::ptr_eq(&second, &shared[0]),
        "the hit hands out a copy"
    );
    assert!(second.same_key(&shared[0]));
}

#[tokio::test(start_paused = true)]
async fn the_memo_tells_two_providers_secrets_of_the_same_name_apart() {
    let kms_a = ScriptedKms::new("a");
    let kms_b = ScriptedKms::new("b");
    let a = provider_with(vec![kms_a.clone()], refresh()).await;
    let b = provider_with(vec![kms_b.clone()], refresh()).await;
    kms_b.rotate(None); // b serves a different key under the same name
    let from_a = a.get_access_key(NAME).await.unwrap();
    let from_b = b.get_access_key(NAME).await.unwrap();
    assert!(!from_a.same_key(&from_b));
    // Both remembered by this thread, then read by name, each twice (the second a hit).
    for _ in 0..3 {
        assert!(b
            .cached_access_key(NAME)
            .unwrap()
            .unwrap()
            .same_key(&from_b));
        assert!(a
            .cached_access_key(NAME)
            .unwrap()
            .unwrap()
            .same_key(&from_a));
        assert!(a
            .cached_access_key(NAME)
            .unwrap()
            .unwrap()
            .same_key(&from_a));
        assert!(b
            .cached_access_key(NAME)
            .unwrap()
            .unwrap()
            .same_key(&from_b));
    }
}

#[tokio::test(start_paused = true)]
async fn a_lending_closure_may_read_the_cache_again_on_a_hit() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    let other = "acs/ram/user/other";
    p.get_access_key(NAME).await.unwrap();
    p.get_access_key(other).await.unwrap();
    let handle = p.access_key_provider(NAME);
    let other_handle = p.access_key_provider(other);
    handle.cached().unwrap().unwrap();
    handle.cached().unwrap().unwrap(); // remembered: the next read is a hit
                                       // Inside the hit (the memo borrowed), read a secret this thread has not read by handle:
                                       // served, though it cannot be remembered meanwhile, and remembered on a later read.
    for _ in 0..3 {
        let (outer, inner) = handle
            .with_cached(|k| {
                let inner = other_handle.cached().unwrap().unwrap();
                (k.access_key_id().to_owned(), inner.secret_name().to_owned())
            })
            .unwrap()
            .unwrap();
        assert_eq!(outer, ak_id(1));
        assert_eq!(inner, other);
    }
    let first = other_handle.cached().unwrap().unwrap();
    let second = other_handle.cached().unwrap().unwrap();
    assert!(first.same_key(&second));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_provider_forgets_this_threads_copies_of_its_keys() {
    let kms = ScriptedKms::new("a");
    let p = provider_with(vec![kms.clone()], refresh()).await;
    p.get_access_key(NAME).await.unwrap();
    p.cached_access_key(NAME).unwrap().unwrap();
    let copy = p.cached_access_key(NAME).unwrap().unwrap();
    let weak = Arc::downgrade(&copy);
    drop(copy);
    assert!(
        weak.upgrade().is_some(),
        "this thread's memo holds its copy"
    );
    drop(p);
    assert!(weak.upgrade().is_none(), "forgotten with the provider");
}
