//! One parcel, start to finish, with the typed builders: rates, a planned
//! purchase, its label files, tracking, cancellation. Offline: it runs
//! against the embedded sandbox (`spapi_shipping::mock::Sandbox`), which
//! answers and refuses as Amazon does.
//!
//! ```sh
//! cargo run --example ship_one
//! ```
//!
//! Against Amazon, replace the sandbox's client with `Client::from_env()?`
//! (one client per seller, kept for the process's life). The same parcel as
//! JSON, for `spapi-shipping buy --rates-request`, is
//! `examples/rates-request.json`.

use std::path::Path;

use spapi_shipping::documents::{SaveOptions, decode_all, save_all};
use spapi_shipping::mock::Sandbox;
use spapi_shipping::purchase::{Quote, Wishes};
use spapi_shipping::types;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("ship_one failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let sandbox = Sandbox::start().await;
    let client = sandbox.client();
    println!("sandbox: {}", sandbox.base_url());

    // 1. Rates for the parcel.
    let rates = client
        .get_rates()
        .body(parcel()?)
        .send()
        .await?
        .into_inner()
        .payload
        .ok_or("getRates answered without a payload")?;
    println!("rates: {} offered", rates.rates.len());

    // 2. Plan: the cheapest rate with a 4x6 inch PDF label, and a request
    // that keeps its rules (dpi, layout, file joining, mandatory packing
    // slip, required value-added services). The token lives 10 minutes.
    let quote = Quote::new(rates);
    let wishes = Wishes::new()
        .format(types::DocumentFormat::Pdf)
        .size_inches(4.0, 6.0);
    let planned = quote.cheapest(&wishes)?;
    let rate = planned.rate;
    // getTracking needs the rate's carrier id: the purchase answer does not
    // carry it, so keep it now.
    let carrier_id = rate.carrier_id.clone().ok_or("the rate has no carrierId")?;
    println!(
        "plan: {} by {} (carrier id {}), {:.2} {}",
        rate.service_name.as_str(),
        rate.carrier_name.as_str(),
        carrier_id.as_str(),
        planned.cost,
        rate.total_charge.as_ref().map_or("", |c| c.unit.as_str()),
    );

    // 3. Buy. The idempotency key is chosen here, so it can be stored with
    // the order *before* sending: after a crash or a timeout, resending the
    // same request with the same key buys at most once.
    let key = uuid::Uuid::new_v4().to_string();
    let bought = client
        .purchase_shipment()
        .x_amzn_idempotency_key(key.as_str())
        .body(planned.request)
        .send()
        .await?
        .into_inner()
        .payload
        .ok_or("purchaseShipment answered without a payload")?;
    let shipment_id = bought.shipment_id.ok_or("the answer has no shipmentId")?;
    println!("bought: shipment {} (key {key})", shipment_id.as_str());

    // 4. Save every document of every package in one call: no two share a
    // name, each written atomically, mode 0600 (labels carry addresses).
    let mut documents = Vec::new();
    for package in bought.package_document_details.iter() {
        documents.extend(decode_all(package)?);
    }
    let files = save_all(&documents, Path::new("labels"), &SaveOptions::default())?;
    for (document, file) in documents.iter().zip(&files) {
        println!("saved: {} {}", document.document_type, file.display());
    }

    // 5. Track each package with the rate's carrier id.
    for package in bought.package_document_details.iter() {
        let tracking_id = package.tracking_id.as_ref().ok_or("no tracking id")?;
        let tracking = client
            .get_tracking()
            .tracking_id(tracking_id.as_str())
            .carrier_id(carrier_id.as_str())
            .send()
            .await?
            .into_inner()
            .payload
            .ok_or("getTracking answered without a payload")?;
        let status = tracking.summary.and_then(|s| s.status);
        println!(
            "tracking: {} {}",
            tracking_id.as_str(),
            status.map_or("no status yet".to_owned(), |s| s.to_string())
        );
    }

    // 6. Cancel (a real label that will not ship is refunded this way).
    client
        .cancel_shipment()
        .shipment_id(shipment_id.as_str())
        .send()
        .await?;
    println!("cancelled: shipment {}", shipment_id.as_str());
    Ok(())
}

/// A 1.2 kg parcel from Leeds to Harrogate, built with the typed builders.
///
/// A nested builder goes straight into its parent's setter, required or
/// optional (`.ship_from`, `.ship_to`, `.dimensions`, `.item_value`); a list
/// of them (`.packages`, `.items`) is a `Vec` of builders; an optional plain
/// string is an `Option<String>` (`.description(Some(..))`). Nothing is
/// converted by hand: one `try_into()?` at the end turns the whole tree into
/// `types::GetRatesRequest`, and an error names the field's path
/// (`shipFrom.addressLine1: longer than 60 characters (61)`; in a list, with
/// its index).
fn parcel() -> Result<types::GetRatesRequest> {
    let address = |name: &str, line1: &str, city: &str, postal_code: &str| {
        types::Address::builder()
            .name(name)
            .address_line1(line1)
            .city(city)
            .postal_code(postal_code)
            .country_code("GB")
    };
    let item = types::Item::builder()
        .quantity(1)
        // An optional plain string takes an `Option`.
        .description(Some("Teapot".to_owned()))
        .item_value(types::Currency::builder().value(25.0).unit("GBP"));
    let package = types::Package::builder()
        .package_client_reference_id("ORDER-1001-1")
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
        .insured_value(types::Currency::builder().value(25.0).unit("GBP"))
        .items(vec![item]);
    let request = types::GetRatesRequest::builder()
        .ship_from(address("Despatch", "1 Mill Lane", "Leeds", "LS11 5QE"))
        .ship_to(address(
            "E. Whitcombe",
            "14 Larkspur Close",
            "Harrogate",
            "HG3 1QT",
        ))
        .packages(vec![package])
        .channel_details(
            types::ChannelDetails::builder().channel_type(types::ChannelType::External),
        )
        .try_into()?;
    Ok(request)
}
