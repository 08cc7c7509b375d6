//! Client-side pacing with one token bucket per operation, mirroring the
//! usage plans Amazon enforces, so a steady stream of calls does not
//! provoke `429 Too Many Requests`.
//!
//! The client's bucket must never run ahead of Amazon's. Amazon's bucket
//! starts refilling when the first request of a burst *arrives*, which is
//! later than the client sends it (connection set-up, latency). So after a
//! full bucket starts to drain, refill is counted only from the first
//! answer to a request of that burst (`RateLimiter::answered`); until then,
//! callers that find the bucket empty wait for that answer (at most
//! `ANCHOR_FALLBACK`). That costs one round trip of refill per burst and
//! keeps every later request behind Amazon's schedule, whatever the jitter
//! of individual requests.
//!
//! Why hand-written rather than a crate such as `governor`: `governor` fixes
//! a quota when the limiter is built, so following Amazon's
//! `x-amzn-RateLimit-Limit` header at run time would mean replacing the
//! limiter and losing its state (tokens left, queued callers); and it runs on
//! its own clock rather than tokio's, which tests pause and advance. The
//! algorithm is small: a reservation per call, taken under a mutex, then a
//! `sleep_until` outside it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::operations::Operation;

#[cfg(feature = "redis")]
mod fleet;

/// Rounding slack, in tokens, so float error never costs a nanosecond wait.
const EPSILON: f64 = 1e-9;

/// How long callers wait for the first answer of a burst before counting
/// refill anyway (the first request was cancelled, or is very slow). Any
/// request that reached Amazon within this time keeps the client behind it.
pub(crate) const ANCHOR_FALLBACK: Duration = Duration::from_secs(1);

/// Lowest rate, in requests per second, taken from `x-amzn-RateLimit-Limit`:
/// a garbled or hostile header (`1e-6`, `1e-300`) would otherwise park every
/// call of the operation for days. 0.5/s is the minimum fill rate smithy-rs'
/// client rate limiter keeps for the same reason (`MIN_FILL_RATE` in
/// aws-smithy-runtime's `client_rate_limiter.rs`); it is a tenth of the
/// slowest Shipping v2 plan (`linkCarrierAccountPost`, 5/s), so any real
/// per-seller limit Amazon reports is still followed. A slot is then at
/// most 2 s apart, and [`RateLimitSettings::max_wait`] bounds a queue.
pub const MIN_REPORTED_RATE: f64 = 0.5;

/// Highest reported rate taken, as a multiple of the operation's usage plan:
/// `1e9` would otherwise turn pacing off. Amazon raising a seller's limit
/// past ten times the plan would be paced at ten times the plan.
pub const MAX_REPORTED_RATE_FACTOR: f64 = 10.0;

/// Longest interval one reservation adds to the bucket, whatever the rate:
/// keeps every float-to-`Duration` conversion and `Instant` sum finite.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Default [`RateLimitSettings::max_wait`]: the default retry budget
/// (`RetryPolicy::max_elapsed`).
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

/// How the client limits its own request rate.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RateLimitSettings {
    /// Whether to pace calls at all; off leaves throttling to Amazon's 429s.
    pub enabled: bool,
    /// Fraction, in (0, 1], of Amazon's usage plan to use, scaling both the
    /// rate and the burst: headroom for other clients sharing the same
    /// selling-partner quota.
    pub safety_factor: f64,
    /// Longest one call waits for its slot (default 60 s). The wait is
    /// capped, not failed: past it the call is sent anyway and Amazon's
    /// answer decides (a 429 is retried within the retry budget), so the
    /// client's own estimate never fails a call, and a deep queue of
    /// callers or a stuck burst cannot hold one for longer than this.
    /// `Duration::MAX`: no cap (every call waits for its slot).
    pub max_wait: Duration,
}

impl Default for RateLimitSettings {
    /// Enabled, at exactly Amazon's usage plan (safety factor 1.0).
    fn default() -> Self {
        Self {
            enabled: true,
            safety_factor: 1.0,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl RateLimitSettings {
    /// No client-side pacing: every call goes straight out.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Uses only `factor` of each usage plan: both the rate and the burst
    /// are multiplied by it (the burst stays at least one token).
    ///
    /// `factor` must be in (0, 1]: a larger one would provoke 429s, and zero
    /// or less would never send. `ClientBuilder::build` refuses any other
    /// value with a configuration error naming `rate_limit.safety_factor`.
    pub fn with_safety_factor(self, factor: f64) -> Self {
        Self {
            safety_factor: factor,
            ..self
        }
    }

    /// Caps each call's wait for its slot at `max_wait`; see the field.
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        Self { max_wait, ..self }
    }
}

/// One operation's bucket. Debt is kept as time rather than negative
/// tokens: `tokens` is the count at instant `at`, and `at` lies in the
/// future exactly when calls hold reservations (then `tokens` is 0 and `at`
/// is the last reservation's release instant).
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    /// When the current burst started draining a full bucket, while no
    /// answer to it has come back; refill is not counted meanwhile.
    unanchored_since: Option<Instant>,
    /// Wakes callers waiting for that answer.
    anchored: Arc<Notify>,
    /// The part of the plan this process may use: 1, or while a shared
    /// (Redis) fleet falls back to local buckets, one over the fleet's size.
    share: f64,
    /// The Redis outage this bucket was last seeded for (feature `redis`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    outage: u64,
    /// How long a burst waits for its first answer before refill counts
    /// anyway ([`ANCHOR_FALLBACK`]; the test vectors use their own).
    fallback: Duration,
}

/// When a caller may send.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// A token was there.
    Now,
    /// Reserved for this instant.
    At(Instant),
    /// The bucket is empty and refill is not yet counted: wait for the
    /// first answer of the burst that started at this instant.
    AfterAnswer(Instant),
}

