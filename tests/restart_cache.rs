//! The opt-in restart cache (`restart_cache_dir`) end to end, against LocalKms over TLS with
//! real ClientKeys: a provider that restarts while KMS is down serves the saved key until KMS
//! answers again, never serves a value past its bounds, and ignores (with a warning naming the
//! file and the reason) every file it should not trust.

mod log_capture;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::config::{Config, ConfigBuilder, HttpConfig, RefreshConfig};
use aliyun_managed_credentials::testing::{AccessPoint, Fault, LocalKms, RamCredentialOptions};
use aliyun_managed_credentials::{Clock, ManagedCredentialsProvider};
use log_capture::capture_logs;

const NAME: &str = "acs/ram/user/app";
const OTHER: &str = "acs/ram/user/other";

/// Runs `f` on a current-thread runtime under a capturing subscriber (every task of the test,
/// LocalKms included, runs on this thread; the cache's file writes carry the subscriber along).
fn run<T>(f: impl std::future::Future<Output = T>) -> (T, String) {
    capture_logs(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
}

/// A clock tests set by hand (the provider computes staleness bounds with it).
#[derive(Debug)]
struct SetClock(Mutex<SystemTime>);

impl SetClock {
    fn at(t: SystemTime) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t)))
    }
}

impl Clock for SetClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn config(ap: &AccessPoint, dir: &Path, max_staleness: Option<Duration>) -> Config {
    let http = HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: aliyun_managed_credentials::config::RetryConfig {
            max_attempts: 1,
            ..Default::default()
        },
        ..HttpConfig::default()
    };
    let refresh = RefreshConfig {
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(40),
        max_staleness,
        ..RefreshConfig::default()
    };
    ConfigBuilder::from_config(Config::from_properties_file(&ap.properties_file).unwrap())
        .with_http(http)
        .with_refresh(refresh)
        .with_restart_cache_dir(dir)
        .build()
        .unwrap()
}

async fn provider(config: Config, clock: Option<Arc<SetClock>>) -> ManagedCredentialsProvider {
    let mut builder = ManagedCredentialsProvider::builder().config(config);
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    builder.build().await.unwrap()
}

/// The cache files in `dir` (temporary files excluded).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Waits until `dir` holds `n` files whose content differs from `not` (the writes run on a
/// blocking thread after the fetch). Bounded, and no timing is asserted.
async fn wait_for_files(dir: &Path, n: usize, not: Option<&[u8]>) -> Vec<PathBuf> {
    for _ in 0..1000 {
        let found = files(dir);
        if found.len() == n
            && not.is_none_or(|old| found.iter().all(|p| std::fs::read(p).unwrap() != old))
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} never held {n} new restart cache files", dir.display());
}

/// Reads until `name` serves `id` (the background retry runs on its backoff).
async fn wait_for_key(provider: &ManagedCredentialsProvider, name: &str, id: &str) {
    for _ in 0..1000 {
        if provider
            .get_access_key(name)
            .await
            .ok()
            .as_deref()
            .map(|k| k.access_key_id().to_owned())
            == Some(id.to_owned())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never served {id}");
}

/// Records events of this thread while installed (the current-thread runtime runs every task
/// here), for assertions on one part of a test.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<u8>>>);

impl Recorder {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish(),
        )
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Recorder {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Writes `bytes` at `path` as the cache would (mode 600), replacing whatever is there.
fn plant(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[test]
fn restart_while_kms_is_down_serves_the_saved_key_until_kms_answers() {
    let ((), logs) = run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        let first = kms.put_ram_credential(NAME);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("restart");
        let config = config(&ap, &dir, None);

        // First life: a fetch saves the key.
        let p = provider(config.clone(), None).await;
        assert_eq!(
            p.get_access_key(NAME).await.unwrap().access_key_id(),
            first.access_key_id
        );
        let saved = wait_for_files(&dir, 1, None).await;
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&saved[0]), 0o600);
        }
        let on_disk = std::fs::read(&saved[0]).unwrap();
        for secret in [&first.access_key_secret, &first.access_key_id] {
            assert!(
                !on_disk
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "the file holds no plaintext"
            );
        }
        p.close().await;

        // KMS goes down and the key is rotated meanwhile; the process restarts.
        kms.set_fault_always(Some(Fault::DropConnection));
        let second = kms.rotate(NAME);
        let before = kms.total_requests();
        let p = provider(config.clone(), None).await;
        let restored = p.get_access_key(NAME).await.unwrap();
        assert_eq!(restored.access_key_id(), first.access_key_id);
        assert_eq!(restored.access_key_secret(), first.access_key_secret);
        assert!(kms.total_requests() > before, "KMS was asked first");
        let health = p.health();
        assert!(health.secrets[0].stale, "{health:?}");
        // A secret that was never saved still fails.
        assert!(p.get_access_key(OTHER).await.is_err());

        // KMS is back: the background retry replaces the restored key, and saves the new one.
        kms.set_fault_always(None);
        wait_for_key(&p, NAME, &second.access_key_id).await;
        wait_for_files(&dir, 1, Some(&on_disk)).await;
        p.close().await;

        // A third life with KMS down again gets the newer key from disk.
        kms.set_fault_always(Some(Fault::throttling()));
        let p = provider(config, None).await;
        assert_eq!(
            p.get_access_key(NAME).await.unwrap().access_key_id(),
            second.access_key_id
        );
        p.close().await;
        kms.shutdown().await;
    });
    assert!(
        logs.contains("KMS cannot be reached; serving the value saved in the restart cache"),
        "{logs}"
    );
}

