//! A fake STS: `AssumeRole` for RAM-role-ARN callers (RPC signature v1, HMAC-SHA1 with a
//! registered caller AccessKey) and the anonymous `AssumeRoleWithOIDC` for RRSA / OIDC callers
//! (checks provider ARN, role ARN and the OIDC token LocalKms issued), both issuing STS
//! credentials into the one caller registry the LocalKms gateway verifies requests against.
//! OIDC error codes and messages are the documented ones
//! (help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-errorcodes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::body::Bytes;
use hyper::Request;

use super::faults::Fault;
use super::gateway_api::{
    all_params, check_common, check_timestamp, error_answer, json_answer, reject,
    verify_hmac_caller, Rejection,
};
use super::server::{Answer, AnswerFuture, Handler};
use super::store::format_date;
use super::{lock, uuid_like, LocalKms, Shared};
use zeroize::Zeroizing;

/// STS API version.
pub(super) const STS_VERSION: &str = "2015-04-01";
const HOST_ID: &str = "sts.aliyuncs.com";

/// The `AssumeRole` handler.
pub(crate) fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |request: Request<Bytes>| -> AnswerFuture {
        let shared = shared.clone();
        Box::pin(async move { handle(&shared, request).await })
    })
}

async fn handle(shared: &Shared, request: Request<Bytes>) -> Answer {
    let request_id = uuid_like();
    let fault = {
        let mut state = lock(&shared.gateway);
        state.sts_requests += 1;
        state.sts_faults.take(None)
    };
    match fault {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Error {
            http_status,
            code,
            message,
        }) => return error_answer(http_status, &code, &message, &request_id, HOST_ID),
        Some(Fault::DropConnection) => return Answer::Drop,
        Some(Fault::Garbage { http_status }) => {
            return error_answer(http_status, "", "", &request_id, HOST_ID)
        }
        Some(Fault::Oversized { .. } | Fault::MalformedSecret) | None => {}
        Some(delivery @ (Fault::Truncated | Fault::SlowBody { .. })) => {
            return answer_sts(shared, &request, &request_id).delivered_with(&delivery)
        }
    }
    answer_sts(shared, &request, &request_id)
}

