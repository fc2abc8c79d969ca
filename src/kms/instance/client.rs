//! [`InstanceClient`]: `GetSecretValue` against one KMS instance endpoint over HTTPS, one
//! keep-alive reqwest client per endpoint, every attempt re-signed with a fresh date.

use crate::cache::CertificateExpiry;
use crate::clock::{Clock, WallClock};
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use tracing::Instrument;

use super::response::decode_response;
use super::signing::{build_request, http_date};
use super::tls::{client_config, TrustPolicy};
use crate::config::{Endpoint, HttpConfig, InstanceEndpointConfig};
use crate::identity::{CaBundle, ClientKey};
use crate::kms::backoff::with_retries;
use crate::kms::http::Peer;
use crate::kms::{BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue};

/// A client of one KMS instance (`{instanceId}.cryptoservice.kms.aliyuncs.com`), signing with a
/// ClientKey and trusting exactly the instance CA. Cheap to share (`Arc`) across tasks.
pub(crate) struct InstanceClient {
    endpoint: Endpoint,
    /// `endpoint` as text, for errors.
    endpoint_text: String,
    /// How to fix an untrusted server certificate, for TLS errors.
    untrusted_hint: String,
    url: String,
    key: ClientKey,
    http: reqwest::Client,
    config: HttpConfig,
    ignore_ssl_certs: bool,
    clock: Arc<dyn Clock>,
    /// Expiry of the ClientKey certificate and of the earliest CA, for `Health`.
    certificates: Vec<CertificateExpiry>,
}

impl std::fmt::Debug for InstanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceClient")
            .field("endpoint", &self.endpoint)
            .field("key_id", &self.key.key_id())
            .field("ignore_ssl_certs", &self.ignore_ssl_certs)
            .finish_non_exhaustive()
    }
}

impl InstanceClient {
    /// Loads the ClientKey (with its password) and, unless `ignoreSslCerts`, the CA bundle named
    /// by the endpoint configuration, then builds the client.
    pub(crate) fn new(
        config: &InstanceEndpointConfig,
        http: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let key = ClientKey::load(&config.client_key, &config.password)?;
        let mut certificates = Vec::new();
        if let Some(cert) = key.certificate() {
            certificates.push(CertificateExpiry {
                label: format!("ClientKey {} ({})", key.key_id(), config.endpoint),
                not_after: cert.not_after,
            });
        }
        let ca = match (&config.ca_file, config.ignore_ssl_certs) {
            (Some(path), false) => {
                let bundle = CaBundle::from_pem_file(path)?;
                if let Some(earliest) = bundle.infos().iter().map(|i| i.not_after).min() {
                    certificates.push(CertificateExpiry {
                        label: format!("CA {} ({})", path.display(), config.endpoint),
                        not_after: earliest,
                    });
                }
                Some(bundle)
            }
            _ => None,
        };
        let mut client = Self::with_identity(config, key, ca, http)?;
        client.certificates = certificates;
        Ok(client)
    }

    /// The ClientKey and CA expiries [`new`](Self::new) found, for `Health`.
    pub(crate) fn certificate_expiries(&self) -> &[CertificateExpiry] {
        &self.certificates
    }

    /// The ClientKey this client signs with (the restart cache derives its key from it).
    pub(crate) fn client_key(&self) -> &ClientKey {
        &self.key
    }