#[test]
fn a_saved_key_past_max_staleness_is_not_served() {
    let ((), logs) = run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        kms.put_ram_credential(NAME);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("restart");
        let hour = Duration::from_secs(3600);
        let config = config(&ap, &dir, Some(hour));
        let t0 = SystemTime::now();

        let p = provider(config.clone(), Some(SetClock::at(t0))).await;
        let first = p.get_access_key(NAME).await.unwrap();
        wait_for_files(&dir, 1, None).await;
        p.close().await;

        kms.set_fault_always(Some(Fault::DropConnection));
        // Within the bound: served.
        let p = provider(config.clone(), Some(SetClock::at(t0 + hour / 2))).await;
        assert_eq!(
            p.get_access_key(NAME).await.unwrap().access_key_id(),
            first.access_key_id()
        );
        p.close().await;
        // Past it: not served, the KMS error is what the caller sees.
        let p = provider(config, Some(SetClock::at(t0 + 2 * hour))).await;
        let err = p.get_access_key(NAME).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        p.close().await;
        kms.shutdown().await;
    });
    assert!(
        logs.contains("ignored: the value it holds stopped being servable at"),
        "{logs}"
    );
}

/// What a case does to the cache directory before the restart.
type Prepare<'a> = Box<dyn Fn() + 'a>;

#[test]
fn untrustworthy_files_are_ignored_with_a_warning_naming_file_and_reason() {
    run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        let stranger = kms.issue_access_point(&["acs/ram/user/*"]);
        kms.put_ram_credential(NAME);
        kms.put_ram_credential(OTHER);
        let tmp = tempfile::tempdir().unwrap();
        let (dir, other_dir, stranger_dir) = (
            tmp.path().join("mine"),
            tmp.path().join("other-secret"),
            tmp.path().join("stranger"),
        );

        // The genuine file of NAME, one of OTHER under the same identity, and one of NAME
        // written by another application (another ClientKey).
        let p = provider(config(&ap, &dir, None), None).await;
        p.get_access_key(NAME).await.unwrap();
        let path = wait_for_files(&dir, 1, None).await.remove(0);
        p.close().await;
        let p = provider(config(&ap, &other_dir, None), None).await;
        p.get_access_key(OTHER).await.unwrap();
        let other_file = wait_for_files(&other_dir, 1, None).await.remove(0);
        p.close().await;
        let p = provider(config(&stranger, &stranger_dir, None), None).await;
        p.get_access_key(NAME).await.unwrap();
        let stranger_file = wait_for_files(&stranger_dir, 1, None).await.remove(0);
        p.close().await;

        let genuine = std::fs::read(&path).unwrap();
        let mut tampered = genuine.clone();
        let last = tampered.len() - 20;
        tampered[last] ^= 0x40;
        let mut version_2 = genuine.clone();
        version_2[5] = 2;
        let cases: Vec<(&str, Prepare)> = vec![
            (
                "it does not authenticate",
                Box::new(|| plant(&path, &tampered)),
            ),
            ("it is truncated", Box::new(|| plant(&path, &genuine[..20]))),
            (
                "it was written for another secret name",
                Box::new(|| plant(&path, &std::fs::read(&other_file).unwrap())),
            ),
            (
                "it was written under another KMS identity",
                Box::new(|| plant(&path, &std::fs::read(&stranger_file).unwrap())),
            ),
            (
                "it is not a restart cache file",
                Box::new(|| {
                    plant(
                        &path,
                        b"{\"AccessKeyId\":\"LTAI\",\"AccessKeySecret\":\"x\"}",
                    )
                }),
            ),
            (
                "it has format version 2",
                Box::new(|| plant(&path, &version_2)),
            ),
            #[cfg(unix)]
            (
                "it is a symbolic link",
                Box::new(|| {
                    let target = tmp.path().join("genuine-copy");
                    plant(&target, &genuine);
                    std::fs::remove_file(&path).unwrap();
                    std::os::unix::fs::symlink(&target, &path).unwrap();
                }),
            ),
        ];
        kms.set_fault_always(Some(Fault::DropConnection));
        let config = config(&ap, &dir, None);
        for (reason, prepare) in cases {
            prepare();
            let recorder = Recorder::default();
            let guard = recorder.install();
            let p = provider(config.clone(), None).await;
            let result = p.get_access_key(NAME).await;
            p.close().await;
            drop(guard);
            let logs = recorder.text();
            assert!(result.is_err(), "{reason}: a bad file must not be served");
            let expected = format!(
                "restart cache file {} for secret '{NAME}' ignored: {reason}",
                path.display()
            );
            assert!(logs.contains(&expected), "{expected}\n{logs}");
            // The original stays as planted (never rewritten from a bad file, never deleted).
            assert!(std::fs::symlink_metadata(&path).is_ok());
        }
        kms.shutdown().await;
    });
}

