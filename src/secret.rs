//! Fetched secrets and the [`AccessKey`] snapshot handed to callers.
//!
//! A `GetSecretValue` answer ([`SecretValue`], strings as sent) is parsed once, when it arrives,
//! into an immutable [`Secret`] and, for RAM credentials, an [`AccessKey`]. Callers get them as
//! `Arc`s: the AccessKey id and secret always come from the same answer, so a refresh can never
//! pair a new id with an old secret. Secret material is zeroized on drop and redacted in `Debug`;
//! parse errors name the secret and the field, never the value.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use zeroize::Zeroizing;

use crate::config::SecretString;
use crate::kms::SecretValue;

/// `SecretType` of managed RAM credentials (compared case-insensitively, like the Java client).
pub(crate) const RAM_CREDENTIALS: &str = "RAMCredentials";

/// A secret could not be understood. Never carries the secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// `SecretData` of a RAM credential is not the expected JSON document.
    #[error("SecretData of secret '{secret_name}' is not valid JSON ({detail}); a RAM credential holds {{\"AccessKeyId\":…,\"AccessKeySecret\":…}}")]
    InvalidSecretData {
        /// The secret concerned.
        secret_name: String,
        /// Error category and position (never the content).
        detail: String,
    },
    /// A required field is missing or empty.
    #[error("secret '{secret_name}' has no {field}; a RAM credential needs AccessKeyId and AccessKeySecret in its SecretData")]
    MissingField {
        /// The secret concerned.
        secret_name: String,
        /// The missing field.
        field: &'static str,
    },
    /// A field has the wrong format.
    #[error("secret '{secret_name}': field {field} is invalid: {detail}")]
    InvalidField {
        /// The secret concerned.
        secret_name: String,
        /// The field at fault.
        field: &'static str,
        /// What was expected (the value itself is only shown for non-secret metadata).
        detail: String,
    },
    /// KMS handed out a RAM credential whose `ExpireTimestamp` has already passed (rotation
    /// lagging, or this machine's clock ahead). Not served: the last good key is kept.
    #[error("secret '{secret_name}': KMS returned an AccessKey that expired at {expired_at} (this machine's clock says it is later); check the clock (NTP) and the secret's rotation")]
    Expired {
        /// The secret concerned.
        secret_name: String,
        /// Its `ExpireTimestamp`, `YYYY-MM-DDThh:mm:ssZ`.
        expired_at: String,
    },
    /// `get_access_key` was asked for a secret that is not a RAM credential.
    #[error("secret '{secret_name}' is a {secret_type} secret with {data_type} data, not an AccessKey; read it with get_secret()")]
    NotAccessKey {
        /// The secret concerned.
        secret_name: String,
        /// Its `SecretType`.
        secret_type: String,
        /// Its `SecretDataType`.
        data_type: String,
    },
}

/// The plaintext of a secret: text, or bytes for `SecretDataType=binary` (decoded from base64).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum SecretData {
    /// `SecretDataType=text`.
    Text(SecretString),
    /// `SecretDataType=binary`, already base64-decoded.
    Binary(Zeroizing<Vec<u8>>),
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(_) => f.write_str("Text(<redacted>)"),
            Self::Binary(b) => write!(f, "Binary(<redacted {} bytes>)", b.len()),
        }
    }
}

/// One version of a secret as fetched from KMS (any `SecretType`).
#[derive(Clone, Debug)]
pub struct Secret {
    name: String,
    secret_type: String,
    data: SecretData,
    version_id: String,
    version_stages: Vec<String>,
    // Parsed (a malformed date is reported) and shown in `Debug`; not part of the API.
    #[allow(dead_code)]
    create_time: Option<SystemTime>,
    #[allow(dead_code)]
    last_rotation: Option<SystemTime>,
    next_rotation: Option<SystemTime>,
    #[allow(dead_code)]
    rotation_interval: Option<Duration>,
    secret_sub_type: Option<String>,
    request_id: String,
    fetched_at: SystemTime,
}

