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
    /// With TLS: its port, and the PEM certificate and key files.
    tls: Option<(u16, std::path::PathBuf, std::path::PathBuf)>,
}

impl RedisServer {
    /// Starts one on a free port; `None` (after saying why) only outside CI
    /// when `redis-server` is not installed.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let server = Self {
            child: None,
            port,
            tls: None,
        };
        server.start_or_skip()
    }

    /// Like [`start`](Self::start), also serving TLS (`tls_url`) with this
    /// certificate and key (PEM); the plain port stays for the test's own
    /// checks.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<Self> {
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port()
        };
        let dir = std::env::temp_dir().join(format!("spapi-redis-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let server = Self {
            child: None,
            port: free(),
            tls: Some((free(), cert, key)),
        };
        server.start_or_skip()
    }

    fn start_or_skip(mut self) -> Option<Self> {
        match self.spawn() {
            Ok(()) => Some(self),
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
            .args(self.tls.iter().flat_map(|(port, cert, key)| {
                [
                    "--tls-port".to_owned(),
                    port.to_string(),
                    "--tls-cert-file".to_owned(),
                    cert.display().to_string(),
                    "--tls-key-file".to_owned(),
                    key.display().to_string(),
                    "--tls-auth-clients".to_owned(),
                    "no".to_owned(),
                ]
            }))
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

    /// `rediss://localhost:<tls port>` (a server started with `start_tls`).
    pub fn tls_url(&self) -> String {
        let (port, _, _) = self.tls.as_ref().expect("started with start_tls");
        format!("rediss://localhost:{port}")
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
        if let Some((_, cert, _)) = &self.tls
            && let Some(dir) = cert.parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
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
