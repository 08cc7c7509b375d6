//! Swagger 2.0 (Amazon's model) to OpenAPI 3.0 (our spec), before any fixes.
//!
//! The conversion is mechanical and lossless for what Amazon's Shipping models
//! use: definitions become `components/schemas`, body parameters become
//! `requestBody`, response schemas and examples move under `content`, simple
//! parameters get a `schema`, and `collectionFormat` becomes `style`/`explode`.

use serde_json::{Map, Value, json};

use crate::json_ext::{JsonError, walk_refs};

/// HTTP methods Swagger 2.0 allows on a path item, in the order we emit them.
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// Parameter keywords that belong in an OpenAPI 3 parameter's `schema`.
const SCHEMA_KEYWORDS: [&str; 14] = [
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
];

/// What the conversion noticed and had to decide, reported to the caller.
#[derive(Debug, Default)]
pub struct Notes {
    /// `collectionFormat` dropped from a parameter that is not an array.
    pub dropped_collection_formats: Vec<String>,
}

/// Converts a parsed Swagger 2.0 document into an OpenAPI 3.0.3 document.
pub fn swagger2_to_openapi3(doc: &Value) -> Result<(Value, Notes), JsonError> {
    let root = doc
        .as_object()
        .ok_or_else(|| JsonError::new("", "the document is not a JSON object"))?;
    match root.get("swagger").and_then(Value::as_str) {
        Some("2.0") => {}
        Some(other) => {
            return Err(JsonError::new(
                "/swagger",
                format!("expected Swagger \"2.0\", found \"{other}\""),
            ));
        }
        None => {
            return Err(JsonError::new(
                "/swagger",
                "missing: this is not a Swagger 2.0 document",
            ));
        }
    }
    let paths = object_at(root, "paths")?;
    let definitions = object_at(root, "definitions")?;
    check_refs(doc, definitions)?;

    let consumes = string_list(root.get("consumes"), "application/json");
    let produces = string_list(root.get("produces"), "application/json");
    let mut notes = Notes::default();

    let mut out = Map::new();
    out.insert("openapi".into(), json!("3.0.3"));
    if let Some(info) = root.get("info") {
        out.insert("info".into(), info.clone());
    }
    out.insert("servers".into(), servers(root));
    let mut out_paths = Map::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .ok_or_else(|| JsonError::new(&pointer(&["paths", path]), "not an object"))?;
        out_paths.insert(
            path.clone(),
            convert_path_item(path, item, &consumes, &produces, &mut notes)?,
        );
    }
    out.insert("paths".into(), Value::Object(out_paths));
    let mut schemas = Map::new();
    for (name, schema) in definitions {
        schemas.insert(name.clone(), rewrite_refs(schema));
    }
    out.insert("components".into(), json!({ "schemas": schemas }));
    Ok((Value::Object(out), notes))
}

