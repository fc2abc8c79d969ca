//! The leak scan: every log line at TRACE (spans included, and the `log` records of
//! dependencies such as rustls and reqwest) while fetching, rotating, force-refreshing and
//! failing in many ways over both KMS protocols and the credentials endpoint, plus `{:?}` and
//! `{}` of every public type those paths produce. None of the secrets involved may appear,
//! whole or in part: AccessKeySecrets, the STS token, the caller's AccessKey secret, the
//! ClientKey password and private key, request signatures, the endpoint's token and the RRSA
//! OIDC token.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aliyun_managed_credentials::config::{Config, KmsIdentity, SecretString};
use aliyun_managed_credentials::integrations::endpoint::{CredentialsEndpoint, EndpointConfig};
use aliyun_managed_credentials::testing::{Fault, LocalKms, RamCredentialOptions};
use aliyun_managed_credentials::{
    AccessKeyProvider, ConfigBuilder, ExpiryPolicy, ManagedCredentialsProvider, ProvideAccessKey,
};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt;

const NAME: &str = "acs/ram/user/app";

/// Everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Secrets collected during the run, and everything rendered.
#[derive(Default)]
struct Scan {
    secrets: Vec<(String, String)>,
    rendered: String,
}

impl Scan {
    fn secret(&mut self, what: &str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.secrets.push((what.to_owned(), value.to_owned()));
    }
    fn render(&mut self, label: &str, debug: &dyn std::fmt::Debug) {
        self.rendered
            .push_str(&format!("{label}: {debug:?}\n{label}: {debug:#?}\n"));
    }
    fn render_error(&mut self, label: &str, e: &aliyun_managed_credentials::Error) {
        self.rendered.push_str(&format!("{label}: {e}\n"));
        self.render(label, e);
    }
}

