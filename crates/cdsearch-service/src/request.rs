//! The body of `POST /searches`: its JSON shape, the reference defaults, and a
//! validator that names every bad field at once (pure: values in, values out).

use burst::JobRequest;
use cds::pixel_match::MatchParams;
use cdsearch::job::{
    search_request, JobError, LibraryParameters, SearchJobParameters, ShapeJobParameters,
};
use cdsearch::shape_stage::DEFAULT_SHAPE_TOP;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Hits kept per mask when `maxResultsPerMask` is not given (NeuronBridge's
/// value for custom searches).
pub const DEFAULT_MAX_RESULTS_PER_MASK: u64 = 500;
/// The largest `maxResultsPerMask` accepted.
pub const MAX_RESULTS_PER_MASK: u64 = 10_000;
/// The `xyShift` values accepted, as NeuronBridge offers them.
pub const XY_SHIFTS: [u64; 3] = [0, 2, 4];
/// The largest `shapeTop` accepted.
pub const MAX_SHAPE_TOP: u64 = 1_000;

/// The parameters of a search as a client sends them (JSON body, or the
/// `params` part of a multipart upload). Every field but `libraries` has the
/// reference service's default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// Names of the libraries to search (see `GET /libraries`), at least one.
    pub libraries: Vec<String>,
    /// Names of stored masks (see `GET /masks`) to search, after the uploaded ones.
    #[serde(default)]
    pub mask_refs: Vec<String>,
    /// One mask threshold (0-255) for every mask; default 100.
    pub mask_threshold: Option<u8>,
    /// One mask threshold (0-255) per mask, uploads first then `maskRefs`
    /// (excludes `maskThreshold`).
    pub mask_thresholds: Option<Vec<u8>>,
    /// A target pixel can match only above this value (0-255); default 100.
    pub data_threshold: Option<u8>,
    /// Color tolerance in percent (0-100); default 2.0.
    pub pix_color_fluctuation: Option<f64>,
    /// Shift tried in x and y, in pixels: 0, 2 or 4; default 0.
    pub xy_shift: Option<u32>,
    /// Also score the mirrored mask; default false.
    pub mirror_mask: Option<bool>,
    /// Minimum matching ratio of a hit in percent (0-100); default 2.0.
    pub min_matching_pix_ratio: Option<f64>,
    /// Hits kept per mask (1-10000); default 500.
    pub max_results_per_mask: Option<u64>,
    /// Run the shape stage: shape-score the best `shapeTop` hits of each
    /// mask and rank by normalized score; default false.
    pub shape: Option<bool>,
    /// Hits per mask (best by pixel match) that get a shape score (1-1000);
    /// default 300.
    pub shape_top: Option<u64>,
    /// A name for the search, shown in lists (at most 120 characters, no
    /// control characters); optional.
    pub label: Option<String>,
}

/// Validated parameters of a search, defaults filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchParams {
    /// Libraries searched, in order.
    pub libraries: Vec<String>,
    /// Mask threshold per mask (uploads first, then stored masks).
    pub mask_thresholds: Vec<u8>,
    /// Target threshold.
    pub data_threshold: u8,
    /// Color tolerance in percent.
    pub pix_color_fluctuation: f64,
    /// Shift in pixels.
    pub xy_shift: u32,
    /// Whether the mirrored mask is scored too.
    pub mirror_mask: bool,
    /// Minimum matching ratio of a hit, in percent.
    pub min_matching_pix_ratio: f64,
    /// Hits kept per mask.
    pub max_results_per_mask: usize,
    /// Whether the shape stage runs.
    #[serde(default)]
    pub shape: bool,
    /// Hits per mask that get a shape score when `shape` is set.
    #[serde(default = "default_shape_top")]
    pub shape_top: usize,
    /// The search's name, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

fn default_shape_top() -> usize {
    DEFAULT_SHAPE_TOP
}

impl SearchParams {
    /// The job parameters of the shape stage (`shape`, `shapeTop`).
    pub fn shape_job_parameters(&self) -> ShapeJobParameters {
        ShapeJobParameters {
            shape: self.shape,
            shape_top: self.shape_top,
        }
    }

