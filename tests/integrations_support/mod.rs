//! Shared set-up for the integrations tests: LocalKms + provider, and a loopback "Alibaba Cloud
//! API" that verifies RPC signatures and accepts only AccessKeys LocalKms still considers valid.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aliyun_managed_credentials::testing::{AccessPoint, LocalKms};
use aliyun_managed_credentials::Config;
use aliyun_managed_credentials::ManagedCredentialsProvider;
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SECRET: &str = "acs/ram/user/app";

/// The default expiry policy with `min_validity` (and `max_validity`) changed.
pub fn expiry(
    min_validity: std::time::Duration,
    max_validity: Option<std::time::Duration>,
) -> aliyun_managed_credentials::ExpiryPolicy {
    let mut policy = aliyun_managed_credentials::ExpiryPolicy::default();
    policy.min_validity = min_validity;
    if let Some(max) = max_validity {
        policy.max_validity = max;
    }
    policy
}

pub struct Setup {
    pub kms: Arc<LocalKms>,
    pub provider: ManagedCredentialsProvider,
    pub ap: AccessPoint,
    /// AccessKeyId -> secret of every key LocalKms handed out (the downstream checks signatures).
    pub known: Arc<Mutex<HashMap<String, String>>>,
}

impl Setup {
    pub async fn new() -> Self {
        let kms = LocalKms::start().await.expect("LocalKms starts");
        let ap = kms.issue_access_point(&["*"]);
        let pair = kms.put_ram_credential(SECRET);
        let config = Config::builder()
            .add_instance_endpoint(kms.instance_config(&ap))
            .build()
            .expect("config");
        let provider = ManagedCredentialsProvider::from_config(config)
            .await
            .expect("provider");
        let known = Arc::new(Mutex::new(HashMap::from([(
            pair.access_key_id.clone(),
            pair.access_key_secret.clone(),
        )])));
        Self {
            kms: Arc::new(kms),
            provider,
            ap,
            known,
        }
    }

    /// Rotates on LocalKms and revokes the old key: the downstream rejects it from now on.
    pub fn rotate_and_revoke(&self) -> String {
        let pair = self.kms.rotate(SECRET);
        self.kms.revoke_previous(SECRET);
        self.known
            .lock()
            .unwrap()
            .insert(pair.access_key_id.clone(), pair.access_key_secret.clone());
        pair.access_key_id.clone()
    }
}

/// How the downstream service answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Accept valid keys with a correct signature.
    Normal,
    /// Reject every key with InvalidAccessKeyId.NotFound (key "dead" although KMS still has it).
    RejectAll,
    /// Fail every call with a code that is not about the key.
    Throttle,
}

pub struct Downstream {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub rejected: Arc<AtomicUsize>,
    pub mode: Arc<Mutex<Mode>>,
}

impl Downstream {
    pub async fn start(setup: &Setup) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let (kms, known) = (Arc::clone(&setup.kms), Arc::clone(&setup.known));
        let (acc, rej, m) = (
            Arc::clone(&accepted),
            Arc::clone(&rejected),
            Arc::clone(&mode),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kms, known, acc, rej, m) = (
                    Arc::clone(&kms),
                    Arc::clone(&known),
                    Arc::clone(&acc),
                    Arc::clone(&rej),
                    Arc::clone(&m),
                );
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let (status, body) = answer(&kms, &known, *m.lock().unwrap(), &req);
                        if status == 200 {
                            acc.fetch_add(1, Ordering::SeqCst);
                        } else {
                            rej.fetch_add(1, Ordering::SeqCst);
                        }
                        let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        async move { Ok::<_, Infallible>(resp) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            accepted,
            rejected,
            mode,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn answer<B>(
    kms: &LocalKms,
    known: &Mutex<HashMap<String, String>>,
    mode: Mode,
    req: &hyper::Request<B>,
) -> (u16, String) {
    let err = |status, code: &str| (status, format!(r#"{{"Code":"{code}","RequestId":"r"}}"#));
    if mode == Mode::Throttle {
        return err(400, "Throttling.User");
    }
    let params: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let Some(id) = params.get("AccessKeyId") else {
        return err(400, "MissingAccessKeyId");
    };
    if mode == Mode::RejectAll || !kms.is_access_key_valid(id) {
        return err(404, "InvalidAccessKeyId.NotFound");
    }
    let Some(secret) = known.lock().unwrap().get(id).cloned() else {
        return err(404, "InvalidAccessKeyId.NotFound");
    };
    let expected = rpc_signature(&secret, req.method().as_str(), &params);
    if params.get("Signature") != Some(&expected) {
        return err(400, "SignatureDoesNotMatch");
    }
    (200, format!(r#"{{"RequestId":"r","AccessKeyId":"{id}"}}"#))
}

/// Alibaba Cloud RPC signature v1, written here from the published algorithm (not the crate's
/// signer): every parameter but `Signature`, sorted, RFC 3986-encoded, joined, encoded again
/// after `METHOD&%2F&`, HMAC-SHA1 keyed with `secret&`, base64.
pub fn rpc_signature(secret: &str, method: &str, params: &BTreeMap<String, String>) -> String {
    const RFC3986: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, RFC3986).to_string();
    let canonical = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        enc("/"),
        enc(&canonical)
    );
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{secret}&").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, to_sign.as_bytes()))
}

/// A minimal HTTP/1.1 GET over a fresh connection: (status, body).
pub async fn http_get(addr: SocketAddr, path_and_query: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Error of a downstream call: HTTP status and the `Code` of the JSON body.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
}

pub fn code_of(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("Code")?
        .as_str()
        .map(str::to_owned)
}
