//! Scripted faults and the request log, shared by every protocol LocalKms serves.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

/// A scripted misbehaviour for one request (or every request, see `set_fault_always`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer with this protocol error (HTTP status, error code, message).
    Error {
        /// HTTP status, e.g. 429.
        http_status: u16,
        /// Error code, e.g. `Rejected.Throttling`.
        code: String,
        /// Error message.
        message: String,
    },
    /// Close the TCP/TLS connection without sending an HTTP answer.
    DropConnection,
    /// Answer with an HTML body (not protobuf / JSON), like a proxy error page.
    Garbage {
        /// HTTP status, e.g. 502.
        http_status: u16,
    },
    /// A 200 answer whose body is at least `bytes` long (for response size caps).
    Oversized {
        /// Minimum body length.
        bytes: usize,
    },
    /// The normal answer, cut off: headers announce the whole body, part of it is sent, then
    /// the connection is closed (a reset mid-body).
    Truncated,
    /// The normal answer with its headers at once and its body in four pieces, this long apart
    /// (a slow or stalled body).
    SlowBody {
        /// Pause before each piece of the body.
        chunk_delay: Duration,
    },
    /// A well-formed 200 answer for a RAM credential whose `SecretData` is not valid JSON.
    MalformedSecret,
}

impl Fault {
    /// A throttling error (`429 Rejected.Throttling`), the error every SDK retries.
    pub fn throttling() -> Self {
        Fault::Error {
            http_status: 429,
            code: "Rejected.Throttling".into(),
            message: "Request was denied due to request throttling.".into(),
        }
    }

    /// Whether the fault changes how the normal answer is delivered rather than replacing it.
    pub(crate) fn wraps_answer(&self) -> bool {
        matches!(self, Fault::Truncated | Fault::SlowBody { .. })
    }

    /// The outcome label recorded in the request log.
    pub(crate) fn outcome(&self) -> String {
        match self {
            Fault::Delay(_) => "Delay".into(),
            Fault::Error { code, .. } => code.clone(),
            Fault::DropConnection => "DropConnection".into(),
            Fault::Garbage { .. } => "Garbage".into(),
            Fault::Oversized { .. } => "Oversized".into(),
            Fault::Truncated => "Truncated".into(),
            Fault::SlowBody { .. } => "SlowBody".into(),
            Fault::MalformedSecret => "MalformedSecret".into(),
        }
    }
}

/// Pending faults: per-secret FIFO queues, a global FIFO queue and an "always" fault.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queue: VecDeque<Fault>,
    per_secret: HashMap<String, VecDeque<Fault>>,
    always: Option<Fault>,
}

impl Faults {
    pub(crate) fn push(&mut self, fault: Fault) {
        self.queue.push_back(fault);
    }

    pub(crate) fn push_for(&mut self, secret_name: &str, fault: Fault) {
        self.per_secret
            .entry(secret_name.to_owned())
            .or_default()
            .push_back(fault);
    }

    pub(crate) fn set_always(&mut self, fault: Option<Fault>) {
        self.always = fault;
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The fault for the next request naming `secret_name`: that secret's queue first, then the
    /// global queue, then the "always" fault.
    pub(crate) fn take(&mut self, secret_name: Option<&str>) -> Option<Fault> {
        if let Some(name) = secret_name {
            if let Some(queue) = self.per_secret.get_mut(name) {
                if let Some(fault) = queue.pop_front() {
                    return Some(fault);
                }
            }
        }
        self.queue.pop_front().or_else(|| self.always.clone())
    }
}

/// One request LocalKms received, with what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `"instance"` (KMS instance API) or `"gateway"` (shared gateway).
    pub protocol: &'static str,
    /// The API name (`x-kms-apiname` / `Action`).
    pub api_name: String,
    /// The secret the request named (empty if none could be read).
    pub secret_name: String,
    /// The requested version stage (empty if none).
    pub version_stage: String,
    /// The `Date` header (instance) or `Timestamp` parameter (gateway) as sent.
    pub date: String,
    /// The signature as sent (base64 part of `Authorization` / `Signature` parameter).
    pub signature: String,
    /// The caller's key id (`x-kms-acccesskeyid` / `AccessKeyId`).
    pub key_id: String,
    /// `"OK"`, the error code answered, or the fault name (`DropConnection`, `Garbage`, ...).
    pub outcome: String,
    /// HTTP status answered (0 when the connection was dropped).
    pub http_status: u16,
    /// When the request arrived.
    pub received_at: SystemTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_secret_then_global_then_always() {
        let mut faults = Faults::default();
        faults.push(Fault::DropConnection);
        faults.push_for("a", Fault::Garbage { http_status: 502 });
        faults.set_always(Some(Fault::throttling()));
        assert_eq!(faults.take(Some("b")), Some(Fault::DropConnection));
        assert_eq!(
            faults.take(Some("a")),
            Some(Fault::Garbage { http_status: 502 })
        );
        assert_eq!(faults.take(Some("a")), Some(Fault::throttling()));
        faults.clear();
        assert_eq!(faults.take(Some("a")), None);
    }
}
