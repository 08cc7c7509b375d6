//! Issue 10 against loopback servers: what Amazon really sends (error lists
//! on statuses the spec does not document, bodies that are not error lists)
//! and what the client lets through (validation modes, the business id sent
//! for each region). Each test starts its own server on 127.0.0.1.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::json;
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::types::ShippingBusinessId;
use spapi_shipping::{Client, ClientBuilder, Error, Region, Validation};
use support::Seen;

const TRACKING_PATH: &str = "/shipping/v2/tracking";
const PURCHASE_PATH: &str = "/shipping/v2/shipments";

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_elapsed(Duration::from_secs(10))
}

/// A client for `server` without credentials (no LWA involved).
fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .endpoint(server.base_url())
        .retry(fast_retries(3))
}

/// A path that answers every request with the same status, content type and
/// body, recording what it received.
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    async fn start(
        server: &MockServer,
        method: &'static str,
        path: &'static str,
        status: u16,
        content_type: &'static str,
        body: String,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        server
            .mock_async(move |when, then| {
                when.method(method).path(path);
                then.respond_with(move |req: &HttpMockRequest| -> HttpMockResponse {
                    log.lock().unwrap().push(Seen::of(req));
                    http::Response::builder()
                        .status(status)
                        .header("content-type", content_type)
                        .header("x-amzn-RequestId", format!("req-{status}"))
                        .body(body.clone())
                        .unwrap()
                        .into()
                });
            })
            .await;
        Self(seen)
    }

    fn requests(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

/// A tracking example that decodes.
fn tracking_ok() -> String {
    let examples = support::read_json("tests/fixtures/responses/getTracking.json");
    examples["examples"]["200"].to_string()
}

async fn track(client: &Client) -> Result<(), Error> {
    client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .send()
        .await?;
    Ok(())
}

/// The request fixture's purchase, with a document format Amazon's model
/// does not list (the open enum keeps it as `Unknown("GIF")`).
fn purchase_with_unknown_format() -> spapi_shipping::types::PurchaseShipmentRequest {
    let fixture = support::read_json("tests/fixtures/requests/purchaseShipment.json");
    let mut body = fixture["body"].clone();
    body["requestedDocumentSpecification"]["format"] = json!("GIF");
    serde_json::from_value(body).unwrap()
}

// ---------------------------------------------------------------------------
// Amazon's error list, whatever the status

#[tokio::test]
async fn a_422_the_spec_does_not_document_keeps_amazons_error_list() {
    let server = MockServer::start_async().await;
    let body = json!({"errors": [{
        "code": "InvalidInput",
        "message": "The request has an invalid field.",
        "details": "shipDate must be in UTC (Z), not +00:00"
    }]});
    let api = Recorder::start(
        &server,
        "GET",
        TRACKING_PATH,
        422,
        "application/json",
        body.to_string(),
    )
    .await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!(e.status, 422);
    assert_eq!(e.operation.as_deref(), Some("getTracking"));
    assert_eq!(e.request_id.as_deref(), Some("req-422"));
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].code, "InvalidInput");
    assert_eq!(
        e.errors[0].details.as_deref(),
        Some("shipDate must be in UTC (Z), not +00:00")
    );
    assert_eq!(e.body_prefix, None);
    let text = err.to_string();
    assert!(text.contains("HTTP 422"), "{text}");
    assert!(
        text.contains(
            "InvalidInput: The request has an invalid field. (shipDate must be in UTC (Z), not +00:00)"
        ),
        "{text}"
    );
    assert_eq!(api.requests().len(), 1, "a 422 is not retried");
}

#[tokio::test]
async fn a_502_after_the_last_retry_keeps_amazons_error_list_and_the_attempts() {
    let server = MockServer::start_async().await;
    let body = json!({"errors": [{
        "code": "InternalFailure",
        "message": "We encountered an internal error.",
        "details": "Retry in a few seconds."
    }]});
    let api = Recorder::start(
        &server,
        "GET",
        TRACKING_PATH,
        502,
        "application/json",
        body.to_string(),
    )
    .await;
    let client = builder(&server).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!((e.status, e.attempts), (502, 3));
    assert_eq!(e.errors[0].code, "InternalFailure");
    assert_eq!(api.requests().len(), 3);
    let text = err.to_string();
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(text.contains("(Retry in a few seconds.)"), "{text}");
}

