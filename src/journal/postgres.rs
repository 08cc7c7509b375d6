//! The shared journal: PostgreSQL (tokio-postgres), for several worker
//! processes on several machines.
//!
//! Same semantics as the SQLite store ([`super::SqliteJournal`]), with these
//! PostgreSQL specifics:
//!
//! - **Claims** take rows with `SELECT ... FOR UPDATE SKIP LOCKED` inside a
//!   transaction and set the lease in the same transaction, so concurrent
//!   workers never wait on each other and never get the same shipment.
//! - **One clock**: lease expiries and every stored time (`updated_at`,
//!   events' `at`) come from the database's clock (`now()`,
//!   `clock_timestamp()`), never the worker's, since workers on several
//!   machines do not share a clock. The `updated_at` column is authoritative:
//!   a shipment read back carries it, whatever its JSON copy says.
//! - **Durable**: a write returns only when PostgreSQL answered its `COMMIT`;
//!   with the server's default `synchronous_commit = on` the commit is then
//!   flushed to the write-ahead log. [`PostgresJournal::connect`] logs a
//!   warning when the server runs with `synchronous_commit = off`.
//! - **Tables** `spapi_shipments` and `spapi_events`, created if missing (in
//!   the first schema of the connection's `search_path`), so the journal can
//!   live in an existing database. Creation takes a transaction-scoped
//!   advisory lock, so workers starting at once do not race on `CREATE`.
//!
//! **Known limit: no TLS yet.** The connection is plain text (`NoTls`), so a
//! host that is not loopback (`127.0.0.0/8`, `::1`, `localhost`) or a Unix
//! socket is refused unless the URL says `sslmode=disable` explicitly, i.e.
//! the user accepts clear text on a network they trust; `sslmode=require` is
//! refused outright.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls, Row, Transaction};

use super::{
    Event, Journal, JournalError, NewShipment, Registered, Resolution, Shipment, Stage,
    fingerprint, lease_millis,
};

/// The tables, created if missing. `data` is `json` (not `jsonb`) so the
/// shipment, and the `getRates` request in it, keep their text and key
/// order exactly.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spapi_shipments (
    seq BIGSERIAL PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    stage TEXT NOT NULL,
    data JSON NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS spapi_shipments_open ON spapi_shipments (seq)
    WHERE stage IN ('pending', 'purchasing', 'bought');
