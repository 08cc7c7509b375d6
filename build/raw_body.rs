//! A raw JSON body for every operation that takes one (issue 18, item 6).
//!
//! Amazon accepts bodies its model forbids (an empty `phoneNumber` where the
//! model says `minLength: 1`, explicit `null`s, fields the model does not
//! have), and progenitor's typed builders cannot hold them. This pass gives
//! every operation builder that has a `body` a `body_json(serde_json::Value)`
//! that is sent exactly as given, through the same generated `send_raw` (so
//! the same hooks: auth, business id, idempotency key, validation, rate
//! limit, retries, body cap, errors):
//!
//! - the builder struct gets a `body_json: Option<serde_json::Value>` field,
//!   `None` in `new`;
//! - `body_json(value)` sets it; `body` and `body_map` clear it, so
//!   whichever of the three is called last decides what is sent;
//! - `send_raw` sends `crate::runtime::raw_body::RequestBody::Json(value)`
//!   when it is set, else the typed body progenitor converted
//!   (`RequestBody::Typed`), through the same `.json(&body)`.
//!
//! For the generated CLI ([`cli`]), each executor with a `--json-body`
//! reads the file as a `serde_json::Value` and sends it with `body_json`
//! when the client's validation is not `enforce` (`--no-validate`,
//! `SP_API_VALIDATION=off` or `warn`: `src/cli/raw.rs`), the body-field
//! flags (`--rate-id`) setting their top-level field in that JSON;
//! otherwise the typed path is unchanged.
//!
//! Both panic (fail the build) unless they changed exactly one builder, or
//! one executor, per operation with a JSON request body, and one flag per
//! scalar top-level property of those bodies, all counted from the spec
//! here (like build/expected.rs, kept in this file so the pass is one
//! file).

use std::collections::BTreeMap;

use serde_json::Value;
use syn::{
    Block, Expr, ExprIf, FieldPat, FieldValue, FieldsNamed, GenericArgument, ImplItem, ImplItemFn,
    Item, ItemImpl, ItemStruct, Pat, PathArguments, Stmt, Type, parse_quote,
};

use crate::walk::{self, Pass};

/// Operations with a JSON request body: one builder, and one CLI executor,
/// each.
pub fn expected(spec: &Value) -> usize {
    bodies(spec).len()
}

/// Scalar (string, number, integer, boolean) top-level properties of the
/// request bodies, by body schema name: progenitor's CLI makes each a flag
/// that sets the field (`--rate-id`), each in JSON spelling.
fn scalar_fields(spec: &Value) -> BTreeMap<String, Vec<String>> {
    let scalar = ["string", "number", "integer", "boolean"];
    bodies(spec)
        .into_iter()
        .map(|name| {
            let schema = resolve(spec, &spec["components"]["schemas"][&name]);
            let fields = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, p)| {
                    resolve(spec, p)["type"]
                        .as_str()
                        .is_some_and(|t| scalar.contains(&t))
                })
                .map(|(field, _)| field.clone())
                .collect();
            (name, fields)
        })
        .collect()
}

/// The schema name of each operation's JSON request body, in spec order.
fn bodies(spec: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (_, item) in spec["paths"].as_object().into_iter().flatten() {
        for (_, op) in item.as_object().into_iter().flatten() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if body.is_null() {
                continue;
            }
            let name = body["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap_or_else(|| {
                    panic!("build/raw_body.rs: {id}'s request body is not a schema reference")
                });
            out.push(name.to_owned());
        }
    }
    out
}

fn resolve<'a>(spec: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => schema = spec.pointer(pointer).unwrap_or(&Value::Null),
            None => return schema,
        }
    }
    panic!("build/raw_body.rs: a $ref cycle in the spec")
}

// ---------------------------------------------------------------------------
// The client's builders

/// Adds `body_json` to every operation builder with a body. Runs after
/// build/send.rs (which names progenitor's `send` `send_raw`); panics
/// unless it changed one builder per operation with a JSON body.
pub fn apply(file: &mut syn::File, spec: &Value) {
    let expected = expected(spec);
    let items = file
        .items
        .iter_mut()
        .find_map(|item| match item {
            Item::Mod(m) if m.ident == "builder" => m.content.as_mut().map(|(_, items)| items),
            _ => None,
        })
        .expect("build/raw_body.rs: progenitor's `pub mod builder`");
    // Builder name -> the typed body's name (`GetRatesRequest`).
    let mut builders = BTreeMap::new();
    for item in items.iter_mut() {
        if let Item::Struct(s) = item
            && let Some(body) = add_field(s)
        {
            builders.insert(s.ident.to_string(), body);
        }
    }
    let mut changed = 0;
    for item in items.iter_mut() {
        if let Item::Impl(imp) = item
            && imp.trait_.is_none()
            && let Type::Path(p) = &*imp.self_ty
            && let Some(body) = p
                .path
                .segments
                .last()
                .and_then(|s| builders.get(&s.ident.to_string()))
        {
            rewrite_impl(imp, body);
            changed += 1;
        }
    }
    assert!(
        builders.len() == expected && changed == expected,
        "build/raw_body.rs: {} builders with a `body` field and {changed} impls rewritten, where \
         the spec has {expected} operations with a JSON body; progenitor's output changed shape",
        builders.len()
    );
}

