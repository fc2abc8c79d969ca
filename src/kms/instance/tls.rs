//! The rustls configuration of the instance client: ring provider (set on the config, no
//! process-global default), trust anchors = exactly the instance CA bundle (no system roots),
//! hostname verification by webpki against the endpoint name, no client certificate, HTTP/1.1.
//!
//! `ignoreSslCerts` is the one place in the crate that turns certificate checks off.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::identity::CaBundle;

/// How the server certificate is checked.
pub(crate) enum TrustPolicy<'a> {
    /// Only certificates chaining to one of these anchors, issued for the endpoint name.
    CaBundle(&'a CaBundle),
    /// `ignoreSslCerts=true`: any certificate, any name (handshake signatures still checked).
    AcceptAnyCertificate,
}

/// Builds the client config, or says which CA certificate rustls refused.
pub(crate) fn client_config(policy: TrustPolicy<'_>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let mut config = match policy {
        TrustPolicy::CaBundle(bundle) => {
            let mut roots = RootCertStore::empty();
            for (index, cert) in bundle.certificates().iter().enumerate() {
                roots.add(cert.clone()).map_err(|e| {
                    format!(
                        "certificate #{} of CA file {} is not a usable trust anchor ({e}); download the instance CA file (PrivateKmsCA_<instanceId>.pem) again",
                        index + 1,
                        bundle.path().display()
                    )
                })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TrustPolicy::AcceptAnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth(),
    };
    // The SDKs speak HTTP/1.1; HTTP/2 support of the server is unverified.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts every server certificate and name, like the official SDKs' `ignoreSslCerts`; still
/// verifies the handshake signature so the session keys belong to the presented certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
