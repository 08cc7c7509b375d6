//! The seam between the generated client and the runtime: progenitor calls
//! these hooks around every one of the 20 operations, so auth, business id,
//! idempotency keys, rate limiting, retries and tracing need no
//! per-operation code.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, Error as ProgenitorError, OperationInfo};
use reqwest::header::{HeaderName, HeaderValue};
use tracing::Instrument;

use crate::Client;
use crate::auth::TokenProvider;
use crate::decode::{Buffered, Head, rebuild};
use crate::decode::{CappedBodyError, read_body};
use crate::error::{CallStage, HookFailure};
use crate::operations::{self, Operation};
use crate::rate_limit::RateLimiter;
use crate::region::Region;
use crate::retry::{Attempts, Decision, Outcome, RetryClass, RetryPolicy};
use crate::runtime::call;
use crate::validate::Validation;

// Header names as `HeaderName`s, so that a look-up or insert does not parse
// the name again on every call (issue 12).
const ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-amz-access-token");
const BUSINESS_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-shipping-business-id");
const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("x-amzn-idempotencykey");
const RATE_LIMIT_HEADER: HeaderName = HeaderName::from_static("x-amzn-ratelimit-limit");
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// The runtime state behind a [`Client`], shared by all its clones.
///
/// Build it with [`Client::builder`](crate::Client::builder); the default
/// has no credentials (no auth header), no default business id, Amazon's
/// usage plans as rate limits, and the default [`RetryPolicy`].
#[derive(Clone, Debug)]
pub struct Inner {
    runtime: Arc<Runtime>,
}

/// What the hooks need; see [`crate::ClientBuilder`] for each setting.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) tokens: Option<TokenProvider>,
    pub(crate) limiter: RateLimiter,
    pub(crate) retry: RetryPolicy,
    /// The configured business, or the region's (see
    /// `ClientBuilder::business_id`), as its ready header value (made once,
    /// not on every call); `None`: Amazon's default applies.
    pub(crate) business_id: Option<HeaderValue>,
    /// The configured region, if any (for the log line).
    pub(crate) region: Option<Region>,
    pub(crate) user_agent: HeaderValue,
    pub(crate) idempotency_keys: bool,
    pub(crate) validation: Validation,
    /// The API response body cap, in bytes (`ClientBuilder::max_response_body`).
    pub(crate) max_response_body: usize,
    /// The whole call's time bound (`ClientBuilder::call_deadline`).
    pub(crate) call_deadline: Duration,
    /// The reqwest client's own total timeout per request, when the
    /// builder made that client (`ClientBuilder::timeout`); `None` for a
    /// caller's `http_client`, whose timeout is unknown.
    pub(crate) attempt_timeout: Option<Duration>,
    /// Whether the log line saying Amazon's default business applies is
    /// still to be written (once per client).
    pub(crate) amazon_default_unlogged: AtomicBool,
    /// The corrected response fields already logged (operation and path
    /// without list positions): each is logged once per client.
    pub(crate) corrections_logged:
        std::sync::Mutex<std::collections::HashSet<(&'static str, String)>>,
    /// The base and operation URLs, parsed once (`runtime::url`).
    pub(crate) urls: crate::runtime::url::Urls,
    /// `Authorization: Basic` from the endpoint's `user:password@` (a
    /// proxy's), which is kept out of the base URL so that no `Debug`,
    /// log or error shows it (issue 20); sent as reqwest would have sent it.
    pub(crate) endpoint_auth: Option<HeaderValue>,
    /// An `App`'s bound on attempts in flight over its one pool, so it
    /// opens at most that many connections to a host; `None`: unbounded.
    pub(crate) connections: Option<Arc<crate::runtime::dial::Dials>>,
}

impl Inner {
    pub(crate) fn new(runtime: Runtime) -> Self {
        Self {
            runtime: Arc::new(runtime),
        }
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// How many clients (clones) share this runtime: 1 when only an `App`
    /// holds a seller's client.
    pub(crate) fn holders(&self) -> usize {
        Arc::strong_count(&self.runtime)
    }

    /// The rate limiter shared by this client's clones.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.runtime.limiter
    }

    /// The access-token cache, when the client has credentials.
    pub fn token_provider(&self) -> Option<&TokenProvider> {
        self.runtime.tokens.as_ref()
    }
}

