//! The journal's contract (issue 19): the same specifications, run against
//! both stores.
//!
//! - `sqlite::*`: a fresh SQLite file per test, in a temporary directory.
//! - `postgres::*`: the PostgreSQL at `SPAPI_TEST_POSTGRES_URL` (`.ci/run`
//!   starts one), each test in a schema of its own (created, put first on
//!   the connection's `search_path`, dropped afterwards), so tests running
//!   in parallel never see each other's shipments. Without the variable the
//!   PostgreSQL half is skipped with a note, unless `SPAPI_REQUIRE_SERVICES`
//!   is set: then it fails.
//!
//! Each store is opened through `journal::open`, as the CLI does; a test
//! that plays several workers opens one handle per worker, as separate
//! processes would.

#[path = "support/required.rs"]
mod required;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use spapi_shipping::journal::{
    self, AnyJournal, Journal, JournalError, NewShipment, Resolution, Shipment, Stage,
};

/// A lease nobody outlives in a test.
const LONG: Duration = Duration::from_secs(60);
/// A lease that expires within the test.
const SHORT: Duration = Duration::from_millis(200);
/// Long enough for [`SHORT`] to have expired.
const PAST_SHORT: Duration = Duration::from_millis(400);

/// Where a test's journal lives; cloned into each worker, which opens its
/// own handle.
#[derive(Clone, Debug)]
enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    async fn open(&self) -> AnyJournal {
        let location = match self {
            Store::Sqlite(path) => path.to_str().expect("a UTF-8 temporary path").to_owned(),
            Store::Postgres(url) => url.clone(),
        };
        journal::open(&location)
            .await
            .unwrap_or_else(|e| panic!("opening the journal: {e}"))
    }
}

/// Runs `spec` against a fresh SQLite file.
async fn run_sqlite<F, Fut>(test: &str, spec: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = std::env::temp_dir().join(format!("spapi-journal-{test}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let outcome = tokio::spawn(spec(Store::Sqlite(dir.join("journal.db")))).await;
    let _ = std::fs::remove_dir_all(&dir);
    finish(outcome);
}

/// Runs `spec` in a schema of its own in the test PostgreSQL, if there is one.
async fn run_postgres<F, Fut>(test: &str, spec: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = postgres_url(test) else {
        return;
    };
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to SPAPI_TEST_POSTGRES_URL: {e}"));
    tokio::spawn(connection);
    let schema = format!("journal_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
    // `options=-c search_path=...`: the journal creates and uses its tables
    // in that schema, through its ordinary URL handling.
    let separator = if url.contains('?') { '&' } else { '?' };
    let store = Store::Postgres(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    ));
    let outcome = tokio::spawn(spec(store)).await;
    if let Err(e) = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
    {
        eprintln!("could not drop test schema {schema}: {e}");
    }
    finish(outcome);
}

fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("SPAPI_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if required::services_required() => {
            panic!(
                "SPAPI_REQUIRE_SERVICES is set but SPAPI_TEST_POSTGRES_URL is not: the PostgreSQL \
                 journal tests need a server (.ci/run starts one)"
            )
        }
        _ => {
            eprintln!(
                "skipped postgres::{test}: SPAPI_TEST_POSTGRES_URL is not set (.ci/run starts a \
                 PostgreSQL; or set it to e.g. postgres://USER@127.0.0.1:5432/DB)"
            );
            None
        }
    }
}

/// Re-raises a spec's panic after the clean-up.
fn finish(outcome: Result<(), tokio::task::JoinError>) {
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the test task did not finish: {e}"),
    }
}

/// Declares each spec once per store: `sqlite::spec` and `postgres::spec`.
macro_rules! contract {
    ($($spec:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $spec() {
                    crate::run_sqlite(stringify!($spec), crate::$spec).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $spec() {
                    crate::run_postgres(stringify!($spec), crate::$spec).await;
                }
            )*
        }
    };
}

