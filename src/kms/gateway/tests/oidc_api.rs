//! OIDC / RRSA callers and caller-session invalidation end to end against LocalKms (real TLS on
//! 127.0.0.1, anonymous STS `AssumeRoleWithOIDC` verifying the token LocalKms issued, gateway
//! signatures verified with the issued STS credentials). Time moves on tokio's clock only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{HttpConfig, KmsIdentity, RetryConfig};
use crate::kms::gateway::GatewayClient;
use crate::kms::{GetSecretValueRequest, KmsClient, KmsError, SecretValue};
use crate::testing::{Fault, LocalKms, OidcRole};

const SECRET: &str = "acs/ram/user/app";

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

fn oidc_identity(kms: &LocalKms, role: &OidcRole, duration: Option<Duration>) -> KmsIdentity {
    oidc_identity_with(kms, role, role.token_file.clone(), duration)
}

fn oidc_identity_with(
    kms: &LocalKms,
    role: &OidcRole,
    token_file: PathBuf,
    duration: Option<Duration>,
) -> KmsIdentity {
    KmsIdentity::OidcRoleArn {
        role_arn: Some(role.role_arn.clone()),
        oidc_provider_arn: Some(role.oidc_provider_arn.clone()),
        oidc_token_file: Some(token_file),
        role_session_name: Some("app-prod-rrsa".into()),
        policy: None,
        duration,
        sts_region_id: None,
        sts_vpc: None,
        sts_endpoint: Some(kms.sts_endpoint()),
    }
}

async fn fetch(client: &GatewayClient) -> Result<SecretValue, KmsError> {
    client
        .get_secret_value(&GetSecretValueRequest::current(SECRET))
        .await
}

/// Moves the tokio clock forward without leaving it paused during network I/O.
async fn jump(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

fn last_gateway_key(kms: &LocalKms) -> String {
    kms.requests().last().unwrap().key_id.clone()
}

#[tokio::test]
async fn oidc_caller_reads_a_secret_with_an_anonymous_sts_call() {
    let kms = LocalKms::start().await.unwrap();
    let ak = kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["acs/ram/user/*"]);
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity(&kms, &role, None),
        &http(),
    )
    .unwrap();
    assert_eq!(kms.sts_request_count(), 0, "fetched lazily");
    let value = fetch(&client).await.unwrap();
    let data: serde_json::Value = serde_json::from_str(value.secret_data.expose()).unwrap();
    assert_eq!(data["AccessKeyId"], ak.access_key_id);
    fetch(&client).await.unwrap();
    assert_eq!(kms.sts_request_count(), 1, "the session is cached");

    let sts = kms.oidc_sts_requests();
    assert_eq!(sts.len(), 1);
    let request = &sts[0];
    assert_eq!(request.http_status, 200);
    assert_eq!(request.method, "POST");
    let query: Vec<&str> = request.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(query, ["Version", "Action", "Format", "Timestamp"]);
    assert_eq!(
        request.body_params,
        [
            "OIDCProviderArn",
            "OIDCToken",
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds"
        ]
    );
    assert!(
        request
            .header_names
            .iter()
            .all(|h| h != "authorization" && !h.starts_with("x-acs-")),
        "{:?}",
        request.header_names
    );
    assert_eq!(request.role_session_name, "app-prod-rrsa");
    assert_eq!(request.token_generation, Some(1));
    let issued = request.issued_access_key_id.clone().unwrap();
    assert_eq!(last_gateway_key(&kms), issued);
}

#[tokio::test]
async fn the_token_file_is_read_again_at_each_refresh() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity(&kms, &role, Some(Duration::from_secs(3600))),
        &http(),
    )
    .unwrap();
    fetch(&client).await.unwrap();
    let first = last_gateway_key(&kms);
    // The kubelet rotates the token; LocalKms now refuses the old one.
    kms.rotate_oidc_token(&role);
    jump(Duration::from_secs(30 * 60)).await;
    fetch(&client).await.unwrap();
    assert_eq!(kms.sts_request_count(), 1, "not due yet");
    jump(Duration::from_secs(16 * 60)).await;
    fetch(&client).await.unwrap();
    let sts = kms.oidc_sts_requests();
    assert_eq!(sts.len(), 2);
    assert_eq!(sts[1].token_generation, Some(2), "the new token was sent");
    assert_eq!(sts[1].http_status, 200);
    assert_ne!(last_gateway_key(&kms), first);
}

