//! Caller credentials for the shared gateway: turns a configured [`KmsIdentity`] into the
//! [`SigningKey`] of the next request. ClientKey, AccessKey and STS token are static; a
//! RAM role ARN (STS `AssumeRole`), an ECS RAM role (instance metadata service, IMDSv2 with
//! v1 fallback) and an OIDC role (RRSA, STS `AssumeRoleWithOIDC`, see [`super::oidc`]) give
//! temporary credentials that are cached, fetched by one caller at a time (single-flight) and
//! refreshed a jittered margin before their `Expiration`. While a refresh fails the current
//! session keeps being served until shortly before it expires, with growing pauses between
//! attempts; when KMS refuses a session ([`IdentitySession::invalidate_if_rejected`]) it is
//! dropped at once so the next request makes one new fetch (the gateway client sends the refused
//! request once more right away).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::RootCertStore;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::connection::{self, Answer};
use super::oidc::{self, AssumeRoleWithOidc};
use super::response::decode_error;
use super::signing::{
    format_timestamp, new_nonce, percent_encode, rpc_params, sign_params, RpcCall, SigningKey,
};
use crate::config::{Endpoint, HttpConfig, KmsIdentity, SecretString};
use crate::identity::ClientKey;
use crate::kms::KmsError;

/// Default STS endpoint for `AssumeRole`.
pub(crate) const DEFAULT_STS_HOST: &str = "sts.aliyuncs.com";
/// Default ECS metadata service address (plain HTTP, as on a real instance).
pub(crate) const DEFAULT_METADATA_HOST: &str = "100.100.100.200";
/// STS API version of `AssumeRole`.
pub(crate) const STS_API_VERSION: &str = "2015-04-01";
/// Session duration asked of STS when none is configured (the official clients' 3600 s).
pub(crate) const DEFAULT_ROLE_SESSION: Duration = Duration::from_secs(3600);
/// Temporary credentials are refreshed this long before `Expiration` (the credentials SDK's
/// 15 minutes), but never earlier than half-way through their lifetime.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(15 * 60);
/// Each session's refresh is moved earlier by a random part of its margin, up to this fraction
/// (1/30: at most 30 s of the 15 minutes), so that pods started together do not all call STS in
/// the same second.
const REFRESH_JITTER_DIVISOR: u32 = 30;
/// Temporary credentials stop being used this long before `Expiration` (at most a tenth of
/// their lifetime), so a request signed just before expiry does not arrive after it.
pub(crate) const EXPIRY_SAFETY: Duration = Duration::from_secs(60);
/// After a failed refresh while the old credentials are still valid, wait this long before
/// trying again (the old credentials keep being used meanwhile); doubled after each further
/// failure up to [`FAILED_REFRESH_MAX_PAUSE`], with jitter, never past the expiry.
pub(crate) const FAILED_REFRESH_PAUSE: Duration = Duration::from_secs(30);
/// Longest pause between failed refreshes.
pub(crate) const FAILED_REFRESH_MAX_PAUSE: Duration = Duration::from_secs(5 * 60);
/// Role session name when none is configured for `oidc_role_arn` (followed by `-<unix s>` like
/// the official `credentials-python-<unix s>`).
const DEFAULT_OIDC_SESSION_PREFIX: &str = "aliyun-managed-credentials";
/// How to get the `ALIBABA_CLOUD_*` fallbacks applied to an `oidc_role_arn` identity.
const UNRESOLVED_OIDC_HINT: &str = "build the configuration with ConfigBuilder::build or load it from a file, so that the ALIBABA_CLOUD_* environment fallbacks are applied";
/// KMS error codes saying the credential a request was signed with is not (or no longer)
/// accepted: a temporary session is then dropped and fetched again. Not
/// `SignatureDoesNotMatch`: a revoked or expired session is answered with these codes, while a
/// signature mismatch (a proxy rewriting a signed header, a wrong `Host`) would be refused again
/// with every new session, costing an STS call per request for nothing.
const REJECTED_SESSION_CODES: &[&str] = &["InvalidSecurityToken", "InvalidAccessKeyId"];
/// `X-aliyun-ecs-metadata-token-ttl-seconds` asked for IMDSv2 tokens.
pub(crate) const METADATA_TOKEN_TTL_SECONDS: u32 = 21600;

/// The KMS identity provider shared by every gateway client of one configuration.
pub(crate) struct IdentitySession {
    kind: Kind,
}

