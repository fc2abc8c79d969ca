//! The KMS instance client against the recorded vectors of the official Python SDK: with the date
//! pinned, body, content-sha256, string-to-sign and Authorization must be byte-identical, and
//! every served response body must decode (through the client's own decoder) to the recorded
//! fields or typed errors. No server needed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::{Endpoint, HttpConfig, InstanceEndpointConfig};
use crate::identity::{CaBundle, ClientKey, Password};
use crate::kms::instance::response::decode_response;
use crate::kms::instance::signing::{build_request, http_date};
use crate::kms::instance::InstanceClient;
use crate::kms::{GetSecretValueRequest, KmsClient, KmsError};
use base64::Engine;
use serde_json::Value;

const KEY_ID: &str = "KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kms-instance")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn client_key(profile: &str) -> ClientKey {
    let password = Password::new(read(&format!("clientKey_{KEY_ID}_Password.txt")).trim());
    let name = format!("clientKey_{KEY_ID}_{profile}.json");
    ClientKey::from_json(&read(&name), &password, &name).expect("fixture ClientKey opens")
}

fn golden() -> Vec<Value> {
    let doc: Value = serde_json::from_str(&read("golden_vectors.json")).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

fn endpoint() -> Endpoint {
    Endpoint {
        host: "kst-tst65a1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com".into(),
        port: 443,
    }
}

#[test]
fn golden_requests_are_byte_identical() {
    let vectors = golden();
    assert_eq!(vectors.len(), 3);
    for profile in ["legacy", "alibabalike", "aes256"] {
        let key = client_key(profile);
        assert_eq!(key.key_id(), KEY_ID);
        for v in &vectors {
            let name = v["name"].as_str().unwrap();
            let inputs = &v["inputs"];
            let request = GetSecretValueRequest {
                secret_name: inputs["secret_name"].as_str().unwrap().to_owned(),
                version_stage: inputs["version_stage"].as_str().map(str::to_owned),
                version_id: None,
                fetch_extended_config: inputs["fetch_extended_config"].as_bool().unwrap(),
            };
            let ep = Endpoint {
                host: inputs["endpoint"].as_str().unwrap().to_owned(),
                port: 443,
            };
            let date = inputs["date"].as_str().unwrap();
            let signed = build_request(&key, &ep, &request, date).unwrap();

            assert_eq!(hex::encode(&signed.body), v["body_hex"], "{name} body");
            assert_eq!(signed.content_sha256, v["content_sha256"], "{name} sha");
            assert_eq!(signed.string_to_sign, v["string_to_sign"], "{name} sts");
            assert_eq!(signed.authorization, v["authorization"], "{name} auth");

            // Every protocol header the SDK sent, with the same value (user-agent and the
            // python-requests Accept-Encoding are not part of the protocol).
            for pair in v["headers_as_sent_wire_order"].as_array().unwrap() {
                let wire_name = pair[0].as_str().unwrap().to_ascii_lowercase();
                if wire_name == "user-agent" || wire_name == "accept-encoding" {
                    continue;
                }
                assert_eq!(
                    signed.header(&wire_name),
                    pair[1].as_str(),
                    "{name} header {wire_name}"
                );
            }
            let ua = signed.header("user-agent").unwrap();
            assert!(ua.starts_with("aliyun-managed-credentials/"), "{ua}");
            assert!(ua.ends_with(env!("CARGO_PKG_VERSION")), "{ua}");
            assert_eq!(signed.headers.len(), 12, "{name}: exactly the §1.2 headers");
        }
    }
}

#[test]
fn pinned_date_formats_like_the_sdk() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_706_774_400);
    assert_eq!(
        http_date(t),
        golden()[0]["inputs"]["date"].as_str().unwrap()
    );
    // Zero-padded day.
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_268_427);
    assert_eq!(http_date(t), "Wed, 03 Jan 2024 07:53:47 GMT");
}

