#![cfg(feature = "mock")]
//! The offline sandbox (`spapi_shipping::mock::Sandbox`), specified by what
//! a user of the crate sees through the real `Client`.
//!
//! Run with `cargo test --features mock --test sandbox`.

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use spapi_shipping::auth::{AuthError, LwaCredentials};
use spapi_shipping::documents::{LabelFormat, decode_all};
use spapi_shipping::mock::Sandbox;
use spapi_shipping::purchase::{PlanError, Quote, Wishes};
use spapi_shipping::types::{self, EventCode, Status};
use spapi_shipping::{ApiError, Client, Error};

// ---------------------------------------------------------------------------
// Helpers

/// A plain reqwest client for talking to the sandbox directly. reqwest is
/// built without a TLS provider of its own (the crate picks one per client),
/// so install the crate's default, ring, for this process.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A request fixture, `tests/fixtures/requests/<op>.json`.
fn fixture(op: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/requests/{op}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON value as a typed request.
fn typed<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the request JSON fits its type")
}

/// A parcel of `kg` from a warehouse in `country` to a customer there.
fn parcel_from(country: &str, kg: f64) -> Value {
    let address = |name: &str| {
        json!({
            "name": name, "addressLine1": "1 Test Street", "city": "Testville",
            "stateOrRegion": "Test Region", "postalCode": "T35 7AB", "countryCode": country,
        })
    };
    json!({
        "shipFrom": address("Warehouse"),
        "shipTo": address("Customer"),
        "packages": [{
            "packageClientReferenceId": "parcel-1",
            "dimensions": { "length": 20, "width": 15, "height": 10, "unit": "CENTIMETER" },
            "weight": { "value": kg, "unit": "KILOGRAM" },
            "insuredValue": { "value": 20, "unit": "GBP" },
            "items": [{ "quantity": 1, "description": "Mug" }],
        }],
        "channelDetails": { "channelType": "EXTERNAL" },
    })
}

/// Document specification for a 4x6 inch label.
fn label_spec(format: &str) -> Value {
    json!({
        "format": format,
        "size": { "width": 4, "length": 6, "unit": "INCH" },
        "dpi": 300,
        "pageLayout": "LEFT",
        "needFileJoining": false,
        "requestedDocumentTypes": ["LABEL"],
    })
}

async fn get_rates(client: &Client, request: Value) -> types::GetRatesResult {
    client
        .get_rates()
        .body(typed::<types::GetRatesRequest>(request))
        .send()
        .await
        .expect("rates")
        .into_inner()
        .payload
        .expect("a payload")
}

fn cheapest(rates: &types::GetRatesResult) -> &types::Rate {
    rates
        .rates
        .iter()
        .min_by(|a, b| {
            a.total_charge
                .as_ref()
                .unwrap()
                .value
                .total_cmp(&b.total_charge.as_ref().unwrap().value)
        })
        .expect("at least one rate")
}

fn purchase_request(rates: &types::GetRatesResult, rate: &types::Rate, format: &str) -> Value {
    json!({
        "requestToken": rates.request_token,
        "rateId": rate.rate_id,
        "requestedDocumentSpecification": label_spec(format),
    })
}

/// Buys the cheapest rate of a fresh quote for `request` that offers 4x6
/// labels in `format`, planned by `spapi_shipping::purchase`.
async fn buy_cheapest(
    client: &Client,
    request: Value,
    format: &str,
) -> (types::Rate, types::PurchaseShipmentResult) {
    let quote = Quote::new(get_rates(client, request).await);
    let wishes = Wishes::new()
        .format(format.parse().unwrap())
        .size_inches(4.0, 6.0);
    let planned = quote.cheapest(&wishes).expect("a rate fits");
    let rate = planned.rate.clone();
    let bought = client
        .purchase_shipment()
        .body(planned.request)
        .send()
        .await
        .expect("purchase")
        .into_inner()
        .payload
        .expect("a payload");
    (rate, bought)
}

