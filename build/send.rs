//! Gives every operation builder a `send` that returns the crate's own
//! error, and reads back from the generated code what the runtime keys on.
//!
//! progenitor's `send` returns `Result<ResponseValue<T>, Error<ErrorList>>`,
//! which knows nothing of the runtime's context (attempts, idempotency key,
//! typed auth or decoding failures). The pass renames it `send_raw` (the
//! raw layer, still public for those who want progenitor's error) and adds
//! `send`, which runs it in the call's scope (`src/runtime/call.rs`) and
//! returns `Result<ResponseValue<T>, spapi_shipping::Error>`. progenitor has
//! no setting for either, hence the syntax-tree pass, like `decode_once`.
//!
//! It also reports, per `send`, the `OperationInfo::operation_id` progenitor
//! passes to the hooks at run time with the HTTP method and path the `send`
//! builds, so build.rs keys the operations table by progenitor's own id,
//! matched to the spec by method and path (not by guessing its naming), and
//! makes progenitor's `Client::new`/`new_with_client` crate-private: they
//! bypass `ClientBuilder` and so the runtime's settings.

use std::collections::BTreeMap;

use serde_json::Value;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{
    Expr, ExprMethodCall, ExprStruct, GenericArgument, ImplItem, ImplItemFn, Item, ItemImpl, Lit,
    Member, PathArguments, ReturnType, Token, Type, parse_quote,
};

/// One generated operation, as its `send` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// `OperationInfo::operation_id`, what the hooks receive (`get_rates`).
    pub operation_id: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path with `{}` for each parameter (`/shipping/v2/shipments/{}/cancel`).
    pub path: String,
}

/// Renames every builder's `send` to `send_raw`, adds the converting `send`
/// and hides progenitor's constructors. Panics (fails the build) unless it
/// found exactly `operations` sends, each with its operation id, method and
/// path, and both constructors.
pub fn apply(file: &mut syn::File, operations: usize) -> Vec<Generated> {
    let mut found = Vec::new();
    let mut constructors = 0;
    visit_impls(&mut file.items, &mut |imp| {
        constructors += hide_constructors(imp);
        found.extend(wrap_send(imp));
    });
    assert_eq!(
        found.len(),
        operations,
        "build/send.rs: {} builder `send` methods rewritten for {operations} operations in the \
         spec; progenitor's output changed shape",
        found.len()
    );
    assert_eq!(
        constructors, 2,
        "build/send.rs: expected progenitor's `Client::new` and `Client::new_with_client`, \
         found {constructors}; progenitor's output changed shape"
    );
    found
}

/// Calls `f` on every `impl` block, at any module depth.
fn visit_impls(items: &mut [Item], f: &mut impl FnMut(&mut ItemImpl)) {
    for item in items {
        match item {
            Item::Impl(imp) => f(imp),
            Item::Mod(m) => {
                if let Some((_, items)) = &mut m.content {
                    visit_impls(items, f);
                }
            }
            _ => {}
        }
    }
}

