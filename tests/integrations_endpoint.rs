//! The local credentials endpoint (ALIBABA_CLOUD_CREDENTIALS_URI format) served from a provider
//! backed by LocalKms: the JSON document, the capability token, Expiration before the next
//! rotation, loopback-only binding, stale flag in health, shutdown; the request hardening over raw
//! loopback TCP (Host check against DNS rebinding, GET/HEAD only, bounded heads, slow clients,
//! connection cap); the binary on SIGTERM and its `--url-file`; and, opt-in, the official Python
//! `alibabacloud-credentials` package reading through it.

mod integrations_support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::integrations::endpoint::{
    CredentialsEndpoint, EndpointConfig, EndpointError,
};
use aliyun_managed_credentials::testing::Fault;
use integrations_support::{http_get, Setup, SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(setup: &Setup) -> CredentialsEndpoint {
    CredentialsEndpoint::start(
        setup.provider.clone(),
        vec![SECRET.to_owned()],
        EndpointConfig::default(),
    )
    .await
    .expect("endpoint starts")
}

fn path_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_owned()
}

/// Reads until the server closes the connection (a reset counts as closed) and returns what
/// came; panics if it is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("the server did not close the connection within {within:?}"));
    String::from_utf8_lossy(&buf).into_owned()
}

/// Writes `request` as is on a fresh connection and returns the raw answer (see
/// [`read_until_closed`]).
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before reading everything (refused requests): not an error here.
    let _ = stream.write_all(request.as_bytes()).await;
    read_until_closed(&mut stream, Duration::from_secs(10)).await
}

/// `GET`-style request text with the given method, target and header lines (each ending CRLF).
fn request(method: &str, target: &str, headers: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n")
}

