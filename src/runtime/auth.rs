//! Login with Amazon (LWA) access tokens.
//!
//! Every SP-API call carries a short-lived LWA access token in `x-amz-access-token`.
//! [`TokenProvider`] trades the long-lived refresh token for access tokens, caches
//! them until shortly before they expire, and makes sure at most one token request
//! is in flight however many calls are waiting for a token.
//!
//! Secrets (client secret, refresh token) and access tokens never appear in `Debug`,
//! `Display`, `tracing` output or an [`AuthError`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

/// The default token endpoint.
pub const LWA_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";

/// How long before `expires_in` runs out a cached token is replaced, unless configured.
const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(60);
/// How much of an unexpected response body is kept in [`AuthError::Unexpected`].
const BODY_PREFIX_LEN: usize = 256;
/// Caps an absurd `expires_in` so the expiry instant cannot overflow (LWA says 3600).
const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// The longest breaker interval (a `Duration::MAX` interval saturates here).
const MAX_BREAKER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
/// What a secret looks like wherever it would otherwise be shown.
const REDACTED: &str = "***";
/// Largest LWA answer read (a token answer is under 2 KiB; an OAuth error or
/// a gateway's error page rarely passes a few KiB): a larger body is refused
/// before or while reading, so a hostile endpoint cannot make a token refresh
/// hold hundreds of MiB.
pub const LWA_BODY_CAP: usize = 64 * 1024;
/// Default bound on one token refresh, connection to last byte; see
/// [`TokenProvider::with_timeout`].
const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);
/// Secrets shorter than this are scrubbed only where they stand as a whole
/// token (a one-letter "secret" would otherwise turn `amazon.com` into
/// `amazon.***om`); real LWA secrets and tokens are tens to hundreds of bytes.
const MIN_SUBSTRING_SECRET: usize = 8;

/// A secret string: never shown by `Debug` (`Secret(***)`) or `Display` (`***`),
/// so credentials can sit in structs that get logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// LWA credentials of one application and selling partner. `Debug` shows the client id
/// (useful to tell applications apart in logs) and hides the two secrets.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LwaCredentials {
    /// The LWA client id (`amzn1.application-oa2-client...`); not secret.
    pub client_id: String,
    /// The LWA client secret.
    pub client_secret: Secret,
    /// The selling partner's refresh token (`Atzr|...`).
    pub refresh_token: Secret,
}

impl LwaCredentials {
    /// Bundles the three values needed to ask LWA for access tokens.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
        }
    }
}

/// An LWA access token (`Atza|...`). Redacted in `Debug` so it cannot leak into logs.
///
/// Held as the ready `x-amz-access-token` header value (marked sensitive),
/// made once per token: every call clones it (a reference count), instead
/// of copying and checking the token into a new header value (issue 12).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(HeaderValue);

impl AccessToken {
    /// `None` when the token could not be sent as a header (anything but
    /// visible ASCII and spaces), so it is refused where it arrives.
    fn new(token: String) -> Option<Self> {
        let mut header = HeaderValue::try_from(token).ok()?;
        header.to_str().ok()?;
        header.set_sensitive(true);
        Some(Self(header))
    }

    /// A token another process put in Redis (feature `redis`); `None` when
    /// it could not be sent as a header.
    #[cfg(feature = "redis")]
    pub(crate) fn from_shared(token: String) -> Option<Self> {
        Self::new(token)
    }

    /// The token value, for the `x-amz-access-token` header.
    pub fn expose(&self) -> &str {
        // Checked to be visible ASCII when made.
        self.0.to_str().unwrap_or_default()
    }

    /// The `x-amz-access-token` header value (sensitive).
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({REDACTED})")
    }
}

/// Why getting a token failed. Never contains a secret or a token, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// LWA answered with an OAuth error (`invalid_grant`, `invalid_client`, ...).
    Lwa {
        /// The HTTP status of the answer.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// LWA's explanation, if it gave one (secrets scrubbed).
        error_description: Option<String>,
    },
    /// LWA answered something that is neither a token nor an OAuth error (a 5xx page,
    /// bad JSON).
    Unexpected {
        /// The HTTP status of the answer.
        status: u16,
        /// The first 256 bytes of the body (lossy UTF-8), secrets scrubbed.
        body_prefix: String,
    },
    /// The token request did not complete (connect error, timeout).
    Transport {
        /// reqwest's message with its causes, secrets scrubbed.
        message: String,
        /// Whether the request timed out.
        timeout: bool,
    },
    /// LWA answered with a redirect. Redirects are never followed: the
    /// request carries the client secret and the refresh token, and must not
    /// reach any other URL. Also reported when a caller-supplied HTTP client
    /// followed one anyway (its answer is then not used).
    Redirect {
        /// The HTTP status (301, 302, 303, 307, 308, ...).
        status: u16,
        /// Where the answer pointed (its `Location`, or the URL a redirect
        /// was followed to), secrets scrubbed.
        location: Option<String>,
    },
    /// The answer's body is larger than [`LWA_BODY_CAP`]; it was refused
    /// from its `Content-Length` or cut while streaming.
    TooLarge {
        /// The HTTP status of the answer.
        status: u16,
        /// The cap, in bytes.
        cap: usize,
        /// The declared `Content-Length`, when it gave the size away.
        content_length: Option<u64>,
    },
    /// A success answer that is not a valid token answer (bad JSON, a
    /// missing or empty `access_token`). None of its text is kept: it may
    /// hold a token the client could not recognise.
    Malformed {
        /// The HTTP status of the answer.
        status: u16,
        /// What is wrong, by position only (e.g. `trailing characters at
        /// line 1 column 97`).
        reason: String,
    },
    /// LWA refused this seller's refresh token (`invalid_grant`: the seller
    /// revoked the application, or the token is wrong), so calls for the
    /// seller fail at once, without asking LWA, until `retry_in` has
    /// passed; then one call tries again (see
    /// [`AppBuilder::revoked_retry_after`](crate::AppBuilder::revoked_retry_after)).
    /// Only sellers of an [`App`](crate::App) get it; the other sellers are
    /// not affected.
    SellerRevoked {
        /// The seller's key, as given to [`App::seller`](crate::App::seller)
        /// (never the refresh token).
        seller: String,
        /// LWA's explanation from the refusal, if it gave one (secrets scrubbed).
        error_description: Option<String>,
        /// How long until the next call asks LWA again.
        retry_in: Duration,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREFIX: &str = "LWA token request failed";
        match self {
            Self::Lwa {
                status,
                error,
                error_description: Some(description),
            } => {
                write!(f, "{PREFIX}: {error} ({description}), HTTP {status}")
            }
            Self::Lwa {
                status,
                error,
                error_description: None,
            } => {
                write!(f, "{PREFIX}: {error}, HTTP {status}")
            }
            Self::Unexpected {
                status,
                body_prefix,
            } => {
                write!(
                    f,
                    "{PREFIX}: unexpected HTTP {status} response {body_prefix:?}"
                )
            }
            Self::Transport {
                message,
                timeout: true,
            } => write!(f, "{PREFIX}: timed out: {message}"),
            Self::Transport {
                message,
                timeout: false,
            } => write!(f, "{PREFIX}: {message}"),
            Self::Redirect { status, location } => {
                write!(f, "{PREFIX}: HTTP {status} redirect")?;
                if let Some(location) = location {
                    write!(f, " to {location:?}")?;
                }
                f.write_str(" not followed (it would resend the client secret and refresh token)")
            }
            Self::TooLarge {
                status,
                cap,
                content_length,
            } => {
                write!(
                    f,
                    "{PREFIX}: HTTP {status} answer larger than the {cap}-byte LWA body cap"
                )?;
                match content_length {
                    Some(n) => write!(f, " (Content-Length {n}, not read)"),
                    None => f.write_str(" (cut while streaming)"),
                }
            }
            Self::Malformed { status, reason } => write!(
                f,
                "{PREFIX}: HTTP {status} answer is not a valid token answer ({reason}); body not shown, it may hold a token"
            ),
            Self::SellerRevoked {
                seller,
                error_description,
                retry_in,
            } => {
                write!(f, "{PREFIX}: seller {seller:?}: invalid_grant")?;
                if let Some(description) = error_description {
                    write!(f, " ({description})")?;
                }
                write!(
                    f,
                    "; the seller's refresh token was refused, calls for it fail without asking LWA for {}s more",
                    retry_in.as_secs_f64().ceil()
                )
            }
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// Whether asking again later may work: LWA unreachable, too slow,
    /// throttling (429) or failing (5xx). Refused credentials (4xx) are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Lwa { status, .. } | Self::Unexpected { status, .. } => {
                *status == 429 || *status >= 500
            }
            // A misdirected, oversized or garbled answer is not a passing failure.
            Self::Redirect { .. }
            | Self::TooLarge { .. }
            | Self::Malformed { .. }
            | Self::SellerRevoked { .. } => false,
        }
    }
}

