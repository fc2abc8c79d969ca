//! STS `AssumeRoleWithOIDC` (RRSA): trades the OIDC token in a file for STS credentials.
//!
//! The call is anonymous — no AccessKey, no signature, no `SecurityToken`, no `Authorization`
//! or `x-acs-*` header — exactly as the official credentials libraries send it
//! (`shared/protocol/oidc-and-external.md` §1.3). We send the Node / Go form: `POST` with
//! `Version, Action, Format, Timestamp` in the query and the parameters in a form body, in the
//! order `@alicloud/credentials` 2.4.7 uses, so that the request line and body are byte-identical
//! to its capture. The token therefore never appears in a URL (which proxies and reqwest errors
//! may print). Unlike every official client we trim ASCII whitespace around the token: a JWT
//! cannot contain any, and a hand-written file with a trailing newline would otherwise be sent
//! as `…%0A`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::acs3::FORM_CONTENT_TYPE;
use super::connection::{self, Answer};
use super::credentials::{
    parse_assume_role_answer, sts_refused, Temporary, DEFAULT_STS_HOST, STS_API_VERSION,
};
use super::signing::{format_timestamp, percent_encode};
use crate::config::Endpoint;
use crate::kms::KmsError;

/// Largest token file read (the STS limit is 20 000 characters).
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// The STS endpoint: the explicit one if set; else `sts[-vpc].{region}.aliyuncs.com` with a
/// region; else the global `sts.aliyuncs.com`. VPC without region and endpoint is refused
/// (the official clients silently ignore the VPC switch there).
pub(crate) fn sts_endpoint(
    explicit: Option<&Endpoint>,
    region: Option<&str>,
    vpc: bool,
) -> Result<Endpoint, String> {
    if let Some(endpoint) = explicit {
        return Ok(endpoint.clone());
    }
    let host = match region {
        Some(region) if vpc => format!("sts-vpc.{region}.aliyuncs.com"),
        Some(region) => format!("sts.{region}.aliyuncs.com"),
        None if vpc => {
            return Err("the STS VPC endpoint needs a region: set credentials_sts_region_id or ALIBABA_CLOUD_STS_REGION, or credentials_sts_endpoint".into())
        }
        None => DEFAULT_STS_HOST.to_owned(),
    };
    Ok(Endpoint { host, port: 443 })
}

/// What one `AssumeRoleWithOIDC` call asks for (everything but the token and the clock).
pub(crate) struct OidcCall<'a> {
    pub role_arn: &'a str,
    pub oidc_provider_arn: &'a str,
    pub role_session_name: &'a str,
    pub policy: Option<&'a str>,
    pub duration: Duration,
}

/// The request as sent: the query (no secret) and the form body (holds the token).
pub(crate) struct OidcRequest {
    pub query: String,
    pub body: Zeroizing<String>,
}

/// Builds the query and the form body, RFC 3986 percent-encoded (`%20` for a space), in the
/// order of `@alicloud/credentials` 2.4.7. A pure function so the vectors pin every byte.
pub(crate) fn oidc_request(call: &OidcCall<'_>, token: &str, timestamp: &str) -> OidcRequest {
    let query = format!(
        "Version={STS_API_VERSION}&Action=AssumeRoleWithOIDC&Format=JSON&Timestamp={}",
        percent_encode(timestamp)
    );
    let mut body = Zeroizing::new(String::with_capacity(token.len() + 512));
    let mut add = |name: &str, value: &str| {
        if !body.is_empty() {
            body.push('&');
        }
        body.push_str(name);
        body.push('=');
        body.push_str(&percent_encode(value));
    };
    add("OIDCProviderArn", call.oidc_provider_arn);
    add("OIDCToken", token);
    add("RoleArn", call.role_arn);
    if let Some(policy) = call.policy {
        add("Policy", policy);
    }
    add("RoleSessionName", call.role_session_name);
    add("DurationSeconds", &call.duration.as_secs().to_string());
    OidcRequest { query, body }
}

