//! Endpoint strings: `host`, `host:port`, optionally `https://` in front and one `/` behind.
//! Anything else (plain `http://`, a path, a bad port) is rejected rather than guessed at.

use std::net::SocketAddr;

use super::error::{ConfigError, Location};
use super::types::Endpoint;

/// Parses `host`, `host:port` or `https://host[:port][/]` (port 443 when absent), as the
/// properties file's `endpoint` fields are read.
impl std::str::FromStr for Endpoint {
    type Err = ConfigError;

    fn from_str(input: &str) -> Result<Self, ConfigError> {
        parse_endpoint(input, Scheme::Https).map_err(|problem| ConfigError::InvalidEndpoint {
            at: Location::origin("endpoint"),
            value: input.to_owned(),
            problem,
        })
    }
}

/// Which scheme prefix an endpoint may carry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// KMS and STS: HTTPS only, default port 443.
    Https,
    /// The ECS metadata service: plain HTTP only, default port 80.
    Http,
}

/// Parses an endpoint; the error is a short description of what is wrong.
pub(crate) fn parse_endpoint(input: &str, scheme: Scheme) -> Result<Endpoint, String> {
    let s = input.trim();
    let (rest, default_port) = match scheme {
        Scheme::Https => {
            if let Some(rest) = strip_prefix_ci(s, "https://") {
                (rest, 443)
            } else if strip_prefix_ci(s, "http://").is_some() {
                return Err("plain http:// is not supported, KMS and STS need HTTPS".into());
            } else {
                (s, 443)
            }
        }
        Scheme::Http => {
            if let Some(rest) = strip_prefix_ci(s, "http://") {
                (rest, 80)
            } else if strip_prefix_ci(s, "https://").is_some() {
                return Err("the ECS metadata service is plain http://".into());
            } else {
                (s, 80)
            }
        }
    };
    if rest.contains("://") {
        return Err("unsupported scheme".into());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err("a path is not allowed, give only the host name (and port)".into());
    }
    if rest.contains(['?', '#', '@']) {
        return Err("query, fragment or user info is not allowed".into());
    }
    if rest.starts_with('[') {
        return Err(
            "IPv6 literals are not supported; use the KMS host name and `connectTo` for an address"
                .into(),
        );
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port `{port}` is not a number from 1 to 65535"))?;
            (host, port)
        }
        None => (rest, default_port),
    };
    if host.is_empty() {
        return Err("the host name is empty".into());
    }
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "the host name contains `{bad}`; only letters, digits, `-`, `_` and `.` are allowed"
        ));
    }
    Ok(Endpoint {
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Parses our `connectTo` extension: an `ip:port` socket address.
pub(crate) fn parse_connect_to(input: &str) -> Result<SocketAddr, String> {
    input.trim().parse().map_err(|_| {
        "expected `ip:port` (e.g. `10.0.0.5:443` or `[::1]:8443`); host names are not accepted here"
            .to_string()
    })
}

/// The shared-gateway endpoint for a region: `kms[-vpc].{region}.aliyuncs.com:443`.
pub(crate) fn gateway_endpoint(region_id: &str, vpc: bool) -> Endpoint {
    let prefix = if vpc { "kms-vpc" } else { "kms" };
    Endpoint {
        host: format!("{prefix}.{region_id}.aliyuncs.com"),
        port: 443,
    }
}

/// The DNS suffix of a KMS instance's endpoints (`{instanceId}.cryptoservice.kms.aliyuncs.com`).
pub(crate) const INSTANCE_HOST_SUFFIX: &str = ".cryptoservice.kms.aliyuncs.com";

/// Whether `host` is a KMS instance endpoint (case-insensitive, something before the suffix).
pub(crate) fn is_instance_host(host: &str) -> bool {
    let host = host.as_bytes();
    let suffix = INSTANCE_HOST_SUFFIX.as_bytes();
    host.len() > suffix.len() && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Whether a region id can be put into a host name.
pub(crate) fn valid_region_id(region: &str) -> bool {
    !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let ok = |s: &str| parse_endpoint(s, Scheme::Https).unwrap();
        assert_eq!(
            ok("kms.cn-hangzhou.aliyuncs.com").authority(),
            "kms.cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            ok("https://Kst-1.cryptoservice.kms.aliyuncs.com/").host,
            "kst-1.cryptoservice.kms.aliyuncs.com"
        );
        assert_eq!(ok("localhost:8443").port, 8443);
        assert_eq!(ok("HTTPS://a:1").port, 1);
        for bad in [
            "http://a",
            "a/b",
            "a:0",
            "a:70000",
            "a:x",
            "",
            ":443",
            "ftp://a",
            "a b",
            "[::1]:443",
            "https://a//",
        ] {
            assert!(parse_endpoint(bad, Scheme::Https).is_err(), "{bad}");
        }
        assert_eq!(
            parse_endpoint("http://100.100.100.200", Scheme::Http)
                .unwrap()
                .port,
            80
        );
        assert!(parse_endpoint("https://100.100.100.200", Scheme::Http).is_err());
    }

    #[test]
    fn instance_hosts() {
        assert!(is_instance_host(
            "kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com"
        ));
        assert!(is_instance_host("KST-1.CryptoService.kms.aliyuncs.com"));
        assert!(!is_instance_host(".cryptoservice.kms.aliyuncs.com"));
        assert!(!is_instance_host("kms.cn-hangzhou.aliyuncs.com"));
        assert!(!is_instance_host(
            "cryptoservice.kms.aliyuncs.com.evil.example"
        ));
    }
}