enum Kind {
    Static(Arc<SigningKey>),
    Refreshing(Box<Refresher>),
}

impl std::fmt::Debug for IdentitySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Static(credential) => f
                .debug_struct("IdentitySession")
                .field("static", credential)
                .finish(),
            Kind::Refreshing(refresher) => f
                .debug_struct("IdentitySession")
                .field("source", &refresher.source.describe())
                .finish_non_exhaustive(),
        }
    }
}

impl IdentitySession {
    /// Prepares the credentials: loads a ClientKey (with its password) now; role credentials are
    /// fetched on first use. `region_id` is sent as `RegionId` to STS; `ca_file` adds trust
    /// anchors for STS (as for the gateway); timeouts and body cap come from `http`.
    pub(crate) fn new(
        credential: &KmsIdentity,
        region_id: &str,
        http: &HttpConfig,
        ca_file: Option<&Path>,
    ) -> Result<Self, crate::Error> {
        let roots = match credential {
            KmsIdentity::RamRoleArn { .. }
            | KmsIdentity::EcsRamRole { .. }
            | KmsIdentity::OidcRoleArn { .. } => Some(
                connection::trust_roots(ca_file, "the KMS identity (STS)").map_err(|detail| {
                    KmsError::Request {
                        endpoint: DEFAULT_STS_HOST.into(),
                        detail,
                    }
                })?,
            ),
            _ => None,
        };
        Self::with_roots(credential, region_id, http, roots)
    }

