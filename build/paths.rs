//! typify's struct builders name a bad value by the Rust field of the one
//! builder that refused it: `error converting supplied value for
//! address_line1: longer than 60 characters`, whether the address was
//! `shipTo` or `shipFrom` (issue 18, item 9). This pass makes every builder
//! error carry the JSON path in the wire's names, composed through every
//! level, in the spec walker's words (`runtime/validate.rs`):
//!
//! - a setter's conversion error becomes `addressLine1: longer than 60
//!   characters (61)`; a setter whose field holds a built struct (itself, or
//!   in an `Option`) joins the nested builder's path with a dot
//!   (`shipTo.addressLine1: ...`), and one that holds a list newtype joins
//!   its index (`packages[0].items[1].itemValue.unit: ...`);
//! - a required field left unset is `shipTo.city: required field missing`
//!   instead of `no value supplied for city`;
//! - `impl TryFrom<builder::X> for Option<X>`, so an optional struct field
//!   takes its builder (`.ship_to(types::Address::builder()...)`) and the
//!   error keeps the field's name (with `Some(built)` the error arises where
//!   the caller converts, which cannot know the field);
//! - `impl TryFrom<Vec<builder::X>> for L` for each list newtype `L(Vec<X>)`,
//!   naming the index of the element that failed. An optional list field
//!   (`Option<L>`) or an inline `Vec<X>` cannot take a `Vec` of builders (the
//!   orphan rule forbids `impl TryFrom<Vec<builder::X>> for Option<L>` and
//!   `for Vec<X>`): there the caller converts the list, and the error names
//!   the index but not the field;
//! - a constrained string's length error says the length it found, as the
//!   walker does: `longer than 60 characters (61)`.
//!
//! It counts what it changed against the spec (`build/expected.rs`) and fails
//! the build on any difference, so a change in typify's output that the pass
//! no longer recognises cannot leave an error without its path.

use std::collections::{BTreeMap, BTreeSet};

use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::{Expr, ImplItem, Item, ItemImpl, Lit, LitStr, Macro, Token, Type, parse_quote};

use crate::walk::{self, Pass};

/// What the pass changed, or must change.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Changed {
    /// Builder setters whose conversion error now starts with the path.
    pub setters: usize,
    /// Required fields whose "no value supplied" now names the path.
    pub required: usize,
    /// Builders given `TryFrom<builder::X> for Option<X>`.
    pub builders: usize,
    /// List newtypes given `TryFrom<Vec<builder::X>>`.
    pub lists: usize,
    /// Length checks of constrained strings that now report the length.
    pub lengths: usize,
}

const SETTER: &str = "error converting supplied value for ";
const UNSET: &str = "no value supplied for ";