fn status_of(raw: &str) -> u16 {
    raw.strip_prefix("HTTP/1.1 ")
        .or_else(|| raw.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header_of<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_of(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Asserts that `raw` holds neither half of the current key nor the URL token.
fn assert_no_secrets(setup: &Setup, token: &str, raw: &str, what: &str) {
    let pair = setup.kms.current_access_key(SECRET);
    assert!(!raw.contains(&pair.access_key_id), "{what}: {raw}");
    assert!(!raw.contains(&pair.access_key_secret), "{what}: {raw}");
    assert!(!raw.contains(token), "{what}: {raw}");
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn expiration(doc: &serde_json::Value) -> SystemTime {
    let text = doc["Expiration"].as_str().unwrap();
    assert_eq!(text.len(), 20, "YYYY-MM-DDThh:mm:ssZ: {text}");
    assert!(text.ends_with('Z') && text.as_bytes()[10] == b'T', "{text}");
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(text, &format)
        .expect("Expiration in YYYY-MM-DDThh:mm:ssZ")
        .assume_utc()
        .into()
}

#[tokio::test]
async fn serves_the_managed_key_in_the_credentials_uri_format() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let (status, body) = http_get(ep.local_addr(), &path_of(&ep.url())).await;
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    let pair = setup.kms.current_access_key(SECRET);
    assert_eq!(doc["Code"], "Success");
    assert_eq!(doc["AccessKeyId"], pair.access_key_id.as_str());
    assert_eq!(doc["AccessKeySecret"], pair.access_key_secret.as_str());
    assert_eq!(doc["SecurityToken"], "");
    let exp = expiration(&doc);
    let now = SystemTime::now();
    // Default policy: at least 20 min (Python/Java re-fetch 15 min before), at most 1 h.
    assert!(exp >= now + Duration::from_secs(20 * 60 - 5), "{doc}");
    assert!(exp <= now + Duration::from_secs(3600 + 1), "{doc}");

    // Named form of the URL, and the switch after a rotation.
    let new = setup.rotate_and_revoke();
    setup.provider.refresh_now(SECRET).await.unwrap();
    let (status, body) = http_get(ep.local_addr(), &path_of(&ep.url_for(SECRET))).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["AccessKeyId"], new.as_str());
    ep.shutdown().await;
}

#[tokio::test]
async fn everything_without_the_token_is_404() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let good = path_of(&ep.url());
    let token = good.split('/').nth(1).unwrap().to_owned();
    assert!(token.len() >= 43, "256-bit token: {token}");
    let mut flipped = token.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let pair = setup.kms.current_access_key(SECRET);
    for path in [
        "/".to_owned(),
        "/credentials".to_owned(),
        "/latest/meta-data/ram/security-credentials/".to_owned(),
        format!("/{flipped}/credentials"),
        format!("/{token}x/credentials"),
        format!("/{}/credentials", &token[..token.len() - 1]),
        format!("/{token}"),
        format!("/{token}/"),
        format!("/{token}/credentials/acs/ram/user/other"),
        format!("/x/{token}/credentials"),
    ] {
        let (status, body) = http_get(ep.local_addr(), &path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains(&pair.access_key_id), "{path}");
    }
    let (status, _) = http_get(ep.local_addr(), &good).await;
    assert_eq!(status, 200);
    ep.shutdown().await;
}

#[tokio::test]
async fn expiration_comes_before_the_next_rotation() {
    let setup = Setup::new().await;
    let rotation = SystemTime::now() + Duration::from_secs(30 * 60);
    setup.kms.set_next_rotation(SECRET, rotation);
    setup.provider.refresh_now(SECRET).await.unwrap();
    let ep = start(&setup).await;
    let (_, body) = http_get(ep.local_addr(), &path_of(&ep.url())).await;
    let exp = expiration(&json(&body));
    assert!(
        exp <= rotation,
        "Expiration {exp:?} after rotation {rotation:?}"
    );
    assert!(exp >= SystemTime::now() + Duration::from_secs(20 * 60 - 5));
    ep.shutdown().await;
}

#[tokio::test]
async fn binds_loopback_only_unless_allowed() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    assert!(ep.local_addr().ip().is_loopback());
    assert!(ep.url().starts_with("http://127.0.0.1:"));
    ep.shutdown().await;

    let mut everywhere = EndpointConfig::default();
    everywhere.listen = "0.0.0.0:0".parse().unwrap();
    let err =
        CredentialsEndpoint::start(setup.provider.clone(), vec![SECRET.to_owned()], everywhere)
            .await
            .unwrap_err();
    assert!(matches!(err, EndpointError::NonLoopback { .. }), "{err}");
    assert!(err.to_string().contains("--allow-non-loopback"), "{err}");

    let err = CredentialsEndpoint::start(setup.provider.clone(), vec![], EndpointConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EndpointError::NoSecrets), "{err}");

    let mut no_time = EndpointConfig::default();
    no_time.header_read_timeout = Duration::ZERO;
    let err = CredentialsEndpoint::start(setup.provider.clone(), vec![SECRET.to_owned()], no_time)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EndpointError::InvalidSetting {
                setting: "header_read_timeout",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("above zero"), "{err}");
}

#[tokio::test]
async fn a_stale_served_key_is_flagged_in_health() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let health = path_of(&ep.health_url());
    let (status, body) = http_get(ep.local_addr(), &path_of(&ep.url())).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(ep.local_addr(), &health).await;
    assert_eq!(status, 200, "{body}");
    let h = json(&body);
    assert_eq!(h["healthy"], true);
    assert_eq!(h["secrets"][0]["stale_served"], false);

    setup.kms.set_fault_always(Some(Fault::Error {
        http_status: 403,
        code: "Forbidden.NoPermission".into(),
        message: "denied".into(),
    }));
    assert!(setup.provider.refresh_now(SECRET).await.is_err());
    let (status, body) = http_get(ep.local_addr(), &path_of(&ep.url())).await;
    assert_eq!(status, 200, "the old key is still served: {body}");
    let (status, body) = http_get(ep.local_addr(), &health).await;
    assert_eq!(status, 503, "{body}");
    let h = json(&body);
    assert_eq!(h["healthy"], false);
    assert_eq!(h["secrets"][0]["stale"], true);
    assert_eq!(h["secrets"][0]["stale_served"], true);
    assert_eq!(h["secrets"][0]["served_stale"], 1);
    assert!(!body.contains(&setup.kms.current_access_key(SECRET).access_key_secret));
    ep.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let addr = ep.local_addr();
    ep.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// DNS rebinding: a web page whose name now resolves to 127.0.0.1 makes the browser send its own
