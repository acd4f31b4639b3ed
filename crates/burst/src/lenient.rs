//! Numbers read the way burst-compute's JavaScript reads them, so its clients can send the
//! same JSON unchanged: `"batchSize": "25"` works like `25`, because its dispatcher runs every
//! count through `parseInt` and falls back to a default with `||`.
//!
//! [`parse_int`] mirrors `parseInt`; the rules ([`count`], [`count_or`], [`optional_count`],
//! [`number_or`]) are serde `deserialize_with` helpers that also take the field's JSON name,
//! so every error says which field was wrong. Serialization is unaffected: events are always
//! written with plain JSON numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What the integer rules expect, for error messages.
const INTEGER: &str = "an integer or a string starting with one";

/// JavaScript's whitespace (`WhiteSpace` and `LineTerminator`): Unicode `White_Space` except
/// U+0085, plus the byte-order mark U+FEFF.
fn is_js_space(c: char) -> bool {
    c == '\u{FEFF}' || (c.is_whitespace() && c != '\u{85}')
}

/// JavaScript's `parseInt(text)` without a radix: skips leading whitespace, takes an optional
/// sign and an optional `0x`/`0X` (hexadecimal) prefix, then reads digits up to the first
/// character that is not one (`"25abc"` is 25). `None` is JavaScript's `NaN` (no digits, as in
/// `""`, `"abc"` or `"0x"`). Values beyond the `i64` range saturate.
pub fn parse_int(text: &str) -> Option<i64> {
    let text = text.trim_start_matches(is_js_space);
    let (negative, text) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match text.get(..2) {
        Some("0x" | "0X") => (16, &text[2..]),
        _ => (10, text),
    };
    let mut magnitude: Option<i64> = None;
    for digit in digits.chars().map_while(|c| c.to_digit(radix)) {
        let so_far = magnitude.unwrap_or(0);
        magnitude = Some(
            so_far
                .saturating_mul(i64::from(radix))
                .saturating_add(i64::from(digit)),
        );
    }
    magnitude.map(|m| if negative { -m } else { m })
}

/// A JSON value as `parseInt` reads it: `Ok(None)` for `NaN` (`null`, a string without leading
/// digits); JSON numbers are truncated toward zero (`25.7` is 25). Booleans, arrays and
/// objects are refused rather than read as `NaN`.
pub(crate) fn int_of(value: &Value) -> Result<Option<i64>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(parse_int(text)),
        Value::Number(n) => Ok(n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// A JSON value as a non-negative number: a JSON number or a numeric string; `Ok(None)` for
/// `null` or a blank string.
fn number_of(value: &Value) -> Result<Option<f64>, ()> {
    let number = match value {
        Value::Null => return Ok(None),
        Value::String(text) if text.trim().is_empty() => return Ok(None),
        Value::String(text) => text.trim().parse::<f64>().map_err(drop)?,
        Value::Number(n) => n.as_f64().ok_or(())?,
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => return Err(()),
    };
    if number.is_finite() && number >= 0.0 {
        Ok(Some(number))
    } else {
        Err(())
    }
}

/// The error for field `name` holding `value` when `expected` was expected.
fn invalid<E: serde::de::Error>(name: &str, value: &Value, expected: &str) -> E {
    E::custom(format!("invalid {name}: {value} (expected {expected})"))
}

/// `n` as the unsigned type `T`, or an error naming field `name`.
fn in_range<T: TryFrom<i64>, E: serde::de::Error>(
    name: &str,
    value: &Value,
    n: i64,
) -> Result<T, E> {
    T::try_from(n).map_err(|_| {
        let expected = format!(
            "a non-negative integer that fits in {}",
            std::any::type_name::<T>()
        );
        invalid(name, value, &expected)
    })
}

/// A required unsigned count (`parseInt(x)` that must not be `NaN`): refuses `NaN`, negative
/// and too large values, naming field `name`.
pub fn count<'de, D, T>(deserializer: D, name: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = Value::deserialize(deserializer)?;
    match int_of(&value) {
        Ok(Some(n)) => in_range(name, &value, n),
        Ok(None) | Err(()) => Err(invalid(name, &value, INTEGER)),
    }
}

/// An optional unsigned count: `None` for `NaN` and for 0 (JavaScript's `||` treats both as
/// false); refuses negative and too large values, naming field `name`.
pub fn optional_count<'de, D, T>(deserializer: D, name: &str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let value = Value::deserialize(deserializer)?;
    match int_of(&value) {
        Ok(None | Some(0)) => Ok(None),
        Ok(Some(n)) => in_range(name, &value, n).map(Some),
        Err(()) => Err(invalid(name, &value, INTEGER)),
    }
}

/// An unsigned count with a default, as `parseInt(x) || default`: `NaN` and 0 give `default`.
pub fn count_or<'de, D, T>(deserializer: D, name: &str, default: T) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    Ok(optional_count(deserializer, name)?.unwrap_or(default))
}

/// A non-negative number (seconds, percentages), as a JSON number or a numeric string, with a
/// default for `null` and blank strings (JavaScript's `x ?? default`).
pub fn number_or<'de, D>(deserializer: D, name: &str, default: f64) -> Result<f64, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    number_of(&value)
        .map(|n| n.unwrap_or(default))
        .map_err(|()| invalid(name, &value, "a non-negative number or numeric string"))
}