#[tokio::test]
async fn an_error_body_that_is_not_an_error_list_is_an_api_error_with_its_first_bytes() {
    let server = MockServer::start_async().await;
    // A documented status (500) with a gateway's HTML page.
    Recorder::start(
        &server,
        "GET",
        TRACKING_PATH,
        500,
        "text/html",
        "<html><body>Internal Server Error</body></html>".into(),
    )
    .await;
    // An undocumented status (418) with an empty body.
    Recorder::start(
        &server,
        "POST",
        PURCHASE_PATH,
        418,
        "application/json",
        String::new(),
    )
    .await;
    let client = builder(&server).retry(RetryPolicy::none()).build().unwrap();

    let err = track(&client).await.unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!((e.status, e.request_id.as_deref()), (500, Some("req-500")));
    assert!(e.errors.is_empty());
    assert_eq!(
        e.body_prefix.as_deref(),
        Some("<html><body>Internal Server Error</body></html>")
    );
    assert!(
        err.to_string()
            .contains("the body is not Amazon's error list: \"<html><body>Internal Server Error"),
        "{err}"
    );

    let fixture = support::read_json("tests/fixtures/requests/purchaseShipment.json");
    let err = client
        .purchase_shipment()
        .body(
            serde_json::from_value::<spapi_shipping::types::PurchaseShipmentRequest>(
                fixture["body"].clone(),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let Error::Api(e) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!(e.status, 418);
    assert_eq!(e.body_prefix.as_deref(), Some(""));
    assert!(e.idempotency_key.is_some(), "the purchase's key is kept");
    assert!(err.to_string().ends_with("; empty body"), "{err}");
}

// ---------------------------------------------------------------------------
// Validation modes

/// Runs `call` with a `tracing` subscriber capturing WARN and above; returns
/// the log text.
async fn logged<F: std::future::Future<Output = ()>>(call: F) -> String {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    call.await;
    drop(guard);
    String::from_utf8(logs.0.lock().unwrap().clone()).unwrap()
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

async fn purchase_server() -> (MockServer, Recorder) {
    let server = MockServer::start_async().await;
    let examples = support::read_json("tests/fixtures/responses/purchaseShipment.json");
    let api = Recorder::start(
        &server,
        "POST",
        PURCHASE_PATH,
        200,
        "application/json",
        examples["examples"]["200"].to_string(),
    )
    .await;
    (server, api)
}

#[tokio::test]
async fn enforced_validation_refuses_an_invalid_body_and_sends_nothing() {
    let (server, api) = purchase_server().await;
    let client = builder(&server)
        .validation(Validation::Enforce)
        .build()
        .unwrap();

    let err = client
        .purchase_shipment()
        .body(purchase_with_unknown_format())
        .send()
        .await
        .unwrap_err();
    let Error::InvalidRequest { violations, .. } = &err else {
        panic!("expected InvalidRequest, got {err:?}")
    };
    assert_eq!(violations[0].path, "requestedDocumentSpecification.format");
    assert!(api.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn warn_only_validation_logs_the_violations_and_sends_the_body() {
    let (server, api) = purchase_server().await;
    let client = builder(&server)
        .validation(Validation::Warn)
        .build()
        .unwrap();

    let logs = logged(async {
        client
            .purchase_shipment()
            .body(purchase_with_unknown_format())
            .send()
            .await
            .expect("sent and answered");
    })
    .await;
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("validation: warn"), "{logs}");
    assert!(
        logs.contains("requestedDocumentSpecification.format: \\\"GIF\\\" is not one of")
            || logs.contains("requestedDocumentSpecification.format: \"GIF\" is not one of"),
        "{logs}"
    );
    assert!(logs.contains("purchaseShipment"), "{logs}");
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].json()["requestedDocumentSpecification"]["format"],
        "GIF"
    );
}

#[tokio::test]
async fn validation_off_sends_the_body_as_given_without_a_word() {
    let (server, api) = purchase_server().await;
    let client = builder(&server)
        .validation(Validation::Off)
        .build()
        .unwrap();

    let logs = logged(async {
        client
            .purchase_shipment()
            .body(purchase_with_unknown_format())
            .send()
            .await
            .expect("sent and answered");
    })
    .await;
    assert!(!logs.contains("validation"), "{logs}");
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].json()["requestedDocumentSpecification"]["format"],
        "GIF"
    );
}

