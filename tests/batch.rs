#![cfg(all(feature = "journal", feature = "mock"))]
//! Batch purchase with a journal, against the offline sandbox: every order
//! bought exactly once, its documents saved and recorded, and every kind of
//! interruption resumed without a second label.
//!
//! Run with `cargo test --test batch`.

mod batch_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spapi_shipping::batch::{self, Options, Order, Outcome};
use spapi_shipping::journal::{
    Event, Journal, JournalError, NewShipment, Registered, Resolution, Shipment, SqliteJournal,
    Stage, sha256_hex,
};
use spapi_shipping::mock::Sandbox;
use spapi_shipping::purchase::Wishes;
use spapi_shipping::types::DocumentFormat;

use batch_support::{TempDir, rates_request};

fn orders(n: usize) -> Vec<Order> {
    (1..=n)
        .map(|i| {
            let request = serde_json::from_value(rates_request(&format!("order-{i:03}"))).unwrap();
            let wishes = Wishes::new().format(DocumentFormat::Png);
            Order::from_request(request, wishes).unwrap()
        })
        .collect()
}

fn options(labels: &Path) -> Options {
    Options::new(labels)
        .concurrency(8)
        .lease(Duration::from_secs(5))
        .worker("test-worker")
}

async fn journal(dir: &TempDir) -> SqliteJournal {
    SqliteJournal::open(dir.0.join("journal.sqlite"))
        .await
        .unwrap()
}

/// Every order bought once by the sandbox, none twice.
fn assert_bought_once(sandbox: &Sandbox, n: usize) {
    let bought = sandbox.purchases_by_reference();
    assert_eq!(bought.len(), n, "{bought:?}");
    assert!(bought.values().all(|&times| times == 1), "{bought:?}");
    assert_eq!(sandbox.executed("purchaseShipment"), n);
}

