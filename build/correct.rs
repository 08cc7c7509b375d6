//! Client error correction (issue 18): no response fails because Amazon left
//! out, or sent `null` for, a property its model calls required. The rule is
//! general, decided per property from the spec, never a list of fields:
//!
//! - **Empty**: a required list or map reads as empty (nothing listed).
//! - **Zero**: in a response, required free text reads as `""` and a required
//!   open enum as `Unknown("")`. In the four schemas requests share
//!   (`Address`, `Currency`, `DocumentSize`, `Weight`), whose Rust types must
//!   stay strict for what the caller sends, strings read as `""` and numbers
//!   as `NaN` ("not a number", never a made-up 0).
//! - **Optional**: anything else in a response-only schema (ids, dates,
//!   booleans, amounts and other objects) becomes an `Option`, since a zero
//!   would lie there: a shipment id `""`, a charge of 0, a delivery date in
//!   1970, `requiresAdditionalInputs: false`.
//!
//! The optional ones are made so in the spec progenitor reads (in memory, not
//! the committed file, which stays Amazon's model); the others keep their type
//! and get a serde `default` and `deserialize_with` from
//! `crate::runtime::correct`, which counts every correction so the decoder
//! knows to name the corrected paths. [`table`] writes the walker's view of
//! Amazon's own `required` lists, which finds those paths.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;
use syn::{Fields, Item, Type, parse_quote};

/// What decoding does with a required response property that is absent or
/// `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Keeps its type; reads as its zero value (empty, `""`, `Unknown("")`, `NaN`).
    Zero,
    /// Becomes an `Option`: `None`.
    Optional,
}

/// The correction of every required property of every schema a response
/// can carry, keyed by (schema, property).
pub type Plan = BTreeMap<(String, String), Kind>;

/// The schema names of every `$ref` below `node`.
fn refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push(r.rsplit('/').next().unwrap_or_default().to_owned());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Schemas reachable from `from` (every `$ref` below it, transitively).
fn reachable(spec: &Value, from: impl Iterator<Item = String>) -> BTreeSet<String> {
    let schemas = &spec["components"]["schemas"];
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = from.collect();
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            refs(&schemas[&name], &mut stack);
        }
    }
    seen
}

fn operations(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .flat_map(|item| item.as_object().into_iter().flat_map(|m| m.values()))
        .filter(|op| op.get("operationId").is_some())
}

fn refs_in(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    refs(node, &mut out);
    out
}

/// The schemas responses reach, and those requests reach.
fn reach(spec: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let responses = operations(spec).flat_map(|op| refs_in(&op["responses"]));
    let requests = operations(spec).flat_map(|op| {
        refs_in(&op["requestBody"])
            .into_iter()
            .chain(refs_in(&op["parameters"]))
    });
    (
        reachable(spec, responses.collect::<Vec<_>>().into_iter()),
        reachable(spec, requests.collect::<Vec<_>>().into_iter()),
    )
}

/// The schema a property refers to, or the property itself.
fn target<'a>(spec: &'a Value, prop: &'a Value) -> (&'a Value, Option<&'a str>) {
    match prop["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        Some(name) => (&spec["components"]["schemas"][name], Some(name)),
        None => (prop, None),
    }
}

fn is_id(prop: &str, schema: Option<&str>) -> bool {
    prop == "id"
        || prop.ends_with("Id")
        || schema.is_some_and(|s| s.ends_with("Id"))
        || matches!(prop, "requestToken" | "contents")
}

/// Decides every required response property's correction. Panics (fails the
/// build) on a kind of property the rule does not cover yet, so a change in
/// Amazon's model is decided here, not by accident.
pub fn plan(spec: &Value) -> Plan {
    let (responses, requests) = reach(spec);
    let mut plan = Plan::new();
    for name in &responses {
        let schema = &spec["components"]["schemas"][name];
        let shared = requests.contains(name);
        for required in schema["required"].as_array().into_iter().flatten() {
            let prop = required.as_str().expect("required names are strings");
            let (ty, ref_name) = target(spec, &schema["properties"][prop]);
            let kind_of = ty["type"].as_str().unwrap_or("object");
            let map = kind_of == "object"
                && ty.get("properties").is_none()
                && ty.get("additionalProperties").is_some();
            let date = matches!(ty["format"].as_str(), Some("date-time" | "dateTime"));
            let kind = match kind_of {
                "array" => Kind::Zero,
                _ if map => Kind::Zero,
                "string" if shared => Kind::Zero,
                "number" if shared => Kind::Zero,
                "string" if !date && !is_id(prop, ref_name) => Kind::Zero,
                _ if shared => panic!(
                    "build/correct.rs: {name}.{prop} ({kind_of}) is required in a schema \
                     requests share and has no truthful zero; decide its correction"
                ),
                _ => Kind::Optional,
            };
            plan.insert((name.clone(), prop.to_owned()), kind);
        }
    }
    plan
}

