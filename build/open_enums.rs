//! Makes the generated string enums open: an `Unknown(String)` variant keeps
//! a value Amazon added after this model, so one new tracking event code or
//! status does not fail a whole response. Decoding known values is unchanged;
//! the unknown value re-encodes verbatim.
//!
//! typify has no setting for this, so it is done here, on the generated
//! syntax tree, before the code is written: nothing generated is edited by hand.

use crate::walk::{self, Pass};
use syn::punctuated::Punctuated;
use syn::{Arm, Attribute, Fields, Item, ItemEnum, Path, Token, parse_quote};

/// Opens every string enum in `mod types` except those whose name is in
/// `closed` or starts with one of them. Panics (fails the build) unless it
/// opened exactly `expected`, counted from the spec.
pub fn apply(file: &mut syn::File, closed: &[String], expected: usize) {
    let Some(items) = types_module(file) else {
        panic!("the generated code has no `mod types`");
    };
    let open: Vec<String> = items
        .iter()
        .filter_map(|item| match item {
            Item::Enum(e) if is_string_enum(e) => Some(e.ident.to_string()),
            _ => None,
        })
        .filter(|name| {
            !closed
                .iter()
                .any(|c| name == c || name.starts_with(c.as_str()))
        })
        .collect();
    let mut catch_alls = std::collections::HashMap::new();
    for item in items.iter_mut() {
        if let Item::Enum(e) = item
            && open.contains(&e.ident.to_string())
        {
            catch_alls.insert(e.ident.to_string(), catch_all(e));
            open_enum(e);
        }
    }
    for item in items.iter_mut() {
        if let Item::Impl(imp) = item
            && let Some(name) = open.iter().find(|name| self_is(imp, name))
        {
            patch_impl(imp, &catch_alls[name]);
        }
    }
    assert_eq!(
        open.len(),
        expected,
        "build/open_enums.rs opened {} enums ({open:?}) where the spec has {expected} enums \
         that are not closed; progenitor's output changed shape",
        open.len()
    );
}

/// The items of the generated `mod types`.
pub fn types_module(file: &mut syn::File) -> Option<&mut Vec<Item>> {
    file.items.iter_mut().find_map(|item| match item {
        Item::Mod(m) if m.ident == "types" => m.content.as_mut().map(|(_, items)| items),
        _ => None,
    })
}

/// A typify string enum: only unit variants (renamed to the wire value where
/// it is not already a Rust name, like `EventCode::Delivered`).
fn is_string_enum(e: &ItemEnum) -> bool {
    !e.variants.is_empty() && e.variants.iter().all(|v| matches!(v.fields, Fields::Unit))
}

/// The catch-all variant's name: `Unknown`, or `UnknownValue` where the
/// enum already has a `Unknown` (Amazon's `UNKNOWN` ineligibility reason).
fn catch_all(e: &ItemEnum) -> syn::Ident {
    if e.variants.iter().any(|v| v.ident == "Unknown") {
        parse_quote!(UnknownValue)
    } else {
        parse_quote!(Unknown)
    }
}

fn open_enum(e: &mut ItemEnum) {
    for attr in e.attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        *attr = without_copy(attr);
    }
    let name = catch_all(e);
    e.variants.push(parse_quote! {
        /// A value this client does not know yet (Amazon added it after the
        /// model the client was generated from), kept verbatim.
        #[serde(untagged)]
        #name(::std::string::String)
    });
}

