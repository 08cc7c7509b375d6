//! Checks the spec must pass before anything is derived from it.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::fixes::{FIX_IDS, USAGE_PLAN};
use crate::json_ext::walk_refs;

/// Validates `spec`: OpenAPI 3.0 as progenitor's parser reads it, unique
/// operationIds, a usage plan on every operation, every `$ref` resolving.
pub fn spec(spec: &Value) -> Result<(), String> {
    let version = spec["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.0.") {
        return Err(format!("openapi version must be 3.0.x, found {version:?}"));
    }
    serde_json::from_value::<openapiv3::OpenAPI>(spec.clone())
        .map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))?;
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !op.is_object() || method.starts_with("x-") || method == "parameters" {
                continue;
            }
            let at = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .ok_or_else(|| format!("{at}: no operationId"))?;
            if !ids.insert(id.to_owned()) {
                return Err(format!("{at}: duplicate operationId {id}"));
            }
            let plan = &op[USAGE_PLAN];
            let positive = |k: &str| plan[k].as_f64().is_some_and(|v| v > 0.0);
            if !(positive("rate") && positive("burst")) {
                return Err(format!(
                    "{at} ({id}): {USAGE_PLAN} must have positive rate and burst, found {plan}"
                ));
            }
        }
    }
    let mut dangling = Vec::new();
    walk_refs(spec, &mut |at, reference| {
        let resolves = reference
            .strip_prefix('#')
            .and_then(|p| spec.pointer(p))
            .is_some();
        if !resolves {
            dangling.push(format!("{at}: {reference}"));
        }
    });
    if !dangling.is_empty() {
        return Err(format!("dangling $ref: {}", dangling.join(", ")));
    }
    Ok(())
}

/// Every fix id must be explained in `spec/README.md`.
pub fn fixes_documented(root: &Path) -> Result<(), String> {
    let readme = std::fs::read_to_string(root.join("spec/README.md"))
        .map_err(|e| format!("cannot read spec/README.md: {e}"))?;
    let missing: Vec<&str> = FIX_IDS
        .iter()
        .copied()
        .filter(|id| !readme.contains(id))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "spec/README.md does not explain fix(es) {}",
            missing.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "v"},
            "paths": {"/a": {
                "get": {"operationId": "a", "x-amzn-usage-plan": {"rate": 1, "burst": 2},
                        "responses": {"200": {"description": "ok", "content": {"application/json":
                            {"schema": {"$ref": "#/components/schemas/A"}}}}}},
                "put": {"operationId": "b", "x-amzn-usage-plan": {"rate": 1, "burst": 2},
                        "responses": {"200": {"description": "ok"}}}
            }},
            "components": {"schemas": {"A": {"type": "string"}}}
        })
    }

    #[test]
    fn a_good_document_passes() {
        assert_eq!(spec(&doc()), Ok(()));
    }

    #[test]
    fn duplicate_ids_missing_plans_and_dangling_refs_are_named() {
        let mut d = doc();
        d["paths"]["/a"]["put"]["operationId"] = json!("a");
        assert!(spec(&d).unwrap_err().contains("duplicate operationId a"));

        let mut d = doc();
        d["paths"]["/a"]["put"]
            .as_object_mut()
            .unwrap()
            .remove("x-amzn-usage-plan");
        assert!(
            spec(&d)
                .unwrap_err()
                .contains("PUT /a (b): x-amzn-usage-plan")
        );

        let mut d = doc();
        d["components"]["schemas"] = json!({});
        let err = spec(&d).unwrap_err();
        assert!(err.contains("#/components/schemas/A"), "{err}");

        let mut d = doc();
        d["openapi"] = json!("3.1.0");
        assert!(spec(&d).unwrap_err().contains("3.0.x"));
    }
}
