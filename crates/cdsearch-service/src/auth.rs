//! Bearer-token authentication with API keys and (with a [`TokenVerifier`])
//! signed-in users' JWTs, the per-key request limit, and what the web client
//! needs to know to sign in ([`SignIn`], `GET /config`).

use crate::error::ApiError;
use crate::Service;
use async_trait::async_trait;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

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

/// Why a bearer token that is not an API key was refused: the reason, for
/// the 401 answer (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenRejected(pub String);

/// Verifies bearer tokens that are not API keys: JWTs of the issuer users
/// sign in with (e.g. `oidc::OidcVerifier`, with the `oidc` feature).
#[async_trait]
pub trait TokenVerifier: Send + Sync + std::fmt::Debug {
    /// The verified user of `token` (its `sub` claim), or why it is refused.
    async fn verify(&self, token: &str) -> Result<String, TokenRejected>;
}

/// Whether `token` has the shape of a JWT (header, payload and signature
/// separated by two dots), as opposed to an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// How a service knows its callers.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Bearer tokens checked against these API keys.
    Keys(ApiKeys),
    /// Bearer tokens checked against these API keys, and JWT-shaped tokens
    /// that are no key verified by `verifier` (a signed-in user, named and
    /// rate-limited by the token's `sub`, as on AWS).
    KeysAndTokens {
        /// The API keys.
        keys: ApiKeys,
        /// Verifies the JWTs.
        verifier: Arc<dyn TokenVerifier>,
    },
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

/// The (user, rate-limit key) of a request's bearer token: an API key of
/// `keys`, or else, with a `verifier`, a JWT it accepts (user and key: the
/// token's subject).
async fn bearer_user(
    parts: &Parts,
    keys: &ApiKeys,
    verifier: Option<&dyn TokenVerifier>,
) -> Result<(String, String), ApiError> {
    let (credential, in_query) = if verifier.is_some() {
        ("API key or sign-in token", "a token")
    } else {
        ("API key", "an API key")
    };
    let token = token(parts).ok_or_else(|| {
        ApiError::Unauthorized(if has_query_token(parts) {
            format!(
                "{in_query} in the query (`access_token`) is accepted only on GET of images, \
                 thumbnails and results downloads: send the header `Authorization: Bearer \
                 <{credential}>`"
            )
        } else {
            format!("missing {credential}: send the header `Authorization: Bearer <{credential}>`")
        })
    })?;
    if let Some(user) = keys.user(token) {
        return Ok((user.to_owned(), token.to_owned()));
    }
    match verifier {
        Some(verifier) if looks_like_jwt(token) => match verifier.verify(token).await {
            Ok(subject) => Ok((subject.clone(), subject)),
            Err(TokenRejected(reason)) => {
                tracing::debug!(%reason, "bearer token refused");
                Err(ApiError::Unauthorized(reason))
            }
        },
        _ => Err(ApiError::Unauthorized("unknown API key".into())),
    }
}

impl FromRequestParts<Arc<Service>> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<Service>,
    ) -> Result<Self, ApiError> {
        let (name, key) = match &service.auth {
            Auth::Keys(keys) => bearer_user(parts, keys, None).await?,
            Auth::KeysAndTokens { keys, verifier } => {
                bearer_user(parts, keys, Some(verifier.as_ref())).await?
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

/// The hosted sign-in page (OAuth 2.0 authorization code grant with PKCE)
/// the web client signs users in through: Amazon Cognito's hosted UI on
/// AWS, or any issuer with the same paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    /// Base URL of the hosted UI, without a trailing `/` (e.g.
    /// `https://NAME.auth.REGION.amazoncognito.com`); the client adds
    /// `/oauth2/authorize`, `/oauth2/token` and `/logout`.
    #[schema(example = "https://cdsearch.auth.eu-west-1.amazoncognito.com")]
    pub domain: String,
    /// The (public) app client the web client signs in as.
    pub client_id: String,
    /// The scopes to ask for.
    #[schema(example = json!(["openid", "email"]))]
    pub scopes: Vec<String>,
}

/// Why a sign-in configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// The domain is not an http(s) URL of a host.
    #[error("sign-in domain {0:?} is not an http:// or https:// URL of a host (e.g. https://NAME.auth.REGION.amazoncognito.com), without query or fragment")]
    Domain(String),
    /// The client id is empty or has characters no client id has.
    #[error("sign-in client id {0:?} is empty or not visible ASCII")]
    ClientId(String),
}

impl SignIn {
    /// The scopes the web client asks for: `openid` and `email`.
    pub const SCOPES: [&'static str; 2] = ["openid", "email"];

    /// Sign-in through the hosted UI at `domain` (an http(s) URL; trailing
    /// `/`s are dropped) as app client `client_id`, with [`Self::SCOPES`].
    pub fn new(domain: &str, client_id: &str) -> Result<Self, SignInError> {
        let domain = domain.trim_end_matches('/');
        let clean = !domain.contains(['?', '#'])
            && domain.chars().all(|c| c.is_ascii_graphic())
            && http_url_host(domain).is_some_and(|host| !host.contains('@'));
        if !clean {
            return Err(SignInError::Domain(domain.to_owned()));
        }
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(SignInError::ClientId(client_id.to_owned()));
        }
        Ok(Self {
            domain: domain.to_owned(),
            client_id: client_id.to_owned(),
            scopes: Self::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

/// The host part of an `http://` or `https://` URL (up to the first `/`),
/// or `None` for another scheme or an empty host.
pub(crate) fn http_url_host(url: &str) -> Option<&str> {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .filter(|host| !host.is_empty())
}

/// What the web client needs to know before its first request: how to
/// authenticate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// The hosted UI to sign in through; `null` when the server takes API
    /// keys only (the client asks for one).
    #[schema(required = true)]
    pub sign_in: Option<SignIn>,
}

/// How the web client authenticates: through a hosted sign-in page, or with an API key.
#[utoipa::path(get, path = "/config", tag = "config",
    responses((status = 200, description = "How to authenticate (no credentials needed)",
        body = ClientConfig,
        headers(("Cache-Control" = String, description = "`no-cache`")))))]
pub async fn client_config(State(service): State<Arc<Service>>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "no-cache")],
        Json(ClientConfig {
            sign_in: service.sign_in.clone(),
        }),
    )
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

    #[test]
    fn jwts_have_three_parts() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!looks_like_jwt("alice-key-0001"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
    }

    #[test]
    fn sign_in_domains_are_http_urls_of_a_host() {
        let sign_in = SignIn::new("https://x.auth.eu-west-1.amazoncognito.com/", "abc123").unwrap();
        assert_eq!(sign_in.domain, "https://x.auth.eu-west-1.amazoncognito.com");
        assert_eq!(sign_in.scopes, ["openid", "email"]);
        assert_eq!(
            serde_json::to_value(&sign_in).unwrap(),
            serde_json::json!({"domain": "https://x.auth.eu-west-1.amazoncognito.com",
                "clientId": "abc123", "scopes": ["openid", "email"]})
        );
        assert_eq!(
            SignIn::new("http://127.0.0.1:9000", "c").unwrap().domain,
            "http://127.0.0.1:9000"
        );
        for bad in [
            "x.auth.eu-west-1.amazoncognito.com",
            "ftp://host",
            "https://",
            "https:///path",
            "https://host?x=1",
            "https://host#f",
            "https://user@host",
            "https://ho st",
        ] {
            assert_eq!(
                SignIn::new(bad, "abc"),
                Err(SignInError::Domain(bad.trim_end_matches('/').to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            SignIn::new("https://host", ""),
            Err(SignInError::ClientId(String::new()))
        );
    }
}
