//! A fleet of processes sharing one seller's quota and one access token
//! through Redis (feature `redis`; issue 13).
//!
//! This module is the connection: [`RedisSettings`], one connection per
//! process for every client built from one configuration, and each
//! seller's handle on it, which falls back to local state and probes while
//! Redis is away. What runs over it sits beside its local twin: the
//! fleet's token buckets (their Lua scripts and the asks) beside the local
//! bucket in [`rate_limit`](crate::rate_limit), the fleet's token (refresh
//! lock, sealing) beside the token cache in [`auth`](crate::auth).
//!
//! Amazon's usage plan is per application and selling partner, so every
//! worker of a seller draws on the same bucket. With
//! [`ClientBuilder::redis_url`](crate::ClientBuilder::redis_url) (or
//! `SP_API_REDIS_URL`) the client keeps, in Redis:
//!
//! - one token bucket per (application, selling partner, operation), updated
//!   atomically by a Lua script on the Redis server's clock, with the same
//!   rules as the local [`RateLimiter`](crate::rate_limit::RateLimiter): it
//!   follows `x-amzn-RateLimit-Limit` (an observed rate is written to the
//!   shared bucket), waits rather than fails, and after a full bucket starts
//!   to drain counts refill only from the first answer to that burst (from
//!   any process), so the fleet never runs ahead of Amazon's bucket;
//! - the LWA access token, under a hash of client id and refresh token,
//!   expiring the same early-refresh margin before the token does; one
//!   process at a time refreshes it (`SET NX PX` lock), the others wait and
//!   read it; an expired-token 403 deletes only the token it used
//!   (compare and delete).
//!
//! Keys are `<prefix>:{<seller>}:...`, where `<seller>` is a SHA-256 of the
//! refresh token (never the token itself): the `{hash tag}` puts all of a
//! seller's keys in one Redis Cluster slot, so each script touches one slot.
//!
//! Redis Cluster is spoken natively (issue 20 item 4): with
//! `redis+cluster://host:port,host:port` (`rediss+cluster://` over TLS) or
//! [`RedisSettings::cluster`] the client reads the cluster's slot map from
//! any of those seed nodes and sends each seller's commands and scripts to
//! the master of that seller's slot, following `MOVED` and `ASK` as the
//! cluster reshards (redis-rs's cluster client). Sellers spread over the
//! masters; each one's state lives on one. A master that is down costs its sellers the local fallback
//! below until it (or its replica) serves the slot again (and every
//! seller, once a cluster requiring full slot coverage declares itself
//! down); the probe runs on the seller's slot, so other masters answering
//! does not count.
//!
//! Redis down, slow or restarted never fails a call: every Redis command is
//! bounded by a short timeout; on the first failure the client warns once,
//! uses its local limiter and token cache, probes Redis in the background
//! and returns to shared mode when it answers. Keeping the fleet's pace
//! through those faults (issue 20):
//!
//! - the local buckets a fallback starts with are empty, and refill at this
//!   process's share of the plan: one over the processes that acquired
//!   within the last 10 s, as Redis counted them at the last acquire (a
//!   sorted set per seller); N processes falling back together send the
//!   plan's pace, not N bursts into a bucket the fleet just drained;
//! - a bucket this process used within the last 50 s and now finds missing
//!   was lost (an emptied or failed-over Redis: a key lives at least a
//!   minute past its last use), and is recreated empty, not full;
//! - the probe runs a script that writes in the seller's slot, not a PING,
//!   so a Redis that answers PING but refuses the scripts (Cluster `MOVED`,
//!   `READONLY` after a failover, `OOM`, an ACL user without scripting)
//!   keeps the client in local mode instead of flapping every probe;
//! - while a burst waits for its first answer, one task per process and
//!   operation polls Redis; the others wait for it;
//! - the token refresh lock lives 1 s and its holder renews it every third
//!   of that while LWA answers, so a holder killed mid-refresh costs the
//!   fleet about a second, not the LWA timeout.
//!
//! Security (issue 20 item 5):
//!
//! - Plain-text `redis://` is refused for any host but loopback, like plain
//!   `http://`, unless [`RedisSettings::allow_insecure`] (or
//!   `SP_API_REDIS_ALLOW_INSECURE=true`) says otherwise: use `rediss://`.
//! - `rediss://` uses the client's own TLS configuration: the crypto
//!   provider the `ring`/`aws-lc-rs` features choose (never a process-wide
//!   one), and the roots `webpki-roots` and
//!   [`tls_root_certificate`](crate::ClientBuilder::tls_root_certificate)
//!   select. The client opens the stream itself and hands it to redis-rs,
//!   whose own TLS would take the process's default provider and roots.
//! - A Redis Cluster over TLS (`rediss+cluster://`, `rediss://` seeds)
//!   likewise: each node's connection is opened by this client
//!   (`TlsNode`, redis-rs's `cluster_async::Connect`). That trait is a
//!   static constructor, so the TLS configuration is registered
//!   process-wide: one configuration (one set of extra roots) for all the
//!   TLS clusters of a process at a time; a client with other roots is
//!   refused with a [`ConfigError`] while another lives.
//! - Access tokens are sealed before they are stored: XChaCha20-Poly1305
//!   under a key derived from the application's client secret (HKDF-SHA256,
//!   info [`TOKEN_SEAL_INFO`]), with the Redis key name as associated data.
//!   Read access to Redis alone yields no bearer token, and a sealed token
//!   moved to another seller's key does not open. A value that does not open
//!   (an older plain-text one, another application's, altered) counts as no
//!   token: one is fetched and stored over it; its content is never logged.
//!
//! Protect Redis anyway (a password, TLS, no public port): whoever can write
//! to it can still slow the fleet's pacing or make it refresh tokens.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, Script, ToRedisArgs};
use sha2::{Digest, Sha256};

use crate::auth::LwaCredentials;
use crate::error::ConfigError;

/// Default bound on one Redis command: Redis answers in well under a
/// millisecond on a healthy network, so this only ever fires when it is
/// down or overloaded, and then the call goes on with local state.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "spapi-shipping";