    pub(crate) fn with_roots(
        credential: &KmsIdentity,
        region_id: &str,
        http: &HttpConfig,
        roots: Option<Arc<RootCertStore>>,
    ) -> Result<Self, crate::Error> {
        let roots = roots.unwrap_or_else(|| Arc::new(RootCertStore::empty()));
        let kind = match credential {
            KmsIdentity::ClientKey { key, password } => {
                let key = ClientKey::load(key, password)?;
                Kind::Static(Arc::new(SigningKey::ClientKey(key)))
            }
            KmsIdentity::AccessKey {
                access_key_id,
                access_key_secret,
            } => Kind::Static(Arc::new(SigningKey::Hmac {
                access_key_id: non_empty(access_key_id, "credentials_access_key_id")?,
                access_key_secret: non_empty_secret(
                    access_key_secret,
                    "credentials_access_secret",
                )?,
                security_token: None,
            })),
            KmsIdentity::StsToken {
                access_key_id,
                access_key_secret,
                security_token,
            } => Kind::Static(Arc::new(SigningKey::Hmac {
                access_key_id: non_empty(access_key_id, "credentials_access_key_id")?,
                access_key_secret: non_empty_secret(
                    access_key_secret,
                    "credentials_access_secret",
                )?,
                security_token: Some(non_empty_secret(
                    security_token,
                    "credentials_security_token",
                )?),
            })),
            KmsIdentity::RamRoleArn {
                access_key_id,
                access_key_secret,
                role_arn,
                role_session_name,
                policy,
                duration,
                sts_endpoint,
            } => {
                let endpoint = sts_endpoint.clone().unwrap_or(Endpoint {
                    host: DEFAULT_STS_HOST.into(),
                    port: 443,
                });
                let (url, client) =
                    source_client(&endpoint, "https", "STS endpoint", &roots, http, true)?;
                let role_arn = non_empty(role_arn, "credentials_role_arn")?;
                let role_session_name = if role_session_name.trim().is_empty() {
                    "aliyun-managed-credentials-rust".to_owned()
                } else {
                    role_session_name.clone()
                };
                Kind::Refreshing(Box::new(Refresher::new(Source::AssumeRole(AssumeRole {
                    client,
                    url,
                    endpoint: endpoint.to_string(),
                    caller: SigningKey::Hmac {
                        access_key_id: non_empty(access_key_id, "credentials_access_key_id")?,
                        access_key_secret: non_empty_secret(
                            access_key_secret,
                            "credentials_access_secret",
                        )?,
                        security_token: None,
                    },
                    role_arn,
                    role_session_name,
                    policy: policy.clone(),
                    duration: duration.unwrap_or(DEFAULT_ROLE_SESSION),
                    region_id: region_id.to_owned(),
                    max_response_bytes: http.max_response_bytes,
                }))))
            }
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
                let missing = |what: &str| KmsError::Request {
                    endpoint: "KMS identity".into(),
                    detail: format!("{what} is not set for oidc_role_arn; {UNRESOLVED_OIDC_HINT}"),
                };
                let endpoint = oidc::sts_endpoint(
                    sts_endpoint.as_ref(),
                    sts_region_id.as_deref(),
                    sts_vpc.unwrap_or(false),
                )
                .map_err(|detail| KmsError::Request {
                    endpoint: "STS".into(),
                    detail,
                })?;
                let (url, client) =
                    source_client(&endpoint, "https", "STS endpoint", &roots, http, true)?;
                let role_session_name = match role_session_name.as_deref().map(str::trim) {
                    Some(name) if !name.is_empty() => name.to_owned(),
                    _ => format!(
                        "{DEFAULT_OIDC_SESSION_PREFIX}-{}",
                        SystemTime::now()
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0)
                    ),
                };
                Kind::Refreshing(Box::new(Refresher::new(Source::Oidc(AssumeRoleWithOidc {
                    client,
                    url,
                    endpoint: endpoint.to_string(),
                    role_arn: non_empty(
                        role_arn
                            .as_deref()
                            .ok_or_else(|| missing("credentials_role_arn"))?,
                        "credentials_role_arn",
                    )?,
                    oidc_provider_arn: non_empty(
                        oidc_provider_arn
                            .as_deref()
                            .ok_or_else(|| missing("credentials_oidc_provider_arn"))?,
                        "credentials_oidc_provider_arn",
                    )?,
                    token_file: oidc_token_file
                        .clone()
                        .filter(|p| !p.as_os_str().is_empty())
                        .ok_or_else(|| missing("credentials_oidc_token_file_path"))?,
                    role_session_name,
                    policy: policy.clone(),
                    duration: duration.unwrap_or(DEFAULT_ROLE_SESSION),
                    max_response_bytes: http.max_response_bytes,
                }))))
            }
            KmsIdentity::EcsRamRole {
                role_name,
                metadata_endpoint,
            } => {
                let endpoint = metadata_endpoint.clone().unwrap_or(Endpoint {
                    host: DEFAULT_METADATA_HOST.into(),
                    port: 80,
                });
                let (url, client) = source_client(
                    &endpoint,
                    "http",
                    "ECS metadata endpoint",
                    &roots,
                    http,
                    false,
                )?;
                Kind::Refreshing(Box::new(Refresher::new(Source::Ecs(EcsMetadata {
                    client,
                    url,
                    endpoint: endpoint.to_string(),
                    role_name: role_name.clone().filter(|r| !r.trim().is_empty()),
                    max_response_bytes: http.max_response_bytes,
                }))))
            }
        };
        Ok(Self { kind })
    }

    /// The credential to sign the next request with; fetches or refreshes role credentials
    /// when they are missing or within the refresh margin of their expiry.
    pub(crate) async fn current(&self) -> Result<Arc<SigningKey>, KmsError> {
        match &self.kind {
            Kind::Static(credential) => Ok(credential.clone()),
            Kind::Refreshing(refresher) => refresher.current().await,
        }
    }

    /// Whether `error` refused a temporary session that this identity renews (the refused one
    /// is dropped by [`invalidate_if_rejected`](Self::invalidate_if_rejected), by this request
    /// or a concurrent one): sending the request again gets a new session.
    pub(crate) fn renews_after(&self, error: &KmsError) -> bool {
        matches!(self.kind, Kind::Refreshing(_))
            && error.code().is_some_and(is_rejected_session_code)
    }

    /// Call after KMS refused a request signed with `used`. When `error` says the credential
    /// is not accepted (`InvalidSecurityToken.*`, `InvalidAccessKeyId.*`) and `used` is still
    /// the cached temporary session, the session
    /// is dropped so that the next [`current`](Self::current) fetches a new one — one fetch
    /// however many concurrent requests saw the refusal. Static identities (AccessKey, STS
    /// token, ClientKey) cannot be renewed and are left alone. Returns whether a session was
    /// dropped.
    pub(crate) fn invalidate_if_rejected(&self, used: &Arc<SigningKey>, error: &KmsError) -> bool {
        let Kind::Refreshing(refresher) = &self.kind else {
            return false;
        };
        let Some(code) = error.code().filter(|code| is_rejected_session_code(code)) else {
            return false;
        };
        let dropped = refresher.invalidate(used);
        if dropped {
            tracing::warn!(
                source = %refresher.source.describe(),
                access_key_id = used.access_key_id(),
                code,
                "KMS refused the caller's temporary credentials; they are dropped and the request is sent again with new ones"
            );
        }
        dropped
    }
}