impl ClientHooks<Inner> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), ProgenitorError<E>> {
        let rt = &self.inner().runtime;
        let Some(op) = operations::find(info.operation_id) else {
            return Err(call::fail(unknown_operation(info)));
        };
        join_comma_separated(request.url_mut(), op.comma_separated_query);
        crate::validate::outgoing(op, request, rt.validation)
            .map_err(|failure| call::fail(*failure))?;
        let headers = request.headers_mut();
        headers.insert(reqwest::header::USER_AGENT, rt.user_agent.clone());
        if let Some(auth) = &rt.endpoint_auth {
            headers
                .entry(reqwest::header::AUTHORIZATION)
                .or_insert_with(|| auth.clone());
        }
        // The per-call header parameter, when set, wins over the default.
        if !headers.contains_key(&BUSINESS_ID_HEADER) {
            match &rt.business_id {
                Some(business) => {
                    headers.insert(BUSINESS_ID_HEADER, business.clone());
                }
                None if rt.amazon_default_unlogged.swap(false, Ordering::Relaxed) => {
                    let region = rt
                        .region
                        .map_or("an endpoint without a region".into(), |r| {
                            format!("the {r} region")
                        });
                    tracing::warn!(
                        "no shipping business configured for {region}: requests without \
                         x-amzn-shipping-business-id are answered as AmazonShipping_UK, \
                         Amazon's default; set ClientBuilder::business_id or \
                         AMAZON_SHIPPING_BUSINESS_ID (logged once per client)"
                    );
                }
                None => {}
            }
        }
        let keyed = op.retry == RetryClass::Keyed;
        if keyed && rt.idempotency_keys && !headers.contains_key(&IDEMPOTENCY_HEADER) {
            // One key per call, set before the first attempt: every retry
            // of this call sends the same key, so Amazon buys at most once.
            let key = uuid::Uuid::new_v4().to_string();
            headers.insert(
                IDEMPOTENCY_HEADER,
                HeaderValue::from_str(&key).expect("a UUID is header-safe"),
            );
        }
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let Some(op) = operations::find(info.operation_id) else {
            // `pre` refuses it first; never sent without the runtime.
            return Ok(failure_response(unknown_operation(info)));
        };
        let span = tracing::info_span!(
            "spapi_shipping.call",
            operation = op.id,
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            rate_limit_wait_ms = tracing::field::Empty,
        );
        // Entering a span nobody listens to on every poll costs; skipped then.
        if span.is_disabled() {
            Call::new(self, op, &request, span).run(request).await
        } else {
            Call::new(self, op, &request, span.clone())
                .run(request)
                .instrument(span)
                .await
        }
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        _info: &OperationInfo,
    ) -> Result<(), ProgenitorError<E>> {
        match result
            .as_ref()
            .ok()
            .and_then(|r| r.extensions().get::<HookFailure>())
        {
            Some(failure) => Err(call::fail(failure.clone())),
            None => Ok(()),
        }
    }
}

/// An operation id progenitor passes that the operations table lacks.
/// build.rs derives the table from the generated code, so this cannot
/// happen; should it, the call fails instead of skipping the runtime.
fn unknown_operation(info: &OperationInfo) -> HookFailure {
    debug_assert!(
        false,
        "{} is not in the operations table",
        info.operation_id
    );
    HookFailure::InvalidRequest {
        operation: info.operation_id.to_owned(),
        violations: vec![crate::validate::Violation {
            path: String::new(),
            message: "not in the operations table build.rs derives from the generated code".into(),
        }],
    }
}

/// One call of one operation: its attempts, waits and token.
///
/// One flat state machine (`run`): every future the call awaits (token
/// refresh, rate-limit wait, the request, its body, a backoff) lives in
/// it once, so the call's future stays small and is cheap to move (issue
/// 12: nested `async fn`s each kept their own copy of the request and
/// response, and moving those kilobytes was the largest per-call cost).
/// It asks [`Attempts::decide`] what to do after each step and obeys.
struct Call<'a> {
    client: &'a Client,
    rt: &'a Runtime,
    op: &'static Operation,
    /// The call's deadline: nothing of the call runs past it.
    deadline: tokio::time::Instant,
    /// What the call is waiting for, read when the deadline passes.
    stage: CallStage,
    /// Requests actually sent (an attempt may end before sending).
    sent: u32,
    /// What the retry decision knows of the call.
    attempts: Attempts,
    waited: Duration,
    /// The idempotency key every attempt carries, if any.
    key: Option<HeaderValue>,
    /// This call's span (disabled when nobody listens).
    span: tracing::Span,
    /// The attempt in flight was given the call deadline as its reqwest
    /// timeout, so a timeout means the deadline passed.
    attempt_cut: bool,
}

