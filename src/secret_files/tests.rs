//! The file source against [`KubeletAtomicWriter`], a step-for-step copy of the kubelet's
//! `AtomicWriter` (kubernetes `pkg/volume/util/atomic_writer.go`): reads between every step of
//! a swap, reads racing a stream of swaps, and the provider on top (poll, rejected key, broken
//! file, health).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::clock::{Clock, TokioClock};
use crate::provider::{ManagedCredentialsProvider, RefreshOutcome};
use crate::secret::{AccessKey, Secret};
use crate::testing::{KubeletAtomicWriter, WriterStep};

const NAME: &str = "acs/ram/user/app";

fn json(n: u32) -> String {
    format!(
        r#"{{"AccessKeyId":"LTAIfile{n}","AccessKeySecret":"secret-{n}","GenerateTimestamp":"2026-11-29T08:00:00Z"}}"#
    )
}

/// The pair a read produced, parsed by the same code as a KMS answer.
fn pair(files: &SecretFiles, name: &str) -> Result<(String, String), String> {
    let read = files.read_blocking(name).map_err(|e| e.to_string())?;
    let value = SecretValue {
        secret_name: name.into(),
        secret_type: "RAMCredentials".into(),
        secret_data: SecretString::new(read.data.as_str()),
        secret_data_type: "text".into(),
        version_stages: vec![],
        version_id: read.version_id,
        create_time: String::new(),
        request_id: String::new(),
        last_rotation_date: String::new(),
        next_rotation_date: String::new(),
        extended_config: String::new(),
        automatic_rotation: String::new(),
        rotation_interval: String::new(),
    };
    let secret = Secret::from_value(&value, SystemTime::now()).map_err(|e| e.to_string())?;
    let ak = AccessKey::from_secret(&secret).map_err(|e| e.to_string())?;
    Ok((
        ak.access_key_id().to_owned(),
        ak.access_key_secret().to_owned(),
    ))
}

fn expect_version(got: &(String, String), n: u32) -> bool {
    got.0 == format!("LTAIfile{n}") && got.1 == format!("secret-{n}")
}

/// Layout A: one Secret volume at the base directory, key mapped to the secret's name
/// (`items: [{key: credentials, path: acs/ram/user/app}]`), holding the SecretData JSON.
fn json_payload(n: u32) -> Vec<(String, Vec<u8>)> {
    vec![(NAME.to_owned(), json(n).into_bytes())]
}

/// Layout B: a Secret volume mounted at `<base>/acs/ram/user/app`, one file per field, as
/// jmesPath / extract write them (with a trailing newline, and JSON-quoted like older
/// ack-secret-manager `extract`).
fn field_payload(n: u32) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "AccessKeyId".to_owned(),
            format!("LTAIfile{n}\n").into_bytes(),
        ),
        (
            "AccessKeySecret".to_owned(),
            format!("\"secret-{n}\"").into_bytes(),
        ),
    ]
}

fn as_refs(payload: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    payload
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect()
}

