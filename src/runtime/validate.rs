//! Request validation against the spec, before a request leaves the process.
//!
//! Amazon's model constrains request fields (required fields, string lengths,
//! patterns, enum values, types, array sizes, unknown fields). The generated
//! types only enforce some of these, so a request that breaks one would cost a
//! round trip and come back as a terse 400. [`check_request`] finds every
//! broken constraint up front and names it by its JSON path, e.g.
//! `packages[0].items[1].itemValue.unit: longer than 3 characters (4)`.
//!
//! Why hand-written rather than a JSON Schema crate: OpenAPI 3.0 schema objects
//! are a JSON Schema dialect (`$ref` siblings ignored, `nullable`, boolean
//! `exclusiveMinimum`, refs into the OpenAPI document) that such crates do not
//! implement exactly; their error paths are JSON pointers, whereas ours must
//! read as Rust/JSON field paths; query and header parameters need
//! OpenAPI-specific decoding anyway; and the spec only uses the small subset
//! of keywords handled here.
//!
//! Supported keywords: `$ref`, `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `minLength`/`maxLength`,
//! `pattern`, `minimum`/`maximum`, `minItems`/`maxItems`; everything else
//! (`format`, `description`, `x-*`, ...) is ignored.
//!
//! Decisions:
//! - `null` for an optional property is treated as absent; for a required one
//!   it is `required field missing`.
//! - Unknown fields of an object schema that declares `properties` but no
//!   `additionalProperties` are reported as `unknown field`: the typed request
//!   structs cannot produce one, so it can only be a typo in a hand-built body.
//!   An object schema without `properties` is free-form.
//! - A spec `pattern` that regress cannot compile is skipped (logged once with
//!   `tracing::warn!`): a bug in the spec must not block requests.
//! - An unresolvable `$ref` accepts anything.
//! - Missing required fields are reported at their object, before the
//!   violations inside the object's values, which follow in document order.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::{Map, Number, Value};

use crate::error::HookFailure;
use crate::operations::Operation as TableOperation;

/// Nesting depth past which a value is reported rather than recursed into, so
/// that a pathological value cannot overflow the stack.
const MAX_DEPTH: usize = 128;
/// `$ref` hops followed before giving up, so that a ref cycle cannot loop.
const MAX_REF_HOPS: usize = 32;
/// Longest rendering of an offending value inside a message.
const MAX_PREVIEW: usize = 60;

/// What the client does with a request that breaks the spec's constraints
/// ([`ClientBuilder::validation`](crate::ClientBuilder::validation),
/// `SP_API_VALIDATION`, the CLI's `--no-validate`).
///
/// Amazon's model is stricter than Amazon in places (issue 10: UK and India
/// addresses without `stateOrRegion` are accepted by the live service), so
/// the check that protects against typos must not be the last word. The
/// generated types' own constraints (a constrained string's length, for
/// example) apply to a typed body whatever this setting says: a typed value
/// cannot hold what they refuse. A body given as JSON (an operation
/// builder's `body_json`, e.g.
/// [`GetRates::body_json`](crate::builder::GetRates::body_json)) is sent as
/// given; this setting applies to it as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Validation {
    /// Refuse the request with [`crate::Error::InvalidRequest`] naming every
    /// violation; nothing is sent (the default).
    #[default]
    Enforce,
    /// Log the violations (`tracing` WARN, with the operation) and send the
    /// request anyway.
    Warn,
    /// Send without checking.
    Off,
}

impl Validation {
    /// The name `SP_API_VALIDATION` takes: `enforce`, `warn` or `off`.
    pub fn name(self) -> &'static str {
        match self {
            Validation::Enforce => "enforce",
            Validation::Warn => "warn",
            Validation::Off => "off",
        }
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Validation {
    type Err = String;

    /// `enforce`, `warn` or `off`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Ok(Validation::Enforce),
            "warn" => Ok(Validation::Warn),
            "off" => Ok(Validation::Off),
            _ => Err(format!(
                "{s:?} is not a validation mode; expected enforce, warn or off"
            )),
        }
    }
}

/// One constraint a request breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Where: object keys joined with `.`, array indexes as `[i]`, a
    /// parameter's name for query/header parameters; empty for the body root.
    pub path: String,
    /// What is wrong, e.g. `longer than 60 characters (61)`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Violation {}