contract!(
    registration_is_idempotent_and_keeps_order,
    a_reused_reference_with_another_request_is_a_conflict,
    claim_hands_out_open_shipments_only_in_registration_order_at_most_max,
    claim_honours_among,
    concurrent_workers_never_claim_the_same_shipment,
    an_expired_lease_is_claimable_by_another_worker,
    a_save_after_the_lease_went_to_another_worker_is_lease_lost_and_changes_nothing,
    renew_keeps_a_lease_and_release_gives_it_up,
    save_appends_an_event_and_events_come_back_in_order,
    resolve_rebuys_or_gives_up_an_ambiguous_shipment_and_refuses_a_done_one,
    reopen_moves_done_back_to_bought_and_forgets_the_documents,
    a_shipment_round_trips_every_field,
    several_workers_opening_a_new_journal_at_once_all_succeed,
    one_handle_serves_many_tasks_at_once,
);

/// A PostgreSQL error names the journal by its URL with the password
/// replaced, and never shows the password (here: a database that does not
/// exist, reached with a password in the URL).
#[tokio::test]
async fn postgres_errors_never_show_the_password() {
    let Some(url) = postgres_url("postgres_errors_never_show_the_password") else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().expect("SPAPI_TEST_POSTGRES_URL parses");
    let (Some(tokio_postgres::config::Host::Tcp(host)), Some(port), Some(user)) = (
        config.get_hosts().first(),
        config.get_ports().first(),
        config.get_user(),
    ) else {
        eprintln!("skipped: SPAPI_TEST_POSTGRES_URL is not a TCP URL with a user");
        return;
    };
    let database = format!("no_such_db_{}", uuid::Uuid::new_v4().simple());
    let secret = "pw-4f1d9c";
    let error = journal::open(&format!(
        "postgres://{user}:{secret}@{host}:{port}/{database}"
    ))
    .await
    .unwrap_err();
    let JournalError::Store { location, message } = &error else {
        panic!("expected a store error, got {error:?}");
    };
    assert_eq!(
        location,
        &format!("postgres://{user}:***@{host}:{port}/{database}")
    );
    assert!(message.contains(&database), "says what is wrong: {message}");
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

// ---- helpers ----

/// A `getRates` body particular to `reference`.
fn request(reference: &str) -> Value {
    json!({
        "shipTo": {"name": reference, "city": "Seattle"},
        "packages": [{"packageClientReferenceId": reference, "weight": {"value": 1.5, "unit": "KILOGRAM"}}],
        "channelDetails": {"channelType": "EXTERNAL"}
    })
}

fn orders(references: &[&str]) -> Vec<NewShipment> {
    references
        .iter()
        .map(|reference| NewShipment {
            reference: (*reference).to_owned(),
            rates_request: request(reference),
        })
        .collect()
}

fn strings(references: &[&str]) -> Vec<String> {
    references.iter().map(|r| (*r).to_owned()).collect()
}

fn references(shipments: &[Shipment]) -> Vec<String> {
    shipments.iter().map(|s| s.reference.clone()).collect()
}

async fn stored(journal: &AnyJournal, reference: &str) -> Shipment {
    journal
        .list()
        .await
        .expect("list")
        .into_iter()
        .find(|s| s.reference == reference)
        .unwrap_or_else(|| panic!("{reference} is not in the journal"))
}

/// `(stage, detail, worker)` of each event.
async fn history(journal: &AnyJournal, reference: &str) -> Vec<(Stage, String, String)> {
    journal
        .events(reference)
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            assert_eq!(e.reference, reference);
            (e.stage, e.detail, e.worker)
        })
        .collect()
}

fn event(stage: Stage, detail: &str, worker: &str) -> (Stage, String, String) {
    (stage, detail.to_owned(), worker.to_owned())
}

/// The shipment without its write time (which the store sets).
fn untimed(shipment: &Shipment) -> Shipment {
    let mut shipment = shipment.clone();
    shipment.updated_at = DateTime::UNIX_EPOCH;
    shipment
}

fn assert_recent(at: DateTime<Utc>) {
    let skew = (Utc::now() - at).num_seconds().abs();
    assert!(
        skew < 60,
        "{at} is not a time of this test (now {})",
        Utc::now()
    );
}

