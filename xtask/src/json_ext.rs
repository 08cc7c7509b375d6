//! Small JSON helpers: located errors, `$ref` walking, wildcard pointers.

use std::fmt;

use serde_json::Value;

/// An error at a place in a JSON document (a JSON pointer; empty for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// JSON pointer to the offending value.
    pub at: String,
    /// What is wrong there.
    pub message: String,
}

impl JsonError {
    /// Creates an error at `at`.
    pub fn new(at: &str, message: impl Into<String>) -> Self {
        Self {
            at: at.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.at.is_empty() { "/" } else { &self.at };
        write!(f, "at {at}: {}", self.message)
    }
}

impl std::error::Error for JsonError {}

/// Calls `f(pointer, reference)` for every `$ref` string in `value`.
pub fn walk_refs(value: &Value, f: &mut dyn FnMut(&str, &str)) {
    fn go(value: &Value, at: &mut String, f: &mut dyn FnMut(&str, &str)) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => f(&at[..len], r),
                        // Examples are data, not schema: a "$ref" key there is a value.
                        ("example" | "examples", _) => {}
                        _ => go(v, at, f),
                    }
                    at.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    go(v, at, f);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    go(value, &mut String::new(), f);
}

/// Every value matched by `pattern`, a JSON pointer in which a `*` segment
/// matches each element of an array or each value of an object.
pub fn select_mut<'a>(value: &'a mut Value, pattern: &str) -> Vec<&'a mut Value> {
    let segments: Vec<&str> = pattern.split('/').skip(1).collect();
    let mut out = Vec::new();
    select_into(value, &segments, &mut out);
    out
}

fn select_into<'a>(value: &'a mut Value, segments: &[&str], out: &mut Vec<&'a mut Value>) {
    let Some((head, rest)) = segments.split_first() else {
        out.push(value);
        return;
    };
    match (value, *head) {
        (Value::Array(items), "*") => items.iter_mut().for_each(|v| select_into(v, rest, out)),
        (Value::Object(map), "*") => map.values_mut().for_each(|v| select_into(v, rest, out)),
        (Value::Array(items), idx) => {
            if let Some(v) = idx.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                select_into(v, rest, out);
            }
        }
        (Value::Object(map), key) => {
            let key = key.replace("~1", "/").replace("~0", "~");
            if let Some(v) = map.get_mut(&key) {
                select_into(v, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_array_items_and_map_values() {
        let mut v = json!({"a": [{"u": 1}, {"u": 2}], "m": {"x": {"u": 3}}});
        let got: Vec<Value> = select_mut(&mut v, "/a/*/u")
            .into_iter()
            .map(|v| v.clone())
            .collect();
        assert_eq!(got, vec![json!(1), json!(2)]);
        assert_eq!(select_mut(&mut v, "/m/*/u").len(), 1);
        assert!(select_mut(&mut v, "/nope/*").is_empty());
    }

    #[test]
    fn refs_are_reported_with_their_place_but_not_inside_examples() {
        let v = json!({"p": {"$ref": "#/x"}, "example": {"$ref": "data"}});
        let mut seen = Vec::new();
        walk_refs(&v, &mut |at, r| seen.push((at.to_owned(), r.to_owned())));
        assert_eq!(seen, vec![("/p".to_owned(), "#/x".to_owned())]);
    }
}
