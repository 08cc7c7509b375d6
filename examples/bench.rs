//! Benchmarks of the client against loopback servers this program starts
//! itself (127.0.0.1 only), each figure a ratio against a baseline measured
//! in the same run. See BENCHMARKS.md for the figures and how to read them.
//!
//! ```text
//! cargo run --release --example bench                # every scenario (about 2 min)
//! cargo run --release --example bench -- overhead    # one scenario
//! ```
//!
//! Scenarios: `overhead` (per-call cost of `get_tracking` through `Client`
//! vs raw reqwest + serde_json), `decode` (typed decode of a 200-rate
//! getRates body vs `serde_json::Value`), `pacing` (1,000 calls from 50 tasks
//! against a server enforcing 80/s burst 100), `cold-start` (1,000 concurrent
//! calls on an empty token cache), `memory` (RSS of 10,000 calls, in a child
//! process per measurement), `fleet` (issue 13: 4 processes x 150 calls x
//! 10 tasks against one strict 80/100 server, sharing Redis or not, and what
//! the Redis round trip adds to a call; needs `redis-server`, and `valgrind`
//! for the instruction counts), `instructions` (issue 12: instructions per
//! getTracking call, client vs raw reqwest + typed decode, counted by
//! valgrind's callgrind in child processes of this binary).
//!
//! Every measurement is repeated; the table shows the median and, in
//! brackets, the lowest and highest repetition.

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use serde_json::{Value, json};
use spapi_shipping::auth::LwaCredentials;
use spapi_shipping::rate_limit::RateLimitSettings;
use spapi_shipping::shared::RedisSettings;
use spapi_shipping::{Client, operations, types};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const COMMAND: &str = "cargo run --release --example bench";
const SCENARIOS: [&str; 7] = [
    "overhead",
    "decode",
    "pacing",
    "cold-start",
    "memory",
    "fleet",
    "instructions",
];

const TRACKING_FIXTURE: &str = include_str!("../tests/fixtures/responses/getTracking.json");
const RATES_FIXTURE: &str = include_str!("../tests/fixtures/responses/getRates.json");
/// The loopback servers' thread name (its CPU time is not the caller's).
const SERVER_THREAD: &str = "bench-server";
const LWA_PATH: &str = "/auth/o2/token";
const TRACKING_PATH: &str = "/shipping/v2/tracking";
const TRACKING_ID: &str = "23AA47DE2B3B6";
const CARRIER_ID: &str = "AMZN_UK";
const STATIC_TOKEN: &str = "Atza|bench-access-token";

/// A plan so high the limiter never makes a call wait (its code still runs).
const UNTHROTTLED_RATE: f64 = 1e9;
/// Repetitions of the short measurements.
const REPS: usize = 5;

const OVERHEAD_WARMUP: usize = 2_000;
const OVERHEAD_CALLS: usize = 10_000;
const OVERHEAD_BLOCK: usize = 1_000;
const OVERHEAD_TARGET: f64 = 1.10;

const DECODE_RATES: usize = 200;
const DECODE_MIN_TIME: Duration = Duration::from_millis(250);

const PACING_REPS: usize = 3;
const PACING_CALLS: usize = 1_000;
const PACING_TASKS: usize = 50;
const PLAN_RATE: f64 = 80.0;
const PLAN_BURST: f64 = 100.0;
const PACING_TARGET: f64 = 0.97;

const COLD_CALLS: usize = 1_000;
/// A typical LWA round trip, for the run that shows single flight under latency.
const LWA_LATENCY: Duration = Duration::from_millis(100);

const MEMORY_REPS: usize = 3;
const MEMORY_BATCHES: usize = 10;
const MEMORY_BATCH: usize = 1_000;
const MEMORY_TASKS: usize = 8;
/// RSS growth below this counts as noise (allocator arenas, page granularity).
const MEMORY_NOISE_KIB: f64 = 1024.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Before any runtime exists: the counted child owns its process.
    if let [mode, base, side, n] = args.as_slice()
        && mode == "instructions-child"
    {
        instructions_child(base, side, n.parse().unwrap_or(INSTRUCTION_CALLS[0]));
        return ExitCode::SUCCESS;
    }
    if let [mode, side, n] = args.as_slice()
        && mode == "decode-child"
    {
        decode_child(side, n.parse().unwrap_or(DECODE_CALLS[0]));
        return ExitCode::SUCCESS;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async_main(args))
}

