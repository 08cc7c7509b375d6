//! Raw JSON request bodies (issue 18, item 6): a builder's `body_json` sends
//! the JSON exactly as given, through the same runtime as a typed call
//! (auth, business id, idempotency key, retries), checked as written by
//! `Validation::Enforce`, logged by `Warn`, sent unchecked by `Off`.
//! Against a loopback server that records every request's body and headers.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, MockServer};
use serde_json::{Value, json};
use spapi_shipping::auth::{LwaCredentials, Secret};
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::types::ShippingBusinessId;
use spapi_shipping::{Client, ClientBuilder, Error, Validation};

const ACCESS_TOKEN: &str = "Atza|raw-body-access-token";
const RATES_PATH: &str = "/shipping/v2/shipments/rates";
const PURCHASE_PATH: &str = "/shipping/v2/shipments";

/// The getRates body Amazon's production accepted (issue 18): the request
/// fixture with an empty `shipTo.phoneNumber` (the model says `minLength:
/// 1`), explicit `null`s for optional fields, and two fields getRates does
/// not define.
fn accepted_rates_body() -> Value {
    let mut body = support::read_json("tests/fixtures/requests/getRates.json")["body"].clone();
    body["shipTo"]["phoneNumber"] = json!("");
    body["shipTo"]["addressLine3"] = Value::Null;
    body["shipFrom"]["email"] = Value::Null;
    body["returnTo"] = Value::Null;
    body["destinationAccessPointDetails"] = Value::Null;
    body["labelSpecifications"] = json!({
        "format": "PNG",
        "size": { "width": 4, "length": 6, "unit": "INCH" },
        "dpi": 300,
        "pageLayout": "DEFAULT",
        "needFileJoining": false,
        "requestedDocumentTypes": ["LABEL"]
    });
    body["serviceSelection"] = json!({ "serviceId": ["SWA-IN-OA"] });
    body
}

/// What `Enforce` says about [`accepted_rates_body`], in document order.
const RATES_VIOLATIONS: [&str; 3] = [
    "shipTo.phoneNumber: shorter than 1 characters (0)",
    "labelSpecifications: unknown field",
    "serviceSelection: unknown field",
];

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Received {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// LWA and one API path on `server`; the path answers `statuses` in turn
/// (the last repeats) with the operation's example, recording each request.
async fn serve(
    server: &MockServer,
    path: &'static str,
    op: &'static str,
    statuses: &'static [u16],
) -> Arc<Mutex<Vec<Received>>> {
    server
        .mock_async(|when, then| {
            when.method("POST").path("/auth/o2/token");
            then.status(200).json_body(json!({
                "access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600
            }));
        })
        .await;
    let examples =
        support::read_json(&format!("tests/fixtures/responses/{op}.json"))["examples"].clone();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    server
        .mock_async(move |when, then| {
            when.method("POST").path(path);
            then.respond_with(move |req: &HttpMockRequest| {
                let mut seen = seen.lock().unwrap();
                seen.push(Received {
                    body: req.body().to_vec(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                });
                let status = statuses[(seen.len() - 1).min(statuses.len() - 1)];
                let body = &examples[status.to_string()];
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .header("x-amzn-RequestId", format!("req-{}", seen.len()))
                    .body(body.to_string())
                    .unwrap()
                    .into()
            });
        })
        .await;
    log
}

fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .endpoint(server.base_url())
        .token_url(server.url("/auth/o2/token"))
        .credentials(LwaCredentials::new(
            "amzn1.application-oa2-client.raw",
            Secret::new("raw-body-client-secret"),
            Secret::new("Atzr|raw-body-refresh"),
        ))
        .business_id(ShippingBusinessId::AmazonShippingIn)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5))
                .with_max_elapsed(Duration::from_secs(10)),
        )
}