impl<'a> Call<'a> {
    fn new(
        client: &'a Client,
        op: &'static Operation,
        request: &reqwest::Request,
        span: tracing::Span,
    ) -> Self {
        let started = tokio::time::Instant::now();
        let rt = &client.inner().runtime;
        let key = request.headers().get(&IDEMPOTENCY_HEADER).cloned();
        let deadline = super::time::after(started, rt.call_deadline);
        Self {
            attempts: Attempts::new(op, key.is_some(), started, deadline),
            key,
            client,
            rt,
            op,
            deadline,
            stage: CallStage::Token,
            sent: 0,
            waited: Duration::ZERO,
            span,
            attempt_cut: false,
        }
    }

    /// What the retry decision says after `outcome`.
    fn decide(&mut self, outcome: Outcome<'_>) -> Decision {
        self.attempts.decide(
            &self.rt.retry,
            outcome,
            tokio::time::Instant::now,
            fastrand::f64,
        )
    }

    /// Every attempt, wait and backoff of the call, cut at its deadline.
    ///
    /// The deadline is not a timer around the whole call (that timer would
    /// be polled on every wake-up, issue 12): each wait that could pass it
    /// is bounded on its own (the token, the rate limit, the attempt, which
    /// gets it as its reqwest timeout when it is the nearer bound), and no
    /// backoff starts past it.
    async fn run(mut self, request: reqwest::Request) -> reqwest::Result<reqwest::Response> {
        let key = self
            .key
            .as_ref()
            .and_then(|k| k.to_str().ok())
            .map(str::to_owned);
        let mut original = Some(request);
        loop {
            self.attempts.attempt += 1;
            self.attempts.sent_at = None;
            let attempt = self.attempts.attempt;
            self.record("attempt", attempt);
            call::update(|call| {
                call.attempts = attempt;
                call.idempotency_key.clone_from(&key);
            });
            // Bodies here are buffered JSON, so a copy is always possible; a
            // request that could not be copied is sent once, never retried.
            let mut request = match original.as_ref().and_then(reqwest::Request::try_clone) {
                Some(copy) => copy,
                None => {
                    self.attempts.last_try = true;
                    original
                        .take()
                        .expect("a request remains until the last try")
                }
            };

            // The token first, then the rate-limit slot: a slot taken before a
            // slow token fetch would be spent while nothing is sent, and the
            // client's bucket would run ahead of Amazon's.
            self.stage = CallStage::Token;
            let token = match &self.rt.tokens {
                None => None,
                Some(tokens) => {
                    // A fresh cached token (the usual case) needs no future.
                    let token = match tokens.fresh() {
                        Some(token) => Ok(token),
                        None => match tokio::time::timeout_at(self.deadline, tokens.access_token())
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => return self.deadline_passed(),
                        },
                    };
                    match token {
                        Ok(token) => {
                            request
                                .headers_mut()
                                .insert(ACCESS_TOKEN_HEADER, token.header().clone());
                            Some(token)
                        }
                        Err(e) => {
                            let transient = e.is_transient();
                            match self.decide(Outcome::NoToken { transient }) {
                                Decision::RetryAfter(wait) => {
                                    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "retrying the token request");
                                    self.backoff(wait).await;
                                    continue;
                                }
                                _ => return Ok(failure_response(HookFailure::Auth(e))),
                            }
                        }
                    }
                }
            };
            self.attempts.had_token = token.is_some();

            self.stage = CallStage::RateLimit;
            match self
                .rt
                .limiter
                .acquire_until(self.op, Some(self.deadline))
                .await
            {
                Some(waited) => self.waited += waited,
                None => return self.deadline_passed(),
            }
            self.record("rate_limit_wait_ms", self.waited.as_millis() as u64);

