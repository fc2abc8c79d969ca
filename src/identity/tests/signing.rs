//! Signers: RSASSA-PKCS1-v1_5/SHA-256 against the official SDK's golden vectors and the real
//! Alibaba ClientKey; HMAC-SHA1 against RFC 2202 and the gateway AccessKey/STS vectors.

use super::support as identity_support;

use crate::config::{ClientKeySource, PasswordSource};
use crate::identity::{hmac_sha1_base64, rpc_hmac_sha1_signature, ClientKey};
use base64::Engine;
use identity_support::*;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn load(key: std::path::PathBuf, password: std::path::PathBuf) -> ClientKey {
    ClientKey::load(
        &ClientKeySource::File(key),
        &vec![PasswordSource::File(password)],
    )
    .unwrap()
}

/// RSAPublicKey DER inside a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM file.
fn rsa_public_key_from_spki_pem(rel: &str) -> Vec<u8> {
    let text = read(rel);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // RSA-2048 SPKI: 24-byte header (SEQUENCE, AlgorithmIdentifier, BIT STRING + 0 unused bits).
    assert_eq!(
        spki.len(),
        294,
        "{rel}: expected an RSA-2048 SubjectPublicKeyInfo"
    );
    spki[24..].to_vec()
}

#[test]
fn golden_vectors_for_every_profile() {
    let golden: serde_json::Value =
        serde_json::from_str(&read("kms-instance/golden_vectors.json")).unwrap();
    let vectors = golden["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for profile in PROFILES {
        let key = load(instance_clientkey(profile), instance_password_file());
        for v in vectors {
            assert_eq!(v["inputs"]["key_id"], key.key_id());
            let string_to_sign = v["string_to_sign"].as_str().unwrap();
            let expected = v["authorization"].as_str().unwrap();
            let signature = key.sign_sha256_rsa(string_to_sign.as_bytes()).unwrap();
            assert_eq!(signature.len(), 256);
            assert_eq!(
                format!("Bearer {}", b64(&signature)),
                expected,
                "{profile} / {}",
                v["name"]
            );
        }
    }
}

#[test]
fn gateway_clientkey_rpc_vector() {
    let vectors: serde_json::Value =
        serde_json::from_str(&read("gateway/rpc_fixed_vectors.json")).unwrap();
    let v = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "clientkey_sha256withrsa")
        .unwrap();
    let id = "KAAP.7e0c5b2a-1d3f-4a6b-8c9d-0e1f2a3b4c5d";
    let key = load(
        fixture(&format!("gateway/clientKey_{id}_legacy.json")),
        fixture(&format!("gateway/clientKey_{id}_Password.txt")),
    );
    assert_eq!(key.key_id(), v["access_key_id"].as_str().unwrap());
    let signature = key
        .sign_sha256_rsa(v["string_to_sign"].as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(b64(&signature), v["signature"].as_str().unwrap());
}

#[test]
fn signatures_verify_with_the_published_public_key() {
    let public = rsa_public_key_from_spki_pem("kms-instance/keys/client_public_key.pem");
    let key = load(instance_clientkey("aes256"), instance_password_file());
    assert_eq!(key.public_key_der(), public.as_slice());
    let data = b"POST\nABC\napplication/x-protobuf\n";
    let signature = key.sign_sha256_rsa(data).unwrap();
    let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public);
    verifier.verify(data, &signature).unwrap();
    assert!(verifier
        .verify(b"POST\nABD\napplication/x-protobuf\n", &signature)
        .is_err());
}

#[test]
fn real_alibaba_clientkey_signs_verifiably() {
    let key = load(
        fixture("real-alibaba-clientkey/clientKey_real.json"),
        fixture("real-alibaba-clientkey/clientKey_real_Password.txt"),
    );
    // Public key taken independently from the certificate with openssl (see make_fixtures.py).
    let public = rsa_public_key_from_spki_pem("identity/real_clientkey_public_key.pem");
    assert_eq!(key.public_key_der(), public.as_slice());
    let data = "POST\nBB70\napplication/x-protobuf\nThu, 01 Feb 2024 08:00:00 GMT\nx-kms-acccesskeyid:KAAP.real-fixture-key-id\n/";
    let signature = key.sign_sha256_rsa(data.as_bytes()).unwrap();
    assert_eq!(signature.len(), 256);
    let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public);
    verifier.verify(data.as_bytes(), &signature).unwrap();
    let mut tampered = signature.clone();
    tampered[17] ^= 1;
    assert!(verifier.verify(data.as_bytes(), &tampered).is_err());
    // PKCS#1 v1.5 is deterministic.
    assert_eq!(key.sign_sha256_rsa(data.as_bytes()).unwrap(), signature);
}

#[test]
fn hmac_sha1_rfc2202() {
    let hex = |s: &str| hex::decode(s).unwrap();
    let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
        (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b617318655057264e28bc0b6fb378c8ef146be00",
        ),
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        ),
        (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
        ),
        (
            hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
            vec![0xcd; 50],
            "4c9007f4026250c6bc8414f9bf50c86c2d7235da",
        ),
        (
            vec![0x0c; 20],
            b"Test With Truncation".to_vec(),
            "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04",
        ),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        ),
        (
            vec![0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".to_vec(),
            "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
        ),
    ];
    for (i, (key, data, digest)) in cases.iter().enumerate() {
        assert_eq!(
            hmac_sha1_base64(key, data),
            b64(&hex(digest)),
            "RFC 2202 case {}",
            i + 1
        );
    }
}

#[test]
fn hmac_sha1_gateway_vectors() {
    let vectors: serde_json::Value =
        serde_json::from_str(&read("gateway/rpc_fixed_vectors.json")).unwrap();
    let mut checked = 0;
    for v in vectors["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        if !name.contains("hmac_sha1") {
            continue;
        }
        let secret = v["secret"].as_str().unwrap();
        let string_to_sign = v["string_to_sign"].as_str().unwrap();
        let expected = v["signature"].as_str().unwrap();
        assert_eq!(
            rpc_hmac_sha1_signature(secret, string_to_sign),
            expected,
            "{name}"
        );
        assert_eq!(
            hmac_sha1_base64(format!("{secret}&").as_bytes(), string_to_sign.as_bytes()),
            expected,
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "ak, sts and ak-without-SignatureType vectors");
}