/// How often an unreachable Redis is tried again.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// The HKDF-SHA256 `info` of the key that seals access tokens in Redis
/// (the input key material is the application's LWA client secret, no
/// salt). Changing it makes every stored token unreadable (each is then
/// fetched again once).
pub const TOKEN_SEAL_INFO: &str = "spapi-shipping/redis-token-seal/v1";

/// Where and how to reach Redis. The URL may carry a password
/// (`redis://:password@host:6379/0`, `rediss://user:password@host`); `Debug`
/// never shows it.
///
/// A Redis Cluster is named by its seed nodes, either in one URL
/// (`redis+cluster://:password@10.0.0.1:7000,10.0.0.2:7000`, which
/// `SP_API_REDIS_URL` accepts too) or with [`cluster`](Self::cluster);
/// over TLS, `rediss+cluster://` or `rediss://` seeds (see
/// [`cluster`](Self::cluster) for the one rule TLS clusters follow).
#[derive(Clone, PartialEq)]
pub struct RedisSettings {
    /// The server's URL; for a cluster made with [`cluster`](Self::cluster),
    /// its first seed.
    url: String,
    /// A cluster's other seeds (from [`cluster`](Self::cluster)).
    seeds: Vec<String>,
    /// Whether [`cluster`](Self::cluster) named the seeds (a
    /// `redis+cluster://` URL says so itself).
    cluster: bool,
    key_prefix: String,
    timeout: Duration,
    allow_insecure: bool,
}

impl RedisSettings {
    /// Redis at `url`, default prefix and timeout: `redis://` (plain text),
    /// `rediss://` (TLS), `redis+unix:///path` or `unix:///path` (a Unix
    /// socket), or a Redis Cluster's seed nodes as
    /// `redis+cluster://[user:password@]host:port,host:port[/db]`
    /// (`rediss+cluster://` over TLS; `valkey`/`valkeys` likewise).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            seeds: Vec::new(),
            cluster: false,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            allow_insecure: false,
        }
    }

    /// A Redis Cluster reached through these seed nodes (`redis://` or
    /// `rediss://` URLs, all with the same scheme and the same password if
    /// any): the client reads the slot map from the first one that answers
    /// and then talks to each master that holds a seller's slot, following
    /// `MOVED` as the cluster reshards. One seed is enough; more let the
    /// client start while one is down.
    ///
    /// Over TLS (`rediss://` seeds, or a `rediss+cluster://` URL): every
    /// node's connection, to the seeds and to the nodes the cluster
    /// announces, uses this client's TLS configuration (the provider the
    /// `ring`/`aws-lc-rs` features choose, the roots of `webpki-roots` or
    /// the system and
    /// [`tls_root_certificate`](crate::ClientBuilder::tls_root_certificate));
    /// each node's certificate must name the host the cluster announces
    /// for it (usually its IP address). Any host is allowed, and
    /// `#insecure` (no certificate checks) is refused. One rule: redis-rs's
    /// cluster client connects to each node through a static function that
    /// cannot be handed a TLS configuration, so the client registers it
    /// process-wide, and **every TLS cluster of a process uses one TLS
    /// configuration at a time**: building one with other
    /// `tls_root_certificate` roots while another lives is a
    /// [`ConfigError`] (build them with the same roots).
    ///
    /// Plain text: seeds off loopback need
    /// [`allow_insecure`](Self::allow_insecure), and without it every node
    /// the cluster announces must resolve to loopback too.
    ///
    /// Seeds mixing TLS and plain text are a [`ConfigError`] when the client
    /// is built.
    pub fn cluster<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> Self {
        let mut seeds = seeds.into_iter().map(Into::into);
        let url = seeds.next().unwrap_or_default();
        Self {
            seeds: seeds.collect(),
            cluster: true,
            ..Self::new(url)
        }
    }

    /// Whether these settings name a Redis Cluster
    /// ([`cluster`](Self::cluster) or a `redis+cluster://` URL).
    pub fn is_cluster(&self) -> bool {
        self.cluster || cluster_hosts(&self.url).is_some()
    }

    /// Accept plain-text `redis://` to hosts other than loopback (default
    /// false), the rule [`allow_insecure_http`](crate::ClientBuilder::allow_insecure_http)
    /// applies to `http://`: the Redis password, the rate-limit state and
    /// the (sealed) access tokens would cross the network readable and
    /// alterable by anyone on the path, so only `127.0.0.0/8`, `::1`,
    /// `localhost` and Unix sockets are allowed without this; use
    /// `rediss://`. From the environment: `SP_API_REDIS_ALLOW_INSECURE=true`.
    pub fn allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// Prefix of every key (default `spapi-shipping`): separates
    /// environments or applications sharing one Redis.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Bound on each Redis command and connection attempt (default 250 ms);
    /// past it the call goes on with local state. `Duration::MAX` means no
    /// bound.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field(
                "seeds",
                &self.seeds.iter().map(|s| redact_url(s)).collect::<Vec<_>>(),
            )
            .field("cluster", &self.is_cluster())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

use crate::config::redact_url;

/// First 32 hex digits of SHA-256: names a secret without revealing it.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The keys of one (application, selling partner), all in one slot.
#[derive(Debug)]
pub(crate) struct Keys {
    /// `<prefix>:{<seller>}:rl:<app>:` — one bucket per operation follows.
    pub(crate) bucket_base: String,
    /// The sealed access token.
    pub(crate) token: String,
    /// The lock of its refresh.
    pub(crate) token_lock: String,
    /// The processes drawing on the seller's buckets (a sorted set).
    pub(crate) fleet: String,
    /// What the probe writes: in the seller's slot, through a script, so
    /// it answers only when the client's own commands would work.
    probe: String,
}

impl Keys {
    fn new(prefix: &str, credentials: Option<&LwaCredentials>) -> Self {
        let (seller, app, token) = match credentials {
            Some(c) => (
                digest(&[c.refresh_token.expose()]),
                digest(&[&c.client_id]),
                digest(&[&c.client_id, c.refresh_token.expose()]),
            ),
            None => ("none".to_owned(), "none".to_owned(), "none".to_owned()),
        };
        let seller = format!("{prefix}:{{{seller}}}");
        Self {
            bucket_base: format!("{seller}:rl:{app}:"),
            token: format!("{seller}:token:{token}"),
            token_lock: format!("{seller}:token:{token}:lock"),
            fleet: format!("{seller}:fleet:{app}"),
            probe: format!("{seller}:probe"),
        }
    }
}