/// Reads the token file: at most 64 KiB of UTF-8, ASCII whitespace trimmed, not empty. Errors
/// name the file and how to fix it, never its content.
pub(crate) async fn read_token(path: &Path) -> Result<Zeroizing<String>, String> {
    use tokio::io::AsyncReadExt;

    let shown = path.display();
    let fix = "set credentials_oidc_token_file_path or ALIBABA_CLOUD_OIDC_TOKEN_FILE to the token file; in Alibaba Cloud Kubernetes enable RRSA for the pod's service account";
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open the OIDC token file {shown}: {e}; {fix}"))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read the OIDC token file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "the OIDC token file {shown} is larger than {MAX_TOKEN_FILE_BYTES} bytes; it must hold one JWT (STS accepts up to 20000 characters)"
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        format!("the OIDC token file {shown} is not UTF-8 text; it must hold one JWT")
    })?;
    let token = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if token.is_empty() {
        return Err(format!("the OIDC token file {shown} is empty; {fix}"));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// The `AssumeRoleWithOIDC` source of a refreshing identity session.
pub(crate) struct AssumeRoleWithOidc {
    pub client: reqwest::Client,
    pub url: reqwest::Url,
    pub endpoint: String,
    pub role_arn: String,
    pub oidc_provider_arn: String,
    pub token_file: PathBuf,
    pub role_session_name: String,
    pub policy: Option<String>,
    pub duration: Duration,
    pub max_response_bytes: usize,
}

impl AssumeRoleWithOidc {
    /// For logs and errors: role and endpoint (no token).
    pub(crate) fn describe(&self) -> String {
        format!(
            "STS AssumeRoleWithOIDC of {} at {}",
            self.role_arn, self.endpoint
        )
    }

    /// Reads the token file again (it is rotated by Kubernetes) and asks STS for a session.
    pub(crate) async fn fetch(&self) -> Result<Temporary, KmsError> {
        let token = read_token(&self.token_file)
            .await
            .map_err(|detail| KmsError::Request {
                endpoint: self.endpoint.clone(),
                detail,
            })?;
        let call = OidcCall {
            role_arn: &self.role_arn,
            oidc_provider_arn: &self.oidc_provider_arn,
            role_session_name: &self.role_session_name,
            policy: self.policy.as_deref(),
            duration: self.duration,
        };
        let request = oidc_request(&call, &token, &format_timestamp(SystemTime::now()));
        drop(token);
        let mut url = self.url.clone();
        url.set_query(Some(&request.query));
        let http_request = self
            .client
            .post(url)
            .header("content-type", FORM_CONTENT_TYPE)
            .body(request.body.as_bytes().to_vec());
        let answer = connection::send(
            http_request,
            &self.endpoint,
            "STS AssumeRoleWithOIDC",
            "STS is verified against public roots; behind a TLS-intercepting proxy set caFilePath (first cache_client_region_id entry) to its CA",
            self.max_response_bytes,
        )
        .await?;
        if !(200..300).contains(&answer.status) {
            return Err(self.refused(&answer));
        }
        let invalid = |detail: String| KmsError::InvalidResponse {
            endpoint: self.endpoint.clone(),
            http_status: answer.status,
            detail: format!("STS AssumeRoleWithOIDC of {}: {detail}", self.role_arn),
        };
        parse_assume_role_answer(&answer.body, invalid)
    }

    fn refused(&self, answer: &Answer) -> KmsError {
        sts_refused(&self.endpoint, answer, |code, message| {
            let hint = if code.starts_with("AuthenticationFail.OIDCToken") {
                "; the token in the file was refused: check that the file is the service-account token RRSA projects (and is being rotated) and that the OIDC provider trusts its issuer and audience"
            } else if code.starts_with("AuthenticationFail.NoPermission") {
                "; check the OIDC provider ARN and that the role's trust policy allows this provider (and the token's subject)"
            } else {
                ""
            };
            format!(
                "STS AssumeRoleWithOIDC of {} with the OIDC token from {} failed: {message}{hint}",
                self.role_arn,
                self.token_file.display()
            )
        })
    }
}
