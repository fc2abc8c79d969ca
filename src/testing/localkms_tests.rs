//! LocalKms driven with hand-built, hand-signed instance-API requests over real TLS
//! (reqwest trusting only the LocalKms CA file, endpoint name resolved to 127.0.0.1).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use crate::identity::{ClientKey, Password};
use crate::kms::instance::proto;
use crate::testing::{
    AccessPoint, Fault, LocalKms, RamCredentialOptions, ServerCertificate, ACS_CURRENT,
    ACS_PREVIOUS,
};
use base64::Engine;
use prost::Message;

const APP: &str = "acs/ram/user/app";

fn http_client(kms: &LocalKms) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(kms.ca_file()).unwrap();
    let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap();
    assert_eq!(certs.len(), 2, "root + Second CA");
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .resolve(&kms.endpoint().host, kms.addr())
        .http1_only()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn load_key(ap: &AccessPoint) -> ClientKey {
    let json = std::fs::read_to_string(&ap.client_key_file).unwrap();
    ClientKey::from_json(&json, &Password::new(ap.password.clone()), "test").unwrap()
}

/// One instance-API request under construction: headers can be changed before/after signing.
struct Req {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Req {
    fn get_secret(key_id: &str, name: &str, stage: &str, version_id: &str) -> Self {
        let body = proto::RequestMessage {
            secret_name: name.into(),
            version_stage: stage.into(),
            version_id: version_id.into(),
            fetch_extended_config: true,
        }
        .encode_to_vec();
        let mut headers = BTreeMap::new();
        for (k, v) in [
            ("accept", "application/x-protobuf"),
            ("x-kms-apiversion", "dkms-gcs-0.2"),
            ("x-kms-apiname", "GetSecretValue"),
            ("x-kms-signaturemethod", "RSA_PKCS1_SHA_256"),
            ("x-kms-acccesskeyid", key_id),
            ("content-type", "application/x-protobuf"),
        ] {
            headers.insert(k.to_owned(), v.to_owned());
        }
        headers.insert("date".into(), httpdate::fmt_http_date(SystemTime::now()));
        Self { headers, body }
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    fn remove(&mut self, name: &str) -> &mut Self {
        self.headers.remove(name);
        self
    }

    /// Computes content-sha256 and the Authorization header (spec §2).
    fn sign(&mut self, key: &ClientKey) -> &mut Self {
        let sha = hex::encode_upper(ring::digest::digest(&ring::digest::SHA256, &self.body));
        self.headers.insert("content-sha256".into(), sha);
        let h = |n: &str| self.headers.get(n).cloned().unwrap_or_default();
        let mut sts = format!(
            "POST\n{}\n{}\n{}\n",
            h("content-sha256"),
            h("content-type"),
            h("date")
        );
        for (name, value) in &self.headers {
            if name.starts_with("x-kms-") {
                sts.push_str(&format!("{name}:{}\n", value.trim()));
            }
        }
        sts.push('/');
        let signature = key.sign_sha256_rsa(sts.as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
        self.headers
            .insert("authorization".into(), format!("Bearer {b64}"));
        self
    }

    async fn send(&self, client: &reqwest::Client, kms: &LocalKms) -> reqwest::Result<Answer> {
        let mut request = client
            .post(format!("https://{}/", kms.endpoint().authority()))
            .body(self.body.clone());
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> proto::ResponseMessage {
        assert_eq!(self.status, 200, "{:?}", self.error());
        assert_eq!(self.content_type, "application/x-protobuf");
        proto::ResponseMessage::decode(self.body.as_slice()).unwrap()
    }

    fn error(&self) -> proto::ErrorMessage {
        proto::ErrorMessage::decode(self.body.as_slice()).unwrap()
    }

    fn assert_error(&self, status: u16, code: &str) -> proto::ErrorMessage {
        let error = self.error();
        assert_eq!(
            (self.status, error.error_code.as_str()),
            (status, code),
            "{error:?}"
        );
        assert_eq!(error.status_code, i32::from(status));
        assert_eq!(self.content_type, "application/x-protobuf");
        assert_uuid_like(&error.request_id);
        error
    }
}

fn assert_uuid_like(id: &str) {
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, vec![8, 4, 4, 4, 12], "{id}");
    assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
}

fn assert_kms_date(date: &str) {
    assert!(
        time::PrimitiveDateTime::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")
        )
        .is_ok(),
        "{date:?}"
    );
}

struct Setup {
    kms: LocalKms,
    ap: AccessPoint,
    key: ClientKey,
    client: reqwest::Client,
}

async fn setup() -> Setup {
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    let key = load_key(&ap);
    let client = http_client(&kms);
    Setup {
        kms,
        ap,
        key,
        client,
    }
}

impl Setup {
    async fn fetch(&self, name: &str, stage: &str, version_id: &str) -> Answer {
        Req::get_secret(&self.ap.key_id, name, stage, version_id)
            .sign(&self.key)
            .send(&self.client, &self.kms)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn ram_credential_with_every_field() {
    let s = setup().await;
    s.kms.put_ram_credential(APP);
    let current = s.kms.rotate(APP);
    let answer = s.fetch(APP, "", "").await;
    let r = answer.ok();
    assert_eq!(r.secret_name, APP);
    assert_eq!(r.secret_type, "RAMCredentials");
    assert_eq!(r.secret_data_type, "text");
    let data: serde_json::Value = serde_json::from_str(&r.secret_data).unwrap();
    assert_eq!(data["AccessKeyId"], current.access_key_id.as_str());
    assert_eq!(data["AccessKeySecret"], current.access_key_secret.as_str());
    assert_kms_date(data["GenerateTimestamp"].as_str().unwrap());
    assert!(data.get("ExpireTimestamp").is_none());
    assert_eq!(r.version_stages, vec![ACS_CURRENT]);
    assert!(!r.version_id.is_empty());
    assert_kms_date(&r.create_time);
    assert_uuid_like(&r.request_id);
    assert_kms_date(&r.last_rotation_date);
    assert_kms_date(&r.next_rotation_date);
    let extended: serde_json::Value = serde_json::from_str(&r.extended_config).unwrap();
    assert_eq!(extended["SecretSubType"], "RamUserAccessKey");
    assert_eq!(extended["UserName"], "app");
    assert_eq!(extended["CustomData"], serde_json::json!({}));
    assert_eq!(r.automatic_rotation, "Enabled");
    assert_eq!(r.rotation_interval, "604800s");
    assert!(current.access_key_id.starts_with("LTAI") && current.access_key_id.len() == 24);
    assert_eq!(current.access_key_secret.len(), 30);
    // Request ids are fresh per answer.
    assert_ne!(s.fetch(APP, "", "").await.ok().request_id, r.request_id);
}

#[tokio::test]
async fn verification_errors_have_the_service_codes() {
    let s = setup().await;
    s.kms.put_ram_credential(APP);
    let other_ap = s.kms.issue_access_point(&["*"]);
    let other_key = load_key(&other_ap);
    let limited_ap = s.kms.issue_access_point(&["acs/ram/user/other*"]);
    let limited_key = load_key(&limited_ap);
    let base = || Req::get_secret(&s.ap.key_id, APP, "", "");

    for header in [
        "x-kms-acccesskeyid",
        "x-kms-apiname",
        "x-kms-apiversion",
        "x-kms-signaturemethod",
        "date",
    ] {
        let mut req = base();
        req.remove(header).sign(&s.key);
        let e = req
            .send(&s.client, &s.kms)
            .await
            .unwrap()
            .assert_error(400, "MissingParameter");
        assert!(e.error_message.contains(header), "{e:?}");
    }
    let mut req = base();
    req.sign(&s.key).remove("authorization");
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "MissingParameter");

    let mut req = base();
    req.set("content-type", "application/json").sign(&s.key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(415, "InvalidContentType");

    let mut req = base();
    req.set("date", "Mon, 3 Jan 2010 08:33:47 UTC").sign(&s.key);
    let e = req
        .send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "InvalidParam");
    assert_eq!(e.error_message, "The Param Date is invalid.");

    let mut req = base();
    let skewed = SystemTime::now() - Duration::from_secs(16 * 60);
    req.set("date", &httpdate::fmt_http_date(skewed))
        .sign(&s.key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "RequestTimeTooSkewed");
    // 14 minutes is within the allowed skew.
    let mut req = base();
    let near = SystemTime::now() + Duration::from_secs(14 * 60);
    req.set("date", &httpdate::fmt_http_date(near)).sign(&s.key);
    req.send(&s.client, &s.kms).await.unwrap().ok();

    // content-sha256 must be the upper-case hex of the body actually sent.
    let mut req = base();
    req.sign(&s.key);
    let lower = req.headers["content-sha256"].to_lowercase();
    req.set("content-sha256", &lower);
    let e = req
        .send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "InvalidParam");
    assert!(e.error_message.contains("Content-SHA256"), "{e:?}");
    let mut req = base();
    req.sign(&s.key);
    req.body.push(0);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "InvalidParam");

