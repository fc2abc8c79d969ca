//! The TLS accept loop and HTTP/1.1 service, independent of the protocol spoken: a protocol is a
//! [`Handler`] turning one request into an [`Answer`]. One listener per endpoint.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Largest request body accepted (the real instance API answers 413 above 3 MB).
pub(super) const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// What a protocol handler wants done with one request.
pub(crate) enum Answer {
    /// Send this response.
    Reply(Response<Full<Bytes>>),
    /// Close the connection without answering (fault `DropConnection`).
    Drop,
    /// Send the headers of this response announcing its whole body, half of the body, then
    /// close the connection (fault `Truncated`).
    Truncated(Response<Full<Bytes>>),
    /// Send this response with its body in pieces, `Duration` apart (fault `SlowBody`).
    Slow(Response<Full<Bytes>>, Duration),
}

impl Answer {
    /// Applies a delivery fault ([`Fault::wraps_answer`](super::Fault)) to a normal answer.
    pub(crate) fn delivered_with(self, fault: &super::Fault) -> Answer {
        match (self, fault) {
            (Answer::Reply(r), super::Fault::Truncated) => Answer::Truncated(r),
            (Answer::Reply(r), super::Fault::SlowBody { chunk_delay }) => {
                Answer::Slow(r, *chunk_delay)
            }
            (other, _) => other,
        }
    }
}

/// The body type the server sends: whole, cut off or trickled.
type ServerBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A body sent in pieces with a pause before each (a slow or stalled KMS).
struct SlowBody {
    chunks: std::collections::VecDeque<Bytes>,
    delay: Duration,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.chunks.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let delay = this.delay;
        let pause = this
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        std::task::ready!(pause.as_mut().poll(cx));
        this.pause = None;
        std::task::Poll::Ready(
            this.chunks
                .pop_front()
                .map(|c| Ok(hyper::body::Frame::data(c))),
        )
    }
}

/// The response hyper sends for an answer; `None` for [`Answer::Drop`].
fn deliver(answer: Answer) -> Option<Response<ServerBody>> {
    use http_body_util::BodyExt as _;
    match answer {
        Answer::Reply(r) => Some(r.map(|b| b.boxed())),
        Answer::Drop => None,
        Answer::Truncated(r) => {
            let (mut parts, body) = r.into_parts();
            let whole = body_bytes(body);
            parts.headers.insert(
                hyper::header::CONTENT_LENGTH,
                hyper::header::HeaderValue::from(whole.len()),
            );
            // A body of unknown length, so hyper keeps the announced Content-Length and closes
            // the connection when the body ends short of it.
            let half = SlowBody {
                chunks: [whole.slice(..whole.len() / 2)].into(),
                delay: Duration::ZERO,
                pause: None,
            };
            Some(Response::from_parts(parts, half.boxed()))
        }
        Answer::Slow(r, delay) => {
            let (parts, body) = r.into_parts();
            let whole = body_bytes(body);
            let step = whole.len().div_ceil(4).max(1);
            let chunks = (0..whole.len())
                .step_by(step)
                .map(|i| whole.slice(i..(i + step).min(whole.len())))
                .collect();
            let body = SlowBody {
                chunks,
                delay,
                pause: None,
            };
            Some(Response::from_parts(parts, body.boxed()))
        }
    }
}

/// The bytes of a `Full` body (it has exactly one data frame, or none).
fn body_bytes(body: Full<Bytes>) -> Bytes {
    use hyper::body::Body as _;
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match body.as_mut().poll_frame(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// A boxed future of an [`Answer`].
pub(super) type AnswerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// A protocol: one request (body already read) in, one [`Answer`] out.
pub(super) type Handler = Arc<dyn Fn(Request<Bytes>) -> AnswerFuture + Send + Sync>;

/// A running listener; stopping it (or dropping the handle) closes every connection.
pub(super) struct ServerHandle {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting, closes all connections and waits for the loop to end.
    pub(super) async fn shutdown(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Spawns the accept loop on the current tokio runtime; failed TLS handshakes are counted in
/// `handshake_failures`.
pub(super) fn spawn(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    handler: Handler,
    handshake_failures: Arc<AtomicUsize>,
) -> ServerHandle {
    let (shutdown, mut stop) = watch::channel(false);
    let acceptor = TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        // Dropping the set at the end aborts every open connection.
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, acceptor.clone(), handler.clone(), handshake_failures.clone()));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "LocalKms accept failed");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    });
    ServerHandle {
        shutdown,
        task: Some(task),
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a LocalKms fault")
    }
}

impl std::error::Error for Dropped {}

fn plain(status: StatusCode, text: &'static str) -> Response<ServerBody> {
    use http_body_util::BodyExt as _;
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response
}

async fn serve_connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    handler: Handler,
    handshake_failures: Arc<AtomicUsize>,
) {
    // Without it an answer written in two pieces waits for the client's delayed ACK (Nagle):
    // ~40 ms stalls in about one short-lived connection in three (measured with
    // `credential-process`, which makes one fresh connection per run).
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            handshake_failures.fetch_add(1, Ordering::SeqCst);
            tracing::debug!(error = %e, "LocalKms TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let drop_now = Arc::new(Notify::new());
    let trigger = drop_now.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let handler = handler.clone();
        let trigger = trigger.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e)
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    return Ok(plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body too large",
                    ));
                }
                Err(_) => return Err(Dropped),
            };
            match deliver(handler(Request::from_parts(parts, body)).await) {
                Some(response) => Ok(response),
                None => {
                    // Make the connection task drop the socket; never answer this request.
                    trigger.notify_one();
                    std::future::pending::<()>().await;
                    Err(Dropped)
                }
            }
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "LocalKms connection ended with an error");
            }
        }
        _ = drop_now.notified() => {}
    }
}
