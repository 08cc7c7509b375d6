//! Batch purchase with a [journal](crate::journal) (feature `journal`):
//! many orders rated, planned, bought and saved concurrently within each
//! operation's usage plan, every step written down so that re-running the
//! same batch after a crash at any point finishes it and buys nothing twice.
//!
//! Each order goes through the journal's stages:
//!
//! 1. **pending**: `getRates`, then [`Quote::cheapest`] with the order's
//!    [`Wishes`] (and the [`Options::max_charge`] limit). Nothing sent can
//!    buy, so a re-run simply rates again.
//! 2. **purchasing**: a fresh idempotency key and the planned request are
//!    written and synced, *then* `purchaseShipment` is sent with that key.
//!    After a crash the same request is resent with the same key, which
//!    Amazon answers with the first purchase; it is never re-rated and
//!    bought under a new key. If Amazon refuses the resend (typically: the
//!    quote expired meanwhile), the order becomes **ambiguous**: reported
//!    with its key, request token and reference, for the user to decide
//!    ([`Resolution`](crate::journal::Resolution)). Each send is counted in
//!    the journal before it leaves, so a purchase the journal proves was
//!    never sent, refused on its first send, is a plain failure: nothing
//!    was bought.
//! 3. **bought**: Amazon's answer (shipment id, tracking ids) is written;
//!    the documents are saved atomically (temporary file, fsync, rename),
//!    0600 by default, one distinct name per package and document. After a
//!    crash, or when a file is later found missing or corrupt (SHA-256),
//!    they are fetched again with `getShipmentDocuments`.
//! 4. **done**.
//!
//! ```no_run
//! # async fn demo(client: spapi_shipping::Client, orders: Vec<spapi_shipping::batch::Order>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use spapi_shipping::batch::{self, Options};
//! use spapi_shipping::journal::SqliteJournal;
//!
//! let journal = SqliteJournal::open("shipping.journal").await?;
//! let summary = batch::run(&client, &journal, orders, &Options::new("labels"), |_| {}).await?;
//! println!("{} bought, {} ambiguous", summary.bought(), summary.ambiguous());
//! # Ok(()) }
//! ```
//!
//! Several processes (or machines, with a PostgreSQL journal) may run the
//! same batch at once: each claims shipments under a lease, and one that
//! dies leaves its shipments to the others once its lease expires.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::documents::{self, LabelDocument, SaveOptions};
use crate::journal::{
    Answer, Failure, Journal, JournalError, NewShipment, PackageAnswer, PurchaseRecord,
    QuoteRecord, SavedDocument, Shipment, Stage, sha256_hex,
};
use crate::purchase::{Quote, Wishes};
use crate::types::{
    GetRatesRequest, PackageDocumentDetail, PurchaseShipmentRequest, PurchaseShipmentResult,
};
use crate::{Client, Error};

/// One order of a batch: a `getRates` request and what to buy of it.
#[derive(Debug, Clone)]
pub struct Order {
    /// The order reference, unique within the journal.
    pub reference: String,
    /// The `getRates` request.
    pub rates_request: GetRatesRequest,
    /// How to choose and buy the rate.
    pub wishes: Wishes,
}

impl Order {
    /// An order named by its first package's `packageClientReferenceId`;
    /// `None` when that is missing or blank.
    pub fn from_request(rates_request: GetRatesRequest, wishes: Wishes) -> Option<Order> {
        let reference = rates_request
            .packages
            .0
            .first()
            .map(|p| p.package_client_reference_id.trim().to_owned())
            .filter(|r| !r.is_empty())?;
        Some(Order {
            reference,
            rates_request,
            wishes,
        })
    }
}

/// How a batch runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Where documents are saved.
    pub labels: PathBuf,
    /// How documents are written (owner-only by default).
    pub save: SaveOptions,
    /// Orders in flight at once; the client's rate limiter paces the calls
    /// within each operation's usage plan. Default 64.
    pub concurrency: usize,
    /// How long a claim lasts without news from its worker (renewed every
    /// third of it while the worker lives): how long a re-run after a crash,
    /// or another worker, waits for a dead worker's orders. Default 15 s.
    pub lease: Duration,
    /// This worker's name in the journal. Default: host, process id and a
    /// random suffix.
    pub worker: String,
    /// The most one shipment may cost, and its currency: a dearer plan is a
    /// failure, never bought. Rates in another currency are not chosen.
    pub max_charge: Option<(f64, String)>,
    /// How often an idle worker looks for shipments left by a dead worker.
    pub poll: Duration,
}