/// Caches LWA access tokens for one set of credentials. Cheap to clone; clones share the
/// cache and the in-flight request.
///
/// A token is reused until the refresh buffer before its `expires_in` runs out. When a new
/// one is needed, one request is sent on a spawned task and every caller waits for its
/// outcome, success or failure; the next call after a failure tries again.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
    refresh_buffer: Duration,
    timeout: Duration,
}

/// What the clones of a [`TokenProvider`] share.
struct Inner {
    credentials: LwaCredentials,
    token_url: reqwest::Url,
    http: reqwest::Client,
    requests: AtomicU64,
    state: Mutex<State>,
    /// The fleet's token in Redis (feature `redis`), set once when built.
    #[cfg(feature = "redis")]
    shared: std::sync::OnceLock<crate::shared::Shared>,
    /// A seller's breaker (sellers of an `App`), set once when built.
    breaker: std::sync::OnceLock<Breaker>,
}

/// After LWA refuses a seller's refresh token (`invalid_grant`), calls fail
/// at once with [`AuthError::SellerRevoked`] until `interval` has passed.
struct Breaker {
    seller: Box<str>,
    interval: Duration,
}

/// The refusal a tripped breaker answers with until `until`.
struct Tripped {
    until: Instant,
    error_description: Option<String>,
}

/// The outcome of a refresh as published to its waiters: `None` while it runs.
type Outcome = Option<Result<AccessToken, AuthError>>;

#[derive(Default)]
struct State {
    cached: Option<CachedToken>,
    /// Present while a refresh runs; callers clone it to wait for the outcome.
    in_flight: Option<watch::Receiver<Outcome>>,
    /// Set while a seller's breaker is open (boxed: rare, and a seller's
    /// state stays small).
    tripped: Option<Box<Tripped>>,
}

struct CachedToken {
    token: AccessToken,
    expires_at: Instant,
    lifetime: Duration,
}

impl CachedToken {
    /// A token read from Redis, fresh for `fresh_for` (its TTL there, which
    /// already ends the refresh buffer before expiry): cached so that
    /// [`is_fresh`](Self::is_fresh) holds exactly that long.
    #[cfg(feature = "redis")]
    fn read(token: AccessToken, fresh_for: Duration, buffer: Duration) -> Self {
        // `is_fresh` takes `buffer.min(lifetime / 2)` off `expires_at`: with
        // a lifetime of twice the (bounded) buffer that is exactly `buffer`,
        // even for `Duration::MAX` ("as early as possible"), which no sum
        // here may overflow with.
        let buffer = buffer.min(Duration::from_secs(MAX_LIFETIME_SECS));
        Self {
            token,
            expires_at: Instant::now() + fresh_for.min(super::time::FAR_FUTURE) + buffer,
            lifetime: buffer * 2,
        }
    }

    /// Fresh until `buffer` before expiry; the buffer is capped at half the lifetime so
    /// a token that lives shorter than the buffer is still reused for a while.
    fn is_fresh(&self, now: Instant, buffer: Duration) -> bool {
        super::time::after(now, buffer.min(self.lifetime / 2)) < self.expires_at
    }
}

/// LWA's success answer (`token_type` and the echoed `refresh_token` are not needed).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// LWA's OAuth error answer.
#[derive(Deserialize)]
struct OAuthErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenProvider {
    /// A provider for `credentials` that asks `token_url` (usually [`LWA_TOKEN_URL`])
    /// through `http`, whose timeouts apply to token requests.
    pub fn new(
        credentials: LwaCredentials,
        token_url: reqwest::Url,
        http: reqwest::Client,
    ) -> Self {
        let inner = Inner {
            credentials,
            token_url,
            http,
            requests: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            #[cfg(feature = "redis")]
            shared: std::sync::OnceLock::new(),
            breaker: std::sync::OnceLock::new(),
        };
        Self {
            inner: Arc::new(inner),
            refresh_buffer: DEFAULT_REFRESH_BUFFER,
            timeout: DEFAULT_REFRESH_TIMEOUT,
        }
    }

