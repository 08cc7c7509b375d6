//! What the generated executors call to send a `--json-body` as written
//! (build/raw_body.rs): unless validation is `enforce` (the default), that
//! is with `--no-validate`, `SP_API_VALIDATION=off` or `=warn`, the file is
//! read as JSON and sent with the builder's `body_json`, so what the typed
//! request cannot hold (an empty `phoneNumber`, an explicit `null`, a field
//! the model does not have) reaches Amazon; the body-field flags
//! (`--rate-id`) set their top-level field in it. With `enforce` a body
//! reaches the executor only when the spec allows it, and goes through the
//! typed request as before.

use progenitor_client::ClientInfo as _;
use serde::Serialize;
use serde_json::Value;

use crate::Client;
use crate::validate::Validation;

/// Whether a `--json-body` is sent as written: the client's validation is
/// `off` or `warn` (which promise to send what the spec refuses).
pub(crate) fn sends_raw(client: &Client) -> bool {
    client.inner().runtime().validation != Validation::Enforce
}

/// Sets the top-level `field` of the JSON body to a flag's `value`, as
/// the typed request would serialize it.
pub(crate) fn set_field<T: Serialize>(
    body: &mut Value,
    field: &str,
    value: &T,
) -> anyhow::Result<()> {
    let value = serde_json::to_value(value)?;
    match body {
        Value::Object(map) => {
            map.insert(field.to_owned(), value);
            Ok(())
        }
        // `run` refuses a body that is not an object before the executor runs.
        _ => Err(anyhow::anyhow!(
            "the request body is not a JSON object; cannot set {field}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flag_sets_its_field_and_leaves_the_rest_as_written() {
        let mut body = json!({"rateId": "old", "extra": null, "requestToken": ""});
        set_field(&mut body, "rateId", &"new".to_owned()).unwrap();
        set_field(&mut body, "maxResults", &5_i64).unwrap();
        assert_eq!(
            body,
            json!({"rateId": "new", "extra": null, "requestToken": "", "maxResults": 5})
        );
        let err = set_field(&mut json!([1]), "rateId", &"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the request body is not a JSON object; cannot set rateId"
        );
    }
}
