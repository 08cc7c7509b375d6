//! Points the number fields and plain id newtypes of the generated types at
//! `crate::runtime::lenient`, so values Amazon sends as strings (money `"2.00000"`,
//! `driveTime: "0.0"`) or ids it sends as numbers (`trackingId: 1578648261977`)
//! still decode. Encoding is unchanged. Done on the generated syntax tree,
//! like `open_enums`: typify has no setting for it.

use syn::{Field, Fields, Item, ItemStruct, Type, parse_quote};

/// How many fields [`apply`] made lenient, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// `f64`/`i64` fields, plain or optional.
    pub numbers: usize,
    /// Optional lists (`Vec` with `#[serde(default)]`): `null` reads as empty.
    pub lists: usize,
    /// The `String` of `#[serde(transparent)]` newtypes (ids, names).
    pub strings: usize,
}

/// Adds `deserialize_with` to every `f64`/`i64` field (plain or optional) of
/// the structs in `items`, to every optional list, and to the `String` of
/// `#[serde(transparent)]` newtypes. Panics (fails the build) unless the
/// changes are exactly the `expected` ones, counted from the spec.
pub fn apply(items: &mut [Item], expected: Changed) {
    let mut changed = Changed::default();
    for item in items.iter_mut() {
        let Item::Struct(s) = item else { continue };
        if !derives_deserialize(s) {
            continue;
        }
        let transparent = has_serde_word(&s.attrs, "transparent");
        if let Fields::Named(named) = &mut s.fields {
            for field in named.named.iter_mut() {
                match patch_number(field) {
                    Some(Kind::Number) => changed.numbers += 1,
                    Some(Kind::List) => changed.lists += 1,
                    None => {}
                }
            }
        }
        if let Fields::Unnamed(unnamed) = &mut s.fields
            && transparent
            && let Some(field) = unnamed.unnamed.first_mut()
            && type_text(&field.ty) == "::std::string::String"
        {
            field
                .attrs
                .push(parse_quote!(#[serde(deserialize_with = "crate::runtime::lenient::string")]));
            changed.strings += 1;
        }
    }
    assert_eq!(
        changed, expected,
        "build/lenient.rs made {changed:?} lenient where the spec has {expected:?}; \
         progenitor's output changed shape"
    );
}

enum Kind {
    Number,
    List,
}

fn patch_number(field: &mut Field) -> Option<Kind> {
    let ty = type_text(&field.ty);
    let (with, optional, kind) = match ty.as_str() {
        "f64" => ("crate::runtime::lenient::f64", false, Kind::Number),
        "i64" => ("crate::runtime::lenient::i64", false, Kind::Number),
        "::std::option::Option<f64>" => ("crate::runtime::lenient::option_f64", true, Kind::Number),
        "::std::option::Option<i64>" => ("crate::runtime::lenient::option_i64", true, Kind::Number),
        // An optional list Amazon sends as `null` is an empty list.
        t if t.starts_with("::std::vec::Vec<") && has_serde_word(&field.attrs, "default") => (
            "crate::runtime::lenient::null_as_default",
            false,
            Kind::List,
        ),
        _ => return None,
    };
    field
        .attrs
        .push(parse_quote!(#[serde(deserialize_with = #with)]));
    // With `deserialize_with`, serde no longer treats a missing Option as None.
    if optional && !has_serde_word(&field.attrs, "default") {
        field.attrs.push(parse_quote!(#[serde(default)]));
    }
    Some(kind)
}

fn type_text(ty: &Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}

fn derives_deserialize(s: &ItemStruct) -> bool {
    s.attrs.iter().any(|a| {
        a.path().is_ident("derive") && quote::quote!(#a).to_string().contains("Deserialize")
    })
}

fn has_serde_word(attrs: &[syn::Attribute], word: &str) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("serde") && quote::quote!(#a).to_string().contains(word))
}
