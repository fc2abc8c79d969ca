//! Client-side cost of one KMS instance request without the network: build + sign + encode a
//! `GetSecretValue` request, and decode a recorded `GetSecretValueResponse`.
//!
//! `cargo bench --bench instance_client -- --warm-up-time 1 --measurement-time 2`

use std::path::PathBuf;
use std::time::SystemTime;

use aliyun_managed_credentials::config::Endpoint;
use aliyun_managed_credentials::identity::{ClientKey, Password};
use aliyun_managed_credentials::kms::instance::{build_request, decode_response, http_date};
use aliyun_managed_credentials::kms::GetSecretValueRequest;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};

const KEY_ID: &str = "KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kms-instance")
        .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn bench(c: &mut Criterion) {
    let password = Password::new(fixture(&format!("clientKey_{KEY_ID}_Password.txt")).trim());
    let key = ClientKey::from_json(
        &fixture(&format!("clientKey_{KEY_ID}_alibabalike.json")),
        &password,
        "fixture",
    )
    .expect("key");
    let endpoint = Endpoint {
        host: "kst-tst65a1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com".into(),
        port: 443,
    };
    let request = GetSecretValueRequest::current("acs/ram/user/app-prod");

    c.bench_function("instance/build_sign_encode", |b| {
        b.iter(|| {
            let date = http_date(SystemTime::now());
            build_request(&key, &endpoint, &request, &date).expect("sign")
        })
    });

    let body = base64::engine::general_purpose::STANDARD
        .decode(fixture("responses/01_ok_legacy_ca_fixeddate_response_body.b64").trim())
        .expect("b64");
    c.bench_function("instance/decode_response_432B", |b| {
        b.iter(|| {
            decode_response(
                200,
                Some("application/x-protobuf"),
                &body,
                &endpoint,
                "acs/ram/user/app-prod",
            )
            .expect("decode")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
