//! What a successful `send()` returns: the decoded value with its status and
//! headers (like progenitor's `ResponseValue`), the body as Amazon sent it,
//! and the corrections decoding made to it.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use crate::{Correction, ResponseValue};

/// A decoded answer, its status, headers and bytes.
///
/// It dereferences to the decoded value; [`Response::into_inner`] takes it.
/// Two things progenitor's `ResponseValue` cannot tell:
///
/// - [`Response::corrections`]: the fields Amazon's model calls required
///   that this answer left out or sent as `null`, which decoding corrected
///   instead of failing (spec/README.md, "Client error correction").
/// - [`Response::pointer`]: any value of the body by JSON pointer, including
///   fields the model does not know yet, without a second request.
pub struct Response<T> {
    value: ResponseValue<T>,
    body: bytes::Bytes,
    corrections: Vec<Correction>,
    json: OnceLock<Option<serde_json::Value>>,
}

impl<T> Response<T> {
    pub(crate) fn new(
        value: ResponseValue<T>,
        body: bytes::Bytes,
        corrections: Vec<Correction>,
    ) -> Self {
        Self {
            value,
            body,
            corrections,
            json: OnceLock::new(),
        }
    }

    /// The decoded value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// progenitor's `ResponseValue` (status, headers, value), without the
    /// body and corrections.
    pub fn into_response_value(self) -> ResponseValue<T> {
        self.value
    }

    /// The HTTP status.
    pub fn status(&self) -> reqwest::StatusCode {
        self.value.status()
    }

    /// The response headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.value.headers()
    }

    /// Amazon's request id (`x-amzn-RequestId`), to quote to Amazon's support.
    pub fn request_id(&self) -> Option<&str> {
        self.headers()
            .get(&crate::runtime::hooks::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    /// The required fields this answer left out or sent as `null`, each
    /// with its JSON path (`payload.ineligibleRates[37].carrierName`), in
    /// document order; empty for an answer that fits Amazon's model. Such a
    /// field decodes as `None` where a zero would misstate it (ids, dates,
    /// amounts, flags, objects), and otherwise as its empty value (`""`, an
    /// empty list, `Unknown("")`, `NaN`).
    pub fn corrections(&self) -> &[Correction] {
        &self.corrections
    }

    /// The body as Amazon sent it (after transfer decoding); empty for an
    /// answer without one.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The value at a JSON pointer (RFC 6901) of the body, read from the
    /// bytes the client kept (parsed once, on first use): a field the model
    /// does not have yet is reachable this way, e.g.
    /// `response.pointer("/payload/rates/0/totalChargeWithAdjustments")`.
    /// `None` when the body has no such value or is not JSON.
    pub fn pointer(&self, pointer: &str) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.body).ok())
            .as_ref()?
            .pointer(pointer)
    }
}

impl<T> Deref for Response<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status())
            .field("value", &*self.value)
            .field("body_len", &self.body.len())
            .field("corrections", &self.corrections)
            .finish()
    }
}
