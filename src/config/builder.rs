//! [`ConfigBuilder`]: the typed way to write a configuration in code, or to start from a file
//! ([`ConfigBuilder::from_config`]) and override parts of it. Builder calls override what the
//! file said; `add_*` calls append after the file's entries.
//! [`ConfigBuilder::build`] applies the same validation as the file loader.

use std::time::Duration;

use super::endpoint::{gateway_endpoint, valid_region_id};
use super::error::{ConfigError, Location};
use super::keys;
use super::types::{
    ClientKeySource, Config, Endpoint, GatewayEndpointConfig, HttpConfig, InstanceEndpointConfig,
    KmsIdentity, RefreshConfig, SecretString,
};

/// The default `secret_files_poll_interval_ms`: a change the kubelet publishes is served within
/// about this long.
pub(crate) const DEFAULT_SECRET_FILES_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The default `version_stage`.
pub(crate) const DEFAULT_VERSION_STAGE: &str = "ACSCurrent";

const BUILDER: &str = "ConfigBuilder";

impl Config {
    /// A builder with the documented defaults and no endpoints.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// The documented defaults with no endpoint and no identity (what an empty builder holds).
    pub(crate) fn defaults() -> Config {
        Config {
            source: None,
            identity: None,
            instances: Vec::new(),
            gateways: Vec::new(),
            secret_names: Vec::new(),
            version_stage: DEFAULT_VERSION_STAGE.to_owned(),
            http: HttpConfig::default(),
            refresh: RefreshConfig::default(),
            secret_files_dir: None,
            secret_files_poll_interval: DEFAULT_SECRET_FILES_POLL_INTERVAL,
        }
    }

    /// The file this came from, or `ConfigBuilder`, for messages.
    pub(crate) fn origin_name(&self) -> String {
        self.source
            .as_ref()
            .map_or_else(|| BUILDER.to_owned(), |p| p.display().to_string())
    }
}

impl InstanceEndpointConfig {
    /// An instance endpoint with no CA file, TLS verification on and no `connectTo`.
    /// Set `ca_file` too (required unless `ignore_ssl_certs`).
    pub fn new(
        region_id: impl Into<String>,
        endpoint: Endpoint,
        client_key: ClientKeySource,
    ) -> Self {
        Self {
            region_id: region_id.into(),
            endpoint,
            client_key,
            password: Vec::new(),
            ca_file: None,
            ignore_ssl_certs: false,
            connect_to: None,
        }
    }
}

impl GatewayEndpointConfig {
    /// The public shared gateway of a region: `kms.{region_id}.aliyuncs.com`.
    pub fn for_region(region_id: impl Into<String>) -> Self {
        let region_id = region_id.into();
        Self {
            endpoint: gateway_endpoint(&region_id, false),
            region_id,
            vpc: false,
            ca_file: None,
            connect_to: None,
        }
    }

    /// The VPC shared gateway of a region: `kms-vpc.{region_id}.aliyuncs.com`.
    pub fn for_vpc_region(region_id: impl Into<String>) -> Self {
        let region_id = region_id.into();
        Self {
            endpoint: gateway_endpoint(&region_id, true),
            region_id,
            vpc: true,
            ca_file: None,
            connect_to: None,
        }
    }
}

