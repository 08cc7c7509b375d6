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
pub(crate) const KEY_HEADER: &str = "x-spapi-shipping-idempotency-key";
const CONTEXT_FRAGMENT: &str = "spapi-shipping-context";
/// Prefix of the progenitor `Error::Custom` strings the hooks produce.
const CUSTOM_PREFIX: &str = "spapi-shipping failure: ";

/// Anything that can go wrong calling Amazon Shipping API v2.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Amazon answered with an error status (any status: documented or not,
    /// such as a 422 or a gateway's 502 after the last retry) and, when the
    /// body is one, its `errors` list. Check `errors[].details`, then
    /// `code`/`message`; quote `request_id` to Amazon support.
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
    /// No answer within the configured timeout. For a purchase, Amazon may
    /// have bought the label: retry with [`Error::idempotency_key`].
    Timeout {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The underlying error's message.
        message: String,
        /// How many requests the call sent (1 when not retried).
        attempts: u32,
        /// The `x-amzn-IdempotencyKey` every attempt carried, if any.
        idempotency_key: Option<String>,
    },
    /// The connection failed or broke (DNS, TLS, reset). Unless
    /// `source.is_connect()`, the request may have reached Amazon: retry a
    /// purchase with [`Error::idempotency_key`].
    Transport {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The underlying error.
        source: reqwest::Error,
        /// How many requests the call sent (1 when not retried).
        attempts: u32,
        /// The `x-amzn-IdempotencyKey` every attempt carried, if any.
        idempotency_key: Option<String>,
    },
    /// Amazon's answer could not be decoded into the documented type.
    Undecodable(Box<Undecodable>),
    /// The server answered with a redirect (3xx). Redirects are never
    /// followed: the request carries the access token, the idempotency key
    /// and possibly a purchase, which must not reach another host. A proxy
    /// or gateway is misconfigured, or the endpoint is wrong.
    Redirect {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The HTTP status (301, 302, 303, 307, 308, ...).
        status: u16,
        /// The `Location` the server pointed to, as sent (lossy UTF-8).
        location: Option<String>,
    },
}

/// An error response from Amazon.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The operationId, when the runtime recorded it.
    pub operation: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Amazon's `errors` list (`code`, `message`, `details`); empty when
    /// the body is not an error list (see `body_prefix`).
    pub errors: Vec<types::Error>,
    /// The first bytes of the body (lossy UTF-8, at most 256 bytes) when it
    /// is not Amazon's error list (an HTML page from a gateway, an empty
    /// body); `None` when `errors` was read from it.
    pub body_prefix: Option<String>,
    /// `x-amzn-RequestId`, for Amazon support.
    pub request_id: Option<String>,
    /// `x-amzn-RateLimit-Limit`: the rate Amazon applied, requests per second.
    pub rate_limit: Option<f64>,
    /// How many attempts were made (1 when not retried).
    pub attempts: u32,
    /// The `x-amzn-IdempotencyKey` every attempt carried, if any.
    pub idempotency_key: Option<String>,
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
    /// The `x-amzn-IdempotencyKey` the request carried, if any: the call
    /// may have succeeded at Amazon, so retry a purchase with this key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
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
            Error::Redirect { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The idempotency key the call's requests carried (the caller's, or the
    /// one the client generated), when the failure happened after a keyed
    /// purchase may have reached Amazon. Retrying with the same key (the
    /// builder's `x_amzn_idempotency_key`) can never buy twice.
    pub fn idempotency_key(&self) -> Option<&str> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => e.idempotency_key.as_deref(),
            Error::Undecodable(u) => u.idempotency_key.as_deref(),
            Error::Timeout {
                idempotency_key, ..
            }
            | Error::Transport {
                idempotency_key, ..
            } => idempotency_key.as_deref(),
            _ => None,
        }
    }

    /// How many requests the call sent, when it sent any.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => Some(e.attempts),
            Error::Timeout { attempts, .. } | Error::Transport { attempts, .. } => Some(*attempts),
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
            Error::Timeout {
                operation,
                message,
                attempts,
                idempotency_key,
            } => {
                write!(
                    f,
                    "timed out{}{}: {message}",
                    op(operation),
                    after(*attempts)
                )?;
                retry_with(f, idempotency_key)
            }
            Error::Transport {
                operation,
                source,
                attempts,
                idempotency_key,
            } => {
                write!(
                    f,
                    "transport error{}{}: {source}",
                    op(operation),
                    after(*attempts)
                )?;
                retry_with(f, idempotency_key)
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
            Error::Redirect {
                operation,
                status,
                location,
            } => {
                write!(f, "HTTP {status} redirect{}", op(operation))?;
                if let Some(location) = location {
                    write!(f, " to {location:?}")?;
                }
                f.write_str(" not followed (it would resend the access token and request)")
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
        // Every part Amazon filled in, `details` above all: it is often the
        // only text that says what to change. Empty parts are left out.
        for err in &e.errors {
            let filled = |s: &str| !s.trim().is_empty();
            write!(f, "; {}", err.code)?;
            if filled(&err.message) {
                write!(f, ": {}", err.message.trim())?;
            }
            if let Some(details) = err.details.as_deref().filter(|d| filled(d)) {
                write!(f, " ({})", details.trim())?;
            }
        }
        match e.body_prefix.as_deref() {
            Some("") => write!(f, "; empty body"),
            Some(prefix) => write!(f, "; the body is not Amazon's error list: {prefix:?}"),
            None => Ok(()),
        }
    }
}

