//! Bearer JWTs of an OpenID Connect issuer (an Amazon Cognito user pool, a
//! lab's Keycloak, ...), verified in the process the way API Gateway's JWT
//! authorizer verifies them on AWS.
//!
//! [`OidcVerifier::discover`] reads the issuer's discovery document
//! (`{issuer}/.well-known/openid-configuration`) and its signing keys (the
//! JWKS at `jwks_uri`). A token is accepted when it is signed with RS256 by
//! one of those keys (found by `kid`), its `iss` is the issuer, it has not
//! expired (`exp`) and is already valid (`nbf`, `iat`), it is for the client
//! (`aud` contains the client id, as in ID tokens, or `client_id` is it, as in
//! Cognito's access tokens), its `token_use`, if any, is `access` or `id`, and
//! it names a user (`sub`). A token signed by an unknown key makes the
//! verifier fetch the keys again (the issuer rotated them), but at most once
//! per [`DEFAULT_MIN_REFETCH`], so that made-up tokens cannot make it hammer
//! the issuer. Tokens are never logged nor echoed.

use crate::auth::{TokenRejected, TokenVerifier};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Largest discovery document or JWKS read from the issuer.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Least time between two fetches of the issuer's keys.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(60);
/// Most time one request to the issuer may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds: a few, since
/// servers keep their clocks synchronised (NTP) and the web page refreshes
/// its tokens a minute before they expire; an expired token is refused
/// within seconds, not a minute later.
pub const LEEWAY_SECS: u64 = 5;
/// Most characters of a claim (from an unverified token) quoted in a message.
const MAX_QUOTED_CHARS: usize = 100;

/// Why an issuer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The issuer is not an http(s) URL.
    #[error("OpenID Connect issuer {0:?} is not an http:// or https:// URL")]
    IssuerUrl(String),
    /// The client id is empty.
    #[error("the OpenID Connect client id is empty")]
    ClientId,
    /// A document could not be fetched.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// A document is not what it should be.
    #[error("{url} is not a valid {what}: {message}")]
    Document {
        /// What was fetched.
        url: String,
        /// What it should be.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The discovery document names another issuer.
    #[error("the discovery document {url} names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The discovery document's URL.
        url: String,
        /// The issuer it names.
        found: String,
        /// The issuer configured.
        expected: String,
    },
}

/// Why a token was refused (the message of the 401 answer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not three base64url parts with JSON header and payload.
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    /// Signed with another algorithm than RS256 (or not at all).
    #[error("token algorithm {0} is not accepted: only RS256")]
    Algorithm(String),
    /// Issued by another issuer.
    #[error("token issued by {found} not {expected}")]
    Issuer {
        /// The token's `iss` (quoted, shortened).
        found: String,
        /// The configured issuer.
        expected: String,
    },
    /// The header names no key.
    #[error("token header names no signing key (`kid`)")]
    NoKeyId,
    /// The issuer has no key of this id (also after refetching its keys).
    #[error("token signed by an unknown key")]
    UnknownKey,
    /// The signature does not match.
    #[error("token signature is not valid")]
    Signature,
    /// `exp` is past.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not valid yet (`nbf` is in the future)")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token issued in the future (`iat`)")]
    IssuedInFuture,
    /// A required claim is missing or of the wrong type.
    #[error("token has no valid `{0}` claim")]
    MissingClaim(String),
    /// Neither `aud` nor `client_id` is the client.
    #[error("token is for another client")]
    OtherClient,
    /// `token_use` is neither `access` nor `id`.
    #[error("token use {0} is not accepted: only access or id tokens")]
    TokenUse(String),
    /// Refused for another reason.
    #[error("token refused: {0}")]
    Other(String),
}

/// A token's header, as far as the verifier reads it.
#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

/// `aud`: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, client_id: &str) -> bool {
        match self {
            Self::One(aud) => aud == client_id,
            Self::Many(auds) => auds.iter().any(|a| a == client_id),
        }
    }
}

/// The claims the verifier checks beyond jsonwebtoken's validation.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    aud: Option<Audience>,
    client_id: Option<String>,
    token_use: Option<String>,
    iat: Option<f64>,
}

/// The issuer's claim, read before the signature is checked (to name a
/// foreign issuer and not fetch keys for its tokens).
#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<serde_json::Value>,
}

