//! Decoding gateway answers (protocol spec §6): the `GetSecretValue` JSON (nested JSON strings
//! `SecretData` / `ExtendedConfig`, `VersionStages` as `{"VersionStage": [...]}`, unknown fields
//! ignored) and POP error bodies (`Code`, `Message`, `RequestId`, `HostId`, `Recommend`).

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::config::SecretString;
use crate::kms::{KmsError, SecretValue};

#[derive(Deserialize, Default)]
#[serde(default)]
struct SuccessBody {
    #[serde(rename = "RequestId")]
    request_id: Option<String>,
    #[serde(rename = "SecretName")]
    secret_name: Option<String>,
    #[serde(rename = "SecretType")]
    secret_type: Option<String>,
    #[serde(rename = "SecretData")]
    secret_data: Option<Zeroizing<String>>,
    #[serde(rename = "SecretDataType")]
    secret_data_type: Option<String>,
    #[serde(rename = "VersionId")]
    version_id: Option<String>,
    #[serde(rename = "VersionStages")]
    version_stages: Option<VersionStages>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "LastRotationDate")]
    last_rotation_date: Option<String>,
    #[serde(rename = "NextRotationDate")]
    next_rotation_date: Option<String>,
    #[serde(rename = "ExtendedConfig")]
    extended_config: Option<ExtendedConfig>,
    #[serde(rename = "AutomaticRotation")]
    automatic_rotation: Option<String>,
    #[serde(rename = "RotationInterval")]
    rotation_interval: Option<String>,
}

/// `{"VersionStage": [...]}` as sent; a bare list or a single string is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionStages {
    Wrapped {
        #[serde(rename = "VersionStage", default)]
        version_stage: StageList,
    },
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum StageList {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

/// `ExtendedConfig` is a JSON string; an object is accepted and re-serialized.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExtendedConfig {
    Text(String),
    Object(serde_json::Value),
}

/// Decodes a 2xx `GetSecretValue` body. `endpoint` / `http_status` are for error messages;
/// the error never quotes the body (it holds the secret).
pub(crate) fn decode_secret_value(
    endpoint: &str,
    http_status: u16,
    body: &[u8],
) -> Result<SecretValue, KmsError> {
    let invalid = |detail: String| KmsError::InvalidResponse {
        endpoint: endpoint.to_owned(),
        http_status,
        detail,
    };
    let parsed: SuccessBody = serde_json::from_slice(body).map_err(|e| {
        invalid(format!(
            "the GetSecretValue answer is not the expected JSON object ({} at line {} column {}; {} bytes)",
            classify(&e),
            e.line(),
            e.column(),
            body.len()
        ))
    })?;
    let secret_data = parsed
        .secret_data
        .ok_or_else(|| invalid("the GetSecretValue answer has no SecretData".into()))?;
    let version_stages = match parsed.version_stages {
        Some(VersionStages::Wrapped { version_stage }) => match version_stage {
            StageList::None => Vec::new(),
            StageList::One(s) => vec![s],
            StageList::Many(v) => v,
        },
        Some(VersionStages::List(v)) => v,
        None => Vec::new(),
    };
    let extended_config = match parsed.extended_config {
        Some(ExtendedConfig::Text(s)) => s,
        Some(ExtendedConfig::Object(v)) => v.to_string(),
        None => String::new(),
    };
    Ok(SecretValue {
        secret_name: parsed.secret_name.unwrap_or_default(),
        secret_type: parsed.secret_type.unwrap_or_default(),
        secret_data: SecretString::new(secret_data.as_str()),
        secret_data_type: parsed.secret_data_type.unwrap_or_default(),
        version_stages,
        version_id: parsed.version_id.unwrap_or_default(),
        create_time: parsed.create_time.unwrap_or_default(),
        request_id: parsed.request_id.unwrap_or_default(),
        last_rotation_date: parsed.last_rotation_date.unwrap_or_default(),
        next_rotation_date: parsed.next_rotation_date.unwrap_or_default(),
        extended_config,
        automatic_rotation: parsed.automatic_rotation.unwrap_or_default(),
        rotation_interval: parsed.rotation_interval.unwrap_or_default(),
    })
}

/// serde_json's category without its message (which could quote part of the body).
fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected type",
        serde_json::error::Category::Eof => "truncated",
    }
}