impl Options {
    /// Defaults, saving documents in `labels`.
    pub fn new(labels: impl Into<PathBuf>) -> Options {
        Options {
            labels: labels.into(),
            save: SaveOptions::default().owner_only(true),
            concurrency: 64,
            lease: Duration::from_secs(15),
            worker: default_worker(),
            max_charge: None,
            poll: Duration::from_millis(500),
        }
    }

    /// Sets [`concurrency`](Self::concurrency) (at least 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets [`lease`](Self::lease).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets [`worker`](Self::worker).
    pub fn worker(mut self, worker: impl Into<String>) -> Self {
        self.worker = worker.into();
        self
    }

    /// Sets [`max_charge`](Self::max_charge).
    pub fn max_charge(mut self, amount: f64, currency: impl Into<String>) -> Self {
        self.max_charge = Some((amount, currency.into()));
        self
    }

    /// Sets [`save`](Self::save).
    pub fn save(mut self, save: SaveOptions) -> Self {
        self.save = save;
        self
    }
}

fn default_worker() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[..8])
}

/// What became of one order in this run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Bought and saved (in this run, or before: `already`).
    Done {
        /// The shipment as journaled.
        shipment: Box<Shipment>,
        /// Whether an earlier run had finished it.
        already: bool,
    },
    /// Nothing bought; the journal says why. A failure left pending (a
    /// call that may succeed later) is retried by the next run.
    Failed(Box<Shipment>),
    /// The purchase may have been bought and Amazon refused the resend: the
    /// user decides (`batch resolve`).
    Ambiguous(Box<Shipment>),
    /// The purchase may have reached Amazon and no answer came back (a
    /// timeout, a connection lost): the next run resends it with the same
    /// key.
    InDoubt(Box<Shipment>),
    /// Bought, but its documents could not be saved: the next run fetches
    /// them again.
    NotSaved(Box<Shipment>),
    /// Another worker holds it: only in a summary of a run that ended on
    /// a journal error (an order taken over by another worker is otherwise
    /// followed until it closes, and reported as the journal has it).
    Elsewhere {
        /// The order reference.
        reference: String,
    },
}

impl Outcome {
    /// The order reference.
    pub fn reference(&self) -> &str {
        match self {
            Outcome::Done { shipment, .. }
            | Outcome::Failed(shipment)
            | Outcome::Ambiguous(shipment)
            | Outcome::InDoubt(shipment)
            | Outcome::NotSaved(shipment) => &shipment.reference,
            Outcome::Elsewhere { reference } => reference,
        }
    }
}

/// Every order's outcome in this run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Summary {
    /// One outcome per order reference, in the order they finished.
    pub outcomes: Vec<Outcome>,
}

impl Summary {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(o)).count()
    }
    /// Orders bought and saved, in this run or before.
    pub fn bought(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Done { .. }))
    }
    /// Orders that had been finished by an earlier run.
    pub fn already_done(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Done { already: true, .. }))
    }
    /// Orders with nothing bought.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }
    /// Orders whose purchase may have been bought: ambiguous or in doubt.
    pub fn ambiguous(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Ambiguous(_) | Outcome::InDoubt(_)))
    }
    /// Orders bought whose documents are not saved.
    pub fn not_saved(&self) -> usize {
        self.count(|o| matches!(o, Outcome::NotSaved(_)))
    }
    /// Orders another worker holds.
    pub fn elsewhere(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Elsewhere { .. }))
    }
}

/// Why a batch could not run (an order's own failure is an [`Outcome`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchError {
    /// The journal failed.
    Journal(JournalError),
    /// Two orders of the batch share a reference.
    DuplicateReference {
        /// The reference.
        reference: String,
    },
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Journal(e) => e.fmt(f),
            BatchError::DuplicateReference { reference } => write!(
                f,
                "two orders share the reference {reference}: each order needs its own"
            ),
        }
    }
}