/// Claims `reference` (alone) for `worker`, which must get it.
async fn claim_one(journal: &AnyJournal, worker: &str, reference: &str) -> Shipment {
    let mut got = journal
        .claim(worker, Some(&strings(&[reference])), LONG, 1)
        .await
        .expect("claim");
    assert_eq!(references(&got), [reference], "{worker} claims {reference}");
    got.remove(0)
}

/// Records, built from JSON since they are `#[non_exhaustive]`.
fn record<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid record")
}

// ---- the specifications ----

async fn registration_is_idempotent_and_keeps_order(store: Store) {
    let journal = store.open().await;

    let first = journal.register(orders(&["a", "b", "c"])).await.unwrap();
    assert_eq!((first.added, first.known), (3, 0));
    let again = journal.register(orders(&["b", "d", "a"])).await.unwrap();
    assert_eq!((again.added, again.known), (1, 2), "b and a known, d added");

    let all = journal.list().await.unwrap();
    assert_eq!(references(&all), ["a", "b", "c", "d"], "registration order");
    for shipment in &all {
        assert_eq!(shipment.stage, Stage::Pending);
        assert_eq!(shipment.rates_request, request(&shipment.reference));
        assert_eq!(shipment.quote, None);
        assert_eq!(shipment.purchase, None);
        assert_eq!(shipment.answer, None);
        assert!(shipment.documents.is_empty());
        assert_eq!(shipment.failure, None);
        assert_recent(shipment.updated_at);
    }
    // Registered once: the re-run wrote no second event.
    assert_eq!(
        history(&journal, "a").await,
        [event(Stage::Pending, "registered", "")]
    );

    // Another handle (another process) sees the same journal.
    let other = store.open().await;
    assert_eq!(
        references(&other.list().await.unwrap()),
        ["a", "b", "c", "d"]
    );
    let empty = other.register(Vec::new()).await.unwrap();
    assert_eq!((empty.added, empty.known), (0, 0));
}

async fn a_reused_reference_with_another_request_is_a_conflict(store: Store) {
    let journal = store.open().await;
    journal.register(orders(&["a"])).await.unwrap();

    let reused = vec![
        NewShipment {
            reference: "e".to_owned(),
            rates_request: request("e"),
        },
        NewShipment {
            reference: "a".to_owned(),
            rates_request: request("another order"),
        },
    ];
    let error = journal.register(reused).await.unwrap_err();
    assert!(
        matches!(&error, JournalError::Conflict { reference } if reference == "a"),
        "{error:?}"
    );

    // Nothing of the refused registration was written: not e, not a's new request.
    let all = journal.list().await.unwrap();
    assert_eq!(references(&all), ["a"]);
    assert_eq!(all[0].rates_request, request("a"));
    assert_eq!(journal.events("e").await.unwrap(), []);

    // The same request again is still a re-run.
    let again = journal.register(orders(&["a"])).await.unwrap();
    assert_eq!((again.added, again.known), (0, 1));
}

async fn claim_hands_out_open_shipments_only_in_registration_order_at_most_max(store: Store) {
    let journal = store.open().await;
    journal
        .register(orders(&["s1", "s2", "s3", "s4", "s5", "s6"]))
        .await
        .unwrap();
    // s2 done and s4 failed: closed, never handed out again.
    for (reference, stage) in [("s2", Stage::Done), ("s4", Stage::Failed)] {
        let mut shipment = claim_one(&journal, "setup", reference).await;
        shipment.stage = stage;
        journal
            .save("setup", &shipment, LONG, "closed")
            .await
            .unwrap();
        journal.release("setup", reference).await.unwrap();
    }

    let w1 = journal.claim("w1", None, LONG, 2).await.unwrap();
    assert_eq!(references(&w1), ["s1", "s3"], "the first two open ones");
    assert!(w1.iter().all(|s| s.stage == Stage::Pending));
    assert_eq!(untimed(&w1[0]), untimed(&stored(&journal, "s1").await));

    let w2 = journal.claim("w2", None, LONG, 10).await.unwrap();
    assert_eq!(references(&w2), ["s5", "s6"], "s1 and s3 are w1's");

    // A worker claiming again gets back what it holds (after a restart, say).
    let w1_again = journal.claim("w1", None, LONG, 10).await.unwrap();
    assert_eq!(references(&w1_again), ["s1", "s3"]);

    assert_eq!(journal.claim("w3", None, LONG, 10).await.unwrap(), []);
    assert_eq!(journal.claim("w1", None, LONG, 0).await.unwrap(), []);
}

