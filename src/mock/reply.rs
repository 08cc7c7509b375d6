//! Answers in Amazon's shapes, and the HTTP responses that carry them.

use httpmock::HttpMockResponse;
use serde_json::{Value, json};

/// A status and a JSON body (none for 204).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<Value>,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Self {
        Self::with_status(200, body)
    }

    pub(crate) fn with_status(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
        }
    }

    pub(crate) fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
        }
    }

    /// Amazon's error list with one error.
    pub(crate) fn error(status: u16, code: &str, message: &str, details: Option<&str>) -> Self {
        let mut error = json!({ "code": code, "message": message });
        if let Some(details) = details {
            error["details"] = json!(details);
        }
        Self::with_status(status, json!({ "errors": [error] }))
    }

    /// 400 `InvalidInput`.
    pub(crate) fn invalid(message: &str, details: Option<&str>) -> Self {
        Self::error(400, "InvalidInput", message, details)
    }

    /// 404 `NotFound`.
    pub(crate) fn not_found(message: &str) -> Self {
        Self::error(404, "NotFound", message, None)
    }

    /// 403 `Unauthorized`, with Amazon's wording about the token.
    pub(crate) fn unauthorized(details: &str) -> Self {
        Self::error(
            403,
            "Unauthorized",
            "Access to requested resource is denied.",
            Some(details),
        )
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The HTTP response: JSON content type, a fresh `x-amzn-RequestId`, and
    /// the operation's usage plan rate when `rate` is given.
    pub(crate) fn into_response(self, rate: Option<f64>) -> HttpMockResponse {
        let mut builder = http::Response::builder()
            .status(self.status)
            .header("content-type", "application/json")
            .header("x-amzn-RequestId", uuid::Uuid::new_v4().to_string());
        if let Some(rate) = rate {
            builder = builder.header("x-amzn-RateLimit-Limit", format!("{rate:.1}"));
        }
        let body = self.body.map(|b| b.to_string()).unwrap_or_default();
        builder
            .body(body)
            .expect("status and headers are valid")
            .into()
    }
}
