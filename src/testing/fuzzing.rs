//! Entry points for cargo-fuzz (feature `fuzzing`): one function per parser of untrusted bytes,
//! each feeding its input to the crate-internal parser and discarding the result.
//!
//! Not an API (hidden from the docs, like rustls's `fuzzing` feature): the targets in `fuzz/`
//! and the corpus replay in `tests/fuzz_corpus.rs` call these so that the parsers themselves can
//! stay private. The property fuzzed is that **no input makes them panic** (or hang): every
//! malformed input must come back as a typed error. Error and success values are formatted with
//! `Display` / `Debug` so that the message-building code is exercised too.
//!
//! Inputs that need more than a byte string carry it in a small header, documented on each
//! function (a password length and password, an HTTP status selector), so that one corpus file is
//! one complete case. Certificate validity is checked against a fixed date ([`NOW_UNIX_SECS`]),
//! so an input behaves the same whenever it is replayed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::config::properties::Properties;
use crate::config::{Endpoint, SecretString};
use crate::identity::{CaBundle, ClientKey, Password};
use crate::integrations::endpoint::{CredentialsEndpoint, EndpointConfig};
use crate::kms::gateway::credentials::{cache, parse_assume_role_answer, parse_metadata_answer};
use crate::kms::gateway::response::{decode_error, decode_secret_value};
use crate::kms::instance::response::decode_response;
use crate::kms::{BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue};
use crate::secret::{AccessKey, Secret};
use crate::{Config, ManagedCredentialsProvider};

/// The "now" (2025-06-01T00:00:00Z, Unix seconds) certificate validity is checked against.
pub const NOW_UNIX_SECS: u64 = 1_748_736_000;

/// HTTP statuses selected by the first byte of [`instance_response`] and [`gateway_error`]
/// inputs (byte modulo the length): success, redirect, client and server errors, out of range.
pub const STATUSES: [u16; 16] = [
    200, 201, 204, 299, 301, 400, 401, 403, 404, 429, 500, 502, 503, 599, 100, 600,
];

/// Content types selected by the second byte of [`instance_response`] inputs (modulo 4).
pub const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/x-protobuf"),
    None,
    Some("text/html; charset=utf-8"),
    Some("application/json"),
];

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_UNIX_SECS)
}

fn status(selector: u8) -> u16 {
    STATUSES[usize::from(selector) % STATUSES.len()]
}

/// Formats an error the way logs and callers do.
fn discard_error(error: &impl std::fmt::Display) {
    let _ = error.to_string();
}

fn discard_kms_error(error: &KmsError) {
    let _ = (
        error.to_string(),
        error.code(),
        error.is_retryable(),
        error.endpoint(),
    );
}

/// `[n][n bytes of password][payload]`: the password is read as UTF-8 (lossy). `None` when the
/// input is shorter than its header says.
fn split_password(data: &[u8]) -> Option<(Password, &[u8])> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len);
    if rest.len() < len {
        return None;
    }
    let (password, payload) = rest.split_at(len);
    Some((
        Password::new(String::from_utf8_lossy(password).into_owned()),
        payload,
    ))
}

/// What the provider does with every answer: [`Secret::from_value`], then
/// [`AccessKey::from_secret`].
fn secret_pipeline(value: &SecretValue) {
    match Secret::from_value(value, now()) {
        Ok(secret) => {
            let _ = format!("{secret:?}");
            match AccessKey::from_secret(&secret) {
                Ok(key) => {
                    let _ = format!("{key:?}");
                }
                Err(e) => discard_error(&e),
            }
        }
        Err(e) => discard_error(&e),
    }
}

/// `managed_credentials_providers.properties` bytes, through the `.properties` parser
/// (Java `Properties.load` semantics, UTF-8).
pub fn properties(data: &[u8]) {
    match Properties::parse_bytes(data, "fuzz.properties") {
        Ok(props) => {
            for property in props.iter() {
                let _ = (format!("{property:?}"), props.get(&property.key));
            }
        }
        Err(e) => discard_error(&e),
    }
}

