//! The SLS adapter end to end: Alibaba's official Log Service SDK (`aliyun-log-rust-sdk`) gets
//! its credentials from an `AccessKeyProvider`, and a loopback server playing SLS checks the
//! signature of every request it receives with the secret LocalKms issued for the AccessKeyId it
//! names, and only while LocalKms considers that key valid.
//!
//! The SDK puts the project into the host name (`{project}.{endpoint}`), which cannot resolve to
//! 127.0.0.1 without a resolver hook the SDK does not offer, so the tests use a project-less call:
//! `ListProject` (`GET /?offset=..&size=..&projectName=..` on the bare endpoint). It carries every
//! part of the signature that is not about a body: method, date, the `x-log-*` headers and the
//! resource with its sorted query.

mod integrations_support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aliyun_log_rust_sdk::{Client, Config, CredentialsProvider, FromConfig};
use aliyun_managed_credentials::{AccessKeyProvider, ExpiryPolicy};
use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use integrations_support::{Setup, SECRET};

/// What the server saw: the AccessKeyId of each request whose signature it verified, and the
/// error code of each request it refused.
#[derive(Default)]
struct Seen {
    accepted: Vec<String>,
    refused: Vec<&'static str>,
}

struct Sls {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Sls {
    async fn start(setup: &Setup) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (kms, known, log) = (
            Arc::clone(&setup.kms),
            Arc::clone(&setup.known),
            Arc::clone(&seen),
        );
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kms, known, log) = (Arc::clone(&kms), Arc::clone(&known), Arc::clone(&log));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let secret_of = |id: &str| {
                            if !kms.is_access_key_valid(id) {
                                return None;
                            }
                            known.lock().unwrap().get(id).cloned()
                        };
                        let (status, body) = match verify(&req, secret_of) {
                            Ok(id) => {
                                log.lock().unwrap().accepted.push(id.clone());
                                (200, list_project_body(&id))
                            }
                            Err((status, code)) => {
                                log.lock().unwrap().refused.push(code);
                                let body = format!(
                                    r#"{{"errorCode":"{code}","errorMessage":"refused by the test server"}}"#
                                );
                                (status, body)
                            }
                        };
                        let resp = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .header("x-log-requestid", "test-request")
                            .body(Full::new(Bytes::from(body)))
                            .unwrap();
                        async move { Ok::<_, Infallible>(resp) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    fn client(&self, provider: impl CredentialsProvider) -> Client {
        let config = Config::builder()
            .endpoint(format!("http://{}", self.addr))
            .credentials_provider(provider)
            .build()
            .expect("SDK config");
        Client::from_config(config).expect("SDK client")
    }

    fn accepted(&self) -> Vec<String> {
        self.seen.lock().unwrap().accepted.clone()
    }

    fn refused(&self) -> Vec<&'static str> {
        self.seen.lock().unwrap().refused.clone()
    }
}

/// One `ListProject` call through the SDK: Ok(the project description the server wrote, which
/// names the AccessKeyId it verified) or Err((HTTP status, SLS error code)).
async fn list_projects(client: &Client) -> Result<String, (u32, String)> {
    match client
        .list_projects(0, 10)
        .project_name("app-logs")
        .send()
        .await
    {
        Ok(resp) => {
            let body = resp.get_body();
            assert_eq!(*body.count(), 1);
            Ok(body.projects()[0].description().clone())
        }
        Err(aliyun_log_rust_sdk::Error::Server {
            error_code,
            http_status,
            ..
        }) => Err((http_status, error_code)),
        Err(other) => panic!("the call failed before the server answered: {other}"),
    }
}

/// Checks an SLS request as the service does and returns the AccessKeyId that signed it, or
/// (HTTP status, SLS error code).
///
/// Written from the SLS documentation, not from the SDK's signer ("Request signatures",
/// <https://www.alibabacloud.com/help/en/sls/developer-reference/request-signatures>; error codes
/// from "Error codes", <https://www.alibabacloud.com/help/en/sls/developer-reference/error-codes>):
///
/// ```text
/// Authorization = "LOG " + AccessKeyId + ":" + base64(HMAC-SHA1(AccessKeySecret, SignString))
/// SignString    = VERB + "\n" + Content-MD5 + "\n" + Content-Type + "\n" + Date + "\n"
///                 + CanonicalizedLOGHeaders + "\n" + CanonicalizedResource
/// CanonicalizedLOGHeaders: every x-log-* and x-acs-* header, name lower-cased, sorted by name,
///                 "name:value", joined with "\n"
/// CanonicalizedResource: the path, then if there are query parameters "?" and the decoded
///                 "name=value" pairs sorted by name, joined with "&"
/// ```
///
/// `x-log-signaturemethod: hmac-sha1` and `x-log-apiversion: 0.6.0` are required, and a `Date`
/// more than 15 minutes from the server's clock is refused (`RequestTimeExpired`).
fn verify<B>(
    req: &hyper::Request<B>,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<String, (u16, &'static str)> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("x-log-apiversion") != "0.6.0" {
        return Err((400, "MissingAPIVersion"));
    }
    if header("x-log-signaturemethod") != "hmac-sha1" {
        return Err((400, "MissingSignatureMethod"));
    }
    let date = header("date");
    let Ok(sent) = httpdate::parse_http_date(date) else {
        return Err((400, "InvalidDateFormat"));
    };
    let now = SystemTime::now();
    let skew = now
        .duration_since(sent)
        .or_else(|_| sent.duration_since(now))
        .unwrap();
    if skew > Duration::from_secs(15 * 60) {
        return Err((400, "RequestTimeExpired"));
    }
    let Some((id, signature)) = header("authorization")
        .strip_prefix("LOG ")
        .and_then(|s| s.split_once(':'))
    else {
        return Err((401, "Unauthorized"));
    };
    let Some(secret) = secret_of(id) else {
        return Err((401, "Unauthorized"));
    };

    let mut log_headers: Vec<(String, &str)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("")))
        .filter(|(k, _)| k.starts_with("x-log-") || k.starts_with("x-acs-"))
        .collect();
    log_headers.sort();
    let log_headers = log_headers
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join("\n");

    let mut resource = req.uri().path().to_owned();
    let mut params: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (form_decode(k), form_decode(v))
        })
        .collect();
    if !params.is_empty() {
        params.sort();
        let query = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        resource = format!("{resource}?{query}");
    }

    let sign_string = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method().as_str(),
        header("content-md5"),
        header("content-type"),
        date,
        log_headers,
        resource
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&key, sign_string.as_bytes()));
    if signature != expected {
        return Err((401, "SignatureNotMatch"));
    }
    Ok(id.to_owned())
}

