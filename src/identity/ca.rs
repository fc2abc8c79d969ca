//! CA bundles: every certificate of a PEM file (instance root + regional Second CA).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::IdentityError;

/// Subject and validity of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// End of validity.
    pub not_after: SystemTime,
}

impl CertificateInfo {
    /// Reads subject and validity from DER.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let ts = cert.validity().not_after.timestamp();
        let not_after = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(ts.max(0) as u64);
        Some(Self {
            subject: cert.subject().to_string(),
            not_after,
        })
    }
}

/// The certificates of one CA file, all used as trust anchors.
#[derive(Clone, Debug)]
pub struct CaBundle {
    path: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
    infos: Vec<CertificateInfo>,
}

impl CaBundle {
    /// Loads every certificate of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, IdentityError> {
        let bytes = std::fs::read(path).map_err(|source| IdentityError::Read {
            what: "CA file",
            path: path.to_owned(),
            source,
        })?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| IdentityError::CaFile {
                path: path.to_owned(),
                detail: format!("not a PEM certificate bundle ({e}); download the instance CA file (PrivateKmsCA_<instanceId>.pem) again"),
            })?;
        if certificates.is_empty() {
            return Err(IdentityError::CaFile {
                path: path.to_owned(),
                detail: "no PEM certificate in it; download the instance CA file (PrivateKmsCA_<instanceId>.pem) again".into(),
            });
        }
        let infos = certificates
            .iter()
            .filter_map(|c| CertificateInfo::from_der(c.as_ref()))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            certificates,
            infos,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// DER certificates, in file order.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// Subject and validity of each certificate.
    pub fn infos(&self) -> &[CertificateInfo] {
        &self.infos
    }
}
