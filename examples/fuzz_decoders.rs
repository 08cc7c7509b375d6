//! A bounded, deterministic mutation fuzzer for the response decoders, on
//! stable Rust (cargo-fuzz needs nightly).
//!
//! It starts from every example body in `tests/fixtures/responses/*.json`
//! plus hand-made seeds (empty, `{}`, deep nesting, huge numbers, invalid
//! UTF-8, long strings...), mutates them with a seeded PRNG (bit flips, byte
//! insertion and deletion, truncation, splicing two inputs, a value replaced
//! by another JSON type, a key duplicated or removed...) and feeds every input
//! to `spapi_shipping::decode::decode` for every (operation, status) pair the
//! spec documents, to `serde_json::from_slice::<types::ErrorList>`, to the
//! `x-amzn-RateLimit-Limit` parser and the rate limiter behind it, and to
//! the LWA answer parser (`auth::parse_answer`) for a success, a client-error
//! and a server-error status.
//!
//! For the header: a parsed rate is finite and positive, a reported rate
//! lands within [`MIN_REPORTED_RATE`, plan x `MAX_REPORTED_RATE_FACTOR`], and pacing at the
//! parsed rate never panics (its waits are bounded by a unit test of the
//! limiter).
//! For LWA: no secret (raw or form-encoded) ever appears in an error, and a
//! success status whose body is not a token answer keeps no text of it.
//!
//! It checks that nothing panics and that whatever decodes re-encodes to JSON
//! that decodes again to the same value (numbers within 4 ULP: serde_json
//! without `float_roundtrip` may move a 17-digit number by one ULP; counted,
//! and a failure with `FUZZ_STRICT_FLOATS=1`). On a failure it prints the decoder,
//! the status and the input (base64 and the start in hex), saves the input to
//! a file, and exits non-zero; `--replay FILE` runs one saved input again.
//!
//! ```text
//! cargo run --release --example fuzz_decoders -- 3000
//! FUZZ_SEED=7 FUZZ_SECONDS=60 cargo run --release --example fuzz_decoders -- 100000
//! cargo run --example fuzz_decoders -- --replay /tmp/fuzz_decoders-crash-….bin
//! ```
//!
//! Bounds: the iteration count (first argument, else `FUZZ_ITERATIONS`,
//! default 2000) and wall-clock seconds (`FUZZ_SECONDS`, default 20),
//! whichever comes first; inputs over 1 MiB are refused, not decoded.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use fastrand::Rng;
use serde_json::{Value, json};
use spapi_shipping::auth::{self, AuthError};
use spapi_shipping::decode::decode;
use spapi_shipping::operations;
use spapi_shipping::rate_limit::{
    MAX_REPORTED_RATE_FACTOR, MIN_REPORTED_RATE, RateLimitSettings, RateLimiter,
};
use spapi_shipping::types;

/// Inputs larger than this are refused (counted, never decoded).
const MAX_INPUT: usize = 1 << 20;
/// Inputs larger than this do not enter the corpus, so mutations stay cheap.
const MAX_CORPUS_INPUT: usize = 16 << 10;
/// Mutated inputs kept beside the seeds.
const MAX_CORPUS: usize = 512;
const DEFAULT_ITERATIONS: u64 = 2000;
const DEFAULT_SECONDS: f64 = 20.0;
const DEFAULT_SEED: u64 = 0x5AFE_DEC0_DE00_2024;
/// Error statuses every operation documents, with an `ErrorList` body.
const ERROR_STATUSES: [u16; 9] = [400, 401, 403, 404, 413, 415, 429, 500, 503];

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/responses");

/// One decoder under test.
#[derive(Clone, Copy)]
enum Target {
    /// `decode(name, status, body)`.
    Decode(&'static str, u16),
    /// `serde_json::from_slice::<types::ErrorList>`.
    ErrorList,
    /// `RateLimiter::parse_rate_header`, then the limiter at that rate.
    RateLimitHeader,
    /// `auth::parse_answer(status, body, secrets)`.
    LwaAnswer(u16),
}

/// Secrets the LWA target scrubs; seeds echo them back.
const LWA_SECRETS: [&str; 2] = [
    "amzn1.oa2-cs.v1.FUZZ-CLIENT-SECRET-0123456789",
    "Atzr|IwEBIFUZZREFRESHTOKEN0123456789",
];
/// The second secret as it appears in a form-encoded echo.
const LWA_SECRET_FORM: &str = "Atzr%7CIwEBIFUZZREFRESHTOKEN0123456789";

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Decode(name, status) => write!(f, "decode({name:?}, {status})"),
            Target::ErrorList => f.write_str("serde_json::from_slice::<ErrorList>"),
            Target::RateLimitHeader => f.write_str("RateLimiter::parse_rate_header + limiter"),
            Target::LwaAnswer(status) => write!(f, "auth::parse_answer({status})"),
        }
    }
}

