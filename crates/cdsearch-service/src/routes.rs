//! The HTTP handlers of the API. Each one parses its request, calls the
//! service, and answers JSON, CSV or PNG; errors are [`ApiError`]s.

use crate::auth::User;
use crate::edges::media_type_is;
use crate::error::ApiError;
use crate::model::{
    ErrorBody, HitView, LibraryView, MaskPage, MaskView, ResultsPage, SearchRecord, SearchView,
    StoredMaskView,
};
use crate::platform::{blocking, ImageData};
use crate::request::{validate, FieldError, Known, SearchRequest, MAX_RESULTS_PER_MASK};
use crate::searches::Submission;
use crate::store::MaskData;
use crate::upload;
use crate::Service;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use burst::time::now_ms;
use cdsearch::neuronbridge::{custom_matches, CustomMatches, HitFiles};
use cdsearch::results::CsvHit;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

pub use crate::image_routes::*;

type ApiResult<T> = Result<T, ApiError>;

/// Percent-encodes each `/`-separated segment of `path` for use in a URL.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The masks of a search with links to their images.
fn mask_views(record: &SearchRecord) -> Vec<MaskView> {
    record
        .masks
        .iter()
        .enumerate()
        .map(|(index, m)| MaskView {
            index,
            name: m.name.clone(),
            image_url: format!("/searches/{}/masks/{index}/image", record.id),
            thumbnail_url: format!("/searches/{}/masks/{index}/thumbnail", record.id),
        })
        .collect()
}

fn search_view(record: SearchRecord) -> SearchView {
    let elapsed_ms = record.started_ms.map_or(0, |start| {
        record
            .finished_ms
            .unwrap_or_else(now_ms)
            .saturating_sub(start)
    });
    SearchView {
        masks: mask_views(&record),
        results_url: format!("/searches/{}/results", record.id),
        id: record.id,
        status: record.status,
        progress: record.progress,
        elapsed_secs: elapsed_ms as f64 / 1000.0,
        created_ms: record.created_ms,
        errors: record.errors,
        params: record.params,
    }
}

/// An uploaded mask as received: its file name and data.
#[derive(Debug)]
struct Upload {
    name: String,
    received: upload::Received,
}

/// The parts of a search submission before validation.
#[derive(Debug, Default)]
struct RawSubmission {
    params: serde_json::Value,
    uploads: Vec<Upload>,
    errors: Vec<FieldError>,
}

fn body_error(limit: usize, status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!(
            "request body larger than the limit of {limit} bytes"
        ))
    } else {
        ApiError::field("body", text)
    }
}

fn parse_json(field: &str, bytes: &[u8]) -> Result<serde_json::Value, FieldError> {
    serde_json::from_slice(bytes)
        .map_err(|e| FieldError::new(field, format!("expected a JSON object: {e}")))
}

/// Reads a submission: multipart (`params` JSON part, `mask` file parts,
/// each streamed to the platform's upload directory) or a JSON body (stored
/// masks only). Other media types → 415.
async fn read_submission(
    service: &Arc<Service>,
    headers: &HeaderMap,
    req: Request,
) -> ApiResult<RawSubmission> {
    let limit = service.limits.max_upload_bytes;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut raw = RawSubmission {
        params: serde_json::json!({}),
        ..RawSubmission::default()
    };
    if media_type_is(content_type, "multipart/form-data") {
        let upload_dir = service.platform.upload_dir();
        let mut multipart = Multipart::from_request(req, service)
            .await
            .map_err(|e| body_error(limit, e.status(), e.body_text()))?;
        loop {
            let field = multipart
                .next_field()
                .await
                .map_err(|e| body_error(limit, e.status(), e.body_text()))?;
            let Some(field) = field else { break };
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            match name.as_str() {
                "params" => {
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| body_error(limit, e.status(), e.body_text()))?;
                    match parse_json("params", &bytes) {
                        Ok(v) => raw.params = v,
                        Err(e) => raw.errors.push(e),
                    }
                }
                "mask" => {
                    let received = upload::receive(field, upload_dir.as_deref())
                        .await
                        .map_err(|e| match e {
                            upload::ReceiveError::Body(e) => {
                                body_error(limit, e.status(), e.body_text())
                            }
                            upload::ReceiveError::Disk(e) => {
                                ApiError::Internal(format!("cannot receive an upload: {e}"))
                            }
                        })?;
                    let index = raw.uploads.len();
                    raw.uploads.push(Upload {
                        name: file_name.unwrap_or_else(|| format!("mask-{index}")),
                        received,
                    });
                }
                other => raw.errors.push(FieldError::new(
                    other,
                    "unknown part; expected `params` (JSON) or `mask` (an image file, repeatable)",
                )),
            }
        }
    } else if media_type_is(content_type, "application/json") {
        let bytes = Bytes::from_request(req, service)
            .await
            .map_err(|e| body_error(limit, e.status(), e.body_text()))?;
        match parse_json("body", &bytes) {
            Ok(v) => raw.params = v,
            Err(e) => return Err(ApiError::Invalid(vec![e])),
        }
    } else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "unsupported content type {content_type:?}: expected multipart/form-data or application/json"
        )));
    }
    Ok(raw)
}