#[tokio::test]
async fn sts_outage_keeps_the_valid_session_until_it_expires() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity(&kms, &role, Some(Duration::from_secs(3600))),
        &http(),
    )
    .unwrap();
    fetch(&client).await.unwrap();
    let session = last_gateway_key(&kms);
    kms.set_sts_fault_always(Some(Fault::Error {
        http_status: 500,
        code: "InternalError".into(),
        message: "STS is down".into(),
    }));
    // From the refresh point (45 min) to shortly before expiry every read succeeds with the
    // old session (the official Python client fails all of these), and STS is asked with
    // growing pauses rather than on every read.
    jump(Duration::from_secs(45 * 60)).await;
    let mut reads = 0;
    for _ in 0..13 * 6 {
        fetch(&client).await.unwrap();
        assert_eq!(last_gateway_key(&kms), session);
        reads += 1;
        jump(Duration::from_secs(10)).await;
    }
    let sts_calls = kms.sts_request_count() - 1;
    assert!(sts_calls >= 3, "refresh retried: {sts_calls}");
    assert!(
        sts_calls * 4 < reads,
        "{sts_calls} STS calls for {reads} reads"
    );
    // Past Expiration − 60 s the session is not used any more: the STS error surfaces.
    jump(Duration::from_secs(2 * 60)).await;
    let err = fetch(&client).await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"), "{err}");
    assert!(err.to_string().contains("AssumeRoleWithOIDC"), "{err}");
    // STS is back: one call, a new session.
    kms.set_sts_fault_always(None);
    let before = kms.sts_request_count();
    fetch(&client).await.unwrap();
    assert_eq!(kms.sts_request_count(), before + 1);
    assert_ne!(last_gateway_key(&kms), session);
}

#[tokio::test]
async fn concurrent_first_reads_make_one_sts_call() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let client = Arc::new(
        GatewayClient::new(
            &kms.gateway_config(),
            &oidc_identity(&kms, &role, None),
            &http(),
        )
        .unwrap(),
    );
    let reads = (0..16).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { fetch(&client).await.map(|_| ()) })
    });
    for read in futures_join(reads).await {
        read.unwrap();
    }
    assert_eq!(kms.sts_request_count(), 1);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

/// Reads through `client` after LocalKms stopped accepting the session (`kill`): the refusal
/// drops it, and the next reads — one after another, then 16 at once — cost exactly one new
/// session fetch (`fetches()` counts them).
async fn refused_session_is_replaced_once(
    kms: &LocalKms,
    client: Arc<GatewayClient>,
    kill: impl Fn(&str),
    expected_code: &str,
    fetches: impl Fn() -> usize,
) {
    fetch(&client).await.unwrap();
    let session = last_gateway_key(kms);
    let before = fetches();
    let requests = kms.request_count(SECRET);
    kill(&session);
    // Refused, dropped, and sent again at once with a new session: the caller sees no failure.
    fetch(&client).await.unwrap();
    assert_eq!(
        kms.request_count(SECRET),
        requests + 2,
        "refused, then sent again"
    );
    assert_eq!(fetches(), before + 1, "one new session");
    let second = last_gateway_key(kms);
    assert_ne!(second, session);

    // Many concurrent readers see the refusal; still one fetch, and no reader fails.
    kill(&second);
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { fetch(&client).await.map(|_| ()) })
        })
        .collect();
    for result in futures_join(reads.into_iter()).await {
        result.unwrap();
    }
    assert_eq!(fetches(), before + 2);
    assert_ne!(last_gateway_key(kms), second);

    // Refused again with the new session too: the refusal is returned after one more try, not
    // retried in a loop (one new session per call).
    let requests = kms.request_count(SECRET);
    kms.set_fault_always(Some(Fault::Error {
        http_status: 401,
        code: expected_code.into(),
        message: "refused".into(),
    }));
    let err = fetch(&client).await.unwrap_err();
    kms.set_fault_always(None);
    assert_eq!(err.code(), Some(expected_code), "{err}");
    assert_eq!(kms.request_count(SECRET), requests + 2, "one more try only");
    assert_eq!(
        fetches(),
        before + 3,
        "the refused session was replaced once"
    );
}

#[tokio::test]
async fn revoked_oidc_session_is_replaced_with_one_sts_call() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let client = Arc::new(
        GatewayClient::new(
            &kms.gateway_config(),
            &oidc_identity(&kms, &role, None),
            &http(),
        )
        .unwrap(),
    );
    refused_session_is_replaced_once(
        &kms,
        client,
        |id| assert!(kms.revoke_caller(id)),
        "InvalidAccessKeyId.NotFound",
        || kms.sts_request_count(),
    )
    .await;
}