/// Every order done, with each recorded file present and matching its hash.
async fn assert_done_and_saved(journal: &impl Journal, n: usize) -> Vec<Shipment> {
    let all = journal.list().await.unwrap();
    assert_eq!(all.len(), n);
    for shipment in &all {
        assert_eq!(shipment.stage, Stage::Done, "{shipment:#?}");
        let answer = shipment.answer.as_ref().unwrap();
        assert!(answer.shipment_id.is_some(), "{shipment:#?}");
        assert!(
            answer.carrier_id.is_some(),
            "the rate's carrier id is kept for getTracking"
        );
        assert_eq!(answer.packages.len(), 1);
        assert!(answer.packages[0].tracking_id.is_some());
        assert!(!shipment.documents.is_empty());
        for doc in &shipment.documents {
            let bytes = std::fs::read(&doc.path).unwrap();
            assert_eq!(sha256_hex(&bytes), doc.sha256, "{}", doc.path.display());
            assert!(bytes.starts_with(b"\x89PNG"), "{}", doc.path.display());
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_buys_each_order_once_saves_its_labels_owner_only_and_a_rerun_buys_nothing() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("once");
    let labels = dir.0.join("labels");
    let journal = journal(&dir).await;
    let client = sandbox.client();

    let summary = batch::run(&client, &journal, orders(20), &options(&labels), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.bought(), 20, "{summary:#?}");
    assert_eq!(summary.already_done(), 0);
    assert_bought_once(&sandbox, 20);
    let all = assert_done_and_saved(&journal, 20).await;

    // One distinct file per order and document, owner-only.
    let mut paths: Vec<&PathBuf> = all
        .iter()
        .flat_map(|s| s.documents.iter().map(|d| &d.path))
        .collect();
    let files = paths.len();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), files, "no two documents share a file");
    #[cfg(unix)]
    for path in &paths {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    // The history of an order, in order.
    let events: Vec<Event> = journal.events("order-001").await.unwrap();
    let stages: Vec<Stage> = events.iter().map(|e| e.stage).collect();
    assert_eq!(
        stages,
        [
            Stage::Pending,
            Stage::Purchasing,
            Stage::Purchasing,
            Stage::Bought,
            Stage::Done
        ],
        "{events:#?}"
    );
    let key = all[0].purchase.as_ref().unwrap().idempotency_key.clone();
    assert!(events[1].detail.contains(&key), "{events:#?}");

    // The same batch again: everything is already done; nothing is sent.
    let rates_before = sandbox.executed("getRates");
    let again = batch::run(&client, &journal, orders(20), &options(&labels), |_| {})
        .await
        .unwrap();
    assert_eq!(again.already_done(), 20, "{again:#?}");
    assert_eq!(sandbox.executed("getRates"), rates_before);
    assert_bought_once(&sandbox, 20);
}

/// A journal that "crashes" (the process dies) at the first write whose
/// history line starts with `at`: before that write reaches the disk, or
/// right after it when `after` is set. A dead process writes nothing more.
#[derive(Clone)]
struct CrashAt {
    inner: SqliteJournal,
    at: &'static str,
    after: bool,
    crashed: Arc<AtomicBool>,
}

impl CrashAt {
    fn new(inner: &SqliteJournal, at: &'static str, after: bool) -> CrashAt {
        CrashAt {
            inner: inner.clone(),
            at,
            after,
            crashed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn dead(&self, detail: &str) -> JournalError {
        self.crashed.store(true, Ordering::SeqCst);
        JournalError::Store {
            location: "crash".into(),
            message: format!("simulated crash at {detail:?}"),
        }
    }
}

impl Journal for CrashAt {
    async fn register(&self, shipments: Vec<NewShipment>) -> Result<Registered, JournalError> {
        self.inner.register(shipments).await
    }
    async fn claim(
        &self,
        worker: &str,
        among: Option<&[String]>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Shipment>, JournalError> {
        self.inner.claim(worker, among, lease, max).await
    }
    async fn save(
        &self,
        worker: &str,
        shipment: &Shipment,
        lease: Duration,
        detail: &str,
    ) -> Result<(), JournalError> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(self.dead(detail));
        }
        let here = detail.starts_with(self.at);
        if here && !self.after {
            return Err(self.dead(detail));
        }
        self.inner.save(worker, shipment, lease, detail).await?;
        if here {
            return Err(self.dead(detail));
        }
        Ok(())
    }
    async fn renew(&self, w: &str, r: &[String], l: Duration) -> Result<(), JournalError> {
        self.inner.renew(w, r, l).await
    }
    async fn release(&self, worker: &str, reference: &str) -> Result<(), JournalError> {
        // A dead worker releases nothing: its leases expire.
        if self.crashed.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.release(worker, reference).await
    }
    async fn list(&self) -> Result<Vec<Shipment>, JournalError> {
        self.inner.list().await
    }
    async fn events(&self, reference: &str) -> Result<Vec<Event>, JournalError> {
        self.inner.events(reference).await
    }
    async fn resolve(
        &self,
        reference: &str,
        resolution: Resolution,
        by: &str,
    ) -> Result<Shipment, JournalError> {
        self.inner.resolve(reference, resolution, by).await
    }
    async fn reopen(&self, reference: &str, why: &str) -> Result<(), JournalError> {
        self.inner.reopen(reference, why).await
    }
}

/// Runs one order with a journal that crashes at `at` (see [`CrashAt`]),
/// and waits until the dead worker's lease has expired; the sandbox, the
/// real journal and the directory (labels in `labels/`).
async fn crash_at(at: &'static str, after: bool) -> (Sandbox, SqliteJournal, TempDir) {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("crash");
    let journal = journal(&dir).await;
    let crashing = CrashAt::new(&journal, at, after);
    let short = options(&dir.0.join("labels")).lease(Duration::from_millis(200));
    let first = batch::run(&sandbox.client(), &crashing, orders(1), &short, |_| {}).await;
    assert!(crashing.crashed.load(Ordering::SeqCst), "{first:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    (sandbox, journal, dir)
}

/// [`crash_at`], then resumes with the real journal (a new worker).
async fn crash_then_resume(at: &'static str, after: bool) -> (Sandbox, SqliteJournal, TempDir) {
    let (sandbox, journal, dir) = crash_at(at, after).await;
    let labels = dir.0.join("labels");
    let resumed = options(&labels).worker("second-worker");
    let summary = batch::run(&sandbox.client(), &journal, orders(1), &resumed, |_| {})
        .await
        .unwrap();
    assert_eq!(summary.bought(), 1, "{summary:#?}");
    (sandbox, journal, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_amazon_answered_resends_the_same_key_and_buys_nothing_twice() {
    // Killed between Amazon's 200 and writing it down: the label is paid.
    let (sandbox, journal, _dir) = crash_then_resume("bought shipment", false).await;
    assert_bought_once(&sandbox, 1);
    assert_eq!(
        sandbox.idempotency_keys("purchaseShipment"),
        1,
        "one key, sent twice"
    );
    let all = assert_done_and_saved(&journal, 1).await;
    let purchase = all[0].purchase.as_ref().unwrap();
    assert_eq!(purchase.sends, 2, "sent, then resent after the crash");
    // Never re-rated once the purchase was written.
    assert_eq!(sandbox.executed("getRates"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_purchase_was_written_rates_again_and_buys_once() {
    let (sandbox, journal, _dir) = crash_then_resume("purchase written", false).await;
    assert_bought_once(&sandbox, 1);
    assert_eq!(
        sandbox.executed("getRates"),
        2,
        "nothing was sent, so it rates again"
    );
    assert_done_and_saved(&journal, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_documents_were_recorded_fetches_them_again() {
    let (sandbox, journal, _dir) = crash_then_resume("1 documents saved", false).await;
    assert_bought_once(&sandbox, 1);
    assert_eq!(sandbox.executed("getShipmentDocuments"), 1);
    assert_done_and_saved(&journal, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_corrupt_label_is_fetched_again_and_nothing_is_rebought() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("refetch");
    let labels = dir.0.join("labels");
    let journal = journal(&dir).await;
    let client = sandbox.client();
    batch::run(&client, &journal, orders(3), &options(&labels), |_| {})
        .await
        .unwrap();
    let all = journal.list().await.unwrap();
    std::fs::remove_file(&all[0].documents[0].path).unwrap();
    std::fs::write(&all[1].documents[0].path, b"not a label").unwrap();

    let again = batch::run(&client, &journal, orders(3), &options(&labels), |_| {})
        .await
        .unwrap();
    assert_eq!(again.bought(), 3, "{again:#?}");
    assert_eq!(again.already_done(), 1, "the intact one");
    assert_eq!(sandbox.executed("getShipmentDocuments"), 2);
    assert_bought_once(&sandbox, 3);
    assert_done_and_saved(&journal, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_refused_after_the_quote_expired_is_ambiguous_until_the_user_decides() {
    // Killed once the send was recorded: it may have reached Amazon.
    let (sandbox, journal, dir) = crash_at("sending purchase", true).await;
    let labels = dir.0.join("labels");
    // The re-run comes after the quote died.
    sandbox.age_quotes(Duration::from_secs(11 * 60));
    let summary = batch::run(
        &sandbox.client(),
        &journal,
        orders(1),
        &options(&labels),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.ambiguous(), 1, "{summary:#?}");
    let Outcome::Ambiguous(shipment) = &summary.outcomes[0] else {
        panic!("{summary:#?}")
    };
    let key = shipment.purchase.as_ref().unwrap().idempotency_key.clone();
    assert!(shipment.quote.as_ref().unwrap().request_token.len() > 4);
    assert!(
        shipment
            .failure
            .as_ref()
            .unwrap()
            .message
            .contains("expired"),
        "{shipment:#?}"
    );
    assert_eq!(sandbox.executed("purchaseShipment"), 0);

    // Not rebought silently: another run leaves it as it is.
    let again = batch::run(
        &sandbox.client(),
        &journal,
        orders(1),
        &options(&labels),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(again.ambiguous(), 1);
    assert_eq!(sandbox.executed("getRates"), 1);

    // The user checked: not bought. Rebuy under a new key.
    let resolved = journal
        .resolve("order-001", Resolution::Rebuy, "test")
        .await
        .unwrap();
    assert_eq!(resolved.stage, Stage::Pending);
    let done = batch::run(
        &sandbox.client(),
        &journal,
        orders(1),
        &options(&labels),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.bought(), 1, "{done:#?}");
    assert_bought_once(&sandbox, 1);
    let all = assert_done_and_saved(&journal, 1).await;
    assert_ne!(all[0].purchase.as_ref().unwrap().idempotency_key, key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_written_but_never_sent_and_then_refused_is_a_failure_not_ambiguous() {
    // Killed after the purchase was written, before its send was recorded:
    // the journal proves it never left, so Amazon's refusal of the first
    // real send means nothing was bought.
    let (sandbox, journal, dir) = crash_at("sending purchase", false).await;
    let labels = dir.0.join("labels");
    sandbox.age_quotes(Duration::from_secs(11 * 60));
    let summary = batch::run(
        &sandbox.client(),
        &journal,
        orders(1),
        &options(&labels),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.failed(), 1, "{summary:#?}");
    let all = journal.list().await.unwrap();
    assert_eq!(all[0].stage, Stage::Failed);
    assert_eq!(all[0].purchase.as_ref().unwrap().sends, 1);
    assert_eq!(sandbox.executed("purchaseShipment"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_dearer_than_the_limit_is_a_failure_and_nothing_is_bought() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("limit");
    let labels = dir.0.join("labels");
    let journal = journal(&dir).await;
    let summary = batch::run(
        &sandbox.client(),
        &journal,
        orders(2),
        &options(&labels).max_charge(0.50, "GBP"),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.failed(), 2, "{summary:#?}");
    assert_eq!(sandbox.executed("purchaseShipment"), 0);
    let all = journal.list().await.unwrap();
    let failure = all[0].failure.as_ref().unwrap();
    assert_eq!(failure.step, "plan");
    assert!(
        failure.message.contains("above the limit 0.50 GBP"),
        "{failure:?}"
    );
    assert_eq!(all[0].stage, Stage::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orders_with_one_reference_are_refused_before_anything_is_sent() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("dup");
    let journal = journal(&dir).await;
    let mut twice = orders(1);
    twice.push(twice[0].clone());
    let error = batch::run(&sandbox.client(), &journal, twice, &options(&dir.0), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "two orders share the reference order-001: each order needs its own"
    );
    assert_eq!(sandbox.executed("getRates"), 0);
}