/// A whole configuration file (lossy UTF-8), through [`Config::from_properties_str`]: the
/// parser, then every key, including the JSON lists of `cache_client_dkms_config_info` and
/// `cache_client_region_id`. Reads no file (paths are only resolved).
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Config::from_properties_str(&text, "/fuzz", "fuzz.properties") {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e) => discard_error(&e),
    }
}

/// A ClientKey JSON (`{"KeyId", "PrivateKeyData"}`), framed `[n][password: n bytes][JSON]`:
/// JSON, base64, PKCS#12 (MAC, decryption), the RSA key and its certificate. A key that loads
/// signs one message.
pub fn client_key_json(data: &[u8]) {
    let Some((password, json)) = split_password(data) else {
        return;
    };
    let json = String::from_utf8_lossy(json);
    match ClientKey::from_json_at(&json, &password, "fuzz.json", now()) {
        Ok(key) => use_client_key(&key),
        Err(e) => discard_error(&e),
    }
}

/// The PKCS#12 inside a ClientKey, framed `[n][password: n bytes][DER]`.
pub fn client_key_pkcs12(data: &[u8]) {
    let Some((password, der)) = split_password(data) else {
        return;
    };
    match ClientKey::from_pkcs12_at("KAAP.fuzz", der, &password, "fuzz.p12", now()) {
        Ok(key) => use_client_key(&key),
        Err(e) => discard_error(&e),
    }
}

fn use_client_key(key: &ClientKey) {
    let _ = (format!("{key:?}"), key.key_id(), key.certificate());
    if let Err(e) = key.sign_sha256_rsa(b"fuzz") {
        discard_error(&e);
    }
}

/// A CA file (`caFilePath`, `PrivateKmsCA_<instanceId>.pem`): PEM, X.509, validity warnings.
pub fn ca_bundle(data: &[u8]) {
    match CaBundle::from_pem_bytes(data, Path::new("fuzz.pem")) {
        Ok(bundle) => bundle.log_validity(now()),
        Err(e) => discard_error(&e),
    }
}

/// A KMS instance API answer, framed `[status selector][content-type selector][body]`
/// ([`STATUSES`], [`CONTENT_TYPES`]): protobuf `GetSecretValueResponse` or `Error`, then, for a
/// decoded secret, what the provider does with it.
pub fn instance_response(data: &[u8]) {
    let [status_selector, content_type, body @ ..] = data else {
        return;
    };
    let endpoint = Endpoint {
        host: "kst-fuzz.cryptoservice.kms.aliyuncs.com".into(),
        port: 443,
    };
    let content_type = CONTENT_TYPES[usize::from(*content_type) % CONTENT_TYPES.len()];
    match decode_response(
        status(*status_selector),
        content_type,
        body,
        &endpoint,
        "acs/ram/user/fuzz",
    ) {
        Ok(value) => secret_pipeline(&value),
        Err(e) => discard_kms_error(&e),
    }
}

/// A shared gateway `GetSecretValue` JSON answer (HTTP 200), then what the provider does with
/// the decoded secret.
pub fn gateway_secret_value(data: &[u8]) {
    match decode_secret_value("kms.cn-hangzhou.aliyuncs.com", 200, data) {
        Ok(value) => secret_pipeline(&value),
        Err(e) => discard_kms_error(&e),
    }
}

/// A shared gateway (or STS) error answer, framed `[status selector][body]` ([`STATUSES`]):
/// the POP error JSON (`Code`, `Message`, `RequestId`, `HostId`, `Recommend`) or anything else.
pub fn gateway_error(data: &[u8]) {
    let [status_selector, body @ ..] = data else {
        return;
    };
    let error = decode_error(
        "kms.cn-hangzhou.aliyuncs.com",
        "acs/ram/user/fuzz",
        status(*status_selector),
        Some("application/json;charset=utf-8"),
        Some("0C1E5C3B-FUZZ"),
        body,
    );
    discard_kms_error(&error);
}

fn invalid_answer(detail: String) -> KmsError {
    KmsError::InvalidResponse {
        endpoint: "fuzz".into(),
        http_status: 200,
        detail,
    }
}

