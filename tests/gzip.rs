//! gzip on the wire (issue 18, item 7): the client asks for gzip, decodes
//! a compressed chunked answer to the same typed value as the plain one,
//! counts the body cap in decoded bytes whatever the compressed
//! `Content-Length` says, turns a corrupt stream into a typed error naming
//! the operation, and works through a caller's own `reqwest::Client` with
//! gzip on or off. Every server is `support::server` on 127.0.0.1, which
//! controls every byte, like Amazon only compressing when asked. The peak
//! memory of a gzip bomb is measured in `gzip_bomb_memory.rs`.

use std::time::Duration;

use flate2::Compression;
use serde_json::{Value, json};
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::{Client, ClientBuilder, Error, Response, types};
use support::Seen;
use support::server::{self, Reply, Server};

mod gzip_support;
mod support;

use gzip_support::{bomb, gzip, gzip_chunked_answer};

/// Every call ends within this, whatever the client does.
const BOUND: Duration = Duration::from_secs(10);

/// A loopback server (`support::server`) answering every request with the
/// bytes `answer` makes of it (status line, headers and body), then closing.
async fn serve(answer: impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static) -> Server {
    Server::start(move |seen| Reply::send(answer(seen))).await
}

/// A client of `server` that does not retry.
fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .endpoint(server.url(""))
        .retry(RetryPolicy::none())
}

/// A plain 200 with a Content-Length.
fn plain(body: &[u8]) -> Vec<u8> {
    server::json(200, "plain-1", body)
}

/// A compressed 200, chunked, without Content-Length, as Amazon sends it.
fn gzipped_chunked(compressed: &[u8]) -> Vec<u8> {
    gzip_chunked_answer("gzip-1", compressed)
}

/// A compressed 200 with the compressed size as its Content-Length.
fn gzipped_with_length(compressed: &[u8]) -> Vec<u8> {
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("x-amzn-RequestId", "gzip-2"),
    ];
    server::response(200, &headers, compressed)
}

/// Amazon's behaviour: compressed and chunked when asked, plain otherwise.
fn like_amazon(body: Vec<u8>) -> impl Fn(&Seen) -> Vec<u8> + Send + Sync + 'static {
    let compressed = gzip(&body, Compression::default());
    move |seen: &Seen| {
        if seen.accepts_gzip() {
            gzipped_chunked(&compressed)
        } else {
            plain(&body)
        }
    }
}

/// A getRates answer of about the size of the production capture in issue
/// 18 (88,865 bytes, 2 rates and 126 ineligible offers): the fixture's
/// example with its rate repeated 31 times and 126 ineligible offers. More
/// repetitive than the capture, so it compresses better (about 29x against
/// 17.7x).
fn large_get_rates() -> Vec<u8> {
    let file = support::read_json("tests/fixtures/responses/getRates.json");
    let mut answer = file["examples"]["200"].clone();
    let rate = answer["payload"]["rates"][0].clone();
    let rates: Vec<Value> = (0..31)
        .map(|i| {
            let mut rate = rate.clone();
            rate["rateId"] = json!(format!("RATE{i:04}F969E239FF9FCA9C12E35"));
            rate["carrierName"] = json!(format!("CARRIER {}", i % 18));
            rate["totalCharge"]["value"] = json!(5.25 + f64::from(i));
            rate
        })
        .collect();
    answer["payload"]["rates"] = Value::Array(rates);
    let ineligible: Vec<Value> = (0..126)
        .map(|i| {
            json!({
                "carrierId": format!("CARRIER{}", i % 18),
                "carrierName": format!("CARRIER {}", i % 18),
                "serviceId": format!("SVC{i:05}"),
                "serviceName": format!("Carrier {} service {i}", i % 18),
                "ineligibilityReasons": [{
                    "code": "NO_COVERAGE",
                    "message": "Required shipping network coverage doesn't exist for the offering"
                }]
            })
        })
        .collect();
    answer["payload"]["ineligibleRates"] = Value::Array(ineligible);
    serde_json::to_vec(&answer).unwrap()
}

fn rates_request() -> types::GetRatesRequest {
    support::request_body("getRates")
}

async fn get_rates(client: &Client) -> Result<Response<types::GetRatesResponse>, Error> {
    tokio::time::timeout(BOUND, client.get_rates().body(rates_request()).send())
        .await
        .expect("the call ends within the bound")
}

/// The error's source chain, `a: b: c`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

