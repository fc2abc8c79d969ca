//! A fake STS for RAM-role-ARN callers: `AssumeRole` (RPC signature v1, HMAC-SHA1 with a
//! registered caller AccessKey) issuing STS credentials the LocalKms gateway then accepts.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::Request;

use super::faults::Fault;
use super::gateway_api::{
    all_params, check_common, error_answer, json_answer, reject, verify_hmac_caller, Rejection,
};
use super::server::{Answer, AnswerFuture, Handler};
use super::store::format_date;
use super::{lock, uuid_like, Shared};

/// STS API version.
pub(super) const STS_VERSION: &str = "2015-04-01";
const HOST_ID: &str = "sts.aliyuncs.com";

/// The `AssumeRole` handler.
pub(crate) fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |request: Request<Bytes>| -> AnswerFuture {
        let shared = shared.clone();
        Box::pin(async move { handle(&shared, request).await })
    })
}

async fn handle(shared: &Shared, request: Request<Bytes>) -> Answer {
    let request_id = uuid_like();
    let fault = {
        let mut state = lock(&shared.gateway);
        state.sts_requests += 1;
        state.sts_faults.take(None)
    };
    match fault {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Error {
            http_status,
            code,
            message,
        }) => return error_answer(http_status, &code, &message, &request_id, HOST_ID),
        Some(Fault::DropConnection) => return Answer::Drop,
        Some(Fault::Garbage { http_status }) => {
            return error_answer(http_status, "", "", &request_id, HOST_ID)
        }
        Some(Fault::Oversized { .. } | Fault::MalformedSecret) | None => {}
        Some(delivery @ (Fault::Truncated | Fault::SlowBody { .. })) => {
            return answer_sts(shared, &request, &request_id).delivered_with(&delivery)
        }
    }
    answer_sts(shared, &request, &request_id)
}

fn answer_sts(shared: &Shared, request: &Request<Bytes>, request_id: &str) -> Answer {
    let Some(params) = all_params(request) else {
        return error_answer(
            400,
            "InvalidParameter",
            "The query string is not valid percent-encoded UTF-8.",
            request_id,
            HOST_ID,
        );
    };
    match assume_role(shared, request.method().as_str(), &params, request_id) {
        Ok(body) => json_answer(200, &body, request_id),
        Err(r) => error_answer(r.status, r.code, &r.message, request_id, HOST_ID),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn assume_role(
    shared: &Shared,
    method: &str,
    params: &[(String, String)],
    request_id: &str,
) -> Result<serde_json::Value, Rejection> {
    let mut state = lock(&shared.gateway);
    let now = state.now();
    check_common(params, now)?;
    let key_id = param(params, "AccessKeyId").unwrap_or("");
    let caller = state
        .callers
        .get(key_id)
        .filter(|c| c.security_token.is_none())
        .ok_or_else(|| {
            reject(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
    verify_hmac_caller(caller, method, params, now)?;
    let allowed = caller.allowed_secrets.clone();
    if param(params, "Action") != Some("AssumeRole")
        || param(params, "Version") != Some(STS_VERSION)
    {
        return Err(reject(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    let role_arn = param(params, "RoleArn").unwrap_or("");
    let valid_arn = role_arn
        .strip_prefix("acs:ram::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, role)| {
            !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) && !role.is_empty()
        });
    if !valid_arn {
        return Err(reject(
            400,
            "InvalidParameter.RoleArn",
            format!("The parameter RoleArn {role_arn:?} is wrongly formed."),
        ));
    }
    let session = param(params, "RoleSessionName").unwrap_or("");
    if session.is_empty() {
        return Err(reject(
            400,
            "MissingRoleSessionName",
            "RoleSessionName is mandatory for this action.",
        ));
    }
    let duration = match param(params, "DurationSeconds") {
        None => 3600,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (900..=43200).contains(d))
            .ok_or_else(|| {
                reject(
                    400,
                    "InvalidParameter.DurationSeconds",
                    "The DurationSeconds must be between 900 and 43200.",
                )
            })?,
    };
    let issued = state.issue_sts(Duration::from_secs(duration), allowed);
    let account = role_arn
        .strip_prefix("acs:ram::")
        .and_then(|r| r.split_once(':'))
        .map(|(a, _)| a)
        .unwrap_or("");
    Ok(serde_json::json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "AssumedRoleId": format!("300000000000000001:{session}"),
            "Arn": format!("{role_arn}/{session}"),
            "Account": account,
        },
        "Credentials": {
            "AccessKeyId": issued.access_key_id,
            "AccessKeySecret": issued.access_key_secret.as_str(),
            "SecurityToken": issued.security_token.as_str(),
            "Expiration": format_date(issued.expiration),
        }
    }))
}