async fn claim_honours_among(store: Store) {
    let journal = store.open().await;
    journal
        .register(orders(&["r1", "r2", "r3", "r4", "r5"]))
        .await
        .unwrap();

    let among = strings(&["r5", "r2", "not-registered"]);
    let got = journal.claim("w1", Some(&among), LONG, 10).await.unwrap();
    assert_eq!(
        references(&got),
        ["r2", "r5"],
        "registration order, not among's"
    );

    let first = journal
        .claim("w2", Some(&strings(&["r5", "r4", "r3"])), LONG, 1)
        .await
        .unwrap();
    assert_eq!(references(&first), ["r3"], "r5 is w1's; at most one");

    assert_eq!(journal.claim("w2", Some(&[]), LONG, 10).await.unwrap(), []);
    let rest = journal.claim("w3", None, LONG, 10).await.unwrap();
    assert_eq!(references(&rest), ["r1", "r4"]);
}

async fn concurrent_workers_never_claim_the_same_shipment(store: Store) {
    let all: Vec<String> = (0..200).map(|i| format!("order-{i:03}")).collect();
    let journal = store.open().await;
    let new = all
        .iter()
        .map(|reference| NewShipment {
            reference: reference.clone(),
            rates_request: request(reference),
        })
        .collect();
    assert_eq!(journal.register(new).await.unwrap().added, 200);

    // Four workers, each with its own handle, claim small batches and
    // finish each shipment until nothing is left.
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("worker-{n}");
                let journal = store.open().await;
                let (mut mine, mut lost) = (Vec::new(), Vec::new());
                loop {
                    let claimed = journal.claim(&worker, None, LONG, 7).await.unwrap();
                    if claimed.is_empty() {
                        return (worker, mine, lost);
                    }
                    for mut shipment in claimed {
                        mine.push(shipment.reference.clone());
                        shipment.stage = Stage::Done;
                        match journal.save(&worker, &shipment, LONG, "done").await {
                            Ok(()) => {}
                            Err(JournalError::LeaseLost { reference, .. }) => lost.push(reference),
                            Err(e) => panic!("{worker} saving {}: {e}", shipment.reference),
                        }
                    }
                }
            })
        })
        .collect();
    let mut claimed_by = std::collections::HashMap::new();
    let (mut total, mut lost) = (0, Vec::new());
    for handle in workers {
        let (worker, mine, worker_lost) = handle.await.unwrap();
        total += mine.len();
        lost.extend(worker_lost);
        for reference in mine {
            if let Some(first) = claimed_by.insert(reference.clone(), worker.clone()) {
                panic!("{reference} was claimed by {first} and by {worker}");
            }
        }
    }
    assert_eq!(total, 200, "each shipment claimed once");
    let claimed: BTreeSet<&String> = claimed_by.keys().collect();
    assert_eq!(claimed, all.iter().collect(), "every shipment claimed");
    assert_eq!(
        lost,
        Vec::<String>::new(),
        "no worker lost a lease it was given"
    );

    for shipment in journal.list().await.unwrap() {
        assert_eq!(shipment.stage, Stage::Done, "{}", shipment.reference);
    }
    let sample = &all[137];
    assert_eq!(
        history(&journal, sample).await,
        [
            event(Stage::Pending, "registered", ""),
            event(Stage::Done, "done", &claimed_by[sample]),
        ]
    );
}

