//! What Amazon's live service really sends and accepts (issue 10), beyond
//! its model: bodies written from public captures and Amazon's own examples,
//! sent through the real client to servers on 127.0.0.1, or decoded with
//! `spapi_shipping::decode::decode`. Each rule is documented in spec/README.md.

mod support;

use httpmock::MockServer;
use serde_json::{Value, json};
use spapi_shipping::decode::decode;
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::{Client, Error, types};

/// A client without retries pointed at `server`.
fn client_for(server: &MockServer) -> Client {
    Client::builder()
        .endpoint(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// A server answering `method path` with 200 and `body`.
async fn answering(method: httpmock::Method, path: &str, body: &Value) -> MockServer {
    let server = MockServer::start_async().await;
    let body = body.clone();
    let path = path.to_owned();
    server
        .mock_async(move |when, then| {
            when.method(method).path(path);
            then.status(200)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await;
    server
}

/// Decodes `body` as `operation`'s 200 response; the re-encoded value.
fn decode_ok(operation: &str, body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).unwrap();
    match decode(operation, 200, &bytes).expect("a documented JSON response") {
        Ok(value) => value,
        Err(e) => panic!("{operation}: does not decode: {e}"),
    }
}

/// The JSON path and message of a body that must not decode.
fn decode_err(operation: &str, body: &Value) -> (String, String) {
    let bytes = serde_json::to_vec(body).unwrap();
    let err = decode(operation, 200, &bytes)
        .expect("a documented JSON response")
        .expect_err("must not decode");
    (err.path, err.message)
}

// ---------------------------------------------------------------------------
// Nulls (amzn/selling-partner-api-models#4923, production getTracking)

/// The body of #4923, as Amazon sent it (the tracking id elided there).
fn tracking_with_nulls() -> Value {
    json!({"payload": {
        "alternateLegTrackingId": null,
        "eventHistory": [],
        "promisedDeliveryDate": null,
        "summary": {
            "proofOfDelivery": null,
            "status": null,
            "trackingDetailCodes": {"forward": [], "returns": []}
        },
        "trackingId": "TBA123456789000"
    }})
}

#[tokio::test]
async fn get_tracking_with_the_nulls_of_4923_decodes_through_the_client() {
    let server = answering(
        httpmock::Method::GET,
        "/shipping/v2/tracking",
        &tracking_with_nulls(),
    )
    .await;
    let tracking = client_for(&server)
        .get_tracking()
        .tracking_id("TBA123456789000")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .expect("the production body decodes")
        .into_inner()
        .payload
        .expect("a payload");
    assert_eq!(tracking.tracking_id.as_str(), "TBA123456789000");
    assert_eq!(tracking.alternate_leg_tracking_id, None);
    assert_eq!(tracking.promised_delivery_date, None);
    assert_eq!(tracking.summary.status, None);
    assert!(tracking.event_history.is_empty());
    let codes = tracking.summary.tracking_detail_codes.expect("codes");
    assert!(codes.forward.is_empty() && codes.returns.is_empty());
}

#[test]
fn get_tracking_nulls_re_encode_as_absent_and_undocumented_fields_are_dropped() {
    let value = decode_ok("get_tracking", &tracking_with_nulls());
    assert_eq!(
        value,
        json!({"payload": {
            "eventHistory": [],
            "summary": {"trackingDetailCodes": {"forward": [], "returns": []}},
            "trackingId": "TBA123456789000"
        }})
    );
}

#[tokio::test]
async fn a_null_where_the_model_requires_a_value_is_still_undecodable_with_its_path() {
    let mut body = tracking_with_nulls();
    body["payload"]["trackingId"] = Value::Null;
    let server = answering(httpmock::Method::GET, "/shipping/v2/tracking", &body).await;
    let err = client_for(&server)
        .get_tracking()
        .tracking_id("T")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .map_err(Error::from)
        .expect_err("trackingId null is not accepted");
    let Error::Undecodable(u) = &err else {
        panic!("expected Undecodable, got {err:?}");
    };
    assert!(
        u.reason.starts_with("payload.trackingId:"),
        "reason names the path: {}",
        u.reason
    );
    assert_eq!(u.operation.as_deref(), Some("getTracking"));
    assert_eq!(decode_err("get_tracking", &body).0, "payload.trackingId");
}

// ---------------------------------------------------------------------------
// Addresses without stateOrRegion (saleweaver/python-amazon-sp-api#1528)

/// A UK address as PR #1528 sent it: no `stateOrRegion`, `countryCode: "UK"`.
fn uk_address(name: &str) -> Value {
    json!({
        "name": name,
        "addressLine1": "10 Downing Street",
        "city": "London",
        "postalCode": "SW1A 2AA",
        "countryCode": "UK",
        "phoneNumber": "+441234567890"
    })
}

fn rates_request_without_state_or_region() -> Value {
    json!({
        "shipFrom": uk_address("Warehouse"),
        "shipTo": uk_address("Customer"),
        "packages": [{
            "dimensions": {"length": 10, "width": 10, "height": 10, "unit": "CENTIMETER"},
            "weight": {"value": 1, "unit": "KILOGRAM"},
            "insuredValue": {"value": 10, "unit": "GBP"},
            "packageClientReferenceId": "parcel-1",
            "items": [{"quantity": 1, "description": "Book"}]
        }],
        "channelDetails": {"channelType": "EXTERNAL"}
    })
}

#[tokio::test]
async fn get_rates_without_state_or_region_is_sent_as_written() {
    let answer = json!({"payload": {"requestToken": "token", "rates": []}});
    let server = support::Recorder::start(200, Some(&answer)).await;
    let body: types::GetRatesRequest =
        serde_json::from_value(rates_request_without_state_or_region())
            .expect("an address without stateOrRegion fits the type");
    assert_eq!(body.ship_to.as_ref().unwrap().state_or_region, None);
    let client = Client::builder()
        .endpoint(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let rates = client
        .get_rates()
        .body(body)
        .send()
        .await
        .expect("the validator lets the body through and the server answers");
    assert_eq!(
        rates.into_inner().payload.unwrap().request_token.as_str(),
        "token"
    );
    let seen = server.only_request();
    assert_eq!(seen.path, "/shipping/v2/shipments/rates");
    let wire: Value = serde_json::from_slice(&seen.body).unwrap();
    // The wire body is the one written (numbers compare by value): no
    // `stateOrRegion` is invented and "UK" is kept.
    if let Some(d) = support::json_diff(&rates_request_without_state_or_region(), &wire) {
        panic!("wire body differs {d}");
    }
    assert!(wire["shipTo"].get("stateOrRegion").is_none());
    assert_eq!(wire["shipFrom"]["countryCode"], "UK");
}

#[test]
fn the_request_validator_accepts_an_address_without_state_or_region() {
    let body = rates_request_without_state_or_region();
    let violations = spapi_shipping::validate::check_request("getRates", Some(&body), &[], &[]);
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test]
async fn the_sandbox_rates_and_buys_a_label_for_addresses_without_state_or_region() {
    let sandbox = spapi_shipping::mock::Sandbox::start().await;
    let client = sandbox.client();
    let mut request = rates_request_without_state_or_region();
    for side in ["shipFrom", "shipTo"] {
        request[side]["countryCode"] = json!("GB");
    }
    let rates = client
        .get_rates()
        .body(serde_json::from_value::<types::GetRatesRequest>(request.clone()).unwrap())
        .send()
        .await
        .expect("the sandbox rates it")
        .into_inner()
        .payload
        .unwrap();
    assert!(!rates.rates.is_empty());

    let rate = &rates.rates[0];
    let one_click = json!({
        "shipFrom": request["shipFrom"],
        "shipTo": request["shipTo"],
        "packages": request["packages"],
        "channelDetails": request["channelDetails"],
        "serviceSelection": {"serviceId": [rate.service_id.as_str()]},
        "labelSpecifications": {
            "format": "PNG",
            "size": {"width": 4, "length": 6, "unit": "INCH"},
            "dpi": 203,
            "pageLayout": "DEFAULT",
            "needFileJoining": false,
            "requestedDocumentTypes": ["LABEL"]
        }
    });
    let bought = client
        .one_click_shipment()
        .body(serde_json::from_value::<types::OneClickShipmentRequest>(one_click).unwrap())
        .send()
        .await
        .expect("the sandbox sells a label")
        .into_inner()
        .payload
        .unwrap();
    assert!(!bought.package_document_details.is_empty());
}
