//! Generates the Shipping v2 client from `spec/shipping-v2.json` into
//! `OUT_DIR` with progenitor, plus a table of per-operation facts (usage
//! plan, query parameters sent comma-separated) for the runtime layer.
//! Reads only the spec; reaches no network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};
use serde_json::Value;

#[path = "build/cli.rs"]
mod cli;
#[path = "build/correct.rs"]
mod correct;
#[path = "build/decode_once.rs"]
mod decode_once;
#[path = "build/expected.rs"]
mod expected;
#[path = "build/lenient.rs"]
mod lenient;
#[path = "build/live_shapes.rs"]
mod live_shapes;
#[path = "build/open_enums.rs"]
mod open_enums;
#[path = "build/param_checks.rs"]
mod param_checks;
#[path = "build/paths.rs"]
mod paths;
#[path = "build/raw_body.rs"]
mod raw_body;
#[path = "build/request_build.rs"]
mod request_build;
#[path = "build/send.rs"]
mod send;
#[path = "build/str_newtypes.rs"]
mod str_newtypes;
#[path = "build/walk.rs"]
mod walk;
#[path = "build/weight.rs"]
mod weight;

const SPEC: &str = "spec/shipping-v2.json";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read {SPEC}: {e}"));
    let amazon: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SPEC} is not JSON: {e}"));
    // Client error correction (build/correct.rs): the required response
    // properties a zero would misstate are generated as `Option`s; the
    // committed spec keeps Amazon's `required` lists, which the decoder's
    // walker reads (`amazon` below).
    let corrections = correct::plan(&amazon);
    let mut json = amazon.clone();
    correct::relax(&mut json, &corrections);
    let spec: openapiv3::OpenAPI = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{SPEC} is not OpenAPI 3.0: {e}"));

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote::quote!(crate::runtime::hooks::Inner))
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq");
    let mut generator = Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor could not generate the client from {SPEC}: {e}"));
    let mut file: syn::File = syn::parse2(tokens).expect("progenitor emits valid Rust");
    // Each pass checks it changed exactly what the spec says it must
    // (build/expected.rs), so a change in progenitor's output fails here.
    let closed = closed_enums(&json);
    open_enums::apply(&mut file, &closed, expected::open_enums(&json, &closed));
    let types = open_enums::types_module(&mut file).expect("generated `mod types`");
    lenient::apply(types, expected::lenient(&json));
    live_shapes::apply(types, &json);
    let compact = open_enums::compact_serde(types);
    assert_eq!(
        compact,
        expected::open_enums(&json, &closed),
        "build/open_enums.rs gave compact serde impls to {compact} enums, not every open one"
    );
    str_newtypes::apply(types, &json);
    correct::apply(types, &corrections);
    paths::apply(types, expected::paths(&json));
    decode_once::apply(&mut file, expected::decode_once(&json));
    let operations = send::spec_operations(&json);
    let generated = send::apply(&mut file, operations.len());
    // After `send`, which reads progenitor's URL `format!` to name each operation.
    request_build::apply(&mut file, expected::request_build(&json));
    raw_body::apply(&mut file, &json);
    let names = send::progenitor_ids(&operations, &generated);
    // Response builders stay for tests (feature `mock`: typed mocks build
    // answers); without it only request bodies' builders are compiled.
    if std::env::var_os("CARGO_FEATURE_MOCK").is_none() {
        let kept = weight::drop_unused_type_builders(&mut file);
        assert!(
            kept > 0,
            "no `types::builder::X` used by an operation; progenitor's output changed shape"
        );
    }
    let code = prettyplease::unparse(&file);

    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    if std::env::var_os("CARGO_FEATURE_MOCK").is_some() {
        let mocks = Generator::new(&settings)
            .httpmock(&mock_spec(&json), "crate")
            .unwrap_or_else(|e| panic!("progenitor could not generate mocks from {SPEC}: {e}"));
        let mocks: syn::File = syn::parse2(mocks).expect("progenitor emits valid Rust");
        write(
            Path::new(&out).join("httpmock.rs"),
            &prettyplease::unparse(&mocks),
        );
    }
    if std::env::var_os("CARGO_FEATURE_CLI").is_some() {
        // progenitor's clap CLI, included by `src/cli.rs` where `self::names`
        // supplies the names it expects; `build/cli.rs` says what is adapted.
        let cli = Generator::new(&settings)
            .cli(&spec, "self::names")
            .unwrap_or_else(|e| panic!("progenitor could not generate the CLI from {SPEC}: {e}"));
        let mut cli: syn::File = syn::parse2(cli).expect("progenitor emits valid Rust");
        cli::apply(&mut cli);
        raw_body::cli(&mut cli, &json);
        write(Path::new(&out).join("cli.rs"), &prettyplease::unparse(&cli));
    }
    write(Path::new(&out).join("generated.rs"), &code);
    write(
        Path::new(&out).join("operations.rs"),
        &operations_table(&json, &names, &closed),
    );
    write(
        Path::new(&out).join("corrections.rs"),
        &correct::table(&amazon, &names),
    );
    write(
        Path::new(&out).join("decoders.rs"),
        &decoders(&json, &names),
    );
}

