//! The OpenAPI 3.1 document of the API, generated from the handlers and
//! types (utoipa) and served at `/openapi.json`.

use crate::model;
use crate::request;
use crate::routes;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "cdsearch", description = "Color depth search of neuron images (NeuronBridge-compatible parameters and results)."),
    paths(
        routes::create_search,
        routes::list_searches,
        routes::get_search,
        routes::get_results,
        routes::list_libraries,
        routes::list_masks,
        routes::library_image_png,
        routes::library_thumbnail_png,
        routes::stored_mask_png,
        routes::stored_mask_thumbnail_png,
        routes::search_mask_png,
        routes::search_mask_thumbnail_png,
    ),
    components(schemas(request::SearchRequest, request::SearchParams, request::FieldError, model::Status,
        model::Progress, model::SearchView, model::MaskView, model::ResultsPage, model::MaskPage,
        model::HitView, model::ApiHit, model::SkippedTarget, model::LibraryView,
        model::StoredMaskView, model::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key of the server (`cdsearch serve --api-key USER:TOKEN`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
