//! V3 (`ACS3-HMAC-SHA256`) verification for the LocalKms gateways — the shared gateway and the
//! instance gateway (`{instanceId}.cryptoservice.kms.aliyuncs.com` on the instance listener,
//! where requests without `x-kms-apiname` are OpenAPI requests of RAM callers, as on a real
//! instance).
//!
//! Like the RPC v1 checks in `gateway_api`, the canonicalization here is written independently
//! of the client's (`kms::gateway::acs3`): the server recomputes the canonical request from
//! what it received — the query, the headers named in `SignedHeaders`, the SHA-256 of the body
//! — and the HMAC-SHA256 with the caller's secret. Rejections use the service's codes
//! (`IncompleteSignature`, `SignatureDoesNotMatch` with the server string-to-sign,
//! `InvalidAccessKeyId.NotFound`, `IllegalTimestamp`, `SignatureNonceUsed`,
//! `MissingSecurityToken`, `InvalidSecurityToken.*`).

use hyper::body::Bytes;
use hyper::Request;

use super::gateway_api::{
    check_timestamp, not_found_key, pct, reject, signature_mismatch, CallerRecord, Rejection,
};
use super::{lock, Shared};

/// The algorithm LocalKms verifies.
const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Whether `request` carries a V3 signature.
pub(crate) fn is_acs3(request: &Request<Bytes>) -> bool {
    header(request, "authorization").is_some_and(|a| a.starts_with("ACS3-"))
}

/// The parts of `Authorization: ALG Credential=…,SignedHeaders=…,Signature=…`.
pub(crate) struct Authorization {
    pub algorithm: String,
    pub credential: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses the `Authorization` header; `None` when any part is missing.
pub(crate) fn parse_authorization(value: &str) -> Option<Authorization> {
    let (algorithm, rest) = value.trim().split_once(' ')?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value.to_owned()),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value.to_owned()),
            _ => return None,
        }
    }
    Some(Authorization {
        algorithm: algorithm.to_owned(),
        credential: credential.filter(|c| !c.is_empty())?,
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: signature.filter(|s| !s.is_empty())?,
    })
}

/// A header value as text (`None` when absent or not visible ASCII).
pub(crate) fn header<'a>(request: &'a Request<Bytes>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn incomplete(detail: &str) -> Rejection {
    reject(
        400,
        "IncompleteSignature",
        format!("The request signature does not conform to Aliyun standards. {detail}"),
    )
}

/// The server's string-to-sign of `request` as `auth` declares it signed.
fn server_string_to_sign(
    request: &Request<Bytes>,
    query: &[(String, String)],
    auth: &Authorization,
) -> Result<String, Rejection> {
    let mut sorted: Vec<&(String, String)> = query.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let canonical_query = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = request
            .headers()
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        if values.is_empty() {
            return Err(incomplete(&format!(
                "The signed header {name} is not in the request."
            )));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{}\n{}",
        request.method(),
        request.uri().path(),
        auth.signed_headers.join(";"),
        sha256_hex(request.body())
    );
    Ok(format!("{ALGORITHM}\n{}", sha256_hex(canonical.as_bytes())))
}