async fn async_main(args: Vec<String>) -> ExitCode {
    if let [mode, side] = args.as_slice()
        && mode == "memory-child"
    {
        memory_child(side).await;
        return ExitCode::SUCCESS;
    }
    if let [mode, base, redis, last] = args.as_slice() {
        match mode.as_str() {
            "fleet-child" => {
                fleet_child(base, redis, last).await;
                return ExitCode::SUCCESS;
            }
            "cost-child" => {
                cost_child(base, redis, last.parse().unwrap_or(100)).await;
                return ExitCode::SUCCESS;
            }
            _ => {}
        }
    }
    let selected: Vec<&str> = match args.first() {
        None => SCENARIOS.to_vec(),
        Some(name) if SCENARIOS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => {
            eprintln!("unknown scenario {name:?}; expected one of {SCENARIOS:?}");
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    for scenario in &selected {
        eprintln!("running {scenario} ...");
        rows.extend(run_scenario(scenario).await);
    }
    print_table(&rows);
    let arg = if selected.len() == 1 {
        format!(" -- {}", selected[0])
    } else {
        String::new()
    };
    println!("\ncommand: {COMMAND}{arg}");
    ExitCode::SUCCESS
}

async fn run_scenario(name: &str) -> Vec<Row> {
    match name {
        "overhead" => overhead().await,
        "decode" => decode_throughput(),
        "pacing" => pacing().await,
        "cold-start" => cold_start().await,
        "memory" => memory(),
        "fleet" => fleet().await,
        "instructions" => instructions(),
        _ => unreachable!("checked in main"),
    }
}

// ---------------------------------------------------------------------------
// Statistics and the table.

/// Median and range of the repetitions of one measurement.
#[derive(Clone, Copy, Debug)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }

    /// `12.3 µs [11.9–13.0]`.
    fn show(&self, decimals: usize, unit: &str) -> String {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        format!(
            "{:.d$}{unit} [{:.d$}–{:.d$}]",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// Per-repetition ratios `a[i] / b[i]`.
fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

fn list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
    items.join(", ")
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Missed,
    Info,
}

impl Verdict {
    fn of(met: bool) -> Self {
        if met { Self::Met } else { Self::Missed }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Met => "yes",
            Self::Missed => "NO",
            Self::Info => "-",
        }
    }
}

struct Row {
    scenario: &'static str,
    metric: String,
    client: String,
    baseline: String,
    ratio: String,
    target: String,
    verdict: Verdict,
}

impl Row {
    fn info(scenario: &'static str, metric: &str, client: String, baseline: String) -> Self {
        Self {
            scenario,
            metric: metric.to_owned(),
            client,
            baseline,
            ratio: "-".into(),
            target: "-".into(),
            verdict: Verdict::Info,
        }
    }
}

fn print_table(rows: &[Row]) {
    let header = [
        "scenario", "metric", "client", "baseline", "ratio", "target", "met",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.scenario.to_owned(),
                r.metric.clone(),
                r.client.clone(),
                r.baseline.clone(),
                r.ratio.clone(),
                r.target.clone(),
                r.verdict.label().to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    println!("\nmedian [min–max] over the repetitions; ratio = client / baseline per repetition\n");
    print_line(&header.map(str::to_owned), &widths);
    print_line(&widths.map(|w| "-".repeat(w)), &widths);
    for row in &cells {
        print_line(row, &widths);
    }
}

fn print_line(cells: &[String; 7], widths: &[usize; 7]) {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let pad = width - cell.chars().count();
        let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
    }
    println!("{}", line.trim_end());
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 server on loopback: reads a request head (and body by
// Content-Length), answers canned bytes, keeps the connection alive. It runs
// on its own thread and single-threaded runtime, identical for both sides.

/// What the server looked at in a request.
struct Head {
    path: String,
    content_length: usize,
}

/// A canned answer (the whole response, head and body), sent after `delay`.
#[derive(Clone)]
struct Reply {
    bytes: Bytes,
    delay: Duration,
}

type Handler = Arc<dyn Fn(&Head) -> Reply + Send + Sync>;

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(handler: Handler) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let listener = listen().expect("listen on 127.0.0.1");
                    addr_tx
                        .send(listener.local_addr().expect("local address"))
                        .expect("report the address");
                    tokio::select! {
                        () = accept_loop(listener, handler) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("server thread");
        let addr = addr_rx.recv().expect("server address");
        Self {
            base: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A listener with a backlog deep enough for 1,000 simultaneous connects.
fn listen() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(([127, 0, 0, 1], 0).into())?;
    socket.listen(4096)
}

async fn accept_loop(listener: TcpListener, handler: Handler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, Arc::clone(&handler)));
    }
}

async fn serve_connection(mut stream: TcpStream, handler: Handler) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    while let Some(head) = read_request(&mut stream, &mut buf).await {
        let reply = handler(&head);
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        if stream.write_all(&reply.bytes).await.is_err() {
            return;
        }
    }
}

/// The next request's head, its body skipped; `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Head> {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let head = parse_head(&buf[..end]);
    while buf.len() < end + head.content_length {
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
    buf.advance(end + head.content_length);
    Some(head)
}

fn parse_head(raw: &[u8]) -> Head {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let content_length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    Head {
        path,
        content_length,
    }
}

fn http_response(status: u16, body: &[u8], extra: &[(&str, &str)]) -> Bytes {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Other",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nx-amzn-requestid: bench-request\r\n",
        body.len()
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Bytes::from(bytes)
}

fn example(fixture: &str, status: &str) -> Value {
    let fixture: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    fixture["examples"][status].clone()
}

fn tracking_body() -> Vec<u8> {
    serde_json::to_vec(&example(TRACKING_FIXTURE, "200")).expect("encode")
}

fn lwa_reply(delay: Duration) -> Reply {
    let body = json!({
        "access_token": STATIC_TOKEN,
        "refresh_token": "Atzr|bench-refresh-token",
        "token_type": "bearer",
        "expires_in": 3600
    });
    Reply {
        bytes: http_response(200, body.to_string().as_bytes(), &[]),
        delay,
    }
}

/// Requests the plain API server answered, by kind.
#[derive(Default)]
struct Counters {
    lwa: AtomicU64,
    api: AtomicU64,
    /// When the last LWA request arrived.
    lwa_at: Mutex<Option<Instant>>,
    /// When the first API request since the last reset arrived.
    first_api_at: Mutex<Option<Instant>>,
}

impl Counters {
    fn lwa_at(&self) -> Option<Instant> {
        *self.lwa_at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_first_api_at(&self) -> Option<Instant> {
        self.first_api_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// LWA token answers (after `lwa_delay`) and the getTracking example for
/// everything else; no rate-limit header, so the client keeps its plan.
fn api_handler(counters: Arc<Counters>, lwa_delay: Duration) -> Handler {
    let lwa = lwa_reply(lwa_delay);
    let tracking = Reply {
        bytes: http_response(200, &tracking_body(), &[]),
        delay: Duration::ZERO,
    };
    Arc::new(move |head: &Head| {
        if head.path.starts_with(LWA_PATH) {
            counters.lwa.fetch_add(1, Ordering::Relaxed);
            *counters
                .lwa_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            lwa.clone()
        } else {
            counters.api.fetch_add(1, Ordering::Relaxed);
            let mut first = counters
                .first_api_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(Instant::now);
            drop(first);
            tracking.clone()
        }
    })
}

// ---------------------------------------------------------------------------
// The two callers: the crate's client and the raw baseline.

fn sp_client(base: &str, rate_limit: RateLimitSettings) -> Client {
    Client::builder()
        .endpoint(base)
        .token_url(format!("{base}{LWA_PATH}"))
        .credentials(LwaCredentials::new(
            "amzn1.application-oa2-client.bench",
            "bench-client-secret",
            "Atzr|bench-refresh-token",
        ))
        .rate_limit(rate_limit)
        .build()
        .expect("client configuration")
}

/// Limiter on, at a plan that never makes a call wait: the bucket (burst
/// 100) refills at 10^9/s, so every acquire finds a token.
fn unthrottled_client(base: &str) -> Client {
    let client = sp_client(base, RateLimitSettings::default());
    let op = operations::find("getTracking").expect("getTracking is an operation");
    client.rate_limiter().observe_rate(op, UNTHROTTLED_RATE);
    client
}

/// What a hand-written caller would do: a GET with a static token, the
/// body decoded by serde_json into the same type. Same reqwest settings as
/// the client's default.
#[derive(Clone)]
struct Raw {
    http: reqwest::Client,
    url: String,
}

impl Raw {
    fn new(base: &str) -> Self {
        // reqwest has no TLS provider of its own here (the crate chooses one
        // per client); install the one the crate uses by default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client");
        Self {
            http,
            url: format!("{base}{TRACKING_PATH}"),
        }
    }

    async fn get_tracking(&self) -> Result<types::GetTrackingResponse, String> {
        let response = self
            .http
            .get(&self.url)
            .query(&[("carrierId", CARRIER_ID), ("trackingId", TRACKING_ID)])
            .header("x-amz-access-token", STATIC_TOKEN)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}

#[derive(Clone)]
enum Caller {
    Client(Client),
    Raw(Raw),
}

impl Caller {
    async fn try_call(&self) -> Result<types::GetTrackingResponse, String> {
        match self {
            Self::Client(client) => client
                .get_tracking()
                .tracking_id(TRACKING_ID)
                .carrier_id(CARRIER_ID)
                .send()
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.to_string()),
            Self::Raw(raw) => raw.get_tracking().await,
        }
    }

    async fn call(&self) -> types::GetTrackingResponse {
        self.try_call().await.expect("getTracking")
    }
}

/// One finished call: when, since the batch started, and whether it worked.
struct Outcome {
    done_at: Duration,
    ok: bool,
}

/// `calls` calls from `tasks` concurrent tasks sharing a counter.
async fn run_calls(caller: &Caller, calls: usize, tasks: usize) -> Vec<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (caller, next) = (caller.clone(), Arc::clone(&next));
        set.spawn(async move {
            let mut done = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                let ok = black_box(caller.try_call().await).is_ok();
                done.push(Outcome {
                    done_at: start.elapsed(),
                    ok,
                });
            }
            done
        });
    }
    let mut all = Vec::with_capacity(calls);
    while let Some(done) = set.join_next().await {
        all.extend(done.expect("call task"));
    }
    all
}

// ---------------------------------------------------------------------------
// 1. Per-call overhead.

/// Where the measured calls run. The ratio depends on it: on a small VM
/// every microsecond of CPU between two requests can turn into a costlier
/// thread wake-up, most of all when the caller is not a runtime worker.
#[derive(Clone, Copy)]
enum Setting {
    /// A task spawned on the multi-thread runtime (a service's handler).
    SpawnedTask,
    /// `block_on` on the main thread of a multi-thread runtime (`#[tokio::main]`).
    MainThread,
    /// A current-thread runtime (`#[tokio::main(flavor = "current_thread")]`).
    CurrentThread,
}

impl Setting {
    fn label(self) -> &'static str {
        match self {
            Self::SpawnedTask => "spawned task, multi-thread runtime",
            Self::MainThread => "main thread (block_on), multi-thread runtime",
            Self::CurrentThread => "current-thread runtime",
        }
    }
}

async fn overhead() -> Vec<Row> {
    let mut rows = Vec::new();
    for setting in [
        Setting::SpawnedTask,
        Setting::MainThread,
        Setting::CurrentThread,
    ] {
        let (ours, theirs) = match setting {
            Setting::SpawnedTask => tokio::spawn(overhead_reps()).await.expect("overhead task"),
            Setting::MainThread => overhead_reps().await,
            Setting::CurrentThread => std::thread::spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("current-thread runtime")
                    .block_on(overhead_reps())
            })
            .join()
            .expect("current-thread run"),
        };
        rows.extend(overhead_rows(setting, &ours, &theirs));
    }
    rows.extend(cpu_breakdown());
    rows
}

