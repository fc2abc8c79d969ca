//! [`GatewayClient`]: `GetSecretValue` on one `cache_client_region_id` endpoint — a shared
//! gateway (`kms[-vpc].{region}.aliyuncs.com` or an override) or a KMS instance's own gateway
//! (`{instanceId}.cryptoservice.kms.aliyuncs.com`) — signed per attempt with the KMS identity
//! session (RPC signature v1 or V3 `ACS3-HMAC-SHA256`, see
//! [`GatewaySignature`](crate::config::GatewaySignature)), retried with full-jitter backoff on
//! throttling / unavailable / internal errors and transport failures.
//!
//! TLS: the shared gateway is verified against the public roots plus `caFilePath` (a proxy
//! CA); an instance gateway against exactly its `caFilePath` bundle, never the public roots
//! (the official Python v2 client adds the CA file to the default roots; we do not).

use std::sync::Arc;
use std::time::SystemTime;

use rustls::RootCertStore;

use super::acs3::{self, Acs3Request};
use super::connection::{self, USER_AGENT};
use super::credentials::IdentitySession;
use super::response::{decode_error, decode_secret_value};
use super::signing::{
    format_timestamp, get_secret_value_params, new_nonce, rpc_params, sign_params, RpcCall,
    SigningKey, KMS_API_VERSION,
};
#[cfg(test)]
use crate::config::KmsIdentity;
use crate::config::{Endpoint, GatewayEndpointConfig, GatewaySignature, HttpConfig, RetryConfig};
use crate::identity::CaBundle;
use crate::kms::backoff::with_retries;
use crate::kms::instance::tls::{client_config, TrustPolicy};
use crate::kms::{BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue};

/// What the server says before its own string-to-sign in `SignatureDoesNotMatch` messages.
const SERVER_STRING_TO_SIGN: &str = "server string to sign is:";

