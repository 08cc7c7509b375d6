//! A durable record of each shipment's life (feature `journal`): what was
//! asked, quoted, sent and answered, so that a crash between Amazon's answer
//! and our own write loses nothing and a re-run buys nothing twice.
//!
//! Shipping v2 has no operation that lists what was bought: a `shipmentId`
//! exists only in the purchase response (amzn/selling-partner-api-docs
//! #3350). So the purchase's idempotency key and request are written and
//! synced **before** the purchase is sent ([`Stage::Purchasing`]); a
//! shipment found in that stage after a crash is sent again with the same key
//! and the same request, which Amazon answers with the first purchase rather
//! than a second label. [`crate::batch`] drives shipments through the stages.
//!
//! Two stores behind the [`Journal`] trait, opened by [`open`]:
//!
//! - [`SqliteJournal`]: one file, embedded, nothing to start (WAL,
//!   `synchronous=FULL`, so a write is on disk when it returns);
//! - `PostgresJournal` (feature `journal-postgres`): several processes and
//!   machines share one journal; workers claim shipments with
//!   `FOR UPDATE SKIP LOCKED`.
//!
//! Both hand shipments out under a lease ([`Journal::claim`]): a worker that
//! dies leaves its shipments to others once the lease expires, and a worker
//! whose lease expired can no longer write them ([`JournalError::LeaseLost`]),
//! so two workers never buy one shipment under two keys.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "journal-postgres")]
mod postgres;
mod sqlite;

#[cfg(feature = "journal-postgres")]
pub use postgres::PostgresJournal;
pub use sqlite::SqliteJournal;

/// Where a shipment is in its life. Only [`Pending`](Stage::Pending) may be
/// (re-)rated; from [`Purchasing`](Stage::Purchasing) on, the purchase may
/// have reached Amazon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Registered; nothing that could buy has been sent. Rated again on every
    /// attempt (a quote lives 10 minutes).
    Pending,
    /// The idempotency key and the purchase request are on disk; the purchase
    /// may have reached Amazon. Resent with the same key, never re-rated.
    Purchasing,
    /// Amazon's answer is on disk; the documents are not all saved yet.
    Bought,
    /// Bought and every document saved (paths and SHA-256 in the journal).
    Done,
    /// Nothing was bought, and retrying as is will not help (a refused
    /// request, no rate as wished, a charge above the limit).
    Failed,
    /// The purchase may have been bought, but Amazon refused the resend
    /// (typically: the quote expired meanwhile). Never rebought silently:
    /// see [`Resolution`].
    Ambiguous,
}

