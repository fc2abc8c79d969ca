//! The names of every properties key and JSON field we read, and "did you mean" suggestions for
//! near misses.

/// `credentials_type`.
pub const CREDENTIALS_TYPE: &str = "credentials_type";
/// `credentials_access_key_id`.
pub const ACCESS_KEY_ID: &str = "credentials_access_key_id";
/// `credentials_access_secret` (secret).
pub const ACCESS_SECRET: &str = "credentials_access_secret";
/// `credentials_access_token_id` (`token` type).
pub const ACCESS_TOKEN_ID: &str = "credentials_access_token_id";
/// `credentials_access_token` (`token` type, secret).
pub const ACCESS_TOKEN: &str = "credentials_access_token";
/// `credentials_security_token` (our `sts_token` type, secret).
pub const SECURITY_TOKEN: &str = "credentials_security_token";
/// `credentials_role_arn`.
pub const ROLE_ARN: &str = "credentials_role_arn";
/// `credentials_role_session_name`.
pub const ROLE_SESSION_NAME: &str = "credentials_role_session_name";
/// `credentials_policy`.
pub const POLICY: &str = "credentials_policy";
/// `credentials_duration_seconds`.
pub const DURATION_SECONDS: &str = "credentials_duration_seconds";
/// `credentials_sts_endpoint`.
pub const STS_ENDPOINT: &str = "credentials_sts_endpoint";
/// `credentials_role_name`.
pub const ROLE_NAME: &str = "credentials_role_name";
/// `credentials_ecs_metadata_endpoint` (ours).
pub const ECS_METADATA_ENDPOINT: &str = "credentials_ecs_metadata_endpoint";
/// `client_key_private_key_path`.
pub const PRIVATE_KEY_PATH: &str = "client_key_private_key_path";
/// `client_key_password_from_file_path`.
pub const PASSWORD_FILE: &str = "client_key_password_from_file_path";
/// `client_key_password_from_env_variable`.
pub const PASSWORD_ENV: &str = "client_key_password_from_env_variable";
/// The environment variable read last for any ClientKey password.
pub const DEFAULT_PASSWORD_ENV: &str = "client_key_password";
/// `cache_client_region_id`.
pub const REGIONS: &str = "cache_client_region_id";
/// `cache_client_dkms_config_info`.
pub const DKMS: &str = "cache_client_dkms_config_info";
/// `secret_names`.
pub const SECRET_NAMES: &str = "secret_names";
/// MCP `rotation_interval` (ms).
pub const ROTATION_INTERVAL: &str = "rotation_interval";
/// MCP `delay_interval` (ms).
pub const DELAY_INTERVAL: &str = "delay_interval";
/// MCP `monitor_period_milliseconds` (ignored).
pub const MONITOR_PERIOD: &str = "monitor_period_milliseconds";
/// MCP `monitor_customer_milliseconds` (ignored).
pub const MONITOR_CUSTOMER: &str = "monitor_customer_milliseconds";

/// Our `version_stage`.
pub const VERSION_STAGE: &str = "version_stage";
/// Our `connect_timeout_ms`.
pub const CONNECT_TIMEOUT_MS: &str = "connect_timeout_ms";
/// Our `request_timeout_ms`.
pub const REQUEST_TIMEOUT_MS: &str = "request_timeout_ms";
/// Our `max_response_bytes`.
pub const MAX_RESPONSE_BYTES: &str = "max_response_bytes";
/// Our `max_attempts`.
pub const MAX_ATTEMPTS: &str = "max_attempts";
/// Our `retry_base_delay_ms`.
pub const RETRY_BASE_DELAY_MS: &str = "retry_base_delay_ms";
/// Our `retry_max_delay_ms`.
pub const RETRY_MAX_DELAY_MS: &str = "retry_max_delay_ms";
/// Our `refresh_max_interval_ms`.
pub const REFRESH_MAX_INTERVAL_MS: &str = "refresh_max_interval_ms";
/// Our `refresh_rotation_delay_ms`.
pub const REFRESH_ROTATION_DELAY_MS: &str = "refresh_rotation_delay_ms";
/// Our `refresh_expiry_buffer_ms`.
pub const REFRESH_EXPIRY_BUFFER_MS: &str = "refresh_expiry_buffer_ms";
/// Our `refresh_jitter_ms`.
pub const REFRESH_JITTER_MS: &str = "refresh_jitter_ms";
/// Our `max_staleness_ms`.
pub const MAX_STALENESS_MS: &str = "max_staleness_ms";
/// Our `refresh_retry_base_ms`.
pub const REFRESH_RETRY_BASE_MS: &str = "refresh_retry_base_ms";
/// Our `refresh_retry_max_ms`.
pub const REFRESH_RETRY_MAX_MS: &str = "refresh_retry_max_ms";
/// Our `rejected_key_error_codes`.
pub const REJECTED_KEY_ERROR_CODES: &str = "rejected_key_error_codes";
/// Our `forced_refresh_burst`.
pub const FORCED_REFRESH_BURST: &str = "forced_refresh_burst";
/// Our `forced_refresh_period_ms`.
pub const FORCED_REFRESH_PERIOD_MS: &str = "forced_refresh_period_ms";
/// Our `prefetch_fail_fast`.
pub const PREFETCH_FAIL_FAST: &str = "prefetch_fail_fast";
/// Our `hedge_delay_ms`.
pub const HEDGE_DELAY_MS: &str = "hedge_delay_ms";

