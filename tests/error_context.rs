//! What a failed call's `spapi_shipping::Error` knows, for each kind of
//! failure: the operation, the attempts made and the idempotency key, carried
//! from the runtime by the call's own state (no private headers, no URL
//! fragment, no JSON in progenitor's `Error::Custom`); and that nothing the
//! runtime used to stamp on responses reaches the caller.

mod support;

use std::time::Duration;

use httpmock::MockServer;
use serde_json::{Value, json};
use spapi_shipping::auth::{LwaCredentials, Secret};
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::types::PurchaseShipmentRequest;
use spapi_shipping::{Client, ClientBuilder, Error, GeneratedError};

const PURCHASE_PATH: &str = "/shipping/v2/shipments";
const TRACKING_PATH: &str = "/shipping/v2/tracking";
const KEY: &str = "order-4711";

fn retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(2))
}

/// A client without credentials (no LWA involved) for `endpoint`.
fn builder(endpoint: String) -> ClientBuilder {
    Client::builder().endpoint(endpoint).retry(retries())
}

fn purchase_body() -> PurchaseShipmentRequest {
    let fixture = support::read_json("tests/fixtures/requests/purchaseShipment.json");
    serde_json::from_value(fixture["body"].clone()).unwrap()
}

async fn buy(client: &Client) -> Result<(), Error> {
    client
        .purchase_shipment()
        .body(purchase_body())
        .x_amzn_idempotency_key(KEY)
        .send()
        .await
        .map(drop)
}

/// A server answering every purchase with `status` and `body`.
async fn purchase_answering(status: u16, body: &str) -> MockServer {
    let server = MockServer::start_async().await;
    let body = body.to_owned();
    server
        .mock_async(move |when, then| {
            when.method("POST").path(PURCHASE_PATH);
            then.status(status)
                .header("content-type", "application/json")
                .header("x-amzn-RequestId", "req-1")
                .body(body);
        })
        .await;
    server
}

fn errors_body() -> String {
    json!({"errors": [{"code": "InternalFailure", "message": "try again"}]}).to_string()
}

fn assert_context(err: &Error, operation: &str, attempts: Option<u32>, key: Option<&str>) {
    let named = match err {
        Error::Api(e) | Error::RateLimited(e) => e.operation.as_deref(),
        Error::Undecodable(u) => u.operation.as_deref(),
        Error::Timeout { operation, .. }
        | Error::Transport { operation, .. }
        | Error::InvalidRequest { operation, .. }
        | Error::Redirect { operation, .. }
        | Error::Auth { operation, .. } => operation.as_deref(),
        other => panic!("no operation in {other:?}"),
    };
    assert_eq!(named, Some(operation), "{err:?}");
    assert_eq!(err.attempts(), attempts, "{err:?}");
    assert_eq!(err.idempotency_key(), key, "{err:?}");
    assert!(err.to_string().contains(operation), "{err}");
}

#[tokio::test]
async fn an_api_error_after_retries_names_operation_attempts_and_key() {
    let server = purchase_answering(500, &errors_body()).await;
    let client = builder(server.base_url()).build().unwrap();
    let err = buy(&client).await.unwrap_err();
    assert!(matches!(&err, Error::Api(e) if e.status == 500), "{err:?}");
    assert_context(&err, "purchaseShipment", Some(3), Some(KEY));
    assert_eq!(err.request_id(), Some("req-1"));
}

#[tokio::test]
async fn a_rate_limited_call_names_operation_attempts_and_key() {
    let server = purchase_answering(429, &errors_body()).await;
    let client = builder(server.base_url()).build().unwrap();
    let err = buy(&client).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited(_)), "{err:?}");
    assert_context(&err, "purchaseShipment", Some(3), Some(KEY));
}