impl Stage {
    /// The stage's name as stored and printed (`pending`, `purchasing`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Pending => "pending",
            Stage::Purchasing => "purchasing",
            Stage::Bought => "bought",
            Stage::Done => "done",
            Stage::Failed => "failed",
            Stage::Ambiguous => "ambiguous",
        }
    }

    /// Reads a stored stage name.
    pub fn parse(text: &str) -> Option<Stage> {
        [
            Stage::Pending,
            Stage::Purchasing,
            Stage::Bought,
            Stage::Done,
            Stage::Failed,
            Stage::Ambiguous,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether a worker still has something to do: pending, purchasing or
    /// bought.
    pub fn is_open(self) -> bool {
        matches!(self, Stage::Pending | Stage::Purchasing | Stage::Bought)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One shipment as the journal knows it. Stored as one row: the stage and
/// lease in columns, the rest as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Shipment {
    /// The order reference: the first package's `packageClientReferenceId`
    /// unless given otherwise. Unique within a journal.
    pub reference: String,
    /// Where the shipment is.
    pub stage: Stage,
    /// The `getRates` request body, as sent.
    pub rates_request: Value,
    /// The latest quote planned for a purchase, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<QuoteRecord>,
    /// The purchase: key and request, written before it is first sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase: Option<PurchaseRecord>,
    /// Amazon's answer to the purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// The documents saved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<SavedDocument>,
    /// The last failure, with its request id; kept after a later success
    /// only until the next write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// When the journal last wrote the shipment.
    pub updated_at: DateTime<Utc>,
}

impl Shipment {
    /// A newly registered shipment.
    pub fn new(reference: impl Into<String>, rates_request: Value) -> Shipment {
        Shipment {
            reference: reference.into(),
            stage: Stage::Pending,
            rates_request,
            quote: None,
            purchase: None,
            answer: None,
            documents: Vec::new(),
            failure: None,
            updated_at: Utc::now(),
        }
    }
}

/// The quote a purchase was planned from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuoteRecord {
    /// The `requestToken` the purchase sends.
    pub request_token: String,
    /// When `getRates` answered.
    pub received_at: DateTime<Utc>,
    /// The rate chosen.
    pub rate_id: String,
    /// The rate's carrier id (what `getTracking` needs; the purchase answer
    /// does not carry it).
    #[serde(default)]
    pub carrier_id: Option<String>,
    /// The rate's service id.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The planned cost: total charge plus value-added services.
    pub cost: f64,
    /// The cost's currency.
    pub currency: String,
    /// The `getRates` request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A purchase as sent: resending exactly this with this key is how a crash
/// is recovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PurchaseRecord {
    /// The `x-amzn-IdempotencyKey` every send carries.
    pub idempotency_key: String,
    /// The `purchaseShipment` body.
    pub request: Value,
    /// When the purchase was written (first possibly sent).
    pub written_at: DateTime<Utc>,
    /// How many times a worker started sending it (a resend after a crash
    /// counts again).
    pub sends: u32,
}

/// What Amazon answered to the purchase (documents' contents left out:
/// they are in the files, or fetched again with `getShipmentDocuments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Answer {
    /// The shipment id (`getShipmentDocuments`, `cancelShipment`).
    pub shipment_id: Option<String>,
    /// The carrier's id (from the quote's rate) for `getTracking`.
    pub carrier_id: Option<String>,
    /// The carrier's name.
    pub carrier_name: Option<String>,
    /// The service's id.
    pub service_id: Option<String>,
    /// The service's name.
    pub service_name: Option<String>,
    /// The amount charged.
    pub charge: Option<f64>,
    /// The charge's currency.
    pub currency: Option<String>,
    /// Each package's reference and tracking id.
    pub packages: Vec<PackageAnswer>,
    /// The `purchaseShipment` request id.
    pub request_id: Option<String>,
    /// When the answer was received.
    pub received_at: DateTime<Utc>,
}

/// A package of a bought shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackageAnswer {
    /// The package's `packageClientReferenceId`.
    pub package_client_reference_id: Option<String>,
    /// The carrier's tracking id.
    pub tracking_id: Option<String>,
}

/// A document file written for a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedDocument {
    /// Where it was written.
    pub path: PathBuf,
    /// The package it belongs to.
    pub package_client_reference_id: Option<String>,
    /// `LABEL`, `PACKSLIP`, ...
    pub document_type: String,
    /// `PNG`, `PDF` or `ZPL`.
    pub format: String,
    /// Its SHA-256, hex: a file that no longer matches is fetched again.
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
}

/// A failure of a shipment, with what Amazon said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Failure {
    /// The operation or step that failed (`getRates`, `plan`,
    /// `purchaseShipment`, `save`, ...).
    pub step: String,
    /// What went wrong.
    pub message: String,
    /// Amazon's request id, if any.
    #[serde(default)]
    pub request_id: Option<String>,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// One line of a shipment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The shipment.
    pub reference: String,
    /// The stage written.
    pub stage: Stage,
    /// What happened, e.g. `purchase written, key 3f2...`.
    pub detail: String,
    /// The worker that wrote it.
    pub worker: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An order offered to [`Journal::register`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewShipment {
    /// The order reference.
    pub reference: String,
    /// The `getRates` request body.
    pub rates_request: Value,
}

/// What [`Journal::register`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Registered {
    /// Shipments new to the journal.
    pub added: usize,
    /// Shipments already there with the same request (a re-run).
    pub known: usize,
}

/// What the user decided about an [`Ambiguous`](Stage::Ambiguous) (or
/// failed) shipment, after checking it in Seller Central.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// It was not bought: rate and buy it again, under a new key.
    Rebuy,
    /// Leave it: mark it failed, nothing more is sent.
    GiveUp,
}

