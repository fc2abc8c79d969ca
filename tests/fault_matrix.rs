//! The fault matrix: the provider over real TLS against LocalKms, through each way KMS (or the
//! network, or the process) can fail. For every fault it records what a cold read gets (the
//! exact error and how many KMS requests it cost), whether reads with a key cached keep being
//! served, and how long recovery takes once KMS is healthy again; then it asserts the
//! invariants (no failed read while a valid key is cached, the shared backoff, recovery).
//!
//! `cargo test --all-features --test fault_matrix -- --nocapture` prints the table that is in
//! the manual (`manual`, "Fault matrix").

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aliyun_managed_credentials::config::Config;
use aliyun_managed_credentials::testing::{
    Fault, LocalKms, RamCredentialOptions, ServerCertificate,
};
use aliyun_managed_credentials::{
    BoxFuture, Error, GetSecretValueRequest, KmsClient, KmsError, ManagedCredentialsProvider,
    SecretValue,
};

const NAME: &str = "acs/ram/user/app";
const READS: usize = 200;

/// What one row measured.
struct Row {
    fault: &'static str,
    cold_error: String,
    cold_requests: usize,
    requests_after_more_cold_reads: usize,
    cold_recovery: Duration,
    warm_reads_failed: usize,
    warm_recovery: Duration,
}

static TABLE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(line: String) {
    TABLE.lock().unwrap().push(line);
}

fn config_for(kms: &LocalKms) -> Config {
    let ap = kms.issue_access_point(&["*"]);
    let mut config = Config::from_properties_file(&ap.properties_file).unwrap();
    config.http.connect_timeout = Duration::from_millis(500);
    config.http.request_timeout = Duration::from_secs(1);
    config.http.retry.max_attempts = 2;
    config.http.retry.base_delay = Duration::from_millis(20);
    config.http.retry.max_delay = Duration::from_millis(50);
    config.refresh.jitter = Duration::ZERO;
    config.refresh.retry_base = Duration::from_millis(500);
    config.refresh.retry_max = Duration::from_secs(1);
    config
}