/// name in `Host`. Only the bound address (and `localhost` on loopback) is answered; the refusal
/// comes before the token is looked at and carries no secret.
#[tokio::test]
async fn requests_naming_another_host_are_refused() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let addr = ep.local_addr();
    let port = addr.port();
    let path = path_of(&ep.url());
    let token = path.split('/').nth(1).unwrap().to_owned();
    let host = |h: &str| format!("Host: {h}\r\n");
    let other_port = if port == 65535 { 1 } else { port + 1 };
    for (what, req) in [
        (
            "rebound name",
            request("GET", &path, &host(&format!("attacker.example:{port}"))),
        ),
        (
            "rebound name, no port",
            request("GET", &path, &host("attacker.example")),
        ),
        (
            "lookalike",
            request(
                "GET",
                &path,
                &host(&format!("localhost.attacker.example:{port}")),
            ),
        ),
        (
            "other port",
            request("GET", &path, &host(&format!("127.0.0.1:{other_port}"))),
        ),
        (
            "userinfo",
            request(
                "GET",
                &path,
                &host(&format!("127.0.0.1:{port}@attacker.example")),
            ),
        ),
        (
            "other loopback",
            request("GET", &path, &host(&format!("127.0.0.2:{port}"))),
        ),
        ("empty", request("GET", &path, "Host: \r\n")),
        (
            "two Host headers",
            request(
                "GET",
                &path,
                &format!("Host: 127.0.0.1:{port}\r\nHost: attacker.example\r\n"),
            ),
        ),
        (
            "absolute-form target for another host",
            request(
                "GET",
                &format!("http://attacker.example:{port}{path}"),
                &host(&format!("127.0.0.1:{port}")),
            ),
        ),
        ("no Host (HTTP/1.0)", format!("GET {path} HTTP/1.0\r\n\r\n")),
        (
            "health",
            request("GET", &path_of(&ep.health_url()), &host("attacker.example")),
        ),
    ] {
        let raw = exchange(addr, &req).await;
        assert_eq!(status_of(&raw), 421, "{what}: {raw}");
        assert_no_secrets(&setup, &token, &raw, what);
    }
    for name in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        // The official Python client leaves the port out; the name alone still must match.
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
    ] {
        let raw = exchange(addr, &request("GET", &path, &host(&name))).await;
        assert_eq!(status_of(&raw), 200, "{name}: {raw}");
    }
    let raw = exchange(
        addr,
        &request(
            "GET",
            &format!("http://127.0.0.1:{port}{path}"),
            &host(&format!("localhost:{port}")),
        ),
    )
    .await;
    assert_eq!(
        status_of(&raw),
        200,
        "absolute-form for this endpoint: {raw}"
    );
    ep.shutdown().await;
}

/// Only GET and HEAD: anything else is 405 with `Allow`, before the token is looked at; HEAD gets
/// the headers of the GET answer and no body.
#[tokio::test]
async fn only_get_and_head_are_allowed() {
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let addr = ep.local_addr();
    let path = path_of(&ep.url());
    let token = path.split('/').nth(1).unwrap().to_owned();
    let host = format!("Host: {addr}\r\nContent-Length: 0\r\n");
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND",
    ] {
        for target in [path.as_str(), "/", "/credentials"] {
            let raw = exchange(addr, &request(method, target, &host)).await;
            assert_eq!(status_of(&raw), 405, "{method} {target}: {raw}");
            assert_eq!(
                header_of(&raw, "allow"),
                Some("GET, HEAD"),
                "{method}: {raw}"
            );
            assert_no_secrets(&setup, &token, &raw, method);
        }
    }
    for target in [path.clone(), path_of(&ep.health_url())] {
        let raw = exchange(addr, &request("HEAD", &target, &host)).await;
        assert_eq!(status_of(&raw), 200, "HEAD {target}: {raw}");
        assert_eq!(
            header_of(&raw, "content-type"),
            Some("application/json"),
            "{raw}"
        );
        let length: usize = header_of(&raw, "content-length").unwrap().parse().unwrap();
        assert!(length > 0, "{raw}");
        assert_eq!(body_of(&raw), "", "HEAD answers carry no body: {raw}");
        assert_no_secrets(&setup, &token, &raw, "HEAD");
    }
    ep.shutdown().await;
}