/// Adds `body_json` to a builder struct with `body: Result<types::builder::X, String>`;
/// returns `X`.
fn add_field(s: &mut ItemStruct) -> Option<String> {
    let syn::Fields::Named(fields) = &mut s.fields else {
        return None;
    };
    let body = fields
        .named
        .iter()
        .find(|f| f.ident.as_ref().is_some_and(|i| i == "body"))?;
    let Type::Path(result) = &body.ty else {
        return None;
    };
    let last = result.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let Some(GenericArgument::Type(Type::Path(typed))) = args.args.first() else {
        return None;
    };
    let segments: Vec<String> = typed
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let [types, builder, name] = &segments[..] else {
        return None;
    };
    if types != "types" || builder != "builder" {
        return None;
    }
    let name = name.clone();
    let extra: FieldsNamed =
        parse_quote!({ body_json: ::std::option::Option<::serde_json::Value> });
    fields.named.extend(extra.named);
    Some(name)
}

/// What one builder's impl must have had changed.
#[derive(Default)]
struct Found {
    new: usize,
    setters: usize,
    destructure: usize,
    body: usize,
    json: usize,
}

fn rewrite_impl(imp: &mut ItemImpl, body_type: &str) {
    let mut found = Found::default();
    let mut at = None;
    for (index, item) in imp.items.iter_mut().enumerate() {
        let ImplItem::Fn(f) = item else { continue };
        match f.sig.ident.to_string().as_str() {
            "new" => {
                let mut init = InitField(0);
                walk::impl_item_fn_children(&mut init, f);
                found.new += init.0;
            }
            "body" | "body_map" => {
                f.block.stmts.insert(
                    0,
                    parse_quote!(self.body_json = ::std::option::Option::None;),
                );
                found.setters += 1;
                at = Some(index + 1);
            }
            "send_raw" => rewrite_send_raw(f, &mut found),
            _ => {}
        }
    }
    let name = &imp.self_ty;
    let name = quote::quote!(#name).to_string();
    assert!(
        found.new == 1
            && found.setters == 2
            && found.destructure == 1
            && found.body == 1
            && found.json == 1,
        "build/raw_body.rs: {name} did not have exactly one `new` with `Self {{ body, .. }}`, \
         `body`, `body_map`, and a `send_raw` with `let Self {{ .. }} = self`, `let body = ..` \
         and `.json(&body)`; progenitor's output changed shape"
    );
    let typed = format!(
        "For what Amazon accepts but [`types::{body_type}`] cannot hold: an empty string \
         where the model says `minLength: 1`, an explicit `null`, a field the model does not \
         have."
    );
    let method: ImplItemFn = parse_quote! {
        /// The request body as JSON, sent exactly as given instead of the
        /// typed body; whichever of [`Self::body`], [`Self::body_map`] and
        /// this is called last decides what is sent.
        ///
        #[doc = #typed]
        ///
        /// The call goes through the same runtime as a typed one (access
        /// token, business id, idempotency key, rate limit, retries,
        /// response body cap, errors). The client's
        /// [`Validation`](crate::validate::Validation) applies to the JSON
        /// as written: `Enforce` (the default) refuses a body that breaks
        /// the spec's constraints with [`crate::Error::InvalidRequest`],
        /// naming each field path (in a getRates body, for example,
        /// `shipTo.phoneNumber: shorter than 1 characters (0)` or
        /// `labelSpecifications: unknown field`); `Warn` logs them and
        /// sends; `Off` sends it unchecked.
        pub fn body_json(mut self, value: ::serde_json::Value) -> Self {
            self.body_json = ::std::option::Option::Some(value);
            self
        }
    };
    let at = at.expect("counted above");
    imp.items.insert(at, ImplItem::Fn(method));
}

/// Adds `body_json: None` to `Self { .., body: .. }`.
struct InitField(usize);

impl Pass for InitField {
    fn expr_struct(&mut self, s: &mut syn::ExprStruct) -> bool {
        let has_body = s
            .fields
            .iter()
            .any(|f| matches!(&f.member, syn::Member::Named(n) if n == "body"));
        if s.path.is_ident("Self") && has_body {
            let field: FieldValue = parse_quote!(body_json: ::std::option::Option::None);
            s.fields.push(field);
            self.0 += 1;
        }
        true
    }
}

fn rewrite_send_raw(f: &mut ImplItemFn, found: &mut Found) {
    for stmt in &mut f.block.stmts {
        let Stmt::Local(local) = stmt else { continue };
        match &mut local.pat {
            // `let Self { client, .., body } = self;`
            Pat::Struct(p) if p.path.is_ident("Self") => {
                let Pat::Struct(extra) = parse_quote!(Self { body_json }) else {
                    unreachable!("a struct pattern")
                };
                p.fields
                    .extend(extra.fields.into_iter().collect::<Vec<FieldPat>>());
                found.destructure += 1;
            }
            // `let body = body.and_then(|v| X::try_from(v)..).map_err(..)?;`
            Pat::Ident(i) if i.ident == "body" => {
                let Some(init) = &mut local.init else {
                    continue;
                };
                let typed = &init.expr;
                *init.expr = parse_quote! {
                    match body_json {
                        ::std::option::Option::Some(value) => {
                            crate::runtime::raw_body::RequestBody::Json(value)
                        }
                        ::std::option::Option::None => {
                            crate::runtime::raw_body::RequestBody::Typed(#typed)
                        }
                    }
                };
                found.body += 1;
            }
            Pat::Ident(i) if i.ident == "request" => {
                let mut json = JsonBody(0);
                if let Some(init) = &mut local.init {
                    walk::expr_children(&mut json, &mut init.expr);
                }
                found.json += json.0;
            }
            _ => {}
        }
    }
}

/// Counts `.json(&body)` calls.
struct JsonBody(usize);

impl Pass for JsonBody {
    fn expr(&mut self, expr: &mut Expr) -> bool {
        if let Expr::MethodCall(call) = expr
            && call.method == "json"
            && quote::quote!(#call)
                .to_string()
                .ends_with(". json (& body)")
        {
            self.0 += 1;
        }
        false
    }
}

// ---------------------------------------------------------------------------
// The generated CLI

/// Rewrites the generated CLI's executors so that, unless the client's
/// validation is `enforce`, `--json-body` is sent as written through `body_json`
/// (see the module docs). Panics unless it changed one executor per
/// operation with a JSON body and one flag per scalar top-level property
/// of those bodies.
pub fn cli(file: &mut syn::File, spec: &Value) {
    let fields = scalar_fields(spec);
    let mut pass = CliPass {
        fields: &fields,
        executors: 0,
        flags: 0,
    };
    walk::file(&mut pass, file);
    // Per operation: two operations may share a body schema.
    let expected_flags: usize = bodies(spec).iter().map(|body| fields[body].len()).sum();
    let expected = expected(spec);
    assert!(
        pass.executors == expected && pass.flags == expected_flags,
        "build/raw_body.rs: {} CLI executors and {} body-field flags rewritten, where the spec \
         has {expected} operations with a JSON body and {expected_flags} scalar top-level body \
         fields; progenitor's CLI changed shape",
        pass.executors,
        pass.flags
    );
}

struct CliPass<'a> {
    /// Body schema name -> its scalar top-level fields, in JSON spelling.
    fields: &'a BTreeMap<String, Vec<String>>,
    executors: usize,
    flags: usize,
}

impl Pass for CliPass<'_> {
    fn impl_item_fn(&mut self, f: &mut ImplItemFn) -> bool {
        let name = f.sig.ident.to_string();
        if !name.starts_with("execute_") || f.sig.asyncness.is_none() {
            return true;
        }
        let stmts = &mut f.block.stmts;
        let Some(at) = stmts.iter().position(reads_json_body) else {
            return true;
        };
        let Stmt::Expr(Expr::If(read), _) = &mut stmts[at] else {
            unreachable!("matched above")
        };
        let body_type = typed_body(&read.then_branch)
            .unwrap_or_else(|| panic!("build/raw_body.rs: {name} parses no typed body"));
        let fields = self
            .fields
            .get(&body_type)
            .unwrap_or_else(|| panic!("build/raw_body.rs: {body_type} is not a request body"));
        read_raw(&mut read.then_branch);
        let mut flags = 0;
        for stmt in stmts.iter_mut() {
            if let Stmt::Expr(Expr::If(flag), _) = stmt {
                flags += flag_to_raw(flag, fields, &name);
            }
        }
        assert_eq!(
            flags,
            fields.len(),
            "build/raw_body.rs: {name} sets {flags} body fields from flags; {body_type} has {} \
             scalar fields",
            fields.len()
        );
        self.flags += flags;
        let hook = stmts
            .iter()
            .position(|s| {
                quote::quote!(#s)
                    .to_string()
                    .starts_with("self . config . execute_")
            })
            .unwrap_or_else(|| panic!("build/raw_body.rs: {name} calls no `self.config` hook"));
        stmts.insert(
            hook,
            parse_quote! {
                if let ::std::option::Option::Some(raw) = raw_body {
                    request = request.body_json(raw);
                }
            },
        );
        stmts.insert(
            at,
            parse_quote!(let mut raw_body: ::std::option::Option<::serde_json::Value> = ::std::option::Option::None;),
        );
        self.executors += 1;
        true
    }
}

/// `if let Some(value) = matches.get_one::<PathBuf>("json-body") { .. }`.
fn reads_json_body(stmt: &Stmt) -> bool {
    match stmt {
        Stmt::Expr(Expr::If(i), _) => {
            let cond = &i.cond;
            quote::quote!(#cond).to_string().contains("\"json-body\"")
        }
        _ => false,
    }
}

/// `X` of `serde_json::from_str::<types::X>(&body_txt)` in the block.
fn typed_body(block: &Block) -> Option<String> {
    struct Find(Option<String>);
    impl Pass for Find {
        fn expr(&mut self, expr: &mut Expr) -> bool {
            if let Expr::Call(call) = expr
                && walk::calls(call, &["serde_json", "from_str"])
                && let Expr::Path(path) = &*call.func
                && let Some(last) = path.path.segments.last()
                && let PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(GenericArgument::Type(Type::Path(ty))) = args.args.first()
            {
                self.0 = ty.path.segments.last().map(|s| s.ident.to_string());
            }
            false
        }
    }
    let mut find = Find(None);
    let mut block = Expr::Block(syn::ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: block.clone(),
    });
    walk::expr_children(&mut find, &mut block);
    find.0
}

/// `{ let body_txt = ..; <typed> }` becomes `{ let body_txt = ..; if raw {
/// raw_body = Some(parsed as Value) } else { <typed> } }`.
fn read_raw(block: &mut Block) {
    let first = block.stmts.first().cloned();
    let reads_text = matches!(&first, Some(Stmt::Local(l))
        if matches!(&l.pat, Pat::Ident(i) if i.ident == "body_txt"));
    assert!(
        reads_text,
        "build/raw_body.rs: a `--json-body` block starts with `let body_txt = ..`"
    );
    let typed: Vec<Stmt> = block.stmts.drain(1..).collect();
    block.stmts.push(parse_quote! {
        if crate::cli::raw::sends_raw(&self.client) {
            raw_body = ::std::option::Option::Some(
                ::serde_json::from_str::<::serde_json::Value>(&body_txt)
                    .with_context(|| format!("failed to parse {}", value.display()))?,
            );
        } else {
            #(#typed)*
        }
    });
}

/// `if let Some(value) = matches.get_one::<T>("flag") { request = request.body_map(|body| { body.field(value.clone()) }); }`:
/// the assignment becomes a `match` on `raw_body` that sets the field in the
/// JSON instead when there is one. Returns 1 if it was such a flag.
fn flag_to_raw(flag: &mut ExprIf, fields: &[String], executor: &str) -> usize {
    let [Stmt::Expr(Expr::Assign(assign), _)] = &flag.then_branch.stmts[..] else {
        return 0;
    };
    let Expr::MethodCall(call) = &*assign.right else {
        return 0;
    };
    if call.method != "body_map" {
        return 0;
    }
    let Some(Expr::Closure(closure)) = call.args.first() else {
        return 0;
    };
    let setter = setter_name(&closure.body).unwrap_or_else(|| {
        panic!("build/raw_body.rs: {executor}: a `body_map` that calls no field setter")
    });
    let normal = |s: &str| s.replace('_', "").to_ascii_lowercase();
    let matching: Vec<&String> = fields
        .iter()
        .filter(|f| normal(f) == normal(&setter))
        .collect();
    let [field] = matching[..] else {
        panic!(
            "build/raw_body.rs: {executor}: `{setter}` matches {} body fields of {fields:?}, \
             not one",
            matching.len()
        );
    };
    let assignment = Expr::Assign(assign.clone());
    flag.then_branch.stmts = vec![parse_quote! {
        match raw_body.as_mut() {
            ::std::option::Option::Some(raw) => crate::cli::raw::set_field(raw, #field, value)?,
            ::std::option::Option::None => #assignment,
        }
    }];
    1
}

/// `field` of `{ body.field(value.clone()) }`.
fn setter_name(body: &Expr) -> Option<String> {
    let call = match body {
        Expr::Block(b) => match b.block.stmts.as_slice() {
            [Stmt::Expr(Expr::MethodCall(call), None)] => call,
            _ => return None,
        },
        Expr::MethodCall(call) => call,
        _ => return None,
    };
    Some(call.method.to_string())
}