/// Verifies a V3 request of a registered caller; on success returns a copy of the caller's
/// permissions. `query` is the decoded query.
pub(crate) fn verify(
    shared: &Shared,
    request: &Request<Bytes>,
    query: &[(String, String)],
) -> Result<CallerRecord, Rejection> {
    let server_now = lock(&shared.gateway).now();
    let auth = header(request, "authorization")
        .and_then(parse_authorization)
        .ok_or_else(|| {
            incomplete("Authorization must be `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`.")
        })?;
    if auth.algorithm != ALGORITHM {
        return Err(incomplete(&format!(
            "LocalKms verifies {ALGORITHM} only, not {} (a ClientKey signs RPC v1 requests with SHA256withRSA).",
            auth.algorithm
        )));
    }
    let mut sorted = auth.signed_headers.clone();
    sorted.sort();
    sorted.dedup();
    if sorted != auth.signed_headers
        || auth
            .signed_headers
            .iter()
            .any(|h| h.is_empty() || *h != h.to_ascii_lowercase())
    {
        return Err(incomplete(
            "SignedHeaders must be distinct lower-case names in ascending order.",
        ));
    }
    // `host` and every `x-acs-*` header sent must be signed.
    let unsigned = request.headers().keys().map(|k| k.as_str()).find(|k| {
        (*k == "host" || k.starts_with("x-acs-")) && !auth.signed_headers.iter().any(|h| h == k)
    });
    if let Some(name) = unsigned {
        return Err(incomplete(&format!("The header {name} must be signed.")));
    }
    for (name, code) in [
        ("x-acs-action", "MissingAction"),
        ("x-acs-version", "MissingVersion"),
        ("x-acs-signature-nonce", "MissingSignatureNonce"),
    ] {
        if header(request, name).is_none_or(str::is_empty) {
            return Err(reject(
                400,
                code,
                format!("{name} is mandatory for this action."),
            ));
        }
    }
    let date = header(request, "x-acs-date").unwrap_or("");
    check_timestamp("x-acs-date", date, server_now)?;
    if let Some(sent_hash) = header(request, "x-acs-content-sha256") {
        if sent_hash != sha256_hex(request.body()) {
            return Err(reject(
                400,
                "SignatureDoesNotMatch",
                "x-acs-content-sha256 is not the SHA-256 of the request body.",
            ));
        }
    }
    if header(request, "x-acs-accesskey-id").is_some_and(|id| id != auth.credential) {
        return Err(incomplete(
            "x-acs-accesskey-id differs from the Authorization Credential.",
        ));
    }
    let string_to_sign = server_string_to_sign(request, query, &auth)?;
    let state = lock(&shared.gateway);
    let caller = state
        .callers
        .get(&auth.credential)
        .ok_or_else(not_found_key)?;
    let signature =
        hex::decode(&auth.signature).map_err(|_| signature_mismatch(&string_to_sign))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, caller.secret.as_bytes());
    ring::hmac::verify(&key, string_to_sign.as_bytes(), &signature)
        .map_err(|_| signature_mismatch(&string_to_sign))?;
    if let Some(token) = &caller.security_token {
        match header(request, "x-acs-security-token") {
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
    let permissions = CallerRecord {
        secret: zeroize::Zeroizing::new(String::new()),
        security_token: None,
        expires: None,
        allowed_secrets: caller.allowed_secrets.clone(),
    };
    drop(state);
    let nonce = header(request, "x-acs-signature-nonce")
        .unwrap_or("")
        .to_owned();
    if !lock(&shared.gateway).seen_nonces.insert(nonce) {
        return Err(reject(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    if header(request, "x-acs-action") != Some("GetSecretValue")
        || header(request, "x-acs-version") != Some(crate::kms::gateway::signing::KMS_API_VERSION)
    {
        return Err(reject(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The captured request of the official Python v2 client to a KMS instance gateway
    /// (shared/vectors/dedicated-gateway, `v2_ak_instance_gateway_cafile_fixed`).
    fn captured() -> Request<Bytes> {
        let mut builder = Request::builder()
            .method("POST")
            .uri("/?FetchExtendedConfig=True&SecretName=acs%2Fram%2Fuser%2Fapp-prod&VersionStage=ACSCurrent");
        for (name, value) in [
            ("host", "kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com"),
            ("x-acs-version", "2016-01-20"),
            ("x-acs-action", "GetSecretValue"),
            ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2 alibabacloud-secretsmanager-client-python-v2/2.0.0/2.0.0 cn-hangzhou_ca_expiration_utc_date/2039-06-30"),
            ("x-acs-date", "2024-02-01T08:00:00Z"),
            ("x-acs-signature-nonce", "8c5b2d1e4f3a49c0b7e6d5c4b3a29180"),
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("x-acs-credentials-provider", "static_ak"),
            ("authorization", "ACS3-HMAC-SHA256 Credential=LTAI5tFakeCallerKeyId001,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=364e14625b681eff5541f3b014bf38dff8007b8e264b5eb98aa4ac1bf95c3c13"),
        ] {
            builder = builder.header(name, value);
        }
        builder.body(Bytes::new()).unwrap()
    }

    #[test]
    fn the_server_string_to_sign_of_the_captured_request_is_the_recorded_one() {
        let request = captured();
        let query = super::super::gateway_api::parse_query(request.uri().query().unwrap()).unwrap();
        let auth = parse_authorization(header(&request, "authorization").unwrap()).unwrap();
        assert_eq!(auth.credential, "LTAI5tFakeCallerKeyId001");
        let sts = server_string_to_sign(&request, &query, &auth).ok().unwrap();
        assert_eq!(
            sts,
            "ACS3-HMAC-SHA256\na831e741dc78bf46d658dca025ab31d276c62399413ae1bad81deb1e66a00438"
        );
        let key =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"FakeCallerAccessKeySecret0000001");
        let signature = hex::decode(&auth.signature).unwrap();
        assert!(ring::hmac::verify(&key, sts.as_bytes(), &signature).is_ok());
        let wrong =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"FakeCallerAccessKeySecret0000002");
        assert!(ring::hmac::verify(&wrong, sts.as_bytes(), &signature).is_err());
    }

    #[test]
    fn malformed_authorization_headers_are_refused() {
        for bad in [
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=00",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=00,Extra=1",
        ] {
            assert!(parse_authorization(bad).is_none(), "{bad}");
        }
    }
}
