//! The instance client through real TLS against LocalKms on 127.0.0.1: success, every error code
//! as a typed error, retries with re-signing, timeouts, TLS rejections, ignoreSslCerts and the
//! response size cap. Run with `cargo test --features test-util --test instance_api`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::clock::Clock;
use crate::config::{
    ClientKeySource, HttpConfig, InstanceEndpointConfig, PasswordSource, RetryConfig, SecretString,
};
use crate::kms::instance::InstanceClient;
use crate::kms::{GetSecretValueRequest, KmsClient, KmsError, SecretValue, TransportErrorKind};
use crate::testing::{AccessPoint, Fault, LocalKms, ServerCertificate};

const SECRET: &str = "acs/ram/user/app";

fn http(max_attempts: u32) -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(3),
        max_response_bytes: 1024 * 1024,
        retry: RetryConfig {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
    }
}

/// A clock that moves one second per call, so every attempt has its own date and signature
/// (real attempts a few ms apart would share the one-second `date`).
fn ticking_clock() -> Arc<dyn Clock> {
    #[derive(Debug)]
    struct Ticking {
        start: SystemTime,
        ticks: AtomicU64,
    }
    impl Clock for Ticking {
        fn now(&self) -> SystemTime {
            self.start + Duration::from_secs(self.ticks.fetch_add(1, Ordering::SeqCst))
        }
    }
    Arc::new(Ticking {
        start: SystemTime::now(),
        ticks: AtomicU64::new(0),
    })
}

async fn kms_with(cert: ServerCertificate) -> LocalKms {
    LocalKms::builder()
        .server_certificate(cert)
        .start()
        .await
        .expect("LocalKms starts")
}

fn client(kms: &LocalKms, ap: &AccessPoint, http: &HttpConfig) -> InstanceClient {
    InstanceClient::new(&kms.instance_config(ap), http).expect("client builds")
}

async fn fetch(client: &InstanceClient, name: &str) -> Result<SecretValue, KmsError> {
    client
        .get_secret_value(&GetSecretValueRequest::current(name))
        .await
}

fn service(e: &KmsError) -> (u16, &str, &str) {
    match e {
        KmsError::Service {
            http_status,
            code,
            request_id,
            ..
        } => (*http_status, code.as_str(), request_id.as_str()),
        other => panic!("expected a KMS service error, got {other}"),
    }
}

fn transport(e: &KmsError) -> (TransportErrorKind, &str) {
    match e {
        KmsError::Transport { kind, detail, .. } => (*kind, detail.as_str()),
        other => panic!("expected a transport error, got {other}"),
    }
}

#[tokio::test]
async fn fetches_a_ram_credential() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    let pair = kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(4));
    assert_eq!(client.endpoint(), &kms.endpoint());

    let value = fetch(&client, SECRET).await.expect("fetch succeeds");
    assert_eq!(value.secret_name, SECRET);
    assert_eq!(value.secret_type, "RAMCredentials");
    assert!(value.secret_data.expose().contains(&pair.access_key_id));
    assert!(value.secret_data.expose().contains(&pair.access_key_secret));
    assert_eq!(value.version_stages, ["ACSCurrent"]);
    assert_eq!(value.rotation_interval, "604800s");
    assert!(!value.next_rotation_date.is_empty());
    assert!(!value.request_id.is_empty());
    assert!(!format!("{value:?}").contains(&pair.access_key_secret));

    let requests = kms.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].protocol, "instance");
    assert_eq!(requests[0].key_id, ap.key_id);
    assert_eq!(requests[0].version_stage, "ACSCurrent");
    assert_eq!(requests[0].outcome, "OK");

    // Same client again (kept-alive connection), and a request without stage/extended config.
    kms.put_generic_secret("app/config", "hello");
    let plain = client
        .get_secret_value(&GetSecretValueRequest {
            secret_name: "app/config".into(),
            version_stage: None,
            version_id: None,
            fetch_extended_config: false,
        })
        .await
        .unwrap();
    assert_eq!(plain.secret_type, "Generic");
    assert_eq!(plain.secret_data.expose(), "hello");
    assert_eq!(kms.total_requests(), 2);
}