/// Builds a validated [`Config`] in code: the same configuration the properties file gives,
/// checked by the same validator. Every setter names the properties key it corresponds to.
/// HTTP and refresh tuning are one struct each ([`HttpConfig`], [`RefreshConfig`]) whose
/// `Default` holds the documented defaults: change the fields you need and pass the struct.
///
/// ```
/// use std::time::Duration;
/// use aliyun_managed_credentials::config::{ConfigBuilder, RefreshConfig};
///
/// let mut refresh = RefreshConfig::default();
/// refresh.jitter = Duration::from_secs(120);
/// let config = ConfigBuilder::new()
///     .with_access_key("LTAI5tExampleId", "example-secret")
///     .add_gateway_region("cn-hangzhou")
///     .with_secret_names(["acs/ram/user/app"])
///     .with_refresh(refresh)
///     .build()
///     .expect("valid configuration");
/// assert_eq!(config.gateways[0].endpoint.host, "kms.cn-hangzhou.aliyuncs.com");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// A builder with the defaults and nothing configured.
    pub fn new() -> Self {
        Self {
            config: Config::defaults(),
        }
    }

    /// Starts from an existing configuration (typically loaded from a file); later calls
    /// override its values.
    pub fn from_config(config: Config) -> Self {
        Self { config }
    }

    // ---- KMS identity (credentials_type) ----

    /// Sets the credential used for shared-gateway endpoints (`credentials_type` and its keys).
    pub fn with_identity(mut self, credential: KmsIdentity) -> Self {
        self.config.identity = Some(credential);
        self
    }

    /// `credentials_type=ak`.
    pub fn with_access_key(
        self,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<SecretString>,
    ) -> Self {
        self.with_identity(KmsIdentity::AccessKey {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
        })
    }

    // ---- endpoints ----

    /// Appends a KMS instance endpoint (`cache_client_dkms_config_info` entry).
    pub fn add_instance_endpoint(mut self, instance: InstanceEndpointConfig) -> Self {
        self.config.instances.push(instance);
        self
    }

    /// Appends a shared-gateway endpoint (`cache_client_region_id` entry).
    pub fn add_gateway(mut self, gateway: GatewayEndpointConfig) -> Self {
        self.config.gateways.push(gateway);
        self
    }

    /// Appends the public shared gateway of a region (`{"regionId": "..."}`).
    pub fn add_gateway_region(self, region_id: impl Into<String>) -> Self {
        self.add_gateway(GatewayEndpointConfig::for_region(region_id))
    }

    // ---- secrets ----

    /// Replaces the secrets to prefetch (`secret_names`).
    pub fn with_secret_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.secret_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Version stage to fetch (`version_stage`, default `ACSCurrent`).
    pub fn with_version_stage(mut self, stage: impl Into<String>) -> Self {
        self.config.version_stage = stage.into();
        self
    }

    /// Reads secrets from files below `dir` instead of KMS (`secret_files_dir`), read again
    /// every `poll_interval` (`secret_files_poll_interval_ms`): for pods where
    /// ack-secret-manager, the External Secrets Operator or the Secrets Store CSI driver syncs
    /// the secret into a mounted volume, so the pod puts no load on KMS. Exclusive with KMS
    /// endpoints; see the manual's "Secrets synced by the cluster" for the file layout.
    pub fn with_secret_files(
        mut self,
        dir: impl Into<std::path::PathBuf>,
        poll_interval: Duration,
    ) -> Self {
        self.config.secret_files_dir = Some(dir.into());
        self.config.secret_files_poll_interval = poll_interval;
        self
    }

    // ---- HTTP ----

    /// Replaces all HTTP settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.config.http = http;
        self
    }

    // ---- refresh ----

    /// Replaces all refresh settings.
    pub fn with_refresh(mut self, refresh: RefreshConfig) -> Self {
        self.config.refresh = refresh;
        self
    }

    /// Validates and returns the configuration (same checks as the file loader).
    pub fn build(self) -> Result<Config, ConfigError> {
        let config = normalize(self.config);
        validate(&config, &|key, entry, field| {
            Location::origin(BUILDER)
                .with_key(key, None)
                .with_entry_opt(entry)
                .with_field_opt(field)
        })?;
        Ok(config)
    }
}

/// Canonical form shared by the file loader and the builder: trimmed, de-duplicated names.
pub(crate) fn normalize(mut config: Config) -> Config {
    let mut seen = std::collections::HashSet::new();
    config.secret_names = config
        .secret_names
        .into_iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| seen.insert(n.clone()))
        .collect();
    config
}

/// Maps (properties key, 1-based JSON entry, JSON field) to a [`Location`].
pub(crate) type Locate<'a> = dyn Fn(&str, Option<usize>, Option<&str>) -> Location + 'a;

