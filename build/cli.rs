//! Adapts progenitor's generated CLI (`Generator::cli`) to this crate without
//! touching the library's types. Two rewrites, on the syntax tree like
//! `open_enums` and `lenient`; nothing else of the generated code changes:
//!
//! - progenitor's `CliConfig` trait bounds its output methods by
//!   `schemars::JsonSchema`, and the generated executors call them with the
//!   response and error types, so every generated type would have to derive
//!   `JsonSchema`: a new dependency and a derive on all the library's types
//!   for everyone, for a bound `src/cli.rs` never uses (it prints JSON through
//!   `serde::Serialize`). The bound is removed from the trait instead.
//! - An array parameter (`getAccessPoints`'s `accessPointTypes`) is generated
//!   as one argument parsed into a `Vec<T>`, which clap cannot parse and so
//!   does not compile. It becomes a repeatable, comma-separated argument of
//!   `T`, collected into the `Vec<T>` the client method takes:
//!   `--access-point-types HELIX,CAMPUS_LOCKER` or the flag twice.
//! - The executors apply `--json-body` after the flags of the body's scalar
//!   fields (`--rate-id`, `--request-token`), so the file's body silently
//!   replaced them. The file is read first instead, and the flags override
//!   its fields.
//! - `CliConfig::error` takes the crate's `Error`, which the executors'
//!   `send` returns (build/send.rs), rather than progenitor's.

use crate::walk::{self, Pass};
use syn::{
    Expr, GenericArgument, Item, PathArguments, Type, TypeParamBound, WherePredicate, parse_quote,
};

/// Applies the rewrites to the generated CLI.
pub fn apply(file: &mut syn::File) {
    let config = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            Item::Trait(t) if t.ident == "CliConfig" => Some(t),
            _ => None,
        })
        .expect("progenitor's CLI has a `trait CliConfig`");
    walk::item_trait(&mut StripJsonSchema, config);
    // The executors call `send`, which returns the crate's error
    // (build/send.rs), and hand it to `CliConfig::error`.
    let error = config
        .items
        .iter_mut()
        .find_map(|item| match item {
            syn::TraitItem::Fn(f) if f.sig.ident == "error" => Some(f),
            _ => None,
        })
        .expect("progenitor's `CliConfig` has `fn error`");
    *error = parse_quote!(
        fn error(&self, value: &crate::Error);
    );
    let mut lists = ListArguments::default();
    walk::file(&mut lists, file);
    assert_eq!(
        lists.parsers, lists.consumers,
        "every list argument's parser and consumer are rewritten together"
    );
    let mut body_first = BodyFirst(0);
    walk::file(&mut body_first, file);
    assert!(body_first.0 > 0, "the executors read `--json-body`");
}

struct StripJsonSchema;

impl Pass for StripJsonSchema {
    fn where_predicate(&mut self, predicate: &mut WherePredicate) -> bool {
        if let WherePredicate::Type(p) = predicate {
            p.bounds = std::mem::take(&mut p.bounds)
                .into_iter()
                .filter(|b| !is_json_schema(b))
                .collect();
        }
        true
    }
}

fn is_json_schema(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(t)
        if t.path.segments.last().is_some_and(|s| s.ident == "JsonSchema"))
}

/// Rewrites `.value_parser(::clap::value_parser!(Vec<T>))` into a parser of
/// `T` that appends comma-separated values, and
/// `matches.get_one::<Vec<T>>(name)` into `get_many::<T>(name)` collected.
#[derive(Default)]
struct ListArguments {
    parsers: usize,
    consumers: usize,
}

impl Pass for ListArguments {
    fn expr(&mut self, expr: &mut Expr) -> bool {
        walk::expr_children(self, expr);
        let Expr::MethodCall(call) = expr else {
            return true;
        };
        let receiver = &call.receiver;
        let method = call.method.to_string();
        let replacement: Option<Expr> = match method.as_str() {
            "value_parser" => call
                .args
                .first()
                .and_then(value_parser_type)
                .and_then(vec_item)
                .map(|item| {
                    parse_quote! {
                        #receiver
                            .value_parser(::clap::value_parser!(#item))
                            .action(::clap::ArgAction::Append)
                            .value_delimiter(',')
                    }
                }),
            "get_one" => call
                .turbofish
                .as_ref()
                .and_then(|t| match t.args.first() {
                    Some(GenericArgument::Type(ty)) => vec_item(ty.clone()),
                    _ => None,
                })
                .map(|item| {
                    let args = &call.args;
                    parse_quote! {
                        #receiver
                            .get_many::<#item>(#args)
                            .map(|values| values.cloned().collect::<::std::vec::Vec<_>>())
                    }
                }),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
            match method.as_str() {
                "value_parser" => self.parsers += 1,
                _ => self.consumers += 1,
            }
        }
        true
    }
}

/// `T` of a `::clap::value_parser!(T)` argument.
fn value_parser_type(arg: &Expr) -> Option<Type> {
    let Expr::Macro(m) = arg else { return None };
    if m.mac.path.segments.last()?.ident != "value_parser" {
        return None;
    }
    syn::parse2(m.mac.tokens.clone()).ok()
}

/// `T` of `Vec<T>` (however the path to `Vec` is spelled).
fn vec_item(ty: Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(a) => match a.args.first()? {
            GenericArgument::Type(item) => Some(item.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Moves each executor's `if let Some(value) = matches.get_one::<PathBuf>("json-body")`
/// statement to right after `let mut request = ...`, before the consumers of
/// the other arguments; counts the executors changed.
struct BodyFirst(usize);

impl Pass for BodyFirst {
    fn impl_item_fn(&mut self, f: &mut syn::ImplItemFn) -> bool {
        if !f.sig.ident.to_string().starts_with("execute_") {
            return true;
        }
        let stmts = &mut f.block.stmts;
        let reads_body = |stmt: &syn::Stmt| match stmt {
            syn::Stmt::Expr(Expr::If(i), _) => {
                let cond = &i.cond;
                quote::quote!(#cond).to_string().contains("\"json-body\"")
            }
            _ => false,
        };
        let Some(at) = stmts.iter().position(reads_body) else {
            return true;
        };
        assert!(
            matches!(stmts.first(), Some(syn::Stmt::Local(_))),
            "{}: an executor starts with `let mut request`",
            f.sig.ident
        );
        let read = stmts.remove(at);
        stmts.insert(1, read);
        self.0 += 1;
        true
    }
}
