//! The ClientKey of an application access point: JSON `{"KeyId", "PrivateKeyData"}` where
//! `PrivateKeyData` is a base64 PKCS#12 holding an RSA key; signs with RSASSA-PKCS1-v1_5/SHA-256.
//!
//! The PKCS#12 is opened with `p12-keystore`, the only pure-Rust decoder that opens every profile
//! a ClientKey comes in (legacy RC2/3DES with MAC iterations omitted, as Alibaba issues them, and
//! OpenSSL 3's PBES2/AES); see the Identity section of the manual.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use ring::signature::{KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::expiry::{format_date, log_expiry, log_not_yet_valid};
use super::{CertificateInfo, IdentityError, Password};
use crate::config::{ClientKeySource, PasswordSources};

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// What to do about an expiring ClientKey, used in warnings.
const RENEW_CLIENT_KEY: &str =
    "create a new ClientKey for the application access point in the KMS console before then";

/// A loaded ClientKey. Cheap to clone; `Debug` shows only the KeyId, origin and certificate.
#[derive(Clone)]
pub(crate) struct ClientKey {
    key_id: String,
    origin: String,
    key_pair: Arc<RsaKeyPair>,
    certificate: Option<CertificateInfo>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("key_id", &self.key_id)
            .field("origin", &self.origin)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// Loads a ClientKey from its configured source, resolving the password from `password`.
    pub(crate) fn load(
        source: &ClientKeySource,
        password: &PasswordSources,
    ) -> Result<Self, IdentityError> {
        Self::load_at(source, password, SystemTime::now())
    }