/// The checks shared by the file loader and the builder.
pub(crate) fn validate(config: &Config, at: &Locate<'_>) -> Result<(), ConfigError> {
    let origin = at("", None, None).origin_name().to_owned();
    if !config.gateways.is_empty() && config.identity.is_none() {
        return Err(ConfigError::MissingIdentity { origin });
    }
    if let Some(credential) = &config.identity {
        validate_credential(credential, at)?;
    }
    for (i, instance) in config.instances.iter().enumerate() {
        let entry = Some(i + 1);
        let missing = |field: &str, hint: &str| ConfigError::MissingField {
            at: at(keys::DKMS, entry, Some(field)),
            hint: hint.to_owned(),
        };
        if instance.region_id.trim().is_empty() {
            return Err(missing(
                "regionId",
                "set \"regionId\" to the instance's region, e.g. \"cn-hangzhou\"",
            ));
        }
        if instance.endpoint.host.is_empty() {
            return Err(missing("endpoint", "set \"endpoint\" to the instance endpoint, e.g. \"kst-hzz6xxxxxxxx.cryptoservice.kms.aliyuncs.com\""));
        }
        if !instance.ignore_ssl_certs && instance.ca_file.is_none() {
            return Err(missing("caFilePath", "set \"caFilePath\" to the instance CA bundle downloaded from the KMS console (or, not recommended, \"ignoreSslCerts\": true)"));
        }
        match &instance.client_key {
            ClientKeySource::File(p) if p.as_os_str().is_empty() => {
                return Err(missing("clientKeyFile", "set \"clientKeyFile\" to the ClientKey JSON file of the application access point"));
            }
            ClientKeySource::Inline(s) if s.expose().trim().is_empty() => {
                return Err(missing(
                    "clientKeyContent",
                    "set \"clientKeyContent\" to the ClientKey JSON",
                ));
            }
            _ => {}
        }
    }
    for (i, gateway) in config.gateways.iter().enumerate() {
        if !valid_region_id(&gateway.region_id) {
            return Err(ConfigError::InvalidValue {
                at: at(keys::REGIONS, Some(i + 1), Some("regionId")),
                problem: format!(
                    "region id `{}` is empty or has characters other than letters, digits, `-` and `_`; write e.g. \"cn-hangzhou\"",
                    gateway.region_id
                ),
            });
        }
    }
    if config.version_stage.trim().is_empty() {
        return Err(ConfigError::InvalidValue {
            at: at(keys::VERSION_STAGE, None, None),
            problem: "the version stage is empty; remove the key for the default `ACSCurrent`"
                .into(),
        });
    }
    if config.secret_names.iter().any(|n| n.is_empty()) {
        return Err(ConfigError::InvalidValue {
            at: at(keys::SECRET_NAMES, None, None),
            problem: "a secret name is empty".into(),
        });
    }
    if let Some(dir) = &config.secret_files_dir {
        if dir.as_os_str().is_empty() {
            return Err(ConfigError::InvalidValue {
                at: at(keys::SECRET_FILES_DIR, None, None),
                problem: "the directory is empty; write the directory the synced secrets are mounted at, e.g. /var/run/secrets/aliyun".into(),
            });
        }
        if !config.instances.is_empty() || !config.gateways.is_empty() {
            return Err(ConfigError::InvalidValue {
                at: at(keys::SECRET_FILES_DIR, None, None),
                problem: format!(
                    "{} reads secrets from files and cannot be combined with KMS endpoints ({} / {}); remove one or the other",
                    keys::SECRET_FILES_DIR,
                    keys::DKMS,
                    keys::REGIONS
                ),
            });
        }
    }
    positive(
        config.secret_files_poll_interval,
        keys::SECRET_FILES_POLL_INTERVAL_MS,
        at,
    )?;
    let http = &config.http;
    let refresh = &config.refresh;
    positive(http.connect_timeout, keys::CONNECT_TIMEOUT_MS, at)?;
    positive(http.request_timeout, keys::REQUEST_TIMEOUT_MS, at)?;
    positive(refresh.max_interval, keys::REFRESH_MAX_INTERVAL_MS, at)?;
    positive(
        refresh.forced_refresh_period,
        keys::FORCED_REFRESH_PERIOD_MS,
        at,
    )?;
    at_least_one(http.max_response_bytes as u64, keys::MAX_RESPONSE_BYTES, at)?;
    at_least_one(u64::from(http.retry.max_attempts), keys::MAX_ATTEMPTS, at)?;
    at_least_one(
        u64::from(refresh.forced_refresh_burst),
        keys::FORCED_REFRESH_BURST,
        at,
    )?;
    ordered(
        http.retry.base_delay,
        http.retry.max_delay,
        keys::RETRY_BASE_DELAY_MS,
        keys::RETRY_MAX_DELAY_MS,
        at,
    )?;
    ordered(
        refresh.retry_base,
        refresh.retry_max,
        keys::REFRESH_RETRY_BASE_MS,
        keys::REFRESH_RETRY_MAX_MS,
        at,
    )?;
    for (duration, key) in [
        (http.connect_timeout, keys::CONNECT_TIMEOUT_MS),
        (http.request_timeout, keys::REQUEST_TIMEOUT_MS),
        (http.retry.base_delay, keys::RETRY_BASE_DELAY_MS),
        (http.retry.max_delay, keys::RETRY_MAX_DELAY_MS),
        (refresh.max_interval, keys::REFRESH_MAX_INTERVAL_MS),
        (refresh.rotation_delay, keys::REFRESH_ROTATION_DELAY_MS),
        (refresh.expiry_buffer, keys::REFRESH_EXPIRY_BUFFER_MS),
        (refresh.jitter, keys::REFRESH_JITTER_MS),
        (
            refresh.max_staleness.unwrap_or_default(),
            keys::MAX_STALENESS_MS,
        ),
        (refresh.retry_base, keys::REFRESH_RETRY_BASE_MS),
        (refresh.retry_max, keys::REFRESH_RETRY_MAX_MS),
        (
            refresh.forced_refresh_period,
            keys::FORCED_REFRESH_PERIOD_MS,
        ),
        (refresh.hedge_delay, keys::HEDGE_DELAY_MS),
        (
            config.secret_files_poll_interval,
            keys::SECRET_FILES_POLL_INTERVAL_MS,
        ),
    ] {
        if duration > MAX_DURATION {
            return Err(ConfigError::InvalidValue {
                at: at(key, None, None),
                problem: format!(
                    "{} ms is longer than the 10 years any timer here can use; write a duration of at most {} ms",
                    duration.as_millis(),
                    MAX_DURATION.as_millis()
                ),
            });
        }
    }
    Ok(())
}

