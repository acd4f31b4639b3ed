//! An OpenID Connect issuer on a loopback port for tests: its discovery
//! document and JWKS (keys from the PEM fixtures), counting JWKS requests,
//! and tokens signed with the fixtures' keys. Shared by this crate's
//! tests/oidc.rs and cdsearch-cli's tests/serve_sign_in.rs.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use cdsearch_service::oidc::OidcVerifier;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The app client the test tokens are for.
pub const CLIENT: &str = "test-client-1";

/// A test key pair: the private key (PEM) and its public JWK.
pub struct TestKey {
    /// The private key (PKCS#1 PEM).
    pub pem: &'static [u8],
    /// The public key as the issuer publishes it.
    pub jwk: Value,
}

/// Test key pair 1 (`kid` test-key-1) or 2 (test-key-2).
pub fn key(n: u8) -> TestKey {
    let (pem, jwk): (&[u8], &str) = match n {
        1 => (
            include_bytes!("../fixtures/oidc-test-key-1.pem"),
            include_str!("../fixtures/oidc-test-key-1.jwk.json"),
        ),
        _ => (
            include_bytes!("../fixtures/oidc-test-key-2.pem"),
            include_str!("../fixtures/oidc-test-key-2.jwk.json"),
        ),
    };
    TestKey {
        pem,
        jwk: serde_json::from_str(jwk).unwrap(),
    }
}

impl TestKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        self.jwk["kid"].as_str().unwrap()
    }

    /// `claims` signed with RS256 by this key, named `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_rsa_pem(self.pem).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// `claims` signed with RS256 by this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.kid(), claims)
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An issuer on a loopback port: discovery document and JWKS, counting the
/// JWKS requests.
pub struct Issuer {
    /// `http://127.0.0.1:PORT`, also the issuer the discovery document names.
    pub base: String,
    published: Arc<Mutex<Vec<Value>>>,
    jwks_requests: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct IssuerState {
    base: Arc<OnceLock<String>>,
    /// The issuer the discovery document names (default: its base URL).
    named_issuer: Option<String>,
    /// Extra bytes padded into the JWKS.
    jwks_padding: usize,
    published: Arc<Mutex<Vec<Value>>>,
    jwks_requests: Arc<AtomicUsize>,
}

impl Issuer {
    /// Starts an issuer publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        Self::start_with(keys, None, 0).await
    }

    /// Starts an issuer publishing `keys` whose discovery document names
    /// `named_issuer` (default: itself) and whose JWKS is padded with
    /// `padding` bytes.
    pub async fn start_with(keys: &[&TestKey], named_issuer: Option<&str>, padding: usize) -> Self {
        use axum::extract::State;
        use axum::routing::get;
        use axum::Json;
        let state = IssuerState {
            base: Arc::new(OnceLock::new()),
            named_issuer: named_issuer.map(str::to_owned),
            jwks_padding: padding,
            published: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect())),
            jwks_requests: Arc::new(AtomicUsize::new(0)),
        };
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(s): State<IssuerState>| async move {
                    let base = s.base.get().unwrap().clone();
                    Json(json!({
                        "issuer": s.named_issuer.clone().unwrap_or_else(|| base.clone()),
                        "jwks_uri": format!("{base}/keys.json"),
                        "authorization_endpoint": format!("{base}/oauth2/authorize"),
                    }))
                }),
            )
            .route(
                "/keys.json",
                get(|State(s): State<IssuerState>| async move {
                    s.jwks_requests.fetch_add(1, Ordering::SeqCst);
                    let keys = s.published.lock().unwrap().clone();
                    Json(json!({"keys": keys, "padding": "x".repeat(s.jwks_padding)}))
                }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        state.base.set(base.clone()).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Issuer {
            base,
            published: state.published,
            jwks_requests: state.jwks_requests,
        }
    }

    /// Publishes one more key.
    pub fn publish(&self, key: &TestKey) {
        self.published.lock().unwrap().push(key.jwk.clone());
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }

    /// Claims of a valid Cognito-style access token of `sub`.
    pub fn access_claims(&self, sub: &str) -> Value {
        json!({"sub": sub, "iss": self.base, "client_id": CLIENT, "token_use": "access",
            "scope": "openid email", "iat": now(), "exp": now() + 600})
    }

    /// Claims of a valid ID token of `sub`.
    pub fn id_claims(&self, sub: &str) -> Value {
        json!({"sub": sub, "iss": self.base, "aud": CLIENT, "token_use": "id",
            "email": "u@example.org", "iat": now(), "exp": now() + 600})
    }

    /// A verifier of this issuer's tokens for [`CLIENT`].
    pub async fn verifier(&self) -> OidcVerifier {
        OidcVerifier::discover(&self.base, CLIENT).await.unwrap()
    }
}
