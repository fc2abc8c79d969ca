//! [`ConfigBuilder`]: the typed way to write a configuration in code, or to start from a file
//! ([`ConfigBuilder::from_config`]) and override parts of it. Builder calls override what the
//! file said; `add_*` calls append after the file's entries (use `clear_*` to replace them).
//! [`ConfigBuilder::build`] applies the same validation as the file loader.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::endpoint::{gateway_endpoint, parse_endpoint, valid_region_id, Scheme};
use super::error::{ConfigError, Location};
use super::keys;
use super::types::{
    CallerCredential, ClientKeySource, Config, Endpoint, GatewayEndpointConfig, HttpConfig,
    InstanceEndpointConfig, PasswordSource, PasswordSources, RefreshConfig, RetryConfig,
    SecretString,
};

/// The default `version_stage`.
pub const DEFAULT_VERSION_STAGE: &str = "ACSCurrent";

const BUILDER: &str = "ConfigBuilder";

impl Config {
    /// A builder with the documented defaults and no endpoints.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }
}

impl InstanceEndpointConfig {
    /// An instance endpoint with no CA file, TLS verification on and no `connectTo`.
    /// Add [`with_ca_file`](Self::with_ca_file) (required unless `ignore_ssl_certs`).
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

    /// Sets the instance CA bundle (`caFilePath`).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Appends a password source (tried in the order added).
    pub fn with_password_source(mut self, source: PasswordSource) -> Self {
        self.password.push(source);
        self
    }

    /// Replaces the password sources.
    pub fn with_password_sources(mut self, sources: PasswordSources) -> Self {
        self.password = sources;
        self
    }

    /// `ignoreSslCerts`: turns off server-certificate checks for this instance (not recommended).
    pub fn with_ignore_ssl_certs(mut self, ignore: bool) -> Self {
        self.ignore_ssl_certs = ignore;
        self
    }

    /// `connectTo`: connect to this address, verify TLS against the endpoint's host name.
    pub fn with_connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
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

    /// A region with an explicit endpoint (wins over the derived one).
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Extra trust anchors for this endpoint (`caFilePath`).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// `connectTo`: connect to this address, verify TLS against the endpoint's host name.
    pub fn with_connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }
}

/// Builds a validated [`Config`] in code. Every setter has the properties key it corresponds
/// to in its documentation; defaults are those of the `Default` impls of [`HttpConfig`](crate::config::HttpConfig) and
/// [`RefreshConfig`](crate::config::RefreshConfig).
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
    /// Problems found by setters that parse strings, reported by `build`.
    deferred: Vec<DeferredError>,
}

