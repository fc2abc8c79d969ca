//! ClientKey loading: every accepted profile, every bad input with its own error, expiry policy,
//! and no secret in Debug/Display.

use super::support as identity_support;

use std::time::SystemTime;

use crate::config::{ClientKeySource, PasswordSource, SecretString};
use crate::identity::{ClientKey, IdentityError, Password};
use base64::Engine;
use identity_support::*;
use proptest::prelude::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn p12(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap()
}

/// The `PrivateKeyData` string of a ClientKey JSON file.
fn private_key_data(path: &std::path::Path) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["PrivateKeyData"].as_str().unwrap().to_owned()
}

fn pw() -> Password {
    Password::new(PASSWORD)
}

fn json(key_id: &str, data: &str) -> String {
    serde_json::json!({"KeyId": key_id, "PrivateKeyData": data}).to_string()
}

/// Asserts that neither Debug nor Display of `err` leaks any of `secrets`.
fn assert_no_secret(err: &IdentityError, secrets: &[&str]) {
    let shown = format!("{err} || {err:?}");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!shown.contains(s), "error leaks a secret: {shown}");
    }
}

#[test]
fn loads_every_pkcs12_profile_from_file() {
    let spki = std::fs::read(fixture("kms-instance/keys/client_public_key.pem")).unwrap();
    let spki = pem_body(&spki);
    for profile in PROFILES {
        let key = ClientKey::load(
            &ClientKeySource::File(instance_clientkey(profile)),
            &vec![PasswordSource::File(instance_password_file())],
        )
        .unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert_eq!(key.key_id(), KEY_ID);
        assert!(key.origin().ends_with(&format!("_{profile}.json")));
        // The SubjectPublicKeyInfo of the published public key ends with our RSAPublicKey.
        assert!(spki.ends_with(key.public_key_der()), "{profile}");
        assert_eq!(key.public_key_der().len(), 270, "RSA-2048 RSAPublicKey DER");
        let cert = key.certificate().expect("certificate");
        assert!(
            cert.subject.contains("CN=kst-tst65a1b2c3d4e5f6g7h8-client"),
            "{}",
            cert.subject
        );
        assert!(cert.not_before < cert.not_after);
    }
}

