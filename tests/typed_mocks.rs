//! The typed mocks progenitor generates (feature `mock`): a user's test
//! scripts Amazon's answer with typed values and the client decodes them.
#![cfg(feature = "mock")]

use httpmock::MockServer;
use spapi_shipping::mock::typed::MockServerExt;
use spapi_shipping::{Client, Error, types};

fn client(server: &MockServer) -> Client {
    Client::builder()
        .endpoint(server.base_url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_scripted_tracking_answer_is_decoded_typed() {
    let server = MockServer::start_async().await;
    let answer: types::GetTrackingResponse = serde_json::from_value(serde_json::json!({
        "payload": {
            "trackingId": "TRK-1", "alternateLegTrackingId": "ALT-1",
            "eventHistory": [{"eventCode": "PickupDone", "eventTime": "2024-11-23T10:00:00Z"}],
            "promisedDeliveryDate": "2024-11-25T18:00:00Z",
            "summary": {"status": "InTransit"}
        }
    }))
    .unwrap();
    let mock = server.get_tracking(|when, then| {
        when.tracking_id("TRK-1").carrier_id("AMZN_UK");
        then.ok(&answer);
    });

    let got = client(&server)
        .get_tracking()
        .tracking_id("TRK-1")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .unwrap()
        .into_inner();
    mock.assert();
    assert_eq!(got, answer);
}

#[tokio::test]
async fn comma_separated_access_point_types_are_matched_as_sent() {
    let server = MockServer::start_async().await;
    let mock = server.get_access_points(|when, then| {
        when.access_point_types("HELIX,CORE_LOCKER")
            .country_code("GB")
            .postal_code("EX33 2JL");
        then.not_found(&types::ErrorList {
            errors: vec![types::Error {
                code: "NotFound".into(),
                message: "No access points".into(),
                details: None,
            }],
        });
    });

    let err = client(&server)
        .get_access_points()
        .access_point_types(vec![
            types::GetAccessPointsAccessPointTypesItem::Helix,
            types::GetAccessPointsAccessPointTypesItem::CoreLocker,
        ])
        .country_code("GB")
        .postal_code("EX33 2JL")
        .send()
        .await
        .unwrap_err();
    mock.assert();
    let Error::Api(api) = err else {
        panic!("expected an API error")
    };
    assert_eq!((api.status, api.errors[0].code.as_str()), (404, "NotFound"));
}
