//! The runtime layer, end to end against loopback servers: auth, business
//! id, retries and idempotency keys, adaptive rate limits, typed errors and
//! redaction. Each test configures a `Client` the way a user would.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Value, json};
use spapi_shipping::auth::{AuthError, LwaCredentials, Secret};
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::types::ShippingBusinessId;
use spapi_shipping::{Client, ClientBuilder, Error, operations};
use support::lwa;

const APP_ID: &str = "amzn1.application-oa2-client.0123456789";
const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.client-secret-value";
const REFRESH_TOKEN: &str = "Atzr|IwEBrefresh-token-value";
const TRACKING_PATH: &str = "/shipping/v2/tracking";
const PURCHASE_PATH: &str = "/shipping/v2/shipments";
const ONE_CLICK_PATH: &str = "/shipping/v2/oneClickShipment";

fn example(op: &str, status: &str) -> Value {
    support::read_json(&format!("tests/fixtures/responses/{op}.json"))["examples"][status].clone()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_elapsed(Duration::from_secs(10))
}

/// A client for `server`, with LWA on the same server.
fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .endpoint(server.base_url())
        .token_url(server.url("/auth/o2/token"))
        .credentials(LwaCredentials::new(
            APP_ID,
            Secret::new(CLIENT_SECRET),
            Secret::new(REFRESH_TOKEN),
        ))
        .retry(fast_retries())
}

/// [`support::json_response`] with `x-amzn-RequestId: req-<status>`.
fn json_response(status: u16, body: &Value) -> HttpMockResponse {
    let request_id = format!("req-{status}");
    support::json_response(status, body, &[("x-amzn-RequestId", &request_id)])
}

/// An API path answering `statuses` in turn (the last one repeats) with the
/// operation's examples, recording every request's headers.
struct Scripted {
    requests: Arc<Mutex<Vec<Headers>>>,
}

/// One request's headers, as (name, value) pairs.
type Headers = Vec<(String, String)>;

