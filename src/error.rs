//! The crate's one error type: what went wrong, where, and what to do.
//!
//! Operation builders return progenitor's `Error<types::ErrorList>`; `?`
//! converts it into [`Error`] (it implements `From`), which adds what the
//! runtime knows: the operation, the attempts made, Amazon's request id and
//! rate limit, and typed auth and decoding failures.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::auth::AuthError;
use crate::types;
use crate::validate::Violation;

/// Private response header carrying the operationId, set by the runtime.
pub(crate) const OPERATION_HEADER: &str = "x-spapi-shipping-operation";
/// Private response header carrying how many attempts a call took.
pub(crate) const ATTEMPTS_HEADER: &str = "x-spapi-shipping-attempts";
/// Prefix of the progenitor `Error::Custom` strings the hooks produce.
const CUSTOM_PREFIX: &str = "spapi-shipping failure: ";

/// Anything that can go wrong calling Amazon Shipping API v2.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Amazon answered with an error status and its `errors` list. Check
    /// `errors[].code`/`message`; quote `request_id` to Amazon support.
    Api(Box<ApiError>),
    /// Amazon kept answering 429 until the retry budget ran out: lower the
    /// call rate or raise the retry bounds.
    RateLimited(Box<ApiError>),
    /// Login with Amazon refused or failed to issue an access token: check
    /// the app id, client secret and refresh token.
    Auth(AuthError),
    /// The client is misconfigured (a missing or malformed setting).
    Config(ConfigError),
    /// The request was not sent because it breaks the spec's constraints
    /// (fix the input): every violation with its field path.
    InvalidRequest {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// What is wrong, one line per violation.
        message: String,
        /// Each broken constraint (`packages[0].items[2].description: longer
        /// than 60 characters`); empty when progenitor refused the input.
        violations: Vec<Violation>,
    },
    /// No answer within the configured timeout.
    Timeout {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The underlying error's message.
        message: String,
    },
    /// The connection failed or broke (DNS, TLS, reset).
    Transport {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// Amazon's answer could not be decoded into the documented type.
    Undecodable(Box<Undecodable>),
}

/// An error response from Amazon.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The operationId, when the runtime recorded it.
    pub operation: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Amazon's `errors` list (`code`, `message`, `details`).
    pub errors: Vec<types::Error>,
    /// `x-amzn-RequestId`, for Amazon support.
    pub request_id: Option<String>,
    /// `x-amzn-RateLimit-Limit`: the rate Amazon applied, requests per second.
    pub rate_limit: Option<f64>,
    /// How many attempts were made (1 when not retried).
    pub attempts: u32,
}

/// A response that is not what the spec promised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undecodable {
    /// The operationId, when known.
    pub operation: Option<String>,
    /// HTTP status, when known.
    pub status: Option<u16>,
    /// `x-amzn-RequestId`, when known.
    pub request_id: Option<String>,
    /// The response's content type, when known.
    pub content_type: Option<String>,
    /// Why decoding failed (with the position or JSON path).
    pub reason: String,
    /// The first bytes of the body (lossy UTF-8, at most 256 bytes).
    pub body_prefix: String,
}

/// A configuration problem, naming the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting or environment variable (`SP_API_REGION`, `endpoint`, ...).
    pub setting: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error in {}: {}",
            self.setting, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

impl Error {
    /// Amazon's `x-amzn-RequestId`, when the error came from a response.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => e.request_id.as_deref(),
            Error::Undecodable(u) => u.request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => Some(e.status),
            Error::Undecodable(u) => u.status,
            Error::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Encodes a failure found by the hooks into progenitor's custom error.
    pub(crate) fn to_custom(failure: &HookFailure) -> String {
        let json = serde_json::to_string(failure).expect("hook failures serialize");
        format!("{CUSTOM_PREFIX}{json}")
    }
}