/// The crate error of a failed call, which must be an API error.
fn api_error(error: Error) -> Box<ApiError> {
    match error {
        Error::Api(api) => api,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// An access token from the sandbox's LWA endpoint, for raw requests.
async fn access_token(sandbox: &Sandbox) -> String {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", Sandbox::REFRESH_TOKEN),
        ("client_id", Sandbox::CLIENT_ID),
        ("client_secret", Sandbox::CLIENT_SECRET),
    ];
    let body = serde_urlencoded::to_string(form).unwrap();
    let answer: Value = http()
        .post(sandbox.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 3600);
    answer["access_token"].as_str().unwrap().to_owned()
}

fn tracking_id(detail: &types::PackageDocumentDetail) -> String {
    detail
        .tracking_id
        .as_ref()
        .expect("a tracking id")
        .to_string()
}

// ---------------------------------------------------------------------------
// 1. The whole flow

#[tokio::test]
async fn quote_buy_print_track_and_cancel_a_parcel() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();

    // Rates for the Mumbai -> Bengaluru parcel of the getRates fixture.
    let rates = get_rates(&client, fixture("getRates")["body"].clone()).await;
    assert!((2..=3).contains(&rates.rates.len()), "{:?}", rates.rates);
    assert!(
        rates
            .rates
            .iter()
            .all(|r| r.total_charge.as_ref().unwrap().unit.as_str() == "INR")
    );
    let carriers: std::collections::HashSet<_> = rates
        .rates
        .iter()
        .map(|r| r.carrier_id.as_deref().unwrap())
        .collect();
    assert!(carriers.len() >= 2, "different carriers: {carriers:?}");
    let rate = cheapest(&rates);

    // Buy it with a PNG label.
    let bought = client
        .purchase_shipment()
        .body(typed::<types::PurchaseShipmentRequest>(purchase_request(
            &rates, rate, "PNG",
        )))
        .send()
        .await
        .expect("purchase")
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(bought.package_document_details.len(), 1);
    let package = &bought.package_document_details[0];
    assert_eq!(
        package.package_client_reference_id.as_deref().unwrap(),
        "DE-IN-20241125-0001"
    );
    let labels = decode_all(package).expect("the label decodes");
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].format, LabelFormat::Png);
    assert_eq!(labels[0].document_type, "LABEL");
    assert!(labels[0].bytes.starts_with(b"\x89PNG\r\n\x1a\n"));

    // Tracking: picked up and in transit, promised for the rate's delivery window.
    let tracking_id = tracking_id(package);
    let track = || {
        client
            .get_tracking()
            .tracking_id(tracking_id.as_str())
            .carrier_id(rate.carrier_id.as_deref().unwrap())
            .send()
    };
    let tracking = track()
        .await
        .expect("tracking")
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(tracking.tracking_id.as_deref(), Some(&tracking_id));
    assert_eq!(
        tracking.summary.as_ref().unwrap().status,
        Some(Status::InTransit)
    );
    let codes: Vec<_> = tracking
        .event_history
        .iter()
        .map(|e| e.event_code.clone())
        .collect();
    assert_eq!(codes, [EventCode::ReadyForReceive, EventCode::PickupDone]);
    let window_end = rate
        .promise
        .as_ref()
        .unwrap()
        .delivery_window
        .as_ref()
        .unwrap()
        .end;
    assert_eq!(tracking.promised_delivery_date, window_end);
    let city = tracking.event_history[0]
        .location
        .as_ref()
        .unwrap()
        .city
        .as_ref();
    assert_eq!(city.unwrap().as_str(), "Mumbai");

    // Cancel: tracking says so, and a second cancel is refused.
    let shipment_id = bought.shipment_id.as_deref().unwrap();
    let cancelled = client
        .cancel_shipment()
        .shipment_id(shipment_id)
        .send()
        .await;
    assert!(
        cancelled
            .expect("cancel")
            .into_inner()
            .payload
            .unwrap()
            .is_empty()
    );
    let tracking = track()
        .await
        .expect("tracking")
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(
        tracking.summary.as_ref().unwrap().status,
        Some(Status::PickupCancelled)
    );
    assert_eq!(
        tracking.event_history.last().unwrap().event_code,
        EventCode::PickupCancelled
    );
    let again = client
        .cancel_shipment()
        .shipment_id(shipment_id)
        .send()
        .await;
    let error = api_error(again.unwrap_err());
    assert_eq!(error.status, 400);
    assert!(
        error.errors[0].message.contains("already cancelled"),
        "{error:?}"
    );
    assert_eq!(error.operation.as_deref(), Some("cancelShipment"));
}

// ---------------------------------------------------------------------------
// 2. Labels in every format

#[tokio::test]
async fn pdf_and_zpl_labels_are_real_documents() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();

    let (_, pdf) = buy_cheapest(&client, parcel_from("GB", 1.0), "PDF").await;
    let document = &decode_all(&pdf.package_document_details[0]).unwrap()[0];
    assert_eq!(document.format, LabelFormat::Pdf);
    assert!(document.bytes.starts_with(b"%PDF-1."));
    assert!(document.bytes.ends_with(b"%%EOF\n"));

    let (_, zpl) = buy_cheapest(&client, parcel_from("GB", 1.0), "ZPL").await;
    let package = &zpl.package_document_details[0];
    let document = &decode_all(package).unwrap()[0];
    assert_eq!(document.format, LabelFormat::Zpl);
    let text = String::from_utf8(document.bytes.clone()).unwrap();
    assert!(text.starts_with("^XA"), "{text}");
    assert!(text.trim_end().ends_with("^XZ"), "{text}");
    assert!(
        text.contains(&format!("^FD{}^FS", tracking_id(package))),
        "{text}"
    );

    // The same package's label again, as a 203 dpi PNG this time.
    let again = client
        .get_shipment_documents()
        .shipment_id(zpl.shipment_id.as_deref().unwrap())
        .package_client_reference_id("parcel-1")
        .format("PNG")
        .dpi(203.0)
        .send()
        .await
        .expect("documents")
        .into_inner()
        .payload
        .unwrap();
    let png = &decode_all(again.package_document_detail.as_ref().unwrap()).unwrap()[0];
    assert_eq!(png.format, LabelFormat::Png);
    let width = u32::from_be_bytes(png.bytes[16..20].try_into().unwrap());
    assert_eq!(width, 4 * 203, "4 inches at 203 dpi");
    assert_eq!(
        png.tracking_id.as_deref(),
        Some(tracking_id(package).as_str())
    );
}