    let mut req = Req::get_secret("KAAP.00000000-0000-4000-8000-000000000000", APP, "", "");
    req.sign(&s.key);
    let e = req
        .send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(404, "Unauthorized");
    assert!(e.error_message.contains("KAAP.00000000"), "{e:?}");

    // Signed with another access point's key: the signature does not verify.
    let mut req = base();
    req.sign(&other_key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(401, "SignatureNotMatch");
    // A signed header changed after signing.
    let mut req = base();
    req.sign(&s.key).set("x-kms-apiversion", "dkms-gcs-0.2 ");
    req.send(&s.client, &s.kms).await.unwrap().ok(); // values are trimmed before signing
    let mut req = base();
    req.sign(&s.key).set(
        "date",
        &httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2)),
    );
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(401, "SignatureNotMatch");

    let mut req = Req::get_secret(&limited_ap.key_id, APP, "", "");
    req.sign(&limited_key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(403, "Forbidden.NoPermission");

    let mut req = Req::get_secret(&s.ap.key_id, "acs/ram/user/missing", "", "");
    req.sign(&s.key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(404, "Forbidden.ResourceNotFound");

    let mut req = base();
    req.set("x-kms-apiname", "Encrypt").sign(&s.key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "InvalidApiName");

    let mut req = base();
    req.set("x-kms-signaturemethod", "RSA_PSS_SHA_256")
        .sign(&s.key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(400, "InvalidParam");

    // Bodies over 3 MiB are refused before anything else.
    let mut req = base();
    req.body = vec![0; 3 * 1024 * 1024 + 1];
    req.sign(&s.key);
    assert_eq!(req.send(&s.client, &s.kms).await.unwrap().status, 413);

    // Revoked access points are unknown.
    assert!(s.kms.revoke_access_point(&other_ap.key_id));
    let mut req = Req::get_secret(&other_ap.key_id, APP, "", "");
    req.sign(&other_key);
    req.send(&s.client, &s.kms)
        .await
        .unwrap()
        .assert_error(404, "Unauthorized");

    // Every request was logged with its outcome.
    let outcomes: Vec<String> = s.kms.requests().into_iter().map(|r| r.outcome).collect();
    assert!(outcomes.contains(&"SignatureNotMatch".to_owned()));
    assert!(outcomes.contains(&"OK".to_owned()));
}

#[tokio::test]
async fn rotation_stages_versions_and_key_validity() {
    let s = setup().await;
    let first = s.kms.put_ram_credential(APP);
    let first_version = s.fetch(APP, ACS_CURRENT, "").await.ok().version_id;
    assert!(s.kms.is_access_key_valid(&first.access_key_id));
    assert_eq!(s.fetch(APP, "", "").await.ok().last_rotation_date, "");
    s.fetch(APP, ACS_PREVIOUS, "")
        .await
        .assert_error(404, "Forbidden.ResourceNotFound");

    let second = s.kms.rotate(APP);
    assert_ne!(first, second);
    assert_eq!(s.kms.current_access_key(APP), second);
    let cur = s.fetch(APP, ACS_CURRENT, "").await.ok();
    assert!(cur.secret_data.contains(&second.access_key_id));
    let prev = s.fetch(APP, ACS_PREVIOUS, "").await.ok();
    assert!(prev.secret_data.contains(&first.access_key_id));
    assert_eq!(prev.version_stages, vec![ACS_PREVIOUS]);
    assert_eq!(prev.version_id, first_version);
    // By VersionId (no stage): the old version.
    let by_id = s.fetch(APP, "", &first_version).await.ok();
    assert!(by_id.secret_data.contains(&first.access_key_id));
    s.fetch(APP, "", "no-such-version")
        .await
        .assert_error(404, "Forbidden.ResourceNotFound");
    assert!(s.kms.is_access_key_valid(&first.access_key_id));
    s.kms.revoke_previous(APP);
    assert!(!s.kms.is_access_key_valid(&first.access_key_id));
    assert!(s.kms.is_access_key_valid(&second.access_key_id));

    // NextRotationDate = LastRotationDate + 7 days.
    let parse = |d: &str| {
        time::PrimitiveDateTime::parse(
            d,
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        )
        .unwrap()
    };
    let gap = parse(&cur.next_rotation_date) - parse(&cur.last_rotation_date);
    assert_eq!(gap.whole_seconds(), 604_800);

    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    s.kms.set_next_rotation(APP, at);
    assert_eq!(
        s.fetch(APP, "", "").await.ok().next_rotation_date,
        "2030-03-17T17:46:40Z"
    );

    // Custom interval and ExpireTimestamp.
    let expire = SystemTime::now() + Duration::from_secs(3600);
    s.kms.put_ram_credential_with(
        "acs/ram/user/short",
        RamCredentialOptions {
            rotation_interval: Duration::from_secs(3600),
            next_rotation: None,
            expire: Some(expire),
        },
    );
    let short = s.fetch("acs/ram/user/short", "", "").await.ok();
    assert_eq!(short.rotation_interval, "3600s");
    let data: serde_json::Value = serde_json::from_str(&short.secret_data).unwrap();
    assert_kms_date(data["ExpireTimestamp"].as_str().unwrap());
}

#[tokio::test]
async fn generic_and_binary_secrets() {
    let s = setup().await;
    s.kms.put_generic_secret("db/password", "hunter2");
    s.kms.put_binary_secret("blob", &[0, 1, 2, 255]);
    let text = s.fetch("db/password", "", "").await.ok();
    assert_eq!(
        (
            text.secret_type.as_str(),
            text.secret_data.as_str(),
            text.secret_data_type.as_str()
        ),
        ("Generic", "hunter2", "text")
    );
    assert_eq!(text.automatic_rotation, "Disabled");
    let blob = s.fetch("blob", "", "").await.ok();
    assert_eq!(blob.secret_data_type, "binary");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&blob.secret_data)
            .unwrap(),
        vec![0, 1, 2, 255]
    );
    s.kms.put_generic_secret("db/password", "hunter3");
    assert_eq!(
        s.fetch("db/password", "", "").await.ok().secret_data,
        "hunter3"
    );
    assert_eq!(
        s.fetch("db/password", ACS_PREVIOUS, "")
            .await
            .ok()
            .secret_data,
        "hunter2"
    );
}

#[tokio::test]
async fn faults_are_consumed_in_order() {
    let s = setup().await;
    s.kms.put_ram_credential(APP);
    s.kms.put_ram_credential("acs/ram/user/b");

    s.kms.push_fault(Fault::throttling());
    s.kms.push_fault(Fault::Garbage { http_status: 502 });
    s.kms.push_fault(Fault::DropConnection);
    s.kms.push_fault(Fault::Oversized { bytes: 2 << 20 });
    s.kms.push_fault(Fault::Error {
        http_status: 503,
        code: "ServiceUnavailableTemporary".into(),
        message: "busy".into(),
    });

    let e = s
        .fetch(APP, "", "")
        .await
        .assert_error(429, "Rejected.Throttling");
    assert!(!e.error_message.is_empty());
    let garbage = s.fetch(APP, "", "").await;
    assert_eq!(garbage.status, 502);
    assert!(String::from_utf8_lossy(&garbage.body).contains("<html>"));
    assert!(proto::ErrorMessage::decode(garbage.body.as_slice()).is_err());
    // The connection is closed without any HTTP answer.
    let dropped = Req::get_secret(&s.ap.key_id, APP, "", "")
        .sign(&s.key)
        .send(&s.client, &s.kms)
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    let big = s.fetch(APP, "", "").await;
    assert_eq!(big.status, 200);
    assert!(big.body.len() > 2 << 20);
    s.fetch(APP, "", "")
        .await
        .assert_error(503, "ServiceUnavailableTemporary");
    s.fetch(APP, "", "").await.ok();

    // Per-secret faults only hit that secret; the always-fault applies until cleared.
    s.kms
        .push_fault_for("acs/ram/user/b", Fault::Garbage { http_status: 500 });
    s.fetch(APP, "", "").await.ok();
    assert_eq!(s.fetch("acs/ram/user/b", "", "").await.status, 500);
    s.fetch("acs/ram/user/b", "", "").await.ok();
    s.kms.set_fault_always(Some(Fault::throttling()));
    for _ in 0..3 {
        s.fetch(APP, "", "")
            .await
            .assert_error(429, "Rejected.Throttling");
    }
    s.kms.clear_faults();
    s.fetch(APP, "", "").await.ok();

    // Delay, then a normal answer.
    s.kms.push_fault(Fault::Delay(Duration::from_millis(20)));
    let started = Instant::now();
    s.fetch(APP, "", "").await.ok();
    assert!(started.elapsed() >= Duration::from_millis(20));

    let outcomes: Vec<String> = s
        .kms
        .requests()
        .into_iter()
        .filter(|r| r.secret_name == APP)
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        &outcomes[..6],
        [
            "Rejected.Throttling",
            "Garbage",
            "DropConnection",
            "Oversized",
            "ServiceUnavailableTemporary",
            "OK"
        ]
    );
}