#[cfg(unix)]
#[test]
fn a_directory_other_users_can_enter_is_refused_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (files_after, logs) = run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        let first = kms.put_ram_credential(NAME);
        let p = provider(config(&ap, &dir, None), None).await;
        // The provider works, from memory only.
        assert_eq!(
            p.get_access_key(NAME).await.unwrap().access_key_id(),
            first.access_key_id
        );
        p.close().await;
        kms.shutdown().await;
        // No write was ever started (the cache is off), so the listing is final.
        files(&dir)
    });
    assert!(files_after.is_empty(), "{files_after:?}");
    let expected = format!(
        "restart cache disabled: directory {} has permissions 755, which let other users in",
        dir.display()
    );
    assert!(logs.contains(&expected), "{expected}\n{logs}");
}

#[test]
fn an_answer_from_kms_rules_the_file_out_even_if_kms_goes_away_later() {
    run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        kms.put_ram_credential(NAME);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("restart");
        let config = config(&ap, &dir, None);
        let p = provider(config.clone(), None).await;
        p.get_access_key(NAME).await.unwrap();
        wait_for_files(&dir, 1, None).await;
        p.close().await;

        // After the restart KMS answers "no permission" (not retryable), then goes away.
        kms.push_fault(Fault::Error {
            http_status: 403,
            code: "Forbidden.NoPermission".into(),
            message: "This operation is forbidden by permission system.".into(),
        });
        let p = provider(config, None).await;
        let err = p.get_access_key(NAME).await.unwrap_err();
        assert_eq!(err.code(), Some("Forbidden.NoPermission"), "{err}");
        kms.set_fault_always(Some(Fault::DropConnection));
        let err = p.refresh_now(NAME).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(
            p.cached_access_key(NAME).is_none(),
            "the saved key was not brought back"
        );
        p.close().await;
        kms.shutdown().await;
    });
}

#[test]
fn a_saved_key_past_its_own_expire_timestamp_is_not_served() {
    let ((), logs) = run(async {
        let kms = LocalKms::start().await.unwrap();
        let ap = kms.issue_access_point(&["acs/ram/user/*"]);
        let t0 = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let saved = kms.put_ram_credential_with(
            NAME,
            RamCredentialOptions {
                expire: Some(t0 + hour),
                ..RamCredentialOptions::default()
            },
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("restart");
        // No max_staleness: the key's own expiry is the only bound.
        let config = config(&ap, &dir, None);
        let p = provider(config.clone(), Some(SetClock::at(t0))).await;
        p.get_access_key(NAME).await.unwrap();
        wait_for_files(&dir, 1, None).await;
        p.close().await;

        kms.set_fault_always(Some(Fault::DropConnection));
        let p = provider(config.clone(), Some(SetClock::at(t0 + hour / 2))).await;
        let restored = p.get_access_key(NAME).await.unwrap();
        assert_eq!(restored.access_key_id(), saved.access_key_id);
        assert!(restored.expire_time().is_some());
        p.close().await;
        let p = provider(
            config,
            Some(SetClock::at(t0 + hour + Duration::from_secs(1))),
        )
        .await;
        assert!(p.get_access_key(NAME).await.is_err());
        p.close().await;
        kms.shutdown().await;
    });
    assert!(
        logs.contains("ignored: the value it holds stopped being servable at"),
        "{logs}"
    );
}
