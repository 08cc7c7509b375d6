//! `impl From<&str>` for the string newtypes without constraints
//! (`TrackingId`, `City`, `ShipmentId`, ...), so the typed builders take a
//! string literal, as the operation builders' parameters already do:
//! `types::TrackingDetailCodes::builder().tracking_id("1Z...")` rather than
//! `types::TrackingId::from("1Z...".to_owned())`. typify gives the constrained
//! newtypes `TryFrom<&str>` (their setters accept `&str` already) but the
//! unconstrained ones only `From<String>` and an infallible `FromStr`, which
//! the setters' `TryInto<T>` bound cannot use (issue 14).
//!
//! The pass checks its own work against the spec: every component schema of
//! type string without `enum`, `pattern`, `minLength`, `maxLength` or
//! `format` must get exactly one impl, and nothing else may; otherwise the
//! build fails naming the difference.

use std::collections::BTreeSet;

use serde_json::Value;
use syn::{ImplItem, Item, ItemImpl, Type, parse_quote};

/// Adds the impls to the generated `mod types` items; returns their names.
pub fn apply(items: &mut Vec<Item>, spec: &Value) -> BTreeSet<String> {
    let newtypes: BTreeSet<String> = items
        .iter()
        .filter_map(|item| match item {
            Item::Impl(imp) if is_infallible_from_str(imp) => self_name(imp),
            _ => None,
        })
        .filter(|name| wraps_string(items, name) && has_from(items, name, "::std::string::String"))
        .collect();
    for name in &newtypes {
        // A typify that already emits it (typify PR #1079 touches these
        // impls) would make ours a conflicting impl.
        if has_from(items, name, "&str") {
            continue;
        }
        let ident = quote::format_ident!("{name}");
        items.push(parse_quote! {
            impl ::std::convert::From<&str> for #ident {
                fn from(value: &str) -> Self {
                    Self(value.to_owned())
                }
            }
        });
    }
    let expected = unconstrained_strings(spec);
    let normalize = |names: &BTreeSet<String>| -> BTreeSet<String> {
        names
            .iter()
            .map(|n| n.replace('_', "").to_ascii_lowercase())
            .collect()
    };
    let (got, want) = (normalize(&newtypes), normalize(&expected));
    if got != want {
        let extra: Vec<_> = got.difference(&want).collect();
        let missing: Vec<_> = want.difference(&got).collect();
        panic!(
            "build/str_newtypes.rs: the spec has {} unconstrained string schemas, the generated \
             code {} infallible string newtypes; generated but not in the spec: {extra:?}; in the \
             spec but not generated as a newtype with From<String> and FromStr<Err = Infallible>: \
             {missing:?}. progenitor/typify's output changed shape",
            want.len(),
            got.len()
        );
    }
    newtypes
}

/// Component schemas that typify turns into an unconstrained string newtype.
fn unconstrained_strings(spec: &Value) -> BTreeSet<String> {
    const CONSTRAINTS: [&str; 5] = ["enum", "pattern", "minLength", "maxLength", "format"];
    spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, schema)| {
            schema["type"] == "string" && CONSTRAINTS.iter().all(|c| schema.get(c).is_none())
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `impl ::std::str::FromStr for X { type Err = ::std::convert::Infallible; ... }`
fn is_infallible_from_str(imp: &ItemImpl) -> bool {
    let Some((_, path, _)) = &imp.trait_ else {
        return false;
    };
    path.segments.last().is_some_and(|s| s.ident == "FromStr")
        && imp.items.iter().any(|item| match item {
            ImplItem::Type(t) => t.ident == "Err" && text(&t.ty) == "::std::convert::Infallible",
            _ => false,
        })
}

fn self_name(imp: &ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

/// `struct X(String)` (a single `String` field, attributes allowed).
fn wraps_string(items: &[Item], name: &str) -> bool {
    items.iter().any(|item| match item {
        Item::Struct(s) if s.ident == name => match &s.fields {
            syn::Fields::Unnamed(f) => {
                f.unnamed.len() == 1 && text(&f.unnamed[0].ty) == "::std::string::String"
            }
            _ => false,
        },
        _ => false,
    })
}

/// `impl From<source> for X` (`::std::string::String`: the newtype is
/// unconstrained).
fn has_from(items: &[Item], name: &str, source: &str) -> bool {
    items.iter().any(|item| match item {
        Item::Impl(imp) => {
            self_name(imp).as_deref() == Some(name)
                && imp.trait_.as_ref().is_some_and(|(_, path, _)| {
                    let path = text(path);
                    let path = path.trim_start_matches("::std::convert::");
                    path == format!("From<{source}>")
                })
        }
        _ => false,
    })
}

fn text<T: quote::ToTokens>(tokens: &T) -> String {
    quote::quote!(#tokens).to_string().replace(' ', "")
}