#[tokio::test]
async fn requests_are_counted_and_logged_with_their_signature() {
    let s = setup().await;
    s.kms.put_ram_credential(APP);
    assert_eq!(s.kms.request_count(APP), 0);
    let mut first = Req::get_secret(&s.ap.key_id, APP, ACS_CURRENT, "");
    first
        .set(
            "date",
            &httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(5)),
        )
        .sign(&s.key);
    first.send(&s.client, &s.kms).await.unwrap().ok();
    s.fetch(APP, "", "").await.ok();
    s.fetch("acs/ram/user/none", "", "").await;
    assert_eq!(s.kms.request_count(APP), 2);
    assert_eq!(s.kms.request_count("acs/ram/user/none"), 1);
    assert_eq!(s.kms.total_requests(), 3);
    let log = s.kms.requests();
    assert_eq!(log[0].protocol, "instance");
    assert_eq!(log[0].api_name, "GetSecretValue");
    assert_eq!(log[0].key_id, s.ap.key_id);
    assert_eq!(log[0].version_stage, ACS_CURRENT);
    assert_eq!(log[0].date, first.headers["date"]);
    assert_eq!(
        format!("Bearer {}", log[0].signature),
        first.headers["authorization"]
    );
    assert_eq!((log[0].outcome.as_str(), log[0].http_status), ("OK", 200));
    assert_ne!(log[0].date, log[1].date);
    assert_ne!(log[0].signature, log[1].signature);
    assert_eq!(
        (log[2].outcome.as_str(), log[2].http_status),
        ("Forbidden.ResourceNotFound", 404)
    );
    s.kms.clear_requests();
    assert_eq!(s.kms.total_requests(), 0);
}

