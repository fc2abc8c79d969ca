//! The restart cache file format and key derivation: round trip, every kind of bad file, the
//! directory and file checks, and a property test of the parser. The provider-level behaviour
//! (restart while KMS is down, against LocalKms) is in `tests/restart_cache.rs`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;

use super::*;
use crate::config::{ClientKeySource, PasswordSource};

const NAME: &str = "acs/ram/user/app";
const DATA: &str =
    r#"{"AccessKeyId":"LTAI5tRestartId","AccessKeySecret":"restart-secret-value-0123456789"}"#;

fn value(name: &str) -> SecretValue {
    SecretValue {
        secret_name: name.into(),
        secret_type: "RAMCredentials".into(),
        secret_data: SecretString::new(DATA),
        secret_data_type: "text".into(),
        version_stages: vec!["ACSCurrent".into(), "ACSPending".into()],
        version_id: "v7".into(),
        create_time: "2024-02-01T08:00:00Z".into(),
        request_id: "req-1".into(),
        last_rotation_date: "2024-02-01T08:00:00Z".into(),
        next_rotation_date: "2024-02-08T08:00:00Z".into(),
        extended_config: r#"{"SecretSubType":"RamUserAccessKey"}"#.into(),
        automatic_rotation: "Enabled".into(),
        rotation_interval: "604800s".into(),
    }
}

fn fetched_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_706_774_400_123)
}

fn ak_key(id: &str, secret: &str) -> RestartKey {
    RestartKey::from_access_key("access_key", id, &SecretString::new(secret))
}

fn key() -> RestartKey {
    ak_key("LTAI5tCaller", "caller-secret")
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn client_key(json: &str, password: &str) -> ClientKey {
    ClientKey::load(
        &ClientKeySource::File(fixture(json)),
        &vec![PasswordSource::File(fixture(password))],
    )
    .unwrap()
}

#[test]
fn round_trip_keeps_every_field_and_the_fetch_time() {
    let key = key();
    let sealed = key.seal(&value(NAME), fetched_at()).unwrap();
    assert!(
        !sealed
            .windows(12)
            .any(|w| DATA.as_bytes().windows(12).any(|d| d == w)),
        "no plaintext fragment in the file"
    );
    let restored = key.open(NAME, &sealed).unwrap();
    assert_eq!(restored.value, value(NAME));
    assert_eq!(restored.fetched_at, fetched_at());
    // A fresh nonce per write: two seals of the same value differ.
    assert_ne!(sealed, key.seal(&value(NAME), fetched_at()).unwrap());
}

#[test]
fn every_flipped_byte_is_rejected_with_the_matching_reason() {
    let key = key();
    let sealed = key.seal(&value(NAME), fetched_at()).unwrap();
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let reason = key
            .open(NAME, &bad)
            .err()
            .unwrap_or_else(|| panic!("byte {i} flipped still opens"));
        let expected = match i {
            0..=4 => Rejected::NotCacheFile,
            5 => Rejected::UnsupportedVersion(FORMAT_VERSION ^ 1),
            6..=13 => Rejected::OtherIdentity,
            14..=21 => Rejected::OtherSecret,
            _ => Rejected::Tampered,
        };
        assert_eq!(reason, expected, "byte {i}");
    }
}

#[test]
fn every_truncation_is_rejected() {
    let key = key();
    let sealed = key.seal(&value(NAME), fetched_at()).unwrap();
    for len in 0..sealed.len() {
        let reason = key.open(NAME, &sealed[..len]).err().unwrap();
        let expected = if len < HEADER_LEN + TAG_LEN {
            Rejected::Truncated
        } else {
            Rejected::Tampered
        };
        assert_eq!(reason, expected, "length {len}");
    }
}

#[test]
fn a_file_of_another_secret_or_identity_does_not_open() {
    let key = key();
    let other_secret = key
        .seal(&value("acs/ram/user/other"), fetched_at())
        .unwrap();
    assert_eq!(
        key.open(NAME, &other_secret).err(),
        Some(Rejected::OtherSecret)
    );

    let other_identity = ak_key("LTAI5tSomeoneElse", "caller-secret")
        .seal(&value(NAME), fetched_at())
        .unwrap();
    assert_eq!(
        key.open(NAME, &other_identity).err(),
        Some(Rejected::OtherIdentity)
    );

    // Same key id, another secret (a re-issued AccessKey pair cannot happen, but a forged
    // fingerprint must still fail): authentication catches it.
    let same_id_other_secret = ak_key("LTAI5tCaller", "another-secret")
        .seal(&value(NAME), fetched_at())
        .unwrap();
    assert_eq!(
        key.open(NAME, &same_id_other_secret).err(),
        Some(Rejected::Tampered)
    );

    // The secret name is bound even if the fingerprint is made to match (forgery attempt).
    let mut forged = other_secret.clone();
    forged[14..22].copy_from_slice(&fingerprint(NAME.as_bytes()));
    assert_eq!(key.open(NAME, &forged).err(), Some(Rejected::Tampered));
}

