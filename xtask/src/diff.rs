//! A semantic diff of two specs: what an SDK user would notice.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The differences between an old and a new spec, as report lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SpecDiff {
    /// `METHOD path (operationId)` of operations only in the new spec.
    pub operations_added: Vec<String>,
    /// `METHOD path (operationId)` of operations only in the old spec.
    pub operations_removed: Vec<String>,
    /// `METHOD path: what changed` for operations in both.
    pub operations_changed: Vec<String>,
    /// Schema names only in the new spec.
    pub schemas_added: Vec<String>,
    /// Schema names only in the old spec.
    pub schemas_removed: Vec<String>,
    /// `Schema.property` added to a schema in both.
    pub properties_added: Vec<String>,
    /// `Schema.property` removed from a schema in both.
    pub properties_removed: Vec<String>,
    /// `Schema[.property]: VALUE` enum values added.
    pub enum_values_added: Vec<String>,
    /// `Schema[.property]: VALUE` enum values removed.
    pub enum_values_removed: Vec<String>,
}

impl SpecDiff {
    /// Compares two OpenAPI 3 documents.
    pub fn between(old: &Value, new: &Value) -> Self {
        let mut diff = Self::default();
        let (old_ops, new_ops) = (operations(old), operations(new));
        for (key, op) in &new_ops {
            match old_ops.get(key) {
                None => diff.operations_added.push(label(key, op)),
                Some(old_op) => diff
                    .operations_changed
                    .extend(operation_changes(old_op, op).map(|c| format!("{key}: {c}"))),
            }
        }
        for (key, op) in &old_ops {
            if !new_ops.contains_key(key) {
                diff.operations_removed.push(label(key, op));
            }
        }
        let (old_schemas, new_schemas) = (schemas(old), schemas(new));
        for (name, schema) in &new_schemas {
            match old_schemas.get(name) {
                None => diff.schemas_added.push(name.clone()),
                Some(old_schema) => diff.schema_changes(name, old_schema, schema),
            }
        }
        diff.schemas_removed = old_schemas
            .keys()
            .filter(|n| !new_schemas.contains_key(*n))
            .cloned()
            .collect();
        diff
    }

    fn schema_changes(&mut self, name: &str, old: &Value, new: &Value) {
        let (old_props, new_props) = (properties(old), properties(new));
        for p in new_props.keys().filter(|p| !old_props.contains_key(*p)) {
            self.properties_added.push(format!("{name}.{p}"));
        }
        for p in old_props.keys().filter(|p| !new_props.contains_key(*p)) {
            self.properties_removed.push(format!("{name}.{p}"));
        }
        self.enum_changes(name, old, new);
        for (p, schema) in &new_props {
            if let Some(old_schema) = old_props.get(p) {
                self.enum_changes(&format!("{name}.{p}"), old_schema, schema);
            }
        }
    }

    fn enum_changes(&mut self, at: &str, old: &Value, new: &Value) {
        let (old_values, new_values) = (enum_values(old), enum_values(new));
        for v in new_values.difference(&old_values) {
            self.enum_values_added.push(format!("{at}: {v}"));
        }
        for v in old_values.difference(&new_values) {
            self.enum_values_removed.push(format!("{at}: {v}"));
        }
    }

    /// True when the specs are the same as far as this diff can see.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The report, one section per non-empty kind of change.
    pub fn report(&self) -> String {
        let sections: [(&str, &Vec<String>); 9] = [
            ("operations added", &self.operations_added),
            ("operations removed", &self.operations_removed),
            ("operations changed", &self.operations_changed),
            ("schemas added", &self.schemas_added),
            ("schemas removed", &self.schemas_removed),
            ("properties added", &self.properties_added),
            ("properties removed", &self.properties_removed),
            ("enum values added", &self.enum_values_added),
            ("enum values removed", &self.enum_values_removed),
        ];
        let mut out = String::new();
        for (title, items) in sections {
            if items.is_empty() {
                continue;
            }
            out.push_str(&format!("{title} ({}):\n", items.len()));
            for item in items {
                out.push_str(&format!("  {item}\n"));
            }
        }
        if out.is_empty() {
            out.push_str("no semantic changes\n");
        }
        out
    }
}

