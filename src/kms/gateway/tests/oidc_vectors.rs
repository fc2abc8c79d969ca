//! STS `AssumeRoleWithOIDC` against the captures of the official clients
//! (`tests/fixtures/oidc/assume_role_with_oidc.json`, copied from `shared/vectors/oidc`): the
//! request line and form body are byte-identical to `@alicloud/credentials` 2.4.7, the host is
//! chosen as every official client chooses it (except VPC without region, which we refuse), the
//! call is anonymous, and the answer parses. The clock is pinned through the `Timestamp` argument.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::super::credentials::parse_assume_role_answer;
use super::super::credentials::DEFAULT_STS_HOST;
use super::super::oidc::{oidc_request, read_token, sts_endpoint, OidcCall};
use crate::config::Endpoint;
use crate::kms::KmsError;

const PINNED_TIMESTAMP: &str = "2024-02-01T08:00:00Z";

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oidc/assume_role_with_oidc.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn vector(scenario: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no vector {scenario}"))
}

fn env<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v["env"][name].as_str()
}

fn call_of(v: &Value) -> OidcCall<'_> {
    OidcCall {
        role_arn: env(v, "ALIBABA_CLOUD_ROLE_ARN").unwrap(),
        oidc_provider_arn: env(v, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN").unwrap(),
        role_session_name: env(v, "ALIBABA_CLOUD_ROLE_SESSION_NAME").unwrap(),
        policy: None,
        duration: Duration::from_secs(3600),
    }
}

fn decode_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

#[test]
fn request_line_and_body_are_byte_identical_to_the_node_client() {
    let v = vector("oidc_node_env_global_fixed");
    let token = v["token_file_text"].as_str().unwrap();
    let request = oidc_request(&call_of(&v), token, PINNED_TIMESTAMP);
    let captured = &v["request"];
    assert_eq!(captured["method"], "POST");
    assert_eq!(
        format!("/?{}", request.query),
        captured["request_target"].as_str().unwrap()
    );
    assert_eq!(request.body.as_str(), captured["body"].as_str().unwrap());
    let content_type = captured["headers_wire_order"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "Content-Type")
        .unwrap();
    assert_eq!(content_type[1], "application/x-www-form-urlencoded");
}

#[test]
fn the_request_is_anonymous() {
    let v = vector("oidc_node_env_global_fixed");
    let request = oidc_request(&call_of(&v), "a.b.c", PINNED_TIMESTAMP);
    let names: Vec<String> = decode_form(&request.query)
        .into_iter()
        .chain(decode_form(&request.body))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        names,
        [
            "Version",
            "Action",
            "Format",
            "Timestamp",
            "OIDCProviderArn",
            "OIDCToken",
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds"
        ]
    );
    // The Python client sends the same parameter set (GET, all in the query) plus nothing else.
    let py = vector("oidc_py_env_global_fixed");
    let mut py_names: Vec<&str> = py["request"]["query_params_wire_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    py_names.sort_unstable();
    let mut ours: Vec<&str> = names.iter().map(String::as_str).collect();
    ours.sort_unstable();
    assert_eq!(py_names, ours);
}