#[test]
fn other_versions_and_garbage_are_rejected() {
    let key = key();
    let v2 = key.seal_with(&value(NAME), fetched_at(), 2, [7; NONCE_LEN]);
    assert_eq!(
        key.open(NAME, &v2).err(),
        Some(Rejected::UnsupportedVersion(2))
    );
    // Claiming version 1 for a v2 file does not help: the version is authenticated.
    let mut relabelled = v2;
    relabelled[5] = FORMAT_VERSION;
    assert_eq!(key.open(NAME, &relabelled).err(), Some(Rejected::Tampered));

    assert_eq!(key.open(NAME, b"").err(), Some(Rejected::Truncated));
    assert_eq!(key.open(NAME, b"AMC").err(), Some(Rejected::Truncated));
    assert_eq!(
        key.open(NAME, b"{\"AccessKeyId\":\"x\"}").err(),
        Some(Rejected::NotCacheFile)
    );
    assert_eq!(
        key.open(NAME, &[0u8; 4096]).err(),
        Some(Rejected::NotCacheFile)
    );
}

#[test]
fn client_key_derivation_is_deterministic_and_per_key() {
    let a = client_key(
        "kms-instance/clientKey_KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c_legacy.json",
        "kms-instance/clientKey_KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c_Password.txt",
    );
    let first = RestartKey::from_client_key(&a).unwrap();
    let again = RestartKey::from_client_key(&a).unwrap();
    let sealed = first.seal(&value(NAME), fetched_at()).unwrap();
    assert_eq!(again.open(NAME, &sealed).unwrap().value, value(NAME));
    assert!(format!("{first:?}").contains("client_key:KAAP.4f1c9a2e"));

    let b = client_key(
        "real-alibaba-clientkey/clientKey_real.json",
        "real-alibaba-clientkey/clientKey_real_Password.txt",
    );
    let other = RestartKey::from_client_key(&b).unwrap();
    assert_eq!(
        other.open(NAME, &sealed).err(),
        Some(Rejected::OtherIdentity)
    );
}

#[test]
fn plaintext_parser_checks_every_length() {
    let plain = encode(&value(NAME), fetched_at());
    assert_eq!(decode(&plain).unwrap().value, value(NAME));
    for len in 0..plain.len() {
        assert!(decode(&plain[..len]).is_err(), "prefix of {len} bytes");
    }
    let mut longer = plain.to_vec();
    longer.push(0);
    assert_eq!(
        decode(&longer).err(),
        Some(Rejected::Malformed("bytes after the last field"))
    );
    let mut huge_count = plain.to_vec();
    let at = huge_count.len() - (4 + 10) - (4 + 10) - 4;
    huge_count[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(decode(&huge_count).is_err());
}

// ---- directory and files ----

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Waits for the blocking write `store` started (bounded; no timing is asserted).
fn wait_for_file(path: &std::path::Path) {
    for _ in 0..2000 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{} was never written", path.display());
}

#[cfg(unix)]
#[tokio::test]
async fn store_writes_an_owner_only_file_in_a_new_owner_only_dir_and_reads_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/restart");
    let cache = std::sync::Arc::new(RestartCache::open(&dir, key()).unwrap());
    assert_eq!(mode(&dir), 0o700);
    cache.store(
        &tokio::runtime::Handle::current(),
        &value(NAME),
        fetched_at(),
    );
    let path = cache.path_of(NAME);
    wait_for_file(&path);
    assert_eq!(mode(&path), 0o600);
    assert!(path.starts_with(&dir));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains("app") && name.ends_with(SUFFIX), "{name}");

    let restored = cache.take_restored(NAME).unwrap();
    assert_eq!(restored.value, value(NAME));
    assert!(
        cache.take_restored(NAME).is_none(),
        "read only once per process"
    );

    // A newer value is never overwritten by an older one written later.
    let newer = fetched_at() + Duration::from_secs(60);
    cache.write(NAME, &cache.key.seal(&value(NAME), newer).unwrap(), newer);
    cache.write(
        NAME,
        &cache.key.seal(&value(NAME), fetched_at()).unwrap(),
        fetched_at(),
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(cache.key.open(NAME, &bytes).unwrap().fetched_at, newer);
}

#[cfg(unix)]
#[test]
fn unsafe_directories_disable_the_cache_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();

    let open_dir = tmp.path().join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cache, logs) = capture(|| RestartCache::open(&open_dir, key()));
    assert!(cache.is_none());
    assert!(
        logs.contains(&format!(
            "restart cache disabled: directory {} has permissions 755",
            open_dir.display()
        )),
        "{logs}"
    );

    let link = tmp.path().join("link");
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (cache, logs) = capture(|| RestartCache::open(&link, key()));
    assert!(cache.is_none());
    assert!(logs.contains("is a symbolic link"), "{logs}");

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let (cache, logs) = capture(|| RestartCache::open(&file, key()));
    assert!(cache.is_none());
    assert!(logs.contains("exists and is not a directory"), "{logs}");

    assert!(RestartCache::open(&real, key()).is_some());
}