#[tokio::test]
async fn the_client_asks_for_gzip_and_a_gzipped_chunked_get_rates_decodes_like_the_plain_one() {
    let body = large_get_rates();
    let compressed = gzip(&body, Compression::default());
    eprintln!(
        "getRates: {} bytes, {} gzipped ({:.1}x less on the wire)",
        body.len(),
        compressed.len(),
        body.len() as f64 / compressed.len() as f64
    );
    assert!(
        body.len() > 80_000,
        "about the size of the production capture"
    );

    let gzip_server = serve(like_amazon(body.clone())).await;
    let client = builder(&gzip_server).build().unwrap();
    let from_gzip = get_rates(&client)
        .await
        .expect("the gzipped answer decodes");

    let seen = gzip_server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/shipping/v2/shipments/rates");
    assert_eq!(seen[0].header("accept-encoding"), Some("gzip"));
    // reqwest decoded it: neither the encoding nor a (compressed) length is
    // left for the caller to misread.
    assert_eq!(from_gzip.headers().get("content-encoding"), None);
    assert_eq!(from_gzip.headers().get("content-length"), None);
    assert_eq!(
        from_gzip
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok()),
        Some("gzip-1")
    );

    // The same body, uncompressed (a server that ignores Accept-Encoding).
    let plain_server = serve({
        let body = body.clone();
        move |_: &Seen| plain(&body)
    })
    .await;
    let client = builder(&plain_server).build().unwrap();
    let from_plain = get_rates(&client).await.expect("the plain answer decodes");

    let from_gzip = from_gzip.into_inner();
    let from_plain = from_plain.into_inner();
    assert_eq!(from_gzip, from_plain);
    let payload = from_gzip.payload.expect("a payload");
    assert_eq!(payload.rates.len(), 31);
    assert_eq!(
        payload.ineligible_rates.as_ref().map(|list| list.len()),
        Some(126)
    );
    assert_eq!(payload.rates[30].carrier_name.as_str(), "CARRIER 12");
    let expected: types::GetRatesResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(expected.payload.unwrap(), payload);
}