async fn an_expired_lease_is_claimable_by_another_worker(store: Store) {
    let journal = store.open().await;
    let other = store.open().await;
    journal.register(orders(&["r"])).await.unwrap();

    claim_one(&journal, "w1", "r").await;
    assert_eq!(
        other.claim("w2", None, LONG, 10).await.unwrap(),
        [],
        "leased to w1"
    );

    // w1's lease runs out (renew also shortens); nobody renews it.
    journal.renew("w1", &strings(&["r"]), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    let taken = other.claim("w2", None, LONG, 10).await.unwrap();
    assert_eq!(references(&taken), ["r"], "the expired lease goes to w2");
    assert_eq!(
        journal.claim("w1", None, LONG, 10).await.unwrap(),
        [],
        "and is w2's now"
    );
}

async fn a_save_after_the_lease_went_to_another_worker_is_lease_lost_and_changes_nothing(
    store: Store,
) {
    let journal = store.open().await;
    let other = store.open().await;
    journal.register(orders(&["r"])).await.unwrap();

    let mut shipment = journal
        .claim("w1", None, SHORT, 10)
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(PAST_SHORT).await;
    claim_one(&other, "w2", "r").await;
    let before = stored(&journal, "r").await;

    shipment.stage = Stage::Purchasing;
    shipment.purchase = Some(record(json!({
        "idempotency_key": "key-of-w1",
        "request": {"requestToken": "t"},
        "written_at": "2025-01-02T03:04:05Z",
        "sends": 1
    })));
    let error = journal
        .save("w1", &shipment, LONG, "purchase written, key key-of-w1")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::LeaseLost { reference, worker } if reference == "r" && worker == "w1"),
        "{error:?}"
    );

    // Nothing changed: data, stage, history; and w2 still holds it.
    assert_eq!(stored(&journal, "r").await, before);
    assert_eq!(before.stage, Stage::Pending);
    assert_eq!(before.purchase, None);
    assert_eq!(
        history(&journal, "r").await,
        [event(Stage::Pending, "registered", "")]
    );
    journal.renew("w1", &strings(&["r"]), LONG).await.unwrap();
    assert_eq!(journal.claim("w1", None, LONG, 10).await.unwrap(), []);

    // A shipment never claimed cannot be saved either.
    journal.register(orders(&["never-claimed"])).await.unwrap();
    let unclaimed = stored(&journal, "never-claimed").await;
    let error = journal.save("w1", &unclaimed, LONG, "x").await.unwrap_err();
    assert!(matches!(error, JournalError::LeaseLost { .. }), "{error:?}");

    // w2's save goes through.
    shipment.purchase = Some(record(json!({
        "idempotency_key": "key-of-w2",
        "request": {"requestToken": "t"},
        "written_at": "2025-01-02T03:04:05Z",
        "sends": 1
    })));
    other
        .save("w2", &shipment, LONG, "purchase written, key key-of-w2")
        .await
        .unwrap();
    let after = stored(&journal, "r").await;
    assert_eq!(after.stage, Stage::Purchasing);
    assert_eq!(
        after.purchase.map(|p| p.idempotency_key).as_deref(),
        Some("key-of-w2")
    );
}

async fn renew_keeps_a_lease_and_release_gives_it_up(store: Store) {
    let journal = store.open().await;
    let other = store.open().await;
    journal.register(orders(&["r", "s"])).await.unwrap();

    let got = journal.claim("w1", None, SHORT, 10).await.unwrap();
    assert_eq!(references(&got), ["r", "s"]);
    journal
        .renew("w1", &strings(&["r", "s"]), LONG)
        .await
        .unwrap();
    // Another worker's renew and release do nothing to w1's leases.
    other.renew("w2", &strings(&["r"]), SHORT).await.unwrap();
    other.release("w2", "s").await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(other.claim("w2", None, LONG, 10).await.unwrap(), []);

    journal.release("w1", "s").await.unwrap();
    let freed = other.claim("w2", None, LONG, 10).await.unwrap();
    assert_eq!(references(&freed), ["s"], "released, claimable at once");
}

