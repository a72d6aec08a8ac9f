//! One error type for every handler, mapped to Loki's statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An HTTP error: a status and a plain-text message, as Loki answers.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, message = %self.message, "request failed");
        }
        (self.status, self.message).into_response()
    }
}

impl From<loki_store::Error> for ApiError {
    fn from(err: loki_store::Error) -> ApiError {
        let status = match err.kind() {
            loki_store::ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            loki_store::ErrorKind::Limited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.to_string())
    }
}

impl From<loki_logql::Error> for ApiError {
    fn from(err: loki_logql::Error) -> ApiError {
        let status = match err {
            loki_logql::Error::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            loki_logql::Error::Timeout => StatusCode::GATEWAY_TIMEOUT,
            loki_logql::Error::Cancelled => {
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, err.to_string())
    }
}