/// What the background probe runs: a script that writes in the seller's
/// slot, so a Redis that answers PING but refuses what the client needs
/// (scripts, writes: Cluster `MOVED`, `READONLY` after a failover, `OOM`,
/// an ACL user without scripting) is not taken as back.
const PROBE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000)
return 1
";

static PROBE_LUA: LazyLock<Lua> = LazyLock::new(|| Lua::new(PROBE));

/// The shared state of one client (all its clones): cheap to clone.
#[derive(Clone)]
pub(crate) struct Shared {
    inner: Arc<SharedInner>,
}

/// The Redis connection of a process, made once and shared by every
/// client built from one configuration (all the sellers of an
/// [`App`](crate::App)): one connection per process, however many sellers.
pub(crate) struct Link {
    /// Where to connect, and with which TLS configuration.
    target: Target,
    /// Database, user and password, sent when a connection is made.
    login: redis::RedisConnectionInfo,
    url: String,
    timeout: Duration,
    /// The connection while Redis answers; dropped when a command fails,
    /// and made again (by the next call or a probe).
    connection: Mutex<Option<Connection>>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Checks the URL and the transport (no connection is made until the
    /// first call); `tls_roots` are the client's extra roots for `rediss://`.
    pub(crate) fn new(
        settings: &RedisSettings,
        tls_roots: &[Vec<u8>],
    ) -> Result<Arc<Self>, ConfigError> {
        let shown = std::iter::once(&settings.url)
            .chain(&settings.seeds)
            .map(|url| redact_url(url))
            .collect::<Vec<_>>()
            .join(",");
        let (target, login) = Target::parse(settings, &shown, tls_roots)?;
        if settings.timeout.is_zero() {
            return Err(ConfigError::new("redis.timeout", "must be more than zero"));
        }
        Ok(Arc::new(Self {
            target,
            login,
            url: shown,
            timeout: settings.timeout,
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }))
    }
}

/// One seller's Redis handle over a [`Link`]: its keys, and whether Redis
/// serves it (a cluster may fail one seller's slot only).
struct SharedInner {
    link: Arc<Link>,
    keys: Keys,
    /// Whether Redis is in use (false while it is unreachable).
    up: AtomicBool,
    /// Whether a background probe is running.
    probing: AtomicBool,
    /// Redis outages so far (for tests and logs).
    outages: AtomicU64,
    /// This process in the fleet's member set (and the probe's value).
    member: String,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("url", &self.inner.link.url)
            .field("up", &self.inner.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A seller's state over its own [`Link`]; see [`Link::new`].
    pub(crate) fn new(
        settings: &RedisSettings,
        credentials: Option<&LwaCredentials>,
        tls_roots: &[Vec<u8>],
    ) -> Result<Self, ConfigError> {
        Ok(Self::over(
            Link::new(settings, tls_roots)?,
            settings,
            credentials,
        ))
    }

    /// A seller's state over `link`, a connection shared with other
    /// sellers (its keys under `settings`' prefix).
    pub(crate) fn over(
        link: Arc<Link>,
        settings: &RedisSettings,
        credentials: Option<&LwaCredentials>,
    ) -> Self {
        let inner = SharedInner {
            link,
            keys: Keys::new(&settings.key_prefix, credentials),
            up: AtomicBool::new(true),
            probing: AtomicBool::new(false),
            outages: AtomicU64::new(0),
            member: uuid::Uuid::new_v4().simple().to_string(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Whether the client currently uses Redis (false while it falls back
    /// to local state).
    pub(crate) fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// How many times Redis has become unreachable.
    pub(crate) fn outages(&self) -> u64 {
        self.inner.outages.load(Ordering::Relaxed)
    }

    /// The seller's keys.
    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// This process's name in the fleet (a random id, per seller).
    pub(crate) fn member(&self) -> &str {
        &self.inner.member
    }

    /// Runs a script call; `None` when Redis could not be used (it is then
    /// taken as away until the probe finds it back).
    pub(crate) async fn run<T: redis::FromRedisValue>(&self, call: &Call<'_>) -> Option<T> {
        let mut connection = self.connection().await?;
        self.bounded(call.invoke_async(&mut connection)).await
    }

    /// Runs a command; `None` when Redis could not be used.
    pub(crate) async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Option<T> {
        let mut connection = self.connection().await?;
        self.bounded(command.query_async(&mut connection)).await
    }

    /// The connection, or `None` while Redis is unreachable. Made on first
    /// use (within the timeout), and again after a failure.
    async fn connection(&self) -> Option<Connection> {
        if !self.is_up() {
            self.probe();
            return None;
        }
        if let Some(connection) = lock(&self.inner.link.connection).clone() {
            return Some(connection);
        }
        let _connecting = self.inner.link.connecting.lock().await;
        if let Some(connection) = lock(&self.inner.link.connection).clone() {
            return Some(connection);
        }
        match self.inner.link.connect().await {
            Ok(connection) => {
                *lock(&self.inner.link.connection) = Some(connection.clone());
                Some(connection)
            }
            Err(why) => {
                self.down(&why);
                None
            }
        }
    }

    /// Runs one Redis command within the timeout; a failure switches the
    /// client to local state until Redis answers again.
    async fn bounded<T>(&self, command: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.inner.link.timeout, command).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.down(&format!("{:?}", e.kind()));
                None
            }
            Err(_) => {
                self.down(&format!("no answer within {:?}", self.inner.link.timeout));
                None
            }
        }
    }

    fn down(&self, why: &str) {
        // Made again by the probe: a dropped connection is not reused.
        *lock(&self.inner.link.connection) = None;
        if self.inner.up.swap(false, Ordering::Relaxed) {
            let before = self.inner.outages.fetch_add(1, Ordering::Relaxed);
            // Warned once per client: a flapping Redis must not flood the log.
            if before == 0 {
                tracing::warn!(
                    redis = %self.inner.link.url,
                    error = why,
                    "Redis unusable: pacing and caching the token in this process only until it \
                     answers again (retried in the background; warned once)"
                );
            } else {
                tracing::debug!(redis = %self.inner.link.url, error = why, outages = before + 1, "Redis unusable again");
            }
        }
        self.probe();
    }

    /// Starts the background probe unless one runs: it runs a script that
    /// writes in the seller's slot (what the client needs, not a PING) until
    /// it succeeds, then switches back to shared mode.
    fn probe(&self) {
        if self.inner.probing.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak: Weak<SharedInner> = Arc::downgrade(&self.inner);
        spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                let Some(inner) = weak.upgrade() else { return };
                let Ok(mut connection) = inner.link.connect().await else {
                    continue;
                };
                let mut probe = PROBE_LUA.key(&inner.keys.probe);
                probe.arg(&inner.member);
                let answered = tokio::time::timeout(
                    inner.link.timeout,
                    probe.invoke_async::<i64>(&mut connection),
                )
                .await;
                if let Ok(Ok(_)) = answered {
                    *lock(&inner.link.connection) = Some(connection);
                    inner.probing.store(false, Ordering::Relaxed);
                    inner.up.store(true, Ordering::Relaxed);
                    if inner.outages.load(Ordering::Relaxed) <= 1 {
                        tracing::info!(redis = %inner.link.url, "Redis answers again: shared mode resumed");
                    } else {
                        tracing::debug!(redis = %inner.link.url, "Redis answers again");
                    }
                    return;
                }
            }
        });
    }
}

