//! Many sellers in one process: an [`App`] holds one application's
//! configuration and hands out a [`Client`] per seller.
//!
//! An `App` is one application's settings (region or endpoint, LWA client
//! id and secret, retries, rate limits, validation, ...), one
//! `reqwest::Client` (one connection pool, one TLS configuration) and a
//! registry of sellers by key. Registering a seller stores its key and
//! refresh token only (a few hundred bytes, no allocation per operation);
//! its state (the access-token cache and one rate-limit bucket per
//! operation used) is made on its first call and dropped once idle: not
//! handed out for [`AppBuilder::idle_after`], no client of it held
//! elsewhere, no token refresh running, no open breaker (see below), and
//! every bucket full again at its usage plan (a new bucket is then the same
//! bucket, so pacing is never weakened). A seller that comes back after
//! that costs one LWA request.
//!
//! Each seller's client has every guarantee of a client from
//! [`Client::builder`]: the same hooks, retries, idempotency keys, one
//! token refresh at a time, rate limits per seller. A seller whose refresh
//! token LWA refuses (`invalid_grant`) fails fast:
//! [`AuthError::SellerRevoked`] names its key, and no LWA request is sent
//! until [`AppBuilder::revoked_retry_after`] has passed; the other sellers
//! are not affected.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[cfg(doc)]
use crate::auth::AuthError;
use crate::auth::{LwaCredentials, Secret};
use crate::error::ConfigError;
use crate::region::Region;
use crate::runtime::dial::Dials;
use crate::types::ShippingBusinessId;
use crate::{Client, ClientBuilder};

/// Registry shards: registrations and look-ups of different sellers rarely
/// wait for each other.
const SHARDS: usize = 32;
/// Default of [`AppBuilder::revoked_retry_after`].
const DEFAULT_REVOKED_RETRY: Duration = Duration::from_secs(5 * 60);
/// Default of [`AppBuilder::max_connections`].
const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Default of [`AppBuilder::idle_after`].
const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(10 * 60);

/// One application's configuration, handing out a [`Client`] per seller;
/// see the [module docs](crate::sellers). Cheap to clone (clones share everything).
///
/// ```
/// use spapi_shipping::{App, Client, Region};
///
/// # fn main() -> Result<(), spapi_shipping::ConfigError> {
/// let app = App::builder()
///     .app_credentials("amzn1.application-oa2-client.example", "client-secret")
///     .settings(Client::builder().region(Region::Europe))
///     .build()?;
/// let client = app.seller("shop-42", "Atzr|refresh-token-of-shop-42")?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    /// Every setting but the credentials, sending through `http`.
    template: ClientBuilder,
    client_id: Box<str>,
    client_secret: Secret,
    /// The app's region (`None`: the endpoint or business ids say where).
    region: Option<Region>,
    revoked_retry_after: Duration,
    idle_after: Duration,
    /// When the app was built: `Entry::last_used` counts seconds from it.
    epoch: Instant,
    /// The next automatic sweep, in seconds from `epoch`.
    next_sweep: AtomicU64,
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Mutex<Shard>]>,
}

/// One shard of the registry: sellers by key.
type Shard = HashMap<Box<str>, Entry>;

/// What [`App::connections`] reports.
///
/// A connection the server or the idle timeout closed is replaced by a new
/// one, after a short wait (100 ms) for a pooled one to
/// come back, and counts again: the counts bound the connections open
/// rather than count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connections {
    /// Connections opened to Amazon's API.
    pub api: usize,
    /// Connections opened to LWA.
    pub lwa: usize,
    /// Dials not made, because a pooled connection came back first.
    pub spared: usize,
}

/// A registered seller.
struct Entry {
    seller: Seller,
    /// The seller's client while it has state; `None` when dormant.
    live: Option<Client>,
    /// When the client was last handed out, in seconds from `epoch`.
    last_used: u32,
}

/// One seller's refresh token, and where the seller differs from the
/// application: its shipping business or region. `Debug` hides the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seller {
    refresh_token: Secret,
    business_id: Option<ShippingBusinessId>,
    region: Option<Region>,
}

