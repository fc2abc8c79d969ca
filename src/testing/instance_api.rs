//! The KMS instance API (`x-kms-*` headers, RSA ClientKey signature, protobuf bodies) as the
//! real service checks it: every request is verified in full before the secret is looked up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{HeaderMap, Request, Response, StatusCode};
use prost::Message;

use super::faults::{Fault, RecordedRequest};
use super::server::{Answer, AnswerFuture, Handler};
use super::store::LookupError;
use super::{lock, uuid_like, Shared};
use crate::kms::instance::proto;

/// The only API version the service accepts.
pub const API_VERSION: &str = "dkms-gcs-0.2";
/// The only signature method the service accepts.
pub const SIGNATURE_METHOD: &str = "RSA_PKCS1_SHA_256";
/// Content type of requests and answers.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// Largest allowed difference between the request `Date` and now.
pub(super) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The headers that must be present (checked in this order).
const REQUIRED_HEADERS: [&str; 6] = [
    "x-kms-acccesskeyid",
    "x-kms-apiname",
    "x-kms-apiversion",
    "x-kms-signaturemethod",
    "date",
    "authorization",
];

/// An error answer: HTTP status, code, message.
struct Rejection {
    status: u16,
    code: &'static str,
    message: String,
}

fn reject(status: u16, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        message: message.into(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The §2.2 string-to-sign, rebuilt from what the request carries.
pub fn string_to_sign(headers: &HeaderMap) -> String {
    let mut canonical: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-kms-"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).trim().to_owned(),
            )
        })
        .collect();
    canonical.sort();
    let mut text = format!(
        "POST\n{}\n{}\n{}\n",
        header(headers, "content-sha256").unwrap_or(""),
        header(headers, "content-type").unwrap_or(""),
        header(headers, "date").unwrap_or(""),
    );
    for (name, value) in canonical {
        text.push_str(&name);
        text.push(':');
        text.push_str(&value);
        text.push('\n');
    }
    text.push('/');
    text
}

/// The protocol handler for one LocalKms.
pub(super) fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |request: Request<Bytes>| -> AnswerFuture {
        let shared = shared.clone();
        Box::pin(async move { handle(&shared, request).await })
    })
}

fn protobuf(status: u16, body: Vec<u8>) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    Answer::Reply(response)
}

fn error_answer(status: u16, code: &str, message: &str, request_id: &str) -> Answer {
    let body = proto::ErrorMessage {
        status_code: i32::from(status),
        error_code: code.to_owned(),
        error_message: message.to_owned(),
        request_id: request_id.to_owned(),
    }
    .encode_to_vec();
    protobuf(status, body)
}

async fn handle(shared: &Shared, request: Request<Bytes>) -> Answer {
    let request_id = uuid_like();
    let headers = request.headers();
    let body = request.body();
    let decoded = proto::RequestMessage::decode(body.as_ref()).ok();
    let mut record = RecordedRequest {
        protocol: "instance",
        api_name: header(headers, "x-kms-apiname").unwrap_or("").to_owned(),
        secret_name: decoded
            .as_ref()
            .map(|d| d.secret_name.clone())
            .unwrap_or_default(),
        version_stage: decoded
            .as_ref()
            .map(|d| d.version_stage.clone())
            .unwrap_or_default(),
        date: header(headers, "date").unwrap_or("").to_owned(),
        signature: header(headers, "authorization")
            .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).to_owned())
            .unwrap_or_default(),
        key_id: header(headers, "x-kms-acccesskeyid")
            .unwrap_or("")
            .to_owned(),
        outcome: String::new(),
        http_status: 0,
        received_at: SystemTime::now(),
    };

    let secret_name = (!record.secret_name.is_empty()).then(|| record.secret_name.clone());
    let fault = lock(&shared.faults).take(secret_name.as_deref());
    let mut delivery = None;
    let answer = match fault {
        Some(Fault::Delay(delay)) => {
            // A client that gives up during the delay drops this future: still log the request.
            let mut abandoned = Abandoned {
                shared,
                record: Some(RecordedRequest {
                    outcome: "Abandoned".into(),
                    ..record.clone()
                }),
            };
            tokio::time::sleep(delay).await;
            abandoned.record = None;
            None
        }
        Some(fault) if fault.wraps_answer() => {
            delivery = Some(fault);
            None
        }
        Some(fault) => Some(fault_answer(&fault, &record, &request_id)),
        None => None,
    };
    let (answer, outcome, status) = match answer {
        Some(done) => done,
        None => match verify_and_answer(shared, headers, body, decoded.as_ref(), &request_id) {
            Ok(response) => (protobuf(200, response), "OK".to_owned(), 200),
            Err(r) => (
                error_answer(r.status, r.code, &r.message, &request_id),
                r.code.to_owned(),
                r.status,
            ),
        },
    };
    let (answer, outcome) = match delivery {
        Some(fault) => (answer.delivered_with(&fault), fault.outcome()),
        None => (answer, outcome),
    };
    record.outcome = outcome;
    record.http_status = status;
    tracing::debug!(
        secret = %record.secret_name,
        outcome = %record.outcome,
        status = record.http_status,
        "LocalKms instance API request"
    );
    lock(&shared.log).push(record);
    answer
}

