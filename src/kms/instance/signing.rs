//! Pure request building for `GetSecretValue` (spec §1.2 headers, §2 signature, §3.1 body):
//! no I/O and no clock, so the golden vectors can pin the date and compare bytes.

use std::time::SystemTime;

use base64::Engine;
use prost::Message;

use super::proto;
use crate::config::Endpoint;
use crate::identity::ClientKey;
use crate::kms::{GetSecretValueRequest, KmsError};

/// `content-type` and `accept` of every request and response.
pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
/// `x-kms-apiversion`: the only version any SDK sends.
pub(crate) const API_VERSION: &str = "dkms-gcs-0.2";
/// `x-kms-apiname` for the one operation we call.
pub(crate) const API_NAME: &str = "GetSecretValue";
/// `x-kms-signaturemethod`: the only method the service accepts.
pub(crate) const SIGNATURE_METHOD: &str = "RSA_PKCS1_SHA_256";
/// Our `user-agent`: crate name and version (the server does not sign or check it).
pub(crate) const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// A fully built and signed request: what goes on the wire, plus the intermediate values the
/// conformance tests compare with the golden vectors.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SignedInstanceRequest {
    /// Protobuf `GetSecretValueRequest` bytes (the exact bytes hashed and sent).
    pub body: Vec<u8>,
    /// Upper-case hex SHA-256 of `body` (`content-sha256`).
    pub content_sha256: String,
    /// The string that was signed (spec §2.2).
    pub string_to_sign: String,
    /// `Bearer <base64 signature>` (`authorization`).
    pub authorization: String,
    /// Every header, lower-case names, in the order the official SDKs send them.
    pub headers: Vec<(&'static str, String)>,
}