/// Every top-level key we read.
pub const KNOWN_KEYS: &[&str] = &[
    CREDENTIALS_TYPE,
    ACCESS_KEY_ID,
    ACCESS_SECRET,
    ACCESS_TOKEN_ID,
    ACCESS_TOKEN,
    SECURITY_TOKEN,
    ROLE_ARN,
    ROLE_SESSION_NAME,
    POLICY,
    DURATION_SECONDS,
    STS_ENDPOINT,
    ROLE_NAME,
    ECS_METADATA_ENDPOINT,
    PRIVATE_KEY_PATH,
    PASSWORD_FILE,
    PASSWORD_ENV,
    REGIONS,
    DKMS,
    SECRET_NAMES,
    ROTATION_INTERVAL,
    DELAY_INTERVAL,
    MONITOR_PERIOD,
    MONITOR_CUSTOMER,
    VERSION_STAGE,
    CONNECT_TIMEOUT_MS,
    REQUEST_TIMEOUT_MS,
    MAX_RESPONSE_BYTES,
    MAX_ATTEMPTS,
    RETRY_BASE_DELAY_MS,
    RETRY_MAX_DELAY_MS,
    REFRESH_MAX_INTERVAL_MS,
    REFRESH_ROTATION_DELAY_MS,
    REFRESH_EXPIRY_BUFFER_MS,
    REFRESH_JITTER_MS,
    MAX_STALENESS_MS,
    REFRESH_RETRY_BASE_MS,
    REFRESH_RETRY_MAX_MS,
    REJECTED_KEY_ERROR_CODES,
    FORCED_REFRESH_BURST,
    FORCED_REFRESH_PERIOD_MS,
    PREFETCH_FAIL_FAST,
    HEDGE_DELAY_MS,
];

/// Keys of the official v2 clients that this crate does not implement (warned about).
pub const UNSUPPORTED_KEYS: &[&str] = &[
    "credentials_oidc_provider_arn",
    "credentials_oidc_token_file_path",
    "credentials_sts_region_id",
];

/// Fields of a `cache_client_region_id` entry.
pub const REGION_FIELDS: &[&str] = &["regionId", "endpoint", "vpc", "caFilePath", "connectTo"];

/// Fields of a `cache_client_dkms_config_info` entry.
pub const DKMS_FIELDS: &[&str] = &[
    "regionId",
    "endpoint",
    "clientKeyFile",
    "clientKeyContent",
    "passwordFromFilePath",
    "passwordFromEnvVariable",
    "passwordFromFilePathName",
    "ignoreSslCerts",
    "caFilePath",
    "connectTo",
];

/// The closest of `candidates` to `word` when it is a plausible typo (case difference or an
/// edit distance of at most 2, at most a third of the word).
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (levenshtein(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= 2 && *d * 3 <= word.chars().count().max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance; a dozen lines do not justify a dependency.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// " (did you mean `x`?)" or "".
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    suggest(word, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("credential_type", KNOWN_KEYS),
            Some(CREDENTIALS_TYPE)
        );
        assert_eq!(suggest("secret_name", KNOWN_KEYS), Some(SECRET_NAMES));
        assert_eq!(suggest("regionid", REGION_FIELDS), Some("regionId"));
        assert_eq!(suggest("completely_unrelated", KNOWN_KEYS), None);
        assert_eq!(suggest("xyz", REGION_FIELDS), None);
        assert_eq!(suggest("vpcc", REGION_FIELDS), Some("vpc"));
    }
}