#[tokio::test]
async fn wrong_private_key_is_signature_not_match() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let ap = kms.issue_access_point(&["*"]);
    let other = kms.issue_access_point(&["*"]);
    // `other`'s private key under `ap`'s KeyId: the server checks with `ap`'s public key.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&other.client_key_file).unwrap()).unwrap();
    json["KeyId"] = ap.key_id.clone().into();
    let mut config = kms.instance_config(&other);
    config.client_key = ClientKeySource::Inline(SecretString::new(json.to_string()));
    config.password = vec![PasswordSource::File(other.password_file.clone())];
    let client = InstanceClient::new(&config, &http(4)).unwrap();
    assert_eq!(client.key_id(), ap.key_id);

    let e = fetch(&client, SECRET).await.unwrap_err();
    let (status, code, request_id) = service(&e);
    assert_eq!((status, code), (401, "SignatureNotMatch"));
    assert!(!request_id.is_empty());
    assert_eq!(kms.request_count(SECRET), 1, "not retried");
}

#[tokio::test]
async fn typed_errors_for_permission_unknown_secret_and_unknown_key() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    kms.put_ram_credential("acs/ram/user/allowed");
    let limited = kms.issue_access_point(&["acs/ram/user/allowed*"]);
    let client_limited = client(&kms, &limited, &http(4));

    let e = fetch(&client_limited, SECRET).await.unwrap_err();
    assert_eq!(service(&e).0, 403);
    assert_eq!(e.code(), Some("Forbidden.NoPermission"));
    assert!(e.to_string().contains(SECRET), "{e}");
    assert_eq!(kms.request_count(SECRET), 1);
    fetch(&client_limited, "acs/ram/user/allowed")
        .await
        .expect("allowed secret");

    let all = kms.issue_access_point(&["*"]);
    let client_all = client(&kms, &all, &http(4));
    let e = fetch(&client_all, "acs/ram/user/missing")
        .await
        .unwrap_err();
    assert_eq!(service(&e).0, 404);
    assert_eq!(e.code(), Some("Forbidden.ResourceNotFound"));
    assert_eq!(kms.request_count("acs/ram/user/missing"), 1);

    assert!(kms.revoke_access_point(&all.key_id));
    let e = fetch(&client_all, SECRET).await.unwrap_err();
    assert_eq!(service(&e).0, 404);
    assert_eq!(e.code(), Some("Unauthorized"));
    assert!(!e.is_retryable());
    assert_eq!(kms.request_count(SECRET), 2);
}

#[tokio::test]
async fn throttling_is_retried_and_every_attempt_re_signed() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(4)).with_clock(ticking_clock());

    for _ in 0..4 {
        kms.push_fault(Fault::throttling());
    }
    let e = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(service(&e).0, 429);
    assert_eq!(e.code(), Some("Rejected.Throttling"));
    let requests = kms.requests();
    assert_eq!(requests.len(), 4, "max_attempts = 4 requests");
    let dates: HashSet<_> = requests.iter().map(|r| r.date.clone()).collect();
    let signatures: HashSet<_> = requests.iter().map(|r| r.signature.clone()).collect();
    assert_eq!(dates.len(), 4, "a fresh date per attempt: {dates:?}");
    assert_eq!(signatures.len(), 4, "a fresh signature per attempt");

    kms.clear_requests();
    kms.push_fault(Fault::throttling());
    kms.push_fault(Fault::throttling());
    fetch(&client, SECRET)
        .await
        .expect("third attempt succeeds");
    let outcomes: Vec<_> = kms.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        ["Rejected.Throttling", "Rejected.Throttling", "OK"]
    );
}

#[tokio::test]
async fn unavailable_and_internal_failure_are_retried() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(3));

    kms.push_fault(Fault::Error {
        http_status: 503,
        code: "ServiceUnavailableTemporary".into(),
        message: "Service Unavailable Temporary.".into(),
    });
    fetch(&client, SECRET).await.expect("retry succeeds");
    assert_eq!(kms.request_count(SECRET), 2);

    kms.set_fault_always(Some(Fault::Error {
        http_status: 500,
        code: "InternalFailure".into(),
        message: "Internal Failure".into(),
    }));
    let e = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(service(&e), (500, "InternalFailure", service(&e).2));
    assert_eq!(kms.request_count(SECRET), 2 + 3);

    // A non-retryable scripted code stops at once.
    kms.set_fault_always(None);
    kms.push_fault(Fault::Error {
        http_status: 400,
        code: "InvalidParameter".into(),
        message: "bad".into(),
    });
    let e = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(service(&e).1, "InvalidParameter");
    assert_eq!(kms.request_count(SECRET), 6);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(4)).with_clock(ticking_clock());

    kms.push_fault(Fault::DropConnection);
    kms.push_fault(Fault::DropConnection);
    fetch(&client, SECRET)
        .await
        .expect("third attempt succeeds");
    let requests = kms.requests();
    assert_eq!(requests.len(), 3);
    let signatures: HashSet<_> = requests.iter().map(|r| r.signature.clone()).collect();
    assert_eq!(signatures.len(), 3);

    kms.set_fault_always(Some(Fault::DropConnection));
    let e = fetch(&client, SECRET).await.unwrap_err();
    let (kind, detail) = transport(&e);
    assert_eq!(kind, TransportErrorKind::Connect, "{detail}");
    assert_eq!(kms.request_count(SECRET), 3 + 4);
}

