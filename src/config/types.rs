//! The typed configuration every other module consumes. Produced by the `.properties` loader,
//! by [`ConfigBuilder`](super::ConfigBuilder), or both; never read from anywhere implicitly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// A secret string from configuration (AccessKey secret, STS token, inline password or ClientKey
/// content). Zeroized on drop; `Debug` prints `"<redacted>"`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }
    /// The secret text. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// A host name with a port, parsed from `host`, `host:port` or `https://host[:port][/]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Bare host name (no scheme, no port). Used for SNI and certificate name checks.
    pub host: String,
    /// TCP port; 443 unless the configuration says otherwise.
    pub port: u16,
}

impl Endpoint {
    /// `host` when the port is 443, else `host:port` (the HTTP `Host` header value).
    pub(crate) fn authority(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.authority())
    }
}

/// Where a ClientKey JSON (`{"KeyId": ..., "PrivateKeyData": ...}`) comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeySource {
    /// A path to the JSON file (relative paths already resolved against the config file's dir).
    File(PathBuf),
    /// The JSON content itself.
    Inline(SecretString),
}

/// One place a ClientKey password can come from. Sources are tried in the order given; the
/// first one that yields a value wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file holding the password (plain text, trimmed; or JSON `{"ClientKeyPassword": ...}`).
    File(PathBuf),
    /// The name of an environment variable holding the password.
    EnvVar(String),
    /// The password itself (builder only; never from a file).
    Inline(SecretString),
}

/// Ordered password sources for one ClientKey (first that yields a value wins).
pub(crate) type PasswordSources = Vec<PasswordSource>;

/// How this application authenticates to KMS (`credentials_type`): the identity every
/// shared-gateway request is signed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmsIdentity {
    /// `client_key`: application access point ClientKey (RSA, `SHA256withRSA`).
    ClientKey {
        /// The ClientKey JSON.
        key: ClientKeySource,
        /// Password sources in resolution order.
        password: PasswordSources,
    },
    /// `ak` (and `token`, which the official clients use verbatim as an AccessKey pair).
    AccessKey {
        /// AccessKey id.
        access_key_id: String,
        /// AccessKey secret.
        access_key_secret: SecretString,
    },
    /// An STS token: AccessKey id (`STS.…`), secret and security token.
    StsToken {
        /// AccessKey id.
        access_key_id: String,
        /// AccessKey secret.
        access_key_secret: SecretString,
        /// Security token sent as `SecurityToken`.
        security_token: SecretString,
    },
    /// `sts` / `ram_role`: assume a RAM role with an AccessKey through STS `AssumeRole`.
    RamRoleArn {
        /// AccessKey id of the caller.
        access_key_id: String,
        /// AccessKey secret of the caller.
        access_key_secret: SecretString,
        /// `acs:ram::<uid>:role/<name>`.
        role_arn: String,
        /// Role session name.
        role_session_name: String,
        /// Optional inline policy JSON.
        policy: Option<String>,
        /// Session duration asked of STS.
        duration: Option<Duration>,
        /// STS endpoint (default `sts.aliyuncs.com`).
        sts_endpoint: Option<Endpoint>,
    },
    /// `oidc_role_arn`: RRSA / OIDC federation. Assume a RAM role through the anonymous STS
    /// `AssumeRoleWithOIDC` with the OIDC token in a file (in Alibaba Cloud Kubernetes: the
    /// service-account token RRSA projects into the pod). A `None` field falls back to the
    /// `ALIBABA_CLOUD_*` environment variable named on it, read once when the configuration is
    /// loaded or built; [`Config`] then holds the resolved values. The token file itself is
    /// read on every STS call, so token rotation is picked up.
    OidcRoleArn {
        /// `acs:ram::<uid>:role/<name>` (`credentials_role_arn`, else `ALIBABA_CLOUD_ROLE_ARN`).
        role_arn: Option<String>,
        /// `acs:ram::<uid>:oidc-provider/<name>` (`credentials_oidc_provider_arn`, else
        /// `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`).
        oidc_provider_arn: Option<String>,
        /// The OIDC token file (`credentials_oidc_token_file_path`, else
        /// `ALIBABA_CLOUD_OIDC_TOKEN_FILE`).
        oidc_token_file: Option<PathBuf>,
        /// Role session name (`credentials_role_session_name`, else
        /// `ALIBABA_CLOUD_ROLE_SESSION_NAME`, else `aliyun-managed-credentials-<unix seconds>`).
        role_session_name: Option<String>,
        /// Optional inline policy JSON (`credentials_policy`).
        policy: Option<String>,
        /// Session duration asked of STS, 900 to 43200 s (`credentials_duration_seconds`,
        /// default 3600 s).
        duration: Option<Duration>,
        /// STS region: `sts.{region}.aliyuncs.com` (`credentials_sts_region_id`, else
        /// `ALIBABA_CLOUD_STS_REGION`; default the global `sts.aliyuncs.com`).
        sts_region_id: Option<String>,
        /// Use `sts-vpc.{region}.aliyuncs.com` (`credentials_sts_vpc`, else
        /// `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`); needs a region.
        sts_vpc: Option<bool>,
        /// STS endpoint; wins over region and VPC (`credentials_sts_endpoint`).
        sts_endpoint: Option<Endpoint>,
    },
    /// `ecs_ram_role`: role credentials from the ECS instance metadata service.
    EcsRamRole {
        /// Role name; discovered from the metadata service when `None`.
        role_name: Option<String>,
        /// Metadata endpoint (default `100.100.100.200`, plain HTTP).
        metadata_endpoint: Option<Endpoint>,
    },
}

