//! When a failed call may be sent again, and how long to wait first.
//!
//! The rule that keeps money safe: a request that may have reached Amazon is
//! only repeated when repeating it cannot do the thing twice.

use std::time::Duration;

/// How an operation may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationClass {
    /// Reads (including Amazon's reads done with PUT or POST) and writes that
    /// set a state (cancel, link, unlink): safe to repeat.
    Safe,
    /// Purchases Amazon deduplicates by `x-amzn-IdempotencyKey`: safe to
    /// repeat with the same key, which the runtime guarantees.
    Keyed,
    /// Writes that may act twice (one-click purchase, claims, NDR feedback,
    /// the POST link): repeated only when the request provably never reached
    /// Amazon (connection not established) or Amazon throttled it (429).
    Unsafe,
}

/// The class of an operation, by operationId. Unknown ids are `Unsafe`.
pub(crate) fn class_of(operation_id: &str) -> OperationClass {
    match operation_id {
        // Plain reads.
        "getTracking"
        | "getShipmentDocuments"
        | "getAdditionalInputs"
        | "getCarrierAccountFormInputs"
        | "getCollectionForm"
        | "getAccessPoints" => OperationClass::Safe,
        // Reads that Amazon models as POST or PUT: a rate quote, and three
        // list queries with a filter body.
        "getRates"
        | "getCarrierAccounts"
        | "getCollectionFormHistory"
        | "getUnmanifestedShipments" => OperationClass::Safe,
        // Writes that set a state: doing them twice leaves the same state.
        // A repeat Amazon refuses as already done, after an attempt that
        // may have done it, is a success (`already_done`).
        "cancelShipment" | "linkCarrierAccount" | "unlinkCarrierAccount" => OperationClass::Safe,
        // Purchases and forms Amazon deduplicates by idempotency key.
        "directPurchaseShipment" | "purchaseShipment" | "generateCollectionForm" => {
            OperationClass::Keyed
        }
        // oneClickShipment buys a label and has no idempotency key;
        // createClaim, submitNdrFeedback and linkCarrierAccountPost create.
        _ => OperationClass::Unsafe,
    }
}

/// The operations that carry `x-amzn-IdempotencyKey` in Amazon's model.
pub fn takes_idempotency_key(operation_id: &str) -> bool {
    class_of(operation_id) == OperationClass::Keyed
}

/// Bounds and pacing of retries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Cap of one backoff.
    pub max_backoff: Duration,
    /// No retry starts after this much time since the call began.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the attempts in all, the first included (1 disables retries).
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self
        }
    }

    /// Sets the backoff before the first retry (it doubles each time).
    pub fn with_initial_backoff(self, initial_backoff: Duration) -> Self {
        Self {
            initial_backoff,
            ..self
        }
    }

    /// Sets the cap of one backoff.
    pub fn with_max_backoff(self, max_backoff: Duration) -> Self {
        Self {
            max_backoff,
            ..self
        }
    }

    /// Sets the time since the call began after which no retry starts.
    pub fn with_max_elapsed(self, max_elapsed: Duration) -> Self {
        Self {
            max_elapsed,
            ..self
        }
    }

    /// The wait before retry number `retry` (1 for the first retry): "full
    /// jitter", a random duration up to `initial * 2^(retry-1)`, capped, so
    /// that many clients that failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let cap = exp.min(self.max_backoff);
        cap.mul_f64(fastrand::f64())
    }
}

/// What went wrong on one attempt, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection was never established: the request did not leave.
    Connect,
    /// Amazon throttled the request (429): it was not processed.
    Throttled,
    /// A 500, 502, 503 or 504, or a timeout or broken connection after the
    /// request was sent: it may or may not have been processed.
    MaybeProcessed,
}

/// Whether a failure of this kind may be retried for this class.
pub(crate) fn may_retry(class: OperationClass, failure: Failure) -> bool {
    match failure {
        Failure::Connect | Failure::Throttled => true,
        Failure::MaybeProcessed => class != OperationClass::Unsafe,
    }
}

/// The failure a status stands for, when it is one worth retrying.
pub(crate) fn failure_of_status(status: u16) -> Option<Failure> {
    match status {
        429 => Some(Failure::Throttled),
        500 | 502 | 503 | 504 => Some(Failure::MaybeProcessed),
        _ => None,
    }
}

/// The state-setting writes whose repeat Amazon may refuse as "already
/// done" although the state the caller asked for holds.
const ALREADY_DONE: [(&str, &[&str], &str); 2] = [
    (
        "cancelShipment",
        &[
            "already cancelled",
            "already canceled",
            "already been cancelled",
            "already been canceled",
        ],
        r#"{"payload":{}}"#,
    ),
    (
        "unlinkCarrierAccount",
        &["already unlinked", "already been unlinked", "not linked"],
        r#"{"isUnlinked":true}"#,
    ),
];