fn non_empty(value: &str, key: &str) -> Result<String, KmsError> {
    if value.trim().is_empty() {
        return Err(KmsError::Request {
            endpoint: "KMS identity".into(),
            detail: format!("{key} is empty; set it in the configuration"),
        });
    }
    Ok(value.to_owned())
}

fn non_empty_secret(value: &SecretString, key: &str) -> Result<SecretString, KmsError> {
    if value.expose().trim().is_empty() {
        return Err(KmsError::Request {
            endpoint: "KMS identity".into(),
            detail: format!("{key} is empty; set it in the configuration"),
        });
    }
    Ok(value.clone())
}

/// Whether a KMS error code says the signing credential is not accepted: one of
/// [`REJECTED_SESSION_CODES`] or a sub-code of it (`InvalidSecurityToken.Expired`).
fn is_rejected_session_code(code: &str) -> bool {
    REJECTED_SESSION_CODES.iter().any(|prefix| {
        code == *prefix
            || code
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Temporary credentials as returned by STS or the metadata service.
pub(crate) struct Temporary {
    access_key_id: String,
    access_key_secret: SecretString,
    security_token: SecretString,
    expiration: SystemTime,
}

#[cfg(test)]
impl Temporary {
    pub(crate) fn expiration_for_tests(&self) -> SystemTime {
        self.expiration
    }
    pub(crate) fn access_key_id_for_tests(&self) -> &str {
        &self.access_key_id
    }
}

/// Temporary credentials ready to sign with, and when to replace them.
pub(crate) struct Cached {
    credential: Arc<SigningKey>,
    /// When to fetch new credentials (monotonic clock, so paused-time tests work and wall-clock
    /// jumps after the fetch do not matter).
    refresh_at: Instant,
    /// After this the credentials must not be used any more ([`EXPIRY_SAFETY`] before
    /// `Expiration`).
    expires_at: Instant,
    /// Consecutive failed refreshes (for the growing pause).
    failures: u32,
}

struct Refresher {
    source: Source,
    /// The current session. Locked only for short, synchronous sections.
    cached: std::sync::Mutex<Option<Cached>>,
    /// Held by the one caller that is fetching from the source (single-flight).
    fetching: tokio::sync::Mutex<()>,
}

/// What the cache says about now.
enum Lookup {
    /// Fresh: use it.
    Fresh(Arc<SigningKey>),
    /// Due for refresh but still valid: refresh, or use it while another caller refreshes.
    Due(Arc<SigningKey>),
    /// Nothing usable.
    Missing,
}

impl Refresher {
    fn new(source: Source) -> Self {
        Self {
            source,
            cached: std::sync::Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, now: Instant) -> Lookup {
        match self.cached().as_ref() {
            Some(c) if now < c.refresh_at => Lookup::Fresh(c.credential.clone()),
            Some(c) if now < c.expires_at => Lookup::Due(c.credential.clone()),
            _ => Lookup::Missing,
        }
    }

    async fn current(&self) -> Result<Arc<SigningKey>, KmsError> {
        let _fetching = match self.lookup(Instant::now()) {
            Lookup::Fresh(credential) => return Ok(credential),
            // One caller refreshes; the others keep signing with the still-valid session
            // instead of queueing behind the STS call.
            Lookup::Due(credential) => match self.fetching.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(credential),
            },
            Lookup::Missing => self.fetching.lock().await,
        };
        // Another caller may have fetched while this one waited for the lock.
        let now = Instant::now();
        if let Lookup::Fresh(credential) = self.lookup(now) {
            return Ok(credential);
        }
        let fetched = self
            .source
            .fetch()
            .await
            .and_then(|temporary| cache(temporary, now, self.source.describe()));
        // The fetch may have taken a while (ECS: up to three calls): whether the current session
        // is still usable is judged at its end.
        let after = Instant::now();
        let mut cached = self.cached();
        match fetched {
            Ok(fresh) => {
                let credential = fresh.credential.clone();
                tracing::debug!(
                    source = %self.source.describe(),
                    access_key_id = credential.access_key_id(),
                    refresh_in_s = fresh.refresh_at.saturating_duration_since(now).as_secs(),
                    "fetched caller temporary credentials"
                );
                *cached = Some(fresh);
                Ok(credential)
            }
            Err(error) => match cached.as_mut() {
                Some(c) if after < c.expires_at => {
                    c.failures = c.failures.saturating_add(1);
                    let pause = failed_refresh_pause(c.failures, &mut rand::rng());
                    c.refresh_at = (after + pause).min(c.expires_at);
                    tracing::warn!(
                        source = %self.source.describe(),
                        error = %error,
                        failures = c.failures,
                        retry_in_s = c.refresh_at.saturating_duration_since(after).as_secs(),
                        valid_for_s = c.expires_at.saturating_duration_since(after).as_secs(),
                        "refreshing caller temporary credentials failed; using the current ones until they expire"
                    );
                    Ok(c.credential.clone())
                }
                _ => {
                    *cached = None;
                    Err(error)
                }
            },
        }
    }

    /// Drops the cached session if it is `used`; true if it was.
    fn invalidate(&self, used: &Arc<SigningKey>) -> bool {
        let mut cached = self.cached();
        if cached
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.credential, used))
        {
            *cached = None;
            return true;
        }
        false
    }
}

/// The pause after the `failures`-th consecutive failed refresh: [`FAILED_REFRESH_PAUSE`]
/// doubled per further failure, capped at [`FAILED_REFRESH_MAX_PAUSE`], then a random
/// 50–100 % of that.
pub(crate) fn failed_refresh_pause(failures: u32, rng: &mut impl rand::Rng) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(16))
        .unwrap_or(u32::MAX);
    let ceiling = FAILED_REFRESH_PAUSE
        .checked_mul(factor)
        .unwrap_or(FAILED_REFRESH_MAX_PAUSE)
        .min(FAILED_REFRESH_MAX_PAUSE);
    ceiling.mul_f64(rng.random_range(0.5..=1.0))
}