// ---------------------------------------------------------------------------
// 3. Idempotency

#[tokio::test]
async fn a_purchase_retried_with_the_same_idempotency_key_buys_once() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let rates = get_rates(&client, parcel_from("GB", 2.0)).await;
    let request: types::PurchaseShipmentRequest =
        typed(purchase_request(&rates, cheapest(&rates), "PNG"));
    let purchase = |key: &str| {
        client
            .purchase_shipment()
            .x_amzn_idempotency_key(key)
            .body(request.clone())
            .send()
    };

    let first = purchase("order-1042")
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    let retry = purchase("order-1042")
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(retry.shipment_id, first.shipment_id);
    assert_eq!(
        tracking_id(&retry.package_document_details[0]),
        tracking_id(&first.package_document_details[0])
    );
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
    assert_eq!(sandbox.idempotency_keys("purchaseShipment"), 1);

    // Another key is another purchase.
    let other = purchase("order-1043")
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert_ne!(other.shipment_id, first.shipment_id);
    assert_eq!(sandbox.executed("purchase_shipment"), 2);
    assert_eq!(sandbox.idempotency_keys("purchaseShipment"), 2);

    // A key reused for a different purchase is refused, not replayed.
    let mut different = request.clone();
    different.requested_document_specification = typed(label_spec("PDF"));
    let reused = client
        .purchase_shipment()
        .x_amzn_idempotency_key("order-1042")
        .body(different)
        .send()
        .await;
    assert_eq!(api_error(reused.unwrap_err()).status, 400);
    assert_eq!(sandbox.executed("purchaseShipment"), 2);
}

#[tokio::test]
async fn one_click_has_no_idempotency_key_and_buys_every_time() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let request: types::OneClickShipmentRequest =
        typed(fixture("oneClickShipment")["body"].clone());
    let first = client
        .one_click_shipment()
        .body(request.clone())
        .send()
        .await
        .unwrap();
    let second = client
        .one_click_shipment()
        .body(request)
        .send()
        .await
        .unwrap();
    let (first, second) = (
        first.into_inner().payload.unwrap(),
        second.into_inner().payload.unwrap(),
    );
    assert_ne!(first.shipment_id, second.shipment_id);
    assert_eq!(sandbox.executed("oneClickShipment"), 2);
    assert_eq!(sandbox.idempotency_keys("oneClickShipment"), 0);
}

// ---------------------------------------------------------------------------
// 4. Authentication

