//! The deliberate differences between Amazon's model and our spec.
//!
//! Every fix has an id; `spec/README.md` explains each id and the regen check
//! fails if one is not listed there. Fixes are written so that applying them
//! to a model that lacks the defect does nothing (the 2023 model has fewer
//! operations), and so that applying them twice changes nothing.

use serde_json::{Map, Value, json};

use crate::json_ext::{JsonError, select_mut};

/// The vendor extension carrying an operation's usage plan.
pub const USAGE_PLAN: &str = "x-amzn-usage-plan";
/// The shared schema for the `x-amzn-shipping-business-id` header.
pub const BUSINESS_ID_SCHEMA: &str = "ShippingBusinessId";
/// The header that selects the Amazon shipping business.
pub const BUSINESS_ID_HEADER: &str = "x-amzn-shipping-business-id";
/// The vendor extension carrying an operation's retry class and its
/// "already done" rule (F5).
pub const RETRY: &str = "x-spapi-retry";
/// The header Amazon deduplicates purchases by.
const IDEMPOTENCY_HEADER: &str = "x-amzn-IdempotencyKey";

/// Ids of all fixes, in the order they are applied; each is documented in
/// `spec/README.md`.
pub const FIX_IDS: &[&str] = &[
    "F1-distinct-operation-ids",
    "F2-csv-on-scalars",
    "F3-usage-plan-extension",
    "F4-shared-business-id",
    "F5-retry-class",
    "L2-state-or-region-optional",
    "E1-payload-wrapper",
    "E2-example-values",
    "A1-announced-fields",
];

/// Applies every fix to a freshly converted document; returns what each did.
pub fn apply_all(spec: &mut Value, dropped_csv: &[String]) -> Result<Vec<String>, JsonError> {
    let mut log = Vec::new();
    distinct_operation_ids(spec, &mut log);
    for d in dropped_csv {
        log.push(format!(
            "F2-csv-on-scalars: dropped collectionFormat on scalar {d}"
        ));
    }
    usage_plans(spec, &mut log)?;
    shared_business_id(spec, &mut log)?;
    retry_classes(spec, &mut log)?;
    optional_properties(
        spec,
        STATE_OR_REGION_OPTIONAL,
        "L2-state-or-region-optional",
        &mut log,
    );
    wrap_payloads(spec, &mut log);
    example_values(spec, &mut log);
    announced_fields(spec, ANNOUNCED_FIELDS, &mut log);
    Ok(log)
}

/// F1: Amazon's 2025 model gives the PUT and the POST on
/// `/shipping/v2/carrierAccounts/{carrierId}` the same operationId.
fn distinct_operation_ids(spec: &mut Value, log: &mut Vec<String>) {
    let item = "/paths/~1shipping~1v2~1carrierAccounts~1{carrierId}";
    let put_id = spec.pointer(&format!("{item}/put/operationId")).cloned();
    let Some(post) = spec.pointer_mut(&format!("{item}/post/operationId")) else {
        return;
    };
    if Some(&*post) == put_id.as_ref() {
        *post = json!("linkCarrierAccountPost");
        log.push(
            "F1-distinct-operation-ids: POST /shipping/v2/carrierAccounts/{carrierId} is now linkCarrierAccountPost".into(),
        );
    }
}

/// F3: the usage plan lives only in a Markdown table in each description.
fn usage_plans(spec: &mut Value, log: &mut Vec<String>) -> Result<(), JsonError> {
    let mut count = 0;
    for (path, method, op) in operations_mut(spec) {
        let description = op["description"].as_str().unwrap_or_default();
        let (rate, burst) = parse_usage_plan(description).ok_or_else(|| {
            JsonError::new(
                &crate::convert::pointer(&["paths", &path, &method, "description"]),
                "no usage plan table (| Rate (requests per second) | Burst |) found",
            )
        })?;
        op.as_object_mut()
            .expect("operation is an object")
            .insert(USAGE_PLAN.into(), json!({ "rate": rate, "burst": burst }));
        count += 1;
    }
    log.push(format!(
        "F3-usage-plan-extension: {USAGE_PLAN} set on {count} operations"
    ));
    Ok(())
}

/// Reads `(rate, burst)` from the first data row after the usage-plan header.
pub fn parse_usage_plan(description: &str) -> Option<(Value, Value)> {
    let mut lines = description.lines().map(str::trim);
    lines.find(|l| l.starts_with("| Rate"))?;
    let row = lines.find(|l| l.starts_with('|') && !l.contains("---"))?;
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    match cells.as_slice() {
        [rate, burst] => Some((number(rate)?, number(burst)?)),
        _ => None,
    }
}

fn number(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(json!(n));
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| *f > 0.0)
        .map(|f| json!(f))
}

