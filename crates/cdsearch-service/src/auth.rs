//! Bearer-token authentication with API keys, and the per-key request limit.

use crate::error::ApiError;
use crate::Service;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::Method;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// API keys: token → user. Several keys may belong to one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiKeys(HashMap<String, String>);

/// Why a list of API keys could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid API key entry {entry:?}: expected USER:TOKEN with a non-empty user and a token of at least 8 visible characters")]
pub struct KeyParseError {
    /// The bad entry.
    pub entry: String,
}

impl ApiKeys {
    /// Adds a key for `user`.
    pub fn insert(&mut self, user: &str, token: &str) {
        self.0.insert(token.to_owned(), user.to_owned());
    }

    /// Parses `USER:TOKEN` entries separated by commas or whitespace (the
    /// form of `CDSEARCH_API_KEYS`).
    pub fn parse(list: &str) -> Result<Self, KeyParseError> {
        let mut keys = Self::default();
        for entry in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
        {
            keys.add_entry(entry)?;
        }
        Ok(keys)
    }

    /// Adds one `USER:TOKEN` entry.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), KeyParseError> {
        match entry.split_once(':') {
            Some((user, token))
                if !user.is_empty()
                    && token.len() >= 8
                    && token.chars().all(|c| c.is_ascii_graphic()) =>
            {
                self.insert(user, token);
                Ok(())
            }
            _ => Err(KeyParseError {
                entry: entry.to_owned(),
            }),
        }
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The user owning `token`.
    pub fn user(&self, token: &str) -> Option<&str> {
        self.0.get(token).map(String::as_str)
    }
}

/// How a service knows its callers.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Bearer tokens checked against these API keys.
    Keys(ApiKeys),
    /// A gateway in front of the service authenticated the caller (e.g. API
    /// Gateway's JWT authorizer) and its host put a [`GatewayUser`] in the
    /// request's extensions.
    Gateway,
}

/// The caller as authenticated by a gateway (on AWS: the JWT's `sub`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayUser(pub String);

/// The authenticated user of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's name (owner of searches).
    pub name: String,
    /// The API key used (rate limits are per key).
    pub key: String,
}

/// Whether a request may carry its API key in the `access_token` query
/// parameter: only a GET (or HEAD) of an image, a thumbnail or a results
/// download, which a browser loads by URL (`<img>`, links) without headers.
/// Keys in URLs end up in logs and histories, so no other request may.
pub fn query_token_allowed(method: &Method, path: &str) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["libraries", _, "images" | "thumbnails", _, ..]
            | ["masks", "images" | "thumbnails", _, ..]
            | ["searches", _, "masks", _, "image" | "thumbnail"]
            | ["searches", _, "results"]
    )
}

/// The token of a request: `Authorization: Bearer <token>`, or, where
/// [`query_token_allowed`], the `access_token` query parameter (RFC 6750 §2.3).
fn token(parts: &Parts) -> Option<&str> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    if !query_token_allowed(&parts.method, parts.uri.path()) {
        return None;
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
}

/// Whether the query names an `access_token`.
fn has_query_token(parts: &Parts) -> bool {
    parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token=")))
}

impl FromRequestParts<Arc<Service>> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, ApiError> {
        let (name, key) = match &service.auth {
            Auth::Keys(keys) => {
                let token = token(parts).ok_or_else(|| {
                    ApiError::Unauthorized(if has_query_token(parts) {
                        "an API key in the query (`access_token`) is accepted only on GET of \
                         images, thumbnails and results downloads: send the header \
                         `Authorization: Bearer <API key>`"
                            .into()
                    } else {
                        "missing API key: send the header `Authorization: Bearer <API key>`".into()
                    })
                })?;
                let user = keys
                    .user(token)
                    .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
                (user.to_owned(), token.to_owned())
            }
            Auth::Gateway => {
                let GatewayUser(user) = parts.extensions.get::<GatewayUser>().ok_or_else(|| {
                    ApiError::Unauthorized(
                        "no authenticated user: the gateway passed no verified identity".into(),
                    )
                })?;
                (user.clone(), user.clone())
            }
        };
        service
            .request_limiter
            .take(&key, Instant::now())
            .map_err(ApiError::RateLimited)?;
        Ok(User { name, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_lists_and_names_bad_entries() {
        let keys = ApiKeys::parse("alice:secret-one, bob:secret-two\ncarol:secret-3x").unwrap();
        assert_eq!(keys.user("secret-two"), Some("bob"));
        assert_eq!(keys.user("secret-3x"), Some("carol"));
        assert_eq!(keys.user("nope"), None);
        let err = ApiKeys::parse("alice:short").unwrap_err();
        assert_eq!(err.entry, "alice:short");
        assert!(ApiKeys::parse("nocolon").is_err());
    }

    #[test]
    fn query_tokens_only_where_a_browser_cannot_send_headers() {
        let get = Method::GET;
        assert!(query_token_allowed(
            &get,
            "/libraries/sample/thumbnails/a/b.tif"
        ));
        assert!(query_token_allowed(&get, "/libraries/sample/images/b.tif"));
        assert!(query_token_allowed(&get, "/masks/thumbnails/m.tif"));
        assert!(query_token_allowed(&get, "/searches/x/masks/0/image"));
        assert!(query_token_allowed(&get, "/searches/x/results"));
        assert!(!query_token_allowed(&get, "/searches"));
        assert!(!query_token_allowed(&get, "/searches/x"));
        assert!(!query_token_allowed(&get, "/libraries"));
        assert!(!query_token_allowed(&Method::POST, "/searches"));
        assert!(!query_token_allowed(&Method::DELETE, "/searches/x"));
    }
}