/// What feeding one input to one decoder showed.
enum Outcome {
    Ok,
    /// Decoded, and re-decoding the re-encoded value gave the same value but
    /// for numbers a few ULP apart (see [`same`]).
    OkWithFloatDrift,
    Rejected,
    /// A bug: the message says which.
    Bug(String),
}

impl Target {
    /// Decodes; what decodes must re-encode to JSON that decodes again to
    /// the same value.
    fn run(self, input: &[u8]) -> Outcome {
        match self {
            Target::Decode(name, status) => match decode(name, status, input) {
                None => Outcome::Bug("the decoder vanished: decode returned None".into()),
                Some(Err(_)) => Outcome::Rejected,
                Some(Ok(value)) => {
                    let again = serde_json::to_vec(&value).expect("a Value encodes");
                    match decode(name, status, &again) {
                        Some(Ok(second)) => match same(&value, &second) {
                            Some(false) => Outcome::Ok,
                            Some(true) if !strict_floats() => Outcome::OkWithFloatDrift,
                            _ => Outcome::Bug(format!(
                                "re-encoding is not stable: first {value}, then {second}"
                            )),
                        },
                        Some(Err(e)) => Outcome::Bug(format!(
                            "the re-encoded value {value} does not decode: {e}"
                        )),
                        None => Outcome::Bug("the decoder vanished on re-decoding".into()),
                    }
                }
            },
            Target::RateLimitHeader => rate_limit_header(input),
            Target::LwaAnswer(status) => lwa_answer(status, input),
            Target::ErrorList => match serde_json::from_slice::<types::ErrorList>(input) {
                Err(_) => Outcome::Rejected,
                Ok(list) => {
                    let again = serde_json::to_vec(&list).expect("an ErrorList encodes");
                    match serde_json::from_slice::<types::ErrorList>(&again) {
                        Ok(second) if second == list => Outcome::Ok,
                        Ok(second) => Outcome::Bug(format!(
                            "re-encoding is not stable: first {list:?}, then {second:?}"
                        )),
                        Err(e) => Outcome::Bug(format!(
                            "the re-encoded {} does not decode: {e}",
                            String::from_utf8_lossy(&again)
                        )),
                    }
                }
            },
        }
    }
}

/// A header value (reqwest hands the parser only visible ASCII; anything
/// else is tried too, as text): a parsed rate must be finite and positive,
/// the limiter must clamp it near the plan, and observing it unclamped
/// (`observe_rate`) must not panic.
fn rate_limit_header(input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::Rejected;
    };
    let Some(rate) = RateLimiter::parse_rate_header(text) else {
        return Outcome::Rejected;
    };
    if !(rate.is_finite() && rate > 0.0) {
        return Outcome::Bug(format!("parsed {text:?} as {rate}"));
    }
    let op = operations::find("getTracking").expect("getTracking is an operation");
    let max_wait = Duration::from_secs(2);
    // Burst 1, so the second acquire computes a refill interval.
    let settings = RateLimitSettings::default()
        .with_safety_factor(0.01)
        .with_max_wait(max_wait);
    let limiter = RateLimiter::new(settings);
    limiter.observe_reported_rate(op, rate);
    let (got, _) = limiter.plan(op);
    let (low, high) = (
        MIN_REPORTED_RATE * 0.01,
        op.rate * MAX_REPORTED_RATE_FACTOR * 0.01,
    );
    if !(low * (1.0 - 1e-12) <= got && got <= high * (1.0 + 1e-12)) {
        return Outcome::Bug(format!(
            "reported {rate} became {got}, outside [{low}, {high}]"
        ));
    }
    // Pacing at any rate (the limiter's slots are crate-private) is
    // checked by `absurd_explicit_rates_never_panic_and_waits_stop_at_max_wait`
    // in src/runtime/rate_limit.rs; here, that observing it never panics.
    limiter.observe_rate(op, rate);
    let _ = max_wait;
    Outcome::Ok
}

