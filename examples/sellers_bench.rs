//! Many sellers in one process (issue 20, item 1): registration cost of an
//! `App`'s sellers against one `Client::builder().build()` per seller, and
//! 1,000 sellers x 5 concurrent calls against a loopback server that counts
//! the TCP connections it accepts, LWA requests per refresh token and 429s
//! (one token bucket per seller and operation, at Amazon's usage plan).
//!
//! `cargo run --release --example sellers_bench` (`SELLERS_BENCH_REGISTER`
//! sets how many sellers are registered, default 100,000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spapi_shipping::auth::LwaCredentials;
use spapi_shipping::{App, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const CLIENT_ID: &str = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";
const CLIENT_SECRET: &str =
    "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A refresh token of a real one's length (LWA's are about 360 characters).
fn refresh_token(i: usize) -> String {
    let mut token = format!("Atzr|IwEBI-seller-{i:08}-");
    while token.len() < 360 {
        token.push('x');
    }
    token
}

/// What the loopback server saw.
#[derive(Default)]
struct Seen {
    accepted_api: AtomicUsize,
    accepted_lwa: AtomicUsize,
    throttled: AtomicUsize,
    ok: AtomicUsize,
    lwa_by_token: Mutex<HashMap<String, usize>>,
    /// Per access token: (tokens, last refill) at getTracking's plan.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

const RATE: f64 = 80.0;
const BURST: f64 = 100.0;

async fn serve(listener: TcpListener, seen: Arc<Seen>, lwa: bool) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        if lwa {
            seen.accepted_lwa.fetch_add(1, Ordering::Relaxed);
        } else {
            seen.accepted_api.fetch_add(1, Ordering::Relaxed);
        }
        tokio::spawn(connection(stream, Arc::clone(&seen), lwa));
    }
}

async fn connection(mut stream: TcpStream, seen: Arc<Seen>, lwa: bool) {
    let mut buffer = Vec::with_capacity(2048);
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buffer[head_end..head_end + length].to_vec();
        buffer.drain(..head_end + length);
        let (status, answer) = if lwa {
            let form: HashMap<String, String> =
                form_urlencoded::parse(&body).into_owned().collect();
            let refresh = form.get("refresh_token").cloned().unwrap_or_default();
            *seen
                .lwa_by_token
                .lock()
                .unwrap()
                .entry(refresh.clone())
                .or_default() += 1;
            let access = format!("Atza|{}", &refresh[5..27]);
            (
                200,
                format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":3600}}"#),
            )
        } else {
            let token = header("x-amz-access-token").unwrap_or_default();
            let allowed = {
                let now = Instant::now();
                let mut buckets = seen.buckets.lock().unwrap();
                let (tokens, at) = buckets.entry(token).or_insert((BURST, now));
                *tokens = (*tokens + (now - *at).as_secs_f64() * RATE).min(BURST);
                *at = now;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    true
                } else {
                    false
                }
            };
            if allowed {
                seen.ok.fetch_add(1, Ordering::Relaxed);
                (200, r#"{"payload":{"trackingId":"TBA1","alternateLegTrackingId":"N/A","eventHistory":[],"promisedDeliveryDate":"2026-01-01T00:00:00Z","summary":{"status":"InTransit"}}}"#.to_owned())
            } else {
                seen.throttled.fetch_add(1, Ordering::Relaxed);
                (429, r#"{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}"#.to_owned())
            }
        };
        let reason = if status == 200 {
            "OK"
        } else {
            "Too Many Requests"
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nx-amzn-ratelimit-limit: {RATE}\r\nx-amzn-requestid: r\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

struct Server {
    api: String,
    lwa: String,
    seen: Arc<Seen>,
}

async fn server() -> Server {
    let seen = Arc::new(Seen::default());
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lwa = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let urls = (
        format!("http://{}", api.local_addr().unwrap()),
        format!("http://{}/auth/o2/token", lwa.local_addr().unwrap()),
    );
    tokio::spawn(serve(api, Arc::clone(&seen), false));
    tokio::spawn(serve(lwa, Arc::clone(&seen), true));
    Server {
        api: urls.0,
        lwa: urls.1,
        seen,
    }
}

async fn five_calls(client: Client) -> usize {
    let calls = (0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get_tracking()
                .tracking_id("TBA1")
                .carrier_id("AMZN_US")
                .send()
                .await
        })
    });
    let mut failed = 0;
    for call in calls.collect::<Vec<_>>() {
        if let Err(e) = call.await.unwrap() {
            if failed == 0 {
                eprintln!("a call failed: {e}");
            }
            failed += 1;
        }
    }
    failed
}