impl SignedInstanceRequest {
    #[cfg(test)]
    /// The value of header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// IMF-fixdate (`Thu, 01 Feb 2024 08:00:00 GMT`), the only `date` form the server accepts.
pub(crate) fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

/// Proto3 body: empty strings and `false` are omitted (prost skips default values), fields in
/// ascending number order — byte-identical to the official SDKs.
pub(crate) fn encode_body(request: &GetSecretValueRequest) -> Vec<u8> {
    proto::RequestMessage {
        secret_name: request.secret_name.clone(),
        version_stage: request.version_stage.clone().unwrap_or_default(),
        version_id: request.version_id.clone().unwrap_or_default(),
        fetch_extended_config: request.fetch_extended_config,
    }
    .encode_to_vec()
}

/// Upper-case hex SHA-256 (`content-sha256`; not base64, not lower case).
pub(crate) fn content_sha256(body: &[u8]) -> String {
    hex::encode_upper(ring::digest::digest(&ring::digest::SHA256, body))
}

/// String-to-sign of spec §2.2: method, content-sha256, content-type, date, then every `x-kms-*`
/// header sorted by name as `name:trimmed value\n`, then the resource `/` without a newline.
pub(crate) fn string_to_sign(
    content_sha256: &str,
    content_type: &str,
    date: &str,
    kms_headers: &[(&str, &str)],
) -> String {
    let mut canonical: Vec<(String, &str)> = kms_headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| name.starts_with("x-kms-"))
        .collect();
    canonical.sort();
    let mut out = format!("POST\n{content_sha256}\n{content_type}\n{date}\n");
    for (name, value) in canonical {
        out.push_str(&name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('/');
    out
}

/// Redacts the `authorization` signature: replayed within the server's date window it would
/// fetch the secret again, so it must not reach logs through `{:?}`.
impl std::fmt::Debug for SignedInstanceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    *n,
                    if *n == "authorization" {
                        "Bearer <redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("SignedInstanceRequest")
            .field("body_len", &self.body.len())
            .field("content_sha256", &self.content_sha256)
            .field("string_to_sign", &self.string_to_sign)
            .field("authorization", &"Bearer <redacted>")
            .field("headers", &headers)
            .finish()
    }
}

/// Builds body, headers and signature for one attempt. `date` is an IMF-fixdate string
/// (see [`http_date`]); every retry must call this again with a fresh date.
pub(crate) fn build_request(
    key: &ClientKey,
    endpoint: &Endpoint,
    request: &GetSecretValueRequest,
    date: &str,
) -> Result<SignedInstanceRequest, KmsError> {
    let body = encode_body(request);
    let sha = content_sha256(&body);
    let kms_headers: [(&'static str, &str); 4] = [
        ("x-kms-apiversion", API_VERSION),
        ("x-kms-apiname", API_NAME),
        ("x-kms-signaturemethod", SIGNATURE_METHOD),
        ("x-kms-acccesskeyid", key.key_id()),
    ];
    let string_to_sign = string_to_sign(&sha, CONTENT_TYPE, date, &kms_headers);
    let signature = key
        .sign_sha256_rsa(string_to_sign.as_bytes())
        .map_err(|e| KmsError::Request {
            endpoint: endpoint.to_string(),
            detail: e.to_string(),
        })?;
    let authorization = format!(
        "Bearer {}",
        base64::engine::general_purpose::STANDARD.encode(signature)
    );
    let mut headers: Vec<(&'static str, String)> = vec![
        ("accept", CONTENT_TYPE.to_owned()),
        ("host", endpoint.authority()),
        ("date", date.to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
    ];
    headers.extend(kms_headers.iter().map(|(n, v)| (*n, (*v).to_owned())));
    headers.extend([
        ("content-type", CONTENT_TYPE.to_owned()),
        ("content-length", body.len().to_string()),
        ("content-sha256", sha.clone()),
        ("authorization", authorization.clone()),
    ]);
    Ok(SignedInstanceRequest {
        body,
        content_sha256: sha,
        string_to_sign,
        authorization,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_signature() {
        let request = SignedInstanceRequest {
            body: vec![1, 2, 3],
            content_sha256: "AB".into(),
            string_to_sign: "POST\nAB".into(),
            authorization: "Bearer c2lnbmF0dXJlLXNlY3JldA==".into(),
            headers: vec![
                ("date", "D".into()),
                ("authorization", "Bearer c2lnbmF0dXJlLXNlY3JldA==".into()),
            ],
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("c2lnbmF0dXJlLXNlY3JldA"), "{shown}");
        assert!(
            shown.contains("Bearer <redacted>") && shown.contains("\"D\""),
            "{shown}"
        );
    }

    #[test]
    fn string_to_sign_sorts_trims_and_ignores_other_headers() {
        let s = string_to_sign(
            "AB",
            CONTENT_TYPE,
            "D",
            &[
                ("x-kms-b", " 2 "),
                ("host", "h"),
                ("X-KMS-A", "1"),
                ("user-agent", "u"),
            ],
        );
        assert_eq!(
            s,
            "POST\nAB\napplication/x-protobuf\nD\nx-kms-a:1\nx-kms-b:2\n/"
        );
    }

    #[test]
    fn body_omits_defaults() {
        let minimal = GetSecretValueRequest {
            secret_name: "n".into(),
            version_stage: Some(String::new()),
            version_id: None,
            fetch_extended_config: false,
        };
        assert_eq!(encode_body(&minimal), [0x0a, 0x01, b'n']);
        let full = GetSecretValueRequest {
            version_id: Some("v".into()),
            fetch_extended_config: true,
            ..minimal
        };
        assert_eq!(
            encode_body(&full),
            [0x0a, 0x01, b'n', 0x1a, 0x01, b'v', 0x20, 0x01]
        );
    }

    #[test]
    fn http_date_is_imf_fixdate() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_706_774_400);
        assert_eq!(http_date(t), "Thu, 01 Feb 2024 08:00:00 GMT");
    }

    #[test]
    fn sha_is_upper_hex() {
        let s = content_sha256(b"");
        assert_eq!(
            s,
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
    }
}