async fn save_appends_an_event_and_events_come_back_in_order(store: Store) {
    let journal = store.open().await;
    journal.register(orders(&["r", "q"])).await.unwrap();
    let mut shipment = claim_one(&journal, "w1", "r").await;

    for (stage, detail) in [
        (Stage::Purchasing, "purchase written, key k1"),
        (Stage::Bought, "answered: shipment 123"),
        (Stage::Done, "documents saved"),
    ] {
        shipment.stage = stage;
        journal.save("w1", &shipment, LONG, detail).await.unwrap();
        assert_eq!(stored(&journal, "r").await.stage, stage);
    }

    assert_eq!(
        history(&journal, "r").await,
        [
            event(Stage::Pending, "registered", ""),
            event(Stage::Purchasing, "purchase written, key k1", "w1"),
            event(Stage::Bought, "answered: shipment 123", "w1"),
            event(Stage::Done, "documents saved", "w1"),
        ]
    );
    let events = journal.events("r").await.unwrap();
    assert!(
        events.windows(2).all(|w| w[0].at <= w[1].at),
        "times never go back: {events:?}"
    );
    events.iter().for_each(|e| assert_recent(e.at));
    // The last event is stamped with the write's time.
    assert_eq!(events[3].at, stored(&journal, "r").await.updated_at);

    // Each shipment has its own history.
    assert_eq!(
        history(&journal, "q").await,
        [event(Stage::Pending, "registered", "")]
    );
    assert_eq!(journal.events("never-registered").await.unwrap(), []);
}

async fn resolve_rebuys_or_gives_up_an_ambiguous_shipment_and_refuses_a_done_one(store: Store) {
    let journal = store.open().await;
    let other = store.open().await;
    journal.register(orders(&["a", "b", "c"])).await.unwrap();
    for (reference, stage) in [
        ("a", Stage::Ambiguous),
        ("b", Stage::Ambiguous),
        ("c", Stage::Done),
    ] {
        let mut shipment = claim_one(&journal, "w1", reference).await;
        shipment.stage = stage;
        shipment.quote = Some(record(json!({
            "request_token": format!("token-{reference}"),
            "received_at": "2025-01-02T03:04:05Z",
            "rate_id": "rate-1",
            "cost": 9.5,
            "currency": "USD"
        })));
        shipment.purchase = Some(record(json!({
            "idempotency_key": format!("key-{reference}"),
            "request": {"requestToken": format!("token-{reference}")},
            "written_at": "2025-01-02T03:04:06Z",
            "sends": 2
        })));
        journal.save("w1", &shipment, LONG, "set up").await.unwrap();
    }

    // Rebuy: pending again, key and quote dropped, lease cleared.
    let rebuy = journal
        .resolve("a", Resolution::Rebuy, "alice")
        .await
        .unwrap();
    assert_eq!(rebuy.stage, Stage::Pending);
    assert_eq!(rebuy.quote, None);
    assert_eq!(rebuy.purchase, None);
    assert_recent(rebuy.updated_at);
    assert_eq!(stored(&journal, "a").await, rebuy);
    assert_eq!(
        history(&journal, "a").await.last(),
        Some(&event(
            Stage::Pending,
            "resolved: rebuy (previous key key-a dropped)",
            "alice"
        ))
    );
    claim_one(&other, "w2", "a").await;

    // Give up: failed, key kept for the record, never claimed again.
    let given_up = journal
        .resolve("b", Resolution::GiveUp, "bob")
        .await
        .unwrap();
    assert_eq!(given_up.stage, Stage::Failed);
    assert_eq!(
        given_up
            .purchase
            .as_ref()
            .map(|p| p.idempotency_key.as_str()),
        Some("key-b")
    );
    assert_eq!(stored(&journal, "b").await, given_up);
    assert_eq!(
        history(&journal, "b").await.last(),
        Some(&event(
            Stage::Failed,
            "resolved: given up (key key-b)",
            "bob"
        ))
    );
    assert_eq!(
        other
            .claim("w2", Some(&strings(&["b"])), LONG, 10)
            .await
            .unwrap(),
        []
    );
    // A failed shipment may still be rebought.
    let retried = journal
        .resolve("b", Resolution::Rebuy, "bob")
        .await
        .unwrap();
    assert_eq!(retried.stage, Stage::Pending);

    // Done: not resolvable, and unchanged.
    let before = stored(&journal, "c").await;
    let error = journal
        .resolve("c", Resolution::Rebuy, "carol")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::NotResolvable { reference, stage: Stage::Done } if reference == "c"),
        "{error:?}"
    );
    assert_eq!(stored(&journal, "c").await, before);

    let error = journal
        .resolve("nope", Resolution::GiveUp, "dave")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, JournalError::Unknown { reference } if reference == "nope"),
        "{error:?}"
    );
}

