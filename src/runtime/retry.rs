//! When a failed call may be sent again, and how long to wait first.
//!
//! The rule that keeps money safe: a request that may have reached Amazon is
//! only repeated when repeating it cannot do the thing twice.

use std::time::Duration;

use tokio::time::Instant;

use crate::operations::Operation;

/// How an operation may be sent again after a failure: a column of the
/// operations table ([`Operation::retry`]), from the spec's `x-spapi-retry`
/// (spec/README.md, F5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryClass {
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

/// How Amazon's refusal of a repeated state-setting write as "already done"
/// is recognised: a column of the operations table
/// ([`Operation::already_done`]), from the spec's `x-spapi-retry`.
///
/// Amazon does not document how a repeated cancelShipment or
/// unlinkCarrierAccount is answered; this assumes an error list whose
/// `message` or `details` says so in words ("already cancelled", "already
/// unlinked"), matched case-insensitively in each entry. Only consulted on
/// a retry after an attempt that may have applied the write (a 5xx, a
/// timeout, a connection broken after sending): on a first attempt the
/// refusal is the truth (the shipment was cancelled before this call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlreadyDone {
    /// The statuses that may carry the refusal.
    pub statuses: &'static [u16],
    /// Words that say it, lower case.
    pub phrases: &'static [&'static str],
    /// The documented success body reported instead (JSON).
    pub success: &'static str,
}

impl AlreadyDone {
    /// The success body to report when `body` (an error answer) says the
    /// write was already done.
    fn says_done(&self, body: &[u8]) -> Option<&'static str> {
        let list: crate::types::ErrorList = serde_json::from_slice(body).ok()?;
        list.errors
            .iter()
            .any(|e| {
                let text = format!("{} {}", e.message, e.details.as_deref().unwrap_or_default())
                    .to_lowercase();
                self.phrases.iter().any(|p| text.contains(p))
            })
            .then_some(self.success)
    }
}

/// The operations that carry `x-amzn-IdempotencyKey` in Amazon's model.
pub fn takes_idempotency_key(operation_id: &str) -> bool {
    crate::operations::find(operation_id).is_some_and(|op| op.retry == RetryClass::Keyed)
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
        self.backoff_with(retry, fastrand::f64())
    }

    /// [`backoff`](Self::backoff) with the random fraction given.
    fn backoff_with(&self, retry: u32, fraction: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let cap = exp.min(self.max_backoff);
        cap.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

/// What went wrong on one attempt, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The connection was never established: the request did not leave.
    Connect,
    /// Amazon throttled the request (429): it was not processed.
    Throttled,
    /// A 500, 502, 503 or 504, or a timeout or broken connection after the
    /// request was sent: it may or may not have been processed.
    MaybeProcessed,
}

/// Whether a failure of this kind may be retried for this class.
fn may_retry(class: RetryClass, failure: Failure) -> bool {
    match failure {
        Failure::Connect | Failure::Throttled => true,
        Failure::MaybeProcessed => class != RetryClass::Unsafe,
    }
}

/// The failure a status stands for, when it is one worth retrying.
fn failure_of_status(status: u16) -> Option<Failure> {
    match status {
        429 => Some(Failure::Throttled),
        500 | 502 | 503 | 504 => Some(Failure::MaybeProcessed),
        _ => None,
    }
}

/// Amazon's 403 for a stale token says so in its message or details.
fn says_token_expired(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("access token")
        && ["expired", "invalid", "revoked", "malformed"]
            .iter()
            .any(|w| text.contains(w))
}

/// How one attempt ended, as far as the decision cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// No access token: LWA failed, `transient`ly (an outage, a timeout)
    /// or for good (refused credentials).
    NoToken { transient: bool },
    /// The connection was never established: nothing was sent.
    NotConnected,
    /// Sent, but no whole answer came back (a timeout, a connection broken
    /// before or while the answer was read).
    NoAnswer,
    /// An answer's status; its body is not read yet.
    Head { status: u16 },
    /// An answer with its body, read because the head asked for it.
    Answer { status: u16, body: &'a [u8] },
}

/// What the call does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Report the outcome as it is (the answer, or the failure).
    Done,
    /// Read the answer's body, then decide on [`Outcome::Answer`].
    ReadBody,
    /// Send again after this wait.
    RetryAfter(Duration),
    /// Amazon refused the access token: forget it, and when `resend`, send
    /// again at once with a new one.
    TokenRefused { resend: bool },
    /// An earlier attempt did the write: report success with this body.
    AlreadyDone(&'static str),
}

