//! The whole label flow in one run: rates for a parcel, the cheapest rate
//! with a 4x6 PDF label bought (the request planned by
//! `spapi_shipping::purchase`, so Amazon does not refuse it), its documents
//! saved, tracking, cancellation.
//!
//! With no credentials in the environment it starts the offline sandbox
//! (`spapi_shipping::mock::Sandbox`) and runs against it. With `LWA_APP_ID`,
//! `LWA_CLIENT_SECRET` and `SP_API_REFRESH_TOKEN` set it runs against Amazon,
//! configured by `Client::from_env()`. Buying a label costs money, so against
//! Amazon it only runs on the sandbox hosts (`SP_API_SANDBOX=true`) unless
//! `QUICKSTART_LIVE=yes` says a real purchase (cancelled at the end) is meant.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::path::Path;

use serde_json::json;
use spapi_shipping::documents::decode_all;
use spapi_shipping::mock::Sandbox;
use spapi_shipping::purchase::{Quote, Wishes};
use spapi_shipping::{Client, types};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("quickstart failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let credentials_set = ["LWA_APP_ID", "LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    // Keeps the sandbox running for the whole flow.
    let mut _sandbox = None;
    let client = if credentials_set {
        refuse_live_purchase_unless_asked()?;
        println!("Using Amazon (configuration from the environment).");
        Client::from_env()?
    } else {
        let sandbox = Sandbox::start().await;
        println!(
            "No LWA credentials set: using the offline sandbox at {}.",
            sandbox.base_url()
        );
        let client = sandbox.client();
        _sandbox = Some(sandbox);
        client
    };

    let rates = client.get_rates().body(parcel()?).send().await?;
    let rates = rates
        .into_inner()
        .payload
        .ok_or("getRates returned no payload")?;
    let offered = rates.rates.len();
    // The token of these rates lives 10 minutes; `Quote` remembers when it came.
    let quote = Quote::new(rates);
    // The cheapest rate with a 4x6 inch PDF label, and a request that keeps
    // the rate's rules (dpi, layout, file joining, mandatory documents,
    // required value-added services): Amazon does not refuse it.
    let wishes = Wishes::new()
        .format(types::DocumentFormat::Pdf)
        .size_inches(4.0, 6.0);
    let planned = quote.cheapest(&wishes)?;
    let cheapest = planned.rate;
    let spec = &planned.request.requested_document_specification;
    println!(
        "Rates: {offered} offered; cheapest with a 4x6 PDF: carrier {}, service {}, {:.2} {}",
        cheapest.carrier_name.as_str(),
        cheapest.service_name.as_str(),
        planned.cost,
        cheapest
            .total_charge
            .as_ref()
            .map_or("", |c| c.unit.as_str())
    );
    let documents: Vec<String> = spec
        .requested_document_types
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "Planned: {} at {} dpi, documents {}, joined: {}",
        spec.format,
        spec.dpi
            .as_ref()
            .map_or("default".to_owned(), ToString::to_string),
        documents.join(" + "),
        *spec.need_file_joining
    );

    let purchase = client
        .purchase_shipment()
        .body(planned.request)
        .send()
        .await?
        .into_inner()
        .payload
        .ok_or("purchaseShipment returned no payload")?;
    let package = purchase
        .package_document_details
        .first()
        .ok_or("the purchase returned no package")?;
    let documents = decode_all(package)?;
    if documents.is_empty() {
        return Err("the purchase returned no document".into());
    }
    println!(
        "Purchased: shipment {}, tracking id {}",
        purchase.shipment_id.as_deref().map_or("-", |s| s.as_str()),
        package
            .tracking_id
            .as_deref()
            .map(|t| t.as_str())
            .unwrap_or("-")
    );
    for document in &documents {
        let file = document.save_in(Path::new("labels"))?;
        println!(
            "{}: {} ({:?}, {} bytes)",
            document.document_type,
            file.display(),
            document.format,
            document.bytes.len()
        );
    }

    if let (Some(tracking_id), Some(carrier_id)) = (&package.tracking_id, &cheapest.carrier_id) {
        let tracking = client
            .get_tracking()
            .tracking_id(tracking_id.as_str())
            .carrier_id(carrier_id.as_str())
            .send()
            .await?
            .into_inner()
            .payload
            .ok_or("getTracking returned no payload")?;
        let status = tracking
            .summary
            .and_then(|summary| summary.status)
            .map(|s| s.to_string());
        println!("Tracking: {}", status.as_deref().unwrap_or("no status yet"));
    }

    // Amazon's model requires a shipment id; an answer without one still
    // decodes (the labels above are saved), but nothing can name it.
    let shipment_id = purchase.shipment_id.ok_or(
        "purchaseShipment's answer has no shipmentId: the labels are saved, cancel by hand",
    )?;
    client
        .cancel_shipment()
        .shipment_id(shipment_id.as_str())
        .send()
        .await?;
    println!("Cancelled: shipment {}", shipment_id.as_str());
    Ok(())
}

fn refuse_live_purchase_unless_asked() -> Result<(), String> {
    let sandbox_hosts =
        std::env::var("SP_API_SANDBOX").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let live = std::env::var("QUICKSTART_LIVE").is_ok_and(|v| v == "yes");
    if sandbox_hosts || live {
        Ok(())
    } else {
        Err("credentials are set but SP_API_SANDBOX is not true: this would buy a real label. \
             Set SP_API_SANDBOX=true for Amazon's sandbox, or QUICKSTART_LIVE=yes to buy (and then cancel) one."
            .into())
    }
}

/// A 1.2 kg parcel from Manchester to London.
fn parcel() -> Result<types::GetRatesRequest, serde_json::Error> {
    serde_json::from_value(json!({
        "shipFrom": {
            "name": "Northern Parcels Ltd", "addressLine1": "12 Albert Square",
            "city": "Manchester", "stateOrRegion": "Greater Manchester",
            "postalCode": "M2 5DB", "countryCode": "GB"
        },
        "shipTo": {
            "name": "Sam Taylor", "addressLine1": "221 Baker Street",
            "city": "London", "stateOrRegion": "London",
            "postalCode": "NW1 6XE", "countryCode": "GB"
        },
        "packages": [{
            "packageClientReferenceId": "QUICKSTART-0001",
            "dimensions": {"length": 30.0, "width": 20.0, "height": 10.0, "unit": "CENTIMETER"},
            "weight": {"value": 1.2, "unit": "KILOGRAM"},
            "insuredValue": {"value": 25.0, "unit": "GBP"},
            "items": [{"quantity": 1, "description": "Ceramic mug set", "itemValue": {"value": 25.0, "unit": "GBP"}}]
        }],
        "channelDetails": {"channelType": "EXTERNAL"}
    }))
}
