//! `aliyun-managed-credentials credential-process`: the real binary against LocalKms.
//!
//! * the document: exactly the fields and date format the official clients accept (taken from
//!   the captured contract in `tests/fixtures/external/`, see its README), one line on stdout,
//!   nothing else there, nothing on stderr at the default log level;
//! * `expiration`: the handle's expiry policy (next refresh, never after `NextRotationDate` or
//!   `ExpireTimestamp`, 10 min .. 1 h), always beyond the consumers' `expiration − 180 s` re-run
//!   point unless the key itself dies sooner;
//! * failures: exit codes, stderr naming the problem and never a secret, one KMS request only,
//!   `--timeout`;
//! * opt-in, the official clients running it from `~/.aliyun/config.json` (mode `External`):
//!   Python `alibabacloud-credentials` (`ALIYUN_MC_TEST_PYTHON=/path/to/python`) and Node
//!   `@alicloud/credentials` (`ALIYUN_MC_TEST_NODE=/path/to/dir` with it in `node_modules`), plus
//!   the Node client against the credentials endpoint (it refuses an empty `SecurityToken`).

mod integrations_support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

use aliyun_managed_credentials::testing::{Fault, RamCredentialOptions};
use integrations_support::{Setup, SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_aliyun-managed-credentials");
const GOLDEN: &str = include_str!("fixtures/external/external_golden.json");
const CONTRACT: &str = include_str!("fixtures/external/external-contract.md");

// ---- the captured contract ----------------------------------------------------------------

/// The keys of a JSON object, in document order (serde_json's `Map` sorts them).
fn keys_in_order(json: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Keys>(json)
        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {json}"))
        .0
}

/// The example documents of the contract's §2.3 ("Expected stdout JSON"): (StsToken, AK).
fn contract_examples() -> (String, String) {
    let section = CONTRACT
        .split("### 2.3")
        .nth(1)
        .expect("§2.3 in external-contract.md");
    let block = section
        .split("```json")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json block in §2.3");
    let lines: Vec<&str> = block.lines().filter(|l| l.starts_with('{')).collect();
    let sts = lines
        .iter()
        .find(|l| l.contains(r#""mode":"StsToken""#))
        .expect("StsToken example");
    let ak = lines
        .iter()
        .find(|l| l.contains(r#""mode":"AK""#))
        .expect("AK example");
    (sts.to_string(), ak.to_string())
}

fn golden_vector(name: &str) -> serde_json::Value {
    let golden: serde_json::Value = serde_json::from_str(GOLDEN).unwrap();
    golden["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["scenario"] == name)
        .unwrap_or_else(|| panic!("vector {name} in external_golden.json"))
        .clone()
}

/// The `strptime` format Python's External provider parses `expiration` with, as quoted by the
/// captured exception ("time data '…' does not match format '%Y-%m-%dT%H:%M:%SZ'"), and the
/// literal it rejected.
fn python_date_format(scenario: &str) -> (String, String) {
    let v = golden_vector(scenario);
    let text = v["steps"][0]["exception"]["str"].as_str().unwrap();
    let format = text
        .split("does not match format '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no format in {text}"));
    let rejected = v["process_command"]
        .as_str()
        .unwrap()
        .split("--exp-literal ")
        .nth(1)
        .unwrap();
    (format.to_owned(), rejected.to_owned())
}

/// Whether `value` is accepted by Python's `time.strptime(value, format)` for the directives
/// the format uses (zero-padded fields, as we must print them; Python would also take one digit).
fn strptime_matches(value: &str, format: &str) -> bool {
    fn number(
        v: &mut std::str::Chars<'_>,
        width: usize,
        range: std::ops::RangeInclusive<u32>,
    ) -> bool {
        let digits: String = v.by_ref().take(width).collect();
        digits.len() == width
            && digits.chars().all(|c| c.is_ascii_digit())
            && digits.parse().is_ok_and(|n: u32| range.contains(&n))
    }
    let mut v = value.chars();
    let mut f = format.chars();
    while let Some(c) = f.next() {
        let ok = if c == '%' {
            match f.next() {
                Some('Y') => number(&mut v, 4, 1..=9999),
                Some('m') => number(&mut v, 2, 1..=12),
                Some('d') => number(&mut v, 2, 1..=31),
                Some('H') => number(&mut v, 2, 0..=23),
                Some('M') => number(&mut v, 2, 0..=59),
                Some('S') => number(&mut v, 2, 0..=61),
                other => panic!("directive %{other:?} not handled"),
            }
        } else {
            v.next() == Some(c)
        };
        if !ok {
            return false;
        }
    }
    v.next().is_none()
}

/// The consumers' re-run margin, from a captured refresh timeline: the first answer expires at
/// `--exp-base` + 1 h; the run that returned key `…0002` happened that long before.
fn captured_refresh_margin(scenario: &str) -> Duration {
    let v = golden_vector(scenario);
    let base: u64 = v["process_command"]
        .as_str()
        .unwrap()
        .split("--exp-base ")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let first_expiration = SystemTime::UNIX_EPOCH + Duration::from_secs(base + 3600);
    let rerun = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["returned"]["access_key_id"]
                .as_str()
                .is_some_and(|id| id.ends_with("0002"))
        })
        .expect("a second run");
    let at = parse_date(rerun["clock"].as_str().unwrap());
    first_expiration.duration_since(at).unwrap()
}

fn parse_date(text: &str) -> SystemTime {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(text, &format)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .assume_utc()
        .into()
}

// ---- running the binary ---------------------------------------------------------------------

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `credential-process` with `args`, in an empty working directory, with no
/// `RUST_LOG` / `ALIYUN_MANAGED_CREDENTIALS_FILE` unless `env` sets them.
async fn run_with_env(args: &[&OsStr], env: &[(&str, &str)]) -> Run {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("credential-process")
        .args(args)
        .current_dir(cwd.path())
        .env_remove("RUST_LOG")
        .env_remove("ALIYUN_MANAGED_CREDENTIALS_FILE")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("credential-process ends within 60 s")
        .unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

async fn run(args: &[&OsStr]) -> Run {
    run_with_env(args, &[]).await
}

/// `--secret SECRET --config <the access point's properties file>` plus `extra`.
async fn run_for(setup: &Setup, extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![
        "--secret".as_ref(),
        SECRET.as_ref(),
        "--config".as_ref(),
        setup.ap.properties_file.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    run(&args).await
}

/// The one JSON line of a successful run, its `expiration`, and checks common to every success.
fn document(setup: &Setup, run: &Run) -> (serde_json::Value, SystemTime) {
    assert!(
        run.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        run.status,
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.ends_with('\n'),
        "newline-terminated: {:?}",
        run.stdout
    );
    let line = run.stdout.strip_suffix('\n').unwrap();
    assert!(!line.contains('\n'), "one line only: {:?}", run.stdout);
    let doc: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let pair = setup.kms.current_access_key(SECRET);
    assert!(
        !run.stderr.contains(&pair.access_key_secret),
        "secret on stderr"
    );
    let expiration = parse_date(doc["expiration"].as_str().expect("expiration"));
    (doc, expiration)
}

fn assert_no_secret(setup: &Setup, run: &Run) {
    let pair = setup.kms.current_access_key(SECRET);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(&pair.access_key_secret), "{text}");
        assert!(!text.contains(&pair.access_key_id), "{text}");
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- the document -----------------------------------------------------------------------------

/// The contract's own vectors, checked before they are used as the yardstick.
#[test]
fn the_captured_contract_says_what_the_tests_assume() {
    let (sts, ak) = contract_examples();
    assert_eq!(
        keys_in_order(&ak),
        ["mode", "access_key_id", "access_key_secret"]
    );
    assert_eq!(keys_in_order(&sts).last().unwrap(), "expiration");
    for scenario in [
        "ext_py_expiration_with_millis",
        "ext_py_expiration_with_offset",
    ] {
        let (format, rejected) = python_date_format(scenario);
        assert_eq!(format, "%Y-%m-%dT%H:%M:%SZ");
        assert!(!strptime_matches(&rejected, &format), "{rejected}");
    }
    let (format, _) = python_date_format("ext_py_expiration_with_millis");
    assert!(strptime_matches("2024-02-01T09:00:00Z", &format));
    for scenario in [
        "ext_py_sts_expiration_refresh",
        "ext_node_sts_expiration_refresh",
    ] {
        assert_eq!(captured_refresh_margin(scenario), secs(180), "{scenario}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_exactly_the_external_document() {
    let setup = Setup::new().await;
    let before = SystemTime::now();
    let run = run_for(&setup, &[]).await;
    let (doc, expiration) = document(&setup, &run);
    let pair = setup.kms.current_access_key(SECRET);

    // Field names and order: the AK example of the contract, plus `expiration` (which the
    // contract's StsToken example puts last).
    let (sts_example, ak_example) = contract_examples();
    let mut expected = keys_in_order(&ak_example);
    expected.push(keys_in_order(&sts_example).pop().unwrap());
    assert_eq!(keys_in_order(run.stdout.trim_end()), expected);
    assert_eq!(doc["mode"], "AK");
    assert_eq!(doc["access_key_id"], pair.access_key_id.as_str());
    assert_eq!(doc["access_key_secret"], pair.access_key_secret.as_str());
    assert!(
        doc.get("sts_token").is_none(),
        "a token would be used as one"
    );

    // The date: what Python's strptime accepts (the strictest consumer), UTC.
    let text = doc["expiration"].as_str().unwrap();
    let (format, _) = python_date_format("ext_py_expiration_with_millis");
    assert!(strptime_matches(text, &format), "{text} vs {format}");
    assert!(!text.contains('.') && !text.contains('+'), "{text}");

    // Comes back well after the consumers' re-run point (expiration − 180 s).
    let margin = captured_refresh_margin("ext_py_sts_expiration_refresh");
    assert!(
        expiration >= before + margin + secs(60),
        "{text}: consumers would re-run at once"
    );
    // Quiet by default: the aliyun CLI puts the command's stderr on the terminal.
    assert_eq!(run.stderr, "", "nothing on stderr at the default log level");
    // One fetch.
    assert_eq!(setup.kms.request_count(SECRET), 1);
    assert!(run.took < secs(20), "took {:?}", run.took);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_holds_only_the_document_even_with_trace_logs() {
    let setup = Setup::new().await;
    let args: Vec<&OsStr> = vec![
        "--secret".as_ref(),
        SECRET.as_ref(),
        "--config".as_ref(),
        setup.ap.properties_file.as_os_str(),
    ];
    let run = run_with_env(&args, &[("RUST_LOG", "trace")]).await;
    let (doc, _) = document(&setup, &run);
    assert_eq!(doc["mode"], "AK");
    assert!(!run.stderr.is_empty(), "trace logs go to stderr");
}

// ---- expiration ---------------------------------------------------------------------------------

/// Default: nothing due within the hour (LocalKms rotates weekly) → now + 1 h, the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_is_capped_at_one_hour() {
    let setup = Setup::new().await;
    let before = SystemTime::now();
    let run = run_for(&setup, &[]).await;
    let after = SystemTime::now();
    let (_, expiration) = document(&setup, &run);
    assert!(
        expiration >= before + secs(3600) - secs(1),
        "{}",
        run.stdout
    );
    assert!(expiration <= after + secs(3600), "{}", run.stdout);
}

/// A rotation 30 min ahead: the consumers come back before it (at `expiration − 180 s`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_is_not_after_the_next_rotation() {
    let setup = Setup::new().await;
    let rotation = SystemTime::now() + secs(30 * 60);
    setup.kms.set_next_rotation(SECRET, rotation);
    let run = run_for(&setup, &[]).await;
    let (_, expiration) = document(&setup, &run);
    assert!(expiration <= rotation, "{}", run.stdout);
    assert!(expiration >= rotation - secs(1), "{}", run.stdout);
}

/// A rotation 4 min ahead: the 10 min floor wins (else the consumers would run the command on
/// every call until the rotation); the key stays valid after the rotation as ACSPrevious.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_a_rotation_the_floor_wins() {
    let setup = Setup::new().await;
    setup
        .kms
        .set_next_rotation(SECRET, SystemTime::now() + secs(240));
    let before = SystemTime::now();
    let run = run_for(&setup, &[]).await;
    let after = SystemTime::now();
    let (_, expiration) = document(&setup, &run);
    assert!(expiration >= before + secs(600) - secs(1), "{}", run.stdout);
    assert!(expiration <= after + secs(600), "{}", run.stdout);
}

/// `ExpireTimestamp` bounds it, whatever the floor says; within 180 s a warning says why the
/// consumers will keep running the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiration_is_never_after_the_expire_timestamp() {
    let setup = Setup::new().await;
    for (ahead, warns) in [(secs(8 * 60), false), (secs(120), true)] {
        let expire = SystemTime::now() + ahead;
        setup.kms.put_ram_credential_with(
            SECRET,
            RamCredentialOptions {
                expire: Some(expire),
                ..Default::default()
            },
        );
        let run = run_for(&setup, &[]).await;
        let (_, expiration) = document(&setup, &run);
        assert!(expiration <= expire, "{ahead:?}: {}", run.stdout);
        assert!(expiration >= expire - secs(1), "{ahead:?}: {}", run.stdout);
        assert_eq!(
            run.stderr.contains("less than 180 s away"),
            warns,
            "{ahead:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validity_bounds_are_configurable_within_the_consumers_margin() {
    let setup = Setup::new().await;
    let before = SystemTime::now();
    let run = run_for(&setup, &["--max-validity", "900"]).await;
    let after = SystemTime::now();
    let (_, expiration) = document(&setup, &run);
    assert!(expiration >= before + secs(900) - secs(1), "{}", run.stdout);
    assert!(expiration <= after + secs(900), "{}", run.stdout);

    let run = run_for(&setup, &["--min-validity", "179"]).await;
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("at least 240 s"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

// ---- failures ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_fails_with_one_request_and_no_secret_on_stderr() {
    let setup = Setup::new().await;
    let missing = "acs/ram/user/missing";
    let run = run(&[
        "--secret".as_ref(),
        missing.as_ref(),
        "--config".as_ref(),
        setup.ap.properties_file.as_os_str(),
    ])
    .await;
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_eq!(run.stdout, "", "nothing on stdout");
    assert!(
        run.stderr
            .starts_with("aliyun-managed-credentials: error: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(missing), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_no_secret(&setup, &run);
    assert_eq!(setup.kms.request_count(missing), 1, "no prefetch, no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_fails_naming_the_file() {
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.properties");
    let broken = dir.path().join("broken.properties");
    std::fs::write(&broken, "cache_client_dkms_config_info=[{\"regionId\":\n").unwrap();
    for file in [&absent, &broken] {
        let run = run(&[
            "--secret".as_ref(),
            SECRET.as_ref(),
            "--config".as_ref(),
            file.as_os_str(),
        ])
        .await;
        assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
        assert_eq!(run.stdout, "");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(run.stderr.contains(name), "{}", run.stderr);
        assert_no_secret(&setup, &run);
    }
    assert_eq!(setup.kms.total_requests(), 0);
}

/// Without `--secret`, `secret_names` must name exactly one secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_secret_the_file_must_name_exactly_one() {
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(&setup.ap.properties_file).unwrap();
    let write = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        path
    };
    let one = write("one.properties", &format!("secret_names={SECRET}\n"));
    let run1 = run(&["--config".as_ref(), one.as_os_str()]).await;
    let (doc, _) = document(&setup, &run1);
    assert_eq!(
        doc["access_key_id"],
        setup.kms.current_access_key(SECRET).access_key_id.as_str()
    );

    let none = write("none.properties", "");
    let two = write(
        "two.properties",
        &format!("secret_names={SECRET},acs/ram/user/other\n"),
    );
    for (file, says) in [(&none, "pass --secret NAME"), (&two, "several")] {
        let run = run(&["--config".as_ref(), file.as_os_str()]).await;
        assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_before_any_request() {
    let setup = Setup::new().await;
    for (extra, says) in [
        (&["--secret", "acs/ram/user/other"][..], "--secret once"),
        (&["--listen", "127.0.0.1:0"][..], "--listen"),
        (&["--url-file", "/tmp/x"][..], "--url-file"),
        (&["--timeout", "0"][..], "--timeout"),
        (&["--bogus"][..], "--bogus"),
    ] {
        let run = run_for(&setup, extra).await;
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{extra:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{extra:?}");
    }
    assert_eq!(setup.kms.total_requests(), 0);
}

/// KMS hanging: `--timeout` ends the run with an error of ours before the consumers' 60 s kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_kms_ends_at_the_timeout() {
    let setup = Setup::new().await;
    setup.kms.set_fault_always(Some(Fault::Delay(secs(30))));
    let run = run_for(&setup, &["--timeout", "2"]).await;
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("--timeout"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.took < secs(10), "took {:?}", run.took);
    setup.kms.set_fault_always(None);
}

// ---- the official clients (opt-in) -------------------------------------------------------------

/// Unix only: `process_command` is quoted for the POSIX splitting the clients use there.
#[cfg(unix)]
mod official_clients {
    use super::*;

    /// POSIX-shell quoting for `process_command` (the clients split it like `shlex`, no shell).
    fn sh_quote(s: &str) -> String {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
        {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    }

    /// A `$HOME` with `.aliyun/config.json` (mode 0600) whose current profile `managed` is an
    /// External profile running this binary; a static `default` profile that must not be used.
    fn home_with_external_profile(setup: &Setup) -> (tempfile::TempDir, std::path::PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".aliyun");
        std::fs::create_dir(&dir).unwrap();
        let command = format!(
            "{} credential-process --config {} --secret {}",
            sh_quote(BIN),
            sh_quote(&setup.ap.properties_file.display().to_string()),
            sh_quote(SECRET)
        );
        let config = serde_json::json!({
            "current": "managed",
            "profiles": [
                {"name": "default", "mode": "AK", "access_key_id": "LTAI5tUnusedDefaultKey01",
                 "access_key_secret": "UnusedDefaultProfileSecret000001", "region_id": "cn-hangzhou"},
                {"name": "managed", "mode": "External", "process_command": command,
                 "region_id": "cn-hangzhou"}
            ],
            "meta_path": ""
        });
        let path = dir.join("config.json");
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (home, path)
    }

    /// A consumer process: `HOME` set, every credential variable that could win over the profile
    /// removed, no ECS metadata probe, no log level for our binary.
    fn consumer(program: &str, home: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.env("HOME", home)
            .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
            .env("ALIBABA_CLOUD_CREDENTIALS_FILE", home.join("no-such-file"))
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        for var in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "ALIBABA_CLOUD_PROFILE",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED",
            "ALIBABA_CLOUD_CREDENTIALS_URI",
            "ALIBABA_CLOUD_ROLE_ARN",
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
            "ALIBABA_CLOUD_ECS_METADATA",
            "ALIYUN_MANAGED_CREDENTIALS_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs a consumer to completion (60 s at most): (success, stdout, stderr).
    async fn finish(mut cmd: tokio::process::Command) -> (bool, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("the client finishes within 60 s")
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// What the clients wrote back into `config.json`: the managed key, in plain text, and our
    /// expiration as epoch seconds (so they parsed it).
    fn assert_written_back(setup: &Setup, path: &Path, started: SystemTime) {
        use std::os::unix::fs::PermissionsExt;
        let text = std::fs::read_to_string(path).unwrap();
        let config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let profile = config["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "managed")
            .unwrap();
        let pair = setup.kms.current_access_key(SECRET);
        assert_eq!(profile["access_key_id"], pair.access_key_id.as_str());
        assert_eq!(
            profile["access_key_secret"],
            pair.access_key_secret.as_str(),
            "the documented caveat: the key is written back in plain text"
        );
        let epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let written = profile["sts_expiration"].as_u64().expect("sts_expiration");
        assert!(
            written >= epoch(started) + 3600 - 1 && written <= epoch(SystemTime::now()) + 3600,
            "sts_expiration {written}: our expiration (now + 1 h), parsed"
        );
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(format!("{mode:o}"), "600", "file mode kept");
    }

    /// Opt-in: `ALIYUN_MC_TEST_PYTHON=/path/to/python` with `alibabacloud-credentials` installed.
    /// The default chain reaches the External profile; two `get_credential()` calls run the
    /// command once (the expiration was parsed and cached).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn official_python_client_runs_credential_process() {
        let Ok(python) = std::env::var("ALIYUN_MC_TEST_PYTHON") else {
            eprintln!(
                "skipped: set ALIYUN_MC_TEST_PYTHON to a python with alibabacloud-credentials"
            );
            return;
        };
        let setup = Setup::new().await;
        let (home, config) = home_with_external_profile(&setup);
        let script = r#"
import json
from alibabacloud_credentials.client import Client
c = Client()
a = c.get_credential()
b = c.get_credential()
print(json.dumps({"id": a.access_key_id, "secret": a.access_key_secret,
                  "token": a.security_token, "provider": a.provider_name,
                  "second_id": b.access_key_id}))
"#;
        let mut cmd = consumer(&python, home.path());
        cmd.args(["-c", script]);
        let started = SystemTime::now();
        let (ok, stdout, stderr) = finish(cmd).await;
        assert!(ok, "{stderr}");
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let pair = setup.kms.current_access_key(SECRET);
        assert_eq!(doc["id"], pair.access_key_id.as_str());
        assert_eq!(doc["secret"], pair.access_key_secret.as_str());
        assert_eq!(doc["second_id"], pair.access_key_id.as_str());
        assert!(doc["token"].is_null(), "{doc}");
        let captured = golden_vector("ext_py_default_chain");
        assert_eq!(
            doc["provider"],
            captured["steps"][0]["returned"]["providerName"]
        );
        assert_eq!(setup.kms.request_count(SECRET), 1, "one run for two calls");
        assert_written_back(&setup, &config, started);
    }

    /// Opt-in: `ALIYUN_MC_TEST_NODE=/path/to/dir` holding `node_modules/@alicloud/credentials`
    /// (`npm install @alicloud/credentials` there); `node` from `PATH`, or `ALIYUN_MC_TEST_NODE_BIN`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn official_node_client_runs_credential_process() {
        let Some((node, project)) = node_setup() else {
            return;
        };
        let setup = Setup::new().await;
        let (home, config) = home_with_external_profile(&setup);
        let script = r#"
const Credential = require('@alicloud/credentials').default;
(async () => {
  const c = new Credential();
  const a = await c.getCredential();
  const b = await c.getCredential();
  console.log(JSON.stringify({id: a.accessKeyId, secret: a.accessKeySecret,
    token: a.securityToken === undefined ? null : a.securityToken,
    provider: a.providerName, second_id: b.accessKeyId}));
})().catch((e) => { console.error(String(e && e.message)); process.exit(1); });
"#;
        let mut cmd = consumer(&node, home.path());
        cmd.args(["-e", script]).current_dir(&project);
        let started = SystemTime::now();
        let (ok, stdout, stderr) = finish(cmd).await;
        assert!(ok, "{stderr}");
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        let pair = setup.kms.current_access_key(SECRET);
        assert_eq!(doc["id"], pair.access_key_id.as_str());
        assert_eq!(doc["secret"], pair.access_key_secret.as_str());
        assert_eq!(doc["second_id"], pair.access_key_id.as_str());
        assert!(doc["token"].is_null(), "{doc}");
        // Node's default chain names only the outer provider (Python: `default/cli_profile/external`).
        assert_eq!(doc["provider"], "default/cli_profile");
        assert_eq!(setup.kms.request_count(SECRET), 1, "one run for two calls");
        assert_written_back(&setup, &config, started);
    }

    /// Opt-in (as above): the Node client's credentials-URI provider requires a non-empty
    /// `SecurityToken`, so it refuses the endpoint's document — External is how Node gets the key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn official_node_client_refuses_the_credentials_endpoint() {
        use aliyun_managed_credentials::integrations::endpoint::{
            CredentialsEndpoint, EndpointConfig,
        };
        let Some((node, project)) = node_setup() else {
            return;
        };
        let setup = Setup::new().await;
        let endpoint = CredentialsEndpoint::start(
            setup.provider.clone(),
            vec![SECRET.to_owned()],
            EndpointConfig::default(),
        )
        .await
        .unwrap();
        let home = tempfile::tempdir().unwrap();
        let script = r#"
const Credential = require('@alicloud/credentials').default;
const { Config } = require('@alicloud/credentials');
(async () => {
  const c = new Credential(new Config({type: 'credentials_uri',
    credentialsURI: process.env.ALIBABA_CLOUD_CREDENTIALS_URI}));
  const a = await c.getCredential();
  console.log(JSON.stringify({id: a.accessKeyId}));
})().catch((e) => { console.error(String(e && e.message)); process.exit(1); });
"#;
        let mut cmd = consumer(&node, home.path());
        cmd.args(["-e", script])
            .current_dir(&project)
            .env("ALIBABA_CLOUD_CREDENTIALS_URI", endpoint.url());
        let (ok, stdout, stderr) = finish(cmd).await;
        assert!(!ok, "Node accepted the endpoint after all: {stdout}");
        assert!(
            stderr.contains("error retrieving credentials from credentialsURI result"),
            "{stderr}"
        );
        // The served document reached the client (the refusal is about its content), and the
        // client's error message quotes all of it, the secret included.
        assert!(stderr.contains(r#""SecurityToken":"""#), "{stderr}");
        let pair = setup.kms.current_access_key(SECRET);
        assert!(stderr.contains(&pair.access_key_secret), "{stderr}");
        endpoint.shutdown().await;
    }

    fn node_setup() -> Option<(String, std::path::PathBuf)> {
        let Ok(project) = std::env::var("ALIYUN_MC_TEST_NODE") else {
            eprintln!(
                "skipped: set ALIYUN_MC_TEST_NODE to a directory with node_modules/@alicloud/credentials"
            );
            return None;
        };
        let node = std::env::var("ALIYUN_MC_TEST_NODE_BIN").unwrap_or_else(|_| "node".into());
        Some((node, project.into()))
    }
}