/// F5: how each operation may be retried, a decision Amazon's model does
/// not state. `safe`: reads (also those modelled as PUT or POST) and writes
/// that set a state; `keyed`: purchases Amazon deduplicates by
/// `x-amzn-IdempotencyKey`; `unsafe`: writes that may act twice. An
/// operation missing here is an import error, so a new one gets a
/// deliberate class.
const RETRY_CLASSES: &[(&str, &str)] = &[
    ("getRates", "safe"),
    ("directPurchaseShipment", "keyed"),
    ("purchaseShipment", "keyed"),
    ("oneClickShipment", "unsafe"),
    ("getTracking", "safe"),
    ("getShipmentDocuments", "safe"),
    ("cancelShipment", "safe"),
    ("getAdditionalInputs", "safe"),
    ("getCarrierAccountFormInputs", "safe"),
    ("getCarrierAccounts", "safe"),
    ("linkCarrierAccount", "safe"),
    ("linkCarrierAccountPost", "unsafe"),
    ("unlinkCarrierAccount", "safe"),
    ("generateCollectionForm", "keyed"),
    ("getCollectionFormHistory", "safe"),
    ("getUnmanifestedShipments", "safe"),
    ("getCollectionForm", "safe"),
    ("getAccessPoints", "safe"),
    ("submitNdrFeedback", "unsafe"),
    ("createClaim", "unsafe"),
];

/// F5: the state-setting writes whose repeat Amazon may refuse although the
/// state asked for holds: the statuses that may carry the refusal, the
/// words that say it (in an error's `message` or `details`, any case) and
/// the documented success body reported instead.
fn already_done(operation_id: &str) -> Option<Value> {
    let statuses = json!([400, 409]);
    match operation_id {
        "cancelShipment" => Some(json!({
            "statuses": statuses,
            "phrases": ["already cancelled", "already canceled", "already been cancelled", "already been canceled"],
            "success": {"payload": {}},
        })),
        "unlinkCarrierAccount" => Some(json!({
            "statuses": statuses,
            "phrases": ["already unlinked", "already been unlinked", "not linked"],
            "success": {"isUnlinked": true},
        })),
        _ => None,
    }
}

/// F5: sets [`RETRY`] on every operation from [`RETRY_CLASSES`]; `keyed`
/// must be exactly the operations declaring the idempotency header.
fn retry_classes(spec: &mut Value, log: &mut Vec<String>) -> Result<(), JsonError> {
    let mut count = 0;
    for (path, method, op) in operations_mut(spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let at = crate::convert::pointer(&["paths", &path, &method]);
        let class = RETRY_CLASSES
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, class)| *class)
            .ok_or_else(|| {
                JsonError::new(
                    &at,
                    format!("{id} has no retry class: add it to RETRY_CLASSES (F5)"),
                )
            })?;
        let declares_key = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == IDEMPOTENCY_HEADER);
        if declares_key != (class == "keyed") {
            return Err(JsonError::new(
                &at,
                format!(
                    "{id}: retry class {class} but the operation {} {IDEMPOTENCY_HEADER}",
                    if declares_key {
                        "declares"
                    } else {
                        "does not declare"
                    }
                ),
            ));
        }
        let mut retry = json!({ "class": class });
        if let Some(rule) = already_done(&id) {
            retry["alreadyDone"] = rule;
        }
        op.as_object_mut()
            .expect("operation is an object")
            .insert(RETRY.into(), retry);
        count += 1;
    }
    log.push(format!("F5-retry-class: {RETRY} set on {count} operations"));
    Ok(())
}

/// F4: every operation repeats the same inline enum for the business-id
/// header; one named schema gives callers one Rust type for all of them.
fn shared_business_id(spec: &mut Value, log: &mut Vec<String>) -> Result<(), JsonError> {
    let mut shared: Option<Value> = None;
    let mut count = 0;
    for (path, method, op) in operations_mut(spec) {
        for param in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if param["name"] != BUSINESS_ID_HEADER || param["in"] != "header" {
                continue;
            }
            let schema = param["schema"].clone();
            if schema.get("$ref").is_some() {
                continue;
            }
            match &shared {
                None => shared = Some(schema),
                Some(s) if s["enum"] == schema["enum"] => {}
                Some(_) => {
                    return Err(JsonError::new(
                        &crate::convert::pointer(&["paths", &path, &method]),
                        format!("{BUSINESS_ID_HEADER} enum differs from other operations"),
                    ));
                }
            }
            param["schema"] =
                json!({ "$ref": format!("#/components/schemas/{BUSINESS_ID_SCHEMA}") });
            count += 1;
        }
    }
    if let Some(mut schema) = shared {
        schema.as_object_mut().expect("schema object").insert(
            "description".into(),
            json!("Amazon shipping business to assume for a request. Amazon's default is AmazonShipping_UK."),
        );
        spec["components"]["schemas"]
            .as_object_mut()
            .expect("components/schemas")
            .insert(BUSINESS_ID_SCHEMA.into(), schema);
        log.push(format!(
            "F4-shared-business-id: {count} header parameters now use #/components/schemas/{BUSINESS_ID_SCHEMA}"
        ));
    }
    Ok(())
}