impl std::error::Error for BatchError {}

impl From<JournalError> for BatchError {
    fn from(e: JournalError) -> Self {
        BatchError::Journal(e)
    }
}

/// Progress reported after each order: the outcome and the counts so far.
#[derive(Debug)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// The order that just finished in this run.
    pub outcome: &'a Outcome,
    /// Orders finished so far in this run.
    pub finished: usize,
    /// Orders in the batch.
    pub total: usize,
}

/// Runs the batch: registers `orders` in `journal`, then takes them
/// through the stages (resuming wherever an earlier run stopped) until each
/// is done, failed, ambiguous or left for the next run; `progress` hears of
/// each. Orders another live worker holds are waited for (they come back if
/// that worker dies) unless it finishes them.
pub async fn run<J, P>(
    client: &Client,
    journal: &J,
    orders: impl IntoIterator<Item = Order>,
    options: &Options,
    mut progress: P,
) -> Result<Summary, BatchError>
where
    J: Journal + Clone + 'static,
    P: FnMut(Progress<'_>),
{
    let orders = index(orders)?;
    register(journal, &orders).await?;
    // Temporary files of a worker killed mid-write (labels carry names and
    // addresses): best effort, an hour old at least.
    let _ = documents::remove_stale_temp_files(&options.labels, Duration::from_secs(3600));
    let total = orders.len();
    let mut summary = Summary::default();
    let mut report = |outcome: Outcome, summary: &mut Summary| {
        summary.outcomes.push(outcome);
        progress(Progress {
            outcome: summary.outcomes.last().expect("just pushed"),
            finished: summary.outcomes.len(),
            total,
        });
    };
    // Finished before: checked (files present and intact) or reopened.
    let mut left: HashSet<String> = orders.keys().cloned().collect();
    for shipment in journal.list().await? {
        if !left.contains(&shipment.reference) || shipment.stage.is_open() {
            continue;
        }
        if shipment.stage == Stage::Done
            && let Some(why) = damaged(&shipment)
        {
            journal.reopen(&shipment.reference, &why).await?;
            continue;
        }
        left.remove(&shipment.reference);
        report(finished(shipment), &mut summary);
    }

    let context = Arc::new(Context {
        client: client.clone(),
        journal: journal.clone(),
        options: options.clone(),
        in_flight: Mutex::new(HashSet::new()),
    });
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(&context)));
    let claim_batch = (options.concurrency / 4).max(1);
    let mut waiting_told = false;
    let mut tasks = JoinSet::new();
    let result = loop {
        let room = options.concurrency.saturating_sub(tasks.len());
        // Claimed in batches (a quarter of the concurrency at a time), not
        // one per finished order: a claim is a journal transaction.
        if room > 0 && !left.is_empty() && (tasks.is_empty() || room >= claim_batch) {
            let among: Vec<String> = left.iter().cloned().collect();
            let claimed = match journal
                .claim(&options.worker, Some(&among), options.lease, room)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => break Err(e.into()),
            };
            for shipment in claimed {
                left.remove(&shipment.reference);
                let wishes = orders[&shipment.reference].wishes.clone();
                context.hold(&shipment.reference);
                let context = Arc::clone(&context);
                tasks.spawn(async move { context.advance(shipment, &wishes).await });
            }
        }
        if let Some(joined) = tasks.try_join_next() {
            match joined {
                // Lost to another worker: back among those to see through.
                Ok(Outcome::Elsewhere { reference }) => {
                    left.insert(reference);
                }
                Ok(outcome) => report(outcome, &mut summary),
                Err(e) => break Err(BatchError::Journal(panicked(e))),
            }
            continue;
        }
        if tasks.is_empty() {
            // Nothing claimable: done, or held by another worker.
            match remaining(journal, &left).await {
                Ok(rest) if !rest.iter().any(|s| s.stage.is_open()) => {
                    // What remains is closed now: report it as the journal has it.
                    for shipment in rest {
                        left.remove(&shipment.reference);
                        report(finished(shipment), &mut summary);
                    }
                    break Ok(());
                }
                Ok(rest) => {
                    if !waiting_told {
                        waiting_told = true;
                        tracing::info!(
                            orders = rest.iter().filter(|s| s.stage.is_open()).count(),
                            "waiting for orders another worker holds (a stopped worker's lease expires within {:?})",
                            options.lease
                        );
                    }
                    tokio::time::sleep(options.poll).await;
                }
                Err(e) => break Err(e.into()),
            }
            continue;
        }
        match tasks.join_next().await {
            Some(Ok(Outcome::Elsewhere { reference })) => {
                left.insert(reference);
            }
            Some(Ok(outcome)) => report(outcome, &mut summary),
            Some(Err(e)) => break Err(BatchError::Journal(panicked(e))),
            None => {}
        }
    };
    heartbeat.abort();
    for reference in left {
        summary.outcomes.push(Outcome::Elsewhere { reference });
    }
    result.map(|()| summary)
}