/// `fn decode(name, status, body)`: decodes a body into the type the spec
/// documents for that operation and status, reporting the JSON path of the
/// first offending value; `None` when the spec documents no JSON body.
fn decoders(spec: &Value, names: &BTreeMap<String, String>) -> String {
    let mut arms = String::new();
    for (_, item) in spec["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                let Some(name) = schema.as_str().and_then(|r| r.rsplit('/').next()) else {
                    continue;
                };
                writeln!(
                    arms,
                    "        ({:?}, {status}) => Some(typed::<types::{name}>(body)),",
                    names[id]
                )
                .expect("writing to a String");
            }
        }
    }
    format!(
        "/// Decodes `body` as the type the spec documents for the operation (client\n\
         /// method name, e.g. `get_rates`) and status, re-encoded as JSON; `None` when\n\
         /// the spec documents no JSON body for that status.\n\
         // Inline: compiled where it is called, not in every dependent's build.\n\
         #[inline]\n\
         pub fn decode(name: &str, status: u16, body: &[u8]) -> Option<Result<serde_json::Value, DecodeError>> {{\n\
         match (name, status) {{\n{arms}        _ => None,\n    }}\n}}\n"
    )
}

/// The spec as the typed mocks see it: an array query parameter that is sent
/// comma-separated (`explode: false`) is matched as the one string that is on
/// the wire (`HELIX,CORE_LOCKER`). progenitor's mock generator cannot match
/// array query parameters otherwise.
fn mock_spec(spec: &Value) -> openapiv3::OpenAPI {
    let mut spec = spec.clone();
    for (_, item) in spec["paths"].as_object_mut().into_iter().flatten() {
        for (_, op) in item.as_object_mut().into_iter().flatten() {
            let params = op.get_mut("parameters").and_then(Value::as_array_mut);
            for param in params.into_iter().flatten() {
                if param["in"] == "query" && param["explode"] == false {
                    let description = format!(
                        "{} (comma-separated, as sent)",
                        param["description"].as_str().unwrap_or_default()
                    );
                    param["schema"] = serde_json::json!({ "type": "string" });
                    param["description"] = Value::String(description);
                }
            }
        }
    }
    serde_json::from_value(spec).expect("the mock view of the spec is OpenAPI")
}

/// Enums that only carry values the caller sends (request parameters): they
/// stay closed, so a typo is a compile error rather than an `Unknown`.
fn closed_enums(spec: &Value) -> Vec<String> {
    let mut closed = vec!["ShippingBusinessId".to_owned()];
    for item in spec["paths"].as_object().into_iter().flatten() {
        for op in item.1.as_object().into_iter().flatten() {
            if let Some(id) = op.1["operationId"].as_str() {
                let mut pascal = id.to_owned();
                pascal[..1].make_ascii_uppercase();
                closed.push(pascal);
            }
        }
    }
    closed
}

