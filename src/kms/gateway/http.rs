//! HTTP plumbing shared by the gateway, STS and ECS-metadata calls: one rustls configuration
//! (ring provider, public roots + `caFilePath`), reqwest clients built from it, capped body reads
//! and the mapping of transport failures to [`TransportErrorKind`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::config::{Endpoint, HttpConfig};
use crate::kms::{KmsError, TransportErrorKind};

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
        .map_err(|e| format!("HTTP client setup failed: {}", error_chain(&e)))
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

/// Flattens an error and its sources into one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// Whether a rustls error is anywhere in the chain (directly or inside an `io::Error`). The
/// connector layers in between do not all expose their cause as a typed source, so rustls'
/// own wording is recognised too.
fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        let text = e.to_string();
        if text.contains("invalid peer certificate")
            || text.contains("peer sent no certificates")
            || text.contains("received fatal alert")
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Maps a reqwest failure to [`KmsError::Transport`]. `what` names the service
/// ("KMS shared gateway", "STS", "ECS metadata service") and `hint` says how to fix TLS failures.
pub(crate) fn transport_error(
    endpoint: &str,
    what: &str,
    error: reqwest::Error,
    tls_hint: &str,
) -> KmsError {
    // The URL carries the SecurityToken and signature: never put it in an error.
    let error = &error.without_url();
    let kind = if is_tls_error(error) {
        TransportErrorKind::Tls
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Io
    };
    let mut detail = format!("{what}: {}", error_chain(error));
    if kind == TransportErrorKind::Tls {
        detail.push_str("; ");
        detail.push_str(tls_hint);
    }
    KmsError::Transport {
        endpoint: endpoint.to_owned(),
        kind,
        detail,
    }
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// Larger than the configured cap.
    TooLarge,
    /// The transfer failed.
    Transport(reqwest::Error),
}

/// Reads a response body, refusing more than `max` bytes (checked against `Content-Length`
/// first, then while streaming).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

/// Sends `request` and reads the answer, mapping failures to typed errors.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    endpoint: &str,
    what: &str,
    tls_hint: &str,
    max_response_bytes: usize,
) -> Result<Answer, KmsError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(endpoint, what, e, tls_hint))?;
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
    let body = match read_capped(response, max_response_bytes).await {
        Ok(body) => zeroize::Zeroizing::new(body),
        Err(BodyError::TooLarge) => {
            return Err(KmsError::InvalidResponse {
                endpoint: endpoint.to_owned(),
                http_status: status,
                detail: format!(
                    "{what} sent an answer larger than max_response_bytes ({max_response_bytes} bytes); \
                     raise max_response_bytes if this is expected"
                ),
            })
        }
        Err(BodyError::Transport(e)) => return Err(transport_error(endpoint, what, e, tls_hint)),
    };
    Ok(Answer {
        status,
        content_type,
        request_id,
        body,
    })
}
