//! V3 (`ACS3-HMAC-SHA256`) end to end against LocalKms over real TLS on 127.0.0.1, with the
//! server recomputing every signature: every RAM caller type (AccessKey, STS token, RAM role
//! ARN through the fake STS `AssumeRole`, ECS RAM role through the fake metadata service) on
//! the shared gateway and on the KMS instance gateway reached by its host name; the default
//! signature per endpoint; wrong secrets, tampered requests and a wrong instance CA.

use std::time::Duration;

use crate::config::{
    GatewayEndpointConfig, GatewaySignature, HttpConfig, KmsIdentity, RetryConfig,
};
use crate::kms::gateway::acs3::{self, Acs3Request};
use crate::kms::gateway::signing::{format_timestamp, new_nonce, SigningKey};
use crate::kms::gateway::GatewayClient;
use crate::kms::{GetSecretValueRequest, KmsClient, KmsError, SecretValue, TransportErrorKind};
use crate::testing::LocalKms;

const SECRET: &str = "acs/ram/user/app";
const ROLE: &str = "app-ecs-role";

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

async fn fetch(client: &GatewayClient, name: &str) -> Result<SecretValue, KmsError> {
    client
        .get_secret_value(&GetSecretValueRequest::current(name))
        .await
}

/// The four RAM caller types, named, with the id prefix their requests carry.
fn ram_callers(kms: &LocalKms) -> Vec<(&'static str, KmsIdentity, String)> {
    let ak = kms.register_access_key(&["acs/ram/user/*"]);
    let sts = kms.issue_sts_token(&["acs/ram/user/*"], Duration::from_secs(3600));
    let role_caller = kms.register_access_key(&["acs/ram/user/*"]);
    kms.set_ecs_role(Some(ROLE));
    vec![
        (
            "AccessKey",
            KmsIdentity::AccessKey {
                access_key_id: ak.access_key_id.clone(),
                access_key_secret: ak.access_key_secret.as_str().into(),
            },
            ak.access_key_id.clone(),
        ),
        (
            "STS token",
            KmsIdentity::StsToken {
                access_key_id: sts.access_key_id.clone(),
                access_key_secret: sts.access_key_secret.as_str().into(),
                security_token: sts.security_token.as_str().into(),
            },
            sts.access_key_id.clone(),
        ),
        (
            "RAM role ARN",
            KmsIdentity::RamRoleArn {
                access_key_id: role_caller.access_key_id.clone(),
                access_key_secret: role_caller.access_key_secret.as_str().into(),
                role_arn: "acs:ram::1234567890123456:role/kms-reader".into(),
                role_session_name: "app-prod-session".into(),
                policy: None,
                duration: None,
                sts_endpoint: Some(kms.sts_endpoint()),
            },
            "STS.".into(),
        ),
        (
            "ECS RAM role",
            KmsIdentity::EcsRamRole {
                role_name: Some(ROLE.into()),
                metadata_endpoint: Some(kms.ecs_metadata_endpoint()),
            },
            "STS.".into(),
        ),
    ]
}

fn v3(config: GatewayEndpointConfig) -> GatewayEndpointConfig {
    GatewayEndpointConfig {
        signature: Some(GatewaySignature::Acs3HmacSha256),
        ..config
    }
}

#[tokio::test]
async fn every_ram_caller_fetches_with_v3_from_the_shared_and_the_instance_gateway() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(SECRET);
    let callers = ram_callers(&kms);
    let gateways = [
        ("shared", v3(kms.gateway_config()), "gateway-v3"),
        // No signatureVersion: an instance gateway defaults to V3.
        (
            "instance",
            kms.instance_gateway_config(),
            "instance-gateway-v3",
        ),
    ];
    let mut seen = Vec::new();
    for (gateway, config, protocol) in &gateways {
        for (caller, identity, id_prefix) in &callers {
            let client = GatewayClient::new(config, identity, &http()).unwrap();
            kms.clear_requests();
            let value = fetch(&client, SECRET)
                .await
                .unwrap_or_else(|e| panic!("{caller} via the {gateway} gateway: {e}"));
            let data: serde_json::Value = serde_json::from_str(value.secret_data.expose()).unwrap();
            assert_eq!(
                data["AccessKeyId"],
                pair.access_key_id.as_str(),
                "{caller}/{gateway}"
            );
            let requests = kms.requests();
            assert_eq!(
                requests.len(),
                1,
                "{caller}/{gateway}: one request, no retry"
            );
            let request = &requests[0];
            assert_eq!(request.protocol, *protocol, "{caller}/{gateway}");
            assert_eq!(request.outcome, "OK");
            assert_eq!(request.api_name, "GetSecretValue");
            assert!(
                request.key_id.starts_with(id_prefix.as_str()),
                "{caller}/{gateway}: {}",
                request.key_id
            );
            assert_eq!(request.signature.len(), 64, "hex HMAC-SHA256");
            seen.push(format!("{caller}/{gateway}"));
        }
    }
    assert_eq!(seen.len(), 8);
    // The role sessions really went through the fake STS and metadata service.
    assert!(kms.sts_request_count() >= 2);
    assert!(!kms.ecs_metadata_requests().is_empty());
}

