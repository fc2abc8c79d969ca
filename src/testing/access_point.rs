//! Application access points: a ClientKey JSON in the real Alibaba PKCS#12 profile, its
//! password file and a ready `managed_credentials_providers.properties`.
//!
//! # Why the PKCS#12 is assembled by hand
//! Real ClientKeys (spec §4.2) have a cert bag encrypted with `pbeWithSHAAnd40BitRC2-CBC`, a key
//! bag with `pbeWithSHAAnd3-KeyTripleDES-CBC` (2048 iterations each), `localKeyID` on both bags,
//! no friendlyName, and an HMAC-SHA1 MAC whose `iterations` field is omitted (= 1). That omitted
//! field is exactly what breaks some decoders (the `p12` crate), so the emulator must produce it.
//! p12-keystore's writer uses one algorithm for both bags and always adds friendlyName, so we
//! build the PFX from the RustCrypto types p12-keystore itself uses (`pkcs12`, `cms`, `der`,
//! `rc2`, `des`, `cbc`, `hmac`, `sha1`); no other crate writes this profile.
//!
//! # Why RSA keys come from a pool
//! ring cannot generate RSA keys and we do not want the `rsa` crate just for tests, so
//! `keys/rsa2048_*.pem` holds eight RSA-2048 PKCS#8 keys generated once with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`. Each access point takes the
//! next one (round robin); they are test keys and protect nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockModeEncrypt, KeyIvInit};
use cms::cert::x509::attr::{Attribute, AttributeValue, Attributes};
use cms::cert::x509::spki::AlgorithmIdentifierOwned;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use hmac::{KeyInit, Mac};
use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::pfx::{Pfx, Version};
use pkcs12::{CertBag, DigestInfo, MacData, SafeBag};
use rand::Rng;
use sha1::{Digest, Sha1};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::LocalKmsError;
use crate::config::{
    ClientKeySource, Endpoint, InstanceEndpointConfig, PasswordSource, SecretString,
};

/// The pre-generated RSA-2048 PKCS#8 keys (see the module docs).
const KEY_POOL: [&str; 8] = [
    include_str!("keys/rsa2048_0.pem"),
    include_str!("keys/rsa2048_1.pem"),
    include_str!("keys/rsa2048_2.pem"),
    include_str!("keys/rsa2048_3.pem"),
    include_str!("keys/rsa2048_4.pem"),
    include_str!("keys/rsa2048_5.pem"),
    include_str!("keys/rsa2048_6.pem"),
    include_str!("keys/rsa2048_7.pem"),
];

/// KDF iterations of both bags in real ClientKeys.
pub(crate) const PBE_ITERATIONS: i32 = 2048;

pub(crate) const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub(crate) const OID_ENCRYPTED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
pub(crate) const OID_PBE_SHA1_3DES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
pub(crate) const OID_PBE_SHA1_RC2_40: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
pub(crate) const OID_CERT_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
pub(crate) const OID_SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
pub(crate) const OID_X509_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
pub(crate) const OID_LOCAL_KEY_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
pub(crate) const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");

/// An issued application access point: the files an application is configured with.
///
/// `Debug` does not show the password; it is zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AccessPoint {
    /// The ClientKey id (`KAAP.<uuid>`), sent as `x-kms-acccesskeyid`.
    #[zeroize(skip)]
    pub key_id: String,
    /// `clientKey_<KeyId>.json`.
    #[zeroize(skip)]
    pub client_key_file: PathBuf,
    /// `clientKey_<KeyId>_Password.txt` (32 lower-case hex chars and a newline).
    #[zeroize(skip)]
    pub password_file: PathBuf,
    /// The ClientKey password (without the newline).
    pub password: String,
    /// The instance CA file (root + Second CA).
    #[zeroize(skip)]
    pub ca_file: PathBuf,
    /// A ready `managed_credentials_providers.properties` (in-cloud form) for this access point.
    #[zeroize(skip)]
    pub properties_file: PathBuf,
}

impl std::fmt::Debug for AccessPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPoint")
            .field("key_id", &self.key_id)
            .field("client_key_file", &self.client_key_file)
            .field("password_file", &self.password_file)
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("properties_file", &self.properties_file)
            .finish()
    }
}

