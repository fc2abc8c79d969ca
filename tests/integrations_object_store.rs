//! The object_store adapter end to end: object_store's `AmazonS3` signs SigV4 with the managed key,
//! and a real S3 server on 127.0.0.1 checks it. The server is the `s3s` library (routing, XML,
//! SigV4 verification: none of it shares code with object_store's signer) over `s3s-fs` (objects
//! in a temporary directory). Its `S3Auth` answers the secret of an AccessKeyId only while
//! LocalKms considers that key valid, so a revoked key gets S3's 403 `InvalidAccessKeyId`; its
//! `S3Access` records which AccessKeyId signed each request it verified.
//!
//! Addressing: most tests use path style on `http://127.0.0.1:PORT` (object_store's default HTTP
//! client, unchanged). OSS accepts virtual-hosted style only; that is tested too, with the bucket in
//! the `Host` header (`my-bucket.s3.oss-test.localhost:PORT`, resolved to 127.0.0.1 by the test's
//! HTTP client) and s3s reading the bucket from it.

mod integrations_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aliyun_managed_credentials::config::RefreshConfig;
use aliyun_managed_credentials::testing::LocalKms;
use aliyun_managed_credentials::{
    with_access_key, AccessKeyProvider, CallError, Config, ManagedCredentialsProvider,
    ProvideAccessKey, RefreshOutcome,
};
use integrations_support::{Setup, SECRET};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpClient, HttpConnector};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::SingleDomain;
use s3s::service::S3ServiceBuilder;
use s3s::{s3_error, S3Result};

const BUCKET: &str = "my-bucket";
/// Base domain of the virtual-hosted test (`.localhost` never leaves the machine).
const DOMAIN: &str = "s3.oss-test.localhost";

/// One request the server verified: operation, AccessKeyId that signed it, `Host` header.
#[derive(Clone, Debug)]
struct Signed {
    op: String,
    access_key_id: String,
    host: String,
    bucket: Option<String>,
}

/// s3s `S3Auth` backed by LocalKms: the secret of a key LocalKms handed out, while it is valid.
struct KmsAuth {
    kms: Arc<LocalKms>,
    known: Arc<Mutex<HashMap<String, String>>>,
}

#[async_trait::async_trait]
impl S3Auth for KmsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if !self.kms.is_access_key_valid(access_key) {
            return Err(s3_error!(InvalidAccessKeyId));
        }
        match self.known.lock().unwrap().get(access_key) {
            Some(secret) => Ok(SecretKey::from(secret.as_str())),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// s3s `S3Access`: runs after the signature was verified; records who signed what.
struct Recorder(Arc<Mutex<Vec<Signed>>>);

#[async_trait::async_trait]
impl S3Access for Recorder {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "unsigned request"));
        };
        let signed = Signed {
            op: cx.s3_op().name().to_owned(),
            access_key_id: credentials.access_key.clone(),
            host: cx
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            bucket: cx.s3_path().get_bucket_name().map(str::to_owned),
        };
        self.0.lock().unwrap().push(signed);
        Ok(())
    }
}

struct S3Server {
    addr: SocketAddr,
    signed: Arc<Mutex<Vec<Signed>>>,
    /// HTTP status of every answer (an `Err` from s3s counts as 500).
    statuses: Arc<Mutex<Vec<u16>>>,
    _root: tempfile::TempDir,
}

