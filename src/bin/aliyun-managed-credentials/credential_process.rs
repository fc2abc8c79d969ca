//! `credential-process`: one managed AccessKey as the JSON an `External` profile's
//! `process_command` prints (`~/.aliyun/config.json`, read by the official credentials libraries
//! for Python, Node.js and Go, and by the `aliyun` CLI).
//!
//! Contract of those consumers (captured from Python `alibabacloud-credentials` 1.0.12 and Node
//! `@alicloud/credentials` 2.4.7; Go and the CLI read from source):
//! * the command is split POSIX-style and run without a shell, environment and working directory
//!   inherited, killed after 60 s;
//! * stdout must hold one JSON document; stderr is only shown when the exit status is non-zero;
//! * `access_key_id` and `access_key_secret` must be non-empty; `mode` is needed by the CLI, which
//!   loads the output *as a profile* (without it the profile stays `External` and recurses);
//! * `expiration` must be exactly `YYYY-MM-DDThh:mm:ssZ` (Python raises on `.000Z` or `+08:00`);
//!   the result is cached until `expiration − 180 s`, and without `expiration` the command runs on
//!   every credential request.
//!
//! One fetch, no background work: build the provider without prefetch, get the key once, print,
//! close. The key is only ever written to stdout, from a buffer that is zeroized afterwards.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::config::Config;
use aliyun_managed_credentials::{ExpiryPolicy, ManagedCredentialsProvider};
use serde::Serialize;
use zeroize::Zeroizing;

/// The consumers re-run the command once `now >= expiration − 180 s` (Python
/// `_get_stale_time`, Node `EXPIRATION_SLOT_SECONDS`, Go: same rule by its source).
pub(crate) const CONSUMER_REFRESH_MARGIN: Duration = Duration::from_secs(180);

/// Shortest `expiration` handed out by default: the consumers then keep the key for at least
/// 7 min (10 min − 180 s) instead of running the command on every call.
pub(crate) const DEFAULT_MIN_VALIDITY: Duration = Duration::from_secs(10 * 60);

/// Longest `expiration` by default: bounds how long a consumer keeps a key after an early
/// (forced or manual) rotation, as for the credentials endpoint.
pub(crate) const DEFAULT_MAX_VALIDITY: Duration = Duration::from_secs(3600);

/// Smallest `--min-validity` accepted: the consumers' 180 s margin plus one minute of use.
pub(crate) const MIN_MIN_VALIDITY: Duration = Duration::from_secs(240);

/// Default `--timeout`: the whole run (configuration, KMS fetch with its retries) must end
/// before the consumers kill the command at 60 s, so that they show our error, not theirs.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(50);

/// What the command line asked for.
pub(crate) struct Request<'a> {
    pub(crate) config: Option<&'a Path>,
    pub(crate) secrets: &'a [String],
    pub(crate) min_validity: Option<u64>,
    pub(crate) max_validity: Option<u64>,
    pub(crate) timeout: Option<u64>,
}

/// The `External` document, fields in the order of the specification's example.
#[derive(Serialize)]
struct ExternalCredential<'a> {
    mode: &'static str,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    expiration: &'a str,
}

/// The synthetic-expiry policy: the provider's next refresh, never after the secret's
/// `NextRotationDate` or the key's `ExpireTimestamp`, between `min` and `max` from now.
pub(crate) fn expiry_policy(min: Duration, max: Duration) -> ExpiryPolicy {
    let mut policy = ExpiryPolicy::default();
    policy.min_validity = min;
    policy.max_validity = max;
    policy.before_rotation = true;
    policy
}

/// `YYYY-MM-DDThh:mm:ssZ` (UTC, no fraction): the only form every consumer accepts.
fn external_date(t: SystemTime) -> Result<String, String> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(&format)
        .map_err(|e| format!("cannot format the expiration date: {e}"))
}

/// Usage errors, found before anything runs (the binary exits 2 for them).
pub(crate) fn check_usage(req: &Request<'_>) -> Result<(), String> {
    if req.secrets.len() > 1 {
        return Err("credential-process prints one key: pass --secret once".into());
    }
    if req
        .min_validity
        .is_some_and(|s| Duration::from_secs(s) < MIN_MIN_VALIDITY)
    {
        return Err(format!(
            "--min-validity must be at least {} s: the consumers re-run the command {} s before \
             the expiration, so a shorter one makes them run it on every call",
            MIN_MIN_VALIDITY.as_secs(),
            CONSUMER_REFRESH_MARGIN.as_secs()
        ));
    }
    if req.timeout == Some(0) {
        return Err("--timeout must be at least 1 s".into());
    }
    Ok(())
}

