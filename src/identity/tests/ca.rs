//! CA bundles: real and fixture instance CA files, every bad file with its own error, validity
//! warnings, and parsing that never panics.

use super::support as identity_support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::identity::{CaBundle, IdentityError};
use identity_support::*;
use proptest::prelude::*;

const INSTANCE_CA: &str = "kms-instance/PrivateKmsCA_kst-tst65a1b2c3d4e5f6g7h8.pem";

#[test]
fn instance_ca_file_has_root_then_second_ca() {
    let bundle = CaBundle::from_pem_file(&fixture(INSTANCE_CA)).unwrap();
    assert_eq!(bundle.path(), fixture(INSTANCE_CA));
    assert_eq!(bundle.certificates().len(), 2);
    let infos = bundle.infos();
    assert!(
        infos[0].subject.contains("CN=TEST Private KMS Root CA"),
        "{}",
        infos[0].subject
    );
    assert!(infos[1]
        .subject
        .contains("CN=TEST Private KMS cn-test Second CA"));
    assert_eq!(
        infos[0].not_before,
        date(2026, 11, 23) + Duration::from_secs(13 * 3600 + 19 * 60 + 31)
    );
    assert_eq!(
        infos[0].not_after,
        date(2046, 11, 18) + Duration::from_secs(13 * 3600 + 19 * 60 + 31)
    );
    assert_eq!(infos[0].days_left(date(2046, 11, 8)), 10);
    assert!(!infos[0].is_expired(date(2030, 1, 1)));
    assert!(infos[0].is_expired(date(2047, 1, 1)));
    assert!(infos[0].is_not_yet_valid(date(2026, 1, 1)));
}

#[test]
fn real_alibaba_ca_file() {
    let bundle =
        CaBundle::from_pem_file(&fixture("real-alibaba-clientkey/PrivateKmsCA_real.pem")).unwrap();
    let subjects: Vec<&str> = bundle.infos().iter().map(|i| i.subject.as_str()).collect();
    assert_eq!(subjects.len(), 2);
    assert!(subjects[0].contains("CN=Private KMS Root CA"));
    assert!(subjects[1].contains("CN=Private KMS cn-shanghai Second CA"));
    assert_eq!(
        bundle.infos()[0].not_after,
        date(2041, 7, 3) + Duration::from_secs(6 * 3600 + 55 * 60 + 29)
    );
}