impl Secret {
    /// Parses a wire-level answer. `fetched_at` is the provider clock's time of arrival.
    pub(crate) fn from_value(
        value: &SecretValue,
        fetched_at: SystemTime,
    ) -> Result<Self, SecretError> {
        let name = value.secret_name.clone();
        let data = if value.secret_data_type.eq_ignore_ascii_case("binary") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.secret_data.expose().trim())
                .map_err(|e| SecretError::InvalidField {
                    secret_name: name.clone(),
                    field: "SecretData",
                    detail: format!("SecretDataType is binary but SecretData is not base64 ({e})"),
                })?;
            SecretData::Binary(Zeroizing::new(bytes))
        } else {
            SecretData::Text(value.secret_data.clone())
        };
        let secret_sub_type = parse_sub_type(&name, &value.extended_config)?;
        Ok(Self {
            secret_type: value.secret_type.clone(),
            data,
            version_id: value.version_id.clone(),
            version_stages: value.version_stages.clone(),
            create_time: parse_date(&name, "CreateTime", &value.create_time)?,
            last_rotation: parse_date(&name, "LastRotationDate", &value.last_rotation_date)?,
            next_rotation: parse_date(&name, "NextRotationDate", &value.next_rotation_date)?,
            rotation_interval: parse_interval(&name, "RotationInterval", &value.rotation_interval)?,
            secret_sub_type,
            request_id: value.request_id.clone(),
            fetched_at,
            name,
        })
    }

    /// Secret name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `SecretType` (`Generic`, `RAMCredentials`, ...).
    pub fn secret_type(&self) -> &str {
        &self.secret_type
    }
    /// The text, if `SecretDataType` is text. Never log it.
    pub fn text(&self) -> Option<&str> {
        match &self.data {
            SecretData::Text(s) => Some(s.expose()),
            SecretData::Binary(_) => None,
        }
    }
    /// The bytes: decoded binary data, or the UTF-8 bytes of text data. Never log them.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            SecretData::Text(s) => s.expose().as_bytes(),
            SecretData::Binary(b) => b,
        }
    }
    /// `VersionId`.
    pub fn version_id(&self) -> &str {
        &self.version_id
    }
    /// `NextRotationDate`.
    pub fn next_rotation(&self) -> Option<SystemTime> {
        self.next_rotation
    }
    /// `ExtendedConfig.SecretSubType` (e.g. `RamUserAccessKey`).
    pub fn secret_sub_type(&self) -> Option<&str> {
        self.secret_sub_type.as_deref()
    }
    /// `RequestId` of the answer this came from (logged with each new version, for support).
    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }
    /// When this version was fetched (provider clock).
    pub(crate) fn fetched_at(&self) -> SystemTime {
        self.fetched_at
    }
    /// Whether `SecretType` says RAM credentials (case-insensitive).
    pub(crate) fn is_ram_credentials(&self) -> bool {
        self.secret_type.eq_ignore_ascii_case(RAM_CREDENTIALS)
    }
}