/// An LWA answer: no secret in any error; for a success status, a body that
/// is not a token answer is `Malformed` with a reason by position only.
fn lwa_answer(status: u16, input: &[u8]) -> Outcome {
    let error = match auth::parse_answer(status, input, &LWA_SECRETS) {
        Ok((token, _)) if token.expose().is_empty() => {
            return Outcome::Bug("an empty access token was accepted".into());
        }
        Ok(_) if (200..300).contains(&status) => return Outcome::Ok,
        Ok(_) => return Outcome::Bug(format!("HTTP {status} gave a token")),
        Err(error) => error,
    };
    let text = format!("{error} {error:?}");
    for secret in LWA_SECRETS.iter().chain([&LWA_SECRET_FORM]) {
        if text.contains(secret) {
            return Outcome::Bug(format!("a secret reached the error: {text}"));
        }
    }
    if (200..300).contains(&status)
        && let AuthError::Malformed { reason, .. } = &error
    {
        let shape = [
            "cut short at",
            "not valid JSON at",
            "JSON of the wrong shape at",
            "unreadable at",
        ]
        .iter()
        .any(|p| reason.starts_with(p) && reason.contains(" line ") && reason.contains(" column "));
        if !shape && reason != "empty access_token" {
            return Outcome::Bug(format!("a 2xx reason may echo the body: {reason:?}"));
        }
    }
    // An OAuth error read as one counts as decoded.
    match error {
        AuthError::Lwa { .. } => Outcome::Ok,
        _ => Outcome::Rejected,
    }
}

/// Whether two decoded values are the same: `Some(false)` when equal,
/// `Some(true)` when equal but for numbers at most 4 ULP apart, `None` when
/// they differ.
///
/// serde_json, without its `float_roundtrip` feature, parses some numbers of
/// 17 significant digits or with large exponents (`5.0609703445637765e298`)
/// to a neighbouring double, so re-encoding and decoding again can move such
/// a number by one ULP. Counted, not failed, unless `FUZZ_STRICT_FLOATS=1`.
fn same(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x != y => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            let ulps = (x.is_finite() && y.is_finite() && x.signum() == y.signum())
                .then(|| x.to_bits().abs_diff(y.to_bits()))?;
            (ulps <= 4).then_some(true)
        }
        (Value::Array(xs), Value::Array(ys)) if xs.len() == ys.len() => xs
            .iter()
            .zip(ys)
            .try_fold(false, |drift, (x, y)| Some(drift | same(x, y)?)),
        (Value::Object(xs), Value::Object(ys)) if xs.len() == ys.len() => xs
            .iter()
            .try_fold(false, |drift, (k, x)| Some(drift | same(x, ys.get(k)?)?)),
        _ => (a == b).then_some(false),
    }
}

/// `FUZZ_STRICT_FLOATS=1`: a number that moves on re-decoding is a failure.
fn strict_floats() -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("FUZZ_STRICT_FLOATS").is_ok_and(|v| v == "1"))
}

/// The example bodies, by file name order, and the operations they belong to.
fn examples() -> Vec<(&'static operations::Operation, Vec<(u16, Value)>)> {
    let mut files: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("{FIXTURES}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable fixture");
            let fixture: Value = serde_json::from_str(&text).expect("a JSON fixture");
            let id = fixture["operationId"].as_str().expect("an operationId");
            let op = operations::find(id).unwrap_or_else(|| panic!("unknown operation {id}"));
            let bodies = fixture["examples"]
                .as_object()
                .expect("examples")
                .iter()
                .map(|(status, body)| (status.parse().expect("a status"), body.clone()))
                .collect();
            (op, bodies)
        })
        .collect()
}

