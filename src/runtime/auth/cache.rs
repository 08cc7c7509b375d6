//! The token cache: [`TokenProvider`] keeps the current token, hands it out
//! while it is fresh (a synchronous look-up, no future), asks its
//! [`TokenSource`] for a new one with at most one refresh in flight, forgets
//! a token Amazon refused, and holds a seller's revoked-refresh-token breaker.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::lwa::Lwa;
use super::source::{CachedToken, TokenSource};
use super::{AccessToken, AuthError, LwaCredentials};

/// How long before `expires_in` runs out a cached token is replaced, unless configured.
const DEFAULT_REFRESH_BUFFER: Duration = Duration::from_secs(60);
/// The longest breaker interval (a `Duration::MAX` interval saturates here).
const MAX_BREAKER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
/// Default bound on one token refresh, connection to last byte; see
/// [`TokenProvider::with_timeout`].
const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// Where new tokens come from: LWA, or the fleet's share in Redis.
    source: TokenSource,
    state: Mutex<State>,
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

impl TokenProvider {
    /// A provider for `credentials` that asks `token_url` (usually
    /// [`LWA_TOKEN_URL`](super::LWA_TOKEN_URL))
    /// through `http`, whose timeouts apply to token requests.
    pub fn new(
        credentials: LwaCredentials,
        token_url: reqwest::Url,
        http: reqwest::Client,
    ) -> Self {
        let inner = Inner {
            source: TokenSource::Lwa(Lwa::new(credentials, token_url, http)),
            state: Mutex::new(State::default()),
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

    /// Shares the token with every process using the same Redis: the
    /// source becomes [`TokenSource::Shared`], around the same LWA exchange.
    /// Called on a new provider, before it is cloned (`ClientBuilder::build`);
    /// a provider already cloned, or already shared, is returned unchanged.
    #[cfg(feature = "redis")]
    pub(crate) fn with_shared(self, shared: crate::shared::Shared) -> Self {
        let Self {
            inner,
            refresh_buffer,
            timeout,
        } = self;
        let inner = match Arc::try_unwrap(inner) {
            Ok(inner) => Arc::new(Inner {
                source: inner.source.shared(shared),
                ..inner
            }),
            Err(inner) => inner,
        };
        Self {
            inner,
            refresh_buffer,
            timeout,
        }
    }

    /// Token requests wait for one of `slots` (an [`App`](crate::App)'s,
    /// shared by its sellers) and hold it until LWA's answer is read.
    /// Called on a new provider, before it is cloned; unchanged otherwise.
    pub(crate) fn with_slots(mut self, slots: Arc<crate::runtime::dial::Dials>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.source.lwa_mut().slots = Some(slots);
        }
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
        self.inner.source.invalidate(token);
    }

    /// How many token requests have been sent (for the unit tests).
    #[cfg(test)]
    pub(crate) fn requests_sent(&self) -> u64 {
        self.inner.source.lwa().requests_sent()
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
            .field("client_id", &self.inner.source.lwa().client_id())
            .field(
                "token_url",
                &crate::config::redact_url(self.inner.source.lwa().token_url().as_str()),
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

    /// Asks the source for one token, caches a success, then publishes the
    /// outcome to every waiter.
    async fn refresh(
        self: Arc<Self>,
        sender: watch::Sender<Outcome>,
        timeout: Duration,
        buffer: Duration,
    ) {
        let fetched = self.source.token(timeout, buffer).await;
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use httpmock::MockServer;
    use tokio::task::JoinSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cold_cache_100_concurrent_callers_share_one_request() {
        let server = MockServer::start_async().await;
        let mock = mock_slow_token(&server, Duration::from_millis(100)).await;
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
        let mock = mock_slow_token(&server, Duration::from_millis(200)).await;
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
        mock_slow_token(&server, Duration::from_secs(5)).await;
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
        let (logs, _guard) = capture_logs();
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