impl Scripted {
    async fn start(
        server: &MockServer,
        method: &'static str,
        path: &'static str,
        op: &'static str,
        statuses: &'static [u16],
    ) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        server
            .mock_async(move |when, then| {
                when.method(method).path(path);
                then.respond_with(move |req: &HttpMockRequest| {
                    let mut log = log.lock().unwrap();
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    log.push(headers);
                    let status = statuses[(log.len() - 1).min(statuses.len() - 1)];
                    json_response(status, &example(op, &status.to_string()))
                });
            })
            .await;
        Self { requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The value of `name` on every request, in order.
    fn header(&self, name: &str) -> Vec<Option<String>> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}

async fn track(client: &Client) -> Result<String, Error> {
    let response = client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .send()
        .await?;
    Ok(response
        .into_inner()
        .payload
        .unwrap()
        .tracking_id
        .expect("trackingId")
        .to_string())
}

fn purchase_body() -> spapi_shipping::types::PurchaseShipmentRequest {
    let fixture = support::read_json("tests/fixtures/requests/purchaseShipment.json");
    serde_json::from_value(fixture["body"].clone()).unwrap()
}

/// Buys the request fixture's label, with the caller's key when given.
async fn buy_label(
    client: &Client,
    key: Option<&str>,
) -> Result<spapi_shipping::types::PurchaseShipmentResponse, Error> {
    let mut call = client.purchase_shipment().body(purchase_body());
    if let Some(key) = key {
        call = call.x_amzn_idempotency_key(key);
    }
    Ok(call.send().await?.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_cache_makes_one_token_request_for_100_concurrent_calls() {
    let server = MockServer::start_async().await;
    let lwa_calls = lwa(&server, &["Atza|token-one"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[200]).await;
    let client = builder(&server).build().unwrap();

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let client = client.clone();
        calls.spawn(async move { track(&client).await });
    }
    while let Some(result) = calls.join_next().await {
        assert_eq!(result.unwrap().unwrap(), "23AA47DE2B3B6");
    }
    assert_eq!(lwa_calls.load(Ordering::SeqCst), 1);
    assert_eq!(api.count(), 100);
    let tokens = api.header("x-amz-access-token");
    assert!(
        tokens
            .iter()
            .all(|t| t.as_deref() == Some("Atza|token-one"))
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_request_sent_once_more() {
    let server = MockServer::start_async().await;
    let lwa_calls = lwa(&server, &["Atza|stale", "Atza|fresh"]).await;
    let api_calls = Arc::new(AtomicUsize::new(0));
    let seen = api_calls.clone();
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.respond_with(move |req: &HttpMockRequest| {
                seen.fetch_add(1, Ordering::SeqCst);
                let token = req.headers().get("x-amz-access-token").cloned();
                if token.as_ref().and_then(|t| t.to_str().ok()) == Some("Atza|fresh") {
                    json_response(200, &example("getTracking", "200"))
                } else {
                    json_response(
                        403,
                        &json!({"errors": [{"code": "Unauthorized",
                        "message": "Access to requested resource is denied.",
                        "details": "The access token you provided has expired."}]}),
                    )
                }
            });
        })
        .await;
    let client = builder(&server).retry(RetryPolicy::none()).build().unwrap();

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(lwa_calls.load(Ordering::SeqCst), 2);
    assert_eq!(api_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn renewing_an_expired_token_does_not_use_up_a_retry() {
    let server = MockServer::start_async().await;
    let lwa_calls = lwa(&server, &["Atza|stale", "Atza|fresh"]).await;
    let api_calls = Arc::new(AtomicUsize::new(0));
    let seen = api_calls.clone();
    // The stale token's 403, then a 503 (one retry allowed), then a 200.
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.respond_with(move |_req: &HttpMockRequest| {
                match seen.fetch_add(1, Ordering::SeqCst) {
                    0 => json_response(
                        403,
                        &json!({"errors": [{"code": "Unauthorized",
                        "message": "Access to requested resource is denied.",
                        "details": "The access token you provided has expired."}]}),
                    ),
                    1 => json_response(
                        503,
                        &json!({"errors": [{"code": "ServiceUnavailable", "message": "busy"}]}),
                    ),
                    _ => json_response(200, &example("getTracking", "200")),
                }
            });
        })
        .await;
    let client = builder(&server)
        .retry(fast_retries().with_max_attempts(2))
        .build()
        .unwrap();

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(api_calls.load(Ordering::SeqCst), 3, "403, 503, then 200");
    assert_eq!(lwa_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_403_that_is_not_about_the_token_is_an_api_error_without_retry() {
    let server = MockServer::start_async().await;
    let lwa_calls = lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[403]).await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Api(api_error) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api_error.status, 403);
    assert_eq!(api_error.errors[0].code, "Unauthorized");
    assert_eq!(api_error.request_id.as_deref(), Some("req-403"));
    assert_eq!(api_error.operation.as_deref(), Some("getTracking"));
    assert_eq!((api.count(), lwa_calls.load(Ordering::SeqCst)), (1, 1));
}

#[tokio::test]
async fn lwa_refusals_surface_as_typed_auth_errors_and_nothing_is_sent() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/auth/o2/token");
            then.status(400).header("content-type", "application/json").json_body(json!({
                "error": "invalid_grant",
                "error_description": "The request has an invalid grant parameter : refresh_token"
            }));
        })
        .await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[200]).await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    match &err {
        Error::Auth {
            source:
                AuthError::Lwa {
                    status,
                    error,
                    error_description,
                },
            ..
        } => {
            assert_eq!((*status, error.as_str()), (400, "invalid_grant"));
            assert!(
                error_description
                    .as_deref()
                    .unwrap()
                    .contains("refresh_token")
            );
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    assert_eq!(api.count(), 0, "no SP-API request without a token");
}

#[tokio::test]
async fn the_default_business_id_is_sent_unless_the_call_sets_its_own() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[200]).await;
    let with_default = builder(&server)
        .business_id(ShippingBusinessId::AmazonShippingUk)
        .build()
        .unwrap();
    let without = builder(&server).build().unwrap();

    track(&with_default).await.unwrap();
    with_default
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_IT")
        .x_amzn_shipping_business_id(ShippingBusinessId::AmazonShippingIt)
        .send()
        .await
        .unwrap();
    track(&without).await.unwrap();

    assert_eq!(
        api.header("x-amzn-shipping-business-id"),
        [
            Some("AmazonShipping_UK".to_owned()),
            Some("AmazonShipping_IT".to_owned()),
            None
        ]
    );
}