impl Seller {
    /// A seller with this refresh token (`Atzr|...`).
    pub fn new(refresh_token: impl Into<Secret>) -> Self {
        Self {
            refresh_token: refresh_token.into(),
            business_id: None,
            region: None,
        }
    }

    /// This seller's shipping business, instead of the application's
    /// ([`ClientBuilder::business_id`]).
    pub fn business_id(mut self, business: ShippingBusinessId) -> Self {
        self.business_id = Some(business);
        self
    }

    /// This seller's region, instead of the application's (an explicit
    /// [`ClientBuilder::endpoint`] still wins).
    pub fn region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }
}

impl From<&str> for Seller {
    fn from(refresh_token: &str) -> Self {
        Self::new(refresh_token)
    }
}

impl From<String> for Seller {
    fn from(refresh_token: String) -> Self {
        Self::new(refresh_token)
    }
}

impl From<Secret> for Seller {
    fn from(refresh_token: Secret) -> Self {
        Self::new(refresh_token)
    }
}

impl From<&Secret> for Seller {
    fn from(refresh_token: &Secret) -> Self {
        Self::new(refresh_token.clone())
    }
}

/// Settings of an [`App`]; start from [`App::builder`].
#[derive(Debug, Clone)]
pub struct AppBuilder {
    settings: ClientBuilder,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    revoked_retry_after: Duration,
    idle_after: Duration,
    max_connections: usize,
}

