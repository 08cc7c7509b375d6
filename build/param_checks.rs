//! Which query and header parameter constraints the runtime must still
//! check, decided once at build time (issue 12).
//!
//! The generated builders already guarantee most of what the spec says about
//! a parameter: a required one cannot be left out (`send` fails with
//! `Error::InvalidRequest` first), a closed enum cannot hold another value,
//! a number is a number. Checking those again walked the spec as a
//! `serde_json::Value` on every call. What is left:
//! - **presence**: a required array parameter given an empty list sends no
//!   pair at all, which the types allow;
//! - **spec**: a constraint the types do not express (a string length or
//!   pattern, a numeric bound, an item count, an enum the client keeps open,
//!   an object): checked against the spec at run time, as before. The spec
//!   has none today; a new one is checked rather than silently trusted.

use serde_json::Value;

/// One operation's parameters, as the runtime must check them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParamChecks {
    /// Required array query parameters: at least one pair must be sent.
    pub presence: Vec<String>,
    /// Parameters whose constraints only the spec walker checks.
    pub spec: Vec<String>,
    /// Query and header parameters the generated types fully guarantee.
    pub guaranteed: usize,
}

/// Classifies the query and header parameters of `op` (path-level ones of
/// `item` included). `closed` names the enums that stay closed (their
/// generated type admits nothing else); a `$ref` to any other enum is an
/// open enum, whose `Unknown(String)` the spec walker must still check.
pub fn classify(spec: &Value, item: &Value, op: &Value, closed: &[String]) -> ParamChecks {
    let mut checks = ParamChecks::default();
    let declared = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(item["parameters"].as_array().into_iter().flatten());
    let mut seen = Vec::new();
    for param in declared {
        let param = resolve(spec, param);
        let (name, location) = (param["name"].as_str().unwrap_or(""), &param["in"]);
        if location == "path" || seen.contains(&(name, location)) {
            continue;
        }
        seen.push((name, location));
        let schema = &param["schema"];
        let is_array = resolve(spec, schema)["type"] == "array";
        if !guaranteed(spec, schema, closed) {
            checks.spec.push(name.to_owned());
        } else if is_array && param["required"] == true {
            checks.presence.push(name.to_owned());
        } else {
            checks.guaranteed += 1;
        }
    }
    checks
}

/// Whether the generated type for `schema` can only hold values the spec
/// allows (as far as `src/runtime/validate.rs` checks them).
fn guaranteed(spec: &Value, schema: &Value, closed: &[String]) -> bool {
    let target = resolve(spec, schema);
    let has = |keys: &[&str]| keys.iter().any(|k| target.get(*k).is_some());
    if target.get("enum").is_some() {
        // Inline enums become closed parameter types; a named one is
        // closed only if the client keeps it closed.
        let name = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next());
        let closed_type = name.is_none_or(|n| closed.iter().any(|c| n.starts_with(c.as_str())));
        return closed_type && target["type"] == "string";
    }
    match target["type"].as_str() {
        Some("string") => !has(&["minLength", "maxLength", "pattern"]),
        Some("number" | "integer") => !has(&["minimum", "maximum"]),
        Some("boolean") => true,
        Some("array") => {
            !has(&["minItems", "maxItems"]) && guaranteed(spec, &target["items"], closed)
        }
        _ => false,
    }
}

/// Follows local `$ref`s.
fn resolve<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(pointer) = node["$ref"].as_str().and_then(|r| r.strip_prefix('#')) else {
            return node;
        };
        node = spec.pointer(pointer).unwrap_or(&Value::Null);
    }
    node
}