fn after(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

fn retry_with(f: &mut fmt::Formatter<'_>, key: &Option<String>) -> fmt::Result {
    match key {
        Some(key) => write!(f, "; retry with idempotency key {key} to never buy twice"),
        None => Ok(()),
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
                api_error(status, &headers, rv.into_inner().errors, None)
            }
            P::UnexpectedResponse(response) if response.status().is_redirection() => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                };
                Error::Redirect {
                    operation: header(OPERATION_HEADER),
                    status: response.status().as_u16(),
                    location: header(reqwest::header::LOCATION.as_str()),
                }
            }
            P::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                // `decode::error_response` records a body that is not an
                // error list; a response from elsewhere has no record.
                let prefix = response
                    .extensions()
                    .get::<crate::decode::UnlistedBody>()
                    .map(|body| body.prefix.clone());
                api_error(status, response.headers(), Vec::new(), prefix)
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
                idempotency_key: None,
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
    body_prefix: Option<String>,
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
        body_prefix,
        request_id: text("x-amzn-requestid"),
        rate_limit: text("x-amzn-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
        attempts: text(ATTEMPTS_HEADER)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        idempotency_key: text(KEY_HEADER),
    });
    if status == 429 {
        Error::RateLimited(api)
    } else {
        Error::Api(api)
    }
}

fn transport(mut source: reqwest::Error) -> Error {
    let context = CallContext::take(&mut source);
    if source.is_timeout() {
        Error::Timeout {
            operation: context.operation,
            message: source.to_string(),
            attempts: context.attempts,
            idempotency_key: context.idempotency_key,
        }
    } else {
        Error::Transport {
            operation: context.operation,
            source,
            attempts: context.attempts,
            idempotency_key: context.idempotency_key,
        }
    }
}

/// What the runtime knows about a call that ended in a `reqwest::Error`.
///
/// `reqwest::Error` is opaque and progenitor passes it through unchanged, so
/// the only place to carry this is the error's URL: the runtime records it
/// in the URL's fragment (never sent: a fragment is not part of an HTTP
/// request), and [`Error::from`] reads it back and removes it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct CallContext {
    pub(crate) operation: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) idempotency_key: Option<String>,
}

impl CallContext {
    /// Records the context on `error`, using `url` when it has none.
    pub(crate) fn stamp(&self, error: reqwest::Error, url: &reqwest::Url) -> reqwest::Error {
        let mut url = error.url().cloned().unwrap_or_else(|| url.clone());
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if let Some(operation) = &self.operation {
            pairs.append_pair("operation", operation);
        }
        pairs.append_pair("attempts", &self.attempts.to_string());
        if let Some(key) = &self.idempotency_key {
            pairs.append_pair("idempotency-key", key);
        }
        url.set_fragment(Some(&format!("{CONTEXT_FRAGMENT}&{}", pairs.finish())));
        error.with_url(url)
    }

