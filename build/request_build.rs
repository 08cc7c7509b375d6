//! Makes progenitor's request building cheaper, per call (issue 12):
//!
//! - the query: progenitor chains one `RequestBuilder::query(&QueryParam)`
//!   per parameter, and each re-serializes the already parsed URL. The
//!   pass writes the parameters, in order, through one
//!   `url.query_pairs_mut()` before `client.client.get(url)`
//!   (`crate::runtime::query`), with the same encoding, so the request is
//!   the same;
//! - the URL: progenitor `format!`s `"{baseurl}/shipping/v2/..."` and
//!   reqwest parses the string on every call (scheme, host, port, path:
//!   about 6,800 instructions, as much as the rest of the request
//!   building). The pass asks `crate::runtime::url` instead, which keeps
//!   each operation's URL parsed once per client (a clone per call) when
//!   its path has no parameter, and otherwise joins the formatted path to
//!   the base URL parsed once;
//! - the `api-version` header: progenitor sends the spec's `info.version`
//!   on every request. SP-API does not read it (its version is the path,
//!   `/shipping/v2`; Amazon's models document no such header), so the pass
//!   drops it, and the header map starts empty instead of preallocated.
//!
//! progenitor has no setting for either, hence a syntax-tree pass like
//! build/decode_once.rs. It panics (fails the build) unless it moved
//! exactly the spec's query parameters and dropped one header per operation.

use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Block, Expr, ExprMethodCall, ImplItemFn, Lit, Pat, Stmt, Token, parse_quote};

/// What the pass must change, counted from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Operations: one `api-version` header each.
    pub operations: usize,
    /// Query parameters, in all operations: one `.query(..)` each.
    pub query_parameters: usize,
}

/// Rewrites every builder `send_raw` (progenitor's `send`); panics unless it changed what `expected`
/// counts.
pub fn apply(file: &mut syn::File, expected: Expected) {
    let mut pass = Pass::default();
    pass.visit_file_mut(file);
    assert_eq!(
        pass.found, expected,
        "build/request_build.rs changed {:?} where the spec counts {expected:?}; progenitor's \
         output changed shape",
        pass.found
    );
}

struct Pass {
    found: Expected,
}

impl Default for Pass {
    fn default() -> Self {
        Self {
            found: Expected {
                operations: 0,
                query_parameters: 0,
            },
        }
    }
}

impl VisitMut for Pass {
    fn visit_impl_item_fn_mut(&mut self, f: &mut ImplItemFn) {
        // progenitor's `send`, renamed by build/send.rs.
        if f.sig.ident != "send_raw" {
            return visit_mut::visit_impl_item_fn_mut(self, f);
        }
        let before = f.block.stmts.len();
        f.block.stmts.retain(|s| !is_api_version(s));
        // One per operation; the count check catches a `send` without one.
        self.found.operations += before - f.block.stmts.len();
        let mut query = QueryCalls::default();
        query.visit_block_mut(&mut f.block);
        self.found.query_parameters += query.params.len();
        let name = crate::walk::operation_id(f).expect(
            "a `send` passes `OperationInfo { operation_id }`; progenitor's output changed shape",
        );
        rewrite_url(&mut f.block, &name, !query.params.is_empty());
        if !query.params.is_empty() {
            move_query_onto_url(&mut f.block, &query.params);
        }
    }
}