#[tokio::test]
async fn a_429_is_retried_and_then_succeeds() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[429, 200]).await;
    let client = builder(&server).build().unwrap();

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(api.count(), 2);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_rate_limited_with_the_attempts() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[429]).await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::RateLimited(e) = &err else {
        panic!("expected RateLimited, got {err:?}")
    };
    assert_eq!((e.status, e.attempts), (429, 4));
    assert_eq!(api.count(), 4, "bounded by max_attempts");
    assert_eq!(err.request_id(), Some("req-429"));
    let text = err.to_string();
    assert!(
        text.contains("getTracking")
            && text.contains("req-429")
            && text.contains("after 4 attempts"),
        "{text}"
    );
}

#[tokio::test]
async fn a_503_is_retried_for_a_read() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(
        &server,
        "GET",
        TRACKING_PATH,
        "getTracking",
        &[503, 503, 200],
    )
    .await;
    let client = builder(&server).build().unwrap();

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(api.count(), 3);
}

#[tokio::test]
async fn a_503_is_not_retried_for_a_purchase_without_a_key() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let one_click = Scripted::start(
        &server,
        "POST",
        ONE_CLICK_PATH,
        "oneClickShipment",
        &[503, 200],
    )
    .await;
    let purchase = Scripted::start(
        &server,
        "POST",
        PURCHASE_PATH,
        "purchaseShipment",
        &[503, 200],
    )
    .await;
    let client = builder(&server).idempotency_keys(false).build().unwrap();

    let body: spapi_shipping::types::OneClickShipmentRequest = serde_json::from_value(
        support::read_json("tests/fixtures/requests/oneClickShipment.json")["body"].clone(),
    )
    .unwrap();
    let err = client
        .one_click_shipment()
        .body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        one_click.count(),
        1,
        "oneClickShipment has no idempotency key"
    );

    let err = buy_label(&client, None).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(purchase.count(), 1, "keys switched off and none given");
    assert_eq!(purchase.header("x-amzn-IdempotencyKey"), [None]);
}

#[tokio::test]
async fn every_retry_of_a_purchase_carries_the_same_generated_key() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(
        &server,
        "POST",
        PURCHASE_PATH,
        "purchaseShipment",
        &[503, 500, 200],
    )
    .await;
    let client = builder(&server).build().unwrap();

    let result = buy_label(&client, None).await.unwrap();
    assert!(result.payload.is_some());
    let keys = api.header("x-amzn-IdempotencyKey");
    assert_eq!(keys.len(), 3);
    let key = keys[0].clone().expect("a key was generated");
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "{keys:?}"
    );
    let parsed = uuid::Uuid::parse_str(&key).unwrap();
    assert_eq!(parsed.get_version_num(), 4);

    // A second purchase is a new purchase: a new key.
    buy_label(&client, None).await.unwrap();
    let keys = api.header("x-amzn-IdempotencyKey");
    assert_ne!(keys[3].as_deref(), Some(key.as_str()));
}

