//! The OpenAPI 3.1 document of the API, generated from the handlers and
//! types (utoipa) and served at `/openapi.json`.

use crate::auth;
use crate::model;
use crate::request;
use crate::routes;
use crate::Service;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
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
        routes::delete_search,
        routes::get_results,
        routes::list_libraries,
        routes::list_masks,
        routes::library_image_png,
        routes::library_thumbnail_png,
        routes::stored_mask_png,
        routes::stored_mask_thumbnail_png,
        routes::search_mask_png,
        routes::search_mask_thumbnail_png,
        crate::match_routes::search_matches_png,
        auth::client_config,
    ),
    components(schemas(request::SearchRequest, request::SearchParams, request::FieldError, model::Status,
        model::Progress, model::SearchView, model::MaskView, model::ResultsPage, model::MaskPage,
        model::HitView, model::ApiHit, model::SkippedTarget, model::LibraryView,
        model::StoredMaskView, model::ErrorBody, auth::ClientConfig, auth::SignIn)),
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
                        "An API key of the server (`cdsearch serve --api-key USER:TOKEN`), or \
                         the access or ID token (JWT) of a user signed in through the issuer \
                         `GET /config` names",
                    ))
                    .build(),
            ),
        );
    }
}

/// What a served document states beyond the code: the server's libraries,
/// stored masks and limits, so that every request the document allows is
/// one the server accepts.
#[derive(Clone, Debug)]
pub struct ServerFacts {
    /// Names of the libraries.
    pub libraries: Vec<String>,
    /// Names of the stored masks.
    pub masks: Vec<String>,
    /// Most masks in one search.
    pub max_masks: usize,
    /// Whether the shape stage can run.
    pub shape_stage: bool,
}

/// `GET /openapi.json`: the document with this server's facts.
pub async fn document(State(service): State<Arc<Service>>) -> Json<Value> {
    let facts = ServerFacts {
        libraries: service
            .platform
            .libraries()
            .into_iter()
            .map(|l| l.name)
            .collect(),
        masks: service.platform.stored_masks(),
        max_masks: service.limits.max_masks,
        shape_stage: service.platform.shape_stage_unavailable().is_none(),
    };
    Json(document_for(&facts))
}

/// The OpenAPI document of a server with `facts`: the generated one with
/// every constraint of [`request::validate`] stated on the request bodies
/// (ranges, enums, lengths, the exclusive pair `maskThreshold` /
/// `maskThresholds`, and one threshold per mask), and each body media type
/// with its own schema.
pub fn document_for(facts: &ServerFacts) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let request = search_request_schema(facts);
    let stored = facts.masks.len().min(facts.max_masks);
    let json_body = {
        let mut body = request.clone();
        body["properties"]["maskRefs"]["minItems"] = json!(1);
        body["required"] = json!(["libraries", "maskRefs"]);
        body["anyOf"] = Value::Array(
            std::iter::once(json!({"not": {"required": ["maskThresholds"]}}))
                .chain((1..=stored).map(|n| {
                    json!({
                        "required": ["maskRefs", "maskThresholds"],
                        "properties": {
                            "maskRefs": {"minItems": n, "maxItems": n},
                            "maskThresholds": {"minItems": n, "maxItems": n}
                        }
                    })
                }))
                .collect(),
        );
        body
    };
    let multipart_body = {
        // One alternative per (uploads, stored masks) count: at least one
        // mask, at most `max_masks`, and `maskThresholds` (if given) one
        // per mask.
        let counts = (0..=facts.max_masks)
            .flat_map(|u| (0..=stored.min(facts.max_masks - u)).map(move |r| (u, r)))
            .filter(|&(u, r)| u + r >= 1);
        let alternatives: Vec<Value> = counts
            .map(|(u, r)| {
                let mut params = json!({
                    "properties": {"maskRefs": {"minItems": r, "maxItems": r}},
                    "anyOf": [
                        {"not": {"required": ["maskThresholds"]}},
                        {"properties": {"maskThresholds": {"minItems": u + r, "maxItems": u + r}}}
                    ]
                });
                if r > 0 {
                    params["required"] = json!(["maskRefs"]);
                }
                let mut alternative = json!({
                    "properties": {
                        "mask": {"minItems": u, "maxItems": u},
                        "params": params
                    }
                });
                if u > 0 {
                    alternative["required"] = json!(["params", "mask"]);
                }
                alternative
            })
            .collect();
        json!({
            "type": "object",
            "description": "`params`: the search's parameters as JSON; `mask`: one image file \
                (PNG or TIFF) per uploaded mask",
            "required": ["params"],
            "additionalProperties": false,
            "properties": {
                "params": request,
                "mask": {
                    "type": "array",
                    "items": {"type": "string", "contentMediaType": "image/png"},
                    "maxItems": facts.max_masks
                }
            },
            "encoding": {
                "params": {"contentType": "application/json"},
                "mask": {"contentType": "image/png, image/tiff"}
            },
            "anyOf": alternatives
        })
    };
    let content = &mut doc["paths"]["/searches"]["post"]["requestBody"]["content"];
    content["application/json"]["schema"] = json_body;
    let multipart = &mut content["multipart/form-data"];
    multipart["encoding"] = multipart_body["encoding"].clone();
    if let Value::Object(schema) = multipart_body {
        let mut schema = schema;
        schema.remove("encoding");
        multipart["schema"] = Value::Object(schema);
    }
    doc["components"]["schemas"]["SearchRequest"] = search_request_schema(facts);
    // A hit carries the shape stage's fields (flattened) or none of them.
    doc["components"]["schemas"]["ApiHit"]["allOf"][0] = json!({"anyOf": [
        {"not": {"required": ["shapeScored"]}},
        {"$ref": "#/components/schemas/ShapeResult"}
    ]});
    let results = &mut doc["paths"]["/searches/{id}/results"]["get"];
    if let Some(params) = results["parameters"].as_array_mut() {
        for param in params.iter_mut().filter(|p| p["name"] == "format") {
            param["schema"] = json!({"type": "string", "enum": ["json", "csv", "neuronbridge"]});
        }
    }
    results["responses"]["200"]["content"]["application/json"]["schema"] = json!({"oneOf": [
        {"$ref": "#/components/schemas/ResultsPage"},
        {
            "type": "array",
            "description": "`format=neuronbridge`: NeuronBridge's result JSON, one entry per mask",
            "items": {"type": "object", "required": ["inputImage", "results"]}
        }
    ]});
    answer_everywhere(&mut doc);
    doc
}

