//! The secret store shared by every protocol LocalKms serves: RAM credentials with versions,
//! stages and rotation metadata, and Generic text/binary secrets.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Version stage of the current version.
pub const ACS_CURRENT: &str = "ACSCurrent";
/// Version stage of the version before the current one.
pub const ACS_PREVIOUS: &str = "ACSPrevious";
/// Default rotation interval of RAM credentials (7 days, what the console proposes).
pub const DEFAULT_ROTATION_INTERVAL: Duration = Duration::from_secs(604_800);

/// An AccessKey pair held in a RAM credential secret. `Debug` shows only the id; zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AccessKeyPair {
    /// `LTAI` + 20 alphanumerics.
    pub access_key_id: String,
    /// 30 alphanumerics.
    pub access_key_secret: String,
}

impl std::fmt::Debug for AccessKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .finish()
    }
}

impl AccessKeyPair {
    /// A fresh random pair shaped like a real one.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self {
            access_key_id: format!("LTAI{}", Alphanumeric.sample_string(&mut rng, 20)),
            access_key_secret: Alphanumeric.sample_string(&mut rng, 30),
        }
    }
}

/// Rotation settings of a RAM credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RamCredentialOptions {
    /// `RotationInterval` (sent as `"<seconds>s"`); default 604800 s.
    pub rotation_interval: Duration,
    /// `NextRotationDate`; default now + `rotation_interval`.
    pub next_rotation: Option<SystemTime>,
    /// `ExpireTimestamp` in `SecretData` (absent when `None`). After a rotation the new key
    /// expires the same span after its generation.
    pub expire: Option<SystemTime>,
}

impl Default for RamCredentialOptions {
    fn default() -> Self {
        Self {
            rotation_interval: DEFAULT_ROTATION_INTERVAL,
            next_rotation: None,
            expire: None,
        }
    }
}

/// `%Y-%m-%dT%H:%M:%SZ` in UTC, the date format of every KMS date field.
pub fn format_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).unwrap_or_default()
}

/// One secret version as any protocol answers it (all 13 response fields, already formatted).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValueView {
    /// `SecretName`.
    pub secret_name: String,
    /// `SecretType`: `RAMCredentials` or `Generic`.
    pub secret_type: String,
    /// `SecretData` (plain text; base64 for binary secrets).
    pub secret_data: Zeroizing<String>,
    /// `SecretDataType`: `text` or `binary`.
    pub secret_data_type: String,
    /// `VersionStages`.
    pub version_stages: Vec<String>,
    /// `VersionId`.
    pub version_id: String,
    /// `CreateTime`.
    pub create_time: String,
    /// `LastRotationDate` (empty if never rotated or not rotatable).
    pub last_rotation_date: String,
    /// `NextRotationDate` (empty if not rotatable).
    pub next_rotation_date: String,
    /// `ExtendedConfig` JSON (empty for Generic secrets).
    pub extended_config: String,
    /// `AutomaticRotation`: `Enabled` / `Disabled`.
    pub automatic_rotation: String,
    /// `RotationInterval` like `604800s` (empty if not rotatable).
    pub rotation_interval: String,
}

impl std::fmt::Debug for SecretValueView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValueView")
            .field("secret_name", &self.secret_name)
            .field("secret_type", &self.secret_type)
            .field("version_id", &self.version_id)
            .field("version_stages", &self.version_stages)
            .finish_non_exhaustive()
    }
}

/// Why a lookup failed (mapped to protocol error codes by each API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No secret with that name.
    SecretNotFound,
    /// The secret exists but not the requested version / stage.
    VersionNotFound,
}

struct StoredVersion {
    version_id: String,
    data: Zeroizing<String>,
    stages: Vec<String>,
    access_key: Option<AccessKeyPair>,
}

struct RamMeta {
    user_name: String,
    interval: Duration,
    next_rotation: SystemTime,
    last_rotation: Option<SystemTime>,
    expire_after: Option<Duration>,
}

struct StoredSecret {
    secret_type: &'static str,
    data_type: &'static str,
    create_time: SystemTime,
    /// Oldest first.
    versions: Vec<StoredVersion>,
    ram: Option<RamMeta>,
}

impl StoredSecret {
    fn current(&self) -> Option<&StoredVersion> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == ACS_CURRENT))
    }

    /// Adds `version` as ACSCurrent; the old current becomes ACSPrevious, the old previous loses
    /// its stages. Returns the AccessKey ids that lost every stage.
    fn push_version(&mut self, version: StoredVersion) -> Vec<String> {
        let mut retired = Vec::new();
        for v in &mut self.versions {
            if v.stages.iter().any(|s| s == ACS_PREVIOUS) {
                v.stages.clear();
                if let Some(ak) = &v.access_key {
                    retired.push(ak.access_key_id.clone());
                }
            }
        }
        for v in &mut self.versions {
            if v.stages.iter().any(|s| s == ACS_CURRENT) {
                v.stages = vec![ACS_PREVIOUS.to_owned()];
            }
        }
        self.versions.push(version);
        retired
    }
}