#[tokio::test]
async fn several_instances_run_at_once() {
    let a = setup().await;
    let b = setup().await;
    assert_ne!(a.kms.addr(), b.kms.addr());
    assert_ne!(a.kms.endpoint().host, b.kms.endpoint().host);
    let ka = a.kms.put_ram_credential(APP);
    let kb = b.kms.put_ram_credential(APP);
    assert!(a
        .fetch(APP, "", "")
        .await
        .ok()
        .secret_data
        .contains(&ka.access_key_id));
    assert!(b
        .fetch(APP, "", "")
        .await
        .ok()
        .secret_data
        .contains(&kb.access_key_id));
    // A's access point is unknown to B.
    let mut req = Req::get_secret(&a.ap.key_id, APP, "", "");
    req.sign(&a.key);
    req.send(&b.client, &b.kms)
        .await
        .unwrap()
        .assert_error(404, "Unauthorized");
    // A's CA does not vouch for B's server.
    let cross = Req::get_secret(&b.ap.key_id, APP, "", "")
        .sign(&b.key)
        .send(
            &reqwest::Client::builder()
                .tls_certs_only(
                    reqwest::Certificate::from_pem_bundle(&std::fs::read(a.kms.ca_file()).unwrap())
                        .unwrap(),
                )
                .resolve(&b.kms.endpoint().host, b.kms.addr())
                .build()
                .unwrap(),
            &b.kms,
        )
        .await;
    assert!(cross.is_err());
    assert_eq!(a.kms.total_requests(), 1);
    assert_eq!(b.kms.total_requests(), 2);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let s = setup().await;
    s.kms.put_ram_credential(APP);
    s.fetch(APP, "", "").await.ok();
    let addr = s.kms.addr();
    s.kms.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    s.kms.shutdown().await; // idempotent

    let other = LocalKms::start().await.unwrap();
    let addr = other.addr();
    let dir = other.dir().to_owned();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(other);
    // The aborted accept loop releases the socket the next time the runtime runs it.
    let mut closed = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the listener must close after drop");
    assert!(!dir.exists(), "the temporary directory is removed on drop");
}