    /// Bounds one token refresh, from connecting to the last byte (default
    /// 30 s), whatever the HTTP client's own timeouts: every caller that
    /// needs a token waits on the one shared refresh, so a hung LWA
    /// connection must not hold them all. On expiry the refresh fails with
    /// [`AuthError::Transport`] (`timeout: true`), which is transient.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Shares the token with every process using the same Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn with_shared(self, shared: crate::shared::Shared) -> Self {
        let _ = self.inner.shared.set(shared);
        self
    }

    /// Names this provider's seller and opens a breaker on `invalid_grant`:
    /// calls then fail at once with [`AuthError::SellerRevoked`] until
    /// `interval` has passed, when one refresh tries again (an `App`'s sellers).
    pub(crate) fn set_breaker(&self, seller: &str, interval: Duration) {
        let _ = self.inner.breaker.set(Breaker {
            seller: seller.into(),
            interval,
        });
    }

    /// Whether the provider may be dropped (an idle seller of an `App`):
    /// no refresh running and no open breaker, which must outlive idleness.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.inner.lock();
        state.in_flight.is_none() && state.tripped.is_none()
    }

    /// Refresh this long before `expires_in` runs out (default 60 s), so a token does
    /// not expire between being handed out and reaching Amazon.
    pub fn with_refresh_buffer(mut self, buffer: Duration) -> Self {
        self.refresh_buffer = buffer;
        self
    }

    /// A valid access token, from the cache or from one LWA request shared with every
    /// concurrent caller. Must run inside a Tokio runtime (the request runs on a spawned
    /// task, so dropping this future never strands the other callers).
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let mut flight = match self.cached_or_flight() {
            Ok(token) => return Ok(token),
            Err(Wait::Refused(error)) => return Err(error),
            Err(Wait::Flight(flight)) => flight,
        };
        if let Ok(outcome) = flight.wait_for(Option::is_some).await
            && let Some(result) = outcome.as_ref()
        {
            return result.clone();
        }
        // The refresh task ended without an outcome (a panic, the runtime
        // shutting down). Starting over at once would spin if it fails the
        // same way every time: the call's retry policy decides (a transient
        // failure, retried after its backoff).
        self.inner.forget_flight(&flight);
        Err(AuthError::Transport {
            message: "the token refresh ended without an outcome (its task panicked or the \
                      runtime is shutting down)"
                .to_owned(),
            timeout: false,
        })
    }

    /// The cached token when it is fresh, without waiting (the usual case:
    /// no future, no timer). Otherwise `None`, with a refresh started if
    /// none runs; [`access_token`](Self::access_token) then waits for it.
    pub(crate) fn fresh(&self) -> Option<AccessToken> {
        self.cached_or_flight().ok()
    }

    /// Forget `token` if it is the cached one (Amazon said it expired or is invalid), so
    /// the next call fetches a new one. A newer cached token is kept.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut state = self.inner.lock();
        if state
            .cached
            .as_ref()
            .is_some_and(|cached| cached.token == *token)
        {
            state.cached = None;
            tracing::debug!("LWA access token invalidated");
        }
        drop(state);
        #[cfg(feature = "redis")]
        if let Some(shared) = self.inner.shared.get() {
            shared.invalidate_token(token);
        }
    }

    /// How many token requests have been sent (for the unit tests).
    #[cfg(test)]
    pub(crate) fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// The fresh cached token, or a receiver for the refresh in flight
    /// (started if none), or the open breaker's refusal.
    fn cached_or_flight(&self) -> Result<AccessToken, Wait> {
        let now = Instant::now();
        let mut state = self.inner.lock();
        if let Some(cached) = &state.cached
            && cached.is_fresh(now, self.refresh_buffer)
        {
            return Ok(cached.token.clone());
        }
        if let Some(flight) = &state.in_flight {
            return Err(Wait::Flight(flight.clone()));
        }
        if let Some(tripped) = &state.tripped {
            if now < tripped.until
                && let Some(breaker) = self.inner.breaker.get()
            {
                return Err(Wait::Refused(breaker.refusal(tripped, now)));
            }
            // The interval has passed: this call's refresh is the one try.
            state.tripped = None;
        }
        let (sender, flight) = watch::channel(None);
        state.in_flight = Some(flight.clone());
        drop(state);
        tokio::spawn(Arc::clone(&self.inner).refresh(sender, self.timeout, self.refresh_buffer));
        Err(Wait::Flight(flight))
    }
}

/// Why [`TokenProvider::cached_or_flight`] has no token for now.
enum Wait {
    /// A refresh runs: its outcome comes on this channel.
    Flight(watch::Receiver<Outcome>),
    /// The seller's breaker is open.
    Refused(AuthError),
}

impl Breaker {
    /// The typed error of an open breaker.
    fn refusal(&self, tripped: &Tripped, now: Instant) -> AuthError {
        AuthError::SellerRevoked {
            seller: self.seller.to_string(),
            error_description: tripped.error_description.clone(),
            retry_in: tripped.until.saturating_duration_since(now),
        }
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("TokenProvider")
            .field("client_id", &self.inner.credentials.client_id)
            .field(
                "token_url",
                &crate::config::redact_url(self.inner.token_url.as_str()),
            )
            .field("refresh_buffer", &self.refresh_buffer)
            .field("timeout", &self.timeout)
            .field("token_cached", &state.cached.is_some())
            .field("refresh_in_flight", &state.in_flight.is_some())
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is never left half-updated, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one token request, caches a success, then publishes the outcome to every waiter.
    async fn refresh(
        self: Arc<Self>,
        sender: watch::Sender<Outcome>,
        timeout: Duration,
        buffer: Duration,
    ) {
        let fetch = async {
            tokio::time::timeout(timeout, self.fetch())
                .await
                .unwrap_or_else(|_| {
                    Err(AuthError::Transport {
                        message: format!("no complete answer from LWA within {timeout:?}"),
                        timeout: true,
                    })
                })
        };
        #[cfg(feature = "redis")]
        let fetched = match self.shared.get() {
            Some(shared) => {
                // The Redis copy expires the refresh buffer before the token.
                let shareable = |fetched: &Result<CachedToken, AuthError>| {
                    let fresh = fetched.as_ref().ok()?;
                    let margin = buffer.min(fresh.lifetime / 2);
                    let ttl = fresh
                        .expires_at
                        .checked_sub(margin)?
                        .checked_duration_since(Instant::now())?;
                    Some((fresh.token.clone(), ttl))
                };
                match shared.token(timeout, timeout, fetch, shareable).await {
                    crate::shared::SharedToken::Read(token, fresh_for) => {
                        Ok(CachedToken::read(token, fresh_for, buffer))
                    }
                    crate::shared::SharedToken::Fetched(fetched) => fetched,
                }
            }
            None => fetch.await,
        };
        #[cfg(not(feature = "redis"))]
        let fetched = {
            let _ = buffer;
            fetch.await
        };
        let outcome = match fetched {
            Ok(fresh) => {
                tracing::debug!(
                    expires_in = fresh.lifetime.as_secs(),
                    "LWA access token refreshed"
                );
                let token = fresh.token.clone();
                self.finish_flight(Some(fresh));
                Ok(token)
            }
            Err(error) => {
                let error = self.trip(error);
                tracing::warn!(%error, "LWA access token refresh failed");
                self.finish_flight(None);
                Err(error)
            }
        };
        // After `finish_flight`, so a caller that finds no flight finds the new token.
        sender.send_replace(Some(outcome));
    }

    /// A seller's `invalid_grant` opens its breaker and becomes
    /// [`AuthError::SellerRevoked`]; any other error is returned as it is.
    fn trip(&self, error: AuthError) -> AuthError {
        let Some(breaker) = self.breaker.get() else {
            return error;
        };
        let AuthError::Lwa {
            error: code,
            error_description,
            ..
        } = &error
        else {
            return error;
        };
        if code != "invalid_grant" {
            return error;
        }
        let now = Instant::now();
        let tripped = Tripped {
            until: now
                .checked_add(breaker.interval)
                .unwrap_or(now + MAX_BREAKER),
            error_description: error_description.clone(),
        };
        let refusal = breaker.refusal(&tripped, now);
        self.lock().tripped = Some(Box::new(tripped));
        refusal
    }

    /// Caches a success and clears the flight (no other flight can start while it is set).
    fn finish_flight(&self, fresh: Option<CachedToken>) {
        let mut state = self.lock();
        if fresh.is_some() {
            state.cached = fresh;
        }
        state.in_flight = None;
    }

    /// Clears `flight` from the state if it is still the one in flight.
    fn forget_flight(&self, flight: &watch::Receiver<Outcome>) {
        let mut state = self.lock();
        if state
            .in_flight
            .as_ref()
            .is_some_and(|current| current.same_channel(flight))
        {
            state.in_flight = None;
        }
    }

    /// Sends one token request and turns the answer into a cacheable token.
    async fn fetch(&self) -> Result<CachedToken, AuthError> {
        let sent_at = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            client_id = %self.credentials.client_id,
            token_url = %crate::config::redact_url(self.token_url.as_str()),
            "requesting LWA access token"
        );
        let response = self
            .http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(self.form_body())
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Err(AuthError::Redirect {
                status: status.as_u16(),
                location: location.map(|l| self.scrubber().scrub(&l)),
            });
        }
        if response.url() != &self.token_url {
            // A caller-supplied HTTP client followed a redirect: the form
            // has gone elsewhere already; at least its answer is not used.
            return Err(AuthError::Redirect {
                status: status.as_u16(),
                location: Some(self.scrubber().scrub(response.url().as_str())),
            });
        }
        let body = crate::decode::read_capped(response, LWA_BODY_CAP)
            .await
            .map_err(|e| match e {
                crate::decode::CappedBodyError::TooLarge {
                    cap,
                    content_length,
                } => AuthError::TooLarge {
                    status: status.as_u16(),
                    cap,
                    content_length,
                },
                crate::decode::CappedBodyError::Transport(e) => self.transport_error(&e),
            })?;
        let credentials = &self.credentials;
        let secrets = [
            credentials.client_secret.expose(),
            credentials.refresh_token.expose(),
        ];
        let (token, expires_in) = parse_answer(status.as_u16(), &body, &secrets)?;
        let lifetime = Duration::from_secs(expires_in.min(MAX_LIFETIME_SECS));
        Ok(CachedToken {
            token,
            expires_at: sent_at + lifetime,
            lifetime,
        })
    }

    fn form_body(&self) -> String {
        let credentials = &self.credentials;
        serde_urlencoded::to_string([
            ("grant_type", "refresh_token"),
            ("refresh_token", credentials.refresh_token.expose()),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
        ])
        .expect("string pairs always form-encode")
    }

    fn transport_error(&self, error: &reqwest::Error) -> AuthError {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let message = self.scrubber().scrub(&message);
        AuthError::Transport {
            message,
            timeout: error.is_timeout(),
        }
    }

    /// A scrubber for our secrets.
    fn scrubber(&self) -> Scrubber {
        let credentials = &self.credentials;
        let mut secrets = vec![
            credentials.client_secret.expose().to_owned(),
            credentials.refresh_token.expose().to_owned(),
        ];
        // reqwest's errors quote the URL: a password in the token URL (a
        // proxy's `user:password@`) is a secret too (issue 20).
        secrets.extend(self.token_url.password().map(str::to_owned));
        Scrubber::new(secrets)
    }
}

