//! The shared-gateway client end to end against LocalKms (real TLS on 127.0.0.1, real
//! signature checks): every KMS identity type, every error code, retries with fresh
//! nonces, role credentials refreshed before expiry, and bad inputs.

use std::collections::HashSet;
use std::time::Duration;

use crate::config::{
    ClientKeySource, Endpoint, GatewayEndpointConfig, HttpConfig, KmsIdentity, PasswordSource,
    RetryConfig,
};
use crate::kms::gateway::GatewayClient;
use crate::kms::{GetSecretValueRequest, KmsClient, KmsError, SecretValue, TransportErrorKind};
use crate::testing::{Fault, LocalKms};

const SECRET: &str = "acs/ram/user/app";

/// Fast retries (no real sleeps worth mentioning).
fn http() -> HttpConfig {
    HttpConfig {
        retry: RetryConfig {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        },
        ..HttpConfig::default()
    }
}

fn ak_credential(pair: &crate::testing::AccessKeyPair) -> KmsIdentity {
    KmsIdentity::AccessKey {
        access_key_id: pair.access_key_id.clone(),
        access_key_secret: pair.access_key_secret.as_str().into(),
    }
}

async fn fetch(client: &GatewayClient, name: &str) -> Result<SecretValue, KmsError> {
    client
        .get_secret_value(&GetSecretValueRequest::current(name))
        .await
}

fn assert_holds(value: &SecretValue, access_key_id: &str) {
    let data: serde_json::Value = serde_json::from_str(value.secret_data.expose()).unwrap();
    assert_eq!(data["AccessKeyId"], access_key_id);
}

/// Moves the tokio clock forward without leaving it paused during network I/O (a paused clock
/// would auto-advance into the HTTP timeouts while a socket is pending).
async fn jump(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

async fn ak_client(kms: &LocalKms, allowed: &[&str]) -> GatewayClient {
    let caller = kms.register_access_key(allowed);
    GatewayClient::new(&kms.gateway_config(), &ak_credential(&caller), &http()).unwrap()
}

#[tokio::test]
async fn clientkey_caller_end_to_end() {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["acs/ram/user/*"]);
    let ak = kms.put_ram_credential(SECRET);
    let credential = KmsIdentity::ClientKey {
        key: ClientKeySource::File(ap.client_key_file.clone()),
        password: vec![PasswordSource::File(ap.password_file.clone())],
    };
    let client = GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap();
    assert_eq!(client.endpoint(), &kms.gateway_endpoint());
    let value = fetch(&client, SECRET).await.unwrap();
    assert_holds(&value, &ak.access_key_id);
    assert_eq!(value.secret_type, "RAMCredentials");
    assert_eq!(value.version_stages, ["ACSCurrent"]);
    assert_eq!(value.rotation_interval, "604800s");
    assert!(value.extended_config.contains("RamUserAccessKey"));
    assert!(!value.request_id.is_empty());
    let requests = kms.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].protocol, "gateway");
    assert_eq!(requests[0].key_id, ap.key_id);
    assert_eq!(requests[0].outcome, "OK");
    // The access point policy is enforced for ClientKeys too.
    kms.put_generic_secret("other", "x");
    let err = fetch(&client, "other").await.unwrap_err();
    assert_eq!(err.code(), Some("Forbidden.NoPermission"));
}

#[tokio::test]
async fn access_key_caller_sees_rotation_and_both_stages() {
    let kms = LocalKms::start().await.unwrap();
    let first = kms.put_ram_credential(SECRET);
    let client = ak_client(&kms, &["*"]).await;
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &first.access_key_id);
    let second = kms.rotate(SECRET);
    let current = fetch(&client, SECRET).await.unwrap();
    assert_holds(&current, &second.access_key_id);
    assert!(!current.last_rotation_date.is_empty());
    let previous = client
        .get_secret_value(&GetSecretValueRequest {
            version_stage: Some("ACSPrevious".into()),
            fetch_extended_config: false,
            ..GetSecretValueRequest::current(SECRET)
        })
        .await
        .unwrap();
    assert_holds(&previous, &first.access_key_id);
    assert_eq!(previous.version_stages, ["ACSPrevious"]);
    assert!(
        previous.extended_config.is_empty(),
        "asked without FetchExtendedConfig"
    );
}