CREATE TABLE IF NOT EXISTS spapi_events (
    id BIGSERIAL PRIMARY KEY,
    reference TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT NOT NULL,
    worker TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS spapi_events_reference ON spapi_events (reference, id);
";

/// The advisory lock key taken around [`SCHEMA`] (the bytes `spapi_jl`).
const SCHEMA_LOCK: i64 = 0x7370_6170_695f_6a6c;

/// How many connections one journal (and its clones) opens at most.
///
/// A transaction needs a connection of its own (tokio-postgres pipelines
/// the statements of concurrent callers on one connection, which would mix
/// their transactions), so each connection sits behind a mutex and is held
/// for one transaction. A handful is plenty for one worker process; several
/// processes each have their own. Hand-written rather than a pool crate
/// (deadpool, bb8): a few lines here against a dependency and its
/// configuration surface, and the journal needs no more than a fixed set
/// of lazily (re)opened connections.
const POOL_SIZE: usize = 4;

/// How long to wait for a connection when the URL sets no `connect_timeout`
/// (tokio-postgres would otherwise wait for the operating system's TCP
/// timeout, minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest lease written: 100 years. [`lease_millis`] saturates far
/// beyond PostgreSQL's timestamp range, and "never expires" needs no more.
const MAX_LEASE_MILLIS: i64 = 36_525 * 24 * 3_600 * 1_000;

/// The stages [`Stage::is_open`] accepts, as SQL.
const OPEN: &str = "stage IN ('pending', 'purchasing', 'bought')";

/// A journal in a PostgreSQL database. Cheap to clone: clones share up to
/// four connections (opened when needed, reopened after a failure).
#[derive(Clone)]
pub struct PostgresJournal {
    inner: Arc<Inner>,
}

struct Inner {
    /// The URL with its password replaced by `***`: what errors and Debug show.
    location: String,
    /// Holds the password (tokio-postgres's own Debug hides it; ours never
    /// prints this field).
    config: Config,
    slots: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl fmt::Debug for PostgresJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresJournal")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

/// A connection taken from the pool for one call.
type Connection<'a> = MappedMutexGuard<'a, Client>;

impl PostgresJournal {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// or tokio-postgres's `key=value` form) and creates the journal's tables
    /// if missing.
    ///
    /// Refuses a host that is not loopback or a Unix socket unless the URL
    /// has `sslmode=disable`: there is no TLS yet (see the module's
    /// documentation). Errors name the URL with its password replaced by
    /// `***`.
    pub async fn connect(url: &str) -> Result<PostgresJournal, JournalError> {
        let location = redact_url(url);
        let mut config: Config = url.parse().map_err(|e| JournalError::Store {
            location: location.clone(),
            message: format!("not a PostgreSQL URL: {}", describe(&e)),
        })?;
        check_transport(&config).map_err(|message| JournalError::Store {
            location: location.clone(),
            message,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let journal = PostgresJournal {
            inner: Arc::new(Inner {
                location,
                config,
                slots: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
        };
        journal.create_tables().await?;
        Ok(journal)
    }

    /// The journal's URL, its password replaced by `***`.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    async fn create_tables(&self) -> Result<(), JournalError> {
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(|e| self.store("taking the schema lock", &e))?;
        tx.batch_execute(SCHEMA)
            .await
            .map_err(|e| self.store("creating the journal's tables", &e))?;
        self.commit(tx).await?;
        let synchronous = connection
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(|e| self.store("reading synchronous_commit", &e))?;
        let synchronous: String = synchronous.get(0);
        if synchronous == "off" {
            tracing::warn!(
                journal = %self.inner.location,
                "the server runs with synchronous_commit = off: a crash of PostgreSQL may lose \
                 the journal's last writes"
            );
        }
        Ok(())
    }

    /// A connection of the pool: a free one if any, else the next in turn
    /// once it is free. (Re)opened when missing or closed.
    async fn connection(&self) -> Result<Connection<'_>, JournalError> {
        let slots = &self.inner.slots;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..slots.len()).find_map(|i| slots[(start + i) % slots.len()].try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => slots[start % slots.len()].lock().await,
        };
        let client = match slot.take() {
            Some(client) if !client.is_closed() => client,
            _ => self.open_connection().await?,
        };
        Ok(MutexGuard::map(slot, |slot| slot.insert(client)))
    }

    async fn open_connection(&self) -> Result<Client, JournalError> {
        let (client, connection) = self
            .inner
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.store("connecting", &e))?;
        // tokio-postgres's connection object does the I/O: it runs as a
        // task until the client is dropped or the connection fails.
        let location = self.inner.location.clone();
        let password = self.inner.config.get_password().map(<[u8]>::to_vec);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                let error = scrub(password.as_deref(), describe(&e));
                tracing::warn!(journal = %location, %error, "PostgreSQL journal connection failed");
            }
        });
        Ok(client)
    }

    async fn begin<'c>(
        &self,
        connection: &'c mut Connection<'_>,
    ) -> Result<Transaction<'c>, JournalError> {
        connection
            .transaction()
            .await
            .map_err(|e| self.store("starting a transaction", &e))
    }

    /// Commits: returns once PostgreSQL has committed (durably, with the
    /// default `synchronous_commit = on`).
    async fn commit(&self, tx: Transaction<'_>) -> Result<(), JournalError> {
        tx.commit().await.map_err(|e| self.store("committing", &e))
    }

    /// A store error naming the journal (password hidden) and what it was
    /// doing; the password is also scrubbed from the message itself, in case
    /// a server or library ever echoes it.
    fn store(&self, doing: &str, error: &tokio_postgres::Error) -> JournalError {
        JournalError::Store {
            location: self.inner.location.clone(),
            message: scrub(
                self.inner.config.get_password(),
                format!("{doing}: {}", describe(error)),
            ),
        }
    }
}