async fn reopen_moves_done_back_to_bought_and_forgets_the_documents(store: Store) {
    let journal = store.open().await;
    journal.register(orders(&["r", "p"])).await.unwrap();
    let mut shipment = claim_one(&journal, "w1", "r").await;
    shipment.stage = Stage::Done;
    shipment.answer = Some(record(json!({
        "shipment_id": "amzn-1",
        "carrier_id": null, "carrier_name": null, "service_id": null, "service_name": null,
        "charge": 4.2, "currency": "USD",
        "packages": [{"package_client_reference_id": "r", "tracking_id": "T1"}],
        "request_id": "req-1",
        "received_at": "2025-01-02T03:04:05Z"
    })));
    shipment.documents = vec![record(json!({
        "path": "labels/r-LABEL.png",
        "package_client_reference_id": "r",
        "document_type": "LABEL",
        "format": "PNG",
        "sha256": "00ff",
        "bytes": 1234
    }))];
    journal
        .save("w1", &shipment, LONG, "documents saved")
        .await
        .unwrap();
    journal.release("w1", "r").await.unwrap();

    journal.reopen("r", "label file missing").await.unwrap();
    let reopened = stored(&journal, "r").await;
    assert_eq!(reopened.stage, Stage::Bought);
    assert!(reopened.documents.is_empty());
    assert_eq!(reopened.answer, shipment.answer, "the answer is kept");
    assert_eq!(
        history(&journal, "r").await.last(),
        Some(&event(Stage::Bought, "label file missing", ""))
    );
    // Open again: a worker picks it up to fetch the documents.
    claim_one(&journal, "w2", "r").await;

    // Only a done shipment is reopened.
    journal.reopen("p", "not done").await.unwrap();
    assert_eq!(stored(&journal, "p").await.stage, Stage::Pending);
    assert_eq!(history(&journal, "p").await.len(), 1);
    journal.reopen("never-registered", "x").await.unwrap();
}