/// Every (operation, status) with a documented JSON body: the example
/// statuses plus the error statuses, kept when `decode` knows them.
fn targets(examples: &[(&'static operations::Operation, Vec<(u16, Value)>)]) -> Vec<Target> {
    let mut out = Vec::new();
    for (op, bodies) in examples {
        let mut statuses: Vec<u16> = bodies.iter().map(|(s, _)| *s).collect();
        statuses.extend(ERROR_STATUSES);
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            if decode(op.name, status, b"{}").is_some() {
                out.push(Target::Decode(op.name, status));
            }
        }
    }
    out.push(Target::ErrorList);
    out.push(Target::RateLimitHeader);
    out.extend([200, 400, 503].map(Target::LwaAnswer));
    out
}

/// Hand-made seeds for what the examples do not show.
fn raw_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        &b""[..],
        b" ",
        b"{}",
        b"[]",
        b"null",
        b"true",
        b"0",
        b"\"\"",
        b"{\"payload\":null}",
        b"{\"payload\":{}}",
        b"{\"errors\":[]}",
        b"{\"errors\":null}",
        b"{\"errors\":[{}]}",
        b"{\"errors\":[{\"code\":\"c\",\"message\":\"m\"}]} trailing",
        b"{\"errors\":[{\"code\":\"c\",\"message\":\"m\",\"code\":\"d\"}]}",
        b"\xEF\xBB\xBF{\"errors\":[]}",
        // Numbers serde_json or f64/i64 cannot hold.
        b"1e999999",
        b"-1e400",
        b"123456789012345678901234567890",
        b"{\"payload\":{\"requestToken\":\"t\",\"rates\":[{\"totalCharge\":{\"value\":1e999999,\"unit\":\"USD\"}}]}}",
        b"{\"payload\":{\"requestToken\":\"t\",\"rates\":[{\"totalCharge\":{\"value\":-0.0e-999,\"unit\":\"USD\"}}]}}",
        b"{\"payload\":{\"requestToken\":\"t\",\"rates\":[{\"billedWeight\":{\"value\":99999999999999999999999,\"unit\":\"GRAM\"}}]}}",
        b"{\"payload\":{\"documentSize\":{\"width\":1.7976931348623157e308,\"length\":-1.7976931348623157e308,\"unit\":\"INCH\"}}}",
        // Invalid UTF-8, raw and in strings; lone surrogates in escapes.
        b"\xff\xfe\xfd",
        b"{\"errors\":[{\"code\":\"\xff\xfe\",\"message\":\"m\"}]}",
        b"{\"errors\":[{\"code\":\"\xc0\xaf\",\"message\":\"\xed\xa0\x80\"}]}",
        b"{\"errors\":[{\"code\":\"\\ud800\",\"message\":\"\\udc00\\ud800\"}]}",
        b"{\"errors\":[{\"code\":\"\\u0000\",\"message\":\"\\uD83D\\uDE00\"}]}",
        b"{\"\xff\":1}",
        // An unknown enum value in a typed position.
        b"{\"payload\":{\"trackingId\":\"t\",\"alternateLegTrackingId\":\"a\",\"eventHistory\":[{\"eventCode\":\"ParcelTeleported\",\"eventTime\":\"2024-01-01T00:00:00Z\"}],\"promisedDeliveryDate\":\"2024-01-01T00:00:60Z\",\"summary\":{\"status\":\"Unheard\"}}}",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    // x-amzn-RateLimit-Limit values (issue 11: 1e-300 panicked the limiter).
    for header in [
        "80.0",
        " 0.5 ",
        "1e-300",
        "1e-20",
        "1e-6",
        "5e-324",
        "1e308",
        "1.7976931348623157e308",
        "NaN",
        "inf",
        "-5",
        "0",
        "0x10",
        "1_000",
        "+3",
        ".5",
        "5.",
        "1e",
        "\t2\t",
    ] {
        seeds.push(header.as_bytes().to_vec());
    }
    // LWA answers: a token, a token with a stray byte, OAuth errors echoing
    // the secrets raw and form-encoded, a token hidden in a wrong type.
    let [secret, refresh] = LWA_SECRETS;
    for answer in [
        format!(
            r#"{{"access_token":"Atza|IwEBIFUZZACCESS","token_type":"bearer","expires_in":3600,"refresh_token":"{refresh}"}}"#
        ),
        r#"{"access_token":"Atza|IwEBIFUZZACCESS","expires_in":3600}x"#.to_owned(),
        r#"{"access_token":"Atza|IwEBIFUZZACCESS","expires_in":"Atza|IwEBIFUZZACCESS"}"#.to_owned(),
        r#"{"access_token":"","expires_in":3600}"#.to_owned(),
        format!(r#"{{"error":"invalid_grant","error_description":"bad {refresh} for {secret}"}}"#),
        format!("grant_type=refresh_token&refresh_token={LWA_SECRET_FORM}&client_secret={secret}"),
        format!("<html>{} {refresh}</html>", "x".repeat(250)),
    ] {
        seeds.push(answer.into_bytes());
    }
    // Deep nesting: serde_json stops at its recursion limit (128).
    seeds.push(vec![b'['; 10_000]);
    seeds.push([vec![b'['; 10_000], vec![b']'; 10_000]].concat());
    seeds.push("{\"a\":".repeat(3_000).into_bytes());
    seeds.push(format!("{}1{}", "{\"payload\":".repeat(3_000), "}".repeat(3_000)).into_bytes());
    // Deep nesting inside free-form objects (cancelShipment's payload is any
    // JSON object; getAdditionalInputs' too), just under and over the limit.
    for depth in [100, 126, 127, 200, 3_000] {
        seeds.push(
            format!(
                "{{\"payload\":{{\"x\":{}{}}}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes(),
        );
    }
    // Long strings and keys, many small items.
    let long = "A".repeat(32 << 10);
    seeds.push(format!("{{\"errors\":[{{\"code\":\"{long}\",\"message\":\"m\"}}]}}").into_bytes());
    seeds.push(format!("{{\"{long}\":1}}").into_bytes());
    seeds.push(format!("\"{}\"", "\\u00e9".repeat(5_000)).into_bytes());
    let item = "{\"code\":\"c\",\"message\":\"m\"}";
    seeds.push(format!("{{\"errors\":[{}]}}", vec![item; 100].join(",")).into_bytes());
    // Over the size bound: refused, never decoded.
    seeds.push(vec![b' '; MAX_INPUT + 1]);
    seeds
}

/// Bytes that matter to a JSON parser.
const INTERESTING_BYTES: &[u8] = b"{}[]\":,\\-+.eE0123456789tfnul \t\n\r\x00\x7f\x80\xbf\xc0\xff";

/// Tokens worth splicing in anywhere.
const TOKENS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "0.1e",
    "\"\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"ZZ_NEW_VALUE\"",
    "\"2024-02-30T25:61:61Z\"",
    "[]",
    "{}",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "\\",
    "\"payload\":",
    "\"errors\":",
    ",\"zzUnknown\":{\"a\":[1,\"x\"]}",
];

/// A JSON value of a random kind, for type confusion.
fn random_value(rng: &mut Rng) -> Value {
    match rng.u8(0..14) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.u64(..)),
        4 => json!(rng.f64() * 1e300 - 5e299),
        5 => json!(""),
        6 => json!("ZZ_NEW_VALUE"),
        7 => json!("2024-02-11T07:09:05.513Z"),
        8 => json!("x".repeat(rng.usize(1..4096))),
        9 => json!([]),
        10 => json!({}),
        11 => json!([rng.i32(..), "x", null]),
        12 => json!({"zzUnknown": [1, "x"]}),
        _ => {
            // Nested arrays around the recursion limit.
            let mut v = json!(1);
            for _ in 0..rng.usize(100..140) {
                v = Value::Array(vec![v]);
            }
            v
        }
    }
}