/// Removes the optional ones from their schemas' `required` lists, in the
/// spec progenitor is about to read.
pub fn relax(spec: &mut Value, plan: &Plan) {
    for ((schema, prop), kind) in plan {
        if *kind != Kind::Optional {
            continue;
        }
        let list = spec["components"]["schemas"][schema]["required"]
            .as_array_mut()
            .expect("a planned schema has a required list");
        list.retain(|p| p != prop);
        if list.is_empty() {
            spec["components"]["schemas"][schema]
                .as_object_mut()
                .expect("a schema is an object")
                .remove("required");
        }
    }
}

/// Gives every planned field of the generated `types` its correcting serde
/// attributes, and the zero values they need. Panics (fails the build)
/// unless each planned property was found exactly once.
pub fn apply(items: &mut Vec<Item>, plan: &Plan) {
    let mut done = BTreeSet::new();
    let mut zero_types = BTreeSet::new();
    for item in items.iter_mut() {
        let Item::Struct(s) = item else { continue };
        let Fields::Named(named) = &mut s.fields else {
            continue;
        };
        let schema = s.ident.to_string();
        for field in named.named.iter_mut() {
            let name = wire_name(field);
            let Some(kind) = plan.get(&(schema.clone(), name.clone())) else {
                continue;
            };
            assert!(
                done.insert((schema.clone(), name.clone())),
                "build/correct.rs: {schema}.{name} found twice"
            );
            let ty = type_text(&field.ty);
            let with: &str = match kind {
                Kind::Optional => {
                    assert!(
                        is_option(&field.ty),
                        "build/correct.rs: {schema}.{name} was made optional but is {ty}"
                    );
                    "crate::runtime::correct::option"
                }
                Kind::Zero if type_text(&field.ty) == "f64" => "crate::runtime::correct::f64",
                Kind::Zero => {
                    if let Some(local) = local_type(&field.ty) {
                        zero_types.insert(local);
                    }
                    "crate::runtime::correct::or_zero"
                }
            };
            // `deserialize_with` replaces lenient's (only `f64` had one: its
            // correction reads numbers as leniently) and serde's bare `default`.
            field.attrs.retain(|a| {
                let text = quote::quote!(#a).to_string();
                !(a.path().is_ident("serde")
                    && (text.contains("deserialize_with")
                        || text.replace(' ', "") == "#[serde(default)]"))
            });
            field.attrs.push(parse_quote!(#[serde(
                default = "crate::runtime::correct::absent",
                deserialize_with = #with
            )]));
            let doc = match kind {
                Kind::Optional => {
                    "Required by Amazon's model, but an `Option` here: an answer that leaves \
                     it out or sends `null` decodes as `None` (a zero would misstate it), \
                     listed in `Response::corrections`."
                }
                Kind::Zero => {
                    "Required by Amazon's model: an answer that leaves it out or sends \
                     `null` decodes as its empty value (`\"\"`, an empty list, \
                     `Unknown(\"\")`, `NaN`), listed in `Response::corrections`."
                }
            };
            field.attrs.push(parse_quote!(#[doc = ""]));
            field.attrs.push(parse_quote!(#[doc = #doc]));
        }
    }
    let missing: Vec<_> = plan.keys().filter(|k| !done.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "build/correct.rs: planned but not generated: {missing:?}; progenitor's output changed shape"
    );
    let impls: Vec<Item> = zero_types
        .iter()
        .map(|name| zero_impl(items, name))
        .collect();
    items.extend(impls);
}

/// The JSON name of a generated field (its `rename`, else its name).
fn wire_name(field: &syn::Field) -> String {
    for attr in &field.attrs {
        if !attr.path().is_ident("serde") {
            continue;
        }
        let text = quote::quote!(#attr).to_string();
        if let Some(rest) = text.split("rename = \"").nth(1) {
            return rest.split('"').next().unwrap_or_default().to_owned();
        }
    }
    field
        .ident
        .as_ref()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
        .unwrap_or_default()
}

fn type_text(ty: &Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}

fn is_option(ty: &Type) -> bool {
    type_text(ty).starts_with("::std::option::Option<")
}

/// A type of the `types` module (a bare name), not a std one.
fn local_type(ty: &Type) -> Option<String> {
    let Type::Path(p) = ty else { return None };
    (p.path.segments.len() == 1 && p.qself.is_none())
        .then(|| p.path.segments[0].ident.to_string())
        .filter(|name| name != "f64" && name != "i64" && name != "bool")
}

/// `impl Zero for X`: a newtype's inner zero, or an open enum's catch-all
/// with an empty text.
fn zero_impl(items: &[Item], name: &str) -> Item {
    let body: syn::Expr = items
        .iter()
        .find_map(|item| match item {
            Item::Struct(s) if s.ident == name && matches!(s.fields, Fields::Unnamed(_)) => {
                Some(parse_quote!(Self(crate::runtime::correct::Zero::zero())))
            }
            Item::Enum(e) if e.ident == name => e.variants.iter().find_map(|v| {
                let Fields::Unnamed(f) = &v.fields else {
                    return None;
                };
                let ident = &v.ident;
                (f.unnamed.len() == 1)
                    .then(|| parse_quote!(Self::#ident(::std::string::String::new())))
            }),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!("build/correct.rs: {name} is neither a newtype nor an open enum; no zero for it")
        });
    let ident = quote::format_ident!("{name}");
    parse_quote! {
        impl crate::runtime::correct::Zero for #ident {
            fn zero() -> Self {
                #body
            }
        }
    }
}

/// `OUT_DIR/corrections.rs`: Amazon's `required` lists as the walker in
/// `crate::runtime::correct` reads them (every object schema a response
/// reaches, its properties, which are required, and what each holds), and
/// each documented response's root shape by (client method name, status).
pub fn table(spec: &Value, names: &BTreeMap<String, String>) -> String {
    let (responses, _) = reach(spec);
    let schemas = &spec["components"]["schemas"];
    let objects: Vec<&String> = responses
        .iter()
        .filter(|n| schemas[n.as_str()].get("properties").is_some())
        .collect();
    let index: BTreeMap<&str, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    fn shape(spec: &Value, node: &Value, index: &BTreeMap<&str, usize>, depth: usize) -> String {
        assert!(
            depth < 16,
            "build/correct.rs: a schema nests lists or maps without end"
        );
        if let Some(name) = node["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
            if let Some(i) = index.get(name) {
                return format!("Shape::Object({i})");
            }
            return shape(spec, &spec["components"]["schemas"][name], index, depth + 1);
        }
        if node["type"] == "array" {
            return format!(
                "Shape::List(&{})",
                shape(spec, &node["items"], index, depth + 1)
            );
        }
        if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object())
            && node.get("properties").is_none()
        {
            return format!("Shape::Map(&{})", shape(spec, values, index, depth + 1));
        }
        "Shape::Leaf".to_owned()
    }
    let mut out = String::from(
        "/// Every object schema a response reaches: its properties.\nstatic OBJECTS: &[&[Property]] = &[\n",
    );
    for name in &objects {
        let schema = &schemas[name.as_str()];
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        writeln!(out, "    // {name}\n    &[").expect("a String");
        for (prop, node) in schema["properties"].as_object().into_iter().flatten() {
            writeln!(
                out,
                "        Property {{ name: {prop:?}, required: {}, shape: {} }},",
                required.contains(prop.as_str()),
                shape(spec, node, &index, 0)
            )
            .expect("a String");
        }
        out.push_str("    ],\n");
    }
    out.push_str("];\n\n/// The shape of the body the spec documents for an operation (client\n/// method name) and status.\nfn root(name: &str, status: u16) -> Option<Shape> {\n    match (name, status) {\n");
    for op in operations(spec) {
        let id = op["operationId"].as_str().unwrap_or_default();
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            let schema = &response["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            writeln!(
                out,
                "        ({:?}, {status}) => Some({}),",
                names[id],
                shape(spec, schema, &index, 0)
            )
            .expect("a String");
        }
    }
    out.push_str("        _ => None,\n    }\n}\n");
    out
}
