//! What each syntax-tree pass must change, counted from the spec rather
//! than from the generated code, so a change in progenitor's or typify's
//! output that a pass no longer recognises fails the build instead of
//! silently leaving a type strict, an enum closed or a response decoded the
//! old way.

use serde_json::Value;

use crate::decode_once;
use crate::lenient;
use crate::paths;
use crate::request_build;

/// String enums `open_enums` must open: every enum schema under
/// `components/schemas` (at any depth: typify names a property's inline
/// enum after its schema) whose schema is not in `closed`. Enums inline in
/// `paths` are request parameters, which stay closed.
pub fn open_enums(spec: &Value, closed: &[String]) -> usize {
    schemas(spec)
        .filter(|(name, _)| !closed.iter().any(|c| name.starts_with(c.as_str())))
        .map(|(_, schema)| count(schema, &|v| v.get("enum").is_some()))
        .sum()
}

/// Fields `lenient` must change: number properties, optional inline list
/// properties (typify gives those `#[serde(default)]`), and the plain string
/// schemas typify makes `#[serde(transparent)]` newtypes (no enum, format or
/// length/pattern constraint, which get a checked newtype instead).
pub fn lenient(spec: &Value) -> lenient::Changed {
    let mut changed = lenient::Changed::default();
    for (_, schema) in schemas(spec) {
        let plain_string = schema["type"] == "string"
            && ["enum", "format", "maxLength", "minLength", "pattern"]
                .iter()
                .all(|k| schema.get(k).is_none());
        changed.strings += usize::from(plain_string);
        properties(
            schema,
            &mut |property, required| match property["type"].as_str() {
                Some("number" | "integer") => changed.numbers += 1,
                Some("array") if !required => changed.lists += 1,
                _ => {}
            },
        );
    }
    changed
}

/// What `decode_once` must rewrite: per operation, its documented JSON
/// success responses and its documented error statuses.
pub fn decode_once(spec: &Value) -> decode_once::Expected {
    let mut expected = decode_once::Expected {
        operations: 0,
        json_successes: 0,
        error_statuses: 0,
    };
    for (_, item) in spec["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            if op.get("operationId").is_none() {
                continue;
            }
            expected.operations += 1;
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if status.starts_with('2') {
                    let json = response["content"].get("application/json").is_some();
                    expected.json_successes += usize::from(json);
                } else {
                    expected.error_statuses += 1;
                }
            }
        }
    }
    expected
}

/// What `paths` must change: one setter per property of every object
/// schema (inline ones included) and one "no value supplied" per required
/// property without a default; one `Option` conversion per object schema
/// (each gets a builder); one list conversion per array schema whose items
/// are such an object; one length check per `minLength`/`maxLength` above
/// 0 of a string schema.
pub fn paths(spec: &Value) -> paths::Changed {
    let mut changed = paths::Changed::default();
    let components = spec["components"]["schemas"].as_object();
    for (_, schema) in components.into_iter().flatten() {
        objects(schema, &mut |object| {
            changed.builders += 1;
            let required: Vec<&str> = object["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (name, property) in object["properties"].as_object().into_iter().flatten() {
                changed.setters += 1;
                let defaulted = property.get("default").is_some();
                changed.required += usize::from(required.contains(&name.as_str()) && !defaulted);
            }
        });
        let element = match schema["items"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => spec.pointer(pointer).unwrap_or(&Value::Null),
            None => &schema["items"],
        };
        changed.lists +=
            usize::from(schema["type"] == "array" && element.get("properties").is_some());
    }
    let string_with = |key: &'static str, least: u64| {
        move |v: &Value| v["type"] == "string" && v[key].as_u64().is_some_and(|n| n >= least)
    };
    changed.lengths =
        count(spec, &string_with("minLength", 1)) + count(spec, &string_with("maxLength", 0));
    changed
}

/// Calls `f` for `schema` and each object schema inline in it (property
/// values and list items) that has `properties`.
fn objects(schema: &Value, f: &mut impl FnMut(&Value)) {
    if schema.get("properties").is_some() {
        f(schema);
    }
    for (_, property) in schema["properties"].as_object().into_iter().flatten() {
        objects(property, f);
    }
    if schema.get("items").is_some() {
        objects(&schema["items"], f);
    }
}

/// Query and header parameters, per operation (path-level ones included,
/// an operation's own overriding a path-level one of the same name and
/// location): each must be classified by `param_checks`.
pub fn parameters(spec: &Value) -> usize {
    parameters_in(spec, &["query", "header"])
}

/// What `request_build` must change: one `api-version` header per
/// operation, one `.query(..)` per query parameter.
pub fn request_build(spec: &Value) -> request_build::Expected {
    request_build::Expected {
        operations: decode_once(spec).operations,
        query_parameters: parameters_in(spec, &["query"]),
    }
}

/// Parameters declared `in` one of `locations`, per operation.
fn parameters_in(spec: &Value, locations: &[&str]) -> usize {
    let mut total = 0;
    for (_, item) in spec["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            if op.get("operationId").is_none() {
                continue;
            }
            let mut seen: Vec<(String, String)> = Vec::new();
            let own = op["parameters"].as_array().into_iter().flatten();
            for param in own.chain(item["parameters"].as_array().into_iter().flatten()) {
                let param = match param["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
                    Some(pointer) => spec.pointer(pointer).unwrap_or(&Value::Null),
                    None => param,
                };
                let key = (
                    param["name"].as_str().unwrap_or("").to_owned(),
                    param["in"].as_str().unwrap_or("").to_owned(),
                );
                if locations.contains(&key.1.as_str()) && !seen.contains(&key) {
                    seen.push(key);
                    total += 1;
                }
            }
        }
    }
    total
}

fn schemas(spec: &Value) -> impl Iterator<Item = (&String, &Value)> {
    spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
}

/// How many values in `value` (itself included, at any depth) satisfy `f`.
fn count(value: &Value, f: &impl Fn(&Value) -> bool) -> usize {
    let own = usize::from(f(value));
    own + match value {
        Value::Object(map) => map.values().map(|v| count(v, f)).sum(),
        Value::Array(items) => items.iter().map(|v| count(v, f)).sum(),
        _ => 0,
    }
}

/// Calls `f(property, required)` for every property of `schema` and of the
/// inline objects in it.
fn properties(schema: &Value, f: &mut impl FnMut(&Value, bool)) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        f(property, required.contains(&name.as_str()));
        properties(property, f);
        properties(&property["items"], f);
    }
}