impl S3Server {
    /// Starts s3s + s3s-fs on 127.0.0.1 with bucket [`BUCKET`]; with `virtual_host`, requests
    /// to `BUCKET.DOMAIN:PORT` address the bucket by host.
    async fn start(setup: &Setup, virtual_host: bool) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let signed = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(Vec::new()));

        let mut builder = S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        builder.set_auth(KmsAuth {
            kms: Arc::clone(&setup.kms),
            known: Arc::clone(&setup.known),
        });
        builder.set_access(Recorder(Arc::clone(&signed)));
        if virtual_host {
            let domain = format!("{DOMAIN}:{}", addr.port());
            builder.set_host(SingleDomain::new(&domain).unwrap());
        }
        let service = builder.build();

        let recorded = Arc::clone(&statuses);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (service, recorded) = (service.clone(), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (service, recorded) = (service.clone(), Arc::clone(&recorded));
                        async move {
                            let answer = hyper::service::Service::call(&service, req).await;
                            let status = match &answer {
                                Ok(resp) => resp.status().as_u16(),
                                Err(_) => 500,
                            };
                            recorded.lock().unwrap().push(status);
                            answer
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            signed,
            statuses,
            _root: root,
        }
    }

    fn signed(&self) -> Vec<Signed> {
        self.signed.lock().unwrap().clone()
    }

    fn key_ids(&self) -> Vec<String> {
        self.signed().into_iter().map(|s| s.access_key_id).collect()
    }

    /// Waits (at most 5 s) until `pred` holds for the AccessKeyIds recorded so far.
    async fn wait_until(&self, pred: impl Fn(&[String]) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pred(&self.key_ids()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().unwrap().clone()
    }

    /// `AmazonS3` for [`BUCKET`] on this server, path style, object_store's default HTTP client.
    fn store(&self, creds: &AccessKeyProvider) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", self.addr))
            .with_allow_http(true)
            .with_region("cn-hangzhou")
            .with_bucket_name(BUCKET)
            .with_credentials(Arc::new(creds.clone()))
            .build()
            .unwrap()
    }
}

/// The S3 error code (`<Code>` of the XML body) of a 401/403 answer: what an object_store user
/// writes to feed `with_access_key` (object_store has no invalidation hook of its own).
fn s3_error_code(e: &object_store::Error) -> Option<String> {
    let (object_store::Error::PermissionDenied { source, .. }
    | object_store::Error::Unauthenticated { source, .. }) = e
    else {
        return None;
    };
    let text = source.to_string();
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].to_owned())
}

async fn put_get(store: &AmazonS3, name: &str, body: &str) {
    let path = Path::from(name);
    store
        .put(&path, PutPayload::from(body.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("PUT {name}: {e}"));
    let got = store
        .get(&path)
        .await
        .unwrap_or_else(|e| panic!("GET {name}: {e}"))
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, body.as_bytes(), "GET {name} returns what was PUT");
}

fn learn(setup: &Setup, pair: &aliyun_managed_credentials::testing::AccessKeyPair) -> String {
    setup
        .known
        .lock()
        .unwrap()
        .insert(pair.access_key_id.clone(), pair.access_key_secret.clone());
    pair.access_key_id.clone()
}

#[tokio::test]
async fn put_and_get_are_signed_with_the_managed_key_and_switch_after_rotation() {
    let setup = Setup::new().await;
    let server = S3Server::start(&setup, false).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let store = server.store(&creds);
    let old = setup.kms.current_access_key(SECRET).access_key_id.clone();

    put_get(&store, "dir/a.txt", "one").await;
    let ops: Vec<_> = server.signed().into_iter().map(|s| s.op).collect();
    assert_eq!(ops, ["PutObject", "GetObject"]);
    assert_eq!(server.key_ids(), [old.clone(), old.clone()]);

    // Rotated on KMS; the old key stays valid (not revoked) until the provider moves on.
    let new = learn(&setup, &setup.kms.rotate(SECRET));
    put_get(&store, "dir/a.txt", "still old").await;
    // The provider picks a rotation up on its schedule (next test) or on a rejection; forced here.
    setup.provider.refresh_now(SECRET).await.unwrap();
    put_get(&store, "dir/b.txt", "two").await;
    put_get(&store, "dir/a.txt", "three").await;

    assert_eq!(
        server.key_ids(),
        [&old, &old, &old, &old, &new, &new, &new, &new].map(String::clone),
        "every request after the refresh carries the new key"
    );
    assert!(
        server.statuses().iter().all(|s| *s == 200),
        "no failed request: {:?}",
        server.statuses()
    );
    // Eight signed requests, two KMS fetches (start + refresh): answered from the cache.
    assert_eq!(setup.kms.request_count(SECRET), 2);
}