fn hide_constructors(imp: &mut ItemImpl) -> usize {
    let is_client = matches!(&*imp.self_ty, Type::Path(p) if p.path.is_ident("Client"));
    if !is_client || imp.trait_.is_some() {
        return 0;
    }
    let mut changed = 0;
    for item in &mut imp.items {
        if let ImplItem::Fn(f) = item
            && (f.sig.ident == "new" || f.sig.ident == "new_with_client")
        {
            // `ClientBuilder::build` is the one way in; it calls
            // `new_with_client`, and nothing calls `new`.
            f.vis = parse_quote!(pub(crate));
            f.attrs.push(parse_quote!(#[allow(dead_code)]));
            changed += 1;
        }
    }
    changed
}

/// In a builder's `impl`, renames `send` and adds the converting one.
fn wrap_send(imp: &mut ItemImpl) -> Option<Generated> {
    let at = imp
        .items
        .iter()
        .position(|i| matches!(i, ImplItem::Fn(f) if f.sig.ident == "send"))?;
    let ImplItem::Fn(raw) = &mut imp.items[at] else {
        unreachable!("found as a fn above")
    };
    let generated = describe(raw);
    let Some(value) = success_type(&raw.sig.output) else {
        panic!(
            "build/send.rs: {}'s `send` does not return `Result<ResponseValue<T>, _>`; \
             progenitor's output changed shape",
            generated.operation_id
        );
    };
    raw.sig.ident = parse_quote!(send_raw);
    // progenitor's doc (`Sends a `POST` request to ...`) moves to `send`.
    let (docs, others): (Vec<_>, Vec<_>) = std::mem::take(&mut raw.attrs)
        .into_iter()
        .partition(|a| a.path().is_ident("doc"));
    raw.attrs = others;
    raw.attrs.push(
        parse_quote!(#[doc = "The raw layer: progenitor's own `send`, through the \
        same runtime (auth, limits, retries, validation), returning progenitor's error \
        ([`crate::GeneratedError`]) without the call's context; a failure the runtime finds \
        (a refused token, an invalid request, an undecodable answer) comes as \
        `Error::Custom` with its message. Prefer [`Self::send`]."]),
    );
    let id = &generated.operation_id;
    let send: ImplItemFn = parse_quote! {
        #(#docs)*
        ///
        /// Goes through the runtime (access token, business
        /// id, idempotency key, validation, rate limit, retries) and decodes
        /// the answer. A failure is a [`crate::Error`] naming the operation,
        /// the attempts made and the idempotency key the requests carried.
        ///
        /// The [`crate::Response`] keeps the body's bytes and says which
        /// required fields Amazon left out or sent as `null`
        /// ([`crate::Response::corrections`]).
        pub async fn send(self) -> ::std::result::Result<crate::Response<#value>, crate::Error> {
            let client = self.client;
            crate::runtime::call::send(#id, &client.inner, || self.send_raw()).await
        }
    };
    imp.items.insert(at, ImplItem::Fn(send));
    Some(generated)
}

/// `T` of `-> Result<ResponseValue<T>, E>`.
fn success_type(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let ok = first_type_argument(ty, "Result")?;
    first_type_argument(&ok, "ResponseValue")
}

fn first_type_argument(ty: &Type, name: &str) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last().filter(|s| s.ident == name)?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

/// The operation id, method and path of one generated `send`.
fn describe(f: &mut ImplItemFn) -> Generated {
    let mut finder = Describe::default();
    finder.visit_impl_item_fn_mut(f);
    let (Some(operation_id), Some(method), Some(path)) =
        (finder.operation_id, finder.method, finder.path)
    else {
        panic!(
            "build/send.rs: a generated `send` without its OperationInfo id, HTTP method or \
             URL format; progenitor's output changed shape"
        );
    };
    Generated {
        operation_id,
        method,
        path,
    }
}

#[derive(Default)]
struct Describe {
    operation_id: Option<String>,
    method: Option<String>,
    path: Option<String>,
}

impl VisitMut for Describe {
    fn visit_expr_struct_mut(&mut self, s: &mut ExprStruct) {
        if let Some(id) = crate::walk::operation_id_of(s) {
            self.operation_id = Some(id);
        }
        visit_mut::visit_expr_struct_mut(self, s);
    }

    /// `client.client.post(url)`: the method.
    fn visit_expr_method_call_mut(&mut self, call: &mut ExprMethodCall) {
        const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];
        let method = call.method.to_string();
        if METHODS.contains(&method.as_str())
            && let Expr::Field(field) = &*call.receiver
            && matches!(&field.member, Member::Named(m) if m == "client")
        {
            self.method = Some(method.to_uppercase());
        }
        visit_mut::visit_expr_method_call_mut(self, call);
    }

    /// `format!("{}/shipping/v2/shipments/{}/cancel", client.baseurl, ..)`:
    /// the path, after the base URL's `{}`.
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        type Args = Punctuated<Expr, Token![,]>;
        if m.path.is_ident("format")
            && let Ok(args) = m.parse_body_with(Args::parse_terminated)
            && let Some(Expr::Lit(first)) = args.first()
            && let Lit::Str(text) = &first.lit
            && let Some(path) = text.value().strip_prefix("{}")
        {
            self.path = Some(path.to_owned());
        }
    }
}

/// One operation of the spec: its operationId, HTTP method (upper case)
/// and path template.
pub struct SpecOperation {
    pub id: String,
    pub method: String,
    pub path: String,
}

pub fn spec_operations(spec: &Value) -> Vec<SpecOperation> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if let Some(id) = op["operationId"].as_str() {
                out.push(SpecOperation {
                    id: id.to_owned(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                });
            }
        }
    }
    out
}

