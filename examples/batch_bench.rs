//! Figures for batch purchase (issue 19), against the offline sandbox on
//! 127.0.0.1 with Amazon's usage plans (getRates and purchaseShipment: 80
//! requests a second, burst 100), which the client's limiter keeps:
//!
//! - `throughput`: 1,000 orders rated, bought and saved by
//!   `batch::run` with an SQLite journal; the time against the plan's
//!   minimum, (1,000 - burst) / rate, measured in the same run (target
//!   <= 1.15x); with `SPAPI_BENCH_POSTGRES_URL`, a PostgreSQL journal
//!   instead;
//! - `journal`: what the journal costs per shipment, written as a batch
//!   writes it (register, claim, four synced saves, release), one shipment
//!   after another: SQLite, and PostgreSQL when `SPAPI_TEST_POSTGRES_URL`
//!   names one.
//!
//! ```text
//! cargo run --release --features journal,mock --example batch_bench [throughput|journal]
//! ```

#[path = "../tests/batch_support/mod.rs"]
mod batch_support;

use std::time::{Duration, Instant};

use spapi_shipping::batch::{self, Options, Order};
use spapi_shipping::journal::{Journal, NewShipment, SqliteJournal, Stage};
use spapi_shipping::mock::Sandbox;
use spapi_shipping::operations;
use spapi_shipping::purchase::Wishes;
use spapi_shipping::types::DocumentFormat;

use batch_support::{TempDir, rates_request};

const ORDERS: usize = 1_000;
const TARGET: f64 = 1.15;
const REPS: usize = 3;
const JOURNAL_SHIPMENTS: usize = 300;

fn orders(n: usize, run: usize) -> Vec<Order> {
    (1..=n)
        .map(|i| {
            let request =
                serde_json::from_value(rates_request(&format!("r{run}-order-{i:04}"))).unwrap();
            Order::from_request(request, Wishes::new().format(DocumentFormat::Png)).unwrap()
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// The journal `throughput` writes: SQLite in a scratch directory, or the
/// PostgreSQL at `SPAPI_BENCH_POSTGRES_URL` (a fresh database: the runs
/// leave their orders there).
async fn bench_journal(dir: &std::path::Path) -> spapi_shipping::journal::AnyJournal {
    let location = std::env::var("SPAPI_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| dir.join("journal.sqlite").display().to_string());
    spapi_shipping::journal::open(&location).await.unwrap()
}

async fn throughput() -> bool {
    let plan = |id: &str| {
        let op = operations::find(id).unwrap();
        (op.rate, op.burst)
    };
    let (rate, burst) = plan("getRates");
    assert_eq!(plan("purchaseShipment"), (rate, burst), "one plan for both");
    // Both operations need their own (n - burst) / rate; they overlap.
    let minimum = (ORDERS as f64 - burst) / rate;
    let mut ratios = Vec::new();
    let mut seconds = Vec::new();
    for run in 0..REPS {
        // A fresh sandbox and client each time: full buckets, as Amazon's
        // would be after a quiet minute.
        let sandbox = Sandbox::start().await;
        let scratch = TempDir::new(&format!("bench-throughput-{run}"));
        let dir = &scratch.0;
        let journal = bench_journal(dir).await;
        let options = Options::new(dir.join("labels")).concurrency(64);
        let started = Instant::now();
        let summary = batch::run(
            &sandbox.client(),
            &journal,
            orders(ORDERS, run),
            &options,
            |_| {},
        )
        .await
        .unwrap();
        let took = started.elapsed().as_secs_f64();
        assert_eq!(summary.bought(), ORDERS, "{summary:?}");
        assert_eq!(sandbox.executed("purchaseShipment"), ORDERS);
        seconds.push(took);
        ratios.push(took / minimum);
    }
    let (ratio, low, high) = median(ratios);
    let (secs, ..) = median(seconds);
    let store = if std::env::var("SPAPI_BENCH_POSTGRES_URL").is_ok() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "throughput ({store} journal): {ORDERS} orders in {secs:.2} s = {:.1} orders/s; plan minimum {minimum:.2} s \
         ({rate}/s, burst {burst}); ratio {ratio:.3}x [{low:.3}-{high:.3}], target <= {TARGET}x: {}",
        ORDERS as f64 / secs,
        if ratio <= TARGET { "met" } else { "MISSED" }
    );
    ratio <= TARGET
}

/// A shipment's journal writes as a batch makes them, one shipment at a
/// time: the cost per shipment.
async fn journal_cost(name: &str, journal: &impl Journal) {
    let lease = Duration::from_secs(60);
    let worker = "bench";
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    for i in 0..JOURNAL_SHIPMENTS {
        let reference = format!("{run}-{i}");
        let new = NewShipment {
            reference: reference.clone(),
            rates_request: rates_request(&reference),
        };
        journal.register(vec![new]).await.unwrap();
        let among = [reference.clone()];
        let mut shipment = journal
            .claim(worker, Some(&among), lease, 1)
            .await
            .unwrap()
            .pop()
            .unwrap();
        for (stage, detail) in [
            (Stage::Purchasing, "purchase written"),
            (Stage::Purchasing, "sending purchase"),
            (Stage::Bought, "bought shipment"),
            (Stage::Done, "1 documents saved"),
        ] {
            shipment.stage = stage;
            journal
                .save(worker, &shipment, lease, detail)
                .await
                .unwrap();
        }
        journal.release(worker, &reference).await.unwrap();
    }
    let per = started.elapsed().as_secs_f64() / JOURNAL_SHIPMENTS as f64;
    println!(
        "journal {name}: {:.2} ms per shipment (register, claim, 4 synced saves, release), {:.0} shipments/s one at a time",
        per * 1e3,
        1.0 / per
    );
}

async fn journal() {
    let scratch = TempDir::new("bench-journal");
    let dir = &scratch.0;
    let sqlite = SqliteJournal::open(dir.join("journal.sqlite"))
        .await
        .unwrap();
    journal_cost("SQLite (WAL, synchronous=FULL)", &sqlite).await;
    match std::env::var("SPAPI_TEST_POSTGRES_URL") {
        Ok(url) => {
            let postgres = spapi_shipping::journal::open(&url).await.unwrap();
            journal_cost("PostgreSQL", &postgres).await;
        }
        Err(_) => println!("journal PostgreSQL: skipped (SPAPI_TEST_POSTGRES_URL unset)"),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let which = std::env::args().nth(1);
    let mut ok = true;
    if which.as_deref().is_none_or(|w| w == "journal") {
        journal().await;
    }
    if which.as_deref().is_none_or(|w| w == "throughput") {
        ok &= throughput().await;
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