/// Polls until `ok` holds (each poll one read), up to 10 s; the time it took.
async fn time_until(mut ok: impl FnMut() -> BoxFuture<'static, bool>) -> Duration {
    let start = Instant::now();
    while !ok().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no recovery within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Runs one row: `inject` breaks KMS, `heal` repairs it (and makes a new key current).
async fn run_row(
    fault: &'static str,
    inject: impl Fn(&LocalKms),
    heal: impl Fn(&LocalKms),
    expect: impl Fn(&Error) -> bool,
) -> Row {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(NAME);
    let config = config_for(&kms);
    let p = ManagedCredentialsProvider::from_config(config)
        .await
        .unwrap();

    // Cold: nothing cached.
    inject(&kms);
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(expect(&err), "{fault}: unexpected error {err}");
    // LocalKms logs a request the client gave up on when it notices the hang-up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cold_requests = kms.request_count(NAME);
    for _ in 0..20 {
        assert!(p.get_access_key(NAME).await.is_err(), "{fault}");
    }
    let requests_after_more_cold_reads = kms.request_count(NAME);
    heal(&kms);
    let cold_recovery = {
        let p = p.clone();
        time_until(move || {
            let p = p.clone();
            Box::pin(async move { p.get_access_key(NAME).await.is_ok() })
        })
        .await
    };

    // Warm: a key is cached; KMS breaks again.
    let cached = p.get_access_key(NAME).await.unwrap();
    inject(&kms);
    assert!(
        p.refresh_now(NAME).await.is_err(),
        "{fault}: refresh must fail"
    );
    let mut warm_reads_failed = 0;
    for _ in 0..READS {
        match p.get_access_key(NAME).await {
            Ok(k) if k.access_key_id() == cached.access_key_id() => {}
            _ => warm_reads_failed += 1,
        }
    }
    assert!(
        p.health().secrets[0].stale,
        "{fault}: health must say stale"
    );
    // KMS heals with a new key: the background retry picks it up.
    heal(&kms);
    let old = cached.access_key_id().to_owned();
    let warm_recovery = {
        let p = p.clone();
        time_until(move || {
            let (p, old) = (p.clone(), old.clone());
            Box::pin(async move {
                p.get_access_key(NAME)
                    .await
                    .is_ok_and(|k| k.access_key_id() != old)
            })
        })
        .await
    };
    p.close().await;
    kms.shutdown().await;
    let row = Row {
        fault,
        cold_error: short(&err),
        cold_requests,
        requests_after_more_cold_reads,
        cold_recovery,
        warm_reads_failed,
        warm_recovery,
    };
    record(format!(
        "| {} | {} | {} | {} | {} ms | {}/{} | {} ms |",
        row.fault,
        row.cold_error,
        row.cold_requests,
        row.requests_after_more_cold_reads - row.cold_requests,
        row.cold_recovery.as_millis(),
        row.warm_reads_failed,
        READS,
        row.warm_recovery.as_millis(),
    ));
    row
}

/// The error as a short table cell: the KMS code or the error's kind, never a secret.
fn short(e: &Error) -> String {
    if let Some(code) = e.code() {
        return format!("`{code}`");
    }
    let text = e.to_string();
    let kind = match e {
        Error::Kms(kms) => match &**kms {
            KmsError::Transport { kind, .. } => format!("transport: {kind}"),
            KmsError::InvalidResponse { http_status, .. } => {
                format!("invalid answer (HTTP {http_status})")
            }
            _ => text.chars().take(40).collect(),
        },
        Error::Secret(secret) => match &**secret {
            aliyun_managed_credentials::SecretError::Expired { .. } => {
                "`SecretError::Expired` (not served)".to_owned()
            }
            _ => "`SecretError` (SecretData rejected)".to_owned(),
        },
        _ => text.chars().take(40).collect(),
    };
    format!(
        "{kind}{}",
        if e.is_retryable() { ", retryable" } else { "" }
    )
}

/// The invariants every fault row must hold.
fn check(row: &Row) {
    assert_eq!(
        row.warm_reads_failed, 0,
        "{}: a cached key was not served",
        row.fault
    );
    assert!(row.cold_requests >= 1, "{}", row.fault);
    // The shared backoff: 20 more cold reads right after the failure cost at most the retries
    // that fall due meanwhile (full jitter can make one due at once; 2 attempts each), never
    // one round per read.
    assert!(
        row.requests_after_more_cold_reads - row.cold_requests <= 4,
        "{}: {} extra KMS requests for 20 reads",
        row.fault,
        row.requests_after_more_cold_reads - row.cold_requests
    );
}

fn set_always(fault: Fault) -> impl Fn(&LocalKms) {
    move |kms| kms.set_fault_always(Some(fault.clone()))
}

fn heal_and_rotate(kms: &LocalKms) {
    kms.clear_faults();
    kms.rotate(NAME);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let rows = [
        run_row(
            "connection dropped before the answer",
            set_always(Fault::DropConnection),
            heal_and_rotate,
            Error::is_retryable,
        )
        .await,
        run_row(
            "connection reset mid-body",
            set_always(Fault::Truncated),
            heal_and_rotate,
            Error::is_retryable,
        )
        .await,
        run_row(
            "KMS answers after the request timeout (1 s)",
            set_always(Fault::Delay(Duration::from_millis(1500))),
            heal_and_rotate,
            |e| matches!(e, Error::Kms(k) if matches!(**k, KmsError::Transport { .. })) && e.is_retryable(),
        )
        .await,
        run_row(
            "slow body (4 pieces, 400 ms apart)",
            set_always(Fault::SlowBody {
                chunk_delay: Duration::from_millis(400),
            }),
            heal_and_rotate,
            |e| matches!(e, Error::Kms(k) if matches!(**k, KmsError::Transport { .. })),
        )
        .await,
        run_row(
            "502 with an HTML body (proxy)",
            set_always(Fault::Garbage { http_status: 502 }),
            heal_and_rotate,
            Error::is_retryable,
        )
        .await,
        run_row(
            "oversized body (2 MiB, cap 1 MiB)",
            set_always(Fault::Oversized { bytes: 2 << 20 }),
            heal_and_rotate,
            |e| matches!(e, Error::Kms(k) if matches!(**k, KmsError::InvalidResponse { .. })),
        )
        .await,
        run_row(
            "throttling storm (every request 429)",
            set_always(Fault::throttling()),
            heal_and_rotate,
            |e| e.code() == Some("Rejected.Throttling") && e.is_retryable(),
        )
        .await,
        run_row(
            "malformed SecretData",
            set_always(Fault::MalformedSecret),
            heal_and_rotate,
            |e| matches!(e, Error::Secret(_)),
        )
        .await,
        run_row(
            "KMS hands out an already expired key",
            |kms| {
                kms.put_ram_credential_with(
                    NAME,
                    RamCredentialOptions {
                        expire: Some(SystemTime::now() - Duration::from_secs(3600)),
                        ..RamCredentialOptions::default()
                    },
                );
            },
            |kms| {
                kms.put_ram_credential(NAME);
            },
            |e| {
                matches!(
                    e,
                    Error::Secret(s) if matches!(**s, aliyun_managed_credentials::SecretError::Expired { .. })
                )
            },
        )
        .await,
    ];
    for row in &rows {
        check(row);
    }
    unreachable_kms_fails_cold_reads_with_the_cause().await;
    a_panicking_client_is_named_and_does_not_close_the_provider().await;
    record(
        "| clock steps forward 3 h (NTP, resume) | — | — | — | — | — | overdue refresh within 60 s (`a_wall_clock_step_is_followed_within_a_minute`, paused time) |"
            .into(),
    );
    record(
        "| the runtime that built the provider shuts down | misses: closed | 0 | 0 | — | 0 until ExpireTimestamp | — (`provider_whose_runtime_is_gone_serves_until_expiry_and_reports_closed`) |"
            .into(),
    );
    print_table();
}

/// Faults with no "KMS comes back" half: a wrong server certificate and nothing listening.
async fn unreachable_kms_fails_cold_reads_with_the_cause() {
    // TLS handshake failure: the server's certificate is not issued by the configured CA.
    let kms = LocalKms::builder()
        .server_certificate(ServerCertificate::SelfSigned)
        .start()
        .await
        .unwrap();
    kms.put_ram_credential(NAME);
    let p = ManagedCredentialsProvider::from_config(config_for(&kms))
        .await
        .unwrap();
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(
        matches!(&err, Error::Kms(k) if matches!(&**k, KmsError::Transport { kind, .. } if kind.to_string().contains("TLS"))),
        "{err}"
    );
    assert!(
        err.to_string().contains("caFilePath"),
        "says what to fix: {err}"
    );
    record(format!(
        "| TLS handshake fails (untrusted server certificate) | {} | {} | — | — | — | — |",
        short(&err),
        kms.request_count(NAME)
    ));

    // Connection refused: nothing listens on the configured address.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = free.local_addr().unwrap();
    drop(free);
    let mut config = config_for(&kms);
    config.instances[0].connect_to = Some(closed);
    let p = ManagedCredentialsProvider::from_config(config)
        .await
        .unwrap();
    let err = p.get_access_key(NAME).await.unwrap_err();
    assert!(
        matches!(&err, Error::Kms(k) if matches!(**k, KmsError::Transport { .. }))
            && err.is_retryable(),
        "{err}"
    );
    record(format!(
        "| connection refused | {} | 0 (nothing listens) | — | — | — | — |",
        short(&err)
    ));
}

/// A client that panics on every request, placed before the real endpoint.
#[derive(Debug)]
struct PanickingClient(aliyun_managed_credentials::config::Endpoint);

impl KmsClient for PanickingClient {
    fn endpoint(&self) -> &aliyun_managed_credentials::config::Endpoint {
        &self.0
    }
    fn get_secret_value<'a>(
        &'a self,
        _request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async { panic!("a KMS client bug") })
    }
}