/// A failure the hooks detect before progenitor decodes a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum HookFailure {
    Auth(AuthError),
    Undecodable(Undecodable),
    InvalidRequest {
        operation: String,
        violations: Vec<Violation>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => write!(f, "{}", ApiDisplay("API error", e)),
            Error::RateLimited(e) => write!(f, "{}", ApiDisplay("rate limited", e)),
            Error::Auth(e) => write!(f, "{e}"),
            Error::Config(e) => write!(f, "{e}"),
            Error::InvalidRequest {
                operation, message, ..
            } => write!(f, "invalid request{}: {message}", op(operation)),
            Error::Timeout { operation, message } => {
                write!(f, "timed out{}: {message}", op(operation))
            }
            Error::Transport { operation, source } => {
                write!(f, "transport error{}: {source}", op(operation))
            }
            Error::Undecodable(u) => {
                write!(f, "undecodable response{}", op(&u.operation))?;
                if let Some(s) = u.status {
                    write!(f, ", HTTP {s}")?;
                }
                if let Some(id) = &u.request_id {
                    write!(f, ", request id {id}")?;
                }
                if let Some(ct) = &u.content_type {
                    write!(f, ", content type {ct}")?;
                }
                write!(f, ": {}; body starts {:?}", u.reason, u.body_prefix)
            }
        }
    }
}

struct ApiDisplay<'a>(&'a str, &'a ApiError);

impl fmt::Display for ApiDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ApiDisplay(what, e) = self;
        write!(f, "{what}{}: HTTP {}", op(&e.operation), e.status)?;
        if let Some(id) = &e.request_id {
            write!(f, ", request id {id}")?;
        }
        if e.attempts > 1 {
            write!(f, ", after {} attempts", e.attempts)?;
        }
        for err in &e.errors {
            write!(f, "; {}: {}", err.code, err.message)?;
            if let Some(details) = &err.details {
                write!(f, " ({details})")?;
            }
        }
        Ok(())
    }
}

fn op(operation: &Option<String>) -> String {
    operation
        .as_deref()
        .map(|o| format!(" in {o}"))
        .unwrap_or_default()
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport { source, .. } => Some(source),
            Error::Auth(e) => Some(e),
            Error::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error::Auth(e)
    }
}

impl From<progenitor_client::Error<types::ErrorList>> for Error {
    fn from(e: progenitor_client::Error<types::ErrorList>) -> Self {
        use progenitor_client::Error as P;
        match e {
            P::ErrorResponse(rv) => {
                let headers = rv.headers().clone();
                let status = rv.status().as_u16();
                api_error(status, &headers, rv.into_inner().errors)
            }
            P::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                api_error(status, response.headers(), Vec::new())
            }
            P::CommunicationError(source)
            | P::ResponseBodyError(source)
            | P::InvalidUpgrade(source) => transport(source),
            P::InvalidResponsePayload(bytes, e) => Error::Undecodable(Box::new(Undecodable {
                operation: None,
                status: None,
                request_id: None,
                content_type: None,
                reason: e.to_string(),
                body_prefix: body_prefix(&bytes),
            })),
            P::InvalidRequest(message) => Error::InvalidRequest {
                operation: None,
                message,
                violations: Vec::new(),
            },
            P::Custom(text) => from_custom(text),
        }
    }
}

fn api_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    errors: Vec<types::Error>,
) -> Error {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let api = Box::new(ApiError {
        operation: text(OPERATION_HEADER),
        status,
        errors,
        request_id: text("x-amzn-requestid"),
        rate_limit: text("x-amzn-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
        attempts: text(ATTEMPTS_HEADER)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    });
    if status == 429 {
        Error::RateLimited(api)
    } else {
        Error::Api(api)
    }
}

fn transport(source: reqwest::Error) -> Error {
    if source.is_timeout() {
        Error::Timeout {
            operation: None,
            message: source.to_string(),
        }
    } else {
        Error::Transport {
            operation: None,
            source,
        }
    }
}

fn from_custom(text: String) -> Error {
    let failure = text
        .strip_prefix(CUSTOM_PREFIX)
        .and_then(|json| serde_json::from_str::<HookFailure>(json).ok());
    match failure {
        Some(HookFailure::Auth(e)) => Error::Auth(e),
        Some(HookFailure::Undecodable(u)) => Error::Undecodable(Box::new(u)),
        Some(HookFailure::InvalidRequest {
            operation,
            violations,
        }) => Error::InvalidRequest {
            operation: Some(operation),
            message: violations
                .iter()
                .map(Violation::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            violations,
        },
        None => Error::InvalidRequest {
            operation: None,
            message: text,
            violations: Vec::new(),
        },
    }
}

/// The first 256 bytes of a body as lossy UTF-8, for error messages.
pub(crate) fn body_prefix(bytes: &[u8]) -> String {
    let end = bytes.len().min(256);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