#[tokio::test]
async fn slow_answer_times_out() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let mut config = http(1);
    config.request_timeout = Duration::from_millis(200);
    let client = client(&kms, &ap, &config);

    kms.push_fault(Fault::Delay(Duration::from_secs(2)));
    let started = Instant::now();
    let e = fetch(&client, SECRET).await.unwrap_err();
    let elapsed = started.elapsed();
    let (kind, detail) = transport(&e);
    assert_eq!(kind, TransportErrorKind::Timeout, "{detail}");
    assert!(detail.contains("request_timeout_ms"), "{detail}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn untrusted_server_certificate_is_rejected() {
    let kms = kms_with(ServerCertificate::SelfSigned).await;
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(2));
    let e = fetch(&client, SECRET).await.unwrap_err();
    let (kind, detail) = transport(&e);
    assert_eq!(kind, TransportErrorKind::Tls, "{detail}");
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(detail.contains("unknown issuer"), "{detail}");
    assert_eq!(kms.total_requests(), 0, "no request got past the handshake");
}

#[tokio::test]
async fn certificate_for_another_name_is_rejected() {
    let kms = kms_with(ServerCertificate::WrongName).await;
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(2));
    let e = fetch(&client, SECRET).await.unwrap_err();
    let (kind, detail) = transport(&e);
    assert_eq!(kind, TransportErrorKind::Tls, "{detail}");
    assert!(detail.contains("name mismatch"), "{detail}");
    assert!(detail.contains(&kms.endpoint().host), "{detail}");
    assert_eq!(kms.total_requests(), 0);
}

#[tokio::test]
async fn ignore_ssl_certs_accepts_a_self_signed_server() {
    let kms = kms_with(ServerCertificate::SelfSigned).await;
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let config = InstanceEndpointConfig {
        ca_file: None,
        ignore_ssl_certs: true,
        ..kms.instance_config(&ap)
    };
    let client = InstanceClient::new(&config, &http(1)).unwrap();
    let value = fetch(&client, SECRET)
        .await
        .expect("accepted without checks");
    assert_eq!(value.secret_type, "RAMCredentials");
}

#[tokio::test]
async fn oversized_answer_is_refused() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(4));
    kms.push_fault(Fault::Oversized { bytes: 2 << 20 });
    let e = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        matches!(
            e,
            KmsError::InvalidResponse {
                http_status: 200,
                ..
            }
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("max_response_bytes"), "{text}");
    assert!(text.contains("1048576"), "{text}");
    assert_eq!(kms.request_count(SECRET), 1, "a 200 is not retried");
    // The client still works afterwards.
    fetch(&client, SECRET).await.unwrap();
}

#[tokio::test]
async fn html_error_pages_are_invalid_responses() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    kms.put_ram_credential(SECRET);
    let client = client(&kms, &ap, &http(2));

    // A proxy's 502 page is worth one more try ...
    kms.push_fault(Fault::Garbage { http_status: 502 });
    fetch(&client, SECRET)
        .await
        .expect("second attempt succeeds");
    assert_eq!(kms.request_count(SECRET), 2);

    // ... and if it persists the caller learns what answered.
    kms.set_fault_always(Some(Fault::Garbage { http_status: 502 }));
    let e = fetch(&client, SECRET).await.unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(
            e,
            KmsError::InvalidResponse {
                http_status: 502,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("not a protobuf Error"), "{text}");
    assert_eq!(kms.request_count(SECRET), 4);
}