impl App {
    /// Starts configuring an application.
    pub fn builder() -> AppBuilder {
        AppBuilder {
            settings: Client::builder(),
            client_id: None,
            client_secret: None,
            revoked_retry_after: DEFAULT_REVOKED_RETRY,
            idle_after: DEFAULT_IDLE_AFTER,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Registers a seller under `key` (your name for it, shown in errors
    /// and logs; never the token) and returns its client: [`register`](Self::register)
    /// then [`client`](Self::client). Asking again with the same key and
    /// refresh token gives a client sharing the same token cache and rate
    /// limits; a new refresh token (the seller authorised the application
    /// again) replaces the seller's state.
    pub fn seller(&self, key: &str, seller: impl Into<Seller>) -> Result<Client, ConfigError> {
        let seller = seller.into();
        self.check(&seller)?;
        let mut shard = self.shard(key);
        let now = self.now();
        let entry = match shard.get_mut(key) {
            Some(entry) => {
                if entry.seller != seller {
                    entry.seller = seller;
                    entry.live = None;
                }
                entry
            }
            None => shard.entry(key.into()).or_insert(Entry {
                seller,
                live: None,
                last_used: now,
            }),
        };
        let client = self.make_live(key, entry, now)?;
        drop(shard);
        self.maybe_sweep();
        Ok(client)
    }

    /// Registers a seller under `key` without making its client: no
    /// allocation but the key and the token, no connection, no LWA request.
    /// The state is made on the seller's first [`client`](Self::client)
    /// (or [`seller`](Self::seller)). A new refresh token for a known key
    /// replaces the seller's state.
    pub fn register(&self, key: &str, seller: impl Into<Seller>) -> Result<(), ConfigError> {
        let seller = seller.into();
        self.check(&seller)?;
        let mut shard = self.shard(key);
        match shard.get_mut(key) {
            Some(entry) if entry.seller == seller => {}
            Some(entry) => {
                entry.seller = seller;
                entry.live = None;
            }
            None => {
                let last_used = self.now();
                shard.insert(
                    key.into(),
                    Entry {
                        seller,
                        live: None,
                        last_used,
                    },
                );
            }
        }
        Ok(())
    }

    /// The client of the seller registered under `key`; a configuration
    /// error (setting `seller`) when none is.
    pub fn client(&self, key: &str) -> Result<Client, ConfigError> {
        let mut shard = self.shard(key);
        let now = self.now();
        let Some(entry) = shard.get_mut(key) else {
            return Err(ConfigError::new(
                "seller",
                format!("no seller registered under {key:?}"),
            ));
        };
        let client = self.make_live(key, entry, now)?;
        drop(shard);
        self.maybe_sweep();
        Ok(client)
    }

    /// Forgets the seller registered under `key` (clients of it already
    /// handed out keep working); whether one was.
    pub fn remove(&self, key: &str) -> bool {
        self.shard(key).remove(key).is_some()
    }

    /// How many sellers are registered.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no seller is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connections this application's pools have opened so far, to
    /// Amazon's API and to LWA (all zero with a given
    /// [`http_client`](ClientBuilder::http_client)): a bound on those open,
    /// for metrics. Each stays within [`AppBuilder::max_connections`] while
    /// the pool keeps its connections; see [`Connections`].
    pub fn connections(&self) -> Connections {
        let [api, lwa] = self.inner.template.pools().map_or([(0, 0), (0, 0)], |d| {
            d.each_ref().map(|d| (d.made(), d.spared()))
        });
        Connections {
            api: api.0,
            lwa: lwa.0,
            spared: api.1 + lwa.1,
        }
    }

    /// How many sellers have state (a token cache and buckets) right now.
    pub fn live(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| lock(s).values().filter(|e| e.live.is_some()).count())
            .sum()
    }

    /// Drops the state of every idle seller now (see the [module
    /// docs](self)); returns how many. Also runs by itself, at most once per
    /// [`idle_after`](AppBuilder::idle_after), when clients are handed out.
    pub fn shed_idle(&self) -> usize {
        let now = self.now();
        let idle_after = secs(self.inner.idle_after);
        let mut shed = 0;
        for shard in self.inner.shards.iter() {
            for entry in lock(shard).values_mut() {
                let Some(client) = &entry.live else { continue };
                if now.saturating_sub(entry.last_used) >= idle_after && is_idle(client) {
                    entry.live = None;
                    shed += 1;
                }
            }
        }
        shed
    }

    fn maybe_sweep(&self) {
        let now = u64::from(self.now());
        let next = self.inner.next_sweep.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        let after = now.saturating_add(u64::from(secs(self.inner.idle_after)).max(1));
        if self
            .inner
            .next_sweep
            .compare_exchange(next, after, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let shed = self.shed_idle();
            tracing::debug!(shed, "idle sellers' state dropped");
        }
    }

    /// The seller's client, made now if it has no state.
    fn make_live(&self, key: &str, entry: &mut Entry, now: u32) -> Result<Client, ConfigError> {
        entry.last_used = now;
        if let Some(client) = &entry.live {
            return Ok(client.clone());
        }
        let inner = &self.inner;
        let seller = &entry.seller;
        let credentials = LwaCredentials::new(
            inner.client_id.as_ref(),
            inner.client_secret.clone(),
            seller.refresh_token.clone(),
        );
        let mut builder = inner.template.clone().with_credentials(credentials);
        if let Some(region) = seller.region {
            builder = builder.region(region);
        }
        if let Some(business) = seller.business_id {
            builder = builder.business_id(business);
        }
        let client = builder.build()?;
        if let Some(tokens) = crate::ClientInfo::inner(&client).token_provider() {
            tokens.set_breaker(key, inner.revoked_retry_after);
        }
        entry.live = Some(client.clone());
        Ok(client)
    }

    /// A seller's business must be served by its region.
    fn check(&self, seller: &Seller) -> Result<(), ConfigError> {
        let region = seller.region.or(self.inner.region);
        if let (Some(region), Some(business)) = (region, seller.business_id) {
            let home = Region::of_business(business);
            if home != region {
                return Err(ConfigError::new(
                    "business_id",
                    format!("{business} is served by the {home} region, not {region}"),
                ));
            }
        }
        Ok(())
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let hash = self.inner.hasher.hash_one(key);
        lock(&self.inner.shards[(hash as usize) % SHARDS])
    }

    fn now(&self) -> u32 {
        secs(self.inner.epoch.elapsed())
    }
}

/// Whether only the registry holds the seller's client and nothing in its
/// state is worth keeping; full buckets are dropped on the way.
fn is_idle(client: &Client) -> bool {
    let inner = crate::ClientInfo::inner(client);
    inner.holders() == 1
        && inner.token_provider().is_none_or(|t| t.is_idle())
        && inner.rate_limiter().shed_full()
}

fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update leaves the map consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.inner.client_id)
            .field("sellers", &self.len())
            .field("live", &self.live())
            .field("revoked_retry_after", &self.inner.revoked_retry_after)
            .field("idle_after", &self.inner.idle_after)
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// The application's LWA client id and secret (required); each
    /// seller's refresh token is given to [`App::seller`].
    pub fn app_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Every other setting, as for one client: region, endpoint, token URL,
    /// timeouts, retries, rate limits, validation, TLS roots, Redis, ...
    /// (default `Client::builder()`). Its credentials must be unset: the
    /// application's come from [`app_credentials`](Self::app_credentials),
    /// each seller's refresh token from [`App::seller`]. One HTTP client is
    /// made from these settings for every seller (or the given
    /// [`http_client`](ClientBuilder::http_client) is used).
    pub fn settings(mut self, settings: ClientBuilder) -> Self {
        self.settings = settings;
        self
    }