fn report(name: &str, server: &Server, sellers: usize, failed: usize, took: Duration) {
    let seen = &server.seen;
    let lwa = seen.lwa_by_token.lock().unwrap();
    let max_per_seller = lwa.values().copied().max().unwrap_or(0);
    println!(
        "{name:<10} {sellers} sellers x 5 calls: {:>5} ok, {} x 429, {failed} failed; \
         LWA requests {} (max {} per seller); TCP connections accepted: API {}, LWA {}; {:.2} s",
        seen.ok.load(Ordering::Relaxed),
        seen.throttled.load(Ordering::Relaxed),
        lwa.values().sum::<usize>(),
        max_per_seller,
        seen.accepted_api.load(Ordering::Relaxed),
        seen.accepted_lwa.load(Ordering::Relaxed),
        took.as_secs_f64(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let registered: usize = std::env::var("SELLERS_BENCH_REGISTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let endpoint = "https://sellingpartnerapi-na.amazon.com";

    // Registration: baseline, one Client::builder().build() per seller.
    let baseline_n = 1_000;
    let before = live();
    let started = Instant::now();
    let clients: Vec<Client> = (0..baseline_n)
        .map(|i| {
            Client::builder()
                .endpoint(endpoint)
                .credentials(LwaCredentials::new(
                    CLIENT_ID,
                    CLIENT_SECRET,
                    refresh_token(i),
                ))
                .build()
                .unwrap()
        })
        .collect();
    let took = started.elapsed();
    let bytes = live() - before;
    println!(
        "registration baseline (Client::builder().build() per seller, {baseline_n}): {:.1} us and {:.1} KiB each",
        took.as_secs_f64() * 1e6 / baseline_n as f64,
        bytes as f64 / baseline_n as f64 / 1024.0
    );
    drop(clients);

    // Registration: an App's sellers.
    let app = App::builder()
        .app_credentials(CLIENT_ID, CLIENT_SECRET)
        .settings(Client::builder().endpoint(endpoint))
        .build()
        .unwrap();
    let tokens: Vec<(String, String)> = (0..registered)
        .map(|i| (format!("seller-{i}"), refresh_token(i)))
        .collect();
    let before = live();
    let started = Instant::now();
    for (key, token) in &tokens {
        app.register(key, token.as_str()).unwrap();
    }
    let took = started.elapsed();
    let bytes = live() - before;
    println!(
        "registration App::register ({registered} sellers, {}-byte refresh tokens): {:.2} us and {:.0} bytes each",
        tokens[0].1.len(),
        took.as_secs_f64() * 1e6 / registered as f64,
        bytes as f64 / registered as f64
    );
    // Their state, made on first use (a live seller's client).
    let live_n = 1_000.min(registered);
    let before = live();
    let started = Instant::now();
    let clients: Vec<Client> = (0..live_n)
        .map(|i| app.client(&format!("seller-{i}")).unwrap())
        .collect();
    let took = started.elapsed();
    println!(
        "a seller's state on first use (App::client, {live_n}): {:.1} us and {:.1} KiB each",
        took.as_secs_f64() * 1e6 / live_n as f64,
        (live() - before) as f64 / live_n as f64 / 1024.0
    );
    drop(clients);
    drop(app);
    drop(tokens);

    // 1,000 sellers x 5 concurrent calls: baseline.
    let sellers = 1_000;
    let server_a = server().await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..sellers)
        .map(|i| {
            let client = Client::builder()
                .endpoint(&server_a.api)
                .token_url(&server_a.lwa)
                .credentials(LwaCredentials::new(
                    CLIENT_ID,
                    CLIENT_SECRET,
                    refresh_token(i),
                ))
                .build()
                .unwrap();
            tokio::spawn(five_calls(client))
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap();
    }
    report("baseline", &server_a, sellers, failed, started.elapsed());

    // The same through one App.
    let server_b = server().await;
    let app = App::builder()
        .app_credentials(CLIENT_ID, CLIENT_SECRET)
        .settings(
            Client::builder()
                .endpoint(&server_b.api)
                .token_url(&server_b.lwa),
        )
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..sellers)
        .map(|i| {
            let client = app
                .seller(&format!("seller-{i}"), refresh_token(i))
                .unwrap();
            tokio::spawn(five_calls(client))
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap();
    }
    report("App", &server_b, sellers, failed, started.elapsed());
    println!(
        "App pool limit (AppBuilder::max_connections): 64 per host; App::connections: {:?}",
        app.connections()
    );
}