/// A client of one gateway endpoint. Cheap to share (`Arc`); the KMS identity session can
/// be shared by the clients of several regions ([`GatewayClient::with_credentials`]).
pub(crate) struct GatewayClient {
    endpoint: Endpoint,
    endpoint_text: String,
    /// The `host` header: signed in V3, so exactly what is sent.
    host_header: String,
    region_id: String,
    url: reqwest::Url,
    client: reqwest::Client,
    credentials: Arc<IdentitySession>,
    signature: GatewaySignature,
    /// "KMS shared gateway" or "KMS instance gateway", for messages.
    what: &'static str,
    /// How to fix an untrusted server certificate.
    tls_hint: String,
    retry: RetryConfig,
    max_response_bytes: usize,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("endpoint", &self.endpoint_text)
            .field("region_id", &self.region_id)
            .field("signature", &self.signature)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl GatewayClient {
    #[cfg(test)]
    /// A client for `config` authenticating with `credential` (a ClientKey is loaded now; role
    /// credentials on first use), signing as [`GatewayEndpointConfig::signature_for`] says.
    /// Fails with a typed error on a bad region, endpoint, CA file or credential. STS is
    /// trusted like a shared gateway with this entry's `caFilePath` (additive).
    pub(crate) fn new(
        config: &GatewayEndpointConfig,
        credential: &KmsIdentity,
        http: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        validate_region(config)?;
        let sts_roots = shared_roots(config)?;
        let credentials =
            IdentitySession::with_roots(credential, &config.region_id, http, Some(sts_roots))?;
        Self::with_credentials(
            config,
            Arc::new(credentials),
            http,
            config.signature_for(credential),
        )
    }

    /// A client sharing already prepared KMS identity (one STS session for every region),
    /// signing with `signature` (from [`GatewayEndpointConfig::signature_for`]).
    pub(crate) fn with_credentials(
        config: &GatewayEndpointConfig,
        credentials: Arc<IdentitySession>,
        http: &HttpConfig,
        signature: GatewaySignature,
    ) -> Result<Self, crate::Error> {
        validate_region(config)?;
        let endpoint_text = config.endpoint.to_string();
        let request_error = |detail: String| KmsError::Request {
            endpoint: endpoint_text.clone(),
            detail,
        };
        let url = connection::base_url("https", &config.endpoint).map_err(|e| {
            request_error(format!(
                "endpoint of region {} in cache_client_region_id: {e}",
                config.region_id
            ))
        })?;
        let resolve = config
            .connect_to
            .map(|addr| (config.endpoint.host.as_str(), addr));
        let instance = config.is_instance_gateway();
        let client = if instance {
            let path = config.ca_file.as_deref().ok_or_else(|| {
                request_error(format!(
                    "no caFilePath for the instance gateway {}: set it to the PrivateKmsCA_<instanceId>.pem of the instance",
                    config.endpoint.host
                ))
            })?;
            let bundle = CaBundle::from_pem_file(path)?;
            let tls = client_config(TrustPolicy::CaBundle(&bundle)).map_err(request_error)?;
            connection::build_client_with_tls(tls, http, resolve, true)
        } else {
            connection::build_client(&shared_roots(config)?, http, resolve, true)
        }
        .map_err(request_error)?;
        let (what, tls_hint) = if instance {
            (
                "KMS instance gateway",
                format!(
                    "an instance gateway is trusted only through its caFilePath; the server certificate is not issued by the CA in {} — use the PrivateKmsCA_<instanceId>.pem of the instance behind {}",
                    config.ca_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                    config.endpoint.host
                ),
            )
        } else {
            (
                "KMS shared gateway",
                "the gateway is verified against public roots; behind a TLS-intercepting proxy set caFilePath to its CA in cache_client_region_id".to_owned(),
            )
        };
        Ok(Self {
            endpoint: config.endpoint.clone(),
            host_header: config.endpoint.authority(),
            endpoint_text,
            region_id: config.region_id.clone(),
            url,
            client,
            credentials,
            signature,
            what,
            tls_hint,
            retry: http.retry.clone(),
            max_response_bytes: http.max_response_bytes,
        })
    }

    /// One attempt. When KMS refuses the temporary session it was signed with (revoked or
    /// expired early), that session is dropped and the request is sent once more at once with a
    /// new one, so the caller sees no failure; a second refusal is returned (no loop).
    async fn attempt(
        &self,
        request: &GetSecretValueRequest,
        attempt: u32,
    ) -> Result<SecretValue, KmsError> {
        match self.attempt_signed(request, attempt).await {
            Err(error) if self.credentials.renews_after(&error) => {
                tracing::info!(
                    endpoint = %self.endpoint_text,
                    secret_name = %request.secret_name,
                    code = error.code().unwrap_or_default(),
                    "sending GetSecretValue again with a new session"
                );
                self.attempt_signed(request, attempt).await
            }
            result => result,
        }
    }

    /// One signed request: fresh credentials, timestamp and nonce, signed, sent, decoded.
    async fn attempt_signed(
        &self,
        request: &GetSecretValueRequest,
        attempt: u32,
    ) -> Result<SecretValue, KmsError> {
        let credential = self
            .credentials
            .current()
            .await
            .map_err(|e| with_secret_name(e, &request.secret_name))?;
        let timestamp = format_timestamp(SystemTime::now());
        let nonce = new_nonce();
        // A ClientKey never signs V3 (configuration refuses it; this keeps it so).
        let v3 = self.signature == GatewaySignature::Acs3HmacSha256
            && !matches!(*credential, SigningKey::ClientKey(_));
        let sign_error = |e: crate::identity::IdentityError| KmsError::Request {
            endpoint: self.endpoint_text.clone(),
            detail: e.to_string(),
        };
        tracing::debug!(
            endpoint = %self.endpoint_text,
            secret_name = %request.secret_name,
            access_key_id = credential.access_key_id(),
            signature = if v3 { acs3::algorithm(&credential) } else { credential.signature_method() },
            attempt,
            nonce = %nonce,
            "GetSecretValue via {}", self.what
        );
        let mut url = self.url.clone();
        let (http_request, string_to_sign) = if v3 {
            let query: Vec<(String, String)> = get_secret_value_params(request)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let signed = acs3::sign(
                &Acs3Request {
                    method: "POST",
                    host: &self.host_header,
                    action: "GetSecretValue",
                    version: KMS_API_VERSION,
                    date: &timestamp,
                    nonce: &nonce,
                    user_agent: USER_AGENT,
                    credentials_provider: None,
                    query: &query,
                    body: b"",
                },
                &credential,
            )
            .map_err(sign_error)?;
            url.set_query(Some(&signed.query));
            let mut http_request = self.client.post(url);
            for (name, value) in &signed.headers {
                let mut value =
                    reqwest::header::HeaderValue::from_str(value).map_err(|_| KmsError::Request {
                        endpoint: self.endpoint_text.clone(),
                        detail: format!(
                            "the {name} header has characters HTTP does not allow (check the configured credentials)"
                        ),
                    })?;
                // Kept out of reqwest's `Debug` output.
                value.set_sensitive(matches!(*name, "authorization" | "x-acs-security-token"));
                http_request = http_request.header(*name, value);
            }
            (
                http_request.header("content-length", "0"),
                signed.string_to_sign,
            )
        } else {
            let call = RpcCall {
                action: "GetSecretValue",
                version: KMS_API_VERSION,
                region_id: &self.region_id,
                timestamp: &timestamp,
                nonce: &nonce,
            };
            let params = rpc_params(&call, &get_secret_value_params(request), &credential);
            let signed = sign_params(&params, &credential).map_err(sign_error)?;
            url.set_query(Some(&signed.query));
            let http_request = self
                .client
                .post(url)
                .header("x-acs-action", "GetSecretValue")
                .header("x-acs-version", KMS_API_VERSION)
                .header("accept", "application/json")
                .header("content-length", "0");
            (http_request, signed.string_to_sign)
        };
        let answer = connection::send(
            http_request,
            &self.endpoint_text,
            self.what,
            &self.tls_hint,
            self.max_response_bytes,
        )
        .await?;
        if (200..300).contains(&answer.status) {
            return decode_secret_value(&self.endpoint_text, answer.status, &answer.body);
        }
        let error = decode_error(
            &self.endpoint_text,
            &request.secret_name,
            answer.status,
            answer.content_type.as_deref(),
            answer.request_id.as_deref(),
            &answer.body,
        );
        // A refused temporary session (revoked, expired early) is dropped now, so the next
        // attempt fetches a new one instead of failing until its planned refresh.
        self.credentials.invalidate_if_rejected(&credential, &error);
        Err(explain_signature_mismatch(error, &string_to_sign))
    }
}

impl KmsClient for GatewayClient {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move {
            if request.secret_name.trim().is_empty() {
                return Err(KmsError::Request {
                    endpoint: self.endpoint_text.clone(),
                    detail: "the secret name is empty".into(),
                });
            }
            with_retries(&self.retry, |n| self.attempt(request, n)).await
        })
    }
}