/// `let url = format!("{}/path/{}", client.baseurl, encode_path(..));`
/// becomes `let mut url = crate::runtime::url::fixed(..)?` (no path
/// parameter) or `crate::runtime::url::join(client, &format!("/path/{}", ..))?`.
fn rewrite_url(block: &mut Block, name: &str, mutable: bool) {
    let stmt = block
        .stmts
        .iter_mut()
        .find(
            |s| matches!(s, Stmt::Local(l) if matches!(&l.pat, Pat::Ident(i) if i.ident == "url")),
        )
        .expect("a `send` builds `let url = format!(..)`; progenitor's output changed shape");
    let Stmt::Local(local) = stmt else {
        unreachable!("matched a `let` above")
    };
    let Some(Expr::Macro(mac)) = local.init.as_ref().map(|init| &*init.expr) else {
        panic!("`let url` is not `format!(..)`; progenitor's output changed shape");
    };
    let args = mac
        .mac
        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .expect("format! arguments");
    let mut args = args.into_iter();
    let (Some(Expr::Lit(template)), Some(base)) = (args.next(), args.next()) else {
        panic!("`format!` without a template and base URL; progenitor's output changed shape");
    };
    let Lit::Str(template) = template.lit else {
        panic!("`format!` template is not a string; progenitor's output changed shape");
    };
    let path = template
        .value()
        .strip_prefix("{}")
        .expect("the URL template starts with the base URL")
        .to_owned();
    assert!(
        quote::quote!(#base).to_string() == "client . baseurl",
        "the URL's first argument is not `client.baseurl`; progenitor's output changed shape"
    );
    let rest: Vec<Expr> = args.collect();
    let url: Expr = if rest.is_empty() {
        parse_quote!(crate::runtime::url::fixed(client, #name, #path))
    } else {
        parse_quote!(crate::runtime::url::join(
            client,
            &format!(#path, #(#rest),*)
        ))
    };
    let binding = if mutable {
        quote::quote!(mut url)
    } else {
        quote::quote!(url)
    };
    *stmt = parse_quote!(let #binding = #url.map_err(Error::InvalidRequest)?;);
}

/// `header_map.append(HeaderName::from_static("api-version"), ..);`
fn is_api_version(stmt: &Stmt) -> bool {
    let Stmt::Expr(Expr::MethodCall(call), _) = stmt else {
        return false;
    };
    call.method == "append"
        && matches!(call.args.first(), Some(Expr::Call(name)) if
            matches!(name.args.first(), Some(Expr::Lit(l)) if
                matches!(&l.lit, Lit::Str(s) if s.value() == "api-version")))
}

/// Takes the `.query(&QueryParam::new(..))` calls out of the builder
/// chain (in order), and starts the header map empty.
#[derive(Default)]
struct QueryCalls {
    params: Vec<Expr>,
}

impl VisitMut for QueryCalls {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        visit_mut::visit_expr_mut(self, expr);
        if let Expr::Call(call) = expr
            && crate::walk::calls(call, &["HeaderMap", "with_capacity"])
        {
            *expr = parse_quote!(::reqwest::header::HeaderMap::new());
            return;
        }
        let Expr::MethodCall(ExprMethodCall {
            receiver,
            method,
            args,
            ..
        }) = expr
        else {
            return;
        };
        let is_param = |arg: &Expr| {
            matches!(arg, Expr::Reference(r) if
                matches!(&*r.expr, Expr::Call(c) if crate::walk::calls(c, &["QueryParam", "new"])))
        };
        if method == "query" && args.len() == 1 && is_param(&args[0]) {
            self.params.push(args[0].clone());
            *expr = (**receiver).clone();
        }
    }
}

/// After `let url = format!(..);`: the parameters appended to `url`.
fn move_query_onto_url(block: &mut Block, params: &[Expr]) {
    let at = block
        .stmts
        .iter()
        .position(|s| matches!(s, Stmt::Local(l) if matches!(&l.pat, Pat::Ident(i) if i.ident == "url")))
        .expect("a `send` with query parameters builds `let url = format!(..)`; progenitor's output changed shape");
    let code: Block = parse_quote!({
        {
            let mut pairs = url.query_pairs_mut();
            #(crate::runtime::query::push(&mut pairs, #params).map_err(Error::InvalidRequest)?;)*
        }
        crate::runtime::query::finish(&mut url);
    });
    for (i, stmt) in code.stmts.into_iter().enumerate() {
        block.stmts.insert(at + 1 + i, stmt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send() -> syn::File {
        parse_quote! {
            impl<'a> GetTracking<'a> {
                pub async fn send_raw(self) -> Result<ResponseValue<()>, Error<types::ErrorList>> {
                    let url = format!("{}/shipping/v2/tracking", client.baseurl,);
                    let info = OperationInfo { operation_id: "get_tracking" };
                    let mut header_map = ::reqwest::header::HeaderMap::with_capacity(2usize);
                    header_map.append(
                        ::reqwest::header::HeaderName::from_static("api-version"),
                        ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
                    );
                    let mut request = client
                        .client
                        .get(url)
                        .query(&progenitor_client::QueryParam::new("carrierId", &carrier_id))
                        .query(&progenitor_client::QueryParam::new("trackingId", &tracking_id))
                        .headers(header_map)
                        .build()?;
                    todo!()
                }
            }
        }
    }

    #[test]
    fn the_query_moves_onto_the_url_and_api_version_goes() {
        let mut file = send();
        apply(
            &mut file,
            Expected {
                operations: 1,
                query_parameters: 2,
            },
        );
        let code = quote::quote!(#file).to_string();
        assert!(!code.contains("api-version"), "{code}");
        assert!(!code.contains(". query ("), "{code}");
        assert!(code.contains("HeaderMap :: new ()"), "{code}");
        assert!(
            code.contains(
                "let mut url = crate :: runtime :: url :: fixed (client , \"get_tracking\" , \"/shipping/v2/tracking\")"
            ),
            "{code}"
        );
        let carrier = code
            .find("push (& mut pairs , & progenitor_client :: QueryParam :: new (\"carrierId\"");
        let tracking = code
            .find("push (& mut pairs , & progenitor_client :: QueryParam :: new (\"trackingId\"");
        let get = code.find(". get (url)");
        assert!(
            carrier.is_some() && carrier < tracking && tracking < get,
            "{code}"
        );
    }

    #[test]
    fn a_path_with_parameters_is_joined_to_the_base_url() {
        let mut file: syn::File = parse_quote! {
            impl<'a> CancelShipment<'a> {
                pub async fn send_raw(self) -> Result<ResponseValue<()>, Error<types::ErrorList>> {
                    let url = format!(
                        "{}/shipping/v2/shipments/{}/cancel",
                        client.baseurl,
                        encode_path(&shipment_id.to_string()),
                    );
                    let info = OperationInfo { operation_id: "cancel_shipment" };
                    let mut header_map = ::reqwest::header::HeaderMap::with_capacity(1usize);
                    header_map.append(
                        ::reqwest::header::HeaderName::from_static("api-version"),
                        ::reqwest::header::HeaderValue::from_static(super::Client::api_version()),
                    );
                    todo!()
                }
            }
        };
        apply(
            &mut file,
            Expected {
                operations: 1,
                query_parameters: 0,
            },
        );
        let code = quote::quote!(#file).to_string();
        assert!(
            code.contains(
                "let url = crate :: runtime :: url :: join (client , & format ! (\"/shipping/v2/shipments/{}/cancel\" , encode_path (& shipment_id . to_string ())))"
            ),
            "{code}"
        );
    }

    #[test]
    #[should_panic(expected = "progenitor's output changed shape")]
    fn a_missing_query_parameter_fails_the_build() {
        apply(
            &mut send(),
            Expected {
                operations: 1,
                query_parameters: 3,
            },
        );
    }
}