#[cfg(unix)]
#[test]
fn symlinked_and_loose_files_are_not_read() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let cache = RestartCache::open(&dir, key()).unwrap();
    let path = cache.path_of(NAME);

    // A valid file, reachable only through a symbolic link at the cache's path.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::write(&elsewhere, key().seal(&value(NAME), fetched_at()).unwrap()).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    let (restored, logs) = capture(|| cache.take_restored(NAME));
    assert!(restored.is_none());
    assert!(
        logs.contains(&format!(
            "restart cache file {} for secret '{NAME}' ignored: it is a symbolic link",
            path.display()
        )),
        "{logs}"
    );

    // The writer refuses the link too, and leaves its target alone.
    let before = std::fs::read(&elsewhere).unwrap();
    let (_, logs) = capture(|| cache.write(NAME, b"new", fetched_at()));
    assert!(
        logs.contains("could not write restart cache file"),
        "{logs}"
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), before);

    // A readable-by-others file is refused (read on a fresh cache: one read per name).
    std::fs::remove_file(&path).unwrap();
    std::fs::copy(&elsewhere, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let fresh = RestartCache::open(&dir, key()).unwrap();
    let (restored, logs) = capture(|| fresh.take_restored(NAME));
    assert!(restored.is_none());
    assert!(logs.contains("its permissions 644"), "{logs}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fresh = RestartCache::open(&dir, key()).unwrap();
    assert!(fresh.take_restored(NAME).is_some());
}

/// Runs `f` under a subscriber recording every event; returns the text.
fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || CaptureWriter(writer.clone()))
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
    (out, text)
}

struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Untrusted bytes never panic the parser and never open.
    #[test]
    fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        prop_assert!(key().open(NAME, &bytes).is_err());
        let _ = decode(&bytes);
    }

    /// Any header followed by random bytes (what survives the magic and version checks) is
    /// rejected, never opened.
    #[test]
    fn forged_headers_never_open(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let key = key();
        let mut bytes = key.header(NAME, FORMAT_VERSION, &[3; NONCE_LEN]);
        bytes.extend_from_slice(&tail);
        let reason = key.open(NAME, &bytes).err();
        prop_assert!(matches!(reason, Some(Rejected::Truncated | Rejected::Tampered)), "{reason:?}");
    }

    /// Every value round-trips, whatever its strings hold.
    #[test]
    fn any_value_round_trips(
        name in "\\PC{1,40}",
        data in "\\PC{0,200}",
        stages in proptest::collection::vec("\\PC{0,12}", 0..4),
        millis in 0u64..4_102_444_800_000,
    ) {
        let mut v = value(&name);
        v.secret_data = SecretString::new(data);
        v.version_stages = stages;
        let at = UNIX_EPOCH + Duration::from_millis(millis);
        let key = key();
        let restored = key.open(&name, &key.seal(&v, at).unwrap()).unwrap();
        prop_assert_eq!(restored.value, v);
        prop_assert_eq!(restored.fetched_at, at);
    }
}

/// The committed fuzz seeds of `restart_cache_file` (`fuzz/seeds/`) are what this code writes
/// today (fixed nonce and key, so they are reproducible): a format change that forgets them
/// fails here. `AMC_WRITE_SEEDS=1` rewrites them.
#[test]
fn write_fuzz_seeds() {
    let key = RestartKey::from_access_key(
        "access_key",
        "LTAI5tFUZZ",
        &SecretString::new("fuzz-secret"),
    );
    let name = "acs/ram/user/fuzz";
    let mut binary = value(name);
    binary.secret_type = "Generic".into();
    binary.secret_data_type = "binary".into();
    binary.secret_data = SecretString::new("AAECAwQFBgcICQ==");
    let genuine = key.seal_with(&value(name), fetched_at(), FORMAT_VERSION, [1; NONCE_LEN]);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("genuine", genuine.clone()),
        (
            "binary_secret",
            key.seal_with(&binary, fetched_at(), FORMAT_VERSION, [2; NONCE_LEN]),
        ),
        ("plaintext", encode(&value(name), fetched_at()).to_vec()),
        (
            "other_secret",
            key.seal_with(&value(NAME), fetched_at(), FORMAT_VERSION, [3; NONCE_LEN]),
        ),
        (
            "version_2",
            key.seal_with(&value(name), fetched_at(), 2, [4; NONCE_LEN]),
        ),
        ("truncated", genuine[..HEADER_LEN + 3].to_vec()),
    ];
    assert!(key.open(name, &seeds[0].1).is_ok());
    assert!(key.open(name, &seeds[1].1).is_ok());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/restart_cache_file");
    let write = std::env::var_os("AMC_WRITE_SEEDS").is_some();
    for (file, bytes) in seeds {
        let path = dir.join(file);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert!(
            std::fs::read(&path).unwrap_or_default() == bytes,
            "{} is missing or stale: rerun with AMC_WRITE_SEEDS=1",
            path.display()
        );
    }
}