#[tokio::test]
async fn a_timeout_keeps_its_source_and_context() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path(PURCHASE_PATH);
            then.status(200).delay(Duration::from_secs(2)).body("{}");
        })
        .await;
    let client = builder(server.base_url())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = buy(&client).await.unwrap_err();
    let Error::Timeout { source, .. } = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert!(source.is_timeout(), "{source:?}");
    let chained = std::error::Error::source(&err).expect("a timeout has a source");
    assert!(
        chained
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
    );
    // A keyed purchase is retried on a timeout, with the same key.
    assert_context(&err, "purchaseShipment", Some(3), Some(KEY));
}

#[tokio::test]
async fn a_refused_connection_names_operation_attempts_and_key() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = builder(format!("http://127.0.0.1:{port}")).build().unwrap();
    let err = buy(&client).await.unwrap_err();
    let Error::Transport { source, .. } = &err else {
        panic!("expected a transport error, got {err:?}")
    };
    assert!(source.is_connect(), "{source:?}");
    assert!(
        source.url().is_none_or(|u| u.fragment().is_none()),
        "{source:?}"
    );
    assert_context(&err, "purchaseShipment", Some(3), Some(KEY));
}

#[tokio::test]
async fn an_undecodable_answer_names_operation_and_key() {
    let server = purchase_answering(200, r#"{"payload": 5}"#).await;
    let client = builder(server.base_url()).build().unwrap();
    let err = buy(&client).await.unwrap_err();
    let Error::Undecodable(u) = &err else {
        panic!("expected Undecodable, got {err:?}")
    };
    assert_eq!(u.status, Some(200));
    assert_eq!(u.request_id.as_deref(), Some("req-1"));
    assert_context(&err, "purchaseShipment", None, Some(KEY));
}

#[tokio::test]
async fn an_invalid_request_names_its_operation_and_sends_nothing() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let client = builder(server.base_url()).build().unwrap();
    let err = client
        .cancel_shipment()
        .shipment_id("..")
        .send()
        .await
        .unwrap_err();
    let Error::InvalidRequest { violations, .. } = &err else {
        panic!("expected InvalidRequest, got {err:?}")
    };
    assert_eq!(violations[0].path, "shipmentId");
    assert_context(&err, "cancelShipment", None, None);
    any.assert_calls_async(0).await;
}

/// Issue 12: the query checks compiled at build time still catch what the
/// types allow (a required list left empty), and the query progenitor's
/// builder now writes onto the URL is sent as before, without `api-version`.
#[tokio::test]
async fn an_empty_required_list_is_refused_and_a_full_one_sent_as_one_pair() {
    let server = MockServer::start_async().await;
    let points = server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/shipping/v2/accessPoints")
                .query_param("accessPointTypes", "HELIX,CORE_LOCKER")
                .query_param("countryCode", "GB")
                .query_param("postalCode", "EX33 2JL")
                .header_missing("api-version");
            then.status(200)
                .header("content-type", "application/json")
                .body(r#"{"payload":{"accessPointsMap":{}}}"#);
        })
        .await;
    let client = builder(server.base_url()).build().unwrap();
    let call = |kinds: Vec<spapi_shipping::types::GetAccessPointsAccessPointTypesItem>| {
        client
            .get_access_points()
            .access_point_types(kinds)
            .country_code("GB")
            .postal_code("EX33 2JL")
            .send()
    };
    let err = call(vec![]).await.unwrap_err();
    let Error::InvalidRequest { violations, .. } = &err else {
        panic!("expected InvalidRequest, got {err:?}")
    };
    assert_eq!(
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["accessPointTypes: required parameter missing"]
    );
    assert_context(&err, "getAccessPoints", None, None);
    points.assert_calls_async(0).await;
    use spapi_shipping::types::GetAccessPointsAccessPointTypesItem as Kind;
    call(vec![Kind::Helix, Kind::CoreLocker]).await.unwrap();
    points.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_redirect_names_its_operation() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(302)
                .header("location", "https://elsewhere.example/");
        })
        .await;
    let client = builder(server.base_url()).build().unwrap();
    let err = client
        .get_tracking()
        .tracking_id("T1")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Redirect { status: 302, location: Some(l), .. } if l == "https://elsewhere.example/"),
        "{err:?}"
    );
    assert_context(&err, "getTracking", None, None);
}

