//! Errors of the HTTP API, each answered as JSON ([`ErrorBody`]) with its
//! status code.

use crate::model::ErrorBody;
use crate::request::FieldError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or names bad values (400).
    #[error("invalid request: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// No or an unknown bearer token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Nothing (visible to this user) at this path (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state (409), e.g. results of
    /// a search that is not done.
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` reused for a different request (422).
    #[error("{0}")]
    KeyReused(String),
    /// The body is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The body's media type is not one the route reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server's data directory is full (507).
    #[error("{0}")]
    InsufficientStorage(String),
    /// Too many requests for this key; retry after the given time (429).
    #[error("rate limit of this API key exceeded; retry after {} s", .0.as_secs())]
    RateLimited(Duration),
    /// A failure on the server's side (500).
    #[error("{0}")]
    Internal(String),
}

fn describe(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    /// One bad field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::KeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::InsufficientStorage(_) => {
                (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
            }
            Self::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.to_string(),
            fields: match &self {
                Self::Invalid(fields) => fields.clone(),
                _ => Vec::new(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited(wait) => {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            // The body was not read to its end: the connection cannot carry
            // another request, so tell the client not to reuse it.
            Self::TooLarge(_) | Self::UnsupportedMediaType(_) | Self::InsufficientStorage(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(format!("storage error: {e}"))
    }
}