    /// The job request of a search with these parameters: the masks at
    /// `mask_keys` of `search_bucket`, over `libraries` (the requested ones,
    /// in order), in batches of `batch_size` targets.
    pub fn job_request(
        &self,
        search_bucket: &str,
        mask_keys: Vec<String>,
        libraries: Vec<LibraryParameters>,
        batch_size: u64,
    ) -> Result<JobRequest, JobError> {
        let params = SearchJobParameters::new(
            search_bucket,
            mask_keys,
            self.mask_thresholds.clone(),
            &self.match_params(0),
            self.max_results_per_mask,
            libraries,
        );
        search_request(&params, &self.shape_job_parameters(), batch_size)
    }

    /// The pixel-match parameters for mask `mask` (its own threshold).
    pub fn match_params(&self, mask: usize) -> MatchParams {
        MatchParams {
            mask_threshold: self.mask_thresholds[mask],
            data_threshold: self.data_threshold,
            pix_color_fluctuation: self.pix_color_fluctuation,
            xy_shift: self.xy_shift,
            mirror_mask: self.mirror_mask,
            min_matching_pix_ratio: self.min_matching_pix_ratio,
        }
    }
}

/// One bad field of a request and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field: a JSON name (`dataThreshold`), an element
    /// (`maskThresholds[1]`), or an uploaded part (`mask[0]`).
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FieldError {
    /// An error on `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What the server knows that a request is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    /// Names of the configured libraries.
    pub libraries: &'a [String],
    /// Names of the stored masks.
    pub masks: &'a [String],
    /// Most masks (uploaded plus stored) in one search.
    pub max_masks: usize,
    /// Why the shape stage cannot run on this server, if it cannot.
    pub shape_stage_unavailable: Option<&'a str>,
}

/// A request that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidRequest {
    /// The parameters, defaults filled in.
    pub params: SearchParams,
    /// Stored masks searched after the uploads.
    pub mask_refs: Vec<String>,
}

const FIELDS: [&str; 13] = [
    "libraries",
    "maskRefs",
    "maskThreshold",
    "maskThresholds",
    "dataThreshold",
    "pixColorFluctuation",
    "xyShift",
    "mirrorMask",
    "minMatchingPixRatio",
    "maxResultsPerMask",
    "shape",
    "shapeTop",
    "label",
];