/// Logs a request whose client hung up before it was answered (dropped with the handler).
struct Abandoned<'a> {
    shared: &'a Shared,
    record: Option<RecordedRequest>,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            lock(&self.shared.log).push(record);
        }
    }
}

fn fault_answer(
    fault: &Fault,
    record: &RecordedRequest,
    request_id: &str,
) -> (Answer, String, u16) {
    let outcome = fault.outcome();
    match fault {
        Fault::Error {
            http_status,
            code,
            message,
        } => (
            error_answer(*http_status, code, message, request_id),
            outcome,
            *http_status,
        ),
        // `Delay`, `Truncated` and `SlowBody` change how the normal answer is delivered and are
        // handled by the caller; listed for exhaustiveness.
        Fault::DropConnection | Fault::Delay(_) | Fault::Truncated | Fault::SlowBody { .. } => {
            (Answer::Drop, outcome, 0)
        }
        Fault::MalformedSecret => {
            let body = proto::ResponseMessage {
                secret_name: record.secret_name.clone(),
                secret_type: "RAMCredentials".into(),
                secret_data: r#"{"AccessKeyId":"LTAI5tMalformed","AccessKeySecret":"#.into(),
                secret_data_type: "text".into(),
                version_id: "malformed".into(),
                version_stages: vec!["ACSCurrent".into()],
                request_id: request_id.to_owned(),
                ..Default::default()
            }
            .encode_to_vec();
            (protobuf(200, body), outcome, 200)
        }
        Fault::Garbage { http_status } => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>LocalKms fault</center></body></html>\n",
            )));
            *response.status_mut() =
                StatusCode::from_u16(*http_status).unwrap_or(StatusCode::BAD_GATEWAY);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html"),
            );
            (Answer::Reply(response), outcome, *http_status)
        }
        Fault::Oversized { bytes } => {
            // A well-formed answer, just too big: a client without a size cap would accept it.
            let body = proto::ResponseMessage {
                secret_name: record.secret_name.clone(),
                secret_type: "Generic".into(),
                secret_data: "x".repeat(*bytes),
                secret_data_type: "text".into(),
                request_id: request_id.to_owned(),
                ..Default::default()
            }
            .encode_to_vec();
            (protobuf(200, body), outcome, 200)
        }
    }
}