/// LWA's answer (`status`, `body`) as a token and its `expires_in`, or the
/// error it amounts to, with every one of `secrets` scrubbed from any text
/// kept. A success status whose body is not a token answer keeps no text
/// at all ([`AuthError::Malformed`]): a token the parser could not
/// recognise would otherwise be echoed. Public for the fuzzer
/// (`examples/fuzz_decoders.rs`); callers use [`TokenProvider`].
#[doc(hidden)]
pub fn parse_answer(
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<(AccessToken, u64), AuthError> {
    let success = (200..300).contains(&status);
    if success {
        match serde_json::from_slice::<TokenResponse>(body) {
            Ok(answer) if !answer.access_token.is_empty() => {
                return match AccessToken::new(answer.access_token) {
                    Some(token) => Ok((token, answer.expires_in)),
                    None => Err(AuthError::Malformed {
                        status,
                        reason: "access_token is not a valid header value".into(),
                    }),
                };
            }
            Ok(_) => {
                return Err(AuthError::Malformed {
                    status,
                    reason: "empty access_token".into(),
                });
            }
            // A 2xx carrying an OAuth error is reported as one below.
            Err(_) if serde_json::from_slice::<OAuthErrorResponse>(body).is_ok() => {}
            Err(e) => {
                return Err(AuthError::Malformed {
                    status,
                    reason: describe_json_error(&e),
                });
            }
        }
    }
    let mut needles: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
    needles.extend(echoed_tokens(body));
    let scrubber = Scrubber::new(needles);
    if let Ok(answer) = serde_json::from_slice::<OAuthErrorResponse>(body) {
        return Err(AuthError::Lwa {
            status,
            error: scrubber.scrub(&answer.error),
            error_description: answer.error_description.map(|d| scrubber.scrub(&d)),
        });
    }
    // Scrub a window that holds every secret starting in the kept prefix,
    // then cut: a large error page is never copied whole.
    let window = &body[..body.len().min(BODY_PREFIX_LEN + scrubber.longest())];
    let mut body_prefix = scrubber.scrub(&String::from_utf8_lossy(window));
    truncate_at_char_boundary(&mut body_prefix, BODY_PREFIX_LEN);
    Err(AuthError::Unexpected {
        status,
        body_prefix,
    })
}

/// serde_json's error by kind and position only: its message can quote the
/// offending value (`invalid type: string "Atza|..."`).
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "cut short",
        Category::Syntax => "not valid JSON",
        Category::Data => "JSON of the wrong shape",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Values of `access_token` / `refresh_token` in a JSON body that did not parse as a
/// token answer: they must not end up in an error.
fn echoed_tokens(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    ["access_token", "refresh_token"]
        .iter()
        .filter_map(|key| value.get(key)?.as_str().map(str::to_owned))
        .collect()
}

/// Replaces secrets, raw or form-encoded, with `***` in text taken from a response or
/// an error message.
struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    fn new(secrets: Vec<String>) -> Self {
        let mut needles: Vec<String> = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| [s.clone(), form_encode(s)])
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    /// The longest needle's length in bytes (0 without needles).
    fn longest(&self) -> usize {
        self.needles.first().map_or(0, String::len)
    }

    /// Replaces every needle of at least [`MIN_SUBSTRING_SECRET`] bytes
    /// wherever it occurs, and a shorter one only where it is a whole token
    /// (not touching a letter, digit or one of `|-_.%~+/`), so a short
    /// secret cannot garble the rest of the message.
    fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |text, needle| {
            if needle.len() >= MIN_SUBSTRING_SECRET {
                text.replace(needle.as_str(), REDACTED)
            } else {
                replace_whole_tokens(&text, needle)
            }
        })
    }
}

/// `text` with each occurrence of `needle` that is a whole token replaced.
fn replace_whole_tokens(text: &str, needle: &str) -> String {
    let in_token = |c: char| c.is_alphanumeric() || "|-_.%~+/".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(needle) {
        if at < rest {
            continue;
        }
        let end = at + needle.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(in_token) && !after.is_some_and(in_token) {
            out.push_str(&text[rest..at]);
            out.push_str(REDACTED);
            rest = end;
        }
    }
    out.push_str(&text[rest..]);
    out
}

