//! Byte-exact conformance of the V3 signer (`acs3`) with every captured V3 KMS request:
//! `tests/fixtures/gateway/v3_fixed_host_vectors.json` (copied from
//! shared/vectors/gateway) and `tests/fixtures/dedicated-gateway/v3_requests.json` (the V3
//! requests of shared/vectors/dedicated-gateway/golden_vectors.json: the official Python v2
//! client on the shared gateway and on a KMS instance gateway, AccessKey and OIDC/STS). Clock
//! and nonce are the pinned values of the captures.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::identity::{ClientKey, Password};
use crate::kms::gateway::acs3::{self, Acs3Request};
use crate::kms::gateway::signing::SigningKey;

const KEY_ID: &str = "KAAP.7e0c5b2a-1d3f-4a6b-8c9d-0e1f2a3b4c5d";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The ClientKey whose private key is `keys/client_private_key_pkcs8.pem` of the vectors.
fn client_key() -> ClientKey {
    let dir = fixtures().join("gateway");
    let password =
        std::fs::read_to_string(dir.join(format!("clientKey_{KEY_ID}_Password.txt"))).unwrap();
    let text =
        std::fs::read_to_string(dir.join(format!("clientKey_{KEY_ID}_legacy.json"))).unwrap();
    ClientKey::from_json(&text, &Password::new(password.trim()), "legacy").unwrap()
}

fn hmac(id: &str, secret: &str, token: Option<&str>) -> SigningKey {
    SigningKey::Hmac {
        access_key_id: id.into(),
        access_key_secret: secret.into(),
        security_token: token.map(Into::into),
    }
}

/// Signs with the captured inputs and checks every intermediate; returns the headers we would
/// send (name, value) for wire comparisons.
#[allow(clippy::too_many_arguments)]
fn check(
    name: &str,
    key: &SigningKey,
    query: &[(String, String)],
    header: &dyn Fn(&str) -> Option<String>,
    canonical_request: &str,
    string_to_sign: &str,
    authorization: &str,
) -> Vec<(&'static str, String)> {
    let host = header("host").unwrap();
    let user_agent = header("user-agent").unwrap();
    let date = header("x-acs-date").unwrap();
    let nonce = header("x-acs-signature-nonce").unwrap();
    let provider = header("x-acs-credentials-provider");
    let signed = acs3::sign(
        &Acs3Request {
            method: "POST",
            host: &host,
            action: &header("x-acs-action").unwrap(),
            version: &header("x-acs-version").unwrap(),
            date: &date,
            nonce: &nonce,
            user_agent: &user_agent,
            credentials_provider: provider.as_deref(),
            query,
            body: b"",
        },
        key,
    )
    .unwrap();
    assert_eq!(signed.canonical_request, canonical_request, "{name}");
    assert_eq!(signed.string_to_sign, string_to_sign, "{name}");
    assert_eq!(signed.authorization, authorization, "{name}");
    // Every header we send carries the captured value.
    for (header_name, value) in &signed.headers {
        if *header_name != "authorization" {
            assert_eq!(
                header(header_name).as_deref(),
                Some(value.as_str()),
                "{name}: {header_name}"
            );
        }
    }
    signed.headers
}