/// The `Idempotency-Key` header, if any (1-255 visible ASCII characters).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, FieldError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(s) if (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(s.to_owned()))
        }
        _ => Err(FieldError::new(
            "Idempotency-Key",
            "expected 1 to 255 visible ASCII characters",
        )),
    }
}

/// The announced body size, when it is given.
fn content_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Submit a search.
#[utoipa::path(post, path = "/searches", tag = "searches",
    request_body(description = "JSON (stored masks only), or multipart/form-data with a `params` part holding this JSON and one `mask` file part per uploaded mask (PNG or TIFF)",
        content((SearchRequest = "application/json"), (SearchRequest = "multipart/form-data"))),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Retries with the same key (1-255 visible ASCII characters) return the same search")),
    responses(
        (status = 202, description = "Search queued", body = SearchView),
        (status = 200, description = "Same Idempotency-Key and request as an earlier submission: that search", body = SearchView),
        (status = 400, description = "Invalid request: every bad field is listed", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 409, description = "A submission with the same Idempotency-Key is still being stored; retry", body = ErrorBody),
        (status = 413, description = "Body larger than the upload limit", body = ErrorBody),
        (status = 415, description = "Body neither multipart/form-data nor application/json", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for a different request", body = ErrorBody),
        (status = 429, description = "Rate limit exceeded (see Retry-After)", body = ErrorBody),
        (status = 507, description = "The server's storage for searches is full", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_search(
    State(service): State<Arc<Service>>,
    user: User,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<Response> {
    service
        .submit_limiter
        .take(&user.key, Instant::now())
        .map_err(ApiError::RateLimited)?;
    service
        .platform
        .check_space(content_length(&headers))
        .await?;
    let raw = read_submission(&service, &headers, req).await?;
    let mut errors = raw.errors;
    let key = idempotency_key(&headers)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let library_names: Vec<String> = service
        .platform
        .libraries()
        .into_iter()
        .map(|l| l.name)
        .collect();
    let stored = service.platform.stored_masks();
    let known = Known {
        libraries: &library_names,
        masks: &stored,
        max_masks: service.limits.max_masks,
        shape_stage_unavailable: service.platform.shape_stage_unavailable(),
    };
    let valid = validate(&raw.params, raw.uploads.len(), known).map_err(|e| errors.extend(e));
    let uploads = raw.uploads;
    let mut refs = Vec::new();
    if let Ok(valid) = &valid {
        for name in &valid.mask_refs {
            let image = service.platform.stored_mask(name).await?;
            refs.push((name.clone(), image));
        }
    }
    // Uploads are read back and decoded one at a time, off the async
    // threads; stored masks are digested from their files.
    let (masks, digests, bad) = blocking(move || {
        let mut bad = Vec::new();
        let (mut masks, mut digests) = (Vec::new(), Vec::new());
        for (i, upload) in uploads.into_iter().enumerate() {
            let bytes = upload
                .received
                .data
                .read()
                .map_err(|e| ApiError::Internal(format!("cannot read an upload: {e}")))?;
            if let Err(e) = cds::decode_rgb(&bytes) {
                bad.push(FieldError::new(
                    format!("mask[{i}]"),
                    format!("{:?} is not a readable PNG or TIFF image: {e}", upload.name),
                ));
            }
            drop(bytes);
            digests.push((upload.received.len, upload.received.digest));
            masks.push((upload.name, upload.received.data));
        }
        for (name, image) in refs {
            match image {
                ImageData::File(path) => {
                    digests.push(upload::digest_file(&path)?);
                    masks.push((name, MaskData::File(path)));
                }
                ImageData::Fetched { bytes, .. } => {
                    digests.push((bytes.len() as u64, cdsearch::hash::fnv1a(&bytes)));
                    masks.push((name, MaskData::Bytes(bytes)));
                }
            }
        }
        Ok((masks, digests, bad))
    })
    .await?;
    errors.extend(bad);
    let valid = match valid {
        Ok(valid) if errors.is_empty() => valid,
        _ => return Err(ApiError::Invalid(errors)),
    };
    let fingerprint = fingerprint(&valid.params, &masks, &digests);
    let submission = Submission {
        owner: user.name,
        idempotency_key: key,
        fingerprint,
        params: valid.params,
        masks,
    };
    let (record, created) = service.platform.submit(submission).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let location = HeaderValue::from_str(&format!("/searches/{}", record.id))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(search_view(record)),
    )
        .into_response())
}

/// A digest of the parameters and the masks (names, sizes and digests of
/// their bytes).
fn fingerprint(
    params: &crate::request::SearchParams,
    masks: &[(String, MaskData)],
    digests: &[(u64, u64)],
) -> String {
    let mut digest = upload::Digest::default();
    digest.update(&serde_json::to_vec(params).unwrap_or_default());
    for ((name, _), (len, data)) in masks.iter().zip(digests) {
        digest.update(name.as_bytes());
        digest.update(&len.to_le_bytes());
        digest.update(&data.to_le_bytes());
    }
    format!("{:016x}", digest.value())
}

/// Delete a search, its files (masks, results) and the state its job left.
#[utoipa::path(delete, path = "/searches/{id}", tag = "searches",
    params(("id" = String, Path, description = "Search id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
        (status = 404, description = "No such search of yours", body = ErrorBody),
        (status = 409, description = "The search (or its job) is running: delete it once it has ended", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_search(
    State(service): State<Arc<Service>>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    service.platform.delete(&user.name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List your searches, newest first.
#[utoipa::path(get, path = "/searches", tag = "searches",
    responses((status = 200, body = Vec<SearchView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_searches(
    State(service): State<Arc<Service>>,
    user: User,
) -> ApiResult<Json<Vec<SearchView>>> {
    let records = service.platform.list(&user.name).await?;
    Ok(Json(records.into_iter().map(search_view).collect()))
}

/// Status and progress of a search.
#[utoipa::path(get, path = "/searches/{id}", tag = "searches",
    params(("id" = String, Path, description = "Search id")),
    responses((status = 200, body = SearchView), (status = 401, body = ErrorBody),
        (status = 404, description = "No such search of yours", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_search(
    State(service): State<Arc<Service>>,
    user: User,
    Path(id): Path<String>,
) -> ApiResult<Json<SearchView>> {
    Ok(Json(search_view(
        service.platform.get(&user.name, &id).await?,
    )))
}

/// Query parameters of the results.
#[derive(Debug, PartialEq, Eq)]
struct ResultsQuery {
    page: usize,
    per_page: usize,
    format: ResultsFormat,
}

/// How the results are answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResultsFormat {
    /// A [`ResultsPage`].
    Json,
    /// One row per hit (see [`csv_response`]).
    Csv,
    /// NeuronBridge's result JSON (see [`neuronbridge_response`]).
    NeuronBridge,
}

/// The largest page number accepted.
pub const MAX_PAGE: usize = i32::MAX as usize;

/// Hits per mask per page when not asked.
const DEFAULT_PER_PAGE: usize = 100;

fn results_query(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ResultsQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut number = |field: &str, default: usize, max: usize| match query.get(field) {
        None => default,
        Some(s) => match s.parse::<usize>() {
            Ok(v) if (1..=max).contains(&v) => v,
            _ => {
                errors.push(FieldError::new(
                    field,
                    format!("expected an integer from 1 to {max}, got {s:?}"),
                ));
                default
            }
        },
    };
    let page = number("page", 1, MAX_PAGE);
    let per_page = number("perPage", DEFAULT_PER_PAGE, MAX_RESULTS_PER_MASK as usize);
    let accept_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let format = match query.get("format").map(String::as_str) {
        None if accept_csv => ResultsFormat::Csv,
        None | Some("json") => ResultsFormat::Json,
        Some("csv") => ResultsFormat::Csv,
        Some("neuronbridge") => ResultsFormat::NeuronBridge,
        Some(other) => {
            errors.push(FieldError::new(
                "format",
                format!("expected json, csv or neuronbridge, got {other:?}"),
            ));
            ResultsFormat::Json
        }
    };
    for key in query
        .keys()
        .filter(|k| !["page", "perPage", "format", "access_token"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(
            key.clone(),
            "unknown query parameter; expected page, perPage or format",
        ));
    }
    if errors.is_empty() {
        Ok(ResultsQuery {
            page,
            per_page,
            format,
        })
    } else {
        Err(errors)
    }
}

/// Ranked hits of a finished search, per mask, paginated (JSON or CSV).
#[utoipa::path(get, path = "/searches/{id}/results", tag = "searches",
    params(("id" = String, Path, description = "Search id"),
        ("page" = Option<usize>, Query, minimum = 1, maximum = 2147483647, description = "Page, from 1 (default 1)"),
        ("perPage" = Option<usize>, Query, minimum = 1, maximum = 10000, description = "Hits per mask per page, 1-10000 (default 100)"),
        ("format" = Option<String>, Query, description = "json (default), csv, or neuronbridge (NeuronBridge's result JSON: per mask `inputImage` and `results` of CDSMatch entries sorted by matchingPixels); `Accept: text/csv` also selects CSV")),
    responses((status = 200, description = "A page of results",
            content((ResultsPage = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The search is not done", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_results(
    State(service): State<Arc<Service>>,
    user: User,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let query = results_query(&query, &headers).map_err(ApiError::Invalid)?;
    let record = service.platform.get(&user.name, &id).await?;
    let outcome = service.platform.results(&user.name, &id).await?;
    let start = (query.page - 1).saturating_mul(query.per_page);
    let most = outcome
        .masks
        .iter()
        .map(|m| m.hits.len())
        .max()
        .unwrap_or(0);
    let masks: Vec<MaskPage> = outcome
        .masks
        .iter()
        .zip(mask_views(&record))
        .map(|(m, view)| MaskPage {
            mask: view,
            mask_pixels: m.mask_pixels,
            total_hits: m.hits.len(),
            results: m
                .hits
                .iter()
                .enumerate()
                .skip(start)
                .take(query.per_page)
                .map(|(i, h)| HitView {
                    rank: i + 1,
                    image_url: format!(
                        "/libraries/{}/images/{}",
                        encode_path(&h.library_name),
                        encode_path(&h.image_name)
                    ),
                    thumbnail_url: format!(
                        "/libraries/{}/thumbnails/{}",
                        encode_path(&h.library_name),
                        encode_path(&h.image_name)
                    ),
                    hit: h.clone(),
                })
                .collect(),
        })
        .collect();
    match query.format {
        ResultsFormat::Csv => return csv_response(&record.id, &masks),
        ResultsFormat::NeuronBridge => return Ok(neuronbridge_response(&masks).into_response()),
        ResultsFormat::Json => {}
    }
    Ok(Json(ResultsPage {
        search_id: record.id,
        page: query.page,
        per_page: query.per_page,
        pages: most.div_ceil(query.per_page),
        targets: outcome.targets,
        searched: outcome.searched,
        skipped: outcome.skipped.clone(),
        masks,
    })
    .into_response())
}

/// A results page as CSV: `mask,rank,target,matchingPixels,matchingRatio,
/// mirrored,library` (the `cdsearch search --format csv` columns, then the
/// library), and for searches that ran the shape stage its columns
/// (`shapeScored,gradientAreaGap,highExpressionArea,shapeScore,normalizedScore`).
fn csv_response(id: &str, masks: &[MaskPage]) -> ApiResult<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ApiError::Internal(format!("cannot write CSV: {e}"));
    let hits = || {
        masks
            .iter()
            .flat_map(|page| page.results.iter().map(move |hit| (page, hit)))
    };
    let shaped = hits().any(|(_, hit)| hit.hit.shape.is_some());
    w.write_record(CsvHit::header(&["library"], shaped))
        .map_err(csv_err)?;
    for (page, hit) in hits() {
        let row = CsvHit {
            mask: &page.mask.name,
            rank: hit.rank,
            image_name: &hit.hit.image_name,
            matching_pixels: hit.hit.matching_pixels,
            matching_ratio: hit.hit.matching_ratio,
            mirrored: hit.hit.mirrored,
            shape: hit.hit.shape.as_ref(),
        };
        w.write_record(row.cells(&[&hit.hit.library_name], shaped))
            .map_err(csv_err)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("cannot write CSV: {e}")))?;
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"search-{id}.csv\""))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// A results page as NeuronBridge's result JSON: per mask, its
/// `inputImage` and `results` (CDSMatch entries) with the API's image URLs.
fn neuronbridge_response(masks: &[MaskPage]) -> Json<Vec<CustomMatches>> {
    Json(
        masks
            .iter()
            .map(|page| {
                custom_matches(
                    &page.mask.name,
                    &page.mask.image_url,
                    page.results.iter().map(|h| HitFiles {
                        image_name: &h.hit.image_name,
                        matching_pixels: h.hit.matching_pixels,
                        mirrored: h.hit.mirrored,
                        shape: h.hit.shape.as_ref(),
                        library_name: &h.hit.library_name,
                        image: &h.image_url,
                        thumbnail: Some(&h.thumbnail_url),
                    }),
                )
            })
            .collect(),
    )
}

/// The libraries that can be searched, with their image counts.
#[utoipa::path(get, path = "/libraries", tag = "libraries",
    responses((status = 200, body = Vec<LibraryView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_libraries(
    State(service): State<Arc<Service>>,
    _user: User,
) -> Json<Vec<LibraryView>> {
    Json(service.platform.libraries())
}

/// The masks stored on the server, which searches can name in `maskRefs`.
#[utoipa::path(get, path = "/masks", tag = "libraries",
    responses((status = 200, body = Vec<StoredMaskView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_masks(
    State(service): State<Arc<Service>>,
    _user: User,
) -> Json<Vec<StoredMaskView>> {
    Json(
        service
            .platform
            .stored_masks()
            .into_iter()
            .map(|name| StoredMaskView {
                image_url: format!("/masks/images/{}", encode_path(&name)),
                thumbnail_url: format!("/masks/thumbnails/{}", encode_path(&name)),
                name,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_path("a b/c%d.tif"), "a%20b/c%25d.tif");
        assert_eq!(encode_path("VT0_1-x.tif"), "VT0_1-x.tif");
    }

    #[test]
    fn results_query_names_bad_parameters() {
        let q: HashMap<String, String> = [
            ("page", "0"),
            ("perPage", "x"),
            ("format", "xml"),
            ("sort", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut fields: Vec<String> = results_query(&q, &HeaderMap::new())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(fields, ["format", "page", "perPage", "sort"]);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
        assert_eq!(
            results_query(&HashMap::new(), &headers).unwrap(),
            ResultsQuery {
                page: 1,
                per_page: 100,
                format: ResultsFormat::Csv
            }
        );
    }
}