fn panicked(e: tokio::task::JoinError) -> JournalError {
    JournalError::Store {
        location: "batch worker".to_owned(),
        message: format!("a batch task stopped: {e}"),
    }
}

/// The orders by reference, refusing duplicates.
fn index(orders: impl IntoIterator<Item = Order>) -> Result<HashMap<String, Order>, BatchError> {
    let mut by_reference = HashMap::new();
    for order in orders {
        if by_reference.contains_key(&order.reference) {
            return Err(BatchError::DuplicateReference {
                reference: order.reference,
            });
        }
        by_reference.insert(order.reference.clone(), order);
    }
    Ok(by_reference)
}

async fn register<J: Journal>(
    journal: &J,
    orders: &HashMap<String, Order>,
) -> Result<(), BatchError> {
    let mut new: Vec<NewShipment> = orders
        .values()
        .map(|order| NewShipment {
            reference: order.reference.clone(),
            rates_request: serde_json::to_value(&order.rates_request)
                .expect("a request encodes as JSON"),
        })
        .collect();
    // Registration order is the order of work: sorted, so every worker of a
    // batch registers alike.
    new.sort_by(|a, b| a.reference.cmp(&b.reference));
    for chunk in new.chunks(500) {
        journal.register(chunk.to_vec()).await?;
    }
    Ok(())
}

/// The shipments among `left` as the journal has them now (one read): any
/// still open is held by another worker, since none was claimable.
async fn remaining<J: Journal>(
    journal: &J,
    left: &HashSet<String>,
) -> Result<Vec<Shipment>, JournalError> {
    if left.is_empty() {
        return Ok(Vec::new());
    }
    Ok(journal
        .list()
        .await?
        .into_iter()
        .filter(|s| left.contains(&s.reference))
        .collect())
}

/// A closed shipment's outcome as the journal records it.
fn finished(shipment: Shipment) -> Outcome {
    match shipment.stage {
        Stage::Done => Outcome::Done {
            shipment: Box::new(shipment),
            already: true,
        },
        Stage::Ambiguous => Outcome::Ambiguous(Box::new(shipment)),
        Stage::Purchasing => Outcome::InDoubt(Box::new(shipment)),
        Stage::Bought => Outcome::NotSaved(Box::new(shipment)),
        Stage::Failed | Stage::Pending => Outcome::Failed(Box::new(shipment)),
    }
}

/// Why a done shipment's files cannot be trusted, if they cannot.
fn damaged(shipment: &Shipment) -> Option<String> {
    if shipment.documents.is_empty() {
        return Some("no document recorded".to_owned());
    }
    shipment
        .documents
        .iter()
        .find_map(|doc| match std::fs::read(&doc.path) {
            Err(e) => Some(format!(
                "{} unreadable ({e}): fetching again",
                doc.path.display()
            )),
            Ok(bytes) if sha256_hex(&bytes) != doc.sha256 => Some(format!(
                "{} does not match its SHA-256: fetching again",
                doc.path.display()
            )),
            Ok(_) => None,
        })
}

/// Extends the leases of the shipments in flight, three times per lease.
async fn heartbeat<J: Journal>(context: Arc<Context<J>>) {
    let every = (context.options.lease / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let held: Vec<String> = context.lock().iter().cloned().collect();
        if !held.is_empty() {
            // A failed renewal shows up as a lost lease at the next write.
            let _ = context
                .journal
                .renew(&context.options.worker, &held, context.options.lease)
                .await;
        }
    }
}