/// Windows of a secret long enough not to match by chance: the whole value when short,
/// every 12-character window otherwise.
fn fragments(secret: &str) -> Vec<&str> {
    const WINDOW: usize = 12;
    if secret.len() <= WINDOW {
        return vec![secret];
    }
    (0..=secret.len() - WINDOW)
        .filter(|i| secret.is_char_boundary(*i) && secret.is_char_boundary(i + WINDOW))
        .map(|i| &secret[i..i + WINDOW])
        .collect()
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_rendered_type() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .try_init()
        .expect("the only subscriber of this test binary (it also captures `log` records)");
    let mut scan = Scan::default();

    // ---- KMS instance API with a ClientKey ----
    let kms = LocalKms::start().await.unwrap();
    let ap = kms.issue_access_point(&["*"]);
    scan.secret("ClientKey password", &ap.password);
    let client_key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ap.client_key_file).unwrap()).unwrap();
    scan.secret(
        "ClientKey PrivateKeyData",
        client_key["PrivateKeyData"].as_str().unwrap(),
    );
    let first = kms.put_ram_credential(NAME);
    scan.secret("AccessKeySecret v1", &first.access_key_secret);

    let mut config = Config::from_properties_file(&ap.properties_file).unwrap();
    config.http.request_timeout = Duration::from_secs(1);
    config.http.retry.max_attempts = 2;
    config.refresh.retry_base = Duration::from_millis(20);
    config.refresh.retry_max = Duration::from_millis(50);
    scan.render("Config (instance)", &config);
    let provider = ManagedCredentialsProvider::from_config(config)
        .await
        .unwrap();
    let key = provider.get_access_key(NAME).await.unwrap();
    scan.render("AccessKey", &*key);
    scan.render("Secret", &*provider.get_secret(NAME).await.unwrap());

    // Scheduled rotation picked up by refresh_now, and an out-of-schedule one with the old key
    // revoked, reported as rejected.
    let second = kms.rotate(NAME);
    scan.secret("AccessKeySecret v2", &second.access_key_secret);
    provider.refresh_now(NAME).await.unwrap();
    let in_use = provider.get_access_key(NAME).await.unwrap();
    let third = kms.rotate(NAME);
    scan.secret("AccessKeySecret v3", &third.access_key_secret);
    kms.revoke_previous(NAME);
    let outcome = provider
        .report_rejected(NAME, &in_use, "InvalidAccessKeyId.NotFound")
        .await;
    scan.render("RefreshOutcome", &outcome);

    // Failures of every kind, each rendered.
    for fault in [
        Fault::DropConnection,
        Fault::Truncated,
        Fault::Garbage { http_status: 502 },
        Fault::Oversized { bytes: 2 << 20 },
        Fault::throttling(),
        Fault::MalformedSecret,
        Fault::Delay(Duration::from_millis(1500)),
    ] {
        kms.set_fault_always(Some(fault.clone()));
        let err = provider.refresh_now(NAME).await.unwrap_err();
        scan.render_error(&format!("refresh under {fault:?}"), &err);
        let cold = provider.get_access_key("acs/ram/user/missing").await;
        if let Err(e) = cold {
            scan.render_error("cold read under fault", &e);
        }
    }
    kms.clear_faults();
    let expired = kms.put_ram_credential_with(
        "acs/ram/user/expired",
        RamCredentialOptions {
            expire: Some(std::time::SystemTime::now() - Duration::from_secs(60)),
            ..RamCredentialOptions::default()
        },
    );
    scan.secret("expired AccessKeySecret", &expired.access_key_secret);
    let err = provider
        .get_access_key("acs/ram/user/expired")
        .await
        .unwrap_err();
    scan.render_error("expired key", &err);
    let missing = provider
        .get_access_key("acs/ram/user/nothing-here")
        .await
        .unwrap_err();
    scan.render_error("missing secret", &missing);
    scan.render("Health", &provider.health());
    scan.render("Stats", &provider.stats());
    scan.render("provider", &provider);

    // The handle, the trait object and its future, the expiry policy.
    let handle: AccessKeyProvider = provider.access_key_provider(NAME);
    scan.render("AccessKeyProvider", &handle);
    let dynamic: Arc<dyn ProvideAccessKey> = Arc::new(handle.clone());
    let future = dynamic.access_key();
    scan.render("AccessKeyFuture", &future);
    scan.render("AccessKey via trait", &*future.await.unwrap());
    scan.render("ExpiryPolicy", &ExpiryPolicy::default());

    // ---- the credentials endpoint ----
    let endpoint = CredentialsEndpoint::start(
        provider.clone(),
        vec![NAME.to_owned()],
        EndpointConfig::default(),
    )
    .await
    .unwrap();
    let url = endpoint.url();
    let token = url
        .trim_start_matches("http://")
        .split('/')
        .nth(1)
        .unwrap()
        .to_owned();
    scan.secret("endpoint token", &token);
    scan.render("CredentialsEndpoint", &endpoint);
    let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    let answer = http_get(endpoint.local_addr(), &path).await;
    assert!(answer.contains(&third.access_key_id), "{answer}");
    http_get(endpoint.local_addr(), "/not-the-token/credentials").await;
    endpoint.shutdown().await;

    // ---- the shared gateway: AccessKey and STS-token callers ----
    let caller = kms.register_access_key(&["*"]);
    scan.secret("caller AccessKey secret", &caller.access_key_secret);
    let sts = kms.issue_sts_token(&["*"], Duration::from_secs(3600));
    scan.secret("STS secret", &sts.access_key_secret);
    scan.secret("STS token", &sts.security_token);
    // RRSA: the OIDC token is sent to STS in a form body only, never logged or rendered.
    let role = kms.register_oidc_role(&["*"]);
    let oidc_token = std::fs::read_to_string(&role.token_file).unwrap();
    scan.secret("OIDC token", &oidc_token);
    for identity in [
        KmsIdentity::OidcRoleArn {
            role_arn: Some(role.role_arn.clone()),
            oidc_provider_arn: Some(role.oidc_provider_arn.clone()),
            oidc_token_file: Some(role.token_file.clone()),
            role_session_name: None,
            policy: None,
            duration: None,
            sts_region_id: None,
            sts_vpc: None,
            sts_endpoint: Some(kms.sts_endpoint()),
        },
        KmsIdentity::AccessKey {
            access_key_id: caller.access_key_id.clone(),
            access_key_secret: SecretString::from(caller.access_key_secret.as_str()),
        },
        KmsIdentity::StsToken {
            access_key_id: sts.access_key_id.clone(),
            access_key_secret: SecretString::from(sts.access_key_secret.as_str()),
            security_token: SecretString::from(sts.security_token.as_str()),
        },
    ] {
        scan.render("KmsIdentity", &identity);
        let config = ConfigBuilder::new()
            .with_identity(identity)
            .add_gateway(kms.gateway_config())
            .build()
            .unwrap();
        scan.render("Config (gateway)", &config);
        let gateway = ManagedCredentialsProvider::from_config(config)
            .await
            .unwrap();
        let via_gateway = gateway.get_access_key(NAME).await.unwrap();
        scan.render("AccessKey via gateway", &*via_gateway);
        kms.set_fault_always(Some(Fault::Garbage { http_status: 500 }));
        let err = gateway.refresh_now(NAME).await.unwrap_err();
        scan.render_error("gateway failure", &err);
        kms.clear_faults();
        gateway.close().await;
    }

    // ---- the restart cache: saved, restored while KMS is down, then a tampered file ----
    let restart_dir = tempfile::tempdir().unwrap();
    let mut restart_config =
        ConfigBuilder::from_config(Config::from_properties_file(&ap.properties_file).unwrap())
            .with_restart_cache_dir(restart_dir.path().join("rc"))
            .build()
            .unwrap();
    restart_config.http.retry.max_attempts = 2;
    restart_config.refresh.retry_base = Duration::from_millis(20);
    restart_config.refresh.retry_max = Duration::from_millis(50);
    let saving = ManagedCredentialsProvider::from_config(restart_config.clone())
        .await
        .unwrap();
    saving.get_access_key(NAME).await.unwrap();
    let saved = restart_dir.path().join("rc");
    let file = loop {
        let found = std::fs::read_dir(&saved).ok().and_then(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        });
        if let Some(file) = found {
            break file;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    saving.close().await;
    kms.set_fault_always(Some(Fault::DropConnection));
    let restored = ManagedCredentialsProvider::from_config(restart_config.clone())
        .await
        .unwrap();
    scan.render(
        "AccessKey restored",
        &*restored.get_access_key(NAME).await.unwrap(),
    );
    scan.render("Health restored", &restored.health());
    restored.close().await;
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let refused = ManagedCredentialsProvider::from_config(restart_config)
        .await
        .unwrap();
    let err = refused.get_access_key(NAME).await.unwrap_err();
    scan.render_error("tampered restart cache file", &err);
    refused.close().await;
    kms.clear_faults();

    // Request signatures are replayable for minutes: they count as secrets too.
    for request in kms.requests() {
        if !request.signature.is_empty() {
            scan.secret("request signature", &request.signature);
        }
    }
    provider.close().await;
    kms.shutdown().await;

    // A canary logged on purpose proves the scan finds what it looks for.
    let canary = "canary-7f3a9c1e5b2d4068";
    tracing::trace!(value = canary, "deliberate leak for the scan's self-check");
    scan.secret("canary", canary);
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 100 && logs.contains("TRACE"),
        "the capture must see TRACE output ({} lines)",
        logs.lines().count()
    );
    // rustls logs through the `log` crate: seeing it proves dependency records are bridged.
    assert!(
        logs.contains("rustls::"),
        "`log` records of dependencies must be captured too"
    );
    let leaks = find_leaks(&scan.secrets, &logs, &scan.rendered);
    assert_eq!(
        leaks.iter().filter(|l| l.starts_with("canary")).count(),
        1,
        "the self-check canary must be found: {leaks:?}"
    );
    let leaks: Vec<_> = leaks
        .into_iter()
        .filter(|l| !l.starts_with("canary"))
        .collect();
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
    assert!(
        scan.secrets.len() >= 12,
        "{} secrets checked",
        scan.secrets.len()
    );
}

/// Which secrets have a fragment in `logs` or `rendered` (one pass over each text).
fn find_leaks(secrets: &[(String, String)], logs: &str, rendered: &str) -> Vec<String> {
    let mut patterns = Vec::new();
    let mut owner = Vec::new();
    for (i, (_, secret)) in secrets.iter().enumerate() {
        for fragment in fragments(secret) {
            patterns.push(fragment);
            owner.push(i);
        }
    }
    let searcher = aho_corasick::AhoCorasick::new(&patterns).unwrap();
    let mut leaked = std::collections::BTreeMap::new();
    for (place, text) in [("the logs", logs), ("a rendered type", rendered)] {
        for found in searcher.find_overlapping_iter(text) {
            let (what, _) = &secrets[owner[found.pattern().as_usize()]];
            leaked
                .entry(what.clone())
                .or_insert_with(|| format!("{what} in {place}"));
        }
    }
    leaked.into_values().collect()
}