#[tokio::test]
async fn sts_token_caller_end_to_end_and_expired_token() {
    let kms = LocalKms::start().await.unwrap();
    let ak = kms.put_ram_credential(SECRET);
    let token = kms.issue_sts_token(&["*"], Duration::from_secs(3600));
    let credential = |t: &crate::testing::StsCredentials| KmsIdentity::StsToken {
        access_key_id: t.access_key_id.clone(),
        access_key_secret: t.access_key_secret.as_str().into(),
        security_token: t.security_token.as_str().into(),
    };
    let client = GatewayClient::new(&kms.gateway_config(), &credential(&token), &http()).unwrap();
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &ak.access_key_id);

    let expired = kms.issue_sts_token(&["*"], Duration::ZERO);
    let client = GatewayClient::new(&kms.gateway_config(), &credential(&expired), &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidSecurityToken.Expired"));

    // A token that does not belong to the AccessKey id.
    let wrong = KmsIdentity::StsToken {
        access_key_id: token.access_key_id.clone(),
        access_key_secret: token.access_key_secret.as_str().into(),
        security_token: expired.security_token.as_str().into(),
    };
    let client = GatewayClient::new(&kms.gateway_config(), &wrong, &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("InvalidSecurityToken.MismatchWithAccessKey")
    );
}

#[tokio::test]
async fn ram_role_arn_assumes_once_and_refreshes_before_expiry() {
    let kms = LocalKms::start().await.unwrap();
    let ak = kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let credential = KmsIdentity::RamRoleArn {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
        role_arn: "acs:ram::1234567890123456:role/kms-reader".into(),
        role_session_name: "app-prod-session".into(),
        policy: None,
        duration: Some(Duration::from_secs(3600)),
        sts_endpoint: Some(kms.sts_endpoint()),
    };
    let client = GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap();
    assert_eq!(
        kms.sts_request_count(),
        0,
        "role credentials are fetched lazily"
    );
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &ak.access_key_id);
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &ak.access_key_id);
    assert_eq!(kms.sts_request_count(), 1, "cached between calls");
    let first_key = kms.requests()[0].key_id.clone();
    assert!(first_key.starts_with("STS."), "{first_key}");

    // 3600 s session: refreshed 15 min before Expiration, not earlier.
    jump(Duration::from_secs(44 * 60)).await;
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(kms.sts_request_count(), 1);
    jump(Duration::from_secs(2 * 60)).await;
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(kms.sts_request_count(), 2);
    let last_key = kms.requests().last().unwrap().key_id.clone();
    assert!(last_key.starts_with("STS.") && last_key != first_key);

    // A failed refresh keeps the still-valid credentials in use.
    jump(Duration::from_secs(46 * 60)).await;
    kms.push_sts_fault(Fault::Error {
        http_status: 500,
        code: "InternalError".into(),
        message: "STS is down".into(),
    });
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(kms.sts_request_count(), 3);
    assert_eq!(kms.requests().last().unwrap().key_id, last_key);
}

#[tokio::test]
async fn ram_role_arn_errors_are_typed() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let credential = |arn: &str, secret: &str| KmsIdentity::RamRoleArn {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: secret.into(),
        role_arn: arn.into(),
        role_session_name: "s".into(),
        policy: None,
        duration: None,
        sts_endpoint: Some(kms.sts_endpoint()),
    };
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &credential("not-an-arn", &caller.access_key_secret),
        &http(),
    )
    .unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameter.RoleArn"));
    assert!(
        err.to_string().contains("STS AssumeRole of not-an-arn"),
        "{err}"
    );
    assert_eq!(err.endpoint(), kms.sts_endpoint().to_string());

    let client = GatewayClient::new(
        &kms.gateway_config(),
        &credential("acs:ram::1:role/r", "wrong-secret"),
        &http(),
    )
    .unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    assert_eq!(
        kms.total_requests(),
        0,
        "KMS is never called without credentials"
    );
}

#[tokio::test]
async fn ecs_ram_role_uses_imdsv2_discovers_the_role_and_refreshes() {
    let kms = LocalKms::start().await.unwrap();
    let ak = kms.put_ram_credential(SECRET);
    kms.set_ecs_role(Some("app-prod-ecs-role"));
    kms.set_ecs_credential_lifetime(Duration::from_secs(3600));
    let credential = KmsIdentity::EcsRamRole {
        role_name: None,
        metadata_endpoint: Some(kms.ecs_metadata_endpoint()),
    };
    let client = GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap();
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &ak.access_key_id);
    let log = kms.ecs_metadata_requests();
    let summary: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                r.with_token,
                r.http_status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("PUT", "/latest/api/token", false, 200),
            (
                "GET",
                "/latest/meta-data/ram/security-credentials/",
                true,
                200
            ),
            (
                "GET",
                "/latest/meta-data/ram/security-credentials/app-prod-ecs-role",
                true,
                200
            ),
        ]
    );
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(kms.ecs_metadata_requests().len(), 3, "cached");
    jump(Duration::from_secs(46 * 60)).await;
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(
        kms.ecs_metadata_requests().len(),
        6,
        "refreshed 15 min before expiry"
    );
}