#[test]
fn host_header_carries_a_non_default_port() {
    let key = client_key("legacy");
    let ep = Endpoint {
        host: "kst-x.cryptoservice.kms.aliyuncs.com".into(),
        port: 8443,
    };
    let signed = build_request(
        &key,
        &ep,
        &GetSecretValueRequest::current("s"),
        "Thu, 01 Feb 2024 08:00:00 GMT",
    )
    .unwrap();
    assert_eq!(
        signed.header("host"),
        Some("kst-x.cryptoservice.kms.aliyuncs.com:8443")
    );
    // The host is not signed: same string-to-sign as on port 443.
    let on_443 = build_request(
        &key,
        &endpoint(),
        &GetSecretValueRequest::current("s"),
        "Thu, 01 Feb 2024 08:00:00 GMT",
    )
    .unwrap();
    assert_eq!(signed.string_to_sign, on_443.string_to_sign);
    assert_eq!(signed.authorization, on_443.authorization);
}

#[test]
fn signature_changes_with_the_date() {
    let key = client_key("legacy");
    let req = GetSecretValueRequest::current("s");
    let a = build_request(&key, &endpoint(), &req, "Thu, 01 Feb 2024 08:00:00 GMT").unwrap();
    let b = build_request(&key, &endpoint(), &req, "Thu, 01 Feb 2024 08:00:01 GMT").unwrap();
    assert_eq!(a.body, b.body);
    assert_ne!(a.authorization, b.authorization);
}

fn response_index() -> serde_json::Map<String, Value> {
    let index: Value = serde_json::from_str(&read("responses/index.json")).unwrap();
    index.as_object().unwrap().clone()
}

fn response_body(file: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(read(&format!("responses/{file}")).trim())
        .unwrap()
}

fn field<'a>(fields: &'a Value, name: &str) -> &'a str {
    fields[name].as_str().unwrap_or("")
}

#[test]
fn every_recorded_response_decodes_to_the_recorded_fields() {
    let index = response_index();
    assert_eq!(index.len(), 11);
    let ep = endpoint();
    let (mut ok, mut errors, mut html) = (0, 0, 0);
    for (file, entry) in &index {
        let status = entry["http_status"].as_u64().unwrap() as u16;
        let content_type = entry["content_type"].as_str();
        let body = response_body(file);
        let result = decode_response(status, content_type, &body, &ep, "acs/ram/user/app-prod");
        let fields = &entry["fields"];
        match entry["kind"].as_str().unwrap() {
            "GetSecretValueResponse" => {
                ok += 1;
                let v = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(v.secret_name, field(fields, "SecretName"), "{file}");
                assert_eq!(v.secret_type, field(fields, "SecretType"), "{file}");
                assert_eq!(
                    v.secret_data.expose(),
                    field(fields, "SecretData"),
                    "{file}"
                );
                assert_eq!(v.secret_data_type, field(fields, "SecretDataType"));
                let stages: Vec<String> = fields["VersionStages"]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                assert_eq!(v.version_stages, stages, "{file}");
                assert_eq!(v.version_id, field(fields, "VersionId"));
                assert_eq!(v.create_time, field(fields, "CreateTime"));
                assert_eq!(v.request_id, field(fields, "RequestId"));
                assert_eq!(v.last_rotation_date, field(fields, "LastRotationDate"));
                assert_eq!(v.next_rotation_date, field(fields, "NextRotationDate"));
                assert_eq!(v.extended_config, field(fields, "ExtendedConfig"));
                assert_eq!(v.automatic_rotation, field(fields, "AutomaticRotation"));
                assert_eq!(v.rotation_interval, field(fields, "RotationInterval"));
                // The secret never shows in Debug.
                assert!(!format!("{v:?}").contains("TESTSECRET"), "{file}");
            }
            "Error" => {
                errors += 1;
                let e = result.expect_err(file);
                match &e {
                    KmsError::Service {
                        http_status,
                        code,
                        message,
                        request_id,
                        endpoint,
                        secret_name,
                        ..
                    } => {
                        assert_eq!(*http_status, status, "{file}");
                        assert_eq!(code, field(fields, "ErrorCode"), "{file}");
                        assert_eq!(message, field(fields, "ErrorMessage"), "{file}");
                        assert_eq!(request_id, field(fields, "RequestId"), "{file}");
                        assert_eq!(endpoint, &ep.to_string());
                        assert_eq!(secret_name, "acs/ram/user/app-prod");
                    }
                    other => panic!("{file}: expected a service error, got {other:?}"),
                }
                let retryable = ["Rejected.Throttling", "ServiceUnavailableTemporary"]
                    .contains(&field(fields, "ErrorCode"));
                assert_eq!(e.is_retryable(), retryable, "{file}");
            }
            "html" => {
                html += 1;
                let e = result.expect_err(file);
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
                assert!(text.contains("text/html"), "{text}");
                assert!(text.contains(&format!("{} bytes", body.len())), "{text}");
                assert!(text.contains("not a protobuf Error"), "{text}");
            }
            kind => panic!("unknown kind {kind}"),
        }
    }
    assert_eq!((ok, errors, html), (5, 5, 1));
}

