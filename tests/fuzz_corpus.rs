//! Replays the committed fuzz corpus through the entry points the cargo-fuzz targets call, on
//! stable and without libFuzzer, so that `cargo test` catches a regression of any input that
//! once crashed (or that covers a path worth keeping): every file of `fuzz/seeds/<target>/` and
//! of `fuzz/regressions/<target>/` (inputs minimized from crashes found by fuzzing, if any).
//!
//! The property is the fuzzers' one: no input panics. Panics on threads the entry point does not
//! join (the endpoint's connection tasks) are counted by a panic hook.
//!
//! `cargo test --features fuzzing --test fuzz_corpus`; the long campaign is in fuzz/README.md.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use aliyun_managed_credentials::testing::fuzzing;

/// Panics on threads other than the tests' own (those `catch_unwind` sees): the endpoint's
/// tokio tasks, whose panics would otherwise only drop a connection.
static BACKGROUND_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Targets whose entry point runs code on threads of its own; a background panic fails these
/// (and only these, so that a concurrently replayed target is not blamed).
const BACKGROUND_TARGETS: &[&str] = &["endpoint_request"];

fn count_background_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // libtest names each test's thread after the test.
            let on_test_thread = std::thread::current()
                .name()
                .is_some_and(|name| TARGETS.contains(&name));
            if !on_test_thread {
                BACKGROUND_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; empty if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Feeds every seed and regression input of `target` to `entry`; returns how many it replayed.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    count_background_panics();
    let seeds = inputs(&fuzz_dir().join("seeds").join(target));
    assert!(
        !seeds.is_empty(),
        "fuzz/seeds/{target}/ holds no input: the replay of {target} would test nothing"
    );
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut replayed = 0;
    for file in seeds.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let before = BACKGROUND_PANICS.load(Ordering::SeqCst);
        let outcome = std::panic::catch_unwind(|| entry(&data));
        let background_panic = BACKGROUND_TARGETS.contains(&target)
            && BACKGROUND_PANICS.load(Ordering::SeqCst) != before;
        assert!(
            outcome.is_ok() && !background_panic,
            "{target}: {} panicked{} (reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run {target} {}`)",
            file.display(),
            if outcome.is_ok() { " on a background thread" } else { "" },
            file.display()
        );
        replayed += 1;
    }
    assert_eq!(replayed, seeds.len() + regressions.len());
    eprintln!(
        "{target}: replayed {} seeds and {} regressions",
        seeds.len(),
        regressions.len()
    );
    replayed
}

macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {
        /// Every target this file replays, to check it against `fuzz/fuzz_targets/`.
        const TARGETS: &[&str] = &[$(stringify!($target)),*];
        $(
            #[test]
            fn $target() {
                assert!(replay(stringify!($target), fuzzing::$target) > 0);
            }
        )*
    };
}

replay_tests!(
    properties,
    config,
    client_key_json,
    client_key_pkcs12,
    ca_bundle,
    instance_response,
    gateway_secret_value,
    gateway_error,
    sts_answer,
    ecs_answer,
    secret_data,
    endpoint_request,
    restart_cache_file,
);

/// A target added to `fuzz/` without a replay here (or the reverse) would silently go untested.
#[test]
fn every_fuzz_target_is_replayed() {
    let mut on_disk: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    replayed.sort();
    assert_eq!(on_disk, replayed);
    let mut seed_dirs: Vec<String> = std::fs::read_dir(fuzz_dir().join("seeds"))
        .expect("fuzz/seeds exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    seed_dirs.sort();
    assert_eq!(
        seed_dirs, replayed,
        "fuzz/seeds/ has a directory per target"
    );
}