#[tokio::test]
async fn ecs_ram_role_falls_back_to_imdsv1_and_reports_a_missing_role() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    kms.set_ecs_role(Some("r1"));
    kms.set_ecs_imdsv2(false);
    let credential = |role: Option<&str>| KmsIdentity::EcsRamRole {
        role_name: role.map(str::to_owned),
        metadata_endpoint: Some(kms.ecs_metadata_endpoint()),
    };
    let client =
        GatewayClient::new(&kms.gateway_config(), &credential(Some("r1")), &http()).unwrap();
    fetch(&client, SECRET).await.unwrap();
    let log = kms.ecs_metadata_requests();
    assert_eq!((log[0].method.as_str(), log[0].http_status), ("PUT", 404));
    assert_eq!(log[1].path, "/latest/meta-data/ram/security-credentials/r1");
    assert!(!log[1].with_token);

    let client =
        GatewayClient::new(&kms.gateway_config(), &credential(Some("r2")), &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::InvalidResponse {
                http_status: 404,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("credentials_role_name"), "{err}");

    kms.set_ecs_role(None);
    let client = GatewayClient::new(&kms.gateway_config(), &credential(None), &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        err.to_string().contains("discovering the ECS RAM role"),
        "{err}"
    );
}

#[tokio::test]
async fn each_error_code_is_typed_and_not_retried() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["acs/ram/user/*"]);
    let client =
        GatewayClient::new(&kms.gateway_config(), &ak_credential(&caller), &http()).unwrap();

    let err = fetch(&client, "acs/ram/user/missing").await.unwrap_err();
    assert_eq!(err.code(), Some("Forbidden.ResourceNotFound"));
    let KmsError::Service {
        http_status,
        details,
        request_id,
        ..
    } = &err
    else {
        panic!()
    };
    assert_eq!(*http_status, 404);
    let details = details.as_deref().unwrap();
    assert!(
        details.contains("HostId: kms.cn-hangzhou.aliyuncs.com")
            && details.contains("Recommend: https://")
    );
    assert!(!request_id.is_empty());

    kms.put_generic_secret("other", "x");
    assert_eq!(
        fetch(&client, "other").await.unwrap_err().code(),
        Some("Forbidden.NoPermission")
    );

    let unknown = KmsIdentity::AccessKey {
        access_key_id: "LTAI00000000000000unknown".into(),
        access_key_secret: "x".into(),
    };
    let c = GatewayClient::new(&kms.gateway_config(), &unknown, &http()).unwrap();
    assert_eq!(
        fetch(&c, SECRET).await.unwrap_err().code(),
        Some("InvalidAccessKeyId.NotFound")
    );

    let wrong_secret = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: "not-the-secret".into(),
    };
    let c = GatewayClient::new(&kms.gateway_config(), &wrong_secret, &http()).unwrap();
    let err = fetch(&c, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    let text = err.to_string();
    assert!(text.contains("secret (or ClientKey) is wrong"), "{text}");
    assert!(
        !text.contains("POST&%2F"),
        "server string-to-sign is not echoed: {text}"
    );

    kms.set_gateway_clock_offset(3600);
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("IllegalTimestamp"));
    kms.set_gateway_clock_offset(0);

    // Every one of those was a single request.
    assert_eq!(kms.total_requests(), 5);
    fetch(&client, SECRET).await.unwrap();
}