/// Checks a request body against the schema of [`SearchRequest`] and the
/// server's libraries, stored masks and limits, given `uploads` uploaded
/// masks. Returns every bad field, not just the first.
pub fn validate(
    body: &Value,
    uploads: usize,
    known: Known<'_>,
) -> Result<ValidRequest, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new(
            "body",
            format!("expected a JSON object, got {}", kind(body)),
        )]);
    };
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(
            key.clone(),
            format!("unknown field; expected one of {}", FIELDS.join(", ")),
        ));
    }
    let libraries = names(obj, "libraries", known.libraries, "library", &mut errors);
    if obj.contains_key("libraries") && libraries.as_ref().is_some_and(Vec::is_empty) {
        errors.push(FieldError::new(
            "libraries",
            "expected at least one library name",
        ));
    }
    if !obj.contains_key("libraries") {
        errors.push(FieldError::new(
            "libraries",
            format!(
                "required: a list of library names, of {}",
                known.libraries.join(", ")
            ),
        ));
    }
    let mask_refs = if obj.contains_key("maskRefs") {
        names(obj, "maskRefs", known.masks, "stored mask", &mut errors)
    } else {
        Some(Vec::new())
    };
    let n_masks = uploads + mask_refs.as_ref().map_or(0, Vec::len);
    if mask_refs.is_some() && n_masks == 0 {
        errors.push(FieldError::new(
            "masks",
            "expected at least one mask: upload a `mask` part or name stored masks in `maskRefs`",
        ));
    }
    if n_masks > known.max_masks {
        errors.push(FieldError::new(
            "masks",
            format!(
                "{n_masks} masks given; at most {} per search",
                known.max_masks
            ),
        ));
    }
    let mask_thresholds = mask_thresholds(obj, n_masks, &mut errors);
    let data_threshold = integer(obj, "dataThreshold", 0, 255, &mut errors).map(|v| v as u8);
    let pix_color_fluctuation = number(obj, "pixColorFluctuation", &mut errors);
    let xy_shift = xy_shift(obj, &mut errors);
    let mirror_mask = boolean(obj, "mirrorMask", &mut errors);
    let min_matching_pix_ratio = number(obj, "minMatchingPixRatio", &mut errors);
    let max_results = integer(
        obj,
        "maxResultsPerMask",
        1,
        MAX_RESULTS_PER_MASK,
        &mut errors,
    );
    let shape = boolean(obj, "shape", &mut errors);
    if let (Some(true), Some(why)) = (shape, known.shape_stage_unavailable) {
        errors.push(FieldError::new("shape", why));
    }
    let shape_top = integer(obj, "shapeTop", 1, MAX_SHAPE_TOP, &mut errors);
    let label = label(obj, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let defaults = MatchParams::default();
    Ok(ValidRequest {
        params: SearchParams {
            libraries: libraries.unwrap_or_default(),
            mask_thresholds: mask_thresholds.unwrap_or_default(),
            data_threshold: data_threshold.unwrap_or(defaults.data_threshold),
            pix_color_fluctuation: pix_color_fluctuation.unwrap_or(defaults.pix_color_fluctuation),
            xy_shift: xy_shift.unwrap_or(defaults.xy_shift),
            mirror_mask: mirror_mask.unwrap_or(defaults.mirror_mask),
            min_matching_pix_ratio: min_matching_pix_ratio
                .unwrap_or(defaults.min_matching_pix_ratio),
            max_results_per_mask: max_results.unwrap_or(DEFAULT_MAX_RESULTS_PER_MASK) as usize,
            shape: shape.unwrap_or(false),
            shape_top: shape_top.map_or(DEFAULT_SHAPE_TOP, |k| k as usize),
            label,
        },
        mask_refs: mask_refs.unwrap_or_default(),
    })
}

/// The JSON type of `v`, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A list of distinct names, each one of `allowed`. `None` when absent or bad.
fn names(
    obj: &Map<String, Value>,
    field: &str,
    allowed: &[String],
    what: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    let value = obj.get(field)?;
    let Some(items) = value.as_array() else {
        errors.push(FieldError::new(
            field,
            format!("expected an array of {what} names, got {}", kind(value)),
        ));
        return None;
    };
    let before = errors.len();
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = format!("{field}[{i}]");
        match item.as_str() {
            None => errors.push(FieldError::new(
                name,
                format!("expected a {what} name (string), got {}", kind(item)),
            )),
            Some(s) if !allowed.iter().any(|a| a == s) => errors.push(FieldError::new(
                name,
                format!(
                    "unknown {what} {s:?}; expected one of {}",
                    allowed.join(", ")
                ),
            )),
            Some(s) if out.iter().any(|o| o == s) => errors.push(FieldError::new(
                name,
                format!("{what} {s:?} is listed twice"),
            )),
            Some(s) => out.push(s.to_owned()),
        }
    }
    (errors.len() == before).then_some(out)
}

/// An integer in `min..=max`; `None` when absent or bad.
fn integer(
    obj: &Map<String, Value>,
    field: &str,
    min: u64,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let value = obj.get(field)?;
    checked_integer(value, field, min, max, errors)
}

fn checked_integer(
    value: &Value,
    field: &str,
    min: u64,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    let expected = || format!("an integer from {min} to {max}");
    checked(
        field,
        value,
        whole_number(value),
        |v| (min..=max).contains(&v),
        expected,
        errors,
    )
}

/// A JSON number that is a non-negative whole number, as JSON Schema's
/// `integer` counts them (`3` and `3.0` alike).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
            .map(|f| f as u64)
    })
}