/// What a bucket tells a caller asking for a slot. Only
/// [`RateLimiter::acquire_until`] sleeps on it.
#[derive(Debug)]
pub(crate) enum Wait {
    /// Send now.
    Go,
    /// A slot is reserved at this instant: send then.
    Reserved(Instant),
    /// No slot to give yet (a burst waits for its first answer): ask again
    /// at `until`, or when `wake` fires first.
    AskAgain {
        until: Instant,
        wake: Option<tokio::sync::futures::OwnedNotified>,
    },
}

impl Bucket {
    /// A full bucket for `op`, scaled by the safety factor.
    fn full(op: &Operation, factor: f64, now: Instant) -> Self {
        let burst = (op.burst * factor).max(1.0);
        Self {
            rate: op.rate * factor,
            burst,
            tokens: burst,
            at: now,
            unanchored_since: None,
            anchored: Arc::default(),
            share: 1.0,
            outage: 0,
            fallback: ANCHOR_FALLBACK,
        }
    }

    /// The refill rate and size this process may use.
    fn rate_here(&self) -> f64 {
        self.rate * self.share
    }

    fn burst_here(&self) -> f64 {
        (self.burst * self.share).max(1.0)
    }

    /// Starts local pacing after the shared buckets became unreachable:
    /// empty (the fleet may just have drained Amazon's bucket, so no burst
    /// of its own) and at `share` of the plan.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn fall_back(&mut self, share: f64, outage: u64, now: Instant) {
        self.share = share.clamp(f64::MIN_POSITIVE, 1.0);
        self.outage = outage;
        self.tokens = 0.0;
        self.at = self.at.max(now);
        if self.unanchored_since.take().is_some() {
            self.anchored.notify_waiters();
        }
    }

    /// Refills up to `now` at the current rate; no-op while reserved ahead
    /// or while the current burst has had no answer (until its fallback
    /// time, from which refill counts anyway, as in the `ACQUIRE` script).
    fn settle(&mut self, now: Instant) {
        if let Some(since) = self.unanchored_since {
            let fallback = since + self.fallback;
            if now >= fallback {
                self.anchor(since, fallback);
            }
        }
        if self.unanchored_since.is_none() && now > self.at {
            let refill = (now - self.at).as_secs_f64() * self.rate_here();
            self.tokens = (self.tokens + refill).min(self.burst_here());
            self.at = now;
        }
    }

    /// Takes one token if there is one; else reserves the instant one
    /// refill interval after the last reservation, so callers are released
    /// in the order they reserved; or, before the burst's first answer,
    /// tells the caller to wait for it. Taking from a full bucket starts a
    /// burst.
    fn reserve(&mut self, now: Instant) -> Slot {
        self.settle(now);
        if self.tokens >= 1.0 - EPSILON {
            if self.unanchored_since.is_none() && self.tokens >= self.burst_here() - EPSILON {
                self.unanchored_since = Some(now);
            }
            self.tokens = (self.tokens - 1.0).max(0.0);
            return Slot::Now;
        }
        if let Some(since) = self.unanchored_since {
            return Slot::AfterAnswer(since);
        }
        let missing = 1.0 - self.tokens;
        // Never panics: a rate so small (or so odd) that the interval is not
        // a representable `Duration` counts as the longest interval.
        let interval = Duration::try_from_secs_f64(missing / self.rate_here())
            .unwrap_or(MAX_INTERVAL)
            .min(MAX_INTERVAL);
        self.at = self.at.checked_add(interval).unwrap_or(self.at);
        self.tokens = 0.0;
        Slot::At(self.at)
    }

    /// [`reserve`](Self::reserve), told as a [`Wait`]: a caller waiting for
    /// the burst's answer is woken by it, or asks again at the fallback.
    fn ask(&mut self, now: Instant) -> Wait {
        match self.reserve(now) {
            Slot::Now => Wait::Go,
            Slot::At(at) => Wait::Reserved(at),
            Slot::AfterAnswer(since) => Wait::AskAgain {
                until: since + self.fallback,
                // Made under the lock: an answer right after it still wakes.
                wake: Some(Arc::clone(&self.anchored).notified_owned()),
            },
        }
    }

    /// Counts refill from `now` on, if the burst that started at `since`
    /// is still waiting for its first answer.
    fn anchor(&mut self, since: Instant, now: Instant) -> bool {
        if self.unanchored_since != Some(since) {
            return false;
        }
        self.unanchored_since = None;
        // No reservation is outstanding while unanchored, so `at` is past.
        self.at = self.at.max(now);
        self.anchored.notify_waiters();
        true
    }

    /// Switches the refill rate, first settling at the old one so no state
    /// is lost. Reservations already handed out keep their instants; new
    /// ones are spaced at the new rate after the last of them.
    fn set_rate(&mut self, rate: f64, now: Instant) {
        self.settle(now);
        self.rate = rate;
    }
}

