//! One call's own state, from an operation builder's `send` to the
//! [`crate::Error`] it may return.
//!
//! progenitor's hooks (`pre`, `exec`, `post`) and its response decoding
//! only see the request, the response and an `OperationInfo`; what they
//! learn about the call (attempts made, the idempotency key every attempt
//! carried, a typed failure such as a refused token) has no typed way back
//! through progenitor's `Error`. So the generated `send` (build/send.rs)
//! runs progenitor's `send_raw` inside a tokio task-local scope holding a
//! [`CallState`]; the runtime fills it in as the call goes, and `send`
//! reads it when it converts the outcome. Nothing travels as text, in
//! headers or in URLs. A `send_raw` called directly runs without a scope:
//! the runtime then works the same, and its failures reach progenitor's
//! `Error::Custom` as their message only.

use std::cell::RefCell;
use std::future::Future;

use progenitor_client::{Error as ProgenitorError, ResponseValue};

use crate::error::HookFailure;
use crate::types;

tokio::task_local! {
    static CALL: RefCell<CallState>;
}

/// What the runtime learnt about the call in progress.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    /// The spec's operationId.
    pub(crate) operation: &'static str,
    /// Requests sent so far (0 when the call failed before sending).
    pub(crate) attempts: u32,
    /// The `x-amzn-IdempotencyKey` every attempt carries, if any.
    pub(crate) idempotency_key: Option<String>,
    /// A failure found by the runtime rather than by progenitor.
    pub(crate) failure: Option<HookFailure>,
}

/// Runs `raw` (a builder's progenitor `send_raw`) for the operation
/// progenitor knows as `operation_id` in a fresh call scope, and converts
/// its outcome into the crate's [`crate::Error`] with the call's context.
pub(crate) async fn send<T>(
    operation_id: &'static str,
    raw: impl Future<Output = Result<ResponseValue<T>, ProgenitorError<types::ErrorList>>>,
) -> Result<ResponseValue<T>, crate::Error> {
    let operation = crate::operations::find(operation_id).map_or_else(
        || {
            // build.rs derives the table from the generated code itself.
            debug_assert!(false, "{operation_id} is not in the operations table");
            operation_id
        },
        |op| op.id,
    );
    let state = CallState {
        operation,
        ..CallState::default()
    };
    let (result, state) = CALL
        .scope(RefCell::new(state), async {
            let result = raw.await;
            (
                result,
                CALL.with(|call| std::mem::take(&mut *call.borrow_mut())),
            )
        })
        .await;
    result.map_err(|e| crate::Error::from_call(e, state))
}

/// Updates the call in progress, if any (none for `send_raw`).
pub(crate) fn update(f: impl FnOnce(&mut CallState)) {
    // Outside a scope (the raw layer) there is nothing to update.
    let _ = CALL.try_with(|call| f(&mut call.borrow_mut()));
}

/// Records `failure` on the call in progress and returns progenitor's
/// error for it, which `send` replaces with the typed failure (the raw
/// layer gets its message).
pub(crate) fn fail<E>(failure: HookFailure) -> ProgenitorError<E> {
    let message = failure.to_string();
    update(|call| call.failure = Some(failure));
    ProgenitorError::Custom(message)
}
