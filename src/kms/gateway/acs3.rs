//! The V3 header signature (`ACS3-HMAC-SHA256`) as pure functions (protocol spec §5 of
//! `shared-gateway-api.md`, `dedicated-gateway-ram-auth.md` §3): what the official v2
//! secrets-manager clients send to the shared gateway and to a KMS instance's own gateway
//! `{instanceId}.cryptoservice.kms.aliyuncs.com`. No I/O and no clock, so golden vectors pin
//! every byte.
//!
//! Differences from RPC v1 ([`super::signing`]) that matter:
//! * only the action parameters go in the query (no `Action`, `Version`, `Signature*`);
//! * the query is percent-encoded **once** inside the canonical request, not twice;
//! * `host` and every `x-acs-*` header are signed, so the `Host` sent must be exactly
//!   [`Endpoint::authority`](crate::config::Endpoint) (no `:443`);
//! * the STS token is the signed header `x-acs-security-token`, not a query parameter;
//! * the HMAC key is the bare secret (no `&`), the signature lower-case hex.
//!
//! The percent-encoding and the sorted canonical query are the RPC v1 ones
//! ([`canonical_query`]); the credential is whatever [`SigningKey`] the caller's session yields.

use super::signing::{canonical_query, SigningKey};
use crate::identity::{acs3_hmac_sha256_signature, IdentityError};

/// `ACS3-HMAC-SHA256`: AccessKey, STS token and every role session.
pub(crate) const ACS3_HMAC_SHA256: &str = "ACS3-HMAC-SHA256";
/// `ACS3-RSA-SHA256`: a ClientKey. Implemented because the Tea core has it (and the vectors
/// pin it), but never chosen: no official client signs a ClientKey with V3.
pub(crate) const ACS3_RSA_SHA256: &str = "ACS3-RSA-SHA256";
/// `content-type` of the (empty) form body, sent and signed like the official Tea core does.
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// One V3 request before signing. Date and nonce are inputs so tests can pin them.
#[derive(Clone, Debug)]
pub(crate) struct Acs3Request<'a> {
    /// HTTP method (`POST`).
    pub method: &'a str,
    /// The `host` header as it will be sent: `host` or `host:port` when the port is not 443.
    pub host: &'a str,
    /// `x-acs-action`, e.g. `GetSecretValue`.
    pub action: &'a str,
    /// `x-acs-version`, e.g. `2016-01-20`.
    pub version: &'a str,
    /// `x-acs-date`: UTC `YYYY-MM-DDThh:mm:ssZ` (see [`super::signing::format_timestamp`]).
    pub date: &'a str,
    /// `x-acs-signature-nonce` (see [`super::signing::new_nonce`]).
    pub nonce: &'a str,
    /// `user-agent` (signed, as the Tea core does).
    pub user_agent: &'a str,
    /// `x-acs-credentials-provider`: free-form and informational (`static_ak`, ...); `None`
    /// omits the header.
    pub credentials_provider: Option<&'a str>,
    /// The action parameters (query), any order.
    pub query: &'a [(String, String)],
    /// The body (empty for `GetSecretValue`).
    pub body: &'a [u8],
}

/// A signed V3 request. Holds the security token in `headers`: never log or `Debug` it.
pub(crate) struct SignedAcs3 {
    /// The query string to send (sorted and encoded exactly as signed), without `?`.
    pub query: String,
    /// Every header to send, in the order the Python Tea core sends them, `authorization` last.
    pub headers: Vec<(&'static str, String)>,
    /// The canonical request (contains the token; read by the vector tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub canonical_request: String,
    /// `ALG\nhex(sha256(canonical_request))`: no secret in it.
    pub string_to_sign: String,
    /// The `Authorization` header value (also the last of `headers`; read by the vector tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub authorization: String,
}

impl std::fmt::Debug for SignedAcs3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedAcs3")
            .field("string_to_sign", &self.string_to_sign)
            .finish_non_exhaustive()
    }
}

/// Lower-case hex SHA-256 (`x-acs-content-sha256`, the hashed canonical request).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// The algorithm a credential signs V3 requests with.
pub(crate) fn algorithm(key: &SigningKey) -> &'static str {
    match key {
        SigningKey::ClientKey(_) => ACS3_RSA_SHA256,
        SigningKey::Hmac { .. } => ACS3_HMAC_SHA256,
    }
}