#[tokio::test]
async fn validation_off_sends_the_json_exactly_as_given_with_auth_and_business_id() {
    let server = MockServer::start_async().await;
    let received = serve(&server, RATES_PATH, "getRates", &[200]).await;
    let client = builder(&server)
        .validation(Validation::Off)
        .build()
        .unwrap();
    let body = accepted_rates_body();

    let response = client
        .get_rates()
        .body_json(body.clone())
        .send()
        .await
        .expect("sent as given and answered 200");

    let expected: Value = support::read_json("tests/fixtures/responses/getRates.json")["examples"]
        ["200"]["payload"]["requestToken"]
        .clone();
    assert_eq!(
        serde_json::to_value(&response.payload).unwrap()["requestToken"],
        expected
    );
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1);
    let sent = received[0].json();
    assert_eq!(sent, body, "the body arrives exactly as given");
    assert_eq!(sent["shipTo"]["phoneNumber"], "");
    assert_eq!(sent["returnTo"], Value::Null);
    assert_eq!(sent["shipTo"]["addressLine3"], Value::Null);
    assert_eq!(sent["serviceSelection"]["serviceId"][0], "SWA-IN-OA");
    assert_eq!(sent["labelSpecifications"]["format"], "PNG");
    // serde_json keeps key order (`preserve_order`): the same bytes as the
    // value serialized.
    assert_eq!(received[0].body, serde_json::to_vec(&body).unwrap());
    assert_eq!(received[0].header("x-amz-access-token"), Some(ACCESS_TOKEN));
    assert_eq!(
        received[0].header("x-amzn-shipping-business-id"),
        Some("AmazonShipping_IN")
    );
    assert_eq!(received[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn enforce_refuses_the_same_json_with_its_field_paths_and_sends_nothing() {
    let server = MockServer::start_async().await;
    let received = serve(&server, RATES_PATH, "getRates", &[200]).await;
    let client = builder(&server).build().unwrap();

    let err = client
        .get_rates()
        .body_json(accepted_rates_body())
        .send()
        .await
        .expect_err("the default validation refuses it");

    let Error::InvalidRequest {
        operation,
        violations,
        ..
    } = &err
    else {
        panic!("expected InvalidRequest, got {err:?}");
    };
    assert_eq!(operation.as_deref(), Some("getRates"));
    let found: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(found, RATES_VIOLATIONS);
    for violation in RATES_VIOLATIONS {
        assert!(err.to_string().contains(violation), "{err}");
    }
    assert!(received.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn warn_logs_the_field_paths_and_sends_the_json_as_given() {
    let server = MockServer::start_async().await;
    let received = serve(&server, RATES_PATH, "getRates", &[200]).await;
    let client = builder(&server)
        .validation(Validation::Warn)
        .build()
        .unwrap();
    let body = accepted_rates_body();

    let logs = support::LogCapture::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    client
        .get_rates()
        .body_json(body.clone())
        .send()
        .await
        .expect("sent anyway");

    assert_eq!(received.lock().unwrap()[0].json(), body);
    let logs = logs.text();
    assert!(logs.contains("validation: warn"), "{logs}");
    for violation in RATES_VIOLATIONS {
        assert!(logs.contains(violation), "{violation} in {logs}");
    }
}

#[tokio::test]
async fn a_raw_purchase_keeps_one_idempotency_key_across_a_retry_after_a_503() {
    let server = MockServer::start_async().await;
    let received = serve(&server, PURCHASE_PATH, "purchaseShipment", &[503, 200]).await;
    let client = builder(&server)
        .validation(Validation::Off)
        .build()
        .unwrap();
    let mut body =
        support::read_json("tests/fixtures/requests/purchaseShipment.json")["body"].clone();
    body["requestedDocumentSpecification"]["dpi"] = Value::Null;
    body["labelNote"] = json!("a field the model does not have");

    let response = client
        .purchase_shipment()
        .body_json(body.clone())
        .send()
        .await
        .expect("retried after the 503, then bought");
    assert!(
        !serde_json::to_value(&response.payload).unwrap()["shipmentId"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2, "the 503, then the retry");
    let keys: Vec<Option<&str>> = received
        .iter()
        .map(|r| r.header("x-amzn-idempotencykey"))
        .collect();
    let key = keys[0].expect("the first attempt carries a key");
    assert_eq!(key.len(), 36, "a UUID: {key}");
    assert_eq!(keys[1], Some(key), "the retry carries the same key");
    for request in received.iter() {
        assert_eq!(request.json(), body);
        assert_eq!(request.header("x-amz-access-token"), Some(ACCESS_TOKEN));
        assert_eq!(
            request.header("x-amzn-shipping-business-id"),
            Some("AmazonShipping_IN")
        );
    }
}

#[tokio::test]
async fn the_last_of_body_and_body_json_decides() {
    let server = MockServer::start_async().await;
    let received = serve(&server, RATES_PATH, "getRates", &[200]).await;
    let client = builder(&server)
        .validation(Validation::Off)
        .build()
        .unwrap();
    let typed: spapi_shipping::types::GetRatesRequest = serde_json::from_value(
        support::read_json("tests/fixtures/requests/getRates.json")["body"].clone(),
    )
    .unwrap();
    let raw = accepted_rates_body();

    client
        .get_rates()
        .body(typed.clone())
        .body_json(raw.clone())
        .send()
        .await
        .unwrap();
    client
        .get_rates()
        .body_json(raw.clone())
        .body(typed.clone())
        .send()
        .await
        .unwrap();

    let received = received.lock().unwrap();
    assert_eq!(received[0].json(), raw);
    assert_eq!(received[1].json(), serde_json::to_value(&typed).unwrap());
    assert_eq!(
        received[1].json()["shipTo"]["phoneNumber"],
        "+91 98450 12345"
    );
    assert!(received[1].json().get("labelSpecifications").is_none());
}
