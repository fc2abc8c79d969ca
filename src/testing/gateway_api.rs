//! The shared-gateway protocol of LocalKms (`kms.{region}.aliyuncs.com` on its own loopback
//! port, TLS leaf signed by the LocalKms Second CA): RPC signature v1 `GetSecretValue` verified
//! like the service does — ClientKey RSA signatures of issued access points, HMAC-SHA1
//! signatures of registered AccessKeys and STS tokens, timestamp skew, nonce replay — answering
//! JSON from the same secret store, faults and request log as the instance API.
//!
//! The canonicalization here is written independently of the client's (`kms::gateway::signing`)
//! so that a shared bug cannot hide; the client is pinned to the official vectors separately.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use zeroize::Zeroizing;

use super::faults::{Fault, Faults, RecordedRequest};
use super::server::{Answer, AnswerFuture, Handler};
use super::store::{AccessKeyPair, LookupError};
use super::{
    ecs_metadata, gateway_acs3, lock, sts, uuid_like, LocalKms, LocalKmsError, ServerCertificate,
    Shared,
};
use crate::config::{Endpoint, GatewayEndpointConfig};

/// Largest accepted difference between `Timestamp` and the (possibly skewed) server clock.
pub const MAX_TIMESTAMP_SKEW: Duration = Duration::from_secs(15 * 60);

/// Temporary credentials issued by the fake STS / ECS metadata service or
/// [`LocalKms::issue_sts_token`]. `Debug` shows only the id; zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct StsCredentials {
    /// `STS.` + alphanumerics.
    pub access_key_id: String,
    /// The secret.
    pub access_key_secret: Zeroizing<String>,
    /// The security token (contains `+ / =` like real ones).
    pub security_token: Zeroizing<String>,
    /// `Expiration`.
    pub expiration: SystemTime,
}

impl std::fmt::Debug for StsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A caller AccessKey or STS credential the gateway and the fake STS accept.
pub(crate) struct CallerRecord {
    pub secret: Zeroizing<String>,
    pub security_token: Option<Zeroizing<String>>,
    pub expires: Option<SystemTime>,
    pub allowed_secrets: Vec<String>,
}

impl CallerRecord {
    /// Whether the caller may read `secret_name`.
    pub(crate) fn allows(&self, secret_name: &str) -> bool {
        self.allowed_secrets
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => secret_name.starts_with(prefix),
                None => p == secret_name,
            })
    }
}

/// One request to the fake ECS metadata service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataRequest {
    /// `GET` or `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// Whether an `X-aliyun-ecs-metadata-token` header was sent (IMDSv2).
    pub with_token: bool,
    /// HTTP status answered.
    pub http_status: u16,
}

/// Gateway, STS and ECS metadata state of one LocalKms.
pub(crate) struct GatewayState {
    pub callers: HashMap<String, CallerRecord>,
    pub seen_nonces: HashSet<String>,
    pub nonces: Vec<String>,
    pub clock_offset_secs: i64,
    pub sts_requests: usize,
    pub sts_faults: Faults,
    pub ecs_role: Option<String>,
    pub ecs_imdsv2: bool,
    pub ecs_lifetime: Duration,
    pub ecs_tokens: HashSet<String>,
    pub ecs_log: Vec<MetadataRequest>,
}

impl Default for GatewayState {
    fn default() -> Self {
        Self {
            callers: HashMap::new(),
            seen_nonces: HashSet::new(),
            nonces: Vec::new(),
            clock_offset_secs: 0,
            sts_requests: 0,
            sts_faults: Faults::default(),
            ecs_role: None,
            ecs_imdsv2: true,
            ecs_lifetime: Duration::from_secs(6 * 3600),
            ecs_tokens: HashSet::new(),
            ecs_log: Vec::new(),
        }
    }
}

