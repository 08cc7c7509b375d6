//! What the batch tests and `examples/batch_bench.rs` share: an order's
//! getRates body and a scratch directory.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};

/// A getRates body for one 1.2 kg parcel from Leeds to Harrogate (the
/// sandbox offers Amazon Shipping and Royal Mail), named `reference`.
pub fn rates_request(reference: &str) -> Value {
    let address = |name: &str, city: &str, postal: &str| {
        json!({
            "name": name, "addressLine1": "1 Mill Lane", "city": city,
            "stateOrRegion": "Yorkshire", "postalCode": postal, "countryCode": "GB",
        })
    };
    json!({
        "shipFrom": address("Despatch", "Leeds", "LS11 5QE"),
        "shipTo": address("E. Whitcombe", "Harrogate", "HG3 1QT"),
        "packages": [{
            "packageClientReferenceId": reference,
            "dimensions": { "length": 30, "width": 20, "height": 10, "unit": "CENTIMETER" },
            "weight": { "value": 1.2, "unit": "KILOGRAM" },
            "insuredValue": { "value": 25, "unit": "GBP" },
            "items": [{ "quantity": 1, "description": "Teapot" }],
        }],
        "channelDetails": { "channelType": "EXTERNAL" },
    })
}

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "spapi-batch-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