/// Converts fetched credentials into a cache entry: refresh [`REFRESH_MARGIN`] (at most half
/// the lifetime) plus a random jitter of up to 1/30 of that margin before expiry; stop using
/// them [`EXPIRY_SAFETY`] (at most a tenth of the lifetime) before expiry.
pub(crate) fn cache(
    temporary: Temporary,
    now: Instant,
    source: String,
) -> Result<Cached, KmsError> {
    let lifetime = temporary
        .expiration
        .duration_since(SystemTime::now())
        .map_err(|_| KmsError::InvalidResponse {
            endpoint: source.clone(),
            http_status: 200,
            detail: format!(
                "{source} returned credentials that already expired at {}; check the system clock",
                format_timestamp(temporary.expiration)
            ),
        })?;
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    let jitter = (margin / REFRESH_JITTER_DIVISOR).mul_f64(rand::random::<f64>());
    let safety = EXPIRY_SAFETY.min(lifetime / 10);
    Ok(Cached {
        credential: Arc::new(SigningKey::Hmac {
            access_key_id: temporary.access_key_id,
            access_key_secret: temporary.access_key_secret,
            security_token: Some(temporary.security_token),
        }),
        refresh_at: now + (lifetime - margin - jitter),
        expires_at: now + (lifetime - safety),
        failures: 0,
    })
}

enum Source {
    AssumeRole(AssumeRole),
    Ecs(EcsMetadata),
    Oidc(AssumeRoleWithOidc),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Self::Oidc(o) => o.describe(),
            Self::AssumeRole(a) => format!("STS AssumeRole of {} at {}", a.role_arn, a.endpoint),
            Self::Ecs(e) => format!(
                "ECS RAM role {} from the metadata service at {}",
                e.role_name.as_deref().unwrap_or("(discovered)"),
                e.endpoint
            ),
        }
    }

    async fn fetch(&self) -> Result<Temporary, KmsError> {
        match self {
            Self::AssumeRole(a) => a.fetch().await,
            Self::Ecs(e) => e.fetch().await,
            Self::Oidc(o) => o.fetch().await,
        }
    }
}

/// `Credentials` of an STS answer and of the metadata service (same member names).
#[derive(Deserialize)]
struct CredentialsJson {
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "AccessKeySecret")]
    access_key_secret: Option<Zeroizing<String>>,
    #[serde(rename = "SecurityToken")]
    security_token: Option<Zeroizing<String>>,
    #[serde(rename = "Expiration")]
    expiration: Option<String>,
}

#[derive(Deserialize)]
struct AssumeRoleJson {
    #[serde(rename = "Credentials")]
    credentials: Option<CredentialsJson>,
}