/// The longest configurable duration: 10 years. Longer values overflow clock arithmetic
/// (`Instant + Duration` panics) and never mean anything a user wants.
const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn validate_credential(credential: &KmsIdentity, at: &Locate<'_>) -> Result<(), ConfigError> {
    let missing = |key: &str, ty: &str| ConfigError::MissingKey {
        at: at(keys::CREDENTIALS_TYPE, None, None),
        key: key.to_owned(),
        credentials_type: ty.to_owned(),
    };
    match credential {
        KmsIdentity::ClientKey { key, .. } => match key {
            ClientKeySource::File(p) if p.as_os_str().is_empty() => {
                Err(missing(keys::PRIVATE_KEY_PATH, "client_key"))
            }
            ClientKeySource::Inline(s) if s.expose().trim().is_empty() => {
                Err(missing(keys::PRIVATE_KEY_PATH, "client_key"))
            }
            _ => Ok(()),
        },
        KmsIdentity::AccessKey {
            access_key_id,
            access_key_secret,
        } => {
            if access_key_id.trim().is_empty() {
                Err(missing(keys::ACCESS_KEY_ID, "ak"))
            } else if access_key_secret.expose().trim().is_empty() {
                Err(missing(keys::ACCESS_SECRET, "ak"))
            } else {
                Ok(())
            }
        }
        KmsIdentity::StsToken {
            access_key_id,
            access_key_secret,
            security_token,
        } => {
            if access_key_id.trim().is_empty() {
                Err(missing(keys::ACCESS_KEY_ID, "sts_token"))
            } else if access_key_secret.expose().trim().is_empty() {
                Err(missing(keys::ACCESS_SECRET, "sts_token"))
            } else if security_token.expose().trim().is_empty() {
                Err(missing(keys::SECURITY_TOKEN, "sts_token"))
            } else {
                Ok(())
            }
        }
        KmsIdentity::RamRoleArn {
            access_key_id,
            access_key_secret,
            role_arn,
            role_session_name,
            ..
        } => {
            if access_key_id.trim().is_empty() {
                Err(missing(keys::ACCESS_KEY_ID, "ram_role"))
            } else if access_key_secret.expose().trim().is_empty() {
                Err(missing(keys::ACCESS_SECRET, "ram_role"))
            } else if role_arn.trim().is_empty() {
                Err(missing(keys::ROLE_ARN, "ram_role"))
            } else if role_session_name.trim().is_empty() {
                Err(missing(keys::ROLE_SESSION_NAME, "ram_role"))
            } else {
                Ok(())
            }
        }
        KmsIdentity::EcsRamRole { .. } => Ok(()),
    }
}

fn positive(d: Duration, key: &str, at: &Locate<'_>) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::InvalidNumber {
            at: at(key, None, None),
            value: "0".into(),
            expected: "a number of milliseconds greater than 0".into(),
        });
    }
    Ok(())
}

fn at_least_one(n: u64, key: &str, at: &Locate<'_>) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError::InvalidNumber {
            at: at(key, None, None),
            value: "0".into(),
            expected: "a whole number of at least 1".into(),
        });
    }
    Ok(())
}

fn ordered(
    base: Duration,
    max: Duration,
    base_key: &str,
    max_key: &str,
    at: &Locate<'_>,
) -> Result<(), ConfigError> {
    if base > max {
        return Err(ConfigError::InvalidValue {
            at: at(base_key, None, None),
            problem: format!(
                "{base_key} ({} ms) is larger than {max_key} ({} ms); make the base delay at most the maximum",
                base.as_millis(),
                max.as_millis()
            ),
        });
    }
    Ok(())
}
