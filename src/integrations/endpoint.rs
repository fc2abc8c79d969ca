//! A local credentials endpoint in the format the official Alibaba Cloud credential libraries
//! (Java, Go, Python, Node.js, ...) read from `ALIBABA_CLOUD_CREDENTIALS_URI`, served from the
//! provider's cache so apps in any language use the managed, rotating AccessKey.
//!
//! Security model: it binds to loopback unless told otherwise, and every URL carries a random
//! 256-bit token in its path (a capability URL); every other path answers 404, so a server-side
//! request forgery that can reach `127.0.0.1` still cannot guess its way to a key. Only the
//! secrets named at start are served. Before the token is even looked at:
//! * **DNS rebinding**: the `Host` header (and the authority of an absolute-form target) must
//!   name the address the client connected to (`127.0.0.1:{port}`, the port may be left out as
//!   the official Python client does), or `localhost[:{port}]` on a loopback address; anything
//!   else, a missing or repeated `Host` included, is answered
//!   `421 Misdirected Request`. A web page whose name was rebound to `127.0.0.1` therefore gets
//!   nothing. (With a non-loopback listen address, clients must use the IP address, not a DNS
//!   name.)
//! * **Methods**: only `GET` and `HEAD` (same status and headers as `GET`, no body); anything
//!   else is `405` with `Allow: GET, HEAD`.
//!
//! Refusals carry no token, key or request data; 404, 405 and 421 answers are counted as
//! `rejected_requests` in health.
//!
//! Resource limits ([`EndpointConfig`] fields): at most
//! [`max_connections`](EndpointConfig::max_connections) (256) connections at once, those beyond
//! are closed unanswered (`refused_connections` in health); a request head must arrive within
//! [`header_read_timeout`](EndpointConfig::header_read_timeout) (10 s, also the idle limit of a
//! kept-alive connection) and stay under [`max_header_bytes`](EndpointConfig::max_header_bytes)
//! (16 KiB) and [`max_headers`](EndpointConfig::max_headers) (64 lines), else `431` and the
//! connection is closed.
//!
//! Paths (`{t}` = token):
//! * `GET /{t}/credentials` — the first configured secret;
//! * `GET /{t}/credentials/{secret name}` — any configured secret (names may contain `/`);
//! * `GET /{t}/health` — provider health, with `stale_served` per secret, `rejected_requests`
//!   and `refused_connections`.
//!
//! Answer: `{"Code":"Success","AccessKeyId":..,"AccessKeySecret":..,"SecurityToken":"",
//! "Expiration":"YYYY-MM-DDThh:mm:ssZ","LastUpdated":..}`. `Expiration` is synthetic (managed
//! keys do not expire): see [`EndpointConfig::expiry`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::RngCore;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use super::credentials::ExpiryPolicy;
use crate::secret::format_date;
use crate::ManagedCredentialsProvider;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// No secret to serve.
    #[error("no secret to serve: name at least one RAM-credential secret (--secret NAME, or secret_names in the properties file)")]
    NoSecrets,
    /// The listen address is not loopback and non-loopback binding was not allowed.
    #[error("refusing to serve credentials on non-loopback address {addr}: bind to 127.0.0.1 or [::1], or pass --allow-non-loopback (EndpointConfig::allow_non_loopback) if a network policy protects the port")]
    NonLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listen socket could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting of [`EndpointConfig`] would make the endpoint unusable (a zero
    /// `header_read_timeout` would drop every client before its first request).
    #[error("invalid EndpointConfig::{setting}: {reason}")]
    InvalidSetting {
        /// The field.
        setting: &'static str,
        /// What is wrong and what to set instead.
        reason: &'static str,
    },
    /// A user-supplied token is unusable.
    #[error("invalid endpoint token: {reason}")]
    InvalidToken {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// How the endpoint is served.
#[derive(Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Listen address (default `127.0.0.1:0`, an ephemeral loopback port).
    pub listen: SocketAddr,
    /// Allow a non-loopback listen address (default false).
    pub allow_non_loopback: bool,
    /// The path token; `None` (default) draws 32 random bytes. Supply one to keep the URL stable
    /// across restarts (at least 32 characters from `A-Z a-z 0-9 - _`).
    pub token: Option<Zeroizing<String>>,
    /// Synthetic `Expiration`. Default: the provider's next refresh, never after the next
    /// rotation, between 20 min and 1 h from now. The 20 min floor matters: the official Python
    /// and Java clients treat a credential as stale 15 min before `Expiration` and would otherwise
    /// re-fetch on every call (and warn), and reject an `Expiration` in the past on first fetch.
    pub expiry: ExpiryPolicy,
    /// How long in-flight requests may take to finish at shutdown (default 5 s).
    pub shutdown_grace: Duration,
    /// Most connections open at once (default 256; at least 1). A connection beyond it is closed
    /// as soon as it is accepted, without an answer, and counted as `refused_connections` in
    /// health, so a flood of connections cannot exhaust memory or file descriptors.
    pub max_connections: usize,
    /// How long a client may take to send a complete request head, counted from the connection's
    /// start and again after each answer on a kept-alive connection (default 10 s; must be above
    /// zero). Slow or idle clients are then disconnected, so they cannot hold on to connection
    /// slots.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes (default 16 KiB; values below
    /// hyper's floor of 8 KiB count as 8 KiB). A head that reaches it is answered 431 and the
    /// connection closed.
    pub max_header_bytes: usize,
    /// Most header lines in one request (default 64); more are answered 431.
    pub max_headers: usize,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("listen", &self.listen)
            .field("allow_non_loopback", &self.allow_non_loopback)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("expiry", &self.expiry)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_connections", &self.max_connections)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_headers", &self.max_headers)
            .finish()
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_non_loopback: false,
            token: None,
            expiry: ExpiryPolicy {
                min_validity: Duration::from_secs(20 * 60),
                max_validity: Duration::from_secs(3600),
                before_rotation: true,
            },
            shutdown_grace: Duration::from_secs(5),
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

impl EndpointConfig {}

/// Per-secret serving counters, shown by the health path.
#[derive(Default)]
struct Served {
    ok: AtomicU64,
    stale: AtomicU64,
    failed: AtomicU64,
}

struct State {
    provider: ManagedCredentialsProvider,
    token: Zeroizing<String>,
    secrets: Vec<String>,
    served: HashMap<String, Served>,
    expiry: ExpiryPolicy,
    /// Requests answered 404, 405 or 421.
    rejected: AtomicU64,
    /// Connections closed unanswered because `max_connections` were open.
    refused_connections: AtomicU64,
}

/// The per-connection limits of an [`EndpointConfig`].
#[derive(Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
    max_buf_size: usize,
    max_headers: usize,
    shutdown_grace: Duration,
}