#[tokio::test]
async fn server_certificate_variants_fail_tls_verification() {
    for kind in [ServerCertificate::SelfSigned, ServerCertificate::WrongName] {
        let kms = LocalKms::builder()
            .server_certificate(kind)
            .start()
            .await
            .unwrap();
        let ap = kms.issue_access_point(&["*"]);
        let key = load_key(&ap);
        kms.put_ram_credential(APP);
        let result = Req::get_secret(&ap.key_id, APP, "", "")
            .sign(&key)
            .send(&http_client(&kms), &kms)
            .await;
        let error = result.expect_err("TLS must fail");
        assert!(error.is_connect(), "{kind:?}: {error:?}");
        assert_eq!(kms.total_requests(), 0);
    }
}

#[tokio::test]
async fn files_builder_settings_and_client_key() {
    let dir = tempfile::tempdir().unwrap();
    let kms = LocalKms::builder()
        .instance_id("kst-loc0123456789abcdef")
        .region_id("cn-shanghai")
        .dir(dir.path())
        .start()
        .await
        .unwrap();
    assert_eq!(
        kms.endpoint().host,
        "kst-loc0123456789abcdef.cryptoservice.kms.aliyuncs.com"
    );
    assert_eq!(kms.endpoint().port, kms.addr().port());
    assert!(kms.addr().ip().is_loopback());
    assert_eq!(kms.region_id(), "cn-shanghai");
    assert_eq!(
        kms.ca_file(),
        dir.path().join("PrivateKmsCA_kst-loc0123456789abcdef.pem")
    );
    let ca = crate::identity::CaBundle::from_pem_file(kms.ca_file()).unwrap();
    let subjects: Vec<&str> = ca.infos().iter().map(|i| i.subject.as_str()).collect();
    assert!(
        subjects[0].contains("CN=Private KMS Root CA"),
        "{subjects:?}"
    );
    assert!(subjects[1].contains("CN=Private KMS cn-shanghai Second CA"));

    let ap = kms.issue_access_point(&["*"]);
    assert!(format!("{ap:?}").contains("redacted"));
    assert!(!format!("{ap:?}").contains(&ap.password));
    assert_eq!(
        ap.client_key_file,
        dir.path().join(format!("clientKey_{}.json", ap.key_id))
    );
    let password_text = std::fs::read_to_string(&ap.password_file).unwrap();
    assert_eq!(password_text, format!("{}\n", ap.password));
    assert_eq!(ap.password.len(), 32);

    // The typed config loads the real ClientKey (password file with its newline).
    let config = kms.instance_config(&ap);
    assert_eq!(config.connect_to, Some(kms.addr()));
    assert_eq!(config.endpoint, kms.endpoint());
    assert_eq!(config.ca_file.as_deref(), Some(kms.ca_file()));
    let key = ClientKey::load(&config.client_key, &config.password).unwrap();
    assert_eq!(key.key_id(), ap.key_id);
    assert!(key
        .certificate()
        .unwrap()
        .subject
        .contains("CN=kst-loc0123456789abcdef-client"));

    let properties = std::fs::read_to_string(&ap.properties_file).unwrap();
    let json = properties
        .lines()
        .find_map(|l| l.strip_prefix("cache_client_dkms_config_info="))
        .unwrap();
    let entries: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(entries[0]["regionId"], "cn-shanghai");
    assert_eq!(entries[0]["endpoint"], kms.endpoint().authority());
    assert_eq!(entries[0]["connectTo"], kms.addr().to_string());
    assert_eq!(entries[0]["ignoreSslCerts"], false);
    assert_eq!(
        entries[0]["clientKeyFile"],
        ap.client_key_file.display().to_string()
    );
    assert!(dir
        .path()
        .join("managed_credentials_providers.properties")
        .exists());

    let bad = LocalKms::builder().instance_id("Bad_Id").start().await;
    assert!(bad.unwrap_err().to_string().contains("Bad_Id"));
}

