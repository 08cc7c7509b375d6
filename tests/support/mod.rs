//! Shared machinery of the tests: fixtures, what a server saw of a request
//! ([`Seen`]), a recording mock server on 127.0.0.1 ([`Recorder`], httpmock),
//! the raw loopback server for scripted faults and TLS ([`server`]), and a
//! JSON comparison that names the first difference.

#![allow(dead_code)]

pub mod server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Map, Value};

/// Root of the repository, where `spec/` and `tests/fixtures/` live.
pub fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

/// Reads a JSON file below the repository root.
pub fn read_json(relative: &str) -> Value {
    let path = format!("{}/{relative}", root());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The spec, parsed once per test binary (the contract tests consult it for
/// every documented status).
pub fn spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| read_json("spec/shipping-v2.json"))
}

/// The documented example body of `op` for `status`
/// (`tests/fixtures/responses/<op>.json`), as JSON text; each file is read
/// once per test binary.
pub fn example(op: &str, status: u16) -> String {
    static EXAMPLES: Mutex<Option<std::collections::HashMap<String, Value>>> = Mutex::new(None);
    let mut examples = EXAMPLES.lock().unwrap();
    let examples = examples.get_or_insert_with(Default::default);
    let file = examples.entry(op.to_owned()).or_insert_with(|| {
        read_json(&format!("tests/fixtures/responses/{op}.json"))["examples"].take()
    });
    let body = &file[status.to_string()];
    assert!(!body.is_null(), "{op} has an example for {status}");
    body.to_string()
}

/// A request fixture's body (`tests/fixtures/requests/<op>.json`), decoded.
pub fn request_body<T: serde::de::DeserializeOwned>(op: &str) -> T {
    let fixture = read_json(&format!("tests/fixtures/requests/{op}.json"));
    serde_json::from_value(fixture["body"].clone())
        .unwrap_or_else(|e| panic!("{op}: request fixture body does not decode: {e}"))
}

/// A request fixture (`tests/fixtures/requests/<op>.json`) together with the
/// operation's examples (`tests/fixtures/responses/<op>.json`, derived from
/// the spec by `cargo xtask regen`).
pub struct Fixture {
    pub op: String,
    pub method: String,
    pub path_template: String,
    pub request: Value,
    pub examples: Map<String, Value>,
}

impl Fixture {
    pub fn load(op: &str) -> Self {
        let responses = read_json(&format!("tests/fixtures/responses/{op}.json"));
        let request = read_json(&format!("tests/fixtures/requests/{op}.json"));
        assert_eq!(
            request["operationId"], op,
            "request fixture names its operation"
        );
        Self {
            op: op.to_owned(),
            method: responses["method"].as_str().unwrap().to_owned(),
            path_template: responses["path"].as_str().unwrap().to_owned(),
            request,
            examples: responses["examples"].as_object().unwrap().clone(),
        }
    }

    /// A path parameter's value.
    pub fn path(&self, name: &str) -> String {
        str_at(&self.request["path"], name, &self.op)
    }

    /// A query parameter's value as a string.
    pub fn query(&self, name: &str) -> String {
        str_at(&self.request["query"], name, &self.op)
    }

    /// A query parameter's raw JSON value.
    pub fn query_value(&self, name: &str) -> &Value {
        &self.request["query"][name]
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> String {
        str_at(&self.request["headers"], name, &self.op)
    }

    /// The request body decoded into its typed value.
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.request["body"].clone())
            .unwrap_or_else(|e| panic!("{}: request fixture body does not decode: {e}", self.op))
    }

    /// A JSON value decoded into a typed value (enums such as the business id).
    pub fn typed<T: serde::de::DeserializeOwned>(&self, value: &Value) -> T {
        serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{}: {value} does not decode: {e}", self.op))
    }

    /// The path Amazon should receive: the template with every parameter
    /// percent-encoded as one path segment.
    pub fn expected_path(&self) -> String {
        let mut path = self.path_template.clone();
        for (name, value) in self.request["path"].as_object().into_iter().flatten() {
            let encoded = encode_segment(value.as_str().unwrap());
            path = path.replace(&format!("{{{name}}}"), &encoded);
        }
        path
    }
}

fn str_at(map: &Value, name: &str, op: &str) -> String {
    match &map[name] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{op}: fixture has no string {name} (found {other})"),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a server (the [`Recorder`] or a [`server::Server`]) saw of one
/// request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The raw path, as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, as sent.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// What an httpmock server received.
    pub fn of(req: &HttpMockRequest) -> Self {
        let uri = req.uri();
        Seen {
            method: req.method().to_string(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: req.body_vec(),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON request body")
    }

    /// The value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.query.as_deref().unwrap_or_default();
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Whether `Accept-Encoding` lists gzip, which is when Amazon compresses.
    pub fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().unwrap_or("").trim() == "gzip")
        })
    }

    /// The request as text: request line, headers and body (lossy UTF-8),
    /// to look for what must not be sent.
    pub fn text(&self) -> String {
        let mut text = format!("{} {}", self.method, self.path);
        if let Some(query) = &self.query {
            text = format!("{text}?{query}");
        }
        for (name, value) in &self.headers {
            text.push_str(&format!("\r\n{name}: {value}"));
        }
        format!("{text}\r\n\r\n{}", String::from_utf8_lossy(&self.body))
    }
}