/// Runs the subcommand (after [`check_usage`]): prints the document to stdout and returns `Ok`,
/// or returns the error to print on stderr (never containing secret material: only the crate's
/// error texts, which are leak-scanned, and names from the command line or configuration).
pub(crate) async fn run(req: Request<'_>) -> Result<(), String> {
    let min = req
        .min_validity
        .map_or(DEFAULT_MIN_VALIDITY, Duration::from_secs);
    let max = req
        .max_validity
        .map_or(DEFAULT_MAX_VALIDITY, Duration::from_secs);
    let timeout = req
        .timeout
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
        .max(Duration::from_secs(1));
    let work = fetch_and_print(&req, expiry_policy(min, max));
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no managed AccessKey within {} s (--timeout): KMS did not answer in time",
            timeout.as_secs()
        )),
    }
}

async fn fetch_and_print(req: &Request<'_>, policy: ExpiryPolicy) -> Result<(), String> {
    let mut config = match req.config {
        Some(path) => Config::from_properties_file(path),
        None => Config::from_default_location(),
    }
    .map_err(|e| e.to_string())?;
    let name = match (req.secrets, config.secret_names.as_slice()) {
        ([one], _) => one.clone(),
        ([], [one]) => one.clone(),
        ([], []) => {
            return Err(
                "no secret named: pass --secret NAME (or set exactly one name in secret_names)"
                    .into(),
            )
        }
        (_, _) => {
            return Err(
                "secret_names lists several secrets: pass --secret NAME to choose one".into(),
            )
        }
    };
    // No prefetch: the one fetch below is the only KMS request, and its error is the answer.
    config.secret_names.clear();
    let provider = ManagedCredentialsProvider::from_config(config)
        .await
        .map_err(|e| e.to_string())?;
    let result = print_key(&provider, &name, policy).await;
    provider.close().await;
    result
}

async fn print_key(
    provider: &ManagedCredentialsProvider,
    name: &str,
    policy: ExpiryPolicy,
) -> Result<(), String> {
    let key = provider
        .get_access_key(name)
        .await
        .map_err(|e| format!("could not get the managed AccessKey of '{name}': {e}"))?;
    let handle = provider
        .access_key_provider(name.to_owned())
        .with_expiry_policy(policy);
    let until = handle.valid_until(&key);
    let left = until.duration_since(SystemTime::now()).unwrap_or_default();
    let expiration = external_date(until)?;
    if left <= CONSUMER_REFRESH_MARGIN {
        // Printed whatever the log level: the consumers show stderr only on failure, the
        // `aliyun` CLI always.
        eprintln!(
            "aliyun-managed-credentials: warning: the key of '{name}' expires at {expiration} \
             (ExpireTimestamp), less than 180 s away: consumers will run this command on every \
             call until KMS hands out a new key"
        );
    }
    let doc = ExternalCredential {
        mode: "AK",
        access_key_id: key.access_key_id(),
        access_key_secret: key.access_key_secret(),
        expiration: &expiration,
    };
    // Reserved up front so serialization never reallocates (a reallocation would free a copy of
    // the secret without wiping it); the buffer is zeroized on drop.
    // (6 bytes per input byte covers the worst JSON escaping, `\u00XX`.)
    let mut buf = Zeroizing::new(Vec::with_capacity(
        256 + 6 * (doc.access_key_id.len() + doc.access_key_secret.len()),
    ));
    serde_json::to_writer(&mut *buf, &doc)
        .map_err(|e| format!("cannot encode the credential: {e}"))?;
    buf.push(b'\n');
    // Stdout is line-buffered: a write that ends with '\n' is handed to the file descriptor
    // directly (std buffers only what a short write leaves over, and a write of under PIPE_BUF
    // bytes to a pipe is never short), so no copy stays in std's buffer.
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_seconds_with_z() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_706_778_000_999);
        assert_eq!(external_date(t).unwrap(), "2024-02-01T09:00:00Z");
    }

    #[test]
    fn the_document_has_the_specified_fields_in_order() {
        let doc = ExternalCredential {
            mode: "AK",
            access_key_id: "LTAI",
            access_key_secret: "s\"e",
            expiration: "2024-02-01T09:00:00Z",
        };
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"mode":"AK","access_key_id":"LTAI","access_key_secret":"s\"e","expiration":"2024-02-01T09:00:00Z"}"#
        );
    }
}