/// operationId -> the `OperationInfo::operation_id` progenitor passes to the
/// hooks at run time, read from the generated code and matched to the spec
/// by HTTP method and path (`{shipmentId}` in the spec, `{}` in the
/// generated `format!`). Fails the build unless every operation matches
/// exactly one generated `send` and back: a name the runtime would not find
/// would skip auth, limits and retries.
pub fn progenitor_ids(spec: &[SpecOperation], generated: &[Generated]) -> BTreeMap<String, String> {
    let template = |path: &str| {
        let mut out = String::new();
        let mut in_param = false;
        for c in path.chars() {
            match c {
                '{' => in_param = true,
                '}' if in_param => {
                    in_param = false;
                    out.push_str("{}");
                }
                _ if in_param => {}
                c => out.push(c),
            }
        }
        out
    };
    let mut names = BTreeMap::new();
    for op in spec {
        let matches: Vec<&Generated> = generated
            .iter()
            .filter(|g| g.method == op.method && g.path == template(&op.path))
            .collect();
        let [found] = matches[..] else {
            panic!(
                "the spec's {} ({} {}) matches {} generated operations, not one; progenitor's \
                 output changed shape",
                op.id,
                op.method,
                op.path,
                matches.len()
            );
        };
        names.insert(op.id.clone(), found.operation_id.clone());
    }
    let mut ids: Vec<&String> = names.values().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        generated.len(),
        "generated operations without a spec operation (or sharing an operation id): {generated:?}"
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(send_name: &str) -> syn::File {
        let send = quote::format_ident!("{send_name}");
        parse_quote! {
            impl Client {
                pub fn new(baseurl: &str) -> Self { todo!() }
                pub fn new_with_client(baseurl: &str) -> Self { todo!() }
            }
            pub mod builder {
                impl<'a> CancelShipment<'a> {
                    pub async fn #send(self) -> Result<ResponseValue<()>, Error<types::ErrorList>> {
                        let url = format!("{}/shipping/v2/shipments/{}/cancel", client.baseurl, id);
                        let request = client.client.put(url).build()?;
                        let info = OperationInfo { operation_id: "cancel_shipment" };
                        todo!()
                    }
                }
            }
        }
    }

    #[test]
    fn a_send_is_wrapped_and_described() {
        let mut file = builder("send");
        let found = apply(&mut file, 1);
        assert_eq!(
            found,
            [Generated {
                operation_id: "cancel_shipment".into(),
                method: "PUT".into(),
                path: "/shipping/v2/shipments/{}/cancel".into(),
            }]
        );
        let code = quote::quote!(#file).to_string();
        assert!(code.contains("pub async fn send_raw"), "{code}");
        assert!(
            code.contains("crate :: runtime :: call :: send (\"cancel_shipment\""),
            "{code}"
        );
        assert!(code.contains("pub (crate) fn new_with_client"), "{code}");
    }

    #[test]
    #[should_panic(expected = "0 builder `send` methods rewritten for 1 operations")]
    fn a_renamed_send_fails_the_build() {
        apply(&mut builder("execute"), 1);
    }
}
