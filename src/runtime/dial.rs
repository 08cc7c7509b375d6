//! An [`App`](crate::App)'s bound on the connections it opens to a host.
//!
//! hyper's pool has no limit per host, and puts a connection back on its
//! idle list on a task of its own after the body is read. A request that
//! takes the slot freed meanwhile finds no idle connection and dials a new
//! one: 60 to 84 connections for 64 slots in `examples/sellers_bench.rs`
//! before this gate (87 to 103 without the slot's 1 ms hold).
//!
//! [`DialLimit`] sits on reqwest's connector (`connector_layer`). The
//! first `limit` dials go at once. Past them, while a request's slot was
//! given back within [`GRACE`] (so its connection may be on its way back),
//! a dial first waits up to `GRACE` for a pooled connection. hyper races every dial
//! against its pool's checkout, and when the checkout wins it moves the
//! dial onto a task of its own to finish it as a spare: the gate sees that
//! it is no longer polled by the task that asked (tokio's task ids) and
//! gives up instead of connecting. A dial still wanted after the grace, or
//! after a quiet spell, goes ahead and counts: the pool lost a connection
//! (the server or the idle timeout closed it), which hyper does not
//! report, so the count of dials is a bound on connections opened, not a
//! count of open ones. A process calling once every few minutes thus dials
//! at once, as before.
//!
//! Hand-written: tower's `ConcurrencyLimit` bounds dials in progress, not
//! connections, and neither it nor hyper can tell a dial that is no longer
//! needed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// How long a dial past the limit waits for a pooled connection to come
/// back: long enough for hyper's task that returns it to run on a runtime
/// busy with thousands of calls (20 ms let 76 connections open for 64 in
/// one run of three of `examples/sellers_bench.rs`). Paid only when the
/// pool has to replace a connection it lost, once per connection.
pub(crate) const GRACE: Duration = Duration::from_millis(100);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One host's bound in an [`App`](crate::App): the slots of requests in
/// flight, and the dials of its pool's connector (shared by its clones).
#[derive(Debug)]
pub(crate) struct Dials {
    limit: usize,
    /// Requests in flight: one slot each, from sending until the answer's
    /// body is read.
    slots: Arc<tokio::sync::Semaphore>,
    /// Dials made or in progress (a failed dial gives its place back).
    made: AtomicUsize,
    /// Dials given up because a pooled connection came back first.
    spared: AtomicUsize,
    /// When a slot was last given back, in µs after `epoch` plus one (0:
    /// never): its connection is on its way back to the pool for a moment.
    released: AtomicU64,
    epoch: Instant,
}

/// A request's slot; giving it back marks a connection on its way back.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    dials: Arc<Dials>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let at = self.dials.epoch.elapsed().as_micros().saturating_add(1);
        self.dials
            .released
            .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

impl Dials {
    /// At most `limit` requests in flight, and `limit` dials without
    /// waiting.
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            slots: Arc::new(tokio::sync::Semaphore::new(limit)),
            made: AtomicUsize::new(0),
            spared: AtomicUsize::new(0),
            released: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Waits for a slot. `None` never happens (the semaphore is never
    /// closed), but is not a panic either.
    pub(crate) async fn slot(self: &Arc<Self>) -> Option<Slot> {
        let permit = Arc::clone(&self.slots).acquire_owned().await.ok()?;
        Some(Slot {
            _permit: permit,
            dials: Arc::clone(self),
        })
    }

    /// Whether a slot was given back within [`GRACE`]: only then may a
    /// connection be on its way back to the pool, worth waiting for. After
    /// a quiet spell the pool's idle connections are found at once or are
    /// gone (closed by the server or the idle timeout), and a dial goes
    /// ahead without waiting.
    fn returning(&self) -> bool {
        match self.released.load(Ordering::Relaxed) {
            0 => false,
            at => {
                let released = Duration::from_micros(at - 1);
                self.epoch.elapsed().saturating_sub(released) < GRACE
            }
        }
    }

    /// Connections dialed so far (tests and benchmarks).
    pub(crate) fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    /// Dials given up for a pooled connection (tests and benchmarks).
    pub(crate) fn spared(&self) -> usize {
        self.spared.load(Ordering::Relaxed)
    }
}

/// The layer given to `reqwest::ClientBuilder::connector_layer`.
#[derive(Clone, Debug)]
pub(crate) struct DialLimit(pub(crate) Arc<Dials>);

impl<S> tower_layer::Layer<S> for DialLimit {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            dials: Arc::clone(&self.0),
        }
    }
}

/// The connector behind [`DialLimit`].
#[derive(Clone, Debug)]
pub(crate) struct Gate<S> {
    inner: S,
    dials: Arc<Dials>,
}