/// A keyed purchase that never gets an answer may still have been bought:
/// the error names the operation, the attempts and the key every attempt
/// carried, so the caller can retry with it and never buy twice.
#[tokio::test]
async fn a_purchase_that_times_out_reports_the_key_it_was_sent_with() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let keys = Arc::new(Mutex::new(Vec::new()));
    let log = keys.clone();
    server
        .mock_async(move |when, then| {
            // The matcher sees each request as it arrives; the answer comes
            // too late for the client's timeout.
            when.method("POST")
                .path(PURCHASE_PATH)
                .is_true(move |req: &HttpMockRequest| {
                    let key = req.headers().get("x-amzn-idempotencykey").cloned();
                    log.lock()
                        .unwrap()
                        .push(key.map(|k| k.to_str().unwrap().to_owned()));
                    true
                });
            then.status(200)
                .header("content-type", "application/json")
                .body(example("purchaseShipment", "200").to_string())
                .delay(Duration::from_millis(400));
        })
        .await;
    let client = builder(&server)
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();

    let err = buy_label(&client, None).await.unwrap_err();
    let Error::Timeout {
        operation,
        attempts,
        idempotency_key,
        ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(operation.as_deref(), Some("purchaseShipment"));
    assert_eq!(*attempts, 4);
    let sent = keys.lock().unwrap().clone();
    assert_eq!(sent.len(), 4, "{sent:?}");
    let key = sent[0].clone().expect("a generated key");
    assert!(
        sent.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "{sent:?}"
    );
    assert_eq!(idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(err.idempotency_key(), Some(key.as_str()));
    let text = err.to_string();
    assert!(
        text.contains("purchaseShipment after 4 attempts") && text.contains(&key),
        "{text}"
    );
    assert!(!text.contains("spapi-shipping-context"), "{text}");
}

/// Amazon's error answers carry the key too.
#[tokio::test]
async fn an_api_error_on_a_purchase_carries_its_key() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "POST", PURCHASE_PATH, "purchaseShipment", &[503]).await;
    let client = builder(&server).build().unwrap();

    let err = buy_label(&client, Some("order-1234-label-1"))
        .await
        .unwrap_err();
    assert_eq!(api.count(), 4);
    assert_eq!(err.attempts(), Some(4));
    assert_eq!(err.idempotency_key(), Some("order-1234-label-1"));
}

#[tokio::test]
async fn a_caller_key_is_kept_on_every_retry() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(
        &server,
        "POST",
        PURCHASE_PATH,
        "purchaseShipment",
        &[503, 200],
    )
    .await;
    let client = builder(&server).build().unwrap();

    buy_label(&client, Some("order-1234-label-1"))
        .await
        .unwrap();
    assert_eq!(
        api.header("x-amzn-IdempotencyKey"),
        [
            Some("order-1234-label-1".to_owned()),
            Some("order-1234-label-1".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_rate_follows_amazons_rate_limit_header() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(200)
                .header("content-type", "application/json")
                .header("x-amzn-RateLimit-Limit", "5.0")
                .body(example("getTracking", "200").to_string());
        })
        .await;
    let client = builder(&server).build().unwrap();
    let op = operations::find("getTracking").unwrap();
    assert_eq!(client.rate_limiter().plan(op), (80.0, 100.0));

    track(&client).await.unwrap();
    assert_eq!(client.rate_limiter().plan(op), (5.0, 100.0));
    let other = operations::find("getRates").unwrap();
    assert_eq!(client.rate_limiter().plan(other), (80.0, 100.0));
}

/// Amazon's bucket starts refilling when the first request of a burst
/// arrives, which the client only knows for sure when it is answered: a
/// call beyond the burst waits for that answer, then one refill interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_beyond_the_burst_starts_from_the_first_answer() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let answer_after = Duration::from_millis(300);
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(200)
                .header("content-type", "application/json")
                .body(example("getTracking", "200").to_string())
                .delay(answer_after);
        })
        .await;
    // getTracking's plan (80/s, burst 100) scaled to 1.6/s, burst 2.
    let settings =
        spapi_shipping::rate_limit::RateLimitSettings::default().with_safety_factor(0.02);
    let client = builder(&server).rate_limit(settings).build().unwrap();
    let op = operations::find("getTracking").unwrap();
    assert_eq!(client.rate_limiter().plan(op), (1.6, 2.0));

    let start = std::time::Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                track(&client).await.unwrap();
                start.elapsed()
            })
        })
        .collect();
    let mut done = Vec::new();
    for call in calls {
        done.push(call.await.unwrap());
    }
    done.sort();
    let interval = Duration::from_secs_f64(1.0 / 1.6);
    // Two go at once; the third is sent after the first answer plus one
    // interval, and is answered 300 ms after that.
    assert!(done[1] < answer_after + interval, "{done:?}");
    assert!(
        done[2] >= answer_after + interval + answer_after,
        "the third call did not wait for the first answer: {done:?}"
    );
    // ... and the answer, not the limiter's fallback, released it.
    // The limiter's fallback when no answer comes (crate-private
    // `rate_limit::ANCHOR_FALLBACK`).
    let fallback = Duration::from_secs(1);
    assert!(done[2] < fallback + interval + answer_after, "{done:?}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_undecodable_with_its_context() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(200)
                .header("content-type", "text/html")
                .header("x-amzn-RequestId", "req-html")
                .body("<html><body>Bad gateway</body></html>");
        })
        .await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Undecodable(u) = &err else {
        panic!("expected Undecodable, got {err:?}")
    };
    assert_eq!(u.status, Some(200));
    assert_eq!(u.request_id.as_deref(), Some("req-html"));
    assert_eq!(u.content_type.as_deref(), Some("text/html"));
    assert!(u.body_prefix.starts_with("<html><body>Bad gateway"));
    assert!(err.to_string().contains("req-html"), "{err}");
}