/// Takes a token or a reservation from a shared bucket. The same algorithm
/// as [`Bucket`] beside it, in microseconds of the Redis server's clock (so
/// the fleet's clocks need not agree). Numbers are written with `%.17g`:
/// Redis would format a Lua number with 14 digits, losing microseconds.
///
/// KEYS[1] bucket, KEYS[2] the fleet's members; ARGV rate (per second,
/// used when the bucket has none stored), burst, anchor fallback (µs),
/// known (1: this process used the bucket lately, so a missing one was lost
/// and is recreated empty rather than full), member (this process), fleet
/// window (µs), and for the test vectors only, the time (µs; else the
/// server's clock). Returns {kind, wait µs, since, fleet}: kind 0 = a token was
/// there, 1 = wait for the burst's first answer (`since` names the burst),
/// 2 = reserved `wait` µs from now; `since` is also returned with kind 0
/// while the burst is unanswered (0 otherwise); `fleet` = processes that
/// acquired within the window.
#[cfg(feature = "redis")]
pub(crate) const ACQUIRE: &str = r"
local now = tonumber(ARGV[7])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local burst = tonumber(ARGV[2])
local fallback = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'rate', 'since')
local tokens, at, rate, since = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
if rate == nil or rate <= 0 then rate = tonumber(ARGV[1]) end
if tokens == nil or at == nil then
  if ARGV[4] == '1' then tokens = 0 else tokens = burst end
  at = now; since = nil
end
if tokens > burst then tokens = burst end
if since ~= nil and now >= since + fallback then
  if since + fallback > at then at = since + fallback end
  since = nil
end
if since == nil and now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
  at = now
end
local kind, wait, reply = 0, 0, 0
if tokens >= 1 - 1e-9 then
  if since == nil and tokens >= burst - 1e-9 then since = now end
  tokens = math.max(tokens - 1, 0)
  if since ~= nil then reply = since end
elseif since ~= nil then
  kind = 1
  wait = since + fallback - now
  reply = since
else
  at = at + math.min((1 - tokens) / rate * 1000000, 3600000000)
  tokens = 0
  kind = 2
  wait = at - now
end
local f = '%.17g'
redis.call('HSET', KEYS[1], 'tokens', string.format(f, tokens), 'at', string.format(f, at),
  'rate', string.format(f, rate))
if since ~= nil then
  redis.call('HSET', KEYS[1], 'since', string.format(f, since))
else
  redis.call('HDEL', KEYS[1], 'since')
end
local idle = math.max(at - now, 0) + burst / rate * 1000000
redis.call('PEXPIRE', KEYS[1], math.ceil(idle / 1000) + 60000)
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[6]))
redis.call('PEXPIRE', KEYS[2], 60000)
return {kind, math.floor(wait), math.floor(reply), redis.call('ZCARD', KEYS[2])}
";

/// The first answer to the burst `since` (ARGV[1]) came back: count refill
/// from now (ARGV[2] for the test vectors, else the server's clock).
/// Another burst's answer changes nothing. Returns 1 if anchored.
#[cfg(feature = "redis")]
pub(crate) const ANCHOR: &str = r"
local s = redis.call('HMGET', KEYS[1], 'since', 'at')
if s[1] == false or tonumber(s[1]) ~= tonumber(ARGV[1]) then return 0 end
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local at = tonumber(s[2]) or now
if now > at then at = now end
redis.call('HSET', KEYS[1], 'at', string.format('%.17g', at))
redis.call('HDEL', KEYS[1], 'since')
return 1
";

/// Sets the bucket's rate (ARGV[1], per second), first settling the tokens
/// earned at the old rate, like `Bucket::set_rate`.
#[cfg(feature = "redis")]
pub(crate) const SET_RATE: &str = r"
local rate = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'rate', 'since')
local tokens, at, old = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local f = '%.17g'
if tokens ~= nil and at ~= nil and old ~= nil and s[4] == false then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if now > at then
    tokens = math.min(tonumber(ARGV[2]), tokens + (now - at) * old / 1000000)
    redis.call('HSET', KEYS[1], 'tokens', string.format(f, tokens), 'at', string.format(f, now))
  end
end
redis.call('HSET', KEYS[1], 'rate', string.format(f, rate))
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], 120000) end
return 1
";

/// One token bucket per operation, shared by every clone (`Arc` inside), so
/// all clones of a client draw on the same quota. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    /// One slot per operation, by `Operation::index` (an index, not a
    /// hash look-up, on every call).
    buckets: Arc<Mutex<Vec<Option<Bucket>>>>,
    /// The fleet's buckets in Redis (feature `redis`); the local ones serve
    /// while it is unreachable.
    #[cfg(feature = "redis")]
    shared: Option<fleet::FleetBuckets>,
}

impl RateLimiter {
    /// A limiter whose buckets are created on first use of each operation,
    /// full, from the operation's usage plan times the safety factor.
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            settings,
            buckets: Arc::new(Mutex::new(
                crate::operations::OPERATIONS.iter().map(|_| None).collect(),
            )),
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// Paces through buckets in Redis shared with other processes.
    #[cfg(feature = "redis")]
    pub(crate) fn with_shared(mut self, shared: crate::shared::Shared) -> Self {
        self.shared = Some(fleet::FleetBuckets::new(shared));
        self
    }