    /// Reads and removes the context [`stamp`](Self::stamp) recorded; an
    /// error that has none (not from a call) counts as one attempt.
    fn take(error: &mut reqwest::Error) -> Self {
        let mut context = CallContext {
            attempts: 1,
            ..Self::default()
        };
        let Some(url) = error.url_mut() else {
            return context;
        };
        let Some(pairs) = url
            .fragment()
            .and_then(|f| f.strip_prefix(CONTEXT_FRAGMENT))
            .map(|rest| rest.trim_start_matches('&').to_owned())
        else {
            return context;
        };
        for (name, value) in form_urlencoded::parse(pairs.as_bytes()) {
            match &*name {
                "operation" => context.operation = Some(value.into_owned()),
                "attempts" => context.attempts = value.parse().unwrap_or(1),
                "idempotency-key" => context.idempotency_key = Some(value.into_owned()),
                _ => {}
            }
        }
        url.set_fragment(None);
        context
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `reqwest::Error` that never touched the network: a request whose
    /// header value is invalid fails when it is built.
    fn offline_error() -> reqwest::Error {
        reqwest::Client::builder()
            .tls_backend_preconfigured(crate::config::tls_config(&[]).unwrap())
            .build()
            .unwrap()
            .get("http://127.0.0.1:1/x")
            .header("x", "line\nbreak")
            .build()
            .unwrap_err()
    }

    #[test]
    fn the_call_context_travels_on_the_error_and_is_removed_on_conversion() {
        let url = reqwest::Url::parse("http://127.0.0.1:1/shipping/v2/shipments?a=1").unwrap();
        let context = CallContext {
            operation: Some("purchaseShipment".into()),
            attempts: 3,
            idempotency_key: Some("order 7&label=1".into()),
        };
        let stamped = context.stamp(offline_error(), &url);
        assert!(stamped.url().unwrap().fragment().is_some());

        let Error::Transport {
            operation,
            source,
            attempts,
            idempotency_key,
        } = Error::from(progenitor_client::Error::<types::ErrorList>::CommunicationError(stamped))
        else {
            panic!("a builder error is a transport error");
        };
        assert_eq!(operation.as_deref(), Some("purchaseShipment"));
        assert_eq!(attempts, 3);
        assert_eq!(idempotency_key.as_deref(), Some("order 7&label=1"));
        assert_eq!(source.url(), Some(&url), "the fragment is gone");
    }

    fn api(errors: Vec<types::Error>, body_prefix: Option<&str>) -> Error {
        Error::Api(Box::new(ApiError {
            operation: Some("purchaseShipment".into()),
            status: 400,
            errors,
            body_prefix: body_prefix.map(str::to_owned),
            request_id: Some("req-1".into()),
            rate_limit: None,
            attempts: 1,
            idempotency_key: None,
        }))
    }

    fn amazon_error(code: &str, message: &str, details: Option<&str>) -> types::Error {
        types::Error {
            code: code.into(),
            message: message.into(),
            details: details.map(str::to_owned),
        }
    }

    #[test]
    fn display_shows_every_error_with_its_details_and_leaves_out_empty_parts() {
        let err = api(
            vec![
                amazon_error(
                    "InvalidInput",
                    "An invalid documentation specification was provided",
                    Some("dpi 203 is not in supportedDPIs [300]"),
                ),
                amazon_error(
                    "InvalidInput",
                    "The requested value added services are invalid",
                    Some(""),
                ),
                amazon_error("Unknown", "", Some("only details")),
            ],
            None,
        );
        assert_eq!(
            err.to_string(),
            "API error in purchaseShipment: HTTP 400, request id req-1; \
             InvalidInput: An invalid documentation specification was provided \
             (dpi 203 is not in supportedDPIs [300]); \
             InvalidInput: The requested value added services are invalid; \
             Unknown (only details)"
        );
        let err = api(Vec::new(), Some("<html>"));
        assert!(
            err.to_string()
                .ends_with("; the body is not Amazon's error list: \"<html>\""),
            "{err}"
        );
    }

    #[test]
    fn an_error_from_outside_a_call_counts_one_attempt_and_no_key() {
        let err = Error::from(
            progenitor_client::Error::<types::ErrorList>::CommunicationError(offline_error()),
        );
        assert_eq!(err.attempts(), Some(1));
        assert_eq!(err.idempotency_key(), None);
        assert!(!err.to_string().contains("idempotency"), "{err}");
    }
}