/// Defines one `deserialize_with` function per field, each applying a rule of this module
/// under the field's JSON name: `fn_name: Type = rule("jsonName"[, default]);`.
macro_rules! field_readers {
    ($($reader:ident: $ty:ty = $rule:ident($name:literal $(, $default:expr)?);)*) => {$(
        pub(crate) fn $reader<'de, D>(deserializer: D) -> Result<$ty, D::Error>
        where
            D: serde::Deserializer<'de>,
        {
            $crate::lenient::$rule(deserializer, $name $(, $default)?)
        }
    )*};
}
pub(crate) use field_readers;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_int_follows_javascript() {
        let cases = [
            ("42", Some(42)),
            ("  42", Some(42)),
            ("\t\n\u{A0}\u{FEFF}7", Some(7)),
            ("+7", Some(7)),
            ("-3", Some(-3)),
            ("-0", Some(0)),
            ("0x1A", Some(26)),
            ("0X1a", Some(26)),
            ("-0x10", Some(-16)),
            ("0x", None),
            ("0xg", None),
            ("12px", Some(12)),
            ("25abc", Some(25)),
            ("25.7", Some(25)),
            ("1e3", Some(1)),
            ("007", Some(7)),
            ("", None),
            ("   ", None),
            ("abc", None),
            ("-", None),
            ("+-1", None),
            ("\u{85}1", None),
            ("99999999999999999999", Some(i64::MAX)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_int(text), expected, "parseInt({text:?})");
        }
    }

    #[test]
    fn json_values_read_as_parse_int_reads_them() {
        assert_eq!(int_of(&json!(3.9)), Ok(Some(3)));
        assert_eq!(int_of(&json!(-3.9)), Ok(Some(-3)));
        assert_eq!(int_of(&json!(25)), Ok(Some(25)));
        assert_eq!(int_of(&json!(u64::MAX)), Ok(Some(i64::MAX)));
        assert_eq!(int_of(&json!(" 8 ")), Ok(Some(8)));
        assert_eq!(int_of(&json!(null)), Ok(None));
        assert_eq!(int_of(&json!(true)), Err(()));
        assert_eq!(int_of(&json!([1])), Err(()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        #[serde(deserialize_with = "end_index")]
        end_index: u64,
        #[serde(default = "fifty", deserialize_with = "batch_size")]
        batch_size: u64,
        #[serde(default, deserialize_with = "branching_factor")]
        branching_factor: Option<u32>,
        #[serde(default = "nine_hundred", deserialize_with = "timeout")]
        timeout_secs: f64,
    }

    fn fifty() -> u64 {
        50
    }

    fn nine_hundred() -> f64 {
        900.0
    }

    field_readers! {
        end_index: u64 = count("endIndex");
        batch_size: u64 = count_or("batchSize", 50);
        branching_factor: Option<u32> = optional_count("branchingFactor");
        timeout: f64 = number_or("timeoutSecs", 900.0);
    }

    fn sample(value: Value) -> Result<Sample, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn rules_apply_defaults_like_javascript() {
        let s = sample(json!({"endIndex": "10", "batchSize": "0", "timeoutSecs": " 60 "})).unwrap();
        assert_eq!(
            (
                s.end_index,
                s.batch_size,
                s.branching_factor,
                s.timeout_secs
            ),
            (10, 50, None, 60.0)
        );
        let s = sample(
            json!({"endIndex": 9.5, "batchSize": "25abc", "branchingFactor": "0x10",
            "timeoutSecs": 0}),
        )
        .unwrap();
        assert_eq!(
            (
                s.end_index,
                s.batch_size,
                s.branching_factor,
                s.timeout_secs
            ),
            (9, 25, Some(16), 0.0)
        );
        let s = sample(
            json!({"endIndex": 1, "batchSize": "abc", "branchingFactor": null,
            "timeoutSecs": ""}),
        )
        .unwrap();
        assert_eq!(
            (s.batch_size, s.branching_factor, s.timeout_secs),
            (50, None, 900.0)
        );
    }

    #[test]
    fn rule_errors_name_the_field() {
        let cases = [
            (
                json!({}),
                "missing field `endIndex`",
            ),
            (
                json!({"endIndex": "abc"}),
                "invalid endIndex: \"abc\" (expected an integer or a string starting with one)",
            ),
            (
                json!({"endIndex": ""}),
                "invalid endIndex: \"\" (expected an integer",
            ),
            (
                json!({"endIndex": null}),
                "invalid endIndex: null (expected an integer",
            ),
            (
                json!({"endIndex": 5, "batchSize": "-3"}),
                "invalid batchSize: \"-3\" (expected a non-negative integer that fits in u64)",
            ),
            (
                json!({"endIndex": 5, "branchingFactor": 5_000_000_000u64}),
                "invalid branchingFactor: 5000000000 (expected a non-negative integer that fits in u32)",
            ),
            (
                json!({"endIndex": 5, "batchSize": true}),
                "invalid batchSize: true (expected an integer",
            ),
            (
                json!({"endIndex": 5, "timeoutSecs": "soon"}),
                "invalid timeoutSecs: \"soon\" (expected a non-negative number or numeric string)",
            ),
            (
                json!({"endIndex": 5, "timeoutSecs": -1}),
                "invalid timeoutSecs: -1 (expected a non-negative number",
            ),
            (
                json!({"endIndex": 5, "timeoutSecs": "inf"}),
                "invalid timeoutSecs: \"inf\"",
            ),
        ];
        for (input, expected) in cases {
            let err = sample(input.clone()).unwrap_err();
            assert!(
                err.starts_with(expected),
                "{input}\n  gave: {err}\n  expected: {expected}"
            );
        }
    }
}
