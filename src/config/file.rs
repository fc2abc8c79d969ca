//! Loading [`Config`] from `managed_credentials_providers.properties`.
//!
//! Where the file comes from, highest precedence first: a path given in code
//! ([`Config::from_properties_file`] or [`Config::load`]`(Some(path))`), the environment variable
//! [`CONFIG_FILE_ENV`] (`ALIYUN_MANAGED_CREDENTIALS_FILE`), then
//! [`DEFAULT_CONFIG_FILE`] in the working directory. Exactly one file is read. Unlike the official
//! clients we never merge `secretsmanager.properties` or same-named environment variables into
//! it: what the file says is what you get (plus builder overrides, see
//! [`ConfigBuilder::from_config`](super::ConfigBuilder::from_config)).
//!
//! Relative paths inside the file resolve against the file's own directory. No file named in
//! the configuration (ClientKey, password, CA) is read here; the identity module does that.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::builder::{
    normalize, validate, DEFAULT_SECRET_FILES_POLL_INTERVAL, DEFAULT_VERSION_STAGE,
};
use super::endpoint::{
    gateway_endpoint, parse_connect_to, parse_endpoint, valid_region_id, Scheme,
};
use super::error::{ConfigError, Location};
use super::keys::{self, did_you_mean};
use super::oidc::{process_env, resolve_from_env, Env};
use super::properties::Properties;
use super::types::{
    ClientKeySource, Config, GatewayEndpointConfig, GatewaySignature, HttpConfig,
    InstanceEndpointConfig, KmsIdentity, PasswordSource, PasswordSources, RefreshConfig,
    SecretString,
};

/// Environment variable holding the path of the configuration file.
pub(crate) const CONFIG_FILE_ENV: &str = "ALIYUN_MANAGED_CREDENTIALS_FILE";

/// File name looked for in the working directory.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "managed_credentials_providers.properties";

impl Config {
    /// Loads and validates the given `.properties` file.
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        load_file(path.as_ref(), "given in code")
    }

    /// Loads from the default location: the file named by `ALIYUN_MANAGED_CREDENTIALS_FILE` if
    /// that variable is set, else `managed_credentials_providers.properties` in the working
    /// directory.
    pub fn from_default_location() -> Result<Self, ConfigError> {
        Self::load(None)
    }

    /// Loads from `explicit` if given, else from the default location
    /// ([`from_default_location`](Self::from_default_location)).
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let (path, how) = locate(explicit, std::env::var_os(CONFIG_FILE_ENV), &cwd)?;
        load_file(&path, &how)
    }

    /// Parses and validates `.properties` text. Relative paths resolve against `base_dir`;
    /// `origin` names the text in errors and warnings. [`Config::source`] is left `None`.
    pub fn from_properties_str(
        text: &str,
        base_dir: impl AsRef<Path>,
        origin: &str,
    ) -> Result<Self, ConfigError> {
        let props = Properties::parse(text, origin).map_err(|source| ConfigError::Syntax {
            origin: origin.to_owned(),
            source,
        })?;
        from_properties(&props, base_dir.as_ref(), origin, None)
    }
}

/// Chooses the file: explicit > environment variable > working directory.
pub(crate) fn locate(
    explicit: Option<&Path>,
    env: Option<OsString>,
    cwd: &Path,
) -> Result<(PathBuf, String), ConfigError> {
    if let Some(path) = explicit {
        return Ok((path.to_owned(), "given in code".into()));
    }
    if let Some(value) = env.filter(|v| !v.is_empty()) {
        return Ok((
            cwd.join(value),
            format!("from environment variable {CONFIG_FILE_ENV}"),
        ));
    }
    let path = cwd.join(DEFAULT_CONFIG_FILE);
    if path.exists() {
        return Ok((path, "found in the working directory".into()));
    }
    Err(ConfigError::NotFound {
        searched: vec![
            format!("environment variable {CONFIG_FILE_ENV} (not set)"),
            format!("{} (working directory; does not exist)", path.display()),
        ],
    })
}