fn validate_region(config: &GatewayEndpointConfig) -> Result<(), KmsError> {
    let region = config.region_id.as_str();
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        return Ok(());
    }
    Err(KmsError::Request {
        endpoint: config.endpoint.to_string(),
        detail: if region.is_empty() {
            "regionId is missing; set \"regionId\" (e.g. \"cn-hangzhou\") in the cache_client_region_id entry".into()
        } else {
            format!("regionId '{region}' is not a region id (lower-case letters, digits and '-', e.g. \"cn-hangzhou\"); fix the cache_client_region_id entry")
        },
    })
}

/// Public roots plus the entry's `caFilePath` (shared gateway, and STS).
fn shared_roots(config: &GatewayEndpointConfig) -> Result<Arc<RootCertStore>, KmsError> {
    connection::trust_roots(
        config.ca_file.as_deref(),
        &format!("region {}", config.region_id),
    )
    .map_err(|detail| KmsError::Request {
        endpoint: config.endpoint.to_string(),
        detail,
    })
}

/// Credential-fetch errors are raised without a secret name; name it for the caller.
fn with_secret_name(mut error: KmsError, name: &str) -> KmsError {
    if let KmsError::Service { secret_name, .. } = &mut error {
        if secret_name.is_empty() {
            *secret_name = name.to_owned();
        }
    }
    error
}

/// `SignatureDoesNotMatch` messages quote the server's string-to-sign, which contains the
/// `SecurityToken`: replace it with a verdict (like the Python core, which renames the code to
/// `InvalidAccessKeySecret` when both strings are equal).
fn explain_signature_mismatch(mut error: KmsError, ours: &str) -> KmsError {
    if let KmsError::Service { message, .. } = &mut error {
        if let Some((head, theirs)) = message.split_once(SERVER_STRING_TO_SIGN) {
            let verdict = if theirs.trim() == ours {
                "the server signed the same string as we did, so the AccessKey secret (or ClientKey) is wrong"
            } else {
                "the server signed a different string than we did: a proxy may have rewritten the request"
            };
            *message = format!("{} ({verdict})", head.trim_end());
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(message: &str) -> KmsError {
        KmsError::Service {
            endpoint: "e".into(),
            secret_name: "s".into(),
            http_status: 400,
            code: "SignatureDoesNotMatch".into(),
            message: message.into(),
            request_id: "r".into(),
            details: None,
        }
    }

    #[test]
    fn signature_mismatch_message_drops_the_server_string_to_sign() {
        let ours = "POST&%2F&SecurityToken%3Dsecret-token";
        let err = explain_signature_mismatch(
            service(&format!(
                "Specified signature is not matched. {SERVER_STRING_TO_SIGN}{ours}"
            )),
            ours,
        );
        let text = err.to_string();
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("secret (or ClientKey) is wrong"), "{text}");
        let err = explain_signature_mismatch(
            service(&format!("x {SERVER_STRING_TO_SIGN}POST&%2F&other")),
            ours,
        );
        assert!(err.to_string().contains("different string"));
    }

    #[test]
    fn region_ids_are_validated() {
        let mut config = GatewayEndpointConfig {
            region_id: String::new(),
            endpoint: Endpoint {
                host: "kms.cn-hangzhou.aliyuncs.com".into(),
                port: 443,
            },
            vpc: false,
            ca_file: None,
            connect_to: None,
            signature: None,
        };
        assert!(validate_region(&config)
            .unwrap_err()
            .to_string()
            .contains("regionId is missing"));
        config.region_id = "CN Hangzhou".into();
        assert!(validate_region(&config)
            .unwrap_err()
            .to_string()
            .contains("'CN Hangzhou'"));
        config.region_id = "cn-hangzhou".into();
        assert!(validate_region(&config).is_ok());
    }
}
