//! [`ConfigBuilder`]: the typed way to write a configuration in code, or to start from a file
//! ([`ConfigBuilder::from_config`]) and override parts of it. Builder calls override what the
//! file said; `add_*` calls append after the file's entries.
//! [`ConfigBuilder::build`] applies the same validation as the file loader.

use std::time::Duration;

use super::endpoint::{gateway_endpoint, is_instance_host, valid_region_id};
use super::error::{ConfigError, Location};
use super::keys;
use super::oidc::{
    process_env, resolve_from_env, Env, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE, ENV_ROLE_ARN,
    ENV_STS_REGION, ENV_VPC_ENDPOINT_ENABLED,
};
use super::types::{
    ClientKeySource, Config, Endpoint, GatewayEndpointConfig, GatewaySignature, HttpConfig,
    InstanceEndpointConfig, KmsIdentity, RefreshConfig, SecretString,
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
            restart_cache_dir: None,
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
            signature: None,
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
            signature: None,
        }
    }

    /// Whether this entry names a KMS instance's own gateway
    /// (`{instanceId}.cryptoservice.kms.aliyuncs.com`) rather than a shared gateway.
    pub(crate) fn is_instance_gateway(&self) -> bool {
        is_instance_host(&self.endpoint.host)
    }

    /// The signature requests of `identity` to this endpoint carry (see [`GatewaySignature`]):
    /// a ClientKey always RPC v1; otherwise `signatureVersion`, else V3 for an instance gateway
    /// and for an RRSA/OIDC caller (only the v2 clients have it, and they sign V3), and RPC v1
    /// for other callers on the shared gateway.
    pub(crate) fn signature_for(&self, identity: &KmsIdentity) -> GatewaySignature {
        if matches!(identity, KmsIdentity::ClientKey { .. }) {
            return GatewaySignature::RpcV1;
        }
        match self.signature {
            Some(signature) => signature,
            None if self.is_instance_gateway()
                || matches!(identity, KmsIdentity::OidcRoleArn { .. }) =>
            {
                GatewaySignature::Acs3HmacSha256
            }
            None => GatewaySignature::RpcV1,
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
    /// the secret into a mounted volume, so the pod puts no load on KMS (tested against a
    /// simulated kubelet volume, not against those tools). Exclusive with KMS
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

    // ---- restart cache ----

    /// Turns on the encrypted restart cache in `dir` (`restart_cache_dir`): the last good value
    /// of each secret is saved there and served after a restart while KMS cannot be reached.
    /// A relative `dir` is relative to the working directory. Needs a KMS identity with a
    /// long-lived secret (a KMS instance ClientKey, or `credentials_type` `client_key`, `ak`,
    /// `token` or `ram_role`); read the manual's "Restart cache" section first.
    pub fn with_restart_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.restart_cache_dir = Some(dir.into());
        self
    }

    /// Validates and returns the configuration (same checks as the file loader). An
    /// `oidc_role_arn` identity is completed from the `ALIBABA_CLOUD_*` RRSA environment
    /// variables here, and with no identity, shared-gateway endpoints and a complete RRSA
    /// environment, `oidc_role_arn` is selected (see the [manual](crate::manual)).
    pub fn build(self) -> Result<Config, ConfigError> {
        self.build_with_env(&process_env)
    }

    /// [`build`](Self::build) with an explicit environment (tests never touch the process
    /// environment).
    pub(crate) fn build_with_env(self, env: &Env<'_>) -> Result<Config, ConfigError> {
        let mut config = normalize(self.config);
        resolve_from_env(&mut config, env);
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

/// The checks of one `cache_client_region_id` entry that involve the instance gateway and the
/// signature; `at` locates a field of the entry.
fn validate_gateway(
    config: &Config,
    gateway: &GatewayEndpointConfig,
    at: &dyn Fn(&str) -> Location,
) -> Result<(), ConfigError> {
    let client_key = matches!(config.identity, Some(KmsIdentity::ClientKey { .. }));
    if gateway.is_instance_gateway() {
        if client_key {
            return Err(ConfigError::InvalidValue {
                at: at("endpoint"),
                problem: format!(
                    "`{}` is a KMS instance endpoint, which a ClientKey (credentials_type=client_key) reaches through cache_client_dkms_config_info, not cache_client_region_id; move the entry there, or use a RAM identity (ak, sts, ram_role, ecs_ram_role) for the instance gateway",
                    gateway.endpoint.host
                ),
            });
        }
        if gateway.ca_file.is_none() {
            return Err(ConfigError::MissingField {
                at: at("caFilePath"),
                hint: format!(
                    "the instance gateway {} is verified against its instance CA only: set \"caFilePath\" to the PrivateKmsCA_<instanceId>.pem downloaded from the KMS console (this crate does not bundle the official v2 clients' built-in region CAs)",
                    gateway.endpoint.host
                ),
            });
        }
    }
    if client_key && gateway.signature == Some(GatewaySignature::Acs3HmacSha256) {
        return Err(ConfigError::InvalidValue {
            at: at("signatureVersion"),
            problem: "a ClientKey signs RPC v1 requests with SHA256withRSA; remove \"signatureVersion\": \"v3\" (V3 is for AccessKey, STS and role credentials)".into(),
        });
    }
    Ok(())
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
        validate_gateway(config, gateway, &|field| {
            at(keys::REGIONS, Some(i + 1), Some(field))
        })?;
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
    validate_restart_cache(config, at)?;
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

/// How to make the restart cache usable, for errors.
pub(crate) const RESTART_CACHE_IDENTITY_HINT: &str = "the restart cache derives its encryption key from the KMS identity's long-lived secret: a KMS instance ClientKey (cache_client_dkms_config_info), or credentials_type client_key, ak, token or ram_role. sts_token, ecs_ram_role, oidc_role_arn (RRSA) and other temporary identities have none that survives a restart; remove restart_cache_dir or use one of those identities";

/// `restart_cache_dir`: a non-empty path, and an identity to derive the key from.
fn validate_restart_cache(config: &Config, at: &Locate<'_>) -> Result<(), ConfigError> {
    let Some(dir) = &config.restart_cache_dir else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() {
        return Err(ConfigError::InvalidValue {
            at: at(keys::RESTART_CACHE_DIR, None, None),
            problem: "the directory is empty; name a directory only this application can read, or remove the key to keep secrets in memory only".into(),
        });
    }
    if !config.instances.is_empty() {
        return Ok(());
    }
    // Not exhaustive on purpose: an identity added later is refused until it says otherwise.
    let long_lived = |identity: &KmsIdentity| {
        matches!(
            identity,
            KmsIdentity::ClientKey { .. }
                | KmsIdentity::AccessKey { .. }
                | KmsIdentity::RamRoleArn { .. }
        )
    };
    let kind = match &config.identity {
        Some(identity) if long_lived(identity) => return Ok(()),
        Some(KmsIdentity::StsToken { .. }) => "credentials_type `sts_token`",
        Some(KmsIdentity::EcsRamRole { .. }) => "credentials_type `ecs_ram_role`",
        Some(KmsIdentity::OidcRoleArn { .. }) => "credentials_type `oidc_role_arn`",
        Some(_) => "this credentials_type",
        None => "no KMS identity (custom clients only)",
    };
    Err(ConfigError::InvalidValue {
        at: at(keys::RESTART_CACHE_DIR, None, None),
        problem: format!("cannot be used with {kind}: {RESTART_CACHE_IDENTITY_HINT}"),
    })
}

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
        KmsIdentity::OidcRoleArn {
            role_arn,
            oidc_provider_arn,
            oidc_token_file,
            role_session_name,
            policy,
            duration,
            sts_region_id,
            sts_vpc,
            sts_endpoint,
        } => {
            let required = |key: &str, env: &str, example: &str| {
                ConfigError::InvalidValue {
                at: at(keys::CREDENTIALS_TYPE, None, None),
                problem: format!(
                    "`{key}` is required when credentials_type is `oidc_role_arn`; add a line `{key}={example}` or set the environment variable {env} (RRSA sets it in the pod when the service account is annotated)"
                ),
            }
            };
            if role_arn.as_deref().is_none_or(|v| v.trim().is_empty()) {
                return Err(required(
                    keys::ROLE_ARN,
                    ENV_ROLE_ARN,
                    "acs:ram::<account id>:role/<role name>",
                ));
            }
            if oidc_provider_arn
                .as_deref()
                .is_none_or(|v| v.trim().is_empty())
            {
                return Err(required(
                    keys::OIDC_PROVIDER_ARN,
                    ENV_OIDC_PROVIDER_ARN,
                    "acs:ram::<account id>:oidc-provider/<provider name>",
                ));
            }
            if oidc_token_file
                .as_ref()
                .is_none_or(|p| p.as_os_str().is_empty())
            {
                return Err(required(
                    keys::OIDC_TOKEN_FILE_PATH,
                    ENV_OIDC_TOKEN_FILE,
                    "/var/run/secrets/ack.alibabacloud.com/rrsa-tokens/token",
                ));
            }
            for (value, key) in [
                (role_session_name, keys::ROLE_SESSION_NAME),
                (policy, keys::POLICY),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    return Err(ConfigError::InvalidValue {
                        at: at(key, None, None),
                        problem: "the value is empty; remove it or give a value".into(),
                    });
                }
            }
            if let Some(d) = duration {
                if !(MIN_STS_DURATION..=MAX_STS_DURATION).contains(d) {
                    return Err(ConfigError::InvalidNumber {
                        at: at(keys::DURATION_SECONDS, None, None),
                        value: d.as_secs().to_string(),
                        expected: format!(
                            "a whole number of seconds from {} to {} (what STS accepts)",
                            MIN_STS_DURATION.as_secs(),
                            MAX_STS_DURATION.as_secs()
                        ),
                    });
                }
            }
            if let Some(region) = sts_region_id {
                if !valid_region_id(region) {
                    return Err(ConfigError::InvalidValue {
                        at: at(keys::STS_REGION_ID, None, None),
                        problem: format!(
                            "region id `{region}` may only contain letters, digits, `-` and `_` (from credentials_sts_region_id or {ENV_STS_REGION}); write e.g. cn-hangzhou"
                        ),
                    });
                }
            }
            if *sts_vpc == Some(true) && sts_region_id.is_none() && sts_endpoint.is_none() {
                return Err(ConfigError::InvalidValue {
                    at: at(keys::STS_VPC, None, None),
                    problem: format!(
                        "the STS VPC endpoint (credentials_sts_vpc or {ENV_VPC_ENDPOINT_ENABLED}) needs a region: set credentials_sts_region_id or {ENV_STS_REGION} (e.g. cn-hangzhou) for sts-vpc.<region>.aliyuncs.com, or set credentials_sts_endpoint. The official clients silently fall back to the public sts.aliyuncs.com here, which a VPC without internet access cannot reach"
                    ),
                });
            }
            Ok(())
        }
    }
}

/// Shortest STS session (`DurationSeconds`) STS grants; the official clients reject less.
pub(crate) const MIN_STS_DURATION: Duration = Duration::from_secs(900);
/// Longest STS session a role's `MaxSessionDuration` can allow.
pub(crate) const MAX_STS_DURATION: Duration = Duration::from_secs(43200);

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