#[tokio::test]
async fn a_refused_token_is_an_auth_error_and_nothing_reaches_the_api() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/auth/o2/token");
            then.status(400)
                .header("content-type", "application/json")
                .body(r#"{"error": "invalid_grant", "error_description": "bad refresh token"}"#);
        })
        .await;
    let api = server
        .mock_async(|when, then| {
            when.method("POST").path(PURCHASE_PATH);
            then.status(200);
        })
        .await;
    let client = builder(server.base_url())
        .token_url(server.url("/auth/o2/token"))
        .credentials(LwaCredentials::new(
            "amzn1.application-oa2-client.1",
            Secret::new("secret"),
            Secret::new("Atzr|refresh"),
        ))
        .build()
        .unwrap();
    let err = buy(&client).await.unwrap_err();
    let Error::Auth { source, .. } = &err else {
        panic!("expected an auth error, got {err:?}")
    };
    assert!(source.to_string().contains("invalid_grant"), "{source}");
    assert_context(&err, "purchaseShipment", None, None);
    api.assert_calls_async(0).await;
}

/// Every response the caller gets (success, documented error, undocumented
/// status; through `send` and the raw `send_raw`) carries only the server's
/// headers: the runtime stamps none of its own.
#[tokio::test]
async fn no_response_handed_back_carries_a_private_header() {
    let server = MockServer::start_async().await;
    let tracking: Value =
        support::read_json("tests/fixtures/responses/getTracking.json")["examples"]["200"].clone();
    server
        .mock_async(move |when, then| {
            when.method("GET").path(TRACKING_PATH);
            then.status(200)
                .header("content-type", "application/json")
                .body(tracking.to_string());
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("POST").path(PURCHASE_PATH);
            then.status(400)
                .header("content-type", "application/json")
                .body(errors_body());
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("PUT").path("/shipping/v2/shipments/S-1/cancel");
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    let client = builder(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let private = |headers: &reqwest::header::HeaderMap| -> Vec<String> {
        headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.starts_with("x-spapi-shipping-"))
            .collect()
    };

    let track = || {
        client
            .get_tracking()
            .tracking_id("T1")
            .carrier_id("AMZN_UK")
    };
    let ok = track().send().await.unwrap();
    assert_eq!(private(ok.headers()), Vec::<String>::new());
    let raw_ok = track().send_raw().await.unwrap();
    assert_eq!(private(raw_ok.headers()), Vec::<String>::new());
    assert!(raw_ok.headers().contains_key("content-type"));

    let raw_err = client
        .purchase_shipment()
        .body(purchase_body())
        .send_raw()
        .await
        .unwrap_err();
    let GeneratedError::ErrorResponse(listed) = raw_err else {
        panic!("expected the error list, got {raw_err:?}")
    };
    assert_eq!(listed.status(), 400);
    assert_eq!(private(listed.headers()), Vec::<String>::new());

    let raw_unlisted = client
        .cancel_shipment()
        .shipment_id("S-1")
        .send_raw()
        .await
        .unwrap_err();
    let GeneratedError::UnexpectedResponse(response) = raw_unlisted else {
        panic!("expected the undocumented answer, got {raw_unlisted:?}")
    };
    assert_eq!(response.status(), 502);
    assert_eq!(private(response.headers()), Vec::<String>::new());
}

/// The raw layer runs through the same runtime; a failure the runtime finds
/// reaches it as a readable message, not JSON.
#[tokio::test]
async fn the_raw_layer_reports_runtime_failures_as_text() {
    let server = purchase_answering(200, r#"{"payload": 5}"#).await;
    let client = builder(server.base_url()).build().unwrap();
    let err = client
        .purchase_shipment()
        .body(purchase_body())
        .send_raw()
        .await
        .unwrap_err();
    let GeneratedError::Custom(message) = err else {
        panic!("expected the runtime's failure, got {err:?}")
    };
    assert!(
        message.starts_with("undecodable response in purchaseShipment, HTTP 200"),
        "{message}"
    );
    assert!(
        !message.contains('{') || message.contains("body starts"),
        "{message}"
    );
}