#[tokio::test]
async fn expired_early_oidc_session_is_replaced_with_one_sts_call() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let client = Arc::new(
        GatewayClient::new(
            &kms.gateway_config(),
            &oidc_identity(&kms, &role, None),
            &http(),
        )
        .unwrap(),
    );
    refused_session_is_replaced_once(
        &kms,
        client,
        |id| assert!(kms.expire_sts_session(id)),
        "InvalidSecurityToken.Expired",
        || kms.sts_request_count(),
    )
    .await;
}

#[tokio::test]
async fn revoked_ram_role_session_is_replaced_with_one_assume_role_call() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let credential = KmsIdentity::RamRoleArn {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
        role_arn: "acs:ram::1234567890123456:role/kms-reader".into(),
        role_session_name: "s".into(),
        policy: None,
        duration: None,
        sts_endpoint: Some(kms.sts_endpoint()),
    };
    let client = Arc::new(GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap());
    refused_session_is_replaced_once(
        &kms,
        client,
        |id| assert!(kms.expire_sts_session(id)),
        "InvalidSecurityToken.Expired",
        || kms.sts_request_count(),
    )
    .await;
}

#[tokio::test]
async fn revoked_ecs_role_session_is_replaced_with_one_metadata_fetch() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    kms.set_ecs_role(Some("app-role"));
    let credential = KmsIdentity::EcsRamRole {
        role_name: Some("app-role".into()),
        metadata_endpoint: Some(kms.ecs_metadata_endpoint()),
    };
    let client = Arc::new(GatewayClient::new(&kms.gateway_config(), &credential, &http()).unwrap());
    let credential_reads = || {
        kms.ecs_metadata_requests()
            .iter()
            .filter(|r| r.path.ends_with("/app-role"))
            .count()
    };
    refused_session_is_replaced_once(
        &kms,
        client,
        |id| assert!(kms.revoke_caller(id)),
        "InvalidAccessKeyId.NotFound",
        credential_reads,
    )
    .await;
}

