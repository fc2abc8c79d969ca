//! The names of every properties key and JSON field we read, and "did you mean" suggestions for
//! near misses. [`ConfigKey`] is the one table of top-level keys; the crate-internal constants
//! below are generated from it so the file loader can name a key without a second spelling.

use std::fmt;
use std::str::FromStr;

macro_rules! config_keys {
    ($( $(#[$doc:meta])* $variant:ident => $konst:ident = $text:literal, )*) => {
        /// Every top-level key of `managed_credentials_providers.properties` this crate reads:
        /// the official clients' keys and this crate's own. Parse one with [`FromStr`] (exact,
        /// case-sensitive, as the official clients match), print it with [`as_str`](Self::as_str);
        /// [`ConfigError`](crate::config::ConfigError) locations and the manual use the same names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ConfigKey {
            $( $(#[$doc])* $variant, )*
        }

        impl ConfigKey {
            /// Every key, in the order the manual lists them.
            pub const ALL: &'static [ConfigKey] = &[$(ConfigKey::$variant,)*];

            /// The key as written in the properties file.
            pub const fn as_str(self) -> &'static str {
                match self { $(ConfigKey::$variant => $text,)* }
            }
        }

        $( pub(crate) const $konst: &str = ConfigKey::$variant.as_str(); )*

        /// Every top-level key we read.
        pub(crate) const KNOWN_KEYS: &[&str] = &[$($text,)*];
    };
}

config_keys! {
    /// `credentials_type`.
    CredentialsType => CREDENTIALS_TYPE = "credentials_type",
    /// `credentials_access_key_id`.
    CredentialsAccessKeyId => ACCESS_KEY_ID = "credentials_access_key_id",
    /// `credentials_access_secret` (secret).
    CredentialsAccessSecret => ACCESS_SECRET = "credentials_access_secret",
    /// `credentials_access_token_id` (`token` type).
    CredentialsAccessTokenId => ACCESS_TOKEN_ID = "credentials_access_token_id",
    /// `credentials_access_token` (`token` type, secret).
    CredentialsAccessToken => ACCESS_TOKEN = "credentials_access_token",
    /// `credentials_security_token` (our `sts_token` type, secret).
    CredentialsSecurityToken => SECURITY_TOKEN = "credentials_security_token",
    /// `credentials_role_arn`.
    CredentialsRoleArn => ROLE_ARN = "credentials_role_arn",
    /// `credentials_role_session_name`.
    CredentialsRoleSessionName => ROLE_SESSION_NAME = "credentials_role_session_name",
    /// `credentials_policy`.
    CredentialsPolicy => POLICY = "credentials_policy",
    /// `credentials_duration_seconds`.
    CredentialsDurationSeconds => DURATION_SECONDS = "credentials_duration_seconds",
    /// `credentials_sts_endpoint`.
    CredentialsStsEndpoint => STS_ENDPOINT = "credentials_sts_endpoint",
    /// `credentials_oidc_provider_arn` (`oidc_role_arn` type).
    CredentialsOidcProviderArn => OIDC_PROVIDER_ARN = "credentials_oidc_provider_arn",
    /// `credentials_oidc_token_file_path` (`oidc_role_arn` type).
    CredentialsOidcTokenFilePath => OIDC_TOKEN_FILE_PATH = "credentials_oidc_token_file_path",
    /// `credentials_sts_region_id` (`oidc_role_arn` type).
    CredentialsStsRegionId => STS_REGION_ID = "credentials_sts_region_id",
    /// Our `credentials_sts_vpc` (`oidc_role_arn` type; the official clients only read the
    /// environment variable `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`).
    CredentialsStsVpc => STS_VPC = "credentials_sts_vpc",
    /// `credentials_role_name`.
    CredentialsRoleName => ROLE_NAME = "credentials_role_name",
    /// `credentials_ecs_metadata_endpoint` (ours).
    CredentialsEcsMetadataEndpoint => ECS_METADATA_ENDPOINT = "credentials_ecs_metadata_endpoint",
    /// `client_key_private_key_path`.
    ClientKeyPrivateKeyPath => PRIVATE_KEY_PATH = "client_key_private_key_path",
    /// `client_key_password_from_file_path`.
    ClientKeyPasswordFromFilePath => PASSWORD_FILE = "client_key_password_from_file_path",
    /// `client_key_password_from_env_variable`.
    ClientKeyPasswordFromEnvVariable => PASSWORD_ENV = "client_key_password_from_env_variable",
    /// `cache_client_region_id`.
    CacheClientRegionId => REGIONS = "cache_client_region_id",
    /// `cache_client_dkms_config_info`.
    CacheClientDkmsConfigInfo => DKMS = "cache_client_dkms_config_info",
    /// `secret_names`.
    SecretNames => SECRET_NAMES = "secret_names",
    /// MCP `rotation_interval` (ms).
    RotationInterval => ROTATION_INTERVAL = "rotation_interval",
    /// MCP `delay_interval` (ms).
    DelayInterval => DELAY_INTERVAL = "delay_interval",
    /// MCP `monitor_period_milliseconds` (ignored).
    MonitorPeriodMilliseconds => MONITOR_PERIOD = "monitor_period_milliseconds",
    /// MCP `monitor_customer_milliseconds` (ignored).
    MonitorCustomerMilliseconds => MONITOR_CUSTOMER = "monitor_customer_milliseconds",
    /// Our `version_stage`.
    VersionStage => VERSION_STAGE = "version_stage",
    /// Our `connect_timeout_ms`.
    ConnectTimeoutMs => CONNECT_TIMEOUT_MS = "connect_timeout_ms",
    /// Our `request_timeout_ms`.
    RequestTimeoutMs => REQUEST_TIMEOUT_MS = "request_timeout_ms",
    /// Our `max_response_bytes`.
    MaxResponseBytes => MAX_RESPONSE_BYTES = "max_response_bytes",
    /// Our `max_attempts`.
    MaxAttempts => MAX_ATTEMPTS = "max_attempts",
    /// Our `retry_base_delay_ms`.
    RetryBaseDelayMs => RETRY_BASE_DELAY_MS = "retry_base_delay_ms",
    /// Our `retry_max_delay_ms`.
    RetryMaxDelayMs => RETRY_MAX_DELAY_MS = "retry_max_delay_ms",
    /// Our `refresh_max_interval_ms`.
    RefreshMaxIntervalMs => REFRESH_MAX_INTERVAL_MS = "refresh_max_interval_ms",
    /// Our `refresh_rotation_delay_ms`.
    RefreshRotationDelayMs => REFRESH_ROTATION_DELAY_MS = "refresh_rotation_delay_ms",
    /// Our `refresh_expiry_buffer_ms`.
    RefreshExpiryBufferMs => REFRESH_EXPIRY_BUFFER_MS = "refresh_expiry_buffer_ms",
    /// Our `refresh_jitter_ms`.
    RefreshJitterMs => REFRESH_JITTER_MS = "refresh_jitter_ms",
    /// Our `max_staleness_ms`.
    MaxStalenessMs => MAX_STALENESS_MS = "max_staleness_ms",
    /// Our `refresh_retry_base_ms`.
    RefreshRetryBaseMs => REFRESH_RETRY_BASE_MS = "refresh_retry_base_ms",
    /// Our `refresh_retry_max_ms`.
    RefreshRetryMaxMs => REFRESH_RETRY_MAX_MS = "refresh_retry_max_ms",
    /// Our `rejected_key_error_codes`.
    RejectedKeyErrorCodes => REJECTED_KEY_ERROR_CODES = "rejected_key_error_codes",
    /// Our `forced_refresh_burst`.
    ForcedRefreshBurst => FORCED_REFRESH_BURST = "forced_refresh_burst",
    /// Our `forced_refresh_period_ms`.
    ForcedRefreshPeriodMs => FORCED_REFRESH_PERIOD_MS = "forced_refresh_period_ms",
    /// Our `prefetch_fail_fast`.
    PrefetchFailFast => PREFETCH_FAIL_FAST = "prefetch_fail_fast",
    /// Our `hedge_delay_ms`.
    HedgeDelayMs => HEDGE_DELAY_MS = "hedge_delay_ms",
    /// Our `restart_cache_dir`: where the opt-in encrypted restart cache keeps the last good
    /// value of each secret (off when absent).
    RestartCacheDir => RESTART_CACHE_DIR = "restart_cache_dir",
    /// Our `secret_files_dir`: read secrets from files a cluster operator syncs, not from KMS.
    SecretFilesDir => SECRET_FILES_DIR = "secret_files_dir",
    /// Our `secret_files_poll_interval_ms`.
    SecretFilesPollIntervalMs => SECRET_FILES_POLL_INTERVAL_MS = "secret_files_poll_interval_ms",
}

/// The environment variable read last for any ClientKey password.
pub(crate) const DEFAULT_PASSWORD_ENV: &str = "client_key_password";

/// A string that is not one of the [`ConfigKey`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownConfigKey {
    key: String,
}

impl fmt::Display for UnknownConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a configuration key{}",
            self.key,
            did_you_mean(&self.key, KNOWN_KEYS)
        )
    }
}

impl std::error::Error for UnknownConfigKey {}

impl FromStr for ConfigKey {
    type Err = UnknownConfigKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConfigKey::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownConfigKey { key: s.to_owned() })
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fields of a `cache_client_region_id` entry.
pub(crate) const REGION_FIELDS: &[&str] = &[
    "regionId",
    "endpoint",
    "vpc",
    "caFilePath",
    "connectTo",
    "signatureVersion",
];

/// Fields of a `cache_client_dkms_config_info` entry.
pub(crate) const DKMS_FIELDS: &[&str] = &[
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
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
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
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
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

    #[test]
    fn every_key_round_trips_through_from_str() {
        assert_eq!(ConfigKey::ALL.len(), KNOWN_KEYS.len());
        for key in ConfigKey::ALL {
            assert_eq!(key.as_str().parse::<ConfigKey>(), Ok(*key));
            assert_eq!(key.to_string(), key.as_str());
        }
        let err = "credential_type".parse::<ConfigKey>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`credential_type` is not a configuration key (did you mean `credentials_type`?)"
        );
        assert!("CREDENTIALS_TYPE".parse::<ConfigKey>().is_err());
    }
}