#[tokio::test]
async fn requests_name_the_sdk_in_the_user_agent() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[200]).await;
    let client = builder(&server)
        .user_agent_suffix("my-shop/2.1")
        .build()
        .unwrap();

    track(&client).await.unwrap();
    let agent = api.header("user-agent")[0].clone().unwrap();
    assert!(agent.starts_with("spapi-shipping/"), "{agent}");
    assert!(agent.contains("(Language=Rust; Platform="), "{agent}");
    assert!(agent.ends_with(" my-shop/2.1"), "{agent}");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_debug_output_or_logs() {
    let server = MockServer::start_async().await;
    lwa(
        &server,
        &["Atza|stale-access-token", "Atza|fresh-access-token"],
    )
    .await;
    let api = Scripted::start(&server, "GET", TRACKING_PATH, "getTracking", &[503, 200]).await;
    let client = builder(&server).build().unwrap();

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    track(&client).await.unwrap();
    assert_eq!(api.count(), 2);

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("spapi_shipping.call"),
        "the call is traced: {logs}"
    );
    assert!(
        logs.contains("operation=\"getTracking\"") || logs.contains("operation=getTracking"),
        "{logs}"
    );
    let debug = format!("{client:?} {:?}", builder(&server));
    for secret in [
        CLIENT_SECRET,
        REFRESH_TOKEN,
        "stale-access-token",
        "fresh-access-token",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
        assert!(
            !debug.contains(secret),
            "{secret} leaked into Debug:\n{debug}"
        );
    }
}

#[tokio::test]
async fn a_request_the_model_forbids_never_leaves_the_process() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let api = Scripted::start(&server, "POST", PURCHASE_PATH, "purchaseShipment", &[200]).await;
    let client = builder(&server).build().unwrap();
    let mut body = serde_json::to_value(purchase_body()).unwrap();
    body["requestedDocumentSpecification"]["format"] = json!("GIF");
    body["requestedDocumentSpecification"]["size"]["unit"] = json!("FURLONG");
    let body: spapi_shipping::types::PurchaseShipmentRequest =
        serde_json::from_value(body).unwrap();

    let err = client
        .purchase_shipment()
        .body(body)
        .send()
        .await
        .unwrap_err();
    let Error::InvalidRequest {
        operation,
        violations,
        ..
    } = &err
    else {
        panic!("expected InvalidRequest, got {err:?}")
    };
    assert_eq!(operation.as_deref(), Some("purchaseShipment"));
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "requestedDocumentSpecification.format",
            "requestedDocumentSpecification.size.unit"
        ]
    );
    assert!(err.to_string().contains("\"GIF\" is not one of"), "{err}");
    assert_eq!(api.count(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_undecodable_with_its_path() {
    let server = MockServer::start_async().await;
    lwa(&server, &["Atza|token"]).await;
    let mut body = example("getTracking", "200");
    body["payload"]["eventHistory"][1]["eventTime"] = json!(12345);
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(200)
                .header("content-type", "application/json")
                .header("x-amzn-RequestId", "req-bad-type")
                .body(body.to_string());
        })
        .await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Undecodable(u) = &err else {
        panic!("expected Undecodable, got {err:?}")
    };
    assert!(
        u.reason
            .starts_with("payload.eventHistory[1].eventTime: invalid type"),
        "{}",
        u.reason
    );
    assert_eq!(
        (u.status, u.request_id.as_deref()),
        (Some(200), Some("req-bad-type"))
    );
    assert_eq!(u.operation.as_deref(), Some("getTracking"));
}

