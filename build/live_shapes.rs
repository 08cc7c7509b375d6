//! Points the generated types at `crate::runtime::lenient` where Amazon's live
//! service (or its own examples, which look like captured bodies) sends a
//! shape the model does not describe; spec/README.md lists each rule and its
//! source. Every type still encodes in the model's shape.
//! Done on the generated syntax tree, like `lenient` and `open_enums`
//! (typify has no setting for it), and loud: a rule that finds nothing to
//! patch fails the build instead of silently lapsing. Decoding only, except
//! the `Z` rule for dateTime strings.
//!
//! - a `format: dateTime` string (Amazon's own non-standard format name) may
//!   arrive as epoch milliseconds (`creationDate: 1650163712052`), and one
//!   written as RFC 3339 with an offset is sent in UTC with `Z`;
//! - `GenerationStatus` may arrive as `COMPLETED` (Amazon's example);
//! - `GetAccessPointsResult` may arrive as a map of access point type to ONE
//!   access point, without `accessPointsMap`, whose `address` is
//!   `{addressObject: {..., zipOrPostalCode}, geocode}` (both handled by
//!   `crate::runtime::lenient::AccessPointsByType`).

use serde_json::Value;
use syn::{Attribute, Field, Fields, Item, LitStr, Token, parse_quote};

/// Applies every rule to the items of `mod types`; returns how many places
/// changed. Panics (failing the build) when a rule's target is missing.
pub fn apply(items: &mut [Item], spec: &Value) -> usize {
    let mut changed = 0;
    for (schema, property) in date_time_properties(spec) {
        let field = field_mut(items, &schema, &property)
            .unwrap_or_else(|| panic!("live_shapes: no field for {schema}.{property}"));
        let (de, ser, optional) = match type_text(&field.ty).as_str() {
            "::std::option::Option<::std::string::String>" => (
                "crate::runtime::lenient::option_date_text",
                "crate::runtime::lenient::serialize_option_date_text",
                true,
            ),
            "::std::string::String" => (
                "crate::runtime::lenient::date_text",
                "crate::runtime::lenient::serialize_date_text",
                false,
            ),
            other => panic!("live_shapes: {schema}.{property} is {other}, expected a string"),
        };
        // With `deserialize_with`, serde no longer treats a missing Option as None.
        if optional {
            field.attrs.push(parse_quote!(#[serde(default)]));
        }
        field
            .attrs
            .push(parse_quote!(#[serde(deserialize_with = #de, serialize_with = #ser)]));
        changed += 1;
    }

    for (name, variant, alias) in ENUM_ALIASES {
        let found = items.iter_mut().find_map(|item| match item {
            Item::Enum(e) if e.ident == name => e.variants.iter_mut().find(|v| v.ident == variant),
            _ => None,
        });
        let found = found.unwrap_or_else(|| panic!("live_shapes: no variant {name}::{variant}"));
        found.attrs.push(parse_quote!(#[serde(alias = #alias)]));
        // `str::parse` (and `TryFrom<&str>`) read it too, like JSON does.
        accept_in_from_str(items, name, variant, alias);
        changed += 1;
    }

    let result = items
        .iter_mut()
        .find_map(|item| match item {
            Item::Struct(s) if s.ident == "GetAccessPointsResult" => Some(s),
            _ => None,
        })
        .expect("live_shapes: GetAccessPointsResult is generated");
    result
        .attrs
        .push(parse_quote!(#[serde(from = "crate::runtime::lenient::AccessPointsByType")]));
    changed + 1
}

/// Adds `alias` to the arm of `name`'s `FromStr` that yields `variant`;
/// panics unless exactly one arm does.
fn accept_in_from_str(items: &mut [Item], name: &str, variant: &str, alias: &str) {
    use syn::visit_mut::VisitMut;
    struct Arms<'a> {
        variant: &'a str,
        alias: &'a str,
        changed: usize,
    }
    impl VisitMut for Arms<'_> {
        fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
            let body = &arm.body;
            let yields = quote::quote!(#body).to_string().replace(' ', "");
            if yields == format!("Ok(Self::{})", self.variant) {
                let (pat, alias) = (&arm.pat, self.alias);
                arm.pat = parse_quote!(#pat | #alias);
                self.changed += 1;
            }
        }
    }
    let from_str = items.iter_mut().find_map(|item| match item {
        Item::Impl(imp)
            if imp.trait_.as_ref().is_some_and(|(_, path, _)| {
                path.segments.last().is_some_and(|s| s.ident == "FromStr")
            }) && matches!(&*imp.self_ty, syn::Type::Path(t) if t.path.is_ident(name)) =>
        {
            Some(imp)
        }
        _ => None,
    });
    let from_str = from_str.unwrap_or_else(|| panic!("live_shapes: no FromStr for {name}"));
    let mut arms = Arms {
        variant,
        alias,
        changed: 0,
    };
    arms.visit_item_impl_mut(from_str);
    assert_eq!(
        arms.changed, 1,
        "live_shapes: {name}'s FromStr has {} arms yielding {variant}",
        arms.changed
    );
}

/// (enum, variant, another spelling it is read from). Amazon's
/// getCollectionFormHistory example sends `generationStatus: "COMPLETED"`
/// where the model's enum says `Completed`; `IN_PROGRESS` is read by analogy.
/// They decode as the model's variant and re-encode in the model's spelling.
const ENUM_ALIASES: &[(&str, &str, &str)] = &[
    ("GenerationStatus", "Completed", "COMPLETED"),
    ("GenerationStatus", "InProgress", "IN_PROGRESS"),
];

/// (schema, property) of every string property with `format: dateTime`.
fn date_time_properties(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (schema, body) in spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (property, p) in body["properties"].as_object().into_iter().flatten() {
            if p["type"] == "string" && p["format"] == "dateTime" {
                out.push((schema.clone(), property.clone()));
            }
        }
    }
    out
}

/// The field of struct `name` whose JSON name is `property`.
fn field_mut<'a>(items: &'a mut [Item], name: &str, property: &str) -> Option<&'a mut Field> {
    items.iter_mut().find_map(|item| {
        let Item::Struct(s) = item else { return None };
        if s.ident != name {
            return None;
        }
        let Fields::Named(named) = &mut s.fields else {
            return None;
        };
        named
            .named
            .iter_mut()
            .find(|f| json_name(&f.attrs).as_deref().unwrap_or(&ident_text(f)) == property)
    })
}

fn ident_text(field: &Field) -> String {
    field
        .ident
        .as_ref()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
        .unwrap_or_default()
}

/// The `rename = "..."` of a field's `#[serde(...)]` attributes.
fn json_name(attrs: &[Attribute]) -> Option<String> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.input.peek(Token![=]) {
                let value = meta.value()?;
                if meta.path.is_ident("rename") {
                    name = Some(value.parse::<LitStr>()?.value());
                } else {
                    value.parse::<syn::Expr>()?;
                }
            }
            Ok(())
        });
    }
    name
}

fn type_text(ty: &syn::Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}