/// L2: `stateOrRegion` is required by the model but Amazon accepts addresses
/// without it (saleweaver/python-amazon-sp-api#1528: getRates and
/// oneClickShipment with UK addresses; a production India integration).
const STATE_OR_REGION_OPTIONAL: &[(&str, &str)] = &[("Address", "stateOrRegion")];

/// Removes each (schema, property) from its schema's `required` list; the
/// property itself is unchanged. A list left empty is removed (OpenAPI 3.0
/// wants at least one entry).
fn optional_properties(
    spec: &mut Value,
    properties: &[(&str, &str)],
    id: &str,
    log: &mut Vec<String>,
) {
    for (schema, property) in properties {
        let Some(object) = spec["components"]["schemas"]
            .get_mut(*schema)
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) else {
            continue;
        };
        let before = required.len();
        required.retain(|r| r != property);
        if required.len() == before {
            continue;
        }
        if required.is_empty() {
            object.remove("required");
        }
        log.push(format!("{id}: {schema}.{property} is no longer required"));
    }
}

/// E1: most success examples leave out the `payload` wrapper that their
/// response schema (and Amazon's live service) has.
fn wrap_payloads(spec: &mut Value, log: &mut Vec<String>) {
    let schemas = spec["components"]["schemas"].clone();
    for (_, _, op) in operations_mut(spec) {
        let op_id = op["operationId"].as_str().unwrap_or_default().to_owned();
        for (status, response) in op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flatten()
        {
            let Some(media) = response.pointer_mut("/content/application~1json") else {
                continue;
            };
            let Some(name) = media["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            else {
                continue;
            };
            let wants_payload = schemas[name]["properties"].get("payload").is_some();
            let Some(example) = media.get_mut("example") else {
                continue;
            };
            let lacks_payload = example
                .as_object()
                .is_some_and(|e| !e.contains_key("payload") && !e.contains_key("errors"));
            if wants_payload && lacks_payload {
                *example = json!({ "payload": example.take() });
                log.push(format!(
                    "E1-payload-wrapper: {op_id} {status} example wrapped in payload"
                ));
            }
        }
    }
}