    /// Builds the client from an already loaded key and CA bundle. `ca` is required unless
    /// `config.ignore_ssl_certs`; with `ignore_ssl_certs` it is not used.
    pub(crate) fn with_identity(
        config: &InstanceEndpointConfig,
        key: ClientKey,
        ca: Option<CaBundle>,
        http: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let endpoint = config.endpoint.clone();
        let request_error = |detail: String| {
            crate::Error::from(KmsError::Request {
                endpoint: endpoint.to_string(),
                detail,
            })
        };
        let policy = if config.ignore_ssl_certs {
            tracing::warn!(
                endpoint = %endpoint,
                "ignoreSslCerts is true: the KMS server certificate and name are NOT verified; anyone on the network path can impersonate KMS. Configure caFilePath instead."
            );
            TrustPolicy::AcceptAnyCertificate
        } else {
            match ca.as_ref() {
                Some(bundle) => TrustPolicy::CaBundle(bundle),
                None => {
                    return Err(request_error(
                        "no instance CA configured: set caFilePath to the PrivateKmsCA_<instanceId>.pem of this instance (or, insecurely, ignoreSslCerts=true)".into(),
                    ))
                }
            }
        };
        let tls = client_config(policy).map_err(request_error)?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(http.connect_timeout)
            .timeout(http.request_timeout);
        // With `connectTo` the URL carries no port: hyper only keeps the port of a resolved
        // address when the URL has none, so the connection goes to exactly `connectTo` while SNI,
        // certificate name and the (explicit) `host` header stay on the endpoint.
        let url = match config.connect_to {
            Some(addr) if addr.port() == 0 => {
                return Err(request_error(format!(
                    "connectTo {addr} has no port; give the address as ip:port"
                )))
            }
            Some(addr) => {
                builder = builder.resolve(&endpoint.host, addr).no_proxy();
                format!("https://{}/", endpoint.host)
            }
            None => format!("https://{}/", endpoint.authority()),
        };
        let client = builder
            .build()
            .map_err(|e| request_error(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            url,
            endpoint_text: endpoint.to_string(),
            untrusted_hint: format!(
                "the server certificate is not issued by the CA in caFilePath; use the PrivateKmsCA_<instanceId>.pem of the instance behind {}",
                endpoint.host
            ),
            endpoint,
            key,
            http: client,
            config: http.clone(),
            ignore_ssl_certs: config.ignore_ssl_certs,
            clock: Arc::new(WallClock),
            certificates: Vec::new(),
        })
    }

    #[cfg(test)]
    /// Replaces the clock that dates (and so signs) each attempt; default [`WallClock`].
    /// For tests and for correcting a known local clock skew (the server allows ±15 min).
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    #[cfg(test)]
    /// The ClientKey id this client signs with.
    pub(crate) fn key_id(&self) -> &str {
        self.key.key_id()
    }

    /// One `GetSecretValue` with retries (see [`crate::kms::backoff`]).
    pub(crate) async fn fetch(
        &self,
        request: &GetSecretValueRequest,
    ) -> Result<SecretValue, KmsError> {
        let span = tracing::info_span!(
            "kms_instance_get_secret_value",
            endpoint = %self.endpoint,
            secret = %request.secret_name,
            attempt = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        let attempts = with_retries(&self.config.retry, |attempt| {
            let span = span.clone();
            async move {
                span.record("attempt", attempt);
                let result = self.attempt(request).await;
                match &result {
                    Ok(value) => {
                        span.record("request_id", value.request_id.as_str());
                    }
                    Err(KmsError::Service { request_id, .. }) => {
                        span.record("request_id", request_id.as_str());
                    }
                    Err(_) => {}
                }
                if let Err(error) = &result {
                    tracing::debug!(attempt, error = %error, "KMS instance attempt failed");
                }
                result
            }
        });
        attempts.instrument(span.clone()).await
    }

    /// This endpoint as the shared transport-error and body-reading code names it.
    fn peer(&self) -> Peer<'_> {
        Peer {
            endpoint: &self.endpoint_text,
            what: "",
            untrusted_hint: &self.untrusted_hint,
        }
    }

    /// One signed request and its decoded answer.
    async fn attempt(&self, request: &GetSecretValueRequest) -> Result<SecretValue, KmsError> {
        let date = http_date(self.clock.now());
        let signed = build_request(&self.key, &self.endpoint, request, &date)?;
        let mut headers = HeaderMap::with_capacity(signed.headers.len());
        for (name, value) in &signed.headers {
            let value = HeaderValue::from_str(value).map_err(|_| KmsError::Request {
                endpoint: self.endpoint.to_string(),
                detail: format!(
                    "header {name} would hold characters HTTP does not allow; check the ClientKey KeyId and the endpoint"
                ),
            })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        let response = self
            .http
            .post(&self.url)
            .headers(headers)
            .body(signed.body)
            .send()
            .await
            .map_err(|e| self.peer().transport_error(e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self
            .peer()
            .read_body(response, self.config.max_response_bytes)
            .await?;
        decode_response(
            status,
            content_type.as_deref(),
            &body,
            &self.endpoint,
            &request.secret_name,
        )
    }
}

impl KmsClient for InstanceClient {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(self.fetch(request))
    }
}