impl Link {
    /// A new connection within the timeout: TCP (or a Unix socket), TLS
    /// for `rediss://` with the client's own configuration, then redis-rs
    /// on top (login, database). The error says why, without secrets.
    async fn connect(&self) -> Result<Connection, String> {
        let open = async {
            let stream: Pin<Box<dyn Stream>> = match &self.target {
                // The cluster client connects to the seeds, reads the slot
                // map and opens each master's connection (bounded by the
                // builder's connection timeout, and all of it by ours).
                Target::Cluster { client, tls: None } => {
                    let connection = client
                        .get_async_connection()
                        .await
                        .map_err(|e| format!("cluster: {:?}", e.kind()))?;
                    return Ok(Connection::Cluster(connection));
                }
                // Over TLS: the same cluster client, its node connections
                // made by `TlsNode` with the configuration `tls` keeps
                // registered (`ClusterTls`). `get_async_generic_connection`
                // is doc-hidden in redis-rs 1.8 (public, but outside its
                // documented API): Cargo.lock pins 1.8.1 for our builds
                // and CI, and a later 1.x without it fails to compile
                // here rather than misbehaving.
                Target::Cluster {
                    client,
                    tls: Some(_),
                } => {
                    let connection = client
                        .get_async_generic_connection::<TlsNode>()
                        .await
                        .map_err(|e| format!("cluster over TLS: {}", describe(&e)))?;
                    return Ok(Connection::TlsCluster(connection));
                }
                Target::Tcp { host, port, tls } => {
                    let tcp = tokio::net::TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|e| format!("connect: {}", e.kind()))?;
                    let _ = tcp.set_nodelay(true);
                    match tls {
                        None => Box::pin(tcp),
                        Some((config, name)) => Box::pin(
                            tokio_rustls::TlsConnector::from(Arc::clone(config))
                                .connect(name.clone(), tcp)
                                .await
                                .map_err(|e| format!("TLS: {e}"))?,
                        ),
                    }
                }
                #[cfg(unix)]
                Target::Unix(path) => Box::pin(
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| format!("connect: {}", e.kind()))?,
                ),
            };
            // Each command is bounded by `Shared::bounded`.
            let config = AsyncConnectionConfig::new().set_response_timeout(None);
            let (connection, driver) =
                MultiplexedConnection::new_with_config(&self.login, stream, config)
                    .await
                    .map_err(|e| format!("{:?}", e.kind()))?;
            tokio::spawn(driver);
            Ok(Connection::Single(connection))
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(result) => result,
            Err(_) => Err(format!("no connection within {:?}", self.timeout)),
        }
    }
}

/// What a Redis connection runs over.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send> Stream for T {}

/// Where Redis is, and how to reach it.
enum Target {
    Tcp {
        host: String,
        port: u16,
        /// For `rediss://`: the client's TLS configuration and the name the
        /// certificate must have.
        tls: Option<(
            Arc<rustls::ClientConfig>,
            rustls::pki_types::ServerName<'static>,
        )>,
    },
    #[cfg(unix)]
    Unix(std::path::PathBuf),
    /// A Redis Cluster, through redis-rs's cluster client (boxed, being
    /// several times the size of the others).
    Cluster {
        client: Box<redis::cluster::ClusterClient>,
        /// Over TLS (`rediss+cluster://`, `rediss://` seeds): the
        /// process's cluster TLS configuration, held (and so kept
        /// registered) while this link lives; its node connections are
        /// [`TlsNode`]s. `None`: plain text, redis-rs's own connections.
        tls: Option<Arc<ClusterTls>>,
    },
}