/// What the decision knows of one call: the state the attempt loop keeps
/// and [`Attempts::decide`] updates. The loop asks and obeys.
#[derive(Debug, Clone)]
pub(crate) struct Attempts {
    class: RetryClass,
    already_done: Option<AlreadyDone>,
    /// Attempts started, the current one included.
    pub(crate) attempt: u32,
    /// The current attempt carries an access token.
    pub(crate) had_token: bool,
    /// The call's one token renewal happened.
    renewed_token: bool,
    /// An earlier attempt failed in a way that may have applied the request
    /// (5xx, timeout, broken connection after sending).
    maybe_applied: bool,
    /// The current attempt's request could not be copied: no resend.
    pub(crate) last_try: bool,
    started: Instant,
    deadline: Instant,
    /// When the current attempt's request was sent (`None` before sending).
    pub(crate) sent_at: Option<Instant>,
}

impl Attempts {
    /// A call of `op` that began at `started` and ends by `deadline`;
    /// `keyed`: its request carries an idempotency key.
    pub(crate) fn new(op: &Operation, keyed: bool, started: Instant, deadline: Instant) -> Self {
        // A purchase without a key (keys switched off, none given) may buy
        // twice if repeated after it reached Amazon.
        let class = match op.retry {
            RetryClass::Keyed if !keyed => RetryClass::Unsafe,
            class => class,
        };
        Self {
            class,
            already_done: op.already_done,
            attempt: 0,
            had_token: false,
            renewed_token: false,
            maybe_applied: false,
            last_try: false,
            started,
            deadline,
            sent_at: None,
        }
    }

    /// The next step after `outcome`, under `policy`; `now` reads the
    /// clock and `jitter` gives the backoff's random fraction in `[0, 1)`,
    /// each asked only when the decision needs it (a success needs
    /// neither). No I/O and no clock of its own, so the whole policy is
    /// tested as a table.
    pub(crate) fn decide(
        &mut self,
        policy: &RetryPolicy,
        outcome: Outcome<'_>,
        now: impl FnOnce() -> Instant,
        jitter: impl FnOnce() -> f64,
    ) -> Decision {
        let token_refused =
            |this: &Self, status| status == 403 && this.had_token && !this.renewed_token;
        match outcome {
            Outcome::NoToken { transient: false } => Decision::Done,
            // Nothing reached Amazon: retried like a refused connection.
            Outcome::NoToken { transient: true } | Outcome::NotConnected => {
                self.retry(policy, Failure::Connect, now, jitter)
            }
            Outcome::NoAnswer => self.retry(policy, Failure::MaybeProcessed, now, jitter),
            Outcome::Head { status } if token_refused(self, status) => Decision::ReadBody,
            Outcome::Head { status } => match failure_of_status(status) {
                Some(failure) => match self.retry(policy, failure, now, jitter) {
                    Decision::Done => Decision::ReadBody,
                    retry => retry,
                },
                None => Decision::ReadBody,
            },
            Outcome::Answer { status, body }
                if token_refused(self, status) && says_token_expired(body) =>
            {
                // One renewal per call, on top of `max_attempts`: a stale
                // token is the client's problem, not a failure by Amazon,
                // so it uses up no retry (a call sends at most
                // `max_attempts + 1` requests), but it keeps the time budget.
                let resend = !self.last_try && {
                    let now = now();
                    now.saturating_duration_since(self.started) < policy.max_elapsed
                        && now < self.deadline
                };
                self.renewed_token = resend;
                Decision::TokenRefused { resend }
            }
            Outcome::Answer { status, body } => self
                .already_done
                .filter(|rule| self.maybe_applied && rule.statuses.contains(&status))
                .and_then(|rule| rule.says_done(body))
                .map_or(Decision::Done, Decision::AlreadyDone),
        }
    }