/// Rewrites the builders in the generated `mod types` items; panics unless
/// it changed exactly `expected`.
pub fn apply(items: &mut [Item], expected: Changed) -> Changed {
    let structs = structs(items);
    let lists = list_newtypes(items, &structs);
    let mut changed = Changed {
        lengths: lengths(items),
        ..Changed::default()
    };
    let builder = items
        .iter_mut()
        .find_map(|item| match item {
            Item::Mod(m) if m.ident == "builder" => m.content.as_mut().map(|(_, items)| items),
            _ => None,
        })
        .expect("build/paths.rs: no `mod builder` in `mod types`; typify's output changed shape");
    let mut built = BTreeSet::new();
    for item in builder.iter_mut() {
        let Item::Impl(imp) = item else { continue };
        let Some(name) = self_name(imp) else { continue };
        let Some(fields) = structs.get(&name) else {
            continue;
        };
        built.insert(name.clone());
        if imp.trait_.is_none() {
            changed.setters += setters(imp, fields, &structs, &lists);
        } else if is_trait(imp, "Default") {
            let mut pass = Unset {
                fields,
                rewritten: 0,
            };
            walk::item_impl(&mut pass, imp);
            changed.required += pass.rewritten;
        }
    }
    for name in &built {
        let ident = quote::format_ident!("{name}");
        builder.push(parse_quote! {
            impl ::std::convert::TryFrom<#ident> for ::std::option::Option<super::#ident> {
                type Error = super::error::ConversionError;
                fn try_from(
                    value: #ident,
                ) -> ::std::result::Result<Self, super::error::ConversionError> {
                    super::#ident::try_from(value).map(::std::option::Option::Some)
                }
            }
        });
    }
    changed.builders = built.len();
    for (list, element) in &lists {
        let (list, element) = (
            quote::format_ident!("{list}"),
            quote::format_ident!("{element}"),
        );
        builder.push(parse_quote! {
            impl ::std::convert::TryFrom<::std::vec::Vec<#element>> for super::#list {
                type Error = super::error::ConversionError;
                fn try_from(
                    value: ::std::vec::Vec<#element>,
                ) -> ::std::result::Result<Self, super::error::ConversionError> {
                    value
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            super::#element::try_from(item)
                                .map_err(|e| super::error::ConversionError::from(format!("[{i}].{e}")))
                        })
                        .collect::<::std::result::Result<::std::vec::Vec<_>, _>>()
                        .map(Self)
                }
            }
        });
    }
    changed.lists = lists.len();
    assert_eq!(
        changed, expected,
        "build/paths.rs rewrote {changed:?} where the spec counts {expected:?}; typify's builders \
         changed shape"
    );
    changed
}

/// One field of a generated struct: its name on the wire and its type.
struct Field {
    wire: String,
    ty: Type,
}

/// Every struct with named fields in `mod types`: field (Rust name) -> wire
/// name and type.
fn structs(items: &[Item]) -> BTreeMap<String, BTreeMap<String, Field>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Item::Struct(s) = item else { continue };
        let syn::Fields::Named(named) = &s.fields else {
            continue;
        };
        let fields = named
            .named
            .iter()
            .filter_map(|f| {
                let rust = f.ident.as_ref()?.unraw().to_string();
                let wire = serde_rename(&f.attrs).unwrap_or_else(|| rust.clone());
                Some((
                    rust,
                    Field {
                        wire,
                        ty: f.ty.clone(),
                    },
                ))
            })
            .collect();
        out.insert(s.ident.to_string(), fields);
    }
    out
}

/// `#[serde(rename = "...")]`, if present.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut rename = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                rename = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.input.peek(Token![=]) {
                meta.value()?.parse::<Expr>()?;
            }
            Ok(())
        });
    }
    rename
}

/// List newtypes `struct L(pub Vec<X>)` whose element `X` is a struct:
/// `L` -> `X`.
fn list_newtypes(
    items: &[Item],
    structs: &BTreeMap<String, BTreeMap<String, Field>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in items {
        let Item::Struct(s) = item else { continue };
        let syn::Fields::Unnamed(fields) = &s.fields else {
            continue;
        };
        if fields.unnamed.len() != 1 {
            continue;
        }
        if let Some(element) = generic_of(&fields.unnamed[0].ty, "Vec").and_then(last_ident)
            && structs.contains_key(&element)
        {
            out.insert(s.ident.to_string(), element);
        }
    }
    out
}

/// Rewrites the setters of one builder; returns how many.
fn setters(
    imp: &mut ItemImpl,
    fields: &BTreeMap<String, Field>,
    structs: &BTreeMap<String, BTreeMap<String, Field>>,
    lists: &BTreeMap<String, String>,
) -> usize {
    let mut rewritten = 0;
    for item in &mut imp.items {
        let ImplItem::Fn(f) = item else { continue };
        let name = f.sig.ident.unraw().to_string();
        let Some(field) = fields.get(&name) else {
            continue;
        };
        let optional = generic_of(&field.ty, "Option");
        let inner = last_ident(optional.unwrap_or(&field.ty));
        let join = match inner {
            Some(t) if structs.contains_key(&t) => ".",
            Some(t) if lists.contains_key(&t) && optional.is_none() => "",
            _ => ": ",
        };
        let mut pass = Setter {
            prefix: format!("{SETTER}{name}: "),
            replacement: format!("{}{join}", field.wire),
            rewritten: 0,
        };
        walk::impl_item_fn_children(&mut pass, f);
        rewritten += pass.rewritten;
    }
    rewritten
}