#[tokio::test]
async fn default_signature_is_rpc_v1_on_the_shared_gateway_and_v3_on_the_instance_gateway() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let identity = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
    };
    let instance_v1 = GatewayEndpointConfig {
        signature: Some(GatewaySignature::RpcV1),
        ..kms.instance_gateway_config()
    };
    for (config, protocol) in [
        (kms.gateway_config(), "gateway"),
        (kms.instance_gateway_config(), "instance-gateway-v3"),
        (instance_v1, "instance-gateway"),
    ] {
        let client = GatewayClient::new(&config, &identity, &http()).unwrap();
        kms.clear_requests();
        fetch(&client, SECRET).await.unwrap();
        assert_eq!(kms.requests()[0].protocol, protocol);
    }
}

#[tokio::test]
async fn a_wrong_secret_is_a_typed_signature_error_without_retries() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let sts = kms.issue_sts_token(&["*"], Duration::from_secs(3600));
    let wrong_ak = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: "not-the-secret".into(),
    };
    let wrong_token = KmsIdentity::StsToken {
        access_key_id: sts.access_key_id.clone(),
        access_key_secret: sts.access_key_secret.as_str().into(),
        security_token: "CAISwrong+/=".into(),
    };
    let unknown = KmsIdentity::AccessKey {
        access_key_id: "LTAI5tUnknownCaller".into(),
        access_key_secret: "whatever".into(),
    };
    for config in [v3(kms.gateway_config()), kms.instance_gateway_config()] {
        // Each with the secrets it was given, which must not show in the error.
        for (identity, code, status, sent) in [
            (
                &wrong_ak,
                "SignatureDoesNotMatch",
                400,
                vec!["not-the-secret"],
            ),
            (
                &wrong_token,
                "InvalidSecurityToken.MismatchWithAccessKey",
                400,
                vec![sts.access_key_secret.as_str(), "CAISwrong+/="],
            ),
            (
                &unknown,
                "InvalidAccessKeyId.NotFound",
                404,
                vec!["whatever"],
            ),
        ] {
            let client = GatewayClient::new(&config, identity, &http()).unwrap();
            kms.clear_requests();
            let err = fetch(&client, SECRET).await.unwrap_err();
            match &err {
                KmsError::Service {
                    code: got,
                    http_status,
                    message,
                    ..
                } => {
                    assert_eq!(got, code, "{err}");
                    assert_eq!(*http_status, status, "{err}");
                    if code == "SignatureDoesNotMatch" {
                        assert!(
                            message.contains("the AccessKey secret (or ClientKey) is wrong"),
                            "{message}"
                        );
                    }
                }
                other => panic!("{other:?}"),
            }
            assert!(!err.is_retryable());
            assert_eq!(kms.total_requests(), 1, "{code}: not retried");
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains(caller.access_key_secret.as_str())
                    && !text.contains(sts.security_token.as_str()),
                "{text}"
            );
            for secret in &sent {
                assert!(!text.contains(secret), "{code}: {text}");
            }
        }
    }
}

