//! The embedded journal: one SQLite file (rusqlite, SQLite compiled in, so
//! nothing to install). WAL mode with `synchronous=FULL`: every commit is
//! fsynced to the write-ahead log before it returns, so a write the batch
//! waited for survives `kill -9` and a power cut. Several processes may
//! share the file; SQLite serialises their writes and the leases keep them
//! off each other's shipments.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{
    Event, Journal, JournalError, NewShipment, Registered, Resolution, Shipment, Stage,
    fingerprint, lease_millis,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS shipments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    stage TEXT NOT NULL,
    data TEXT NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS shipments_stage ON shipments(stage, seq);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT NOT NULL,
    worker TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_reference ON events(reference, id);
";

/// A journal in one SQLite file. Cheap to clone (one connection behind a
/// mutex; the work runs on tokio's blocking pool).
#[derive(Clone)]
pub struct SqliteJournal {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteJournal {
    /// Opens the journal at `path`, creating the file and its tables if
    /// needed.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteJournal, JournalError> {
        let path = path.as_ref().to_path_buf();
        let location = path.display().to_string();
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
                let connection = Connection::open(&path)?;
                connection.busy_timeout(Duration::from_secs(30))?;
                // Switching a new file to WAL takes an exclusive lock, and
                // SQLite may answer "busy" at once, without the busy handler,
                // while another worker opens the same new file: retried
                // (seen in CI with 8 workers opening at once).
                let mut tries = 0;
                while let Err(e) = connection.pragma_update(None, "journal_mode", "WAL") {
                    let busy = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::DatabaseBusy);
                    if !busy || tries == 100 {
                        return Err(e);
                    }
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                connection.pragma_update(None, "synchronous", "FULL")?;
                connection.execute_batch(SCHEMA)?;
                Ok(connection)
            })
            .await
        };
        let connection = match opened {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(store(&location, e)),
            Err(e) => return Err(store(&location, e)),
        };
        Ok(SqliteJournal {
            path,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection, on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let connection = Arc::clone(&self.connection);
        let location = self.path.display().to_string();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite half
            // written (a transaction rolls back), so the poison is ignored.
            let mut connection = connection
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|e| store(&location, e))?
    }
}