/// An STS `AssumeRole` answer (HTTP 200 JSON with `Credentials`), then the refresh schedule
/// computed from its `Expiration`.
pub fn sts_answer(data: &[u8]) {
    match parse_assume_role_answer(data, invalid_answer)
        .and_then(|temporary| cache(temporary, tokio::time::Instant::now(), "fuzz".into()))
    {
        Ok(_) => {}
        Err(e) => discard_kms_error(&e),
    }
}

/// An ECS metadata `security-credentials/<role>` answer (HTTP 200 JSON), then the refresh
/// schedule computed from its `Expiration`.
pub fn ecs_answer(data: &[u8]) {
    match parse_metadata_answer(data, invalid_answer)
        .and_then(|temporary| cache(temporary, tokio::time::Instant::now(), "fuzz".into()))
    {
        Ok(_) => {}
        Err(e) => discard_kms_error(&e),
    }
}

/// A secret's `SecretData` (lossy UTF-8) in an otherwise well-formed answer, read three ways:
/// as a RAM credential (the AccessKey JSON: ids, dates, legacy rotation fields), as a Generic
/// text secret, and as a binary secret (base64).
pub fn secret_data(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for (secret_type, data_type, extended_config) in [
        (
            "RAMCredentials",
            "text",
            r#"{"SecretSubType":"RamUserAccessKey","UserName":"fuzz"}"#,
        ),
        ("Generic", "text", ""),
        ("RAMCredentials", "binary", ""),
    ] {
        secret_pipeline(&SecretValue {
            secret_name: "acs/ram/user/fuzz".into(),
            secret_type: secret_type.into(),
            secret_data: SecretString::new(text.as_ref()),
            secret_data_type: data_type.into(),
            version_stages: vec!["ACSCurrent".into()],
            version_id: "v1".into(),
            create_time: "2025-05-25T00:00:00Z".into(),
            request_id: "fuzz".into(),
            last_rotation_date: "2025-05-25T00:00:00Z".into(),
            next_rotation_date: "2025-06-08T00:00:00Z".into(),
            extended_config: extended_config.into(),
            automatic_rotation: "Enabled".into(),
            rotation_interval: "604800s".into(),
        });
    }
}

/// The secret name [`restart_cache_file`] opens files for.
pub const RESTART_CACHE_SECRET: &str = "acs/ram/user/fuzz";

/// A restart cache file (`restart_cache_dir`) as read back after a restart: opened for
/// [`RESTART_CACHE_SECRET`] under the key of the AccessKey identity `LTAI5tFUZZ` / `fuzz-secret`
/// (magic, version, fingerprints, AES-256-GCM), and the same bytes fed to the plaintext decoder
/// directly (which normally only sees authenticated bytes, so the fuzzer could not reach it).
/// Whatever opens is built into a snapshot the way the cache would serve it.
pub fn restart_cache_file(data: &[u8]) {
    let key = restart_cache_key();
    match key.open(RESTART_CACHE_SECRET, data) {
        Ok(restored) => secret_pipeline(&restored.value),
        Err(reason) => discard_error(&reason),
    }
    match crate::cache::restart::decode_plaintext(data) {
        Ok(restored) => secret_pipeline(&restored.value),
        Err(reason) => discard_error(&reason),
    }
}

/// The key [`restart_cache_file`] opens with (derived once: HKDF is cheap, but not free).
fn restart_cache_key() -> &'static crate::cache::restart::RestartKey {
    static KEY: OnceLock<crate::cache::restart::RestartKey> = OnceLock::new();
    KEY.get_or_init(|| {
        crate::cache::restart::RestartKey::from_access_key(
            "access_key",
            "LTAI5tFUZZ",
            &SecretString::new("fuzz-secret"),
        )
    })
}

/// The path token of the endpoint [`endpoint_request`] talks to (seeds use it to reach routes).
pub const ENDPOINT_TOKEN: &str = "fuzz0fuzz1fuzz2fuzz3fuzz4fuzz5fuzz6";

/// The secrets that endpoint serves: the first answers with an AccessKey, the second fails with
/// a KMS error (`Forbidden.ResourceNotFound`).
pub const ENDPOINT_SECRETS: [&str; 2] = ["acs/ram/user/fuzz", "acs/ram/user/broken"];

