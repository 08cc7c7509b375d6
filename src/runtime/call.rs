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
    /// A failure found by the runtime rather than by progenitor (boxed:
    /// the scope moves this state in and out on every poll, issue 12).
    pub(crate) failure: Option<Box<HookFailure>>,
    /// The decoded success's body, kept for [`crate::Response`].
    pub(crate) body: Option<bytes::Bytes>,
    /// The required fields the decoder corrected (almost always none: an
    /// empty `Vec` allocates nothing).
    pub(crate) corrections: Vec<crate::Correction>,
}

/// Runs the future `raw` makes (a builder's progenitor `send_raw`) for the
/// operation progenitor knows as `operation_id` in a fresh call scope, and
/// converts its outcome into the crate's [`crate::Error`] with the call's
/// context.
///
/// `raw` is a closure so that the request's future is made inside the
/// scope and stored once: a future passed in would be kept twice, as the
/// argument and as the scope's (issue 12: that made `send` three times the
/// size of `send_raw`, and moving it was the largest cost of a call).
pub(crate) async fn send<T, F>(
    operation_id: &'static str,
    client: &crate::runtime::hooks::Inner,
    raw: impl FnOnce() -> F,
) -> Result<crate::Response<T>, crate::Error>
where
    F: Future<Output = Result<ResponseValue<T>, ProgenitorError<types::ErrorList>>>,
{
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
    CALL.scope(RefCell::new(state), async move {
        let outcome = raw().await;
        let state = CALL.with(|call| std::mem::take(&mut *call.borrow_mut()));
        match outcome {
            Ok(value) => {
                let corrections = state.corrections;
                if !corrections.is_empty() {
                    log_corrections(client, operation, &corrections);
                }
                Ok(crate::Response::new(
                    value,
                    state.body.unwrap_or_default(),
                    corrections,
                ))
            }
            Err(e) => Err(crate::Error::from_call(e, state)),
        }
    })
    .await
}

/// One WARN per corrected field (its path without list positions) and
/// operation, the first time this client meets it.
fn log_corrections(
    client: &crate::runtime::hooks::Inner,
    operation: &'static str,
    corrections: &[crate::Correction],
) {
    let mut logged = client
        .runtime()
        .corrections_logged
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fields: Vec<String> = corrections.iter().map(crate::Correction::field).collect();
    for (correction, field) in corrections.iter().zip(&fields) {
        if logged.contains(&(operation, field.clone())) {
            continue;
        }
        let times = fields.iter().filter(|f| *f == field).count();
        tracing::warn!(
            operation,
            field = field.as_str(),
            first = %correction,
            times,
            "Amazon's answer left out a field its model requires; decoded with the \
             correction (Response::corrections lists every path; logged once per client)"
        );
        logged.insert((operation, field.clone()));
    }
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
    update(|call| call.failure = Some(Box::new(failure)));
    ProgenitorError::Custom(message)
}