/// hyper's smallest allowed read buffer (`max_buf_size` panics below it).
const MIN_BUF_SIZE: usize = 8192;

/// A running credentials endpoint. Dropping it does not stop it; call
/// [`shutdown`](Self::shutdown) (the binary does on SIGTERM / Ctrl-C).
pub struct CredentialsEndpoint {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CredentialsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsEndpoint")
            .field("addr", &self.addr)
            .field("secrets", &self.state.secrets)
            .finish_non_exhaustive()
    }
}

impl CredentialsEndpoint {
    /// Binds and starts serving `secrets` (the first one is also served at `/{t}/credentials`).
    pub async fn start(
        provider: ManagedCredentialsProvider,
        secrets: Vec<String>,
        config: EndpointConfig,
    ) -> Result<Self, EndpointError> {
        if secrets.is_empty() {
            return Err(EndpointError::NoSecrets);
        }
        if config.header_read_timeout.is_zero() {
            return Err(EndpointError::InvalidSetting {
                setting: "header_read_timeout",
                reason: "zero would disconnect every client before it sends a request; set a duration above zero (default 10 s)",
            });
        }
        if !config.listen.ip().is_loopback() && !config.allow_non_loopback {
            return Err(EndpointError::NonLoopback {
                addr: config.listen,
            });
        }
        let token = match config.token {
            Some(t) => {
                validate_token(&t)?;
                t
            }
            None => random_token(),
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| EndpointError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EndpointError::Bind {
                addr: config.listen,
                source,
            })?;
        let state = Arc::new(State {
            provider,
            token,
            served: secrets
                .iter()
                .map(|s| (s.clone(), Served::default()))
                .collect(),
            secrets,
            expiry: config.expiry,
            rejected: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
        });
        let limits = Limits {
            max_connections: config.max_connections.max(1),
            header_read_timeout: config.header_read_timeout,
            max_buf_size: config.max_header_bytes.max(MIN_BUF_SIZE),
            max_headers: config.max_headers,
            shutdown_grace: config.shutdown_grace,
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stop_rx, limits));
        tracing::info!(%addr, secrets = ?state.secrets, "credentials endpoint listening");
        Ok(Self {
            addr,
            state,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The capability URL for the first secret: the value for `ALIBABA_CLOUD_CREDENTIALS_URI`.
    /// It contains the token: treat it like a password.
    pub fn url(&self) -> String {
        format!("{}/credentials", self.base())
    }

    /// The capability URL for `secret` (one of the served secrets).
    pub fn url_for(&self, secret: &str) -> String {
        format!("{}/credentials/{secret}", self.base())
    }

    /// The health URL.
    pub fn health_url(&self) -> String {
        format!("{}/health", self.base())
    }

    fn base(&self) -> String {
        format!("http://{}/{}", self.addr, self.state.token.as_str())
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "credentials endpoint task ended abnormally");
        }
    }
}

