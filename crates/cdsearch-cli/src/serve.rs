//! `cdsearch serve`: the search service (HTTP API and web client) on a local port.

use crate::s3_url::s3_url;
use crate::search::Runtime;
use anyhow::{bail, Context};
use cdsearch_service::oidc::OidcVerifier;
use cdsearch_service::{
    ApiConfig, ApiKeys, DirectRunner, JobRunner, Limits, SearchRunner, Service, SignIn,
    StoreLibrary,
};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Options of `cdsearch serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Directory where searches and results are stored (created if missing).
    #[arg(long, default_value = "cdsearch-data")]
    data_dir: PathBuf,
    /// A library to offer, as NAME=DIR or (built with the `aws` feature)
    /// NAME=s3://BUCKET/PREFIX, a library `cdsearch library upload` wrote, in
    /// either form (repeatable). Default: sample=sample/library.
    #[arg(long = "library", value_name = "NAME=DIR|NAME=s3://BUCKET/PREFIX")]
    libraries: Vec<String>,
    /// Directory of stored masks that searches may reference. Default: sample/masks.
    #[arg(long = "masks", value_name = "DIR")]
    masks: Vec<PathBuf>,
    /// An API key as USER:TOKEN (repeatable); also read from CDSEARCH_API_KEYS
    /// (comma-separated). Without any, a key for user "local" is made up and printed.
    #[arg(long = "api-key", value_name = "USER:TOKEN")]
    api_keys: Vec<String>,
    /// Also accept the JWTs (access or ID tokens, RS256) of this OpenID
    /// Connect issuer, e.g. a Cognito user pool
    /// (https://cognito-idp.REGION.amazonaws.com/POOL_ID) or a Keycloak realm;
    /// the user is the token's `sub`. Its discovery document
    /// (ISSUER/.well-known/openid-configuration) and keys are read at start.
    /// Requires --oidc-client-id; API keys keep working.
    #[arg(long, value_name = "URL", requires = "oidc_client_id")]
    oidc_issuer: Option<String>,
    /// The app client the tokens of --oidc-issuer must be for (their `aud`
    /// or `client_id`). Requires --oidc-issuer.
    #[arg(long, value_name = "ID", requires = "oidc_issuer")]
    oidc_client_id: Option<String>,
    /// The hosted sign-in page (OAuth 2.0 authorization code with PKCE) the
    /// web client signs users in through, as app client --oidc-client-id with
    /// the scopes openid and email: a Cognito domain such as
    /// https://NAME.auth.REGION.amazoncognito.com (the client uses its
    /// /oauth2/authorize, /oauth2/token and /logout). Without it the web
    /// client asks for an API key. Requires --oidc-issuer and --oidc-client-id.
    #[arg(long, value_name = "URL", requires_all = ["oidc_issuer", "oidc_client_id"])]
    sign_in_domain: Option<String>,
    /// Largest request body (uploads) in MiB.
    #[arg(long, default_value_t = Limits::default().max_upload_bytes >> 20)]
    max_upload_mib: usize,
    /// Most masks in one search.
    #[arg(long, default_value_t = Limits::default().max_masks)]
    max_masks: usize,
    /// Searches one API key may submit per minute (bursts of --submit-burst).
    #[arg(long, default_value_t = Limits::default().submits_per_minute)]
    submits_per_minute: u32,
    /// Searches one API key may submit at once.
    #[arg(long, default_value_t = Limits::default().submit_burst)]
    submit_burst: u32,
    /// Requests one API key may make per minute (bursts of --request-burst).
    #[arg(long, default_value_t = Limits::default().requests_per_minute)]
    requests_per_minute: u32,
    /// Requests one API key may make at once.
    #[arg(long, default_value_t = Limits::default().request_burst)]
    request_burst: u32,
    /// A search running longer than this many seconds stops as timed out.
    #[arg(long, default_value_t = Limits::default().search_timeout.as_secs())]
    search_timeout_secs: u64,
    /// Delete finished searches this many days after they ended (a sweep runs
    /// at start and every 10 minutes; fractions allowed, e.g. 0.5). Default:
    /// keep them until deleted with `DELETE /searches/{id}`.
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    retention_days: Option<Duration>,
    /// Most bytes the data directory may hold (searches, results, runtime
    /// state, thumbnails); when full, submissions are answered 507
    /// Insufficient Storage until searches are deleted or expire. Default: no cap.
    #[arg(long, value_name = "BYTES")]
    max_data_bytes: Option<u64>,
    /// How searches run: `local` as jobs on the burst framework's local
    /// runtime (kept under DATA_DIR/runtime, so a job that ends while the
    /// server is down is picked up after a restart), `direct` in one
    /// parallel loop. Both give the same ranking.
    #[arg(long, value_enum, default_value_t = Runtime::Local)]
    runtime: Runtime,
    /// Where AWS is, for `s3://` libraries.
    #[cfg(feature = "aws")]
    #[command(flatten)]
    aws: crate::aws_args::AwsArgs,
}

/// A positive number of days as a duration.
fn parse_days(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(days) if days.is_finite() && days > 0.0 && days < 1e6 => {
            Ok(Duration::from_secs_f64(days * 86_400.0))
        }
        _ => Err(format!("expected a positive number of days, got {text:?}")),
    }
}