/// One KMS instance endpoint (`cache_client_dkms_config_info` entry, or builder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceEndpointConfig {
    /// Region label of the instance (`regionId`).
    pub region_id: String,
    /// `{instanceId}.cryptoservice.kms.aliyuncs.com[:port]`.
    pub endpoint: Endpoint,
    /// The ClientKey used to sign requests to this instance.
    pub client_key: ClientKeySource,
    /// Password sources in resolution order.
    pub password: PasswordSources,
    /// Instance CA bundle (`caFilePath`); required unless `ignore_ssl_certs`.
    pub ca_file: Option<PathBuf>,
    /// `ignoreSslCerts`: turn off all server-certificate checks (logged as a warning).
    pub ignore_ssl_certs: bool,
    /// Our extension `connectTo`: connect to this address while still verifying TLS against
    /// `endpoint.host` (like curl's `--connect-to`). Used by LocalKms and private DNS setups.
    pub connect_to: Option<SocketAddr>,
}

/// One `cache_client_region_id` entry (or builder): the shared gateway of a region, or — when
/// `endpoint` is `{instanceId}.cryptoservice.kms.aliyuncs.com` — a KMS instance's own gateway
/// reached with the RAM identity (`credentials_type`), as the official v2 clients configure it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayEndpointConfig {
    /// Region id (`regionId`), also sent as the `RegionId` parameter.
    pub region_id: String,
    /// `endpoint` if given, else `kms[-vpc].{regionId}.aliyuncs.com`.
    pub endpoint: Endpoint,
    /// `vpc`: whether the derived endpoint is the VPC one.
    pub vpc: bool,
    /// `caFilePath`. Shared gateway: extra trust anchors in addition to the public roots (a
    /// TLS-intercepting proxy). Instance gateway: the instance CA bundle
    /// (`PrivateKmsCA_<instanceId>.pem`), trusted **alone**; required there.
    pub ca_file: Option<PathBuf>,
    /// Our extension `connectTo` (see [`InstanceEndpointConfig::connect_to`]).
    pub connect_to: Option<SocketAddr>,
    /// Our extension `signatureVersion` (`"v1"` / `"v3"`): which signature requests to this
    /// endpoint carry. `None` chooses as the official clients of the matching generation do;
    /// see [`GatewaySignature`].
    pub signature: Option<GatewaySignature>,
}

/// The signature of a `cache_client_region_id` request (`signatureVersion`). A ClientKey always
/// signs RPC v1 with `SHA256withRSA`; for RAM identities (AccessKey, STS token, RAM role ARN,
/// ECS RAM role) the default follows the official clients: RPC v1 on the shared gateway (what
/// the v1 clients and the managed-credentials providers, whose properties file this crate
/// reads, send) and V3 on an instance gateway (only the v2 clients talk to it, and they sign
/// V3). Set it to send V3 to the shared gateway too, like the v2 clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GatewaySignature {
    /// `"v1"`: RPC signature version 1.0, every parameter in the query, `HMAC-SHA1` (or
    /// `SHA256withRSA` for a ClientKey).
    RpcV1,
    /// `"v3"`: the V3 header signature `ACS3-HMAC-SHA256` of the v2 clients.
    Acs3HmacSha256,
}

/// HTTP behaviour shared by both KMS APIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// TCP + TLS connect timeout (`connect_timeout_ms`, default 5 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (`request_timeout_ms`, default 10 s).
    pub request_timeout: Duration,
    /// Largest response body accepted (`max_response_bytes`, default 1 MiB).
    pub max_response_bytes: usize,
    /// Retry policy for one fetch against one endpoint.
    pub retry: RetryConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            retry: RetryConfig::default(),
        }
    }
}