/// Request heads are bounded: more than `max_headers` header lines, or a head that reaches
/// `max_header_bytes` without ending, is answered 431 and the connection closed; ordinary
/// requests with a fair number of headers still pass.
#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let setup = Setup::new().await;
    let config = EndpointConfig::default();
    assert_eq!(config.max_header_bytes, 16 * 1024);
    assert_eq!(config.max_headers, 64);
    let ep = start(&setup).await;
    let addr = ep.local_addr();
    let path = path_of(&ep.url());
    let token = path.split('/').nth(1).unwrap().to_owned();
    let host = format!("Host: {addr}\r\n");

    let fair: String = (0..40)
        .map(|i| format!("X-Fair-{i}: {}\r\n", "v".repeat(200)))
        .collect();
    let raw = exchange(addr, &request("GET", &path, &format!("{host}{fair}"))).await;
    assert_eq!(status_of(&raw), 200, "40 headers, ~9 KiB: {raw}");

    let many: String = (0..80).map(|i| format!("X-Many-{i}: v\r\n")).collect();
    let raw = exchange(addr, &request("GET", &path, &format!("{host}{many}"))).await;
    assert_eq!(status_of(&raw), 431, "80 headers: {raw}");
    assert_no_secrets(&setup, &token, &raw, "80 headers");

    // A head that never ends, exactly max_header_bytes long (so the server reads all of it and the
    // close is clean): refused at once instead of buffered until the header timeout.
    let mut head = format!("GET {path} HTTP/1.1\r\n{host}X-Pad: ");
    head.push_str(&"p".repeat(config.max_header_bytes - head.len()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let raw = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(status_of(&raw), 431, "16 KiB unfinished head: {raw}");
    assert_no_secrets(&setup, &token, &raw, "unfinished head");
    ep.shutdown().await;
}

/// A client that sends half a request head, or nothing, or idles after a request on a kept-alive
/// connection, is disconnected after `header_read_timeout`.
#[tokio::test]
async fn slow_clients_are_disconnected() {
    let setup = Setup::new().await;
    assert_eq!(
        EndpointConfig::default().header_read_timeout,
        Duration::from_secs(10)
    );
    let mut config = EndpointConfig::default();
    config.header_read_timeout = Duration::from_secs(1);
    let ep = CredentialsEndpoint::start(setup.provider.clone(), vec![SECRET.to_owned()], config)
        .await
        .unwrap();
    let addr = ep.local_addr();
    let path = path_of(&ep.url());
    // Well under the 10 s default, well over the 1 s configured.
    let bound = Duration::from_secs(6);

    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Sl").as_bytes())
        .await
        .unwrap();
    let raw = read_until_closed(&mut half, bound).await;
    assert_ne!(status_of(&raw), 200, "{raw}");

    let mut silent = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut silent, bound).await;

    let mut kept = TcpStream::connect(addr).await.unwrap();
    kept.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let raw = read_until_closed(&mut kept, bound).await;
    assert_eq!(
        status_of(&raw),
        200,
        "the request itself is answered: {raw}"
    );
    ep.shutdown().await;
}