/// One correction of an example value.
enum Edit {
    /// Replace one string by another.
    Replace(&'static str, &'static str),
    /// A number written as a string becomes the number.
    StringToNumber,
    /// A number becomes its decimal string.
    NumberToString,
    /// Epoch milliseconds become an RFC 3339 UTC timestamp string.
    EpochMillisToRfc3339,
    /// A key of the object at the path is renamed.
    RenameKey(&'static str, &'static str),
    /// A key of the object at the path is removed.
    RemoveKey(&'static str),
    /// A key of the object at the path moves up to the object at the path's parent.
    HoistKey(&'static str, &'static str),
    /// A redacted string becomes a sample object.
    Redacted(fn() -> Value),
    /// The object at the path (a map of type to one access point) becomes
    /// `{ "accessPointsMap": { type: [access point] } }`.
    AccessPointsMap,
    /// Any other correction; returns whether it changed the value.
    Custom(fn(&mut Value) -> bool),
}

/// E2: examples whose values contradict their own schema. (operation, status,
/// wildcard pointer into the example, edit.)
const EXAMPLE_EDITS: &[(&str, &str, &str, Edit)] = &[
    (
        "getRates",
        "200",
        "/payload/rates/*/billedWeight/unit",
        Edit::Replace("GRAMS", "GRAM"),
    ),
    (
        "getRates",
        "200",
        "/payload/rates/*/rateItemList/*/rateItemCharge/value",
        Edit::StringToNumber,
    ),
    (
        "purchaseShipment",
        "200",
        "/payload/packageDocumentDetails/*/trackingId",
        Edit::NumberToString,
    ),
    (
        "oneClickShipment",
        "200",
        "/payload/packageDocumentDetails/*/trackingId",
        Edit::NumberToString,
    ),
    (
        "getShipmentDocuments",
        "200",
        "/payload",
        Edit::HoistKey("packageDocumentDetail", "benefits"),
    ),
    (
        "getCarrierAccountFormInputs",
        "200",
        "",
        Edit::RenameKey("linkableCarriers", "linkableCarriersList"),
    ),
    (
        "getCarrierAccountFormInputs",
        "200",
        "/linkableCarriersList/*/linkableAccountTypes/*",
        Edit::RemoveKey("accountTypeId"),
    ),
    (
        "unlinkCarrierAccount",
        "200",
        "",
        Edit::RemoveKey("merchantId"),
    ),
    (
        "getCollectionFormHistory",
        "200",
        "/collectionFormsHistoryRecordList/*/creationDate",
        Edit::EpochMillisToRfc3339,
    ),
    (
        "getCollectionFormHistory",
        "200",
        "/collectionFormsHistoryRecordList/*/generationStatus",
        Edit::Replace("COMPLETED", "Completed"),
    ),
    (
        "getCollectionFormHistory",
        "200",
        "/collectionFormsHistoryRecordList/*/shipFromAddress",
        Edit::Redacted(sample_address),
    ),
    (
        "getUnmanifestedShipments",
        "200",
        "/unmanifestedCarrierInformationList/*/unmanifestedShipmentLocationList/*/address",
        Edit::Redacted(sample_address),
    ),
    (
        "getUnmanifestedShipments",
        "200",
        "/unmanifestedCarrierInformationList/*/unmanifestedShipmentLocationList/*/lastManifestDate",
        Edit::EpochMillisToRfc3339,
    ),
    ("getAccessPoints", "200", "/payload", Edit::AccessPointsMap),
    (
        "getAccessPoints",
        "200",
        "/payload/accessPointsMap/*/*/accessibilityAttributes/driveTime",
        Edit::StringToNumber,
    ),
    (
        "getAccessPoints",
        "200",
        "/payload/accessPointsMap/*/*",
        Edit::Custom(access_point_address),
    ),
];

/// The access point example nests its address as `{addressObject, geocode}`
/// with `zipOrPostalCode`; the `Address` schema is flat, with `postalCode`
/// and a required `name` (the access point's).
fn access_point_address(access_point: &mut Value) -> bool {
    let Some(nested) = access_point["address"].get("addressObject").cloned() else {
        return false;
    };
    let mut address = nested.as_object().cloned().unwrap_or_default();
    if let Some(zip) = address.remove("zipOrPostalCode") {
        address.insert("postalCode".into(), zip);
    }
    let mut flat = Map::new();
    flat.insert("name".into(), access_point["name"].clone());
    flat.extend(address);
    if let Some(geocode) = access_point["address"].get("geocode") {
        flat.insert("geocode".into(), geocode.clone());
    }
    access_point["address"] = Value::Object(flat);
    true
}

fn sample_address() -> Value {
    json!({
        "name": "Jane Doe",
        "addressLine1": "1 Main Street",
        "city": "Seattle",
        "stateOrRegion": "WA",
        "postalCode": "98101",
        "countryCode": "US"
    })
}

fn example_values(spec: &mut Value, log: &mut Vec<String>) {
    for (_, _, op) in operations_mut(spec) {
        let op_id = op["operationId"].as_str().unwrap_or_default().to_owned();
        for (edit_op, status, pattern, edit) in EXAMPLE_EDITS {
            if *edit_op != op_id {
                continue;
            }
            let at = format!("/responses/{status}/content/application~1json/example");
            let Some(example) = op.pointer_mut(&at) else {
                continue;
            };
            let changed = select_mut(example, pattern)
                .into_iter()
                .map(|v| apply_edit(v, edit))
                .filter(|changed| *changed)
                .count();
            if changed > 0 {
                log.push(format!(
                    "E2-example-values: {op_id} {status} {pattern}: {changed} value(s) corrected"
                ));
            }
        }
    }
}

fn apply_edit(value: &mut Value, edit: &Edit) -> bool {
    match (edit, &*value) {
        (Edit::Replace(from, to), Value::String(s)) if s == from => *value = json!(to),
        (Edit::StringToNumber, Value::String(s)) => match s.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => *value = json!(f as i64),
            Ok(f) => *value = json!(f),
            Err(_) => return false,
        },
        (Edit::NumberToString, Value::Number(n)) => *value = json!(n.to_string()),
        (Edit::EpochMillisToRfc3339, Value::Number(n)) => match n.as_i64() {
            Some(ms) => *value = json!(rfc3339_from_millis(ms)),
            None => return false,
        },
        (Edit::RenameKey(from, to), Value::Object(_)) => {
            let map = value.as_object_mut().expect("object");
            let Some(v) = map.remove(*from) else {
                return false;
            };
            map.insert((*to).into(), v);
        }
        (Edit::RemoveKey(key), Value::Object(_)) => {
            return value
                .as_object_mut()
                .expect("object")
                .remove(*key)
                .is_some();
        }
        (Edit::HoistKey(child, key), Value::Object(_)) => {
            let map = value.as_object_mut().expect("object");
            let Some(moved) = map
                .get_mut(*child)
                .and_then(Value::as_object_mut)
                .and_then(|c| c.remove(*key))
            else {
                return false;
            };
            map.insert((*key).into(), moved);
        }
        (Edit::Redacted(sample), Value::String(s)) if s.contains("redacted") => *value = sample(),
        (Edit::AccessPointsMap, Value::Object(map)) if !map.contains_key("accessPointsMap") => {
            let lists: Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    let list = if v.is_array() { v.clone() } else { json!([v]) };
                    (k.clone(), list)
                })
                .collect();
            *value = json!({ "accessPointsMap": lists });
        }
        (Edit::Custom(f), _) => return f(value),
        _ => return false,
    }
    true
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic
/// Gregorian, UTC). Hand-written: xtask needs nothing else from a date crate.
fn rfc3339_from_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days, Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The vendor extension A1 puts on every schema it changes or adds:
/// `{added enum value, property or schema name: where Amazon announced it}`.
/// It tells a second application of the fix (nothing to do) from Amazon's
/// model having caught up (the entry is there without the mark: retire it).
pub const ANNOUNCED: &str = "x-spapi-announced";
/// Amazon's table of enum values and their descriptions.
const ENUM_TABLE: &str = "x-docgen-enum-table-extension";
const A1: &str = "A1-announced-fields";

