//! The crate's one error type: what went wrong, where, and what to do.
//!
//! Every operation builder's `send` returns it, with what the runtime knows
//! about the call: the operation, the attempts made, the idempotency key,
//! Amazon's request id and rate limit, and typed auth, validation and
//! decoding failures (carried by the call's own state, `runtime/call.rs`).

use std::fmt;

use crate::auth::AuthError;
use crate::runtime::call::CallState;
use crate::types;
use crate::validate::Violation;

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
    /// the app id, client secret and refresh token. Nothing reached Amazon.
    Auth {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// Why LWA gave no token.
        source: AuthError,
    },
    /// The client is misconfigured (a missing or malformed setting).
    Config(ConfigError),
    /// The request was not sent because it breaks the spec's constraints
    /// (fix the input): every violation with its field path.
    InvalidRequest {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// What is wrong, one line per violation.
        message: String,
        /// Each broken constraint (`packages[0].items[1].itemValue.unit:
        /// longer than 3 characters (4)`); empty when a typed body refused
        /// the input, whose message then names the path
        /// (`shipTo.addressLine1: longer than 60 characters (61)`).
        violations: Vec<Violation>,
    },
    /// No answer within the configured timeout. For a purchase, Amazon may
    /// have bought the label: retry with [`Error::idempotency_key`].
    Timeout {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The underlying error (`source.is_timeout()`).
        source: reqwest::Error,
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
    /// The response body is larger than the client's cap
    /// ([`ClientBuilder::max_response_body`](crate::ClientBuilder::max_response_body)):
    /// refused from its `Content-Length` before reading, or cut once the
    /// streamed bytes passed the cap. Not retried: the server did answer,
    /// and for a purchase with a 2xx status the label was bought (retry
    /// with [`Error::idempotency_key`] after raising the cap).
    ResponseTooLarge {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The HTTP status of the oversized answer.
        status: u16,
        /// `x-amzn-RequestId`, when sent.
        request_id: Option<String>,
        /// The API response body cap in force, in bytes.
        cap: usize,
        /// The declared `Content-Length`, when that is what gave it away;
        /// `None` when a streamed body passed the cap.
        content_length: Option<u64>,
        /// How many requests the call sent.
        attempts: u32,
        /// The `x-amzn-IdempotencyKey` every attempt carried, if any.
        idempotency_key: Option<String>,
    },
    /// The call's overall deadline
    /// ([`ClientBuilder::call_deadline`](crate::ClientBuilder::call_deadline))
    /// passed: it bounds the rate-limit wait, the token wait, every attempt
    /// and the backoffs together. `stage` says what the call was waiting
    /// for. If an attempt was in flight, the request may have reached
    /// Amazon: retry a purchase with [`Error::idempotency_key`].
    DeadlineExceeded {
        /// The operation's operationId, when known.
        operation: Option<String>,
        /// The deadline that passed (measured from the first attempt).
        deadline: std::time::Duration,
        /// What the call was doing when it passed.
        stage: CallStage,
        /// How many requests the call had sent (0: none).
        attempts: u32,
        /// The `x-amzn-IdempotencyKey` every attempt carried, if any.
        idempotency_key: Option<String>,
    },
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

/// What a call was doing when its deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallStage {
    /// Waiting for an access token from Login with Amazon (nothing sent).
    Token,
    /// Waiting for a rate-limit slot (this attempt not sent).
    RateLimit,
    /// A request was sent and its answer had not fully arrived.
    Attempt,
    /// Waiting before a retry.
    Backoff,
}

impl fmt::Display for CallStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallStage::Token => "waiting for an access token",
            CallStage::RateLimit => "waiting for a rate-limit slot",
            CallStage::Attempt => "waiting for an answer",
            CallStage::Backoff => "waiting to retry",
        })
    }
}

/// An error response from Amazon.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    pub idempotency_key: Option<String>,
}

/// A configuration problem, naming the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
            Error::ResponseTooLarge { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => Some(e.status),
            Error::Undecodable(u) => u.status,
            Error::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            Error::Redirect { status, .. } | Error::ResponseTooLarge { status, .. } => {
                Some(*status)
            }
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
            }
            | Error::ResponseTooLarge {
                idempotency_key, ..
            }
            | Error::DeadlineExceeded {
                idempotency_key, ..
            } => idempotency_key.as_deref(),
            _ => None,
        }
    }

    /// How many requests the call sent, when it sent any.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Error::Api(e) | Error::RateLimited(e) => Some(e.attempts),
            Error::Timeout { attempts, .. }
            | Error::Transport { attempts, .. }
            | Error::ResponseTooLarge { attempts, .. } => Some(*attempts),
            Error::DeadlineExceeded { attempts, .. } => (*attempts > 0).then_some(*attempts),
            _ => None,
        }
    }
}

