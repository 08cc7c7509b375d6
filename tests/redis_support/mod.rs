//! A real `redis-server` for the tests of feature `redis` (issue 13).
//!
//! `.ci/run` starts one on a free loopback port and passes its URL in
//! `SPAPI_TEST_REDIS_URL`; tests that must stop and restart Redis start their
//! own. With `SPAPI_REQUIRE_SERVICES` set (by `.ci/run`) a missing server or URL fails the test: it is never
//! skipped there. Elsewhere, without `redis-server` on the PATH, the tests
//! say so and return.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../support/required.rs"]
mod required;

pub use required::services_required;

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
            Err(e) if !services_required() => {
                eprintln!("redis-server not available ({e}): test not run (it runs in CI)");
                None
            }
            Err(e) => {
                panic!("SPAPI_REQUIRE_SERVICES is set but redis-server could not be started: {e}")
            }
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
        !services_required(),
        "SPAPI_REQUIRE_SERVICES is set but SPAPI_TEST_REDIS_URL is not: .ci/run starts a redis-server for the tests"
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

/// A Redis Cluster of three masters (no replicas), plain or over TLS
/// ([`start_tls`](Self::start_tls)): three `redis-server`
/// children with `--cluster-enabled yes` on free loopback ports, joined by
/// `redis-cli --cluster create`; killed (and their directory removed) on
/// drop.
pub struct RedisCluster {
    children: Vec<Option<Child>>,
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
    /// A cluster over TLS only ([`start_tls`](Self::start_tls)): its CA.
    tls: Option<ClusterCa>,
}

/// The password of a cluster made by [`RedisCluster::start_tls`]
/// (`requirepass` and `masterauth`): the client logs in to every node with
/// it, and the tests check that it shows in no error or log line.
pub const TLS_CLUSTER_PASSWORD: &str = "hunter2-tls-cluster";

/// The CA of a TLS cluster: its certificate (DER, for
/// `tls_root_certificate`) and its PEM file in the cluster's directory
/// (for `redis-server` and `redis-cli`).
pub struct ClusterCa {
    pub der: Vec<u8>,
    pem: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts one; `None` (after saying why) only outside CI when
    /// `redis-server` or `redis-cli` is not installed.
    pub fn start() -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("spapi-redis-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports = three_cluster_ports();
        let cluster = Self {
            children: ports.iter().map(|_| None).collect(),
            ports,
            dir,
            tls: None,
        };
        cluster.create_or_skip()
    }