#[test]
fn policy_and_duration_decode_to_what_the_python_client_sent() {
    let v = vector("oidc_py_config_policy_duration_fixed");
    let config = &v["config"];
    let policy = config["policy"].as_str().unwrap();
    let call = OidcCall {
        role_arn: config["roleArn"].as_str().unwrap(),
        oidc_provider_arn: config["oidcProviderArn"].as_str().unwrap(),
        role_session_name: config["roleSessionName"].as_str().unwrap(),
        policy: Some(policy),
        duration: Duration::from_secs(config["roleSessionExpiration"].as_u64().unwrap()),
    };
    let request = oidc_request(
        &call,
        v["token_file_text"].as_str().unwrap(),
        PINNED_TIMESTAMP,
    );
    let mut ours: Vec<(String, String)> = decode_form(&request.query)
        .into_iter()
        .chain(decode_form(&request.body))
        .collect();
    let mut theirs: Vec<(String, String)> = v["request"]["query_params_wire_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    // RFC 3986 (Node's encodeURIComponent agrees for these characters; `*` is escaped too).
    assert!(request
        .body
        .contains("Policy=%7B%22Version%22%3A%221%22%2C"));
    assert!(request
        .body
        .contains("%3A%2A%3A%2A%3Asecret%2Facs%2Fram%2Fuser%2F%2A"));
    assert!(request.body.contains("&DurationSeconds=900"));
    let space = oidc_request(
        &OidcCall {
            policy: Some("a b"),
            ..call
        },
        "t",
        PINNED_TIMESTAMP,
    );
    assert!(
        space.body.contains("Policy=a%20b&"),
        "{}",
        space.body.as_str()
    );
}

#[test]
fn host_selection_matches_every_official_client() {
    for v in vectors() {
        let scenario = v["scenario"].as_str().unwrap();
        let region = env(&v, "ALIBABA_CLOUD_STS_REGION");
        let vpc = env(&v, "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let explicit: Option<Endpoint> = v["config"]["stsEndpoint"]
            .as_str()
            .map(|s| s.parse().unwrap());
        let sni = v["request"]["tls_sni"].as_str().unwrap();
        match sts_endpoint(explicit.as_ref(), region, vpc) {
            Ok(endpoint) => {
                assert_eq!(endpoint.host, sni, "{scenario}");
                assert_eq!(endpoint.port, 443, "{scenario}");
            }
            Err(problem) => {
                // Deliberate difference: VPC without region is an error, not a silent switch
                // to the public endpoint the official clients use.
                assert_eq!(scenario, "oidc_py_env_vpc_without_region_fixed");
                assert_eq!(sni, DEFAULT_STS_HOST);
                assert!(problem.contains("ALIBABA_CLOUD_STS_REGION"), "{problem}");
            }
        }
    }
}

#[tokio::test]
async fn token_file_is_trimmed_unlike_the_official_clients() {
    let v = vector("oidc_node_token_trailing_newline_fixed");
    let text = v["token_file_text"].as_str().unwrap();
    assert!(text.ends_with('\n'));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, text).unwrap();
    let token = read_token(&path).await.unwrap();
    let request = oidc_request(&call_of(&v), &token, PINNED_TIMESTAMP);
    // The Node client sent the newline as `%0A`; that is the only difference.
    let captured = v["request"]["body"].as_str().unwrap();
    assert_eq!(captured.replace("%0A&", "&"), request.body.as_str());
    assert_ne!(captured, request.body.as_str());
}

#[tokio::test]
async fn bad_token_files_are_named_without_their_content() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let missing = dir.path().join("absent");
    let err = read_token(&missing).await.unwrap_err();
    assert!(
        err.contains("absent") && err.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"),
        "{err}"
    );
    let err = read_token(&write("blank", b" \n\t")).await.unwrap_err();
    assert!(err.contains("is empty"), "{err}");
    let err = read_token(&write("binary", b"secret-part\xff\xfe"))
        .await
        .unwrap_err();
    assert!(
        err.contains("not UTF-8") && !err.contains("secret-part"),
        "{err}"
    );
    let big = vec![b'a'; 64 * 1024 + 1];
    let err = read_token(&write("big", &big)).await.unwrap_err();
    assert!(err.contains("larger than"), "{err}");
    let ok = read_token(&write("ok", b"\r\n a.b.c \n")).await.unwrap();
    assert_eq!(ok.as_str(), "a.b.c");
}

#[test]
fn the_captured_answer_parses_and_the_error_body_is_typed() {
    let v = vector("oidc_node_env_global_fixed");
    let body = serde_json::to_vec(&v["response"]["body"]).unwrap();
    let invalid = |detail: String| KmsError::InvalidResponse {
        endpoint: "sts".into(),
        http_status: 200,
        detail,
    };
    let temporary = parse_assume_role_answer(&body, invalid).unwrap();
    let expected = time::OffsetDateTime::parse(
        "2024-02-01T09:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        temporary.expiration_for_tests(),
        std::time::SystemTime::from(expected)
    );
    assert_eq!(
        temporary.access_key_id_for_tests(),
        "STS.NUgYrLnoC37mZZCNnAbezOIDC1"
    );

    let v = vector("oidc_py_sts_error_400_fixed");
    let body = serde_json::to_vec(&v["response"]["body"]).unwrap();
    let error = super::super::response::decode_error(
        "sts.aliyuncs.com",
        "",
        400,
        Some("application/json;charset=utf-8"),
        None,
        &body,
    );
    assert_eq!(error.code(), Some("AuthenticationFail.OIDCToken.Expired"));
}