#[tokio::test]
async fn concurrent_requests_move_to_the_new_key_on_the_scheduled_refresh_without_a_failure() {
    // A provider that refreshes every 200 ms on its own (no refresh_now, no rejection).
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    let pair = kms.put_ram_credential(SECRET);
    let refresh = RefreshConfig {
        max_interval: Duration::from_millis(200),
        jitter: Duration::ZERO,
        ..RefreshConfig::default()
    };
    let config = Config::builder()
        .add_instance_endpoint(kms.instance_config(&ap))
        .with_refresh(refresh)
        .build()
        .unwrap();
    let provider = ManagedCredentialsProvider::from_config(config)
        .await
        .unwrap();
    let setup = Setup {
        kms: Arc::new(kms),
        provider,
        ap,
        known: Arc::new(Mutex::new(HashMap::from([(
            pair.access_key_id.clone(),
            pair.access_key_secret.clone(),
        )]))),
    };
    let server = S3Server::start(&setup, false).await;
    let store = Arc::new(server.store(&setup.provider.access_key_provider(SECRET)));
    let old = pair.access_key_id.clone();

    // Four workers PUT and GET their own object in a loop until told to stop (bounded: 10 s).
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut n = 0u32;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    put_get(&store, &format!("w{w}.txt"), &format!("{w}-{n}")).await;
                    n += 1;
                }
                n
            })
        })
        .collect();

    let old_seen = server.key_ids().len();
    server
        .wait_until(|ids| ids.len() >= old_seen + 20, "traffic")
        .await;
    let new = learn(&setup, &setup.kms.rotate(SECRET));
    let rotated_at = server.key_ids().len();
    server
        .wait_until(
            |ids| ids.iter().filter(|id| **id == new).count() >= 20,
            "requests signed with the new key",
        )
        .await;
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for w in workers {
        total += w.await.expect("no worker saw a failed request");
    }

    let ids = server.key_ids();
    assert_eq!(
        ids.len() as u32,
        total * 2,
        "every PUT and GET was verified"
    );
    assert!(ids[..rotated_at].iter().all(|id| *id == old));
    let first_new = ids.iter().position(|id| *id == new).unwrap();
    assert!(first_new >= rotated_at);
    // Requests signed just before the switch may still arrive after the first new one, but the
    // tail is the new key only.
    assert!(ids[ids.len() - 8..].iter().all(|id| *id == new), "{ids:?}");
    assert!(ids.iter().all(|id| *id == old || *id == new));
    let statuses = server.statuses();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "no failed request: {statuses:?}"
    );
    setup.provider.close().await;
}

#[tokio::test]
async fn a_revoked_key_is_reported_from_the_403_and_the_call_succeeds_with_the_new_key() {
    let setup = Setup::new().await;
    let server = S3Server::start(&setup, false).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let store = server.store(&creds);
    put_get(&store, "a.txt", "one").await;
    let first = creds.access_key().await.unwrap();

    // Rotated early and the old key deleted: the cache still holds it, the server refuses it.
    let second = setup.rotate_and_revoke();
    let path = Path::from("a.txt");
    let err = store
        .put(&path, PutPayload::from_static(b"two"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::PermissionDenied { .. }),
        "{err}"
    );
    assert_eq!(s3_error_code(&err).as_deref(), Some("InvalidAccessKeyId"));
    assert_eq!(server.statuses().last(), Some(&403));

    // Reporting by hand: the provider fetches the secret again and hands out the new key.
    let outcome = creds.report_rejected(&first, "InvalidAccessKeyId").await;
    let RefreshOutcome::NewKey(new_key) = outcome else {
        panic!("expected a new key, got {outcome:?}");
    };
    assert_eq!(new_key.access_key_id(), second);
    put_get(&store, "a.txt", "two").await;
    assert_eq!(server.key_ids().last(), Some(&second));

    // The same through with_access_key: 403, report, one replay with the new key.
    let third = setup.rotate_and_revoke();
    let before = server.signed().len();
    let put = with_access_key(&creds, s3_error_code, |_key| {
        store.put(&path, PutPayload::from_static(b"three"))
    })
    .await;
    assert!(put.is_ok(), "{put:?}");
    let (st, p) = (&store, &path);
    let got = with_access_key(&creds, s3_error_code, move |_key| async move {
        st.get(p).await?.bytes().await
    })
    .await
    .unwrap();
    assert_eq!(got.as_ref(), b"three");
    // The rejected PUT is not recorded (s3s refuses it before access control); the replay and
    // the GET carry the new key.
    assert_eq!(server.key_ids()[before..], [third.clone(), third.clone()]);
    assert_eq!(
        server.statuses().iter().filter(|s| **s == 403).count(),
        2,
        "one 403 per revocation: {:?}",
        server.statuses()
    );

    // An error that is not about the key is returned as is, without a replay.
    let nothing = Path::from("no-such-object");
    let missing = with_access_key(&creds, s3_error_code, |_key| store.get(&nothing))
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            CallError::Operation(object_store::Error::NotFound { .. })
        ),
        "{missing:?}"
    );
}