impl CredentialsJson {
    fn into_temporary(self, invalid: impl Fn(String) -> KmsError) -> Result<Temporary, KmsError> {
        let missing = |name: &str| invalid(format!("the answer has no {name}"));
        let access_key_id = self
            .access_key_id
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("AccessKeyId"))?;
        let access_key_secret = self
            .access_key_secret
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("AccessKeySecret"))?;
        let security_token = self
            .security_token
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing("SecurityToken"))?;
        let expiration_text = self.expiration.ok_or_else(|| missing("Expiration"))?;
        let expiration = OffsetDateTime::parse(&expiration_text, &Rfc3339)
            .map_err(|e| {
                invalid(format!(
                    "Expiration '{expiration_text}' is not an RFC 3339 UTC time ({e})"
                ))
            })?
            .into();
        Ok(Temporary {
            access_key_id,
            access_key_secret: SecretString::new(access_key_secret.as_str()),
            security_token: SecretString::new(security_token.as_str()),
            expiration,
        })
    }
}

/// The `Credentials` of a 2xx STS `AssumeRole` body. `invalid` builds the error naming the
/// endpoint and role. A function of the body alone so that it can be fuzzed.
pub(crate) fn parse_assume_role_answer(
    body: &[u8],
    invalid: impl Fn(String) -> KmsError,
) -> Result<Temporary, KmsError> {
    let parsed: AssumeRoleJson = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the answer is not JSON ({})", e.classify_text())))?;
    parsed
        .credentials
        .ok_or_else(|| invalid("the answer has no Credentials".into()))?
        .into_temporary(invalid)
}

/// The credentials of a 2xx ECS metadata `security-credentials/<role>` body (`Code` must be
/// `Success` when present). A function of the body alone so that it can be fuzzed.
pub(crate) fn parse_metadata_answer(
    body: &[u8],
    invalid: impl Fn(String) -> KmsError,
) -> Result<Temporary, KmsError> {
    let parsed: CredentialsJson = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the answer is not JSON ({})", e.classify_text())))?;
    if let Some(code) = parsed.code.as_deref().filter(|c| *c != "Success") {
        return Err(invalid(format!("Code is '{code}', not 'Success'")));
    }
    parsed.into_temporary(invalid)
}

/// STS `AssumeRole` over RPC signature v1 (HMAC-SHA1 with the caller AccessKey).
struct AssumeRole {
    client: reqwest::Client,
    url: reqwest::Url,
    endpoint: String,
    caller: SigningKey,
    role_arn: String,
    role_session_name: String,
    policy: Option<String>,
    duration: Duration,
    region_id: String,
    max_response_bytes: usize,
}

impl AssumeRole {
    async fn fetch(&self) -> Result<Temporary, KmsError> {
        let timestamp = format_timestamp(SystemTime::now());
        let nonce = new_nonce();
        let duration = self.duration.as_secs().to_string();
        let mut action = vec![
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.role_session_name.as_str()),
            ("DurationSeconds", duration.as_str()),
        ];
        if let Some(policy) = &self.policy {
            action.push(("Policy", policy.as_str()));
        }
        let call = RpcCall {
            action: "AssumeRole",
            version: STS_API_VERSION,
            region_id: &self.region_id,
            timestamp: &timestamp,
            nonce: &nonce,
        };
        let params = rpc_params(&call, &action, &self.caller);
        let signed = sign_params(&params, &self.caller).map_err(|e| KmsError::Request {
            endpoint: self.endpoint.clone(),
            detail: e.to_string(),
        })?;
        let mut url = self.url.clone();
        url.set_query(Some(&signed.query));
        let request = self
            .client
            .post(url)
            .header("x-acs-action", "AssumeRole")
            .header("x-acs-version", STS_API_VERSION)
            .header("content-length", "0");
        let answer = connection::send(
            request,
            &self.endpoint,
            "STS AssumeRole",
            "set caFilePath to the CA of a TLS-intercepting proxy if one is in the way",
            self.max_response_bytes,
        )
        .await?;
        let invalid = |detail: String| KmsError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            http_status: answer.status,
            detail: format!("STS AssumeRole of {}: {detail}", self.role_arn),
        };
        if !(200..300).contains(&answer.status) {
            return Err(self.refused(&answer));
        }
        parse_assume_role_answer(&answer.body, invalid)
    }

    fn refused(&self, answer: &Answer) -> KmsError {
        sts_refused(&self.endpoint, answer, |_, message| {
            format!(
                "STS AssumeRole of {} with AccessKey {} failed: {message}",
                self.role_arn,
                self.caller.access_key_id()
            )
        })
    }
}