/// A base directory and a writer for layout A (`json`) or B.
fn setup(json_layout: bool) -> (tempfile::TempDir, SecretFiles, KubeletAtomicWriter) {
    let base = tempfile::tempdir().unwrap();
    let target = if json_layout {
        base.path().to_owned()
    } else {
        let dir = base.path().join(NAME);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let files = SecretFiles::new(base.path().to_owned());
    (base, files, KubeletAtomicWriter::new(target).unwrap())
}

fn payload(json_layout: bool, n: u32) -> Vec<(String, Vec<u8>)> {
    if json_layout {
        json_payload(n)
    } else {
        field_payload(n)
    }
}

#[test]
fn reads_both_layouts_through_the_data_link() {
    for json_layout in [true, false] {
        let (_base, files, writer) = setup(json_layout);
        assert!(writer.write(&as_refs(&payload(json_layout, 1))).unwrap());
        let got = pair(&files, NAME).unwrap();
        assert!(expect_version(&got, 1), "layout json={json_layout}");
        // The version is the timestamped directory the writer made.
        let target = std::fs::read_link(writer.target_dir().join("..data")).unwrap();
        let read = files.read_blocking(NAME).unwrap();
        assert_eq!(
            read.version_id,
            target.to_string_lossy().trim_start_matches('.')
        );
        // Unchanged content is not written again: same version.
        assert!(!writer.write(&as_refs(&payload(json_layout, 1))).unwrap());
        assert_eq!(
            files.read_blocking(NAME).unwrap().version_id,
            read.version_id
        );
    }
}

#[test]
fn every_step_of_a_swap_serves_one_whole_version() {
    for legacy in [false, true] {
        for json_layout in [true, false] {
            let (_base, files, writer) = setup(json_layout);
            let writer = if legacy {
                writer.legacy_order()
            } else {
                writer
            };
            writer.write(&as_refs(&payload(json_layout, 1))).unwrap();
            let mut steps = Vec::new();
            writer
                .write_observed(&as_refs(&payload(json_layout, 2)), |step| {
                    let got = pair(&files, NAME).unwrap_or_else(|e| {
                        panic!("read failed after {step:?} (legacy={legacy}): {e}")
                    });
                    let live = matches!(
                        step,
                        WriterStep::DataLinkSwapped
                            | WriterStep::OldPathsRemoved
                            | WriterStep::OldDirRemoved
                    ) || (steps.contains(&WriterStep::DataLinkSwapped));
                    let want = if live { 2 } else { 1 };
                    assert!(
                        expect_version(&got, want),
                        "after {step:?} (legacy={legacy}, json={json_layout}) got {} instead of version {want}",
                        got.0
                    );
                    steps.push(step);
                })
                .unwrap();
            assert!(steps.contains(&WriterStep::OldDirRemoved), "{steps:?}");
        }
    }
}

#[test]
fn concurrent_reads_during_swaps_never_tear_or_fail() {
    for json_layout in [true, false] {
        let (_base, files, writer) = setup(json_layout);
        writer.write(&as_refs(&payload(json_layout, 0))).unwrap();
        let files = Arc::new(files);
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (files, stop, reads) = (files.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let (id, secret) = pair(&files, NAME).expect("no read may fail");
                        let n = id.trim_start_matches("LTAIfile");
                        assert_eq!(secret, format!("secret-{n}"), "torn pair");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for n in 1..=150 {
            writer.write(&as_refs(&payload(json_layout, n))).unwrap();
        }
        // Readers keep going for a few more reads after the last swap (or until they all
        // stopped on a failed or torn read, reported by `join` below).
        let target = reads.load(Ordering::Relaxed) + 8;
        while reads.load(Ordering::Relaxed) < target && !readers.iter().all(|r| r.is_finished()) {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("reader panicked (failed or torn read)");
        }
        assert!(expect_version(&pair(&files, NAME).unwrap(), 150));
    }
}

#[test]
fn plain_files_without_a_data_link() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join(NAME);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("AccessKeyId"), "LTAIfile7").unwrap();
    std::fs::write(dir.join("AccessKeySecret"), "secret-7\n").unwrap();
    let files = SecretFiles::new(base.path().to_owned());
    assert!(expect_version(&pair(&files, NAME).unwrap(), 7));
    assert!(files
        .read_blocking(NAME)
        .unwrap()
        .version_id
        .starts_with("mtime-"));
    std::fs::remove_file(dir.join("AccessKeySecret")).unwrap();
    let err = pair(&files, NAME).unwrap_err();
    assert!(err.contains("without a AccessKeySecret file"), "{err}");
}

#[test]
fn names_that_leave_the_directory_are_refused() {
    let base = tempfile::tempdir().unwrap();
    let files = SecretFiles::new(base.path().to_owned());
    for bad in ["../etc/passwd", "a//b", "..data", "a/./b", "/abs", ""] {
        let err = files.read_blocking(bad).err().unwrap().to_string();
        assert!(err.contains("plain file name"), "{bad}: {err}");
    }
}

#[test]
fn file_errors_name_the_path_never_the_content() {
    let (base, files, writer) = setup(true);
    writer
        .write(&[(
            NAME,
            br#"{"AccessKeyId":"LTAIx","AccessKeySecret":"#.as_slice(),
        )])
        .unwrap();
    // Readable but not JSON: the bytes arrive, the parser reports position only.
    let err = pair(&files, NAME).unwrap_err();
    assert!(err.contains("not valid JSON"), "{err}");
    assert!(!err.contains("LTAIx"), "{err}");
    let missing = files.read_blocking("acs/ram/user/other").err().unwrap();
    let text = missing.to_string();
    assert!(text.contains("does not exist"), "{text}");
    assert!(
        text.contains(&base.path().join("acs/ram/user/other").display().to_string()),
        "{text}"
    );
    assert!(missing.is_retryable());
}

// ---- through the provider (cache engine) ----

/// Starts a provider on `dir` with the tokio-driven clock.
async fn provider(dir: &Path, poll: Duration, clock: Arc<dyn Clock>) -> ManagedCredentialsProvider {
    let config = crate::ConfigBuilder::new()
        .with_secret_files(dir, poll)
        .build()
        .unwrap();
    ManagedCredentialsProvider::builder()
        .config(config)
        .clock(clock)
        .build()
        .await
        .unwrap()
}

fn tokio_clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::starting_at(SystemTime::now()))
}

