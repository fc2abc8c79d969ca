//! HTTP plumbing shared by the gateway, STS and ECS-metadata calls: one rustls configuration
//! (ring provider, public roots + `caFilePath`), reqwest clients built from it, and `send`. Error
//! classification and capped body reads are shared with the instance client in
//! [`crate::kms::http`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::{Endpoint, HttpConfig};
use crate::kms::http::{flatten, Peer};
use crate::kms::KmsError;

/// `User-Agent` of every request this crate sends to Alibaba Cloud.
pub(crate) const USER_AGENT: &str = concat!(
    "aliyun-managed-credentials-rust/",
    env!("CARGO_PKG_VERSION")
);

/// Trust anchors: the Mozilla roots compiled in by `webpki-roots` plus every certificate of
/// `ca_file` (a corporate TLS proxy or LocalKms CA), which adds to the roots and never replaces
/// them. Why `webpki-roots` rather than the platform store: the platform verifier can only be
/// installed through rustls' custom-verifier escape hatch (allowed in this crate in one place only), and
/// compiled-in roots behave the same in minimal containers without `/etc/ssl`.
pub(crate) fn trust_roots(
    ca_file: Option<&Path>,
    what: &str,
) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read caFilePath {} of {what}: {e}; fix the path or remove caFilePath to trust only public roots",
                path.display()
            )
        })?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "caFilePath {} of {what} is not a PEM certificate bundle ({e})",
                    path.display()
                )
            })?;
        if certificates.is_empty() {
            return Err(format!(
                "caFilePath {} of {what} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        for (i, cert) in certificates.into_iter().enumerate() {
            roots.add(cert).map_err(|e| {
                format!(
                    "certificate #{} of caFilePath {} ({what}) is not a usable trust anchor: {e}",
                    i + 1,
                    path.display()
                )
            })?;
        }
    }
    Ok(Arc::new(roots))
}

/// A reqwest client verifying TLS against `roots` with the ring provider. `resolve` pins one
/// host name to an address (`connectTo`): TLS is still checked against the host name.
/// `use_proxy = false` for the metadata service, which must never go through a proxy.
pub(crate) fn build_client(
    roots: &Arc<RootCertStore>,
    http: &HttpConfig,
    resolve: Option<(&str, SocketAddr)>,
    use_proxy: bool,
) -> Result<reqwest::Client, String> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup failed: {e}"))?
    .with_root_certificates(roots.clone())
    .with_no_client_auth();
    build_client_with_tls(tls, http, resolve, use_proxy)
}

/// [`build_client`] with a prepared rustls configuration (the instance gateway's, which trusts
/// exactly the instance CA bundle).
pub(crate) fn build_client_with_tls(
    tls: rustls::ClientConfig,
    http: &HttpConfig,
    resolve: Option<(&str, SocketAddr)>,
    use_proxy: bool,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(http.connect_timeout)
        .timeout(http.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT);
    if let Some((host, addr)) = resolve {
        builder = builder.resolve(host, addr);
    }
    if !use_proxy {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| format!("HTTP client setup failed: {}", flatten(&e)))
}

/// `https://host:port/` (IPv6 literals bracketed), validated by the URL parser.
pub(crate) fn base_url(scheme: &str, endpoint: &Endpoint) -> Result<reqwest::Url, String> {
    let host = endpoint.host.trim();
    if host.is_empty() {
        return Err("the endpoint host is empty".into());
    }
    if host.contains(['/', '?', '#', '@', ' ']) || host.contains("://") {
        return Err(format!(
            "'{host}' is not a host name; give `host` or `host:port` without scheme or path"
        ));
    }
    if endpoint.port == 0 {
        return Err(format!("port 0 is not a valid port for '{host}'"));
    }
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = reqwest::Url::parse(&format!("{scheme}://{host}:{}/", endpoint.port))
        .map_err(|e| format!("'{host}:{}' is not a valid endpoint: {e}", endpoint.port))?;
    if url.host_str().is_none() {
        return Err(format!("'{host}' is not a valid host name"));
    }
    Ok(url)
}

/// A received answer: status, the headers we use, and the (capped) body.
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `x-acs-request-id`.
    pub request_id: Option<String>,
    /// The body (may hold secrets: never log it).
    pub body: zeroize::Zeroizing<Vec<u8>>,
}

/// Sends `request` and reads the answer (capped at `max_response_bytes`), mapping failures
/// to typed errors through the shared [`Peer`].
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    endpoint: &str,
    what: &str,
    tls_hint: &str,
    max_response_bytes: usize,
) -> Result<Answer, KmsError> {
    let peer = Peer {
        endpoint,
        what,
        untrusted_hint: tls_hint,
    };
    let response = request.send().await.map_err(|e| peer.transport_error(e))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let request_id = header("x-acs-request-id");
    let body = peer.read_body(response, max_response_bytes).await?;
    Ok(Answer {
        status,
        content_type,
        request_id,
        body,
    })
}