#[test]
fn ca_file_missing() {
    let path = fixture("kms-instance/PrivateKmsCA_missing.pem");
    let err = CaBundle::from_pem_file(&path).unwrap_err();
    assert!(
        matches!(&err, IdentityError::CaFileMissing { path: p } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("PrivateKmsCA_missing.pem"));
}

#[test]
fn ca_file_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = CaBundle::from_pem_file(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::Read {
                what: "CA file",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ca_file_empty() {
    let err = CaBundle::from_pem_file(&fixture("identity/ca_empty.pem")).unwrap_err();
    assert!(matches!(err, IdentityError::CaFileEmpty { .. }), "{err:?}");
    let err = CaBundle::from_pem_bytes(b" \r\n\n", Path::new("blank.pem")).unwrap_err();
    assert!(matches!(err, IdentityError::CaFileEmpty { .. }), "{err:?}");
}

#[test]
fn ca_file_is_der() {
    let path = fixture("identity/ca_der.cer");
    let err = CaBundle::from_pem_file(&path).unwrap_err();
    match &err {
        IdentityError::CaFileNotPem { detail, .. } => {
            assert!(detail.contains("binary DER certificate"), "{detail}");
            assert!(detail.contains("openssl x509 -inform DER"), "{detail}");
            assert!(detail.contains("ca_der.cer"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ca_file_is_text() {
    let err = CaBundle::from_pem_file(&fixture("identity/ca_text.txt")).unwrap_err();
    assert!(
        matches!(&err, IdentityError::CaFileNotPem { detail, .. } if detail.contains("no \"-----BEGIN CERTIFICATE-----\" block")),
        "{err:?}"
    );
    let err = CaBundle::from_pem_bytes(&[0x00, 0xff, 0x13, 0x37], Path::new("bin")).unwrap_err();
    assert!(
        matches!(&err, IdentityError::CaFileNotPem { detail, .. } if detail.contains("binary data")),
        "{err:?}"
    );
}

#[test]
fn ca_file_holds_only_a_private_key() {
    let err = CaBundle::from_pem_file(&fixture("kms-instance/pki/root_ca.key")).unwrap_err();
    assert!(
        matches!(&err, IdentityError::CaFileNotPem { detail, .. } if detail.contains("no \"-----BEGIN CERTIFICATE-----\" block")
            && detail.contains("PEM blocks")),
        "{err:?}"
    );
    // Key bytes never appear in the message.
    let key = read("kms-instance/pki/root_ca.key");
    let line = key.lines().nth(1).unwrap();
    assert!(!format!("{err} {err:?}").contains(line));
}

#[test]
fn ca_certificate_block_not_x509() {
    let err = CaBundle::from_pem_file(&fixture("identity/ca_bad_block.pem")).unwrap_err();
    assert!(
        matches!(err, IdentityError::CaCertificateInvalid { index: 1, .. }),
        "{err:?}"
    );
    // Second position after a good certificate.
    let mut text = read(INSTANCE_CA);
    text.push_str(&read("identity/ca_bad_block.pem"));
    let err = CaBundle::from_pem_bytes(text.as_bytes(), Path::new("mixed.pem")).unwrap_err();
    assert!(
        matches!(err, IdentityError::CaCertificateInvalid { index: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn ca_file_with_broken_pem_armour() {
    let text = "-----BEGIN CERTIFICATE-----\nMIIB\n";
    let err = CaBundle::from_pem_bytes(text.as_bytes(), Path::new("cut.pem")).unwrap_err();
    assert!(matches!(err, IdentityError::CaFile { .. }), "{err:?}");
}

// ---------------------------------------------------------------- validity warnings

fn load_at(rel: &str, now: SystemTime) -> (CaBundle, Logs) {
    let (bundle, logs) = capture_logs(|| CaBundle::from_pem_file_at(&fixture(rel), now));
    (bundle.unwrap(), logs)
}

#[test]
fn expired_ca_loads_with_a_warning() {
    let (bundle, logs) = load_at("identity/ca_expired.pem", date(2026, 11, 23));
    assert_eq!(bundle.certificates().len(), 1);
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.contains("CN=Expired Test CA") && w.contains("expired on 2020-01-01 00:00:00 UTC"),
        "{w}"
    );
    assert!(w.contains("ca_expired.pem"), "{w}");
}

#[test]
fn not_yet_valid_ca_loads_with_a_warning() {
    let (_, logs) = load_at("identity/ca_not_yet_valid.pem", date(2026, 11, 23));
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("not valid before 2090-01-01"),
        "{}",
        warnings[0]
    );
}

#[test]
fn ca_expiry_thresholds_with_injected_now() {
    let not_after = date(2046, 11, 18) + Duration::from_secs(13 * 3600 + 19 * 60 + 31);
    let day = Duration::from_secs(86_400);
    for (days_before, warnings_expected) in [(365, 0), (181, 0), (180, 2), (89, 2), (29, 2), (6, 2)]
    {
        let (_, logs) = load_at(INSTANCE_CA, not_after - day * days_before);
        let warnings = logs.warnings();
        assert_eq!(
            warnings.len(),
            warnings_expected,
            "{days_before}: {warnings:?}"
        );
        for w in warnings {
            assert!(w.contains(&format!("({days_before} days left)")), "{w}");
            assert!(w.contains("2046-11-18 13:19:31 UTC"), "{w}");
        }
    }
}

#[test]
fn in_memory_parsing_logs_nothing() {
    let (bundle, logs) = capture_logs(|| {
        CaBundle::from_pem_bytes(
            read("identity/ca_expired.pem").as_bytes(),
            Path::new("x.pem"),
        )
    });
    assert_eq!(bundle.unwrap().path(), Path::new("x.pem"));
    assert!(logs.warnings().is_empty());
}

// ---------------------------------------------------------------- never panics

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = CaBundle::from_pem_bytes(&bytes, Path::new("prop.pem"));
    }

    #[test]
    fn arbitrary_certificate_blocks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        use base64::Engine;
        let text = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(&body)
        );
        let result = CaBundle::from_pem_bytes(text.as_bytes(), Path::new("prop.pem"));
        prop_assert!(result.is_err() || body.first() == Some(&0x30));
    }

    #[test]
    fn mutated_real_ca_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = read(INSTANCE_CA).into_bytes();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = CaBundle::from_pem_bytes(&bytes, Path::new("prop.pem"));
    }
}