/// A loopback server that answers every request with one canned response
/// and records what it received.
pub struct Recorder {
    pub server: MockServer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Starts a server answering `status` with `body` (JSON, or nothing).
    pub async fn start(status: u16, body: Option<&Value>) -> Self {
        let server = MockServer::start_async().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let body = body.map(|b| serde_json::to_vec(b).unwrap());
        server
            .mock_async(move |when, then| {
                when.is_true(move |req| {
                    log.lock().unwrap().push(Seen::of(req));
                    true
                });
                let then = then
                    .status(status)
                    .header("x-amzn-RequestId", "b7e6b7a4-2f4e-4c36-9d0b-000000000001")
                    .header("x-amzn-RateLimit-Limit", "80.0");
                if let Some(body) = body {
                    then.header("content-type", "application/json").body(body);
                }
            })
            .await;
        Self { server, seen }
    }

    /// The base URL to point a client at.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The single request received; fails if there were none or several.
    pub fn only_request(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "expected exactly one request, got {seen:#?}");
        seen[0].clone()
    }
}

/// Login with Amazon's success body: `access_token`, valid for an hour.
pub fn token_body(access_token: &str) -> Value {
    serde_json::json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 3600,
    })
}

/// An httpmock answer: `status`, `content-type: application/json`, the
/// `extra` headers and `body`.
pub fn json_response(status: u16, body: &Value, extra: &[(&str, &str)]) -> HttpMockResponse {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in extra {
        response = response.header(*name, *value);
    }
    response.body(body.to_string()).unwrap().into()
}

/// Login with Amazon on an httpmock server (`POST /auth/o2/token`),
/// answering `tokens` in turn (the last one repeats); counts the requests.
pub async fn lwa(server: &MockServer, tokens: &'static [&'static str]) -> Arc<AtomicUsize> {
    lwa_after(server, tokens, Duration::ZERO).await
}

/// [`lwa`] answering each request after `delay`.
pub async fn lwa_after(
    server: &MockServer,
    tokens: &'static [&'static str],
    delay: Duration,
) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    server
        .mock_async(move |when, then| {
            when.method("POST").path(server::TOKEN_PATH);
            then.respond_with(move |_req: &HttpMockRequest| {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                json_response(200, &token_body(tokens[n.min(tokens.len() - 1)]), &[])
            });
        })
        .await;
    count
}

/// Compares two JSON values. Numbers compare by value (`5` equals `5.0`),
/// and an RFC 3339 timestamp equals another for the same instant; everything
/// else must match exactly, including every object key. Returns the JSON
/// pointer and both sides of the first difference.
pub fn json_diff(expected: &Value, actual: &Value) -> Option<String> {
    diff_at(expected, actual, String::new())
}

fn diff_at(expected: &Value, actual: &Value, at: String) -> Option<String> {
    let differ = || Some(format!("at {at:?}: expected {expected}, got {actual}"));
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => (e.as_f64() != a.as_f64()).then(differ).flatten(),
        (Value::String(e), Value::String(a)) if e != a => {
            let (pe, pa) = (
                chrono::DateTime::parse_from_rfc3339(e),
                chrono::DateTime::parse_from_rfc3339(a),
            );
            match (pe, pa) {
                (Ok(pe), Ok(pa)) if pe == pa => None,
                _ => differ(),
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "at {at:?}: expected {} items, got {}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (e, a))| diff_at(e, a, format!("{at}/{i}")))
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => {
                        if let Some(d) = diff_at(ev, av, format!("{at}/{k}")) {
                            return Some(d);
                        }
                    }
                    // An empty list and no list mean the same: typify leaves
                    // empty optional arrays out when encoding.
                    None if ev.as_array().is_some_and(Vec::is_empty) => {}
                    None => return Some(format!("at {at:?}: key {k:?} missing, expected {ev}")),
                }
            }
            a.keys()
                .find(|k| !e.contains_key(*k))
                .map(|k| format!("at {at:?}: unexpected key {k:?} = {}", a[k]))
        }
        _ => (expected != actual).then(differ).flatten(),
    }
}

/// Captures `tracing` output at WARN and above into a buffer, for tests that
/// check what is logged.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A subscriber writing here (install it with `set_default`).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::callsite::rebuild_interest_cache();
        subscriber
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