/// Every JSON pointer in `value`, in document order.
fn pointers(value: &Value, at: &mut String, out: &mut Vec<String>) {
    out.push(at.clone());
    let len = at.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push('/');
                at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                pointers(child, at, out);
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push('/');
                at.push_str(&i.to_string());
                pointers(child, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// A mutation that understands JSON: parses the input (if it is JSON), edits
/// one node, writes it back. `None` when the input is not JSON.
fn mutate_structure(rng: &mut Rng, input: &[u8], other: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(input).ok()?;
    let mut all = Vec::new();
    pointers(&value, &mut String::new(), &mut all);
    let target = all[rng.usize(..all.len())].clone();
    let objects: Vec<&String> = all
        .iter()
        .filter(|p| value.pointer(p).is_some_and(Value::is_object))
        .collect();
    let object = (!objects.is_empty()).then(|| objects[rng.usize(..objects.len())].clone());
    match rng.u8(0..6) {
        // Replace a value with one of another JSON type.
        0 => *value.pointer_mut(&target)? = random_value(rng),
        // Replace a value with one taken from another input (valid values in
        // the wrong place).
        1 => {
            let donor: Value = serde_json::from_slice(other).ok()?;
            let mut donors = Vec::new();
            pointers(&donor, &mut String::new(), &mut donors);
            let from = &donors[rng.usize(..donors.len())];
            *value.pointer_mut(&target)? = donor.pointer(from)?.clone();
        }
        // Remove a key (a required one, perhaps).
        2 => {
            let map = value.pointer_mut(&object?)?.as_object_mut()?;
            let key = map.keys().nth(rng.usize(..map.len().max(1)))?.clone();
            map.shift_remove(&key);
        }
        // Add an unknown key.
        3 => {
            let map = value.pointer_mut(&object?)?.as_object_mut()?;
            map.insert(format!("zz{}", rng.u16(..)), random_value(rng));
        }
        // Duplicate a key: a marker key is added, written out, then renamed
        // to the duplicated key in the text.
        4 => {
            let map = value.pointer_mut(&object?)?.as_object_mut()?;
            let key = map.keys().nth(rng.usize(..map.len().max(1)))?.clone();
            let dup = if rng.bool() {
                map[&key].clone()
            } else {
                random_value(rng)
            };
            let marker = "\u{1}fuzz-duplicate-marker\u{1}";
            map.insert(marker.to_owned(), dup);
            let text = serde_json::to_string(&value).ok()?;
            let marker = serde_json::to_string(marker).ok()?;
            let key = serde_json::to_string(&key).ok()?;
            return Some(text.replacen(&marker, &key, 1).into_bytes());
        }
        // Empty an array or object, or double an array.
        _ => match value.pointer_mut(&target)? {
            Value::Array(items) if rng.bool() && !items.is_empty() => {
                let copy = items.clone();
                items.extend(copy);
            }
            Value::Array(items) => items.clear(),
            Value::Object(map) => map.clear(),
            other => *other = Value::Array(vec![other.clone()]),
        },
    }
    serde_json::to_vec(&value).ok()
}

/// One byte-level or structural mutation of `input`; `other` is another
/// corpus entry for splicing.
fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    let len = input.len();
    match rng.u8(0..11) {
        // Bit flip.
        0 if len > 0 => {
            let i = rng.usize(..len);
            input[i] ^= 1 << rng.u8(0..8);
        }
        // Overwrite a byte with one that matters to JSON.
        1 if len > 0 => {
            let i = rng.usize(..len);
            input[i] = INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())];
        }
        // Insert a few bytes.
        2 => {
            let i = rng.usize(..=len);
            for _ in 0..rng.usize(1..=8) {
                let b = if rng.bool() {
                    rng.u8(..)
                } else {
                    INTERESTING_BYTES[rng.usize(..INTERESTING_BYTES.len())]
                };
                input.insert(i, b);
            }
        }
        // Delete a range.
        3 if len > 0 => {
            let start = rng.usize(..len);
            let end = (start + rng.usize(1..=64)).min(len);
            input.drain(start..end);
        }
        // Truncate.
        4 if len > 0 => input.truncate(rng.usize(..len)),
        // Splice: this input's start, the other's end.
        5 => {
            let cut = rng.usize(..=len);
            let from = rng.usize(..=other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        // Duplicate a chunk elsewhere.
        6 if len > 0 => {
            let start = rng.usize(..len);
            let end = (start + rng.usize(1..=256)).min(len);
            let chunk = input[start..end].to_vec();
            let at = rng.usize(..=len);
            input.splice(at..at, chunk);
        }
        // Insert a JSON token.
        7 => {
            let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
            let at = rng.usize(..=len);
            input.splice(at..at, token.iter().copied());
        }
        // Structural (needs the input to be JSON).
        _ => {
            if let Some(mutated) = mutate_structure(rng, input, other) {
                *input = mutated;
            } else if len > 0 {
                let i = rng.usize(..len);
                input[i] = rng.u8(..);
            }
        }
    }
}

/// A new input from the corpus: one to four stacked mutations.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..=4) {
        let other = &corpus[rng.usize(..corpus.len())];
        mutate_once(rng, &mut input, other);
        if input.len() > MAX_INPUT {
            break;
        }
    }
    input
}