/// Beyond `max_connections` open connections, new ones are closed at once (not queued); a slot
/// freed by a client is usable again, and the count of refusals shows in health.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let setup = Setup::new().await;
    assert_eq!(EndpointConfig::default().max_connections, 256);
    let mut config = EndpointConfig::default();
    config.max_connections = 2;
    config.header_read_timeout = Duration::from_secs(60);
    let ep = CredentialsEndpoint::start(setup.provider.clone(), vec![SECRET.to_owned()], config)
        .await
        .unwrap();
    let addr = ep.local_addr();
    let path = path_of(&ep.url());
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    let mut third = TcpStream::connect(addr).await.unwrap();
    let raw = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert_eq!(raw, "", "closed without an answer");

    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let raw = exchange(addr, &request("GET", &path, &format!("Host: {addr}\r\n"))).await;
        if status_of(&raw) == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed slot was never reused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let raw = exchange(
        addr,
        &request(
            "GET",
            &path_of(&ep.health_url()),
            &format!("Host: {addr}\r\n"),
        ),
    )
    .await;
    let health = json(body_of(&raw));
    assert!(
        health["refused_connections"].as_u64().unwrap() >= 1,
        "{health}"
    );
    ep.shutdown().await;
}

/// The binary: `get` prints the credentials-URI document of the current key once and exits 0.
#[cfg(feature = "cli")]
#[tokio::test]
async fn binary_get_prints_the_current_key_as_the_credentials_document() {
    let setup = Setup::new().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aliyun-managed-credentials"))
        .args(["get", "--secret", SECRET, "--config"])
        .arg(&setup.ap.properties_file)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(std::str::from_utf8(&out.stdout).unwrap());
    let key = setup.provider.get_access_key(SECRET).await.unwrap();
    assert_eq!(doc["Code"], "Success");
    assert_eq!(doc["AccessKeyId"], key.access_key_id());
    assert_eq!(doc["AccessKeySecret"], key.access_key_secret());
    assert_eq!(doc["SecurityToken"], "");
    for field in ["Expiration", "LastUpdated"] {
        let date = doc[field].as_str().unwrap();
        assert_eq!(date.len(), "2026-11-23T21:46:10Z".len(), "{field}: {date}");
        assert!(date.ends_with('Z'), "{field}: {date}");
    }
    assert_eq!(doc.as_object().unwrap().len(), 6, "{doc}");
}