#[tokio::test]
async fn retryable_failures_are_retried_with_fresh_nonces_and_signatures() {
    let kms = LocalKms::start().await.unwrap();
    let ak = kms.put_ram_credential(SECRET);
    let client = ak_client(&kms, &["*"]).await;
    kms.push_fault(Fault::throttling());
    kms.push_fault(Fault::Error {
        http_status: 503,
        code: "ServiceUnavailableTemporary".into(),
        message: "Service Unavailable Temporary.".into(),
    });
    kms.push_fault(Fault::DropConnection);
    assert_holds(&fetch(&client, SECRET).await.unwrap(), &ak.access_key_id);
    let requests = kms.requests();
    let outcomes: Vec<_> = requests.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "Rejected.Throttling",
            "ServiceUnavailableTemporary",
            "DropConnection",
            "OK"
        ]
    );
    let nonces = kms.gateway_nonces();
    assert_eq!(nonces.len(), 4);
    assert_eq!(
        nonces.iter().collect::<HashSet<_>>().len(),
        4,
        "a fresh nonce per attempt"
    );
    let signatures: HashSet<_> = requests.iter().map(|r| r.signature.clone()).collect();
    assert_eq!(signatures.len(), 4, "re-signed per attempt");

    kms.clear_requests();
    kms.push_fault(Fault::Error {
        http_status: 500,
        code: "InternalFailure".into(),
        message: "Internal Failure".into(),
    });
    kms.push_fault(Fault::Garbage { http_status: 502 });
    fetch(&client, SECRET).await.unwrap();
    assert_eq!(kms.total_requests(), 3);

    kms.clear_requests();
    kms.set_fault_always(Some(Fault::throttling()));
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert_eq!(err.code(), Some("Rejected.Throttling"));
    assert_eq!(kms.total_requests(), 4, "max_attempts");
}

#[tokio::test]
async fn malformed_and_oversized_answers_are_clear_errors() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let client = ak_client(&kms, &["*"]).await;
    kms.push_fault(Fault::Garbage { http_status: 200 });
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::InvalidResponse {
                http_status: 200,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not the expected JSON"), "{err}");
    assert_eq!(kms.total_requests(), 1, "a malformed 200 is not retried");

    kms.push_fault(Fault::Garbage { http_status: 403 });
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        err.to_string().contains("not a KMS error document"),
        "{err}"
    );

    kms.push_fault(Fault::Oversized { bytes: 2 << 20 });
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
}

#[tokio::test]
async fn tls_is_verified_and_bad_inputs_are_rejected_up_front() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let credential = ak_credential(&caller);

    // Without caFilePath the LocalKms CA is not trusted: public roots only.
    let untrusted = GatewayEndpointConfig {
        ca_file: None,
        ..kms.gateway_config()
    };
    let client = GatewayClient::new(&untrusted, &credential, &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::Transport {
                kind: TransportErrorKind::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("caFilePath"), "{err}");
    assert!(
        !err.to_string().contains("Signature="),
        "no URL (token, signature) in errors: {err}"
    );

    // A name the certificate was not issued for.
    let wrong_host = GatewayEndpointConfig {
        endpoint: Endpoint {
            host: "kms-vpc.cn-hangzhou.aliyuncs.com".into(),
            port: kms.gateway_addr().port(),
        },
        ..kms.gateway_config()
    };
    let client = GatewayClient::new(&wrong_host, &credential, &http()).unwrap();
    assert!(matches!(
        fetch(&client, SECRET).await.unwrap_err(),
        KmsError::Transport {
            kind: TransportErrorKind::Tls,
            ..
        }
    ));

    let missing_region = GatewayEndpointConfig {
        region_id: String::new(),
        ..kms.gateway_config()
    };
    let err = GatewayClient::new(&missing_region, &credential, &http()).unwrap_err();
    assert!(err.to_string().contains("regionId is missing"), "{err}");

    let bad_endpoint = GatewayEndpointConfig {
        endpoint: Endpoint {
            host: "https://kms.cn-hangzhou.aliyuncs.com/".into(),
            port: 443,
        },
        ..kms.gateway_config()
    };
    let err = GatewayClient::new(&bad_endpoint, &credential, &http()).unwrap_err();
    assert!(err.to_string().contains("without scheme or path"), "{err}");

    let missing_ca = GatewayEndpointConfig {
        ca_file: Some(kms.dir().join("no-such-ca.pem")),
        ..kms.gateway_config()
    };
    let err = GatewayClient::new(&missing_ca, &credential, &http()).unwrap_err();
    assert!(err.to_string().contains("no-such-ca.pem"), "{err}");

    let empty_secret = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: "".into(),
    };
    let err = GatewayClient::new(&kms.gateway_config(), &empty_secret, &http()).unwrap_err();
    assert!(
        err.to_string().contains("credentials_access_secret"),
        "{err}"
    );

    // Nothing above reached the gateway's verification with a usable request.
    assert!(kms.requests().iter().all(|r| r.outcome != "OK"));
    let debug = format!(
        "{:?}",
        GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap()
    );
    assert!(
        !debug.contains(caller.access_key_secret.as_str()),
        "{debug}"
    );
}