/// The error and its causes, e.g. `db error: ERROR: relation "x" does not
/// exist` (tokio-postgres's Display alone says only `db error`).
fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn scrub(password: Option<&[u8]>, message: String) -> String {
    match password.map(String::from_utf8_lossy) {
        Some(password) if !password.is_empty() => message.replace(&*password, "***"),
        _ => message,
    }
}

/// Refuses a plain-text connection beyond this machine unless the URL
/// asked for it (`sslmode=disable`).
fn check_transport(config: &Config) -> Result<(), String> {
    match config.get_ssl_mode() {
        // Only an explicit `sslmode=disable` gives Disable (the default is Prefer).
        SslMode::Disable => return Ok(()),
        SslMode::Require => {
            return Err(
                "sslmode=require, but the PostgreSQL journal has no TLS support yet: \
                 connect over a Unix socket or loopback, or set sslmode=disable to accept \
                 clear text on a network you trust"
                    .to_owned(),
            );
        }
        _ => {}
    }
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    // tokio-postgres connects to `hostaddr` when given, else to `host`.
    for i in 0..hosts.len().max(addrs.len()) {
        let (name, local) = match (addrs.get(i), hosts.get(i)) {
            (Some(addr), _) => (addr.to_string(), is_loopback(*addr)),
            (None, Some(Host::Tcp(host))) => (
                host.clone(),
                host.eq_ignore_ascii_case("localhost")
                    || host.parse::<IpAddr>().is_ok_and(is_loopback),
            ),
            // A Unix socket (the `Host::Unix` variant exists on Unix only).
            (None, _) => continue,
        };
        if !local {
            return Err(format!(
                "host {name} is not loopback and the PostgreSQL journal has no TLS support yet, \
                 so the password and every shipment would cross the network in clear text; add \
                 sslmode=disable to the URL to connect anyway on a network you trust, or connect \
                 through 127.0.0.1, ::1, localhost or a Unix socket"
            ));
        }
    }
    Ok(())
}

fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `url` with its password replaced by `***`: in the user part of a URL
/// (`postgres://user:***@host`), in a `password=` query parameter, and in a
/// `password=` key of tokio-postgres's `key=value` form. Errs on the side of
/// hiding: an unencoded `@` in the password hides up to the last `@`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = ["postgres://", "postgresql://"]
        .iter()
        .find(|prefix| url.starts_with(*prefix))
        .map(|prefix| prefix.len())
    else {
        return redact_key_values(url);
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let mut out = String::from(scheme);
    // tokio-postgres reads the credentials up to the first `@`, the password
    // after their first `:`; a password holding an unencoded `@` is hidden
    // up to the last `@`.
    let rest = match (rest.find('@'), rest.rfind('@')) {
        (Some(first), Some(last)) => match rest[..first].find(':') {
            Some(colon) => {
                out.push_str(&rest[..colon]);
                out.push_str(":***");
                &rest[last..]
            }
            None => rest,
        },
        _ => rest,
    };
    match rest.split_once('?') {
        Some((head, query)) => {
            out.push_str(head);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if percent_decode(key) == "password" => format!("{key}=***"),
                    _ => param.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

/// The `key=value` form: every `password` value (bare, or quoted with `'`
/// and backslash escapes) becomes `***`.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        out.push_str(&rest[..rest.len() - trimmed.len()]);
        rest = trimmed;
        if rest.is_empty() {
            return out;
        }
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        let after_key = &rest[key_end..];
        let after_spaces = after_key.trim_start();
        let Some(value) = after_spaces.strip_prefix('=') else {
            // Not `key=value`: copy the word and go on.
            out.push_str(key);
            rest = after_key;
            continue;
        };
        let value = value.trim_start();
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let end = quoted
                .char_indices()
                .find(|&(_, c)| {
                    let close = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                })
                .map_or(quoted.len(), |(i, _)| i + 1);
            1 + end
        } else {
            value.find(char::is_whitespace).unwrap_or(value.len())
        };
        let equals = &rest[key_end..rest.len() - value.len()];
        out.push_str(key);
        out.push_str(equals);
        if key == "password" {
            out.push_str("***");
        } else {
            out.push_str(&value[..value_len]);
        }
        rest = &value[value_len..];
    }
}

