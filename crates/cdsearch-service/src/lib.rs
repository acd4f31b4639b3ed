//! The search service over HTTP (axum): submit searches with uploaded or
//! stored masks, watch their progress, page through ranked results (JSON or
//! CSV), list libraries, fetch images and thumbnails, read the OpenAPI
//! document; and the web client, served from the same router.
//!
//! Searches run on a background thread through a [`SearchRunner`] (by
//! default [`JobRunner`]: burst jobs on the local runtime) and are
//! stored under a data directory ([`store`]), so a restarted server keeps
//! every finished search, runs the queued ones, and resumes or marks
//! interrupted the ones that were running. Callers
//! authenticate with API keys (bearer tokens) or, with a [`TokenVerifier`]
//! (the `oidc` feature's `oidc::OidcVerifier`), the JWTs of a signed-in
//! user; a user sees only their own searches. `GET /config` tells the web
//! client where users sign in ([`SignIn`]), if anywhere. The router knows
//! nothing of how it is served: `cdsearch serve` binds it to a local port.

pub mod auth;
pub mod catalog;
mod edges;
pub mod error;
pub mod image_routes;
pub mod images;
pub mod limits;
pub mod match_routes;
pub mod model;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod openapi;
pub mod outcome;
pub mod platform;
pub mod redact;
pub mod request;
pub mod routes;
pub mod runner;
pub mod searches;
pub mod store;
pub mod upload;
mod web;

pub use auth::{ApiKeys, Auth, GatewayUser, SignIn, SignInError, TokenRejected, TokenVerifier};
pub use limits::Limits;
pub use platform::{ImageData, LocalPlatform, SearchPlatform};
pub use runner::{DirectRunner, JobRunner, SearchRunner};

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
pub use catalog::StoreLibrary;
use catalog::{Catalog, Collection, ServedLibrary};
use limits::RateLimiter;
use platform::LocalPlatform as Local;
use redact::Redactor;
use searches::Searches;
use std::path::PathBuf;
use std::sync::Arc;
use store::Store;

