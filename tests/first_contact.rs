//! Issue 14, "docs and first contact": what a new user meets first.
//! String ids in the typed builders, typed mocks through the re-exported
//! httpmock, the CLI's `sandbox` command and `--verbose`.
#![cfg(all(feature = "cli", feature = "mock"))]

use serde_json::json;
use spapi_shipping::mock::httpmock::MockServer;
use spapi_shipping::typed_mocks::MockServerExt as _;
use spapi_shipping::{Client, types};

/// The unconstrained string newtypes take `&str`, in their own `From` and in
/// every typed builder setter; before, `.city("Leeds")` did not compile and
/// needed `types::City::from("Leeds".to_owned())`.
#[test]
fn typed_builders_take_str_for_unconstrained_string_newtypes() {
    let address: types::Address = types::Address::builder()
        .name("E. Whitcombe")
        .address_line1("14 Larkspur Close")
        .city("Harrogate")
        .postal_code("HG3 1QT")
        .country_code("GB")
        .try_into()
        .unwrap();
    let encoded = serde_json::to_value(&address).unwrap();
    assert_eq!(encoded["city"], "Harrogate");
    assert_eq!(encoded["postalCode"], "HG3 1QT");
    assert_eq!(encoded["countryCode"], "GB");

    let purchase: types::PurchaseShipmentRequest = types::PurchaseShipmentRequest::builder()
        .rate_id("rate-1")
        .request_token("token-1")
        .requested_document_specification(
            serde_json::from_value::<types::RequestedDocumentSpecification>(json!({
                "format": "PDF", "size": {"width": 4, "length": 6, "unit": "INCH"},
                "needFileJoining": false, "requestedDocumentTypes": ["LABEL"]
            }))
            .unwrap(),
        )
        .try_into()
        .unwrap();
    assert_eq!(purchase.rate_id.as_str(), "rate-1");
    assert_eq!(purchase.request_token.as_str(), "token-1");

    let feedback = types::SubmitNdrFeedbackRequest::builder()
        .tracking_id("1Z999AA10123456784")
        .ndr_action(types::NdrAction::Reattempt);
    let feedback = types::SubmitNdrFeedbackRequest::try_from(feedback).unwrap();
    assert_eq!(
        feedback.tracking_id,
        types::TrackingId::from("1Z999AA10123456784")
    );
    assert_eq!(
        types::ShipmentId::from("s-1"),
        types::ShipmentId::from("s-1".to_owned())
    );
}

/// A constrained newtype still checks its constraint through the setter.
#[test]
fn constrained_string_newtypes_still_refuse_what_breaks_them() {
    let too_long = "x".repeat(61);
    let result: Result<types::Address, _> = types::Address::builder()
        .name("E. Whitcombe")
        .address_line1(too_long.as_str())
        .city("Harrogate")
        .postal_code("HG3 1QT")
        .country_code("GB")
        .try_into();
    let err = result.unwrap_err().to_string();
    assert!(err.contains("address_line1"), "{err}");
}

/// Typed mocks with only `spapi_shipping` in scope: the httpmock server is
/// the re-exported one, the answer built with `&str` ids.
#[tokio::test]
async fn typed_mocks_work_through_the_reexported_httpmock() {
    let server = MockServer::start_async().await;
    let answer = types::GetTrackingResponse {
        payload: Some(
            types::GetTrackingResult::builder()
                .tracking_id("TRK-7")
                .event_history(Vec::new())
                .summary(types::TrackingSummary::builder().status(types::Status::Delivered))
                .try_into()
                .unwrap(),
        ),
    };
    let mock = server.get_tracking(|when, then| {
        when.tracking_id("TRK-7").carrier_id("AMZN_UK");
        then.ok(&answer);
    });
    let client = Client::builder()
        .endpoint(server.base_url())
        .build()
        .unwrap();
    let got = client
        .get_tracking()
        .tracking_id("TRK-7")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .unwrap()
        .into_inner();
    mock.assert();
    assert_eq!(
        got.payload.unwrap().summary.status,
        Some(types::Status::Delivered)
    );
}