impl Target {
    /// Reads the URL with redis-rs (`rediss://` as `redis://`, since the
    /// TLS is ours), refuses plain text off loopback unless allowed, and
    /// makes the TLS configuration.
    fn parse(
        settings: &RedisSettings,
        shown: &str,
        tls_roots: &[Vec<u8>],
    ) -> Result<(Self, redis::RedisConnectionInfo), ConfigError> {
        if let Some(seeds) = settings.cluster_seeds() {
            return Self::parse_cluster(settings, shown, seeds, tls_roots);
        }
        let url = settings.url.trim();
        let (plain, tls) = match url.split_once("://") {
            Some(("rediss", rest)) => (format!("redis://{rest}"), true),
            Some(("valkeys", rest)) => (format!("valkey://{rest}"), true),
            _ => (url.to_owned(), false),
        };
        let not_redis = |why: String| {
            ConfigError::new(
                "redis_url",
                format!("{shown} is not a Redis URL (expected redis:// or rediss://): {why}"),
            )
        };
        if tls && plain.ends_with("#insecure") {
            return Err(ConfigError::new(
                "redis_url",
                format!(
                    "{shown} asks for TLS without certificate checks (#insecure), which this \
                     client does not do; trust the server's CA with tls_root_certificate"
                ),
            ));
        }
        let info = redis::IntoConnectionInfo::into_connection_info(plain.as_str())
            .map_err(|e| not_redis(format!("{:?}", e.kind())))?;
        let login = info.redis_settings().clone();
        let target = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if !tls && !settings.allow_insecure && !crate::config::is_loopback_host(host) {
                    return Err(ConfigError::new(
                        "redis_url",
                        format!(
                            "{shown} is plain-text Redis to a non-loopback host: the Redis \
                             password, access tokens and rate-limit state would travel \
                             unencrypted; use rediss://, or opt in with \
                             RedisSettings::allow_insecure(true) \
                             (SP_API_REDIS_ALLOW_INSECURE=true)"
                        ),
                    ));
                }
                let tls = if tls {
                    let mut config = crate::config::tls_config(tls_roots)?;
                    // Redis speaks no ALPN protocol (the HTTP one is for reqwest).
                    config.alpn_protocols.clear();
                    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                        .map_err(|_| not_redis(format!("{host:?} is not a TLS server name")))?;
                    Some((Arc::new(config), name))
                } else {
                    None
                };
                Target::Tcp {
                    host: host.to_owned(),
                    port: *port,
                    tls,
                }
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Target::Unix(path.clone()),
            _ => return Err(not_redis("unsupported address".to_owned())),
        };
        Ok((target, login))
    }
}

impl RedisSettings {
    /// A cluster's seed URLs (`None` for a single server).
    fn cluster_seeds(&self) -> Option<Vec<String>> {
        if let Some(hosts) = cluster_hosts(&self.url) {
            let mut seeds = hosts;
            seeds.extend(self.seeds.iter().cloned());
            return Some(seeds);
        }
        self.cluster.then(|| {
            std::iter::once(&self.url)
                .chain(&self.seeds)
                .filter(|url| !url.trim().is_empty())
                .cloned()
                .collect()
        })
    }
}

/// The seeds of a `redis+cluster://[userinfo@]host:port,host:port[/db]`
/// URL, each as a `redis://` URL with the userinfo and path (`rediss+`,
/// `valkey+` and `valkeys+cluster` likewise, `rediss+cluster` giving
/// `rediss://` seeds); `None` for any other URL.
fn cluster_hosts(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let base = scheme
        .to_ascii_lowercase()
        .strip_suffix("+cluster")
        .filter(|base| matches!(*base, "redis" | "rediss" | "valkey" | "valkeys"))?
        .to_owned();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    Some(
        hosts
            .split(',')
            .map(|host| format!("{base}://{userinfo}{}{path}", host.trim()))
            .collect(),
    )
}

impl Target {
    /// A cluster's seeds, all plain (`redis://`, `valkey://`) or all TLS
    /// (`rediss://`, `valkeys://`; mixing them is refused).
    ///
    /// Plain text: loopback unless insecure is allowed, and then every node
    /// the cluster announces must resolve to loopback too
    /// ([`LoopbackOnly`]); redis-rs opens the node connections.
    ///
    /// TLS: any host (`#insecure` refused, as for one server); every node's
    /// connection is a [`TlsNode`], with this client's TLS configuration
    /// registered process-wide ([`ClusterTls`]: redis-rs's `Connect` is a
    /// static constructor, so there is no other way to hand it over; one
    /// configuration for all the TLS clusters of a process).
    fn parse_cluster(
        settings: &RedisSettings,
        shown: &str,
        seeds: Vec<String>,
        tls_roots: &[Vec<u8>],
    ) -> Result<(Self, redis::RedisConnectionInfo), ConfigError> {
        let error = |why: String| ConfigError::new("redis_url", format!("{shown}: {why}"));
        if seeds.is_empty() {
            return Err(error(
                "a Redis Cluster needs at least one seed node".to_owned(),
            ));
        }
        let mut nodes = Vec::with_capacity(seeds.len());
        let mut over_tls: Option<bool> = None;
        for seed in &seeds {
            let seed = seed.trim();
            let (scheme, rest) = seed.split_once("://").unwrap_or(("", seed));
            let (plain, tls) = match scheme.to_ascii_lowercase().as_str() {
                "redis" => (seed.to_owned(), false),
                "valkey" => (seed.to_owned(), false),
                // The TLS is ours: redis-rs reads the seed as plain text.
                "rediss" => (format!("redis://{rest}"), true),
                "valkeys" => (format!("valkey://{rest}"), true),
                _ => {
                    return Err(error(format!(
                        "seed {} is not a redis:// or rediss:// URL (a cluster's nodes are \
                         reached over TCP)",
                        redact_url(seed)
                    )));
                }
            };
            if *over_tls.get_or_insert(tls) != tls {
                return Err(error(
                    "the seeds mix TLS (rediss://) and plain text (redis://): a cluster's \
                     nodes are all reached one way; name every seed with the same scheme"
                        .to_owned(),
                ));
            }
            if tls && plain.ends_with("#insecure") {
                return Err(error(format!(
                    "seed {} asks for TLS without certificate checks (#insecure), which this \
                     client does not do; trust the nodes' CA with tls_root_certificate",
                    redact_url(seed)
                )));
            }
            let node =
                redis::IntoConnectionInfo::into_connection_info(plain.as_str()).map_err(|e| {
                    error(format!(
                        "seed {} is not a Redis URL: {:?}",
                        redact_url(seed),
                        e.kind()
                    ))
                })?;
            let ConnectionAddr::Tcp(host, _) = node.addr() else {
                return Err(error(format!(
                    "seed {} is not a TCP address",
                    redact_url(seed)
                )));
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if !tls && !settings.allow_insecure && !crate::config::is_loopback_host(host) {
                return Err(error(
                    "plain-text Redis Cluster to a non-loopback host: the Redis password, \
                     access tokens and rate-limit state would travel unencrypted; use \
                     rediss+cluster://, or opt in with RedisSettings::allow_insecure(true) \
                     (SP_API_REDIS_ALLOW_INSECURE=true) on a private network"
                        .to_owned(),
                ));
            }
            if tls && rustls::pki_types::ServerName::try_from(host.to_owned()).is_err() {
                return Err(error(format!(
                    "seed {}: {host:?} is not a TLS server name",
                    redact_url(seed)
                )));
            }
            nodes.push(node);
        }
        let login = nodes[0].redis_settings().clone();
        // Capped: an hour is "no bound" in practice, and redis-rs adds it
        // to instants. Our own timeout bounds the whole connection anyway.
        let connect = settings.timeout.min(Duration::from_secs(3600));
        let mut builder =
            redis::cluster::ClusterClientBuilder::new(nodes).connection_timeout(connect);
        let tls = if over_tls == Some(true) {
            Some(
                ClusterTls::register(tls_roots, connect)
                    .map_err(|e| ConfigError::new(e.setting, format!("{shown}: {}", e.message)))?,
            )
        } else {
            if !settings.allow_insecure {
                builder = builder.async_dns_resolver(LoopbackOnly);
            }
            None
        };
        // Its errors name a mismatch between seeds (passwords, users,
        // databases), never a password itself.
        let client = builder
            .build()
            .map_err(|e| error(format!("not a usable cluster configuration: {e}")))?;
        Ok((
            Target::Cluster {
                client: Box::new(client),
                tls,
            },
            login,
        ))
    }
}

/// Resolves a cluster node's name to its loopback addresses only: without
/// [`RedisSettings::allow_insecure`], the nodes a loopback seed announces
/// (in its slot map or in a `MOVED`) must not take the plain-text traffic
/// off the machine either.
struct LoopbackOnly;

impl redis::io::AsyncDNSResolver for LoopbackOnly {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> redis::RedisFuture<'a, Box<dyn Iterator<Item = std::net::SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
                .await?
                .filter(|address| address.ip().is_loopback())
                .collect();
            if found.is_empty() {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a cluster node off loopback, in plain text: refused without \
                     RedisSettings::allow_insecure",
                )));
            }
            Ok(Box::new(found.into_iter())
                as Box<
                    dyn Iterator<Item = std::net::SocketAddr> + Send + 'a,
                >)
        })
    }
}

