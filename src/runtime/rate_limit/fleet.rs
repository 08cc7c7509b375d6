//! The fleet's token buckets in Redis (feature `redis`): the algorithm of
//! [`Bucket`](super::Bucket), run by the Lua scripts beside it
//! ([`ACQUIRE`](super::ACQUIRE), [`ANCHOR`](super::ANCHOR),
//! [`SET_RATE`](super::SET_RATE)) on the Redis server's clock, one bucket
//! per (application, seller, operation). Like the local bucket, asking
//! never sleeps: it says when to send, or when to ask again, and
//! [`RateLimiter::acquire_until`](super::RateLimiter::acquire_until)
//! waits. `None` means Redis could not be asked: the limiter paces with
//! its local bucket, seeded for the fleet ([`FleetBuckets::share`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{ANCHOR_FALLBACK, Wait};
use crate::operations::Operation;
use crate::shared::{Lua, Shared, lock, spawn};

/// How often a caller checks whether the burst it waits on was answered
/// (by any process). Reservations are spaced from the answer itself, not
/// from the check, so this only delays the first callers after a burst.
const ANSWER_POLL: Duration = Duration::from_millis(5);

/// A process counts as one of the fleet drawing on a seller's buckets for
/// this long after its last acquire (the fallback's share of the plan).
const FLEET_WINDOW_US: i64 = 10_000_000;

/// A bucket this process used within this long and now finds missing was
/// lost (an emptied or failed-over Redis), not expired (its key lives at
/// least a minute past its last use): it is recreated empty, so the fleet
/// does not take a burst Amazon has not refilled.
const KNOWN_FOR: Duration = Duration::from_secs(50);

static ACQUIRE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(super::ACQUIRE));
static ANCHOR_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(super::ANCHOR));
static SET_RATE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(super::SET_RATE));

/// One seller's buckets in Redis, and what this process knows of them.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct FleetBuckets {
    shared: Shared,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per operation: the unanswered burst this process took part in; an
    /// answer to a request sent since then anchors the burst in Redis.
    bursts: Mutex<HashMap<&'static str, Burst>>,
    /// Processes drawing on the seller's buckets at the last acquire (0
    /// before the first): on falling back, each paces at its share.
    fleet: AtomicU64,
    /// When this process last took from each bucket.
    used: Mutex<HashMap<&'static str, Instant>>,
    /// Per operation, one task of this process polls for a burst's first
    /// answer; the others wait for it instead of polling Redis too.
    gates: Mutex<HashMap<&'static str, Arc<Gate>>>,
}

/// A burst in Redis (its start on the server's clock, µs) that this
/// process joined at `from`, during Redis outage number `outage` (a burst
/// from before an outage is not anchored after it).
#[derive(Debug, Clone, Copy)]
struct Burst {
    since: i64,
    from: Instant,
    outage: u64,
}

/// The single poller of one operation's unanswered burst, in one process.
#[derive(Debug, Default)]
struct Gate {
    polling: AtomicBool,
    done: Arc<Notify>,
}

/// Held by the task that polls for a gate, for as long as its call asks
/// (kept by `RateLimiter::acquire_until`); dropping it (the answer came, or
/// the caller went away) lets the waiters ask again at once.
#[derive(Debug)]
pub(crate) struct Lead(Arc<Gate>);

impl Drop for Lead {
    fn drop(&mut self) {
        self.0.polling.store(false, Ordering::Release);
        self.0.done.notify_waiters();
    }
}