/// A panicking client is a failed attempt naming its endpoint (failover past it to the next
/// endpoint is tested in the cache's unit tests, where endpoint order can be chosen).
async fn a_panicking_client_is_named_and_does_not_close_the_provider() {
    let kms = LocalKms::start().await.unwrap();
    let mut empty = config_for(&kms);
    empty.instances.clear();
    let alone = ManagedCredentialsProvider::builder()
        .config(
            aliyun_managed_credentials::ConfigBuilder::from_config(empty)
                .build()
                .unwrap(),
        )
        .client(Arc::new(PanickingClient(
            "kms-buggy.example".parse().unwrap(),
        )))
        .build()
        .await
        .unwrap();
    let err = alone.get_access_key(NAME).await.unwrap_err();
    assert!(err.to_string().contains("kms-buggy.example"), "{err}");
    assert!(!err.is_closed(), "{err}");
    record(
        "| the KMS client panics | a failed attempt naming the endpoint, never \"closed\" | 1 | — | — | — | — |"
            .into(),
    );
    kms.shutdown().await;
}

fn print_table() {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| fault | cold read gets | KMS requests | requests for 20 more cold reads | cold recovery | failed reads with a key cached | recovery to the new key |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    for line in TABLE.lock().unwrap().iter() {
        let _ = writeln!(out, "{line}");
    }
    println!("{out}");
}
