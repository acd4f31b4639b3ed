//! Encoding of partial results in task-table rows (the NeuronBridge convention): JSON as
//! text below 8192 characters, gzip + base64 at or above it; bytes as base64.
//!
//! A result whose encoded text would exceed [`OBJECT_AT`] does not fit a DynamoDB item: it is
//! stored as an object instead (the gzip bytes of its JSON, or its raw bytes) and the row holds
//! an [`ObjectPointer`] with mime type [`MIME_OBJECT`] (see [`crate::partials`]).

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use serde::{Deserialize, Serialize};

use crate::traits::{PartialResult, ResultData};

/// JSON results of this many characters or more are stored gzip-compressed.
pub const COMPRESS_AT: usize = 8192;
/// Mime type of plain JSON results.
pub const MIME_JSON: &str = "application/json";
/// Mime type of gzip-compressed, base64-encoded JSON results.
pub const MIME_GZIP: &str = "application/gzip";
/// Mime type of base64-encoded byte results.
pub const MIME_BYTES: &str = "application/octet-stream";
/// Mime type of a row whose `results` is an [`ObjectPointer`] (JSON) to the stored result.
pub const MIME_OBJECT: &str = "application/vnd.burst.object+json";

/// Encoded results longer than this many characters go to the object store (256 KiB).
///
/// DynamoDB refuses items over 400 KB, counting attribute names and values. A row's other
/// attributes (job id, batch id, ttl, mime type, counts, times) take well under 1 KB, so a
/// 256 KiB `results` keeps a row below 270 KB: a margin of over 130 KB for long job ids and
/// future attributes, and a 1 MB query page still holds several rows.
pub const OBJECT_AT: usize = 256 * 1024;

/// Where a row's result lives when it is too large for the row: the row's `results` text
/// (`{"key", "mimeType", "size"}`) under [`MIME_OBJECT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectPointer {
    /// Object-store key of the result.
    pub key: String,
    /// What the object holds: [`MIME_GZIP`] (gzip-compressed JSON, not base64) or
    /// [`MIME_BYTES`] (the raw bytes).
    pub mime_type: String,
    /// The object's size in bytes (a shorter or longer object is refused as corrupt).
    pub size: u64,
}

impl ObjectPointer {
    /// The row text of this pointer.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a pointer always serializes")
    }

    /// Reads a row's pointer text; the error says what was wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!("invalid {MIME_OBJECT} results (expected {{key, mimeType, size}}): {e}")
        })
    }
}

/// A partial result ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Small enough for the row: its `results` text and mime type (what [`encode`] gives).
    Inline {
        /// The row's `results`.
        results: String,
        /// The row's `resultsMimeType`.
        mime: &'static str,
    },
    /// Too large for the row ([`OBJECT_AT`]): the object's content and what it holds.
    Object {
        /// The object: gzip-compressed JSON, or raw bytes.
        body: Vec<u8>,
        /// [`MIME_GZIP`] or [`MIME_BYTES`], the pointer's `mimeType`.
        mime: &'static str,
    },
}

/// Length of the base64 text of `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(text).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}

/// How to store `result`: in the row as [`encode`] does, or, when that text would be longer
/// than [`OBJECT_AT`], as an object (compressed once; no base64).
pub fn prepare(result: &PartialResult) -> Stored {
    match &result.data {
        ResultData::Json(value) => {
            let text = value.to_string();
            if text.len() < COMPRESS_AT {
                return Stored::Inline {
                    results: text,
                    mime: MIME_JSON,
                };
            }
            let zipped = gzip(text.as_bytes());
            if base64_len(zipped.len()) > OBJECT_AT {
                Stored::Object {
                    body: zipped,
                    mime: MIME_GZIP,
                }
            } else {
                Stored::Inline {
                    results: STANDARD.encode(zipped),
                    mime: MIME_GZIP,
                }
            }
        }
        ResultData::Bytes(bytes) if base64_len(bytes.len()) > OBJECT_AT => Stored::Object {
            body: bytes.clone(),
            mime: MIME_BYTES,
        },
        ResultData::Bytes(bytes) => Stored::Inline {
            results: STANDARD.encode(bytes),
            mime: MIME_BYTES,
        },
    }
}

/// Decodes the content of a result object of `pointer`; the error says what was wrong.
pub fn decode_object(
    body: &[u8],
    pointer: &ObjectPointer,
    nresults: u64,
) -> Result<PartialResult, String> {
    if body.len() as u64 != pointer.size {
        return Err(format!(
            "object {} has {} bytes, its pointer says {}",
            pointer.key,
            body.len(),
            pointer.size
        ));
    }
    let data = match pointer.mime_type.as_str() {
        MIME_GZIP => ResultData::Json(
            serde_json::from_reader(GzDecoder::new(body))
                .map_err(|e| format!("invalid gzip JSON in object {}: {e}", pointer.key))?,
        ),
        MIME_BYTES => ResultData::Bytes(body.to_vec()),
        other => {
            return Err(format!(
                "unknown mimeType {other:?} of object {} (expected {MIME_GZIP} or {MIME_BYTES})",
                pointer.key
            ))
        }
    };
    Ok(PartialResult {
        data,
        nresults,
        usage: Default::default(),
    })
}

/// The row form of a partial result, `(results, resultsMimeType)`, whatever its size (see
/// [`prepare`] for what the worker stores).
pub fn encode(result: &PartialResult) -> (String, &'static str) {
    match &result.data {
        ResultData::Json(value) => {
            let text = value.to_string();
            if text.len() < COMPRESS_AT {
                (text, MIME_JSON)
            } else {
                (STANDARD.encode(gzip(text.as_bytes())), MIME_GZIP)
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
        MIME_OBJECT => {
            return Err(format!(
                "results of type {MIME_OBJECT} point to an object: resolve them with \
                 crate::partials::resolve"
            ))
        }
        other => {
            return Err(format!(
            "unknown resultsMimeType {other:?} (expected {MIME_JSON}, {MIME_GZIP}, {MIME_BYTES} or {MIME_OBJECT})"
        ))
        }
    };
    Ok(PartialResult {
        data,
        nresults,
        usage: Default::default(),
    })
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
    fn results_longer_than_object_at_go_to_an_object() {
        let fits = vec![1u8; OBJECT_AT / 4 * 3];
        let (text, _) = encode(&PartialResult::bytes(fits.clone()));
        assert_eq!(text.len(), OBJECT_AT);
        assert!(matches!(
            prepare(&PartialResult::bytes(fits)),
            Stored::Inline {
                mime: MIME_BYTES,
                ..
            }
        ));
        let over = vec![1u8; OBJECT_AT / 4 * 3 + 1];
        assert_eq!(
            prepare(&PartialResult::bytes(over.clone())),
            Stored::Object {
                body: over,
                mime: MIME_BYTES
            }
        );
        let json = PartialResult::json(json!(vec!["abcdefgh"; 1000]));
        assert_eq!(
            prepare(&json),
            Stored::Inline {
                results: encode(&json).0,
                mime: MIME_GZIP
            },
            "compressible JSON stays in the row"
        );
        assert!(decode("{}", MIME_OBJECT, 0)
            .unwrap_err()
            .contains("resolve"));
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