fn write(path: impl AsRef<Path>, contents: &str) {
    let path = path.as_ref();
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The `retry` and `already_done` columns from the spec's `x-spapi-retry`
/// (spec/README.md, F5), as Rust expressions.
fn retry_columns(id: &str, retry: &Value) -> (String, String) {
    let class = match retry["class"].as_str() {
        Some("safe") => "RetryClass::Safe",
        Some("keyed") => "RetryClass::Keyed",
        Some("unsafe") => "RetryClass::Unsafe",
        other => panic!("{id}: x-spapi-retry class {other:?} is not safe, keyed or unsafe"),
    };
    let rule = &retry["alreadyDone"];
    if rule.is_null() {
        return (class.to_owned(), "None".to_owned());
    }
    let statuses: Vec<u16> = rule["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            s.as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or_else(|| panic!("{id}: alreadyDone status {s}"))
        })
        .collect();
    let phrases: Vec<&str> = rule["phrases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p.as_str()
                .unwrap_or_else(|| panic!("{id}: alreadyDone phrase {p}"))
        })
        .collect();
    assert!(
        !statuses.is_empty() && !phrases.is_empty() && rule["success"].is_object(),
        "{id}: alreadyDone needs statuses, phrases and a success body"
    );
    let already_done = format!(
        "Some(AlreadyDone {{ statuses: &{statuses:?}, phrases: &{phrases:?}, success: {:?} }})",
        rule["success"].to_string()
    );
    (class.to_owned(), already_done)
}

/// `pub const OPERATIONS: &[Operation]`, one entry per operation in spec order.
fn operations_table(spec: &Value, names: &BTreeMap<String, String>, closed: &[String]) -> String {
    let mut rows = String::new();
    let mut arms = String::new();
    let mut classified = 0;
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let plan = &op["x-amzn-usage-plan"];
            let rate = plan["rate"]
                .as_f64()
                .unwrap_or_else(|| panic!("{id}: usage plan rate"));
            let burst = plan["burst"]
                .as_f64()
                .unwrap_or_else(|| panic!("{id}: usage plan burst"));
            let comma_separated: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["explode"] == false)
                .map(|p| format!("{:?}", p["name"].as_str().unwrap_or_default()))
                .collect();
            let (retry, already_done) = retry_columns(id, &op["x-spapi-retry"]);
            let checks = param_checks::classify(spec, item, op, closed);
            classified += checks.presence.len() + checks.spec.len() + checks.guaranteed;
            let index = arms.lines().count();
            writeln!(arms, "        {id:?} | {:?} => Some({index}),", names[id])
                .expect("writing to a String");
            writeln!(
                rows,
                "    Operation {{ index: {index}, id: {id:?}, name: {:?}, method: {:?}, path: {path:?}, rate: {rate:?}, burst: {burst:?}, comma_separated_query: &[{}], required_lists: &{:?}, spec_checked_params: &{:?}, retry: {retry}, already_done: {already_done} }},",
                names[id],
                method.to_uppercase(),
                comma_separated.join(", "),
                checks.presence,
                checks.spec,
            )
            .expect("writing to a String");
        }
    }
    let expected = expected::parameters(spec);
    assert_eq!(
        classified, expected,
        "build/param_checks.rs classified {classified} query and header parameters where the \
         spec declares {expected}"
    );
    format!(
        "/// Every operation of the spec, in spec order.\npub const OPERATIONS: &[Operation] = &[\n{rows}];\n\n\
         /// The position in [`OPERATIONS`] of an operationId or progenitor id (one `match`).\n\
         fn index_of(id_or_name: &str) -> Option<usize> {{\n    match id_or_name {{\n{arms}        _ => None,\n    }}\n}}\n"
    )
}