#[test]
fn the_validation_mode_comes_from_sp_api_validation() {
    let env = |mode: &'static str| {
        move |name: &str| match name {
            "LWA_APP_ID" => Some("app".to_owned()),
            "LWA_CLIENT_SECRET" | "SP_API_REFRESH_TOKEN" => Some("x".to_owned()),
            "SP_API_REGION" => Some("eu".to_owned()),
            "SP_API_VALIDATION" => Some(mode.to_owned()),
            _ => None,
        }
    };
    assert!(ClientBuilder::from_lookup(env("WARN")).is_ok());
    assert!(ClientBuilder::from_lookup(env("off")).is_ok());
    let err = ClientBuilder::from_lookup(env("lenient")).unwrap_err();
    assert_eq!(err.setting, "SP_API_VALIDATION");
    assert!(err.to_string().contains("enforce, warn or off"), "{err}");
    assert_eq!("Off".parse::<Validation>(), Ok(Validation::Off));
    assert_eq!(Validation::default(), Validation::Enforce);
}

// ---------------------------------------------------------------------------
// Business id by region

/// The business-id header of each request `client` sends with two tracking
/// calls, and the WARN lines logged meanwhile.
async fn business_ids_sent(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (Vec<Option<String>>, String) {
    let server = MockServer::start_async().await;
    let api = Recorder::start(
        &server,
        "GET",
        TRACKING_PATH,
        200,
        "application/json",
        tracking_ok(),
    )
    .await;
    let client = configure(builder(&server)).build().unwrap();
    let logs = logged(async {
        track(&client).await.unwrap();
        track(&client.clone()).await.unwrap();
    })
    .await;
    let ids = api
        .requests()
        .iter()
        .map(|r| r.header("x-amzn-shipping-business-id").map(str::to_owned))
        .collect();
    (ids, logs)
}

#[tokio::test]
async fn north_america_sends_amazon_shipping_us_without_a_configured_business() {
    let (ids, logs) = business_ids_sent(|b| b.region(Region::NorthAmerica)).await;
    let us = Some("AmazonShipping_US".to_owned());
    assert_eq!(ids, [us.clone(), us]);
    assert!(!logs.contains("AmazonShipping_UK"), "{logs}");
}

#[tokio::test]
async fn the_far_east_sends_amazon_shipping_jp_without_a_configured_business() {
    let (ids, logs) = business_ids_sent(|b| b.region(Region::FarEast)).await;
    let jp = Some("AmazonShipping_JP".to_owned());
    assert_eq!(ids, [jp.clone(), jp]);
    assert!(!logs.contains("WARN"), "{logs}");
}

#[tokio::test]
async fn europe_keeps_amazons_default_and_says_so_once_per_client() {
    let (ids, logs) = business_ids_sent(|b| b.region(Region::Europe)).await;
    assert_eq!(ids, [None, None], "no header: Amazon's default applies");
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("AmazonShipping_UK"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "once for two calls of one client: {logs}"
    );
    assert!(warnings[0].contains("WARN"), "{logs}");
    assert!(warnings[0].contains("the eu region"), "{logs}");
}

#[tokio::test]
async fn a_configured_business_and_a_per_call_header_still_win() {
    let (ids, logs) = business_ids_sent(|b| {
        b.region(Region::Europe)
            .business_id(ShippingBusinessId::AmazonShippingIt)
    })
    .await;
    let it = Some("AmazonShipping_IT".to_owned());
    assert_eq!(ids, [it.clone(), it]);
    assert!(!logs.contains("WARN"), "{logs}");

    // A per-call header over the region's default.
    let server = MockServer::start_async().await;
    let api = Recorder::start(
        &server,
        "GET",
        TRACKING_PATH,
        200,
        "application/json",
        tracking_ok(),
    )
    .await;
    let client = builder(&server)
        .region(Region::NorthAmerica)
        .build()
        .unwrap();
    client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .x_amzn_shipping_business_id(ShippingBusinessId::AmazonShippingUk)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.requests()[0].header("x-amzn-shipping-business-id"),
        Some("AmazonShipping_UK")
    );
}
