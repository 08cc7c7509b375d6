//! Contract tests: for every operation, the request the client puts on the
//! wire (method, encoded path, query, headers, JSON body) is the one the
//! fixture in `tests/fixtures/requests/` describes, and every example body in
//! the spec (success and each documented error) decodes into its typed value
//! and re-encodes to the same JSON.

mod support;

use serde_json::Value;
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::{Client, Error, Response, types};
use support::{Fixture, Recorder, Seen, json_diff};

/// What a call produced, as JSON: the decoded value re-encoded.
#[derive(Debug)]
enum Outcome {
    Success(u16, Value),
    Api(u16, Value),
    Other(String),
}

impl<T: serde::Serialize> From<Result<Response<T>, Error>> for Outcome {
    fn from(result: Result<Response<T>, Error>) -> Self {
        match result {
            Ok(rv) => {
                let status = rv.status().as_u16();
                Outcome::Success(status, serde_json::to_value(rv.into_inner()).unwrap())
            }
            Err(Error::Api(api) | Error::RateLimited(api)) if api.body_prefix.is_none() => {
                let list = types::ErrorList { errors: api.errors };
                Outcome::Api(api.status, serde_json::to_value(list).unwrap())
            }
            Err(other) => Outcome::Other(other.to_string()),
        }
    }
}

