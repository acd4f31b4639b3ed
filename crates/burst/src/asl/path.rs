//! The JSONPath subset of ASL: `$`, `$.a.b`, `$.a[0]`, and `$$.` context paths, plus
//! `Parameters` templates whose `".$"` keys take values from paths.

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// Splits `$.a.b[2]` into segments; `None` if the path is outside the supported subset.
fn parse(path: &str) -> Option<Vec<Segment>> {
    let rest = path.strip_prefix('$')?;
    let mut segments = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n == '.' || n == '[' {
                        break;
                    }
                    name.push(n);
                    chars.next();
                }
                if name.is_empty() {
                    return None;
                }
                segments.push(Segment::Field(name));
            }
            '[' => {
                let mut digits = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    digits.push(n);
                }
                segments.push(Segment::Index(digits.parse().ok()?));
            }
            _ => return None,
        }
    }
    Some(segments)
}

/// Whether `path` is in the supported subset (`$...` or a `$$...` context path).
pub fn is_valid(path: &str) -> bool {
    let body = path
        .strip_prefix('$')
        .map(|rest| rest.strip_prefix('$').unwrap_or(rest));
    body.is_some_and(|b| parse(&format!("${b}")).is_some())
}

/// Resolves `path` against `input` (or, for `$$.` paths, against `context`).
pub fn get<'a>(input: &'a Value, context: &'a Value, path: &str) -> Result<&'a Value, String> {
    let (root, body) = match path.strip_prefix("$$") {
        Some(rest) => (context, format!("${rest}")),
        None => (input, path.to_string()),
    };
    let segments = parse(&body).ok_or_else(|| "unsupported path syntax".to_string())?;
    let mut value = root;
    for seg in &segments {
        value = match seg {
            Segment::Field(name) => value.get(name.as_str()),
            Segment::Index(i) => value.get(*i),
        }
        .ok_or_else(|| format!("no value at {seg:?}"))?;
    }
    Ok(value)
}

/// Replaces the value at `path` inside `target` (creating objects on the way) with `value`.
pub fn set(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segments = parse(path).ok_or_else(|| "unsupported path syntax".to_string())?;
    let mut slot = target;
    for seg in segments {
        slot = match seg {
            Segment::Field(name) => {
                if slot.is_null() {
                    *slot = Value::Object(Map::new());
                }
                let obj = slot
                    .as_object_mut()
                    .ok_or_else(|| format!("cannot set field {name:?} on a non-object"))?;
                obj.entry(name).or_insert(Value::Null)
            }
            Segment::Index(i) => slot
                .get_mut(i)
                .ok_or_else(|| format!("no array element {i}"))?,
        };
    }
    *slot = value;
    Ok(())
}

/// Builds a value from a `Parameters`/`ResultSelector` template: keys ending in `.$` take
/// the value at the path they hold (the key loses the suffix); other values are copied.
pub fn apply_template(template: &Value, input: &Value, context: &Value) -> Result<Value, String> {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, val) in fields {
                if let Some(name) = key.strip_suffix(".$") {
                    let path = val
                        .as_str()
                        .ok_or_else(|| format!("{key:?} must hold a path string"))?;
                    let resolved = get(input, context, path).map_err(|e| format!("{path}: {e}"))?;
                    out.insert(name.to_string(), resolved.clone());
                } else {
                    out.insert(key.clone(), apply_template(val, input, context)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| apply_template(item, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gets_fields_indexes_and_context() {
        let input = json!({"a": {"b": [10, {"c": "x"}]}});
        let ctx = json!({"Execution": {"Name": "job-1"}});
        assert_eq!(get(&input, &ctx, "$").unwrap(), &input);
        assert_eq!(get(&input, &ctx, "$.a.b[0]").unwrap(), &json!(10));
        assert_eq!(get(&input, &ctx, "$.a.b[1].c").unwrap(), &json!("x"));
        assert_eq!(
            get(&input, &ctx, "$$.Execution.Name").unwrap(),
            &json!("job-1")
        );
        assert!(get(&input, &ctx, "$.a.z").is_err());
        assert!(get(&input, &ctx, "a.b").is_err());
    }

    #[test]
    fn sets_nested_values_creating_objects() {
        let mut v = json!({"a": 1});
        set(&mut v, "$.b.c", json!(true)).unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": true}}));
        set(&mut v, "$", json!(3)).unwrap();
        assert_eq!(v, json!(3));
        let mut v = json!({"a": 1});
        assert!(set(&mut v, "$.a.b", json!(0)).is_err());
    }

    #[test]
    fn templates_resolve_dollar_keys_recursively() {
        let input = json!({"id": "j", "n": 3});
        let tpl = json!({"action": "x", "jobId.$": "$.id", "inner": {"count.$": "$.n"}, "list": [{"k.$": "$.n"}]});
        let out = apply_template(&tpl, &input, &json!({})).unwrap();
        assert_eq!(
            out,
            json!({"action": "x", "jobId": "j", "inner": {"count": 3}, "list": [{"k": 3}]})
        );
        assert!(apply_template(&json!({"a.$": "$.missing"}), &input, &json!({})).is_err());
    }

    #[test]
    fn validity_of_paths() {
        assert!(is_valid("$"));
        assert!(is_valid("$.a[1].b"));
        assert!(is_valid("$$.Execution.Input"));
        assert!(!is_valid("a"));
        assert!(!is_valid("$..a"));
        assert!(!is_valid("$.a[x]"));
    }
}
