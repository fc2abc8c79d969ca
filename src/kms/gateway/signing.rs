//! RPC signature version 1.0 as pure functions (protocol spec §4.3–4.4): RFC 3986 percent
//! encoding, the sorted canonical query, the double-encoded string-to-sign and the HMAC-SHA1 /
//! SHA256withRSA signatures. No I/O and no clock, so golden vectors pin every byte.

use std::time::SystemTime;

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use time::OffsetDateTime;

use crate::config::SecretString;
use crate::identity::{rpc_hmac_sha1_signature, ClientKey, IdentityError};

/// Everything except the RFC 3986 unreserved set `A–Z a–z 0–9 - _ . ~` is escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// API version of `GetSecretValue` on the shared gateway.
pub(crate) const KMS_API_VERSION: &str = "2016-01-20";

/// RFC 3986 percent-encoding of the UTF-8 bytes of `value` with upper-case hex (space → `%20`,
/// `*` → `%2A`, `~` literal) — not form encoding.
pub(crate) fn percent_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// The canonical query: parameters sorted byte-wise by name (stable for equal names),
/// `pct(name)=pct(value)` joined by `&`. `Signature` must not be in `params`.
pub(crate) fn canonical_query(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    join_encoded(sorted.into_iter())
}

/// `METHOD&%2F&pct(canonical)`: the canonical query is percent-encoded a second time.
pub(crate) fn string_to_sign(method: &str, canonical: &str) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(canonical)
    )
}

/// `base64(RSASSA-PKCS1-v1_5-SHA256(key, string_to_sign))` (ClientKey; no `&` is involved).
pub(crate) fn rsa_signature(
    key: &ClientKey,
    string_to_sign: &str,
) -> Result<String, IdentityError> {
    let signature = key.sign_sha256_rsa(string_to_sign.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signature))
}

/// The query string as sent: `params` in the given order, then `Signature` last.
pub(crate) fn signed_query(params: &[(String, String)], signature: &str) -> String {
    let mut query = join_encoded(params.iter());
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str("Signature=");
    query.push_str(&percent_encode(signature));
    query
}

fn join_encoded<'a>(params: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut out = String::new();
    for (i, (name, value)) in params.enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(name));
        out.push('=');
        out.push_str(&percent_encode(value));
    }
    out
}

/// `Timestamp` parameter: UTC, second precision, literal `Z` (`2024-02-01T08:00:00Z`).
pub(crate) fn format_timestamp(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A fresh `SignatureNonce`: 128 random bits as 32 lower-case hex digits.
pub(crate) fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The credential one request is signed with: what every KMS identity type boils down to.
#[derive(Clone)]
pub(crate) enum SigningKey {
    /// ClientKey: `SHA256withRSA`, `SignatureType=PRIVATEKEY`, `AccessKeyId` = KeyId.
    ClientKey(ClientKey),
    /// AccessKey or STS credentials: `HMAC-SHA1` with `secret + "&"`; STS adds `SecurityToken`.
    Hmac {
        /// `AccessKeyId`.
        access_key_id: String,
        /// The secret (never sent).
        access_key_secret: SecretString,
        /// `SecurityToken` for STS, RAM-role and ECS-role credentials.
        security_token: Option<SecretString>,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientKey(key) => f.debug_tuple("ClientKey").field(&key.key_id()).finish(),
            Self::Hmac {
                access_key_id,
                security_token,
                ..
            } => f
                .debug_struct("Hmac")
                .field("access_key_id", access_key_id)
                .field("sts", &security_token.is_some())
                .finish_non_exhaustive(),
        }
    }
}

impl SigningKey {
    /// The `AccessKeyId` sent on the wire (the KeyId for a ClientKey).
    pub(crate) fn access_key_id(&self) -> &str {
        match self {
            Self::ClientKey(key) => key.key_id(),
            Self::Hmac { access_key_id, .. } => access_key_id,
        }
    }

    /// `SignatureMethod`.
    pub(crate) fn signature_method(&self) -> &'static str {
        match self {
            Self::ClientKey(_) => "SHA256withRSA",
            Self::Hmac { .. } => "HMAC-SHA1",
        }
    }

    /// Signs `string_to_sign` with this credential.
    pub(crate) fn sign(&self, string_to_sign: &str) -> Result<String, IdentityError> {
        match self {
            Self::ClientKey(key) => rsa_signature(key, string_to_sign),
            Self::Hmac {
                access_key_secret, ..
            } => Ok(rpc_hmac_sha1_signature(
                access_key_secret.expose(),
                string_to_sign,
            )),
        }
    }
}

