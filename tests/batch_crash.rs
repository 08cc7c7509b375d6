#![cfg(all(feature = "journal", feature = "mock", feature = "cli", unix))]
//! Crash tests of `spapi-shipping batch buy`, run as a user runs it against
//! the offline sandbox: the process is killed with SIGKILL at random
//! moments and run again until the batch is finished. Every order must be
//! bought exactly once (the sandbox counts purchases per package reference
//! and idempotency keys), every label file present and valid, the journal
//! consistent.
//!
//! - 300 orders, one worker, an SQLite journal, 20 kills;
//! - 300 orders, 3 workers on one PostgreSQL journal (`SPAPI_TEST_POSTGRES_URL`,
//!   started by `.ci/run`), one of them killed mid-run.
//!
//! The random moments come from a seed printed at the start; set
//! `SPAPI_CRASH_SEED` to replay one. Run with `cargo test --test batch_crash`.

mod batch_support;
#[path = "support/required.rs"]
mod required;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use spapi_shipping::journal::{self, Journal as _, Stage, sha256_hex};
use spapi_shipping::mock::Sandbox;

use batch_support::{TempDir, rates_request};

const ORDERS: usize = 300;
/// The longest a single run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A batch on disk: the orders file, the labels directory, the journal.
struct Batch {
    /// Holds the files; removed when the batch is dropped.
    _dir: TempDir,
    orders: PathBuf,
    labels: PathBuf,
    journal: String,
}

impl Batch {
    fn new(name: &str, journal: Option<String>) -> Batch {
        let dir = TempDir::new(name);
        let orders = dir.0.join("orders.jsonl");
        let lines: Vec<String> = (1..=ORDERS)
            .map(|i| rates_request(&format!("order-{i:04}")).to_string())
            .collect();
        std::fs::write(&orders, lines.join("\n") + "\n").unwrap();
        let labels = dir.0.join("labels");
        let journal = journal.unwrap_or_else(|| dir.0.join("journal.sqlite").display().to_string());
        Batch {
            _dir: dir,
            orders,
            labels,
            journal,
        }
    }

    /// `batch buy` against `sandbox`, started, not waited for.
    fn start(&self, sandbox: &Sandbox, worker: &str) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spapi-shipping"));
        command.env_clear();
        for name in ["PATH", "TMPDIR"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command
            .env("LWA_APP_ID", Sandbox::CLIENT_ID)
            .env("LWA_CLIENT_SECRET", Sandbox::CLIENT_SECRET)
            .env("SP_API_REFRESH_TOKEN", Sandbox::REFRESH_TOKEN)
            .env("SP_API_ENDPOINT", sandbox.base_url())
            .env("LWA_ENDPOINT", sandbox.token_url())
            .args(["batch", "buy", "--orders"])
            .arg(&self.orders)
            .args(["--journal", &self.journal, "--labels"])
            .arg(&self.labels)
            .args(["--format", "PNG", "--lease", "1", "--worker", worker])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command.spawn().expect("the binary starts")
    }
}

/// When to kill a run: once it has reported `orders` finished orders on
/// standard error, plus `then`; that lands the kill anywhere in an order's
/// life, for the other orders in flight.
#[derive(Debug, Clone, Copy)]
struct Kill {
    orders: usize,
    then: Duration,
}