    /// A Redis Cluster over TLS only: three masters with `port 0` (no
    /// plain-text port), `tls-port` on free loopback ports and
    /// `tls-cluster yes` (the cluster bus and the ports it announces are
    /// TLS too), each with a certificate for `127.0.0.1` and `localhost`
    /// issued by a CA of the test's own (rcgen; [`ca`](Self::ca)). Made and
    /// inspected with `redis-cli --tls`. `None` as for [`start`](Self::start).
    pub fn start_tls() -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("spapi-redis-tls-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "spapi-shipping test cluster CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let node_key = rcgen::KeyPair::generate().unwrap();
        let node =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .unwrap()
                .signed_by(&node_key, &ca)
                .unwrap();
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, ca.pem()).unwrap();
        std::fs::write(dir.join("node.pem"), node.pem()).unwrap();
        std::fs::write(dir.join("node.key"), node_key.serialize_pem()).unwrap();
        let ports = three_cluster_ports();
        let cluster = Self {
            children: ports.iter().map(|_| None).collect(),
            ports,
            dir,
            tls: Some(ClusterCa {
                der: ca.der().to_vec(),
                pem,
            }),
        };
        cluster.create_or_skip()
    }

    /// The CA of a cluster made by [`start_tls`](Self::start_tls) (DER).
    pub fn ca(&self) -> Vec<u8> {
        self.tls
            .as_ref()
            .expect("started with start_tls")
            .der
            .clone()
    }

    fn create_or_skip(mut self) -> Option<Self> {
        match self.create() {
            Ok(()) => Some(self),
            Err(e) if !services_required() => {
                eprintln!("Redis Cluster not available ({e}): test not run (it runs in CI)");
                None
            }
            Err(e) => panic!(
                "SPAPI_REQUIRE_SERVICES is set but a Redis Cluster could not be started: {e}"
            ),
        }
    }

    fn create(&mut self) -> std::io::Result<()> {
        for node in 0..self.ports.len() {
            self.spawn(node)?;
        }
        let created = self
            .cli_command()
            .arg("--cluster")
            .arg("create")
            .args(self.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !created.status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create: {}",
                String::from_utf8_lossy(&created.stderr)
            )));
        }
        self.wait_until_ok(Duration::from_secs(20))
    }

    /// Starts node `node` (again: its `nodes-<port>.conf` keeps its slots
    /// and peers, so it rejoins the cluster, with no data).
    fn spawn(&mut self, node: usize) -> std::io::Result<()> {
        let binary = std::env::var("SPAPI_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = self.ports[node];
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let mut command = Command::new(binary);
        match &self.tls {
            None => command.args(["--port", &port.to_string()]),
            Some(ca) => command
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--requirepass", TLS_CLUSTER_PASSWORD])
                .args(["--masterauth", TLS_CLUSTER_PASSWORD])
                .args(["--tls-cluster", "yes", "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(self.dir.join("node.pem"))
                .arg("--tls-key-file")
                .arg(self.dir.join("node.key"))
                .arg("--tls-ca-cert-file")
                .arg(&ca.pem),
        };
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(&conf)
            // A node that is down is marked failed after this (the default
            // 15 s would make the outage tests slow).
            .args(["--cluster-node-timeout", "2000"])
            // The slots of the live masters stay served while one is down
            // (the default, yes, refuses every slot then): the tests check
            // that the other sellers keep sharing.
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.children[node] = Some(child);
        if self.tls.is_none() {
            return wait_for_pong(port, Duration::from_secs(10));
        }
        let start = Instant::now();
        while self.cli(port, &["PING"]) != "PONG" {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(std::io::Error::other(format!(
                    "redis-server on TLS port {port} did not answer PING within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis-cli`, with `--tls` and the CA for a TLS cluster.
    fn cli_command(&self) -> Command {
        let cli = std::env::var("SPAPI_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
        let mut command = Command::new(cli);
        if let Some(ca) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(&ca.pem);
            command.args(["-a", TLS_CLUSTER_PASSWORD, "--no-auth-warning"]);
        }
        command
    }

    /// `redis-cli -h 127.0.0.1 -p <port> <args>` (over TLS for a TLS
    /// cluster): its output, trimmed (empty if it could not run).
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        self.cli_command()
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// The keys matching `pattern` on each node, as (port, key).
    pub fn keys(&self, pattern: &str) -> Vec<(u16, String)> {
        self.ports
            .iter()
            .flat_map(|&port| {
                self.cli(port, &["KEYS", pattern])
                    .lines()
                    .filter(|key| !key.is_empty())
                    .map(|key| (port, key.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Waits until every running node says `cluster_state:ok`.
    pub fn wait_until_ok(&self, limit: Duration) -> std::io::Result<()> {
        let start = Instant::now();
        loop {
            let all_ok = self
                .ports
                .iter()
                .zip(&self.children)
                .filter(|(_, child)| child.is_some())
                .all(|(port, _)| match self.tls {
                    None => cluster_state_ok(*port),
                    Some(_) => self
                        .cli(*port, &["CLUSTER", "INFO"])
                        .contains("cluster_state:ok"),
                });
            if all_ok {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(std::io::Error::other(format!(
                    "the cluster on ports {:?} did not reach cluster_state:ok within {limit:?}",
                    self.ports
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `rediss+cluster://:<password>@127.0.0.1:<p1>,...` (a cluster made
    /// by [`start_tls`](Self::start_tls)).
    pub fn tls_url(&self) -> String {
        assert!(self.tls.is_some(), "started with start_tls");
        self.url().replacen(
            "redis+cluster://",
            &format!("rediss+cluster://:{TLS_CLUSTER_PASSWORD}@"),
            1,
        )
    }

    /// Kills node `node` (its data is gone; its slots are unserved).
    pub fn stop(&mut self, node: usize) {
        if let Some(mut child) = self.children[node].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `node` again on its port and waits for the cluster.
    pub fn restart(&mut self, node: usize) {
        self.stop(node);
        self.spawn(node).expect("the cluster node restarts");
        self.wait_until_ok(Duration::from_secs(20))
            .expect("the cluster is ok again");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in 0..self.children.len() {
            self.stop(node);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three distinct free ports for a cluster's masters.
fn three_cluster_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 3 {
        let port = cluster_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// A free loopback port for a cluster node: at most 55535, with the
/// cluster bus port (10000 above it) free too. Redis refuses a cluster port
/// whose bus port would pass 65535, and the kernel's ephemeral ports
/// (`bind(0)`) reach 60999, so the candidates come from 20000..45000.
fn cluster_port() -> u16 {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    for _ in 0..200 {
        let random = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap());
        let port = 20000 + random % 25000;
        if free(port) && free(port + 10000) {
            return port;
        }
    }
    panic!("no free loopback port pair (port, port + 10000) for a cluster node");
}

/// Whether the node on `port` answers `CLUSTER INFO` with `cluster_state:ok`.
fn cluster_state_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"CLUSTER INFO\r\n").is_err() {
        return false;
    }
    // A bulk string: `$<len>\r\n` then the text; the state is its first line.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer
        .windows(15)
        .any(|w| w == b"cluster_state:o" || w == b"cluster_state:f")
    {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&answer).contains("cluster_state:ok")
}

/// Where the test talks to a Redis Cluster: `SPAPI_TEST_REDIS_CLUSTER_URL`
/// (a `redis+cluster://` URL set by `.ci/run`), else a cluster of its own
/// (returned so it lives as long as the test). `None` only outside CI
/// without `redis-server`.
pub fn cluster() -> Option<(String, Option<RedisCluster>)> {
    if let Ok(url) = std::env::var("SPAPI_TEST_REDIS_CLUSTER_URL") {
        return Some((url, None));
    }
    assert!(
        !services_required(),
        "SPAPI_REQUIRE_SERVICES is set but SPAPI_TEST_REDIS_CLUSTER_URL is not set: .ci/run starts a Redis Cluster \
         for the tests"
    );
    let cluster = RedisCluster::start()?;
    Some((cluster.url(), Some(cluster)))
}

/// The `host:port` seeds of a `redis+cluster://host:port,...` URL.
pub fn cluster_seeds(url: &str) -> Vec<String> {
    let rest = url
        .strip_prefix("redis+cluster://")
        .expect("a redis+cluster:// URL");
    let hosts = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts);
    let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
    hosts.split(',').map(|h| h.trim().to_owned()).collect()
}