impl AccessPoint {
    /// This access point as a typed instance endpoint entry (what the properties file says).
    pub fn instance_config(
        &self,
        region_id: &str,
        endpoint: &Endpoint,
        connect_to: SocketAddr,
    ) -> InstanceEndpointConfig {
        InstanceEndpointConfig {
            region_id: region_id.to_owned(),
            endpoint: endpoint.clone(),
            client_key: ClientKeySource::File(self.client_key_file.clone()),
            password: vec![PasswordSource::File(self.password_file.clone())],
            ca_file: Some(self.ca_file.clone()),
            ignore_ssl_certs: false,
            connect_to: Some(connect_to),
        }
    }

    /// The ClientKey password as a [`SecretString`].
    pub fn password_secret(&self) -> SecretString {
        SecretString::new(self.password.clone())
    }
}

/// What the server keeps about an access point: its public key and policy.
#[derive(Clone)]
pub(crate) struct AccessPointRecord {
    /// PKCS#1 `RSAPublicKey` DER, as ring's RSA verifier wants it.
    pub public_key: Vec<u8>,
    /// Secret-name patterns the access point may read.
    pub allowed_secrets: Vec<String>,
}

impl AccessPointRecord {
    /// Whether the policy allows `secret_name` (`*` = all, trailing `*` = prefix, else exact).
    pub(crate) fn allows(&self, secret_name: &str) -> bool {
        self.allowed_secrets
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => secret_name.starts_with(prefix),
                None => p == secret_name,
            })
    }
}

/// A fresh ClientKey: the JSON file text, password and public key.
pub(crate) struct IssuedClientKey {
    pub key_id: String,
    pub json: Zeroizing<String>,
    pub password: Zeroizing<String>,
    pub public_key: Vec<u8>,
}

/// A `KAAP.<uuid-like>` key id.
fn new_key_id() -> String {
    format!("KAAP.{}", super::uuid_like())
}

fn new_password() -> Zeroizing<String> {
    let bytes: [u8; 16] = rand::rng().random();
    Zeroizing::new(hex::encode(bytes))
}

/// Issues a ClientKey for `instance_id` using pool key number `pool_index`.
pub(crate) fn issue_client_key(
    instance_id: &str,
    pool_index: usize,
) -> Result<IssuedClientKey, LocalKmsError> {
    let key_pem = KEY_POOL[pool_index % KEY_POOL.len()];
    let key_pair = rcgen::KeyPair::from_pem(key_pem)
        .map_err(|e| LocalKmsError::Pki(format!("ClientKey pool key: {e}")))?;
    let pkcs8 = Zeroizing::new(key_pair.serialize_der());
    let ring_key = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8)
        .map_err(|e| LocalKmsError::Pki(format!("ClientKey pool key: {e}")))?;
    let public_key = ring::signature::KeyPair::public_key(&ring_key)
        .as_ref()
        .to_vec();

    let cert = client_certificate(instance_id, &key_pair)?;
    let password = new_password();
    let pfx = build_pfx(&cert, &pkcs8, &password)
        .map_err(|e| LocalKmsError::Pki(format!("ClientKey PKCS#12: {e}")))?;
    let key_id = new_key_id();
    let json = Zeroizing::new(
        serde_json::json!({
            "KeyId": key_id,
            "PrivateKeyData": base64::engine::general_purpose::STANDARD.encode(&pfx),
        })
        .to_string(),
    );
    Ok(IssuedClientKey {
        key_id,
        json,
        password,
        public_key,
    })
}

/// The self-signed ClientKey certificate: `CN=<instanceId>-client, OU=Aliyun, O=Alibaba,
/// L=Hangzhou, ST=Zhejiang, C=CN`, 5 years, sha256WithRSA.
fn client_certificate(
    instance_id: &str,
    key_pair: &rcgen::KeyPair,
) -> Result<Vec<u8>, LocalKmsError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType};
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::StateOrProvinceName, "Zhejiang");
    dn.push(DnType::LocalityName, "Hangzhou");
    dn.push(DnType::OrganizationName, "Alibaba");
    dn.push(DnType::OrganizationalUnitName, "Aliyun");
    dn.push(DnType::CommonName, format!("{instance_id}-client"));
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(5 * 365);
    let cert = params
        .self_signed(key_pair)
        .map_err(|e| LocalKmsError::Pki(format!("ClientKey certificate: {e}")))?;
    Ok(cert.der().to_vec())
}

