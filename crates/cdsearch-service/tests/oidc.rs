//! Sign-in tokens: `OidcVerifier` against an OpenID Connect issuer served on
//! a loopback port (discovery document and JWKS, keys from the PEM fixtures),
//! and the router with API keys and JWTs side by side, and `GET /config`.

mod oidc_issuer;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cdsearch_service::oidc::{OidcError, OidcVerifier, Rejection};
use cdsearch_service::{ApiConfig, ApiKeys, DirectRunner, Limits, Service, SignIn, TokenVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oidc_issuer::{key, now, Issuer, CLIENT};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ALICE_KEY: &str = "alice-key-0001";

/// The message `verifier` refuses `token` with.
async fn refusal(verifier: &OidcVerifier, token: &str) -> String {
    verifier.verify(token).await.unwrap_err().0
}

#[tokio::test]
async fn valid_access_and_id_tokens_name_their_subject() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    // A trailing '/' on the configured issuer is the same issuer.
    let verifier = OidcVerifier::discover(&format!("{}/", issuer.base), CLIENT)
        .await
        .unwrap();
    assert_eq!(verifier.issuer(), issuer.base);
    let access = k1.sign(&issuer.access_claims("user-a"));
    assert_eq!(verifier.verify(&access).await.unwrap(), "user-a");
    let id = k1.sign(&issuer.id_claims("user-b"));
    assert_eq!(verifier.verify(&id).await.unwrap(), "user-b");
    // `aud` as a list, no `token_use` (a generic OpenID Connect provider).
    let mut claims = issuer.id_claims("user-c");
    claims["aud"] = json!(["other", CLIENT]);
    claims.as_object_mut().unwrap().remove("token_use");
    assert_eq!(verifier.verify(&k1.sign(&claims)).await.unwrap(), "user-c");
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn tokens_failing_a_claim_check_are_refused_with_the_reason() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let verifier = issuer.verifier().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = issuer.access_claims("user-a");
        change(&mut claims);
        k1.sign(&claims)
    };
    let cases: Vec<(String, String)> = vec![
        (
            with(&|c| c["exp"] = json!(now() - 3600)),
            "token expired".into(),
        ),
        (
            with(&|c| c["iss"] = json!("https://evil.example")),
            format!(
                "token issued by \"https://evil.example\" not {}",
                issuer.base
            ),
        ),
        (
            with(&|c| c["client_id"] = json!("another-client")),
            "token is for another client".into(),
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
                c["aud"] = json!("another-client");
            }),
            "token is for another client".into(),
        ),
        (
            with(&|c| c["token_use"] = json!("refresh")),
            "token use \"refresh\" is not accepted: only access or id tokens".into(),
        ),
        (
            with(&|c| c["sub"] = json!("")),
            "token has no valid `sub` claim".into(),
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
            "token has no valid `sub` claim".into(),
        ),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            "token has no valid `exp` claim".into(),
        ),
        (
            with(&|c| c["nbf"] = json!(now() + 3600)),
            "token not valid yet (`nbf` is in the future)".into(),
        ),
        (
            with(&|c| c["iat"] = json!(now() + 3600)),
            "token issued in the future (`iat`)".into(),
        ),
    ];
    for (token, message) in cases {
        assert_eq!(refusal(&verifier, &token).await, message);
    }
}

#[tokio::test]
async fn forged_tampered_and_garbage_tokens_are_refused() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let verifier = issuer.verifier().await;
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = issuer.access_claims("user-a");

    // Unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": k1.kid()})),
        b64(&claims)
    );
    assert_eq!(
        verifier.check(&none).await,
        Err(Rejection::Algorithm("\"none\"".into()))
    );
    assert_eq!(
        refusal(&verifier, &none).await,
        "token algorithm \"none\" is not accepted: only RS256"
    );
    // HS256 keyed with the public key (algorithm confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(k1.kid().to_owned());
    let public = k1.jwk["n"].as_str().unwrap().as_bytes();
    let hs256 = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(public)).unwrap();
    assert_eq!(
        verifier.check(&hs256).await,
        Err(Rejection::Algorithm("\"HS256\"".into()))
    );
    // The payload of another user under a valid signature.
    let valid = k1.sign(&claims);
    let signature = valid.rsplit('.').next().unwrap();
    let header = valid.split('.').next().unwrap();
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(&issuer.access_claims("user-b"))
    );
    assert_eq!(
        refusal(&verifier, &tampered).await,
        "token signature is not valid"
    );
    // A valid signature by a key the issuer does not publish, under its kid.
    let impostor = key(2).sign_as(k1.kid(), &claims);
    assert_eq!(verifier.check(&impostor).await, Err(Rejection::Signature));
    // Garbage.
    for garbage in ["not-a-jwt", "a.b.c", "a.b.c.d", "..", "e30.e30.e30"] {
        match verifier.check(garbage).await {
            Err(Rejection::Malformed(_)) | Err(Rejection::Algorithm(_)) => {}
            other => panic!("{garbage}: {other:?}"),
        }
    }
    assert_eq!(
        refusal(&verifier, "a.b.c").await,
        "token is not a well-formed JWT: its header cannot be read"
    );
    // No kid.
    let header = Header::new(Algorithm::RS256);
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(k1.pem).unwrap(),
    )
    .unwrap();
    assert_eq!(verifier.check(&no_kid).await, Err(Rejection::NoKeyId));
    // Nothing above was valid, so the keys were fetched only at discovery.
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_fetching_the_keys_again() {
    let (k1, k2) = (key(1), key(2));
    let issuer = Issuer::start(&[&k1]).await;
    let verifier = issuer.verifier().await.with_min_refetch(Duration::ZERO);
    let rotated = k2.sign(&issuer.access_claims("user-a"));
    assert_eq!(
        refusal(&verifier, &rotated).await,
        "token signed by an unknown key"
    );
    assert_eq!(issuer.jwks_requests(), 2);
    issuer.publish(&k2);
    assert_eq!(verifier.verify(&rotated).await.unwrap(), "user-a");
    assert_eq!(issuer.jwks_requests(), 3);
    // Known now: no more fetches.
    assert_eq!(verifier.verify(&rotated).await.unwrap(), "user-a");
    let old = k1.sign(&issuer.id_claims("user-b"));
    assert_eq!(verifier.verify(&old).await.unwrap(), "user-b");
    assert_eq!(issuer.jwks_requests(), 3);
}