fn store(location: &str, error: impl std::fmt::Display) -> JournalError {
    JournalError::Store {
        location: location.to_owned(),
        message: error.to_string(),
    }
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

fn decode(reference: &str, data: &str) -> Result<Shipment, JournalError> {
    serde_json::from_str(data).map_err(|e| JournalError::Corrupt {
        reference: reference.to_owned(),
        message: e.to_string(),
    })
}

fn encode(shipment: &Shipment) -> String {
    serde_json::to_string(shipment).expect("a shipment encodes as JSON")
}

fn event(
    tx: &rusqlite::Transaction<'_>,
    reference: &str,
    stage: Stage,
    detail: &str,
    worker: &str,
    at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO events (reference, stage, detail, worker, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![reference, stage.as_str(), detail, worker, at.to_rfc3339()],
    )
    .map(drop)
}

impl Journal for SqliteJournal {
    async fn register(&self, shipments: Vec<NewShipment>) -> Result<Registered, JournalError> {
        let location = self.path.display().to_string();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(s)?;
            let mut registered = Registered::default();
            for new in shipments {
                let print = fingerprint(&new.rates_request);
                let known: Option<String> = tx
                    .query_row(
                        "SELECT fingerprint FROM shipments WHERE reference = ?1",
                        [&new.reference],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(s)?;
                match known {
                    Some(known) if known == print => registered.known += 1,
                    Some(_) => {
                        return Err(JournalError::Conflict {
                            reference: new.reference,
                        });
                    }
                    None => {
                        let shipment = Shipment::new(new.reference.clone(), new.rates_request);
                        tx.execute(
                            "INSERT INTO shipments (reference, fingerprint, stage, data, updated_at) \
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![
                                shipment.reference,
                                print,
                                shipment.stage.as_str(),
                                encode(&shipment),
                                shipment.updated_at.to_rfc3339()
                            ],
                        )
                        .map_err(s)?;
                        event(
                            &tx,
                            &shipment.reference,
                            Stage::Pending,
                            "registered",
                            "",
                            shipment.updated_at,
                        )
                        .map_err(s)?;
                        registered.added += 1;
                    }
                }
            }
            tx.commit().map_err(s)?;
            Ok(registered)
        })
        .await
    }

    async fn claim(
        &self,
        worker: &str,
        among: Option<&[String]>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Shipment>, JournalError> {
        let location = self.path.display().to_string();
        let worker = worker.to_owned();
        let among: Option<std::collections::HashSet<String>> =
            among.map(|refs| refs.iter().cloned().collect());
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(s)?;
            let now = now_millis();
            let mut claimed = Vec::new();
            {
                let mut select = tx
                    .prepare(
                        "SELECT reference, data FROM shipments \
                         WHERE stage IN ('pending', 'purchasing', 'bought') \
                         AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until < ?2) \
                         ORDER BY seq",
                    )
                    .map_err(s)?;
                let mut rows = select.query(params![worker, now]).map_err(s)?;
                while claimed.len() < max {
                    let Some(row) = rows.next().map_err(s)? else {
                        break;
                    };
                    let reference: String = row.get(0).map_err(s)?;
                    if among.as_ref().is_some_and(|set| !set.contains(&reference)) {
                        continue;
                    }
                    let data: String = row.get(1).map_err(s)?;
                    claimed.push(decode(&reference, &data)?);
                }
            }
            let until = now.saturating_add(lease_millis(lease));
            for shipment in &claimed {
                tx.execute(
                    "UPDATE shipments SET lease_owner = ?1, lease_until = ?2 WHERE reference = ?3",
                    params![worker, until, shipment.reference],
                )
                .map_err(s)?;
            }
            tx.commit().map_err(s)?;
            Ok(claimed)
        })
        .await
    }

    async fn save(
        &self,
        worker: &str,
        shipment: &Shipment,
        lease: Duration,
        detail: &str,
    ) -> Result<(), JournalError> {
        let location = self.path.display().to_string();
        let worker = worker.to_owned();
        let detail = detail.to_owned();
        let mut shipment = shipment.clone();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(s)?;
            shipment.updated_at = Utc::now();
            let until = now_millis().saturating_add(lease_millis(lease));
            let changed = tx
                .execute(
                    "UPDATE shipments SET stage = ?1, data = ?2, lease_until = ?3, updated_at = ?4 \
                     WHERE reference = ?5 AND lease_owner = ?6",
                    params![
                        shipment.stage.as_str(),
                        encode(&shipment),
                        until,
                        shipment.updated_at.to_rfc3339(),
                        shipment.reference,
                        worker
                    ],
                )
                .map_err(s)?;
            if changed != 1 {
                return Err(JournalError::LeaseLost {
                    reference: shipment.reference,
                    worker,
                });
            }
            event(
                &tx,
                &shipment.reference,
                shipment.stage,
                &detail,
                &worker,
                shipment.updated_at,
            )
            .map_err(s)?;
            tx.commit().map_err(s)
        })
        .await
    }

    async fn renew(
        &self,
        worker: &str,
        references: &[String],
        lease: Duration,
    ) -> Result<(), JournalError> {
        let location = self.path.display().to_string();
        let worker = worker.to_owned();
        let references = references.to_vec();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let tx = connection.transaction().map_err(s)?;
            let until = now_millis().saturating_add(lease_millis(lease));
            for reference in &references {
                tx.execute(
                    "UPDATE shipments SET lease_until = ?1 WHERE reference = ?2 AND lease_owner = ?3",
                    params![until, reference, worker],
                )
                .map_err(s)?;
            }
            tx.commit().map_err(s)
        })
        .await
    }

    async fn release(&self, worker: &str, reference: &str) -> Result<(), JournalError> {
        let location = self.path.display().to_string();
        let worker = worker.to_owned();
        let reference = reference.to_owned();
        self.with(move |connection| {
            connection
                .execute(
                    "UPDATE shipments SET lease_owner = NULL, lease_until = 0 \
                     WHERE reference = ?1 AND lease_owner = ?2",
                    params![reference, worker],
                )
                .map(drop)
                .map_err(|e| store(&location, e))
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Shipment>, JournalError> {
        let location = self.path.display().to_string();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let mut select = connection
                .prepare("SELECT reference, data FROM shipments ORDER BY seq")
                .map_err(s)?;
            let rows = select
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(s)?;
            let mut all = Vec::new();
            for row in rows {
                let (reference, data) = row.map_err(s)?;
                all.push(decode(&reference, &data)?);
            }
            Ok(all)
        })
        .await
    }

    async fn events(&self, reference: &str) -> Result<Vec<Event>, JournalError> {
        let location = self.path.display().to_string();
        let reference = reference.to_owned();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let mut select = connection
                .prepare(
                    "SELECT stage, detail, worker, at FROM events WHERE reference = ?1 ORDER BY id",
                )
                .map_err(s)?;
            let rows = select
                .query_map([&reference], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                })
                .map_err(s)?;
            let mut events = Vec::new();
            for row in rows {
                let (stage, detail, worker, at) = row.map_err(s)?;
                let corrupt = |message: String| JournalError::Corrupt {
                    reference: reference.clone(),
                    message,
                };
                events.push(Event {
                    reference: reference.clone(),
                    stage: Stage::parse(&stage)
                        .ok_or_else(|| corrupt(format!("unknown stage {stage:?}")))?,
                    detail,
                    worker,
                    at: DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| corrupt(format!("event time {at:?}: {e}")))?
                        .with_timezone(&Utc),
                });
            }
            Ok(events)
        })
        .await
    }

    async fn resolve(
        &self,
        reference: &str,
        resolution: Resolution,
        by: &str,
    ) -> Result<Shipment, JournalError> {
        let wanted = reference.to_owned();
        let rewritten = self
            .rewrite(reference, by, move |shipment| {
                super::resolve_in_place(shipment, &resolution).map(Some)
            })
            .await?;
        rewritten.ok_or(JournalError::Unknown { reference: wanted })
    }

    async fn reopen(&self, reference: &str, why: &str) -> Result<(), JournalError> {
        let why = why.to_owned();
        self.rewrite(reference, "", move |shipment| {
            if shipment.stage != Stage::Done {
                return Ok(None);
            }
            super::reopen_in_place(shipment);
            Ok(Some(why))
        })
        .await
        .map(drop)
    }
}

