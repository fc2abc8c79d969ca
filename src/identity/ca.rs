//! CA bundles: every certificate of a PEM file (instance root + regional Second CA).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

#[cfg(test)]
use super::expiry::days_until;
use super::expiry::{from_unix_secs, log_expiry, log_not_yet_valid};
use super::IdentityError;

/// Subject and validity of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// End of validity.
    pub not_after: SystemTime,
    /// Start of validity.
    pub not_before: SystemTime,
}

impl CertificateInfo {
    /// Reads subject and validity from DER; `None` if it is not an X.509 certificate.
    pub(crate) fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(Self::from_parsed(&cert))
    }

    pub(crate) fn from_parsed(cert: &x509_parser::certificate::X509Certificate<'_>) -> Self {
        let validity = cert.validity();
        Self {
            subject: cert.subject().to_string(),
            not_after: from_unix_secs(validity.not_after.timestamp()),
            not_before: from_unix_secs(validity.not_before.timestamp()),
        }
    }

    #[cfg(test)]
    /// Whole days from `now` until `not_after` (negative once expired).
    pub(crate) fn days_left(&self, now: SystemTime) -> i64 {
        days_until(self.not_after, now)
    }

    /// Whether `now` is past `not_after`.
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        now > self.not_after
    }

    #[cfg(test)]
    /// Whether `now` is before `not_before`.
    pub(crate) fn is_not_yet_valid(&self, now: SystemTime) -> bool {
        now < self.not_before
    }
}

/// The certificates of one CA file, all used as trust anchors.
#[derive(Clone, Debug)]
pub(crate) struct CaBundle {
    path: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
    infos: Vec<CertificateInfo>,
}

impl CaBundle {
    /// Loads every certificate of a PEM file; warns (tracing) about expired, not yet valid or
    /// soon expiring certificates.
    pub(crate) fn from_pem_file(path: &Path) -> Result<Self, IdentityError> {
        Self::from_pem_file_at(path, SystemTime::now())
    }

    /// [`CaBundle::from_pem_file`] with the expiry warnings computed for `now`.
    pub(crate) fn from_pem_file_at(path: &Path, now: SystemTime) -> Result<Self, IdentityError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                IdentityError::CaFileMissing {
                    path: path.to_owned(),
                }
            } else {
                IdentityError::Read {
                    what: "CA file",
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let bundle = Self::from_pem_bytes(&bytes, path)?;
        bundle.log_validity(now);
        Ok(bundle)
    }

    /// Parses PEM bytes; `path` names them in errors. Logs nothing.
    pub(crate) fn from_pem_bytes(bytes: &[u8], path: &Path) -> Result<Self, IdentityError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(IdentityError::CaFileEmpty {
                path: path.to_owned(),
            });
        }
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| IdentityError::CaFile {
                path: path.to_owned(),
                detail: format!("malformed PEM ({e}); download PrivateKmsCA_<instanceId>.pem from the KMS instance page again"),
            })?;
        if certificates.is_empty() {
            return Err(IdentityError::CaFileNotPem {
                path: path.to_owned(),
                detail: not_pem_detail(bytes, path),
            });
        }
        let mut infos = Vec::with_capacity(certificates.len());
        for (i, der) in certificates.iter().enumerate() {
            let info = CertificateInfo::from_der(der.as_ref()).ok_or_else(|| {
                IdentityError::CaCertificateInvalid {
                    path: path.to_owned(),
                    index: i + 1,
                }
            })?;
            infos.push(info);
        }
        Ok(Self {
            path: path.to_owned(),
            certificates,
            infos,
        })
    }

    /// One warning per certificate that is expired, not yet valid, or within 180 days of expiry.
    /// Only a warning: TLS verification then fails with its own precise error.
    pub(crate) fn log_validity(&self, now: SystemTime) {
        let file = self.path.display().to_string();
        for info in &self.infos {
            if log_not_yet_valid("CA certificate", &info.subject, &file, info.not_before, now) {
                continue;
            }
            log_expiry(
                "CA certificate",
                &info.subject,
                &file,
                info.not_after,
                now,
                "download the current PrivateKmsCA_<instanceId>.pem from the KMS instance page",
            );
        }
    }

    /// The file it was loaded from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// DER certificates, in file order.
    pub(crate) fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// Subject and validity of each certificate, in file order.
    pub(crate) fn infos(&self) -> &[CertificateInfo] {
        &self.infos
    }
}

/// Says what a file without PEM certificates holds and how to fix it.
fn not_pem_detail(bytes: &[u8], path: &Path) -> String {
    let download = "download PrivateKmsCA_<instanceId>.pem (PEM text) from the KMS instance page";
    if CertificateInfo::from_der(bytes).is_some() {
        return format!(
            "it is a binary DER certificate; convert it with `openssl x509 -inform DER -in {p} -out {p}.pem` or {download}",
            p = path.display()
        );
    }
    match std::str::from_utf8(bytes) {
        Err(_) => format!("it holds binary data, not PEM text; {download}"),
        Ok(text) if text.contains("-----BEGIN ") => {
            format!("it holds PEM blocks but no \"-----BEGIN CERTIFICATE-----\" block; {download}")
        }
        Ok(_) => format!("no \"-----BEGIN CERTIFICATE-----\" block found; {download}"),
    }
}