/// Something Amazon's live service has that its model has not (yet).
enum Announced {
    /// A value of a string enum schema, with its line for the enum table.
    Value {
        schema: &'static str,
        value: &'static str,
        description: &'static str,
    },
    /// An optional property of an object schema; with the schema it refers
    /// to when that is new as well (added with the property, and only then).
    Property {
        schema: &'static str,
        property: &'static str,
        definition: fn() -> Value,
        new_schema: Option<NewSchema>,
    },
}

/// A schema A1 adds with a property: its name and its definition.
type NewSchema = (&'static str, fn() -> Value);

const TRACKING_EVENT: &str = "Amazon Shipping changelog, \"Pre-Launch Announcement: Introducing New Event in Tracking API and Push Notifications\": live 2025-08-01 in US, UK, IN, IT, FR and ES";
const NON_CONVEYABLE: &str = "Amazon Shipping changelog, \"Launch Announcement: Addition of non-conveyable surcharge in Amazon Shipping APIs\": 2025-08-11, UK";
const SHIP_PLUS: &str = "Amazon Shipping changelog, \"Pre-Launch Announcement: Fulfilled By Merchant Ship+ functionality in Shipping APIs and Merchant Fulfillment APIs\"";
const UK_VAS: &str = "Amazon Shipping changelog, \"Launch Announcement: Value Added Service (Signature Delivery and One Time Pass-code) for UK Non-Amazon marketplace volume (OFF-Amazon)\": August 2025, UK off-Amazon; the object's properties are not published";
const SELLER_ID_3PL: &str = "jlevers/selling-partner-api PR #908: accepted by Amazon's production service for the 3PL Buy Shipping pilot";

/// A1: what Amazon announced (or was seen to accept) before its model had
/// it, each with its source; explained in spec/README.md.
const ANNOUNCED_FIELDS: &[(Announced, &str)] = &[
    (
        Announced::Value {
            schema: "EventCode",
            value: "PackageReceivedByCarrier",
            description: "Package has been received at a carrier location (dropped off by the shipper at an Amazon Shipping drop-off location).",
        },
        TRACKING_EVENT,
    ),
    (
        Announced::Value {
            schema: "RateItemID",
            value: "NON_CONVEYABLE_SURCHARGE",
            description: "Non-conveyable surcharge (UK).",
        },
        NON_CONVEYABLE,
    ),
    (
        Announced::Value {
            schema: "RateItemID",
            value: "ADDITIONAL_HANDLING_SURCHARGE",
            description: "Additional handling surcharge: the name of NON_CONVEYABLE_SURCHARGE before 2025-08-11 (UK).",
        },
        NON_CONVEYABLE,
    ),
    (
        Announced::Property {
            schema: "Package",
            property: "additionalPackageInfo",
            definition: additional_package_info_list,
            new_schema: Some(("AdditionalPackageInfo", additional_package_info)),
        },
        NON_CONVEYABLE,
    ),
    (
        Announced::Property {
            schema: "Rate",
            property: "totalChargeWithAdjustments",
            definition: currency,
            new_schema: None,
        },
        SHIP_PLUS,
    ),
    (
        Announced::Property {
            schema: "ValueAddedServiceDetails",
            property: "otpOnDelivery",
            definition: otp_on_delivery_ref,
            new_schema: Some(("OtpOnDelivery", otp_on_delivery)),
        },
        UK_VAS,
    ),
    (
        Announced::Property {
            schema: "ValueAddedServiceDetails",
            property: "signatureOnDelivery",
            definition: signature_on_delivery_ref,
            new_schema: Some(("SignatureOnDelivery", signature_on_delivery)),
        },
        UK_VAS,
    ),
    (
        Announced::Property {
            schema: "AmazonOrderDetails",
            property: "amazonSellerId",
            definition: amazon_seller_id,
            new_schema: None,
        },
        SELLER_ID_3PL,
    ),
];

fn additional_package_info_list() -> Value {
    json!({
        "type": "array",
        "description": "Additional information about the package provided by the shipper, such as a purchase order (PO) number.",
        "items": { "$ref": "#/components/schemas/AdditionalPackageInfo" }
    })
}

fn additional_package_info() -> Value {
    json!({
        "type": "object",
        "description": "One piece of additional information about a package provided by the shipper: a name and its value (for example a purchase order number).",
        "required": ["name", "value"],
        "properties": {
            "name": {
                "type": "string",
                "description": "The name of the information."
            },
            "value": {
                "type": "string",
                "description": "The value of the information."
            }
        }
    })
}

fn currency() -> Value {
    json!({ "$ref": "#/components/schemas/Currency" })
}

fn otp_on_delivery_ref() -> Value {
    json!({ "$ref": "#/components/schemas/OtpOnDelivery" })
}

fn otp_on_delivery() -> Value {
    json!({
        "type": "object",
        "description": "Requests a one-time passcode (OTP) check on delivery: the recipient gives the delivery associate the passcode Amazon sent them (Amazon Logistics deliveries). Amazon has not published this object's properties; it is sent as given (for example `{}`).",
        "additionalProperties": {}
    })
}

fn signature_on_delivery_ref() -> Value {
    json!({ "$ref": "#/components/schemas/SignatureOnDelivery" })
}

fn signature_on_delivery() -> Value {
    json!({
        "type": "object",
        "description": "Requests the recipient's signature on delivery (Amazon Logistics deliveries). Amazon has not published this object's properties; it is sent as given (for example `{}`).",
        "additionalProperties": {}
    })
}

fn amazon_seller_id() -> Value {
    json!({
        "type": "string",
        "description": "The selling partner id of the Amazon seller who owns the order, when that is not the account making the call (a third-party logistics provider buying shipping for a seller's order)."
    })
}

/// Whether A1 marked `item` as its own addition on `schema`.
fn announced_here(schema: &Value, item: &str) -> bool {
    schema[ANNOUNCED].get(item).is_some()
}

fn mark_announced(schema: &mut Map<String, Value>, item: &str, source: &str) {
    let marks = schema
        .entry(ANNOUNCED)
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(marks) = marks.as_object_mut() {
        marks.insert(item.into(), json!(source));
    }
}

/// A1: adds each announced entry the model lacks, marked with its source.
/// An entry already in the model without A1's mark is Amazon's: it is left
/// as Amazon has it and reported so the entry can retire.
fn announced_fields(spec: &mut Value, entries: &[(Announced, &str)], log: &mut Vec<String>) {
    let Some(schemas) = spec["components"]["schemas"].as_object_mut() else {
        return;
    };
    for (entry, source) in entries {
        match entry {
            Announced::Value {
                schema,
                value,
                description,
            } => {
                let Some(target) = schemas.get_mut(*schema) else {
                    log.push(format!(
                        "{A1}: {schema} is not in this model: value {value} not added"
                    ));
                    continue;
                };
                let Some(values) = target.get_mut("enum").and_then(Value::as_array_mut) else {
                    log.push(format!(
                        "{A1}: {schema} has no enum in this model: value {value} not added"
                    ));
                    continue;
                };
                if values.iter().any(|v| v == value) {
                    if !announced_here(target, value) {
                        log.push(format!(
                            "{A1}: Amazon's model now has {schema} value {value}: retire this entry"
                        ));
                    }
                    continue;
                }
                values.push(json!(value));
                let target = target.as_object_mut().expect("a schema with an enum");
                if let Some(table) = target.get_mut(ENUM_TABLE).and_then(Value::as_array_mut) {
                    table.push(json!({ "value": value, "description": description }));
                }
                mark_announced(target, value, source);
                log.push(format!("{A1}: {schema} value {value} added ({source})"));
            }
            Announced::Property {
                schema,
                property,
                definition,
                new_schema,
            } => {
                let Some(target) = schemas.get(*schema) else {
                    log.push(format!(
                        "{A1}: {schema} is not in this model: {property} not added"
                    ));
                    continue;
                };
                let Some(properties) = target.get("properties").and_then(Value::as_object) else {
                    log.push(format!(
                        "{A1}: {schema} has no properties in this model: {property} not added"
                    ));
                    continue;
                };
                if properties.contains_key(*property) {
                    if !announced_here(target, property) {
                        log.push(format!(
                            "{A1}: Amazon's model now has {schema}.{property}: retire this entry"
                        ));
                    }
                    continue;
                }
                if let Some((name, make)) = new_schema {
                    match schemas.get(*name) {
                        Some(existing) if announced_here(existing, name) => {}
                        Some(_) => {
                            log.push(format!(
                                "{A1}: Amazon's model now has a schema {name} but no {schema}.{property}: \
                                 {property} not added; review this entry"
                            ));
                            continue;
                        }
                        None => {
                            let mut added = make();
                            let object = added.as_object_mut().expect("a schema object");
                            mark_announced(object, name, source);
                            schemas.insert((*name).into(), added);
                        }
                    }
                }
                let target = schemas
                    .get_mut(*schema)
                    .and_then(Value::as_object_mut)
                    .expect("checked above");
                target["properties"]
                    .as_object_mut()
                    .expect("checked above")
                    .insert((*property).into(), definition());
                mark_announced(target, property, source);
                log.push(format!("{A1}: {schema}.{property} added ({source})"));
            }
        }
    }
}

/// Every operation as (path, method, operation object).
pub fn operations_mut(spec: &mut Value) -> Vec<(String, String, &mut Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object_mut().into_iter().flatten() {
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            if op.get("operationId").is_some() {
                out.push((path.clone(), method.clone(), op));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_plan_is_read_from_the_markdown_table() {
        let d = "Does things.\n\n**Usage Plan:**\n\n| Rate (requests per second) | Burst |\n| ---- | ---- |\n| 5 | 10 |\n\nMore.";
        assert_eq!(parse_usage_plan(d), Some((json!(5), json!(10))));
        let fractional = "| Rate (requests per second) | Burst |\n|---|---|\n| 0.5 | 2 |";
        assert_eq!(parse_usage_plan(fractional), Some((json!(0.5), json!(2))));
        assert_eq!(parse_usage_plan("no table here"), None);
    }

    #[test]
    fn epoch_millis_become_utc_timestamps() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_from_millis(1_650_163_712_052),
            "2022-04-17T02:48:32.052Z"
        );
        assert_eq!(
            rfc3339_from_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn edits_apply_once_and_only_to_matching_values() {
        let mut v = json!("2.00000");
        assert!(apply_edit(&mut v, &Edit::StringToNumber));
        assert_eq!(v, json!(2));
        assert!(!apply_edit(&mut v, &Edit::StringToNumber));
        let mut s = json!("GRAMS");
        assert!(apply_edit(&mut s, &Edit::Replace("GRAMS", "GRAM")));
        assert!(!apply_edit(&mut s, &Edit::Replace("GRAMS", "GRAM")));
        let mut m = json!({"HELIX": {"accessPointId": "a"}});
        assert!(apply_edit(&mut m, &Edit::AccessPointsMap));
        assert_eq!(
            m,
            json!({"accessPointsMap": {"HELIX": [{"accessPointId": "a"}]}})
        );
        assert!(!apply_edit(&mut m, &Edit::AccessPointsMap));
    }

    #[test]
    fn optional_properties_leave_the_rest_of_required_and_apply_once() {
        let mut spec = json!({"components": {"schemas": {
            "Address": {"required": ["name", "stateOrRegion"], "properties": {}},
            "Only": {"required": ["x"]}
        }}});
        let mut log = Vec::new();
        let fix = &[
            ("Address", "stateOrRegion"),
            ("Only", "x"),
            ("Missing", "y"),
        ];
        optional_properties(&mut spec, fix, "T", &mut log);
        assert_eq!(
            spec["components"]["schemas"]["Address"]["required"],
            json!(["name"])
        );
        assert!(
            spec["components"]["schemas"]["Only"]
                .get("required")
                .is_none()
        );
        assert_eq!(log.len(), 2);
        optional_properties(&mut spec, fix, "T", &mut log);
        assert_eq!(log.len(), 2, "a second run changes nothing");
    }

    /// A model of three schemas, as Amazon's looks before it catches up.
    fn model_without_announcements() -> Value {
        json!({"components": {"schemas": {
            "EventCode": {
                "type": "string",
                "enum": ["Delivered"],
                "x-docgen-enum-table-extension": [{"value": "Delivered", "description": "Delivered."}]
            },
            "Rate": {"type": "object", "properties": {"rateId": {"type": "string"}}},
            "Package": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}
        }}})
    }

    const TEST_ENTRIES: &[(Announced, &str)] = &[
        (
            Announced::Value {
                schema: "EventCode",
                value: "PackageReceivedByCarrier",
                description: "Received.",
            },
            "changelog A",
        ),
        (
            Announced::Property {
                schema: "Rate",
                property: "totalChargeWithAdjustments",
                definition: currency,
                new_schema: None,
            },
            "changelog B",
        ),
        (
            Announced::Property {
                schema: "Package",
                property: "additionalPackageInfo",
                definition: additional_package_info_list,
                new_schema: Some(("AdditionalPackageInfo", additional_package_info)),
            },
            "changelog C",
        ),
    ];

    #[test]
    fn announced_entries_are_added_once_and_marked_with_their_source() {
        let mut spec = model_without_announcements();
        let mut log = Vec::new();
        announced_fields(&mut spec, TEST_ENTRIES, &mut log);
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["EventCode"]["enum"],
            json!(["Delivered", "PackageReceivedByCarrier"])
        );
        assert_eq!(
            schemas["EventCode"][ENUM_TABLE][1],
            json!({"value": "PackageReceivedByCarrier", "description": "Received."})
        );
        assert_eq!(
            schemas["EventCode"][ANNOUNCED],
            json!({"PackageReceivedByCarrier": "changelog A"})
        );
        assert_eq!(
            schemas["Rate"]["properties"]["totalChargeWithAdjustments"],
            json!({"$ref": "#/components/schemas/Currency"})
        );
        assert_eq!(
            schemas["Package"]["properties"]["additionalPackageInfo"]["items"],
            json!({"$ref": "#/components/schemas/AdditionalPackageInfo"})
        );
        assert_eq!(
            schemas["Package"]["required"],
            json!(["items"]),
            "an announced property is optional"
        );
        assert_eq!(
            schemas["AdditionalPackageInfo"]["required"],
            json!(["name", "value"])
        );
        assert_eq!(
            schemas["AdditionalPackageInfo"][ANNOUNCED],
            json!({"AdditionalPackageInfo": "changelog C"})
        );
        assert_eq!(
            log,
            [
                "A1-announced-fields: EventCode value PackageReceivedByCarrier added (changelog A)",
                "A1-announced-fields: Rate.totalChargeWithAdjustments added (changelog B)",
                "A1-announced-fields: Package.additionalPackageInfo added (changelog C)",
            ]
        );

        let once = spec.clone();
        announced_fields(&mut spec, TEST_ENTRIES, &mut log);
        assert_eq!(spec, once, "a second run changes nothing");
        assert_eq!(log.len(), 3, "and reports nothing: {log:?}");
    }

    #[test]
    fn an_entry_amazons_model_already_has_is_reported_for_retirement_not_added_twice() {
        let mut spec = model_without_announcements();
        let schemas = &mut spec["components"]["schemas"];
        schemas["EventCode"]["enum"] = json!(["Delivered", "PackageReceivedByCarrier"]);
        schemas["Rate"]["properties"]["totalChargeWithAdjustments"] =
            json!({"$ref": "#/components/schemas/Currency"});
        // Amazon's own shape, different from ours: it is kept.
        schemas["Package"]["properties"]["additionalPackageInfo"] =
            json!({"$ref": "#/components/schemas/AdditionalPackageInfoList"});
        let amazons = spec.clone();
        let mut log = Vec::new();
        announced_fields(&mut spec, TEST_ENTRIES, &mut log);
        assert_eq!(spec, amazons, "nothing added, nothing marked");
        assert_eq!(
            log,
            [
                "A1-announced-fields: Amazon's model now has EventCode value PackageReceivedByCarrier: retire this entry",
                "A1-announced-fields: Amazon's model now has Rate.totalChargeWithAdjustments: retire this entry",
                "A1-announced-fields: Amazon's model now has Package.additionalPackageInfo: retire this entry",
            ]
        );
    }

    #[test]
    fn a_model_without_the_schemas_or_with_a_clashing_schema_is_left_alone() {
        let mut spec = json!({"components": {"schemas": {
            "Package": {"type": "object", "properties": {}},
            "AdditionalPackageInfo": {"type": "string"}
        }}});
        let before = spec.clone();
        let mut log = Vec::new();
        announced_fields(&mut spec, TEST_ENTRIES, &mut log);
        assert_eq!(spec, before);
        assert_eq!(
            log,
            [
                "A1-announced-fields: EventCode is not in this model: value PackageReceivedByCarrier not added",
                "A1-announced-fields: Rate is not in this model: totalChargeWithAdjustments not added",
                "A1-announced-fields: Amazon's model now has a schema AdditionalPackageInfo but no \
                 Package.additionalPackageInfo: additionalPackageInfo not added; review this entry",
            ]
        );
    }

    /// The committed spec, which `cargo xtask import-upstream` wrote.
    fn committed_spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/shipping-v2.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_committed_spec_has_every_announced_entry_marked_and_a_rerun_is_a_no_op() {
        let mut spec = committed_spec();
        let schemas = &spec["components"]["schemas"];
        for (entry, source) in ANNOUNCED_FIELDS {
            let (schema, item) = match entry {
                Announced::Value { schema, value, .. } => {
                    assert!(
                        schemas[*schema]["enum"]
                            .as_array()
                            .unwrap()
                            .contains(&json!(value)),
                        "{schema} lacks {value}"
                    );
                    (schema, value)
                }
                Announced::Property {
                    schema, property, ..
                } => {
                    assert!(
                        schemas[*schema]["properties"].get(*property).is_some(),
                        "{schema} lacks {property}"
                    );
                    (schema, property)
                }
            };
            assert_eq!(schemas[*schema][ANNOUNCED][*item], json!(source));
        }
        let before = spec.clone();
        let mut log = Vec::new();
        announced_fields(&mut spec, ANNOUNCED_FIELDS, &mut log);
        assert_eq!(spec, before);
        assert!(log.is_empty(), "{log:?}");

        // As if Amazon's model had caught up with all of them: no marks.
        for schema in spec["components"]["schemas"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            schema.as_object_mut().unwrap().remove(ANNOUNCED);
        }
        let caught_up = spec.clone();
        announced_fields(&mut spec, ANNOUNCED_FIELDS, &mut log);
        assert_eq!(spec, caught_up);
        assert_eq!(log.len(), ANNOUNCED_FIELDS.len(), "{log:?}");
        assert!(
            log.iter().all(|l| l.contains("retire this entry")),
            "{log:?}"
        );
    }
}