/// `format!("error converting supplied value for x: {e}")` ->
/// `format!("wireName: {e}")` (or `wireName.{e}`, `wireName{e}`).
struct Setter {
    prefix: String,
    replacement: String,
    rewritten: usize,
}

impl Pass for Setter {
    fn mac(&mut self, mac: &mut Macro) -> bool {
        if !mac.path.is_ident("format") {
            return false;
        }
        let Ok(mut args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        else {
            return false;
        };
        let Some(Expr::Lit(lit)) = args.first_mut() else {
            return false;
        };
        let Lit::Str(text) = &lit.lit else {
            return false;
        };
        let Some(rest) = text.value().strip_prefix(&self.prefix).map(str::to_owned) else {
            return false;
        };
        lit.lit = Lit::Str(LitStr::new(
            &format!("{}{rest}", self.replacement),
            text.span(),
        ));
        mac.tokens = quote::quote!(#args);
        self.rewritten += 1;
        true
    }
}

/// `"no value supplied for x"` -> `"wireName: required field missing"`.
struct Unset<'a> {
    fields: &'a BTreeMap<String, Field>,
    rewritten: usize,
}

impl Pass for Unset<'_> {
    fn expr(&mut self, expr: &mut Expr) -> bool {
        let Expr::Lit(lit) = expr else { return false };
        let Lit::Str(text) = &lit.lit else {
            return false;
        };
        let value = text.value();
        let Some(field) = value.strip_prefix(UNSET).and_then(|f| self.fields.get(f)) else {
            return false;
        };
        lit.lit = Lit::Str(LitStr::new(
            &format!("{}: required field missing", field.wire),
            text.span(),
        ));
        self.rewritten += 1;
        true
    }
}

/// In the `FromStr` impls of constrained strings, `Err("longer than 60
/// characters".into())` -> `Err(format!("longer than 60 characters ({})",
/// value.chars().count()).into())`; returns how many.
fn lengths(items: &mut [Item]) -> usize {
    struct Lengths(usize);
    impl Pass for Lengths {
        fn expr(&mut self, expr: &mut Expr) -> bool {
            let Expr::MethodCall(call) = expr else {
                return false;
            };
            let Expr::Lit(lit) = &*call.receiver else {
                return false;
            };
            let Lit::Str(text) = &lit.lit else {
                return false;
            };
            let value = text.value();
            let is_length = (value.starts_with("longer than ")
                || value.starts_with("shorter than "))
                && value.ends_with(" characters");
            if call.method != "into" || !is_length {
                return false;
            }
            let message = format!("{value} ({{}})");
            *expr = parse_quote!(format!(#message, value.chars().count()).into());
            self.0 += 1;
            true
        }
    }
    let mut pass = Lengths(0);
    for item in items {
        if let Item::Impl(imp) = item
            && is_trait(imp, "FromStr")
        {
            walk::item_impl(&mut pass, imp);
        }
    }
    pass.0
}

fn is_trait(imp: &ItemImpl, name: &str) -> bool {
    imp.trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == name)
}

fn self_name(imp: &ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.to_string())
        }
        _ => None,
    }
}

/// `T` of `...::wrapper<T>`.
fn generic_of<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// The last segment of a plain type path (`super::Address` -> `Address`).
fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().and_then(|s| {
            matches!(s.arguments, syn::PathArguments::None).then(|| s.ident.to_string())
        }),
        _ => None,
    }
}
