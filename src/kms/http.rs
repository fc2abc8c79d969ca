//! HTTP pieces both KMS clients (instance API and shared gateway, with STS and ECS metadata)
//! share: turning a reqwest failure into a [`KmsError::Transport`] that says what failed and how
//! to fix it, and reading a response body under the `max_response_bytes` cap into a zeroizing
//! buffer. Kept in one place so both clients report the same failure the same way.

use std::error::Error as StdError;
use std::io;

use rustls::CertificateError;
use zeroize::Zeroizing;

use crate::kms::{KmsError, TransportErrorKind};

/// The other end of a request, as error messages name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer<'a> {
    /// Endpoint text for [`KmsError::endpoint`] (`host:port`).
    pub endpoint: &'a str,
    /// Service named at the start of each detail ("STS AssumeRole"); empty for none.
    pub what: &'a str,
    /// How to fix a certificate that is not trusted (which `caFilePath` to set); empty when
    /// there is nothing to say (plain HTTP).
    pub untrusted_hint: &'a str,
}

impl Peer<'_> {
    /// Maps a reqwest failure to [`KmsError::Transport`]. The URL is dropped first: gateway
    /// URLs carry the SecurityToken and signature in the query, which must never reach an error.
    pub(crate) fn transport_error(&self, error: reqwest::Error) -> KmsError {
        // The host is not secret and names the certificate a name mismatch is about.
        let host = error
            .url()
            .and_then(|url| url.host_str())
            .unwrap_or(self.endpoint)
            .to_owned();
        let error = error.without_url();
        let (kind, detail) = self.classify(&host, &error);
        let detail = if self.what.is_empty() {
            detail
        } else {
            format!("{}: {detail}", self.what)
        };
        KmsError::Transport {
            endpoint: self.endpoint.to_owned(),
            kind,
            detail,
        }
    }

    fn classify(&self, host: &str, error: &reqwest::Error) -> (TransportErrorKind, String) {
        if let Some(tls) = find_rustls_error(error) {
            return (
                TransportErrorKind::Tls,
                format!("TLS handshake failed: {tls}{}", self.tls_hint(host, tls)),
            );
        }
        let chain = flatten(error);
        if mentions_tls(error) {
            // The connector did not expose the rustls error as a typed source.
            let mut detail = format!("TLS handshake failed: {chain}");
            if !self.untrusted_hint.is_empty() {
                detail.push_str("; ");
                detail.push_str(self.untrusted_hint);
            }
            return (TransportErrorKind::Tls, detail);
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

    fn tls_hint(&self, host: &str, error: &rustls::Error) -> String {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                if self.untrusted_hint.is_empty() {
                    " (unknown issuer)".to_owned()
                } else {
                    format!(" (unknown issuer: {})", self.untrusted_hint)
                }
            }
            // A CA with the same name but another key (e.g. the CA file of another KMS
            // instance, whose CAs are all called "Private KMS Root CA").
            rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
                if self.untrusted_hint.is_empty() {
                    " (the chain does not verify against a trusted CA of the same name)".to_owned()
                } else {
                    format!(
                        " (the chain does not verify against a trusted CA of the same name: {})",
                        self.untrusted_hint
                    )
                }
            }
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => format!(
                " (name mismatch: the server certificate is not issued for {host}; check the endpoint)"
            ),
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            ) => " (the server certificate has expired or the local clock is wrong)".to_owned(),
            _ => String::new(),
        }
    }

    /// Reads a response body, refusing more than `max` bytes: a larger `Content-Length` at
    /// once, otherwise as soon as the streamed chunks pass the cap. The buffer is zeroizing
    /// (bodies hold secrets) and grown by hand so no old allocation is freed unwiped.
    pub(crate) async fn read_body(
        &self,
        mut response: reqwest::Response,
        max: usize,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let status = response.status().as_u16();
        let oversized = |seen: String| {
            let what = if self.what.is_empty() {
                String::new()
            } else {
                format!("{}: ", self.what)
            };
            KmsError::InvalidResponse {
                endpoint: self.endpoint.to_owned(),
                http_status: status,
                detail: format!(
                    "{what}response body ({seen}) is larger than max_response_bytes ({max} bytes); raise max_response_bytes if the service really sends that much"
                ),
            }
        };
        let declared = response.content_length();
        if let Some(len) = declared {
            if len > max as u64 {
                return Err(oversized(format!("Content-Length {len}")));
            }
        }
        let capacity = declared.map_or(0, |len| len as usize);
        let mut body = Zeroizing::new(Vec::with_capacity(capacity));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            let total = body.len() + chunk.len();
            if total > max {
                return Err(oversized(format!("at least {total} bytes streamed")));
            }
            if body.capacity() < total {
                // Grow by hand so the old buffer is zeroized instead of freed with secret bytes.
                let mut grown = Vec::with_capacity(total.max(body.len() * 2).min(max));
                grown.extend_from_slice(&body);
                body = Zeroizing::new(grown);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// `outer: inner: innermost`, skipping messages that repeat the previous one.
pub(crate) fn flatten(error: &(dyn StdError + 'static)) -> String {
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

/// rustls' own wording, for connector layers that pass the TLS failure on as text only.
fn mentions_tls(error: &reqwest::Error) -> bool {
    chain(error).into_iter().any(|e| {
        let text = e.to_string();
        text.contains("invalid peer certificate")
            || text.contains("peer sent no certificates")
            || text.contains("received fatal alert")
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Peer<'static> = Peer {
        endpoint: "kms.example:443",
        what: "",
        untrusted_hint: "set caFilePath to the instance CA",
    };

    #[test]
    fn tls_hints_name_the_reason_and_the_fix() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let hint = PEER.tls_hint("kms.example", &unknown);
        assert!(hint.contains("unknown issuer: set caFilePath"), "{hint}");

        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let hint = PEER.tls_hint("kms.example", &name);
        assert!(
            hint.contains("name mismatch") && hint.contains("kms.example"),
            "{hint}"
        );

        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(PEER.tls_hint("h", &expired).contains("expired"));

        let plain = Peer {
            untrusted_hint: "",
            ..PEER
        };
        assert_eq!(plain.tls_hint("h", &unknown), " (unknown issuer)");
        assert_eq!(PEER.tls_hint("h", &rustls::Error::HandshakeNotComplete), "");
    }

    #[test]
    fn chain_finds_rustls_errors_nested_in_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let outer = io::Error::other(io::Error::other(tls));
        // rustls sits two io::Errors deep, reachable only through get_ref().
        assert!(chain(&outer)
            .into_iter()
            .any(|e| e.downcast_ref::<rustls::Error>().is_some()));
    }
}