// ---- Duration::MAX as "no limit" (issue 20 item 6) ----------------------

/// getTracking answering 503 once, then 200: every call below goes through
/// the token, the rate limiter, an attempt, a retry decision and a backoff.
async fn tracking_failing_once(server: &MockServer) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let ok = example("getTracking", "200");
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.respond_with(move |_req: &HttpMockRequest| {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    json_response(503, &json!({"errors": [{"code": "ServiceUnavailable"}]}))
                } else {
                    json_response(200, &ok)
                }
            });
        })
        .await;
    count
}

/// Three calls through a client configured by `configure` all succeed
/// (the first after one retry), with one token request.
async fn three_calls_succeed(configure: impl FnOnce(ClientBuilder) -> ClientBuilder) {
    let server = MockServer::start_async().await;
    let lwa_calls = lwa(&server, &["Atza|no-limit"]).await;
    let api_calls = tracking_failing_once(&server).await;
    let client = configure(builder(&server)).build().unwrap();
    for _ in 0..3 {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            client
                .get_tracking()
                .tracking_id("23AA47DE2B3B6")
                .carrier_id("AMZN_UK")
                .send(),
        )
        .await
        .expect("the call ends")
        .expect("the call succeeds");
        let tracking_id = response.into_inner().payload.unwrap().tracking_id;
        assert_eq!(tracking_id.unwrap().to_string(), "23AA47DE2B3B6");
    }
    assert_eq!(api_calls.load(Ordering::SeqCst), 4);
    assert_eq!(lwa_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn timeout_duration_max_means_no_limit() {
    // Also the default call deadline (max_elapsed + timeout) and the token
    // refresh's bound.
    three_calls_succeed(|b| b.timeout(Duration::MAX)).await;
}

#[tokio::test]
async fn connect_timeout_duration_max_means_no_limit() {
    three_calls_succeed(|b| b.connect_timeout(Duration::MAX)).await;
}

#[tokio::test]
async fn call_deadline_duration_max_means_no_limit() {
    three_calls_succeed(|b| b.call_deadline(Duration::MAX)).await;
    three_calls_succeed(|b| b.call_deadline(Duration::MAX).timeout(Duration::MAX)).await;
}

#[tokio::test]
async fn rate_limit_max_wait_duration_max_means_no_limit() {
    use spapi_shipping::rate_limit::RateLimitSettings;
    three_calls_succeed(|b| {
        b.rate_limit(RateLimitSettings::default().with_max_wait(Duration::MAX))
    })
    .await;
}

#[tokio::test]
async fn retry_durations_duration_max_mean_no_limit() {
    three_calls_succeed(|b| b.retry(fast_retries().with_max_elapsed(Duration::MAX))).await;
    // A backoff is the smaller of the two: either may be unbounded.
    three_calls_succeed(|b| b.retry(fast_retries().with_initial_backoff(Duration::MAX))).await;
    three_calls_succeed(|b| b.retry(fast_retries().with_max_backoff(Duration::MAX))).await;
}

#[tokio::test]
async fn every_duration_at_duration_max_together() {
    use spapi_shipping::rate_limit::RateLimitSettings;
    three_calls_succeed(|b| {
        b.timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .call_deadline(Duration::MAX)
            .rate_limit(RateLimitSettings::default().with_max_wait(Duration::MAX))
            .retry(fast_retries().with_max_elapsed(Duration::MAX))
    })
    .await;
}

/// Issue 20 item 5: reqwest's transport errors quote the request's URL; a
/// password in the endpoint (a proxy's) is never shown.
#[tokio::test]
async fn a_password_in_the_endpoint_never_shows_in_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder()
        .endpoint(format!("http://proxy:hunter2pass@127.0.0.1:{port}"))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains("hunter2pass"), "{text}");
    // reqwest leaves the user info out of the URL it quotes (it sends it
    // as Basic auth); `Error` would hide a password reqwest showed.
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        source.contains(&format!("http://127.0.0.1:{port}/shipping/v2/tracking")),
        "{source}"
    );
}