/// Reads a typed value (a request body such as
/// [`GetRatesRequest`](crate::types::GetRatesRequest), or any generated type)
/// from JSON, naming where it is wrong: the error's path is the JSON path of
/// the offending value in the wire's names, as [`check_request`] writes it.
///
/// `serde_json::from_value` reports only what a constrained type says
/// (`longer than 60 characters (61)`): a type's `Deserialize` cannot know
/// where it sits. This reads the same value through `serde_path_to_error`.
/// It stops at the first problem, as deserialization does; for every
/// violation of a body at once, check the JSON first with
/// [`check_request_body`].
///
/// ```
/// use serde_json::json;
/// use spapi_shipping::types::Address;
/// use spapi_shipping::validate::from_json;
///
/// let too_long = "x".repeat(61);
/// let err = from_json::<Address>(json!({
///     "name": "A. Buyer", "addressLine1": too_long, "city": "Leeds",
///     "postalCode": "LS1 4AP", "countryCode": "GB"
/// }))
/// .unwrap_err();
/// assert_eq!(err.to_string(), "addressLine1: longer than 60 characters (61)");
/// assert_eq!(err.path, "addressLine1");
/// ```
pub fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Violation> {
    serde_path_to_error::deserialize(value).map_err(|e| Violation {
        path: crate::runtime::decode::display_path(e.path()),
        message: e.into_inner().to_string(),
    })
}

/// Checks a JSON value against a schema of the spec (`schema` may be a
/// `{"$ref": "#/components/schemas/X"}`), appending every violation (not only
/// the first) with paths relative to `path` (`""` for the root of a body).
pub fn check_value(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    check(schema, value, path, out, 0);
}

/// Checks one operation's request so that a request Amazon would reject is
/// never sent: `body` against the operation's requestBody schema (path root
/// `""`), and each query and header parameter the spec declares against its
/// schema (path = the parameter's name; missing required parameters too).
///
/// `operation_id` is the spec operationId (e.g. `"getRates"`). `query` holds
/// the decoded query pairs as sent: an array declared `explode: false` is one
/// pair with comma-separated values, an exploded array repeated pairs.
/// `headers` holds (lowercased name, value) pairs. Numbers and booleans are
/// parsed per the parameter's schema type. A missing required body is
/// `request body missing` (empty path). Path parameters and undeclared query
/// pairs or headers are not checked. An unknown operation has no violations.
pub fn check_request(
    operation_id: &str,
    body: Option<&Value>,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(operation) = operations().get(operation_id) else {
        return out;
    };
    if let Some(request_body) = operation.body {
        check_body(request_body, body, &mut out);
    }
    for param in &operation.params {
        check_parameter(param, query, headers, &mut out);
    }
    out
}

/// Checks a request body against the operation's requestBody schema only
/// (no parameters): what the CLI checks in a `--json-body` before the
/// generated code deserialises it into the typed request, which would drop
/// unknown fields silently. `operation_id` is the spec operationId; an
/// unknown operation, or one without a body, has no violations.
pub fn check_request_body(operation_id: &str, body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(request_body) = operations().get(operation_id).and_then(|op| op.body) {
        check_body(request_body, Some(body), &mut out);
    }
    out
}

/// The checks on a request about to be sent, in `mode`: a path that
/// breaks its template (an empty, `.` or `..` segment, which would reach
/// another operation) is refused in every mode; the spec's constraints are
/// refused under [`Validation::Enforce`], logged under [`Validation::Warn`].
pub(crate) fn outgoing(
    op: &TableOperation,
    request: &reqwest::Request,
    mode: Validation,
) -> Result<(), Box<HookFailure>> {
    let mut violations = crate::operations::path_violations(op, request.url().path());
    let path_broken = !violations.is_empty();
    if mode != Validation::Off {
        violations.extend(request_violations(op, request));
    }
    if path_broken || (!violations.is_empty() && mode == Validation::Enforce) {
        return Err(Box::new(HookFailure::InvalidRequest {
            operation: op.id.to_owned(),
            violations,
        }));
    }
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        tracing::warn!(
            operation = op.id,
            violations = %list.join("; "),
            "the request breaks the spec's constraints; sending it anyway (validation: warn)"
        );
    }
    Ok(())
}