            self.stage = CallStage::Attempt;
            self.sent += 1;
            let sent_at = tokio::time::Instant::now();
            self.attempts.sent_at = Some(sent_at);
            // The attempt's bound: the client's own timeout (request and
            // body), or the call deadline when that comes first; a caller's
            // client, whose timeout is unknown, gets a timer.
            let remaining = self.deadline.saturating_duration_since(sent_at);
            self.attempt_cut = false;
            let timer = match self.rt.attempt_timeout {
                Some(timeout) if timeout <= remaining => None,
                Some(_) => {
                    *request.timeout_mut() = Some(remaining);
                    self.attempt_cut = true;
                    None
                }
                None => Some(self.deadline),
            };
            // An `App`'s pool: at most so many attempts in flight, each
            // holding its connection until its body is read.
            let permit = match &self.rt.connections {
                None => None,
                Some(limit) => match tokio::time::timeout_at(self.deadline, limit.slot()).await {
                    Ok(slot) => slot,
                    Err(_) => return self.deadline_passed(),
                },
            };
            let execute = self.client.client().execute(request);
            let result = match timer {
                None => execute.await,
                Some(at) => match tokio::time::timeout_at(at, execute).await {
                    Ok(result) => result,
                    Err(_) => return self.deadline_passed(),
                },
            };
            // An answer (or a failure) means Amazon's bucket has started too.
            self.rt.limiter.answered(self.op, sent_at);
            let response = match result {
                Ok(response) => response,
                Err(e) => match self.on_transport_error(e) {
                    ControlFlow::Continue(wait) => {
                        drop(permit);
                        self.backoff(wait).await;
                        continue;
                    }
                    ControlFlow::Break(done) => return done,
                },
            };

            let status = self.on_head(&response);
            // On a head the decision is to retry or to read the body.
            if let Decision::RetryAfter(wait) = self.decide(Outcome::Head { status }) {
                tracing::warn!(status, wait_ms = wait.as_millis() as u64, "retrying");
                drop(response);
                drop(permit);
                self.backoff(wait).await;
                continue;
            }
            if status == 204 {
                return Ok(response);
            }
            let mut response = response;
            let cap = self.rt.max_response_body;
            let body = match timer {
                None => read_body(&mut response, cap).await,
                Some(at) => {
                    match tokio::time::timeout_at(at, read_body(&mut response, cap)).await {
                        Ok(body) => body,
                        Err(_) => return self.deadline_passed(),
                    }
                }
            };
            // The `App`'s slot goes back once the body is read; hyper puts
            // the connection back in its pool a moment later, on a task of
            // its own, and a request taking the slot before then waits for
            // that connection rather than dialing (`runtime::dial`).
            drop(permit);
            let body = match body {
                Ok(body) => body,
                Err(CappedBodyError::Transport(e)) => match self.on_transport_error(e) {
                    ControlFlow::Continue(wait) => {
                        self.backoff(wait).await;
                        continue;
                    }
                    ControlFlow::Break(done) => return done,
                },
                Err(CappedBodyError::TooLarge {
                    cap,
                    content_length,
                }) => {
                    tracing::warn!(cap, ?content_length, "response body over the cap; not read");
                    return Ok(failure_response(HookFailure::TooLarge {
                        status,
                        request_id: header(&response, &REQUEST_ID_HEADER).map(str::to_owned),
                        cap,
                        content_length,
                    }));
                }
            };
            match self.decide(Outcome::Answer {
                status,
                body: &body,
            }) {
                Decision::TokenRefused { resend } => {
                    // Forgotten either way, so the next call gets a fresh one.
                    if let (Some(tokens), Some(token)) = (&self.rt.tokens, &token) {
                        tokens.invalidate(token);
                    }
                    if resend {
                        tracing::info!("access token rejected; renewing it and retrying once");
                        continue;
                    }
                }
                Decision::AlreadyDone(done) => {
                    // An earlier attempt may have done it; the state the
                    // caller asked for holds, so the call succeeded.
                    tracing::info!(
                        status,
                        "an earlier attempt may have applied this write and the retry found it \
                         already done; reporting success"
                    );
                    return Ok(rebuild_ok(response, done));
                }
                _ => {}
            }
            response.extensions_mut().insert(Buffered(body));
            return Ok(response);
        }
    }

    /// Records a field on the call's span; nothing (not even the field
    /// look-up by name) when nobody listens.
    fn record<V: tracing::Value>(&self, field: &'static str, value: V) {
        if !self.span.is_disabled() {
            self.span.record(field, value);
        }
    }

    async fn backoff(&mut self, wait: Duration) {
        self.stage = CallStage::Backoff;
        tokio::time::sleep(wait).await;
    }

    /// The call's end at its deadline, in `stage`. Dropping what was
    /// waiting is safe: a token refresh runs on its own task for the other
    /// waiters, a rate-limit reservation is kept (Amazon's bucket kept it
    /// too).
    fn deadline_passed(&self) -> reqwest::Result<reqwest::Response> {
        let sent = self.sent;
        call::update(|call| call.attempts = sent);
        tracing::warn!(stage = %self.stage, "call deadline passed");
        Ok(failure_response(HookFailure::Deadline {
            deadline: self.rt.call_deadline,
            stage: self.stage,
        }))
    }

    /// Notes what the answer's head tells beyond its status (span fields,
    /// the rate Amazon reports); returns the status.
    fn on_head(&self, response: &reqwest::Response) -> u16 {
        let status = response.status().as_u16();
        self.record("status", status);
        if let Some(id) = header(response, &REQUEST_ID_HEADER) {
            self.record("request_id", id);
        }
        if let Some(rate) =
            header(response, &RATE_LIMIT_HEADER).and_then(RateLimiter::parse_rate_header)
        {
            self.rt.limiter.observe_reported_rate(self.op, rate);
        }
        status
    }

    /// A failed send or body: the backoff before a retry, or how the call
    /// ends.
    fn on_transport_error(
        &mut self,
        e: reqwest::Error,
    ) -> ControlFlow<reqwest::Result<reqwest::Response>, Duration> {
        if self.attempt_cut && e.is_timeout() && tokio::time::Instant::now() >= self.deadline {
            // The timeout was the call deadline's (see `run`), not a
            // connect timeout that came first.
            return ControlFlow::Break(self.deadline_passed());
        }
        let outcome = if e.is_connect() {
            Outcome::NotConnected
        } else {
            Outcome::NoAnswer
        };
        match self.decide(outcome) {
            Decision::RetryAfter(wait) => {
                tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                ControlFlow::Continue(wait)
            }
            _ => ControlFlow::Break(Err(e)),
        }
    }
}