/// Waits for `child`, killing it with SIGKILL as `kill` says; the status
/// (no code when killed) and standard error.
fn wait(mut child: Child, kill: Option<Kill>) -> (ExitStatus, String) {
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, finished) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { break };
            if line.contains("] order-") {
                let _ = lines.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let started = Instant::now();
    let mut seen = 0;
    let mut kill_at: Option<Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        seen += finished.try_iter().count();
        if let Some(kill) = kill
            && kill_at.is_none()
            && seen >= kill.orders
        {
            kill_at = Some(Instant::now() + kill.then);
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) || started.elapsed() > RUN_LIMIT {
            // SIGKILL: no destructor, no flush, no goodbye.
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(
        started.elapsed() <= RUN_LIMIT + Duration::from_secs(1),
        "a run hung"
    );
    (status, reader.join().unwrap())
}

fn seed() -> u64 {
    let seed = std::env::var("SPAPI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("SPAPI_CRASH_SEED={seed}");
    seed
}

/// Every order bought once, each label present, valid and as journaled;
/// returns how many purchases were resent after a crash.
async fn assert_finished(sandbox: &Sandbox, batch: &Batch) -> usize {
    let bought = sandbox.purchases_by_reference();
    assert_eq!(bought.len(), ORDERS, "orders bought");
    let twice: Vec<_> = bought.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "bought more than once: {twice:?}");
    assert_eq!(sandbox.executed("purchaseShipment"), ORDERS);
    assert_eq!(
        sandbox.idempotency_keys("purchaseShipment"),
        ORDERS,
        "one key per order, however often it was resent"
    );

    let journal = journal::open(&batch.journal).await.unwrap();
    let all = journal.list().await.unwrap();
    assert_eq!(all.len(), ORDERS);
    let mut files = std::collections::HashSet::new();
    for shipment in &all {
        assert_eq!(shipment.stage, Stage::Done, "{shipment:#?}");
        let answer = shipment.answer.as_ref().unwrap();
        let tracking = answer.packages[0].tracking_id.as_ref().unwrap();
        assert!(!tracking.is_empty());
        assert_eq!(
            bought.get(&shipment.reference),
            Some(&1),
            "{}",
            shipment.reference
        );
        for doc in &shipment.documents {
            let bytes =
                std::fs::read(&doc.path).unwrap_or_else(|e| panic!("{}: {e}", doc.path.display()));
            assert_eq!(sha256_hex(&bytes), doc.sha256, "{}", doc.path.display());
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert!(
                files.insert(doc.path.clone()),
                "shared file {}",
                doc.path.display()
            );
        }
        let events = journal.events(&shipment.reference).await.unwrap();
        let written = events
            .iter()
            .filter(|e| e.detail.starts_with("purchase written"))
            .count();
        assert_eq!(written, 1, "one purchase written per order: {events:#?}");
    }
    // Every label in the directory belongs to a journaled shipment.
    let on_disk: Vec<PathBuf> = std::fs::read_dir(&batch.labels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(on_disk.len(), files.len(), "labels not in the journal");
    all.iter()
        .filter(|s| s.purchase.as_ref().is_some_and(|p| p.sends > 1))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_at_20_random_moments_buys_every_order_exactly_once() {
    let sandbox = Sandbox::start().await;
    let batch = Batch::new("sqlite", None);
    let mut rng = fastrand::Rng::with_seed(seed());
    let mut kills = 0;
    let mut runs = 0;
    let mut killed_at = Vec::new();
    tokio::task::block_in_place(|| {
        while kills < 20 {
            let kill = Kill {
                orders: rng.usize(0..20),
                then: Duration::from_millis(rng.u64(0..40)),
            };
            let worker = format!("worker-{runs}");
            let (status, stderr) = wait(batch.start(&sandbox, &worker), Some(kill));
            runs += 1;
            match status.code() {
                None => {
                    kills += 1;
                    killed_at.push(kill);
                }
                // Finished before the kill landed.
                Some(0) => break,
                Some(code) => panic!("exit {code}\n{stderr}"),
            }
        }
        // Then run to the end.
        let (status, stderr) = wait(batch.start(&sandbox, "last"), None);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("{ORDERS} orders: {ORDERS} bought")),
            "{stderr}"
        );
    });
    println!("{runs} runs, {kills} killed at {killed_at:?}");
    assert_eq!(
        kills, 20,
        "every kill landed before the batch was done ({runs} runs)"
    );
    let resent = assert_finished(&sandbox, &batch).await;
    println!("{resent} purchases resent with their key after a kill; duplicates 0");
    assert!(
        resent > 0,
        "no kill landed between a purchase and its answer"
    );
}

/// A schema of its own in the test PostgreSQL (`SPAPI_TEST_POSTGRES_URL`,
/// which `.ci/run` starts): the journal URL that uses it. `None` (skipped,
/// with a note) when there is none, unless `SPAPI_REQUIRE_SERVICES` is set.
async fn postgres_journal() -> Option<String> {
    let url = match std::env::var("SPAPI_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(
                !required::services_required(),
                "SPAPI_REQUIRE_SERVICES is set but SPAPI_TEST_POSTGRES_URL is not (.ci/run starts one)"
            );
            eprintln!("skipped: SPAPI_TEST_POSTGRES_URL is not set");
            return None;
        }
    };
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("SPAPI_TEST_POSTGRES_URL accepts connections");
    tokio::spawn(connection);
    let schema = format!("batch_crash_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_one_postgres_journal_one_killed_buy_every_order_exactly_once() {
    let Some(url) = postgres_journal().await else {
        return;
    };
    let sandbox = Sandbox::start().await;
    let batch = Batch::new("postgres", Some(url));
    let mut rng = fastrand::Rng::with_seed(seed());
    let victim_dies_after = rng.usize(20..60);
    let outputs = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..3)
                .map(|n| {
                    let child = batch.start(&sandbox, &format!("worker-{n}"));
                    // Worker 0 is killed once it has finished some orders.
                    let kill = (n == 0).then_some(Kill {
                        orders: victim_dies_after,
                        then: Duration::from_millis(rng.u64(0..40)),
                    });
                    scope.spawn(move || wait(child, kill))
                })
                .collect();
            runs.into_iter()
                .map(|run| run.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(
        outputs[0].0.code(),
        None,
        "worker-0 was killed: {}",
        outputs[0].1
    );
    for (status, stderr) in &outputs[1..] {
        // The survivors finish the whole batch, the victim's orders too.
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("{ORDERS} orders: {ORDERS} bought")),
            "{stderr}"
        );
    }
    let resent = assert_finished(&sandbox, &batch).await;
    // All three workers did part of the work.
    let journal = journal::open(&batch.journal).await.unwrap();
    let mut workers = std::collections::BTreeMap::new();
    for shipment in journal.list().await.unwrap() {
        for event in journal.events(&shipment.reference).await.unwrap() {
            if event.detail.starts_with("purchase written") {
                *workers.entry(event.worker).or_insert(0) += 1;
            }
        }
    }
    println!("purchases written per worker: {workers:?}; {resent} resent after the kill");
    assert_eq!(workers.len(), 3, "{workers:?}");
    assert_eq!(workers.values().sum::<usize>(), ORDERS);
}