/// `value` as it appears in a form-encoded body (`Atzr|x` -> `Atzr%7Cx`).
fn form_encode(value: &str) -> String {
    let pair = serde_urlencoded::to_string([("v", value)]).unwrap_or_default();
    pair.strip_prefix("v=").unwrap_or_default().to_owned()
}

/// Shortens `text` to at most `max` bytes without splitting a character.
fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpmock::Method::POST;
    use httpmock::{Mock, MockServer, When};
    use serde_json::json;
    use tokio::task::JoinSet;

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        let lwa = |status| AuthError::Lwa {
            status,
            error: "invalid_grant".into(),
            error_description: None,
        };
        let unexpected = |status| AuthError::Unexpected {
            status,
            body_prefix: String::new(),
        };
        let transport = |timeout| AuthError::Transport {
            message: "connection refused".into(),
            timeout,
        };
        assert!(transport(true).is_transient());
        assert!(transport(false).is_transient());
        for status in [429, 500, 503] {
            assert!(unexpected(status).is_transient(), "{status}");
            assert!(lwa(status).is_transient(), "{status}");
        }
        for status in [200, 400, 401, 403] {
            assert!(!unexpected(status).is_transient(), "{status}");
            assert!(!lwa(status).is_transient(), "{status}");
        }
    }

    const CLIENT_ID: &str = "amzn1.application-oa2-client.test";
    const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.CLIENTSECRET0123456789";
    const REFRESH_TOKEN: &str = "Atzr|IwEBIREFRESHTOKEN0123456789";
    const ACCESS_TOKEN: &str = "Atza|IwEBIACCESSTOKEN0123456789";
    const TOKEN_PATH: &str = "/auth/o2/token";

    fn credentials() -> LwaCredentials {
        LwaCredentials::new(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    }

    fn provider_with(server: &MockServer, http: reqwest::Client) -> TokenProvider {
        let url = server.url(TOKEN_PATH).parse().expect("mock url");
        TokenProvider::new(credentials(), url, http)
    }

    fn provider(server: &MockServer) -> TokenProvider {
        provider_with(server, http().build().unwrap())
    }

    /// reqwest with the crate's TLS setup (reqwest alone has no provider).
    fn http() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_backend_preconfigured(crate::config::tls_config(&[]).unwrap())
    }

    /// Matches only a well-formed refresh-token grant for our credentials.
    fn token_request(when: When) -> When {
        when.method(POST)
            .path(TOKEN_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .form_urlencoded_tuple("grant_type", "refresh_token")
            .form_urlencoded_tuple("refresh_token", REFRESH_TOKEN)
            .form_urlencoded_tuple("client_id", CLIENT_ID)
            .form_urlencoded_tuple("client_secret", CLIENT_SECRET)
            .form_urlencoded_tuple_count(".*", ".*", 4)
    }

    fn token_body(access_token: &str, expires_in: u64) -> serde_json::Value {
        json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "refresh_token": REFRESH_TOKEN,
        })
    }

    async fn mock_token<'a>(server: &'a MockServer, token: &str, expires_in: u64) -> Mock<'a> {
        let body = token_body(token, expires_in);
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(200).json_body(body);
            })
            .await
    }

    async fn mock_answer<'a>(server: &'a MockServer, status: u16, body: &str) -> Mock<'a> {
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(status).body(body);
            })
            .await
    }

    fn invalid_grant_body(description: &str) -> String {
        json!({ "error": "invalid_grant", "error_description": description }).to_string()
    }

    fn assert_no_secrets(text: &str) {
        for secret in [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, "IwEBI"] {
            assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cold_cache_100_concurrent_callers_share_one_request() {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                token_request(when);
                then.status(200)
                    .json_body(token_body(ACCESS_TOKEN, 3600))
                    .delay(Duration::from_millis(100));
            })
            .await;
        let provider = provider(&server);

        let mut callers = JoinSet::new();
        for _ in 0..100 {
            let provider = provider.clone();
            callers.spawn(async move { provider.access_token().await });
        }
        let tokens: Vec<_> = callers.join_all().await;

        assert_eq!(tokens.len(), 100);
        for token in tokens {
            assert_eq!(token.expect("token").expose(), ACCESS_TOKEN);
        }
        assert_eq!(mock.calls_async().await, 1);
        assert_eq!(provider.requests_sent(), 1);
    }

    #[tokio::test]
    async fn token_is_refreshed_once_the_buffer_before_expiry_is_reached() {
        let server = MockServer::start_async().await;
        let mock = mock_token(&server, ACCESS_TOKEN, 120).await;
        let provider = provider(&server);
        assert_eq!(
            provider.access_token().await.unwrap().expose(),
            ACCESS_TOKEN
        );

        // Only the cache lookups run on a paused clock: loopback I/O stays on real time.
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            provider.access_token().await.unwrap().expose(),
            ACCESS_TOKEN
        );
        assert_eq!(
            provider.requests_sent(),
            1,
            "at +30 s the token is served from cache"
        );

        tokio::time::advance(Duration::from_secs(31)).await;
        tokio::time::resume();
        assert_eq!(
            provider.access_token().await.unwrap().expose(),
            ACCESS_TOKEN
        );
        assert_eq!(
            provider.requests_sent(),
            2,
            "at +61 s, within 60 s of expiry, it is refetched"
        );
        assert_eq!(mock.calls_async().await, 2);
    }

    #[tokio::test]
    async fn custom_refresh_buffer_is_capped_at_half_the_lifetime() {
        let server = MockServer::start_async().await;
        mock_token(&server, ACCESS_TOKEN, 10).await;
        let provider = provider(&server).with_refresh_buffer(Duration::from_secs(3600));
        provider.access_token().await.unwrap();

        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(4)).await;
        provider.access_token().await.unwrap();
        assert_eq!(
            provider.requests_sent(),
            1,
            "reused for the first half of its life"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        tokio::time::resume();
        provider.access_token().await.unwrap();
        assert_eq!(provider.requests_sent(), 2, "refetched in the second half");
    }

    /// Issue 20 item 6: `Duration::MAX` is "no limit" (refresh timeout) and
    /// "as early as possible" (refresh buffer: half the lifetime), never a panic.
    #[tokio::test]
    async fn duration_max_timeout_and_refresh_buffer_work() {
        let server = MockServer::start_async().await;
        mock_token(&server, ACCESS_TOKEN, 3600).await;
        let provider = provider(&server)
            .with_timeout(Duration::MAX)
            .with_refresh_buffer(Duration::MAX);
        assert_eq!(
            provider.access_token().await.unwrap().expose(),
            ACCESS_TOKEN
        );
        assert_eq!(
            provider.access_token().await.unwrap().expose(),
            ACCESS_TOKEN
        );
        assert_eq!(provider.requests_sent(), 1, "reused for half its life");
        #[cfg(feature = "redis")]
        {
            // A token read from Redis, cached for its time to live there.
            let read = CachedToken::read(
                AccessToken::new(ACCESS_TOKEN.to_owned()).unwrap(),
                Duration::from_secs(100),
                Duration::MAX,
            );
            let now = Instant::now();
            assert!(read.is_fresh(now, Duration::MAX));
            assert!(!read.is_fresh(now + Duration::from_secs(101), Duration::MAX));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_refresh_is_shared_by_all_waiters_and_the_next_call_retries() {
        let server = MockServer::start_async().await;
        let body = invalid_grant_body("The request has an invalid grant parameter : refresh_token");
        let mock = server
            .mock_async(|when, then| {
                token_request(when);
                then.status(400)
                    .body(body)
                    .delay(Duration::from_millis(200));
            })
            .await;
        let provider = provider(&server);

        let mut callers = JoinSet::new();
        for _ in 0..10 {
            let provider = provider.clone();
            callers.spawn(async move { provider.access_token().await });
        }
        let results = callers.join_all().await;

        assert_eq!(mock.calls_async().await, 1);
        let expected = AuthError::Lwa {
            status: 400,
            error: "invalid_grant".into(),
            error_description: Some(
                "The request has an invalid grant parameter : refresh_token".into(),
            ),
        };
        assert_eq!(results, vec![Err(expected.clone()); 10]);

        assert_eq!(provider.access_token().await, Err(expected));
        assert_eq!(mock.calls_async().await, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_caller_that_started_the_refresh_does_not_strand_waiters() {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                token_request(when);
                then.status(200)
                    .json_body(token_body(ACCESS_TOKEN, 3600))
                    .delay(Duration::from_millis(200));
            })
            .await;
        let provider = provider(&server);

        let first = tokio::spawn({
            let provider = provider.clone();
            async move { provider.access_token().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiter = tokio::spawn({
            let provider = provider.clone();
            async move { provider.access_token().await }
        });
        first.abort();

        let token = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert_eq!(
            token.expect("waiter finished").unwrap().unwrap().expose(),
            ACCESS_TOKEN
        );
        assert_eq!(mock.calls_async().await, 1);
    }

    #[tokio::test]
    async fn lwa_oauth_error_is_typed() {
        let server = MockServer::start_async().await;
        let body = json!({ "error": "invalid_client", "error_description": "Client authentication failed" });
        mock_answer(&server, 401, &body.to_string()).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Lwa {
                status: 401,
                error: "invalid_client".into(),
                error_description: Some("Client authentication failed".into()),
            }
        );
        assert_eq!(
            error.to_string(),
            "LWA token request failed: invalid_client (Client authentication failed), HTTP 401"
        );
    }

    #[tokio::test]
    async fn lwa_oauth_error_without_description() {
        let server = MockServer::start_async().await;
        mock_answer(&server, 400, r#"{"error":"unsupported_grant_type"}"#).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let expected = AuthError::Lwa {
            status: 400,
            error: "unsupported_grant_type".into(),
            error_description: None,
        };
        assert_eq!(error, expected);
        assert_eq!(
            error.to_string(),
            "LWA token request failed: unsupported_grant_type, HTTP 400"
        );
    }

    #[tokio::test]
    async fn html_503_is_unexpected_with_a_256_byte_body_prefix() {
        let server = MockServer::start_async().await;
        let page = format!(
            "<html><body>Service Unavailable{}</body></html>",
            "é".repeat(300)
        );
        mock_answer(&server, 503, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let AuthError::Unexpected {
            status,
            body_prefix,
        } = &error
        else {
            panic!("expected Unexpected, got {error:?}");
        };
        assert_eq!(*status, 503);
        assert!(
            body_prefix.starts_with("<html><body>Service Unavailable"),
            "{body_prefix}"
        );
        assert!(
            body_prefix.len() <= 256 && body_prefix.len() >= 254,
            "{}",
            body_prefix.len()
        );
        assert!(page.starts_with(body_prefix.as_str()));
        assert!(error.to_string().starts_with(
            "LWA token request failed: unexpected HTTP 503 response \"<html><body>Service Unavailable"
        ));
    }

    #[tokio::test]
    async fn success_status_with_a_malformed_token_is_malformed_and_shows_nothing() {
        let server = MockServer::start_async().await;
        let body = json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer" });
        mock_answer(&server, 200, &body.to_string()).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Malformed {
                status: 200,
                reason: "JSON of the wrong shape at line 1 column 72".into(),
            }
        );
        assert!(!error.is_transient());
    }

    /// Issue 11, finding 5: one stray byte after a valid token answer used
    /// to put the access token into the error's Display and the WARN line.
    #[tokio::test]
    async fn a_token_answer_with_a_stray_byte_is_never_echoed_in_errors_or_logs() {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer({
                let logs = logs.clone();
                move || logs.clone()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let server = MockServer::start_async().await;
        let body = format!("{}x", token_body(ACCESS_TOKEN, 3600));
        mock_answer(&server, 200, &body).await;
        let fail = || async { provider(&server).access_token().await.unwrap_err() };
        fail().await;
        tracing::callsite::rebuild_interest_cache();
        logs.clear();

        let error = fail().await;

        let AuthError::Malformed { status, reason } = &error else {
            panic!("expected Malformed, got {error:?}");
        };
        assert_eq!(*status, 200);
        assert!(
            reason.starts_with("not valid JSON at line 1 column"),
            "{reason}"
        );
        let output = logs.contents();
        assert!(
            output.contains("LWA access token refresh failed"),
            "{output}"
        );
        assert!(output.contains("not a valid token answer"), "{output}");
        for text in [error.to_string(), format!("{error:?}"), output] {
            assert_no_secrets(&text);
            assert!(!text.contains("Atza"), "{text}");
        }
    }

    #[test]
    fn parse_errors_never_quote_the_body() {
        // serde's own message would quote the string: `invalid type: string "Atza|..."`.
        let body = format!(r#"{{"access_token":"x","expires_in":"{ACCESS_TOKEN}"}}"#);
        let error = parse_answer(200, body.as_bytes(), &[]).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("IwEBI"), "{error}");
        let empty = parse_answer(200, br#"{"access_token":"","expires_in":5}"#, &[]);
        assert_eq!(
            empty.unwrap_err(),
            AuthError::Malformed {
                status: 200,
                reason: "empty access_token".into()
            }
        );
        // A token that could not be sent as a header is refused where it
        // arrives (it used to fail every call that tried to send it).
        let unsendable = parse_answer(
            200,
            b"{\"access_token\":\"Atza|a\\nb\",\"expires_in\":5}",
            &[],
        );
        assert_eq!(
            unsendable.unwrap_err(),
            AuthError::Malformed {
                status: 200,
                reason: "access_token is not a valid header value".into()
            }
        );
        let (token, _) = parse_answer(200, br#"{"access_token":"Atza|ok","expires_in":5}"#, &[])
            .expect("a plain token");
        assert_eq!(token.expose(), "Atza|ok");
        assert!(token.header().is_sensitive());
        assert_eq!(token.header().as_bytes(), b"Atza|ok");
        // A 200 carrying an OAuth error is still that error.
        let oauth = parse_answer(200, br#"{"error":"invalid_grant"}"#, &[]);
        assert!(
            matches!(oauth, Err(AuthError::Lwa { status: 200, .. })),
            "{oauth:?}"
        );
    }

    /// Issue 11, finding 6: `SP_API_REFRESH_TOKEN=c` turned `amazon.com`
    /// into `amazon.***om`.
    #[test]
    fn short_secrets_are_scrubbed_only_as_whole_tokens() {
        let scrubber = Scrubber::new(vec!["c".into(), "Atzr|x".into()]);
        assert_eq!(
            scrubber.scrub("error sending request for url (https://api.amazon.com/auth/o2/token)"),
            "error sending request for url (https://api.amazon.com/auth/o2/token)"
        );
        assert_eq!(
            scrubber.scrub("bad token c; refresh_token=c&x, Atzr|x, Atzr|xy, \"c\""),
            "bad token ***; refresh_token=***&x, ***, Atzr|xy, \"***\""
        );
        // Long secrets are still found inside anything, raw or form-encoded.
        let long = Scrubber::new(vec![REFRESH_TOKEN.into()]);
        assert_eq!(
            long.scrub("x=Atzr%7CIwEBIREFRESHTOKEN0123456789y Atzr|IwEBIREFRESHTOKEN0123456789"),
            "x=***y ***"
        );
    }

    #[tokio::test]
    async fn a_redirect_from_lwa_is_an_error_and_the_target_receives_nothing() {
        let target = MockServer::start_async().await;
        let catch_all = target
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(token_body("Atza|stolen", 3600));
            })
            .await;
        let server = MockServer::start_async().await;
        let location = target.url(TOKEN_PATH);
        for status in [301, 302, 303, 307, 308] {
            let mock = server
                .mock_async(|when, then| {
                    token_request(when);
                    then.status(status).header("location", location.as_str());
                })
                .await;
            let http = http()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();

            let error = provider_with(&server, http)
                .access_token()
                .await
                .unwrap_err();

            assert_eq!(
                error,
                AuthError::Redirect {
                    status,
                    location: Some(location.clone())
                }
            );
            assert!(!error.is_transient());
            assert!(
                error
                    .to_string()
                    .contains(&format!("HTTP {status} redirect to")),
                "{error}"
            );
            mock.delete_async().await;
        }
        assert_eq!(
            catch_all.calls_async().await,
            0,
            "nothing reached the target"
        );
    }

    #[tokio::test]
    async fn a_redirect_followed_by_a_callers_http_client_is_detected_and_refused() {
        let target = MockServer::start_async().await;
        target
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(token_body("Atza|stolen", 3600));
            })
            .await;
        let location = target.url(TOKEN_PATH);
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(307).header("location", location.as_str());
            })
            .await;

        // reqwest's default policy follows the 307 (the documented hazard
        // of `ClientBuilder::http_client`); the answer is not used.
        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Redirect {
                status: 200,
                location: Some(location)
            }
        );
    }

    #[tokio::test]
    async fn an_lwa_answer_over_the_cap_is_refused_by_its_content_length() {
        let server = MockServer::start_async().await;
        let page = "x".repeat(LWA_BODY_CAP + 1);
        mock_answer(&server, 500, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::TooLarge {
                status: 500,
                cap: LWA_BODY_CAP,
                content_length: Some(LWA_BODY_CAP as u64 + 1)
            }
        );
        assert!(
            error.to_string().contains("65536-byte LWA body cap"),
            "{error}"
        );
        // At the cap exactly, the answer is read (and reported as unexpected).
        let server = MockServer::start_async().await;
        mock_answer(&server, 500, &"x".repeat(LWA_BODY_CAP)).await;
        let error = provider(&server).access_token().await.unwrap_err();
        assert!(
            matches!(error, AuthError::Unexpected { status: 500, .. }),
            "{error:?}"
        );
    }

    /// Issue 11, finding 4: one hung LWA connection held every caller
    /// waiting on the shared refresh for as long as the HTTP client let it.
    /// Issue 20 item 6: a refresh task that ends without an outcome (here
    /// its runtime shuts down; under `aws-lc-rs` + `redis` it used to be a
    /// panic) gives its waiters a transient error, for the call's backoff,
    /// rather than starting another refresh at once (a spin when every
    /// refresh ends that way).
    #[test]
    fn a_refresh_that_ends_without_an_outcome_is_a_transient_error() {
        let server = MockServer::start();
        server.mock(|when, then| {
            token_request(when);
            then.status(200)
                .json_body(token_body(ACCESS_TOKEN, 3600))
                .delay(Duration::from_secs(10));
        });
        let provider = provider(&server);
        let doomed = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let waiting = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // The refresh starts on `doomed`; a caller on `waiting` waits for it.
        doomed.block_on(async {
            let started = tokio::time::timeout(Duration::from_millis(50), provider.access_token());
            assert!(started.await.is_err(), "the refresh hangs");
        });
        let waiter = {
            let provider = provider.clone();
            waiting.spawn(async move { provider.access_token().await })
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(doomed);
        let outcome = waiting
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), waiter).await })
            .expect("the waiter ends")
            .unwrap();
        let error = outcome.unwrap_err();
        assert!(
            matches!(error, AuthError::Transport { timeout: false, .. }),
            "{error:?}"
        );
        assert!(error.is_transient());
        assert_eq!(
            provider.requests_sent(),
            1,
            "no refresh started again at once"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_refresh_ends_at_the_providers_own_timeout_for_every_waiter() {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(200)
                    .json_body(token_body(ACCESS_TOKEN, 3600))
                    .delay(Duration::from_secs(5));
            })
            .await;
        // No timeout on the HTTP client at all.
        let provider = provider(&server).with_timeout(Duration::from_millis(200));
        let started = Instant::now();

        let mut callers = JoinSet::new();
        for _ in 0..5 {
            let provider = provider.clone();
            callers.spawn(async move { provider.access_token().await });
        }
        let results = callers.join_all().await;

        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        for result in results {
            let error = result.unwrap_err();
            assert!(
                matches!(error, AuthError::Transport { timeout: true, .. }),
                "{error:?}"
            );
            assert!(error.is_transient());
        }
        assert_eq!(provider.requests_sent(), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}{TOKEN_PATH}")
            .parse()
            .unwrap();
        let provider = TokenProvider::new(credentials(), url, http().build().unwrap());

        let error = provider.access_token().await.unwrap_err();

        let AuthError::Transport { message, timeout } = &error else {
            panic!("expected Transport, got {error:?}");
        };
        assert!(!timeout);
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(error.to_string().starts_with("LWA token request failed: "));
        assert_eq!(provider.requests_sent(), 1);
    }

    /// Issue 20 item 5: a password in the token URL (a proxy's) is never
    /// shown, in errors, logs or `Debug`.
    #[tokio::test]
    async fn a_password_in_the_token_url_never_shows() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://proxy:hunter2pass@127.0.0.1:{port}{TOKEN_PATH}")
            .parse()
            .unwrap();
        let provider = TokenProvider::new(credentials(), url, http().build().unwrap());
        assert!(
            format!("{provider:?}").contains(&format!(
                "token_url: \"http://proxy:***@127.0.0.1:{port}{TOKEN_PATH}\""
            )),
            "{provider:?}"
        );
        let error = provider.access_token().await.unwrap_err();
        let AuthError::Transport { message, .. } = &error else {
            panic!("expected Transport, got {error:?}");
        };
        assert!(!message.contains("hunter2pass"), "{message}");
        // reqwest sends the user info as Basic auth and leaves it out of the
        // URL its errors quote; the scrubber would hide it otherwise.
        assert!(
            message.contains(&format!("http://127.0.0.1:{port}{TOKEN_PATH}")),
            "{message}"
        );
    }

    #[tokio::test]
    async fn slow_answer_past_the_client_timeout_is_a_transport_timeout() {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(200)
                    .json_body(token_body(ACCESS_TOKEN, 3600))
                    .delay(Duration::from_millis(500));
            })
            .await;
        let http = http().timeout(Duration::from_millis(50)).build().unwrap();

        let error = provider_with(&server, http)
            .access_token()
            .await
            .unwrap_err();

        assert!(
            matches!(error, AuthError::Transport { timeout: true, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("timed out"), "{error}");
    }

    #[tokio::test]
    async fn invalidating_the_cached_token_fetches_a_new_one() {
        let server = MockServer::start_async().await;
        let first = mock_token(&server, "Atza|first", 3600).await;
        let provider = provider(&server);
        let old = provider.access_token().await.unwrap();
        assert_eq!(old.expose(), "Atza|first");
        first.delete_async().await;
        let second = mock_token(&server, "Atza|second", 3600).await;

        provider.invalidate(&old);
        let new = provider.access_token().await.unwrap();

        assert_eq!(new.expose(), "Atza|second");
        assert_eq!(second.calls_async().await, 1);
        assert_eq!(provider.requests_sent(), 2);
    }

    #[tokio::test]
    async fn invalidating_an_old_token_keeps_the_newer_cached_one() {
        let server = MockServer::start_async().await;
        let first = mock_token(&server, "Atza|first", 3600).await;
        let provider = provider(&server);
        let old = provider.access_token().await.unwrap();
        first.delete_async().await;
        mock_token(&server, "Atza|second", 3600).await;
        provider.invalidate(&old);
        let new = provider.access_token().await.unwrap();

        provider.invalidate(&old);

        assert_eq!(provider.access_token().await.unwrap(), new);
        assert_eq!(provider.requests_sent(), 2, "the newer token stayed cached");
    }

    #[test]
    fn secrets_and_tokens_are_redacted_in_debug_and_display() {
        let credentials = credentials();
        let debug = format!("{credentials:?}");
        assert!(debug.contains(CLIENT_ID), "{debug}");
        assert_eq!(
            debug,
            format!(
                "LwaCredentials {{ client_id: {CLIENT_ID:?}, client_secret: Secret(***), refresh_token: Secret(***) }}"
            )
        );
        assert_eq!(credentials.client_secret.to_string(), "***");
        assert_eq!(
            format!("{:?}", AccessToken::new(ACCESS_TOKEN.into()).unwrap()),
            "AccessToken(***)"
        );
        assert_eq!(Secret::from(String::from("x")), Secret::new("x"));
        assert_eq!(credentials.refresh_token.expose(), REFRESH_TOKEN);
    }

    #[tokio::test]
    async fn provider_debug_shows_state_but_no_secrets() {
        let server = MockServer::start_async().await;
        mock_token(&server, ACCESS_TOKEN, 3600).await;
        let provider = provider(&server);
        let cold = format!("{provider:?}");
        assert!(
            cold.contains(CLIENT_ID) && cold.contains(TOKEN_PATH),
            "{cold}"
        );
        assert!(cold.contains("token_cached: false"), "{cold}");

        let token = provider.access_token().await.unwrap();

        let warm = format!("{provider:?}");
        assert!(warm.contains("token_cached: true"), "{warm}");
        assert_no_secrets(&warm);
        assert_no_secrets(&format!("{token:?}"));
    }

    #[tokio::test]
    async fn secrets_echoed_by_lwa_are_scrubbed_from_errors() {
        let server = MockServer::start_async().await;
        let echo = invalid_grant_body(&format!("Unknown refresh_token {REFRESH_TOKEN}"));
        mock_answer(&server, 400, &echo).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let expected_description = "Unknown refresh_token ***".to_string();
        let AuthError::Lwa {
            error_description, ..
        } = &error
        else {
            panic!("expected Lwa, got {error:?}");
        };
        assert_eq!(error_description.as_ref(), Some(&expected_description));
        assert_no_secrets(&error.to_string());
        assert_no_secrets(&format!("{error:?}"));
    }

    #[tokio::test]
    async fn form_encoded_echo_in_an_unexpected_body_is_scrubbed_before_truncation() {
        let server = MockServer::start_async().await;
        let padding = "x".repeat(200);
        let page = format!(
            "{padding} grant_type=refresh_token&refresh_token=Atzr%7CIwEBIREFRESHTOKEN0123456789&client_secret={CLIENT_SECRET}"
        );
        mock_answer(&server, 500, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let AuthError::Unexpected {
            status: 500,
            body_prefix,
        } = &error
        else {
            panic!("expected Unexpected 500, got {error:?}");
        };
        // The echoed refresh token starts at byte 240: truncating first would leak its head.
        assert_eq!(
            body_prefix,
            &format!("{padding} grant_type=refresh_token&refresh_token=***&client_secre")
        );
        let full = Scrubber::new(vec![CLIENT_SECRET.into(), REFRESH_TOKEN.into()]).scrub(&page);
        assert_eq!(
            full,
            format!("{padding} grant_type=refresh_token&refresh_token=***&client_secret=***")
        );
        assert_no_secrets(&format!("{error:?} {error}"));
    }

    /// A `tracing` writer that keeps everything in memory.
    #[derive(Clone, Default)]
    struct LogBuffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl LogBuffer {
        fn contents(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl LogBuffer {
        fn clear(&self) {
            self.0.lock().unwrap().clear();
        }
    }

    /// One successful refresh and one that fails with LWA echoing the secrets back.
    async fn refresh_then_fail() -> AuthError {
        let ok_server = MockServer::start_async().await;
        mock_token(&ok_server, ACCESS_TOKEN, 3600).await;
        let token = provider(&ok_server).access_token().await.unwrap();
        assert_eq!(token.expose(), ACCESS_TOKEN);
        let failing_server = MockServer::start_async().await;
        let echo = invalid_grant_body(&format!("bad token {REFRESH_TOKEN} for {CLIENT_SECRET}"));
        mock_answer(&failing_server, 400, &echo).await;
        provider(&failing_server).access_token().await.unwrap_err()
    }

    // Current-thread runtime: the spawned refresh task logs on this thread's subscriber.
    #[tokio::test]
    async fn tracing_output_reports_refreshes_and_failures_without_secrets() {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer({
                let logs = logs.clone();
                move || logs.clone()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // tracing caches callsite interest process-wide: a parallel test without a subscriber
        // can register our callsites as "never". Warm every callsite, re-evaluate them against
        // this thread's subscriber, then capture a clean run.
        refresh_then_fail().await;
        tracing::callsite::rebuild_interest_cache();
        logs.clear();

        let error = refresh_then_fail().await;

        let output = logs.contents();
        assert!(output.contains("requesting LWA access token"), "{output}");
        assert!(
            output.contains("LWA access token refreshed expires_in=3600"),
            "{output}"
        );
        assert!(
            output.contains("LWA access token refresh failed"),
            "{output}"
        );
        assert!(output.contains(&error.to_string()), "{output}");
        assert!(output.contains("bad token *** for ***"), "{output}");
        assert_no_secrets(&output);
    }
}
