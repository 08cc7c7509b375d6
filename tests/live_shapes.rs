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

/// Decodes `body` with corrections: the re-encoded value and the corrected
/// paths.
fn corrected(operation: &str, body: &Value) -> (Value, Vec<String>) {
    let bytes = serde_json::to_vec(body).unwrap();
    let (value, found) = spapi_shipping::decode::decode_corrected(operation, 200, &bytes)
        .expect("a documented JSON response")
        .unwrap_or_else(|e| panic!("{operation}: does not decode: {e}"));
    (value, found.into_iter().map(|c| c.path).collect())
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
    assert_eq!(tracking.tracking_id.as_deref().unwrap(), "TBA123456789000");
    assert_eq!(tracking.alternate_leg_tracking_id, None);
    assert_eq!(tracking.promised_delivery_date, None);
    assert_eq!(tracking.summary.as_ref().unwrap().status, None);
    assert!(tracking.event_history.is_empty());
    let codes = tracking
        .summary
        .clone()
        .unwrap()
        .tracking_detail_codes
        .expect("codes");
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
async fn a_null_where_the_model_requires_a_value_is_corrected_and_reported() {
    // Client error correction (issue 18): the call does not fail; the id is
    // `None` (a zero would lie) and the response names the path.
    let mut body = tracking_with_nulls();
    body["payload"]["trackingId"] = Value::Null;
    let server = answering(httpmock::Method::GET, "/shipping/v2/tracking", &body).await;
    let response = client_for(&server)
        .get_tracking()
        .tracking_id("T")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .expect("a null trackingId is corrected");
    let paths: Vec<String> = response
        .corrections()
        .iter()
        .map(ToString::to_string)
        .collect();
    // #4923's own two nulls (once spec fix L1, now the rule) and this one.
    assert_eq!(
        paths,
        [
            "payload.trackingId: required but null",
            "payload.alternateLegTrackingId: required but null",
            "payload.promisedDeliveryDate: required but null",
        ]
    );
    assert_eq!(response.into_inner().payload.unwrap().tracking_id, None);

    // A value of the wrong type is still undecodable, with its path.
    body["payload"]["eventHistory"] = json!("yesterday");
    let server = answering(httpmock::Method::GET, "/shipping/v2/tracking", &body).await;
    let err = client_for(&server)
        .get_tracking()
        .tracking_id("T")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .expect_err("eventHistory must be a list");
    let Error::Undecodable(u) = &err else {
        panic!("expected Undecodable, got {err:?}");
    };
    assert!(
        u.reason.starts_with("payload.eventHistory:"),
        "reason names the path: {}",
        u.reason
    );
    assert_eq!(u.operation.as_deref(), Some("getTracking"));
    assert_eq!(decode_err("get_tracking", &body).0, "payload.eventHistory");
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
        rates
            .into_inner()
            .payload
            .unwrap()
            .request_token
            .as_deref()
            .unwrap(),
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
    let request = rates_request_without_state_or_region();
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
        "serviceSelection": {"serviceId": [rate.service_id.as_deref().unwrap()]},
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

// ---------------------------------------------------------------------------
// Epoch milliseconds where the spec says `format: dateTime` (Amazon's own
// getCollectionFormHistory and getUnmanifestedShipments examples)

fn collection_form_history(creation_date: Value, status: &str) -> Value {
    json!({
        "collectionFormsHistoryRecordList": [{
            "carrierName": "USPS",
            "creationDate": creation_date,
            "generationStatus": status,
            "collectionFormId": "2c631e32-2538-3431-889e-008b6f5a6f11"
        }],
        "lastRefreshedDate": "April 17 2022 06:20 PM PDT"
    })
}

#[tokio::test]
async fn collection_form_history_with_epoch_millis_and_completed_decodes_through_the_client() {
    let server = answering(
        httpmock::Method::PUT,
        "/shipping/v2/collectionForms/history",
        &collection_form_history(json!(1_650_163_712_052u64), "COMPLETED"),
    )
    .await;
    let history = client_for(&server)
        .get_collection_form_history()
        .body(types::GetCollectionFormHistoryRequest::default())
        .send()
        .await
        .expect("Amazon's example shape decodes")
        .into_inner();
    let record = &history
        .collection_forms_history_record_list
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        record.creation_date.as_deref(),
        Some("2022-04-17T02:48:32.052Z")
    );
    assert_eq!(
        record.generation_status,
        Some(types::GenerationStatus::Completed)
    );
    assert_eq!(
        history.last_refreshed_date.as_deref(),
        Some("April 17 2022 06:20 PM PDT")
    );
}

#[test]
fn date_time_strings_accept_epoch_millis_and_keep_everything_else() {
    let creation = |value: Value| {
        let body = collection_form_history(value, "InProgress");
        decode_ok("get_collection_form_history", &body)["collectionFormsHistoryRecordList"][0]
            ["creationDate"]
            .clone()
    };
    assert_eq!(
        creation(json!(1_650_163_712_052u64)),
        "2022-04-17T02:48:32.052Z"
    );
    // Written as a float, the same instant.
    assert_eq!(
        creation(json!(1.650_163_712_052e12)),
        "2022-04-17T02:48:32.052Z"
    );
    // Not milliseconds between 2000 and 2100 (seconds, say): kept, not guessed.
    assert_eq!(creation(json!(1_693_267_200)), "1693267200");
    assert_eq!(creation(json!(1.6932672e9)), "1693267200");
    // Strings are kept as sent, RFC 3339 or not; an offset becomes `Z`, the
    // same instant, as it is sent.
    assert_eq!(creation(json!("1.6932672E9")), "1.6932672E9");
    assert_eq!(
        creation(json!("2022-04-17T04:48:32.052+02:00")),
        "2022-04-17T02:48:32.052Z"
    );
    assert_eq!(
        creation(json!("April 17 2022 06:20 PM PDT")),
        "April 17 2022 06:20 PM PDT"
    );
    assert_eq!(
        creation(json!("2022-04-17T02:48:32.052Z")),
        "2022-04-17T02:48:32.052Z"
    );
    assert_eq!(creation(Value::Null), Value::Null);

    let unmanifested = json!({"unmanifestedCarrierInformationList": [{
        "carrierId": "USPS",
        "unmanifestedShipmentLocationList": [{"lastManifestDate": 1_650_163_712_052u64}]
    }]});
    let value = decode_ok("get_unmanifested_shipments", &unmanifested);
    assert_eq!(
        value["unmanifestedCarrierInformationList"][0]["unmanifestedShipmentLocationList"][0]["lastManifestDate"],
        "2022-04-17T02:48:32.052Z"
    );

    let status = |s: &str| {
        let body = collection_form_history(json!("x"), s);
        decode_ok("get_collection_form_history", &body)["collectionFormsHistoryRecordList"][0]
            ["generationStatus"]
            .clone()
    };
    assert_eq!(status("COMPLETED"), "Completed");
    assert_eq!(status("IN_PROGRESS"), "InProgress");
    assert_eq!(status("Completed"), "Completed");
    // Any other value is still kept verbatim (open enum).
    assert_eq!(status("QUEUED"), "QUEUED");
    // `str::parse` reads what JSON reads.
    use spapi_shipping::types::GenerationStatus;
    assert_eq!(
        "COMPLETED".parse::<GenerationStatus>().unwrap(),
        GenerationStatus::Completed
    );
    assert_eq!(
        GenerationStatus::try_from("IN_PROGRESS").unwrap(),
        GenerationStatus::InProgress
    );
    assert_eq!(
        "QUEUED".parse::<GenerationStatus>().unwrap(),
        GenerationStatus::Unknown("QUEUED".into())
    );
}

#[test]
fn a_date_time_of_the_wrong_type_is_undecodable_with_its_path() {
    for wrong in [json!(true), json!({"ms": 1}), json!([1])] {
        let body = collection_form_history(wrong.clone(), "Completed");
        let (path, message) = decode_err("get_collection_form_history", &body);
        assert_eq!(
            path, "collectionFormsHistoryRecordList[0].creationDate",
            "{wrong}"
        );
        assert!(
            message.contains("a date-time string or epoch milliseconds"),
            "{message}"
        );
    }
}

// ---------------------------------------------------------------------------
// getAccessPoints: the model's shape and Amazon's example's shape

/// One access point as Amazon's example writes it: `address` as
/// `{addressObject: {..., zipOrPostalCode}, geocode}`, numbers as strings.
fn example_access_point(id: &str) -> Value {
    json!({
        "accessPointId": id,
        "name": "Amazon Hub Counter - Co-op Braunton",
        "timezone": "Europe/London",
        "type": "HELIX",
        "accessibilityAttributes": {"distance": "21.200000762939453", "driveTime": "0.0"},
        "address": {
            "addressObject": {
                "addressLine1": "Exeter Road",
                "city": "Braunton",
                "countryCode": "GB",
                "zipOrPostalCode": "EX33 2JL"
            },
            "geocode": {"latitude": "51.1076671", "longitude": "-4.1607301"}
        },
        "assistanceType": "STAFF_ASSISTED",
        "score": "0.6688068509101868"
    })
}

/// The same access point in the model's shape.
fn model_access_point(id: &str) -> Value {
    json!({
        "accessPointId": id,
        "name": "Amazon Hub Counter - Co-op Braunton",
        "timezone": "Europe/London",
        "type": "HELIX",
        "accessibilityAttributes": {"distance": "21.200000762939453", "driveTime": 0},
        "address": {
            "name": "Amazon Hub Counter - Co-op Braunton",
            "addressLine1": "Exeter Road",
            "city": "Braunton",
            "countryCode": "GB",
            "postalCode": "EX33 2JL",
            "geocode": {"latitude": "51.1076671", "longitude": "-4.1607301"}
        },
        "assistanceType": "STAFF_ASSISTED",
        "score": "0.6688068509101868"
    })
}

fn access_points(body: &Value) -> types::GetAccessPointsResult {
    serde_json::from_value::<types::GetAccessPointsResponse>(body.clone())
        .expect("decodes")
        .payload
        .expect("a payload")
}

#[test]
fn both_access_point_shapes_decode_into_the_same_value() {
    let model = json!({"payload": {"accessPointsMap": {
        "HELIX": [model_access_point("a-1")],
        "CORE_LOCKER": [model_access_point("b-1"), model_access_point("b-2")]
    }}});
    let example = json!({"payload": {
        "HELIX": example_access_point("a-1"),
        "CORE_LOCKER": [example_access_point("b-1"), example_access_point("b-2")]
    }});
    let from_model = access_points(&model);
    let from_example = access_points(&example);
    assert_eq!(from_example, from_model);
    let helix = &from_example.access_points_map["HELIX"][0];
    let address = helix.address.as_ref().unwrap();
    assert_eq!(address.postal_code.as_str(), "EX33 2JL");
    assert_eq!(address.name.as_str(), "Amazon Hub Counter - Co-op Braunton");
    assert_eq!(address.state_or_region, None);
    assert_eq!(
        address.geocode.as_ref().unwrap().latitude.as_deref(),
        Some("51.1076671")
    );
    // Both re-encode in the model's shape (what the contract tests compare).
    assert_eq!(
        decode_ok("get_access_points", &example),
        decode_ok("get_access_points", &model)
    );
}

#[tokio::test]
async fn amazon_example_access_points_decode_through_the_client() {
    let body = json!({"payload": {"HELIX": example_access_point("a-1")}});
    let server = answering(httpmock::Method::GET, "/shipping/v2/accessPoints", &body).await;
    let result = client_for(&server)
        .get_access_points()
        .access_point_types(vec![types::GetAccessPointsAccessPointTypesItem::Helix])
        .country_code("GB")
        .postal_code("EX33 2JL")
        .send()
        .await
        .expect("the example's shape decodes")
        .into_inner()
        .payload
        .unwrap();
    let helix = &result.access_points_map["HELIX"];
    assert_eq!(helix.len(), 1);
    assert_eq!(helix[0].access_point_id.as_ref().unwrap().as_str(), "a-1");
    assert_eq!(
        helix[0]
            .accessibility_attributes
            .as_ref()
            .unwrap()
            .drive_time,
        Some(0)
    );
}

#[test]
fn access_points_keep_ignoring_undocumented_fields_and_merge_both_shapes() {
    let body = json!({"payload": {
        "accessPointsMap": {"HELIX": [model_access_point("a-1")]},
        "HELIX": example_access_point("a-2"),
        "nextPageToken": "abc",
        "metadata": {"count": 2},
        "zzUnknown": [1, 2]
    }});
    let result = access_points(&body);
    let ids: Vec<&str> = result.access_points_map["HELIX"]
        .iter()
        .map(|p| p.access_point_id.as_ref().unwrap().as_str())
        .collect();
    assert_eq!(ids, ["a-1", "a-2"]);
    assert_eq!(result.access_points_map.len(), 1);
    // A type mapped to null has no access points.
    let none = access_points(&json!({"payload": {"HELIX": null}}));
    assert!(none.access_points_map["HELIX"].is_empty());
}

#[test]
fn a_wrong_access_point_is_undecodable_with_its_full_path() {
    let mut nested = json!({"payload": {"HELIX": example_access_point("a-1")}});
    nested["payload"]["HELIX"]["address"]["addressObject"]["city"] = json!(true);
    let (path, message) = decode_err("get_access_points", &nested);
    assert_eq!(
        path, "payload.HELIX.address.addressObject.city",
        "{message}"
    );

    let mut nested = json!({"payload": {"HELIX": [example_access_point("a-1")]}});
    nested["payload"]["HELIX"][0]["accessibilityAttributes"]["driveTime"] = json!("soon");
    let (path, _) = decode_err("get_access_points", &nested);
    assert_eq!(path, "payload.HELIX[0].accessibilityAttributes.driveTime");

    let mut model = json!({"payload": {"accessPointsMap": {"HELIX": [model_access_point("a")]}}});
    model["payload"]["accessPointsMap"]["HELIX"][0]["address"]["countryCode"] = json!({"x": 1});
    let (path, _) = decode_err("get_access_points", &model);
    assert_eq!(path, "payload.accessPointsMap.HELIX[0].address.countryCode");

    // Required address fields left out are corrected (issue 18), in the
    // example's nested shape too, where the correction cannot be located on
    // the model (an empty path).
    let mut missing = json!({"payload": {"HELIX": example_access_point("a-1")}});
    missing["payload"]["HELIX"]["address"]["addressObject"]
        .as_object_mut()
        .unwrap()
        .remove("city");
    let (value, found) = corrected("get_access_points", &missing);
    assert_eq!(
        value["payload"]["accessPointsMap"]["HELIX"][0]["address"]["city"],
        ""
    );
    assert_eq!(found, [""]);

    // An addressObject takes its name from the access point; without one
    // the name is corrected to "".
    let mut nameless = json!({"payload": {"HELIX": example_access_point("a-1")}});
    nameless["payload"]["HELIX"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let (value, _) = corrected("get_access_points", &nameless);
    assert_eq!(
        value["payload"]["accessPointsMap"]["HELIX"][0]["address"]["name"],
        ""
    );

    // In the model's shape the path is named.
    let mut flat = json!({"payload": {"accessPointsMap": {"HELIX": [model_access_point("a")]}}});
    flat["payload"]["accessPointsMap"]["HELIX"][0]["address"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let (_, found) = corrected("get_access_points", &flat);
    assert_eq!(found, ["payload.accessPointsMap.HELIX[0].address.name"]);

    // Neither shape: no access points, and the missing map is reported.
    let (value, found) = corrected("get_access_points", &json!({"payload": {"note": "x"}}));
    assert_eq!(value["payload"]["accessPointsMap"], json!({}));
    assert_eq!(found, ["payload.accessPointsMap"]);
    let (path, _) = decode_err("get_access_points", &json!({"payload": {"HELIX": "x"}}));
    assert_eq!(path, "payload.HELIX");
}

// ---------------------------------------------------------------------------
// getAdditionalInputs: the empty schema Amazon answers when nothing is needed

#[tokio::test]
async fn an_empty_additional_inputs_schema_decodes_with_properties_as_object_or_list() {
    for properties in [json!({}), json!([])] {
        let body = json!({"payload": {
            "title": "Additional Inputs",
            "properties": properties,
            "type": "object"
        }});
        let server = answering(
            httpmock::Method::GET,
            "/shipping/v2/shipments/additionalInputs/schema",
            &body,
        )
        .await;
        let schema = client_for(&server)
            .get_additional_inputs()
            .request_token("token")
            .rate_id("rate")
            .send()
            .await
            .expect("an empty schema decodes")
            .into_inner()
            .payload
            .expect("a payload");
        assert_eq!(schema.get("properties"), Some(&properties));
        assert_eq!(schema.get("title"), Some(&json!("Additional Inputs")));
        assert_eq!(decode_ok("get_additional_inputs", &body), body);
    }
}

// ---------------------------------------------------------------------------
// Amazon's original example bodies (before the spec's E1/E2 corrections)

/// `tests/fixtures/amazon-original-examples.json`: each operation's 200
/// example exactly as Amazon's model has it.
fn originals() -> serde_json::Map<String, Value> {
    support::read_json("tests/fixtures/amazon-original-examples.json")["examples"]
        .as_object()
        .unwrap()
        .clone()
}

/// The committed copy is Amazon's text, checked whenever Amazon's model sits
/// beside the repository (as in CI, `../shared/upstream`).
#[test]
fn the_original_examples_are_amazons() {
    let model = format!(
        "{}/../shared/upstream/shippingV2-2025-02-26.json",
        support::root()
    );
    let Ok(text) = std::fs::read_to_string(&model) else {
        eprintln!("{model} not found: the copy is not compared");
        return;
    };
    let model: Value = serde_json::from_str(&text).unwrap();
    let mut found = 0;
    for (path, item) in model["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            // F1: the POST shares the PUT's operationId in Amazon's model.
            let id = if method == "post" && id == "linkCarrierAccount" {
                "linkCarrierAccountPost"
            } else {
                id
            };
            let Some(example) = op["responses"]["200"]["examples"].get("application/json") else {
                continue;
            };
            found += 1;
            assert_eq!(
                originals().get(id),
                Some(example),
                "{path} {method}: the copy differs from Amazon's model"
            );
        }
    }
    assert_eq!(found, originals().len());
}

/// Amazon's original body with only the two corrections that are not about
/// decoding: the `payload` wrapper its examples leave out (E1: production
/// bodies carry it, #4923 shows one for getTracking, whose example also
/// lacks it) and the documentation's `"<**-redacted-**>"` in place of an
/// address (E2; the sample address is the one the spec's example uses).
fn as_sent(op: &str, original: &Value) -> Value {
    fn unredact(value: &mut Value) {
        match value {
            Value::String(s) if s.contains("redacted") => {
                *value = json!({
                    "name": "Jane Doe", "addressLine1": "1 Main Street", "city": "Seattle",
                    "stateOrRegion": "WA", "postalCode": "98101", "countryCode": "US"
                });
            }
            Value::Array(items) => items.iter_mut().for_each(unredact),
            Value::Object(map) => map.values_mut().for_each(unredact),
            _ => {}
        }
    }
    let spec = support::spec();
    let operation = spapi_shipping::operations::OPERATIONS
        .iter()
        .find(|o| o.id == op)
        .unwrap();
    let schema = spec["paths"][operation.path][operation.method.to_lowercase()]["responses"]["200"]
        ["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let wants_payload = spec["components"]["schemas"][schema]["properties"]
        .get("payload")
        .is_some();
    let mut body = original.clone();
    if wants_payload && body.get("payload").is_none() {
        body = json!({ "payload": body });
    }
    unredact(&mut body);
    body
}

#[test]
fn amazons_original_success_examples_decode() {
    let mut failures = Vec::new();
    for (op, original) in originals() {
        let operation = spapi_shipping::operations::OPERATIONS
            .iter()
            .find(|o| o.id == op)
            .unwrap();
        let body = serde_json::to_vec(&as_sent(&op, &original)).unwrap();
        match decode(operation.name, 200, &body) {
            Some(Ok(_)) => {}
            Some(Err(e)) => failures.push(format!("{op}: {e}")),
            None => failures.push(format!("{op}: no decoder")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Where the spec corrects a value the client now reads as Amazon wrote it
/// (epoch milliseconds, `COMPLETED`, the access point shape, numbers as
/// strings and back), decoding Amazon's original gives exactly the spec's
/// corrected example.
#[test]
fn amazons_originals_decode_to_the_specs_corrected_examples() {
    for op in [
        "getCollectionFormHistory",
        "getUnmanifestedShipments",
        "getAccessPoints",
        "purchaseShipment",
        "oneClickShipment",
        "unlinkCarrierAccount",
        "getTracking",
    ] {
        let original = &originals()[op];
        let operation = spapi_shipping::operations::OPERATIONS
            .iter()
            .find(|o| o.id == op)
            .unwrap();
        let decoded = decode_ok(operation.name, &as_sent(op, original));
        let corrected =
            &support::read_json(&format!("tests/fixtures/responses/{op}.json"))["examples"]["200"];
        if let Some(d) = support::json_diff(corrected, &decoded) {
            panic!("{op}: Amazon's original decodes differently from the corrected example {d}");
        }
    }
    let access_points = decode_ok(
        "get_access_points",
        &as_sent("getAccessPoints", &originals()["getAccessPoints"]),
    );
    let helix = &access_points["payload"]["accessPointsMap"]["HELIX"][0];
    assert_eq!(helix["address"]["postalCode"], "EX33 2JL");
    assert_eq!(
        helix["address"]["name"],
        "Amazon Hub Counter - Co-op Braunton"
    );
}

// ---------------------------------------------------------------------------
// Dates are sent in UTC with `Z` (Amazon refuses `shipDate` with `+00:00`)

/// The body a server on 127.0.0.1 received from `send`.
async fn wire_body<F, Fut>(send: F) -> Value
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future,
{
    let server = support::Recorder::start(200, Some(&json!({}))).await;
    let client = Client::builder()
        .endpoint(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    send(client).await;
    serde_json::from_slice(&server.only_request().body).unwrap()
}

#[tokio::test]
async fn ship_date_written_with_an_offset_is_sent_in_utc_with_z() {
    let mut request = rates_request_without_state_or_region();
    request["shipDate"] = json!("2026-11-30T10:00:00+01:00");
    let body: types::GetRatesRequest = serde_json::from_value(request).unwrap();
    let wire = wire_body(|c| async move { c.get_rates().body(body).send().await }).await;
    assert_eq!(wire["shipDate"], "2026-11-30T09:00:00Z");

    // Built in Rust from a +00:00 value, and with fractions of a second.
    for (written, sent) in [
        ("2026-11-30T09:00:00+00:00", "2026-11-30T09:00:00Z"),
        ("2026-11-30T09:00:00.250-05:00", "2026-11-30T14:00:00.250Z"),
    ] {
        let date: chrono::DateTime<chrono::Utc> = written.parse().unwrap();
        let mut body: types::GetRatesRequest =
            serde_json::from_value(rates_request_without_state_or_region()).unwrap();
        body.ship_date = Some(date);
        let wire = wire_body(|c| async move { c.get_rates().body(body).send().await }).await;
        assert_eq!(wire["shipDate"], sent, "{written}");
    }
}

#[tokio::test]
async fn date_range_strings_with_an_offset_are_sent_in_utc_with_z() {
    let body: types::GetCollectionFormHistoryRequest = serde_json::from_value(json!({
        "carrierId": "USPS",
        "dateRange": {"startDate": "2026-11-01T00:00:00+01:00", "endDate": "2026-11-30T23:59:59Z"}
    }))
    .unwrap();
    let wire =
        wire_body(|c| async move { c.get_collection_form_history().body(body).send().await }).await;
    assert_eq!(wire["dateRange"]["startDate"], "2026-10-31T23:00:00Z");
    assert_eq!(wire["dateRange"]["endDate"], "2026-11-30T23:59:59Z");

    // Not RFC 3339 (Amazon's examples show such values): sent as written.
    let body: types::GetCollectionFormHistoryRequest =
        serde_json::from_value(json!({"dateRange": {"startDate": "1.6931808E9"}})).unwrap();
    let wire =
        wire_body(|c| async move { c.get_collection_form_history().body(body).send().await }).await;
    assert_eq!(wire["dateRange"]["startDate"], "1.6931808E9");
}

/// The command-line tool reads `--json-body` into the typed body, so a date
/// written with an offset leaves in UTC with `Z` as well. (The body also has
/// no `stateOrRegion` and `countryCode: "UK"`, which the CLI once refused with
/// `missing field stateOrRegion`.)
#[tokio::test]
async fn a_cli_body_with_an_offset_date_is_sent_in_utc_with_z() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST).path("/auth/o2/token");
            then.status(200)
                .header("content-type", "application/json")
                .json_body(json!({"access_token": "Atza|test", "token_type": "bearer", "expires_in": 3600}));
        })
        .await;
    let rates = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::POST)
                .path("/shipping/v2/shipments/rates")
                .body_includes("\"shipDate\":\"2026-11-30T09:00:00Z\"");
            then.status(200)
                .header("content-type", "application/json")
                .json_body(json!({"payload": {"requestToken": "token", "rates": []}}));
        })
        .await;
    let mut request = rates_request_without_state_or_region();
    request["shipDate"] = json!("2026-11-30T10:00:00+01:00");
    let file = std::env::temp_dir().join(format!("live-shapes-{}.json", std::process::id()));
    std::fs::write(&file, request.to_string()).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spapi-shipping"));
    command
        .args(["get-rates", "--json-body"])
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LWA_APP_ID", "app")
        .env("LWA_CLIENT_SECRET", "secret")
        .env("SP_API_REFRESH_TOKEN", "Atzr|refresh")
        .env("SP_API_ENDPOINT", server.base_url())
        .env("LWA_ENDPOINT", server.url("/auth/o2/token"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // On a blocking thread, so the server keeps answering; killed after 60 s.
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the CLI starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().expect("waiting for the CLI").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the CLI did not finish within 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait_with_output().expect("the CLI's output")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Only a body with the `Z` date matches the mock; it was sent once.
    rates.assert_async().await;
}

// ---------------------------------------------------------------------------
// Announced ahead of Amazon's model (spec/README.md, A1-announced-fields)

/// A getTracking answer whose latest event is the drop-off event Amazon
/// sends since 2025-08-01.
fn tracking_with_a_drop_off() -> Value {
    let mut body = tracking_with_nulls();
    body["payload"]["eventHistory"] = json!([{
        "eventCode": "PackageReceivedByCarrier",
        "eventTime": "2025-08-04T09:12:00Z",
        "location": {"city": "London", "postalCode": "SW1A 2AA", "countryCode": "GB"}
    }]);
    body
}

#[tokio::test]
async fn a_package_received_by_carrier_event_decodes_as_the_known_variant() {
    let server = answering(
        httpmock::Method::GET,
        "/shipping/v2/tracking",
        &tracking_with_a_drop_off(),
    )
    .await;
    let tracking = client_for(&server)
        .get_tracking()
        .tracking_id("TBA123456789000")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .expect("the drop-off event decodes")
        .into_inner()
        .payload
        .expect("a payload");
    let [event] = tracking.event_history.as_slice() else {
        panic!("one event: {:?}", tracking.event_history);
    };
    assert_eq!(event.event_code, types::EventCode::PackageReceivedByCarrier);
    assert_eq!(event.event_code.to_string(), "PackageReceivedByCarrier");
    assert_eq!(
        event.event_time,
        Some(
            "2025-08-04T09:12:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        )
    );
    assert_eq!(
        event
            .location
            .as_ref()
            .unwrap()
            .city
            .as_ref()
            .unwrap()
            .as_str(),
        "London"
    );
    // Re-encoded as sent.
    let value = decode_ok("get_tracking", &tracking_with_a_drop_off());
    assert_eq!(
        value["payload"]["eventHistory"][0]["eventCode"],
        "PackageReceivedByCarrier"
    );
}

/// Amazon's getRates example with the FBM Ship+ fields of a rate: the charge
/// after the cashback, the FBM_SHIP_PLUS benefit, and a UK non-conveyable
/// surcharge line.
fn ship_plus_rates() -> Value {
    let mut body = support::Fixture::load("getRates").examples["200"].clone();
    let rate = &mut body["payload"]["rates"][0];
    rate["totalCharge"] = json!({"value": 7.5, "unit": "USD"});
    rate["totalChargeWithAdjustments"] = json!({"value": 5.25, "unit": "USD"});
    rate["benefits"]["includedBenefits"] = json!(["FBM_SHIP_PLUS"]);
    rate["rateItemList"].as_array_mut().unwrap().push(json!({
        "rateItemCharge": {"unit": "GBP", "value": 4.5},
        "rateItemID": "NON_CONVEYABLE_SURCHARGE",
        "rateItemType": "MANDATORY"
    }));
    body
}

#[tokio::test]
async fn a_ship_plus_rate_decodes_total_charge_with_adjustments_as_a_currency() {
    let server = answering(
        httpmock::Method::POST,
        "/shipping/v2/shipments/rates",
        &ship_plus_rates(),
    )
    .await;
    let body: types::GetRatesRequest =
        serde_json::from_value(rates_request_without_state_or_region()).unwrap();
    let rates = client_for(&server)
        .get_rates()
        .body(body)
        .send()
        .await
        .expect("the Ship+ rate decodes")
        .into_inner()
        .payload
        .expect("a payload");
    let rate = &rates.rates[0];
    let adjusted = rate
        .total_charge_with_adjustments
        .as_ref()
        .expect("typed, not dropped as an undocumented field");
    assert_eq!(adjusted.value, 5.25);
    assert_eq!(adjusted.unit.as_str(), "USD");
    assert_eq!(rate.total_charge.as_ref().unwrap().value, 7.5);
    // Benefits are free strings in Amazon's model: FBM_SHIP_PLUS is kept as sent.
    assert_eq!(
        rate.benefits.as_ref().unwrap().included_benefits.0,
        ["FBM_SHIP_PLUS"]
    );
    let surcharge = rate.rate_item_list.as_ref().unwrap().0.last().unwrap();
    assert_eq!(
        surcharge.rate_item_id,
        Some(types::RateItemId::NonConveyableSurcharge)
    );
    // A rate without the field (no Ship+) still decodes, as `None`.
    let mut plain = ship_plus_rates();
    plain["payload"]["rates"][0]
        .as_object_mut()
        .unwrap()
        .remove("totalChargeWithAdjustments");
    let value = decode_ok("get_rates", &plain);
    assert!(
        value["payload"]["rates"][0]
            .get("totalChargeWithAdjustments")
            .is_none()
    );
    let value = decode_ok("get_rates", &ship_plus_rates());
    assert_eq!(
        value["payload"]["rates"][0]["totalChargeWithAdjustments"],
        json!({"value": 5.25, "unit": "USD"})
    );
}

#[tokio::test]
async fn a_rates_request_sends_additional_package_info_amazon_seller_id_and_delivery_checks() {
    let mut body: types::GetRatesRequest =
        serde_json::from_value(rates_request_without_state_or_region()).unwrap();
    body.packages.0[0].additional_package_info = vec![types::AdditionalPackageInfo {
        name: "PO Number".to_owned(),
        value: "PO-4711".to_owned(),
    }];
    body.channel_details = types::ChannelDetails {
        channel_type: types::ChannelType::Amazon,
        amazon_order_details: Some(types::AmazonOrderDetails {
            order_id: "111-8922865-1841805".to_owned(),
            amazon_seller_id: Some("A2SELLER3PL".to_owned()),
        }),
        amazon_shipment_details: None,
    };
    body.value_added_services = Some(types::ValueAddedServiceDetails {
        collect_on_delivery: None,
        otp_on_delivery: None,
        signature_on_delivery: Some(types::SignatureOnDelivery(serde_json::Map::new())),
    });
    let sent = serde_json::to_value(&body).unwrap();
    let violations = spapi_shipping::validate::check_request("getRates", Some(&sent), &[], &[]);
    assert!(violations.is_empty(), "{violations:?}");

    let wire = wire_body(|c| async move { c.get_rates().body(body).send().await }).await;
    assert_eq!(
        wire["packages"][0]["additionalPackageInfo"],
        json!([{"name": "PO Number", "value": "PO-4711"}])
    );
    assert_eq!(
        wire["channelDetails"],
        json!({
            "channelType": "AMAZON",
            "amazonOrderDetails": {"orderId": "111-8922865-1841805", "amazonSellerId": "A2SELLER3PL"}
        })
    );
    assert_eq!(
        wire["valueAddedServices"],
        json!({"signatureOnDelivery": {}})
    );

    // Without them, nothing new is sent: an empty list and `None`s stay off the wire.
    let plain: types::GetRatesRequest =
        serde_json::from_value(rates_request_without_state_or_region()).unwrap();
    let wire = wire_body(|c| async move { c.get_rates().body(plain).send().await }).await;
    assert!(wire["packages"][0].get("additionalPackageInfo").is_none());
    assert!(wire.get("valueAddedServices").is_none());
}