/// Whether `status` from `operation_id` may be an "already done" refusal
/// worth reading: a 400 (Amazon's usual status for a refused input) or a
/// 409 (the HTTP idiom for a state conflict).
pub(crate) fn may_answer_already_done(operation_id: &str, status: u16) -> bool {
    matches!(status, 400 | 409) && ALREADY_DONE.iter().any(|(op, ..)| *op == operation_id)
}

/// When `body` (an error answer to `operation_id`) says the write was
/// already done, the documented success body to report instead.
///
/// Amazon does not document how a repeated cancelShipment or
/// unlinkCarrierAccount is answered; this assumes an error list whose
/// `message` or `details` says so in words ("already cancelled", "already
/// unlinked"), matched case-insensitively in each entry. Only consulted on
/// a retry after an attempt that may have applied the write (a 5xx, a
/// timeout, a connection broken after sending): on a first attempt the
/// refusal is the truth (the shipment was cancelled before this call).
pub(crate) fn already_done(operation_id: &str, body: &[u8]) -> Option<&'static str> {
    let (_, phrases, success) = ALREADY_DONE.iter().find(|(op, ..)| *op == operation_id)?;
    let list: crate::types::ErrorList = serde_json::from_slice(body).ok()?;
    list.errors
        .iter()
        .any(|e| {
            let text = format!("{} {}", e.message, e.details.as_deref().unwrap_or_default())
                .to_lowercase();
            phrases.iter().any(|p| text.contains(p))
        })
        .then_some(*success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchases_without_a_key_are_never_repeated_once_sent() {
        assert_eq!(class_of("oneClickShipment"), OperationClass::Unsafe);
        assert!(!may_retry(OperationClass::Unsafe, Failure::MaybeProcessed));
        assert!(may_retry(OperationClass::Unsafe, Failure::Connect));
        assert!(may_retry(OperationClass::Unsafe, Failure::Throttled));
    }

    #[test]
    fn every_operation_has_a_deliberate_class() {
        let keyed: Vec<_> = crate::operations::OPERATIONS
            .iter()
            .filter(|op| takes_idempotency_key(op.id))
            .map(|op| op.id)
            .collect();
        assert_eq!(
            keyed,
            [
                "directPurchaseShipment",
                "purchaseShipment",
                "generateCollectionForm"
            ]
        );
        let unsafe_ops: Vec<_> = crate::operations::OPERATIONS
            .iter()
            .filter(|op| class_of(op.id) == OperationClass::Unsafe)
            .map(|op| op.id)
            .collect();
        assert_eq!(
            unsafe_ops,
            [
                "oneClickShipment",
                "linkCarrierAccountPost",
                "submitNdrFeedback",
                "createClaim"
            ]
        );
        for id in [
            "getCarrierAccounts",
            "getCollectionFormHistory",
            "getUnmanifestedShipments",
        ] {
            assert_eq!(
                class_of(id),
                OperationClass::Safe,
                "{id} is a read done with PUT"
            );
        }
    }

    #[test]
    fn the_keyed_operations_are_the_ones_whose_spec_declares_the_key() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../spec/shipping-v2.json")).unwrap();
        for op in crate::operations::OPERATIONS {
            let params = &spec["paths"][op.path][op.method.to_lowercase()]["parameters"];
            let declares = params
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "x-amzn-IdempotencyKey");
            assert_eq!(declares, takes_idempotency_key(op.id), "{}", op.id);
        }
    }

    #[test]
    fn already_done_is_read_from_the_error_list_of_the_two_state_writes() {
        let cancelled = br#"{"errors":[{"code":"InvalidInput","message":"Invalid input.","details":"Shipment is Already Cancelled."}]}"#;
        assert_eq!(
            already_done("cancelShipment", cancelled),
            Some(r#"{"payload":{}}"#)
        );
        let unlinked =
            br#"{"errors":[{"code":"InvalidInput","message":"Carrier account already unlinked"}]}"#;
        assert_eq!(
            already_done("unlinkCarrierAccount", unlinked),
            Some(r#"{"isUnlinked":true}"#)
        );
        let other = br#"{"errors":[{"code":"InvalidInput","message":"Shipment not found for specified shipmentId"}]}"#;
        assert_eq!(already_done("cancelShipment", other), None);
        assert_eq!(already_done("cancelShipment", b"already cancelled"), None);
        assert_eq!(already_done("getTracking", cancelled), None);
        assert!(may_answer_already_done("cancelShipment", 400));
        assert!(!may_answer_already_done("cancelShipment", 404));
        assert!(!may_answer_already_done("linkCarrierAccount", 400));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            assert!(p.backoff(1) <= Duration::from_millis(100));
            assert!(p.backoff(2) <= Duration::from_millis(200));
            assert!(p.backoff(9) <= Duration::from_millis(300));
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(distinct.len() > 1, "jitter varies the wait");
    }
}