#[test]
fn fixed_host_vectors_reproduce_canonical_request_string_to_sign_and_authorization() {
    let vectors = json("gateway/v3_fixed_host_vectors.json");
    let mut checked = Vec::new();
    for vector in vectors["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let headers = vector["headers"].as_object().unwrap();
        let header = |h: &str| headers.get(h).map(|v| v.as_str().unwrap().to_owned());
        let id = vector["access_key_id"].as_str().unwrap();
        let key = match vector["algorithm"].as_str().unwrap() {
            "ACS3-HMAC-SHA256" => hmac(
                id,
                vector["secret_or_key"].as_str().unwrap(),
                header("x-acs-security-token").as_deref(),
            ),
            "ACS3-RSA-SHA256" => {
                let key = client_key();
                assert_eq!(key.key_id(), id);
                SigningKey::ClientKey(key)
            }
            other => panic!("unexpected algorithm {other}"),
        };
        let query: Vec<(String, String)> = vector["query"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        // What our client puts in the query for the same request is what was captured.
        let request = crate::kms::GetSecretValueRequest::current(query_value(&query, "SecretName"));
        let mut ours: Vec<(String, String)> =
            crate::kms::gateway::signing::get_secret_value_params(&request)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let mut captured = query.clone();
        ours.sort();
        captured.sort();
        assert_eq!(ours, captured, "{name}: the client's query");
        let sent = check(
            name,
            &key,
            &query,
            &header,
            vector["canonical_request"].as_str().unwrap(),
            vector["string_to_sign"].as_str().unwrap(),
            vector["authorization_sdk"].as_str().unwrap(),
        );
        assert_eq!(
            sent.len(),
            headers.len() + 1,
            "{name}: we send exactly the captured headers plus authorization"
        );
        checked.push(name.to_owned());
    }
    assert_eq!(checked, ["ak", "sts", "clientkey_rsa_informational"]);
}

#[test]
fn v2_client_captures_on_shared_and_instance_gateways_are_reproduced() {
    let captured = json("dedicated-gateway/v3_requests.json");
    let mut scenarios = Vec::new();
    for request in captured["requests"].as_array().unwrap() {
        let scenario = request["scenario"].as_str().unwrap();
        let wire: Vec<(String, String)> = request["headers_wire_order"]
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
        let header = |h: &str| {
            wire.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(h))
                .map(|(_, v)| v.clone())
        };
        let v3 = &request["v3"];
        assert_eq!(v3["algorithm"], "ACS3-HMAC-SHA256", "{scenario}");
        let key = hmac(
            v3["access_key_id"].as_str().unwrap(),
            v3["signing_secret"].as_str().unwrap(),
            header("x-acs-security-token").as_deref(),
        );
        let query: Vec<(String, String)> = request["query_params_wire_order"]
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
        let sent = check(
            scenario,
            &key,
            &query,
            &header,
            v3["canonical_request"].as_str().unwrap(),
            v3["string_to_sign"].as_str().unwrap(),
            v3["authorization_header"].as_str().unwrap(),
        );
        assert_eq!(
            header("authorization").as_deref(),
            v3["authorization_header"].as_str(),
            "{scenario}: the wire Authorization is the recomputed one"
        );
        assert!(v3["authorization_header"]
            .as_str()
            .unwrap()
            .ends_with(v3["signature_hex"].as_str().unwrap()));
        // Same headers in the same order as the Python client (minus the two it adds outside
        // the signature: Accept-Encoding and Content-Length).
        let wire_names: Vec<String> = wire
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .filter(|n| n != "accept-encoding" && n != "content-length")
            .collect();
        let our_names: Vec<String> = sent.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(our_names, wire_names, "{scenario}");
        // The request target is the signed canonical query.
        let target = request["request_target"].as_str().unwrap();
        let canonical_query = v3["canonical_request"]
            .as_str()
            .unwrap()
            .split('\n')
            .nth(2)
            .unwrap();
        assert_eq!(target, format!("/?{canonical_query}"), "{scenario}");
        scenarios.push(format!("{scenario}@{}", header("host").unwrap()));
    }
    assert_eq!(scenarios.len(), 7, "{scenarios:?}");
    for host in [
        "kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com",
        "kms.cn-hangzhou.aliyuncs.com",
        "kms-vpc.cn-hangzhou.aliyuncs.com",
    ] {
        assert!(
            scenarios.iter().any(|s| s.ends_with(host)),
            "{host}: {scenarios:?}"
        );
    }
}

fn query_value(query: &[(String, String)], name: &str) -> String {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}