struct Context<J> {
    client: Client,
    journal: J,
    options: Options,
    in_flight: Mutex<HashSet<String>>,
}

/// What stopped an order's progress in this run.
enum Stop {
    Outcome(Outcome),
    Journal(JournalError),
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}

impl<J: Journal> Context<J> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, reference: &str) {
        self.lock().insert(reference.to_owned());
    }

    /// Takes one claimed shipment as far as it goes in this run.
    async fn advance(&self, shipment: Shipment, wishes: &Wishes) -> Outcome {
        let reference = shipment.reference.clone();
        let outcome = match self.steps(shipment, wishes).await {
            Ok(outcome) | Err(Stop::Outcome(outcome)) => outcome,
            // Lost the lease: another worker owns it now and this one
            // sends nothing more.
            Err(Stop::Journal(JournalError::LeaseLost { reference, .. })) => {
                Outcome::Elsewhere { reference }
            }
            Err(Stop::Journal(e)) => {
                let mut shipment = Shipment::new(reference.clone(), Value::Null);
                shipment.failure = Some(failure("journal", e.to_string(), None));
                Outcome::InDoubt(Box::new(shipment))
            }
        };
        self.lock().remove(&reference);
        // A shipment left open (to retry, resend or save later) is handed
        // back at once; a closed one is never claimed again, so its lease
        // needs no round trip. Best effort: an expired lease frees it too.
        let closed = matches!(
            &outcome,
            Outcome::Done { .. } | Outcome::Ambiguous(_) | Outcome::Elsewhere { .. }
        ) || matches!(&outcome, Outcome::Failed(s) if s.stage == Stage::Failed);
        if !closed {
            let _ = self.journal.release(&self.options.worker, &reference).await;
        }
        outcome
    }

    async fn steps(&self, mut shipment: Shipment, wishes: &Wishes) -> Result<Outcome, Stop> {
        let mut bought: Option<PurchaseShipmentResult> = None;
        loop {
            match shipment.stage {
                Stage::Pending => self.rate_and_plan(&mut shipment, wishes).await?,
                Stage::Purchasing => bought = Some(self.purchase(&mut shipment).await?),
                Stage::Bought => self.save_documents(&mut shipment, bought.take()).await?,
                Stage::Done => {
                    return Ok(Outcome::Done {
                        shipment: Box::new(shipment),
                        already: false,
                    });
                }
                Stage::Failed | Stage::Ambiguous => return Ok(finished(shipment)),
            }
        }
    }

    async fn save(&self, shipment: &Shipment, detail: &str) -> Result<(), JournalError> {
        self.journal
            .save(&self.options.worker, shipment, self.options.lease, detail)
            .await
    }

    /// Pending: rates, a plan, and the purchase written down (not sent).
    async fn rate_and_plan(&self, shipment: &mut Shipment, wishes: &Wishes) -> Result<(), Stop> {
        let request: GetRatesRequest =
            match crate::validate::from_json(shipment.rates_request.clone()) {
                Ok(request) => request,
                Err(e) => {
                    let message = format!("the journaled getRates request cannot be read: {e}");
                    return Err(self.fail(shipment, "getRates", message, None).await);
                }
            };
        let response = match self.client.get_rates().body(request).send().await {
            Ok(response) => response,
            Err(e) => return Err(self.rates_failed(shipment, e).await),
        };
        let request_id = response.request_id().map(str::to_owned);
        let Some(result) = response.into_inner().payload else {
            let message = "getRates answered without a payload".to_owned();
            return Err(self.fail(shipment, "getRates", message, request_id).await);
        };
        let quote = Quote::new(result);
        let planned = match quote.cheapest(wishes) {
            Ok(planned) => planned,
            Err(e) => {
                return Err(self.fail(shipment, "plan", e.to_string(), request_id).await);
            }
        };
        let currency = planned
            .rate
            .total_charge
            .as_ref()
            .map(|c| c.unit.to_string())
            .unwrap_or_default();
        if let Some((limit, limit_currency)) = &self.options.max_charge
            && (!currency.eq_ignore_ascii_case(limit_currency) || planned.cost > *limit)
        {
            let message = format!(
                "the cheapest rate as wished costs {:.2} {currency}, above the limit {limit:.2} {limit_currency}: nothing bought",
                planned.cost
            );
            return Err(self.fail(shipment, "plan", message, request_id).await);
        }
        let token = quote
            .request_token
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default();
        shipment.quote = Some(QuoteRecord {
            request_token: token,
            received_at: quote.received_at,
            rate_id: planned.request.rate_id.to_string(),
            carrier_id: planned.rate.carrier_id.as_ref().map(|c| c.to_string()),
            service_id: planned.rate.service_id.as_ref().map(|s| s.to_string()),
            cost: planned.cost,
            currency,
            request_id,
        });
        let key = uuid::Uuid::new_v4().to_string();
        shipment.purchase = Some(PurchaseRecord {
            idempotency_key: key.clone(),
            request: serde_json::to_value(&planned.request).expect("a request encodes as JSON"),
            written_at: Utc::now(),
            sends: 0,
        });
        shipment.answer = Some(answer_from_rate(planned.rate));
        shipment.failure = None;
        shipment.stage = Stage::Purchasing;
        self.save(shipment, &format!("purchase written, key {key}"))
            .await?;
        Ok(())
    }

    /// Purchasing: the journaled request sent with its key; the answer
    /// written.
    async fn purchase(&self, shipment: &mut Shipment) -> Result<PurchaseShipmentResult, Stop> {
        let record = shipment
            .purchase
            .as_mut()
            .expect("a purchasing shipment has its purchase");
        record.sends += 1;
        let first_send = record.sends == 1;
        let key = record.idempotency_key.clone();
        let request: PurchaseShipmentRequest =
            match crate::validate::from_json(record.request.clone()) {
                Ok(request) => request,
                Err(e) => {
                    let message = format!("the journaled purchase cannot be read: {e}");
                    return Err(self.ambiguous(shipment, message, None).await);
                }
            };
        // The send is counted before it goes out, so the journal tells a
        // resend from a first send even after a crash.
        let detail = if first_send {
            format!("sending purchase, key {key}")
        } else {
            format!("resending purchase, key {key}")
        };
        self.save(shipment, &detail).await?;
        let sent = self
            .client
            .purchase_shipment()
            .x_amzn_idempotency_key(key.clone())
            .body(request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(self.purchase_failed(shipment, e, first_send).await),
        };
        let request_id = response.request_id().map(str::to_owned);
        let Some(result) = response.into_inner().payload else {
            let message = "purchaseShipment answered without a payload".to_owned();
            return Err(self.ambiguous(shipment, message, request_id).await);
        };
        let answer = shipment
            .answer
            .get_or_insert_with(|| answer_from_rate_ids(None, None));
        answer.shipment_id = result.shipment_id.as_ref().map(|s| s.to_string());
        answer.packages = result
            .package_document_details
            .iter()
            .map(|p| PackageAnswer {
                package_client_reference_id: p
                    .package_client_reference_id
                    .as_ref()
                    .map(|r| r.to_string()),
                tracking_id: p.tracking_id.as_ref().map(|t| t.to_string()),
            })
            .collect();
        answer.request_id = request_id;
        answer.received_at = Utc::now();
        shipment.failure = None;
        shipment.stage = Stage::Bought;
        let shipment_id = answer.shipment_id.clone().unwrap_or_default();
        self.save(shipment, &format!("bought shipment {shipment_id}"))
            .await?;
        Ok(result)
    }

    /// Bought: every document saved (from the purchase answer, or fetched
    /// again), then done.
    async fn save_documents(
        &self,
        shipment: &mut Shipment,
        bought: Option<PurchaseShipmentResult>,
    ) -> Result<(), Stop> {
        let details = match bought {
            Some(result) => result.package_document_details.0,
            None => match self.fetch_documents(shipment).await {
                Ok(details) => details,
                Err(message) => return Err(self.not_saved(shipment, message).await),
            },
        };
        let saved = match self.write(&shipment.reference, &details) {
            Ok(saved) => saved,
            Err(message) => return Err(self.not_saved(shipment, message).await),
        };
        let files = saved.len();
        shipment.documents = saved;
        shipment.failure = None;
        shipment.stage = Stage::Done;
        self.save(shipment, &format!("{files} documents saved"))
            .await?;
        Ok(())
    }

    /// Every package's documents again, with `getShipmentDocuments`.
    async fn fetch_documents(
        &self,
        shipment: &Shipment,
    ) -> Result<Vec<PackageDocumentDetail>, String> {
        let answer = shipment
            .answer
            .as_ref()
            .ok_or("no purchase answer journaled")?;
        let shipment_id = answer
            .shipment_id
            .as_deref()
            .ok_or("the purchase answer has no shipment id")?;
        let spec = shipment
            .purchase
            .as_ref()
            .map(|p| &p.request["requestedDocumentSpecification"]);
        let format = spec.and_then(|s| s["format"].as_str()).unwrap_or("PDF");
        let dpi = spec.and_then(|s| s["dpi"].as_f64());
        let mut details = Vec::new();
        for package in &answer.packages {
            let reference = package
                .package_client_reference_id
                .as_deref()
                .ok_or("a package without packageClientReferenceId cannot be fetched again")?;
            let mut call = self
                .client
                .get_shipment_documents()
                .shipment_id(shipment_id)
                .package_client_reference_id(reference)
                .format(format);
            if let Some(dpi) = dpi {
                call = call.dpi(dpi);
            }
            let detail = call
                .send()
                .await
                .map_err(|e| format!("getShipmentDocuments for {shipment_id}: {e}"))?
                .into_inner()
                .payload
                .and_then(|p| p.package_document_detail)
                .ok_or_else(|| {
                    format!("getShipmentDocuments for {shipment_id} answered no documents")
                })?;
            details.push(detail);
        }
        Ok(details)
    }

    /// Decodes and writes the documents, one distinct name per package and
    /// document.
    fn write(
        &self,
        order: &str,
        details: &[PackageDocumentDetail],
    ) -> Result<Vec<SavedDocument>, String> {
        let mut all: Vec<LabelDocument> = Vec::new();
        for (i, detail) in details.iter().enumerate() {
            let docs = documents::decode_all(detail).map_err(|e| e.to_string())?;
            let package = detail
                .package_client_reference_id
                .as_deref()
                .map(|r| r.trim())
                .filter(|r| !r.is_empty());
            // Named after the order: unique in the journal, where package
            // references need not be.
            let stem = match package {
                Some(p) if p == order => order.to_owned(),
                Some(p) => format!("{order}_{p}"),
                None => format!("{order}_{}", i + 1),
            };
            for mut doc in docs {
                doc.package_client_reference_id = Some(stem.clone());
                all.push(doc);
            }
        }
        if all.is_empty() {
            return Err("the answer carries no documents".to_owned());
        }
        let paths = documents::save_all(&all, &self.options.labels, &self.options.save)
            .map_err(|e| e.to_string())?;
        Ok(all
            .iter()
            .zip(paths)
            .zip(details.iter().flat_map(|d| {
                d.package_documents.iter().map(move |_| {
                    d.package_client_reference_id
                        .as_ref()
                        .map(|r| r.to_string())
                })
            }))
            .map(|((doc, path), package)| SavedDocument {
                path,
                package_client_reference_id: package,
                document_type: doc.document_type.clone(),
                format: doc.format.to_string(),
                sha256: sha256_hex(&doc.bytes),
                bytes: doc.bytes.len() as u64,
            })
            .collect())
    }

    /// A failure with nothing bought, final: written as failed.
    async fn fail(
        &self,
        shipment: &mut Shipment,
        step: &str,
        message: String,
        request_id: Option<String>,
    ) -> Stop {
        shipment.stage = Stage::Failed;
        shipment.failure = Some(failure(step, message.clone(), request_id));
        self.closed(shipment, &format!("failed at {step}: {message}"))
            .await
    }

    /// A getRates failure: final when Amazon refused the request, else left
    /// pending for the next run.
    async fn rates_failed(&self, shipment: &mut Shipment, e: Error) -> Stop {
        let request_id = e.request_id().map(str::to_owned);
        if refused(&e) || matches!(e, Error::InvalidRequest { .. }) {
            return self
                .fail(shipment, "getRates", e.to_string(), request_id)
                .await;
        }
        shipment.failure = Some(failure("getRates", e.to_string(), request_id));
        let detail = format!("getRates failed, left pending: {e}");
        if let Err(e) = self.save(shipment, &detail).await {
            return Stop::Journal(e);
        }
        Stop::Outcome(Outcome::Failed(Box::new(shipment.clone())))
    }

    /// A purchase that failed: nothing bought only when Amazon refused the
    /// very first send on its first attempt; refused otherwise, it may have
    /// been bought earlier (ambiguous); without an answer it is in doubt.
    async fn purchase_failed(&self, shipment: &mut Shipment, e: Error, first_send: bool) -> Stop {
        let request_id = e.request_id().map(str::to_owned);
        let attempts = e.attempts().unwrap_or(1);
        if refused(&e) && first_send && attempts <= 1 {
            return self
                .fail(shipment, "purchaseShipment", e.to_string(), request_id)
                .await;
        }
        if refused(&e) || matches!(e, Error::InvalidRequest { .. }) {
            return self.ambiguous(shipment, e.to_string(), request_id).await;
        }
        shipment.failure = Some(failure("purchaseShipment", e.to_string(), request_id));
        let detail = format!("no answer to the purchase, resent by the next run: {e}");
        if let Err(e) = self.save(shipment, &detail).await {
            return Stop::Journal(e);
        }
        Stop::Outcome(Outcome::InDoubt(Box::new(shipment.clone())))
    }

    async fn ambiguous(
        &self,
        shipment: &mut Shipment,
        message: String,
        request_id: Option<String>,
    ) -> Stop {
        shipment.stage = Stage::Ambiguous;
        shipment.failure = Some(failure("purchaseShipment", message.clone(), request_id));
        let key = shipment
            .purchase
            .as_ref()
            .map_or("", |p| p.idempotency_key.as_str())
            .to_owned();
        self.closed(
            shipment,
            &format!("ambiguous: the purchase under key {key} may have been bought; {message}"),
        )
        .await
    }

    async fn not_saved(&self, shipment: &mut Shipment, message: String) -> Stop {
        shipment.failure = Some(failure("save", message.clone(), None));
        if let Err(e) = self
            .save(shipment, &format!("bought, documents not saved: {message}"))
            .await
        {
            return Stop::Journal(e);
        }
        Stop::Outcome(Outcome::NotSaved(Box::new(shipment.clone())))
    }

    /// Writes a closing stage and turns it into the outcome.
    async fn closed(&self, shipment: &mut Shipment, detail: &str) -> Stop {
        match self.save(shipment, detail).await {
            Ok(()) => Stop::Outcome(finished(shipment.clone())),
            Err(e) => Stop::Journal(e),
        }
    }
}