/// The TLS configuration of the Redis Cluster node connections of this
/// process ([`TlsNode`]), with the bound on each node's connection.
///
/// Why process-wide: redis-rs's cluster client opens each node's
/// connection through `cluster_async::Connect::connect_with_config`, a
/// static function given only the node's `ConnectionInfo` (address, login)
/// and an `AsyncConnectionConfig` whose fields are private; neither can
/// carry a rustls configuration, and the client takes no connector. So the
/// configuration is registered here, in one slot, for all the TLS clusters
/// of the process, and the rule is: **one TLS configuration for every Redis
/// Cluster link of a process at a time**. Links with the same extra roots
/// ([`tls_root_certificate`](crate::ClientBuilder::tls_root_certificate);
/// the provider and `webpki-roots` are fixed per build) share it; building
/// a cluster link with other roots while one lives is a [`ConfigError`]
/// saying so. The slot holds it weakly: it goes with its last link.
struct ClusterTls {
    /// The extra roots it was made with (what a second link must match).
    roots: Vec<Vec<u8>>,
    config: Arc<rustls::ClientConfig>,
    /// Bound on one node's connection (TCP, TLS, login), in milliseconds:
    /// the longest connection timeout of the links sharing it (each link's
    /// own commands and connection are bounded by its own timeout anyway).
    connect_ms: AtomicU64,
}

/// The live [`ClusterTls`], if any.
static CLUSTER_TLS: Mutex<Weak<ClusterTls>> = Mutex::new(Weak::new());

impl ClusterTls {
    /// The process's cluster TLS configuration for `roots`: the live one if
    /// it was made with the same roots (its node bound raised to `connect`
    /// if longer), a new one if none lives, an error if another lives.
    fn register(roots: &[Vec<u8>], connect: Duration) -> Result<Arc<Self>, ConfigError> {
        let connect_ms = connect.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
        let mut slot = lock(&CLUSTER_TLS);
        if let Some(live) = slot.upgrade() {
            if live.roots != roots {
                return Err(ConfigError::new(
                    "redis_url",
                    "another Redis Cluster link of this process uses TLS with other root \
                     certificates (tls_root_certificate): redis-rs's cluster client connects \
                     to each node through a static function that cannot be handed a TLS \
                     configuration, so one configuration serves every TLS cluster of a \
                     process; build these clients with the same roots, or once the other \
                     clients are dropped",
                ));
            }
            live.connect_ms.fetch_max(connect_ms, Ordering::Relaxed);
            return Ok(live);
        }
        let mut config = crate::config::tls_config(roots)?;
        // Redis speaks no ALPN protocol (the HTTP one is for reqwest).
        config.alpn_protocols.clear();
        let live = Arc::new(Self {
            roots: roots.to_vec(),
            config: Arc::new(config),
            connect_ms: AtomicU64::new(connect_ms),
        });
        *slot = Arc::downgrade(&live);
        Ok(live)
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_ms.load(Ordering::Relaxed))
    }
}

/// A Redis Cluster node's connection over TLS: the TCP stream and the TLS
/// session (this client's configuration, [`ClusterTls`]; the certificate
/// must name the node's host as the cluster announces it, an IP address or
/// a name) opened here, and redis-rs's multiplexed connection on top.
/// TLS is what makes a node off loopback acceptable, so no loopback rule
/// applies (plain-text clusters keep redis-rs's connections and
/// [`LoopbackOnly`]).
#[derive(Clone)]
struct TlsNode(MultiplexedConnection);