fn label(key: &str, op: &Value) -> String {
    format!("{key} ({})", op["operationId"].as_str().unwrap_or("?"))
}

fn operations(spec: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if op.get("operationId").is_some() {
                out.insert(format!("{} {path}", method.to_uppercase()), op.clone());
            }
        }
    }
    out
}

fn operation_changes(old: &Value, new: &Value) -> impl Iterator<Item = String> {
    let mut changes = Vec::new();
    if old["operationId"] != new["operationId"] {
        changes.push(format!(
            "operationId {} -> {}",
            old["operationId"], new["operationId"]
        ));
    }
    let params = |op: &Value| -> BTreeMap<String, Value> {
        op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    format!(
                        "{} {}",
                        p["in"].as_str().unwrap_or("?"),
                        p["name"].as_str().unwrap_or("?")
                    ),
                    p.clone(),
                )
            })
            .collect()
    };
    let (old_params, new_params) = (params(old), params(new));
    for (k, p) in &new_params {
        match old_params.get(k) {
            None => changes.push(format!("parameter added: {k}")),
            Some(o) if o != p => changes.push(format!("parameter changed: {k}")),
            Some(_) => {}
        }
    }
    for k in old_params.keys().filter(|k| !new_params.contains_key(*k)) {
        changes.push(format!("parameter removed: {k}"));
    }
    if old["requestBody"] != new["requestBody"] {
        changes.push("request body changed".into());
    }
    let statuses = |op: &Value| -> BTreeSet<String> {
        op["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(s, _)| s.clone())
            .collect()
    };
    let (old_statuses, new_statuses) = (statuses(old), statuses(new));
    for s in new_statuses.difference(&old_statuses) {
        changes.push(format!("response added: {s}"));
    }
    for s in old_statuses.difference(&new_statuses) {
        changes.push(format!("response removed: {s}"));
    }
    for s in old_statuses.intersection(&new_statuses) {
        let schema =
            |op: &Value| op["responses"][s]["content"]["application/json"]["schema"].clone();
        if schema(old) != schema(new) {
            changes.push(format!("response {s} schema changed"));
        }
    }
    let plan = crate::fixes::USAGE_PLAN;
    if old[plan] != new[plan] {
        changes.push(format!("usage plan {} -> {}", old[plan], new[plan]));
    }
    changes.into_iter()
}

fn schemas(spec: &Value) -> BTreeMap<String, Value> {
    spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn properties(schema: &Value) -> BTreeMap<String, Value> {
    schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn enum_values(schema: &Value) -> BTreeSet<String> {
    let direct = schema["enum"].as_array();
    let items = schema["items"]["enum"].as_array();
    direct
        .into_iter()
        .chain(items)
        .flatten()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_operations_schemas_properties_and_enum_values() {
        let old = json!({
            "paths": {"/a": {"get": {"operationId": "getA"}}},
            "components": {"schemas": {
                "S": {"properties": {"x": {"type": "string"}, "gone": {}}},
                "E": {"enum": ["A", "B"]},
                "Old": {}
            }}
        });
        let new = json!({
            "paths": {"/a": {"get": {"operationId": "getA"}, "post": {"operationId": "postA"}}},
            "components": {"schemas": {
                "S": {"properties": {"x": {"type": "string"}, "y": {}}},
                "E": {"enum": ["A", "C"]},
                "New": {}
            }}
        });
        let d = SpecDiff::between(&old, &new);
        assert_eq!(d.operations_added, vec!["POST /a (postA)"]);
        assert_eq!(d.schemas_added, vec!["New"]);
        assert_eq!(d.schemas_removed, vec!["Old"]);
        assert_eq!(d.properties_added, vec!["S.y"]);
        assert_eq!(d.properties_removed, vec!["S.gone"]);
        assert_eq!(d.enum_values_added, vec!["E: C"]);
        assert_eq!(d.enum_values_removed, vec!["E: B"]);
        assert!(SpecDiff::between(&new, &new).is_empty());
    }
}
