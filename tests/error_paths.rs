//! Bad input says where, in Rust too (issue 18, item 9): the typed builders'
//! errors (`build/paths.rs`) and `validate::from_json` name the JSON path of
//! the offending value in the wire's names, through every level.

use serde_json::{Value, json};
use spapi_shipping::types::{self, builder};
use spapi_shipping::validate::{Violation, from_json};

fn address(line1: &str) -> builder::Address {
    types::Address::builder()
        .name("A. Buyer")
        .address_line1(line1)
        .city("Leeds")
        .postal_code("LS1 4AP")
        .country_code("GB")
}

fn item(currency: &str) -> builder::Item {
    types::Item::builder()
        .quantity(1)
        .item_value(types::Currency::builder().unit(currency).value(12.5))
}

fn package(items: Vec<builder::Item>) -> builder::Package {
    types::Package::builder()
        .dimensions(
            types::Dimensions::builder()
                .length(30.0)
                .width(20.0)
                .height(10.0)
                .unit(types::DimensionsUnit::Centimeter),
        )
        .weight(
            types::Weight::builder()
                .value(1.2)
                .unit(types::WeightUnit::Kilogram),
        )
        .insured_value(types::Currency::builder().unit("GBP").value(20.0))
        .package_client_reference_id("order-1234-1")
        .items(items)
}

fn request(ship_to: builder::Address, packages: Vec<builder::Package>) -> builder::GetRatesRequest {
    types::GetRatesRequest::builder()
        .ship_to(ship_to)
        .ship_from(address("2 Dock Rd"))
        .packages(packages)
        .channel_details(
            types::ChannelDetails::builder().channel_type(types::ChannelType::External),
        )
}

fn build(request: builder::GetRatesRequest) -> Result<types::GetRatesRequest, String> {
    types::GetRatesRequest::try_from(request).map_err(|e| e.to_string())
}

#[test]
fn a_valid_nested_builder_builds_the_request_it_describes() {
    let built = build(request(
        address("1 Main St"),
        vec![package(vec![item("GBP")])],
    ))
    .unwrap();
    let ship_to = built.ship_to.as_ref().unwrap();
    assert_eq!(ship_to.address_line1.as_str(), "1 Main St");
    assert_eq!(built.ship_from.address_line1.as_str(), "2 Dock Rd");
    let unit = &built.packages[0].items[0].item_value.as_ref().unwrap().unit;
    assert_eq!(unit.as_str(), "GBP");
}

#[test]
fn a_nested_builder_s_error_names_the_field_it_sits_in() {
    let too_long = "x".repeat(61);
    let err = build(request(
        address(&too_long),
        vec![package(vec![item("GBP")])],
    ))
    .unwrap_err();
    assert_eq!(err, "shipTo.addressLine1: longer than 60 characters (61)");

    let err = build(
        request(address("1 Main St"), vec![package(vec![item("GBP")])]).ship_from(address("")),
    )
    .unwrap_err();
    assert_eq!(err, "shipFrom.addressLine1: shorter than 1 characters (0)");
}

#[test]
fn a_list_element_s_error_names_its_index_through_every_level() {
    let packages = vec![
        package(vec![item("GBP")]),
        package(vec![item("GBP"), item("EURO")]),
    ];
    let err = build(request(address("1 Main St"), packages)).unwrap_err();
    assert_eq!(
        err,
        "packages[1].items[1].itemValue.unit: longer than 3 characters (4)"
    );
}

#[test]
fn a_required_field_left_unset_is_named_by_its_path() {
    let no_city = types::Address::builder()
        .name("A. Buyer")
        .address_line1("1 Main St")
        .postal_code("LS1 4AP")
        .country_code("GB");
    let err =
        build(request(address("1 Main St"), vec![package(vec![item("GBP")])]).ship_from(no_city))
            .unwrap_err();
    assert_eq!(err, "shipFrom.city: required field missing");

    let err = build(types::GetRatesRequest::builder()).unwrap_err();
    assert_eq!(err, "channelDetails: required field missing");
}

#[test]
fn a_top_level_setter_names_its_wire_field() {
    let err = types::Address::try_from(address("1 Main St").name("n".repeat(51)))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "name: longer than 50 characters (51)");
}

fn body() -> Value {
    json!({
        "shipTo": { "name": "A. Buyer", "addressLine1": "1 Main St", "city": "Leeds",
                    "postalCode": "LS1 4AP", "countryCode": "GB" },
        "shipFrom": { "name": "Warehouse", "addressLine1": "2 Dock Rd", "city": "Hull",
                      "postalCode": "HU1 1AA", "countryCode": "GB" },
        "packages": [{
            "dimensions": { "length": 30, "width": 20, "height": 10, "unit": "CENTIMETER" },
            "weight": { "value": 1.2, "unit": "KILOGRAM" },
            "insuredValue": { "value": 20, "unit": "GBP" },
            "packageClientReferenceId": "order-1234-1",
            "items": [{ "quantity": 1 }, { "quantity": 1, "itemValue": { "value": 5, "unit": "GBP" } }]
        }],
        "channelDetails": { "channelType": "EXTERNAL" }
    })
}

#[test]
fn from_json_names_the_path_serde_json_cannot() {
    let mut value = body();
    value["shipTo"]["addressLine1"] = json!("x".repeat(61));
    // What plain serde says: the constraint, with the length, but not where.
    let plain = serde_json::from_value::<types::GetRatesRequest>(value.clone()).unwrap_err();
    assert_eq!(plain.to_string(), "longer than 60 characters (61)");

    let err = from_json::<types::GetRatesRequest>(value).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shipTo.addressLine1: longer than 60 characters (61)"
    );
    assert_eq!(err.path, "shipTo.addressLine1");
    assert_eq!(err.message, "longer than 60 characters (61)");

    let mut value = body();
    value["packages"][0]["items"][1]["itemValue"]["unit"] = json!("EURO");
    let err: Violation = from_json::<types::GetRatesRequest>(value).unwrap_err();
    assert_eq!(
        err.to_string(),
        "packages[0].items[1].itemValue.unit: longer than 3 characters (4)"
    );

    let request: types::GetRatesRequest = from_json(body()).unwrap();
    assert_eq!(request.ship_from.city.as_str(), "Hull");
}

#[test]
fn from_json_says_what_the_spec_walker_says() {
    let mut value = body();
    value["shipTo"]["addressLine1"] = json!("x".repeat(61));
    let walked = spapi_shipping::validate::check_request_body("getRates", &value);
    let read = from_json::<types::GetRatesRequest>(value).unwrap_err();
    assert_eq!(walked, vec![read]);
}

#[tokio::test]
async fn a_client_call_with_a_bad_builder_names_the_path_and_sends_nothing() {
    // Nothing listens on port 9: the call must fail before any request.
    let client = spapi_shipping::Client::builder()
        .endpoint("http://127.0.0.1:9")
        .build()
        .unwrap();
    let too_long = "x".repeat(61);
    let err = client
        .get_rates()
        .body(request(
            address(&too_long),
            vec![package(vec![item("GBP")])],
        ))
        .send()
        .await
        .unwrap_err();
    let spapi_shipping::Error::InvalidRequest { message, .. } = &err else {
        panic!("not an invalid request: {err:?}");
    };
    assert!(
        message.ends_with("shipTo.addressLine1: longer than 60 characters (61)"),
        "{message}"
    );
}
