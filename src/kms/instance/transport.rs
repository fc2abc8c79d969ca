//! Classifying reqwest failures into [`TransportErrorKind`]s with a message that says what
//! failed (e.g. "TLS handshake failed: ... UnknownIssuer") and how to fix it.

use std::error::Error as StdError;
use std::io;

use rustls::CertificateError;

use crate::config::Endpoint;
use crate::kms::{KmsError, TransportErrorKind};

/// Maps a reqwest error (and its source chain) to [`KmsError::Transport`].
pub(crate) fn transport_error(endpoint: &Endpoint, error: &reqwest::Error) -> KmsError {
    let (kind, detail) = classify(endpoint, error);
    KmsError::Transport {
        endpoint: endpoint.to_string(),
        kind,
        detail,
    }
}

fn classify(endpoint: &Endpoint, error: &reqwest::Error) -> (TransportErrorKind, String) {
    let chain = flatten(error);
    if let Some(tls) = find_rustls_error(error) {
        return (
            TransportErrorKind::Tls,
            format!("TLS handshake failed: {tls}{}", tls_hint(endpoint, tls)),
        );
    }
    if error.is_timeout() {
        let phase = if error.is_connect() {
            "connecting (connect_timeout_ms)"
        } else {
            "waiting for the answer (request_timeout_ms)"
        };
        return (
            TransportErrorKind::Timeout,
            format!("timed out {phase}: {chain}"),
        );
    }
    if error.is_connect() {
        return (
            TransportErrorKind::Connect,
            format!("connect failed: {chain}"),
        );
    }
    if connection_dropped(error) {
        return (
            TransportErrorKind::Connect,
            format!("connection closed by the server: {chain}"),
        );
    }
    (TransportErrorKind::Io, chain)
}

/// `outer: inner: innermost`, skipping messages that repeat the previous one.
fn flatten(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Every error in the chain, looking inside `io::Error`s too: their `source()` skips the
/// wrapped error itself, and hyper-rustls nests the `rustls::Error` two `io::Error`s deep.
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    const MAX_DEPTH: usize = 32;
    let mut out = Vec::new();
    let mut pending: Vec<&'a (dyn StdError + 'static)> = vec![error];
    while let Some(e) = pending.pop() {
        if out.len() >= MAX_DEPTH {
            break;
        }
        out.push(e);
        if let Some(source) = e.source() {
            pending.push(source);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            pending.push(inner);
        }
    }
    out
}

fn find_rustls_error(error: &reqwest::Error) -> Option<&rustls::Error> {
    chain(error)
        .into_iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
}

fn connection_dropped(error: &reqwest::Error) -> bool {
    chain(error).into_iter().any(|e| {
        e.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
            )
        }) || e.to_string().contains("connection closed")
    })
}

fn tls_hint(endpoint: &Endpoint, error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            " (unknown issuer: the server certificate is not issued by the CA in caFilePath; use the PrivateKmsCA_<instanceId>.pem of the instance behind {})",
            endpoint.host
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            " (name mismatch: the server certificate is not issued for {}; check the endpoint of this instance)",
            endpoint.host
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => " (the server certificate has expired or the local clock is wrong)".to_owned(),
        _ => String::new(),
    }
}
