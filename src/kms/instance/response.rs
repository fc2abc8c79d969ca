//! Turning an HTTP answer into a [`SecretValue`] or a typed [`KmsError`] (spec §3.2–§3.4).
//! Shared by the client and the conformance tests, so both exercise the same code path.

use prost::Message;
use zeroize::Zeroize;

use super::proto;
use crate::config::{Endpoint, SecretString};
use crate::kms::{KmsError, SecretValue};

/// Longest excerpt of a non-protobuf *error* body quoted in an error message (never for 2xx,
/// whose body would hold secret data).
const ERROR_EXCERPT_CHARS: usize = 120;

/// Decodes one answer: 2xx → `GetSecretValueResponse`, 4xx/5xx → protobuf `Error` as
/// [`KmsError::Service`]; anything undecodable, empty or of another status →
/// [`KmsError::InvalidResponse`] naming the status, content type and body length.
pub(crate) fn decode_response(
    http_status: u16,
    content_type: Option<&str>,
    body: &[u8],
    endpoint: &Endpoint,
    secret_name: &str,
) -> Result<SecretValue, KmsError> {
    let invalid = |detail: String| KmsError::InvalidResponse {
        endpoint: endpoint.to_string(),
        http_status,
        detail,
    };
    let shown_type = content_type.unwrap_or("none");
    match http_status {
        200..=299 => {
            if content_type.is_some_and(is_text_type) {
                return Err(invalid(format!(
                    "expected a protobuf GetSecretValueResponse but got content-type {shown_type} ({} bytes); something other than KMS answered",
                    body.len()
                )));
            }
            let mut decoded = proto::ResponseMessage::decode(body).map_err(|e| {
                invalid(format!(
                    "the GetSecretValueResponse could not be decoded ({e}; content-type {shown_type}, {} bytes)",
                    body.len()
                ))
            })?;
            if decoded.secret_name.is_empty() && decoded.secret_data.is_empty() {
                decoded.secret_data.zeroize();
                return Err(invalid(format!(
                    "the GetSecretValueResponse has neither SecretName nor SecretData (content-type {shown_type}, {} bytes)",
                    body.len()
                )));
            }
            Ok(into_secret_value(decoded))
        }
        400..=599 => match proto::ErrorMessage::decode(body) {
            Ok(error) if !error.error_code.is_empty() => Err(KmsError::Service {
                endpoint: endpoint.to_string(),
                secret_name: secret_name.to_owned(),
                http_status,
                code: error.error_code,
                message: error.error_message,
                request_id: error.request_id,
                details: None,
            }),
            Ok(_) if body.is_empty() => Err(invalid(format!(
                "empty error body (content-type {shown_type}); expected a protobuf Error with an ErrorCode — a proxy or load balancer may have answered instead of KMS"
            ))),
            Ok(_) => Err(invalid(format!(
                "error body without ErrorCode (content-type {shown_type}, {} bytes){}",
                body.len(),
                excerpt(body)
            ))),
            Err(_) => Err(invalid(format!(
                "error body is not a protobuf Error (content-type {shown_type}, {} bytes){}; a proxy or load balancer may have answered instead of KMS",
                body.len(),
                excerpt(body)
            ))),
        },
        _ => Err(invalid(format!(
            "unexpected HTTP status (content-type {shown_type}, {} bytes); KMS answers 2xx or a 4xx/5xx protobuf Error",
            body.len()
        ))),
    }
}

/// Moves every field across; the secret goes straight into a zeroizing [`SecretString`]
/// without a copy.
fn into_secret_value(mut r: proto::ResponseMessage) -> SecretValue {
    let secret_data = SecretString::new(std::mem::take(&mut r.secret_data));
    SecretValue {
        secret_name: r.secret_name,
        secret_type: r.secret_type,
        secret_data,
        secret_data_type: r.secret_data_type,
        version_stages: r.version_stages,
        version_id: r.version_id,
        create_time: r.create_time,
        request_id: r.request_id,
        last_rotation_date: r.last_rotation_date,
        next_rotation_date: r.next_rotation_date,
        extended_config: r.extended_config,
        automatic_rotation: r.automatic_rotation,
        rotation_interval: r.rotation_interval,
    }
}

/// `text/html`, `text/plain`, JSON and the like: bodies KMS never sends.
fn is_text_type(content_type: &str) -> bool {
    let t = content_type.trim().to_ascii_lowercase();
    t.starts_with("text/") || t.contains("html") || t.contains("json")
}

/// `: "<first printable characters>"` of an error body, for proxies' HTML pages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_EXCERPT_CHARS)
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        String::new()
    } else {
        format!(", starting \"{cleaned}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoint {
        Endpoint {
            host: "kst-x.cryptoservice.kms.aliyuncs.com".into(),
            port: 443,
        }
    }

    #[test]
    fn redirect_status_is_invalid() {
        let e = decode_response(302, None, b"", &ep(), "s").unwrap_err();
        assert!(matches!(
            e,
            KmsError::InvalidResponse {
                http_status: 302,
                ..
            }
        ));
    }

    #[test]
    fn html_200_is_rejected_without_quoting_the_body() {
        let e = decode_response(200, Some("text/html"), b"<html>secret</html>", &ep(), "s")
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("text/html"), "{text}");
        assert!(!text.contains("secret</html>"), "{text}");
    }

    #[test]
    fn empty_200_is_invalid() {
        let e = decode_response(
            200,
            Some(super::super::signing::CONTENT_TYPE),
            b"",
            &ep(),
            "s",
        )
        .unwrap_err();
        assert!(e.to_string().contains("neither SecretName nor SecretData"));
    }

    #[test]
    fn error_without_code_is_invalid() {
        let body = proto::ErrorMessage {
            status_code: 500,
            ..Default::default()
        }
        .encode_to_vec();
        let e = decode_response(500, None, &body, &ep(), "s").unwrap_err();
        assert!(e.to_string().contains("without ErrorCode"), "{e}");
    }
}
