//! The emulator's PKI, shaped like a real KMS instance's: a "Private KMS Root CA", a regional
//! `Private KMS <region> Second CA` (CA:TRUE, pathlen 0) and a server leaf for the endpoint
//! signed by the Second CA. The server presents leaf + Second CA; the CA file holds root then
//! Second CA, like `PrivateKmsCA_<instanceId>.pem`.
//!
//! CA and server keys are ECDSA P-256 (ring can generate those; nothing checks the key type).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::LocalKmsError;

/// Which certificate the emulator's TLS server presents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerCertificate {
    /// A leaf for the endpoint signed by the Second CA (what a real instance serves).
    #[default]
    Trusted,
    /// A self-signed leaf for the endpoint name: not trusted by the CA file (wrong-CA tests).
    SelfSigned,
    /// A leaf signed by the trusted Second CA but for another host name (hostname tests).
    WrongName,
}

/// The host name the [`ServerCertificate::WrongName`] leaf is issued for.
pub const WRONG_NAME_HOST: &str = "kst-wrongname00000000000.cryptoservice.kms.aliyuncs.com";

/// Root + Second CA of one emulator, able to issue server leaves.
pub(super) struct Pki {
    second_ca: Issuer<'static, KeyPair>,
    second_ca_der: CertificateDer<'static>,
    ca_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn pki_err(what: &str, e: rcgen::Error) -> LocalKmsError {
    LocalKmsError::Pki(format!("{what}: {e}"))
}

fn alibaba_dn(common_name: &str, with_locality: bool) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    if with_locality {
        dn.push(DnType::StateOrProvinceName, "ZheJiang");
        dn.push(DnType::LocalityName, "HangZhou");
    }
    dn.push(DnType::OrganizationName, "Alibaba");
    dn.push(DnType::OrganizationalUnitName, "Aliyun");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, years: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365 * years);
}

fn ca_params(common_name: &str, constraints: BasicConstraints) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = alibaba_dn(common_name, true);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, 20);
    params
}

/// A leaf for `host` and `alt_names` (more DNS names or IP addresses, for one listener that
/// answers under several names, like STS).
fn leaf_params(host: &str, alt_names: &[&str]) -> Result<CertificateParams, LocalKmsError> {
    let names: Vec<String> = std::iter::once(host)
        .chain(alt_names.iter().copied())
        .map(str::to_owned)
        .collect();
    let mut params = CertificateParams::new(names).map_err(|e| pki_err("leaf name", e))?;
    params.distinguished_name = alibaba_dn(host, false);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, 2);
    Ok(params)
}

impl Pki {
    /// Generates a fresh root and Second CA for `region_id`.
    pub(super) fn generate(region_id: &str) -> Result<Self, LocalKmsError> {
        let root_key = KeyPair::generate().map_err(|e| pki_err("root CA key", e))?;
        let root_params = ca_params("Private KMS Root CA", BasicConstraints::Unconstrained);
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(|e| pki_err("root CA", e))?;
        let root = Issuer::new(root_params, root_key);

        let second_key = KeyPair::generate().map_err(|e| pki_err("Second CA key", e))?;
        let mut second_params = ca_params(
            &format!("Private KMS {region_id} Second CA"),
            BasicConstraints::Constrained(0),
        );
        second_params.use_authority_key_identifier_extension = true;
        let second_cert = second_params
            .signed_by(&second_key, &root)
            .map_err(|e| pki_err("Second CA", e))?;
        let ca_pem = format!("{}{}", root_cert.pem(), second_cert.pem());
        Ok(Self {
            second_ca: Issuer::new(second_params, second_key),
            second_ca_der: second_cert.der().clone(),
            ca_pem,
        })
    }

    /// PEM of root CA then Second CA (the instance CA file).
    pub(super) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Certificate chain (leaf first) and key for a TLS server answering as `host`.
    pub(super) fn server_identity(
        &self,
        host: &str,
        alt_names: &[&str],
        kind: ServerCertificate,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), LocalKmsError> {
        let key = KeyPair::generate().map_err(|e| pki_err("server key", e))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let chain = match kind {
            ServerCertificate::Trusted | ServerCertificate::WrongName => {
                let name = if kind == ServerCertificate::Trusted {
                    host
                } else {
                    WRONG_NAME_HOST
                };
                let leaf = leaf_params(name, alt_names)?
                    .signed_by(&key, &self.second_ca)
                    .map_err(|e| pki_err("server leaf", e))?;
                vec![leaf.der().clone(), self.second_ca_der.clone()]
            }
            ServerCertificate::SelfSigned => {
                let leaf = leaf_params(host, alt_names)?
                    .self_signed(&key)
                    .map_err(|e| pki_err("self-signed server leaf", e))?;
                vec![leaf.der().clone()]
            }
        };
        Ok((chain, key_der))
    }

    /// A rustls server configuration (ring provider, HTTP/1.1 via ALPN) answering as `host`.
    pub(super) fn server_config(
        &self,
        host: &str,
        kind: ServerCertificate,
    ) -> Result<Arc<rustls::ServerConfig>, LocalKmsError> {
        self.server_config_with_names(host, &[], kind)
    }

    /// [`Pki::server_config`] with a leaf that also names `alt_names`.
    pub(super) fn server_config_with_names(
        &self,
        host: &str,
        alt_names: &[&str],
        kind: ServerCertificate,
    ) -> Result<Arc<rustls::ServerConfig>, LocalKmsError> {
        let (chain, key) = self.server_identity(host, alt_names, kind)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| LocalKmsError::Pki(format!("TLS versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| LocalKmsError::Pki(format!("TLS server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