/// All secrets of one LocalKms and which AccessKeys are valid.
#[derive(Default)]
pub(crate) struct Store {
    secrets: HashMap<String, StoredSecret>,
    valid_keys: HashSet<String>,
}

fn user_name_of(secret_name: &str) -> String {
    secret_name
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(secret_name)
        .to_owned()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn ram_secret_data(
    ak: &AccessKeyPair,
    generated: SystemTime,
    expire: Option<SystemTime>,
) -> String {
    // Written by hand to keep the member order of the real service (serde_json sorts keys).
    let mut data = format!(
        "{{\"AccessKeyId\":{},\"AccessKeySecret\":{},\"GenerateTimestamp\":\"{}\"",
        json_string(&ak.access_key_id),
        json_string(&ak.access_key_secret),
        format_date(generated)
    );
    if let Some(expire) = expire {
        data.push_str(&format!(",\"ExpireTimestamp\":\"{}\"", format_date(expire)));
    }
    data.push('}');
    data
}

impl Store {
    /// Creates (or replaces) a RAM credential secret with a fresh AccessKey.
    pub(crate) fn put_ram_credential(
        &mut self,
        name: &str,
        options: RamCredentialOptions,
    ) -> AccessKeyPair {
        let now = SystemTime::now();
        let ak = AccessKeyPair::generate();
        self.forget(name);
        let expire_after = options
            .expire
            .map(|e| e.duration_since(now).unwrap_or(Duration::ZERO));
        let version = StoredVersion {
            version_id: super::uuid_like(),
            data: Zeroizing::new(ram_secret_data(&ak, now, options.expire)),
            stages: vec![ACS_CURRENT.to_owned()],
            access_key: Some(ak.clone()),
        };
        self.valid_keys.insert(ak.access_key_id.clone());
        self.secrets.insert(
            name.to_owned(),
            StoredSecret {
                secret_type: "RAMCredentials",
                data_type: "text",
                create_time: now,
                versions: vec![version],
                ram: Some(RamMeta {
                    user_name: user_name_of(name),
                    interval: options.rotation_interval,
                    next_rotation: options
                        .next_rotation
                        .unwrap_or(now + options.rotation_interval),
                    last_rotation: None,
                    expire_after,
                }),
            },
        );
        ak
    }

    fn forget(&mut self, name: &str) {
        if let Some(old) = self.secrets.remove(name) {
            for v in old.versions {
                if let Some(ak) = &v.access_key {
                    self.valid_keys.remove(&ak.access_key_id);
                }
            }
        }
    }

    /// Stores a Generic secret version (a new version if the secret exists, like PutSecretValue).
    pub(crate) fn put_generic(&mut self, name: &str, data: String, data_type: &'static str) {
        let version = StoredVersion {
            version_id: super::uuid_like(),
            data: Zeroizing::new(data),
            stages: vec![ACS_CURRENT.to_owned()],
            access_key: None,
        };
        match self.secrets.get_mut(name) {
            Some(secret) if secret.ram.is_none() => {
                secret.data_type = data_type;
                secret.push_version(version);
            }
            _ => {
                self.forget(name);
                self.secrets.insert(
                    name.to_owned(),
                    StoredSecret {
                        secret_type: "Generic",
                        data_type,
                        create_time: SystemTime::now(),
                        versions: vec![version],
                        ram: None,
                    },
                );
            }
        }
    }

    /// Stores a binary Generic secret (served base64-encoded).
    pub(crate) fn put_binary(&mut self, name: &str, data: &[u8]) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        self.put_generic(name, encoded, "binary");
    }

    /// Rotates a RAM credential. `None` if `name` is not a RAM credential.
    pub(crate) fn rotate(&mut self, name: &str) -> Option<AccessKeyPair> {
        let secret = self.secrets.get_mut(name)?;
        let meta = secret.ram.as_mut()?;
        let now = SystemTime::now();
        let ak = AccessKeyPair::generate();
        let expire = meta.expire_after.map(|d| now + d);
        meta.last_rotation = Some(now);
        meta.next_rotation = now + meta.interval;
        let retired = secret.push_version(StoredVersion {
            version_id: super::uuid_like(),
            data: Zeroizing::new(ram_secret_data(&ak, now, expire)),
            stages: vec![ACS_CURRENT.to_owned()],
            access_key: Some(ak.clone()),
        });
        for id in retired {
            self.valid_keys.remove(&id);
        }
        self.valid_keys.insert(ak.access_key_id.clone());
        Some(ak)
    }

    /// Sets `NextRotationDate`. `false` if `name` is not a RAM credential.
    pub(crate) fn set_next_rotation(&mut self, name: &str, at: SystemTime) -> bool {
        match self.secrets.get_mut(name).and_then(|s| s.ram.as_mut()) {
            Some(meta) => {
                meta.next_rotation = at;
                true
            }
            None => false,
        }
    }

    /// The ACSCurrent AccessKey of a RAM credential.
    pub(crate) fn current_access_key(&self, name: &str) -> Option<AccessKeyPair> {
        self.secrets.get(name)?.current()?.access_key.clone()
    }

    /// Whether an AccessKey id is still accepted "downstream".
    pub(crate) fn is_access_key_valid(&self, id: &str) -> bool {
        self.valid_keys.contains(id)
    }

    /// Invalidates the ACSPrevious AccessKey of `name`. `false` if there is none.
    pub(crate) fn revoke_previous(&mut self, name: &str) -> bool {
        let Some(secret) = self.secrets.get(name) else {
            return false;
        };
        let previous: Vec<String> = secret
            .versions
            .iter()
            .filter(|v| v.stages.iter().any(|s| s == ACS_PREVIOUS))
            .filter_map(|v| v.access_key.as_ref().map(|a| a.access_key_id.clone()))
            .collect();
        let found = !previous.is_empty();
        for id in previous {
            self.valid_keys.remove(&id);
        }
        found
    }

    /// Whether a secret of that name exists.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.secrets.contains_key(name)
    }

    /// Names of all secrets, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.secrets.keys().cloned().collect();
        names.sort();
        names
    }

    /// Looks up a version: by `version_id` and/or `version_stage` (default ACSCurrent).
    pub(crate) fn lookup(
        &self,
        name: &str,
        version_stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<SecretValueView, LookupError> {
        let secret = self.secrets.get(name).ok_or(LookupError::SecretNotFound)?;
        let stage = match (version_stage, version_id) {
            (Some(stage), _) => Some(stage),
            (None, Some(_)) => None,
            (None, None) => Some(ACS_CURRENT),
        };
        let version = secret
            .versions
            .iter()
            .rev()
            .filter(|v| version_id.is_none_or(|id| v.version_id == id))
            .find(|v| stage.is_none_or(|s| v.stages.iter().any(|x| x == s)))
            .ok_or(LookupError::VersionNotFound)?;
        let (last, next, extended, automatic, interval) = match &secret.ram {
            Some(meta) => (
                meta.last_rotation.map(format_date).unwrap_or_default(),
                format_date(meta.next_rotation),
                format!(
                    "{{\"SecretSubType\":\"RamUserAccessKey\",\"UserName\":{},\"CustomData\":{{}}}}",
                    json_string(&meta.user_name)
                ),
                "Enabled",
                format!("{}s", meta.interval.as_secs()),
            ),
            None => (
                String::new(),
                String::new(),
                String::new(),
                "Disabled",
                String::new(),
            ),
        };
        Ok(SecretValueView {
            secret_name: name.to_owned(),
            secret_type: secret.secret_type.to_owned(),
            secret_data: version.data.clone(),
            secret_data_type: secret.data_type.to_owned(),
            version_stages: version.stages.clone(),
            version_id: version.version_id.clone(),
            create_time: format_date(secret.create_time),
            last_rotation_date: last,
            next_rotation_date: next,
            extended_config: extended,
            automatic_rotation: automatic.to_owned(),
            rotation_interval: interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_moves_stages_and_retires_keys() {
        let mut store = Store::default();
        let first = store.put_ram_credential("acs/ram/user/app", RamCredentialOptions::default());
        assert!(first.access_key_id.starts_with("LTAI") && first.access_key_id.len() == 24);
        assert_eq!(first.access_key_secret.len(), 30);
        let second = store.rotate("acs/ram/user/app").unwrap();
        let third = store.rotate("acs/ram/user/app").unwrap();
        assert!(!store.is_access_key_valid(&first.access_key_id));
        assert!(store.is_access_key_valid(&second.access_key_id));
        assert!(store.is_access_key_valid(&third.access_key_id));
        let prev = store
            .lookup("acs/ram/user/app", Some(ACS_PREVIOUS), None)
            .unwrap();
        assert!(prev.secret_data.contains(&second.access_key_id));
        assert_eq!(prev.version_stages, vec![ACS_PREVIOUS]);
        let cur = store.lookup("acs/ram/user/app", None, None).unwrap();
        assert!(cur.secret_data.contains(&third.access_key_id));
        assert!(!cur.last_rotation_date.is_empty());
        assert_eq!(cur.rotation_interval, "604800s");
        assert!(store.revoke_previous("acs/ram/user/app"));
        assert!(!store.is_access_key_valid(&second.access_key_id));
        assert_eq!(
            store.lookup("nope", None, None),
            Err(LookupError::SecretNotFound)
        );
        assert!(format!("{first:?}").contains("redacted"));
        assert!(!format!("{first:?}").contains(&first.access_key_secret));
    }

    #[test]
    fn date_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_706_774_400);
        assert_eq!(format_date(t), "2024-02-01T08:00:00Z");
    }
}