impl GatewayState {
    /// The server's notion of now (real time plus the configured skew).
    pub(crate) fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        let offset = Duration::from_secs(self.clock_offset_secs.unsigned_abs());
        if self.clock_offset_secs >= 0 {
            now + offset
        } else {
            now - offset
        }
    }

    /// Issues and registers STS credentials valid for `lifetime`.
    pub(crate) fn issue_sts(&mut self, lifetime: Duration, allowed: Vec<String>) -> StsCredentials {
        use rand::distr::{Alphanumeric, SampleString};
        let mut rng = rand::rng();
        let credentials = StsCredentials {
            access_key_id: format!("STS.{}", Alphanumeric.sample_string(&mut rng, 25)),
            access_key_secret: Zeroizing::new(Alphanumeric.sample_string(&mut rng, 32)),
            security_token: Zeroizing::new(format!(
                "CAIS{}+/={}",
                Alphanumeric.sample_string(&mut rng, 40),
                Alphanumeric.sample_string(&mut rng, 20)
            )),
            expiration: truncate_to_second(self.now() + lifetime),
        };
        self.callers.insert(
            credentials.access_key_id.clone(),
            CallerRecord {
                secret: credentials.access_key_secret.clone(),
                security_token: Some(credentials.security_token.clone()),
                expires: Some(credentials.expiration),
                allowed_secrets: allowed,
            },
        );
        credentials
    }
}

fn truncate_to_second(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// The gateway, STS and metadata listeners of one LocalKms (the TLS ones are LocalKms
/// listeners and stop with the rest; the plain-HTTP metadata server is held here).
pub(crate) struct GatewayListeners {
    pub endpoint: Endpoint,
    pub addr: SocketAddr,
    pub sts_addr: SocketAddr,
    pub metadata_addr: SocketAddr,
    pub metadata: std::sync::Mutex<Option<ecs_metadata::MetadataServer>>,
}

impl LocalKms {
    /// Starts the gateway (TLS for `kms.{region}.aliyuncs.com`), STS (TLS for `127.0.0.1` and the
    /// STS host names) and
    /// ECS metadata (plain HTTP) listeners on ephemeral loopback ports.
    pub(crate) async fn start_gateway(&self) -> Result<(), LocalKmsError> {
        let host = format!("kms.{}.aliyuncs.com", self.region_id);
        let host_id = host.clone();
        let addr = self
            .add_listener(&host, ServerCertificate::Trusted, move |shared| {
                handler(shared, host_id)
            })
            .await?;
        // The STS leaf names 127.0.0.1 (for `credentials_sts_endpoint=127.0.0.1:port`) and the
        // host names the official clients derive (`sts.aliyuncs.com`, `sts[-vpc].{region}...`),
        // so a client that maps those names to this listener verifies it normally.
        let sts_names = [
            "sts.aliyuncs.com".to_owned(),
            format!("sts.{}.aliyuncs.com", self.region_id),
            format!("sts-vpc.{}.aliyuncs.com", self.region_id),
        ];
        let sts_names: Vec<&str> = sts_names.iter().map(String::as_str).collect();
        let sts_addr = self
            .add_listener_with_names(
                "127.0.0.1",
                &sts_names,
                ServerCertificate::Trusted,
                sts::handler,
            )
            .await?;
        let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let metadata_addr = listener
            .local_addr()
            .map_err(|source| LocalKmsError::Bind { addr: bind, source })?;
        let metadata = ecs_metadata::spawn(listener, self.shared.clone());
        tracing::debug!(%addr, %sts_addr, %metadata_addr, "LocalKms gateway, STS and ECS metadata started");
        let _ = self.gateway.set(GatewayListeners {
            endpoint: Endpoint {
                host,
                port: addr.port(),
            },
            addr,
            sts_addr,
            metadata_addr,
            metadata: std::sync::Mutex::new(Some(metadata)),
        });
        Ok(())
    }

    /// Stops the metadata server (the TLS listeners stop with the others).
    pub(crate) fn stop_gateway(&self) {
        if let Some(gateway) = self.gateway.get() {
            drop(lock(&gateway.metadata).take());
        }
    }
}

/// RFC 3986 encoding (unreserved `A-Z a-z 0-9 - _ . ~` literal, upper-case hex).
pub(crate) fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `a=b&c=d` (percent escapes only; `+` is a literal plus, as POP treats it).
pub(crate) fn parse_query(query: &str) -> Option<Vec<(String, String)>> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `METHOD&%2F&pct(sorted canonical query without Signature)`.
pub(crate) fn server_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&%2F&{}", pct(&canonical))
}