/// What a server serves and how.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Where searches and results are stored.
    pub data_dir: PathBuf,
    /// Target libraries: name and directories (or image files).
    pub libraries: Vec<(String, Vec<PathBuf>)>,
    /// Libraries in object stores, offered after the local ones.
    pub store_libraries: Vec<StoreLibrary>,
    /// Directories (or files) of the stored masks searches may reference.
    pub masks: Vec<PathBuf>,
    /// The API keys.
    pub keys: ApiKeys,
    /// Verifies the JWTs of signed-in users, accepted besides the API keys.
    pub token_verifier: Option<Arc<dyn TokenVerifier>>,
    /// Where the web client signs users in (`GET /config`); `None`: API keys.
    pub sign_in: Option<SignIn>,
    /// Upload, mask, rate and time limits.
    pub limits: Limits,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A library or the stored masks could not be listed.
    #[error("library {name}: {source}")]
    Library {
        /// The library's name.
        name: String,
        /// The underlying error.
        source: cdsearch::library::LibraryError,
    },
    /// The data directory could not be opened.
    #[error("data directory {path}: {source}")]
    Store {
        /// The data directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A running service: where its searches are, who may use it, its limits.
pub struct Service {
    platform: Arc<dyn SearchPlatform>,
    auth: Auth,
    sign_in: Option<SignIn>,
    limits: Limits,
    request_limiter: RateLimiter,
    submit_limiter: RateLimiter,
}

impl Service {
    /// The embedded service: lists the libraries and masks, opens the store
    /// and starts running its queued searches with `runner`; callers
    /// authenticate with the configured API keys (and JWTs, with a verifier).
    pub fn open(
        config: ApiConfig,
        runner: Arc<dyn SearchRunner>,
    ) -> Result<Arc<Self>, ServiceError> {
        let collection = |name: &str, paths: &[PathBuf]| {
            Collection::discover(name, paths).map_err(|source| ServiceError::Library {
                name: name.to_owned(),
                source,
            })
        };
        let mut libraries = config
            .libraries
            .iter()
            .map(|(name, paths)| collection(name, paths).map(|c| ServedLibrary::Files(Arc::new(c))))
            .collect::<Result<Vec<_>, _>>()?;
        libraries.extend(
            config
                .store_libraries
                .iter()
                .map(|l| ServedLibrary::Store(Arc::new(l.clone()))),
        );
        let catalog = Arc::new(Catalog {
            libraries,
            masks: collection("masks", &config.masks)?,
        });
        let store_error = |source| ServiceError::Store {
            path: config.data_dir.clone(),
            source,
        };
        let store = Store::open(&config.data_dir).map_err(store_error)?;
        let redactor = config
            .libraries
            .iter()
            .flat_map(|(name, paths)| paths.iter().map(move |p| (p, format!("library {name}"))))
            .chain(config.masks.iter().map(|p| (p, "stored masks".to_owned())))
            .fold(
                Redactor::default().with(&config.data_dir, "the data directory"),
                |r, (path, label)| r.with(path, &label),
            );
        let searches = Searches::open(
            store,
            Arc::clone(&catalog),
            runner,
            &config.limits,
            redactor,
        )
        .map_err(store_error)?;
        let auth = match config.token_verifier {
            Some(verifier) => Auth::KeysAndTokens {
                keys: config.keys,
                verifier,
            },
            None => Auth::Keys(config.keys),
        };
        Ok(Self::with_sign_in(
            Arc::new(Local::new(catalog, searches)),
            auth,
            config.limits,
            config.sign_in,
        ))
    }

    /// A service over any platform (e.g. one on AWS), with `auth` and
    /// `limits`, and no sign-in page.
    pub fn new(platform: Arc<dyn SearchPlatform>, auth: Auth, limits: Limits) -> Arc<Self> {
        Self::with_sign_in(platform, auth, limits, None)
    }

    /// [`Self::new`] whose web client signs users in through `sign_in`.
    pub fn with_sign_in(
        platform: Arc<dyn SearchPlatform>,
        auth: Auth,
        limits: Limits,
        sign_in: Option<SignIn>,
    ) -> Arc<Self> {
        Arc::new(Self {
            platform,
            auth,
            sign_in,
            request_limiter: RateLimiter::new(limits.request_burst, limits.requests_per_minute),
            submit_limiter: RateLimiter::new(limits.submit_burst, limits.submits_per_minute),
            limits,
        })
    }
}

/// The router of the API and the web client.
pub fn router(service: Arc<Service>) -> Router {
    let limit = service.limits.max_upload_bytes;
    Router::new()
        .route(
            "/searches",
            get(routes::list_searches).post(routes::create_search),
        )
        .route(
            "/searches/{id}",
            get(routes::get_search).delete(routes::delete_search),
        )
        .route("/searches/{id}/results", get(routes::get_results))
        .route(
            "/searches/{id}/masks/{index}/image",
            get(routes::search_mask_png),
        )
        .route(
            "/searches/{id}/masks/{index}/thumbnail",
            get(routes::search_mask_thumbnail_png),
        )
        .route(
            "/searches/{id}/masks/{index}/matches/{library}/{*image}",
            get(match_routes::search_matches_png),
        )
        .route("/libraries", get(routes::list_libraries))
        .route(
            "/libraries/{library}/images/{*image}",
            get(routes::library_image_png),
        )
        .route(
            "/libraries/{library}/thumbnails/{*image}",
            get(routes::library_thumbnail_png),
        )
        .route("/masks", get(routes::list_masks))
        .route("/masks/images/{*name}", get(routes::stored_mask_png))
        .route(
            "/masks/thumbnails/{*name}",
            get(routes::stored_mask_thumbnail_png),
        )
        .route("/openapi.json", get(openapi::document))
        .route("/config", get(auth::client_config))
        .merge(web::routes())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&service),
            edges::early_size_check,
        ))
        .layer(axum::middleware::from_fn(edges::json_errors))
        .with_state(service)
}

/// Serves the router on `listener` until the future is dropped or fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
) -> std::io::Result<()> {
    axum::serve(listener, router(service)).await
}