fn verify_and_answer(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    decoded: Option<&proto::RequestMessage>,
    request_id: &str,
) -> Result<Vec<u8>, Rejection> {
    for name in REQUIRED_HEADERS {
        if header(headers, name).is_none_or(|v| v.trim().is_empty()) {
            return Err(reject(
                400,
                "MissingParameter",
                format!("Parameter {name} does not exist in http header or body."),
            ));
        }
    }
    let content_type = header(headers, "content-type").unwrap_or("");
    if content_type.trim() != CONTENT_TYPE {
        return Err(reject(
            415,
            "InvalidContentType",
            "Only application/x-protobuf is supported.",
        ));
    }
    let date = header(headers, "date").unwrap_or("");
    let sent_at = httpdate::parse_http_date(date)
        .ok()
        // IMF-fixdate only (`Thu, 01 Feb 2024 08:00:00 GMT`), like every official client sends.
        .filter(|t| httpdate::fmt_http_date(*t) == date)
        .ok_or_else(|| reject(400, "InvalidParam", "The Param Date is invalid."))?;
    let now = SystemTime::now();
    let skew = now
        .duration_since(sent_at)
        .or_else(|_| sent_at.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(reject(
            400,
            "RequestTimeTooSkewed",
            format!(
                "The request time {date} is more than 15 minutes from the server time {}.",
                httpdate::fmt_http_date(now)
            ),
        ));
    }
    if header(headers, "x-kms-apiversion") != Some(API_VERSION) {
        return Err(reject(
            400,
            "InvalidApiVersion",
            "The Param x-kms-apiversion is invalid.",
        ));
    }
    if header(headers, "x-kms-signaturemethod") != Some(SIGNATURE_METHOD) {
        return Err(reject(
            400,
            "InvalidParam",
            "The Param x-kms-signaturemethod is invalid.",
        ));
    }
    let signature = header(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .ok_or_else(|| reject(400, "InvalidParam", "The Param Authorization is invalid."))?;
    let expected_sha = hex::encode_upper(ring::digest::digest(&ring::digest::SHA256, body));
    if header(headers, "content-sha256") != Some(expected_sha.as_str()) {
        return Err(reject(
            400,
            "InvalidParam",
            "The Param Content-SHA256 is invalid.",
        ));
    }
    let key_id = header(headers, "x-kms-acccesskeyid").unwrap_or("");
    let access_point = lock(&shared.access_points)
        .get(key_id)
        .cloned()
        .ok_or_else(|| {
            reject(
                404,
                "Unauthorized",
                format!("The AccessKey ID \"{key_id}\" does not exist in our records."),
            )
        })?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &access_point.public_key,
    )
    .verify(string_to_sign(headers).as_bytes(), &signature)
    .map_err(|_| {
        reject(
            401,
            "SignatureNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    })?;
    let api_name = header(headers, "x-kms-apiname").unwrap_or("");
    if api_name != "GetSecretValue" {
        return Err(reject(
            400,
            "InvalidApiName",
            format!("The Param x-kms-apiname {api_name} is invalid."),
        ));
    }
    let request = decoded.ok_or_else(|| {
        reject(
            400,
            "InvalidParameter",
            "The request body is not a GetSecretValueRequest.",
        )
    })?;
    if request.secret_name.is_empty() {
        return Err(reject(
            400,
            "MissingParameter",
            "Parameter SecretName does not exist in http header or body.",
        ));
    }
    if !access_point.allows(&request.secret_name) {
        return Err(reject(
            403,
            "Forbidden.NoPermission",
            format!(
                "The access point of {key_id} is not allowed to read secret {}.",
                request.secret_name
            ),
        ));
    }
    let stage = (!request.version_stage.is_empty()).then_some(request.version_stage.as_str());
    let version_id = (!request.version_id.is_empty()).then_some(request.version_id.as_str());
    let view = lock(&shared.store)
        .lookup(&request.secret_name, stage, version_id)
        .map_err(|e| match e {
            LookupError::SecretNotFound => reject(
                404,
                "Forbidden.ResourceNotFound",
                format!("The specified secret {} is not found.", request.secret_name),
            ),
            LookupError::VersionNotFound => reject(
                404,
                "Forbidden.ResourceNotFound",
                format!(
                    "The specified version of secret {} is not found.",
                    request.secret_name
                ),
            ),
        })?;
    let response = proto::ResponseMessage {
        secret_name: view.secret_name.clone(),
        secret_type: view.secret_type.clone(),
        secret_data: view.secret_data.to_string(),
        secret_data_type: view.secret_data_type.clone(),
        version_stages: view.version_stages.clone(),
        version_id: view.version_id.clone(),
        create_time: view.create_time.clone(),
        request_id: request_id.to_owned(),
        last_rotation_date: view.last_rotation_date.clone(),
        next_rotation_date: view.next_rotation_date.clone(),
        extended_config: view.extended_config.clone(),
        automatic_rotation: view.automatic_rotation.clone(),
        rotation_interval: view.rotation_interval.clone(),
    };
    Ok(response.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_matches_the_golden_vector() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("accept", "application/x-protobuf"),
            (
                "host",
                "kst-tst65a1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com",
            ),
            ("date", "Thu, 01 Feb 2024 08:00:00 GMT"),
            ("x-kms-apiversion", "dkms-gcs-0.2"),
            ("x-kms-apiname", "GetSecretValue"),
            ("x-kms-signaturemethod", "RSA_PKCS1_SHA_256"),
            (
                "x-kms-acccesskeyid",
                "KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c",
            ),
            ("content-type", "application/x-protobuf"),
            (
                "content-sha256",
                "BB703457266DFBE4294DC7FD8991006EF868BB4FF5AF9FC626EB770F5D546158",
            ),
        ] {
            headers.insert(k, v.parse().unwrap());
        }
        assert_eq!(
            string_to_sign(&headers),
            "POST\nBB703457266DFBE4294DC7FD8991006EF868BB4FF5AF9FC626EB770F5D546158\n\
             application/x-protobuf\nThu, 01 Feb 2024 08:00:00 GMT\n\
             x-kms-acccesskeyid:KAAP.4f1c9a2e-7b3d-4e8a-9c51-0d2e6f8a1b3c\n\
             x-kms-apiname:GetSecretValue\nx-kms-apiversion:dkms-gcs-0.2\n\
             x-kms-signaturemethod:RSA_PKCS1_SHA_256\n/"
        );
    }
}