/// Retries of one request to one endpoint: capped exponential backoff with full jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    /// Total attempts including the first (`max_attempts`, default 4 = the official SDKs' 1 + 3).
    pub max_attempts: u32,
    /// First backoff ceiling (`retry_base_delay_ms`, default 200 ms); doubles each retry.
    pub base_delay: Duration,
    /// Backoff cap (`retry_max_delay_ms`, default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// When and how cached secrets are refreshed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    /// Longest time between two refreshes (`refresh_max_interval_ms`, default 6 h, the official
    /// `rotation_interval`).
    pub max_interval: Duration,
    /// Delay after `NextRotationDate` before refreshing (`refresh_rotation_delay_ms`, default 5 min,
    /// the official `delay_interval`).
    pub rotation_delay: Duration,
    /// Refresh this long before `ExpireTimestamp` (`refresh_expiry_buffer_ms`, default 10 min).
    pub expiry_buffer: Duration,
    /// Random jitter added to each scheduled refresh, up to this much (`refresh_jitter_ms`,
    /// default 5 min; 0 disables). A fleet of N pods that learned the same `NextRotationDate`
    /// (or started together) refreshes within this window, about N / jitter requests per
    /// second: 5 min keeps 10,000 pods near 35/s, far below the shared gateway's 450/s
    /// (`examples/fleet`, manual "Fleet scale"). The official clients spread theirs over 0–10 min.
    pub jitter: Duration,
    /// How long a key without `ExpireTimestamp` may be served after its last successful fetch
    /// while refreshes fail (`max_staleness_ms`). Default: no limit. A RAM user's AccessKey
    /// has no expiry of its own and stays valid until it is rotated *and* the old key deleted,
    /// so serving it through a long KMS outage is right; if it was revoked, the calls that use
    /// it fail and `report_rejected` fetches a new one. Set a limit only if your policy says
    /// a key older than that must not be used.
    pub max_staleness: Option<Duration>,
    /// Background retry backoff after a failed refresh: first ceiling (`refresh_retry_base_ms`,
    /// default 1 s) and cap (`refresh_retry_max_ms`, default 5 min); full jitter.
    pub retry_base: Duration,
    /// See [`RefreshConfig::retry_base`].
    pub retry_max: Duration,
    /// Error codes that mean "this AccessKey is dead" (`rejected_key_error_codes`, comma list).
    pub rejected_key_codes: Vec<String>,
    /// Forced-refresh token bucket size per secret (`forced_refresh_burst`, default 5).
    pub forced_refresh_burst: u32,
    /// One token is added back per this period (`forced_refresh_period_ms`, default 10 min).
    pub forced_refresh_period: Duration,
    /// Fail provider construction when a `secret_names` prefetch fails (`prefetch_fail_fast`,
    /// default false: log and fetch lazily).
    pub prefetch_fail_fast: bool,
    /// Delay before a hedged request goes to the next endpoint (`hedge_delay_ms`, default 2 s).
    pub hedge_delay: Duration,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            max_interval: Duration::from_secs(6 * 3600),
            rotation_delay: Duration::from_secs(5 * 60),
            expiry_buffer: Duration::from_secs(10 * 60),
            jitter: Duration::from_secs(5 * 60),
            max_staleness: None,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
            rejected_key_codes: [
                "InvalidAccessKeyId",
                "InvalidAccessKeyId.NotFound",
                "InvalidAccessKeyId.Inactive",
                "Unauthorized",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            forced_refresh_burst: 5,
            forced_refresh_period: Duration::from_secs(10 * 60),
            prefetch_fail_fast: false,
            hedge_delay: Duration::from_secs(2),
        }
    }
}

/// The whole, validated configuration: what the properties file
/// ([`Config::from_properties_file`]) and [`ConfigBuilder`](super::ConfigBuilder) produce, and
/// the one input of the provider. Read its fields freely; change it through
/// [`ConfigBuilder::from_config`](super::ConfigBuilder::from_config) so it is validated again.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The properties file this came from, if any (for messages).
    pub source: Option<PathBuf>,
    /// How to authenticate to `cache_client_region_id` endpoints (`credentials_type`).
    pub identity: Option<KmsIdentity>,
    /// KMS instance endpoints in failover order (`cache_client_dkms_config_info`).
    pub instances: Vec<InstanceEndpointConfig>,
    /// Shared-gateway (and KMS instance gateway) endpoints for the RAM identity, in failover
    /// order (`cache_client_region_id`).
    pub gateways: Vec<GatewayEndpointConfig>,
    /// Secrets to prefetch at start-up (`secret_names`).
    pub secret_names: Vec<String>,
    /// Version stage to fetch (`version_stage`, default `ACSCurrent`).
    pub version_stage: String,
    /// HTTP behaviour.
    pub http: HttpConfig,
    /// Refresh behaviour.
    pub refresh: RefreshConfig,
    /// The directory of the opt-in encrypted restart cache (`restart_cache_dir`; relative paths
    /// in a file resolve against the file's directory). `None` (the default) keeps secrets in
    /// memory only. See the manual's "Restart cache" section for what it protects and what not.
    pub restart_cache_dir: Option<PathBuf>,
    /// Read secrets from files below this directory instead of KMS (`secret_files_dir`):
    /// the layouts that ack-secret-manager, the External Secrets Operator or the Secrets Store
    /// CSI driver write when they sync KMS secrets (tested against a simulated kubelet volume,
    /// not against those tools). Exclusive with KMS endpoints. See the manual's
    /// "Secrets synced by the cluster" section for the layout.
    pub secret_files_dir: Option<PathBuf>,
    /// How often the files are read again (`secret_files_poll_interval_ms`, default 2 s).
    /// Replaces `refresh_max_interval_ms` and the jitter for file sources.
    pub secret_files_poll_interval: Duration,
}