/// Whether Amazon refused the request itself (a 4xx other than 408 and
/// 429): sending it again as is gets the same answer.
fn refused(e: &Error) -> bool {
    matches!(e, Error::Api(_))
        && e.status()
            .is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429)
}

fn failure(step: &str, message: String, request_id: Option<String>) -> Failure {
    Failure {
        step: step.to_owned(),
        message,
        request_id,
        at: Utc::now(),
    }
}

fn answer_from_rate(rate: &crate::types::Rate) -> Answer {
    let mut answer = answer_from_rate_ids(
        rate.carrier_id.as_ref().map(|c| c.to_string()),
        rate.service_id.as_ref().map(|s| s.to_string()),
    );
    answer.carrier_name = Some(rate.carrier_name.to_string());
    answer.service_name = Some(rate.service_name.to_string());
    if let Some(charge) = &rate.total_charge {
        answer.charge = Some(charge.value);
        answer.currency = Some(charge.unit.to_string());
    }
    answer
}

fn answer_from_rate_ids(carrier_id: Option<String>, service_id: Option<String>) -> Answer {
    Answer {
        shipment_id: None,
        carrier_id,
        carrier_name: None,
        service_id,
        service_name: None,
        charge: None,
        currency: None,
        packages: Vec::new(),
        request_id: None,
        received_at: Utc::now(),
    }
}