/// PKCS#12 PBE (RFC 7292 App. B/C): key and IV from the password, CBC with PKCS#7 padding.
fn pbe_encrypt(
    alg: ObjectIdentifier,
    data: &[u8],
    password: &str,
) -> der::Result<(AlgorithmIdentifierOwned, Vec<u8>)> {
    let salt: [u8; 8] = rand::rng().random();
    let key_len = if alg == OID_PBE_SHA1_RC2_40 { 5 } else { 24 };
    let key = Zeroizing::new(derive_key_utf8::<Sha1>(
        password,
        &salt,
        Pkcs12KeyType::EncryptionKey,
        PBE_ITERATIONS,
        key_len,
    )?);
    let iv = derive_key_utf8::<Sha1>(password, &salt, Pkcs12KeyType::Iv, PBE_ITERATIONS, 8)?;
    let encrypted = if alg == OID_PBE_SHA1_RC2_40 {
        // rc2's `KeyInit` uses an effective key length of 8 × key bytes = 40 bits, as RC2-40 wants.
        cbc::Encryptor::<rc2::Rc2>::new_from_slices(&key, &iv)
            .map_err(|_| der::Error::from(der::ErrorKind::Failed))?
            .encrypt_padded_vec::<Pkcs7>(data)
    } else {
        cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|_| der::Error::from(der::ErrorKind::Failed))?
            .encrypt_padded_vec::<Pkcs7>(data)
    };
    let params = Pkcs12PbeParams {
        salt: OctetString::new(salt.to_vec())?,
        iterations: PBE_ITERATIONS,
    };
    Ok((
        AlgorithmIdentifierOwned {
            oid: alg,
            parameters: Some(Any::from_der(&params.to_der()?)?),
        },
        encrypted,
    ))
}

fn local_key_id_attributes(local_key_id: &[u8]) -> der::Result<Attributes> {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute {
        oid: OID_LOCAL_KEY_ID,
        values: SetOfVec::<AttributeValue>::from_iter([Any::from_der(
            &OctetString::new(local_key_id.to_vec())?.to_der()?,
        )?])?,
    })?;
    Ok(attributes)
}