/// A failure the runtime finds itself (not progenitor): recorded on the
/// call's state (`runtime/call.rs`) and returned by `send` as is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HookFailure {
    Auth(AuthError),
    Undecodable(Undecodable),
    InvalidRequest {
        operation: String,
        violations: Vec<Violation>,
    },
    TooLarge {
        status: u16,
        request_id: Option<String>,
        cap: usize,
        content_length: Option<u64>,
    },
    Deadline {
        deadline: std::time::Duration,
        stage: CallStage,
    },
}

impl HookFailure {
    fn into_error(self, call: &CallState) -> Error {
        match self {
            HookFailure::Auth(source) => Error::Auth {
                operation: Some(call.operation.to_owned()),
                source,
            },
            HookFailure::Undecodable(mut u) => {
                u.operation.get_or_insert_with(|| call.operation.to_owned());
                if u.idempotency_key.is_none() {
                    u.idempotency_key.clone_from(&call.idempotency_key);
                }
                Error::Undecodable(Box::new(u))
            }
            HookFailure::InvalidRequest {
                operation,
                violations,
            } => Error::InvalidRequest {
                operation: Some(operation),
                message: violations
                    .iter()
                    .map(Violation::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                violations,
            },
            HookFailure::TooLarge {
                status,
                request_id,
                cap,
                content_length,
            } => Error::ResponseTooLarge {
                operation: Some(call.operation.to_owned()),
                status,
                request_id,
                cap,
                content_length,
                attempts: call.attempts.max(1),
                idempotency_key: call.idempotency_key.clone(),
            },
            HookFailure::Deadline { deadline, stage } => Error::DeadlineExceeded {
                operation: Some(call.operation.to_owned()),
                deadline,
                stage,
                attempts: call.attempts,
                idempotency_key: call.idempotency_key.clone(),
            },
        }
    }
}

/// The message the raw layer (`send_raw`) gets in progenitor's
/// `Error::Custom`; `send` returns the typed failure instead.
impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookFailure::Auth(e) => write!(f, "{e}"),
            HookFailure::Undecodable(u) => write!(f, "{}", Error::Undecodable(Box::new(u.clone()))),
            HookFailure::InvalidRequest {
                operation,
                violations,
            } => {
                let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
                write!(f, "invalid request in {operation}: {}", list.join("; "))
            }
            HookFailure::TooLarge {
                status,
                cap,
                content_length,
                ..
            } => write!(
                f,
                "HTTP {status} response body over the API cap of {cap} bytes \
                 (declared length {content_length:?})"
            ),
            HookFailure::Deadline { deadline, stage } => {
                write!(f, "call deadline of {deadline:?} passed while {stage}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Api(e) => write!(f, "{}", ApiDisplay("API error", e)),
            Error::RateLimited(e) => write!(f, "{}", ApiDisplay("rate limited", e)),
            Error::Auth { operation, source } => write!(f, "{source}{}", op(operation)),
            Error::Config(e) => write!(f, "{e}"),
            Error::InvalidRequest {
                operation, message, ..
            } => write!(f, "invalid request{}: {message}", op(operation)),
            Error::Timeout {
                operation,
                source,
                attempts,
                idempotency_key,
            } => {
                write!(
                    f,
                    "timed out{}{}: {source}",
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
            Error::ResponseTooLarge {
                operation,
                status,
                request_id,
                cap,
                content_length,
                attempts,
                idempotency_key,
            } => {
                write!(f, "response too large{}: HTTP {status}", op(operation))?;
                if let Some(id) = request_id {
                    write!(f, ", request id {id}")?;
                }
                match content_length {
                    Some(n) => write!(f, ", Content-Length {n} bytes")?,
                    None => f.write_str(", streamed body")?,
                }
                write!(
                    f,
                    " over the API response body cap of {cap} bytes \
                     (ClientBuilder::max_response_body){}",
                    after(*attempts)
                )?;
                retry_with(f, idempotency_key)
            }
            Error::DeadlineExceeded {
                operation,
                deadline,
                stage,
                attempts,
                idempotency_key,
            } => {
                write!(
                    f,
                    "call deadline of {deadline:?} passed{} while {stage}{}",
                    op(operation),
                    after(*attempts)
                )?;
                if *stage == CallStage::Attempt {
                    retry_with(f, idempotency_key)?;
                }
                Ok(())
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
            Error::Transport { source, .. } | Error::Timeout { source, .. } => Some(source),
            Error::Auth { source, .. } => Some(source),
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
        Error::Auth {
            operation: None,
            source: e,
        }
    }
}

impl Error {
    /// progenitor's error for one call, with what the runtime recorded on
    /// the call (`runtime/call.rs`): a typed failure it found replaces
    /// progenitor's error; otherwise the operation, attempts and
    /// idempotency key are added to it.
    pub(crate) fn from_call(
        e: progenitor_client::Error<types::ErrorList>,
        call: CallState,
    ) -> Self {
        use progenitor_client::Error as P;
        if let Some(failure) = &call.failure {
            return (**failure).clone().into_error(&call);
        }
        let operation = Some(call.operation.to_owned());
        match e {
            P::ErrorResponse(rv) => {
                let headers = rv.headers().clone();
                let status = rv.status().as_u16();
                api_error(status, &headers, rv.into_inner().errors, None, &call)
            }
            P::UnexpectedResponse(response) if response.status().is_redirection() => {
                Error::Redirect {
                    operation,
                    status: response.status().as_u16(),
                    location: response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
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
                api_error(status, response.headers(), Vec::new(), prefix, &call)
            }
            P::CommunicationError(source)
            | P::ResponseBodyError(source)
            | P::InvalidUpgrade(source) => transport(source, call),
            P::InvalidResponsePayload(bytes, e) => Error::Undecodable(Box::new(Undecodable {
                operation,
                status: None,
                request_id: None,
                content_type: None,
                reason: e.to_string(),
                body_prefix: body_prefix(&bytes),
                idempotency_key: call.idempotency_key,
            })),
            // progenitor refused the input (a value its types reject) or a
            // header value it could not build.
            P::InvalidRequest(message) | P::Custom(message) => Error::InvalidRequest {
                operation,
                message,
                violations: Vec::new(),
            },
        }
    }
}

fn api_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    errors: Vec<types::Error>,
    body_prefix: Option<String>,
    call: &CallState,
) -> Error {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let api = Box::new(ApiError {
        operation: Some(call.operation.to_owned()),
        status,
        errors,
        body_prefix,
        request_id: text("x-amzn-requestid"),
        rate_limit: text("x-amzn-ratelimit-limit").and_then(|v| v.trim().parse().ok()),
        attempts: call.attempts.max(1),
        idempotency_key: call.idempotency_key.clone(),
    });
    if status == 429 {
        Error::RateLimited(api)
    } else {
        Error::Api(api)
    }
}

fn transport(mut source: reqwest::Error, call: CallState) -> Error {
    // reqwest's message ends with the request's URL: a password in the
    // endpoint (a proxy's `user:password@`) would be printed (issue 20).
    if let Some(url) = source.url_mut()
        && url.password().is_some()
    {
        let _ = url.set_password(Some("***"));
    }
    let operation = Some(call.operation.to_owned());
    let attempts = call.attempts.max(1);
    let idempotency_key = call.idempotency_key;
    if source.is_timeout() {
        Error::Timeout {
            operation,
            source,
            attempts,
            idempotency_key,
        }
    } else {
        Error::Transport {
            operation,
            source,
            attempts,
            idempotency_key,
        }
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

    fn call(attempts: u32, key: Option<&str>) -> CallState {
        CallState {
            operation: "purchaseShipment",
            attempts,
            idempotency_key: key.map(str::to_owned),
            failure: None,
            ..CallState::default()
        }
    }

    #[test]
    fn the_call_state_completes_a_transport_error() {
        let Error::Transport {
            operation,
            source,
            attempts,
            idempotency_key,
        } = Error::from_call(
            progenitor_client::Error::CommunicationError(offline_error()),
            call(3, Some("order 7&label=1")),
        )
        else {
            panic!("a builder error is a transport error");
        };
        assert_eq!(operation.as_deref(), Some("purchaseShipment"));
        assert_eq!(attempts, 3);
        assert_eq!(idempotency_key.as_deref(), Some("order 7&label=1"));
        assert!(source.is_builder(), "{source}");
    }

    #[test]
    fn a_recorded_failure_replaces_progenitors_error_and_gets_the_calls_key() {
        let mut state = call(2, Some("k-1"));
        state.failure = Some(Box::new(HookFailure::Undecodable(Undecodable {
            operation: None,
            status: Some(200),
            request_id: None,
            content_type: None,
            reason: "payload: missing field".into(),
            body_prefix: "{}".into(),
            idempotency_key: None,
        })));
        let err = Error::from_call(progenitor_client::Error::Custom("text".into()), state);
        let Error::Undecodable(u) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(u.operation.as_deref(), Some("purchaseShipment"));
        assert_eq!(err.idempotency_key(), Some("k-1"));
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
    fn an_error_before_sending_counts_one_attempt_and_no_key() {
        let err = Error::from_call(
            progenitor_client::Error::CommunicationError(offline_error()),
            call(0, None),
        );
        assert_eq!(err.attempts(), Some(1));
        assert_eq!(err.idempotency_key(), None);
        assert!(!err.to_string().contains("idempotency"), "{err}");
    }
}
