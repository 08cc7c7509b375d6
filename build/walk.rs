//! One `syn::visit_mut::VisitMut` implementation shared by the syntax-tree
//! passes. Every type that implements `VisitMut` compiles syn's whole
//! traversal (about 360 functions) into the build script again, and a
//! dependent's build waits for the build script to compile (issue 12): a
//! pass implements [`Pass`] for the few nodes it rewrites instead, and
//! [`Walk`] is the one `VisitMut`, calling the pass through `dyn`.

use syn::visit_mut::{self, VisitMut};
use syn::{
    Expr, ExprCall, ExprMatch, ExprStruct, ImplItemFn, ItemImpl, ItemTrait, Lit, Macro, Member,
    WherePredicate,
};

/// What a pass does at the nodes it cares about. Each method returns whether
/// it handled the node: `false` (the default) walks on into the node's
/// children; `true` does not (a pass that wants them walks them itself, with
/// the `*_children` functions below).
pub trait Pass {
    fn expr(&mut self, _: &mut Expr) -> bool {
        false
    }
    fn expr_match(&mut self, _: &mut ExprMatch) -> bool {
        false
    }
    fn expr_struct(&mut self, _: &mut ExprStruct) -> bool {
        false
    }
    fn impl_item_fn(&mut self, _: &mut ImplItemFn) -> bool {
        false
    }
    fn where_predicate(&mut self, _: &mut WherePredicate) -> bool {
        false
    }
    /// A macro call, in expression or statement position.
    fn mac(&mut self, _: &mut Macro) -> bool {
        false
    }
}

/// Walks a syntax tree calling a [`Pass`].
pub struct Walk<'a>(pub &'a mut dyn Pass);

impl VisitMut for Walk<'_> {
    fn visit_expr_mut(&mut self, node: &mut Expr) {
        if !self.0.expr(node) {
            visit_mut::visit_expr_mut(self, node);
        }
    }
    fn visit_expr_match_mut(&mut self, node: &mut ExprMatch) {
        if !self.0.expr_match(node) {
            visit_mut::visit_expr_match_mut(self, node);
        }
    }
    fn visit_expr_struct_mut(&mut self, node: &mut ExprStruct) {
        if !self.0.expr_struct(node) {
            visit_mut::visit_expr_struct_mut(self, node);
        }
    }
    fn visit_impl_item_fn_mut(&mut self, node: &mut ImplItemFn) {
        if !self.0.impl_item_fn(node) {
            visit_mut::visit_impl_item_fn_mut(self, node);
        }
    }
    fn visit_where_predicate_mut(&mut self, node: &mut WherePredicate) {
        if !self.0.where_predicate(node) {
            visit_mut::visit_where_predicate_mut(self, node);
        }
    }
    fn visit_macro_mut(&mut self, node: &mut Macro) {
        if !self.0.mac(node) {
            visit_mut::visit_macro_mut(self, node);
        }
    }
}

/// Runs `pass` over a whole file.
pub fn file(pass: &mut dyn Pass, node: &mut syn::File) {
    Walk(pass).visit_file_mut(node);
}

/// Runs `pass` over an impl block.
pub fn item_impl(pass: &mut dyn Pass, node: &mut ItemImpl) {
    Walk(pass).visit_item_impl_mut(node);
}

/// Runs `pass` over a trait.
pub fn item_trait(pass: &mut dyn Pass, node: &mut ItemTrait) {
    Walk(pass).visit_item_trait_mut(node);
}

/// Runs `pass` over the children of an expression (not the expression).
pub fn expr_children(pass: &mut dyn Pass, node: &mut Expr) {
    visit_mut::visit_expr_mut(&mut Walk(pass), node);
}

/// Runs `pass` over the children of a method (not the method).
pub fn impl_item_fn_children(pass: &mut dyn Pass, node: &mut ImplItemFn) {
    visit_mut::visit_impl_item_fn_mut(&mut Walk(pass), node);
}

/// The id a generated `send` passes to the hooks: its
/// `OperationInfo { operation_id: "..." }`.
pub fn operation_id(f: &mut ImplItemFn) -> Option<String> {
    struct Find(Option<String>);
    impl Pass for Find {
        fn expr_struct(&mut self, s: &mut ExprStruct) -> bool {
            if let Some(id) = operation_id_of(s) {
                self.0 = Some(id);
            }
            false
        }
    }
    let mut find = Find(None);
    impl_item_fn_children(&mut find, f);
    find.0
}

/// The id in `OperationInfo { operation_id: "..." }`, if `s` is one.
pub fn operation_id_of(s: &ExprStruct) -> Option<String> {
    let is_info = s
        .path
        .segments
        .last()
        .is_some_and(|seg| seg.ident == "OperationInfo");
    s.fields.iter().filter(|_| is_info).find_map(|field| {
        if let Member::Named(name) = &field.member
            && name == "operation_id"
            && let Expr::Lit(lit) = &field.expr
            && let Lit::Str(text) = &lit.lit
        {
            Some(text.value())
        } else {
            None
        }
    })
}

/// Whether `call` calls a function whose path ends with `names`.
pub fn calls(call: &ExprCall, names: &[&str]) -> bool {
    let Expr::Path(path) = &*call.func else {
        return false;
    };
    let segments = &path.path.segments;
    segments.len() >= names.len()
        && segments
            .iter()
            .skip(segments.len() - names.len())
            .zip(names)
            .all(|(segment, name)| segment.ident == name)
}