    /// Whether calls are paced by buckets in Redis right now (feature
    /// `redis`): false without Redis, and while it is unreachable (the
    /// process then paces with its own buckets).
    #[cfg(feature = "redis")]
    pub fn is_shared(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|fleet| fleet.shared().is_up())
    }

    /// How many times Redis became unreachable for this client (feature
    /// `redis`; for metrics and tests).
    #[cfg(feature = "redis")]
    pub fn redis_outages(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |fleet| fleet.shared().outages())
    }

    /// [`acquire_until`](Self::acquire_until) without a bound (tests).
    #[cfg(test)]
    pub(crate) async fn acquire(&self, op: &'static Operation) -> Duration {
        self.acquire_until(op, None).await.unwrap_or_default()
    }

    /// Waits until `op` may send, or [`RateLimitSettings::max_wait`] at
    /// most; returns how long it waited (`Duration::ZERO` when a token was
    /// there, or when disabled). The wait is cut at `bound` (the call's
    /// deadline): `None` when it would pass it, after waiting until it. A
    /// token there now costs no timer.
    ///
    /// The one place the limiter sleeps: the buckets (local, and the
    /// fleet's in Redis) only answer with a [`Wait`]; this loop obeys.
    ///
    /// Callers are served in the order they call this. If the returned
    /// future is dropped while waiting (a cancelled call), or cut at
    /// `bound`, its reservation is not given back: the bucket stays one
    /// token short, so later callers wait at most one extra refill
    /// interval. That errs on the safe side, since Amazon's own bucket kept
    /// the token.
    pub(crate) async fn acquire_until(
        &self,
        op: &'static Operation,
        bound: Option<Instant>,
    ) -> Option<Duration> {
        if !self.settings.enabled {
            return Some(Duration::ZERO);
        }
        let start = Instant::now();
        let deadline = super::time::after(start, self.settings.max_wait);
        // `max_wait` ends a wait by sending early; the call's deadline, when
        // it comes first, by giving up.
        let cut = bound.filter(|b| *b < deadline);
        // With the fleet's buckets: whether this call polls Redis for a
        // burst's answer on behalf of the process.
        #[cfg(feature = "redis")]
        let mut lead = None;
        let mut now = start;
        loop {
            // This process's bucket is asked without a future: the common
            // case costs no more than before the fleet's asks (issue 12).
            #[cfg(feature = "redis")]
            let wait = match &self.shared {
                // Boxed: the Redis round trip's future is large, and would
                // otherwise grow every call's future, with Redis or not.
                Some(fleet) => Box::pin(self.ask_fleet(fleet, op, cut, &mut lead)).await,
                None => self.with_bucket(op, now, |bucket| bucket.ask(now)),
            };
            #[cfg(not(feature = "redis"))]
            let wait = self.with_bucket(op, now, |bucket| bucket.ask(now));
            match wait {
                Wait::Go if now == start => return Some(Duration::ZERO),
                Wait::Go => return Some(start.elapsed()),
                Wait::Reserved(ready) => {
                    let wait_ms = ready.saturating_duration_since(now).as_secs_f64() * 1000.0;
                    tracing::debug!(
                        operation = op.id,
                        wait_ms,
                        "rate limit: waiting for a token"
                    );
                    if let Some(cut) = cut
                        && ready > cut
                    {
                        tokio::time::sleep_until(cut).await;
                        return None;
                    }
                    if ready > deadline {
                        tracing::warn!(
                            operation = op.id,
                            wait_ms,
                            max_wait_ms = self.settings.max_wait.as_millis() as u64,
                            "rate limit: wait capped at max_wait; sending early"
                        );
                    }
                    tokio::time::sleep_until(ready.min(deadline)).await;
                    return Some(start.elapsed());
                }
                Wait::AskAgain { until, wake } => {
                    tracing::debug!(
                        operation = op.id,
                        "rate limit: waiting for the burst's first answer"
                    );
                    let until = until.min(deadline).min(cut.unwrap_or(deadline));
                    match wake {
                        Some(wake) => {
                            let _ = tokio::time::timeout_at(until, wake).await;
                        }
                        None => tokio::time::sleep_until(until).await,
                    }
                    now = Instant::now();
                    if cut.is_some_and(|cut| now >= cut) {
                        return None;
                    }
                    if now >= deadline {
                        return Some(start.elapsed());
                    }
                }
            }
        }
    }

    /// What `op`'s bucket in Redis says now (within `cut`), or while Redis
    /// is away, this process's own. Never sleeps.
    #[cfg(feature = "redis")]
    async fn ask_fleet(
        &self,
        fleet: &fleet::FleetBuckets,
        op: &'static Operation,
        cut: Option<Instant>,
        lead: &mut Option<fleet::Lead>,
    ) -> Wait {
        {
            let (rate, burst) = self.plan(op);
            let asked = fleet.ask(op, rate, burst, lead);
            let asked = match cut {
                Some(cut) => match tokio::time::timeout_at(cut, asked).await {
                    Ok(asked) => asked,
                    // Past the call's deadline: the loop gives up.
                    Err(_) => {
                        return Wait::AskAgain {
                            until: cut,
                            wake: None,
                        };
                    }
                },
                None => asked.await,
            };
            if let Some(wait) = asked {
                return wait;
            }
        }
        // Redis is away: local pacing, seeded once per outage.
        let outage = fleet.shared().outages();
        let now = Instant::now();
        self.with_bucket(op, now, |bucket| {
            if bucket.outage != outage {
                bucket.fall_back(fleet.share(), outage, now);
            }
            bucket.ask(now)
        })
    }

    /// A request for `op` that took its slot at `sent_at` (the instant
    /// [`acquire_until`](Self::acquire_until) returned) was answered or failed. The
    /// first answer to a burst starts counting refill; see the module docs.
    pub(crate) fn answered(&self, op: &'static Operation, sent_at: Instant) {
        if !self.settings.enabled {
            return;
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            shared.answered(op, sent_at);
        }
        let now = Instant::now();
        self.with_bucket(op, now, |bucket| match bucket.unanchored_since {
            Some(since) if sent_at >= since => bucket.anchor(since, now),
            _ => false,
        });
    }

    /// Sets this operation's rate (requests per second, e.g. "80.0" or
    /// "0.5"), as Amazon reports it per seller, taken as given: the runtime
    /// clamps what the header says first
    /// ([`observe_reported_rate`](Self::observe_reported_rate)). The bucket's refill rate follows it (times
    /// the safety factor) from now on, keeping its current tokens; callers
    /// already waiting keep their reserved instants and order, and new
    /// callers are paced at the new rate after them. The burst stays as
    /// configured. Non-finite or non-positive values are ignored.
    pub fn observe_rate(&self, op: &'static Operation, rate_per_second: f64) {
        let rate = rate_per_second * self.settings.safety_factor;
        if !rate.is_finite() || rate <= 0.0 {
            return;
        }
        let now = Instant::now();
        let (old, _burst) = self.with_bucket(op, now, |bucket| {
            let old = bucket.rate;
            if old != rate {
                bucket.set_rate(rate, now);
            }
            (old, bucket.burst)
        });
        if old != rate {
            #[cfg(feature = "redis")]
            if let Some(shared) = &self.shared {
                shared.observe_rate(op, rate, _burst);
            }
            tracing::debug!(
                operation = op.id,
                old,
                new = rate,
                "rate limit: rate changed"
            );
        }
    }

    /// A rate from Amazon's `x-amzn-RateLimit-Limit` header for `op`:
    /// clamped to [[`MIN_REPORTED_RATE`], plan × [`MAX_REPORTED_RATE_FACTOR`]],
    /// then applied like [`observe_rate`](Self::observe_rate) (non-finite or
    /// non-positive values are ignored). The runtime calls this for every
    /// answer; `observe_rate` is for a rate the caller knows to be right.
    pub fn observe_reported_rate(&self, op: &'static Operation, rate_per_second: f64) {
        if !rate_per_second.is_finite() || rate_per_second <= 0.0 {
            return;
        }
        let high = (op.rate * MAX_REPORTED_RATE_FACTOR).max(MIN_REPORTED_RATE);
        let clamped = rate_per_second.clamp(MIN_REPORTED_RATE, high);
        if clamped != rate_per_second {
            tracing::debug!(
                operation = op.id,
                reported = rate_per_second,
                used = clamped,
                "rate limit: reported rate outside the sane range around the usage plan"
            );
        }
        self.observe_rate(op, clamped);
    }

    /// Parses an `x-amzn-RateLimit-Limit` value (surrounding whitespace
    /// allowed); `None` when it is not a finite positive number.
    pub fn parse_rate_header(value: &str) -> Option<f64> {
        let rate: f64 = value.trim().parse().ok()?;
        (rate.is_finite() && rate > 0.0).then_some(rate)
    }

    /// The current (rate, burst) for `op`, safety factor applied (for
    /// tests, metrics and logs).
    pub fn plan(&self, op: &'static Operation) -> (f64, f64) {
        self.with_bucket(op, Instant::now(), |bucket| (bucket.rate, bucket.burst))
    }

    /// Runs `f` on `op`'s bucket, creating it full if this is its first use.
    /// The lock is held only for `f`, never across an await.
    fn with_bucket<T>(
        &self,
        op: &'static Operation,
        now: Instant,
        f: impl FnOnce(&mut Bucket) -> T,
    ) -> T {
        let mut buckets = self.lock();
        let factor = self.settings.safety_factor;
        let bucket = buckets[op.index].get_or_insert_with(|| Bucket::full(op, factor, now));
        f(bucket)
    }

    /// Drops every bucket that is full again at its usage plan's rate (a
    /// new bucket would be the same one, so pacing is not weakened), and
    /// says whether none is left: an `App` then drops the seller's state.
    /// A bucket still refilling, holding reservations, waiting for its
    /// burst's first answer or following a rate Amazon reported is kept.
    pub(crate) fn shed_full(&self) -> bool {
        let now = Instant::now();
        let factor = self.settings.safety_factor;
        let mut buckets = self.lock();
        let mut left = false;
        for (slot, op) in buckets.iter_mut().zip(crate::operations::OPERATIONS) {
            let Some(bucket) = slot else { continue };
            bucket.settle(now);
            let full = bucket.unanchored_since.is_none()
                && bucket.at <= now
                && bucket.tokens >= bucket.burst - EPSILON
                && bucket.rate == op.rate * factor;
            if full {
                *slot = None;
            } else {
                left = true;
            }
        }
        !left
    }

    /// Every update leaves the map consistent, so a panic elsewhere while
    /// holding the lock does not make the state unusable.
    fn lock(&self) -> MutexGuard<'_, Vec<Option<Bucket>>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::find;

    const TOLERANCE: Duration = Duration::from_millis(1);

    fn op(id: &str) -> &'static Operation {
        find(id).unwrap()
    }

    /// tests/fixtures/bucket_vectors.json through this bucket; the same file
    /// runs through the Redis scripts below.
    #[test]
    fn the_bucket_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/bucket_vectors.json")).unwrap();
        let fallback = Duration::from_millis(vectors["fallback_ms"].as_u64().unwrap());
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 5);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let start = Instant::now();
            let burst = case["burst"].as_f64().unwrap();
            let mut bucket = Bucket {
                rate: case["rate"].as_f64().unwrap(),
                burst,
                tokens: burst,
                at: start,
                unanchored_since: None,
                anchored: Arc::default(),
                share: 1.0,
                outage: 0,
                fallback,
            };
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let now = start + Duration::from_millis(step["at"].as_u64().unwrap());
                if step["answer"] == true {
                    let since = bucket.unanchored_since.expect("a burst to answer");
                    assert!(bucket.anchor(since, now), "{name}: step {i}");
                    continue;
                }
                let got = match bucket.reserve(now) {
                    Slot::Now => serde_json::json!("now"),
                    Slot::AfterAnswer(_) => serde_json::json!("after_answer"),
                    Slot::At(at) => serde_json::json!({"at": (at - start).as_millis() as u64}),
                };
                assert_eq!(got, step["take"], "{name}: step {i}");
            }
        }
    }

    /// A Redis for the script tests: `SPAPI_TEST_REDIS_URL` (`.ci/run` sets
    /// it), else a `redis-server` of its own on a free loopback port (killed
    /// on drop); `None` only outside CI without `redis-server`.
    #[cfg(feature = "redis")]
    fn test_redis() -> Option<(redis::Connection, Option<std::process::Child>)> {
        if let Ok(url) = std::env::var("SPAPI_TEST_REDIS_URL") {
            let connection = redis::Client::open(url).unwrap().get_connection().unwrap();
            return Some((connection, None));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(
                std::env::var("SPAPI_REQUIRE_SERVICES").is_err(),
                "SPAPI_REQUIRE_SERVICES is set: .ci/run starts a redis-server and sets SPAPI_TEST_REDIS_URL"
            );
            return None;
        };
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        for _ in 0..200 {
            if let Ok(connection) = client.get_connection() {
                return Some((connection, Some(child)));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server on port {port} did not answer");
    }

    /// tests/fixtures/bucket_vectors.json through the Redis scripts, with
    /// the time given, as [`the_bucket_vectors`] runs them through the Rust
    /// bucket. One algorithm, two implementations, one table.
    #[cfg(feature = "redis")]
    #[test]
    fn the_bucket_vectors_through_the_scripts() {
        let Some((mut redis, mut server)) = test_redis() else {
            return;
        };
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/bucket_vectors.json")).unwrap();
        let fallback_us = vectors["fallback_ms"].as_i64().unwrap() * 1000;
        // Far from zero, like the server's clock (0 means "no burst").
        let start_us: i64 = 1_700_000_000_000_000;
        for case in vectors["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let (bucket, fleet) = (
                format!("vectors:{{{tag}}}:b"),
                format!("vectors:{{{tag}}}:f"),
            );
            let mut since = 0;
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let now = start_us + step["at"].as_i64().unwrap() * 1000;
                if step["answer"] == true {
                    let anchored: i64 = redis::Script::new(ANCHOR)
                        .key(&bucket)
                        .arg(since)
                        .arg(now)
                        .invoke(&mut redis)
                        .unwrap();
                    assert_eq!(anchored, 1, "{name}: step {i}");
                    continue;
                }
                let (kind, wait, reply, _fleet): (i64, i64, i64, i64) = redis::Script::new(ACQUIRE)
                    .key(&bucket)
                    .key(&fleet)
                    .arg(case["rate"].as_f64().unwrap())
                    .arg(case["burst"].as_f64().unwrap())
                    .arg(fallback_us)
                    .arg(0)
                    .arg("vectors")
                    .arg(10_000_000)
                    .arg(now)
                    .invoke(&mut redis)
                    .unwrap();
                if reply != 0 {
                    since = reply;
                }
                let got = match kind {
                    0 => serde_json::json!("now"),
                    1 => serde_json::json!("after_answer"),
                    _ => serde_json::json!({"at": (now + wait - start_us) / 1000}),
                };
                assert_eq!(got, step["take"], "{name}: step {i}");
            }
            let _: () = redis::cmd("DEL")
                .arg(&bucket)
                .arg(&fleet)
                .query(&mut redis)
                .unwrap();
        }
        if let Some(server) = server.as_mut() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    fn assert_near(actual: Duration, expected_secs: f64) {
        let expected = Duration::from_secs_f64(expected_secs);
        assert!(
            actual.abs_diff(expected) <= TOLERANCE,
            "released at {actual:?}, expected {expected:?}"
        );
    }

    /// Spawns `n` acquires at once; returns each one's (wait, release time
    /// relative to the call), sorted by release time.
    async fn spawn_acquires(
        limiter: &RateLimiter,
        op: &'static Operation,
        n: usize,
    ) -> Vec<(Duration, Duration)> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { (limiter.acquire(op).await, start.elapsed()) })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out.sort_by_key(|&(_, released)| released);
        out
    }

    /// Takes `n` tokens, asserting each one was there, then the first of
    /// them is answered (refill counts from now on).
    async fn drain(limiter: &RateLimiter, op: &'static Operation, n: usize) {
        let start = Instant::now();
        drain_unanswered(limiter, op, n).await;
        limiter.answered(op, start);
    }

    /// Answers a request of `op` sent at `sent_at`, after `delay`.
    fn answer_later(
        limiter: &RateLimiter,
        op: &'static Operation,
        sent_at: Instant,
        delay: Duration,
    ) {
        let limiter = limiter.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            limiter.answered(op, sent_at);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_serves_its_burst_then_paces_from_the_first_answer() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        answer_later(
            &limiter,
            tracking,
            Instant::now(),
            Duration::from_millis(40),
        );
        let results = spawn_acquires(&limiter, tracking, 150).await;

        let immediate = results.iter().filter(|(wait, _)| wait.is_zero()).count();
        assert_eq!(immediate, 100);
        for (i, &(wait, released)) in results.iter().enumerate().skip(100) {
            // Amazon's bucket started refilling no later than the answer.
            let expected = 0.040 + (i + 1 - 100) as f64 / 80.0;
            assert_near(released, expected);
            assert_near(wait, expected);
        }
        assert_near(results[149].1, 0.665);
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_answer_refill_counts_after_the_fallback() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let results = spawn_acquires(&limiter, op("getTracking"), 102).await;
        assert_near(results[99].1, 0.0);
        assert_near(results[100].1, 1.0 + 1.0 / 80.0);
        assert_near(results[101].1, 1.0 + 2.0 / 80.0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_to_a_request_sent_before_the_burst_does_not_count() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        let earlier = Instant::now();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drain_unanswered(&limiter, tracking, 100).await;
        answer_later(&limiter, tracking, earlier, Duration::from_millis(10));
        answer_later(
            &limiter,
            tracking,
            Instant::now(),
            Duration::from_millis(300),
        );
        let start = Instant::now();
        limiter.acquire(tracking).await;
        assert_near(start.elapsed(), 0.300 + 1.0 / 80.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refilled_bucket_starts_a_new_burst() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;
        tokio::time::sleep(Duration::from_secs(2)).await; // full again
        drain_unanswered(&limiter, tracking, 100).await;
        answer_later(
            &limiter,
            tracking,
            Instant::now(),
            Duration::from_millis(20),
        );
        let start = Instant::now();
        limiter.acquire(tracking).await;
        assert_near(start.elapsed(), 0.020 + 1.0 / 80.0);
    }

    /// Takes `n` tokens, asserting each one was there; nothing is answered.
    async fn drain_unanswered(limiter: &RateLimiter, op: &'static Operation, n: usize) {
        for _ in 0..n {
            assert_eq!(limiter.acquire(op).await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_operation_has_its_own_independent_bucket() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let (link, tracking) = (op("linkCarrierAccountPost"), op("getTracking"));
        assert_eq!(limiter.plan(link), (5.0, 10.0));
        assert_eq!(limiter.plan(tracking), (80.0, 100.0));

        drain(&limiter, link, 10).await;
        drain(&limiter, tracking, 100).await;
        let start = Instant::now();
        assert_near(limiter.acquire(link).await, 0.2);
        assert_near(start.elapsed(), 0.2);
        // getTracking has refilled 16 tokens meanwhile, untouched by link.
        drain(&limiter, tracking, 16).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_follows_the_rate_amazon_reports() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;

        limiter.observe_rate(tracking, 40.0);
        assert_eq!(limiter.plan(tracking), (40.0, 100.0));
        for (i, &(_, released)) in spawn_acquires(&limiter, tracking, 4)
            .await
            .iter()
            .enumerate()
        {
            assert_near(released, (i + 1) as f64 * 0.025);
        }

        limiter.observe_rate(tracking, 160.0);
        assert_eq!(limiter.plan(tracking), (160.0, 100.0));
        for (i, &(_, released)) in spawn_acquires(&limiter, tracking, 4)
            .await
            .iter()
            .enumerate()
        {
            assert_near(released, (i + 1) as f64 * 0.00625);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_change_keeps_the_tokens_left() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 50).await;
        limiter.observe_rate(tracking, 40.0);
        drain(&limiter, tracking, 50).await;
        assert_near(limiter.acquire(tracking).await, 0.025);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_earned_before_a_rate_change_count_at_the_old_rate() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;
        tokio::time::sleep(Duration::from_millis(500)).await; // 40 tokens at 80/s
        limiter.observe_rate(tracking, 40.0);
        drain(&limiter, tracking, 40).await;
        assert_near(limiter.acquire(tracking).await, 0.025);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_keep_their_reservations_when_the_rate_changes() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;
        let start = Instant::now();
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire(tracking).await })
            })
            .collect();
        tokio::task::yield_now().await; // let both reserve at 80/s
        limiter.observe_rate(tracking, 160.0);
        let newcomer = limiter.acquire(tracking).await;
        for (i, task) in queued.into_iter().enumerate() {
            assert_near(task.await.unwrap(), (i + 1) as f64 / 80.0);
        }
        assert_near(newcomer, 2.0 / 80.0 + 1.0 / 160.0);
        assert_near(start.elapsed(), 0.03125);
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_or_repeated_rates_change_nothing() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        for value in ["abc", "0", "-1", "NaN", "", "inf"] {
            assert_eq!(RateLimiter::parse_rate_header(value), None, "{value:?}");
        }
        assert_eq!(RateLimiter::parse_rate_header("80.0"), Some(80.0));
        assert_eq!(RateLimiter::parse_rate_header(" 0.5 "), Some(0.5));
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 80.0] {
            limiter.observe_rate(tracking, rate);
            assert_eq!(limiter.plan(tracking), (80.0, 100.0), "{rate}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_safety_factor_scales_rate_and_burst() {
        let settings = RateLimitSettings::default().with_safety_factor(0.5);
        let limiter = RateLimiter::new(settings);
        let tracking = op("getTracking");
        assert_eq!(limiter.plan(tracking), (40.0, 50.0));
        drain(&limiter, tracking, 50).await;
        assert_near(limiter.acquire(tracking).await, 0.025);
        limiter.observe_rate(tracking, 80.0);
        assert_eq!(limiter.plan(tracking), (40.0, 50.0));
    }

    /// Issue 11, finding 4: `x-amzn-RateLimit-Limit: 1e-300` panicked in
    /// `Duration::from_secs_f64` with the lock held; `1e-6` parked calls
    /// for about 11 days.
    #[tokio::test(start_paused = true)]
    async fn reported_rates_are_clamped_around_the_usage_plan() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        let link = op("linkCarrierAccountPost");
        let cases = [
            (1e-300, 0.5, 0.5),
            (1e-20, 0.5, 0.5),
            (1e-6, 0.5, 0.5),
            (f64::MIN_POSITIVE, 0.5, 0.5),
            (1e9, 800.0, 50.0),
            (f64::MAX, 800.0, 50.0),
            (0.6, 0.6, 0.6),
            (5.0, 5.0, 5.0),
            (40.0, 40.0, 40.0),
        ];
        for (reported, tracking_rate, link_rate) in cases {
            limiter.observe_reported_rate(tracking, reported);
            limiter.observe_reported_rate(link, reported);
            assert_eq!(limiter.plan(tracking).0, tracking_rate, "{reported}");
            assert_eq!(limiter.plan(link).0, link_rate, "{reported}");
        }
        for ignored in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            limiter.observe_reported_rate(tracking, ignored);
            assert_eq!(limiter.plan(tracking).0, 40.0, "{ignored}");
        }
        let scaled = RateLimiter::new(RateLimitSettings::default().with_safety_factor(0.5));
        scaled.observe_reported_rate(tracking, 1e-300);
        assert_eq!(scaled.plan(tracking).0, 0.25, "clamped, then scaled");
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_explicit_rates_never_panic_and_waits_stop_at_max_wait() {
        let settings = RateLimitSettings::default().with_max_wait(Duration::from_secs(5));
        let limiter = RateLimiter::new(settings);
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;
        for rate in [1e-300, 1e-20, 1e-6, f64::MIN_POSITIVE, 5e-324] {
            limiter.observe_rate(tracking, rate);
            let waits = spawn_acquires(&limiter, tracking, 3).await;
            for (wait, _) in waits {
                assert!(wait <= Duration::from_secs(5), "{rate}: waited {wait:?}");
            }
        }
        // No poisoned or wedged state: a clone still serves at a sane rate.
        let clone = limiter.clone();
        clone.observe_rate(tracking, 80.0);
        let started = Instant::now();
        let wait = clone.acquire(tracking).await;
        assert!(wait <= Duration::from_secs(5), "{wait:?}");
        assert!(started.elapsed() <= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deep_queue_waits_at_most_max_wait() {
        let settings = RateLimitSettings::default().with_max_wait(Duration::from_secs(2));
        let limiter = RateLimiter::new(settings);
        let link = op("linkCarrierAccountPost");
        drain(&limiter, link, 10).await;
        // 5/s: the 40th queued caller would wait 8 s; none waits past 2 s.
        let waits = spawn_acquires(&limiter, link, 40).await;
        let longest = waits.iter().map(|&(wait, _)| wait).max().unwrap();
        assert_near(longest, 2.0);
        assert_near(waits[0].0, 0.2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_disabled_limiter_never_waits() {
        let limiter = RateLimiter::new(RateLimitSettings::disabled());
        let start = Instant::now();
        drain(&limiter, op("linkCarrierAccountPost"), 1000).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_costs_later_callers_at_most_its_slot() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        drain(&limiter, tracking, 100).await;
        let start = Instant::now();
        let cancelled =
            tokio::time::timeout(Duration::from_millis(5), limiter.acquire(tracking)).await;
        assert!(cancelled.is_err());
        // Its 12.5 ms slot is lost; the next callers follow the schedule.
        for k in 2..=4 {
            limiter.acquire(tracking).await;
            assert_near(start.elapsed(), k as f64 / 80.0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_on_threads_do_not_deadlock() {
        let limiter = RateLimiter::new(RateLimitSettings::default());
        let tracking = op("getTracking");
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    let mut waited = Duration::ZERO;
                    for _ in 0..20 {
                        waited += limiter.acquire(tracking).await;
                    }
                    waited
                })
            })
            .collect();
        let all = async {
            let mut waited = Duration::ZERO;
            for task in tasks {
                waited += task.await.unwrap();
            }
            waited
        };
        let waited = tokio::time::timeout(Duration::from_secs(5), all).await;
        assert_eq!(
            waited.expect("deadlock: acquires did not finish"),
            Duration::ZERO
        );
    }
}
