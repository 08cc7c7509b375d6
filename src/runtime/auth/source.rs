//! Where the token cache gets a new token: a [`TokenSource`]. LWA directly,
//! or (feature `redis`) the fleet's token in Redis, fetched from LWA under a
//! fleet-wide lock when it is missing.
//!
//! An enum rather than a trait: the refresh awaits the source's future
//! inline, without boxing it, and a cached token never reaches the source.

use std::time::Duration;

use tokio::time::Instant;

use super::lwa::Lwa;
#[cfg(feature = "redis")]
use super::lwa::MAX_LIFETIME_SECS;
use super::{AccessToken, AuthError};

/// A token as a source hands it to the cache, and as the cache keeps it.
pub(super) struct CachedToken {
    pub(super) token: AccessToken,
    pub(super) expires_at: Instant,
    pub(super) lifetime: Duration,
}

impl CachedToken {
    /// A token read from Redis, fresh for `fresh_for` (its TTL there, which
    /// already ends the refresh buffer before expiry): cached so that
    /// [`is_fresh`](Self::is_fresh) holds exactly that long.
    #[cfg(feature = "redis")]
    pub(super) fn read(token: AccessToken, fresh_for: Duration, buffer: Duration) -> Self {
        // `is_fresh` takes `buffer.min(lifetime / 2)` off `expires_at`: with
        // a lifetime of twice the (bounded) buffer that is exactly `buffer`,
        // even for `Duration::MAX` ("as early as possible"), which no sum
        // here may overflow with.
        let buffer = buffer.min(Duration::from_secs(MAX_LIFETIME_SECS));
        Self {
            token,
            expires_at: Instant::now() + fresh_for.min(crate::runtime::time::FAR_FUTURE) + buffer,
            lifetime: buffer * 2,
        }
    }

    /// Fresh until `buffer` before expiry; the buffer is capped at half the lifetime so
    /// a token that lives shorter than the buffer is still reused for a while.
    pub(super) fn is_fresh(&self, now: Instant, buffer: Duration) -> bool {
        crate::runtime::time::after(now, buffer.min(self.lifetime / 2)) < self.expires_at
    }
}

/// What the token cache asks for a new token when it has none fresh.
pub(super) enum TokenSource {
    /// One LWA request per refresh.
    Lwa(Lwa),
    /// The fleet's token in Redis; when it has none, one process asks LWA
    /// under a fleet-wide lock and stores the answer for the others.
    #[cfg(feature = "redis")]
    Shared {
        /// Asked when Redis has no token, or cannot be used.
        lwa: Lwa,
        /// The seller's token in Redis.
        fleet: super::fleet::FleetToken,
    },
}

impl TokenSource {
    /// The LWA exchange underneath.
    pub(super) fn lwa(&self) -> &Lwa {
        match self {
            Self::Lwa(lwa) => lwa,
            #[cfg(feature = "redis")]
            Self::Shared { lwa, .. } => lwa,
        }
    }

    /// The LWA exchange underneath, to configure it.
    pub(super) fn lwa_mut(&mut self) -> &mut Lwa {
        match self {
            Self::Lwa(lwa) => lwa,
            #[cfg(feature = "redis")]
            Self::Shared { lwa, .. } => lwa,
        }
    }

    /// This source, sharing its tokens with every process using the same
    /// Redis (a source that already does is kept as it is).
    #[cfg(feature = "redis")]
    pub(super) fn shared(self, shared: crate::shared::Shared) -> Self {
        match self {
            Self::Lwa(lwa) => {
                let fleet =
                    super::fleet::FleetToken::new(shared, lwa.credentials().client_secret.expose());
                Self::Shared { lwa, fleet }
            }
            already @ Self::Shared { .. } => already,
        }
    }

    /// A new token, each LWA request bounded by `timeout`; `buffer` is the
    /// cache's refresh buffer (a shared token expires that much before the
    /// token does).
    pub(super) async fn token(
        &self,
        timeout: Duration,
        buffer: Duration,
    ) -> Result<CachedToken, AuthError> {
        match self {
            Self::Lwa(lwa) => {
                let _ = buffer;
                lwa.fetch(timeout).await
            }
            #[cfg(feature = "redis")]
            Self::Shared { lwa, fleet } => {
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
                match fleet
                    .token(timeout, timeout, lwa.fetch(timeout), shareable)
                    .await
                {
                    super::fleet::SharedToken::Read(token, fresh_for) => {
                        Ok(CachedToken::read(token, fresh_for, buffer))
                    }
                    super::fleet::SharedToken::Fetched(fetched) => fetched,
                }
            }
        }
    }

    /// Amazon refused `token`: a shared source deletes it from Redis if it is
    /// still the fleet's (the cache forgets its own copy).
    pub(super) fn invalidate(&self, token: &AccessToken) {
        match self {
            Self::Lwa(_) => {
                let _ = token;
            }
            #[cfg(feature = "redis")]
            Self::Shared { fleet, .. } => fleet.invalidate_token(token),
        }
    }
}