/// Verifies an HMAC-SHA1 signature (key = secret + "&").
pub(crate) fn hmac_ok(secret: &str, string_to_sign: &str, signature_b64: &str) -> bool {
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature_b64) else {
        return false;
    };
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{secret}&").as_bytes(),
    );
    ring::hmac::verify(&key, string_to_sign.as_bytes(), &signature).is_ok()
}

/// A rejected request.
pub(crate) struct Rejection {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// Checks a request's ISO 8601 UTC timestamp (`Timestamp` for RPC v1, `x-acs-date` for V3) is
/// well formed and within [`MAX_TIMESTAMP_SKEW`] of the server's clock, with the service's
/// `IllegalTimestamp` answers.
pub(crate) fn check_timestamp(
    field: &str,
    value: &str,
    server_now: SystemTime,
) -> Result<(), Rejection> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let sent = time::PrimitiveDateTime::parse(value, &format)
        .map(|t| SystemTime::from(t.assume_utc()))
        .map_err(|_| {
            reject(
                400,
                "IllegalTimestamp",
                format!("The input parameter \"{field}\" that is mandatory for processing this request is not supplied or malformed: {value:?}."),
            )
        })?;
    let skew = server_now
        .duration_since(sent)
        .or_else(|_| sent.duration_since(server_now))
        .unwrap_or_default();
    if skew > MAX_TIMESTAMP_SKEW {
        return Err(reject(
            400,
            "IllegalTimestamp",
            format!("The {field} {value} is more than 15 minutes away from the server time."),
        ));
    }
    Ok(())
}

pub(crate) fn reject(status: u16, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        message: message.into(),
    }
}

/// A JSON answer with `x-acs-request-id`.
pub(crate) fn json_answer(status: u16, body: &serde_json::Value, request_id: &str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", value);
    }
    Answer::Reply(response)
}

/// A POP error body like the shared gateway's.
pub(crate) fn error_answer(
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
    host_id: &str,
) -> Answer {
    json_answer(
        status,
        &serde_json::json!({
            "RequestId": request_id,
            "HostId": host_id,
            "Code": code,
            "Message": message,
            "Recommend": format!(
                "https://api.aliyun.com/troubleshoot?q={code}&product=Kms&requestId={request_id}"
            ),
        }),
        request_id,
    )
}

fn html_answer(status: u16) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from_static(
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>LocalKms fault</p></body></html>\n",
    )));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html"),
    );
    Answer::Reply(response)
}

fn handler(shared: Arc<Shared>, host_id: String) -> Handler {
    let host_id: Arc<str> = host_id.into();
    Arc::new(move |request: Request<Bytes>| -> AnswerFuture {
        let shared = shared.clone();
        let host_id = host_id.clone();
        Box::pin(async move { handle(&shared, &host_id, false, request).await })
    })
}