#[tokio::test(start_paused = true)]
async fn a_swap_is_served_after_one_poll() {
    let (base, _files, writer) = setup(true);
    writer.write(&as_refs(&json_payload(1))).unwrap();
    let provider = provider(base.path(), Duration::from_secs(2), tokio_clock()).await;
    let first = provider.get_access_key(NAME).await.unwrap();
    assert_eq!(first.access_key_id(), "LTAIfile1");
    let mut rx = provider.subscribe(NAME).await.unwrap();
    let polls_before = provider.stats().fetches;
    writer.write(&as_refs(&json_payload(2))).unwrap();
    let started = tokio::time::Instant::now();
    rx.changed().await.unwrap();
    assert_eq!(rx.borrow().access_key_id(), "LTAIfile2");
    assert_eq!(rx.borrow().access_key_secret(), "secret-2");
    // Picked up by the next poll (paused clock: exactly the poll interval, no jitter).
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(provider.stats().fetches, polls_before + 1);
    assert_eq!(provider.stats().new_versions, 2);
    provider.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_rejected_key_rereads_the_file_at_once() {
    let (base, _files, writer) = setup(false);
    writer.write(&as_refs(&field_payload(1))).unwrap();
    // An hour between polls: only the rejection can bring the new key in.
    let provider = provider(base.path(), Duration::from_secs(3600), tokio_clock()).await;
    let first = provider.get_access_key(NAME).await.unwrap();
    writer.write(&as_refs(&field_payload(2))).unwrap();
    let started = tokio::time::Instant::now();
    let outcome = provider
        .report_rejected(NAME, &first, "InvalidAccessKeyId.NotFound")
        .await;
    let new_key = outcome.new_key().expect("a different key").clone();
    assert_eq!(new_key.access_key_id(), "LTAIfile2");
    assert_eq!(new_key.access_key_secret(), "secret-2");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(provider.stats().forced_refreshes, 1);
    // The same rejection again: the file still holds key 2, so nothing new.
    let again = provider
        .report_rejected(NAME, &new_key, "InvalidAccessKeyId.NotFound")
        .await;
    assert!(matches!(again, RefreshOutcome::Unchanged(_)), "{again:?}");
    provider.close().await;
}

/// Polls until the health of `NAME` satisfies `done` (paused clock: each loop is one poll).
async fn until_health(
    provider: &ManagedCredentialsProvider,
    done: impl Fn(&crate::SecretHealth) -> bool,
) -> crate::SecretHealth {
    for _ in 0..200 {
        if let Some(h) = provider
            .health()
            .secrets
            .into_iter()
            .find(|s| s.name == NAME)
        {
            if done(&h) {
                return h;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!(
        "health never reached the expected state: {:?}",
        provider.health()
    );
}

#[tokio::test(start_paused = true)]
async fn a_broken_or_missing_file_keeps_the_last_good_key() {
    let (base, _files, writer) = setup(true);
    writer.write(&as_refs(&json_payload(1))).unwrap();
    let provider = provider(base.path(), Duration::from_secs(2), tokio_clock()).await;
    assert_eq!(
        provider.get_access_key(NAME).await.unwrap().access_key_id(),
        "LTAIfile1"
    );

    // The operator writes something that is not JSON.
    writer
        .write(&[(NAME, b"{\"AccessKeyId\": \"LTAIfile9\", oops".as_slice())])
        .unwrap();
    let h = until_health(&provider, |h| h.last_error.is_some()).await;
    let error = h.last_error.clone().unwrap();
    assert!(error.contains("not valid JSON"), "{error}");
    assert!(!error.contains("LTAIfile9"), "{error}");
    assert!(
        h.stale && !h.expired && h.consecutive_failures >= 1,
        "{h:?}"
    );
    assert!(!provider.health().is_healthy());
    assert_eq!(
        provider.get_access_key(NAME).await.unwrap().access_key_id(),
        "LTAIfile1"
    );

    // The volume disappears altogether (unmounted, Secret deleted).
    for entry in std::fs::read_dir(base.path()).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let h = until_health(&provider, |h| {
        h.last_error
            .as_deref()
            .is_some_and(|e| e.contains("does not exist"))
    })
    .await;
    assert!(h.stale, "{h:?}");
    let served = provider.get_access_key(NAME).await.unwrap();
    assert_eq!(served.access_key_id(), "LTAIfile1");
    assert_eq!(served.access_key_secret(), "secret-1");

    // It comes back with a new key: served, healthy again.
    writer.write(&as_refs(&json_payload(3))).unwrap();
    let h = until_health(&provider, |h| h.last_error.is_none()).await;
    assert!(!h.stale && h.consecutive_failures == 0, "{h:?}");
    assert_eq!(
        provider.get_access_key(NAME).await.unwrap().access_key_id(),
        "LTAIfile3"
    );
    provider.close().await;
}

/// A clock that stays where it is put.
#[derive(Debug)]
struct FixedClock(SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

#[tokio::test(start_paused = true)]
async fn health_reports_the_file_age() {
    let (base, _files, writer) = setup(true);
    writer.write(&as_refs(&json_payload(1))).unwrap();
    // The real file behind the user-visible path: mtime set to a known date.
    let written = crate::secret::parse_date("t", "t", "2026-11-29T08:00:00Z")
        .unwrap()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(base.path().join(NAME))
        .unwrap()
        .set_modified(written)
        .unwrap();
    let now = written + Duration::from_secs(90 * 60);
    let provider = provider(
        base.path(),
        Duration::from_secs(2),
        Arc::new(FixedClock(now)),
    )
    .await;
    let before = provider.health();
    provider.get_access_key(NAME).await.unwrap();
    let h = provider
        .health()
        .secrets
        .into_iter()
        .find(|s| s.name == NAME)
        .unwrap();
    assert_eq!(h.file_age, Some(Duration::from_secs(90 * 60)));
    assert!(before.secrets.is_empty());
    assert!(provider.health().preferred_endpoint.starts_with("file:"));
    provider.close().await;
}