impl redis::cluster_async::Connect for TlsNode {
    fn connect_with_config<'a, T>(
        info: T,
        config: AsyncConnectionConfig,
    ) -> redis::RedisFuture<'a, Self>
    where
        T: redis::IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let info = info.into_connection_info()?;
            let ConnectionAddr::Tcp(host, port) = info.addr() else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a cluster node over TLS must be a TCP address",
                )));
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            // Held by every live TLS cluster link; absent only if the link
            // this connection serves is gone.
            let tls = lock(&CLUSTER_TLS).upgrade().ok_or_else(|| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "no Redis Cluster TLS configuration (its link was dropped)",
                ))
            })?;
            let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a cluster node's host is not a TLS server name",
                    host.to_owned(),
                ))
            })?;
            let bound = tls.connect_timeout();
            let open = async {
                let tcp = tokio::net::TcpStream::connect((host, *port)).await?;
                let _ = tcp.set_nodelay(true);
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(&tls.config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "TLS handshake with a cluster node",
                            e.to_string(),
                        ))
                    })?;
                // The cluster's own settings (response timeout, concurrency
                // limit) apply as to redis-rs's connections; its connection
                // timeout is `bound`, its DNS resolver unused (TLS checks
                // the node's name, and no loopback rule applies).
                let (connection, driver) =
                    MultiplexedConnection::new_with_config(info.redis_settings(), stream, config)
                        .await?;
                tokio::spawn(driver);
                Ok(TlsNode(connection))
            };
            match tokio::time::timeout(bound, open).await {
                Ok(opened) => opened,
                Err(_) => Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no connection to a cluster node",
                    format!("within {bound:?}"),
                ))),
            }
        })
    }
}

impl redis::aio::ConnectionLike for TlsNode {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

/// A redis-rs error for a log line: its kind, and for transport errors
/// (I/O, TLS) their detail, which names no secret; a server's or a
/// configuration error's text is left out (it could echo a command).
fn describe(error: &redis::RedisError) -> String {
    match (error.kind(), error.detail()) {
        (redis::ErrorKind::Io, Some(detail)) => detail.to_owned(),
        (kind, _) => format!("{kind:?}"),
    }
}

/// One connection to Redis, a single server or a cluster: the scripts and
/// commands run on either alike (redis-rs routes a cluster's by their
/// first key, all of a seller's being in one slot).
#[derive(Clone)]
enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
    /// A cluster over TLS, its nodes' connections made by [`TlsNode`].
    TlsCluster(ClusterConnection<TlsNode>),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
            Self::TlsCluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::TlsCluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
            Self::TlsCluster(connection) => connection.get_db(),
        }
    }
}

/// A Lua script the client runs: its text and SHA-1.
pub(crate) struct Lua {
    script: Script,
    text: &'static str,
}

impl Lua {
    pub(crate) fn new(text: &'static str) -> Self {
        Self {
            script: Script::new(text),
            text,
        }
    }

    /// A call of the script with `key` as `KEYS[1]`.
    pub(crate) fn key<T: ToRedisArgs>(&self, key: T) -> Call<'_> {
        let mut call = Call {
            lua: self,
            keys: Vec::new(),
            args: Vec::new(),
        };
        call.key(key);
        call
    }
}