/// The binary: `serve` prints the URL once, serves it, and exits 0 on SIGTERM.
#[cfg(all(unix, feature = "cli"))]
#[tokio::test]
async fn binary_serves_and_exits_cleanly_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let setup = Setup::new().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aliyun-managed-credentials"))
        .args(["serve", "--secret", SECRET, "--config"])
        .arg(&setup.ap.properties_file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("URL printed")
        .unwrap()
        .unwrap();
    let url = first
        .strip_prefix("ALIBABA_CLOUD_CREDENTIALS_URI=")
        .unwrap_or_else(|| panic!("{first}"));
    let addr = url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let (status, body) = http_get(addr.parse().unwrap(), &path_of(url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        json(&body)["AccessKeyId"],
        setup.kms.current_access_key(SECRET).access_key_id.as_str()
    );
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Runs `serve` for `SECRET` with `extra` arguments; stdout and stderr are piped.
#[cfg(all(unix, feature = "cli"))]
fn spawn_serve(setup: &Setup, extra: &[&std::ffi::OsStr]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aliyun-managed-credentials"))
        .args(["serve", "--secret", SECRET, "--config"])
        .arg(&setup.ap.properties_file)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and returns (exit status, all of stdout, all of stderr).
#[cfg(all(unix, feature = "cli"))]
async fn terminate(mut child: tokio::process::Child) -> (std::process::ExitStatus, String, String) {
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    finish(&mut child).await
}

/// Waits (at most 15 s) for the child to exit: (exit status, all of stdout, all of stderr).
#[cfg(all(unix, feature = "cli"))]
async fn finish(child: &mut tokio::process::Child) -> (std::process::ExitStatus, String, String) {
    use tokio::io::AsyncReadExt;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let status = tokio::time::timeout(Duration::from_secs(15), async {
        let (o, e) = tokio::join!(
            out.read_to_string(&mut stdout),
            err.read_to_string(&mut stderr)
        );
        o.unwrap();
        e.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("the binary exits");
    (status, stdout, stderr)
}

/// `--url-file` over an existing world-readable file: the file is replaced (new inode, so not
/// truncated in place) by an owner-only one holding the URL, and the URL (the capability) is not
/// printed: stdout names the file instead.
#[cfg(all(unix, feature = "cli"))]
#[tokio::test]
async fn binary_url_file_is_replaced_owner_only_and_the_url_is_not_printed() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("credentials-uri");
    std::fs::write(&url_file, "old\n").unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let old_inode = std::fs::metadata(&url_file).unwrap().ino();

    let child = spawn_serve(&setup, &["--url-file".as_ref(), url_file.as_os_str()]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let url = loop {
        let text = std::fs::read_to_string(&url_file).unwrap_or_default();
        if text.starts_with("http://") {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "URL never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(url.ends_with("/credentials\n"), "{url}");
    let url = url.trim_end();
    let meta = std::fs::metadata(&url_file).unwrap();
    assert_eq!(format!("{:o}", meta.permissions().mode() & 0o777), "600");
    assert_ne!(
        meta.ino(),
        old_inode,
        "replaced by rename, not rewritten in place"
    );
    let addr = url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let (status, _) = http_get(addr.parse().unwrap(), &path_of(url)).await;
    assert_eq!(status, 200);

    let (status, stdout, stderr) = terminate(child).await;
    assert!(status.success(), "{status:?}: {stderr}");
    let token = path_of(url).split('/').nth(1).unwrap().to_owned();
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains(&token), "{name} shows the token: {text}");
    }
    assert!(!stdout.contains("http://"), "{stdout}");
    assert!(stdout.contains(&url_file.display().to_string()), "{stdout}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["credentials-uri"], "no temporary file left");
}

/// `--url-file` naming a symbolic link: refused (exit 1, the link target untouched), whether
/// the link points to an existing file or nowhere.
#[cfg(all(unix, feature = "cli"))]
#[tokio::test]
async fn binary_refuses_a_symlinked_url_file() {
    let setup = Setup::new().await;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "victim\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    for url_file in [&link, &dangling] {
        let mut child = spawn_serve(&setup, &["--url-file".as_ref(), url_file.as_os_str()]);
        let (status, stdout, stderr) = finish(&mut child).await;
        assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
        assert!(stderr.contains("--url-file"), "{stderr}");
        assert!(stderr.contains("symbolic link"), "{stderr}");
        assert!(!stderr.contains("/credentials"), "{stderr}");
        assert!(!stdout.contains("http://"), "{stdout}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
    assert!(!dir.path().join("nowhere").exists());
}

/// Opt-in: `ALIYUN_MC_TEST_PYTHON=/path/to/python` with `alibabacloud-credentials` installed
/// (`python -m venv v && v/bin/pip install alibabacloud-credentials`). The official client's
/// default chain reads our endpoint through ALIBABA_CLOUD_CREDENTIALS_URI.
#[tokio::test]
async fn official_python_client_reads_the_endpoint() {
    let Ok(python) = std::env::var("ALIYUN_MC_TEST_PYTHON") else {
        eprintln!("skipped: set ALIYUN_MC_TEST_PYTHON to a python with alibabacloud-credentials");
        return;
    };
    let setup = Setup::new().await;
    let ep = start(&setup).await;
    let script = r#"
import json
from alibabacloud_credentials.client import Client
c = Client()
m = c.get_credential()
print(json.dumps({"id": m.access_key_id, "secret": m.access_key_secret,
                  "token": m.security_token, "type": m.type, "provider": m.provider_name}))
"#;
    let out = tokio::process::Command::new(python)
        .args(["-c", script])
        .env("ALIBABA_CLOUD_CREDENTIALS_URI", ep.url())
        // Keep the default chain on loopback: no ECS metadata probe, no profile files.
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CREDENTIALS_FILE", "/nonexistent")
        .env("ALIBABA_CLOUD_CONFIG_FILE", "/nonexistent")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(String::from_utf8_lossy(&out.stdout).trim());
    let pair = setup.kms.current_access_key(SECRET);
    assert_eq!(doc["id"], pair.access_key_id.as_str());
    assert_eq!(doc["secret"], pair.access_key_secret.as_str());
    assert_eq!(doc["token"], "");
    assert!(
        doc["provider"].as_str().unwrap().contains("credential_uri"),
        "{doc}"
    );
    ep.shutdown().await;
}