#[tokio::test]
async fn unknown_keys_fetch_the_keys_at_most_once_per_interval() {
    let (k1, k2) = (key(1), key(2));
    let issuer = Issuer::start(&[&k1]).await;
    // The default interval (60 s): the fetch at discovery was just now.
    let verifier = Arc::new(issuer.verifier().await);
    issuer.publish(&k2);
    let rotated = k2.sign(&issuer.access_claims("user-a"));
    let junk: Vec<String> = (0..20)
        .map(|i| k1.sign_as(&format!("made-up-{i}"), &issuer.access_claims("x")))
        .collect();
    let refusals = futures_like_join(&verifier, &junk).await;
    assert!(refusals
        .iter()
        .all(|r| r.as_ref().err().map(String::as_str) == Some("token signed by an unknown key")));
    assert_eq!(
        refusal(&verifier, &rotated).await,
        "token signed by an unknown key"
    );
    assert_eq!(issuer.jwks_requests(), 1);

    // A short interval: once it has passed, a burst of unknown keys fetches once.
    let verifier = Arc::new(
        issuer
            .verifier()
            .await
            .with_min_refetch(Duration::from_millis(300)),
    );
    assert_eq!(issuer.jwks_requests(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refusals = futures_like_join(&verifier, &junk).await;
    assert!(refusals.iter().all(|r| r.is_err()));
    assert_eq!(issuer.jwks_requests(), 3);
}

/// `tokens` verified concurrently (each on its own task).
async fn futures_like_join(
    verifier: &Arc<OidcVerifier>,
    tokens: &[String],
) -> Vec<Result<String, String>> {
    let tasks: Vec<_> = tokens
        .iter()
        .map(|t| {
            let (verifier, token) = (Arc::clone(verifier), t.clone());
            tokio::spawn(async move { verifier.verify(&token).await.map_err(|e| e.0) })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn discovery_failures_name_the_problem() {
    let k1 = key(1);
    let other = Issuer::start_with(&[&k1], Some("https://someone.else"), 0).await;
    let err = OidcVerifier::discover(&other.base, CLIENT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::IssuerMismatch { found, .. } if found == "https://someone.else"),
        "{err}"
    );
    let huge = Issuer::start_with(&[&k1], None, 1 << 20).await;
    let err = OidcVerifier::discover(&huge.base, CLIENT)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot fetch {}/keys.json: larger than 1048576 bytes",
            huge.base
        )
    );
    let empty = Issuer::start(&[]).await;
    let err = OidcVerifier::discover(&empty.base, CLIENT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no RS256 signing key"), "{err}");
    // Nothing listens there (a port just freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = format!("http://127.0.0.1:{port}");
    let err = OidcVerifier::discover(&gone, CLIENT).await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot fetch {gone}/.well-known/openid-configuration: "
        )),
        "{err}"
    );
    for bad in [
        "cognito-idp.eu-west-1.amazonaws.com/pool",
        "ftp://x",
        "https://",
    ] {
        assert!(matches!(
            OidcVerifier::discover(bad, CLIENT).await,
            Err(OidcError::IssuerUrl(_))
        ));
    }
}