#[test]
fn empty_error_body_is_a_clear_invalid_response() {
    let e = decode_response(503, None, b"", &endpoint(), "s").unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(
            e,
            KmsError::InvalidResponse {
                http_status: 503,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("empty error body"), "{text}");
    assert!(text.contains(&endpoint().host), "{text}");
}

#[test]
fn undecodable_success_body_never_quotes_the_body() {
    // A truncated GetSecretValueResponse: its secret must not appear in the error.
    let body = response_body("01_ok_legacy_ca_fixeddate_response_body.b64");
    let truncated = &body[..body.len() / 2];
    let e = decode_response(
        200,
        Some("application/x-protobuf"),
        truncated,
        &endpoint(),
        "s",
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(
        e,
        KmsError::InvalidResponse {
            http_status: 200,
            ..
        }
    ));
    assert!(
        text.contains(&format!("{} bytes", truncated.len())),
        "{text}"
    );
    assert!(
        !text.contains("TESTSECRET") && !text.contains("LTAI"),
        "{text}"
    );
}

fn instance_config(ignore: bool) -> InstanceEndpointConfig {
    InstanceEndpointConfig {
        region_id: "cn-hangzhou".into(),
        endpoint: endpoint(),
        client_key: crate::config::ClientKeySource::File(fixture(&format!(
            "clientKey_{KEY_ID}_alibabalike.json"
        ))),
        password: vec![crate::config::PasswordSource::File(fixture(&format!(
            "clientKey_{KEY_ID}_Password.txt"
        )))],
        ca_file: Some(fixture("PrivateKmsCA_kst-tst65a1b2c3d4e5f6g7h8.pem")),
        ignore_ssl_certs: ignore,
        connect_to: None,
    }
}

#[test]
fn client_loads_key_and_ca_from_config() {
    let client = InstanceClient::new(&instance_config(false), &HttpConfig::default()).unwrap();
    assert_eq!(client.key_id(), KEY_ID);
    assert_eq!(client.endpoint(), &endpoint());
    assert!(!format!("{client:?}").contains("PrivateKeyData"));
}

#[test]
fn client_without_ca_is_refused_unless_ignore_ssl_certs() {
    let key = client_key("legacy");
    let e = InstanceClient::with_identity(
        &instance_config(false),
        key.clone(),
        None,
        &HttpConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("caFilePath"), "{e}");
    InstanceClient::with_identity(&instance_config(true), key, None, &HttpConfig::default())
        .expect("ignoreSslCerts needs no CA");
}

#[test]
fn client_reports_a_missing_ca_file() {
    let mut cfg = instance_config(false);
    cfg.ca_file = Some(fixture("does-not-exist.pem"));
    let e = InstanceClient::new(&cfg, &HttpConfig::default()).unwrap_err();
    assert!(e.to_string().contains("does-not-exist.pem"), "{e}");
    let bundle =
        CaBundle::from_pem_file(&fixture("PrivateKmsCA_kst-tst65a1b2c3d4e5f6g7h8.pem")).unwrap();
    assert_eq!(bundle.certificates().len(), 2);
}