/// An AccessKey pair and the metadata of the secret version it came from. Immutable: a refresh
/// publishes a new `Arc<AccessKey>`, so id and secret always belong together.
#[derive(Clone)]
pub struct AccessKey {
    secret_name: String,
    access_key_id: String,
    access_key_secret: Zeroizing<String>,
    version_id: String,
    version_stages: Vec<String>,
    generate_time: Option<SystemTime>,
    next_rotation: Option<SystemTime>,
    expire_time: Option<SystemTime>,
    refresh_interval: Option<Duration>,
    fetched_at: SystemTime,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("secret_name", &self.secret_name)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("version_id", &self.version_id)
            .field("version_stages", &self.version_stages)
            .field("generate_time", &self.generate_time)
            .field("next_rotation", &self.next_rotation)
            .field("expire_time", &self.expire_time)
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

/// The `SecretData` document of a RAM credential. Unknown keys are ignored; the secret is read
/// straight into zeroizing memory.
#[derive(Deserialize)]
struct RamCredentialData {
    #[serde(rename = "AccessKeyId")]
    access_key_id: Option<String>,
    #[serde(rename = "AccessKeySecret")]
    access_key_secret: Option<Zeroizing<String>>,
    #[serde(rename = "GenerateTimestamp")]
    generate_timestamp: Option<String>,
    #[serde(rename = "ExpireTimestamp")]
    expire_timestamp: Option<String>,
    /// Legacy: next rotation in epoch seconds when `NextRotationDate` is absent.
    #[serde(rename = "scheduleRotateTimestamp", alias = "ScheduleRotateTimestamp")]
    schedule_rotate_timestamp: Option<serde_json::Value>,
    /// Legacy: refresh interval (`"3600s"` or a number of seconds).
    #[serde(rename = "refreshInterval", alias = "RefreshInterval")]
    refresh_interval: Option<serde_json::Value>,
}

impl AccessKey {
    /// Extracts the AccessKey from a RAM-credential secret (`SecretData` JSON with
    /// `AccessKeyId` / `AccessKeySecret`, optional `GenerateTimestamp` / `ExpireTimestamp`).
    pub(crate) fn from_secret(secret: &Secret) -> Result<Self, SecretError> {
        let name = &secret.name;
        let not_ak = || SecretError::NotAccessKey {
            secret_name: name.clone(),
            secret_type: secret.secret_type.clone(),
            data_type: match secret.data {
                SecretData::Text(_) => "text".into(),
                SecretData::Binary(_) => "binary".into(),
            },
        };
        let text = secret.text().ok_or_else(not_ak)?;
        let parsed: RamCredentialData = match serde_json::from_str(text) {
            Ok(parsed) => parsed,
            Err(_) if !secret.is_ram_credentials() => return Err(not_ak()),
            // serde_json's own message may quote the offending value: report position only.
            Err(e) => {
                return Err(SecretError::InvalidSecretData {
                    secret_name: name.clone(),
                    detail: format!(
                        "{:?} error at line {} column {}",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                })
            }
        };
        let missing = |field| SecretError::MissingField {
            secret_name: name.clone(),
            field,
        };
        let access_key_id = parsed
            .access_key_id
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                if secret.is_ram_credentials() {
                    missing("AccessKeyId")
                } else {
                    not_ak()
                }
            })?;
        let access_key_secret = parsed
            .access_key_secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("AccessKeySecret"))?;
        // Dates inside SecretData: report the field and the expected format, not the text.
        let opt_date = |field, v: &Option<String>| match v {
            Some(s) => parse_date(name, field, s).map_err(|_| SecretError::InvalidField {
                secret_name: name.clone(),
                field,
                detail: "expected a UTC date like 2024-02-08T08:00:00Z".into(),
            }),
            None => Ok(None),
        };
        let schedule_rotate = match &parsed.schedule_rotate_timestamp {
            Some(v) => parse_epoch_seconds(name, "scheduleRotateTimestamp", v)?,
            None => None,
        };
        let refresh_interval = match &parsed.refresh_interval {
            Some(serde_json::Value::String(s)) => parse_interval(name, "refreshInterval", s)?,
            Some(serde_json::Value::Number(n)) => n.as_u64().map(Duration::from_secs),
            _ => None,
        };
        Ok(Self {
            secret_name: name.clone(),
            access_key_id: access_key_id.trim().to_owned(),
            access_key_secret,
            version_id: secret.version_id.clone(),
            version_stages: secret.version_stages.clone(),
            generate_time: opt_date("GenerateTimestamp", &parsed.generate_timestamp)?,
            next_rotation: secret.next_rotation.or(schedule_rotate),
            expire_time: opt_date("ExpireTimestamp", &parsed.expire_timestamp)?,
            refresh_interval,
            fetched_at: secret.fetched_at,
        })
    }

    /// The AccessKey id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
    /// The AccessKey secret. Never log it.
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }
    /// The secret this key came from.
    pub fn secret_name(&self) -> &str {
        &self.secret_name
    }
    /// `VersionId` of the secret version.
    pub fn version_id(&self) -> &str {
        &self.version_id
    }
    /// `GenerateTimestamp`: when KMS created this AccessKey.
    pub fn generate_time(&self) -> Option<SystemTime> {
        self.generate_time
    }
    /// `NextRotationDate` (or the legacy `scheduleRotateTimestamp`).
    pub fn next_rotation(&self) -> Option<SystemTime> {
        self.next_rotation
    }
    /// `ExpireTimestamp`: after this the key is not valid any more (temporary keys only).
    pub fn expire_time(&self) -> Option<SystemTime> {
        self.expire_time
    }
    /// Legacy `refreshInterval` from the secret data, if any.
    pub(crate) fn refresh_interval(&self) -> Option<Duration> {
        self.refresh_interval
    }
    /// When this key was fetched from KMS (provider clock).
    pub fn fetched_at(&self) -> SystemTime {
        self.fetched_at
    }
    /// Whether `other` is the same key (same id and version).
    pub(crate) fn same_key(&self, other: &AccessKey) -> bool {
        self.access_key_id == other.access_key_id && self.version_id == other.version_id
    }
}