/// A path under the workspace.
fn workspace_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// A service over the sample library with Alice's API key, and the given
/// token verifier and sign-in page; its base URL.
async fn serve(
    data_dir: &Path,
    verifier: Option<Arc<dyn TokenVerifier>>,
    sign_in: Option<SignIn>,
    limits: Limits,
) -> String {
    let mut keys = ApiKeys::default();
    keys.insert("alice", ALICE_KEY);
    let config = ApiConfig {
        data_dir: data_dir.to_path_buf(),
        libraries: vec![("sample".into(), vec![workspace_path("sample/library")])],
        store_libraries: Vec::new(),
        masks: vec![workspace_path("sample/masks")],
        keys,
        token_verifier: verifier,
        sign_in,
        limits,
    };
    let service = Service::open(config, Arc::new(DirectRunner)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(cdsearch_service::serve(listener, service));
    base
}

/// GET `path` with `token` (if any): status and JSON body.
async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_users_see_only_their_own_searches() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let verifier: Arc<dyn TokenVerifier> = Arc::new(issuer.verifier().await);
    let sign_in = SignIn::new(&format!("{}/", issuer.base), CLIENT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = serve(dir.path(), Some(verifier), Some(sign_in), Limits::default()).await;

    let (status, config) = get(&base, "/config", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        config,
        json!({"signIn": {"domain": issuer.base, "clientId": CLIENT, "scopes": ["openid", "email"]}})
    );

    let access = k1.sign(&issuer.access_claims("user-jwt"));
    let id_token = k1.sign(&issuer.id_claims("user-jwt"));
    let response = reqwest::Client::new()
        .post(format!("{base}/searches"))
        .bearer_auth(&access)
        .json(&json!({"libraries": ["sample"], "maskRefs": ["12191_JRC2018U.tif"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // The ID token names the same user.
    for token in [&access, &id_token] {
        let (status, list) = get(&base, "/searches", Some(token)).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&list), std::slice::from_ref(&id));
    }
    let (status, list) = get(&base, "/searches", Some(ALICE_KEY)).await;
    assert_eq!(status, 200);
    assert!(ids(&list).is_empty(), "{list}");
    let (status, _) = get(&base, &format!("/searches/{id}"), Some(ALICE_KEY)).await;
    assert_eq!(status, 404);

    let expired = {
        let mut claims = issuer.access_claims("user-jwt");
        claims["exp"] = json!(now() - 3600);
        k1.sign(&claims)
    };
    let (status, body) = get(&base, "/searches", Some(&expired)).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "unauthorized", "message": "token expired"})
    );
    let (status, body) = get(&base, "/searches", Some("x.y.z")).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (
            401,
            "token is not a well-formed JWT: its header cannot be read"
        )
    );
    let (status, body) = get(&base, "/searches", Some("not-a-key")).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (401, "unknown API key")
    );
    let (status, body) = get(&base, "/searches", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "missing API key or sign-in token: send the header `Authorization: Bearer <API key or \
         sign-in token>`"
    );
}

#[tokio::test]
async fn a_signed_in_user_is_rate_limited_by_subject() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let verifier: Arc<dyn TokenVerifier> = Arc::new(issuer.verifier().await);
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        request_burst: 2,
        requests_per_minute: 1,
        ..Limits::default()
    };
    let base = serve(dir.path(), Some(verifier), None, limits).await;
    let access = k1.sign(&issuer.access_claims("user-jwt"));
    let id_token = k1.sign(&issuer.id_claims("user-jwt"));
    let other = k1.sign(&issuer.access_claims("someone-else"));
    assert_eq!(get(&base, "/searches", Some(&access)).await.0, 200);
    assert_eq!(get(&base, "/searches", Some(&id_token)).await.0, 200);
    // Two tokens, one user, one budget.
    let (status, body) = get(&base, "/searches", Some(&access)).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (429, "rate_limited")
    );
    assert_eq!(get(&base, "/searches", Some(&other)).await.0, 200);
    assert_eq!(get(&base, "/searches", Some(ALICE_KEY)).await.0, 200);
    // /config is never limited.
    for _ in 0..4 {
        assert_eq!(get(&base, "/config", None).await.0, 200);
    }
}

#[tokio::test]
async fn without_sign_in_config_says_null_and_jwts_are_unknown_keys() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let dir = tempfile::tempdir().unwrap();
    let base = serve(dir.path(), None, None, Limits::default()).await;
    let response = reqwest::get(format!("{base}/config")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"signIn": null})
    );
    let token = k1.sign(&issuer.access_claims("user-jwt"));
    let (status, body) = get(&base, "/searches", Some(&token)).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (401, "unknown API key")
    );
    assert_eq!(get(&base, "/searches", Some(ALICE_KEY)).await.0, 200);
    let (status, body) = get(&base, "/searches", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "missing API key: send the header `Authorization: Bearer <API key>`"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_config_without_security() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(dir.path(), None, None, Limits::default()).await;
    let (status, doc) = get(&base, "/openapi.json", None).await;
    assert_eq!(status, 200);
    let config = &doc["paths"]["/config"]["get"];
    assert!(config.get("security").is_none(), "{config}");
    let responses = config["responses"].as_object().unwrap();
    assert_eq!(responses.keys().collect::<Vec<_>>(), ["200"]);
    assert_eq!(
        config["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ClientConfig"
    );
    let schema = &doc["components"]["schemas"]["ClientConfig"];
    assert_eq!(schema["required"], json!(["signIn"]), "{schema}");
    let sign_in = &doc["components"]["schemas"]["SignIn"];
    assert_eq!(
        sign_in["required"],
        json!(["domain", "clientId", "scopes"]),
        "{sign_in}"
    );
    // Authenticated operations keep their 429.
    assert!(doc["paths"]["/searches"]["get"]["responses"]["429"].is_object());
}
