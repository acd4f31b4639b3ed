//! Encoding of partial results in task-table rows (the NeuronBridge convention): JSON as
//! text below 8192 characters, gzip + base64 at or above it; bytes as base64.

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::traits::{PartialResult, ResultData};

/// JSON results of this many characters or more are stored gzip-compressed.
pub const COMPRESS_AT: usize = 8192;
/// Mime type of plain JSON results.
pub const MIME_JSON: &str = "application/json";
/// Mime type of gzip-compressed, base64-encoded JSON results.
pub const MIME_GZIP: &str = "application/gzip";
/// Mime type of base64-encoded byte results.
pub const MIME_BYTES: &str = "application/octet-stream";

/// The stored form of a partial result: `(results, resultsMimeType)`.
pub fn encode(result: &PartialResult) -> (String, &'static str) {
    match &result.data {
        ResultData::Json(value) => {
            let text = value.to_string();
            if text.len() < COMPRESS_AT {
                (text, MIME_JSON)
            } else {
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                gz.write_all(text.as_bytes())
                    .expect("writing to a Vec cannot fail");
                let zipped = gz.finish().expect("writing to a Vec cannot fail");
                (STANDARD.encode(zipped), MIME_GZIP)
            }
        }
        ResultData::Bytes(bytes) => (STANDARD.encode(bytes), MIME_BYTES),
    }
}

/// Decodes a stored result; the error says what was wrong.
pub fn decode(results: &str, mime: &str, nresults: u64) -> Result<PartialResult, String> {
    let data = match mime {
        MIME_JSON => ResultData::Json(
            serde_json::from_str(results).map_err(|e| format!("invalid JSON results: {e}"))?,
        ),
        MIME_GZIP => {
            let zipped = STANDARD
                .decode(results)
                .map_err(|e| format!("invalid base64 in gzip results: {e}"))?;
            let mut text = String::new();
            GzDecoder::new(zipped.as_slice())
                .read_to_string(&mut text)
                .map_err(|e| format!("invalid gzip results: {e}"))?;
            ResultData::Json(
                serde_json::from_str(&text)
                    .map_err(|e| format!("invalid JSON inside gzip results: {e}"))?,
            )
        }
        MIME_BYTES => ResultData::Bytes(
            STANDARD
                .decode(results)
                .map_err(|e| format!("invalid base64 results: {e}"))?,
        ),
        other => {
            return Err(format!(
            "unknown resultsMimeType {other:?} (expected {MIME_JSON}, {MIME_GZIP} or {MIME_BYTES})"
        ))
        }
    };
    Ok(PartialResult { data, nresults })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_json_stays_plain_and_large_json_is_gzipped() {
        let small = PartialResult::json(json!([1, 2, 3]));
        let (text, mime) = encode(&small);
        assert_eq!((text.as_str(), mime), ("[1,2,3]", MIME_JSON));
        assert_eq!(decode(&text, mime, 3).unwrap(), small);

        let big = PartialResult::json(json!(vec!["abcdefgh"; 1000]));
        let (text, mime) = encode(&big);
        assert_eq!(mime, MIME_GZIP);
        assert!(
            text.len() < 2000,
            "repetitive JSON compresses: {}",
            text.len()
        );
        assert_eq!(decode(&text, mime, 1000).unwrap(), big);
    }

    #[test]
    fn threshold_is_8192_characters() {
        let just_below = PartialResult::json(json!("x".repeat(COMPRESS_AT - 3)));
        assert_eq!(encode(&just_below).1, MIME_JSON);
        let at = PartialResult::json(json!("x".repeat(COMPRESS_AT - 2)));
        assert_eq!(encode(&at).1, MIME_GZIP);
    }

    #[test]
    fn bytes_round_trip_and_bad_input_is_named() {
        let b = PartialResult::bytes(vec![0, 255, 7]);
        let (text, mime) = encode(&b);
        assert_eq!(decode(&text, mime, 1).unwrap(), b);
        assert!(decode("x", "text/plain", 0)
            .unwrap_err()
            .contains("text/plain"));
        assert!(decode("%%", MIME_GZIP, 0).unwrap_err().contains("base64"));
    }
}
