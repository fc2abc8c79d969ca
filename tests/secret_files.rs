//! Secrets synced into files by the cluster (`secret_files_dir`), through the public API only:
//! a properties file, `ManagedCredentialsProvider::from_properties_file`, and a volume updated
//! by `testing::KubeletAtomicWriter` (the kubelet's `AtomicWriter`, step for step).

use std::time::Duration;

use aliyun_managed_credentials::config::{Config, ConfigBuilder, ConfigError, ConfigKey};
use aliyun_managed_credentials::testing::KubeletAtomicWriter;
use aliyun_managed_credentials::{ManagedCredentialsProvider, ProvideAccessKey, RefreshOutcome};

const NAME: &str = "acs/ram/user/app";

fn secret_data(n: u32) -> String {
    format!(
        r#"{{"AccessKeyId":"LTAIsynced{n}","AccessKeySecret":"synced-secret-{n}","GenerateTimestamp":"2026-11-29T08:00:00Z"}}"#
    )
}

/// A pod's view: the properties file next to a Secret volume mounted at `synced/`, the Secret's
/// key projected to the secret's name (`items: [{key: credentials, path: acs/ram/user/app}]`).
fn pod(poll_ms: u64) -> (tempfile::TempDir, std::path::PathBuf, KubeletAtomicWriter) {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("synced");
    std::fs::create_dir(&volume).unwrap();
    let properties = dir.path().join("managed_credentials_providers.properties");
    std::fs::write(
        &properties,
        format!(
            "# secrets come from the cluster, not from KMS\nsecret_files_dir=synced\nsecret_files_poll_interval_ms={poll_ms}\nsecret_names={NAME}\n"
        ),
    )
    .unwrap();
    (dir, properties, KubeletAtomicWriter::new(volume).unwrap())
}

fn write(writer: &KubeletAtomicWriter, n: u32) {
    writer
        .write(&[(NAME, secret_data(n).as_bytes())])
        .expect("kubelet write");
}

#[tokio::test]
async fn serves_follows_and_rereads_a_synced_secret() {
    let (dir, properties, writer) = pod(50);
    write(&writer, 1);

    let config = Config::from_properties_file(&properties).unwrap();
    assert_eq!(
        config.secret_files_dir.as_deref(),
        Some(dir.path().join("synced").as_path())
    );
    assert_eq!(config.secret_files_poll_interval, Duration::from_millis(50));

    let provider = ManagedCredentialsProvider::from_properties_file(&properties)
        .await
        .unwrap();
    // Prefetched at start-up (secret_names): served from memory.
    let first = provider.cached_access_key(NAME).unwrap().unwrap();
    assert_eq!(first.access_key_id(), "LTAIsynced1");
    assert_eq!(first.access_key_secret(), "synced-secret-1");
    let handle = provider.access_key_provider(NAME);
    assert_eq!(
        handle.access_key().await.unwrap().access_key_id(),
        "LTAIsynced1"
    );

    // The operator syncs a rotation; the kubelet swaps the volume; the next poll serves it.
    let mut rx = provider.subscribe(NAME).await.unwrap();
    write(&writer, 2);
    rx.changed().await.unwrap();
    let second = rx.borrow().clone();
    assert_eq!(second.access_key_id(), "LTAIsynced2");
    assert_eq!(second.access_key_secret(), "synced-secret-2");

    // A rejected key makes the provider read the file again at once.
    write(&writer, 3);
    match provider
        .report_rejected(NAME, &second, "InvalidAccessKeyId.NotFound")
        .await
    {
        RefreshOutcome::NewKey(key) => assert_eq!(key.access_key_id(), "LTAIsynced3"),
        other => panic!("expected the key from the file, got {other:?}"),
    }

    let health = provider.health();
    let secret = health.secrets.iter().find(|s| s.name == NAME).unwrap();
    assert!(secret.file_age.is_some(), "{secret:?}");
    assert!(secret.last_error.is_none(), "{secret:?}");
    assert!(health.is_healthy());
    assert!(health.preferred_endpoint.starts_with("file:"));
    provider.close().await;
}

#[tokio::test]
async fn a_missing_volume_is_a_clear_error() {
    let (dir, properties, _writer) = pod(1000);
    let provider = ManagedCredentialsProvider::from_properties_file(&properties)
        .await
        .unwrap();
    let error = provider.get_access_key(NAME).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("does not exist"), "{text}");
    assert!(
        text.contains(&dir.path().join("synced").join(NAME).display().to_string()),
        "{text}"
    );
    assert!(error.is_retryable());
    provider.close().await;
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_properties_str(text, "/etc/app", "test.properties")
}