fn load_file(path: &Path, how: &str) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NotFound {
                searched: vec![format!("{origin} ({how}; does not exist)")],
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                how: how.to_owned(),
                source,
            })
        }
    };
    let props = Properties::parse_bytes(&bytes, &origin).map_err(|source| ConfigError::Syntax {
        origin: origin.clone(),
        source,
    })?;
    let base_dir = path.parent().unwrap_or(Path::new(""));
    tracing::debug!(path = %origin, how, "loading configuration file");
    from_properties(&props, base_dir, &origin, Some(path.to_owned()))
}

/// Every `credentials_*` key, to warn about those the chosen type does not use.
const CREDENTIAL_KEYS: &[&str] = &[
    keys::ACCESS_KEY_ID,
    keys::ACCESS_SECRET,
    keys::ACCESS_TOKEN_ID,
    keys::ACCESS_TOKEN,
    keys::SECURITY_TOKEN,
    keys::ROLE_ARN,
    keys::ROLE_SESSION_NAME,
    keys::POLICY,
    keys::DURATION_SECONDS,
    keys::STS_ENDPOINT,
    keys::ROLE_NAME,
    keys::ECS_METADATA_ENDPOINT,
    keys::OIDC_PROVIDER_ARN,
    keys::OIDC_TOKEN_FILE_PATH,
    keys::STS_REGION_ID,
    keys::STS_VPC,
];

/// JSON fields inherited by the official DKMS config from the instance SDK's `Config`; accepted
/// by the official clients but not used here.
const SDK_INHERITED_FIELDS: &[&str] = &[
    "protocol",
    "readTimeout",
    "connectTimeout",
    "httpProxy",
    "httpsProxy",
    "noProxy",
    "maxIdleConns",
    "socks5Proxy",
    "socks5NetWork",
    "userAgent",
    "password",
    "ca",
    "ignoreSSL",
    "caCert",
];

pub(crate) fn from_properties(
    props: &Properties,
    base_dir: &Path,
    origin: &str,
    source: Option<PathBuf>,
) -> Result<Config, ConfigError> {
    from_properties_with_env(props, base_dir, origin, source, &process_env)
}

/// [`from_properties`] with an explicit environment for the RRSA fallbacks (tests never touch
/// the process environment).
pub(crate) fn from_properties_with_env(
    props: &Properties,
    base_dir: &Path,
    origin: &str,
    source: Option<PathBuf>,
    env: &Env<'_>,
) -> Result<Config, ConfigError> {
    let loader = Loader {
        props,
        origin,
        base_dir,
    };
    let mut referenced = HashSet::new();
    let identity = loader.identity()?;
    let instances = loader.instances(&mut referenced)?;
    let gateways = loader.gateways()?;
    let secret_names = loader.list(keys::SECRET_NAMES).unwrap_or_default();
    let version_stage = loader
        .string(keys::VERSION_STAGE)
        .unwrap_or_else(|| DEFAULT_VERSION_STAGE.to_owned());
    let http = loader.http()?;
    let refresh = loader.refresh()?;
    let restart_cache_dir = loader.path(keys::RESTART_CACHE_DIR);
    let secret_files_dir = loader.path(keys::SECRET_FILES_DIR);
    let secret_files_poll_interval = loader
        .millis(keys::SECRET_FILES_POLL_INTERVAL_MS)?
        .unwrap_or(DEFAULT_SECRET_FILES_POLL_INTERVAL);
    loader.report_keys(&referenced);

    let mut config = normalize(Config {
        source,
        identity,
        instances,
        gateways,
        secret_names,
        version_stage,
        http,
        refresh,
        restart_cache_dir,
        secret_files_dir,
        secret_files_poll_interval,
    });
    resolve_from_env(&mut config, env);
    // A file must name an endpoint (custom clients exist only in code) or a secret files
    // directory; a `ConfigBuilder` may leave them out and pass clients to the provider builder.
    if config.instances.is_empty()
        && config.gateways.is_empty()
        && config.secret_files_dir.is_none()
    {
        return Err(ConfigError::NoEndpoint {
            origin: origin.to_owned(),
        });
    }
    validate(&config, &|key, entry, field| {
        if key.is_empty() {
            return Location::origin(origin);
        }
        loader.at(key).with_entry_opt(entry).with_field_opt(field)
    })?;
    Ok(config)
}