/// `parsed` (the field's value read as a `T`) when it is there and `valid`;
/// otherwise `None`, and an error saying what was `expected`.
fn checked<T: Copy>(
    field: &str,
    value: &Value,
    parsed: Option<T>,
    valid: impl Fn(T) -> bool,
    expected: impl FnOnce() -> String,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match parsed {
        Some(v) if valid(v) => Some(v),
        _ => {
            errors.push(FieldError::new(
                field,
                format!("expected {}, got {value}", expected()),
            ));
            None
        }
    }
}

/// A finite percentage in 0..=100; `None` when absent or bad.
fn number(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<f64> {
    let value = obj.get(field)?;
    let percent = |v: f64| (0.0..=100.0).contains(&v);
    let expected = || "a number from 0 to 100 (percent)".to_owned();
    checked(field, value, value.as_f64(), percent, expected, errors)
}

fn boolean(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    let value = obj.get(field)?;
    let expected = || "true or false".to_owned();
    checked(field, value, value.as_bool(), |_| true, expected, errors)
}

/// The longest `label` accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 120;

/// The optional `label`: trimmed, `None` when absent or blank.
fn label(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = obj.get("label")?;
    let expected =
        || format!("a string of at most {MAX_LABEL_CHARS} characters without control characters");
    let text = checked(
        "label",
        value,
        value.as_str(),
        |s| s.chars().count() <= MAX_LABEL_CHARS && !s.chars().any(char::is_control),
        expected,
        errors,
    )?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn xy_shift(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<u32> {
    let value = obj.get("xyShift")?;
    let expected = || "0, 2 or 4 (pixels)".to_owned();
    let shift = checked(
        "xyShift",
        value,
        whole_number(value),
        |v| XY_SHIFTS.contains(&v),
        expected,
        errors,
    );
    shift.map(|v| v as u32)
}

/// One threshold per mask, from `maskThreshold` (shared) or `maskThresholds`
/// (one each); the reference default when neither is given.
fn mask_thresholds(
    obj: &Map<String, Value>,
    n_masks: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<u8>> {
    let default = MatchParams::default().mask_threshold;
    match (obj.get("maskThreshold"), obj.get("maskThresholds")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "maskThresholds",
                "give either maskThreshold (one for all masks) or maskThresholds (one per mask), not both",
            ));
            None
        }
        (Some(v), None) => {
            checked_integer(v, "maskThreshold", 0, 255, errors).map(|t| vec![t as u8; n_masks])
        }
        (None, Some(v)) => {
            let Some(items) = v.as_array() else {
                errors.push(FieldError::new(
                    "maskThresholds",
                    format!(
                        "expected an array of integers from 0 to 255, got {}",
                        kind(v)
                    ),
                ));
                return None;
            };
            if items.len() != n_masks {
                errors.push(FieldError::new(
                    "maskThresholds",
                    format!(
                        "expected one threshold per mask ({n_masks}), got {}",
                        items.len()
                    ),
                ));
            }
            let before = errors.len();
            let out: Vec<u8> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    checked_integer(item, &format!("maskThresholds[{i}]"), 0, 255, errors)
                })
                .map(|t| t as u8)
                .collect();
            (errors.len() == before).then_some(out)
        }
        (None, None) => Some(vec![default; n_masks]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known<'a>(libraries: &'a [String], masks: &'a [String]) -> Known<'a> {
        Known {
            libraries,
            masks,
            max_masks: 3,
            shape_stage_unavailable: None,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn fills_reference_defaults() {
        let libs = vec!["sample".to_owned()];
        let masks = vec!["m.tif".to_owned()];
        let ok = validate(
            &json!({"libraries": ["sample"], "maskRefs": ["m.tif"]}),
            1,
            known(&libs, &masks),
        )
        .unwrap();
        assert_eq!(ok.mask_refs, ["m.tif"]);
        let p = ok.params;
        assert_eq!(p.mask_thresholds, [100, 100]);
        assert_eq!(p.data_threshold, 100);
        assert_eq!(p.pix_color_fluctuation, 2.0);
        assert_eq!(p.xy_shift, 0);
        assert!(!p.mirror_mask);
        assert_eq!(p.min_matching_pix_ratio, 2.0);
        assert_eq!(p.max_results_per_mask, 500);
        assert!(!p.shape);
        assert_eq!(p.shape_top, 300);
        assert_eq!(p.label, None);
        assert_eq!(p.match_params(1), MatchParams::default());
    }

    #[test]
    fn label_is_optional_trimmed_and_bounded() {
        let libs = vec!["sample".to_owned()];
        let body = |label: Value| json!({"libraries": ["sample"], "label": label});
        let check = |label: Value| validate(&body(label), 1, known(&libs, &[]));
        assert_eq!(
            check(json!("  DNp11 left "))
                .unwrap()
                .params
                .label
                .as_deref(),
            Some("DNp11 left")
        );
        assert_eq!(check(json!("   ")).unwrap().params.label, None);
        for bad in [
            json!(7),
            json!("a\nb"),
            json!("x".repeat(MAX_LABEL_CHARS + 1)),
        ] {
            assert_eq!(fields(&check(bad).unwrap_err()), ["label"]);
        }
    }

    #[test]
    fn names_every_bad_field() {
        let libs = vec!["sample".to_owned()];
        let body = json!({
            "libraries": ["nope", 3],
            "maskThresholds": [300, 1],
            "dataThreshold": -1,
            "pixColorFluctuation": "x",
            "xyShift": 3,
            "mirrorMask": 1,
            "minMatchingPixRatio": 101,
            "maxResultsPerMask": 0,
            "shape": "yes",
            "shapeTop": 1001,
            "colour": 1
        });
        let errors = validate(&body, 1, known(&libs, &[])).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "colour",
                "libraries[0]",
                "libraries[1]",
                "maskThresholds",
                "maskThresholds[0]",
                "dataThreshold",
                "pixColorFluctuation",
                "xyShift",
                "mirrorMask",
                "minMatchingPixRatio",
                "maxResultsPerMask",
                "shape",
                "shapeTop"
            ]
        );
        assert!(
            errors[12].message.contains("from 1 to 1000, got 1001"),
            "{:?}",
            errors[12]
        );
        assert!(errors[1].message.contains("\"nope\""), "{:?}", errors[1]);
        assert!(errors[3].message.contains("(1), got 2"), "{:?}", errors[3]);
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let libs = vec!["sample".to_owned()];
        let ok = validate(
            &json!({"libraries": ["sample"], "maxResultsPerMask": 3792.0, "xyShift": 2.0}),
            1,
            known(&libs, &[]),
        )
        .unwrap();
        assert_eq!(ok.params.max_results_per_mask, 3792);
        assert_eq!(ok.params.xy_shift, 2);
        let e = validate(
            &json!({"libraries": ["sample"], "maxResultsPerMask": 3.5}),
            1,
            known(&libs, &[]),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["maxResultsPerMask"]);
    }

    #[test]
    fn mask_count_limits() {
        let libs = vec!["sample".to_owned()];
        let none = validate(&json!({"libraries": ["sample"]}), 0, known(&libs, &[])).unwrap_err();
        assert_eq!(fields(&none), ["masks"]);
        let many = validate(&json!({"libraries": ["sample"]}), 4, known(&libs, &[])).unwrap_err();
        assert_eq!(fields(&many), ["masks"]);
        assert!(many[0].message.contains("at most 3"));
    }

    #[test]
    fn rejects_non_objects_missing_libraries_and_conflicts() {
        let libs = vec!["sample".to_owned()];
        let e = validate(&json!([1]), 1, known(&libs, &[])).unwrap_err();
        assert_eq!(fields(&e), ["body"]);
        let e = validate(
            &json!({"maskThreshold": 5, "maskThresholds": [5]}),
            1,
            known(&libs, &[]),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["libraries", "maskThresholds"]);
        let e = validate(
            &json!({"libraries": ["sample", "sample"]}),
            1,
            known(&libs, &[]),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["libraries[1]"]);
    }
}