/// The parts of the discovery document the verifier uses.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A JSON Web Key Set.
#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// A JSON Web Key, as far as RSA signing keys go.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RS256 signing keys of a JWKS, by key id.
type Keys = HashMap<String, DecodingKey>;

/// Verifies the JWTs of one OpenID Connect issuer for one client.
pub struct OidcVerifier {
    issuer: String,
    client_id: String,
    jwks_uri: String,
    http: reqwest::Client,
    validation: Validation,
    keys: RwLock<Arc<Keys>>,
    /// When the keys were last fetched; held while they are fetched again.
    last_fetch: tokio::sync::Mutex<Instant>,
    min_refetch: Duration,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

/// `error` and its sources, for people.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` (from an unverified token) quoted and shortened for a message.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    if short.len() < text.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

/// Whether `url` is an http(s) URL with a host.
fn is_http_url(url: &str) -> bool {
    crate::auth::http_url_host(url).is_some()
}

/// GETs the JSON document at `url` (at most [`MAX_DOCUMENT_BYTES`]).
async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<T, OidcError> {
    let fetch_error = |message: String| OidcError::Fetch {
        url: url.to_owned(),
        message,
    };
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fetch_error(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(fetch_error(format!("HTTP status {}", response.status())));
    }
    let too_large = || fetch_error(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_error(error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| OidcError::Document {
        url: url.to_owned(),
        what,
        message: e.to_string(),
    })
}

/// The RS256 signing keys (with a key id) of the JWKS at `url`; other keys
/// (encryption keys, other algorithms) are left out.
async fn fetch_keys(http: &reqwest::Client, url: &str) -> Result<Keys, OidcError> {
    let set: JwkSet = get_json(http, url, "JSON Web Key Set").await?;
    let mut keys = Keys::new();
    for jwk in set.keys {
        let signing = jwk.kty == "RSA"
            && jwk.usage.as_deref().is_none_or(|u| u == "sig")
            && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
        let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, signing) else {
            continue;
        };
        match DecodingKey::from_rsa_components(&n, &e) {
            Ok(key) => {
                keys.insert(kid, key);
            }
            Err(error) => tracing::warn!(%url, %kid, %error, "skipping an unreadable RSA key"),
        }
    }
    Ok(keys)
}

/// Decodes base64url JSON (a token's header or payload).
fn decode_part<T: DeserializeOwned>(part: &str, what: &'static str) -> Result<T, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed(what))
}

/// The rejection of a failed jsonwebtoken validation.
fn rejection(error: &jsonwebtoken::errors::Error) -> Rejection {
    match error.kind() {
        ErrorKind::InvalidSignature => Rejection::Signature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            Rejection::Algorithm("(missing or unknown)".into())
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => Rejection::Malformed("its claims cannot be read"),
        _ => Rejection::Other(error.to_string()),
    }
}

impl OidcVerifier {
    /// Reads the discovery document of `issuer` (an http(s) URL; a trailing
    /// `/` is dropped), checks that it names this issuer, and fetches its
    /// keys; tokens must be for `client_id`.
    pub async fn discover(issuer: &str, client_id: &str) -> Result<Self, OidcError> {
        let configured = issuer.trim_end_matches('/');
        if !is_http_url(configured) {
            return Err(OidcError::IssuerUrl(issuer.to_owned()));
        }
        if client_id.is_empty() {
            return Err(OidcError::ClientId);
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| OidcError::Fetch {
                url: configured.to_owned(),
                message: format!("cannot make an HTTP client: {}", error_chain(&e)),
            })?;
        let url = format!("{configured}/.well-known/openid-configuration");
        let discovery: Discovery =
            get_json(&http, &url, "OpenID Connect discovery document").await?;
        if discovery.issuer.trim_end_matches('/') != configured {
            return Err(OidcError::IssuerMismatch {
                url,
                found: discovery.issuer,
                expected: configured.to_owned(),
            });
        }
        if !is_http_url(&discovery.jwks_uri) {
            return Err(OidcError::Document {
                url,
                what: "OpenID Connect discovery document",
                message: format!("jwks_uri {:?} is not an http(s) URL", discovery.jwks_uri),
            });
        }
        let keys = fetch_keys(&http, &discovery.jwks_uri).await?;
        if keys.is_empty() {
            return Err(OidcError::Document {
                url: discovery.jwks_uri,
                what: "JSON Web Key Set",
                message: "it has no RS256 signing key with a key id".into(),
            });
        }
        tracing::info!(issuer = %discovery.issuer, jwks_uri = %discovery.jwks_uri, keys = keys.len(),
            "accepting the tokens of an OpenID Connect issuer");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // `aud` or `client_id`: checked by `verify_claims`.
        validation.validate_aud = false;
        validation.set_issuer(&[&discovery.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        Ok(Self {
            issuer: discovery.issuer,
            client_id: client_id.to_owned(),
            jwks_uri: discovery.jwks_uri,
            http,
            validation,
            keys: RwLock::new(Arc::new(keys)),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            min_refetch: DEFAULT_MIN_REFETCH,
        })
    }

    /// The same verifier fetching its keys again at most once per `interval`
    /// (default [`DEFAULT_MIN_REFETCH`]).
    pub fn with_min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// The issuer, as its discovery document names it (tokens' `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key `kid`, if the issuer's keys as last fetched have it.
    fn cached_key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(kid).cloned()
    }

    /// The key `kid`; an unknown one makes the verifier fetch the keys again
    /// unless it did less than `min_refetch` ago.
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.cached_key(kid) {
            return Some(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched the keys while this one waited.
        if let Some(key) = self.cached_key(kid) {
            return Some(key);
        }
        if last_fetch.elapsed() < self.min_refetch {
            return None;
        }
        *last_fetch = Instant::now();
        match fetch_keys(&self.http, &self.jwks_uri).await {
            Ok(keys) => {
                tracing::info!(jwks_uri = %self.jwks_uri, keys = keys.len(),
                    "fetched the issuer's keys again (a token named an unknown key)");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
            }
            Err(error) => {
                tracing::warn!(%error, "cannot fetch the issuer's keys again; keeping the old ones")
            }
        }
        self.cached_key(kid)
    }

    /// The subject of `token` if it is a valid token of the issuer for the
    /// client, or why it is not.
    pub async fn check(&self, token: &str) -> Result<String, Rejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed("expected three dot-separated parts"));
        };
        let header: Header = decode_part(header, "its header cannot be read")?;
        match header.alg.as_deref() {
            Some("RS256") => {}
            Some(alg) => return Err(Rejection::Algorithm(quoted(alg))),
            None => return Err(Rejection::Algorithm("(none named)".into())),
        }
        let unverified: UnverifiedIssuer = decode_part(payload, "its claims cannot be read")?;
        match unverified.iss {
            Some(serde_json::Value::String(iss)) if iss == self.issuer => {}
            Some(serde_json::Value::String(iss)) => {
                return Err(Rejection::Issuer {
                    found: quoted(&iss),
                    expected: self.issuer.clone(),
                })
            }
            _ => return Err(Rejection::MissingClaim("iss".into())),
        }
        let kid = header.kid.ok_or(Rejection::NoKeyId)?;
        let key = self.key(&kid).await.ok_or(Rejection::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| rejection(&e))?;
        self.verify_claims(data.claims)
    }

    /// The checks of a signed token's claims beyond `exp`, `nbf` and `iss`.
    fn verify_claims(&self, claims: Claims) -> Result<String, Rejection> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS as f64) {
            return Err(Rejection::IssuedInFuture);
        }
        let for_client = claims
            .aud
            .as_ref()
            .is_some_and(|aud| aud.contains(&self.client_id))
            || claims.client_id.as_deref() == Some(self.client_id.as_str());
        if !for_client {
            return Err(Rejection::OtherClient);
        }
        if let Some(usage) = claims.token_use {
            if usage != "access" && usage != "id" {
                return Err(Rejection::TokenUse(quoted(&usage)));
            }
        }
        match claims.sub {
            Some(sub) if !sub.is_empty() => Ok(sub),
            _ => Err(Rejection::MissingClaim("sub".into())),
        }
    }
}

#[async_trait]
impl TokenVerifier for OidcVerifier {
    async fn verify(&self, token: &str) -> Result<String, TokenRejected> {
        self.check(token)
            .await
            .map_err(|r| TokenRejected(r.to_string()))
    }
}