/// Builds the PFX in the Alibaba ClientKey profile (module docs).
pub(crate) fn build_pfx(cert_der: &[u8], pkcs8_der: &[u8], password: &str) -> der::Result<Vec<u8>> {
    let local_key_id = Sha1::digest(cert_der).to_vec();

    // Safe 1: EncryptedData (RC2-40) holding the CertBag.
    let cert_bag = SafeBag {
        bag_id: OID_CERT_BAG,
        bag_value: CertBag {
            cert_id: OID_X509_CERT,
            cert_value: OctetString::new(cert_der.to_vec())?,
        }
        .to_der()?,
        bag_attributes: Some(local_key_id_attributes(&local_key_id)?),
    };
    let cert_contents = vec![cert_bag].to_der()?;
    let (cert_alg, cert_encrypted) = pbe_encrypt(OID_PBE_SHA1_RC2_40, &cert_contents, password)?;
    let cert_safe = ContentInfo {
        content_type: OID_ENCRYPTED_DATA,
        content: Any::from_der(
            &EncryptedData {
                version: CmsVersion::V0,
                enc_content_info: EncryptedContentInfo {
                    content_type: OID_DATA,
                    content_enc_alg: cert_alg,
                    encrypted_content: Some(OctetString::new(cert_encrypted)?),
                },
                unprotected_attrs: None,
            }
            .to_der()?,
        )?,
    };

    // Safe 2: Data holding the PKCS8ShroudedKeyBag (3DES).
    let (key_alg, key_encrypted) = pbe_encrypt(OID_PBE_SHA1_3DES, pkcs8_der, password)?;
    let key_bag = SafeBag {
        bag_id: OID_SHROUDED_KEY_BAG,
        bag_value: EncryptedPrivateKeyInfo {
            encryption_algorithm: key_alg,
            encrypted_data: OctetString::new(key_encrypted)?,
        }
        .to_der()?,
        bag_attributes: Some(local_key_id_attributes(&local_key_id)?),
    };
    let key_safe = ContentInfo {
        content_type: OID_DATA,
        content: Any::from_der(&OctetString::new(vec![key_bag].to_der()?)?.to_der()?)?,
    };

    let auth_safe = vec![cert_safe, key_safe].to_der()?;

    // MAC: HMAC-SHA1, 1 iteration; `iterations` is DEFAULT 1 so DER omits it (as Alibaba does).
    let mac_salt: [u8; 8] = rand::rng().random();
    let mac_key = Zeroizing::new(derive_key_utf8::<Sha1>(
        password,
        &mac_salt,
        Pkcs12KeyType::Mac,
        1,
        20,
    )?);
    let mut mac = hmac::Hmac::<Sha1>::new_from_slice(&mac_key)
        .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
    mac.update(&auth_safe);
    let digest = mac.finalize().into_bytes().to_vec();

    Pfx {
        version: Version::V3,
        auth_safe: ContentInfo {
            content_type: OID_DATA,
            content: Any::from_der(&OctetString::new(auth_safe)?.to_der()?)?,
        },
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: OID_SHA1,
                    parameters: None,
                },
                digest: OctetString::new(digest)?,
            },
            mac_salt: OctetString::new(mac_salt.to_vec())?,
            iterations: 1,
        }),
    }
    .to_der()
}

