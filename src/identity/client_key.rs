//! The ClientKey of an application access point: JSON `{"KeyId", "PrivateKeyData"}` where
//! `PrivateKeyData` is a base64 PKCS#12 holding an RSA key; signs with RSASSA-PKCS1-v1_5/SHA-256.

use std::sync::Arc;

use base64::Engine;
use ring::signature::{KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::{CertificateInfo, IdentityError, Password};
use crate::config::{ClientKeySource, PasswordSources};

/// A loaded ClientKey. Cheap to clone; `Debug` shows only the KeyId.
#[derive(Clone)]
pub struct ClientKey {
    key_id: String,
    key_pair: Arc<RsaKeyPair>,
    certificate: Option<CertificateInfo>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("key_id", &self.key_id)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct ClientKeyJson {
    #[serde(rename = "KeyId")]
    key_id: Option<String>,
    #[serde(rename = "PrivateKeyData")]
    private_key_data: Option<Zeroizing<String>>,
}

impl ClientKey {
    /// Loads a ClientKey from its configured source, resolving the password from `password`.
    pub fn load(
        source: &ClientKeySource,
        password: &PasswordSources,
    ) -> Result<Self, IdentityError> {
        let password = Password::resolve(password)?;
        match source {
            ClientKeySource::File(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    IdentityError::Read {
                        what: "ClientKey file",
                        path: path.clone(),
                        source,
                    }
                })?);
                Self::from_json(&text, &password, &path.display().to_string())
            }
            ClientKeySource::Inline(content) => {
                Self::from_json(content.expose(), &password, "inline content")
            }
        }
    }

    /// Parses ClientKey JSON; `origin` names it in errors.
    pub fn from_json(json: &str, password: &Password, origin: &str) -> Result<Self, IdentityError> {
        let format = |detail: String| IdentityError::ClientKeyFormat {
            origin: origin.to_owned(),
            detail,
        };
        let parsed: ClientKeyJson = serde_json::from_str(json).map_err(|e| {
            format(format!(
                "not JSON ({e}); expected {{\"KeyId\": ..., \"PrivateKeyData\": ...}}"
            ))
        })?;
        let key_id = parsed
            .key_id
            .filter(|k| !k.is_empty())
            .ok_or_else(|| format("member KeyId is missing".into()))?;
        let data = parsed
            .private_key_data
            .ok_or_else(|| format("member PrivateKeyData is missing".into()))?;
        let der = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|_| format("PrivateKeyData is not base64".into()))?,
        );
        Self::from_pkcs12(&key_id, &der, password, origin)
    }

    /// Opens a PKCS#12 (every profile: legacy RC2/3DES, MAC without iterations, PBES2/AES).
    pub fn from_pkcs12(
        key_id: &str,
        der: &[u8],
        password: &Password,
        origin: &str,
    ) -> Result<Self, IdentityError> {
        let pkcs12 = |detail: String| IdentityError::Pkcs12 {
            key_id: key_id.to_owned(),
            origin: origin.to_owned(),
            detail,
        };
        let store = p12_keystore::KeyStore::from_pkcs12(
            der,
            password.expose(),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => IdentityError::WrongPassword {
                key_id: key_id.to_owned(),
                origin: origin.to_owned(),
            },
            _ => pkcs12("PrivateKeyData is not a readable PKCS#12 file".into()),
        })?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| pkcs12("the PKCS#12 holds no private key".into()))?;
        let key_pair = RsaKeyPair::from_pkcs8(chain.key().as_der())
            .map_err(|e| pkcs12(format!("the private key is not a usable RSA key ({e})")))?;
        let certificate = chain
            .certs()
            .first()
            .and_then(|c| CertificateInfo::from_der(c.as_der()));
        Ok(Self {
            key_id: key_id.to_owned(),
            key_pair: Arc::new(key_pair),
            certificate,
        })
    }

    /// The access point key id (`KAAP.…`), sent as `x-kms-acccesskeyid` / `AccessKeyId`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The ClientKey certificate's subject and expiry, if the PKCS#12 holds one.
    pub fn certificate(&self) -> Option<&CertificateInfo> {
        self.certificate.as_ref()
    }

    /// DER of the RSA public key (PKCS#1 `RSAPublicKey`), for verifying our signatures.
    pub fn public_key_der(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 signature of `data`.
    pub fn sign_sha256_rsa(&self, data: &[u8]) -> Result<Vec<u8>, IdentityError> {
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