/// The spec's constraints on what is about to be sent: body, query and
/// declared headers. Nothing Amazon's model forbids leaves the process.
///
/// The parameter constraints the generated types already guarantee (most
/// of them, decided at build time: build/param_checks.rs) are not checked
/// again: only a required list sent empty (`op.required_lists`), and
/// whatever the spec walker must still see (`op.spec_checked_params`).
fn request_violations(op: &TableOperation, request: &reqwest::Request) -> Vec<Violation> {
    let mut out = Vec::new();
    // The spec walker, when it runs, reports a missing list itself.
    let lists = if op.spec_checked_params.is_empty() {
        op.required_lists
    } else {
        &[]
    };
    for name in lists {
        if !request.url().query_pairs().any(|(k, _)| k == *name) {
            out.push(Violation {
                path: (*name).to_owned(),
                message: "required parameter missing".into(),
            });
        }
    }
    let body = request
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(serde_json::from_slice::<serde_json::Value>);
    let body = match body {
        Some(Ok(value)) => Some(value),
        Some(Err(e)) => {
            out.push(Violation {
                path: String::new(),
                message: format!("the body is not JSON: {e}"),
            });
            return out;
        }
        None => None,
    };
    if op.spec_checked_params.is_empty() {
        if let Some(body) = &body {
            out.extend(check_request_body(op.id, body));
        }
        return out;
    }
    let query: Vec<_> = request.url().query_pairs().collect();
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (&**k, &**v)).collect();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or_default()))
        .collect();
    out.extend(check_request(op.id, body.as_ref(), &query, &headers));
    out
}

// ---------------------------------------------------------------------------
// The spec

/// The embedded spec, parsed once. A parse failure (impossible for the
/// checked-in file; a unit test asserts it) yields `null`, which validates
/// nothing rather than panicking.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!("../../spec/shipping-v2.json")).unwrap_or_else(|e| {
            tracing::error!("spec/shipping-v2.json does not parse, validation disabled: {e}");
            Value::Null
        })
    })
}

/// Follows `$ref`s (local JSON pointers such as `#/components/schemas/Name`)
/// to the object they name; `None` if a ref does not resolve.
fn resolve(mut node: &Value) -> Option<&Value> {
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
            return Some(node);
        };
        node = reference
            .strip_prefix('#')
            .and_then(|p| spec().pointer(p))?;
    }
    None
}

/// What the spec says about one operation.
struct Operation {
    /// Declared parameters (path-level ones included), refs resolved.
    params: Vec<&'static Value>,
    /// The requestBody object, if the operation has one.
    body: Option<&'static Value>,
}

fn operations() -> &'static HashMap<&'static str, Operation> {
    static OPERATIONS: OnceLock<HashMap<&'static str, Operation>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let mut index = HashMap::new();
        let paths = spec().get("paths").and_then(Value::as_object);
        for item in paths.into_iter().flat_map(Map::values) {
            for op in item.as_object().into_iter().flat_map(Map::values) {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    index.insert(id, operation(item, op));
                }
            }
        }
        index
    })
}

fn operation(item: &'static Value, op: &'static Value) -> Operation {
    let declared = |node: &'static Value| -> Vec<&'static Value> {
        let list = node.get("parameters").and_then(Value::as_array);
        list.into_iter().flatten().filter_map(resolve).collect()
    };
    let mut params = declared(op);
    let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
    for shared in declared(item) {
        if !params.iter().any(|p| key(p) == key(shared)) {
            params.push(shared);
        }
    }
    let body = op.get("requestBody").and_then(resolve);
    Operation { params, body }
}

// ---------------------------------------------------------------------------
// Request parts

fn check_body(request_body: &Value, body: Option<&Value>, out: &mut Vec<Violation>) {
    let required = request_body.get("required") == Some(&Value::Bool(true));
    let schema = request_body.pointer("/content/application~1json/schema");
    match (body, schema) {
        (Some(body), Some(schema)) => check_value(schema, body, "", out),
        (None, _) if required => push(out, "", "request body missing".into()),
        _ => {}
    }
}

fn check_parameter(
    param: &Value,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    out: &mut Vec<Violation>,
) {
    let name = param.get("name").and_then(Value::as_str).unwrap_or("");
    let location = param.get("in").and_then(Value::as_str).unwrap_or("");
    let values: Vec<&str> = match location {
        "query" => values_of(query, |k| k == name),
        "header" => values_of(headers, |k| k.eq_ignore_ascii_case(name)),
        _ => return, // path parameters are part of the URL the client builds
    };
    if values.is_empty() {
        if param.get("required") == Some(&Value::Bool(true)) {
            push(out, name, "required parameter missing".into());
        }
        return;
    }
    let Some(schema) = param.get("schema") else {
        return;
    };
    for value in decode_parameter(param, schema, location, &values) {
        check_value(schema, &value, name, out);
    }
}

fn values_of<'a>(pairs: &[(&str, &'a str)], matches: impl Fn(&str) -> bool) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| matches(k))
        .map(|&(_, v)| v)
        .collect()
}