#[tokio::test]
async fn the_server_verifies_the_signature_against_the_managed_secret() {
    let setup = Setup::new().await;
    let server = S3Server::start(&setup, false).await;
    let id = setup.kms.current_access_key(SECRET).access_key_id.clone();
    let store_with = |secret: &str| {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", server.addr))
            .with_allow_http(true)
            .with_region("cn-hangzhou")
            .with_bucket_name(BUCKET)
            .with_access_key_id(&id)
            .with_secret_access_key(secret)
            .build()
            .unwrap()
    };
    // The right id with a wrong secret: s3s recomputes the signature and refuses it.
    let err = store_with("not-the-managed-secret")
        .put(&Path::from("x"), PutPayload::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(
        s3_error_code(&err).as_deref(),
        Some("SignatureDoesNotMatch")
    );
    // The same static credential with the managed secret passes: the check is the signature.
    let secret = setup
        .kms
        .current_access_key(SECRET)
        .access_key_secret
        .clone();
    put_get(&store_with(&secret), "x", "x").await;
    assert_eq!(server.statuses(), [403, 200, 200]);
    assert_eq!(server.key_ids(), [id.clone(), id]);
}

/// An `HttpConnector` whose client sends every `*.DOMAIN` name to the test server; object_store
/// builds the URL and the signed `Host` header as it would for a real bucket host.
#[derive(Debug)]
struct ResolveToLoopback(SocketAddr);

impl HttpConnector for ResolveToLoopback {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        let client = reqwest012::Client::builder()
            .resolve(&format!("{BUCKET}.{DOMAIN}"), self.0)
            .no_proxy()
            .build()
            .unwrap();
        Ok(HttpClient::new(client))
    }
}

#[tokio::test]
async fn virtual_hosted_style_puts_the_bucket_in_the_signed_host() {
    let setup = Setup::new().await;
    let server = S3Server::start(&setup, true).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let port = server.addr.port();
    // As for OSS: with virtual-hosted style the endpoint already names the bucket.
    let store = AmazonS3Builder::new()
        .with_endpoint(format!("http://{BUCKET}.{DOMAIN}:{port}"))
        .with_virtual_hosted_style_request(true)
        .with_allow_http(true)
        .with_region("cn-hangzhou")
        .with_bucket_name(BUCKET)
        .with_credentials(Arc::new(creds.clone()))
        .with_http_connector(ResolveToLoopback(server.addr))
        .build()
        .unwrap();
    put_get(&store, "dir/v.txt", "virtual").await;
    let new = setup.rotate_and_revoke();
    setup.provider.refresh_now(SECRET).await.unwrap();
    put_get(&store, "dir/v.txt", "virtual 2").await;

    let signed = server.signed();
    assert_eq!(signed.len(), 4, "{signed:?}");
    for s in &signed {
        assert_eq!(s.host, format!("{BUCKET}.{DOMAIN}:{port}"));
        assert_eq!(
            s.bucket.as_deref(),
            Some(BUCKET),
            "bucket read from the Host"
        );
    }
    assert_eq!(signed[3].access_key_id, new);
    assert!(server.statuses().iter().all(|s| *s == 200));
}