/// Sends a V3 request signed by `acs3::sign` after `tamper` changed it, straight to the
/// LocalKms shared gateway, and returns (status, Code).
async fn send_tampered(
    kms: &LocalKms,
    key: &SigningKey,
    date: &str,
    nonce: &str,
    tamper: impl FnOnce(&mut Vec<(&'static str, String)>),
) -> (u16, String) {
    let endpoint = kms.gateway_endpoint();
    let host = endpoint.authority();
    let query = vec![("SecretName".to_owned(), SECRET.to_owned())];
    let signed = acs3::sign(
        &Acs3Request {
            method: "POST",
            host: &host,
            action: "GetSecretValue",
            version: "2016-01-20",
            date,
            nonce,
            user_agent: "test",
            credentials_provider: None,
            query: &query,
            body: b"",
        },
        key,
    )
    .unwrap();
    let mut headers = signed.headers;
    tamper(&mut headers);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(kms.ca_file()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .resolve(&endpoint.host, kms.gateway_addr())
        .build()
        .unwrap();
    let mut request = client.post(format!("https://{host}/?{}", signed.query));
    for (name, value) in &headers {
        request = request.header(*name, value.as_str());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    (status, body["Code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn localkms_rejects_tampered_unsigned_replayed_and_stale_v3_requests() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let sts = kms.issue_sts_token(&["*"], Duration::from_secs(3600));
    let ak = SigningKey::Hmac {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
        security_token: None,
    };
    let token = SigningKey::Hmac {
        access_key_id: sts.access_key_id.clone(),
        access_key_secret: sts.access_key_secret.as_str().into(),
        security_token: Some(sts.security_token.as_str().into()),
    };
    let now = format_timestamp(std::time::SystemTime::now());
    let set = |name: &'static str, value: &str| {
        let value = value.to_owned();
        move |h: &mut Vec<(&'static str, String)>| {
            for (n, v) in h.iter_mut() {
                if *n == name {
                    *v = value.clone();
                }
            }
        }
    };
    // Untouched: accepted; the same nonce again: a replay.
    let nonce = new_nonce();
    assert_eq!(
        send_tampered(&kms, &ak, &now, &nonce, |_| {}).await,
        (200, String::new())
    );
    assert_eq!(
        send_tampered(&kms, &ak, &now, &nonce, |_| {}).await,
        (400, "SignatureNonceUsed".into())
    );
    // A signed header changed after signing.
    assert_eq!(
        send_tampered(&kms, &ak, &now, &new_nonce(), set("user-agent", "other")).await,
        (400, "SignatureDoesNotMatch".into())
    );
    // An x-acs-* header sent but left out of SignedHeaders.
    let unsigned = |h: &mut Vec<(&'static str, String)>| {
        h.push(("x-acs-extra", "1".into()));
    };
    assert_eq!(
        send_tampered(&kms, &ak, &now, &new_nonce(), unsigned).await,
        (400, "IncompleteSignature".into())
    );
    // STS credentials signed without their token.
    let no_token = SigningKey::Hmac {
        access_key_id: sts.access_key_id.clone(),
        access_key_secret: sts.access_key_secret.as_str().into(),
        security_token: None,
    };
    assert_eq!(
        send_tampered(&kms, &no_token, &now, &new_nonce(), |_| {}).await,
        (400, "MissingSecurityToken".into())
    );
    // The token removed after signing (and from SignedHeaders).
    let without_token = |h: &mut Vec<(&'static str, String)>| {
        h.retain(|(n, _)| *n != "x-acs-security-token");
        for (n, v) in h.iter_mut() {
            if *n == "authorization" {
                *v = v.replace("x-acs-security-token;", "");
            }
        }
    };
    assert_eq!(
        send_tampered(&kms, &token, &now, &new_nonce(), without_token).await,
        (400, "SignatureDoesNotMatch".into())
    );
    // 20 minutes old.
    let stale = format_timestamp(std::time::SystemTime::now() - Duration::from_secs(1200));
    assert_eq!(
        send_tampered(&kms, &ak, &stale, &new_nonce(), |_| {}).await,
        (400, "IllegalTimestamp".into())
    );
    // The body hash lies.
    assert_eq!(
        send_tampered(
            &kms,
            &ak,
            &now,
            &new_nonce(),
            set("x-acs-content-sha256", &"0".repeat(64))
        )
        .await,
        (400, "SignatureDoesNotMatch".into())
    );
    // ACS3-RSA-SHA256 is not accepted for RAM callers.
    assert_eq!(
        send_tampered(&kms, &ak, &now, &new_nonce(), |h| {
            for (n, v) in h.iter_mut() {
                if *n == "authorization" {
                    *v = v.replace("ACS3-HMAC-SHA256", "ACS3-RSA-SHA256");
                }
            }
        })
        .await,
        (400, "IncompleteSignature".into())
    );
}

#[tokio::test]
async fn the_instance_gateway_trusts_exactly_its_ca_file() {
    let kms = LocalKms::start().await.unwrap();
    let other = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let identity = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
    };
    // The CA file of another instance (another root): refused, bounded retries.
    let wrong_ca = GatewayEndpointConfig {
        ca_file: Some(other.ca_file().to_owned()),
        ..kms.instance_gateway_config()
    };
    let client = GatewayClient::new(&wrong_ca, &identity, &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    let KmsError::Transport { kind, detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, TransportErrorKind::Tls, "{detail}");
    assert!(detail.contains("KMS instance gateway"), "{detail}");
    // Both LocalKms roots are called "Private KMS Root CA", like real instance CAs.
    assert!(detail.contains("BadSignature"), "{detail}");
    assert!(
        detail.contains(&format!(
            "not issued by the CA in {}",
            other.ca_file().display()
        )),
        "{detail}"
    );
    assert_eq!(kms.total_requests(), 0, "no request got past the handshake");
    // The server notes the last failed handshake just after the client gave up: wait for it.
    let attempts = http().retry.max_attempts as usize;
    for _ in 0..1000 {
        if kms.tls_handshake_failures() >= attempts {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        kms.tls_handshake_failures(),
        attempts,
        "one handshake per attempt (max_attempts), no more"
    );

    // The shared-gateway trust (public roots + caFilePath) would accept a certificate of this
    // PKI; the instance gateway accepts only its own CA file and nothing added to it.
    let missing_ca = GatewayEndpointConfig {
        ca_file: None,
        ..kms.instance_gateway_config()
    };
    let err = GatewayClient::new(&missing_ca, &identity, &http()).unwrap_err();
    assert!(err.to_string().contains("caFilePath"), "{err}");

    // A CA file that is not PEM is a typed error naming the file, before any request.
    let bogus = kms.dir().join("not-a-ca.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let err = GatewayClient::new(
        &GatewayEndpointConfig {
            ca_file: Some(bogus.clone()),
            ..kms.instance_gateway_config()
        },
        &identity,
        &http(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not-a-ca.pem"), "{err}");

    // The right CA file works.
    let client = GatewayClient::new(&kms.instance_gateway_config(), &identity, &http()).unwrap();
    fetch(&client, SECRET).await.unwrap();
}

#[tokio::test]
async fn an_instance_gateway_certificate_from_an_unknown_root_is_refused() {
    let kms = LocalKms::builder()
        .server_certificate(crate::testing::ServerCertificate::SelfSigned)
        .start()
        .await
        .unwrap();
    kms.put_ram_credential(SECRET);
    let caller = kms.register_access_key(&["*"]);
    let identity = KmsIdentity::AccessKey {
        access_key_id: caller.access_key_id.clone(),
        access_key_secret: caller.access_key_secret.as_str().into(),
    };
    let client = GatewayClient::new(&kms.instance_gateway_config(), &identity, &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    let KmsError::Transport { kind, detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, TransportErrorKind::Tls, "{detail}");
    assert!(detail.contains("unknown issuer"), "{detail}");
    assert!(detail.contains("caFilePath"), "{detail}");
    assert_eq!(kms.total_requests(), 0);
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_is_a_typed_error_without_the_token() {
    let kms = LocalKms::start().await.unwrap();
    kms.put_ram_credential(SECRET);
    let identity = KmsIdentity::StsToken {
        access_key_id: "STS.example".into(),
        access_key_secret: "secret".into(),
        security_token: "CAIS-line\nbreak".into(),
    };
    let client = GatewayClient::new(&kms.instance_gateway_config(), &identity, &http()).unwrap();
    let err = fetch(&client, SECRET).await.unwrap_err();
    assert!(matches!(err, KmsError::Request { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("x-acs-security-token"), "{text}");
    assert!(
        !text.contains("line\nbreak") && !text.contains("CAIS-line"),
        "{text}"
    );
    assert_eq!(kms.total_requests(), 0);
}
