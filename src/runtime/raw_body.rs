//! The body a generated operation sends (build/raw_body.rs): the typed
//! request progenitor built, or the JSON a caller gave to the builder's
//! `body_json`, sent exactly as given.
//!
//! Either goes through the same `.json(&body)` and so the same hooks: the
//! validation in `hooks::pre` reads the serialized bytes, so a JSON body is
//! checked as written (`Enforce` refuses it with the field paths, `Warn`
//! logs them, `Off` sends it unchecked).

use serde::{Serialize, Serializer};

/// What `send_raw` serializes as the request body.
#[derive(Debug)]
pub(crate) enum RequestBody<T> {
    /// The typed request (`body`, `body_map`).
    Typed(T),
    /// The caller's JSON (`body_json`), unchanged.
    Json(serde_json::Value),
}

impl<T: Serialize> Serialize for RequestBody<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestBody::Typed(typed) => typed.serialize(serializer),
            RequestBody::Json(value) => value.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_body_serializes_exactly_as_given_and_a_typed_one_as_itself() {
        // Key order kept (serde_json's `preserve_order`), nulls and an empty
        // string kept.
        let given = json!({"z": null, "a": "", "extra": {"n": [1, null]}});
        let raw = serde_json::to_string(&RequestBody::<()>::Json(given)).unwrap();
        assert_eq!(raw, r#"{"z":null,"a":"","extra":{"n":[1,null]}}"#);
        let typed = serde_json::to_string(&RequestBody::Typed(vec![1, 2])).unwrap();
        assert_eq!(typed, "[1,2]");
    }
}