/// The ClientKey and its password are secrets: owner-only files (and an owner-only directory when
/// LocalKms creates it), in the default temporary directory and in a given one.
#[cfg(unix)]
#[tokio::test]
async fn secret_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        let mode = std::fs::metadata(p).unwrap().permissions().mode();
        format!("{:o}", mode & 0o777)
    };
    let parent = tempfile::tempdir().unwrap();
    let given = parent.path().join("created/by-localkms");
    for kms in [
        LocalKms::start().await.unwrap(),
        LocalKms::builder().dir(&given).start().await.unwrap(),
    ] {
        let ap = kms.issue_access_point(&["*"]);
        assert_eq!(mode(&ap.client_key_file), "600", "{:?}", ap.client_key_file);
        assert_eq!(mode(&ap.password_file), "600", "{:?}", ap.password_file);
        // Still loadable through the configuration.
        let config = kms.instance_config(&ap);
        ClientKey::load(&config.client_key, &config.password).unwrap();
    }
    assert_eq!(mode(&given), "700");
}

/// The official Python SDK (alibabacloud-dkms-gcs 1.0.2) fetching from the standalone example.
/// Opt-in: `LOCALKMS_PYTHON_SDK=1` and a venv at `/tmp/pyenv` (or `LOCALKMS_PYTHON`).
#[test]
fn official_python_sdk_fetches_a_secret() {
    if std::env::var("LOCALKMS_PYTHON_SDK").as_deref() != Ok("1") {
        tracing::info!("skipped: set LOCALKMS_PYTHON_SDK=1 (and a venv with alibabacloud-dkms-gcs==1.0.2 at /tmp/pyenv or LOCALKMS_PYTHON) to run");
        return;
    }
    let python =
        std::env::var("LOCALKMS_PYTHON").unwrap_or_else(|_| "/tmp/pyenv/bin/python".into());
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/dkms_gcs_fetch.py"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (kms, ap) = runtime.block_on(async {
        let kms = LocalKms::builder().dir(dir.path()).start().await.unwrap();
        let ap = kms.issue_access_point(&["*"]);
        (kms, ap)
    });
    let key = kms.put_ram_credential(APP);
    let endpoint = kms.endpoint();
    let info = serde_json::json!({
        "endpoint": endpoint.authority(), "host": endpoint.host, "port": endpoint.port,
        "ca_file": kms.ca_file(), "key_id": ap.key_id, "client_key_file": ap.client_key_file,
        "password_file": ap.password_file, "properties_file": ap.properties_file,
        "secret_names": [APP],
    });
    let info_file = dir.path().join("local_kms.json");
    std::fs::write(&info_file, info.to_string()).unwrap();
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(&info_file)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&key.access_key_id), "{stdout}");
    assert_eq!(kms.request_count(APP), 1);
    drop(kms);
}