impl FleetBuckets {
    /// The seller's buckets over its Redis handle.
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared,
            state: Arc::default(),
        }
    }

    /// The seller's Redis handle.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// This process's share of the seller's plan while Redis is away: one
    /// over the processes that drew on it lately (as Redis last counted
    /// them), so a fleet falling back together keeps the plan's pace.
    pub(crate) fn share(&self) -> f64 {
        1.0 / self.state.fleet.load(Ordering::Relaxed).max(1) as f64
    }

    /// Asks `op`'s shared bucket for a slot (one script run); `None` when
    /// Redis could not be used. `rate` and `burst` are this process's
    /// current plan; `lead` is the call's hold on the poller's role.
    pub(crate) async fn ask(
        &self,
        op: &'static Operation,
        rate: f64,
        burst: f64,
        lead: &mut Option<Lead>,
    ) -> Option<Wait> {
        let known = lock(&self.state.used)
            .get(op.id)
            .is_some_and(|at| at.elapsed() < KNOWN_FOR);
        let keys = self.shared.keys();
        let mut acquire = ACQUIRE_LUA.key(self.bucket_key(op));
        acquire
            .key(&keys.fleet)
            .arg(rate)
            .arg(burst)
            .arg(ANCHOR_FALLBACK.as_micros() as i64)
            .arg(u8::from(known))
            .arg(self.shared.member())
            .arg(FLEET_WINDOW_US);
        let (kind, wait_us, since, fleet): (i64, i64, i64, u64) = self.shared.run(&acquire).await?;
        self.state.fleet.store(fleet.max(1), Ordering::Relaxed);
        let now = Instant::now();
        let wait = Duration::from_micros(wait_us.max(0) as u64);
        if kind != 1 {
            // Wakes this process's other waiters, if this call polled.
            drop(lead.take());
            lock(&self.state.used).insert(op.id, now);
        }
        Some(match kind {
            0 => {
                if since != 0 {
                    self.joined_burst(op, since, now);
                }
                Wait::Go
            }
            2 => Wait::Reserved(crate::runtime::time::after(now, wait)),
            // The burst has had no answer: one call per process polls Redis
            // for it; the rest wait for that one (or for the burst's
            // fallback time).
            _ => {
                let poll = now + wait.clamp(Duration::from_micros(1), ANSWER_POLL);
                if lead.is_some() {
                    return Some(Wait::AskAgain {
                        until: poll,
                        wake: None,
                    });
                }
                let gate = Arc::clone(lock(&self.state.gates).entry(op.id).or_default());
                if gate.polling.swap(true, Ordering::AcqRel) {
                    Wait::AskAgain {
                        until: now + wait.max(Duration::from_micros(1)),
                        wake: Some(Arc::clone(&gate.done).notified_owned()),
                    }
                } else {
                    *lead = Some(Lead(gate));
                    Wait::AskAgain {
                        until: poll,
                        wake: None,
                    }
                }
            }
        })
    }

    /// A request of `op` released at `sent_at` was answered (or failed):
    /// if it belongs to an unanswered burst, count the shared bucket's
    /// refill from now (on a spawned task: never delays the caller).
    pub(crate) fn answered(&self, op: &'static Operation, sent_at: Instant) {
        let outage = self.shared.outages();
        let since = {
            let mut bursts = lock(&self.state.bursts);
            match bursts.get(op.id) {
                Some(burst) if sent_at >= burst.from && burst.outage == outage => {
                    let since = burst.since;
                    bursts.remove(op.id);
                    since
                }
                _ => return,
            }
        };
        let this = self.clone();
        spawn(async move {
            let mut anchor = ANCHOR_LUA.key(this.bucket_key(op));
            anchor.arg(since);
            let _: Option<i64> = this.shared.run(&anchor).await;
        });
    }

    /// `op`'s rate changed in this process (Amazon reported another one):
    /// the shared bucket follows it, for the whole fleet.
    pub(crate) fn observe_rate(&self, op: &'static Operation, rate: f64, burst: f64) {
        let this = self.clone();
        spawn(async move {
            let mut set_rate = SET_RATE_LUA.key(this.bucket_key(op));
            set_rate.arg(rate).arg(burst);
            let _: Option<i64> = this.shared.run(&set_rate).await;
        });
    }

    fn joined_burst(&self, op: &'static Operation, since: i64, now: Instant) {
        let outage = self.shared.outages();
        let mut bursts = lock(&self.state.bursts);
        match bursts.get(op.id) {
            Some(known) if known.since == since && known.outage == outage => {}
            _ => {
                bursts.insert(
                    op.id,
                    Burst {
                        since,
                        from: now,
                        outage,
                    },
                );
            }
        }
    }

    fn bucket_key(&self, op: &Operation) -> String {
        format!("{}{}", self.shared.keys().bucket_base, op.id)
    }
}