#[tokio::test]
async fn static_sts_token_is_not_invalidated_and_other_errors_keep_the_session() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["acs/ram/user/*"]);
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity(&kms, &role, None),
        &http(),
    )
    .unwrap();
    fetch(&client).await.unwrap();
    // A permission error says nothing about the session: it stays.
    kms.put_generic_secret("other", "x");
    let err = client
        .get_secret_value(&GetSecretValueRequest::current("other"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Forbidden.NoPermission"));
    fetch(&client).await.unwrap();
    assert_eq!(kms.sts_request_count(), 1);

    // Nor does a signature mismatch (a proxy rewriting a signed header): a new session would be
    // refused the same way, so it is neither dropped nor the request sent again.
    let requests = kms.request_count(SECRET);
    kms.push_fault(Fault::Error {
        http_status: 400,
        code: "SignatureDoesNotMatch".into(),
        message: "Specified signature is not matched with our calculation.".into(),
    });
    let err = fetch(&client).await.unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"), "{err}");
    assert_eq!(kms.request_count(SECRET), requests + 1, "not sent again");
    fetch(&client).await.unwrap();
    assert_eq!(kms.sts_request_count(), 1, "the session stays");

    // A static STS token cannot be renewed: a refusal leaves it as it is.
    let token = kms.issue_sts_token(&["*"], Duration::from_secs(3600));
    let identity = KmsIdentity::StsToken {
        access_key_id: token.access_key_id.clone(),
        access_key_secret: token.access_key_secret.as_str().into(),
        security_token: token.security_token.as_str().into(),
    };
    let client = GatewayClient::new(&kms.gateway_config(), &identity, &http()).unwrap();
    kms.expire_sts_session(&token.access_key_id);
    for _ in 0..2 {
        let err = fetch(&client).await.unwrap_err();
        assert_eq!(err.code(), Some("InvalidSecurityToken.Expired"));
    }
    assert_eq!(kms.sts_request_count(), 1);
}

#[tokio::test]
async fn sts_refusals_are_typed_and_never_show_the_token() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let role = kms.register_oidc_role(&["*"]);
    let token = std::fs::read_to_string(&role.token_file).unwrap();
    let fake = kms.dir().join("fake-token");
    let forged = format!("{}.forged", token.rsplit_once('.').unwrap().0);
    std::fs::write(&fake, &forged).unwrap();
    let not_jwt = kms.dir().join("not-jwt");
    std::fs::write(&not_jwt, "not-a-jwt\n").unwrap();
    let other = kms.register_oidc_role(&["*"]);
    let other_token = std::fs::read_to_string(&other.token_file).unwrap();

    // Each with the token it sends, which must not show in the error.
    let cases: Vec<(KmsIdentity, &str, &str)> = vec![
        (
            oidc_identity_with(&kms, &role, fake, None),
            "AuthenticationFail.OIDCToken.InvalidSignature",
            forged.as_str(),
        ),
        (
            oidc_identity_with(&kms, &role, not_jwt, None),
            "AuthenticationFail.OIDCToken.Invalid",
            "not-a-jwt",
        ),
        (
            // The other role's token and provider, this role's ARN: not trusted.
            KmsIdentity::OidcRoleArn {
                role_arn: Some(role.role_arn.clone()),
                oidc_provider_arn: Some(other.oidc_provider_arn.clone()),
                oidc_token_file: Some(other.token_file.clone()),
                role_session_name: None,
                policy: None,
                duration: None,
                sts_region_id: None,
                sts_vpc: None,
                sts_endpoint: Some(kms.sts_endpoint()),
            },
            "AuthenticationFail.NoPermission",
            other_token.trim(),
        ),
    ];
    for (identity, code, sent) in cases {
        let client = GatewayClient::new(&kms.gateway_config(), &identity, &http()).unwrap();
        let err = fetch(&client).await.unwrap_err();
        assert_eq!(err.code(), Some(code), "{err}");
        let text = format!("{err} {err:?}");
        assert!(text.contains("AssumeRoleWithOIDC"), "{text}");
        assert!(
            !text.contains(token.trim()) && !text.contains(&forged),
            "{text}"
        );
        assert!(!text.contains(sent), "{code}: {text}");
    }
    // The default session name is ours, with a timestamp like the official ones.
    let names: Vec<String> = kms
        .oidc_sts_requests()
        .iter()
        .map(|r| r.role_session_name.clone())
        .collect();
    assert!(
        names
            .last()
            .unwrap()
            .starts_with("aliyun-managed-credentials-"),
        "{names:?}"
    );

    // A rotated-away token is "expired".
    kms.rotate_oidc_token(&role);
    let stale = kms.dir().join("stale-token");
    std::fs::write(&stale, &token).unwrap();
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity_with(&kms, &role, stale, None),
        &http(),
    )
    .unwrap();
    let err = fetch(&client).await.unwrap_err();
    assert_eq!(err.code(), Some("AuthenticationFail.OIDCToken.Expired"));
    // A missing file is a local error naming the file and the variable.
    let client = GatewayClient::new(
        &kms.gateway_config(),
        &oidc_identity_with(&kms, &role, kms.dir().join("absent"), None),
        &http(),
    )
    .unwrap();
    let err = fetch(&client).await.unwrap_err();
    assert!(matches!(err, KmsError::Request { .. }), "{err:?}");
    assert!(
        err.to_string().contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
        "{err}"
    );
    assert_eq!(
        kms.total_requests(),
        0,
        "KMS is never called without a session"
    );
}

#[tokio::test]
async fn an_unresolved_identity_is_refused_at_construction() {
    let kms = LocalKms::start().await.unwrap();
    let role = kms.register_oidc_role(&["*"]);
    // A `Config` edited field by field skips `build()`, so nothing was taken from the
    // environment: the session refuses to start instead of calling STS without a role.
    let identity = KmsIdentity::OidcRoleArn {
        role_arn: None,
        oidc_provider_arn: Some(role.oidc_provider_arn.clone()),
        oidc_token_file: Some(role.token_file.clone()),
        role_session_name: None,
        policy: None,
        duration: None,
        sts_region_id: None,
        sts_vpc: None,
        sts_endpoint: Some(kms.sts_endpoint()),
    };
    let err = GatewayClient::new(&kms.gateway_config(), &identity, &http()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("credentials_role_arn") && text.contains("ConfigBuilder::build"),
        "{text}"
    );
    // VPC without region or endpoint: refused here too, not sent to the public endpoint.
    let identity = KmsIdentity::OidcRoleArn {
        role_arn: Some(role.role_arn.clone()),
        oidc_provider_arn: Some(role.oidc_provider_arn.clone()),
        oidc_token_file: Some(role.token_file.clone()),
        role_session_name: None,
        policy: None,
        duration: None,
        sts_region_id: None,
        sts_vpc: Some(true),
        sts_endpoint: None,
    };
    let err = GatewayClient::new(&kms.gateway_config(), &identity, &http()).unwrap_err();
    assert!(err.to_string().contains("needs a region"), "{err}");
    assert_eq!(kms.sts_request_count(), 0);
}
