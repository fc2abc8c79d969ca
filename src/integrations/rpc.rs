//! A signer for Alibaba Cloud OpenAPI RPC-style requests (signature v1, HMAC-SHA1), so an app can
//! call any RPC API (ECS, RAM, STS, ...) with the managed key without another SDK.
//!
//! ```no_run
//! # async fn demo(provider: aliyun_managed_credentials::ManagedCredentialsProvider)
//! # -> aliyun_managed_credentials::Result<()> {
//! use aliyun_managed_credentials::RpcRequest;
//!
//! let ak = provider.get_access_key("acs/ram/user/app").await?;
//! let query = RpcRequest::new("GET", "DescribeRegions", "2014-05-26")
//!     .param("RegionId", "cn-hangzhou")
//!     .sign(&ak);
//! let url = format!("https://ecs.aliyuncs.com/?{query}");
//! # let _ = url;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::SystemTime;

use rand::RngCore;

use crate::identity::rpc_hmac_sha1_signature;
use crate::kms::gateway::signing::{canonical_query, percent_encode, string_to_sign};
use crate::secret::{format_date, AccessKey};

/// `METHOD&%2F&encode(k1=v1&k2=v2...)` over every parameter except `Signature`, sorted by name:
/// the gateway client's RPC signature v1, so both sign the same way.
fn rpc_string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    string_to_sign(&method.to_ascii_uppercase(), &canonical_query(&pairs))
}

/// An RPC-style OpenAPI request: `Action`, `Version` and the API's own parameters.
#[derive(Clone, Debug)]
pub struct RpcRequest {
    method: String,
    params: BTreeMap<String, String>,
}

impl RpcRequest {
    /// A request for `action` of API `version` (e.g. `DescribeRegions`, `2014-05-26`), sent with
    /// HTTP `method` (`GET` or `POST`; the signature covers it). `Format=JSON` by default.
    pub fn new(method: &str, action: &str, version: &str) -> Self {
        let mut params = BTreeMap::new();
        params.insert("Action".to_owned(), action.to_owned());
        params.insert("Version".to_owned(), version.to_owned());
        params.insert("Format".to_owned(), "JSON".to_owned());
        Self {
            method: method.to_ascii_uppercase(),
            params,
        }
    }

    /// Adds (or replaces) a parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Signs with `key` (one snapshot: id and secret always match), a fresh nonce and the
    /// current time; returns the query string including `Signature`.
    pub fn sign(&self, key: &AccessKey) -> String {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        self.sign_with(
            key.access_key_id(),
            key.access_key_secret(),
            SystemTime::now(),
            &hex::encode(nonce),
        )
    }

    /// Signs with explicit inputs (for tests and replays of recorded vectors).
    pub(crate) fn sign_with(
        &self,
        access_key_id: &str,
        access_key_secret: &str,
        timestamp: SystemTime,
        nonce: &str,
    ) -> String {
        let mut params = self.params.clone();
        params.insert("AccessKeyId".to_owned(), access_key_id.to_owned());
        params.insert("SignatureMethod".to_owned(), "HMAC-SHA1".to_owned());
        params.insert("SignatureVersion".to_owned(), "1.0".to_owned());
        params.insert("SignatureNonce".to_owned(), nonce.to_owned());
        params.insert("Timestamp".to_owned(), format_date(timestamp));
        let to_sign = rpc_string_to_sign(&self.method, &params);
        let signature = rpc_hmac_sha1_signature(access_key_secret, &to_sign);
        params.insert("Signature".to_owned(), signature);
        params
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The `ak_hmac_sha1` vector of the gateway fixtures (computed by aliyun-python-sdk-core).
    #[test]
    fn matches_the_official_sdk_vector() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_706_774_400); // 2024-02-01T08:00:00Z
        let query = RpcRequest::new("POST", "GetSecretValue", "2016-01-20")
            .param("SecretName", "acs/ram/user/app-prod")
            .param("VersionStage", "ACSCurrent")
            .param("FetchExtendedConfig", "true")
            .param("RegionId", "cn-hangzhou")
            .param("SignatureType", "")
            .sign_with(
                "LTAI5tFakeCallerKeyId001",
                "FakeCallerAccessKeySecret0000001",
                t,
                "8c5b2d1e4f3a49c0b7e6d5c4b3a29180",
            );
        assert!(
            query.contains("Signature=YVeCitZkdPmvk3S698GVuIN0ins%3D"),
            "{query}"
        );
        assert!(query.contains("Timestamp=2024-02-01T08%3A00%3A00Z"));
        assert!(query.contains("SecretName=acs%2Fram%2Fuser%2Fapp-prod"));
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a b*c~d+e/é"), "a%20b%2Ac~d%2Be%2F%C3%A9");
    }
}