/// Adds the answers any operation can give: 429 (rate limit of the key) to
/// every authenticated one, and 500 where an image is read.
fn answer_everywhere(doc: &mut Value) {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let authenticated = operation.get("security").is_some();
            let responses = &mut operation["responses"];
            if authenticated && responses.get("429").is_none() {
                responses["429"] = error("Rate limit of this API key exceeded (see Retry-After)");
            }
            let image = path.contains("/images/")
                || path.contains("/thumbnails/")
                || path.contains("/masks/{index}/");
            if image && responses.get("500").is_none() {
                responses["500"] = error(
                    "The image cannot be read or decoded on the server (the message names it)",
                );
            }
        }
    }
}

/// The schema of a search's parameters as [`request::validate`] checks them.
fn search_request_schema(facts: &ServerFacts) -> Value {
    let generated =
        serde_json::to_value(<request::SearchRequest as utoipa::PartialSchema>::schema())
            .unwrap_or_default();
    let describe = |field: &str, mut schema: Value| {
        if let Some(text) = generated["properties"][field].get("description") {
            schema["description"] = text.clone();
        }
        schema
    };
    let byte = json!({"type": "integer", "minimum": 0, "maximum": 255});
    let percent = json!({"type": "number", "minimum": 0, "maximum": 100});
    let names = |names: &[String]| json!({"type": "string", "enum": names});
    let max_refs = facts.masks.len().min(facts.max_masks);
    let mut shape = json!({"type": "boolean"});
    if !facts.shape_stage {
        shape["enum"] = json!([false]);
    }
    json!({
        "type": "object",
        "description": generated.get("description").cloned().unwrap_or(Value::Null),
        "required": ["libraries"],
        "additionalProperties": false,
        "not": {"required": ["maskThreshold", "maskThresholds"]},
        "properties": {
            "libraries": describe("libraries", json!({
                "type": "array", "items": names(&facts.libraries),
                "minItems": 1, "uniqueItems": true
            })),
            "maskRefs": describe("maskRefs", json!({
                "type": "array", "items": names(&facts.masks),
                "uniqueItems": true, "maxItems": max_refs
            })),
            "maskThreshold": describe("maskThreshold", byte.clone()),
            "maskThresholds": describe("maskThresholds", json!({
                "type": "array", "items": byte.clone(), "minItems": 1, "maxItems": facts.max_masks
            })),
            "dataThreshold": describe("dataThreshold", byte),
            "pixColorFluctuation": describe("pixColorFluctuation", percent.clone()),
            "xyShift": describe("xyShift", json!({"type": "integer", "enum": request::XY_SHIFTS})),
            "mirrorMask": describe("mirrorMask", json!({"type": "boolean"})),
            "minMatchingPixRatio": describe("minMatchingPixRatio", percent),
            "maxResultsPerMask": describe("maxResultsPerMask", json!({
                "type": "integer", "minimum": 1, "maximum": request::MAX_RESULTS_PER_MASK
            })),
            "shape": describe("shape", shape),
            "shapeTop": describe("shapeTop", json!({
                "type": "integer", "minimum": 1, "maximum": request::MAX_SHAPE_TOP
            })),
            "label": describe("label", json!({
                "type": "string", "maxLength": request::MAX_LABEL_CHARS,
                "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
            })),
        }
    })
}