/// Writes `text` to `dir/name`, returning the path. For public material (CA certificates,
/// properties files naming other files); secrets go through [`write_secret_file`].
pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf, LocalKmsError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|source| LocalKmsError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes secret `text` (a ClientKey, its password) to `dir/name`: owner-only (0600 on unix),
/// atomically, never through a symbolic link, even if the file existed with another mode.
pub(crate) fn write_secret_file(
    dir: &Path,
    name: &str,
    text: &str,
) -> Result<PathBuf, LocalKmsError> {
    let path = dir.join(name);
    crate::private_file::write_private(&path, text.as_bytes()).map_err(|source| {
        LocalKmsError::Io {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// The `managed_credentials_providers.properties` text (in-cloud form) for one access point.
pub(crate) fn properties_text(
    region_id: &str,
    endpoint: &Endpoint,
    connect_to: SocketAddr,
    client_key_file: &Path,
    password_file: &Path,
    ca_file: &Path,
) -> String {
    let s = |v: String| serde_json::Value::String(v).to_string();
    // Members in the documented order (serde_json would sort them).
    let entry = format!(
        "[{{\"regionId\":{},\"endpoint\":{},\"clientKeyFile\":{},\"passwordFromFilePath\":{},\"caFilePath\":{},\"ignoreSslCerts\":false,\"connectTo\":{}}}]",
        s(region_id.to_owned()),
        s(endpoint.authority()),
        s(client_key_file.display().to_string()),
        s(password_file.display().to_string()),
        s(ca_file.display().to_string()),
        s(connect_to.to_string()),
    );
    // Java .properties: a backslash is an escape character, so double any (Windows paths).
    let value = entry.replace('\\', "\\\\");
    format!(
        "# Written by LocalKms (aliyun-managed-credentials test-util): a local KMS instance.\n\
         # connectTo is an extension of this crate: connect there, verify TLS for endpoint.\n\
         cache_client_dkms_config_info={value}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{ClientKey, Password};

    /// Reads the raw elements of a DER SEQUENCE.
    fn elements(der: &[u8]) -> Vec<Any> {
        Vec::<Any>::from_der(der).unwrap()
    }

    fn pbe_params(alg: &AlgorithmIdentifierOwned) -> Pkcs12PbeParams {
        alg.parameters
            .as_ref()
            .unwrap()
            .decode_as::<Pkcs12PbeParams>()
            .unwrap()
    }

    #[test]
    fn issued_client_key_opens_and_has_the_alibaba_profile() {
        let issued = issue_client_key("kst-loc0123456789abcdef", 3).unwrap();
        let password = Password::new(issued.password.as_str());
        let key = ClientKey::from_json(&issued.json, &password, "test").unwrap();
        assert_eq!(key.key_id(), issued.key_id);
        assert!(issued.key_id.starts_with("KAAP."));
        assert_eq!(key.public_key_der(), issued.public_key.as_slice());
        assert_eq!(issued.password.len(), 32);
        assert!(issued
            .password
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let subject = &key.certificate().unwrap().subject;
        assert!(
            subject.contains("CN=kst-loc0123456789abcdef-client"),
            "{subject}"
        );
        assert!(subject.contains("OU=Aliyun") && subject.contains("ST=Zhejiang"));

        // Wrong password → MAC failure.
        assert!(ClientKey::from_json(&issued.json, &Password::new("0".repeat(32)), "t").is_err());

        // Parse the PFX back and check the profile.
        let json: serde_json::Value = serde_json::from_str(&issued.json).unwrap();
        let pfx_der = base64::engine::general_purpose::STANDARD
            .decode(json["PrivateKeyData"].as_str().unwrap())
            .unwrap();
        let top = elements(&pfx_der);
        assert_eq!(top.len(), 3, "version, authSafe, macData");
        let mac_fields = elements(&top[2].to_der().unwrap());
        assert_eq!(mac_fields.len(), 2, "MacData iterations must be omitted");
        let pfx = Pfx::from_der(&pfx_der).unwrap();
        let mac = pfx.mac_data.as_ref().unwrap();
        assert_eq!(mac.mac.algorithm.oid, OID_SHA1);
        assert!(mac.mac.algorithm.parameters.is_none());
        assert_eq!(mac.mac_salt.as_bytes().len(), 8);

        let auth_safe = OctetString::from_der(&pfx.auth_safe.content.to_der().unwrap()).unwrap();
        let safes = Vec::<ContentInfo>::from_der(auth_safe.as_bytes()).unwrap();
        assert_eq!(safes.len(), 2);
        assert_eq!(safes[0].content_type, OID_ENCRYPTED_DATA);
        let enc = EncryptedData::from_der(&safes[0].content.to_der().unwrap()).unwrap();
        assert_eq!(
            enc.enc_content_info.content_enc_alg.oid,
            OID_PBE_SHA1_RC2_40
        );
        assert_eq!(
            pbe_params(&enc.enc_content_info.content_enc_alg).iterations,
            2048
        );

        assert_eq!(safes[1].content_type, OID_DATA);
        let data = OctetString::from_der(&safes[1].content.to_der().unwrap()).unwrap();
        let bags = Vec::<SafeBag>::from_der(data.as_bytes()).unwrap();
        assert_eq!(bags.len(), 1);
        assert_eq!(bags[0].bag_id, OID_SHROUDED_KEY_BAG);
        let attrs = bags[0].bag_attributes.as_ref().unwrap();
        assert_eq!(attrs.len(), 1, "only localKeyID, no friendlyName");
        assert_eq!(attrs.get(0).unwrap().oid, OID_LOCAL_KEY_ID);
        // pkcs12's decoder keeps the `[0] EXPLICIT` wrapper in `bag_value`.
        let wrapped = Any::from_der(&bags[0].bag_value).unwrap();
        let epki = EncryptedPrivateKeyInfo::from_der(wrapped.value()).unwrap();
        assert_eq!(epki.encryption_algorithm.oid, OID_PBE_SHA1_3DES);
        assert_eq!(pbe_params(&epki.encryption_algorithm).iterations, 2048);
    }

    #[test]
    fn policy_patterns() {
        let record = AccessPointRecord {
            public_key: vec![],
            allowed_secrets: vec!["acs/ram/user/app*".into(), "exact".into()],
        };
        assert!(record.allows("acs/ram/user/app-prod"));
        assert!(record.allows("exact"));
        assert!(!record.allows("exact2"));
        assert!(!record.allows("acs/ram/user/other"));
    }
}
