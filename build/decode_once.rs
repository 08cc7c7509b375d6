//! Points progenitor's response decoding at `crate::decode::response_value`,
//! so each response body is decoded once, and a body that does not fit its
//! type is reported with the operation, JSON path, status and request id
//! instead of progenitor's bare `InvalidResponsePayload`. Without this the
//! runtime had to decode every body twice (once to check it, once in
//! progenitor). Done on the generated syntax tree, like `open_enums`:
//! progenitor has no setting for it.
//!
//! The same pass sends every error answer through
//! `crate::decode::error_response`: the arms of documented error statuses
//! (`Error::ErrorResponse(ResponseValue::from_response(response).await?)`)
//! and the catch-all `_ => Err(Error::UnexpectedResponse(response))`, which
//! dropped Amazon's `errors[]` for any status the spec does not list (a 422,
//! a 502 from a gateway). Amazon's error list is read whatever the status;
//! a body that is not one stays an API error with its first bytes, never an
//! undecodable response. The pass panics (fails the build) when a `send`
//! has no catch-all arm to rewrite.

use crate::walk::{self, Pass};
use syn::{Expr, ExprCall, ImplItemFn, parse_quote};

/// What the pass must rewrite, counted from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Operations (one generated `send` each).
    pub operations: usize,
    /// Documented success responses with a JSON body (one
    /// `ResponseValue::from_response` each).
    pub json_successes: usize,
    /// Documented error statuses, in all operations (one `ErrorResponse` arm
    /// each); every operation also has its catch-all arm.
    pub error_statuses: usize,
}

/// Rewrites every `ResponseValue::from_response(response)` in the builders'
/// `send` methods, and every error arm. Panics (fails the build) unless it
/// rewrote exactly what `expected` counts.
pub fn apply(file: &mut syn::File, expected: Expected) {
    let mut rewriter = Rewriter::default();
    walk::file(&mut rewriter, file);
    let found = Expected {
        operations: rewriter.sends,
        json_successes: rewriter.changed,
        error_statuses: rewriter.error_arms.saturating_sub(rewriter.sends),
    };
    assert_eq!(
        found, expected,
        "build/decode_once.rs rewrote {found:?} where the spec documents {expected:?} \
         (each operation also has one catch-all arm); progenitor's output changed shape"
    );
}

#[derive(Default)]
struct Rewriter {
    /// The `OperationInfo::operation_id` of the `send` being visited.
    operation: Option<String>,
    changed: usize,
    /// `send` methods visited.
    sends: usize,
    /// Error arms rewritten, in all.
    error_arms: usize,
    /// Catch-all arms rewritten in the `send` being visited.
    catch_alls: usize,
}

impl Pass for Rewriter {
    fn impl_item_fn(&mut self, f: &mut ImplItemFn) -> bool {
        if f.sig.ident != "send" {
            return false;
        }
        let Some(id) = walk::operation_id(f) else {
            panic!("a generated `send` without OperationInfo; progenitor's output changed shape");
        };
        self.operation = Some(id);
        self.catch_alls = 0;
        walk::impl_item_fn_children(self, f);
        assert_eq!(
            self.catch_alls,
            1,
            "{}: no `_ => Err(Error::UnexpectedResponse(response))` arm; progenitor's output changed shape",
            self.operation.as_deref().unwrap_or_default()
        );
        self.sends += 1;
        self.operation = None;
        true
    }

    fn expr(&mut self, expr: &mut Expr) -> bool {
        if let (Some(_), Expr::Call(call)) = (&self.operation, &*expr)
            && let Some((response, catch_all)) = error_arm(call)
        {
            *expr = parse_quote!(crate::decode::error_response(#response).await);
            self.error_arms += 1;
            self.catch_alls += usize::from(catch_all);
            return true;
        }
        walk::expr_children(self, expr);
        let Some(operation) = &self.operation else {
            return true;
        };
        if let Expr::Call(call) = expr
            && is_from_response(call)
        {
            let args = &call.args;
            *expr = parse_quote!(crate::decode::response_value(#args, #operation));
            self.changed += 1;
        }
        true
    }
}

fn is_from_response(call: &ExprCall) -> bool {
    walk::calls(call, &["ResponseValue", "from_response"])
}

/// For `Error::UnexpectedResponse(response)` (the catch-all arm, `true`) and
/// `Error::ErrorResponse(ResponseValue::from_response(response).await?)`
/// (a documented error status, `false`): the response expression.
fn error_arm(call: &ExprCall) -> Option<(Expr, bool)> {
    let arg = call.args.first().filter(|_| call.args.len() == 1)?;
    if walk::calls(call, &["Error", "UnexpectedResponse"]) {
        return Some((arg.clone(), true));
    }
    if !walk::calls(call, &["Error", "ErrorResponse"]) {
        return None;
    }
    let Expr::Try(attempt) = arg else { return None };
    let Expr::Await(awaited) = &*attempt.expr else {
        return None;
    };
    match &*awaited.base {
        Expr::Call(inner) if is_from_response(inner) && inner.args.len() == 1 => {
            Some((inner.args[0].clone(), false))
        }
        _ => None,
    }
}
