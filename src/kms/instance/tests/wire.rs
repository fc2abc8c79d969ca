//! Wire behaviour LocalKms cannot script: a minimal HTTPS server (tokio-rustls, the recorded
//! vector PKI) that counts connections and can stream an endless chunked body. Checks keep-alive
//! reuse and the streamed response size cap.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    ClientKeySource, Endpoint, HttpConfig, InstanceEndpointConfig, PasswordSource, RetryConfig,
};
use crate::kms::instance::InstanceClient;
use crate::kms::{GetSecretValueRequest, KmsError};
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY_ID: &str = "KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c";
const HOST: &str = "kst-tst65a1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kms-instance")
        .join(name)
}

#[derive(Clone, Copy)]
enum Mode {
    /// Answer each request with the recorded 432-byte response (Content-Length).
    Recorded,
    /// Answer with a chunked body that never ends.
    EndlessChunked,
}

/// Serves HTTPS on 127.0.0.1 and counts accepted TCP connections.
async fn serve(mode: Mode) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("pki/server_chain.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("pki/server.key")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let body = base64::engine::general_purpose::STANDARD
        .decode(
            std::fs::read_to_string(fixture(
                "responses/01_ok_legacy_ca_fixeddate_response_body.b64",
            ))
            .unwrap()
            .trim(),
        )
        .unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                while read_request(&mut tls).await.is_some() {
                    let result = match mode {
                        Mode::Recorded => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            let mut out = head.into_bytes();
                            out.extend_from_slice(&body);
                            tls.write_all(&out).await
                        }
                        Mode::EndlessChunked => endless(&mut tls).await,
                    };
                    if result.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, connections)
}

/// Reads one request (head + Content-Length body); `None` at end of stream.
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + len {
                let n = stream.read(&mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(());
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

async fn endless<S: AsyncWriteExt + Unpin>(stream: &mut S) -> std::io::Result<()> {
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await?;
    let chunk = vec![b'x'; 16 * 1024];
    loop {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await?;
        stream.write_all(&chunk).await?;
        stream.write_all(b"\r\n").await?;
    }
}

fn client(addr: std::net::SocketAddr, max_response_bytes: usize) -> InstanceClient {
    let config = InstanceEndpointConfig {
        region_id: "cn-hangzhou".into(),
        endpoint: Endpoint {
            host: HOST.into(),
            port: addr.port(),
        },
        client_key: ClientKeySource::File(fixture(&format!("clientKey_{KEY_ID}_legacy.json"))),
        password: vec![PasswordSource::File(fixture(&format!(
            "clientKey_{KEY_ID}_Password.txt"
        )))],
        ca_file: Some(fixture("PrivateKmsCA_kst-tst65a1b2c3d4e5f6g7h8.pem")),
        ignore_ssl_certs: false,
        connect_to: Some(addr),
    };
    let http = HttpConfig {
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(3),
        max_response_bytes,
        retry: RetryConfig {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        },
    };
    InstanceClient::new(&config, &http).unwrap()
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let (addr, connections) = serve(Mode::Recorded).await;
    let client = client(addr, 1024 * 1024);
    for _ in 0..3 {
        let value = client
            .fetch(&GetSecretValueRequest::current("acs/ram/user/app-prod"))
            .await
            .expect("recorded answer decodes");
        assert_eq!(value.request_id, "5b1e9c7a-2f3d-4a6b-8c9d-0e1f2a3b4c5d");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one TLS connection");
}

#[tokio::test]
async fn streamed_body_is_cut_off_at_the_cap() {
    let (addr, _) = serve(Mode::EndlessChunked).await;
    let client = client(addr, 100_000);
    let e = client
        .fetch(&GetSecretValueRequest::current("acs/ram/user/app-prod"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(
            e,
            KmsError::InvalidResponse {
                http_status: 200,
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("max_response_bytes"), "{text}");
    assert!(text.contains("100000 bytes"), "{text}");
    assert!(text.contains("streamed"), "{text}");
}