struct Settings {
    iterations: u64,
    seconds: f64,
    seed: u64,
    replay: Option<String>,
}

fn settings() -> Result<Settings, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut args = std::env::args().skip(1);
    let mut iterations = None;
    let mut replay = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--replay" => replay = Some(args.next().ok_or("--replay needs a file")?),
            "-h" | "--help" => {
                return Err("usage: fuzz_decoders [ITERATIONS] | --replay FILE \
                     (env FUZZ_ITERATIONS, FUZZ_SECONDS, FUZZ_SEED)"
                    .into());
            }
            n => iterations = Some(n.to_owned()),
        }
    }
    let iterations = match iterations.or_else(|| env("FUZZ_ITERATIONS")) {
        Some(n) => n.parse().map_err(|e| format!("iterations {n:?}: {e}"))?,
        None => DEFAULT_ITERATIONS,
    };
    let seconds = match env("FUZZ_SECONDS") {
        Some(s) => s.parse().map_err(|e| format!("FUZZ_SECONDS {s:?}: {e}"))?,
        None => DEFAULT_SECONDS,
    };
    let seed = match env("FUZZ_SEED") {
        Some(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .map_err(|e| format!("FUZZ_SEED {s:?}: {e}"))?,
        None => DEFAULT_SEED,
    };
    Ok(Settings {
        iterations,
        seconds,
        seed,
        replay,
    })
}