/// Every repetition of one setting: the client's and the baseline's costs.
async fn overhead_reps() -> (Vec<Cost>, Vec<Cost>) {
    let server = Server::start(api_handler(Arc::default(), Duration::ZERO));
    let client = Caller::Client(unthrottled_client(&server.base));
    let raw = Caller::Raw(Raw::new(&server.base));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        let (a, b) = overhead_rep(&client, &raw).await;
        ours.push(a);
        theirs.push(b);
    }
    (ours, theirs)
}

fn overhead_rows(setting: Setting, ours: &[Cost], theirs: &[Cost]) -> Vec<Row> {
    let wall = |v: &[Cost]| v.iter().map(|c| c.wall_us).collect::<Vec<_>>();
    let cpu = |v: &[Cost]| v.iter().map(|c| c.cpu_us).collect::<Vec<_>>();
    let ratio = Spread::of(&ratios(&wall(ours), &wall(theirs)));
    vec![
        Row {
            scenario: "overhead",
            metric: format!("get_tracking, wall time, {}", setting.label()),
            client: Spread::of(&wall(ours)).show(1, "µs/call"),
            baseline: Spread::of(&wall(theirs)).show(1, "µs/call"),
            ratio: ratio.show(3, "x"),
            target: format!("≤ {OVERHEAD_TARGET:.2}x"),
            verdict: Verdict::of(ratio.median <= OVERHEAD_TARGET),
        },
        Row {
            scenario: "overhead",
            metric: "  same calls, CPU time of the caller".into(),
            client: Spread::of(&cpu(ours)).show(1, "µs/call"),
            baseline: Spread::of(&cpu(theirs)).show(1, "µs/call"),
            ratio: Spread::of(&ratios(&cpu(ours), &cpu(theirs))).show(3, "x"),
            target: "-".into(),
            verdict: Verdict::Info,
        },
    ]
}

/// Mean cost of one call: wall time, and CPU time of every thread of the
/// process but the loopback server's.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall_us: f64,
    cpu_us: f64,
}

/// One repetition: a warm-up per side, then the measured calls in blocks
/// that alternate between the sides (and which side goes first), so a
/// change in machine load hits both alike.
async fn overhead_rep(client: &Caller, raw: &Caller) -> (Cost, Cost) {
    sequential_calls(client, OVERHEAD_WARMUP).await;
    sequential_calls(raw, OVERHEAD_WARMUP).await;
    let (mut ours, mut theirs) = (Cost::default(), Cost::default());
    for block in 0..OVERHEAD_CALLS / OVERHEAD_BLOCK {
        let (a, b) = if block.is_multiple_of(2) {
            let a = sequential_calls(client, OVERHEAD_BLOCK).await;
            (a, sequential_calls(raw, OVERHEAD_BLOCK).await)
        } else {
            let b = sequential_calls(raw, OVERHEAD_BLOCK).await;
            (sequential_calls(client, OVERHEAD_BLOCK).await, b)
        };
        for (sum, add) in [(&mut ours, a), (&mut theirs, b)] {
            sum.wall_us += add.wall_us / (OVERHEAD_CALLS / OVERHEAD_BLOCK) as f64;
            sum.cpu_us += add.cpu_us / (OVERHEAD_CALLS / OVERHEAD_BLOCK) as f64;
        }
    }
    (ours, theirs)
}

/// Mean cost of `n` calls made one after the other.
async fn sequential_calls(caller: &Caller, n: usize) -> Cost {
    let (start, cpu_start) = (Instant::now(), caller_cpu());
    for _ in 0..n {
        black_box(caller.call().await);
    }
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    Cost {
        wall_us: per_call(start.elapsed()),
        cpu_us: per_call(caller_cpu().saturating_sub(cpu_start)),
    }
}