struct Loader<'a> {
    props: &'a Properties,
    origin: &'a str,
    base_dir: &'a Path,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Overwrites every string inside a JSON value (the DKMS list may hold ClientKey content).
fn zeroize_json(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_json),
        Value::Object(map) => map.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

/// A 1-based entry number and the entry's JSON object.
type Entry<'v> = (usize, &'v Map<String, Value>);

/// A JSON list value that zeroizes its strings on drop.
struct JsonList(Vec<Value>);

impl Drop for JsonList {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(zeroize_json);
    }
}

impl<'a> Loader<'a> {
    fn line(&self, key: &str) -> Option<usize> {
        self.props.get(key).map(|p| p.line)
    }

    fn at(&self, key: &str) -> Location {
        Location::origin(self.origin).with_key(key, self.line(key))
    }

    /// The trimmed value; an empty value counts as absent.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.props
            .get(key)
            .map(|p| p.value.trim())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(|v| self.resolve(v))
    }

    fn number<T: FromStr>(&self, key: &str, expected: &str) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ConfigError::InvalidNumber {
                at: self.at(key),
                value: v.to_owned(),
                expected: expected.to_owned(),
            }),
        }
    }

    fn millis(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        Ok(self
            .number::<u64>(key, "a whole number of milliseconds, e.g. 5000")?
            .map(Duration::from_millis))
    }

    /// An endpoint (`host[:port]` or a URL of `scheme`), named by key and line when invalid.
    fn endpoint(
        &self,
        key: &str,
        scheme: Scheme,
    ) -> Result<Option<super::types::Endpoint>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_endpoint(v, scheme).map(Some).map_err(|problem| {
                ConfigError::InvalidEndpoint {
                    at: self.at(key),
                    value: v.to_owned(),
                    problem,
                }
            }),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| ConfigError::InvalidBool {
                    at: self.at(key),
                    value: v.to_owned(),
                }),
        }
    }

    /// A comma-separated list: items trimmed, empty items dropped.
    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.props.get(key).map(|p| {
            p.value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    // ---- credentials_type ----

    fn identity(&self) -> Result<Option<KmsIdentity>, ConfigError> {
        let Some(ty) = self.get(keys::CREDENTIALS_TYPE) else {
            for key in CREDENTIAL_KEYS {
                if let Some(line) = self.line(key) {
                    tracing::warn!(
                        origin = self.origin,
                        line,
                        key,
                        "{}, line {line}: `{key}` is ignored because credentials_type is not set",
                        self.origin
                    );
                }
            }
            return Ok(None);
        };
        let ty_lower = ty.to_ascii_lowercase();
        let require = |key: &str| {
            self.string(key).ok_or_else(|| ConfigError::MissingKey {
                at: self.at(keys::CREDENTIALS_TYPE),
                key: key.to_owned(),
                credentials_type: ty_lower.clone(),
            })
        };
        let require_secret = |key: &str| require(key).map(SecretString::new);
        let (credential, used): (KmsIdentity, &[&str]) = match ty_lower.as_str() {
            "client_key" => {
                let path = require(keys::PRIVATE_KEY_PATH)?;
                (
                    KmsIdentity::ClientKey {
                        key: ClientKeySource::File(self.resolve(&path)),
                        password: self.top_level_password_sources(),
                    },
                    &[],
                )
            }
            "ak" => (
                KmsIdentity::AccessKey {
                    access_key_id: require(keys::ACCESS_KEY_ID)?,
                    access_key_secret: require_secret(keys::ACCESS_SECRET)?,
                },
                &[keys::ACCESS_KEY_ID, keys::ACCESS_SECRET],
            ),
            "token" => (
                KmsIdentity::AccessKey {
                    access_key_id: require(keys::ACCESS_TOKEN_ID)?,
                    access_key_secret: require_secret(keys::ACCESS_TOKEN)?,
                },
                &[keys::ACCESS_TOKEN_ID, keys::ACCESS_TOKEN],
            ),
            "sts_token" => (
                KmsIdentity::StsToken {
                    access_key_id: require(keys::ACCESS_KEY_ID)?,
                    access_key_secret: require_secret(keys::ACCESS_SECRET)?,
                    security_token: require_secret(keys::SECURITY_TOKEN)?,
                },
                &[
                    keys::ACCESS_KEY_ID,
                    keys::ACCESS_SECRET,
                    keys::SECURITY_TOKEN,
                ],
            ),
            "sts" | "ram_role" => {
                let sts_endpoint = self.endpoint(keys::STS_ENDPOINT, Scheme::Https)?;
                (
                    KmsIdentity::RamRoleArn {
                        access_key_id: require(keys::ACCESS_KEY_ID)?,
                        access_key_secret: require_secret(keys::ACCESS_SECRET)?,
                        role_arn: require(keys::ROLE_ARN)?,
                        role_session_name: require(keys::ROLE_SESSION_NAME)?,
                        policy: self.string(keys::POLICY),
                        duration: self
                            .number::<u64>(
                                keys::DURATION_SECONDS,
                                "a whole number of seconds, e.g. 3600",
                            )?
                            .map(Duration::from_secs),
                        sts_endpoint,
                    },
                    &[
                        keys::ACCESS_KEY_ID,
                        keys::ACCESS_SECRET,
                        keys::ROLE_ARN,
                        keys::ROLE_SESSION_NAME,
                        keys::POLICY,
                        keys::DURATION_SECONDS,
                        keys::STS_ENDPOINT,
                    ],
                )
            }
            "oidc_role_arn" => {
                let sts_endpoint = self.endpoint(keys::STS_ENDPOINT, Scheme::Https)?;
                (
                    KmsIdentity::OidcRoleArn {
                        role_arn: self.string(keys::ROLE_ARN),
                        oidc_provider_arn: self.string(keys::OIDC_PROVIDER_ARN),
                        oidc_token_file: self.path(keys::OIDC_TOKEN_FILE_PATH),
                        role_session_name: self.string(keys::ROLE_SESSION_NAME),
                        policy: self.string(keys::POLICY),
                        duration: self
                            .number::<u64>(
                                keys::DURATION_SECONDS,
                                "a whole number of seconds from 900 to 43200, e.g. 3600",
                            )?
                            .map(Duration::from_secs),
                        sts_region_id: self.string(keys::STS_REGION_ID),
                        sts_vpc: self.boolean(keys::STS_VPC)?,
                        sts_endpoint,
                    },
                    &[
                        keys::ROLE_ARN,
                        keys::OIDC_PROVIDER_ARN,
                        keys::OIDC_TOKEN_FILE_PATH,
                        keys::ROLE_SESSION_NAME,
                        keys::POLICY,
                        keys::DURATION_SECONDS,
                        keys::STS_REGION_ID,
                        keys::STS_VPC,
                        keys::STS_ENDPOINT,
                    ],
                )
            }
            "ecs_ram_role" => {
                let metadata_endpoint = self.endpoint(keys::ECS_METADATA_ENDPOINT, Scheme::Http)?;
                (
                    KmsIdentity::EcsRamRole {
                        role_name: self.string(keys::ROLE_NAME),
                        metadata_endpoint,
                    },
                    &[keys::ROLE_NAME, keys::ECS_METADATA_ENDPOINT],
                )
            }
            _ => {
                return Err(ConfigError::UnknownCredentialsType {
                    at: self.at(keys::CREDENTIALS_TYPE),
                    value: ty.to_owned(),
                })
            }
        };
        for key in CREDENTIAL_KEYS {
            if used.contains(key) {
                continue;
            }
            if let Some(line) = self.line(key) {
                tracing::warn!(
                    origin = self.origin,
                    line,
                    key,
                    "{}, line {line}: `{key}` is ignored because credentials_type is `{ty_lower}`",
                    self.origin
                );
            }
        }
        Ok(Some(credential))
    }

    /// Top-level ClientKey password sources: file, named env var, `client_key_password`.
    fn top_level_password_sources(&self) -> PasswordSources {
        let mut sources = Vec::new();
        if let Some(p) = self.path(keys::PASSWORD_FILE) {
            sources.push(PasswordSource::File(p));
        }
        if let Some(name) = self.string(keys::PASSWORD_ENV) {
            sources.push(PasswordSource::EnvVar(name));
        }
        sources.push(PasswordSource::EnvVar(
            keys::DEFAULT_PASSWORD_ENV.to_owned(),
        ));
        sources
    }

    // ---- JSON lists ----

    fn json_list(&self, key: &str, example: &str) -> Result<Option<JsonList>, ConfigError> {
        let Some(text) = self.get(key) else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::InvalidJson {
            at: self.at(key),
            problem: format!(
                // Position only: serde_json messages may quote the input (inline keys).
                "not valid JSON ({:?} error at line {} column {}); the value must be a JSON list such as {example}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
        match value {
            Value::Array(items) => Ok(Some(JsonList(items))),
            mut other => {
                let kind = json_kind(&other);
                zeroize_json(&mut other);
                Err(ConfigError::InvalidJson {
                    at: self.at(key),
                    problem: format!("expected a JSON list such as {example}, found {kind}; wrap the entries in [ ]"),
                })
            }
        }
    }

    fn entries<'v>(
        &self,
        key: &str,
        list: &'v JsonList,
        fields: &[&str],
    ) -> Result<Vec<Entry<'v>>, ConfigError> {
        let mut out = Vec::new();
        for (i, item) in list.0.iter().enumerate() {
            let entry = i + 1;
            let Value::Object(map) = item else {
                return Err(ConfigError::InvalidJson {
                    at: self.at(key).with_entry(entry),
                    problem: format!("expected a JSON object {{...}}, found {}", json_kind(item)),
                });
            };
            for name in map.keys() {
                if fields.contains(&name.as_str()) {
                    continue;
                }
                let line = self.line(key).unwrap_or(0);
                if SDK_INHERITED_FIELDS.contains(&name.as_str()) {
                    tracing::warn!(
                        origin = self.origin,
                        line,
                        key,
                        entry,
                        field = %name,
                        "{}, line {line}, key `{key}`, entry {entry}: field `{name}` is not supported by this client and is ignored",
                        self.origin
                    );
                } else {
                    tracing::warn!(
                        origin = self.origin,
                        line,
                        key,
                        entry,
                        field = %name,
                        "{}, line {line}, key `{key}`, entry {entry}: unknown field `{name}` is ignored{}",
                        self.origin,
                        did_you_mean(name, fields)
                    );
                }
            }
            out.push((entry, map));
        }
        Ok(out)
    }

    fn str_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<String>, ConfigError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                Ok((!s.is_empty()).then(|| s.to_owned()))
            }
            Some(other) => Err(ConfigError::InvalidJson {
                at: self.at(key).with_entry(entry).with_field(field),
                problem: format!("expected a string, found {}", json_kind(other)),
            }),
        }
    }

    fn bool_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<bool>, ConfigError> {
        let at = || self.at(key).with_entry(entry).with_field(field);
        match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => {
                parse_bool(s.trim())
                    .map(Some)
                    .ok_or_else(|| ConfigError::InvalidBool {
                        at: at(),
                        value: s.clone(),
                    })
            }
            Some(other) => Err(ConfigError::InvalidJson {
                at: at(),
                problem: format!(
                    "expected a boolean (true or false), found {}",
                    json_kind(other)
                ),
            }),
        }
    }

    fn endpoint_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
    ) -> Result<Option<super::types::Endpoint>, ConfigError> {
        match self.str_field(key, entry, map, "endpoint")? {
            None => Ok(None),
            Some(v) => parse_endpoint(&v, Scheme::Https)
                .map(Some)
                .map_err(|problem| ConfigError::InvalidEndpoint {
                    at: self.at(key).with_entry(entry).with_field("endpoint"),
                    value: v,
                    problem,
                }),
        }
    }

    fn connect_to_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        match self.str_field(key, entry, map, "connectTo")? {
            None => Ok(None),
            Some(v) => {
                parse_connect_to(&v)
                    .map(Some)
                    .map_err(|problem| ConfigError::InvalidValue {
                        at: self.at(key).with_entry(entry).with_field("connectTo"),
                        problem: format!("`{v}` is not valid: {problem}"),
                    })
            }
        }
    }

    fn gateways(&self) -> Result<Vec<GatewayEndpointConfig>, ConfigError> {
        let key = keys::REGIONS;
        let Some(list) = self.json_list(key, r#"[{"regionId":"cn-hangzhou"}]"#)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (entry, map) in self.entries(key, &list, keys::REGION_FIELDS)? {
            let at = |field: &str| self.at(key).with_entry(entry).with_field(field);
            let region_id = self
                .str_field(key, entry, map, "regionId")?
                .ok_or_else(|| ConfigError::MissingField {
                    at: at("regionId"),
                    hint: "every entry needs \"regionId\", e.g. {\"regionId\":\"cn-hangzhou\"}"
                        .into(),
                })?;
            if !valid_region_id(&region_id) {
                return Err(ConfigError::InvalidValue {
                    at: at("regionId"),
                    problem: format!("region id `{region_id}` may only contain letters, digits, `-` and `_`; write e.g. \"cn-hangzhou\""),
                });
            }
            let vpc = self.bool_field(key, entry, map, "vpc")?.unwrap_or(false);
            let endpoint = match self.endpoint_field(key, entry, map)? {
                Some(ep) => ep,
                None => gateway_endpoint(&region_id, vpc),
            };
            out.push(GatewayEndpointConfig {
                region_id,
                endpoint,
                vpc,
                ca_file: self
                    .str_field(key, entry, map, "caFilePath")?
                    .map(|p| self.resolve(&p)),
                connect_to: self.connect_to_field(key, entry, map)?,
                signature: self.signature_field(key, entry, map)?,
            });
        }
        Ok(out)
    }

    /// Our `signatureVersion` field: `"v1"` (RPC signature 1.0) or `"v3"` (`ACS3-HMAC-SHA256`).
    fn signature_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
    ) -> Result<Option<GatewaySignature>, ConfigError> {
        match self.str_field(key, entry, map, "signatureVersion")? {
            None => Ok(None),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "v1" => Ok(Some(GatewaySignature::RpcV1)),
                "v3" => Ok(Some(GatewaySignature::Acs3HmacSha256)),
                _ => Err(ConfigError::InvalidValue {
                    at: self.at(key).with_entry(entry).with_field("signatureVersion"),
                    problem: format!("`{v}` is not a signature version; write \"v1\" (RPC signature 1.0, the v1 clients) or \"v3\" (ACS3-HMAC-SHA256, the v2 clients), or remove it for the default"),
                }),
            },
        }
    }

    fn instances(
        &self,
        referenced: &mut HashSet<String>,
    ) -> Result<Vec<InstanceEndpointConfig>, ConfigError> {
        let key = keys::DKMS;
        let example = r#"[{"regionId":"cn-hangzhou","endpoint":"kst-xxx.cryptoservice.kms.aliyuncs.com","clientKeyFile":"clientKey.json","passwordFromFilePath":"clientKey_Password.txt","caFilePath":"PrivateKmsCA.pem"}]"#;
        let Some(list) = self.json_list(key, example)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (entry, map) in self.entries(key, &list, keys::DKMS_FIELDS)? {
            let at = |field: &str| self.at(key).with_entry(entry).with_field(field);
            let region_id = self
                .str_field(key, entry, map, "regionId")?
                .ok_or_else(|| ConfigError::MissingField {
                    at: at("regionId"),
                    hint: "set \"regionId\" to the instance's region, e.g. \"cn-hangzhou\"".into(),
                })?;
            let endpoint = self.endpoint_field(key, entry, map)?.ok_or_else(|| {
                ConfigError::MissingField {
                    at: at("endpoint"),
                    hint: "set \"endpoint\" to the instance endpoint, e.g. \"kst-hzz6xxxxxxxx.cryptoservice.kms.aliyuncs.com\"".into(),
                }
            })?;
            let client_key = self.client_key_field(key, entry, map)?;
            let password = self.entry_password_sources(key, entry, map, referenced)?;
            let ignore_ssl_certs = self
                .bool_field(key, entry, map, "ignoreSslCerts")?
                .unwrap_or(false);
            let ca_file = self
                .str_field(key, entry, map, "caFilePath")?
                .map(|p| self.resolve(&p));
            out.push(InstanceEndpointConfig {
                region_id,
                endpoint,
                client_key,
                password,
                ca_file,
                ignore_ssl_certs,
                connect_to: self.connect_to_field(key, entry, map)?,
            });
        }
        Ok(out)
    }

    /// `clientKeyFile`, or `clientKeyContent` (a string or an inline object), or the top-level
    /// `client_key_private_key_path` as fallback.
    fn client_key_field(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
    ) -> Result<ClientKeySource, ConfigError> {
        let at = |field: &str| self.at(key).with_entry(entry).with_field(field);
        let file = self.str_field(key, entry, map, "clientKeyFile")?;
        let content = match map.get("clientKeyContent") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(SecretString::new(s.as_str())),
            Some(obj @ Value::Object(_)) => Some(SecretString::new(obj.to_string())),
            Some(other) => {
                return Err(ConfigError::InvalidJson {
                    at: at("clientKeyContent"),
                    problem: format!(
                        "expected the ClientKey JSON as a string or an object, found {}",
                        json_kind(other)
                    ),
                })
            }
        };
        match (file, content) {
            (Some(_), Some(_)) => Err(ConfigError::InvalidValue {
                at: at("clientKeyContent"),
                problem: "both \"clientKeyFile\" and \"clientKeyContent\" are set; keep only one".into(),
            }),
            (Some(file), None) => Ok(ClientKeySource::File(self.resolve(&file))),
            (None, Some(content)) => Ok(ClientKeySource::Inline(content)),
            (None, None) => match self.path(keys::PRIVATE_KEY_PATH) {
                Some(path) => {
                    tracing::debug!(
                        origin = self.origin,
                        entry,
                        "{key} entry {entry}: no clientKeyFile, using client_key_private_key_path"
                    );
                    Ok(ClientKeySource::File(path))
                }
                None => Err(ConfigError::MissingField {
                    at: at("clientKeyFile"),
                    hint: "set \"clientKeyFile\" to the ClientKey JSON of the application access point (or set client_key_private_key_path at the top level)".into(),
                }),
            },
        }
    }

    /// Entry sources first (file, env var, `passwordFromFilePathName`'s file), then the
    /// top-level ones (file, env var, `client_key_password`).
    fn entry_password_sources(
        &self,
        key: &str,
        entry: usize,
        map: &Map<String, Value>,
        referenced: &mut HashSet<String>,
    ) -> Result<PasswordSources, ConfigError> {
        let mut sources = Vec::new();
        if let Some(p) = self.str_field(key, entry, map, "passwordFromFilePath")? {
            sources.push(PasswordSource::File(self.resolve(&p)));
        }
        if let Some(name) = self.str_field(key, entry, map, "passwordFromEnvVariable")? {
            sources.push(PasswordSource::EnvVar(name));
        }
        if let Some(name) = self.str_field(key, entry, map, "passwordFromFilePathName")? {
            match self.path(&name) {
                Some(p) => {
                    referenced.insert(name);
                    sources.push(PasswordSource::File(p));
                }
                None => {
                    return Err(ConfigError::InvalidValue {
                        at: self.at(key).with_entry(entry).with_field("passwordFromFilePathName"),
                        problem: format!("names the key `{name}`, which is not set in this file; add a line `{name}=<path of the password file>` or use \"passwordFromFilePath\""),
                    })
                }
            }
        }
        sources.extend(self.top_level_password_sources());
        Ok(sources)
    }

    // ---- our keys ----

    fn http(&self) -> Result<HttpConfig, ConfigError> {
        let mut http = HttpConfig::default();
        if let Some(d) = self.millis(keys::CONNECT_TIMEOUT_MS)? {
            http.connect_timeout = d;
        }
        if let Some(d) = self.millis(keys::REQUEST_TIMEOUT_MS)? {
            http.request_timeout = d;
        }
        if let Some(n) = self.number(
            keys::MAX_RESPONSE_BYTES,
            "a whole number of bytes, e.g. 1048576",
        )? {
            http.max_response_bytes = n;
        }
        if let Some(n) = self.number(
            keys::MAX_ATTEMPTS,
            "a whole number of attempts (at least 1), e.g. 4",
        )? {
            http.retry.max_attempts = n;
        }
        if let Some(d) = self.millis(keys::RETRY_BASE_DELAY_MS)? {
            http.retry.base_delay = d;
        }
        if let Some(d) = self.millis(keys::RETRY_MAX_DELAY_MS)? {
            http.retry.max_delay = d;
        }
        Ok(http)
    }

    /// `ours` wins over the MCP key `mcp` when both are set.
    fn millis_either(&self, ours: &str, mcp: &str) -> Result<Option<Duration>, ConfigError> {
        let a = self.millis(ours)?;
        let b = self.millis(mcp)?;
        if a.is_some() && b.is_some() {
            tracing::warn!(
                origin = self.origin,
                "{}: both `{ours}` and `{mcp}` are set; `{ours}` is used",
                self.origin
            );
        }
        Ok(a.or(b))
    }

    fn refresh(&self) -> Result<RefreshConfig, ConfigError> {
        let mut r = RefreshConfig::default();
        if let Some(d) =
            self.millis_either(keys::REFRESH_MAX_INTERVAL_MS, keys::ROTATION_INTERVAL)?
        {
            r.max_interval = d;
        }
        if let Some(d) =
            self.millis_either(keys::REFRESH_ROTATION_DELAY_MS, keys::DELAY_INTERVAL)?
        {
            r.rotation_delay = d;
        }
        if let Some(d) = self.millis(keys::REFRESH_EXPIRY_BUFFER_MS)? {
            r.expiry_buffer = d;
        }
        if let Some(d) = self.millis(keys::REFRESH_JITTER_MS)? {
            r.jitter = d;
        }
        if let Some(d) = self.millis(keys::MAX_STALENESS_MS)? {
            r.max_staleness = Some(d);
        }
        if let Some(d) = self.millis(keys::REFRESH_RETRY_BASE_MS)? {
            r.retry_base = d;
        }
        if let Some(d) = self.millis(keys::REFRESH_RETRY_MAX_MS)? {
            r.retry_max = d;
        }
        if let Some(codes) = self.list(keys::REJECTED_KEY_ERROR_CODES) {
            r.rejected_key_codes = codes;
        }
        if let Some(n) = self.number(
            keys::FORCED_REFRESH_BURST,
            "a whole number (at least 1), e.g. 5",
        )? {
            r.forced_refresh_burst = n;
        }
        if let Some(d) = self.millis(keys::FORCED_REFRESH_PERIOD_MS)? {
            r.forced_refresh_period = d;
        }
        if let Some(b) = self.boolean(keys::PREFETCH_FAIL_FAST)? {
            r.prefetch_fail_fast = b;
        }
        if let Some(d) = self.millis(keys::HEDGE_DELAY_MS)? {
            r.hedge_delay = d;
        }
        Ok(r)
    }

    /// Logs which keys were read (debug), which are ignored and which are unknown (warn).
    fn report_keys(&self, referenced: &HashSet<String>) {
        for p in self.props.iter() {
            let key = p.key.as_str();
            let line = p.line;
            if key == keys::MONITOR_PERIOD || key == keys::MONITOR_CUSTOMER {
                tracing::debug!(origin = self.origin, line, key, "`{key}` is accepted for compatibility and ignored (this client has no AK monitor thread)");
            } else if keys::KNOWN_KEYS.contains(&key) || referenced.contains(key) {
                tracing::debug!(origin = self.origin, line, key, "configuration key set");
            } else if key == keys::DEFAULT_PASSWORD_ENV {
                tracing::warn!(origin = self.origin, line, key, "{}, line {line}: `{key}` is read only from the environment, never from the file; it is ignored here (use client_key_password_from_file_path)", self.origin);
            } else {
                tracing::warn!(
                    origin = self.origin,
                    line,
                    key,
                    "{}, line {line}: unknown key `{key}` is ignored{}",
                    self.origin,
                    did_you_mean(key, keys::KNOWN_KEYS)
                );
            }
        }
    }
}