/// reqwest removes a compressed answer's `Content-Length` when it decodes
/// it; the cap must count the decoded bytes in both directions.
#[tokio::test]
async fn a_compressed_content_length_is_never_taken_for_the_decoded_size() {
    // 1. Small on the wire, large decoded: 64 KiB of cap, 4 MiB decoded
    //    from about 4 KiB declared. Cut at the cap, as a streamed body.
    let cap = 64 * 1024;
    let compressed = bomb(br#"{"payload": "#, 4);
    assert!(compressed.len() < cap / 4, "{} bytes", compressed.len());
    let server = serve(move |_: &Seen| gzipped_with_length(&compressed)).await;
    let client = builder(&server).max_response_body(cap).build().unwrap();
    let error = get_rates(&client).await.unwrap_err();
    match &error {
        Error::ResponseTooLarge {
            operation,
            status,
            request_id,
            cap: reported,
            content_length,
            attempts,
            ..
        } => {
            assert_eq!(operation.as_deref(), Some("getRates"));
            assert_eq!(*status, 200);
            assert_eq!(request_id.as_deref(), Some("gzip-2"));
            assert_eq!(*reported, cap);
            // Not the compressed length: the decoded size is unknown
            // until read, and the read passed the cap.
            assert_eq!(*content_length, None);
            assert_eq!(*attempts, 1);
        }
        other => panic!("expected ResponseTooLarge, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("streamed body over the API response body cap"),
        "{error}"
    );

    // 2. Larger on the wire than decoded: stored (level 0) deflate adds a
    //    few bytes, so a Content-Length over the cap declares a body that
    //    decodes to exactly the cap. It must be read, not refused.
    let body = large_get_rates();
    let stored = gzip(&body, Compression::none());
    assert!(stored.len() > body.len());
    let server = serve(move |_: &Seen| gzipped_with_length(&stored)).await;
    let client = builder(&server)
        .max_response_body(body.len())
        .build()
        .unwrap();
    let rates = get_rates(&client)
        .await
        .expect("a body that decodes to the cap is read");
    assert_eq!(rates.headers().get("content-length"), None);
    let expected: types::GetRatesResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(rates.into_inner(), expected);

    // 3. The same answer uncompressed with the cap one byte short: the
    //    declared (plain) Content-Length is still refused before reading.
    let body = large_get_rates();
    let len = body.len();
    let server = serve(move |_: &Seen| plain(&body)).await;
    let client = builder(&server).max_response_body(len - 1).build().unwrap();
    let error = get_rates(&client).await.unwrap_err();
    assert!(
        matches!(error, Error::ResponseTooLarge { content_length: Some(n), .. } if n == len as u64),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_corrupt_gzip_stream_is_a_transport_error_naming_the_operation() {
    let body = large_get_rates();
    let good = gzip(&body, Compression::default());
    // A gzip header, then bytes that are no deflate stream.
    let mut garbage = good[..10].to_vec();
    garbage.extend(std::iter::repeat_n(0xff_u8, 4096));
    // Not gzip at all.
    let not_gzip = b"{\"payload\": {\"rates\": []}}".to_vec();
    // A valid stream cut in the middle (the chunked framing is complete).
    let truncated = good[..good.len() / 2].to_vec();
    // A valid stream with a wrong CRC-32 in its trailer.
    let mut bad_crc = good.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0x55;

    for (name, compressed, reason) in [
        (
            "corrupt deflate data",
            garbage,
            "deflate decompression error",
        ),
        ("not gzip", not_gzip, "Invalid gzip header"),
        ("truncated", truncated, "unexpected end of file"),
        ("wrong CRC-32", bad_crc, "CRC computed does not match"),
    ] {
        let server = serve(move |_: &Seen| gzipped_chunked(&compressed)).await;
        let client = builder(&server)
            .retry(
                RetryPolicy::default()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(2)),
            )
            .build()
            .unwrap();
        let call = tokio::spawn(async move { get_rates(&client).await.map(|_| ()) });
        let error = call
            .await
            .expect("no panic")
            .expect_err("a corrupt stream fails");
        let text = error.to_string();
        let causes = chain(&error);
        eprintln!("{name}: {causes}");
        match &error {
            Error::Transport {
                operation,
                source,
                attempts,
                idempotency_key,
            } => {
                assert_eq!(operation.as_deref(), Some("getRates"), "{name}");
                assert!(source.is_decode(), "{name}: {source:?}");
                assert!(!source.is_connect(), "{name}");
                // A broken body is retried for a read, like one cut off.
                assert_eq!(*attempts, 2, "{name}");
                assert_eq!(server.seen().len(), 2, "{name}");
                assert_eq!(*idempotency_key, None);
            }
            other => panic!("{name}: expected Transport, got {other:?}"),
        }
        assert!(
            text.starts_with(
                "transport error in getRates after 2 attempts: error decoding response body"
            ),
            "{name}: {text}"
        );
        // The decoder's own reason is in the source chain.
        assert!(causes.ends_with(reason), "{name}: {causes}");
    }
}

/// A caller's own client: reqwest is built once for the whole program, with
/// this crate's `gzip` feature, so a plain `reqwest::Client` asks for gzip
/// and decodes it; one built with `.gzip(false)` does not ask and gets the
/// plain body. A client that asks by hand but does not decode gets an
/// `Undecodable` whose reason says why.
#[tokio::test]
async fn a_callers_http_client_works_with_gzip_on_or_off() {
    // A plain reqwest client has no TLS provider here (rustls-no-provider).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = large_get_rates();
    let expected: types::GetRatesResponse = serde_json::from_slice(&body).unwrap();

    let server = serve(like_amazon(body.clone())).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = builder(&server).http_client(http).build().unwrap();
    let rates = get_rates(&client)
        .await
        .expect("decoded by the caller's client");
    assert_eq!(rates.into_inner(), expected);
    assert_eq!(server.seen()[0].header("accept-encoding"), Some("gzip"));

    let server = serve(like_amazon(body.clone())).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .gzip(false)
        .build()
        .unwrap();
    let client = builder(&server).http_client(http).build().unwrap();
    let rates = get_rates(&client).await.expect("a plain answer");
    assert_eq!(rates.into_inner(), expected);
    assert_eq!(server.seen()[0].header("accept-encoding"), None);

    // Asks by hand, does not decode: the bytes arrive compressed.
    let server = serve(like_amazon(body.clone())).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_ENCODING,
        reqwest::header::HeaderValue::from_static("gzip"),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .gzip(false)
        .default_headers(headers)
        .build()
        .unwrap();
    let client = builder(&server).http_client(http).build().unwrap();
    let error = get_rates(&client).await.unwrap_err();
    match &error {
        Error::Undecodable(u) => {
            assert_eq!(u.operation.as_deref(), Some("getRates"));
            assert_eq!(u.status, Some(200));
            assert!(
                u.reason.starts_with(
                    "the body is still `Content-Encoding: gzip`: the HTTP client did not decode it"
                ),
                "{}",
                u.reason
            );
        }
        other => panic!("expected Undecodable, got {other:?}"),
    }
}

/// The bomb helper really is a gzip stream of the announced bytes (the
/// memory test and the fault matrix rely on it).
#[test]
fn the_bomb_is_one_valid_gzip_member_of_the_announced_bytes() {
    use std::io::Read as _;
    let prefix = br#"{"payload": "#;
    let compressed = bomb(prefix, 3);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .expect("valid gzip, CRC and length included");
    assert_eq!(decoded.len(), prefix.len() + 3 * (1 << 20));
    assert_eq!(&decoded[..prefix.len()], prefix);
    assert!(decoded[prefix.len()..].iter().all(|&b| b == b' '));
    assert!(compressed.len() < 4 * 1024, "{} bytes", compressed.len());
    // A few MB expanding to gigabytes.
    let big = bomb(prefix, 4096);
    assert!(big.len() < 5 << 20, "{} bytes", big.len());
}