/// Tallies of a run.
#[derive(Default)]
struct Stats {
    inputs: u64,
    refused: u64,
    decoded_ok: u64,
    rejected: u64,
    /// The largest input decoded, in bytes.
    largest: usize,
    /// Decodes whose re-encoding re-decoded a few ULP off (see [`same`]).
    float_drift: u64,
    /// Inputs each target decoded, by index in the target list.
    ok_by_target: Vec<u64>,
}

/// Feeds one input to every target; on a panic or a bug, reports it with
/// the input and returns `Err`.
fn feed(targets: &[Target], input: &[u8], stats: &mut Stats, label: &str) -> Result<bool, ()> {
    if input.len() > MAX_INPUT {
        stats.refused += 1;
        return Ok(false);
    }
    stats.inputs += 1;
    stats.largest = stats.largest.max(input.len());
    let mut any_ok = false;
    stats.ok_by_target.resize(targets.len(), 0);
    for (i, &target) in targets.iter().enumerate() {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.run(input)));
        let problem = match outcome {
            Ok(Outcome::Ok) => {
                stats.decoded_ok += 1;
                stats.ok_by_target[i] += 1;
                any_ok = true;
                continue;
            }
            Ok(Outcome::OkWithFloatDrift) => {
                stats.decoded_ok += 1;
                stats.ok_by_target[i] += 1;
                stats.float_drift += 1;
                any_ok = true;
                continue;
            }
            Ok(Outcome::Rejected) => {
                stats.rejected += 1;
                continue;
            }
            Ok(Outcome::Bug(message)) => message,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "(no message)".to_owned());
                format!("PANIC: {message}")
            }
        };
        let saved = match label.strip_prefix("replay ") {
            Some(file) => file.to_owned(),
            None => {
                let file = std::env::temp_dir().join(format!(
                    "fuzz_decoders-crash-{}.bin",
                    label.replace([' ', '/', '#'], "_")
                ));
                std::fs::write(&file, input)
                    .map(|()| file.display().to_string())
                    .unwrap_or_else(|e| format!("(not saved: {e})"))
            }
        };
        let hex: String = input.iter().take(512).map(|b| format!("{b:02x}")).collect();
        eprintln!("fuzz_decoders: FAILURE in {target} on {label}");
        eprintln!("  {problem}");
        eprintln!("  input: {} bytes, saved to {saved}", input.len());
        eprintln!("  hex (first 512 bytes): {hex}");
        eprintln!(
            "  base64: {}",
            base64::engine::general_purpose::STANDARD.encode(input)
        );
        eprintln!("  replay: cargo run --example fuzz_decoders -- --replay {saved}");
        return Err(());
    }
    Ok(any_ok)
}