fn answer_sts(shared: &Shared, request: &Request<Bytes>, request_id: &str) -> Answer {
    if param_of(request, "Action").as_deref() == Some("AssumeRoleWithOIDC") {
        return answer_oidc(shared, request, request_id);
    }
    let Some(params) = all_params(request) else {
        return error_answer(
            400,
            "InvalidParameter",
            "The query string is not valid percent-encoded UTF-8.",
            request_id,
            HOST_ID,
        );
    };
    match assume_role(shared, request.method().as_str(), &params, request_id) {
        Ok(body) => json_answer(200, &body, request_id),
        Err(r) => error_answer(r.status, r.code, &r.message, request_id, HOST_ID),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn assume_role(
    shared: &Shared,
    method: &str,
    params: &[(String, String)],
    request_id: &str,
) -> Result<serde_json::Value, Rejection> {
    let mut state = lock(&shared.gateway);
    let now = state.now();
    check_common(params, now)?;
    let key_id = param(params, "AccessKeyId").unwrap_or("");
    let caller = state
        .callers
        .get(key_id)
        .filter(|c| c.security_token.is_none())
        .ok_or_else(|| {
            reject(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
    verify_hmac_caller(caller, method, params, now)?;
    let allowed = caller.allowed_secrets.clone();
    if param(params, "Action") != Some("AssumeRole")
        || param(params, "Version") != Some(STS_VERSION)
    {
        return Err(reject(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    let role_arn = param(params, "RoleArn").unwrap_or("");
    let valid_arn = role_arn
        .strip_prefix("acs:ram::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, role)| {
            !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && !role.is_empty()
        });
    if !valid_arn {
        return Err(reject(
            400,
            "InvalidParameter.RoleArn",
            format!("The parameter RoleArn {role_arn:?} is wrongly formed."),
        ));
    }
    let session = param(params, "RoleSessionName").unwrap_or("");
    if session.is_empty() {
        return Err(reject(
            400,
            "MissingRoleSessionName",
            "RoleSessionName is mandatory for this action.",
        ));
    }
    let duration = match param(params, "DurationSeconds") {
        None => 3600,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (900..=43200).contains(d))
            .ok_or_else(|| {
                reject(
                    400,
                    "InvalidParameter.DurationSeconds",
                    "The DurationSeconds must be between 900 and 43200.",
                )
            })?,
    };
    let issued = state.issue_sts(Duration::from_secs(duration), allowed);
    let account = role_arn
        .strip_prefix("acs:ram::")
        .and_then(|r| r.split_once(':'))
        .map(|(a, _)| a)
        .unwrap_or("");
    Ok(serde_json::json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "AssumedRoleId": format!("300000000000000001:{session}"),
            "Arn": format!("{role_arn}/{session}"),
            "Account": account,
        },
        "Credentials": {
            "AccessKeyId": issued.access_key_id,
            "AccessKeySecret": issued.access_key_secret.as_str(),
            "SecurityToken": issued.security_token.as_str(),
            "Expiration": format_date(issued.expiration),
        }
    }))
}

/// One parameter from the query or form body, if the request parses.
fn param_of(request: &Request<Bytes>, name: &str) -> Option<String> {
    all_params(request).and_then(|ps| param(&ps, name).map(str::to_owned))
}

/// An OIDC trust LocalKms knows: provider, role, the token it issued (and retired ones).
pub(crate) struct OidcRoleRecord {
    provider_arn: String,
    role_arn: String,
    token: Zeroizing<String>,
    generation: u32,
    retired: Vec<Zeroizing<String>>,
    token_file: PathBuf,
    allowed_secrets: Vec<String>,
}

/// OIDC roles and the `AssumeRoleWithOIDC` log of one LocalKms.
#[derive(Default)]
pub(crate) struct OidcState {
    roles: Vec<OidcRoleRecord>,
    requests: Vec<OidcStsRequest>,
}

/// An OIDC role registered with [`LocalKms::register_oidc_role`]: what RRSA puts in a pod's
/// environment (`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
/// `ALIBABA_CLOUD_OIDC_TOKEN_FILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcRole {
    /// `acs:ram::<uid>:role/<name>`.
    pub role_arn: String,
    /// `acs:ram::<uid>:oidc-provider/<name>`.
    pub oidc_provider_arn: String,
    /// The token file (owner-only), replaced atomically by [`LocalKms::rotate_oidc_token`].
    pub token_file: PathBuf,
}

impl OidcRole {
    /// The variables RRSA injects for this role (`ALIBABA_CLOUD_ROLE_ARN`,
    /// `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`) plus
    /// `ALIBABA_CLOUD_ROLE_SESSION_NAME`.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ALIBABA_CLOUD_ROLE_ARN", self.role_arn.clone()),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                self.oidc_provider_arn.clone(),
            ),
            (
                "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                self.token_file.display().to_string(),
            ),
            (
                "ALIBABA_CLOUD_ROLE_SESSION_NAME",
                "localkms-rrsa-env".to_owned(),
            ),
        ]
    }
}

/// One `AssumeRoleWithOIDC` request as LocalKms received it (the token itself is not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcStsRequest {
    /// HTTP method.
    pub method: String,
    /// Query parameters, decoded, in wire order; `OIDCToken`'s value is `(not kept)`.
    pub query: Vec<(String, String)>,
    /// Names of the form-body parameters, in wire order.
    pub body_params: Vec<String>,
    /// Names of the request headers (lower case), in wire order.
    pub header_names: Vec<String>,
    /// `RoleSessionName` sent.
    pub role_session_name: String,
    /// Which token of the role was sent: 1 for the first, 2 after one rotation, ...; `None` when
    /// it was no token LocalKms issued.
    pub token_generation: Option<u32>,
    /// HTTP status answered.
    pub http_status: u16,
    /// The STS AccessKey id issued, when the call succeeded.
    pub issued_access_key_id: Option<String>,
}