/// `application/x-www-form-urlencoded` decoding of one query component (`+` is a space).
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A `ListProject` answer with one project whose description names the verified AccessKeyId.
fn list_project_body(id: &str) -> String {
    serde_json::json!({
        "count": 1,
        "total": 1,
        "projects": [{
            "projectName": "app-logs",
            "status": "Normal",
            "owner": "1234567890",
            "description": format!("signed by {id}"),
            "region": "cn-hangzhou",
            "createTime": "1700000000",
            "lastModifyTime": "1700000000",
            "dataRedundancyType": "LRS",
        }],
    })
    .to_string()
}

#[tokio::test]
async fn sdk_signs_with_the_managed_key_and_takes_the_new_key_after_the_reported_expiry() {
    let setup = Setup::new().await;
    let sls = Sls::start(&setup).await;
    // The default policy: the SDK is told each key is good for at most max_validity (1 h).
    let policy = ExpiryPolicy::default();
    let client = sls.client(setup.provider.access_key_provider(SECRET));

    let old = setup.kms.current_access_key(SECRET).access_key_id.clone();
    assert_eq!(list_projects(&client).await, Ok(format!("signed by {old}")));
    assert_eq!(list_projects(&client).await, Ok(format!("signed by {old}")));

    let new = setup.rotate_and_revoke();
    assert_ne!(new, old);
    setup.provider.refresh_now(SECRET).await.unwrap();

    // The SDK keeps the credentials it fetched until shortly before the expiry we reported, so it
    // still signs with the old key, which the service now refuses.
    assert_eq!(
        list_projects(&client).await,
        Err((401, "Unauthorized".to_owned()))
    );
    assert_eq!(sls.refused(), ["Unauthorized"]);

    // Let the SDK's clock (tokio's) pass the reported expiry. The SDK fetches again, and the
    // adapter answers from the provider's cache, which already holds the new key.
    tokio::time::pause();
    tokio::time::advance(policy.max_validity + Duration::from_secs(1)).await;
    tokio::time::resume();

    assert_eq!(list_projects(&client).await, Ok(format!("signed by {new}")));
    assert_eq!(sls.accepted(), [old.clone(), old, new]);
}

#[tokio::test]
async fn the_server_refuses_a_wrong_secret() {
    let setup = Setup::new().await;
    let sls = Sls::start(&setup).await;
    let id = setup.kms.current_access_key(SECRET).access_key_id.clone();
    let wrong = aliyun_log_rust_sdk::static_credentials_provider(&id, "not-the-secret", None)
        .expect("static credentials");
    assert_eq!(
        list_projects(&sls.client(wrong)).await,
        Err((401, "SignatureNotMatch".to_owned()))
    );
    assert!(sls.accepted().is_empty());
}

#[tokio::test]
async fn credentials_always_carry_the_synthetic_expiry() {
    let setup = Setup::new().await;
    let current = setup.kms.current_access_key(SECRET);
    let now = SystemTime::now();

    let creds = setup.provider.access_key_provider(SECRET);
    let c = creds.fetch_credentials().await.unwrap();
    assert_eq!(c.access_key_id(), current.access_key_id);
    assert_eq!(c.access_key_secret(), current.access_key_secret);
    assert_eq!(c.security_token(), None);
    // LocalKms rotates weekly and the provider refreshes within hours: the 1 h cap decides.
    let left = seconds_left(&c, now);
    assert!((3595..=3601).contains(&left), "expires in {left} s");

    let short: AccessKeyProvider = creds.with_expiry_policy(integrations_support::expiry(
        Duration::from_secs(60),
        Some(Duration::from_secs(600)),
    ));
    let left = seconds_left(&short.fetch_credentials().await.unwrap(), now);
    assert!((595..=601).contains(&left), "expires in {left} s");
}

#[tokio::test]
async fn a_failed_fetch_names_the_secret_and_not_the_key() {
    let setup = Setup::new().await;
    let current = setup.kms.current_access_key(SECRET);
    let creds = setup.provider.access_key_provider(SECRET);
    setup.provider.close().await;

    let err = creds.fetch_credentials().await.unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        chain.push_str(" / ");
        chain.push_str(&e.to_string());
        source = e.source();
    }
    assert!(chain.contains(&format!("secret '{SECRET}'")), "{chain}");
    assert!(!chain.contains(&current.access_key_secret), "{chain}");
    // The SDK prints only the top message: it carries the reason too.
    let top = err.to_string();
    assert!(top.contains(SECRET) && top.contains("closed"), "{top}");
}

fn seconds_left(c: &aliyun_log_rust_sdk::Credentials, now: SystemTime) -> u64 {
    c.expiration()
        .expect("never without expiration")
        .duration_since(now)
        .expect("in the future")
        .as_secs()
}