/// The base URL and HTTP client of a session source (STS, ECS metadata) at `endpoint`; errors
/// name the endpoint and `what` it is.
fn source_client(
    endpoint: &Endpoint,
    scheme: &str,
    what: &str,
    roots: &Arc<RootCertStore>,
    http: &HttpConfig,
    use_proxy: bool,
) -> Result<(reqwest::Url, reqwest::Client), KmsError> {
    let request_error = |detail: String| KmsError::Request {
        endpoint: endpoint.to_string(),
        detail,
    };
    let url = connection::base_url(scheme, endpoint)
        .map_err(|e| request_error(format!("{what}: {e}")))?;
    let client = connection::build_client(roots, http, None, use_proxy).map_err(request_error)?;
    Ok((url, client))
}

/// An STS refusal as a typed service error, its message rewritten by `describe(code, message)`
/// to say which call failed and how to fix it (never with a secret or token).
pub(super) fn sts_refused(
    endpoint: &str,
    answer: &Answer,
    describe: impl FnOnce(&str, &str) -> String,
) -> KmsError {
    let mut error = decode_error(
        endpoint,
        "",
        answer.status,
        answer.content_type.as_deref(),
        answer.request_id.as_deref(),
        &answer.body,
    );
    if let KmsError::Service { message, code, .. } = &mut error {
        *message = describe(code, message);
    }
    error
}

/// The ECS instance metadata service: IMDSv2 token first, IMDSv1 when the token call fails.
struct EcsMetadata {
    client: reqwest::Client,
    url: reqwest::Url,
    endpoint: String,
    role_name: Option<String>,
    max_response_bytes: usize,
}

const CREDENTIALS_PATH: &str = "latest/meta-data/ram/security-credentials/";

impl EcsMetadata {
    async fn fetch(&self) -> Result<Temporary, KmsError> {
        let token = self.token().await;
        let role = match &self.role_name {
            Some(role) => role.clone(),
            None => {
                self.discover_role(token.as_ref().map(|t| t.as_str()))
                    .await?
            }
        };
        let path = format!("{CREDENTIALS_PATH}{}", percent_encode(&role));
        let answer = self.get(&path, token.as_ref().map(|t| t.as_str())).await?;
        let invalid = |detail: String| KmsError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            http_status: answer.status,
            detail: format!("ECS metadata credentials of role '{role}': {detail}"),
        };
        if !(200..300).contains(&answer.status) {
            return Err(invalid(format!(
                "HTTP {}; check credentials_role_name and that the role is attached to this instance",
                answer.status
            )));
        }
        parse_metadata_answer(&answer.body, invalid)
    }

    /// IMDSv2 session token; `None` (use IMDSv1) when the token endpoint fails.
    async fn token(&self) -> Option<Zeroizing<String>> {
        let url = self.url.join("latest/api/token").ok()?;
        let request = self
            .client
            .put(url)
            .header(
                "X-aliyun-ecs-metadata-token-ttl-seconds",
                METADATA_TOKEN_TTL_SECONDS.to_string(),
            )
            .header("content-length", "0");
        match connection::send(
            request,
            &self.endpoint,
            "ECS metadata token",
            "",
            self.max_response_bytes,
        )
        .await
        {
            Ok(answer) if (200..300).contains(&answer.status) => {
                let token = String::from_utf8(answer.body.to_vec()).ok()?;
                let token = Zeroizing::new(token.trim().to_owned());
                (!token.is_empty()).then_some(token)
            }
            Ok(answer) => {
                tracing::debug!(
                    endpoint = %self.endpoint,
                    status = answer.status,
                    "ECS metadata token (IMDSv2) refused; falling back to IMDSv1"
                );
                None
            }
            Err(error) => {
                tracing::debug!(endpoint = %self.endpoint, error = %error,
                    "ECS metadata token (IMDSv2) failed; falling back to IMDSv1");
                None
            }
        }
    }

    async fn discover_role(&self, token: Option<&str>) -> Result<String, KmsError> {
        let answer = self.get(CREDENTIALS_PATH, token).await?;
        let invalid = |detail: String| {
            KmsError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            http_status: answer.status,
            detail: format!(
                "discovering the ECS RAM role: {detail}; set credentials_role_name, or attach a RAM role to this instance"
            ),
        }
        };
        if !(200..300).contains(&answer.status) {
            return Err(invalid(format!("HTTP {}", answer.status)));
        }
        let text = std::str::from_utf8(&answer.body)
            .map_err(|_| invalid("the role list is not UTF-8".into()))?;
        let role = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| invalid("no role is attached".into()))?
            .to_owned();
        tracing::debug!(endpoint = %self.endpoint, role = %role, "discovered ECS RAM role");
        Ok(role)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Result<Answer, KmsError> {
        let url = self.url.join(path).map_err(|e| KmsError::Request {
            endpoint: self.endpoint.clone(),
            detail: format!("bad metadata path {path}: {e}"),
        })?;
        let mut request = self.client.get(url);
        if let Some(token) = token {
            request = request.header("X-aliyun-ecs-metadata-token", token);
        }
        connection::send(
            request,
            &self.endpoint,
            "ECS metadata service (is this an ECS instance with a RAM role?)",
            "",
            self.max_response_bytes,
        )
        .await
    }
}

