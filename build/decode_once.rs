//! Points progenitor's response decoding at `crate::decode::response_value`,
//! so each response body is decoded once, and a body that does not fit its
//! type is reported with the operation, JSON path, status and request id
//! instead of progenitor's bare `InvalidResponsePayload`. Without this the
//! runtime had to decode every body twice (once to check it, once in
//! progenitor). Done on the generated syntax tree, like `open_enums`:
//! progenitor has no setting for it.

use syn::visit_mut::{self, VisitMut};
use syn::{Expr, ExprCall, ExprStruct, ImplItemFn, Lit, Member, parse_quote};

/// Rewrites every `ResponseValue::from_response(response)` in the builders'
/// `send` methods; returns how many calls changed.
pub fn apply(file: &mut syn::File) -> usize {
    let mut rewriter = Rewriter::default();
    rewriter.visit_file_mut(file);
    rewriter.changed
}

#[derive(Default)]
struct Rewriter {
    /// The `OperationInfo::operation_id` of the `send` being visited.
    operation: Option<String>,
    changed: usize,
}

impl VisitMut for Rewriter {
    fn visit_impl_item_fn_mut(&mut self, f: &mut ImplItemFn) {
        if f.sig.ident != "send" {
            return visit_mut::visit_impl_item_fn_mut(self, f);
        }
        let mut finder = OperationId(None);
        finder.visit_impl_item_fn_mut(f);
        let Some(id) = finder.0 else {
            panic!("a generated `send` without OperationInfo; progenitor's output changed shape");
        };
        self.operation = Some(id);
        visit_mut::visit_impl_item_fn_mut(self, f);
        self.operation = None;
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        visit_mut::visit_expr_mut(self, expr);
        let Some(operation) = &self.operation else {
            return;
        };
        if let Expr::Call(call) = expr
            && is_from_response(call)
        {
            let args = &call.args;
            *expr = parse_quote!(crate::decode::response_value(#args, #operation));
            self.changed += 1;
        }
    }
}

fn is_from_response(call: &ExprCall) -> bool {
    let Expr::Path(path) = &*call.func else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.ends_with(&["ResponseValue".to_owned(), "from_response".to_owned()])
}

/// Finds `OperationInfo { operation_id: "..." }`.
struct OperationId(Option<String>);

impl VisitMut for OperationId {
    fn visit_expr_struct_mut(&mut self, s: &mut ExprStruct) {
        let is_info = s
            .path
            .segments
            .last()
            .is_some_and(|seg| seg.ident == "OperationInfo");
        for field in s.fields.iter().filter(|_| is_info) {
            if let Member::Named(name) = &field.member
                && name == "operation_id"
                && let Expr::Lit(lit) = &field.expr
                && let Lit::Str(text) = &lit.lit
            {
                self.0 = Some(text.value());
            }
        }
        visit_mut::visit_expr_struct_mut(self, s);
    }
}
