//! The router's edges: every error answer is JSON ([`ErrorBody`]), also the
//! ones no handler makes (unknown routes, wrong methods, rejections of axum's
//! extractors such as an unparsable path parameter), and a body announced
//! larger than the upload limit is refused (413) before any of it is read.

use crate::error::ApiError;
use crate::model::ErrorBody;
use crate::Service;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Most bytes of a non-JSON error body kept as the message.
const MAX_MESSAGE_BYTES: usize = 4096;

/// The code of an error status in [`ErrorBody::error`].
pub fn error_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::INSUFFICIENT_STORAGE => "insufficient_storage",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Whether `headers` say the body is JSON (`application/json`, any case,
/// parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| media_type_is(v, "application/json"))
}

/// Whether the `Content-Type` value `value` has the media type `expected`
/// (RFC 9110 §8.3.1: type and subtype are case-insensitive; parameters after
/// `;` are allowed; `application/jsonx` is not `application/json`).
pub fn media_type_is(value: &str, expected: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(expected)
}

/// What an empty error answer of axum meant, for people.
fn default_message(status: StatusCode, method: &Method, path: &str, allow: Option<&str>) -> String {
    match status {
        StatusCode::NOT_FOUND => format!("no route {path}; see /openapi.json for the API"),
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "method {method} is not allowed on {path}; allowed: {}",
            allow.unwrap_or("see /openapi.json")
        ),
        s => s.canonical_reason().unwrap_or("error").to_owned(),
    }
}

/// Middleware: answers that are errors but not JSON (made by axum itself)
/// are rewritten as an [`ErrorBody`] with the same status and headers, the
/// text axum gave as the message.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        let allow = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok());
        default_message(status, &method, &path, allow)
    } else {
        text
    };
    let body = ErrorBody {
        error: error_code(status).to_owned(),
        message,
        fields: Vec::new(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

/// Middleware: a request whose `Content-Length` exceeds the upload limit is
/// answered 413 at once, without reading its body.
pub async fn early_size_check(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let limit = service.limits.max_upload_bytes;
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(length) if length > limit as u64 => ApiError::TooLarge(format!(
            "request body of {length} bytes is larger than the limit of {limit} bytes"
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_match_per_rfc() {
        assert!(media_type_is("application/json", "application/json"));
        assert!(media_type_is("APPLICATION/JSON", "application/json"));
        assert!(media_type_is(
            "Application/Json ; charset=utf-8",
            "application/json"
        ));
        assert!(!media_type_is("application/jsonx", "application/json"));
        assert!(!media_type_is(
            "application/json-patch+json",
            "application/json"
        ));
        assert!(!media_type_is("", "application/json"));
    }
}