/// What can go wrong with a journal. Never holds a secret (a PostgreSQL URL's
/// password is left out of every message).
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// The journal cannot be opened or written: the store's error.
    Store {
        /// The journal's location (password removed).
        location: String,
        /// What the store said.
        message: String,
    },
    /// A stored row cannot be read back.
    Corrupt {
        /// The shipment.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The reference is already journaled with a different `getRates`
    /// request: references must be unique per journal.
    Conflict {
        /// The shipment.
        reference: String,
    },
    /// The worker's lease on the shipment expired and another worker may
    /// own it now: this worker must not write or send it.
    LeaseLost {
        /// The shipment.
        reference: String,
        /// This worker.
        worker: String,
    },
    /// No such shipment in the journal.
    Unknown {
        /// The reference asked for.
        reference: String,
    },
    /// A resolution that does not apply to the shipment's stage.
    NotResolvable {
        /// The shipment.
        reference: String,
        /// Its stage.
        stage: Stage,
    },
    /// The location names no store this build has (e.g. `postgres://`
    /// without feature `journal-postgres`).
    Unsupported {
        /// What is missing.
        message: String,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Store { location, message } => {
                write!(f, "journal {location}: {message}")
            }
            JournalError::Corrupt { reference, message } => {
                write!(f, "journal entry {reference} cannot be read: {message}")
            }
            JournalError::Conflict { reference } => write!(
                f,
                "order {reference} is already in the journal with a different getRates request; \
                 order references must be unique per journal"
            ),
            JournalError::LeaseLost { reference, worker } => write!(
                f,
                "worker {worker} lost its lease on order {reference}: another worker may own it now"
            ),
            JournalError::Unknown { reference } => {
                write!(f, "order {reference} is not in the journal")
            }
            JournalError::NotResolvable { reference, stage } => write!(
                f,
                "order {reference} is {stage}: only ambiguous or failed orders can be resolved"
            ),
            JournalError::Unsupported { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for JournalError {}

/// A journal store. Every write is durable when its future completes.
///
/// Writes of a claimed shipment go through [`save`](Self::save), which
/// checks the worker still holds the lease; a shipment is claimed only when
/// it is open ([`Stage::is_open`]) and its lease is free or expired.
pub trait Journal: Send + Sync {
    /// Adds the shipments not yet journaled (stage pending); a reference
    /// already there with another request is [`JournalError::Conflict`].
    fn register(
        &self,
        shipments: Vec<NewShipment>,
    ) -> impl Future<Output = Result<Registered, JournalError>> + Send;

    /// Leases up to `max` open shipments among `among` (all when `None`) to
    /// `worker` for `lease`, in registration order.
    fn claim(
        &self,
        worker: &str,
        among: Option<&[String]>,
        lease: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Shipment>, JournalError>> + Send;

    /// Writes `shipment` (its stage and data), extends `worker`'s lease by
    /// `lease` and appends `detail` to its history; synced before it
    /// returns. [`JournalError::LeaseLost`] when `worker` no longer holds it.
    fn save(
        &self,
        worker: &str,
        shipment: &Shipment,
        lease: Duration,
        detail: &str,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;

    /// Extends `worker`'s leases on `references`.
    fn renew(
        &self,
        worker: &str,
        references: &[String],
        lease: Duration,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;

    /// Gives `worker`'s lease on `reference` up.
    fn release(
        &self,
        worker: &str,
        reference: &str,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;

    /// Every shipment, in registration order.
    fn list(&self) -> impl Future<Output = Result<Vec<Shipment>, JournalError>> + Send;

    /// A shipment's history, oldest first.
    fn events(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Vec<Event>, JournalError>> + Send;

    /// Applies the user's decision to an ambiguous or failed shipment:
    /// [`Resolution::Rebuy`] makes it pending again with its key and quote
    /// dropped; [`Resolution::GiveUp`] marks it failed. A done shipment whose
    /// documents are missing is reopened with [`reopen`](Self::reopen)
    /// instead.
    fn resolve(
        &self,
        reference: &str,
        resolution: Resolution,
        by: &str,
    ) -> impl Future<Output = Result<Shipment, JournalError>> + Send;

    /// Moves a done shipment back to bought (its documents are missing or
    /// do not match their SHA-256), so a worker fetches them again.
    fn reopen(
        &self,
        reference: &str,
        why: &str,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;
}

/// A journal opened from a location: a file path (SQLite) or a
/// `postgres://` / `postgresql://` URL (feature `journal-postgres`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyJournal {
    /// An SQLite file.
    Sqlite(SqliteJournal),
    /// A PostgreSQL database.
    #[cfg(feature = "journal-postgres")]
    Postgres(PostgresJournal),
}

/// Opens (creating if needed) the journal at `location`.
pub async fn open(location: &str) -> Result<AnyJournal, JournalError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        #[cfg(feature = "journal-postgres")]
        return PostgresJournal::connect(location)
            .await
            .map(AnyJournal::Postgres);
        #[cfg(not(feature = "journal-postgres"))]
        return Err(JournalError::Unsupported {
            message: "a PostgreSQL journal needs the feature journal-postgres".to_owned(),
        });
    }
    SqliteJournal::open(location).await.map(AnyJournal::Sqlite)
}

macro_rules! delegate {
    ($self:ident, $j:ident => $call:expr) => {
        match $self {
            AnyJournal::Sqlite($j) => $call.await,
            #[cfg(feature = "journal-postgres")]
            AnyJournal::Postgres($j) => $call.await,
        }
    };
}

impl Journal for AnyJournal {
    async fn register(&self, shipments: Vec<NewShipment>) -> Result<Registered, JournalError> {
        delegate!(self, j => j.register(shipments))
    }
    async fn claim(
        &self,
        worker: &str,
        among: Option<&[String]>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Shipment>, JournalError> {
        delegate!(self, j => j.claim(worker, among, lease, max))
    }
    async fn save(
        &self,
        worker: &str,
        shipment: &Shipment,
        lease: Duration,
        detail: &str,
    ) -> Result<(), JournalError> {
        delegate!(self, j => j.save(worker, shipment, lease, detail))
    }
    async fn renew(
        &self,
        worker: &str,
        references: &[String],
        lease: Duration,
    ) -> Result<(), JournalError> {
        delegate!(self, j => j.renew(worker, references, lease))
    }
    async fn release(&self, worker: &str, reference: &str) -> Result<(), JournalError> {
        delegate!(self, j => j.release(worker, reference))
    }
    async fn list(&self) -> Result<Vec<Shipment>, JournalError> {
        delegate!(self, j => j.list())
    }
    async fn events(&self, reference: &str) -> Result<Vec<Event>, JournalError> {
        delegate!(self, j => j.events(reference))
    }
    async fn resolve(
        &self,
        reference: &str,
        resolution: Resolution,
        by: &str,
    ) -> Result<Shipment, JournalError> {
        delegate!(self, j => j.resolve(reference, resolution, by))
    }
    async fn reopen(&self, reference: &str, why: &str) -> Result<(), JournalError> {
        delegate!(self, j => j.reopen(reference, why))
    }
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint of a rates request, to tell a re-run of an order from a
/// different order under a reused reference.
pub(crate) fn fingerprint(rates_request: &Value) -> String {
    sha256_hex(rates_request.to_string().as_bytes())
}

/// Converts a lease to whole milliseconds, saturating (a lease of
/// `Duration::MAX` means "never expires").
pub(crate) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4)
}

/// [`Journal::resolve`]'s change, the same for every store; returns the
/// event's text.
pub(crate) fn resolve_in_place(
    shipment: &mut Shipment,
    resolution: &Resolution,
) -> Result<String, JournalError> {
    if !matches!(shipment.stage, Stage::Ambiguous | Stage::Failed) {
        return Err(JournalError::NotResolvable {
            reference: shipment.reference.clone(),
            stage: shipment.stage,
        });
    }
    let key = shipment
        .purchase
        .as_ref()
        .map_or("none", |p| p.idempotency_key.as_str())
        .to_owned();
    let detail = match resolution {
        Resolution::Rebuy => {
            shipment.stage = Stage::Pending;
            shipment.quote = None;
            shipment.purchase = None;
            format!("resolved: rebuy (previous key {key} dropped)")
        }
        Resolution::GiveUp => {
            shipment.stage = Stage::Failed;
            format!("resolved: given up (key {key})")
        }
    };
    shipment.updated_at = Utc::now();
    Ok(detail)
}

/// [`Journal::reopen`]'s change: done becomes bought, documents forgotten.
pub(crate) fn reopen_in_place(shipment: &mut Shipment) {
    shipment.stage = Stage::Bought;
    shipment.documents.clear();
    shipment.updated_at = Utc::now();
}