fn random_token() -> Zeroizing<String> {
    use base64::Engine as _;
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

fn validate_token(token: &str) -> Result<(), EndpointError> {
    if token.len() < 32 {
        return Err(EndpointError::InvalidToken {
            reason: "shorter than 32 characters; use e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`",
        });
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(EndpointError::InvalidToken {
            reason: "only A-Z, a-z, 0-9, '-' and '_' are allowed (it goes into a URL path)",
        });
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) {
    let bound = listener.local_addr().ok();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    // Closed at once rather than queued: a queue would let a flood hold the
                    // sockets anyway. Logged at 1, 2, 4, 8, ... refusals, not once per attempt.
                    let refused = state.refused_connections.fetch_add(1, Ordering::Relaxed) + 1;
                    if refused.is_power_of_two() {
                        tracing::warn!(
                            %peer,
                            refused,
                            max_connections = limits.max_connections,
                            "credentials endpoint: connection limit reached, closing new connections"
                        );
                    }
                    drop(stream);
                    continue;
                };
                // The address the client reached, for the Host check (on a wildcard listen
                // address this is the interface's own address).
                let Some(local) = stream.local_addr().ok().or(bound) else {
                    continue;
                };
                let state = Arc::clone(&state);
                let mut stop = stop.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, local, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_read_timeout)
                        .max_buf_size(limits.max_buf_size)
                        .max_headers(limits.max_headers)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        }
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "credentials endpoint: in-flight requests did not finish within the grace period"
        );
        connections.abort_all();
    }
    tracing::info!("credentials endpoint stopped");
}

/// Constant-time comparison (the token is a secret; do not leak its prefix through timing).
fn token_matches(candidate: &str, token: &str) -> bool {
    candidate.len() == token.len()
        && candidate
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(state: &State, local: SocketAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    // Checked before anything else, the token included: a request that names another host
    // (DNS rebinding) or uses another method learns nothing, not even whether its path is valid.
    if !host_allowed(&req, local) {
        state.rejected.fetch_add(1, Ordering::Relaxed);
        return json(
            StatusCode::MISDIRECTED_REQUEST,
            &ErrorBody {
                code: "MisdirectedRequest",
                message: "the Host header does not name this endpoint (use the URL as given)"
                    .into(),
            },
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        state.rejected.fetch_add(1, Ordering::Relaxed);
        let mut resp = json(
            StatusCode::METHOD_NOT_ALLOWED,
            &ErrorBody {
                code: "MethodNotAllowed",
                message: "only GET and HEAD are supported".into(),
            },
        );
        resp.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return resp;
    }
    let path = req.uri().path();
    let route = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(token, _)| token_matches(token, &state.token))
        .map(|(_, rest)| rest);
    let Some(rest) = route else {
        state.rejected.fetch_add(1, Ordering::Relaxed);
        return not_found();
    };
    let secret = match rest {
        "health" => return health(state),
        "credentials" | "credentials/" => state.secrets[0].as_str(),
        other => match other.strip_prefix("credentials/") {
            Some(name) => match state.secrets.iter().find(|s| s.as_str() == name) {
                Some(s) => s.as_str(),
                None => {
                    state.rejected.fetch_add(1, Ordering::Relaxed);
                    return not_found();
                }
            },
            None => {
                state.rejected.fetch_add(1, Ordering::Relaxed);
                return not_found();
            }
        },
    };
    credentials(state, secret).await
}

/// The request names this endpoint: exactly one `Host` header, and it (and the authority of an
/// absolute-form target, if any) is the address the client connected to, or `localhost` with
/// that port when it is a loopback address. The port may be left out (some HTTP clients do).
fn host_allowed<B>(req: &Request<B>, local: SocketAddr) -> bool {
    if let Some(authority) = req.uri().authority() {
        if !authority_names(authority.as_str(), local) {
            return false;
        }
    }
    let mut hosts = req.headers().get_all(hyper::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().is_ok_and(|host| authority_names(host, local)),
        _ => false,
    }
}

/// `authority` (`host[:port]`, no user info) names `local`.
fn authority_names(authority: &str, local: SocketAddr) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        // [v6]:port
        Some(rest) => match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port_ok = match port {
        // Digits only (u16::from_str would also take a leading '+').
        Some(p) => {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse() == Ok(local.port())
        }
        // Without a port the name alone must match. The official Python client sends
        // `Host: 127.0.0.1` for `http://127.0.0.1:{port}/...`; a rebound page would send its
        // own name, never this address.
        None => true,
    };
    let local_ip = local.ip().to_canonical();
    let host_ok = match host.parse::<std::net::IpAddr>() {
        // An IPv6 literal must be bracketed, an IPv4 one must not.
        Ok(ip) => ip.to_canonical() == local_ip && ip.is_ipv6() == authority.starts_with('['),
        Err(_) => local_ip.is_loopback() && host.eq_ignore_ascii_case("localhost"),
    };
    port_ok && host_ok
}