fn pem_body(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn loads_the_real_alibaba_clientkey() {
    let key = ClientKey::load(
        &ClientKeySource::File(fixture("real-alibaba-clientkey/clientKey_real.json")),
        &vec![PasswordSource::File(fixture(
            "real-alibaba-clientkey/clientKey_real_Password.txt",
        ))],
    )
    .unwrap();
    assert_eq!(key.key_id(), "KAAP.real-fixture-key-id");
    let cert = key.certificate().unwrap();
    assert!(cert.subject.contains("CN=kst-shh668f78559i6q09rosa-client"));
    assert!(cert.subject.contains("O=Alibaba"));
    assert_eq!(
        cert.not_after,
        date(2029, 7, 12) + std::time::Duration::from_secs(2 * 3600 + 56 * 60 + 18)
    );
}

#[test]
fn loads_inline_content_and_raw_pkcs12() {
    let text = std::fs::read_to_string(instance_clientkey("alibabalike")).unwrap();
    let key = ClientKey::load(
        &ClientKeySource::Inline(SecretString::new(text)),
        &vec![PasswordSource::Inline(SecretString::new(PASSWORD))],
    )
    .unwrap();
    assert_eq!(key.origin(), "inline content");
    let raw = ClientKey::from_pkcs12(
        KEY_ID,
        &p12("kms-instance/keys/clientkey_modern_aes256.p12"),
        &pw(),
        "raw",
    )
    .unwrap();
    assert_eq!(raw.public_key_der(), key.public_key_der());
}

#[test]
fn accepts_pretty_printed_reordered_and_line_wrapped_json() {
    let data = private_key_data(&instance_clientkey("legacy"));
    let wrapped: Vec<String> = data
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let text = format!(
        "{{\n  \"Extra\": 1,\n  \"PrivateKeyData\": \"{}\",\n  \"KeyId\": \"{KEY_ID}\"\n}}\n",
        wrapped.join("\\n")
    );
    let key = ClientKey::from_json(&text, &pw(), "pretty").unwrap();
    assert_eq!(key.key_id(), KEY_ID);
}

// ---------------------------------------------------------------- bad inputs, one by one

#[test]
fn missing_clientkey_file() {
    let path = fixture("kms-instance/does-not-exist.json");
    let err = ClientKey::load(
        &ClientKeySource::File(path.clone()),
        &vec![PasswordSource::Inline(SecretString::new(PASSWORD))],
    )
    .unwrap_err();
    assert!(matches!(&err, IdentityError::ClientKeyFileMissing { path: p } if *p == path));
    let msg = err.to_string();
    assert!(
        msg.contains("does-not-exist.json") && msg.contains("KMS console"),
        "{msg}"
    );
}

#[test]
fn clientkey_file_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = ClientKey::load(
        &ClientKeySource::File(dir.path().to_owned()),
        &vec![PasswordSource::Inline(SecretString::new(PASSWORD))],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::Read {
                what: "ClientKey file",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn clientkey_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.json");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x7b]).unwrap();
    let err = ClientKey::load(
        &ClientKeySource::File(path),
        &vec![PasswordSource::Inline(SecretString::new(PASSWORD))],
    )
    .unwrap_err();
    assert!(
        matches!(&err, IdentityError::ClientKeyFormat { detail, .. } if detail.contains("UTF-8")),
        "{err:?}"
    );
}

#[test]
fn clientkey_not_json() {
    let err = ClientKey::from_json(
        "{\n  \"KeyId\": \"KAAP.x\",\n  PrivateKeyData: 1\n}",
        &pw(),
        "f.json",
    )
    .unwrap_err();
    match &err {
        IdentityError::ClientKeyNotJson {
            origin,
            line,
            column,
        } => {
            assert_eq!(origin, "f.json");
            assert_eq!((*line, *column), (3, 3));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("line 3, column 3"));
    let err = ClientKey::from_json("", &pw(), "f.json").unwrap_err();
    assert!(matches!(err, IdentityError::ClientKeyNotJson { .. }));
}

#[test]
fn clientkey_json_not_an_object() {
    let err = ClientKey::from_json("[1, 2]", &pw(), "f.json").unwrap_err();
    assert!(
        matches!(&err, IdentityError::ClientKeyFormat { detail, .. } if detail.contains("not an object"))
    );
}

#[test]
fn clientkey_without_key_id() {
    let data = private_key_data(&instance_clientkey("legacy"));
    let cases = [
        (serde_json::json!({"PrivateKeyData": data}), "is missing"),
        (
            serde_json::json!({"KeyId": 7, "PrivateKeyData": data}),
            "is not a string",
        ),
        (
            serde_json::json!({"KeyId": "", "PrivateKeyData": data}),
            "is empty",
        ),
        (
            serde_json::json!({"KeyId": "KAAP.a\nx-evil: 1", "PrivateKeyData": data}),
            "contains white space or characters other than printable ASCII",
        ),
    ];
    for (value, expected) in cases {
        let err = ClientKey::from_json(&value.to_string(), &pw(), "f.json").unwrap_err();
        match &err {
            IdentityError::ClientKeyMissingKeyId { problem, origin } => {
                assert_eq!(*problem, expected);
                assert_eq!(origin, "f.json");
            }
            other => panic!("{other:?}"),
        }
        assert_no_secret(&err, &[&data[..40], PASSWORD]);
    }
}

#[test]
fn clientkey_without_private_key_data() {
    for (value, expected) in [
        (serde_json::json!({"KeyId": KEY_ID}), "is missing"),
        (
            serde_json::json!({"KeyId": KEY_ID, "PrivateKeyData": null}),
            "is not a string",
        ),
        (
            serde_json::json!({"KeyId": KEY_ID, "PrivateKeyData": " \n"}),
            "is empty",
        ),
    ] {
        let err = ClientKey::from_json(&value.to_string(), &pw(), "f.json").unwrap_err();
        match &err {
            IdentityError::ClientKeyMissingPrivateKeyData {
                key_id, problem, ..
            } => {
                assert_eq!(key_id, KEY_ID);
                assert_eq!(*problem, expected);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn private_key_data_not_base64() {
    let err = ClientKey::from_json(&json(KEY_ID, "MIIJ*not~base64!"), &pw(), "f.json").unwrap_err();
    assert!(
        matches!(&err, IdentityError::PrivateKeyDataNotBase64 { key_id, .. } if key_id == KEY_ID),
        "{err:?}"
    );
    assert!(!err.to_string().contains("MIIJ*"));
}

#[test]
fn private_key_data_not_pkcs12() {
    for junk in [
        &b"hello world, not a PFX"[..],
        &[0x30, 0x03, 0x02, 0x01, 0x03][..],
    ] {
        let err = ClientKey::from_json(&json(KEY_ID, &b64(junk)), &pw(), "f.json").unwrap_err();
        assert!(
            matches!(&err, IdentityError::NotPkcs12 { key_id, .. } if key_id == KEY_ID),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("not a readable PKCS#12"), "{msg}");
    }
}

#[test]
fn wrong_password_for_every_profile() {
    for profile in PROFILES {
        let path = instance_clientkey(profile);
        let err = ClientKey::load(
            &ClientKeySource::File(path.clone()),
            &vec![PasswordSource::Inline(SecretString::new(
                "not-the-password",
            ))],
        )
        .unwrap_err();
        assert!(
            matches!(err, IdentityError::WrongPassword { .. }),
            "{profile}: {err:?}"
        );
        let msg = err.to_string();
        let expected = format!(
            "the password does not open ClientKey {KEY_ID} ({})",
            path.display()
        );
        assert!(msg.starts_with(&expected), "{msg}");
        // Judge the wording only, not the (machine-dependent) path.
        let lower = msg.replace(&path.display().to_string(), "").to_lowercase();
        assert!(
            !lower.contains("asn") && !lower.contains("der") && !lower.contains("mac"),
            "{msg}"
        );
        assert_no_secret(&err, &["not-the-password", PASSWORD]);
    }
}

#[test]
fn untrimmed_password_is_wrong() {
    // The official Python SDK fails like this when the trailing newline is kept.
    let err = ClientKey::from_json(
        &std::fs::read_to_string(instance_clientkey("alibabalike")).unwrap(),
        &Password::new(format!("{PASSWORD}\n")),
        "f.json",
    )
    .unwrap_err();
    assert!(matches!(err, IdentityError::WrongPassword { .. }));
}

fn load_generated(name: &str, now: SystemTime) -> Result<ClientKey, IdentityError> {
    ClientKey::load_at(
        &ClientKeySource::File(fixture(&format!("identity/clientKey_{name}.json"))),
        &vec![PasswordSource::File(fixture(
            "identity/fixture_Password.txt",
        ))],
        now,
    )
}

#[test]
fn pkcs12_without_private_key() {
    let err = load_generated("nokey", SystemTime::now()).unwrap_err();
    assert!(
        matches!(&err, IdentityError::Pkcs12NoPrivateKey { key_id, .. } if key_id == "KAAP.nokey-fixture"),
        "{err:?}"
    );
    assert!(err.to_string().contains("clientKey_nokey.json"));
}

#[test]
fn non_rsa_key() {
    let err = load_generated("ec", SystemTime::now()).unwrap_err();
    assert!(
        matches!(&err, IdentityError::KeyNotRsa { algorithm, .. } if algorithm == "EC"),
        "{err:?}"
    );
    assert!(err.to_string().contains("must be RSA"));
}

#[test]
fn rsa_key_outside_ring_range() {
    let err = load_generated("rsa1024", SystemTime::now()).unwrap_err();
    assert!(
        matches!(&err, IdentityError::RsaKeyRejected { reason, .. } if reason.contains("smaller than 2048")),
        "{err:?}"
    );
}

#[test]
fn expired_clientkey_is_an_error() {
    let err = load_generated("expired", SystemTime::now()).unwrap_err();
    match &err {
        IdentityError::ClientKeyExpired {
            key_id,
            subject,
            not_after,
            origin,
        } => {
            assert_eq!(key_id, "KAAP.expired-fixture");
            assert!(subject.contains("expired-client"));
            assert_eq!(not_after, "2021-01-01 00:00:00 UTC");
            assert!(origin.ends_with("clientKey_expired.json"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("create a new ClientKey"));
    // The same key was fine while its certificate was valid.
    let (key, logs) = capture_logs(|| load_generated("expired", date(2020, 1, 1)));
    assert_eq!(key.unwrap().key_id(), "KAAP.expired-fixture");
    assert!(
        logs.warnings_about("certificate").is_empty(),
        "{}",
        logs.text()
    );
}

// ---------------------------------------------------------------- expiry warnings

fn legacy_at(now: SystemTime) -> (ClientKey, Logs) {
    let (key, logs) = capture_logs(|| {
        ClientKey::load_at(
            &ClientKeySource::File(instance_clientkey("legacy")),
            &vec![PasswordSource::File(instance_password_file())],
            now,
        )
    });
    (key.unwrap(), logs)
}

#[test]
fn warns_once_when_the_certificate_nears_expiry() {
    let (key, _) = legacy_at(SystemTime::now());
    let not_after = key.certificate().unwrap().not_after;
    let day = std::time::Duration::from_secs(86_400);
    for (days_before, expect_warning) in [
        (400, false),
        (181, false),
        (180, true),
        (60, true),
        (20, true),
        (3, true),
    ] {
        let now = not_after - day * days_before;
        let (key, logs) = legacy_at(now);
        assert_eq!(
            key.certificate().unwrap().days_left(now),
            i64::from(days_before)
        );
        let warnings = logs.warnings_about("certificate");
        if !expect_warning {
            assert!(warnings.is_empty(), "{days_before}: {warnings:?}");
            continue;
        }
        assert_eq!(warnings.len(), 1, "{days_before}: {warnings:?}");
        let w = &warnings[0];
        assert!(w.contains(&format!("({days_before} days left)")), "{w}");
        assert!(w.contains("CN=kst-tst65a1b2c3d4e5f6g7h8-client"), "{w}");
        assert!(w.contains("_legacy.json"), "{w}");
        assert!(w.contains("2031-11-23 13:19:32 UTC"), "{w}");
        assert!(!w.contains(PASSWORD));
    }
}

#[test]
fn warns_when_the_certificate_is_not_yet_valid() {
    let (_, logs) = legacy_at(date(2020, 1, 1));
    let warnings = logs.warnings_about("certificate");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("not valid before 2026-11-23"),
        "{}",
        warnings[0]
    );
}

// ---------------------------------------------------------------- no secret in Debug/Display

#[test]
fn debug_never_shows_password_or_key() {
    let data = private_key_data(&instance_clientkey("legacy"));
    let key = ClientKey::from_json(
        &std::fs::read_to_string(instance_clientkey("legacy")).unwrap(),
        &pw(),
        "f.json",
    )
    .unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains(KEY_ID), "{shown}");
    assert!(!shown.contains(PASSWORD));
    for chunk in data.as_bytes().chunks(24) {
        assert!(!shown.contains(std::str::from_utf8(chunk).unwrap()));
    }
    let password = pw();
    let shown = format!("{password:?}");
    assert!(
        !shown.contains(PASSWORD) && shown.contains("redacted"),
        "{shown}"
    );
    let sources = vec![PasswordSource::Inline(SecretString::new(PASSWORD))];
    assert!(!format!("{sources:?}").contains(PASSWORD));
    let source = ClientKeySource::Inline(SecretString::new(json(KEY_ID, &data)));
    assert!(!format!("{source:?}").contains(&data[..30]));
}

// ---------------------------------------------------------------- never panics

fn valid_der() -> &'static [u8] {
    static DER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DER.get_or_init(|| p12("kms-instance/keys/clientkey_alibabalike_legacy_mac1.p12"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn from_json_of_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = ClientKey::from_json(&text, &pw(), "prop");
    }

    #[test]
    fn from_json_of_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = ClientKey::from_json(&text, &pw(), "prop");
        let _ = ClientKey::from_json(&json(KEY_ID, &b64(&bytes)), &pw(), "prop");
    }

    #[test]
    fn mutated_pkcs12_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut der = valid_der().to_vec();
        for (i, b) in edits {
            let i = i.index(der.len());
            der[i] = b;
        }
        if let Some(t) = truncate {
            der.truncate(t.index(der.len()));
        }
        match ClientKey::from_pkcs12(KEY_ID, &der, &pw(), "prop") {
            Ok(key) => prop_assert_eq!(key.key_id(), KEY_ID),
            Err(e) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(PASSWORD));
            }
        }
    }
}
