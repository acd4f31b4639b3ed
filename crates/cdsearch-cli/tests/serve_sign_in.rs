//! `cdsearch serve --oidc-issuer --oidc-client-id --sign-in-domain`: the
//! binary reads an issuer's discovery document and keys at start, accepts
//! its tokens beside API keys, tells the web client where to sign in
//! (`GET /config`), and refuses to start with an issuer it cannot use.

mod api_common;
#[path = "../../cdsearch-service/tests/oidc_issuer/mod.rs"]
mod oidc_issuer;

use api_common::{spawn_serve, ALICE};

use oidc_issuer::{key, now, Issuer, CLIENT};
use serde_json::{json, Value};
use std::process::Command;

/// GET `path` with `token` (if any): status, `Cache-Control` and JSON body.
async fn get(base: &str, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status().as_u16(),
        cache,
        response.json().await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_accepts_the_issuers_tokens_and_api_keys_and_names_the_sign_in_page() {
    let k1 = key(1);
    let issuer = Issuer::start(&[&k1]).await;
    let dir = tempfile::tempdir().unwrap();
    let domain = format!("{}/", issuer.base);
    let (mut child, base) = spawn_serve(
        dir.path(),
        &[
            "--oidc-issuer",
            &issuer.base,
            "--oidc-client-id",
            CLIENT,
            "--sign-in-domain",
            &domain,
        ],
    )
    .await;
    assert_eq!(issuer.jwks_requests(), 1);

    let (status, cache, config) = get(&base, "/config", None).await;
    assert_eq!((status, cache.as_str()), (200, "no-cache"));
    assert_eq!(
        config,
        json!({"signIn": {"domain": issuer.base, "clientId": CLIENT, "scopes": ["openid", "email"]}})
    );
    let access = k1.sign(&issuer.access_claims("user-1"));
    assert_eq!(get(&base, "/searches", Some(&access)).await.0, 200);
    assert_eq!(get(&base, "/searches", Some(ALICE)).await.0, 200);
    let mut claims = issuer.access_claims("user-1");
    claims["client_id"] = json!("someone-else");
    let (status, _, body) = get(&base, "/searches", Some(&k1.sign(&claims))).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (401, "token is for another client")
    );
    claims = issuer.access_claims("user-1");
    claims["exp"] = json!(now() - 120);
    let (status, _, body) = get(&base, "/searches", Some(&k1.sign(&claims))).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (401, "token expired")
    );
    child.start_kill().unwrap();
}

#[tokio::test]
async fn serve_without_sign_in_answers_null_config() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = spawn_serve(dir.path(), &[]).await;
    let (status, _, config) = get(&base, "/config", None).await;
    assert_eq!((status, config), (200, json!({"signIn": null})));
    child.start_kill().unwrap();
}

/// Runs `cdsearch serve` with `args` expecting it to fail; its stderr.
fn start_failure(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cdsearch"))
        .args(["serve", "--addr", "127.0.0.1:0", "--runtime", "direct"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--api-key", &format!("alice:{ALICE}")])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn serve_refuses_incomplete_or_unusable_sign_in_settings() {
    let stderr = start_failure(&["--oidc-issuer", "http://127.0.0.1:9"]);
    assert!(stderr.contains("--oidc-client-id <ID>"), "{stderr}");
    let stderr = start_failure(&["--oidc-client-id", "c"]);
    assert!(stderr.contains("--oidc-issuer <URL>"), "{stderr}");
    let stderr = start_failure(&["--sign-in-domain", "https://x.example"]);
    assert!(
        stderr.contains("--oidc-issuer <URL>") && stderr.contains("--oidc-client-id <ID>"),
        "{stderr}"
    );
    let stderr = start_failure(&[
        "--oidc-issuer",
        "http://127.0.0.1:9",
        "--oidc-client-id",
        "c",
        "--sign-in-domain",
        "x.auth.eu-west-1.amazoncognito.com",
    ]);
    assert!(
        stderr.contains(
            "sign-in domain \"x.auth.eu-west-1.amazoncognito.com\" is not an http:// or https:// URL"
        ),
        "{stderr}"
    );
    // Nothing listens there (a port just freed): start-up fails naming the URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");
    let stderr = start_failure(&["--oidc-issuer", &issuer, "--oidc-client-id", "c"]);
    assert!(
        stderr.contains(&format!(
            "cannot fetch {issuer}/.well-known/openid-configuration"
        )),
        "{stderr}"
    );
}