/// A JWT-shaped token (header.payload.signature, base64url) like a projected service-account
/// token; the "signature" is random, LocalKms verifies by comparing with what it issued.
fn new_oidc_token(provider: &str, generation: u32) -> Zeroizing<String> {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = br#"{"alg":"RS256","kid":"localkms","typ":"JWT"}"#;
    let payload = serde_json::json!({
        "aud": ["sts.aliyuncs.com"],
        "exp": now + 3600,
        "iat": now,
        "iss": format!("https://oidc-localkms.invalid/{provider}"),
        "sub": "system:serviceaccount:default:app",
        "jti": format!("{generation}-{}", uuid_like()),
    });
    let signature: [u8; 64] = std::array::from_fn(|_| rand::random());
    Zeroizing::new(format!(
        "{}.{}.{}",
        b64(header),
        b64(payload.to_string().as_bytes()),
        b64(&signature)
    ))
}

fn oidc_reject(code: &'static str, message: &str) -> Rejection {
    reject(401, code, message)
}

fn answer_oidc(shared: &Shared, request: &Request<Bytes>, request_id: &str) -> Answer {
    let query = super::gateway_api::parse_query(request.uri().query().unwrap_or(""));
    let body_params = std::str::from_utf8(request.body())
        .ok()
        .and_then(super::gateway_api::parse_query);
    let mut record = OidcStsRequest {
        method: request.method().as_str().to_owned(),
        // The token's value is not kept (records are printed in test failures).
        query: query
            .iter()
            .flatten()
            .map(|(k, v)| {
                let v = if k == "OIDCToken" {
                    "(not kept)".to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
        body_params: body_params
            .as_ref()
            .map(|ps| ps.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default(),
        header_names: request
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect(),
        role_session_name: String::new(),
        token_generation: None,
        http_status: 0,
        issued_access_key_id: None,
    };
    let outcome = match (query, body_params) {
        (Some(mut params), Some(body)) => {
            params.extend(body);
            assume_role_with_oidc(shared, request, &params, request_id, &mut record)
        }
        _ => Err(reject(
            400,
            "InvalidParameter",
            "The query string or form body is not valid percent-encoded UTF-8.",
        )),
    };
    let answer = match outcome {
        Ok(body) => {
            record.http_status = 200;
            json_answer(200, &body, request_id)
        }
        Err(r) => {
            record.http_status = r.status;
            error_answer(r.status, r.code, &r.message, request_id, HOST_ID)
        }
    };
    lock(&shared.oidc).requests.push(record);
    answer
}

fn assume_role_with_oidc(
    shared: &Shared,
    request: &Request<Bytes>,
    params: &[(String, String)],
    request_id: &str,
    record: &mut OidcStsRequest,
) -> Result<serde_json::Value, Rejection> {
    // The official clients call it anonymously; so must we (a credential here would be sent
    // to STS for nothing and could end up in its logs).
    for name in [
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "SecurityToken",
    ] {
        if param(params, name).is_some() {
            return Err(reject(
                400,
                "InvalidParameter",
                format!("LocalKms: AssumeRoleWithOIDC is anonymous (no AccessKey, no signature), but the request carries {name}."),
            ));
        }
    }
    for header in request.headers().keys() {
        let name = header.as_str();
        if name == "authorization" || name.starts_with("x-acs-") {
            return Err(reject(
                400,
                "InvalidParameter",
                format!("LocalKms: AssumeRoleWithOIDC is anonymous, but the request carries the header {name}."),
            ));
        }
    }
    if param(params, "Version") != Some(STS_VERSION) {
        return Err(reject(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    let server_now = lock(&shared.gateway).now();
    check_timestamp(
        "Timestamp",
        param(params, "Timestamp").unwrap_or(""),
        server_now,
    )?;
    let token = param(params, "OIDCToken").unwrap_or("");
    if token.is_empty() {
        return Err(oidc_reject(
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDCToken can not empty.",
        ));
    }
    let provider = param(params, "OIDCProviderArn").unwrap_or("");
    let role_arn = param(params, "RoleArn").unwrap_or("");
    let session = param(params, "RoleSessionName").unwrap_or("");
    record.role_session_name = session.to_owned();
    let allowed = {
        let state = lock(&shared.oidc);
        let trust = state
            .roles
            .iter()
            .find(|r| r.provider_arn == provider)
            .ok_or_else(|| {
                oidc_reject(
                    "AuthenticationFail.NoPermission",
                    "No such OIDC Provider registered.",
                )
            })?;
        if token.split('.').count() != 3 {
            return Err(oidc_reject(
                "AuthenticationFail.OIDCToken.Invalid",
                "The number of Jwt field should be divided into 3 parts with '.' .",
            ));
        }
        // Each registered role has its own provider ARN, so `trust` is the one role to check.
        if trust.token.as_str() != token {
            return Err(if trust.retired.iter().any(|t| t.as_str() == token) {
                oidc_reject(
                    "AuthenticationFail.OIDCToken.Expired",
                    "This JsonWebToken is expired.",
                )
            } else {
                oidc_reject(
                    "AuthenticationFail.OIDCToken.InvalidSignature",
                    "OIDC token validate failed: invalid signature.",
                )
            });
        }
        record.token_generation = Some(trust.generation);
        if trust.role_arn != role_arn {
            return Err(oidc_reject(
                "AuthenticationFail.NoPermission",
                "There is no permission",
            ));
        }
        trust.allowed_secrets.clone()
    };
    if session.is_empty() {
        return Err(reject(
            400,
            "MissingRoleSessionName",
            "RoleSessionName is mandatory for this action.",
        ));
    }
    let duration = match param(params, "DurationSeconds") {
        None => 3600,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (900..=43200).contains(d))
            .ok_or_else(|| {
                reject(
                    400,
                    "InvalidParameter.DurationSeconds",
                    "The DurationSeconds must be between 900 and 43200.",
                )
            })?,
    };
    if let Some(policy) = param(params, "Policy") {
        if serde_json::from_str::<serde_json::Value>(policy).is_err() {
            return Err(reject(
                400,
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ));
        }
    }
    let issued = lock(&shared.gateway).issue_sts(Duration::from_secs(duration), allowed);
    record.issued_access_key_id = Some(issued.access_key_id.clone());
    let account = role_arn
        .strip_prefix("acs:ram::")
        .and_then(|r| r.split_once(':'))
        .map(|(a, _)| a)
        .unwrap_or("");
    Ok(serde_json::json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "AssumedRoleId": format!("300000000000000000:{session}"),
            "Arn": format!("{role_arn}/{session}"),
        },
        "OIDCTokenInfo": {
            "Subject": "system:serviceaccount:default:app",
            "Issuer": format!("https://oidc-localkms.invalid/{provider}"),
            "ClientIds": "sts.aliyuncs.com",
            "VerificationInfo": "Success",
        },
        "SourceIdentity": account,
        "Credentials": {
            "AccessKeyId": issued.access_key_id,
            "AccessKeySecret": issued.access_key_secret.as_str(),
            "SecurityToken": issued.security_token.as_str(),
            "Expiration": format_date(issued.expiration),
        }
    }))
}

impl LocalKms {
    /// Registers an OIDC provider and a RAM role trusting it (like an ACK cluster with RRSA and
    /// an annotated service account) that may read `allowed_secrets`, and writes the first
    /// OIDC token to a file in [`LocalKms::dir`]. STS `AssumeRoleWithOIDC` with that provider,
    /// role and token issues STS credentials the gateway accepts.
    ///
    /// # Panics
    /// If the token file cannot be written (a broken test setup).
    pub fn register_oidc_role(&self, allowed_secrets: &[&str]) -> OidcRole {
        let mut state = lock(&self.shared.oidc);
        let n = state.roles.len() + 1;
        let provider_arn = format!(
            "acs:ram::1234567890123456:oidc-provider/ack-rrsa-localkms{n}-{}",
            hex::encode(rand::random::<[u8; 8]>())
        );
        let role_arn = format!("acs:ram::1234567890123456:role/kms-reader-rrsa-{n}");
        let token = new_oidc_token(&provider_arn, 1);
        let token_file = match super::access_point::write_secret_file(
            self.dir(),
            &format!("rrsa-token-{n}"),
            &token,
        ) {
            Ok(path) => path,
            Err(e) => panic!("LocalKms::register_oidc_role: {e}"),
        };
        state.roles.push(OidcRoleRecord {
            provider_arn: provider_arn.clone(),
            role_arn: role_arn.clone(),
            token,
            generation: 1,
            retired: Vec::new(),
            token_file: token_file.clone(),
            allowed_secrets: allowed_secrets.iter().map(|s| (*s).to_owned()).collect(),
        });
        OidcRole {
            role_arn,
            oidc_provider_arn: provider_arn,
            token_file,
        }
    }

    /// Rotates the role's OIDC token like the kubelet does: a new token replaces the file
    /// atomically, and STS then answers the old one with `AuthenticationFail.OIDCToken.Expired`
    /// (stricter than Kubernetes, where it stays valid a while, so a client that does not
    /// re-read the file is caught).
    ///
    /// # Panics
    /// If `role` is not registered here or the file cannot be written.
    pub fn rotate_oidc_token(&self, role: &OidcRole) {
        let mut state = lock(&self.shared.oidc);
        let Some(record) = state
            .roles
            .iter_mut()
            .find(|r| r.provider_arn == role.oidc_provider_arn)
        else {
            panic!("LocalKms::rotate_oidc_token: {role:?} is not registered");
        };
        record.generation += 1;
        let token = new_oidc_token(&record.provider_arn, record.generation);
        let dir = record.token_file.parent().unwrap_or(self.dir()).to_owned();
        let name = record
            .token_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = super::access_point::write_secret_file(&dir, &name, &token) {
            panic!("LocalKms::rotate_oidc_token: {e}");
        }
        let old = std::mem::replace(&mut record.token, token);
        record.retired.push(old);
    }

    /// `AssumeRoleWithOIDC` requests received, oldest first (any outcome, faults excluded).
    pub fn oidc_sts_requests(&self) -> Vec<OidcStsRequest> {
        lock(&self.shared.oidc).requests.clone()
    }

    /// A fault for every STS request (both actions) that has no queued fault; `None` ends the
    /// outage.
    pub fn set_sts_fault_always(&self, fault: Option<Fault>) {
        lock(&self.shared.gateway).sts_faults.set_always(fault);
    }

    /// Makes an issued STS session expire now: the gateway then answers its requests with
    /// `InvalidSecurityToken.Expired` (like a session revoked or expired early). False when
    /// the id is unknown.
    pub fn expire_sts_session(&self, access_key_id: &str) -> bool {
        let mut state = lock(&self.shared.gateway);
        let now = state.now();
        match state.callers.get_mut(access_key_id) {
            Some(caller) if caller.security_token.is_some() => {
                caller.expires = Some(now);
                true
            }
            _ => false,
        }
    }

    /// A properties file for an `oidc_role_arn` caller of `role` using the shared gateway:
    /// `credentials_*` keys, the fake STS as `credentials_sts_endpoint` and the gateway with
    /// this LocalKms's CA and `connectTo`. With `from_environment`, only `credentials_type`
    /// and the STS endpoint are written: role, provider, token file and session name must then
    /// come from the `ALIBABA_CLOUD_*` variables (see [`OidcRole::environment`]).
    pub fn oidc_properties(&self, role: &OidcRole, from_environment: bool) -> String {
        let gateway = self.gateway_config();
        let entry = serde_json::json!([{
            "regionId": gateway.region_id,
            "endpoint": gateway.endpoint.authority(),
            "caFilePath": self.ca_file().display().to_string(),
            "connectTo": self.gateway_addr().to_string(),
        }])
        .to_string()
        .replace('\\', "\\\\");
        let mut text = format!(
            "# Written by LocalKms: RRSA / OIDC caller of the shared gateway.\n\
             credentials_type=oidc_role_arn\n\
             credentials_sts_endpoint={}\n\
             cache_client_region_id={entry}\n",
            self.sts_endpoint().authority()
        );
        if !from_environment {
            let path = role.token_file.display().to_string().replace('\\', "\\\\");
            text.push_str(&format!(
                "credentials_role_arn={}\n\
                 credentials_oidc_provider_arn={}\n\
                 credentials_oidc_token_file_path={path}\n\
                 credentials_role_session_name=localkms-rrsa\n",
                role.role_arn, role.oidc_provider_arn
            ));
        }
        text
    }
}