fn parse_sub_type(name: &str, extended: &str) -> Result<Option<String>, SecretError> {
    if extended.trim().is_empty() {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Extended {
        #[serde(rename = "SecretSubType")]
        sub_type: Option<String>,
    }
    serde_json::from_str::<Extended>(extended)
        .map(|e| e.sub_type)
        .map_err(|e| SecretError::InvalidField {
            secret_name: name.to_owned(),
            field: "ExtendedConfig",
            detail: format!(
                "not a JSON object ({:?} error at column {})",
                e.classify(),
                e.column()
            ),
        })
}

/// Parses the KMS date format `YYYY-MM-DDThh:mm:ssZ` (UTC); also accepts RFC 3339. Empty = absent.
pub(crate) fn parse_date(
    secret_name: &str,
    field: &'static str,
    text: &str,
) -> Result<Option<SystemTime>, SecretError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    PrimitiveDateTime::parse(text, fmt)
        .map(|t| t.assume_utc())
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .map(|t| Some(SystemTime::from(t)))
        .map_err(|_| SecretError::InvalidField {
            secret_name: secret_name.to_owned(),
            field,
            detail: format!("expected a UTC date like 2024-02-08T08:00:00Z, got '{text}'"),
        })
}

/// Parses an interval like `604800s` (integer seconds with an optional `s`). Empty = absent.
pub(crate) fn parse_interval(
    secret_name: &str,
    field: &'static str,
    text: &str,
) -> Result<Option<Duration>, SecretError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.strip_suffix('s')
        .unwrap_or(text)
        .parse::<u64>()
        .map(|s| Some(Duration::from_secs(s)))
        .map_err(|_| SecretError::InvalidField {
            secret_name: secret_name.to_owned(),
            field,
            detail: format!("expected whole seconds like 604800s, got '{text}'"),
        })
}

fn parse_epoch_seconds(
    secret_name: &str,
    field: &'static str,
    value: &serde_json::Value,
) -> Result<Option<SystemTime>, SecretError> {
    let secs = match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) if s.trim().is_empty() => return Ok(None),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        serde_json::Value::Null => return Ok(None),
        _ => None,
    };
    // `checked_add`: a huge number from the wire must be an error, not an overflow panic.
    secs.and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .map(Some)
        .ok_or_else(|| SecretError::InvalidField {
            secret_name: secret_name.to_owned(),
            field,
            detail: "expected epoch seconds (a whole number, at most year 9999)".into(),
        })
}