/// serde_json's error category without the message (which may quote the body).
trait ClassifyText {
    fn classify_text(&self) -> String;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> String {
        let category = match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected type",
            serde_json::error::Category::Eof => "truncated",
        };
        format!(
            "{category} at line {} column {}",
            self.line(),
            self.column()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary(lifetime: Duration) -> Temporary {
        Temporary {
            access_key_id: "STS.test".into(),
            access_key_secret: "secret".into(),
            security_token: "token".into(),
            expiration: SystemTime::now() + lifetime,
        }
    }

    #[test]
    fn refresh_is_jittered_before_the_margin_and_use_stops_before_expiry() {
        let now = Instant::now();
        let mut refresh_offsets = std::collections::HashSet::new();
        for _ in 0..50 {
            let lifetime = Duration::from_secs(3600);
            let cached = cache(temporary(lifetime), now, "test".into()).unwrap();
            let refresh_in = cached.refresh_at - now;
            // Expiration is one wall-clock second coarse at most in this computation.
            assert!(refresh_in <= Duration::from_secs(45 * 60), "{refresh_in:?}");
            assert!(
                refresh_in >= Duration::from_secs(44 * 60 + 29),
                "{refresh_in:?}"
            );
            let expires_in = cached.expires_at - now;
            assert!(expires_in <= Duration::from_secs(59 * 60), "{expires_in:?}");
            assert!(
                expires_in >= Duration::from_secs(59 * 60 - 1),
                "{expires_in:?}"
            );
            refresh_offsets.insert(refresh_in.as_millis());
        }
        assert!(refresh_offsets.len() > 10, "refresh times must be spread");
        // A short session: refreshed half-way, used until a tenth before expiry.
        let cached = cache(temporary(Duration::from_secs(900)), now, "t".into()).unwrap();
        assert!(cached.refresh_at - now <= Duration::from_secs(450));
        assert!(cached.refresh_at - now >= Duration::from_secs(434));
        assert!(cached.expires_at - now >= Duration::from_secs(839));
        assert!(cached.expires_at - now <= Duration::from_secs(840));
    }

    #[test]
    fn failed_refresh_pauses_grow_and_are_capped() {
        let mut rng = rand::rng();
        for (failures, ceiling) in [(1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (40, 300)] {
            for _ in 0..20 {
                let pause = failed_refresh_pause(failures, &mut rng);
                let ceiling = Duration::from_secs(ceiling);
                assert!(
                    pause <= ceiling && pause >= ceiling / 2,
                    "{failures}: {pause:?}"
                );
            }
        }
    }

    #[test]
    fn which_codes_mean_the_session_is_refused() {
        for code in [
            "InvalidSecurityToken.Expired",
            "InvalidSecurityToken.MismatchWithAccessKey",
            "InvalidSecurityToken.Malformed",
            "InvalidAccessKeyId",
            "InvalidAccessKeyId.NotFound",
            "InvalidAccessKeyId.Inactive",
        ] {
            assert!(is_rejected_session_code(code), "{code}");
        }
        for code in [
            "SignatureDoesNotMatch",
            "Forbidden.NoPermission",
            "Rejected.Throttling",
            "InvalidAccessKeyIdX",
            "InvalidSecurityTokenExpired",
            "MissingSecurityToken",
            "IllegalTimestamp",
            "",
        ] {
            assert!(!is_rejected_session_code(code), "{code}");
        }
    }

    #[test]
    fn already_expired_credentials_are_refused() {
        let mut t = temporary(Duration::ZERO);
        t.expiration = SystemTime::now() - Duration::from_secs(1);
        let err = cache(t, Instant::now(), "STS test".into()).err().unwrap();
        assert!(err.to_string().contains("already expired"), "{err}");
    }
}
