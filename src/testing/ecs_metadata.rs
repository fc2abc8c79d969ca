//! A fake ECS instance metadata service (plain HTTP, like `100.100.100.200`): IMDSv2 tokens
//! (`PUT /latest/api/token`), role discovery and role credentials under
//! `/latest/meta-data/ram/security-credentials/`. Credentials it serves are accepted by the
//! LocalKms gateway.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::gateway_api::MetadataRequest;
use super::store::format_date;
use super::{lock, Shared};

const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";
const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";

/// The running metadata server; dropping it stops it.
pub(crate) struct MetadataServer {
    task: JoinHandle<()>,
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns the plain-HTTP accept loop.
pub(crate) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> MetadataServer {
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                            let shared = shared.clone();
                            async move { Ok::<_, std::convert::Infallible>(answer(&shared, &request)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    MetadataServer { task }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn answer(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut state = lock(&shared.gateway);
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_owned();
    let sent_token = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = if method == "PUT" && path == TOKEN_PATH {
        let ttl_ok = request
            .headers()
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|ttl| (1..=21600).contains(&ttl));
        if !state.ecs_imdsv2 {
            text(StatusCode::NOT_FOUND, "Not Found".into())
        } else if !ttl_ok {
            text(
                StatusCode::BAD_REQUEST,
                format!("{TTL_HEADER} must be 1..21600"),
            )
        } else {
            let token = hex::encode(rand::random::<[u8; 16]>());
            state.ecs_tokens.insert(token.clone());
            text(StatusCode::OK, token)
        }
    } else if method != "GET" {
        text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
    } else if sent_token
        .as_ref()
        .is_some_and(|t| !state.ecs_tokens.contains(t))
    {
        text(StatusCode::UNAUTHORIZED, "invalid metadata token".into())
    } else if path == CREDENTIALS_PATH {
        match &state.ecs_role {
            Some(role) => text(StatusCode::OK, role.clone()),
            None => text(StatusCode::NOT_FOUND, "Not Found".into()),
        }
    } else if let Some(role) = path.strip_prefix(CREDENTIALS_PATH) {
        if state.ecs_role.as_deref() == Some(role) {
            let lifetime = state.ecs_lifetime;
            let issued = state.issue_sts(lifetime, vec!["*".into()]);
            let body = serde_json::json!({
                "Code": "Success",
                "AccessKeyId": issued.access_key_id,
                "AccessKeySecret": issued.access_key_secret.as_str(),
                "SecurityToken": issued.security_token.as_str(),
                "Expiration": format_date(issued.expiration),
                "LastUpdated": format_date(state.now()),
            });
            text(StatusCode::OK, body.to_string())
        } else {
            text(StatusCode::NOT_FOUND, "Not Found".into())
        }
    } else {
        text(StatusCode::NOT_FOUND, "Not Found".into())
    };
    state.ecs_log.push(MetadataRequest {
        method,
        path,
        with_token: sent_token.is_some(),
        http_status: response.status().as_u16(),
    });
    response
}