/// Owned (name, value) pairs as the borrowed pairs [`check_request`] takes.
#[cfg(any(feature = "mock", test))]
pub(crate) fn as_pairs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Turns a parameter's raw values into the JSON values its schema describes:
/// one array for an array parameter, else one value per occurrence.
fn decode_parameter(param: &Value, schema: &Value, location: &str, raw: &[&str]) -> Vec<Value> {
    let resolved = resolve(schema).unwrap_or(&Value::Null);
    if schema_type(resolved) != Some("array") {
        return raw.iter().map(|v| decode_scalar(resolved, v)).collect();
    }
    let item_schema = resolved
        .get("items")
        .and_then(resolve)
        .unwrap_or(&Value::Null);
    let default_style = if location == "query" {
        "form"
    } else {
        "simple"
    };
    let style = param
        .get("style")
        .and_then(Value::as_str)
        .unwrap_or(default_style);
    let explode = param
        .get("explode")
        .and_then(Value::as_bool)
        .unwrap_or(style == "form");
    let items = raw.iter().flat_map(|v| split_items(v, explode));
    vec![Value::Array(
        items.map(|v| decode_scalar(item_schema, v)).collect(),
    )]
}

/// One array item per exploded pair, else comma-separated items (an empty
/// value being an empty array).
fn split_items(value: &str, explode: bool) -> Vec<&str> {
    match (explode, value.is_empty()) {
        (true, _) => vec![value],
        (false, true) => Vec::new(),
        (false, false) => value.split(',').collect(),
    }
}

/// Parses a number or boolean when the schema asks for one; anything that does
/// not parse stays a string, so the type check reports it.
fn decode_scalar(schema: &Value, raw: &str) -> Value {
    let parsed = match schema_type(schema) {
        Some("number" | "integer") => parse_number(raw).map(Value::Number),
        Some("boolean") => raw.parse::<bool>().ok().map(Value::Bool),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(raw.to_owned()))
}

fn parse_number(raw: &str) -> Option<Number> {
    if let Ok(n) = raw.parse::<i64>() {
        return Some(n.into());
    }
    if let Ok(n) = raw.parse::<u64>() {
        return Some(n.into());
    }
    raw.parse::<f64>().ok().and_then(Number::from_f64)
}

// ---------------------------------------------------------------------------
// Schema checks

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>, depth: usize) {
    if depth > MAX_DEPTH {
        return push(out, path, "nested too deeply".into());
    }
    let Some(schema) = resolve(schema).and_then(Value::as_object) else {
        return;
    };
    if !check_type(schema, value, path, out) {
        return;
    }
    check_enum(schema, value, path, out);
    match value {
        Value::String(s) => check_string(schema, s, path, out),
        Value::Number(n) => check_number(schema, n, path, out),
        Value::Array(items) => check_array(schema, items, path, out, depth),
        Value::Object(map) => check_object(schema, map, path, out, depth),
        Value::Null | Value::Bool(_) => {}
    }
}

/// Reports a type mismatch; `false` means the other keywords do not apply.
fn check_type(
    schema: &Map<String, Value>,
    value: &Value,
    path: &str,
    out: &mut Vec<Violation>,
) -> bool {
    let Some(expected) = schema.get("type").and_then(Value::as_str) else {
        return true;
    };
    let matches = match (expected, value) {
        ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => is_integer(n),
        ("object" | "array" | "string" | "boolean" | "number" | "integer", _) => false,
        _ => true, // a type this checker does not know constrains nothing
    };
    if !matches {
        let article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let message = format!("expected {article} {expected}, found {}", type_name(value));
        push(out, path, message);
    }
    matches
}

fn check_enum(schema: &Map<String, Value>, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let Some(options) = schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if options.iter().any(|option| same_value(option, value)) {
        return;
    }
    let listed: Vec<String> = options.iter().map(enum_label).collect();
    push(
        out,
        path,
        format!("{} is not one of {}", preview(value), listed.join(", ")),
    );
}