impl SqliteJournal {
    /// Reads `reference` and lets `change` rewrite it in one transaction:
    /// `Some(detail)` writes it back, lease cleared, with `detail` in its
    /// history by `by`; `None` leaves it. `Ok(None)` when there is no such
    /// shipment.
    async fn rewrite(
        &self,
        reference: &str,
        by: &str,
        change: impl FnOnce(&mut Shipment) -> Result<Option<String>, JournalError> + Send + 'static,
    ) -> Result<Option<Shipment>, JournalError> {
        let location = self.path.display().to_string();
        let reference = reference.to_owned();
        let by = by.to_owned();
        self.with(move |connection| {
            let s = |e| store(&location, e);
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(s)?;
            let data: Option<String> = tx
                .query_row(
                    "SELECT data FROM shipments WHERE reference = ?1",
                    [&reference],
                    |row| row.get(0),
                )
                .optional()
                .map_err(s)?;
            let Some(data) = data else {
                return Ok(None);
            };
            let mut shipment = decode(&reference, &data)?;
            let Some(detail) = change(&mut shipment)? else {
                return Ok(Some(shipment));
            };
            tx.execute(
                "UPDATE shipments SET stage = ?1, data = ?2, lease_owner = NULL, lease_until = 0, \
                 updated_at = ?3 WHERE reference = ?4",
                params![
                    shipment.stage.as_str(),
                    encode(&shipment),
                    shipment.updated_at.to_rfc3339(),
                    reference
                ],
            )
            .map_err(s)?;
            event(
                &tx,
                &reference,
                shipment.stage,
                &detail,
                &by,
                shipment.updated_at,
            )
            .map_err(s)?;
            tx.commit().map_err(s)?;
            Ok(Some(shipment))
        })
        .await
    }
}