/// The handler of the instance listener (`{instanceId}.cryptoservice.kms.aliyuncs.com`): the
/// gateway OpenAPI (V3 or RPC v1, RAM callers) for requests shaped like one — an `x-acs-action`
/// header, an `ACS3-` `Authorization` or a query string — and the instance API (ClientKey,
/// protobuf, `x-kms-*` headers, no query) for everything else: one host name, two protocols,
/// told apart by the request's shape.
pub(crate) fn instance_host_handler(shared: Arc<Shared>, host_id: String) -> Handler {
    let instance = super::instance_api::handler(shared.clone());
    let host_id: Arc<str> = host_id.into();
    Arc::new(move |request: Request<Bytes>| -> AnswerFuture {
        let openapi = request.headers().contains_key("x-acs-action")
            || gateway_acs3::is_acs3(&request)
            || request.uri().query().is_some_and(|q| !q.is_empty());
        if !openapi {
            return instance(request);
        }
        let shared = shared.clone();
        let host_id = host_id.clone();
        Box::pin(async move { handle(&shared, &host_id, true, request).await })
    })
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Query parameters plus, for a form body, its parameters (the RPC style allows both).
pub(crate) fn all_params(request: &Request<Bytes>) -> Option<Vec<(String, String)>> {
    let mut params = parse_query(request.uri().query().unwrap_or(""))?;
    let body = request.body();
    if !body.is_empty() {
        let text = std::str::from_utf8(body).ok()?;
        params.extend(parse_query(text)?);
    }
    Some(params)
}

async fn handle(
    shared: &Shared,
    host_id: &str,
    instance_host: bool,
    request: Request<Bytes>,
) -> Answer {
    let request_id = uuid_like();
    let params = all_params(&request);
    let p = |name: &str| {
        params
            .as_deref()
            .and_then(|ps| param(ps, name))
            .unwrap_or("")
            .to_owned()
    };
    let v3 = gateway_acs3::is_acs3(&request);
    let h = |name: &str| {
        gateway_acs3::header(&request, name)
            .unwrap_or("")
            .to_owned()
    };
    let mut record = RecordedRequest {
        protocol: match (instance_host, v3) {
            (false, false) => "gateway",
            (false, true) => "gateway-v3",
            (true, false) => "instance-gateway",
            (true, true) => "instance-gateway-v3",
        },
        api_name: p("Action"),
        secret_name: p("SecretName"),
        version_stage: p("VersionStage"),
        date: p("Timestamp"),
        signature: p("Signature"),
        key_id: p("AccessKeyId"),
        outcome: String::new(),
        http_status: 0,
        received_at: SystemTime::now(),
    };
    let mut nonce = p("SignatureNonce");
    if v3 {
        let auth = gateway_acs3::parse_authorization(&h("authorization"));
        record.api_name = h("x-acs-action");
        record.date = h("x-acs-date");
        record.signature = auth
            .as_ref()
            .map(|a| a.signature.clone())
            .unwrap_or_default();
        record.key_id = auth.map(|a| a.credential).unwrap_or_default();
        nonce = h("x-acs-signature-nonce");
    }
    if !nonce.is_empty() {
        lock(&shared.gateway).nonces.push(nonce);
    }
    let secret_name = (!record.secret_name.is_empty()).then(|| record.secret_name.clone());
    let fault = lock(&shared.faults).take(secret_name.as_deref());
    let mut delivery = None;
    let faulted = match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(fault) if fault.wraps_answer() => {
            delivery = Some(fault);
            None
        }
        Some(fault) => Some(fault),
        None => None,
    };
    let (answer, outcome, status) = match faulted {
        Some(fault) => {
            let outcome = fault.outcome();
            match fault {
                Fault::Error {
                    http_status,
                    code,
                    message,
                } => (
                    error_answer(http_status, &code, &message, &request_id, host_id),
                    outcome,
                    http_status,
                ),
                Fault::DropConnection
                | Fault::Delay(_)
                | Fault::Truncated
                | Fault::SlowBody { .. } => (Answer::Drop, outcome, 0),
                Fault::Garbage { http_status } => (html_answer(http_status), outcome, http_status),
                Fault::MalformedSecret => {
                    let body = serde_json::json!({
                        "RequestId": request_id,
                        "SecretName": record.secret_name,
                        "SecretType": "RAMCredentials",
                        "SecretDataType": "text",
                        "SecretData": r#"{"AccessKeyId":"LTAI5tMalformed","AccessKeySecret":"#,
                        "VersionId": "malformed",
                        "VersionStages": {"VersionStage": ["ACSCurrent"]},
                    });
                    (json_answer(200, &body, &request_id), outcome, 200)
                }
                Fault::Oversized { bytes } => {
                    let body = serde_json::json!({
                        "RequestId": request_id,
                        "SecretName": record.secret_name,
                        "SecretType": "Generic",
                        "SecretDataType": "text",
                        "SecretData": "x".repeat(bytes),
                    });
                    (json_answer(200, &body, &request_id), outcome, 200)
                }
            }
        }
        None => match params {
            None => (
                error_answer(
                    400,
                    "InvalidParameter",
                    "The query string is not valid percent-encoded UTF-8.",
                    &request_id,
                    host_id,
                ),
                "InvalidParameter".to_owned(),
                400,
            ),
            Some(params) => {
                let verified = if v3 {
                    // V3 signs the URI's query only; a form body counts through its hash.
                    let query =
                        parse_query(request.uri().query().unwrap_or("")).unwrap_or_default();
                    gateway_acs3::verify(shared, &request, &query)
                } else {
                    verify_rpc(shared, request.method().as_str(), &params)
                };
                match verified
                    .and_then(|caller| answer_secret(shared, &caller, &params, &request_id))
                {
                    Ok(body) => (json_answer(200, &body, &request_id), "OK".to_owned(), 200),
                    Err(r) => (
                        error_answer(r.status, r.code, &r.message, &request_id, host_id),
                        r.code.to_owned(),
                        r.status,
                    ),
                }
            }
        },
    };
    let (answer, outcome) = match delivery {
        Some(fault) => (answer.delivered_with(&fault), fault.outcome()),
        None => (answer, outcome),
    };
    record.outcome = outcome;
    record.http_status = status;
    tracing::debug!(
        secret = %record.secret_name,
        key_id = %record.key_id,
        outcome = %record.outcome,
        status = record.http_status,
        "LocalKms gateway request"
    );
    lock(&shared.log).push(record);
    answer
}