/// Formats a time as `YYYY-MM-DDThh:mm:ssZ` (for logs and health output).
pub(crate) fn format_date(t: SystemTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    OffsetDateTime::from(t)
        .format(fmt)
        .unwrap_or_else(|_| "<out of range>".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn value(name: &str, data: &str) -> SecretValue {
        SecretValue {
            secret_name: name.into(),
            secret_type: "RAMCredentials".into(),
            secret_data: SecretString::new(data),
            secret_data_type: "text".into(),
            version_stages: vec!["ACSCurrent".into()],
            version_id: "v1".into(),
            create_time: "2024-02-01T08:00:00Z".into(),
            request_id: "req-1".into(),
            last_rotation_date: "2024-02-01T08:00:00Z".into(),
            next_rotation_date: "2024-02-08T08:00:00Z".into(),
            extended_config: r#"{"SecretSubType":"RamUserAccessKey","UserName":"u"}"#.into(),
            automatic_rotation: "Enabled".into(),
            rotation_interval: "604800s".into(),
        }
    }

    fn t(s: &str) -> SystemTime {
        parse_date("x", "f", s).unwrap().unwrap()
    }

    #[test]
    fn parses_ram_credentials() {
        let v = value(
            "acs/ram/user/app",
            r#"{"AccessKeyId":"LTAI1","AccessKeySecret":"s3cr3t","GenerateTimestamp":"2024-02-01T08:00:00Z","ExpireTimestamp":"2024-02-09T08:00:00Z"}"#,
        );
        let secret = Secret::from_value(&v, t("2024-02-01T09:00:00Z")).unwrap();
        assert_eq!(secret.secret_sub_type(), Some("RamUserAccessKey"));
        assert_eq!(secret.rotation_interval, Some(Duration::from_secs(604800)));
        let ak = AccessKey::from_secret(&secret).unwrap();
        assert_eq!(ak.access_key_id(), "LTAI1");
        assert_eq!(ak.access_key_secret(), "s3cr3t");
        assert_eq!(ak.version_id(), "v1");
        assert_eq!(ak.next_rotation(), Some(t("2024-02-08T08:00:00Z")));
        assert_eq!(ak.expire_time(), Some(t("2024-02-09T08:00:00Z")));
        assert_eq!(ak.generate_time(), Some(t("2024-02-01T08:00:00Z")));
        let debug = format!("{ak:?} {secret:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("LTAI1"));
    }

    #[test]
    fn dates_are_utc_seconds() {
        assert_eq!(
            t("2024-02-01T14:00:00Z")
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            1706796000000
        );
        let err = parse_date("n", "NextRotationDate", "02/08/2024").unwrap_err();
        assert!(err.to_string().contains("NextRotationDate"), "{err}");
        assert_eq!(parse_date("n", "f", "").unwrap(), None);
        assert_eq!(
            format_date(t("2024-02-01T14:00:00Z")),
            "2024-02-01T14:00:00Z"
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(
            parse_interval("n", "f", "604800s").unwrap(),
            Some(Duration::from_secs(604800))
        );
        assert_eq!(
            parse_interval("n", "f", "60").unwrap(),
            Some(Duration::from_secs(60))
        );
        assert!(parse_interval("n", "RotationInterval", "7d").is_err());
    }

    #[test]
    fn bad_secret_data_names_secret_and_field_never_the_value() {
        let s = |data: &str| {
            let secret =
                Secret::from_value(&value("acs/ram/user/x", data), SystemTime::UNIX_EPOCH).unwrap();
            AccessKey::from_secret(&secret).unwrap_err()
        };
        let e = s(r#"{"AccessKeyId":"LTAI1"}"#);
        assert!(matches!(
            e,
            SecretError::MissingField {
                field: "AccessKeySecret",
                ..
            }
        ));
        assert!(e.to_string().contains("acs/ram/user/x"));
        let e = s(r#"{"AccessKeySecret":"topsecret"}"#);
        assert!(matches!(
            e,
            SecretError::MissingField {
                field: "AccessKeyId",
                ..
            }
        ));
        let e = s(r#"{"AccessKeyId":"LTAI1","AccessKeySecret":12345678}"#);
        assert!(!e.to_string().contains("12345678"), "{e}");
        let e = s(r#"{"AccessKeyId":"a","AccessKeySecret":"b","ExpireTimestamp":"topsecret"}"#);
        assert!(matches!(
            e,
            SecretError::InvalidField {
                field: "ExpireTimestamp",
                ..
            }
        ));
        assert!(!e.to_string().contains("topsecret"), "{e}");
        let e = s("topsecret-not-json");
        assert!(matches!(e, SecretError::InvalidSecretData { .. }));
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn legacy_fields_and_binary() {
        let mut v = value(
            "n",
            r#"{"AccessKeyId":"a","AccessKeySecret":"b","scheduleRotateTimestamp":1707379200,"refreshInterval":"3600s"}"#,
        );
        v.next_rotation_date.clear();
        let ak = AccessKey::from_secret(&Secret::from_value(&v, SystemTime::UNIX_EPOCH).unwrap())
            .unwrap();
        assert_eq!(ak.next_rotation(), Some(t("2024-02-08T08:00:00Z")));
        assert_eq!(ak.refresh_interval(), Some(Duration::from_secs(3600)));

        let mut b = value("bin", "AAEC/w==");
        b.secret_type = "Generic".into();
        b.secret_data_type = "binary".into();
        let secret = Secret::from_value(&b, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(secret.bytes(), &[0, 1, 2, 255]);
        assert!(matches!(
            AccessKey::from_secret(&secret),
            Err(SecretError::NotAccessKey { .. })
        ));
        b.secret_data = SecretString::new("!!!");
        assert!(Secret::from_value(&b, SystemTime::UNIX_EPOCH).is_err());

        let mut g = value("generic", "hello");
        g.secret_type = "Generic".into();
        let secret = Secret::from_value(&g, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(secret.text(), Some("hello"));
        assert!(matches!(
            AccessKey::from_secret(&secret),
            Err(SecretError::NotAccessKey { .. })
        ));
    }

    /// Review finding: `UNIX_EPOCH + u64::MAX s` panicked (SystemTime overflow) on a hostile
    /// `scheduleRotateTimestamp`; it is now a typed error naming the field.
    #[test]
    fn huge_epoch_seconds_are_an_error_not_a_panic() {
        for ts in ["18446744073709551615", "\"18446744073709551615\""] {
            let v = value(
                "n",
                &format!(
                    r#"{{"AccessKeyId":"a","AccessKeySecret":"topsecret","scheduleRotateTimestamp":{ts}}}"#
                ),
            );
            let secret = Secret::from_value(&v, SystemTime::UNIX_EPOCH).unwrap();
            let e = AccessKey::from_secret(&secret).unwrap_err();
            assert!(
                matches!(
                    e,
                    SecretError::InvalidField {
                        field: "scheduleRotateTimestamp",
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(!e.to_string().contains("topsecret"), "{e}");
        }
    }
}