/// Percent-decodes a URL query key (enough to recognise `password` however
/// it is spelled); hand-written since the `percent-encoding` crate is not a
/// direct dependency and this needs ten lines.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lease_ms(lease: Duration) -> i64 {
    lease_millis(lease).min(MAX_LEASE_MILLIS)
}

fn encode(shipment: &Shipment) -> String {
    serde_json::to_string(shipment).expect("a shipment encodes as JSON")
}

/// A shipment from its row: `data` (as text) and `updated_at` (the
/// database's clock, authoritative).
fn decode(
    reference: &str,
    data: &str,
    updated_at: DateTime<Utc>,
) -> Result<Shipment, JournalError> {
    let mut shipment: Shipment = serde_json::from_str(data).map_err(|e| JournalError::Corrupt {
        reference: reference.to_owned(),
        message: e.to_string(),
    })?;
    shipment.updated_at = updated_at;
    Ok(shipment)
}

/// `reference, data::text, updated_at` of a row.
fn decode_row(row: &Row) -> Result<Shipment, JournalError> {
    let reference: String = row.get("reference");
    let data: String = row.get("data");
    decode(&reference, &data, row.get("updated_at"))
}

const SHIPMENT_COLUMNS: &str = "reference, data::text AS data, updated_at";

/// Appends an event stamped with the transaction's time (`now()`, the same
/// as the `updated_at` written with it).
const INSERT_EVENT: &str = "INSERT INTO spapi_events (reference, stage, detail, worker, at) \
                            VALUES ($1, $2, $3, $4, now())";

impl Journal for PostgresJournal {
    async fn register(&self, shipments: Vec<NewShipment>) -> Result<Registered, JournalError> {
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        let s = |e: tokio_postgres::Error| self.store("registering", &e);
        // ON CONFLICT DO NOTHING rather than look-then-insert: a worker
        // registering the same order at the same moment waits for the
        // other's commit instead of failing on the unique key.
        let insert = tx
            .prepare(
                "INSERT INTO spapi_shipments (reference, fingerprint, stage, data, updated_at) \
                 VALUES ($1, $2, $3, $4::text::json, now()) \
                 ON CONFLICT (reference) DO NOTHING RETURNING seq",
            )
            .await
            .map_err(s)?;
        let known = tx
            .prepare("SELECT fingerprint FROM spapi_shipments WHERE reference = $1")
            .await
            .map_err(s)?;
        let event = tx.prepare(INSERT_EVENT).await.map_err(s)?;
        let mut registered = Registered::default();
        for new in shipments {
            let print = fingerprint(&new.rates_request);
            let shipment = Shipment::new(new.reference, new.rates_request);
            let stage = shipment.stage.as_str();
            let added = tx
                .query_opt(
                    &insert,
                    &[&shipment.reference, &print, &stage, &encode(&shipment)],
                )
                .await
                .map_err(s)?;
            if added.is_some() {
                tx.execute(&event, &[&shipment.reference, &stage, &"registered", &""])
                    .await
                    .map_err(s)?;
                registered.added += 1;
                continue;
            }
            let stored: Option<String> = tx
                .query_opt(&known, &[&shipment.reference])
                .await
                .map_err(s)?
                .map(|row| row.get(0));
            match stored {
                Some(stored) if stored == print => registered.known += 1,
                Some(_) => {
                    return Err(JournalError::Conflict {
                        reference: shipment.reference,
                    });
                }
                // Only if another process deleted the row meanwhile.
                None => {
                    return Err(JournalError::Store {
                        location: self.inner.location.clone(),
                        message: format!(
                            "registering: order {} was neither inserted nor found",
                            shipment.reference
                        ),
                    });
                }
            }
        }
        self.commit(tx).await?;
        Ok(registered)
    }