/// `NAME=DIR` or `NAME=s3://...` → (name, where).
fn parse_library(spec: &str) -> anyhow::Result<(&str, &str)> {
    match spec.split_once('=') {
        Some((name, place)) if !name.is_empty() && !place.is_empty() && !name.contains('/') => {
            Ok((name, place))
        }
        _ => bail!(
            "invalid --library {spec:?}: expected NAME=DIR or NAME=s3://BUCKET/PREFIX (a name \
             without '/')"
        ),
    }
}

/// The library `name` at `s3://bucket/prefix`, described once.
#[cfg(feature = "aws")]
fn store_library(
    args: &ServeArgs,
    name: &str,
    (bucket, prefix): (String, String),
) -> anyhow::Result<StoreLibrary> {
    let tokio = crate::aws_args::tokio_runtime()?;
    let library =
        crate::aws_args::describe_bucket_library(&tokio, &args.aws, &bucket, &prefix, name)?;
    Ok(StoreLibrary {
        params: library.params,
        store: library.store,
    })
}

/// Without AWS support, a library in a bucket is refused by name.
#[cfg(not(feature = "aws"))]
fn store_library(
    _args: &ServeArgs,
    name: &str,
    (bucket, prefix): (String, String),
) -> anyhow::Result<StoreLibrary> {
    bail!(
        "--library {name}=s3://{bucket}/{prefix}: this cdsearch was built without AWS support; \
         build it with the `aws` feature (cargo install --path crates/cdsearch-cli --features aws)"
    )
}

impl ServeArgs {
    /// The web client's sign-in page, from --sign-in-domain.
    fn sign_in(&self) -> anyhow::Result<Option<SignIn>> {
        let (Some(domain), Some(client_id)) = (&self.sign_in_domain, &self.oidc_client_id) else {
            return Ok(None);
        };
        Ok(Some(
            SignIn::new(domain, client_id)
                .context("invalid --sign-in-domain or --oidc-client-id")?,
        ))
    }

    /// The verifier of --oidc-issuer's tokens, after reading its discovery
    /// document and keys.
    async fn token_verifier(&self) -> anyhow::Result<Option<OidcVerifier>> {
        let (Some(issuer), Some(client_id)) = (&self.oidc_issuer, &self.oidc_client_id) else {
            return Ok(None);
        };
        let verifier = OidcVerifier::discover(issuer, client_id)
            .await
            .with_context(|| format!("--oidc-issuer {issuer}: cannot use this issuer"))?;
        Ok(Some(verifier))
    }

    fn config(&self) -> anyhow::Result<(ApiConfig, Option<String>)> {
        let (mut libraries, mut store_libraries) = (Vec::new(), Vec::new());
        for spec in &self.libraries {
            let (name, place) = parse_library(spec)?;
            match s3_url(place) {
                Some(url) => store_libraries.push(store_library(self, name, url)?),
                None => libraries.push((name.to_owned(), vec![PathBuf::from(place)])),
            }
        }
        if libraries.is_empty() && store_libraries.is_empty() {
            libraries.push(("sample".to_owned(), vec![PathBuf::from("sample/library")]));
        }
        let masks = if self.masks.is_empty() && PathBuf::from("sample/masks").is_dir() {
            vec![PathBuf::from("sample/masks")]
        } else {
            self.masks.clone()
        };
        let mut keys = match std::env::var("CDSEARCH_API_KEYS") {
            Ok(list) => ApiKeys::parse(&list).context("invalid CDSEARCH_API_KEYS")?,
            Err(_) => ApiKeys::default(),
        };
        for entry in &self.api_keys {
            keys.add_entry(entry).context("invalid --api-key")?;
        }
        let generated = keys.is_empty().then(|| {
            let token = uuid::Uuid::new_v4().simple().to_string();
            keys.insert("local", &token);
            token
        });
        let limits = Limits {
            max_upload_bytes: self.max_upload_mib << 20,
            max_masks: self.max_masks,
            submit_burst: self.submit_burst,
            submits_per_minute: self.submits_per_minute,
            request_burst: self.request_burst,
            requests_per_minute: self.requests_per_minute,
            search_timeout: Duration::from_secs(self.search_timeout_secs),
            retention: self.retention_days,
            max_data_bytes: self.max_data_bytes,
            ..Limits::default()
        };
        let config = ApiConfig {
            data_dir: self.data_dir.clone(),
            libraries,
            store_libraries,
            masks,
            keys,
            token_verifier: None,
            sign_in: self.sign_in()?,
            limits,
        };
        Ok((config, generated))
    }
}

/// Runs `cdsearch serve` until interrupted.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, generated) = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(verifier) = runtime.block_on(args.token_verifier())? {
        config.token_verifier = Some(Arc::new(verifier));
    }
    let runner: Arc<dyn SearchRunner> = match args.runtime {
        Runtime::Local => Arc::new(JobRunner::open(&config.data_dir.join("runtime"))?),
        Runtime::Direct => Arc::new(DirectRunner),
    };
    let service = Service::open(config, runner)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        match &generated {
            Some(token) => println!(
                "cdsearch serving on http://{addr}/#token={token}  (API key for user \"local\": {token})"
            ),
            None => println!("cdsearch serving on http://{addr}/"),
        }
        tokio::select! {
            served = cdsearch_service::serve(listener, service) => served.context("server failed"),
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                Ok(())
            }
        }
    })
}