fn main() -> ExitCode {
    let settings = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fuzz_decoders: {e}");
            return ExitCode::from(2);
        }
    };
    let examples = examples();
    let targets = targets(&examples);
    let ops = examples.len();
    assert_eq!(
        ops,
        operations::OPERATIONS.len(),
        "one fixture per operation"
    );

    if let Some(file) = &settings.replay {
        let input = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut stats = Stats::default();
        return match feed(&targets, &input, &mut stats, &format!("replay {file}")) {
            Ok(_) => {
                println!(
                    "fuzz_decoders: replayed {file} ({} bytes) on {} decoders: no panic, {} decoded ok",
                    input.len(),
                    targets.len(),
                    stats.decoded_ok
                );
                ExitCode::SUCCESS
            }
            Err(()) => ExitCode::FAILURE,
        };
    }

    let started = Instant::now();
    let deadline = Duration::from_secs_f64(settings.seconds.max(0.0));
    let mut rng = Rng::with_seed(settings.seed);
    let mut stats = Stats::default();

    // Seeds first: every distinct example body (many operations share their
    // error examples), one of them pretty-printed, then the raw ones.
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for (_, bodies) in &examples {
        for (_, body) in bodies {
            let bytes = serde_json::to_vec(body).expect("an example encodes");
            if !corpus.contains(&bytes) {
                corpus.push(bytes);
            }
        }
    }
    let pretty = serde_json::to_vec_pretty(&examples[0].1[0].1).expect("an example encodes");
    corpus.push(pretty);
    corpus.extend(raw_seeds());
    for (i, seed) in corpus.iter().enumerate() {
        if feed(&targets, seed, &mut stats, &format!("seed input #{i}")).is_err() {
            return ExitCode::FAILURE;
        }
    }
    let seeded = stats.inputs;
    corpus.retain(|input| input.len() <= MAX_CORPUS_INPUT);
    let seeds = corpus.len();

    let mut iterations = 0;
    while iterations < settings.iterations && started.elapsed() < deadline {
        let input = mutate(&mut rng, &corpus);
        let label = format!("seed {} iteration {iterations}", settings.seed);
        match feed(&targets, &input, &mut stats, &label) {
            Err(()) => {
                eprintln!(
                    "fuzz_decoders: reproduce with FUZZ_SEED={} and at least {} iterations",
                    settings.seed,
                    iterations + 1
                );
                return ExitCode::FAILURE;
            }
            // Inputs that still decode somewhere are worth mutating further.
            Ok(true) if input.len() <= MAX_CORPUS_INPUT => {
                if corpus.len() < seeds + MAX_CORPUS {
                    corpus.push(input);
                } else {
                    let slot = seeds + rng.usize(..MAX_CORPUS);
                    corpus[slot] = input;
                }
            }
            Ok(_) => {}
        }
        iterations += 1;
    }

    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz_decoders: {} inputs x {} decoders, 0 panics, {} decoded ok, seed {}",
        stats.inputs,
        targets.len(),
        stats.decoded_ok,
        settings.seed
    );
    println!(
        "fuzz_decoders: {iterations} mutated inputs after {} seed inputs, {} rejected, {} refused (> 1 MiB), \
         {} float re-encodings off by <= 4 ULP, largest {} bytes, corpus {}, {elapsed:.2}s, {:.0} inputs/s, {:.0} decodes/s{}",
        seeded,
        stats.rejected,
        stats.refused,
        stats.float_drift,
        stats.largest,
        corpus.len(),
        stats.inputs as f64 / elapsed,
        (stats.inputs * targets.len() as u64) as f64 / elapsed,
        if iterations < settings.iterations {
            " (stopped by FUZZ_SECONDS)"
        } else {
            ""
        }
    );
    let never: Vec<String> = targets
        .iter()
        .zip(&stats.ok_by_target)
        .filter(|(_, ok)| **ok == 0)
        .map(|(target, _)| target.to_string())
        .collect();
    if !never.is_empty() {
        println!(
            "fuzz_decoders: never decoded anything: {}",
            never.join(", ")
        );
    }
    ExitCode::SUCCESS
}