impl<S, R> tower_service::Service<R> for Gate<S>
where
    S: tower_service::Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, destination: R) -> Self::Future {
        // The service polled ready is the one to call (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let dials = Arc::clone(&self.dials);
        Box::pin(async move {
            if dials.made.fetch_add(1, Ordering::AcqRel) >= dials.limit && dials.returning() {
                let asker = tokio::task::try_id();
                tokio::time::sleep(GRACE).await;
                if tokio::task::try_id() != asker {
                    dials.made.fetch_sub(1, Ordering::AcqRel);
                    dials.spared.fetch_add(1, Ordering::Relaxed);
                    return Err("not dialed: a pooled connection came back first".into());
                }
            }
            let connected = inner.call(destination).await;
            if connected.is_err() {
                dials.made.fetch_sub(1, Ordering::AcqRel);
            }
            connected
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    /// A connector that "connects" at once (or fails), counting its calls.
    #[derive(Clone, Default)]
    struct Connector {
        calls: Arc<AtomicUsize>,
        fail: bool,
    }

    impl tower_service::Service<u16> for Connector {
        type Response = u16;
        type Error = BoxError;
        type Future = std::future::Ready<Result<u16, BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, port: u16) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if self.fail {
                Err("refused".into())
            } else {
                Ok(port)
            })
        }
    }

    fn gate(limit: usize, connector: &Connector) -> (Gate<Connector>, Arc<Dials>) {
        let dials = Dials::new(limit);
        (
            DialLimit(Arc::clone(&dials)).layer(connector.clone()),
            dials,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn dials_within_the_limit_go_at_once() {
        let connector = Connector::default();
        let (mut gate, dials) = gate(2, &connector);
        let start = tokio::time::Instant::now();
        assert_eq!(gate.call(1).await.unwrap(), 1);
        assert_eq!(gate.call(2).await.unwrap(), 2);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!((dials.made(), dials.spared()), (2, 0));
    }

    /// A request's answer was just read: its connection is on its way
    /// back to the pool.
    async fn just_answered(dials: &Arc<Dials>) {
        drop(dials.slot().await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dial_past_the_limit_still_wanted_after_the_grace_goes_ahead() {
        let connector = Connector::default();
        let (mut gate, dials) = gate(1, &connector);
        gate.call(1).await.unwrap();
        just_answered(&dials).await;
        let start = tokio::time::Instant::now();
        assert_eq!(gate.call(2).await.unwrap(), 2);
        assert_eq!(start.elapsed(), GRACE);
        assert_eq!(connector.calls.load(Ordering::SeqCst), 2);
        assert_eq!((dials.made(), dials.spared()), (2, 0));
    }

    /// What hyper does when its pool's checkout wins the race: the dial,
    /// already started on the request's task, is finished on another.
    #[tokio::test(start_paused = true)]
    async fn a_dial_moved_to_another_task_is_given_up() {
        let connector = Connector::default();
        let (mut gate, dials) = gate(1, &connector);
        gate.call(1).await.unwrap();
        just_answered(&dials).await;
        let mut dial = gate.call(2);
        std::future::poll_fn(|cx| {
            assert!(dial.as_mut().poll(cx).is_pending(), "waits for the grace");
            Poll::Ready(())
        })
        .await;
        let moved = tokio::spawn(dial).await.unwrap();
        assert!(moved.unwrap_err().to_string().contains("not dialed"));
        assert_eq!(connector.calls.load(Ordering::SeqCst), 1, "never connected");
        assert_eq!((dials.made(), dials.spared()), (1, 1));
    }

    /// After a quiet spell no connection is on its way back: the pool's
    /// idle ones were found at once or are gone, so the dial goes ahead (a
    /// process calling every few minutes pays no wait).
    #[tokio::test(start_paused = true)]
    async fn past_the_limit_after_a_quiet_spell_a_dial_goes_at_once() {
        let connector = Connector::default();
        let (mut gate, dials) = gate(1, &connector);
        gate.call(1).await.unwrap();
        just_answered(&dials).await;
        tokio::time::sleep(GRACE).await;
        let start = tokio::time::Instant::now();
        assert_eq!(gate.call(2).await.unwrap(), 2);
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Never answered at all: no wait either.
        let (mut fresh, _) = super::tests::gate(1, &connector);
        fresh.call(1).await.unwrap();
        let start = tokio::time::Instant::now();
        fresh.call(2).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(dials.made(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_dial_gives_its_place_back() {
        let failing = Connector {
            fail: true,
            ..Connector::default()
        };
        let (mut gate, dials) = gate(1, &failing);
        assert!(gate.call(1).await.is_err());
        assert!(gate.call(2).await.is_err());
        let start = tokio::time::Instant::now();
        assert!(gate.call(3).await.is_err());
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "no wait: nothing was opened"
        );
        assert_eq!(dials.made(), 0);
    }
}