/// A POP error body. Every field optional: proxies and older services send subsets.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct PopError {
    /// `Code`, e.g. `Forbidden.ResourceNotFound`.
    #[serde(rename = "Code")]
    pub code: Option<String>,
    /// `Message`.
    #[serde(rename = "Message")]
    pub message: Option<String>,
    /// `RequestId`.
    #[serde(rename = "RequestId")]
    pub request_id: Option<String>,
    /// `HostId`, e.g. `kms.cn-hangzhou.aliyuncs.com`.
    #[serde(rename = "HostId")]
    pub host_id: Option<String>,
    /// `Recommend`: a troubleshooting link.
    #[serde(rename = "Recommend")]
    pub recommend: Option<String>,
}

impl PopError {
    /// Parses a POP error body; `None` when it is not JSON or has no `Code`.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|e| e.code.as_deref().is_some_and(|c| !c.is_empty()))
    }

    /// `HostId: …; Recommend: …` for [`KmsError::Service::details`], `None` when both are absent.
    pub(crate) fn details(&self) -> Option<String> {
        let parts: Vec<String> = [("HostId", &self.host_id), ("Recommend", &self.recommend)]
            .into_iter()
            .filter_map(|(name, v)| {
                v.as_deref()
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{name}: {v}"))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Turns a non-2xx answer into the typed error: a POP body becomes [`KmsError::Service`]
/// (keyed on `Code`); anything else [`KmsError::InvalidResponse`] naming the status and content
/// type (5xx stays retryable, like a proxy's 502 page). `request_id_header` is `x-acs-request-id`.
pub(crate) fn decode_error(
    endpoint: &str,
    secret_name: &str,
    http_status: u16,
    content_type: Option<&str>,
    request_id_header: Option<&str>,
    body: &[u8],
) -> KmsError {
    match PopError::parse(body) {
        Some(pop) => KmsError::Service {
            endpoint: endpoint.to_owned(),
            secret_name: secret_name.to_owned(),
            http_status,
            details: pop.details(),
            code: pop.code.unwrap_or_default(),
            message: pop.message.unwrap_or_default(),
            request_id: pop
                .request_id
                .or_else(|| request_id_header.map(str::to_owned))
                .unwrap_or_default(),
        },
        None => KmsError::InvalidResponse {
            endpoint: endpoint.to_owned(),
            http_status,
            detail: format!(
                "HTTP {http_status} with a body that is not a KMS error document ({} bytes, content type {}){}; \
                 check that the endpoint is a KMS shared gateway and no proxy answers in its place",
                body.len(),
                content_type.unwrap_or("none"),
                request_id_header
                    .map(|id| format!(", x-acs-request-id {id}"))
                    .unwrap_or_default(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_accept_wrapped_single_and_bare_forms() {
        for (json, want) in [
            (
                r#"{"VersionStage":["ACSCurrent","ACSPrevious"]}"#,
                vec!["ACSCurrent", "ACSPrevious"],
            ),
            (r#"{"VersionStage":"ACSCurrent"}"#, vec!["ACSCurrent"]),
            (r#"["ACSPrevious"]"#, vec!["ACSPrevious"]),
            (r#"{}"#, vec![]),
        ] {
            let body = format!(r#"{{"SecretData":"x","VersionStages":{json}}}"#);
            let value = decode_secret_value("e", 200, body.as_bytes()).unwrap();
            assert_eq!(value.version_stages, want, "{json}");
        }
    }

    #[test]
    fn malformed_success_body_does_not_echo_the_body() {
        let err = decode_secret_value("e", 200, br#"{"SecretData": "AKsecret"#).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, KmsError::InvalidResponse { .. }));
        assert!(text.contains("truncated"), "{text}");
        assert!(!text.contains("AKsecret"));
    }

    #[test]
    fn missing_secret_data_is_an_error() {
        let err = decode_secret_value("e", 200, br#"{"SecretName":"n"}"#).unwrap_err();
        assert!(err.to_string().contains("no SecretData"));
    }

    #[test]
    fn non_json_error_body_names_status_and_stays_retryable_for_5xx() {
        let err = decode_error(
            "kms.x",
            "s",
            502,
            Some("text/html"),
            None,
            b"<html>bad gateway</html>",
        );
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("502") && text.contains("text/html"), "{text}");
        let err = decode_error("kms.x", "s", 403, None, Some("rid-1"), b"nope");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("rid-1"));
    }
}