fn check_string(schema: &Map<String, Value>, s: &str, path: &str, out: &mut Vec<Violation>) {
    let len = s.chars().count();
    if let Some(min) = limit(schema, "minLength").filter(|&min| len < min) {
        push(out, path, format!("shorter than {min} characters ({len})"));
    }
    if let Some(max) = limit(schema, "maxLength").filter(|&max| len > max) {
        push(out, path, format!("longer than {max} characters ({len})"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && pattern_matches(pattern, s) == Some(false)
    {
        push(out, path, format!("does not match pattern {pattern}"));
    }
}

fn check_number(schema: &Map<String, Value>, n: &Number, path: &str, out: &mut Vec<Violation>) {
    let Some(x) = n.as_f64() else {
        return;
    };
    let bound = |key: &str| schema.get(key).and_then(Value::as_number);
    if let Some(min) = bound("minimum").filter(|min| min.as_f64().is_some_and(|m| x < m)) {
        push(out, path, format!("less than minimum {min} ({n})"));
    }
    if let Some(max) = bound("maximum").filter(|max| max.as_f64().is_some_and(|m| x > m)) {
        push(out, path, format!("greater than maximum {max} ({n})"));
    }
}

fn check_array(
    schema: &Map<String, Value>,
    items: &[Value],
    path: &str,
    out: &mut Vec<Violation>,
    depth: usize,
) {
    let len = items.len();
    if let Some(min) = limit(schema, "minItems").filter(|&min| len < min) {
        push(out, path, format!("fewer than {min} items ({len})"));
    }
    if let Some(max) = limit(schema, "maxItems").filter(|&max| len > max) {
        push(out, path, format!("more than {max} items ({len})"));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), out, depth + 1);
        }
    }
}

fn check_object(
    schema: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
    depth: usize,
) {
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if map.get(name).is_none_or(Value::is_null) {
            push(out, &join(path, name), "required field missing".into());
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in map {
        let key_path = join(path, key);
        match (
            properties.and_then(|p| p.get(key)),
            schema.get("additionalProperties"),
        ) {
            (Some(_), _) if value.is_null() => {} // absent; if required, reported above
            (Some(property), _) => check(property, value, &key_path, out, depth + 1),
            (None, Some(Value::Bool(false))) => push(out, &key_path, "unknown field".into()),
            (None, None) if properties.is_some() => push(out, &key_path, "unknown field".into()),
            (None, Some(values @ Value::Object(_))) => {
                check(values, value, &key_path, out, depth + 1)
            }
            (None, _) => {}
        }
    }
}

/// `Some(true)` if `s` contains a match of the (unanchored, ECMAScript)
/// pattern, `None` if the pattern does not compile.
fn pattern_matches(pattern: &str, s: &str) -> Option<bool> {
    type Cache = Mutex<HashMap<String, Option<regress::Regex>>>;
    static PATTERNS: OnceLock<Cache> = OnceLock::new();
    let mut cache = PATTERNS
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if !cache.contains_key(pattern) {
        let compiled = regress::Regex::new(pattern)
            .inspect_err(|e| tracing::warn!("spec pattern {pattern} is invalid, not checked: {e}"))
            .ok();
        cache.insert(pattern.to_owned(), compiled);
    }
    let regex = cache.get(pattern)?.as_ref()?;
    Some(regex.find(s).is_some())
}

// ---------------------------------------------------------------------------
// Helpers

fn push(out: &mut Vec<Violation>, path: &str, message: String) {
    out.push(Violation {
        path: path.to_owned(),
        message,
    });
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn schema_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn limit(schema: &Map<String, Value>, key: &str) -> Option<usize> {
    let n = schema.get(key).and_then(Value::as_u64)?;
    Some(usize::try_from(n).unwrap_or(usize::MAX))
}

fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|x| x.fract() == 0.0)
}

/// JSON equality, except that numbers compare by value (`300` equals `300.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An enum option as listed in a message: strings bare, others as JSON.
fn enum_label(option: &Value) -> String {
    option
        .as_str()
        .map_or_else(|| option.to_string(), str::to_owned)
}