fn without_copy(attr: &Attribute) -> Attribute {
    let paths = attr
        .parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        .expect("derive lists are paths");
    let kept: Punctuated<Path, Token![,]> =
        paths.into_iter().filter(|p| !p.is_ident("Copy")).collect();
    parse_quote!(#[derive(#kept)])
}

fn self_is(imp: &syn::ItemImpl, name: &str) -> bool {
    matches!(&*imp.self_ty, syn::Type::Path(p) if p.path.is_ident(name))
}

fn trait_name(imp: &syn::ItemImpl) -> Option<String> {
    let (_, path, _) = imp.trait_.as_ref()?;
    path.segments.last().map(|s| s.ident.to_string())
}

fn patch_impl(imp: &mut syn::ItemImpl, variant: &syn::Ident) {
    let arm: Option<Arm> = match trait_name(imp).as_deref() {
        Some("Display") => Some(parse_quote! { Self::#variant(ref value) => f.write_str(value), }),
        Some("FromStr") => Some(parse_quote! { _ => Ok(Self::#variant(value.to_string())), }),
        _ => None,
    };
    if let Some(arm) = arm {
        walk::item_impl(&mut AddArm(arm), imp);
    }
}

/// Adds an arm to the `match` in a Display or FromStr impl; a trailing
/// wildcard (FromStr's error arm) is replaced.
struct AddArm(Arm);

impl Pass for AddArm {
    fn expr_match(&mut self, m: &mut syn::ExprMatch) -> bool {
        if matches!(m.arms.last().map(|a| &a.pat), Some(syn::Pat::Wild(_))) {
            m.arms.pop();
        }
        m.arms.push(self.0.clone());
        true
    }
}

/// Replaces serde's derives on every open enum with two small impls that go
/// straight between the variant and its wire string (aliases included), and
/// returns how many enums it changed. serde's derive for an enum with an
/// `untagged` variant buffers the value as `Content` and tries each form in
/// turn: about 15 % of the library's compile time for 30 enums, paid by
/// every dependent (issue 12), and slower at run time too. Runs after every
/// pass that adds `#[serde(...)]` to a variant (`live_shapes`' aliases).
/// Encoding is unchanged (the wire string); decoding accepts the same
/// strings, and a non-string is an error naming the enum.
pub fn compact_serde(items: &mut Vec<Item>) -> usize {
    let mut impls = Vec::new();
    for (index, item) in items.iter_mut().enumerate() {
        let Item::Enum(e) = item else { continue };
        let Some(catch_all) = e
            .variants
            .iter()
            .find(|v| v.attrs.iter().any(is_serde_untagged))
            .map(|v| v.ident.clone())
        else {
            continue;
        };
        let mut known = Vec::new();
        for v in e.variants.iter_mut() {
            let (wire, aliases) = wire_names(&v.ident, &v.attrs);
            v.attrs.retain(|a| !a.path().is_ident("serde"));
            if v.ident != catch_all {
                known.push((v.ident.clone(), wire, aliases));
            }
        }
        assert!(
            !e.attrs.iter().any(|a| a.path().is_ident("serde")),
            "build/open_enums.rs: enum {} has a container #[serde(...)] the compact impls ignore",
            e.ident
        );
        for attr in e.attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
            *attr = without_serde(attr);
        }
        impls.push((index + 1, serde_impls(&e.ident, &catch_all, &known)));
    }
    let changed = impls.len();
    for (at, [ser, de]) in impls.into_iter().rev() {
        items.insert(at, de);
        items.insert(at, ser);
    }
    changed
}

fn is_serde_untagged(attr: &Attribute) -> bool {
    attr.path().is_ident("serde")
        && attr
            .parse_args::<syn::Ident>()
            .is_ok_and(|i| i == "untagged")
}

/// A variant's wire string (`rename`, else its name) and its `alias`es.
fn wire_names(ident: &syn::Ident, attrs: &[Attribute]) -> (String, Vec<String>) {
    let (mut wire, mut aliases) = (ident.to_string(), Vec::new());
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("untagged") {
                return Ok(());
            }
            let value = meta.value()?.parse::<syn::LitStr>()?.value();
            if meta.path.is_ident("rename") {
                wire = value;
            } else if meta.path.is_ident("alias") {
                aliases.push(value);
            } else {
                return Err(meta.error("not handled by build/open_enums.rs"));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("build/open_enums.rs: variant {ident}: {e}"));
    }
    (wire, aliases)
}

fn without_serde(attr: &Attribute) -> Attribute {
    let paths = attr
        .parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        .expect("derive lists are paths");
    let serde = |p: &Path| p.segments.first().is_some_and(|s| s.ident == "serde");
    let kept: Punctuated<Path, Token![,]> = paths.into_iter().filter(|p| !serde(p)).collect();
    parse_quote!(#[derive(#kept)])
}

fn serde_impls(
    name: &syn::Ident,
    catch_all: &syn::Ident,
    known: &[(syn::Ident, String, Vec<String>)],
) -> [Item; 2] {
    let variants: Vec<_> = known.iter().map(|(v, _, _)| v).collect();
    let wires: Vec<_> = known.iter().map(|(_, w, _)| w).collect();
    let read: Vec<_> = known
        .iter()
        .map(|(_, wire, aliases)| quote::quote!(#wire #(| #aliases)*))
        .collect();
    let label = name.to_string();
    [
        parse_quote! {
            impl ::serde::Serialize for #name {
                fn serialize<S: ::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> ::std::result::Result<S::Ok, S::Error> {
                    serializer.serialize_str(match self {
                        #(Self::#variants => #wires,)*
                        Self::#catch_all(value) => value,
                    })
                }
            }
        },
        parse_quote! {
            impl<'de> ::serde::Deserialize<'de> for #name {
                fn deserialize<D: ::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> ::std::result::Result<Self, D::Error> {
                    crate::runtime::lenient::open_enum(
                        deserializer,
                        #label,
                        |value| match value {
                            #(#read => Some(Self::#variants),)*
                            _ => None,
                        },
                        Self::#catch_all,
                    )
                }
            }
        },
    ]
}