/// `METHOD\n/\nquery\n<name:value\n per header, sorted>\n<names ;-joined>\n<hashed payload>`.
/// `headers` must be lower-case names; values are trimmed.
pub(crate) fn canonical_request(
    method: &str,
    query: &str,
    headers: &[(&str, &str)],
    hashed_payload: &str,
) -> (String, String) {
    let mut sorted: Vec<(&str, &str)> = headers.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = format!("{method}\n/\n{query}\n");
    for (name, value) in &sorted {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }
    let signed_headers = sorted
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    out.push('\n');
    out.push_str(&signed_headers);
    out.push('\n');
    out.push_str(hashed_payload);
    (out, signed_headers)
}

/// Signs `request` with `key`: every header sent is signed.
pub(crate) fn sign(
    request: &Acs3Request<'_>,
    key: &SigningKey,
) -> Result<SignedAcs3, IdentityError> {
    let query = canonical_query(request.query);
    let content_sha256 = sha256_hex(request.body);
    let mut headers: Vec<(&'static str, String)> = vec![
        ("host", request.host.to_owned()),
        ("x-acs-version", request.version.to_owned()),
        ("x-acs-action", request.action.to_owned()),
        ("user-agent", request.user_agent.to_owned()),
        ("x-acs-date", request.date.to_owned()),
        ("x-acs-signature-nonce", request.nonce.to_owned()),
        ("accept", "application/json".to_owned()),
        ("content-type", FORM_CONTENT_TYPE.to_owned()),
        ("x-acs-content-sha256", content_sha256.clone()),
    ];
    if let Some(provider) = request.credentials_provider {
        headers.push(("x-acs-credentials-provider", provider.to_owned()));
    }
    if let SigningKey::Hmac {
        access_key_id,
        security_token: Some(token),
        ..
    } = key
    {
        headers.push(("x-acs-accesskey-id", access_key_id.clone()));
        headers.push(("x-acs-security-token", token.expose().to_owned()));
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (canonical_request, signed_headers) =
        canonical_request(request.method, &query, &pairs, &content_sha256);
    let algorithm = algorithm(key);
    let string_to_sign = format!("{algorithm}\n{}", sha256_hex(canonical_request.as_bytes()));
    let signature = match key {
        SigningKey::ClientKey(client_key) => {
            hex::encode(client_key.sign_sha256_rsa(string_to_sign.as_bytes())?)
        }
        SigningKey::Hmac {
            access_key_secret, ..
        } => acs3_hmac_sha256_signature(access_key_secret.expose(), &string_to_sign),
    };
    let authorization = format!(
        "{algorithm} Credential={},SignedHeaders={signed_headers},Signature={signature}",
        key.access_key_id()
    );
    headers.push(("authorization", authorization.clone()));
    Ok(SignedAcs3 {
        query,
        headers,
        canonical_request,
        string_to_sign,
        authorization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_hash_is_the_well_known_one() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn canonical_request_sorts_trims_and_ends_headers_with_a_blank_line() {
        let (canonical, signed) = canonical_request(
            "POST",
            "a=1",
            &[("x-acs-b", " two "), ("host", "h"), ("accept", "x")],
            "hash",
        );
        assert_eq!(
            canonical,
            "POST\n/\na=1\naccept:x\nhost:h\nx-acs-b:two\n\naccept;host;x-acs-b\nhash"
        );
        assert_eq!(signed, "accept;host;x-acs-b");
    }

    #[test]
    fn the_token_is_a_signed_header_and_never_in_debug() {
        let key = SigningKey::Hmac {
            access_key_id: "STS.id".into(),
            access_key_secret: "secret-value".into(),
            security_token: Some("token+/= value".into()),
        };
        let query = vec![("SecretName".to_owned(), "a/b".to_owned())];
        let signed = sign(
            &Acs3Request {
                method: "POST",
                host: "kms.cn-hangzhou.aliyuncs.com",
                action: "GetSecretValue",
                version: "2016-01-20",
                date: "2024-02-01T08:00:00Z",
                nonce: "n",
                user_agent: "ua",
                credentials_provider: None,
                query: &query,
                body: b"",
            },
            &key,
        )
        .unwrap();
        assert_eq!(signed.query, "SecretName=a%2Fb");
        assert!(signed
            .canonical_request
            .contains("\nx-acs-security-token:token+/= value\n"));
        assert!(signed.authorization.contains(
            "SignedHeaders=accept;content-type;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,"
        ));
        let debug = format!("{signed:?}");
        assert!(
            !debug.contains("token+/=") && !debug.contains("secret-value"),
            "{debug}"
        );
    }
}