/// CPU time of this process's threads, the loopback servers' excepted
/// (`/proc/self/task/*/schedstat`, nanoseconds on CPU).
fn caller_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut nanos = 0u64;
    for task in tasks.flatten() {
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == SERVER_THREAD {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        nanos += stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(nanos)
}

/// In-process CPU cost of the pieces of a call, no network: what both
/// sides do (the typed decode) and what only the client does (request
/// validation; the path-tracking decode, which runs only when a body does
/// not fit its type).
fn cpu_breakdown() -> Vec<Row> {
    let body = tracking_body();
    let query = [("carrierId", CARRIER_ID), ("trackingId", TRACKING_ID)];
    let headers = [
        ("accept", "application/json"),
        ("api-version", "v2"),
        (
            "user-agent",
            "spapi-shipping/0.1.0 (Language=Rust; Platform=linux/x86_64)",
        ),
    ];
    let typed = repeat_micros(|| {
        black_box(serde_json::from_slice::<types::GetTrackingResponse>(&body).expect("decode"));
    });
    let checked = repeat_micros(|| {
        let mut de = serde_json::Deserializer::from_slice(&body);
        let value: types::GetTrackingResponse =
            serde_path_to_error::deserialize(&mut de).expect("decode");
        black_box(value);
    });
    let validate = repeat_micros(|| {
        black_box(spapi_shipping::validate::check_request(
            "getTracking",
            None,
            &query,
            &headers,
        ));
    });
    vec![
        Row::info(
            "overhead",
            "  cpu: typed decode (both sides)",
            typed.show(2, "µs"),
            "-".into(),
        ),
        Row::info(
            "overhead",
            "  cpu: path-tracking decode (client, only for a body that does not fit)",
            checked.show(2, "µs"),
            "-".into(),
        ),
        Row::info(
            "overhead",
            "  cpu: request validation (client only)",
            validate.show(2, "µs"),
            "-".into(),
        ),
    ]
}

/// µs per run of `f`, over `REPS` timed batches of 20,000.
fn repeat_micros(mut f: impl FnMut()) -> Spread {
    const N: usize = 20_000;
    for _ in 0..N / 10 {
        f();
    }
    let per_rep: Vec<f64> = (0..REPS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..N {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / N as f64
        })
        .collect();
    Spread::of(&per_rep)
}

// ---------------------------------------------------------------------------
// 2. Decode throughput.

/// Amazon's getRates example with its one rate repeated `n` times (each
/// with its own rateId).
fn rates_body(n: usize) -> Vec<u8> {
    let mut example = example(RATES_FIXTURE, "200");
    let template = example["payload"]["rates"][0].clone();
    let rates: Vec<Value> = (0..n)
        .map(|i| {
            let mut rate = template.clone();
            rate["rateId"] = json!(format!("F4B68849F969E239FF9FCA9C{i:05}"));
            rate
        })
        .collect();
    example["payload"]["rates"] = Value::Array(rates);
    serde_json::to_vec(&example).expect("encode")
}

fn decode_throughput() -> Vec<Row> {
    let body = rates_body(DECODE_RATES);
    // Check once that the typed decode accepts it at all.
    let decoded: types::GetRatesResponse = serde_json::from_slice(&body).expect("typed decode");
    assert_eq!(decoded.payload.map(|p| p.rates.len()), Some(DECODE_RATES));
    let (mut typed, mut value, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPS {
        typed.push(megabytes_per_second(&body, |b| {
            let r: types::GetRatesResponse = serde_json::from_slice(b).expect("typed");
            black_box(r);
        }));
        value.push(megabytes_per_second(&body, |b| {
            let r: Value = serde_json::from_slice(b).expect("value");
            black_box(r);
        }));
        checked.push(megabytes_per_second(&body, |b| {
            let mut de = serde_json::Deserializer::from_slice(b);
            let r: types::GetRatesResponse =
                serde_path_to_error::deserialize(&mut de).expect("checked");
            black_box(r);
        }));
    }
    let size = format!("{} rates, {} KB", DECODE_RATES, body.len() / 1000);
    vec![
        Row {
            scenario: "decode",
            metric: format!("GetRatesResponse vs Value ({size})"),
            client: Spread::of(&typed).show(0, "MB/s"),
            baseline: Spread::of(&value).show(0, "MB/s"),
            ratio: Spread::of(&ratios(&typed, &value)).show(2, "x"),
            target: "- (higher is faster)".into(),
            verdict: Verdict::Info,
        },
        Row {
            scenario: "decode",
            metric: "path-checked GetRatesResponse vs Value".into(),
            client: Spread::of(&checked).show(0, "MB/s"),
            baseline: Spread::of(&value).show(0, "MB/s"),
            ratio: Spread::of(&ratios(&checked, &value)).show(2, "x"),
            target: "-".into(),
            verdict: Verdict::Info,
        },
    ]
}

/// Decodes `body` repeatedly for at least `DECODE_MIN_TIME`; MB/s (10^6 B).
fn megabytes_per_second(body: &[u8], decode: impl Fn(&[u8])) -> f64 {
    for _ in 0..3 {
        decode(black_box(body));
    }
    let start = Instant::now();
    let mut runs = 0usize;
    while start.elapsed() < DECODE_MIN_TIME {
        decode(black_box(body));
        runs += 1;
    }
    (body.len() * runs) as f64 / start.elapsed().as_secs_f64() / 1e6
}

// ---------------------------------------------------------------------------
// 3. Pacing against a server that enforces Amazon's plan.

/// Amazon's side of the plan: a strict token bucket, full at the start.
struct StrictBucket {
    tokens: f64,
    at: Instant,
}

impl StrictBucket {
    fn take(&mut self, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * PLAN_RATE;
        self.tokens = (self.tokens + refill).min(PLAN_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct PacingState {
    bucket: StrictBucket,
    accepted: Vec<Instant>,
    throttled: Vec<Instant>,
}

fn pacing_handler(state: Arc<Mutex<PacingState>>, lwa_delay: Duration) -> Handler {
    let lwa = lwa_reply(lwa_delay);
    let rate_header = [("x-amzn-ratelimit-limit", "80.0")];
    let ok = Reply {
        bytes: http_response(200, &tracking_body(), &rate_header),
        delay: Duration::ZERO,
    };
    let quota = json!({"errors": [{"code": "QuotaExceeded",
        "message": "You exceeded your quota for the requested resource."}]});
    let throttled = Reply {
        bytes: http_response(429, quota.to_string().as_bytes(), &rate_header),
        delay: Duration::ZERO,
    };
    Arc::new(move |head: &Head| {
        if head.path.starts_with(LWA_PATH) {
            return lwa.clone();
        }
        let now = Instant::now();
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.bucket.take(now) {
            state.accepted.push(now);
            ok.clone()
        } else {
            state.throttled.push(now);
            throttled.clone()
        }
    })
}

/// One pacing run's figures.
struct PacingRun {
    wall_s: f64,
    post_burst_ratio: f64,
    throttled: usize,
    /// When each 429 was sent, ms after the first request reached the server.
    throttled_at_ms: Vec<f64>,
    failed: usize,
    /// From the first call's start (when the client's bucket starts
    /// refilling) to its arrival at the server (when the server's does).
    first_arrival_ms: f64,
}

/// 1,000 calls from 50 tasks through one fresh client (default rate limit
/// and retries) against a fresh server whose bucket is full.
async fn pacing_run(lwa_delay: Duration) -> PacingRun {
    let state = Arc::new(Mutex::new(PacingState {
        bucket: StrictBucket {
            tokens: PLAN_BURST,
            at: Instant::now(),
        },
        accepted: Vec::with_capacity(PACING_CALLS),
        throttled: Vec::new(),
    }));
    let server = Server::start(pacing_handler(Arc::clone(&state), lwa_delay));
    let caller = Caller::Client(sp_client(&server.base, RateLimitSettings::default()));
    let start = Instant::now();
    let outcomes = run_calls(&caller, PACING_CALLS, PACING_TASKS).await;
    drop(server);
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let first = state.accepted.first().copied().unwrap_or(start);
    let ms_after = |t: &Instant| t.saturating_duration_since(first).as_secs_f64() * 1e3;
    PacingRun {
        wall_s: outcomes
            .iter()
            .map(|o| o.done_at.as_secs_f64())
            .fold(0.0, f64::max),
        post_burst_ratio: post_burst_ratio(&state.accepted),
        throttled: state.throttled.len(),
        throttled_at_ms: state.throttled.iter().map(ms_after).collect(),
        failed: outcomes.iter().filter(|o| !o.ok).count(),
        first_arrival_ms: first.duration_since(start).as_secs_f64() * 1e3,
    }
}

/// Ideal span over achieved span between the burst's last accepted request
/// and the last one. Ideal: the burst at t=0, then one every 1/80 s, so the
/// last lands (calls - burst) / rate after the burst.
fn post_burst_ratio(accepted: &[Instant]) -> f64 {
    let burst = PLAN_BURST as usize;
    let ideal_span = (PACING_CALLS - burst) as f64 / PLAN_RATE;
    match (accepted.get(burst - 1), accepted.last()) {
        (Some(end_of_burst), Some(last)) => {
            ideal_span / last.duration_since(*end_of_burst).as_secs_f64()
        }
        _ => 0.0,
    }
}

async fn pacing() -> Vec<Row> {
    let mut runs = Vec::new();
    for _ in 0..PACING_REPS {
        runs.push(pacing_run(Duration::ZERO).await);
    }
    let mut slow = Vec::new();
    for _ in 0..PACING_REPS {
        slow.push(pacing_run(LWA_LATENCY).await);
    }
    let mut rows = pacing_rows(&runs, "");
    let delay_ms = LWA_LATENCY.as_millis();
    rows.extend(pacing_rows(&slow, &format!(", LWA after {delay_ms} ms")));
    rows
}

/// `[first–last]` of a run's 429 times, `[]` without any.
fn span_of(ms: &[f64]) -> String {
    match (ms.first(), ms.last()) {
        (Some(first), Some(last)) if ms.len() > 1 => format!("[{first:.1}–{last:.1}]"),
        (Some(only), _) => format!("[{only:.1}]"),
        _ => "[]".into(),
    }
}

fn pacing_rows(runs: &[PacingRun], variant: &str) -> Vec<Row> {
    let pick = |f: fn(&PacingRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let ideal_span = (PACING_CALLS - PLAN_BURST as usize) as f64 / PLAN_RATE;
    let ratio = Spread::of(&pick(|r| r.post_burst_ratio));
    let throttled = pick(|r| r.throttled as f64);
    let wall = pick(|r| r.wall_s);
    let when: Vec<String> = runs.iter().map(|r| span_of(&r.throttled_at_ms)).collect();
    vec![
        Row {
            scenario: "pacing",
            metric: format!("rate after the burst (server-side){variant}"),
            client: Spread::of(&pick(|r| r.post_burst_ratio * PLAN_RATE)).show(2, "req/s"),
            baseline: format!("{PLAN_RATE:.0} req/s (ideal)"),
            ratio: ratio.show(3, "x"),
            target: format!("≥ {PACING_TARGET}x"),
            verdict: Verdict::of(ratio.median >= PACING_TARGET),
        },
        Row {
            scenario: "pacing",
            metric: format!("429s sent by the server, per run{variant}"),
            client: list(&throttled),
            baseline: "0".into(),
            ratio: "-".into(),
            target: "0".into(),
            verdict: Verdict::of(throttled.iter().all(|&t| t == 0.0)),
        },
        Row::info(
            "pacing",
            "  429s sent, ms after the first arrival",
            when.join(" "),
            "-".into(),
        ),
        Row {
            scenario: "pacing",
            metric: format!("wall time of 1,000 calls{variant}"),
            client: Spread::of(&wall).show(2, "s"),
            baseline: format!("{ideal_span:.2} s (ideal)"),
            ratio: Spread::of(&ratios(&wall, &[ideal_span; PACING_REPS])).show(3, "x"),
            target: "-".into(),
            verdict: Verdict::Info,
        },
        Row::info(
            "pacing",
            "  calls failed after retries, per run",
            list(&pick(|r| r.failed as f64)),
            "-".into(),
        ),
        Row::info(
            "pacing",
            "  first call start → first arrival",
            Spread::of(&pick(|r| r.first_arrival_ms)).show(2, "ms"),
            "-".into(),
        ),
    ]
}

// ---------------------------------------------------------------------------
// 4. Cold start.

/// One cold run: time to the first and to the last response, LWA requests.
struct ColdRun {
    first_ms: f64,
    all_ms: f64,
    lwa: f64,
    /// When the LWA request reached the server (NaN without one).
    lwa_arrival_ms: f64,
    /// When the first API request reached the server.
    api_arrival_ms: f64,
}

async fn cold_run(caller: &Caller, counters: &Counters) -> ColdRun {
    let lwa_before = counters.lwa.load(Ordering::Relaxed);
    counters.take_first_api_at();
    let start = Instant::now();
    let outcomes = run_calls(caller, COLD_CALLS, COLD_CALLS).await;
    assert!(outcomes.iter().all(|o| o.ok), "a cold-start call failed");
    let times = outcomes.iter().map(|o| o.done_at.as_secs_f64() * 1e3);
    let since_start = |t: Option<Instant>| {
        t.filter(|t| *t >= start)
            .map_or(f64::NAN, |t| (t - start).as_secs_f64() * 1e3)
    };
    ColdRun {
        first_ms: times.clone().fold(f64::INFINITY, f64::min),
        all_ms: times.fold(0.0, f64::max),
        lwa: (counters.lwa.load(Ordering::Relaxed) - lwa_before) as f64,
        lwa_arrival_ms: since_start(counters.lwa_at()),
        api_arrival_ms: since_start(counters.take_first_api_at()),
    }
}

/// `REPS` cold runs of the client (fresh client, empty token cache, no
/// pooled connections) and of the raw baseline (fresh reqwest client).
async fn cold_runs(lwa_delay: Duration) -> (Vec<ColdRun>, Vec<ColdRun>) {
    let counters = Arc::new(Counters::default());
    let server = Server::start(api_handler(Arc::clone(&counters), lwa_delay));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        let client = Caller::Client(unthrottled_client(&server.base));
        ours.push(cold_run(&client, &counters).await);
        let raw = Caller::Raw(Raw::new(&server.base));
        theirs.push(cold_run(&raw, &counters).await);
    }
    (ours, theirs)
}

async fn cold_start() -> Vec<Row> {
    let (ours, theirs) = cold_runs(Duration::ZERO).await;
    let (slow, _) = cold_runs(LWA_LATENCY).await;
    let pick = |runs: &[ColdRun], f: fn(&ColdRun) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let lwa = pick(&ours, |r| r.lwa);
    let slow_lwa = pick(&slow, |r| r.lwa);
    let timing = |metric: &str, f: fn(&ColdRun) -> f64| {
        let (a, b) = (pick(&ours, f), pick(&theirs, f));
        Row {
            scenario: "cold-start",
            metric: metric.to_owned(),
            client: Spread::of(&a).show(1, "ms"),
            baseline: Spread::of(&b).show(1, "ms"),
            ratio: Spread::of(&ratios(&a, &b)).show(2, "x"),
            target: "-".into(),
            verdict: Verdict::Info,
        }
    };
    let delay_ms = LWA_LATENCY.as_millis();
    vec![
        Row {
            scenario: "cold-start",
            metric: "LWA requests for 1,000 concurrent calls".into(),
            client: list(&lwa),
            baseline: "0 (static token)".into(),
            ratio: "-".into(),
            target: "1".into(),
            verdict: Verdict::of(lwa.iter().all(|&n| n == 1.0)),
        },
        timing("time to first response", |r| r.first_ms),
        timing("time to all 1,000 responses", |r| r.all_ms),
        Row::info(
            "cold-start",
            "  LWA request reached the server after",
            Spread::of(&pick(&ours, |r| r.lwa_arrival_ms)).show(1, "ms"),
            "-".into(),
        ),
        timing("  first API request reached the server after", |r| {
            r.api_arrival_ms
        }),
        Row {
            scenario: "cold-start",
            metric: format!("LWA requests, LWA answering after {delay_ms} ms"),
            client: list(&slow_lwa),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "1".into(),
            verdict: Verdict::of(slow_lwa.iter().all(|&n| n == 1.0)),
        },
        Row::info(
            "cold-start",
            &format!("  first / all, LWA after {delay_ms} ms"),
            format!(
                "{} / {}",
                Spread::of(&pick(&slow, |r| r.first_ms)).show(1, "ms"),
                Spread::of(&pick(&slow, |r| r.all_ms)).show(1, "ms")
            ),
            "-".into(),
        ),
    ]
}

// ---------------------------------------------------------------------------
// 5. Memory, each measurement in a fresh child process so the peak RSS is
// that of the 10,000 calls alone (plus the in-process loopback server).

/// What a child reports, in KiB.
struct MemoryRun {
    peak: f64,
    start: f64,
    first: f64,
    growth: f64,
    series: Vec<f64>,
}

fn memory() -> Vec<Row> {
    let calls = thousands(memory_batches() * MEMORY_BATCH);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..MEMORY_REPS {
        ours.push(memory_in_child("client"));
        theirs.push(memory_in_child("raw"));
    }
    let pick =
        |runs: &[MemoryRun], f: fn(&MemoryRun) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let mib = |v: Vec<f64>| v.into_iter().map(|k| k / 1024.0).collect::<Vec<_>>();
    let (peak_a, peak_b) = (mib(pick(&ours, |r| r.peak)), mib(pick(&theirs, |r| r.peak)));
    let (grow_a, grow_b) = (pick(&ours, |r| r.growth), pick(&theirs, |r| r.growth));
    let growth = Spread::of(&grow_a);
    let series: Vec<String> = ours[0]
        .series
        .iter()
        .map(|k| format!("{:.1}", k / 1024.0))
        .collect();
    vec![
        Row {
            scenario: "memory",
            metric: format!("peak RSS (VmHWM), {calls} calls"),
            client: Spread::of(&peak_a).show(1, "MiB"),
            baseline: Spread::of(&peak_b).show(1, "MiB"),
            ratio: Spread::of(&ratios(&peak_a, &peak_b)).show(2, "x"),
            target: "-".into(),
            verdict: Verdict::Info,
        },
        Row {
            scenario: "memory",
            metric: format!("RSS growth, call 1,000 → {calls}"),
            client: growth.show(0, "KiB"),
            baseline: Spread::of(&grow_b).show(0, "KiB"),
            ratio: format!(
                "{:+.0} KiB (difference)",
                growth.median - Spread::of(&grow_b).median
            ),
            target: format!("< {MEMORY_NOISE_KIB:.0} KiB (noise)"),
            verdict: Verdict::of(growth.median < MEMORY_NOISE_KIB),
        },
        Row::info(
            "memory",
            "RSS before the first call",
            Spread::of(&mib(pick(&ours, |r| r.start))).show(1, "MiB"),
            Spread::of(&mib(pick(&theirs, |r| r.start))).show(1, "MiB"),
        ),
        Row::info(
            "memory",
            "RSS after the first call",
            Spread::of(&mib(pick(&ours, |r| r.first))).show(1, "MiB"),
            Spread::of(&mib(pick(&theirs, |r| r.first))).show(1, "MiB"),
        ),
        Row::info(
            "memory",
            "  client RSS every 1,000 calls, run 1",
            format!("{} MiB", series.join(" ")),
            "-".into(),
        ),
    ]
}

fn memory_in_child(side: &str) -> MemoryRun {
    let exe = std::env::current_exe().expect("own executable");
    let output = Command::new(exe)
        .args(["memory-child", side])
        .output()
        .expect("start the memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MEMORY "))
        .unwrap_or_else(|| {
            panic!(
                "memory child ({side}) reported nothing: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    parse_memory_line(line)
}

/// `peak=K start=K first=K series=K,K,...` (KiB).
fn parse_memory_line(line: &str) -> MemoryRun {
    let field = |name: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    let number = |s: &str| s.parse::<f64>().expect("a number");
    let series: Vec<f64> = field("series").split(',').map(number).collect();
    MemoryRun {
        peak: number(field("peak")),
        start: number(field("start")),
        first: number(field("first")),
        growth: series[series.len() - 1] - series[0],
        series,
    }
}

/// The child: a loopback server, one caller, 10 batches of 1,000 calls from
/// 8 tasks, RSS after each batch. `BENCH_MEMORY_BATCHES=60` runs longer (to
/// see whether RSS levels off); the growth row still compares the first
/// batch with the last.
async fn memory_child(side: &str) {
    let server = Server::start(api_handler(Arc::default(), Duration::ZERO));
    let caller = match side {
        "client" => Caller::Client(unthrottled_client(&server.base)),
        _ => Caller::Raw(Raw::new(&server.base)),
    };
    let batches = memory_batches();
    let start = status_kib("VmRSS:");
    caller.call().await;
    let first = status_kib("VmRSS:");
    let mut series = Vec::with_capacity(batches);
    for batch in 0..batches {
        // The first batch includes the call above.
        let calls = MEMORY_BATCH - usize::from(batch == 0);
        let outcomes = run_calls(&caller, calls, MEMORY_TASKS).await;
        assert!(outcomes.iter().all(|o| o.ok), "a memory-run call failed");
        drop(outcomes);
        series.push(status_kib("VmRSS:").to_string());
    }
    println!(
        "MEMORY peak={} start={start} first={first} series={}",
        status_kib("VmHWM:"),
        series.join(",")
    );
}

/// Batches of 1,000 calls per memory run: 10, or `BENCH_MEMORY_BATCHES`.
fn memory_batches() -> usize {
    std::env::var("BENCH_MEMORY_BATCHES")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(MEMORY_BATCHES)
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}

// ---------------------------------------------------------------------------
// 6. A fleet of processes sharing one seller's plan through Redis (issue 13).

const FLEET_PROCESSES: usize = 4;
const FLEET_CALLS: usize = 150;
const FLEET_TASKS: usize = 10;
const FLEET_REPS: usize = 3;
/// The rate the fleet may reach, as a fraction of the plan.
const FLEET_RATE_TARGET: (f64, f64) = (0.95, 1.02);
const COST_WARMUP: usize = 500;
const COST_CALLS: usize = 2_000;
/// Calls of the two runs under valgrind whose difference gives the
/// instructions per call (the process's fixed costs cancel out).
const COST_VALGRIND_CALLS: [usize; 2] = [200, 1_200];

/// A `redis-server` of the benchmark's own on a free loopback port.
struct RedisProcess {
    child: std::process::Child,
    url: String,
}

impl RedisProcess {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let process = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let client = redis::Client::open(process.url.as_str()).ok()?;
        for _ in 0..100 {
            if let Ok(mut connection) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut connection).is_ok()
            {
                return Some(process);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of `base` for the bench's seller, sharing through `redis`
/// (`-`: none) under `prefix`.
fn fleet_client(base: &str, redis: &str, prefix: &str, rate_limit: RateLimitSettings) -> Client {
    let mut builder = Client::builder()
        .endpoint(base)
        .token_url(format!("{base}{LWA_PATH}"))
        .credentials(LwaCredentials::new(
            "amzn1.application-oa2-client.bench",
            "bench-client-secret",
            "Atzr|bench-refresh-token",
        ))
        .rate_limit(rate_limit);
    if redis != "-" {
        builder = builder.redis(RedisSettings::new(redis).with_key_prefix(prefix));
    }
    builder.build().expect("client configuration")
}

struct FleetState {
    bucket: StrictBucket,
    accepted: Vec<Instant>,
    throttled: usize,
    lwa: usize,
}

/// [`pacing_handler`]'s strict 80/100 server, also counting LWA requests.
fn fleet_handler(state: Arc<Mutex<FleetState>>) -> Handler {
    let lwa = lwa_reply(Duration::ZERO);
    let rate_header = [("x-amzn-ratelimit-limit", "80.0")];
    let ok = Reply {
        bytes: http_response(200, &tracking_body(), &rate_header),
        delay: Duration::ZERO,
    };
    let quota = json!({"errors": [{"code": "QuotaExceeded",
        "message": "You exceeded your quota for the requested resource."}]});
    let throttled = Reply {
        bytes: http_response(429, quota.to_string().as_bytes(), &rate_header),
        delay: Duration::ZERO,
    };
    Arc::new(move |head: &Head| {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        if head.path.starts_with(LWA_PATH) {
            state.lwa += 1;
            return lwa.clone();
        }
        let now = Instant::now();
        if state.bucket.take(now) {
            state.accepted.push(now);
            ok.clone()
        } else {
            state.throttled += 1;
            throttled.clone()
        }
    })
}

struct FleetRun {
    ok: usize,
    failed: usize,
    throttled: usize,
    lwa: usize,
    /// Accepted requests past the burst per second, from the first accepted
    /// one (when the server's bucket starts refilling), over the plan.
    rate_ratio: f64,
    wall_s: f64,
}

/// `FLEET_PROCESSES` processes of this program, each `FLEET_CALLS` calls
/// from `FLEET_TASKS` tasks, against one fresh strict server.
async fn fleet_run(redis: &str) -> FleetRun {
    let state = Arc::new(Mutex::new(FleetState {
        bucket: StrictBucket {
            tokens: PLAN_BURST,
            at: Instant::now(),
        },
        accepted: Vec::new(),
        throttled: 0,
        lwa: 0,
    }));
    let server = Server::start(fleet_handler(Arc::clone(&state)));
    let prefix = format!("bench-fleet:{}", uuid::Uuid::new_v4());
    let exe = std::env::current_exe().expect("own executable");
    let start = Instant::now();
    let children: Vec<_> = (0..FLEET_PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["fleet-child", &server.base, redis, &prefix])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("fleet child")
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("wait task")
            .expect("fleet child output");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut numbers = text
            .split_whitespace()
            .filter_map(|w| w.parse::<usize>().ok());
        ok += numbers.next().unwrap_or(0);
        failed += numbers.next().unwrap_or(FLEET_CALLS);
    }
    let wall_s = start.elapsed().as_secs_f64();
    drop(server);
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let burst = PLAN_BURST as usize;
    let rate_ratio = match (state.accepted.first(), state.accepted.last()) {
        (Some(first), Some(last)) if state.accepted.len() > burst => {
            let span = last.duration_since(*first).as_secs_f64();
            (state.accepted.len() - burst) as f64 / span / PLAN_RATE
        }
        _ => 0.0,
    };
    FleetRun {
        ok,
        failed,
        throttled: state.throttled,
        lwa: state.lwa,
        rate_ratio,
        wall_s,
    }
}

/// One fleet process: prints "<ok> <failed>".
async fn fleet_child(base: &str, redis: &str, prefix: &str) {
    let client = fleet_client(base, redis, prefix, RateLimitSettings::default());
    let outcomes = run_calls(&Caller::Client(client), FLEET_CALLS, FLEET_TASKS).await;
    let ok = outcomes.iter().filter(|o| o.ok).count();
    println!("{ok} {}", outcomes.len() - ok);
}

/// `n` sequential calls through an unthrottled client (shared through
/// `redis` unless `-`), for valgrind to count the instructions.
async fn cost_child(base: &str, redis: &str, n: usize) {
    let prefix = format!("bench-cost:{}", uuid::Uuid::new_v4());
    let client = fleet_client(base, redis, &prefix, RateLimitSettings::default());
    let op = operations::find("getTracking").expect("getTracking is an operation");
    client.rate_limiter().observe_rate(op, UNTHROTTLED_RATE);
    sequential_calls(&Caller::Client(client), n).await;
}

async fn fleet() -> Vec<Row> {
    let Some(redis) = RedisProcess::start() else {
        return vec![Row::info(
            "fleet",
            "not run: redis-server not found (apt-get install redis-server)",
            "-".into(),
            "-".into(),
        )];
    };
    let (mut shared, mut alone) = (Vec::new(), Vec::new());
    for _ in 0..FLEET_REPS {
        shared.push(fleet_run(&redis.url).await);
        alone.push(fleet_run("-").await);
    }
    let mut rows = fleet_rows(&shared, &alone);
    rows.extend(redis_cost(&redis.url).await);
    rows
}

fn fleet_rows(shared: &[FleetRun], alone: &[FleetRun]) -> Vec<Row> {
    let pick = |runs: &[FleetRun], f: fn(&FleetRun) -> f64| {
        Spread::of(&runs.iter().map(f).collect::<Vec<f64>>())
    };
    let total = FLEET_PROCESSES * FLEET_CALLS;
    let shape = format!("{FLEET_PROCESSES} processes x {FLEET_CALLS} calls x {FLEET_TASKS} tasks");
    let (low, high) = FLEET_RATE_TARGET;
    let ratio = pick(shared, |r| r.rate_ratio);
    let throttled = pick(shared, |r| r.throttled as f64);
    let lwa = pick(shared, |r| r.lwa as f64);
    let ok = pick(shared, |r| r.ok as f64);
    vec![
        Row {
            scenario: "fleet",
            metric: format!("calls ok of {total} ({shape}); baseline: no Redis"),
            client: ok.show(0, ""),
            baseline: pick(alone, |r| r.ok as f64).show(0, ""),
            ratio: "-".into(),
            target: format!("{total}"),
            verdict: Verdict::of(ok.min >= total as f64),
        },
        Row {
            scenario: "fleet",
            metric: "  429s provoked".into(),
            client: throttled.show(0, ""),
            baseline: pick(alone, |r| r.throttled as f64).show(0, ""),
            ratio: "-".into(),
            target: "0".into(),
            verdict: Verdict::of(throttled.median == 0.0),
        },
        Row {
            scenario: "fleet",
            metric: "  rate past the burst / plan (server-side)".into(),
            client: ratio.show(3, "x"),
            baseline: pick(alone, |r| r.rate_ratio).show(3, "x"),
            ratio: "-".into(),
            target: format!("{low}–{high}x"),
            verdict: Verdict::of(ratio.median >= low && ratio.median <= high),
        },
        Row {
            scenario: "fleet",
            metric: "  LWA token requests, whole fleet".into(),
            client: lwa.show(0, ""),
            baseline: pick(alone, |r| r.lwa as f64).show(0, ""),
            ratio: "-".into(),
            target: "1".into(),
            verdict: Verdict::of(lwa.max <= 1.0),
        },
        Row::info(
            "fleet",
            "  wall time of the run",
            pick(shared, |r| r.wall_s).show(2, "s"),
            pick(alone, |r| r.wall_s).show(2, "s"),
        ),
        Row::info(
            "fleet",
            "  calls failed after their retries",
            pick(shared, |r| r.failed as f64).show(0, ""),
            pick(alone, |r| r.failed as f64).show(0, ""),
        ),
    ]
}

/// What the Redis round trip adds to a call: sequential calls through an
/// unthrottled client with and without Redis (wall and CPU time in this
/// process), and instructions per call counted by valgrind in a child.
async fn redis_cost(url: &str) -> Vec<Row> {
    let server = Server::start(api_handler(Arc::default(), Duration::ZERO));
    let prefix = format!("bench-cost:{}", uuid::Uuid::new_v4());
    let local = Caller::Client(unthrottled_client(&server.base));
    let shared = fleet_client(&server.base, url, &prefix, RateLimitSettings::default());
    let op = operations::find("getTracking").expect("getTracking is an operation");
    shared.rate_limiter().observe_rate(op, UNTHROTTLED_RATE);
    let shared = Caller::Client(shared);
    sequential_calls(&local, COST_WARMUP).await;
    sequential_calls(&shared, COST_WARMUP).await;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        with.push(sequential_calls(&shared, COST_CALLS).await);
        without.push(sequential_calls(&local, COST_CALLS).await);
    }
    let wall = |v: &[Cost]| v.iter().map(|c| c.wall_us).collect::<Vec<_>>();
    let cpu = |v: &[Cost]| v.iter().map(|c| c.cpu_us).collect::<Vec<_>>();
    let added = |a: Vec<f64>, b: Vec<f64>| {
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        Spread::of(&d)
    };
    let mut rows = vec![
        Row {
            scenario: "fleet",
            metric: "cost: get_tracking, wall time; baseline: no Redis".into(),
            client: Spread::of(&wall(&with)).show(1, "µs/call"),
            baseline: Spread::of(&wall(&without)).show(1, "µs/call"),
            ratio: format!("{} added", added(wall(&with), wall(&without)).show(1, "µs")),
            target: "-".into(),
            verdict: Verdict::Info,
        },
        Row {
            scenario: "fleet",
            metric: "  same calls, CPU time of the caller".into(),
            client: Spread::of(&cpu(&with)).show(1, "µs/call"),
            baseline: Spread::of(&cpu(&without)).show(1, "µs/call"),
            ratio: format!("{} added", added(cpu(&with), cpu(&without)).show(1, "µs")),
            target: "-".into(),
            verdict: Verdict::Info,
        },
    ];
    rows.push(
        match (
            instructions_per_call(&server.base, url),
            instructions_per_call(&server.base, "-"),
        ) {
            (Some(with), Some(without)) => Row {
                scenario: "fleet",
                metric: "  instructions per call (valgrind, client process)".into(),
                client: format!("{:.0}", with),
                baseline: format!("{:.0}", without),
                ratio: format!("{:+.0} added", with - without),
                target: "-".into(),
                verdict: Verdict::Info,
            },
            _ => Row::info(
                "fleet",
                "  instructions per call: not measured (valgrind not found)",
                "-".into(),
                "-".into(),
            ),
        },
    );
    rows
}

/// Instructions per call of a child making sequential calls, counted by
/// valgrind (callgrind): the difference of two runs of different lengths,
/// so start-up and shutdown cancel out. `None` without valgrind.
fn instructions_per_call(base: &str, redis: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let mut counts = Vec::new();
    for n in COST_VALGRIND_CALLS {
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["cost-child", base, redis, &n.to_string()])
            .output()
            .ok()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let collected = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse::<f64>().ok())?;
        counts.push(collected);
    }
    let [a, b] = COST_VALGRIND_CALLS;
    Some((counts[1] - counts[0]) / (b - a) as f64)
}

// ---------------------------------------------------------------------------
// 7. Instructions per call (issue 12).

/// Calls of the two counted runs per side; their difference cancels
/// start-up, the first token fetch, the connection and shutdown.
const INSTRUCTION_CALLS: [usize; 2] = [200, 2_200];
/// At most this many instructions per client call for each raw one.
const INSTRUCTION_TARGET: f64 = 1.05;

/// What a counted child runs: the raw baseline, the client as built by
/// default, or the client with one request-side layer switched off (to see
/// what that layer costs; not a configuration the ratio is judged on).
const INSTRUCTION_SIDES: [(&str, &str); 3] = [
    ("client", "client (default settings)"),
    ("raw", "raw reqwest + typed decode"),
    ("client-no-validation", "client, validation off"),
];

/// Instructions per sequential getTracking call on a current-thread
/// runtime, each side in its own child process of this binary under
/// `valgrind --tool=callgrind` (the loopback server runs here, uncounted).
/// `BENCH_CALLGRIND_DIR=dir` keeps each child's profile as
/// `dir/callgrind.<side>.<calls>` for `callgrind_annotate`.
fn instructions() -> Vec<Row> {
    let mut rows = call_instructions();
    rows.extend(decode_instructions());
    rows
}

fn call_instructions() -> Vec<Row> {
    let server = Server::start(api_handler(Arc::default(), Duration::ZERO));
    let mut per_call = Vec::new();
    for (side, _) in INSTRUCTION_SIDES {
        match counted_instructions(&server.base, side) {
            Ok(n) => per_call.push(n),
            Err(why) => {
                return vec![Row::info(
                    "instructions",
                    &format!("not measured: {why}"),
                    "-".into(),
                    "-".into(),
                )];
            }
        }
    }
    let (client, raw, unvalidated) = (per_call[0], per_call[1], per_call[2]);
    let ratio = client / raw;
    vec![
        Row {
            scenario: "instructions",
            metric: "get_tracking, instructions per call (callgrind), current-thread runtime"
                .into(),
            client: format!("{client:.0}"),
            baseline: format!("{raw:.0}"),
            ratio: format!("{ratio:.3} x"),
            target: format!("≤ {INSTRUCTION_TARGET:.2}x"),
            verdict: Verdict::of(ratio <= INSTRUCTION_TARGET),
        },
        Row {
            scenario: "instructions",
            metric: format!("  {}", INSTRUCTION_SIDES[2].1),
            client: format!("{unvalidated:.0}"),
            baseline: format!("{raw:.0}"),
            ratio: format!("{:.3} x", unvalidated / raw),
            target: "-".into(),
            verdict: Verdict::Info,
        },
    ]
}

/// At most this many instructions per decode of the large getRates body by
/// the client's decoder for each `serde_json::from_slice` (issue 18).
const DECODE_TARGET: f64 = 1.10;
/// Decodes per counted child: the difference of the two runs is counted.
const DECODE_CALLS: [usize; 2] = [20, 220];

/// A getRates body of about 90 KB from the model's shapes, like the
/// production capture of issue 18 (88,865 bytes, 126 ineligible offers):
/// rates cloned from the fixture's, 126 ineligible offers; with
/// `production_nulls`, that capture's nulls (an ineligible offer's
/// `carrierName`, each rate's `billedWeight` and `paymentType`, a pickup
/// window of nulls), which the decoder corrects and reports.
fn large_rates_body(production_nulls: bool) -> Vec<u8> {
    let mut example = example(RATES_FIXTURE, "200");
    let template = example["payload"]["rates"][0].clone();
    let mut ineligible: Vec<Value> = (0..126)
        .map(|i| {
            json!({"carrierId": format!("CARRIER_{:02}", i % 18), "carrierName": format!("Carrier {}", i % 18),
                   "serviceId": format!("SERVICE-{i:03}"), "serviceName": format!("Service {i}"),
                   "ineligibilityReasons": [{"code": "UNKNOWN", "message": "The shipment is not eligible for this service."}]})
        })
        .collect();
    if production_nulls {
        ineligible[37]["carrierName"] = Value::Null;
    }
    example["payload"]["ineligibleRates"] = Value::Array(ineligible);
    let mut rates = Vec::new();
    loop {
        let mut rate = template.clone();
        rate["rateId"] = json!(format!("F4B68849F969E239FF9FCA9C{:05}", rates.len()));
        if production_nulls {
            rate["billedWeight"] = Value::Null;
            rate["paymentType"] = Value::Null;
            rate["promise"]["pickupWindow"] = json!({"start": null, "end": null});
        }
        rates.push(rate);
        example["payload"]["rates"] = Value::Array(rates.clone());
        if serde_json::to_vec(&example).expect("encode").len() >= 88_000 {
            break;
        }
    }
    serde_json::to_vec(&example).expect("encode")
}

/// Instructions per decode of the large getRates body: the client's decoder
/// (`decode::decode_typed`, what `send` runs on a body) against
/// `serde_json::from_slice` into the same generated type, each in a child
/// under callgrind; and the same with the production nulls corrected.
fn decode_instructions() -> Vec<Row> {
    let body = large_rates_body(false);
    let sides = ["from_slice", "decode_typed", "decode_typed-corrected"];
    let mut per_decode = Vec::new();
    for side in sides {
        match counted_child(&["decode-child", side], DECODE_CALLS) {
            Ok(n) => per_decode.push(n),
            Err(why) => {
                return vec![Row::info(
                    "instructions",
                    &format!("decode not measured: {why}"),
                    "-".into(),
                    "-".into(),
                )];
            }
        }
    }
    let (raw, client, corrected) = (per_decode[0], per_decode[1], per_decode[2]);
    let ratio = client / raw;
    vec![
        Row {
            scenario: "instructions",
            metric: format!(
                "getRates decode ({} KB, 126 ineligible), decode_typed vs serde_json::from_slice",
                body.len() / 1000
            ),
            client: format!("{client:.0}"),
            baseline: format!("{raw:.0}"),
            ratio: format!("{ratio:.3} x"),
            target: format!("≤ {DECODE_TARGET:.2}x"),
            verdict: Verdict::of(ratio <= DECODE_TARGET),
        },
        Row {
            scenario: "instructions",
            metric: "  the same body with the production nulls, corrected and located".into(),
            client: format!("{corrected:.0}"),
            baseline: format!("{raw:.0}"),
            ratio: format!("{:.3} x", corrected / raw),
            target: "-".into(),
            verdict: Verdict::Info,
        },
    ]
}

/// `n` decodes of the large getRates body by `side` (the process valgrind
/// counts).
fn decode_child(side: &str, n: usize) {
    let body = large_rates_body(side == "decode_typed-corrected");
    for _ in 0..n {
        match side {
            "from_slice" => {
                let r: types::GetRatesResponse =
                    serde_json::from_slice(black_box(&body)).expect("decodes");
                black_box(r);
            }
            _ => {
                let r = spapi_shipping::decode::decode_typed::<types::GetRatesResponse>(
                    "get_rates",
                    200,
                    black_box(&body),
                )
                .expect("decodes");
                assert_eq!(r.1.is_empty(), side == "decode_typed");
                black_box(r);
            }
        }
    }
}

/// (instructions of the long run - of the short run) / the calls between;
/// or why they could not be counted.
fn counted_instructions(base: &str, side: &str) -> Result<f64, String> {
    counted_child(&["instructions-child", base, side], INSTRUCTION_CALLS)
}

/// Runs this binary with `args` and each count of `calls` appended under
/// callgrind: (instructions of the long run - of the short run) / the calls
/// between; or why they could not be counted.
fn counted_child(args: &[&str], calls: [usize; 2]) -> Result<f64, String> {
    let side = args.last().copied().unwrap_or_default();
    let exe = std::env::current_exe().map_err(|e| format!("no path to this binary: {e}"))?;
    let dir = std::env::var("BENCH_CALLGRIND_DIR").ok();
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("BENCH_CALLGRIND_DIR {dir}: {e}"))?;
    }
    let mut counts = Vec::new();
    for n in calls {
        let out = dir.as_ref().map_or_else(
            || "/dev/null".to_owned(),
            |d| format!("{d}/callgrind.{side}.{n}"),
        );
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", &format!("--callgrind-out-file={out}")])
            .arg(&exe)
            .args(args)
            .arg(n.to_string())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "valgrind not found (apt-get install valgrind)".to_owned()
                }
                _ => format!("valgrind could not start: {e}"),
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprintln!("instructions-child {side} {n} failed:\n{stderr}");
            return Err(format!(
                "the {side} child failed under valgrind (see above)"
            ));
        }
        let collected = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("no instruction count in valgrind's output for {side}"))?;
        counts.push(collected);
    }
    let [a, b] = calls;
    Ok((counts[1] - counts[0]) / (b - a) as f64)
}

/// `n` sequential getTracking calls by `side` on a current-thread runtime
/// (the process valgrind counts).
fn instructions_child(base: &str, side: &str, n: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    let _entered = runtime.enter();
    let caller = match side {
        "raw" => Caller::Raw(Raw::new(base)),
        "client" => Caller::Client(unthrottled_client(base)),
        "client-no-validation" => {
            let client = Client::builder()
                .endpoint(base)
                .token_url(format!("{base}{LWA_PATH}"))
                .credentials(LwaCredentials::new(
                    "amzn1.application-oa2-client.bench",
                    "bench-client-secret",
                    "Atzr|bench-refresh-token",
                ))
                .validation(spapi_shipping::validate::Validation::Off)
                .build()
                .expect("client configuration");
            let op = operations::find("getTracking").expect("getTracking is an operation");
            client.rate_limiter().observe_rate(op, UNTHROTTLED_RATE);
            Caller::Client(client)
        }
        other => panic!("unknown side {other:?}"),
    };
    runtime.block_on(async {
        for _ in 0..n {
            black_box(caller.call().await);
        }
    });
}