/// Checks the common RPC parameters and the timestamp; returns the parsed timestamp.
pub(crate) fn check_common(
    params: &[(String, String)],
    server_now: SystemTime,
) -> Result<(), Rejection> {
    for name in [
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Action",
        "Version",
    ] {
        if param(params, name).is_none_or(str::is_empty) {
            return Err(reject(
                400,
                missing_code(name),
                format!("{name} is mandatory for this action."),
            ));
        }
    }
    let timestamp = param(params, "Timestamp").unwrap_or("");
    check_timestamp("Timestamp", timestamp, server_now)?;
    if param(params, "SignatureVersion") != Some("1.0") {
        return Err(reject(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        ));
    }
    Ok(())
}

fn missing_code(name: &str) -> &'static str {
    match name {
        "AccessKeyId" => "MissingAccessKeyId",
        "Signature" => "MissingSignature",
        "SignatureMethod" => "MissingSignatureMethod",
        "SignatureVersion" => "MissingSignatureVersion",
        "SignatureNonce" => "MissingSignatureNonce",
        "Action" => "MissingAction",
        "Version" => "MissingVersion",
        _ => "MissingParameter",
    }
}

/// Verifies an HMAC-signed request of a registered caller (AccessKey or unexpired STS token).
pub(crate) fn verify_hmac_caller(
    caller: &CallerRecord,
    method: &str,
    params: &[(String, String)],
    server_now: SystemTime,
) -> Result<(), Rejection> {
    if param(params, "SignatureMethod") != Some("HMAC-SHA1") {
        return Err(reject(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards (AccessKey callers sign with HMAC-SHA1).",
        ));
    }
    let string_to_sign = server_string_to_sign(method, params);
    if !hmac_ok(
        &caller.secret,
        &string_to_sign,
        param(params, "Signature").unwrap_or(""),
    ) {
        return Err(signature_mismatch(&string_to_sign));
    }
    if let Some(token) = &caller.security_token {
        match param(params, "SecurityToken") {
            None | Some("") => {
                return Err(reject(
                    400,
                    "MissingSecurityToken",
                    "SecurityToken is mandatory for this AccessKeyId.",
                ))
            }
            Some(sent) if sent != token.as_str() => {
                return Err(reject(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.",
                ))
            }
            Some(_) => {}
        }
        if caller.expires.is_some_and(|e| server_now >= e) {
            return Err(reject(
                400,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
    }
    Ok(())
}

pub(crate) fn signature_mismatch(string_to_sign: &str) -> Rejection {
    reject(
        400,
        "SignatureDoesNotMatch",
        format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
    )
}

pub(crate) fn not_found_key() -> Rejection {
    reject(
        404,
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found.",
    )
}

/// Verifies an RPC v1 request; on success returns the caller's permissions.
fn verify_rpc(
    shared: &Shared,
    method: &str,
    params: &[(String, String)],
) -> Result<CallerRecord, Rejection> {
    let server_now = lock(&shared.gateway).now();
    check_common(params, server_now)?;
    let key_id = param(params, "AccessKeyId").unwrap_or("");
    let allowed: CallerRecord = if key_id.starts_with("KAAP.") {
        let access_point = lock(&shared.access_points)
            .get(key_id)
            .cloned()
            .ok_or_else(not_found_key)?;
        if param(params, "SignatureMethod") != Some("SHA256withRSA")
            || param(params, "SignatureType") != Some("PRIVATEKEY")
        {
            return Err(reject(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards (ClientKeys sign with SHA256withRSA, SignatureType PRIVATEKEY).",
            ));
        }
        let string_to_sign = server_string_to_sign(method, params);
        let signature = base64::engine::general_purpose::STANDARD
            .decode(param(params, "Signature").unwrap_or(""))
            .map_err(|_| signature_mismatch(&string_to_sign))?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &access_point.public_key,
        )
        .verify(string_to_sign.as_bytes(), &signature)
        .map_err(|_| signature_mismatch(&string_to_sign))?;
        CallerRecord {
            secret: Zeroizing::new(String::new()),
            security_token: None,
            expires: None,
            allowed_secrets: access_point.allowed_secrets.clone(),
        }
    } else {
        let state = lock(&shared.gateway);
        let caller = state.callers.get(key_id).ok_or_else(not_found_key)?;
        verify_hmac_caller(caller, method, params, server_now)?;
        CallerRecord {
            secret: Zeroizing::new(String::new()),
            security_token: None,
            expires: None,
            allowed_secrets: caller.allowed_secrets.clone(),
        }
    };
    {
        let nonce = param(params, "SignatureNonce").unwrap_or("").to_owned();
        if !lock(&shared.gateway).seen_nonces.insert(nonce) {
            return Err(reject(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
    }
    if param(params, "Action") != Some("GetSecretValue")
        || param(params, "Version") != Some(crate::kms::gateway::signing::KMS_API_VERSION)
    {
        return Err(reject(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    if param(params, "Format").is_some_and(|f| !f.eq_ignore_ascii_case("JSON")) {
        return Err(reject(
            400,
            "InvalidParameter.Format",
            "LocalKms answers JSON only.",
        ));
    }
    Ok(allowed)
}

/// The `GetSecretValue` answer for a verified `caller` (permission check, store lookup).
fn answer_secret(
    shared: &Shared,
    caller: &CallerRecord,
    params: &[(String, String)],
    request_id: &str,
) -> Result<serde_json::Value, Rejection> {
    let secret_name = param(params, "SecretName").unwrap_or("");
    if secret_name.is_empty() {
        return Err(reject(
            400,
            "MissingSecretName",
            "SecretName is mandatory for this action.",
        ));
    }
    if !caller.allows(secret_name) {
        return Err(reject(
            403,
            "Forbidden.NoPermission",
            "This operation is forbidden by permission system.",
        ));
    }
    let stage = param(params, "VersionStage").filter(|s| !s.is_empty());
    let version_id = param(params, "VersionId").filter(|s| !s.is_empty());
    let view = lock(&shared.store)
        .lookup(secret_name, stage, version_id)
        .map_err(|e| match e {
            LookupError::SecretNotFound | LookupError::VersionNotFound => {
                reject(404, "Forbidden.ResourceNotFound", "Resource not found")
            }
        })?;
    let mut body = serde_json::json!({
        "RequestId": request_id,
        "SecretName": view.secret_name,
        "SecretType": view.secret_type,
        "SecretDataType": view.secret_data_type,
        "SecretData": view.secret_data.as_str(),
        "VersionId": view.version_id,
        "VersionStages": { "VersionStage": view.version_stages },
        "CreateTime": view.create_time,
        "AutomaticRotation": view.automatic_rotation,
    });
    let fetch_extended =
        param(params, "FetchExtendedConfig").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for (name, value, only_extended) in [
        ("RotationInterval", &view.rotation_interval, false),
        ("LastRotationDate", &view.last_rotation_date, false),
        ("NextRotationDate", &view.next_rotation_date, false),
        ("ExtendedConfig", &view.extended_config, true),
    ] {
        if !value.is_empty() && (fetch_extended || !only_extended) {
            body[name] = serde_json::Value::String(value.clone());
        }
    }
    Ok(body)
}

impl LocalKms {
    fn gateway(&self) -> &GatewayListeners {
        match self.gateway.get() {
            Some(gateway) => gateway,
            // `start` sets it before returning the LocalKms.
            None => unreachable!("LocalKms gateway listeners are started in LocalKms::start"),
        }
    }

    /// `kms.{region}.aliyuncs.com` with the gateway's listening port.
    pub fn gateway_endpoint(&self) -> Endpoint {
        self.gateway().endpoint.clone()
    }

    /// `127.0.0.1:port` of the gateway (`connectTo`).
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway().addr
    }

    /// A `cache_client_region_id` entry for the gateway: its endpoint, the LocalKms CA as
    /// `caFilePath` (trusted in addition to the public roots) and `connectTo`.
    pub fn gateway_config(&self) -> GatewayEndpointConfig {
        GatewayEndpointConfig {
            region_id: self.region_id.clone(),
            endpoint: self.gateway_endpoint(),
            vpc: false,
            ca_file: Some(self.ca_file.clone()),
            connect_to: Some(self.gateway_addr()),
            signature: None,
        }
    }

    /// A `cache_client_region_id` entry for this instance's own gateway, as the official v2
    /// clients configure it: `endpoint` = `{instanceId}.cryptoservice.kms.aliyuncs.com` (port
    /// 443, so the signed `host` is the bare name), `caFilePath` = the instance CA (trusted
    /// alone) and `connectTo` = [`LocalKms::addr`]. RAM callers ([`LocalKms::register_access_key`],
    /// STS, ECS role) reach it with V3 or RPC v1 signatures.
    pub fn instance_gateway_config(&self) -> GatewayEndpointConfig {
        GatewayEndpointConfig {
            region_id: self.region_id.clone(),
            endpoint: Endpoint {
                host: self.endpoint.host.clone(),
                port: 443,
            },
            vpc: false,
            ca_file: Some(self.ca_file.clone()),
            connect_to: Some(self.addr),
            signature: None,
        }
    }

    /// Registers a caller AccessKey that may read secrets matching `allowed_secrets` through
    /// the gateway and call the fake STS.
    pub fn register_access_key(&self, allowed_secrets: &[&str]) -> AccessKeyPair {
        let pair = AccessKeyPair::generate();
        lock(&self.shared.gateway).callers.insert(
            pair.access_key_id.clone(),
            CallerRecord {
                secret: Zeroizing::new(pair.access_key_secret.clone()),
                security_token: None,
                expires: None,
                allowed_secrets: allowed_secrets.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        pair
    }

    /// Removes a caller AccessKey or STS credential (its requests then get
    /// `InvalidAccessKeyId.NotFound`).
    pub fn revoke_caller(&self, access_key_id: &str) -> bool {
        lock(&self.shared.gateway)
            .callers
            .remove(access_key_id)
            .is_some()
    }

    /// Issues STS credentials valid for `lifetime` that may read `allowed_secrets`.
    pub fn issue_sts_token(&self, allowed_secrets: &[&str], lifetime: Duration) -> StsCredentials {
        lock(&self.shared.gateway).issue_sts(
            lifetime,
            allowed_secrets.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    /// The fake STS (`AssumeRole`, `AssumeRoleWithOIDC`): HTTPS on `127.0.0.1` with a leaf signed
    /// by the LocalKms CA (trust it through the gateway's `caFilePath`) for that IP and also for
    /// `sts.aliyuncs.com`, `sts.{region}.aliyuncs.com` and `sts-vpc.{region}.aliyuncs.com`, so a
    /// client that resolves those names to this port verifies the certificate as usual.
    pub fn sts_endpoint(&self) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: self.gateway().sts_addr.port(),
        }
    }

    /// `AssumeRole` requests received (any outcome).
    pub fn sts_request_count(&self) -> usize {
        lock(&self.shared.gateway).sts_requests
    }

    /// Queues a fault for the next STS request (`Error`, `DropConnection`, `Garbage`, `Delay`).
    pub fn push_sts_fault(&self, fault: Fault) {
        lock(&self.shared.gateway).sts_faults.push(fault);
    }

    /// The fake ECS metadata service (plain HTTP on `127.0.0.1`, like `100.100.100.200`).
    pub fn ecs_metadata_endpoint(&self) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: self.gateway().metadata_addr.port(),
        }
    }

    /// The RAM role attached to the fake ECS instance (`None`: no role).
    pub fn set_ecs_role(&self, role: Option<&str>) {
        lock(&self.shared.gateway).ecs_role = role.map(str::to_owned);
    }

    /// Whether the metadata service offers IMDSv2 tokens (default true); when false the token
    /// call answers 404 and clients must fall back to IMDSv1.
    pub fn set_ecs_imdsv2(&self, enabled: bool) {
        lock(&self.shared.gateway).ecs_imdsv2 = enabled;
    }

    /// Lifetime of role credentials served by the metadata service (default 6 h).
    pub fn set_ecs_credential_lifetime(&self, lifetime: Duration) {
        lock(&self.shared.gateway).ecs_lifetime = lifetime;
    }

    /// Requests the metadata service received, oldest first.
    pub fn ecs_metadata_requests(&self) -> Vec<MetadataRequest> {
        lock(&self.shared.gateway).ecs_log.clone()
    }

    /// Skews the gateway's clock by `seconds` (positive: the server is ahead), for
    /// `IllegalTimestamp` tests.
    pub fn set_gateway_clock_offset(&self, seconds: i64) {
        lock(&self.shared.gateway).clock_offset_secs = seconds;
    }

    /// `SignatureNonce` of every gateway request received (any outcome, faults included),
    /// oldest first.
    pub fn gateway_nonces(&self) -> Vec<String> {
        lock(&self.shared.gateway).nonces.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_string_to_sign_matches_the_recorded_vector() {
        let query = "SecretName=acs%2Fram%2Fuser%2Fapp-prod&VersionStage=ACSCurrent&FetchExtendedConfig=true&Version=2016-01-20&Action=GetSecretValue&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-02-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=8c5b2d1e4f3a49c0b7e6d5c4b3a29180&AccessKeyId=LTAI5tFakeCallerKeyId001&Signature=YVeCitZkdPmvk3S698GVuIN0ins%3D";
        let params = parse_query(query).unwrap();
        let sts = server_string_to_sign("POST", &params);
        assert!(sts.starts_with("POST&%2F&AccessKeyId%3DLTAI5tFakeCallerKeyId001%26Action"));
        assert!(hmac_ok(
            "FakeCallerAccessKeySecret0000001",
            &sts,
            "YVeCitZkdPmvk3S698GVuIN0ins="
        ));
        assert!(!hmac_ok("wrong", &sts, "YVeCitZkdPmvk3S698GVuIN0ins="));
    }

    #[test]
    fn plus_is_literal_in_queries() {
        let params = parse_query("a=x+y%2Bz&b").unwrap();
        assert_eq!(
            params,
            [("a".into(), "x+y+z".into()), ("b".into(), String::new())]
        );
        assert!(parse_query("a=%FF").is_none());
    }
}