/// One call of a [`Lua`] script, built like redis-rs's `ScriptInvocation`.
pub(crate) struct Call<'a> {
    lua: &'a Lua,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Call<'_> {
    pub(crate) fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    fn command(&self, name: &str, script: &str) -> redis::Cmd {
        let mut command = redis::cmd(name);
        command.arg(script).arg(self.keys.len());
        for part in self.keys.iter().chain(&self.args) {
            command.arg(part.as_slice());
        }
        command
    }

    /// `EVALSHA`, and on `NOSCRIPT` (a new, restarted or flushed node)
    /// `EVAL` with the text, which also caches it there: one more round
    /// trip, to the node of the first key only. Not redis-rs's own
    /// fallback, `SCRIPT LOAD` then `EVALSHA` again: on a cluster its
    /// `SCRIPT LOAD` fans out to every node it holds a connection to
    /// (replicas too) and needs all of them to answer, so a node that
    /// is failing could cost sellers on healthy masters a fallback.
    async fn invoke_async<T: redis::FromRedisValue>(
        &self,
        connection: &mut impl redis::aio::ConnectionLike,
    ) -> redis::RedisResult<T> {
        let hash = self.lua.script.get_hash();
        match self.command("EVALSHA", hash).query_async(connection).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.command("EVAL", self.lua.text)
                    .query_async(connection)
                    .await
            }
            answered => answered,
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns on the current runtime; outside one (a synchronous caller), the
/// update is skipped: Redis sees it at the next acquire.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hide_the_secrets_and_share_one_hash_tag_per_seller() {
        let credentials = LwaCredentials::new("amzn1.app", "secret", "Atzr|refresh-token-1");
        let keys = Keys::new("p", Some(&credentials));
        for key in [&keys.bucket_base, &keys.token, &keys.token_lock] {
            assert!(!key.contains("refresh-token-1"), "{key}");
            assert!(!key.contains("secret"), "{key}");
            assert!(key.starts_with("p:{"), "{key}");
        }
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_owned();
        assert_eq!(tag(&keys.bucket_base), tag(&keys.token));
        let other = LwaCredentials::new("amzn1.app", "secret", "Atzr|refresh-token-2");
        assert_ne!(tag(&Keys::new("p", Some(&other)).token), tag(&keys.token));
    }

    #[test]
    fn a_cluster_is_named_by_its_seeds_in_one_url_or_a_list() {
        let url = RedisSettings::new("redis+cluster://:hunter2hunter2@127.0.0.1:7000,[::1]:7001/0");
        assert!(url.is_cluster());
        assert_eq!(
            url.cluster_seeds().unwrap(),
            [
                "redis://:hunter2hunter2@127.0.0.1:7000/0",
                "redis://:hunter2hunter2@[::1]:7001/0"
            ]
        );
        assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
        let shared = Shared::new(&url, None, &[]).unwrap();
        assert!(matches!(
            shared.inner.link.target,
            Target::Cluster { tls: None, .. }
        ));
        assert!(!format!("{shared:?}").contains("hunter2"), "{shared:?}");

        let list = RedisSettings::cluster(["redis://127.0.0.1:7000", "redis://localhost:7001"]);
        assert!(list.is_cluster());
        assert_eq!(
            list.cluster_seeds().unwrap(),
            ["redis://127.0.0.1:7000", "redis://localhost:7001"]
        );
        assert!(matches!(
            Shared::new(&list, None, &[]).unwrap().inner.link.target,
            Target::Cluster { tls: None, .. }
        ));
        assert!(!RedisSettings::new("redis://127.0.0.1:7000").is_cluster());
        assert_eq!(
            RedisSettings::new("redis://127.0.0.1").cluster_seeds(),
            None
        );
    }

    fn refused(settings: RedisSettings, roots: &[Vec<u8>]) -> String {
        let err = Shared::new(&settings, None, roots).unwrap_err();
        assert_eq!(err.setting, "redis_url");
        assert!(!err.to_string().contains("hunter"), "{err}");
        err.to_string()
    }

    #[test]
    fn a_plain_cluster_refuses_plain_text_off_loopback_and_no_seeds_with_reasons() {
        let far = "redis+cluster://:hunter2hunter2@127.0.0.1:7000,10.0.0.5:7000";
        let err = refused(RedisSettings::new(far), &[]);
        assert!(err.contains("non-loopback"), "{err}");
        assert!(err.contains("allow_insecure"), "{err}");
        assert!(Shared::new(&RedisSettings::new(far).allow_insecure(true), None, &[]).is_ok());
        let err = refused(RedisSettings::cluster(Vec::<String>::new()), &[]);
        assert!(err.contains("at least one seed"), "{err}");
        let err = refused(RedisSettings::cluster(["unix:///run/redis.sock"]), &[]);
        assert!(err.contains("not a redis:// or rediss:// URL"), "{err}");
        let err = refused(RedisSettings::new("redis+cluster://:hunter2hunter2@,"), &[]);
        assert!(err.contains("not a Redis URL"), "{err}");
        // Seeds must agree on the password (redis-rs's rule), said without it.
        let err = refused(
            RedisSettings::cluster([
                "redis://:hunter2hunter2@127.0.0.1:7000",
                "redis://:hunter3hunter3@127.0.0.1:7001",
            ]),
            &[],
        );
        assert!(err.contains("password"), "{err}");
    }

    /// All the TLS cluster cases in one test: they share the process-wide
    /// [`ClusterTls`], which tests running in parallel would contend for.
    #[test]
    fn a_tls_cluster_takes_any_host_refuses_mixed_seeds_and_insecure_and_one_config_per_process() {
        let tls_cluster = |shared: &Shared| match &shared.inner.link.target {
            Target::Cluster { tls: Some(tls), .. } => Arc::clone(tls),
            _ => panic!("not a TLS cluster"),
        };
        // Off loopback without allow_insecure: TLS protects it.
        let far = RedisSettings::new(
            "rediss+cluster://:hunter2hunter2@10.0.0.5:7000,redis-1.example:7000/0",
        );
        let first = Shared::new(&far, None, &[]).unwrap();
        assert!(!format!("{first:?}").contains("hunter2"), "{first:?}");
        let same = Shared::new(
            &RedisSettings::cluster(["rediss://:hunter2hunter2@10.0.0.6:7000"])
                .with_timeout(Duration::from_secs(2)),
            None,
            &[],
        )
        .unwrap();
        let valkey = Shared::new(
            &RedisSettings::new("valkeys+cluster://10.0.0.7:7000"),
            None,
            &[],
        )
        .unwrap();
        // One configuration, its node bound the longest of the links'.
        assert!(Arc::ptr_eq(&tls_cluster(&first), &tls_cluster(&same)));
        assert!(Arc::ptr_eq(&tls_cluster(&first), &tls_cluster(&valkey)));
        assert_eq!(
            tls_cluster(&first).connect_timeout(),
            Duration::from_secs(2)
        );
        assert!(tls_cluster(&first).config.alpn_protocols.is_empty());

        // Other roots while it lives: refused, saying why.
        let root = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .unwrap()
            .cert
            .der()
            .to_vec();
        let err = refused(far.clone(), std::slice::from_ref(&root));
        assert!(err.contains("other root certificates"), "{err}");
        assert!(
            err.contains("one configuration serves every TLS cluster"),
            "{err}"
        );
        // A single TLS server or a plain cluster is not concerned.
        assert!(
            Shared::new(
                &RedisSettings::new("rediss://:hunter2hunter2@10.0.0.5:6380"),
                None,
                std::slice::from_ref(&root)
            )
            .is_ok()
        );
        drop((first, same, valkey));
        // Gone with its last link: other roots are taken now.
        let rooted = Shared::new(&far, None, std::slice::from_ref(&root)).unwrap();
        assert_eq!(tls_cluster(&rooted).roots, [root]);
        drop(rooted);

        let err = refused(
            RedisSettings::cluster([
                "rediss://:hunter2hunter2@10.0.0.5:7000",
                "redis://:hunter2hunter2@127.0.0.1:7001",
            ]),
            &[],
        );
        assert!(err.contains("mix TLS"), "{err}");
        let err = refused(
            RedisSettings::cluster([
                "redis://:hunter2hunter2@127.0.0.1:7001",
                "valkeys://:hunter2hunter2@10.0.0.5:7000",
            ]),
            &[],
        );
        assert!(err.contains("mix TLS"), "{err}");
        for insecure in [
            RedisSettings::new("rediss+cluster://:hunter2hunter2@10.0.0.5:7000#insecure"),
            RedisSettings::cluster(["rediss://user:hunter2hunter2@10.0.0.5:7000/0#insecure"]),
        ] {
            let err = refused(insecure, &[]);
            assert!(err.contains("#insecure"), "{err}");
            assert!(err.contains("tls_root_certificate"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_cluster_node_off_loopback_does_not_resolve_without_allow_insecure() {
        use redis::io::AsyncDNSResolver as _;
        let found: Vec<_> = LoopbackOnly
            .resolve("127.0.0.1", 7000)
            .await
            .unwrap()
            .collect();
        assert_eq!(found, [std::net::SocketAddr::from(([127, 0, 0, 1], 7000))]);
        let refused = LoopbackOnly.resolve("10.0.0.5", 7000).await;
        assert!(refused.is_err());
    }

    #[test]
    fn the_url_password_never_shows() {
        let settings = RedisSettings::new("redis://user:hunter2hunter2@cache.example:6380/2");
        let text = format!("{settings:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("cache.example:6380"), "{text}");
        let socket = RedisSettings::new("redis+unix:///run/redis.sock?pass=hunter2hunter2");
        assert!(!format!("{socket:?}").contains("hunter2"), "{socket:?}");
        let err =
            Shared::new(&RedisSettings::new("http://:hunter2hunter2@x"), None, &[]).unwrap_err();
        assert_eq!(err.setting, "redis_url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