#[test]
fn configuration_keys_and_errors() {
    // Relative paths resolve against the properties file's directory; the poll default is 2 s.
    let config = load("secret_files_dir=secrets\n").unwrap();
    assert_eq!(
        config.secret_files_dir.as_deref(),
        Some(std::path::Path::new("/etc/app/secrets"))
    );
    assert_eq!(config.secret_files_poll_interval, Duration::from_secs(2));
    let config = load("secret_files_dir=/var/run/secrets/aliyun\n").unwrap();
    assert_eq!(
        config.secret_files_dir.as_deref(),
        Some(std::path::Path::new("/var/run/secrets/aliyun"))
    );

    // Not a number: file, line and key named.
    let e = load("secret_files_dir=s\nsecret_files_poll_interval_ms=2s\n").unwrap_err();
    assert!(matches!(e, ConfigError::InvalidNumber { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "test.properties, line 2, key `secret_files_poll_interval_ms`: `2s` is not valid: expected a whole number of milliseconds, e.g. 5000"
    );
    let e = load("secret_files_dir=s\nsecret_files_poll_interval_ms=0\n").unwrap_err();
    assert!(
        e.to_string().contains("secret_files_poll_interval_ms"),
        "{e}"
    );

    // Files and KMS endpoints do not mix.
    let e = load("cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\ncredentials_type=ak\ncredentials_access_key_id=x\ncredentials_access_secret=y\nsecret_files_dir=s\n").unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("test.properties, line 5, key `secret_files_dir`"),
        "{text}"
    );
    assert!(
        text.contains("cannot be combined with KMS endpoints"),
        "{text}"
    );

    // The keys are in the one table of keys.
    for key in ["secret_files_dir", "secret_files_poll_interval_ms"] {
        assert!(
            key.parse::<ConfigKey>().is_ok(),
            "{key} missing from ConfigKey"
        );
    }

    // The builder says the same.
    let config = ConfigBuilder::new()
        .with_secret_files("/var/run/secrets/aliyun", Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(
        config.secret_files_poll_interval,
        Duration::from_millis(500)
    );
    let e = ConfigBuilder::new()
        .with_secret_files("", Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ConfigBuilder, key `secret_files_dir`"),
        "{e}"
    );
}

/// The properties file embedded in a ConfigMap of `examples/kubernetes/` (the block scalar under
/// `managed_credentials_providers.properties: |`, indentation removed).
fn example_properties(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/kubernetes")
        .join(relative);
    let yaml = std::fs::read_to_string(&path).unwrap();
    let mut lines = yaml
        .lines()
        .skip_while(|l| {
            !l.trim_start()
                .starts_with("managed_credentials_providers.properties: |")
        })
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty());
    let mut text = String::new();
    for line in &mut lines {
        text.push_str(line.strip_prefix("    ").unwrap_or(line));
        text.push('\n');
    }
    assert!(
        !text.trim().is_empty(),
        "no properties in {}",
        path.display()
    );
    text
}

#[test]
fn the_kubernetes_examples_load() {
    let files = Config::from_properties_str(
        &example_properties("file-source/configmap.yaml"),
        "/etc/app",
        "file-source/configmap.yaml",
    )
    .unwrap();
    assert_eq!(
        files.secret_files_dir.as_deref(),
        Some(std::path::Path::new("/var/run/secrets/aliyun"))
    );
    assert_eq!(files.secret_files_poll_interval, Duration::from_secs(2));
    assert_eq!(files.secret_names, [NAME]);

    let kms = Config::from_properties_str(
        &example_properties("kms-instance/configmap.yaml"),
        "/etc/app",
        "kms-instance/configmap.yaml",
    )
    .unwrap();
    assert_eq!(kms.instances.len(), 1);
    assert_eq!(
        kms.instances[0].ca_file.as_deref(),
        Some(std::path::Path::new("/etc/aliyun-kms/PrivateKmsCA.pem"))
    );
    assert!(kms.secret_files_dir.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_during_a_stream_of_swaps_never_fail_or_tear() {
    let (_dir, properties, writer) = pod(5);
    write(&writer, 0);
    let provider = ManagedCredentialsProvider::from_properties_file(&properties)
        .await
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..8 {
        let (provider, done) = (provider.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                // Half the readers also force a read of the file itself.
                if i % 2 == 0 {
                    provider
                        .refresh_now(NAME)
                        .await
                        .expect("forced read failed");
                }
                let key = provider.get_access_key(NAME).await.expect("read failed");
                let n = key.access_key_id().trim_start_matches("LTAIsynced");
                assert_eq!(key.access_key_secret(), format!("synced-secret-{n}"));
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let swaps = tokio::task::spawn_blocking(move || {
        for n in 1..=60 {
            write(&writer, n);
        }
        writer
    });
    let writer = swaps.await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.expect("reader panicked") > 0);
    }
    // The last version is served once a poll has read it.
    let mut rx = provider.subscribe(NAME).await.unwrap();
    while rx.borrow_and_update().access_key_id() != "LTAIsynced60" {
        rx.changed().await.unwrap();
    }
    drop(writer);
    assert_eq!(provider.health().secrets[0].consecutive_failures, 0);
    provider.close().await;
}