    /// How long a seller whose refresh token LWA refused (`invalid_grant`)
    /// fails at once with [`AuthError::SellerRevoked`] before one call asks
    /// LWA again (default 5 minutes). Registering a new refresh token for
    /// the seller ends it at once.
    pub fn revoked_retry_after(mut self, interval: Duration) -> Self {
        self.revoked_retry_after = interval;
        self
    }

    /// How long a seller's client must not have been handed out before its
    /// state may be dropped (default 10 minutes; whole seconds). It is
    /// dropped only once nothing in it is worth keeping; see the [module
    /// docs](self).
    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle_after = idle;
        self
    }

    /// At most this many requests in flight over the application's pool to
    /// each host, all sellers together (default 64), so it does not open
    /// more connections to it: API requests to Amazon's host (a request
    /// waits for a slot, within its call deadline, after its rate-limit
    /// slot), and token requests to LWA (1,000 sellers starting together
    /// refresh 64 at a time, not 1,000 at once). Not applied with a given
    /// [`http_client`](ClientBuilder::http_client).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Checks the settings (by building one client from them) and makes the
    /// application's HTTP client.
    pub fn build(self) -> Result<App, ConfigError> {
        let (Some(client_id), Some(client_secret)) = (self.client_id, self.client_secret) else {
            return Err(ConfigError::new(
                "app_credentials",
                "not set: the application's LWA client id and secret",
            ));
        };
        let parts = self.settings.app_parts();
        if parts.has_credentials {
            return Err(ConfigError::new(
                "credentials",
                "an App's settings take no credentials: give the application's to \
                 AppBuilder::app_credentials and each seller's refresh token to App::seller",
            ));
        }
        let region = parts.region;
        let mut template = self.settings;
        if self.max_connections == 0 {
            return Err(ConfigError::new("max_connections", "must be at least 1"));
        }
        if !parts.has_http {
            // Per host (Amazon's API, LWA): requests in flight, and dials.
            let limit = self.max_connections;
            let (api, lwa) = (Dials::new(limit), Dials::new(limit));
            let api_http = template.own_http_bounded(Arc::clone(&api))?;
            let lwa_http = template.own_http_bounded(Arc::clone(&lwa))?;
            template = template.pooled_http((api_http, api), (lwa_http, lwa));
        }
        // One Redis connection for all the sellers (when Redis is set).
        template = template.shared_redis()?;
        // Every setting checked once, here, rather than at a seller's first call.
        let probe = LwaCredentials::new(client_id.as_str(), client_secret.clone(), "Atzr|probe");
        template.clone().with_credentials(probe).build()?;
        Ok(App {
            inner: Arc::new(AppInner {
                template,
                client_id: client_id.into(),
                client_secret,
                region,
                revoked_retry_after: self.revoked_retry_after,
                idle_after: self.idle_after,
                epoch: Instant::now(),
                next_sweep: AtomicU64::new(u64::from(secs(self.idle_after)).max(1)),
                hasher: Default::default(),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            }),
        })
    }
}