fn not_found() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(b"404 Not Found\n")));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

#[derive(Serialize)]
struct ErrorBody {
    #[serde(rename = "Code")]
    code: &'static str,
    #[serde(rename = "Message")]
    message: String,
}

/// The credentials-URI document (field names as the official clients read them).
#[derive(Serialize)]
struct CredentialsBody<'a> {
    #[serde(rename = "Code")]
    code: &'static str,
    #[serde(rename = "AccessKeyId")]
    access_key_id: &'a str,
    #[serde(rename = "AccessKeySecret")]
    access_key_secret: &'a str,
    #[serde(rename = "SecurityToken")]
    security_token: &'static str,
    #[serde(rename = "Expiration")]
    expiration: String,
    #[serde(rename = "LastUpdated")]
    last_updated: String,
}

async fn credentials(state: &State, secret: &str) -> Response<Full<Bytes>> {
    let served = state.served.get(secret);
    let key = match state.provider.get_access_key(secret).await {
        Ok(k) => k,
        Err(e) => {
            if let Some(s) = served {
                s.failed.fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(secret, error = %e, "credentials endpoint could not get the AccessKey");
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                &ErrorBody {
                    code: "ManagedCredentialsUnavailable",
                    message: format!("could not get the managed AccessKey of '{secret}': {e}"),
                },
            );
        }
    };
    let health = state
        .provider
        .health()
        .secrets
        .into_iter()
        .find(|s| s.name == secret);
    let stale = health.as_ref().is_some_and(|h| h.stale);
    let now = SystemTime::now();
    let until = if stale {
        // Serving an old key after failed refreshes: make clients come back as soon as allowed.
        crate::cache::schedule::later(now, state.expiry.min_validity)
    } else {
        state
            .expiry
            .valid_until(&key, health.and_then(|h| h.next_refresh), now)
    };
    if let Some(s) = served {
        s.ok.fetch_add(1, Ordering::Relaxed);
        if stale {
            s.stale.fetch_add(1, Ordering::Relaxed);
        }
    }
    if stale {
        tracing::warn!(
            secret,
            access_key_id = key.access_key_id(),
            "serving a stale AccessKey (the last refresh failed)"
        );
    }
    let body = CredentialsBody {
        code: "Success",
        access_key_id: key.access_key_id(),
        access_key_secret: key.access_key_secret(),
        security_token: "",
        expiration: format_date(until),
        last_updated: format_date(key.fetched_at()),
    };
    // The serialized body holds the secret: keep it in zeroizing memory until handed to hyper.
    let bytes = Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default());
    let mut resp = Response::new(Full::new(Bytes::copy_from_slice(&bytes)));
    set_json_headers(&mut resp);
    resp
}

#[derive(Serialize)]
struct HealthBody {
    healthy: bool,
    closed: bool,
    secrets: Vec<SecretHealthBody>,
    rejected_requests: u64,
    refused_connections: u64,
}