fn header<'r>(response: &'r reqwest::Response, name: &HeaderName) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A 200 with `body` in place of an "already done" error answer, keeping
/// the answer's other headers (its request id).
fn rebuild_ok(response: reqwest::Response, body: &'static str) -> reqwest::Response {
    let url = response.url().clone();
    let (mut parts, _) = http::Response::<reqwest::Body>::from(response).into_parts();
    parts.status = http::StatusCode::OK;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    rebuild(Head { parts, url }, Bytes::from_static(body.as_bytes()))
}

/// A response that carries a failure to the `post` hook instead of a body.
fn failure_response(failure: HookFailure) -> reqwest::Response {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response.extensions_mut().insert(failure);
    reqwest::Response::from(response)
}

/// progenitor sends an array query parameter as `k=a&k=b` (`explode: true`);
/// where Amazon's model says `csv` this rewrites it to `k=a,b` (each value
/// percent-encoded, the separating commas literal), in place of the first
/// occurrence, keeping every other pair and its order.
fn join_comma_separated(url: &mut reqwest::Url, names: &[&str]) {
    if names.is_empty() || url.query().is_none() {
        return;
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in url.query_pairs().into_owned() {
        let joined = names.contains(&key.as_str());
        match out.iter_mut().find(|(k, _)| joined && *k == key) {
            Some((_, values)) => values.push(value),
            None => out.push((key, vec![value])),
        }
    }
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let query = out
        .iter()
        .map(|(key, values)| {
            let values: Vec<String> = values.iter().map(|v| encode(v)).collect();
            format!("{}={}", encode(key), values.join(","))
        })
        .collect::<Vec<_>>()
        .join("&");
    url.set_query(Some(&query));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parameters_are_joined_and_others_untouched() {
        let mut url = reqwest::Url::parse(
            "http://h/p?accessPointTypes=HELIX&countryCode=GB&accessPointTypes=CORE_LOCKER&x=1&x=2",
        )
        .unwrap();
        join_comma_separated(&mut url, &["accessPointTypes"]);
        assert_eq!(
            url.query(),
            Some("accessPointTypes=HELIX,CORE_LOCKER&countryCode=GB&x=1&x=2")
        );
    }
}