    /// [`ClientKey::load`] with the certificate validity checked against `now`.
    pub(crate) fn load_at(
        source: &ClientKeySource,
        password: &PasswordSources,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        match source {
            ClientKeySource::File(path) => {
                let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| {
                    if source.kind() == std::io::ErrorKind::NotFound {
                        IdentityError::ClientKeyFileMissing { path: path.clone() }
                    } else {
                        IdentityError::Read {
                            what: "ClientKey file",
                            path: path.clone(),
                            source,
                        }
                    }
                })?);
                let origin = path.display().to_string();
                let text =
                    std::str::from_utf8(&bytes).map_err(|_| IdentityError::ClientKeyFormat {
                        origin: origin.clone(),
                        detail: "not UTF-8 text; it must be the JSON file downloaded from the KMS console".into(),
                    })?;
                let password = Password::resolve(password)?;
                Self::from_json_at(text, &password, &origin, now)
            }
            ClientKeySource::Inline(content) => {
                let password = Password::resolve(password)?;
                Self::from_json_at(content.expose(), &password, "inline content", now)
            }
        }
    }

    #[cfg(test)]
    /// Parses ClientKey JSON; `origin` names it in errors.
    pub(crate) fn from_json(
        json: &str,
        password: &Password,
        origin: &str,
    ) -> Result<Self, IdentityError> {
        Self::from_json_at(json, password, origin, SystemTime::now())
    }

    /// [`ClientKey::from_json`] with the certificate validity checked against `now`.
    pub(crate) fn from_json_at(
        json: &str,
        password: &Password,
        origin: &str,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            // Position only: serde_json messages may quote parts of the input.
            IdentityError::ClientKeyNotJson {
                origin: origin.to_owned(),
                line: e.line(),
                column: e.column(),
            }
        })?;
        let serde_json::Value::Object(mut members) = value else {
            return Err(IdentityError::ClientKeyFormat {
                origin: origin.to_owned(),
                detail: "the JSON is not an object; expected {\"KeyId\": \"KAAP.…\", \"PrivateKeyData\": \"<base64>\"}".into(),
            });
        };
        // Take PrivateKeyData out first so it is zeroized whatever happens next.
        let data = members.remove("PrivateKeyData");
        let data = match data {
            Some(serde_json::Value::String(s)) => Ok(Zeroizing::new(s)),
            Some(_) => Err("is not a string"),
            None => Err("is missing"),
        };
        let key_id_problem = |problem| IdentityError::ClientKeyMissingKeyId {
            origin: origin.to_owned(),
            problem,
        };
        let key_id = match members.get("KeyId") {
            None => return Err(key_id_problem("is missing")),
            Some(serde_json::Value::String(s)) if s.is_empty() => {
                return Err(key_id_problem("is empty"))
            }
            // It becomes an HTTP header value and a line of the string-to-sign.
            Some(serde_json::Value::String(s)) if !s.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(key_id_problem(
                    "contains white space or characters other than printable ASCII",
                ))
            }
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(key_id_problem("is not a string")),
        };
        let missing_data = |problem| IdentityError::ClientKeyMissingPrivateKeyData {
            key_id: key_id.clone(),
            origin: origin.to_owned(),
            problem,
        };
        let data = data.map_err(missing_data)?;
        // Tolerate line-wrapped base64 (some tools wrap at 64/76 columns).
        let compact: Zeroizing<String> =
            Zeroizing::new(data.chars().filter(|c| !c.is_whitespace()).collect());
        if compact.is_empty() {
            return Err(missing_data("is empty"));
        }
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|_| IdentityError::PrivateKeyDataNotBase64 {
                    key_id: key_id.clone(),
                    origin: origin.to_owned(),
                })?,
        );
        Self::from_pkcs12_at(&key_id, &der, password, origin, now)
    }

    #[cfg(test)]
    /// Opens a PKCS#12 (every profile: legacy RC2/3DES, MAC without iterations, PBES2/AES).
    pub(crate) fn from_pkcs12(
        key_id: &str,
        der: &[u8],
        password: &Password,
        origin: &str,
    ) -> Result<Self, IdentityError> {
        Self::from_pkcs12_at(key_id, der, password, origin, SystemTime::now())
    }

    /// [`ClientKey::from_pkcs12`] with the certificate validity checked against `now`: an expired
    /// certificate is [`IdentityError::ClientKeyExpired`]; one within 180 days of expiry or not yet
    /// valid is logged as a warning.
    pub(crate) fn from_pkcs12_at(
        key_id: &str,
        der: &[u8],
        password: &Password,
        origin: &str,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        use p12_keystore::error::Error as P12Error;
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password.expose()).map_err(
            |e| match e {
                // MAC mismatch; without a MAC, a wrong password shows up as bad padding.
                P12Error::MacError(_) | P12Error::UnpadError => IdentityError::WrongPassword {
                    key_id: key_id.to_owned(),
                    origin: origin.to_owned(),
                },
                P12Error::UnsupportedEncryptionScheme
                | P12Error::UnsupportedMacAlgorithm
                | P12Error::UnsupportedContentType => IdentityError::Pkcs12 {
                    key_id: key_id.to_owned(),
                    origin: origin.to_owned(),
                    detail: format!(
                        "the PKCS#12 uses an unsupported algorithm ({e}); re-export it with `openssl pkcs12 -export -legacy` or download the ClientKey again"
                    ),
                },
                _ => IdentityError::NotPkcs12 {
                    key_id: key_id.to_owned(),
                    origin: origin.to_owned(),
                },
            },
        )?;
        let Some(bag) = archive.keys.first() else {
            return Err(IdentityError::Pkcs12NoPrivateKey {
                key_id: key_id.to_owned(),
                origin: origin.to_owned(),
            });
        };
        if archive.keys.len() > 1 {
            tracing::warn!(
                key_id,
                origin,
                keys = archive.keys.len(),
                "ClientKey {key_id} ({origin}) holds {} private keys; using the first",
                archive.keys.len()
            );
        }
        let oid = bag.key.oid().to_string();
        if oid != RSA_ENCRYPTION_OID {
            return Err(IdentityError::KeyNotRsa {
                key_id: key_id.to_owned(),
                origin: origin.to_owned(),
                algorithm: key_algorithm_name(&oid),
            });
        }
        let key_pair = RsaKeyPair::from_pkcs8(bag.key.as_der()).map_err(|e| {
            IdentityError::RsaKeyRejected {
                key_id: key_id.to_owned(),
                origin: origin.to_owned(),
                reason: rsa_rejection_reason(&e.to_string()),
            }
        })?;
        // The certificate that belongs to this key (same public key); others are ignored.
        let public = key_pair.public_key().as_ref();
        let certificate = archive.certs.iter().find_map(|bag| {
            let (_, cert) = x509_parser::parse_x509_certificate(bag.cert.as_der()).ok()?;
            (cert.public_key().subject_public_key.data.as_ref() == public)
                .then(|| CertificateInfo::from_parsed(&cert))
        });
        if let Some(info) = &certificate {
            check_validity(key_id, origin, info, now)?;
        } else {
            tracing::debug!(
                key_id,
                origin,
                "ClientKey holds no certificate for its key; expiry not checked"
            );
        }
        Ok(Self {
            key_id: key_id.to_owned(),
            origin: origin.to_owned(),
            key_pair: Arc::new(key_pair),
            certificate,
        })
    }

    /// The access point key id (`KAAP.…`), sent as `x-kms-acccesskeyid` / `AccessKeyId`.
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    #[cfg(test)]
    /// Where the key was loaded from (file path or "inline content").
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The ClientKey certificate's subject and validity, if the PKCS#12 holds one for the key.
    pub(crate) fn certificate(&self) -> Option<&CertificateInfo> {
        self.certificate.as_ref()
    }

    #[cfg(test)]
    /// DER of the RSA public key (PKCS#1 `RSAPublicKey`), for verifying our signatures.
    pub(crate) fn public_key_der(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 signature of `data`.
    pub(crate) fn sign_sha256_rsa(&self, data: &[u8]) -> Result<Vec<u8>, IdentityError> {
        let mut signature = vec![0; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                data,
                &mut signature,
            )
            .map_err(|_| IdentityError::Signing {
                key_id: self.key_id.clone(),
            })?;
        Ok(signature)
    }
}

/// Expired → error; not yet valid or expiring within 180 days → one warning.
fn check_validity(
    key_id: &str,
    origin: &str,
    info: &CertificateInfo,
    now: SystemTime,
) -> Result<(), IdentityError> {
    if info.is_expired(now) {
        return Err(IdentityError::ClientKeyExpired {
            key_id: key_id.to_owned(),
            origin: origin.to_owned(),
            subject: info.subject.clone(),
            not_after: format_date(info.not_after),
        });
    }
    let kind = format!("ClientKey {key_id} certificate");
    if !log_not_yet_valid(&kind, &info.subject, origin, info.not_before, now) {
        log_expiry(
            &kind,
            &info.subject,
            origin,
            info.not_after,
            now,
            RENEW_CLIENT_KEY,
        );
    }
    Ok(())
}

fn key_algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "EC".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        other => format!("of algorithm {other}"),
    }
}

fn rsa_rejection_reason(ring_reason: &str) -> String {
    match ring_reason {
        "TooSmall" => "it is smaller than 2048 bits (or its public exponent is below 65537)".into(),
        "TooLarge" => "it is larger than 4096 bits".into(),
        other => format!("it is not a valid RSA private key ({other})"),
    }
}
