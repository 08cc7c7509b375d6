//! A real `redis-server` for the tests of feature `redis` (issue 13).
//!
//! `.ci/run` starts one on a free loopback port and passes its URL in
//! `SPAPI_TEST_REDIS_URL`; tests that must stop and restart Redis start their
//! own. In CI (`CI=true`) a missing server or URL fails the test: it is never
//! skipped there. Elsewhere, without `redis-server` on the PATH, the tests
//! say so and return.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A `redis-server` child process on a loopback port; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port; `None` (after saying why) only outside CI
    /// when `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = Self { child: None, port };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(e) if !in_ci() => {
                eprintln!("redis-server not available ({e}): test not run (it runs in CI)");
                None
            }
            Err(e) => panic!("CI=true but redis-server could not be started: {e}"),
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let binary = std::env::var("SPAPI_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        wait_for_pong(self.port, Duration::from_secs(10))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (all its data is gone, like a restart without
    /// persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("redis-server restarts");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for_pong(port: u16, limit: Duration) -> std::io::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut answer = [0u8; 5];
            if stream.write_all(b"PING\r\n").is_ok()
                && stream.read_exact(&mut answer).is_ok()
                && &answer == b"+PONG"
            {
                return Ok(());
            }
        }
        if start.elapsed() > limit {
            return Err(std::io::Error::other(format!(
                "redis-server on port {port} did not answer PING within {limit:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the test talks to Redis: `SPAPI_TEST_REDIS_URL` (set by `.ci/run`),
/// else a server of its own (returned so it lives as long as the test).
/// `None` only outside CI without `redis-server`.
pub fn redis() -> Option<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("SPAPI_TEST_REDIS_URL") {
        return Some((url, None));
    }
    assert!(
        !in_ci(),
        "CI=true but SPAPI_TEST_REDIS_URL is not set: .ci/run starts a redis-server for the tests"
    );
    let server = RedisServer::start()?;
    Some((server.url(), Some(server)))
}

/// A key prefix no other test uses, so tests sharing one server never see
/// each other's buckets and tokens.
pub fn unique_prefix(test: &str) -> String {
    format!("spapi-test:{test}:{}", uuid::Uuid::new_v4())
}

/// Sends one inline command (`CLIENT PAUSE 800 ALL`, `FLUSHALL`) to the
/// server on `port` and returns its first line of answer.
pub fn command(port: u16, line: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("redis-server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        answer.push(byte[0]);
    }
    String::from_utf8_lossy(&answer).trim_end().to_owned()
}