#[derive(Clone, Debug)]
struct DeferredError {
    key: &'static str,
    entry: Option<usize>,
    field: Option<&'static str>,
    value: String,
    problem: String,
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
            config: Config {
                source: None,
                caller_credential: None,
                instances: Vec::new(),
                gateways: Vec::new(),
                secret_names: Vec::new(),
                version_stage: DEFAULT_VERSION_STAGE.to_owned(),
                http: HttpConfig::default(),
                refresh: RefreshConfig::default(),
            },
            deferred: Vec::new(),
        }
    }

    /// Starts from an existing configuration (typically loaded from a file); later calls
    /// override its values.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            deferred: Vec::new(),
        }
    }

    // ---- caller credential (credentials_type) ----

    /// Sets the credential used for shared-gateway endpoints (`credentials_type` and its keys).
    pub fn with_caller_credential(mut self, credential: CallerCredential) -> Self {
        self.config.caller_credential = Some(credential);
        self
    }

    /// Removes the caller credential.
    pub fn without_caller_credential(mut self) -> Self {
        self.config.caller_credential = None;
        self
    }

    /// `credentials_type=ak`.
    pub fn with_access_key(
        self,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<SecretString>,
    ) -> Self {
        self.with_caller_credential(CallerCredential::AccessKey {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
        })
    }

    /// `credentials_type=sts_token`.
    pub fn with_sts_token(
        self,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<SecretString>,
        security_token: impl Into<SecretString>,
    ) -> Self {
        self.with_caller_credential(CallerCredential::StsToken {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: security_token.into(),
        })
    }

    /// `credentials_type=client_key` with the given key and password sources.
    pub fn with_client_key(self, key: ClientKeySource, password: PasswordSources) -> Self {
        self.with_caller_credential(CallerCredential::ClientKey { key, password })
    }

    /// `credentials_type=ecs_ram_role` (role name discovered from the metadata service if `None`).
    pub fn with_ecs_ram_role(self, role_name: Option<String>) -> Self {
        self.with_caller_credential(CallerCredential::EcsRamRole {
            role_name,
            metadata_endpoint: None,
        })
    }

    // ---- endpoints ----

    /// Appends a KMS instance endpoint (`cache_client_dkms_config_info` entry).
    pub fn add_instance_endpoint(mut self, instance: InstanceEndpointConfig) -> Self {
        self.config.instances.push(instance);
        self
    }

    /// Removes all instance endpoints (e.g. those loaded from a file).
    pub fn clear_instance_endpoints(mut self) -> Self {
        self.config.instances.clear();
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

    /// Appends the VPC shared gateway of a region (`{"regionId": "...", "vpc": true}`).
    pub fn add_gateway_vpc_region(self, region_id: impl Into<String>) -> Self {
        self.add_gateway(GatewayEndpointConfig::for_vpc_region(region_id))
    }

    /// Appends a shared gateway with an explicit endpoint (`{"regionId": ..., "endpoint": ...}`).
    /// A malformed endpoint is reported by [`build`](Self::build).
    pub fn add_gateway_endpoint(mut self, region_id: impl Into<String>, endpoint: &str) -> Self {
        let entry = self.config.gateways.len() + 1;
        let gateway = GatewayEndpointConfig::for_region(region_id);
        match parse_endpoint(endpoint, Scheme::Https) {
            Ok(ep) => self.config.gateways.push(gateway.with_endpoint(ep)),
            Err(problem) => {
                self.deferred.push(DeferredError {
                    key: keys::REGIONS,
                    entry: Some(entry),
                    field: Some("endpoint"),
                    value: endpoint.to_owned(),
                    problem,
                });
                self.config.gateways.push(gateway);
            }
        }
        self
    }

    /// Removes all shared-gateway endpoints.
    pub fn clear_gateways(mut self) -> Self {
        self.config.gateways.clear();
        self
    }

    // ---- secrets ----

    /// Appends a secret to prefetch at start-up (`secret_names`).
    pub fn add_secret_name(mut self, name: impl Into<String>) -> Self {
        self.config.secret_names.push(name.into());
        self
    }

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

    // ---- HTTP ----

    /// Replaces all HTTP settings.
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.config.http = http;
        self
    }

    /// `connect_timeout_ms`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.http.connect_timeout = timeout;
        self
    }

    /// `request_timeout_ms`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.config.http.request_timeout = timeout;
        self
    }

    /// `max_response_bytes`.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.config.http.max_response_bytes = bytes;
        self
    }

    /// Replaces the per-request retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.config.http.retry = retry;
        self
    }

    /// `max_attempts` (including the first).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.config.http.retry.max_attempts = attempts;
        self
    }

    /// `retry_base_delay_ms` and `retry_max_delay_ms`.
    pub fn with_retry_delays(mut self, base: Duration, max: Duration) -> Self {
        self.config.http.retry.base_delay = base;
        self.config.http.retry.max_delay = max;
        self
    }

    // ---- refresh ----

    /// Replaces all refresh settings.
    pub fn with_refresh(mut self, refresh: RefreshConfig) -> Self {
        self.config.refresh = refresh;
        self
    }

    /// `refresh_max_interval_ms` (MCP `rotation_interval`).
    pub fn with_refresh_max_interval(mut self, interval: Duration) -> Self {
        self.config.refresh.max_interval = interval;
        self
    }

    /// `refresh_rotation_delay_ms` (MCP `delay_interval`).
    pub fn with_rotation_delay(mut self, delay: Duration) -> Self {
        self.config.refresh.rotation_delay = delay;
        self
    }

    /// `refresh_expiry_buffer_ms`.
    pub fn with_expiry_buffer(mut self, buffer: Duration) -> Self {
        self.config.refresh.expiry_buffer = buffer;
        self
    }

    /// `refresh_jitter_ms` (zero disables jitter).
    pub fn with_refresh_jitter(mut self, jitter: Duration) -> Self {
        self.config.refresh.jitter = jitter;
        self
    }

    /// `max_staleness_ms`.
    pub fn with_max_staleness(mut self, staleness: Duration) -> Self {
        self.config.refresh.max_staleness = staleness;
        self
    }

    /// `refresh_retry_base_ms` and `refresh_retry_max_ms`.
    pub fn with_refresh_retry(mut self, base: Duration, max: Duration) -> Self {
        self.config.refresh.retry_base = base;
        self.config.refresh.retry_max = max;
        self
    }

    /// `rejected_key_error_codes`.
    pub fn with_rejected_key_codes<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.refresh.rejected_key_codes = codes.into_iter().map(Into::into).collect();
        self
    }

    /// `forced_refresh_burst` and `forced_refresh_period_ms`.
    pub fn with_forced_refresh(mut self, burst: u32, period: Duration) -> Self {
        self.config.refresh.forced_refresh_burst = burst;
        self.config.refresh.forced_refresh_period = period;
        self
    }

    /// `prefetch_fail_fast`.
    pub fn with_prefetch_fail_fast(mut self, fail_fast: bool) -> Self {
        self.config.refresh.prefetch_fail_fast = fail_fast;
        self
    }

    /// `hedge_delay_ms`.
    pub fn with_hedge_delay(mut self, delay: Duration) -> Self {
        self.config.refresh.hedge_delay = delay;
        self
    }

    /// Validates and returns the configuration (same checks as the file loader).
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(d) = self.deferred.into_iter().next() {
            return Err(ConfigError::InvalidEndpoint {
                at: Location::origin(BUILDER)
                    .with_key(d.key, None)
                    .with_entry_opt(d.entry)
                    .with_field_opt(d.field),
                value: d.value,
                problem: d.problem,
            });
        }
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
    if config.instances.is_empty() && config.gateways.is_empty() {
        return Err(ConfigError::NoEndpoint { origin });
    }
    if !config.gateways.is_empty() && config.caller_credential.is_none() {
        return Err(ConfigError::MissingCallerCredential { origin });
    }
    if let Some(credential) = &config.caller_credential {
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
    Ok(())
}

fn validate_credential(credential: &CallerCredential, at: &Locate<'_>) -> Result<(), ConfigError> {
    let missing = |key: &str, ty: &str| ConfigError::MissingKey {
        at: at(keys::CREDENTIALS_TYPE, None, None),
        key: key.to_owned(),
        credentials_type: ty.to_owned(),
    };
    match credential {
        CallerCredential::ClientKey { key, .. } => match key {
            ClientKeySource::File(p) if p.as_os_str().is_empty() => {
                Err(missing(keys::PRIVATE_KEY_PATH, "client_key"))
            }
            ClientKeySource::Inline(s) if s.expose().trim().is_empty() => {
                Err(missing(keys::PRIVATE_KEY_PATH, "client_key"))
            }
            _ => Ok(()),
        },
        CallerCredential::AccessKey {
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
        CallerCredential::StsToken {
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
        CallerCredential::RamRoleArn {
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
        CallerCredential::EcsRamRole { .. } => Ok(()),
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