/// A client without retries, so each documented status is seen as sent.
fn client_for(server: &Recorder) -> Client {
    Client::builder()
        .endpoint(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

fn business_id(fx: &Fixture) -> types::ShippingBusinessId {
    fx.typed(&fx.request["headers"]["x-amzn-shipping-business-id"])
}

/// Every (status, example) the spec documents for the operation; a success
/// status without a body (204) is answered empty.
fn responses(fx: &Fixture) -> Vec<(u16, Option<Value>)> {
    let mut out: Vec<(u16, Option<Value>)> = fx
        .examples
        .iter()
        .map(|(s, e)| (s.parse().unwrap(), Some(e.clone())))
        .collect();
    let spec = support::spec();
    let op = &spec["paths"][&fx.path_template][fx.method.to_lowercase()];
    for (status, response) in op["responses"].as_object().unwrap() {
        let code: u16 = status.parse().unwrap();
        if response.get("content").is_none() {
            out.push((code, None));
        }
    }
    assert!(
        out.iter().any(|(s, _)| (200..300).contains(s)),
        "{}: no success response to test",
        fx.op
    );
    assert!(
        out.iter().filter(|(s, _)| *s >= 400).count() >= 9,
        "{}: every documented error status is exercised",
        fx.op
    );
    out
}

fn check_request(fx: &Fixture, seen: &Seen) {
    let op = &fx.op;
    assert_eq!(seen.method, fx.method, "{op}: method");
    assert_eq!(seen.path, fx.expected_path(), "{op}: path");
    check_query(fx, seen);
    for (name, value) in fx.request["headers"].as_object().into_iter().flatten() {
        assert_eq!(
            seen.header(name),
            value.as_str(),
            "{op}: header {name} (all headers: {:?})",
            seen.headers
        );
    }
    match fx.request.get("body") {
        Some(expected) => {
            assert_eq!(
                seen.header("content-type"),
                Some("application/json"),
                "{op}: content type"
            );
            let actual: Value = serde_json::from_slice(&seen.body)
                .unwrap_or_else(|e| panic!("{op}: body is not JSON: {e}"));
            if let Some(d) = json_diff(expected, &actual) {
                panic!("{op}: request body differs from the fixture {d}");
            }
        }
        None => assert!(seen.body.is_empty(), "{op}: unexpected body"),
    }
}

/// The query, parameter by parameter; arrays that the spec marks
/// `explode: false` must arrive as one comma-separated value.
fn check_query(fx: &Fixture, seen: &Seen) {
    let op = &fx.op;
    let spec = support::spec();
    let params = spec["paths"][&fx.path_template][fx.method.to_lowercase()]["parameters"].clone();
    let explode = |name: &str| {
        params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["explode"] != false)
            .unwrap_or(true)
    };
    let mut expected: Vec<(String, Value)> = Vec::new();
    for (name, value) in fx.request["query"].as_object().into_iter().flatten() {
        match value {
            Value::Array(items) if !explode(name) => {
                let joined: Vec<&str> = items.iter().map(|v| v.as_str().unwrap()).collect();
                let raw = format!("{name}={}", joined.join(","));
                assert!(
                    seen.query.as_deref().unwrap_or_default().contains(&raw),
                    "{op}: expected literal {raw} in query {:?}",
                    seen.query
                );
                expected.push((name.clone(), Value::String(joined.join(","))));
            }
            Value::Array(items) => {
                expected.extend(items.iter().map(|v| (name.clone(), v.clone())));
            }
            scalar => expected.push((name.clone(), scalar.clone())),
        }
    }
    let actual = seen.query_pairs();
    assert_eq!(
        actual.len(),
        expected.len(),
        "{op}: query {actual:?}, expected {expected:?}"
    );
    for (name, value) in &expected {
        let found = actual.iter().any(|(k, v)| {
            k == name
                && match value {
                    Value::String(s) => v == s,
                    Value::Number(n) => v.parse::<f64>().ok() == n.as_f64(),
                    other => v.as_str() == other.to_string().as_str(),
                }
        });
        assert!(
            found,
            "{op}: query parameter {name}={value} not sent; sent {actual:?}"
        );
    }
}

fn check_response(fx: &Fixture, status: u16, example: Option<&Value>, outcome: Outcome) {
    let op = &fx.op;
    let expected = example.cloned().unwrap_or(Value::Null);
    let (kind, got_status, value) = match outcome {
        Outcome::Success(s, v) => ("success", s, v),
        Outcome::Api(s, v) => ("api error", s, v),
        Outcome::Other(e) => panic!("{op} {status}: neither a typed value nor a typed error: {e}"),
    };
    assert_eq!(got_status, status, "{op}: status");
    assert_eq!(
        kind,
        if status < 400 { "success" } else { "api error" },
        "{op} {status}: decoded as the wrong kind"
    );
    if let Some(d) = json_diff(&expected, &value) {
        panic!("{op} {status}: decoded value does not re-encode to the example {d}");
    }
}

/// One contract test per operation: `$call` builds the operation from the
/// fixture `fx` on `client` and returns its future.
macro_rules! contract {
    ($name:ident, $op:literal, |$client:ident, $fx:ident| $call:expr) => {
        #[tokio::test]
        async fn $name() {
            let $fx = Fixture::load($op);
            for (status, example) in responses(&$fx) {
                let server = Recorder::start(status, example.as_ref()).await;
                let $client = client_for(&server);
                let outcome = Outcome::from($call.await);
                check_request(&$fx, &server.only_request());
                check_response(&$fx, status, example.as_ref(), outcome);
            }
        }
    };
}

contract!(get_rates, "getRates", |c, fx| c
    .get_rates()
    .body(fx.body::<types::GetRatesRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(
    direct_purchase_shipment,
    "directPurchaseShipment",
    |c, fx| c
        .direct_purchase_shipment()
        .body(fx.body::<types::DirectPurchaseRequest>())
        .x_amzn_idempotency_key(fx.header("x-amzn-IdempotencyKey"))
        .locale(fx.header("locale"))
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(purchase_shipment, "purchaseShipment", |c, fx| c
    .purchase_shipment()
    .body(fx.body::<types::PurchaseShipmentRequest>())
    .x_amzn_idempotency_key(fx.header("x-amzn-IdempotencyKey"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(one_click_shipment, "oneClickShipment", |c, fx| c
    .one_click_shipment()
    .body(fx.body::<types::OneClickShipmentRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(get_tracking, "getTracking", |c, fx| c
    .get_tracking()
    .tracking_id(fx.query("trackingId"))
    .carrier_id(fx.query("carrierId"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(get_shipment_documents, "getShipmentDocuments", |c, fx| c
    .get_shipment_documents()
    .shipment_id(fx.path("shipmentId"))
    .package_client_reference_id(fx.query("packageClientReferenceId"))
    .format(fx.query("format"))
    .dpi(fx.query_value("dpi").as_f64().unwrap())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(cancel_shipment, "cancelShipment", |c, fx| c
    .cancel_shipment()
    .shipment_id(fx.path("shipmentId"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(get_additional_inputs, "getAdditionalInputs", |c, fx| c
    .get_additional_inputs()
    .request_token(fx.query("requestToken"))
    .rate_id(fx.query("rateId"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(
    get_carrier_account_form_inputs,
    "getCarrierAccountFormInputs",
    |c, fx| c
        .get_carrier_account_form_inputs()
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(get_carrier_accounts, "getCarrierAccounts", |c, fx| c
    .get_carrier_accounts()
    .body(fx.body::<types::GetCarrierAccountsRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(link_carrier_account, "linkCarrierAccount", |c, fx| c
    .link_carrier_account()
    .carrier_id(fx.path("carrierId"))
    .body(fx.body::<types::LinkCarrierAccountRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(
    link_carrier_account_post,
    "linkCarrierAccountPost",
    |c, fx| c
        .link_carrier_account_post()
        .carrier_id(fx.path("carrierId"))
        .body(fx.body::<types::LinkCarrierAccountRequest>())
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(unlink_carrier_account, "unlinkCarrierAccount", |c, fx| c
    .unlink_carrier_account()
    .carrier_id(fx.path("carrierId"))
    .body(fx.body::<types::UnlinkCarrierAccountRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(
    generate_collection_form,
    "generateCollectionForm",
    |c, fx| c
        .generate_collection_form()
        .body(fx.body::<types::GenerateCollectionFormRequest>())
        .x_amzn_idempotency_key(fx.header("x-amzn-IdempotencyKey"))
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(
    get_collection_form_history,
    "getCollectionFormHistory",
    |c, fx| c
        .get_collection_form_history()
        .body(fx.body::<types::GetCollectionFormHistoryRequest>())
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(
    get_unmanifested_shipments,
    "getUnmanifestedShipments",
    |c, fx| c
        .get_unmanifested_shipments()
        .body(fx.body::<types::GetUnmanifestedShipmentsRequest>())
        .x_amzn_shipping_business_id(business_id(&fx))
        .send()
);

contract!(get_collection_form, "getCollectionForm", |c, fx| c
    .get_collection_form()
    .collection_form_id(fx.path("collectionFormId"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(get_access_points, "getAccessPoints", |c, fx| c
    .get_access_points()
    .access_point_types(fx.typed::<Vec<types::GetAccessPointsAccessPointTypesItem>>(
        fx.query_value("accessPointTypes")
    ))
    .country_code(fx.query("countryCode"))
    .postal_code(fx.query("postalCode"))
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(submit_ndr_feedback, "submitNdrFeedback", |c, fx| c
    .submit_ndr_feedback()
    .body(fx.body::<types::SubmitNdrFeedbackRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

contract!(create_claim, "createClaim", |c, fx| c
    .create_claim()
    .body(fx.body::<types::CreateClaimRequest>())
    .x_amzn_shipping_business_id(business_id(&fx))
    .send());

/// The table of operations covered here is the spec's table: a new operation
/// in the spec without a contract test fails this.
#[test]
fn every_operation_has_a_contract_test_and_fixture() {
    let source = include_str!("contract.rs");
    let ids: Vec<&str> = spapi_shipping::operations::OPERATIONS
        .iter()
        .map(|op| op.id)
        .collect();
    assert_eq!(ids.len(), 20, "Amazon's model has 20 operations");
    for id in ids {
        assert!(
            source.contains(&format!("\"{id}\", |")) || source.contains(&format!("\"{id}\",\n")),
            "no contract test for {id}"
        );
        let fixture = format!("{}/tests/fixtures/requests/{id}.json", support::root());
        assert!(std::path::Path::new(&fixture).exists(), "missing {fixture}");
    }
}