    async fn claim(
        &self,
        worker: &str,
        among: Option<&[String]>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Shipment>, JournalError> {
        if max == 0 || among.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        let s = |e: tokio_postgres::Error| self.store("claiming", &e);
        // SKIP LOCKED: rows another worker is claiming right now are passed
        // over, not waited for; once it commits, they carry its lease and no
        // longer match.
        let claimable = format!(
            "SELECT seq, {SHIPMENT_COLUMNS} FROM spapi_shipments \
             WHERE {OPEN} \
             AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < clock_timestamp())"
        );
        let rows = match among {
            None => {
                tx.query(
                    &format!("{claimable} ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED"),
                    &[&worker, &limit],
                )
                .await
            }
            Some(among) => {
                tx.query(
                    &format!(
                        "{claimable} AND reference = ANY($3::text[]) \
                         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED"
                    ),
                    &[&worker, &limit, &among],
                )
                .await
            }
        }
        .map_err(s)?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut seqs: Vec<i64> = Vec::with_capacity(rows.len());
        for row in &rows {
            claimed.push(decode_row(row)?);
            seqs.push(row.get("seq"));
        }
        if !seqs.is_empty() {
            tx.execute(
                "UPDATE spapi_shipments SET lease_owner = $1, \
                 lease_until = clock_timestamp() + $2::bigint * interval '1 millisecond' \
                 WHERE seq = ANY($3::bigint[])",
                &[&worker, &lease_ms(lease), &seqs],
            )
            .await
            .map_err(s)?;
        }
        self.commit(tx).await?;
        Ok(claimed)
    }

    async fn save(
        &self,
        worker: &str,
        shipment: &Shipment,
        lease: Duration,
        detail: &str,
    ) -> Result<(), JournalError> {
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        let s = |e: tokio_postgres::Error| self.store("saving", &e);
        let stage = shipment.stage.as_str();
        let changed = tx
            .execute(
                "UPDATE spapi_shipments SET stage = $1, data = $2::text::json, \
                 lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond', \
                 updated_at = now() \
                 WHERE reference = $4 AND lease_owner = $5",
                &[
                    &stage,
                    &encode(shipment),
                    &lease_ms(lease),
                    &shipment.reference,
                    &worker,
                ],
            )
            .await
            .map_err(s)?;
        if changed != 1 {
            // Dropping the transaction rolls it back.
            return Err(JournalError::LeaseLost {
                reference: shipment.reference.clone(),
                worker: worker.to_owned(),
            });
        }
        tx.execute(
            INSERT_EVENT,
            &[&shipment.reference, &stage, &detail, &worker],
        )
        .await
        .map_err(s)?;
        self.commit(tx).await
    }

    async fn renew(
        &self,
        worker: &str,
        references: &[String],
        lease: Duration,
    ) -> Result<(), JournalError> {
        if references.is_empty() {
            return Ok(());
        }
        let connection = self.connection().await?;
        // One statement: committed on its own when it returns.
        connection
            .execute(
                "UPDATE spapi_shipments \
                 SET lease_until = clock_timestamp() + $1::bigint * interval '1 millisecond' \
                 WHERE reference = ANY($2::text[]) AND lease_owner = $3",
                &[&lease_ms(lease), &references, &worker],
            )
            .await
            .map(drop)
            .map_err(|e| self.store("renewing leases", &e))
    }

    async fn release(&self, worker: &str, reference: &str) -> Result<(), JournalError> {
        let connection = self.connection().await?;
        connection
            .execute(
                "UPDATE spapi_shipments SET lease_owner = NULL, lease_until = NULL \
                 WHERE reference = $1 AND lease_owner = $2",
                &[&reference, &worker],
            )
            .await
            .map(drop)
            .map_err(|e| self.store("releasing a lease", &e))
    }

    async fn list(&self) -> Result<Vec<Shipment>, JournalError> {
        let connection = self.connection().await?;
        let rows = connection
            .query(
                &format!("SELECT {SHIPMENT_COLUMNS} FROM spapi_shipments ORDER BY seq"),
                &[],
            )
            .await
            .map_err(|e| self.store("listing", &e))?;
        rows.iter().map(decode_row).collect()
    }

    async fn events(&self, reference: &str) -> Result<Vec<Event>, JournalError> {
        let connection = self.connection().await?;
        let rows = connection
            .query(
                "SELECT stage, detail, worker, at FROM spapi_events \
                 WHERE reference = $1 ORDER BY id",
                &[&reference],
            )
            .await
            .map_err(|e| self.store("reading events", &e))?;
        rows.iter()
            .map(|row| {
                let stage: String = row.get("stage");
                Ok(Event {
                    reference: reference.to_owned(),
                    stage: Stage::parse(&stage).ok_or_else(|| JournalError::Corrupt {
                        reference: reference.to_owned(),
                        message: format!("unknown stage {stage:?} in an event"),
                    })?,
                    detail: row.get("detail"),
                    worker: row.get("worker"),
                    at: row.get("at"),
                })
            })
            .collect()
    }

    async fn resolve(
        &self,
        reference: &str,
        resolution: Resolution,
        by: &str,
    ) -> Result<Shipment, JournalError> {
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        let s = |e: tokio_postgres::Error| self.store("resolving", &e);
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {SHIPMENT_COLUMNS} FROM spapi_shipments WHERE reference = $1 FOR UPDATE"
                ),
                &[&reference],
            )
            .await
            .map_err(s)?;
        let Some(row) = row else {
            return Err(JournalError::Unknown {
                reference: reference.to_owned(),
            });
        };
        let mut shipment = decode_row(&row)?;
        let detail = super::resolve_in_place(&mut shipment, &resolution)?;
        let stage = shipment.stage.as_str();
        let updated = tx
            .query_one(
                "UPDATE spapi_shipments SET stage = $1, data = $2::text::json, \
                 lease_owner = NULL, lease_until = NULL, updated_at = now() \
                 WHERE reference = $3 RETURNING updated_at",
                &[&stage, &encode(&shipment), &reference],
            )
            .await
            .map_err(s)?;
        shipment.updated_at = updated.get(0);
        tx.execute(INSERT_EVENT, &[&reference, &stage, &detail, &by])
            .await
            .map_err(s)?;
        self.commit(tx).await?;
        Ok(shipment)
    }

    async fn reopen(&self, reference: &str, why: &str) -> Result<(), JournalError> {
        let mut connection = self.connection().await?;
        let tx = self.begin(&mut connection).await?;
        let s = |e: tokio_postgres::Error| self.store("reopening", &e);
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {SHIPMENT_COLUMNS} FROM spapi_shipments \
                     WHERE reference = $1 AND stage = 'done' FOR UPDATE"
                ),
                &[&reference],
            )
            .await
            .map_err(s)?;
        let Some(row) = row else {
            // Not done (or unknown): nothing to reopen, as in the SQLite store.
            return Ok(());
        };
        let mut shipment = decode_row(&row)?;
        super::reopen_in_place(&mut shipment);
        let stage = shipment.stage.as_str();
        tx.execute(
            "UPDATE spapi_shipments SET stage = $1, data = $2::text::json, updated_at = now(), \
             lease_owner = NULL, lease_until = NULL WHERE reference = $3",
            &[&stage, &encode(&shipment), &reference],
        )
        .await
        .map_err(s)?;
        tx.execute(INSERT_EVENT, &[&reference, &stage, &why, &""])
            .await
            .map_err(s)?;
        self.commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_in_the_user_part() {
        assert_eq!(
            redact_url("postgres://spapi:s3cret@db.example:5432/journal"),
            "postgres://spapi:***@db.example:5432/journal"
        );
        assert_eq!(
            redact_url("postgresql://spapi:p%40ss@127.0.0.1/j?sslmode=disable"),
            "postgresql://spapi:***@127.0.0.1/j?sslmode=disable"
        );
        // An unencoded `@` in the password: hidden up to the last `@`.
        assert_eq!(
            redact_url("postgres://spapi:p@ss@host/j"),
            "postgres://spapi:***@host/j"
        );
        // Empty password.
        assert_eq!(
            redact_url("postgres://spapi:@host/j"),
            "postgres://spapi:***@host/j"
        );
    }

    #[test]
    fn redact_url_hides_a_password_parameter() {
        assert_eq!(
            redact_url("postgres://spapi@host/j?password=s3cret&sslmode=disable"),
            "postgres://spapi@host/j?password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://host/j?application_name=a&pass%77ord=s3cret"),
            "postgres://host/j?application_name=a&pass%77ord=***"
        );
        assert_eq!(
            redact_url("postgres://u:one@host/j?password=two"),
            "postgres://u:***@host/j?password=***"
        );
    }

    #[test]
    fn redact_url_keeps_a_url_without_password() {
        for url in [
            "postgres://spapi@127.0.0.1:5433/journal",
            "postgres://127.0.0.1/journal?sslmode=disable",
            "postgres:///journal?host=/run/postgresql",
            "postgresql://u@h/db?application_name=a@b",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn redact_url_hides_key_value_passwords() {
        assert_eq!(
            redact_url("host=localhost user=spapi password=s3cret dbname=j"),
            "host=localhost user=spapi password=*** dbname=j"
        );
        assert_eq!(
            redact_url("host=localhost password = 'it\\'s secret' dbname=j"),
            "host=localhost password = *** dbname=j"
        );
    }

    fn transport(url: &str) -> Result<(), String> {
        check_transport(&url.parse().expect("a valid URL"))
    }

    #[test]
    fn loopback_and_unix_sockets_need_no_tls() {
        for url in [
            "postgres://u@127.0.0.1/j",
            "postgres://u@127.8.9.10:5433/j",
            "postgres://u@localhost/j",
            "postgres://u@[::1]:5432/j",
            "postgres://u@%2Frun%2Fpostgresql/j",
            "postgres:///j?host=/run/postgresql",
            "postgres://u@db.example/j?hostaddr=127.0.0.1",
        ] {
            assert_eq!(transport(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn a_remote_host_needs_sslmode_disable() {
        let refused = transport("postgres://u:s3cret@db.example/j").unwrap_err();
        assert!(
            refused.contains("host db.example is not loopback"),
            "{refused}"
        );
        assert!(refused.contains("sslmode=disable"), "{refused}");
        assert!(!refused.contains("s3cret"), "{refused}");
        let refused = transport("postgres://u@localhost/j?hostaddr=10.0.0.5").unwrap_err();
        assert!(
            refused.contains("host 10.0.0.5 is not loopback"),
            "{refused}"
        );
        let refused = transport("postgres://u@127.0.0.1,10.1.2.3/j").unwrap_err();
        assert!(refused.contains("host 10.1.2.3"), "{refused}");
        assert_eq!(
            transport("postgres://u@db.example/j?sslmode=disable"),
            Ok(())
        );
        let refused = transport("postgres://u@127.0.0.1/j?sslmode=require").unwrap_err();
        assert!(refused.contains("no TLS support yet"), "{refused}");
    }

    #[tokio::test]
    async fn connect_errors_name_the_url_without_its_password() {
        let error = PostgresJournal::connect("postgres://spapi:s3cret@db.example/journal")
            .await
            .unwrap_err();
        let JournalError::Store { location, message } = &error else {
            panic!("expected a store error, got {error:?}");
        };
        assert_eq!(location, "postgres://spapi:***@db.example/journal");
        assert!(message.contains("not loopback"), "{message}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");

        let error = PostgresJournal::connect("postgres://spapi:s3cret@127.0.0.1:notaport/j")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not a PostgreSQL URL"),
            "{error}"
        );
        assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
    }

    #[test]
    fn debug_shows_the_location_without_the_password() {
        let url = "postgres://spapi:s3cret@127.0.0.1/journal";
        let journal = PostgresJournal {
            inner: Arc::new(Inner {
                location: redact_url(url),
                config: url.parse().expect("a valid URL"),
                slots: Vec::new(),
                next: AtomicUsize::new(0),
            }),
        };
        let debug = format!("{journal:?}");
        assert_eq!(
            debug,
            r#"PostgresJournal { location: "postgres://spapi:***@127.0.0.1/journal", .. }"#
        );
        assert_eq!(journal.location(), "postgres://spapi:***@127.0.0.1/journal");
    }

    #[test]
    fn scrub_removes_the_password_from_messages() {
        assert_eq!(
            scrub(Some(b"s3cret"), "auth failed for s3cret".to_owned()),
            "auth failed for ***"
        );
        assert_eq!(scrub(None, "plain".to_owned()), "plain");
        assert_eq!(scrub(Some(b""), "plain".to_owned()), "plain");
    }
}