#[derive(Serialize)]
struct SecretHealthBody {
    name: String,
    version_id: Option<String>,
    /// The cached key is stale (its last refresh failed): clients get an old key.
    stale: bool,
    expired: bool,
    /// At least one answer so far handed out a stale key.
    stale_served: bool,
    next_refresh: Option<String>,
    consecutive_failures: u32,
    last_error: Option<String>,
    served: u64,
    served_stale: u64,
    failed: u64,
}

fn health(state: &State) -> Response<Full<Bytes>> {
    let h = state.provider.health();
    let secrets = state
        .secrets
        .iter()
        .map(|name| {
            let s = h.secrets.iter().find(|s| &s.name == name);
            let counters = state.served.get(name);
            let get =
                |f: fn(&Served) -> &AtomicU64| counters.map_or(0, |c| f(c).load(Ordering::Relaxed));
            SecretHealthBody {
                name: name.clone(),
                version_id: s.and_then(|s| s.version_id.clone()),
                stale: s.is_some_and(|s| s.stale),
                expired: s.is_some_and(|s| s.expired),
                stale_served: get(|c| &c.stale) > 0 && s.is_some_and(|s| s.stale),
                next_refresh: s.and_then(|s| s.next_refresh).map(format_date),
                consecutive_failures: s.map_or(0, |s| s.consecutive_failures),
                last_error: s.and_then(|s| s.last_error.clone()),
                served: get(|c| &c.ok),
                served_stale: get(|c| &c.stale),
                failed: get(|c| &c.failed),
            }
        })
        .collect::<Vec<_>>();
    let healthy = !h.closed
        && secrets
            .iter()
            .all(|s| s.version_id.is_some() && !s.stale && !s.expired);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &HealthBody {
            healthy,
            closed: h.closed,
            secrets,
            rejected_requests: state.rejected.load(Ordering::Relaxed),
            refused_connections: state.refused_connections.load(Ordering::Relaxed),
        },
    )
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    set_json_headers(&mut resp);
    resp
}

fn set_json_headers(resp: &mut Response<Full<Bytes>>) {
    use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_url_safe_and_long() {
        let a = random_token();
        let b = random_token();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 43);
        validate_token(&a).unwrap();
    }

    #[test]
    fn bad_tokens_are_rejected_with_the_reason() {
        assert!(matches!(
            validate_token("short"),
            Err(EndpointError::InvalidToken { .. })
        ));
        let slash = format!("{}/", "a".repeat(40));
        let err = validate_token(&slash).unwrap_err().to_string();
        assert!(err.contains("only A-Z"), "{err}");
    }

    #[test]
    fn host_names_the_address_connected_to_or_localhost_on_loopback() {
        let v4: SocketAddr = "127.0.0.1:4100".parse().unwrap();
        let v6: SocketAddr = "[::1]:4100".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4100".parse().unwrap();
        let lan: SocketAddr = "10.1.2.3:4100".parse().unwrap();
        let port80: SocketAddr = "127.0.0.1:80".parse().unwrap();
        for (authority, local) in [
            ("127.0.0.1:4100", v4),
            ("localhost:4100", v4),
            ("LOCALHOST:4100", v4),
            ("[::1]:4100", v6),
            ("localhost:4100", v6),
            ("127.0.0.1:4100", mapped),
            ("10.1.2.3:4100", lan),
            ("127.0.0.1", port80),
            ("127.0.0.1:80", port80),
            ("localhost", port80),
            // What the official Python client sends (no port).
            ("127.0.0.1", v4),
            ("localhost", v4),
        ] {
            assert!(authority_names(authority, local), "{authority} for {local}");
        }
        for (authority, local) in [
            ("attacker.example:4100", v4),
            ("localhost.:4100", v4),
            ("127.0.0.1:4101", v4),
            ("127.0.0.1:+4100", v4),
            ("127.0.0.1:", v4),
            ("attacker.example", v4),
            ("[127.0.0.1]:4100", v4),
            ("::1:4100", v6),
            ("[::1]4100", v6),
            ("[::1", v6),
            ("localhost:4100", lan),
            ("127.0.0.1:4100", lan),
            ("user@127.0.0.1:4100", v4),
            ("", v4),
        ] {
            assert!(
                !authority_names(authority, local),
                "{authority} for {local}"
            );
        }
    }

    #[test]
    fn token_comparison_needs_an_exact_match() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("abcd", "abc"));
    }
}
