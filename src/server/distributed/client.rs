//! The internal client: protobuf bodies over cleartext HTTP/2 (h2c, prior
//! knowledge), one pooled connection per peer, every call bounded by a
//! timeout.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The longest an internal call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an internal call failed.
#[derive(Debug)]
pub(crate) struct CallError {
    /// The peer's status, when it answered.
    pub(crate) status: Option<StatusCode>,
    /// What went wrong (the peer's message when it answered).
    pub(crate) message: String,
}

impl CallError {
    /// The peer refused the request as invalid: asking another will not help.
    pub(crate) fn is_client_error(&self) -> bool {
        self.status.is_some_and(|s| s.is_client_error())
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Pooled h2c connections to every peer.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub(crate) fn new() -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Client { http }
    }

    /// POSTs `body` (`application/x-protobuf`) to `http://{addr}{path}` as
    /// `tenant` and returns the answer's body if the status is 2xx.
    pub(crate) async fn post(
        &self,
        addr: &str,
        path: &str,
        tenant: &str,
        body: Vec<u8>,
    ) -> Result<Bytes, CallError> {
        let request = internal_request(addr, path, tenant, body)?;
        let (head, bytes) = self.call(addr, path, request).await?;
        if head.status.is_success() {
            Ok(bytes)
        } else {
            Err(CallError {
                status: Some(head.status),
                message: String::from_utf8_lossy(&bytes).trim().to_owned(),
            })
        }
    }

    /// Sends `request` to `addr` and reads the whole answer, whatever its
    /// status, within the call timeout.
    async fn call(
        &self,
        addr: &str,
        path: &str,
        request: Request<Full<Bytes>>,
    ) -> Result<(hyper::http::response::Parts, Bytes), CallError> {
        let call = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| failed(format!("calling {addr}{path}: {e}")))?;
            let (head, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| failed(format!("reading the answer of {addr}{path}: {e}")))?
                .to_bytes();
            Ok((head, bytes))
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| {
                failed(format!(
                    "calling {addr}{path}: no answer within {CALL_TIMEOUT:?}"
                ))
            })?
    }

    /// POSTs `body` to `http://{addr}{path}` as `tenant` and returns the
    /// answer's body as it streams in, once a 2xx head arrived (within the
    /// call timeout; the body itself may last as long as the caller reads).
    pub(crate) async fn post_streaming(
        &self,
        addr: &str,
        path: &str,
        tenant: &str,
        body: Vec<u8>,
    ) -> Result<hyper::body::Incoming, CallError> {
        let request = internal_request(addr, path, tenant, body)?;
        let response = tokio::time::timeout(CALL_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| {
                failed(format!(
                    "calling {addr}{path}: no answer within {CALL_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| failed(format!("calling {addr}{path}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(CallError {
            status: Some(status),
            message: String::from_utf8_lossy(&bytes).trim().to_owned(),
        })
    }

    /// Sends a public API call on to the process at `addr` as it came
    /// (method, path and query, tenant, content type and `body`), marked
    /// with the header `mark`, and returns that process's answer (status,
    /// content type, `x-delete-request-id`, body) whatever its status.
    pub(crate) async fn forward(
        &self,
        addr: &str,
        method: Method,
        path_and_query: &str,
        headers: &HeaderMap,
        mark: &str,
        body: Bytes,
    ) -> Result<axum::response::Response, CallError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path_and_query}"))
            .header(mark, "1");
        for name in ["x-scope-orgid", "content-type"] {
            if let Some(value) = headers.get(name) {
                request = request.header(name, value);
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| failed(format!("invalid request to {addr}: {e}")))?;
        let (head, bytes) = self.call(addr, path_and_query, request).await?;
        let mut answer = axum::response::Response::new(axum::body::Body::from(bytes));
        *answer.status_mut() = head.status;
        for name in ["content-type", "x-delete-request-id"] {
            if let Some(value) = head.headers.get(name) {
                answer.headers_mut().insert(name, value.clone());
            }
        }
        Ok(answer)
    }
}

/// A call's failure before any answer: no status, only what went wrong.
fn failed(message: String) -> CallError {
    CallError {
        status: None,
        message,
    }
}

/// The internal call `POST http://{addr}{path}` of a protobuf `body` as
/// `tenant`.
fn internal_request(
    addr: &str,
    path: &str,
    tenant: &str,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, CallError> {
    Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/x-protobuf")
        .header("x-scope-orgid", tenant)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| failed(format!("invalid request to {addr}: {e}")))
}