/// How long the endpoint may take to answer one input and close the connection.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Raw bytes sent to a running local credentials endpoint (the `cli` / `endpoint` server, over
/// TCP on 127.0.0.1) as one connection's request stream, then the write half is closed and the
/// answer read to the end: HTTP/1 parsing, the token check, routing, method check, the health
/// document and the credentials document. Started once per process, with [`ENDPOINT_TOKEN`] and
/// [`ENDPOINT_SECRETS`] and an in-memory KMS.
///
/// # Panics
/// If the endpoint cannot be started, or does not finish answering within 10 s (a hang).
pub fn endpoint_request(data: &[u8]) {
    let harness = endpoint_harness();
    let mut stream = TcpStream::connect(harness.addr)
        .unwrap_or_else(|e| panic!("cannot connect to the fuzzed endpoint: {e}"));
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ANSWER_TIMEOUT));
    // The server may answer (400) and close before it has read everything: that is fine.
    let _ = stream.write_all(data);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            panic!("the endpoint did not finish answering within {ANSWER_TIMEOUT:?}");
        }
    }
}

struct EndpointHarness {
    addr: SocketAddr,
    // Kept alive for the whole process; the runtime drives the server.
    _endpoint: CredentialsEndpoint,
    _runtime: tokio::runtime::Runtime,
}

fn endpoint_harness() -> &'static EndpointHarness {
    static HARNESS: OnceLock<EndpointHarness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime for the fuzzed endpoint: {e}"));
        let endpoint = runtime.block_on(async {
            let provider = ManagedCredentialsProvider::builder()
                .client(Arc::new(FixedKms::default()))
                .build()
                .await
                .unwrap_or_else(|e| panic!("provider for the fuzzed endpoint: {e}"));
            let config = EndpointConfig {
                token: Some(Zeroizing::new(ENDPOINT_TOKEN.to_owned())),
                ..EndpointConfig::default()
            };
            let secrets = ENDPOINT_SECRETS.iter().map(|s| (*s).to_owned()).collect();
            CredentialsEndpoint::start(provider, secrets, config)
                .await
                .unwrap_or_else(|e| panic!("starting the fuzzed endpoint: {e}"))
        });
        EndpointHarness {
            addr: endpoint.local_addr(),
            _endpoint: endpoint,
            _runtime: runtime,
        }
    })
}

/// An in-memory KMS behind the fuzzed endpoint: one RAM credential, everything else not found.
#[derive(Debug)]
struct FixedKms {
    endpoint: Endpoint,
}

impl Default for FixedKms {
    fn default() -> Self {
        Self {
            endpoint: Endpoint {
                host: "kms.fuzz.invalid".into(),
                port: 443,
            },
        }
    }
}

impl KmsClient for FixedKms {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move {
            if request.secret_name != ENDPOINT_SECRETS[0] {
                return Err(KmsError::Service {
                    endpoint: self.endpoint.to_string(),
                    secret_name: request.secret_name.clone(),
                    http_status: 404,
                    code: "Forbidden.ResourceNotFound".into(),
                    message: "The resource cannot be found.".into(),
                    request_id: "fuzz".into(),
                    details: None,
                });
            }
            Ok(SecretValue {
                secret_name: request.secret_name.clone(),
                secret_type: "RAMCredentials".into(),
                secret_data: SecretString::new(
                    r#"{"AccessKeyId":"LTAI5tFUZZFUZZFUZZFUZZ00","AccessKeySecret":"fuzzSecretFuzzSecretFuzzSecret","GenerateTimestamp":"2025-05-25T00:00:00Z"}"#,
                ),
                secret_data_type: "text".into(),
                version_stages: vec!["ACSCurrent".into()],
                version_id: "v1".into(),
                create_time: String::new(),
                request_id: "fuzz".into(),
                last_rotation_date: String::new(),
                next_rotation_date: String::new(),
                extended_config: r#"{"SecretSubType":"RamUserAccessKey"}"#.into(),
                automatic_rotation: "Enabled".into(),
                rotation_interval: String::new(),
            })
        })
    }
}