/// LocalKms rebuilds the string-to-sign exactly like the official SDK signed it: the three
/// golden requests captured from the Python SDK verify against the vector public key.
#[test]
fn golden_requests_verify_with_the_server_string_to_sign() {
    use rustls_pki_types::pem::PemObject;
    let vectors: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/kms-instance/golden_vectors.json"
    ))
    .unwrap();
    let spki = rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(include_bytes!(
        "../../tests/fixtures/kms-instance/keys/client_public_key.pem"
    ))
    .unwrap();
    let (_, spki) =
        <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<_>>::from_der(
            spki.as_ref(),
        )
        .unwrap();
    let public_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        spki.subject_public_key.data.to_vec(),
    );
    let vectors = vectors["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        let mut headers = hyper::HeaderMap::new();
        let mut authorization = String::new();
        for pair in vector["headers_as_sent_wire_order"].as_array().unwrap() {
            let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
            let name =
                hyper::header::HeaderName::from_bytes(name.to_lowercase().as_bytes()).unwrap();
            if name == "authorization" {
                authorization = value.to_owned();
            }
            headers.insert(name, value.parse().unwrap());
        }
        let sts = crate::testing::string_to_sign(&headers);
        assert_eq!(sts, vector["string_to_sign"].as_str().unwrap());
        let signature = base64::engine::general_purpose::STANDARD
            .decode(authorization.strip_prefix("Bearer ").unwrap())
            .unwrap();
        public_key.verify(sts.as_bytes(), &signature).unwrap();
        assert!(public_key.verify(b"tampered", &signature).is_err());
    }
}