/// An offending value as JSON, cut short so that a huge value cannot flood
/// the message.
fn preview(value: &Value) -> String {
    let json = value.to_string();
    if json.chars().count() <= MAX_PREVIEW {
        return json;
    }
    let cut: String = json.chars().take(MAX_PREVIEW).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUSINESS_IDS: &str = "AmazonShipping_US, AmazonShipping_IN, AmazonShipping_UK, \
        AmazonShipping_UAE, AmazonShipping_SA, AmazonShipping_EG, AmazonShipping_IT, \
        AmazonShipping_ES, AmazonShipping_FR, AmazonShipping_JP";

    fn violation(path: &str, message: &str) -> Violation {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }

    fn schema(name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    fn pairs<'a>(list: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        list.to_vec()
    }

    /// The valid getRates body of the request fixture.
    fn rates_body() -> Value {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/requests/getRates.json"))
                .unwrap();
        fixture["body"].clone()
    }

    /// getRates body violations after `edit` breaks the valid body.
    fn rates_violations(edit: impl FnOnce(&mut Value)) -> Vec<Violation> {
        let mut body = rates_body();
        edit(&mut body);
        check_request("getRates", Some(&body), &[], &[])
    }

    fn value_violations(schema: &Value, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        check_value(schema, value, "", &mut out);
        out
    }

    #[test]
    fn a_body_alone_is_checked_without_the_parameters() {
        let mut body = rates_body();
        body["shipDte"] = json!("2024-01-01T00:00:00Z");
        // getTracking has required query parameters but no body: nothing.
        assert_eq!(check_request_body("getTracking", &body), []);
        assert_eq!(
            check_request_body("getRates", &body),
            [violation("shipDte", "unknown field")]
        );
        assert_eq!(check_request_body("noSuchOperation", &body), []);
    }

    #[test]
    fn embedded_spec_parses_and_indexes_all_twenty_operations() {
        assert!(spec().is_object());
        assert_eq!(operations().len(), 20);
    }

    #[test]
    fn violation_displays_path_then_message() {
        assert_eq!(
            violation("shipTo.city", "required field missing").to_string(),
            "shipTo.city: required field missing"
        );
        assert_eq!(
            violation("", "request body missing").to_string(),
            "request body missing"
        );
    }

    #[test]
    fn valid_get_rates_body_has_no_violations() {
        assert_eq!(rates_violations(|_| {}), []);
    }

    #[test]
    fn missing_required_field_is_reported() {
        let found = rates_violations(|b| {
            b["shipTo"].as_object_mut().unwrap().remove("city");
        });
        assert_eq!(found, [violation("shipTo.city", "required field missing")]);
        let found = rates_violations(|b| {
            b["packages"][0]
                .as_object_mut()
                .unwrap()
                .remove("dimensions");
        });
        assert_eq!(
            found,
            [violation(
                "packages[0].dimensions",
                "required field missing"
            )]
        );
    }

    #[test]
    fn null_is_absent_for_optional_fields_and_missing_for_required_ones() {
        assert_eq!(rates_violations(|b| b["shipTo"]["email"] = Value::Null), []);
        let found = rates_violations(|b| b["shipTo"]["city"] = Value::Null);
        assert_eq!(found, [violation("shipTo.city", "required field missing")]);
    }

    #[test]
    fn max_length_counts_characters_not_bytes() {
        let found = rates_violations(|b| b["shipTo"]["addressLine1"] = json!("a".repeat(61)));
        assert_eq!(
            found,
            [violation(
                "shipTo.addressLine1",
                "longer than 60 characters (61)"
            )]
        );
        assert_eq!(
            rates_violations(|b| b["shipTo"]["addressLine1"] = json!("é".repeat(60))),
            []
        );
    }

    #[test]
    fn min_length_is_reported() {
        let found = rates_violations(|b| b["shipTo"]["name"] = json!(""));
        assert_eq!(
            found,
            [violation("shipTo.name", "shorter than 1 characters (0)")]
        );
    }

    #[test]
    fn pattern_is_an_unanchored_ecmascript_search() {
        let found = rates_violations(|b| {
            b["packages"][0]["items"][0]["dangerousGoodsDetails"]["unitedNationsRegulatoryId"] =
                json!("UN348");
        });
        let path = "packages[0].items[0].dangerousGoodsDetails.unitedNationsRegulatoryId";
        assert_eq!(
            found,
            [violation(
                path,
                "does not match pattern ^(UN|ID|NA)[0-9]{4}$"
            )]
        );
        let unanchored = json!({ "type": "string", "pattern": "[0-9]" });
        assert_eq!(value_violations(&unanchored, &json!("abc1def")), []);
    }

    #[test]
    fn enum_violation_lists_the_allowed_values() {
        let found = rates_violations(|b| b["packages"][0]["weight"]["unit"] = json!("STONE"));
        let message = r#""STONE" is not one of GRAM, KILOGRAM, OUNCE, POUND"#;
        assert_eq!(found, [violation("packages[0].weight.unit", message)]);
    }

    #[test]
    fn wrong_type_is_reported_and_stops_further_checks() {
        let found = rates_violations(|b| b["packages"][0]["weight"]["value"] = json!("1.85"));
        assert_eq!(
            found,
            [violation(
                "packages[0].weight.value",
                "expected a number, found string"
            )]
        );
        let found = rates_violations(|b| b["packages"][0]["items"][1]["quantity"] = json!(1.5));
        let message = "expected an integer, found number";
        assert_eq!(found, [violation("packages[0].items[1].quantity", message)]);
        assert_eq!(
            rates_violations(|b| b["packages"][0]["items"][1]["quantity"] = json!(2.0)),
            []
        );
    }

    #[test]
    fn unknown_field_is_reported_where_the_schema_declares_properties() {
        let found = rates_violations(|b| b["packages"][0]["colour"] = json!("red"));
        assert_eq!(found, [violation("packages[0].colour", "unknown field")]);
    }

    #[test]
    fn free_form_maps_accept_anything_and_typed_maps_check_each_value() {
        let purchase = schema("PurchaseShipmentRequest");
        let body = json!({
            "requestToken": "t", "rateId": "r",
            "requestedDocumentSpecification": {
                "format": "PDF", "size": { "width": 4, "length": 6, "unit": "INCH" },
                "needFileJoining": false, "requestedDocumentTypes": ["LABEL"]
            },
            "additionalInputs": { "anything": { "nested": [1, null] } }
        });
        assert_eq!(value_violations(&purchase, &body), []);
        let map = json!({ "HELIX": [], "CORE_LOCKER": "none" });
        let found = value_violations(&schema("AccessPointsMap"), &map);
        assert_eq!(
            found,
            [violation("CORE_LOCKER", "expected an array, found string")]
        );
        let closed = json!({ "type": "object", "additionalProperties": false });
        assert_eq!(
            value_violations(&closed, &json!({ "x": 1 })),
            [violation("x", "unknown field")]
        );
    }

    #[test]
    fn minimum_and_maximum_are_inclusive() {
        let percent = json!({ "type": "integer", "minimum": 0, "maximum": 100 });
        assert_eq!(value_violations(&percent, &json!(0)), []);
        assert_eq!(value_violations(&percent, &json!(100)), []);
        assert_eq!(
            value_violations(&percent, &json!(-1)),
            [violation("", "less than minimum 0 (-1)")]
        );
        assert_eq!(
            value_violations(&percent, &json!(101)),
            [violation("", "greater than maximum 100 (101)")]
        );
    }

    #[test]
    fn item_counts_are_reported() {
        let found = value_violations(&schema("ExcludedBenefitReasonCodes"), &json!([]));
        assert_eq!(found, [violation("", "fewer than 1 items (0)")]);
        let pair = json!({ "type": "array", "maxItems": 2 });
        assert_eq!(
            value_violations(&pair, &json!([1, 2, 3])),
            [violation("", "more than 2 items (3)")]
        );
    }

    #[test]
    fn paths_are_relative_to_the_given_root() {
        let mut out = Vec::new();
        check_value(
            &schema("Weight"),
            &json!({ "unit": "KILOGRAM" }),
            "packages[3].weight",
            &mut out,
        );
        assert_eq!(
            out,
            [violation(
                "packages[3].weight.value",
                "required field missing"
            )]
        );
    }

    #[test]
    fn all_violations_are_reported_in_document_order() {
        let found = rates_violations(|b| {
            b["shipTo"]["name"] = json!("");
            b["shipTo"]["countryCode"] = json!(49);
            b["packages"][0]["weight"] = json!({ "unit": "STONE", "value": "heavy" });
            b["packages"][0]["items"][1]
                .as_object_mut()
                .unwrap()
                .remove("quantity");
            b["channelDetails"]
                .as_object_mut()
                .unwrap()
                .remove("channelType");
        });
        let expected = [
            violation("shipTo.name", "shorter than 1 characters (0)"),
            violation("shipTo.countryCode", "expected a string, found number"),
            violation(
                "packages[0].weight.unit",
                r#""STONE" is not one of GRAM, KILOGRAM, OUNCE, POUND"#,
            ),
            violation(
                "packages[0].weight.value",
                "expected a number, found string",
            ),
            violation("packages[0].items[1].quantity", "required field missing"),
            violation("channelDetails.channelType", "required field missing"),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn invalid_or_unresolvable_schemas_constrain_nothing() {
        let broken = json!({ "type": "string", "pattern": "(" });
        assert_eq!(value_violations(&broken, &json!("anything")), []);
        assert_eq!(value_violations(&schema("NoSuchSchema"), &json!(42)), []);
        assert_eq!(
            value_violations(&json!({ "$ref": "other.json#/X" }), &json!(42)),
            []
        );
        assert_eq!(value_violations(&json!("not a schema"), &json!(42)), []);
    }

    #[test]
    fn oversized_values_are_cut_short_in_messages() {
        let unit = json!({ "enum": ["A"] });
        let found = value_violations(&unit, &json!("x".repeat(500)));
        assert_eq!(
            found[0].message,
            format!("\"{}… is not one of A", "x".repeat(59))
        );
    }

    #[test]
    fn missing_body_of_a_body_operation_is_reported() {
        assert_eq!(
            check_request("getRates", None, &[], &[]),
            [violation("", "request body missing")]
        );
    }

    #[test]
    fn unknown_operation_has_no_violations() {
        assert_eq!(
            check_request("noSuchOperation", Some(&json!(1)), &[], &[]),
            []
        );
    }

    #[test]
    fn comma_separated_array_parameter_reports_the_bad_item() {
        let query = pairs(&[
            ("accessPointTypes", "HELIX,NOT_A_TYPE"),
            ("countryCode", "GB"),
            ("postalCode", "EX33 2JL"),
        ]);
        let found = check_request("getAccessPoints", None, &query, &[]);
        let message = r#""NOT_A_TYPE" is not one of HELIX, CAMPUS_LOCKER, OMNI_LOCKER, ODIN_LOCKER, DOBBY_LOCKER, CORE_LOCKER, 3P, CAMPUS_ROOM"#;
        assert_eq!(found, [violation("accessPointTypes[1]", message)]);
    }

    #[test]
    fn missing_required_query_parameters_are_reported() {
        let query = pairs(&[("accessPointTypes", "HELIX"), ("postalCode", "EX33 2JL")]);
        let found = check_request("getAccessPoints", None, &query, &[]);
        assert_eq!(
            found,
            [violation("countryCode", "required parameter missing")]
        );
        let found = check_request(
            "getTracking",
            None,
            &pairs(&[("carrierId", "AMZN_IT")]),
            &[],
        );
        assert_eq!(
            found,
            [violation("trackingId", "required parameter missing")]
        );
    }

    #[test]
    fn header_parameter_is_checked_against_its_referenced_schema() {
        let headers = pairs(&[("x-amzn-shipping-business-id", "AmazonShipping_DE")]);
        let query = pairs(&[("trackingId", "T1"), ("carrierId", "AMZN_IT")]);
        let found = check_request("getTracking", None, &query, &headers);
        let message = format!(r#""AmazonShipping_DE" is not one of {BUSINESS_IDS}"#);
        assert_eq!(found, [violation("x-amzn-shipping-business-id", &message)]);
    }

    #[test]
    fn numeric_query_parameter_must_parse_as_a_number() {
        let mut query = pairs(&[("packageClientReferenceId", "REF-1"), ("dpi", "abc")]);
        let found = check_request("getShipmentDocuments", None, &query, &[]);
        assert_eq!(found, [violation("dpi", "expected a number, found string")]);
        query[1].1 = "300";
        assert_eq!(check_request("getShipmentDocuments", None, &query, &[]), []);
    }

    #[test]
    fn exploded_array_parameter_takes_one_item_per_pair() {
        let param = json!({ "name": "ids", "in": "query" });
        let ints = json!({ "type": "array", "items": { "type": "integer" } });
        let decoded = decode_parameter(&param, &ints, "query", &["1,2", "3"]);
        assert_eq!(decoded, [json!(["1,2", 3])]);
        let mut out = Vec::new();
        check_value(&ints, &decoded[0], "ids", &mut out);
        assert_eq!(
            out,
            [violation("ids[0]", "expected an integer, found string")]
        );
    }

    /// A fixture's query or headers object as the pairs a client sends:
    /// arrays comma-joined (the only array parameter is `explode: false`).
    fn fixture_pairs(object: &Value, lowercase: bool) -> Vec<(String, String)> {
        let entries = object.as_object().into_iter().flatten();
        entries
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => {
                        let items: Vec<String> = items
                            .iter()
                            .map(|i| i.as_str().unwrap().to_owned())
                            .collect();
                        items.join(",")
                    }
                    other => other.to_string(),
                };
                let name = if lowercase {
                    name.to_lowercase()
                } else {
                    name.clone()
                };
                (name, text)
            })
            .collect()
    }

    #[test]
    fn every_request_fixture_is_valid() {
        let dir = format!("{}/tests/fixtures/requests", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let fixture: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let id = fixture["operationId"].as_str().unwrap();
            let query = fixture_pairs(&fixture["query"], false);
            let headers = fixture_pairs(&fixture["headers"], true);
            let found = check_request(
                id,
                fixture.get("body"),
                &as_pairs(&query),
                &as_pairs(&headers),
            );
            assert_eq!(found, [], "{}", path.display());
            checked += 1;
        }
        assert_eq!(checked, 20);
    }
}