#[tokio::test]
async fn bad_tokens_and_wrong_credentials_are_rejected_like_amazon() {
    let sandbox = Sandbox::start().await;
    let url = format!("{}/shipping/v2/shipments/rates", sandbox.base_url());
    let http = http();

    for token in [Some("Atza|not-issued-by-the-sandbox"), None] {
        let mut request = http.post(&url).json(&parcel_from("GB", 1.0));
        if let Some(token) = token {
            request = request.header("x-amz-access-token", token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403);
        let headers = response.headers().clone();
        assert!(headers.contains_key("x-amzn-requestid"));
        assert_eq!(headers["x-amzn-ratelimit-limit"], "80.0");
        assert_eq!(headers["content-type"], "application/json");
        let body: types::ErrorList = response.json().await.unwrap();
        assert_eq!(body.errors[0].code, "Unauthorized");
        assert_eq!(
            body.errors[0].message,
            "Access to requested resource is denied."
        );
        assert_eq!(
            body.errors[0].details.as_deref(),
            Some("The access token you provided is revoked, malformed or invalid.")
        );
    }
    assert_eq!(sandbox.executed("getRates"), 0);

    // Any `Atzr|` token is a seller's until revoked.
    sandbox.revoke("Atzr|revoked");
    let wrong = [
        (
            LwaCredentials::new(Sandbox::CLIENT_ID, "wrong-secret", Sandbox::REFRESH_TOKEN),
            "invalid_client",
        ),
        (
            LwaCredentials::new(Sandbox::CLIENT_ID, Sandbox::CLIENT_SECRET, "Atzr|revoked"),
            "invalid_grant",
        ),
    ];
    for (credentials, expected) in wrong {
        let client = sandbox
            .client_builder()
            .credentials(credentials)
            .build()
            .unwrap();
        let result = client
            .get_tracking()
            .tracking_id("TBA000000000001")
            .carrier_id("AMZN_UK")
            .send()
            .await;
        match result.unwrap_err() {
            Error::Auth {
                source: AuthError::Lwa { status, error, .. },
                ..
            } => {
                assert_eq!((status, error.as_str()), (400, expected));
            }
            other => panic!("expected an LWA error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// 5. Not found

#[tokio::test]
async fn unknown_shipments_and_tracking_ids_are_404_in_amazons_shape() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();

    let cancel = client
        .cancel_shipment()
        .shipment_id("40000000000000")
        .send()
        .await;
    let error = api_error(cancel.unwrap_err());
    assert_eq!(error.status, 404);
    assert_eq!(error.errors[0].code, "NotFound");
    assert!(error.errors[0].message.contains("40000000000000"));
    assert!(error.request_id.is_some());
    assert_eq!(error.rate_limit, Some(80.0));

    // Nothing lives at other paths or methods either.
    let response = http()
        .delete(format!(
            "{}/shipping/v2/shipments/1/cancel",
            sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: types::ErrorList = response.json().await.unwrap();
    assert_eq!(body.errors[0].code, "NotFound");

    let tracking = client
        .get_tracking()
        .tracking_id("TBA999999999999")
        .carrier_id("AMZN_UK")
        .send()
        .await;
    let error = api_error(tracking.unwrap_err());
    assert_eq!(
        (error.status, error.errors[0].code.as_str()),
        (404, "NotFound")
    );
}

// ---------------------------------------------------------------------------
// Requests are checked like Amazon checks them

#[tokio::test]
async fn an_invalid_body_is_a_400_naming_the_problem() {
    let sandbox = Sandbox::start().await;
    let token = access_token(&sandbox).await;
    let url = format!("{}/shipping/v2/shipments/rates", sandbox.base_url());
    let http = http();
    let send = |body: String| {
        http.post(&url)
            .header("x-amz-access-token", &token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let mut missing_channel = parcel_from("GB", 1.0);
    missing_channel
        .as_object_mut()
        .unwrap()
        .remove("channelDetails");
    let response = send(missing_channel.to_string()).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: types::ErrorList = response.json().await.unwrap();
    assert_eq!(body.errors[0].code, "InvalidInput");
    let details = body.errors[0].details.clone().unwrap();
    assert!(
        details.contains("channelDetails: required field missing"),
        "{details}"
    );

    let response = send("{\"shipFrom\": ".to_owned()).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: types::ErrorList = response.json().await.unwrap();
    assert_eq!(
        body.errors[0].message,
        "The request body is not valid JSON."
    );

    // A rate id that getRates never returned.
    let client = sandbox.client();
    let rates = get_rates(&client, parcel_from("GB", 1.0)).await;
    let mut request = purchase_request(&rates, cheapest(&rates), "PNG");
    request["rateId"] = json!("NOT-A-RATE");
    let result = client
        .purchase_shipment()
        .body(typed::<types::PurchaseShipmentRequest>(request))
        .send()
        .await;
    let error = api_error(result.unwrap_err());
    assert_eq!(error.status, 400);
    assert_eq!(error.errors[0].code, "InvalidInput");
    assert_eq!(error.errors[0].message, "Invalid requestToken or rateId");
}

// ---------------------------------------------------------------------------
// Purchases Amazon would refuse (amzn/selling-partner-api-models #4903, #4759)

const INVALID_DOCUMENTATION: &str = "An invalid documentation specification was provided. \
     Please provide a documentation specification based on the GetRates response.";
const INVALID_SERVICES: &str = "The requested value added services are invalid. \
     Please check the value added services offered in the GetRates response.";

/// Sends a purchase body, returning Amazon's error list of a refusal.
async fn purchase_refused(client: &Client, body: Value) -> Box<ApiError> {
    let result = client
        .purchase_shipment()
        .body(typed::<types::PurchaseShipmentRequest>(body))
        .send()
        .await;
    api_error(result.expect_err("the sandbox refuses the purchase"))
}

/// The `InvalidInput` "Invalid input." 400 Amazon answers, with its details.
fn assert_amazon_refusal(error: &ApiError, details: &str) {
    assert_eq!(error.status, 400, "{error:?}");
    assert_eq!(error.errors.len(), 1, "{error:?}");
    assert_eq!(error.errors[0].code, "InvalidInput");
    assert_eq!(error.errors[0].message, "Invalid input.");
    assert_eq!(error.errors[0].details.as_deref(), Some(details));
}

#[tokio::test]
async fn a_planned_purchase_of_every_rate_and_format_is_accepted() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let mut bought = 0;
    for country in ["GB", "US"] {
        let quote = Quote::new(get_rates(&client, parcel_from(country, 1.5)).await);
        for rate in &quote.rates {
            for format in ["PDF", "PNG", "ZPL"] {
                let wishes = Wishes::new().format(format.parse().unwrap());
                let request = quote
                    .plan(rate.rate_id.as_deref().unwrap(), &wishes)
                    .unwrap();
                let wanted = request
                    .requested_document_specification
                    .requested_document_types
                    .len();
                let shipment = client
                    .purchase_shipment()
                    .body(request)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{country} {:?} {format}: {e}", rate.service_id))
                    .into_inner()
                    .payload
                    .unwrap();
                let documents = decode_all(&shipment.package_document_details[0]).unwrap();
                assert_eq!(documents.len(), wanted, "{format} {:?}", rate.service_id);
                assert_eq!(documents[0].document_type, "LABEL");
                bought += 1;
            }
        }
    }
    assert_eq!(sandbox.executed("purchaseShipment"), bought);
    assert_eq!(bought, 18);
}

#[tokio::test]
async fn amazon_s_network_needs_a_joined_pdf_with_its_packing_slip() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let quote = Quote::new(get_rates(&client, parcel_from("GB", 1.0)).await);
    let rate = quote
        .rates
        .iter()
        .find(|r| r.carrier_id.as_deref().unwrap() == "AMZN_UK")
        .unwrap();

    // The body of #4903: a 4x6 PDF label alone, in separate files, no dpi.
    let body = json!({
        "requestToken": quote.request_token,
        "rateId": rate.rate_id,
        "requestedDocumentSpecification": {
            "format": "PDF",
            "size": { "width": 4, "length": 6, "unit": "INCH" },
            "pageLayout": "DEFAULT",
            "needFileJoining": false,
            "requestedDocumentTypes": ["LABEL"],
        },
    });
    let error = purchase_refused(&client, body.clone()).await;
    assert_amazon_refusal(&error, INVALID_DOCUMENTATION);

    // Amazon does not say why; the client's check does, before sending.
    let reasons = quote.check(&typed(body.clone())).unwrap_err().to_string();
    for reason in [
        "dpi is missing",
        "pageLayout DEFAULT is not offered for PDF 4x6 INCH",
        "needFileJoining false is not offered for PDF 4x6 INCH",
        "requestedDocumentTypes lacks PACKSLIP",
    ] {
        assert!(reasons.contains(reason), "{reason} in {reasons}");
    }

    // Each rule on its own is enough for Amazon to refuse.
    let fixed = json!({
        "format": "PDF",
        "size": { "width": 4, "length": 6, "unit": "INCH" },
        "dpi": 300,
        "pageLayout": "LEFT",
        "needFileJoining": true,
        "requestedDocumentTypes": ["LABEL", "PACKSLIP"],
    });
    for (field, wrong) in [
        ("dpi", json!(600)),
        ("pageLayout", json!("RIGHT")),
        ("needFileJoining", json!(false)),
        ("requestedDocumentTypes", json!(["LABEL"])),
        (
            "requestedDocumentTypes",
            json!(["LABEL", "PACKSLIP", "CUSTOM_FORM"]),
        ),
        ("size", json!({ "width": 4, "length": 8, "unit": "INCH" })),
        (
            "size",
            json!({ "width": 10, "length": 15, "unit": "CENTIMETER" }),
        ),
    ] {
        let mut body = body.clone();
        body["requestedDocumentSpecification"] = fixed.clone();
        body["requestedDocumentSpecification"][field] = wrong.clone();
        let error = purchase_refused(&client, body.clone()).await;
        assert_amazon_refusal(&error, INVALID_DOCUMENTATION);
        assert!(
            quote.check(&typed(body)).is_err(),
            "the check refuses {field} {wrong} too"
        );
    }
    assert_eq!(sandbox.executed("purchaseShipment"), 0);

    // What the planner asks for is bought, packing slip and all.
    let mut body = body;
    body["requestedDocumentSpecification"] = fixed;
    assert_eq!(quote.check(&typed(body.clone())), Ok(()));
    let shipment = client
        .purchase_shipment()
        .body(typed::<types::PurchaseShipmentRequest>(body))
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    let documents = decode_all(&shipment.package_document_details[0]).unwrap();
    let kinds: Vec<&str> = documents.iter().map(|d| d.document_type.as_str()).collect();
    assert_eq!(kinds, ["LABEL", "PACKSLIP"]);
    assert!(documents.iter().all(|d| d.format == LabelFormat::Pdf));
}

#[tokio::test]
async fn a_required_value_added_service_group_must_be_answered() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let quote = Quote::new(get_rates(&client, parcel_from("GB", 1.0)).await);
    let royal_mail = quote
        .rates
        .iter()
        .find(|r| r.carrier_id.as_deref().unwrap() == "ROYAL_MAIL")
        .unwrap();
    let group = royal_mail
        .available_value_added_service_groups
        .as_ref()
        .unwrap()
        .iter()
        .find(|g| g.is_required == Some(true))
        .expect("a required group");
    assert_eq!(group.group_id.as_deref(), Some("DELIVERY_PROOF"));
    let body = |services: Value| {
        json!({
            "requestToken": quote.request_token,
            "rateId": royal_mail.rate_id,
            "requestedDocumentSpecification": label_spec("PNG"),
            "requestedValueAddedServices": services,
        })
    };

    // #4759: no value-added services at all, while a group is required.
    let mut unanswered = body(json!(null));
    unanswered
        .as_object_mut()
        .unwrap()
        .remove("requestedValueAddedServices");
    let error = purchase_refused(&client, unanswered.clone()).await;
    assert_amazon_refusal(&error, INVALID_SERVICES);
    let reason = quote.check(&typed(unanswered)).unwrap_err().to_string();
    assert!(
        reason.contains("value-added service group DELIVERY_PROOF is required by rate")
            && reason.ends_with("offered: PROOF_SCAN, PROOF_PHOTO"),
        "{reason}"
    );

    // A service the rate does not offer.
    let unknown = body(json!([{ "id": "PROOF_SCAN" }, { "id": "DECLARED_VALUE" }]));
    let error = purchase_refused(&client, unknown).await;
    assert_amazon_refusal(&error, INVALID_SERVICES);
    assert_eq!(sandbox.executed("purchaseShipment"), 0);

    // Answered: bought, and the receipt lists the service.
    let answered = body(json!([{ "id": "PROOF_PHOTO" }]));
    assert_eq!(quote.check(&typed(answered.clone())), Ok(()));
    client
        .purchase_shipment()
        .body(typed::<types::PurchaseShipmentRequest>(answered))
        .send()
        .await
        .expect("an answered group is accepted");

    // The planner answers it with the cheapest service unless told otherwise.
    let planned = quote
        .plan(royal_mail.rate_id.as_deref().unwrap(), &Wishes::new())
        .unwrap();
    let services = planned.requested_value_added_services.as_ref().unwrap();
    assert_eq!(services.0[0].id, "PROOF_SCAN");
    let wishes = Wishes::new().value_added_service("DELIVERY_PROOF", "PROOF_PHOTO");
    let planned = quote
        .plan(royal_mail.rate_id.as_deref().unwrap(), &wishes)
        .unwrap();
    assert_eq!(
        planned.requested_value_added_services.as_ref().unwrap().0[0].id,
        "PROOF_PHOTO"
    );
    client
        .purchase_shipment()
        .body(planned)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.executed("purchaseShipment"), 2);
}

#[tokio::test]
async fn a_quote_older_than_ten_minutes_is_refused_before_and_by_the_sandbox() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let result = get_rates(&client, parcel_from("GB", 1.0)).await;
    let quote = Quote::new(result.clone());
    let request = quote.cheapest(&Wishes::new()).unwrap().request;

    sandbox.age_quotes(std::time::Duration::from_secs(11 * 60));
    let error = purchase_refused(&client, serde_json::to_value(&request).unwrap()).await;
    assert_amazon_refusal(
        &error,
        "The requestToken has expired: rates can be purchased for 10 minutes after GetRates. \
         Please call GetRates again.",
    );

    // The planner reports the age before anything is sent.
    let stale = Quote::received_at(result, chrono::Utc::now() - chrono::Duration::minutes(11));
    let error = stale.check(&request).unwrap_err();
    assert!(
        matches!(error, PlanError::QuoteExpired { age } if age.as_secs() >= 660),
        "{error:?}"
    );
    assert!(error.to_string().contains("get rates again"), "{error}");
    assert_eq!(sandbox.executed("purchaseShipment"), 0);
}

// ---------------------------------------------------------------------------
// Rates

#[tokio::test]
async fn rates_are_priced_in_the_ship_from_currency_and_grow_with_weight() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    for (country, currency) in [("GB", "GBP"), ("US", "USD"), ("IN", "INR"), ("DE", "EUR")] {
        let rates = get_rates(&client, parcel_from(country, 1.0)).await;
        assert!(
            rates
                .rates
                .iter()
                .all(|r| r.total_charge.as_ref().unwrap().unit.as_str() == currency),
            "{country}: {:?}",
            rates.rates
        );
        let rate = &rates.rates[0];
        let items = rate.rate_item_list.as_ref().unwrap();
        let sum: f64 = items
            .iter()
            .map(|i| i.rate_item_charge.as_ref().unwrap().value)
            .sum();
        assert!(
            (sum - rate.total_charge.as_ref().unwrap().value).abs() < 0.005,
            "{items:?}"
        );
        assert_eq!(rate.requires_additional_inputs, Some(false));
    }
    let light = get_rates(&client, parcel_from("GB", 1.0)).await;
    let heavy = get_rates(&client, parcel_from("GB", 12.0)).await;
    for (light, heavy) in light.rates.iter().zip(heavy.rates.iter()) {
        assert_eq!(light.service_id, heavy.service_id);
        assert!(
            heavy.total_charge.as_ref().unwrap().value > light.total_charge.as_ref().unwrap().value
        );
    }

    // What the sandbox sends decodes with the crate's decoder, byte for byte.
    let token = access_token(&sandbox).await;
    let raw = http()
        .post(format!(
            "{}/shipping/v2/shipments/rates",
            sandbox.base_url()
        ))
        .header("x-amz-access-token", token)
        .json(&fixture("getRates")["body"])
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let body = raw.bytes().await.unwrap();
    let decoded = spapi_shipping::decode::decode("get_rates", 200, &body).unwrap();
    let decoded: types::GetRatesResponse = serde_json::from_value(decoded.unwrap()).unwrap();
    assert!(decoded.payload.unwrap().rates.len() >= 2);
}

// ---------------------------------------------------------------------------
// 6. All 20 operations

#[tokio::test]
async fn every_operation_answers_a_realistic_request_with_its_documented_type() {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    let body = |op: &str| fixture(op)["body"].clone();

    // getRates, getAdditionalInputs, purchaseShipment (Mumbai -> Bengaluru).
    let rates = get_rates(&client, body("getRates")).await;
    let rate = cheapest(&rates).clone();
    let schema = client
        .get_additional_inputs()
        .request_token(rates.request_token.as_deref().unwrap())
        .rate_id(rate.rate_id.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert!(schema["properties"]["harmonizedSystemCode"].is_object());

    let mut purchase = body("purchaseShipment");
    purchase["requestToken"] = json!(rates.request_token);
    purchase["rateId"] = json!(rate.rate_id);
    let key = fixture("purchaseShipment")["headers"]["x-amzn-IdempotencyKey"].clone();
    let bought = client
        .purchase_shipment()
        .x_amzn_idempotency_key(key.as_str().unwrap())
        .body(typed::<types::PurchaseShipmentRequest>(purchase))
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    let india_tracking = tracking_id(&bought.package_document_details[0]);
    assert_eq!(
        bought
            .benefits
            .as_ref()
            .map(|b| b.included_benefits.is_empty()),
        Some(!rate.carrier_id.as_deref().unwrap().starts_with("AMZN_"))
    );

    // getShipmentDocuments, as the fixture asks: a 300 dpi PDF.
    let documents = client
        .get_shipment_documents()
        .shipment_id(bought.shipment_id.as_deref().unwrap())
        .package_client_reference_id("DE-IN-20241125-0001")
        .format("PDF")
        .dpi(300.0)
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(documents.shipment_id, bought.shipment_id);
    assert_eq!(
        decode_all(documents.package_document_detail.as_ref().unwrap()).unwrap()[0].format,
        LabelFormat::Pdf
    );

    // getTracking.
    let tracking = client
        .get_tracking()
        .tracking_id(india_tracking.as_str())
        .carrier_id(rate.carrier_id.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(
        tracking.summary.as_ref().unwrap().status,
        Some(Status::InTransit)
    );

    // directPurchaseShipment: Seattle -> Portland, ZPL at 203 dpi.
    let direct = client
        .direct_purchase_shipment()
        .x_amzn_idempotency_key("8b91f6ad-3635-4810-a0a6-7a6f4be91963")
        .body(typed::<types::DirectPurchaseRequest>(body(
            "directPurchaseShipment",
        )))
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    let direct_packages = direct.package_document_detail_list.as_ref().unwrap();
    let zpl = &decode_all(&direct_packages[0]).unwrap()[0];
    assert_eq!(zpl.format, LabelFormat::Zpl);
    assert!(String::from_utf8_lossy(&zpl.bytes).contains("^PW812"));

    // oneClickShipment: Leeds -> Harrogate, label and packing slip as PDF.
    let one_click = client
        .one_click_shipment()
        .body(typed::<types::OneClickShipmentRequest>(body(
            "oneClickShipment",
        )))
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap();
    assert_eq!(
        one_click.service.as_ref().unwrap().id.as_deref().unwrap(),
        "SWA-UK-PREM"
    );
    assert_eq!(
        one_click.carrier.as_ref().unwrap().id.as_deref().unwrap(),
        "AMZN_UK"
    );
    assert_eq!(
        one_click.total_charge.as_ref().unwrap().unit.as_str(),
        "GBP"
    );
    let kinds: Vec<String> = decode_all(&one_click.package_document_details[0])
        .unwrap()
        .into_iter()
        .map(|d| d.document_type)
        .collect();
    assert_eq!(kinds, ["LABEL", "PACKSLIP"]);

    // cancelShipment (the one-click shipment).
    let cancelled = client
        .cancel_shipment()
        .shipment_id(one_click.shipment_id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);

    // Carrier accounts: form inputs, link (PUT and POST), list, unlink.
    let inputs = client
        .get_carrier_account_form_inputs()
        .send()
        .await
        .unwrap()
        .into_inner();
    let linkable: Vec<String> = inputs
        .linkable_carriers_list
        .unwrap()
        .iter()
        .filter_map(|c| c.carrier_id.as_ref().map(|id| id.to_string()))
        .collect();
    assert_eq!(linkable, ["FedEx", "UPS"]);
    let fedex = client
        .link_carrier_account()
        .carrier_id("FedEx")
        .body(typed::<types::LinkCarrierAccountRequest>(body(
            "linkCarrierAccount",
        )))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        fedex.registration_status,
        Some(types::AccountStatus::Active)
    );
    let fedex_id = fedex.account_id.unwrap().to_string();
    let ups = client
        .link_carrier_account_post()
        .carrier_id("UPS")
        .body(typed::<types::LinkCarrierAccountRequest>(body(
            "linkCarrierAccountPost",
        )))
        .send()
        .await
        .unwrap()
        .into_inner();
    let ups_id = ups.account_id.unwrap().to_string();
    let list_accounts = || async {
        client
            .get_carrier_accounts()
            .body(typed::<types::GetCarrierAccountsRequest>(body(
                "getCarrierAccounts",
            )))
            .send()
            .await
            .unwrap()
            .into_inner()
            .active_accounts
            .iter()
            .map(|a| {
                (
                    a.carrier_id.as_ref().unwrap().to_string(),
                    a.account_id.as_ref().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list_accounts().await,
        [
            ("FedEx".to_owned(), fedex_id.clone()),
            ("UPS".to_owned(), ups_id.clone())
        ]
    );
    let mut unlink = body("unlinkCarrierAccount");
    unlink["accountId"] = json!(fedex_id);
    let unlinked = client
        .unlink_carrier_account()
        .carrier_id("FedEx")
        .body(typed::<types::UnlinkCarrierAccountRequest>(unlink))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unlinked.is_unlinked, Some(true));
    assert_eq!(list_accounts().await, [("UPS".to_owned(), ups_id)]);

    let list_unmanifested = || async {
        client
            .get_unmanifested_shipments()
            .body(typed::<types::GetUnmanifestedShipmentsRequest>(body(
                "getUnmanifestedShipments",
            )))
            .send()
            .await
            .unwrap()
            .into_inner()
            .unmanifested_carrier_information_list
            .unwrap()
    };
    // Unmanifested shipments: the Indian and the American purchase (the
    // cancelled one-click shipment is not waiting for collection).
    let unmanifested = list_unmanifested().await;
    assert_eq!(unmanifested.len(), 2, "{unmanifested:?}");
    let seattle = unmanifested
        .iter()
        .find(|c| {
            let places = c.unmanifested_shipment_location_list.as_ref().unwrap();
            places[0].address.as_ref().unwrap().postal_code.as_str() == "98108"
        })
        .expect("the Seattle warehouse waits for collection");
    let us_carrier = seattle.carrier_id.as_ref().unwrap().to_string();

    // generateCollectionForm for that carrier and warehouse, then find it in
    // the history and fetch it again.
    let mut generate = body("generateCollectionForm");
    generate["carrierId"] = json!(us_carrier);
    let form = client
        .generate_collection_form()
        .x_amzn_idempotency_key("a820b137-b73c-4d8e-a081-564e89375157")
        .body(typed::<types::GenerateCollectionFormRequest>(generate))
        .send()
        .await
        .unwrap()
        .into_inner()
        .collections_form_document
        .unwrap();
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(form.base64_encoded_content.as_ref().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let mut history = body("getCollectionFormHistory");
    history["carrierId"] = json!(us_carrier);
    history["dateRange"] = json!({
        "startDate": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        "endDate": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    });
    let records = client
        .get_collection_form_history()
        .body(typed::<types::GetCollectionFormHistoryRequest>(history))
        .send()
        .await
        .unwrap()
        .into_inner()
        .collection_forms_history_record_list
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].generation_status,
        Some(types::GenerationStatus::Completed)
    );
    let form_id = records[0].collection_form_id.as_ref().unwrap().to_string();
    let again = client
        .get_collection_form()
        .collection_form_id(form_id.as_str())
        .send()
        .await
        .unwrap()
        .into_inner()
        .collections_form_document
        .unwrap();
    assert_eq!(again.base64_encoded_content, form.base64_encoded_content);
    let unmanifested = list_unmanifested().await;
    assert_eq!(unmanifested.len(), 1, "the Seattle shipment was collected");

    // getAccessPoints, as the fixture asks.
    let query = &fixture("getAccessPoints")["query"];
    let kinds: Vec<types::GetAccessPointsAccessPointTypesItem> =
        typed(query["accessPointTypes"].clone());
    let points = client
        .get_access_points()
        .access_point_types(kinds)
        .country_code(query["countryCode"].as_str().unwrap())
        .postal_code(query["postalCode"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .into_inner()
        .payload
        .unwrap()
        .access_points_map;
    let mut found: Vec<&String> = points.keys().collect();
    found.sort();
    assert_eq!(found, ["3P", "CORE_LOCKER", "HELIX"]);
    let counter = &points["HELIX"][0];
    assert_eq!(
        counter.address.as_ref().unwrap().postal_code.as_str(),
        "EX33 2JL"
    );

    // submitNdrFeedback and createClaim for the Indian parcel.
    let mut ndr = body("submitNdrFeedback");
    ndr["trackingId"] = json!(india_tracking);
    let feedback = client
        .submit_ndr_feedback()
        .body(typed::<types::SubmitNdrFeedbackRequest>(ndr))
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), 204);
    let mut claim = body("createClaim");
    claim["trackingId"] = json!(india_tracking);
    let claim = client
        .create_claim()
        .body(typed::<types::CreateClaimRequest>(claim))
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 201);
    assert!(claim.into_inner().claim_id.is_some());

    // Every operation ran once, except getCarrierAccounts and
    // getUnmanifestedShipments, asked twice.
    for op in spapi_shipping::operations::OPERATIONS {
        let expected = match op.id {
            "getCarrierAccounts" | "getUnmanifestedShipments" => 2,
            _ => 1,
        };
        assert_eq!(sandbox.executed(op.id), expected, "{}", op.id);
    }
}

// ---------------------------------------------------------------------------
// Sharing

#[test]
fn a_sandbox_can_be_shared_between_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Sandbox>();
}