    /// A retry after a backoff, or `Done` when the class, the attempt count
    /// or the time budget rules it out. A retry that could not finish
    /// before the call deadline, judged by how long this attempt took, is
    /// not made: the call ends with this attempt's own error rather than
    /// the deadline's, and no request is sent only to be cut off (for a
    /// write, that would leave the caller not knowing whether it applied).
    fn retry(
        &mut self,
        policy: &RetryPolicy,
        failure: Failure,
        now: impl FnOnce() -> Instant,
        jitter: impl FnOnce() -> f64,
    ) -> Decision {
        // The resend after a token-expired 403 is not a retry: it does not
        // count against `max_attempts` or grow the backoff.
        let tries = self.attempt.saturating_sub(u32::from(self.renewed_token));
        if self.last_try || !may_retry(self.class, failure) || tries >= policy.max_attempts {
            return Decision::Done;
        }
        let wait = policy.backoff_with(tries, jitter());
        let now = now();
        let took = self
            .sent_at
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        // Saturating: any of these may be `Duration::MAX` ("no limit").
        let in_budget = now
            .saturating_duration_since(self.started)
            .saturating_add(wait)
            < policy.max_elapsed
            && super::time::after(now, wait.saturating_add(took)) < self.deadline;
        if !in_budget {
            return Decision::Done;
        }
        if failure == Failure::MaybeProcessed {
            self.maybe_applied = true;
        }
        Decision::RetryAfter(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::{OPERATIONS, find};

    /// One request's fate, as tests/fault_matrix.rs injects it.
    #[derive(Clone, Copy, Debug)]
    enum Api {
        /// 200.
        Ok,
        /// Another status, with an error body that says nothing special.
        Status(u16),
        /// A connection reset before or after the headers, an answer lost
        /// after the request ran, a body that breaks off or does not
        /// decompress: no whole answer.
        Broken,
        /// No answer within the attempt's 500 ms timeout.
        Slow,
        /// Connection refused: nothing sent.
        Down,
    }

    /// One token request's fate.
    #[derive(Clone, Copy, Debug)]
    enum Lwa {
        Token,
        /// A 503 or a timeout.
        Outage,
        /// A 401: the credentials are refused.
        Refused,
    }

    /// How a call ended, and what it cost.
    #[derive(Debug, PartialEq)]
    struct End {
        /// Requests that reached the API server.
        sent: usize,
        lwa: usize,
        last: Last,
    }

    #[derive(Debug, PartialEq)]
    enum Last {
        Status(u16),
        NoAnswer,
        NotConnected,
        NoToken,
        AlreadyDone(&'static str),
    }

    const EXPIRED: &[u8] = br#"{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied.","details":"The access token you provided has expired."}]}"#;
    const REFUSED: &[u8] =
        br#"{"errors":[{"code":"InternalFailure","message":"We encountered an internal error."}]}"#;
    const CANCELLED: &[u8] = br#"{"errors":[{"code":"InvalidInput","message":"Invalid input.","details":"Shipment is Already Cancelled."}]}"#;

    /// tests/fault_matrix.rs's policy: 4 attempts, backoff up to 2-5 ms, 3 s.
    fn fast() -> RetryPolicy {
        RetryPolicy::default()
            .with_max_attempts(4)
            .with_initial_backoff(Duration::from_millis(2))
            .with_max_backoff(Duration::from_millis(5))
            .with_max_elapsed(Duration::from_secs(3))
    }

    /// One call driven the way the attempt loop drives it, on a clock of
    /// its own and without HTTP: `api(n)` is the n-th request's fate,
    /// `lwa(n)` the n-th token request's, and the first token is refused
    /// as expired after `first_token_uses` requests.
    fn call(
        op: &str,
        keyed: bool,
        policy: &RetryPolicy,
        api: impl Fn(usize) -> Api,
        lwa: impl Fn(usize) -> Lwa,
        first_token_uses: usize,
        answer: impl Fn(u16) -> &'static [u8],
    ) -> End {
        let start = Instant::now();
        let mut now = start;
        let mut attempts = Attempts::new(
            find(op).unwrap(),
            keyed,
            start,
            start + Duration::from_secs(60),
        );
        let (mut sent, mut lwa_requests, mut token_uses) = (0, 0, None::<usize>);
        let end = |sent, lwa, last| End { sent, lwa, last };
        loop {
            attempts.attempt += 1;
            attempts.sent_at = None;
            if token_uses.is_none() {
                lwa_requests += 1;
                let outcome = match lwa(lwa_requests - 1) {
                    Lwa::Token if lwa_requests == 1 => {
                        token_uses = Some(first_token_uses);
                        None
                    }
                    Lwa::Token => {
                        token_uses = Some(usize::MAX);
                        None
                    }
                    Lwa::Outage => Some(Outcome::NoToken { transient: true }),
                    Lwa::Refused => Some(Outcome::NoToken { transient: false }),
                };
                if let Some(outcome) = outcome {
                    match attempts.decide(policy, outcome, || now, || 0.5) {
                        Decision::RetryAfter(wait) => {
                            now += wait;
                            continue;
                        }
                        Decision::Done => return end(sent, lwa_requests, Last::NoToken),
                        other => panic!("{other:?} after {outcome:?}"),
                    }
                }
            }
            attempts.had_token = true;
            attempts.sent_at = Some(now);
            let uses = token_uses.as_mut().unwrap();
            let fate = api(sent);
            let (outcome, last) = match fate {
                Api::Down => (Outcome::NotConnected, Last::NotConnected),
                _ if *uses == 0 => {
                    sent += 1;
                    now += Duration::from_millis(1);
                    (Outcome::Head { status: 403 }, Last::Status(403))
                }
                Api::Broken | Api::Slow => {
                    sent += 1;
                    *uses -= 1;
                    now += Duration::from_millis(if matches!(fate, Api::Slow) { 500 } else { 1 });
                    (Outcome::NoAnswer, Last::NoAnswer)
                }
                Api::Ok | Api::Status(_) => {
                    sent += 1;
                    *uses -= 1;
                    now += Duration::from_millis(1);
                    let status = if let Api::Status(s) = fate { s } else { 200 };
                    (Outcome::Head { status }, Last::Status(status))
                }
            };
            let mut decision = attempts.decide(policy, outcome, || now, || 0.5);
            if decision == Decision::ReadBody {
                let Outcome::Head { status } = outcome else {
                    panic!("ReadBody after {outcome:?}")
                };
                let body = if status == 403 && *uses == 0 {
                    EXPIRED
                } else {
                    answer(status)
                };
                decision =
                    attempts.decide(policy, Outcome::Answer { status, body }, || now, || 0.5);
            }
            match decision {
                Decision::Done => return end(sent, lwa_requests, last),
                Decision::RetryAfter(wait) => now += wait,
                Decision::TokenRefused { resend: true } => token_uses = None,
                Decision::TokenRefused { resend: false } => {
                    return end(sent, lwa_requests, Last::Status(403));
                }
                Decision::AlreadyDone(body) => {
                    return end(sent, lwa_requests, Last::AlreadyDone(body));
                }
                Decision::ReadBody => panic!("ReadBody twice"),
            }
        }
    }

    /// The matrix's columns: a read, a keyed purchase, the unkeyed
    /// one-click purchase, and a purchase with keys switched off.
    const COLUMNS: [(&str, bool); 4] = [
        ("getTracking", false),
        ("purchaseShipment", true),
        ("oneClickShipment", false),
        ("purchaseShipment", false),
    ];

    fn ok(sent: usize) -> (usize, Last) {
        (sent, Last::Status(200))
    }

    /// The decision cells of tests/fault_matrix.rs (requests sent and how
    /// the call ends, per column), decided here without HTTP. The matrix's
    /// other cells are about the loop, not the decision: bodies (decoding,
    /// the size cap) and tokens shared by concurrent calls.
    #[test]
    fn the_fault_matrix_decision_cells() {
        use Api::*;
        type Row = (
            &'static str,
            RetryPolicy,
            fn(usize) -> Api,
            [(usize, Last); 4],
        );
        let rows: Vec<Row> = vec![
            (
                "429 x2, then 200",
                fast(),
                |i| if i < 2 { Status(429) } else { Ok },
                [ok(3), ok(3), ok(3), ok(3)],
            ),
            (
                "429 storm",
                fast(),
                |_| Status(429),
                [
                    (4, Last::Status(429)),
                    (4, Last::Status(429)),
                    (4, Last::Status(429)),
                    (4, Last::Status(429)),
                ],
            ),
            (
                "503 x2, then 200",
                fast(),
                |i| if i < 2 { Status(503) } else { Ok },
                [ok(3), ok(3), (1, Last::Status(503)), (1, Last::Status(503))],
            ),
            (
                "500 burst",
                fast(),
                |_| Status(500),
                [
                    (4, Last::Status(500)),
                    (4, Last::Status(500)),
                    (1, Last::Status(500)),
                    (1, Last::Status(500)),
                ],
            ),
            (
                "reset, lost answer or broken body x1, then 200",
                fast(),
                |i| if i < 1 { Broken } else { Ok },
                [ok(2), ok(2), (1, Last::NoAnswer), (1, Last::NoAnswer)],
            ),
            (
                "API host down",
                fast(),
                |_| Down,
                [
                    (0, Last::NotConnected),
                    (0, Last::NotConnected),
                    (0, Last::NotConnected),
                    (0, Last::NotConnected),
                ],
            ),
            (
                "slower than timeout x1, then fast",
                fast(),
                |i| if i < 1 { Slow } else { Ok },
                [ok(2), ok(2), (1, Last::NoAnswer), (1, Last::NoAnswer)],
            ),
            (
                "slower than timeout (every attempt)",
                fast(),
                |_| Slow,
                [
                    (4, Last::NoAnswer),
                    (4, Last::NoAnswer),
                    (1, Last::NoAnswer),
                    (1, Last::NoAnswer),
                ],
            ),
            (
                "slow (every attempt), max_elapsed 800ms",
                fast().with_max_elapsed(Duration::from_millis(800)),
                |_| Slow,
                [
                    (2, Last::NoAnswer),
                    (2, Last::NoAnswer),
                    (1, Last::NoAnswer),
                    (1, Last::NoAnswer),
                ],
            ),
        ];
        for (name, policy, api, cells) in rows {
            for ((op, keyed), (sent, last)) in COLUMNS.into_iter().zip(cells) {
                let got = call(
                    op,
                    keyed,
                    &policy,
                    api,
                    |_| Lwa::Token,
                    usize::MAX,
                    |_| REFUSED,
                );
                assert_eq!(
                    (got.sent, got.last),
                    (sent, last),
                    "{name}: {op} (keyed: {keyed})"
                );
                assert_eq!(got.lwa, 1, "{name}: {op}");
            }
        }
    }

    /// The matrix's Login with Amazon rows: the same in every column.
    #[test]
    fn the_fault_matrix_token_cells() {
        type Row = (&'static str, fn(usize) -> Lwa, usize, fn(usize) -> Api, End);
        let rows: [Row; 5] = [
            (
                "LWA outage",
                |_| Lwa::Outage,
                usize::MAX,
                |_| Api::Ok,
                End {
                    sent: 0,
                    lwa: 4,
                    last: Last::NoToken,
                },
            ),
            (
                "LWA outage once, then a token",
                |n| if n == 0 { Lwa::Outage } else { Lwa::Token },
                usize::MAX,
                |_| Api::Ok,
                End {
                    sent: 1,
                    lwa: 2,
                    last: Last::Status(200),
                },
            ),
            (
                "LWA refuses the credentials",
                |_| Lwa::Refused,
                usize::MAX,
                |_| Api::Ok,
                End {
                    sent: 0,
                    lwa: 1,
                    last: Last::NoToken,
                },
            ),
            // 1 token; the renewal asks LWA, and as the renewal uses up no
            // retry, the 3 retries ask again: 1 + 1 + 3.
            (
                "token expired, LWA outage on renewal",
                |n| if n == 0 { Lwa::Token } else { Lwa::Outage },
                0,
                |_| Api::Ok,
                End {
                    sent: 1,
                    lwa: 5,
                    last: Last::NoToken,
                },
            ),
            // The renewal is one resend on top of max_attempts: 4 + 1.
            (
                "429 x3, token expires at request 4",
                |_| Lwa::Token,
                3,
                |i| if i < 3 { Api::Status(429) } else { Api::Ok },
                End {
                    sent: 5,
                    lwa: 2,
                    last: Last::Status(200),
                },
            ),
        ];
        for (name, lwa, uses, api, want) in rows {
            for (op, keyed) in COLUMNS {
                let got = call(op, keyed, &fast(), api, lwa, uses, |_| REFUSED);
                assert_eq!(got, want, "{name}: {op} (keyed: {keyed})");
            }
        }
    }

    #[test]
    fn a_second_expired_token_in_one_call_is_not_renewed_again() {
        let got = call(
            "getTracking",
            false,
            &fast(),
            |_| Api::Ok,
            |_| Lwa::Token,
            0,
            |_| REFUSED,
        );
        // The first token is refused; the renewed one is good.
        assert_eq!(
            got,
            End {
                sent: 2,
                lwa: 2,
                last: Last::Status(200)
            }
        );
        // Both refused: one renewal only, then the 403 is the answer.
        let got = call(
            "getTracking",
            false,
            &fast(),
            |_| Api::Status(403),
            |_| Lwa::Token,
            0,
            |_| EXPIRED,
        );
        assert_eq!(
            got,
            End {
                sent: 2,
                lwa: 2,
                last: Last::Status(403)
            }
        );
    }

    #[test]
    fn a_repeat_refused_as_already_done_is_a_success_only_after_a_maybe_applied_attempt() {
        let success = find("cancelShipment")
            .unwrap()
            .already_done
            .unwrap()
            .success;
        // `op` answered `first` (if any), then 400 "already cancelled".
        let refused_after = |op, first: Option<u16>| {
            let api = move |i| match first {
                Some(status) if i < 1 => Api::Status(status),
                _ => Api::Status(400),
            };
            let answer = |status| if status == 400 { CANCELLED } else { REFUSED };
            call(op, false, &fast(), api, |_| Lwa::Token, usize::MAX, answer)
        };
        let retried = refused_after("cancelShipment", Some(503));
        assert_eq!(
            (retried.sent, retried.last),
            (2, Last::AlreadyDone(success))
        );
        // On a first attempt the refusal is the truth.
        assert_eq!(
            refused_after("cancelShipment", None).last,
            Last::Status(400)
        );
        // After a 429 (not processed) too.
        assert_eq!(
            refused_after("cancelShipment", Some(429)).last,
            Last::Status(400)
        );
        // Another operation's words are not read.
        assert_eq!(
            refused_after("getTracking", Some(503)).last,
            Last::Status(400)
        );
    }

    #[test]
    fn no_retry_outlives_the_call_deadline_or_the_budget() {
        let op = find("getTracking").unwrap();
        let start = Instant::now();
        let mut attempts = Attempts::new(op, false, start, start + Duration::from_millis(100));
        attempts.attempt = 1;
        attempts.sent_at = Some(start);
        // 60 ms taken; another 60 ms would pass the 100 ms deadline.
        let late = start + Duration::from_millis(60);
        assert_eq!(
            attempts.decide(&fast(), Outcome::NoAnswer, || late, || 0.5),
            Decision::Done
        );
        // Duration::MAX everywhere means no limit, without overflow.
        let unbounded = RetryPolicy::default()
            .with_max_elapsed(Duration::MAX)
            .with_max_backoff(Duration::MAX);
        let mut attempts = Attempts::new(
            op,
            false,
            start,
            super::super::time::after(start, Duration::MAX),
        );
        attempts.attempt = 1;
        assert!(matches!(
            attempts.decide(&unbounded, Outcome::Head { status: 503 }, || start, || 0.5),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn every_operation_has_a_deliberate_class() {
        let of = |class| -> Vec<&str> {
            OPERATIONS
                .iter()
                .filter(|op| op.retry == class)
                .map(|op| op.id)
                .collect()
        };
        assert_eq!(
            of(RetryClass::Keyed),
            [
                "directPurchaseShipment",
                "purchaseShipment",
                "generateCollectionForm"
            ]
        );
        assert_eq!(
            of(RetryClass::Unsafe),
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
                find(id).unwrap().retry,
                RetryClass::Safe,
                "{id} is a read done with PUT"
            );
        }
        let with_rule: Vec<&str> = OPERATIONS
            .iter()
            .filter(|op| op.already_done.is_some())
            .map(|op| op.id)
            .collect();
        assert_eq!(with_rule, ["cancelShipment", "unlinkCarrierAccount"]);
    }

    #[test]
    fn the_keyed_operations_are_the_ones_whose_spec_declares_the_key() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../spec/shipping-v2.json")).unwrap();
        for op in OPERATIONS {
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
    fn already_done_is_read_from_the_error_list_in_words() {
        let cancel = find("cancelShipment").unwrap().already_done.unwrap();
        assert_eq!(cancel.says_done(CANCELLED), Some(r#"{"payload":{}}"#));
        let unlink = find("unlinkCarrierAccount").unwrap().already_done.unwrap();
        let unlinked =
            br#"{"errors":[{"code":"InvalidInput","message":"Carrier account already unlinked"}]}"#;
        assert_eq!(unlink.says_done(unlinked), Some(r#"{"isUnlinked":true}"#));
        let other = br#"{"errors":[{"code":"InvalidInput","message":"Shipment not found for specified shipmentId"}]}"#;
        assert_eq!(cancel.says_done(other), None);
        assert_eq!(cancel.says_done(b"already cancelled"), None);
        assert_eq!(cancel.statuses, [400, 409]);
    }

    #[test]
    fn only_a_403_about_the_access_token_renews_it() {
        let revoked = br#"{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied.","details":"The access token you provided is revoked, malformed or invalid."}]}"#;
        let forbidden = br#"{"errors":[{"code":"Unauthorized","message":"Access to requested resource is denied.","details":""}]}"#;
        assert!(says_token_expired(EXPIRED));
        assert!(says_token_expired(revoked));
        assert!(!says_token_expired(forbidden));
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
        assert_eq!(p.backoff_with(2, 0.5), Duration::from_millis(100));
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(distinct.len() > 1, "jitter varies the wait");
    }
}
