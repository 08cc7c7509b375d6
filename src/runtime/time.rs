//! Instants a duration setting away, saturating: every duration the client
//! takes may be `Duration::MAX`, the usual way to say "no limit" (issue 20
//! item 6), and `Instant + Duration` panics on overflow.

use std::time::Duration;

use tokio::time::Instant;

/// About 30 years: what "no limit" becomes as an instant. The same horizon
/// tokio uses for its own `sleep(Duration::MAX)` (`Instant::far_future`),
/// far beyond any process's life, and small enough to add to any instant of
/// a running system.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `start + duration`, or [`FAR_FUTURE`] after `start` when that sum does
/// not fit (or is further away than it): never panics.
pub(crate) fn after(start: Instant, duration: Duration) -> Instant {
    start
        .checked_add(duration.min(FAR_FUTURE))
        .or_else(|| start.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_max_is_the_far_future_and_short_ones_are_exact() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(after(now, FAR_FUTURE * 2), now + FAR_FUTURE);
        assert_eq!(
            after(now, Duration::from_millis(5)),
            now + Duration::from_millis(5)
        );
        assert_eq!(after(now, Duration::ZERO), now);
    }
}