async fn a_shipment_round_trips_every_field(store: Store) {
    let journal = store.open().await;
    // Keys out of order, a float that needs all its digits, non-ASCII: the
    // request comes back exactly as sent.
    let rates_request_text =
        r#"{"zeta":1,"alpha":{"b":0.30000000000000004,"a":"Straße 😀"},"list":[3,1,2]}"#;
    let rates_request: Value = serde_json::from_str(rates_request_text).unwrap();
    let reference = "Bestellung-ä-1";
    journal
        .register(vec![NewShipment {
            reference: reference.to_owned(),
            rates_request: rates_request.clone(),
        }])
        .await
        .unwrap();
    let mut shipment = claim_one(&journal, "w1", reference).await;
    assert_eq!(
        serde_json::to_string(&shipment.rates_request).unwrap(),
        rates_request_text
    );

    shipment.stage = Stage::Bought;
    shipment.quote = Some(record(json!({
        "request_token": "amzn1.rq.1",
        "received_at": "2025-01-02T03:04:05.123456Z",
        "rate_id": "rate-7",
        "carrier_id": "AMZN_US",
        "service_id": "std-us",
        "cost": 12.34,
        "currency": "USD",
        "request_id": "rates-req-1"
    })));
    shipment.purchase = Some(record(json!({
        "idempotency_key": "3f2a-key",
        "request": {"requestToken": "amzn1.rq.1", "rateId": "rate-7", "requestedDocumentSpecification": {"format": "PNG"}},
        "written_at": "2025-01-02T03:04:06Z",
        "sends": 3
    })));
    shipment.answer = Some(record(json!({
        "shipment_id": "amzn-shipment-9",
        "carrier_id": "AMZN_US",
        "carrier_name": "Amazon Shipping",
        "service_id": "std-us",
        "service_name": "Amazon Shipping Standard",
        "charge": 12.34,
        "currency": "USD",
        "packages": [
            {"package_client_reference_id": "p1", "tracking_id": "TBA1"},
            {"package_client_reference_id": null, "tracking_id": null}
        ],
        "request_id": "purchase-req-1",
        "received_at": "2025-01-02T03:04:07Z"
    })));
    shipment.documents = vec![
        record(json!({
            "path": "out/Bestellung-ä-1/p1-LABEL.png",
            "package_client_reference_id": "p1",
            "document_type": "LABEL",
            "format": "PNG",
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "bytes": 4096
        })),
        record(json!({
            "path": "out/Bestellung-ä-1/PACKSLIP.pdf",
            "package_client_reference_id": null,
            "document_type": "PACKSLIP",
            "format": "PDF",
            "sha256": "00",
            "bytes": 0
        })),
    ];
    shipment.failure = Some(record(json!({
        "step": "getShipmentDocuments",
        "message": "503 \"Service Unavailable\"\nretry later",
        "request_id": "docs-req-1",
        "at": "2025-01-02T03:04:08Z"
    })));
    journal
        .save("w1", &shipment, LONG, "everything")
        .await
        .unwrap();

    let listed = stored(&journal, reference).await;
    assert_eq!(untimed(&listed), untimed(&shipment));
    assert_recent(listed.updated_at);
    assert_eq!(
        serde_json::to_string(&listed.rates_request).unwrap(),
        rates_request_text,
        "key order and digits kept"
    );

    // Through another handle and a claim too.
    journal.release("w1", reference).await.unwrap();
    let other = store.open().await;
    let claimed = claim_one(&other, "w2", reference).await;
    assert_eq!(claimed, listed);
}

async fn several_workers_opening_a_new_journal_at_once_all_succeed(store: Store) {
    // Each creates the tables if missing, at the same moment.
    let opened: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.open().await })
        })
        .collect();
    let mut journals = Vec::new();
    for handle in opened {
        journals.push(handle.await.expect("every worker opens the journal"));
    }
    journals[3].register(orders(&["a", "b"])).await.unwrap();
    assert_eq!(references(&journals[5].list().await.unwrap()), ["a", "b"]);
}

async fn one_handle_serves_many_tasks_at_once(store: Store) {
    // Sixteen tasks share one handle (and so its connections), each driving
    // shipments of its own through claim, save and events.
    let journal = store.open().await;
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let worker = format!("task-{n}");
                let mine: Vec<String> = (0..3).map(|i| format!("t{n:02}-{i}")).collect();
                let new = mine
                    .iter()
                    .map(|reference| NewShipment {
                        reference: reference.clone(),
                        rates_request: request(reference),
                    })
                    .collect();
                assert_eq!(journal.register(new).await.unwrap().added, 3);
                let claimed = journal.claim(&worker, Some(&mine), LONG, 10).await.unwrap();
                assert_eq!(references(&claimed), mine);
                for mut shipment in claimed {
                    shipment.stage = Stage::Bought;
                    journal
                        .save(&worker, &shipment, LONG, "bought")
                        .await
                        .unwrap();
                }
                for reference in &mine {
                    assert_eq!(
                        history(&journal, reference).await,
                        [
                            event(Stage::Pending, "registered", ""),
                            event(Stage::Bought, "bought", &worker),
                        ]
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let all = journal.list().await.unwrap();
    assert_eq!(all.len(), 48);
    assert!(all.iter().all(|s| s.stage == Stage::Bought));
}
