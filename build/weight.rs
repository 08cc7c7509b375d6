//! Less for a dependent crate to compile (issue 12, part 2).
//!
//! [`drop_unused_type_builders`] keeps typify's struct builders (`types::builder::X`, `X::builder()`) only
//! for the request bodies the operation builders use (`.body(...)`,
//! `.body_map(...)`); drops the other ~95. They were half of the generated
//! file (about 370 KB of 780 KB) and a matching share of a dependent crate's
//! build (issue 12, part 2), while response and nested types are built with
//! struct literals. progenitor emits them for every type whenever
//! `InterfaceStyle::Builder` is chosen (progenitor-impl `lib.rs`:
//! `with_struct_builder(settings.interface == InterfaceStyle::Builder)`),
//! with no setting to limit them.

use std::collections::BTreeSet;

use quote::ToTokens;
use syn::{File, ImplItem, Item, ItemMod, Type};

/// Removes the unused struct builders from `types`; returns how many were kept.
pub fn drop_unused_type_builders(file: &mut File) -> usize {
    let used = used_outside_types(file);
    let items = super::open_enums::types_module(file).expect("generated `mod types`");
    for item in items.iter_mut() {
        match item {
            Item::Mod(module) if module.ident == "builder" => retain_builders(module, &used),
            // `impl X { pub fn builder() -> builder::X }`
            Item::Impl(block)
                if block.trait_.is_none()
                    && last_ident(&block.self_ty).is_some_and(|name| !used.contains(&name)) =>
            {
                block
                    .items
                    .retain(|item| !matches!(item, ImplItem::Fn(f) if f.sig.ident == "builder"));
            }
            _ => {}
        }
    }
    items.retain(|item| !matches!(item, Item::Impl(block) if block.trait_.is_none() && block.items.is_empty()));
    used.len()
}

/// Names `X` written as `types::builder::X` anywhere but in `mod types`.
fn used_outside_types(file: &File) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for item in &file.items {
        if matches!(item, Item::Mod(module) if module.ident == "types") {
            continue;
        }
        let text = item.to_token_stream().to_string();
        for rest in text.split("types :: builder :: ").skip(1) {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

/// In `types::builder`, keeps the structs and impls of the used builders.
fn retain_builders(module: &mut ItemMod, used: &BTreeSet<String>) {
    let items = &mut module.content.as_mut().expect("inline `mod builder`").1;
    items.retain(|item| {
        let name = match item {
            Item::Struct(s) => Some(s.ident.to_string()),
            // `impl Default for X`, `impl X`, `impl TryFrom<X> for super::X`,
            // `impl From<super::X> for X`: the subject is the self type's name.
            Item::Impl(block) => last_ident(&block.self_ty),
            _ => None,
        };
        name.is_none_or(|name| used.contains(&name))
    });
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