fn convert_path_item(
    path: &str,
    item: &Map<String, Value>,
    consumes: &[String],
    produces: &[String],
    notes: &mut Notes,
) -> Result<Value, JsonError> {
    let mut out = Map::new();
    for (key, value) in item {
        if key == "parameters" {
            let params = value.as_array().map(Vec::as_slice).unwrap_or_default();
            if !params.is_empty() {
                let converted = params
                    .iter()
                    .map(|p| convert_parameter(p, path, "*", notes))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert("parameters".into(), Value::Array(converted));
            }
        } else if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    for method in METHODS {
        if let Some(op) = item.get(method) {
            let op = op.as_object().ok_or_else(|| {
                JsonError::new(&pointer(&["paths", path, method]), "not an object")
            })?;
            out.insert(
                method.into(),
                convert_operation(path, method, op, consumes, produces, notes)?,
            );
        }
    }
    Ok(Value::Object(out))
}

fn convert_operation(
    path: &str,
    method: &str,
    op: &Map<String, Value>,
    consumes: &[String],
    produces: &[String],
    notes: &mut Notes,
) -> Result<Value, JsonError> {
    let consumes = op
        .get("consumes")
        .map(|c| string_list(Some(c), "application/json"))
        .unwrap_or_else(|| consumes.to_vec());
    let produces = op
        .get("produces")
        .map(|p| string_list(Some(p), "application/json"))
        .unwrap_or_else(|| produces.to_vec());
    let op_id = op
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or(method);

    let mut out = Map::new();
    for key in ["tags", "summary", "description", "operationId"] {
        if let Some(v) = op.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut parameters = Vec::new();
    let mut request_body = None;
    for param in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if param.get("in").and_then(Value::as_str) == Some("body") {
            request_body = Some(convert_body(param, &consumes));
        } else {
            parameters.push(convert_parameter(param, path, op_id, notes)?);
        }
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = request_body {
        out.insert("requestBody".into(), body);
    }
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            JsonError::new(&pointer(&["paths", path, method, "responses"]), "missing")
        })?;
    let mut out_responses = Map::new();
    for (status, response) in responses {
        out_responses.insert(status.clone(), convert_response(response, &produces));
    }
    out.insert("responses".into(), Value::Object(out_responses));
    for (key, value) in op {
        if key.starts_with("x-") || key == "deprecated" || key == "security" {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

fn convert_parameter(
    param: &Value,
    path: &str,
    op_id: &str,
    notes: &mut Notes,
) -> Result<Value, JsonError> {
    if let Some(reference) = param.get("$ref") {
        return Err(JsonError::new(
            &pointer(&["paths", path]),
            format!("parameter references ({reference}) are not supported"),
        ));
    }
    let param = param
        .as_object()
        .ok_or_else(|| JsonError::new(&pointer(&["paths", path]), "parameter is not an object"))?;
    let mut out = Map::new();
    for key in ["name", "in", "description", "required"] {
        if let Some(v) = param.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let is_array = param.get("type").and_then(Value::as_str) == Some("array");
    if let Some(format) = param.get("collectionFormat").and_then(Value::as_str) {
        if is_array {
            let (style, explode) = match format {
                "multi" => ("form", true),
                "ssv" => ("spaceDelimited", false),
                "pipes" => ("pipeDelimited", false),
                _ => ("form", false),
            };
            out.insert("style".into(), json!(style));
            out.insert("explode".into(), json!(explode));
        } else {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("?");
            notes
                .dropped_collection_formats
                .push(format!("{op_id}: {name} ({format})"));
        }
    }
    let mut schema = Map::new();
    for key in SCHEMA_KEYWORDS {
        if let Some(v) = param.get(key) {
            schema.insert(key.into(), rewrite_refs(v));
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    for (key, value) in param {
        if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

fn convert_body(param: &Value, consumes: &[String]) -> Value {
    let schema = rewrite_refs(param.get("schema").unwrap_or(&json!({})));
    let content: Map<String, Value> = consumes
        .iter()
        .map(|ct| (ct.clone(), json!({ "schema": schema })))
        .collect();
    let mut out = Map::new();
    if let Some(d) = param.get("description") {
        out.insert("description".into(), d.clone());
    }
    out.insert(
        "required".into(),
        param.get("required").cloned().unwrap_or(json!(false)),
    );
    out.insert("content".into(), Value::Object(content));
    Value::Object(out)
}

fn convert_response(response: &Value, produces: &[String]) -> Value {
    let mut out = Map::new();
    out.insert(
        "description".into(),
        response.get("description").cloned().unwrap_or(json!("")),
    );
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        let converted: Map<String, Value> = headers
            .iter()
            .map(|(name, header)| (name.clone(), convert_header(header)))
            .collect();
        out.insert("headers".into(), Value::Object(converted));
    }
    if let Some(schema) = response.get("schema") {
        let schema = rewrite_refs(schema);
        let examples = response.get("examples").and_then(Value::as_object);
        let content: Map<String, Value> = produces
            .iter()
            .map(|ct| {
                let mut media = Map::new();
                media.insert("schema".into(), schema.clone());
                if let Some(example) = examples.and_then(|e| e.get(ct)) {
                    media.insert("example".into(), example.clone());
                }
                (ct.clone(), Value::Object(media))
            })
            .collect();
        out.insert("content".into(), Value::Object(content));
    }
    for (key, value) in response.as_object().into_iter().flatten() {
        if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

fn convert_header(header: &Value) -> Value {
    let mut out = Map::new();
    if let Some(d) = header.get("description") {
        out.insert("description".into(), d.clone());
    }
    let schema: Map<String, Value> = SCHEMA_KEYWORDS
        .iter()
        .filter_map(|k| header.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

fn servers(root: &Map<String, Value>) -> Value {
    let scheme = root
        .get("schemes")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(Value::as_str)
        .unwrap_or("https");
    match root.get("host").and_then(Value::as_str) {
        Some(host) => {
            let base = root.get("basePath").and_then(Value::as_str).unwrap_or("");
            json!([{ "url": format!("{scheme}://{host}{base}") }])
        }
        None => json!([]),
    }
}

/// Rewrites every `#/definitions/X` reference to `#/components/schemas/X`.
pub fn rewrite_refs(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => (
                        k.clone(),
                        Value::String(r.replacen("#/definitions/", "#/components/schemas/", 1)),
                    ),
                    _ => (k.clone(), rewrite_refs(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

fn check_refs(doc: &Value, definitions: &Map<String, Value>) -> Result<(), JsonError> {
    let mut result = Ok(());
    walk_refs(doc, &mut |at, reference| {
        if result.is_err() {
            return;
        }
        let target = reference.strip_prefix("#/definitions/");
        if !target.is_some_and(|name| definitions.contains_key(name)) {
            result = Err(JsonError::new(
                at,
                format!("dangling $ref \"{reference}\": no such definition"),
            ));
        }
    });
    result
}

fn object_at<'a>(
    root: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, JsonError> {
    root.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| JsonError::new(&format!("/{key}"), "missing or not an object"))
}

fn string_list(value: Option<&Value>, default: &str) -> Vec<String> {
    let list: Vec<String> = value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if list.is_empty() {
        vec![default.to_owned()]
    } else {
        list
    }
}

/// Builds a JSON pointer from unescaped segments.
pub fn pointer(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(extra_param: Value) -> Value {
        json!({
            "swagger": "2.0",
            "info": {"title": "t", "version": "v"},
            "host": "example.com",
            "schemes": ["https"],
            "paths": {"/a/{id}": {"get": {
                "operationId": "getA",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "type": "string"},
                    extra_param
                ],
                "responses": {"200": {
                    "description": "ok",
                    "headers": {"x-amzn-RequestId": {"type": "string", "description": "id"}},
                    "schema": {"$ref": "#/definitions/A"},
                    "examples": {"application/json": {"a": 1}}
                }}
            }}},
            "definitions": {"A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
                             "B": {"type": "string", "maxLength": 3}}
        })
    }

    #[test]
    fn csv_array_becomes_form_without_explode() {
        let doc = minimal(json!({"name": "t", "in": "query", "type": "array",
            "items": {"type": "string"}, "collectionFormat": "csv", "required": true}));
        let (out, notes) = swagger2_to_openapi3(&doc).unwrap();
        let p = &out["paths"]["/a/{id}"]["get"]["parameters"][1];
        assert_eq!(p["style"], "form");
        assert_eq!(p["explode"], false);
        assert_eq!(p["schema"]["items"]["type"], "string");
        assert!(notes.dropped_collection_formats.is_empty());
    }

    #[test]
    fn csv_on_a_scalar_is_dropped_and_reported() {
        let doc = minimal(json!({"name": "c", "in": "query", "type": "string",
            "collectionFormat": "csv", "required": true}));
        let (out, notes) = swagger2_to_openapi3(&doc).unwrap();
        let p = &out["paths"]["/a/{id}"]["get"]["parameters"][1];
        assert!(p.get("style").is_none());
        assert_eq!(notes.dropped_collection_formats, vec!["getA: c (csv)"]);
    }

    #[test]
    fn responses_move_schema_and_example_under_content() {
        let doc = minimal(json!({"name": "q", "in": "query", "type": "string"}));
        let (out, _) = swagger2_to_openapi3(&doc).unwrap();
        let r = &out["paths"]["/a/{id}"]["get"]["responses"]["200"];
        let media = &r["content"]["application/json"];
        assert_eq!(media["schema"]["$ref"], "#/components/schemas/A");
        assert_eq!(media["example"], json!({"a": 1}));
        assert_eq!(r["headers"]["x-amzn-RequestId"]["schema"]["type"], "string");
        assert_eq!(
            out["components"]["schemas"]["A"]["properties"]["b"]["$ref"],
            "#/components/schemas/B"
        );
        assert_eq!(out["servers"][0]["url"], "https://example.com");
    }

    #[test]
    fn dangling_ref_is_an_error_naming_its_place() {
        let mut doc = minimal(json!({"name": "q", "in": "query", "type": "string"}));
        doc["definitions"]["A"]["properties"]["c"] = json!({"$ref": "#/definitions/Nope"});
        let err = swagger2_to_openapi3(&doc).unwrap_err().to_string();
        assert!(err.contains("/definitions/A/properties/c"), "{err}");
        assert!(err.contains("#/definitions/Nope"), "{err}");
    }

    #[test]
    fn openapi3_input_is_rejected() {
        let err = swagger2_to_openapi3(&json!({"openapi": "3.0.3"}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Swagger 2.0 document"), "{err}");
    }
}