/// One RPC call before signing: action parameters plus the common ones, in send order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RpcCall<'a> {
    /// `Action`, e.g. `GetSecretValue`.
    pub action: &'a str,
    /// `Version`, e.g. `2016-01-20`.
    pub version: &'a str,
    /// `RegionId`.
    pub region_id: &'a str,
    /// `Timestamp` (see [`format_timestamp`]).
    pub timestamp: &'a str,
    /// `SignatureNonce` (see [`new_nonce`]).
    pub nonce: &'a str,
}

/// A signed request: the query to send and the string that was signed (for diagnostics of
/// `SignatureDoesNotMatch`; it contains the `SecurityToken`, so never log it).
pub(crate) struct SignedRpcRequest {
    /// Query string without the leading `?`, `Signature` last.
    pub query: String,
    /// The string-to-sign.
    pub string_to_sign: String,
}

impl std::fmt::Debug for SignedRpcRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignedRpcRequest { .. }")
    }
}

/// All parameters of `call` in the order the official Python core sends them: action parameters,
/// `SecurityToken`, then `Version, Action, Format, RegionId, Timestamp, SignatureMethod,
/// SignatureType, SignatureVersion, SignatureNonce, AccessKeyId`. HMAC calls send
/// `SignatureType=` present and empty, as the Python and Go cores do.
pub(crate) fn rpc_params(
    call: &RpcCall<'_>,
    action_params: &[(&str, &str)],
    credential: &SigningKey,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = action_params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let SigningKey::Hmac {
        security_token: Some(token),
        ..
    } = credential
    {
        params.push(("SecurityToken".into(), token.expose().to_owned()));
    }
    let signature_type = match credential {
        SigningKey::ClientKey(_) => "PRIVATEKEY",
        SigningKey::Hmac { .. } => "",
    };
    for (name, value) in [
        ("Version", call.version),
        ("Action", call.action),
        ("Format", "JSON"),
        ("RegionId", call.region_id),
        ("Timestamp", call.timestamp),
        ("SignatureMethod", credential.signature_method()),
        ("SignatureType", signature_type),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", call.nonce),
        ("AccessKeyId", credential.access_key_id()),
    ] {
        params.push((name.to_owned(), value.to_owned()));
    }
    params
}

/// Canonicalizes and signs `params` (send order, without `Signature`) for `POST /`.
pub(crate) fn sign_params(
    params: &[(String, String)],
    credential: &SigningKey,
) -> Result<SignedRpcRequest, IdentityError> {
    let string_to_sign = string_to_sign("POST", &canonical_query(params));
    let signature = credential.sign(&string_to_sign)?;
    Ok(SignedRpcRequest {
        query: signed_query(params, &signature),
        string_to_sign,
    })
}

/// The action parameters of `GetSecretValue` in send order (`FetchExtendedConfig=true` when asked).
pub(crate) fn get_secret_value_params(
    request: &crate::kms::GetSecretValueRequest,
) -> Vec<(&str, &str)> {
    let mut params = vec![("SecretName", request.secret_name.as_str())];
    if let Some(stage) = &request.version_stage {
        params.push(("VersionStage", stage.as_str()));
    }
    if let Some(id) = &request.version_id {
        params.push(("VersionId", id.as_str()));
    }
    if request.fetch_extended_config {
        params.push(("FetchExtendedConfig", "true"));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_is_rfc3986_upper_hex() {
        assert_eq!(
            percent_encode("a b*c~d/e+f=g:h"),
            "a%20b%2Ac~d%2Fe%2Bf%3Dg%3Ah"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn canonical_query_sorts_by_name_and_keeps_empty_values() {
        let params = vec![
            ("b".to_owned(), "2".to_owned()),
            ("SignatureType".to_owned(), String::new()),
            ("AccessKeyId".to_owned(), "x".to_owned()),
            ("Action".to_owned(), "y z".to_owned()),
        ];
        assert_eq!(
            canonical_query(&params),
            "AccessKeyId=x&Action=y%20z&SignatureType=&b=2"
        );
    }

    #[test]
    fn string_to_sign_double_encodes() {
        assert_eq!(
            string_to_sign("POST", "A=acs%2Fram&T=08%3A00"),
            "POST&%2F&A%3Dacs%252Fram%26T%3D08%253A00"
        );
    }

    #[test]
    fn timestamp_is_second_precision_utc() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_706_774_400_999);
        assert_eq!(format_timestamp(at), "2024-02-01T08:00:00Z");
    }

    #[test]
    fn nonces_are_fresh_hex() {
        let a = new_nonce();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_nonce());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cred = SigningKey::Hmac {
            access_key_id: "LTAIid".into(),
            access_key_secret: "very-secret".into(),
            security_token: Some("token-secret".into()),
        };
        let text = format!("{cred:?}");
        assert!(text.contains("LTAIid"));
        assert!(!text.contains("very-secret") && !text.contains("token-secret"));
    }
}
