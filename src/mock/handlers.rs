//! One function per operation. Each gets the checked request and the
//! state, and answers like Amazon: a payload, or Amazon's error list.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::catalog::{self, Rate, timestamp};
use super::documents::{self, Format, LabelText};
use super::reply::Reply;
use super::request::Request;
use super::state::{
    CollectionForm, Consignment, LabelSpec, LinkedAccount, Parcel, QUOTE_LIFETIME_SECS, Quote,
    Shipment, State,
};

/// A handler's answer; `Err` carries an error reply so `?` can return it.
type Outcome = Result<Reply, Reply>;

/// Runs the operation's handler.
pub(crate) fn dispatch(state: &mut State, req: &Request) -> Reply {
    let outcome = match req.op.id {
        "getRates" => get_rates(state, req),
        "directPurchaseShipment" => direct_purchase_shipment(state, req),
        "purchaseShipment" => purchase_shipment(state, req),
        "oneClickShipment" => one_click_shipment(state, req),
        "getTracking" => get_tracking(state, req),
        "getShipmentDocuments" => get_shipment_documents(state, req),
        "cancelShipment" => cancel_shipment(state, req),
        "getAdditionalInputs" => get_additional_inputs(state, req),
        "getCarrierAccountFormInputs" => Ok(Reply::ok(catalog::carrier_account_form_inputs())),
        "getCarrierAccounts" => get_carrier_accounts(state),
        "linkCarrierAccount" | "linkCarrierAccountPost" => link_carrier_account(state, req),
        "unlinkCarrierAccount" => unlink_carrier_account(state, req),
        "generateCollectionForm" => generate_collection_form(state, req),
        "getCollectionFormHistory" => get_collection_form_history(state, req),
        "getUnmanifestedShipments" => get_unmanifested_shipments(state),
        "getCollectionForm" => get_collection_form(state, req),
        "getAccessPoints" => get_access_points(req),
        "submitNdrFeedback" => submit_ndr_feedback(state, req),
        "createClaim" => create_claim(state, req),
        other => Err(Reply::not_found(&format!(
            "The sandbox does not implement {other}."
        ))),
    };
    outcome.unwrap_or_else(|error| error)
}

// ---------------------------------------------------------------------------
// Rates and purchases

fn get_rates(state: &mut State, req: &Request) -> Outcome {
    let consignment = consignment(&req.body, req.business_country(), false)?;
    let rates = catalog::quote(&consignment);
    let token = catalog::opaque_id();
    let payload = json!({
        "requestToken": token,
        "rates": rates.iter().map(Rate::to_json).collect::<Vec<_>>(),
    });
    let quote = Quote {
        created: Utc::now(),
        consignment,
        rates,
    };
    state.quotes.insert(token, quote);
    Ok(Reply::ok(json!({ "payload": payload })))
}

/// Amazon's answer to a document specification the rate does not offer
/// (amzn/selling-partner-api-models #4903): it does not say what is wrong.
pub(crate) const INVALID_DOCUMENTATION: &str = "An invalid documentation specification was provided. \
     Please provide a documentation specification based on the GetRates response.";
/// Amazon's answer to value-added services the rate does not offer, or a
/// required group left unanswered (amzn/selling-partner-api-models #4759).
pub(crate) const INVALID_VALUE_ADDED_SERVICES: &str = "The requested value added services are invalid. \
     Please check the value added services offered in the GetRates response.";
/// The answer to a request token older than 10 minutes (the wording is the
/// sandbox's; no capture of Amazon's is public).
pub(crate) const EXPIRED_REQUEST_TOKEN: &str = "The requestToken has expired: rates can be purchased for 10 minutes after GetRates. \
     Please call GetRates again.";

fn purchase_shipment(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let (quote, rate) = quoted_rate(state, body)?;
    let refused =
        |details: &str| Reply::error(400, "InvalidInput", "Invalid input.", Some(details));
    if Utc::now() - quote.created > Duration::seconds(QUOTE_LIFETIME_SECS) {
        return Err(refused(EXPIRED_REQUEST_TOKEN));
    }
    let offered = rate.to_json();
    let requested = &body["requestedDocumentSpecification"];
    if !documentation_fits(&offered["supportedDocumentSpecifications"], requested) {
        return Err(refused(INVALID_DOCUMENTATION));
    }
    let services = ids(&body["requestedValueAddedServices"]);
    if !services_fit(&offered["availableValueAddedServiceGroups"], &services) {
        return Err(refused(INVALID_VALUE_ADDED_SERVICES));
    }
    let label = label_spec(requested)?;
    let extras = extras(&rate, &services)?;
    let consignment = quote.consignment.clone();
    let shipment = buy(state, consignment, rate, extras, label);
    Ok(Reply::ok(json!({
        "payload": {
            "shipmentId": shipment.id,
            "packageDocumentDetails": document_details(&shipment, &shipment.label),
            "promise": shipment.rate.promise(),
            "benefits": shipment.rate.benefits(),
        }
    })))
}

/// Whether a `requestedDocumentSpecification` fits one print option of one
/// of the rate's `supportedDocumentSpecifications`: same format and size;
/// a dpi among `supportedDPIs` when it lists any; the page layout, when
/// given, among `supportedPageLayouts`; `needFileJoining` among
/// `supportedFileJoiningOptions`; every mandatory document requested, and
/// only documents listed.
fn documentation_fits(offered: &Value, requested: &Value) -> bool {
    let same_size = |a: &Value, b: &Value| {
        let close = |k: &str| match (a[k].as_f64(), b[k].as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-6,
            _ => false,
        };
        a["unit"] == b["unit"] && close("width") && close("length")
    };
    let listed = |list: &Value, value: &Value| {
        let list = list.as_array().map(Vec::as_slice).unwrap_or_default();
        list.is_empty() || list.contains(value)
    };
    let types = strings(&requested["requestedDocumentTypes"]);
    let fits = |option: &Value| {
        let dpis = option["supportedDPIs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let dpi_ok = dpis.is_empty()
            || requested["dpi"]
                .as_f64()
                .is_some_and(|d| dpis.iter().any(|o| o.as_f64() == Some(d)));
        let layout_ok = requested["pageLayout"].is_null()
            || listed(&option["supportedPageLayouts"], &requested["pageLayout"]);
        let joining_ok = listed(
            &option["supportedFileJoiningOptions"],
            &requested["needFileJoining"],
        );
        let details = option["supportedDocumentDetails"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let names: Vec<&str> = details.iter().filter_map(|d| d["name"].as_str()).collect();
        let documents_ok = types.iter().all(|t| names.contains(&t.as_str()))
            && details
                .iter()
                .filter(|d| d["isMandatory"] == true)
                .filter_map(|d| d["name"].as_str())
                .all(|m| types.iter().any(|t| t == m));
        dpi_ok && layout_ok && joining_ok && documents_ok
    };
    offered
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["format"] == requested["format"] && same_size(&s["size"], &requested["size"]))
        .flat_map(|s| s["printOptions"].as_array().into_iter().flatten())
        .any(fits)
}

/// Whether the requested value-added services are all offered and answer
/// every group with `isRequired: true`.
fn services_fit(groups: &Value, requested: &[String]) -> bool {
    let groups = groups.as_array().map(Vec::as_slice).unwrap_or_default();
    let ids_of = |group: &Value| ids(&group["valueAddedServices"]);
    let offered: Vec<String> = groups.iter().flat_map(ids_of).collect();
    requested.iter().all(|id| offered.contains(id))
        && groups
            .iter()
            .filter(|g| g["isRequired"] == true)
            .all(|g| ids_of(g).iter().any(|id| requested.contains(id)))
}

fn direct_purchase_shipment(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let consignment = consignment(body, req.business_country(), true)?;
    let rate = catalog::quote(&consignment)
        .into_iter()
        .min_by(|a, b| a.total.total_cmp(&b.total))
        .ok_or_else(|| Reply::invalid("No service is available for this shipment.", None))?;
    let label = match body.get("labelSpecifications").filter(|v| v.is_object()) {
        Some(spec) => label_spec(spec)?,
        // Amazon's documented default.
        None => LabelSpec {
            format: Format::Png,
            dpi: 203,
            size: (4.0, 6.0),
            types: vec!["LABEL".to_owned()],
        },
    };
    let shipment = buy(state, consignment, rate, Vec::new(), label);
    Ok(Reply::ok(json!({
        "payload": {
            "shipmentId": shipment.id,
            "packageDocumentDetailList": document_details(&shipment, &shipment.label),
        }
    })))
}

fn one_click_shipment(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let consignment = consignment(body, req.business_country(), false)?;
    let wanted = strings(&body["serviceSelection"]["serviceId"]);
    let rates = catalog::quote(&consignment);
    let rate = rates
        .iter()
        .filter(|r| wanted.contains(&r.service.id))
        .min_by(|a, b| a.total.total_cmp(&b.total))
        .cloned()
        .ok_or_else(|| {
            let offered: Vec<&str> = rates.iter().map(|r| r.service.id.as_str()).collect();
            Reply::invalid(
                "None of the requested services is available for this shipment.",
                Some(&format!(
                    "Requested: {}; available: {}.",
                    wanted.join(", "),
                    offered.join(", ")
                )),
            )
        })?;
    let extras = extras(&rate, &ids(&body["valueAddedServicesDetails"]))?;
    let label = label_spec(&body["labelSpecifications"])?;
    let total = rate.total + extras.iter().map(|(_, cost)| cost).sum::<f64>();
    let shipment = buy(state, consignment, rate, extras, label);
    let rate = &shipment.rate;
    Ok(Reply::ok(json!({
        "payload": {
            "shipmentId": shipment.id,
            "packageDocumentDetails": document_details(&shipment, &shipment.label),
            "promise": rate.promise(),
            "carrier": { "id": rate.service.carrier_id, "name": rate.service.carrier_name },
            "service": { "id": rate.service.id, "name": rate.service.name },
            "totalCharge": { "value": (total * 100.0).round() / 100.0, "unit": rate.currency },
        }
    })))
}

/// The quote and rate a purchase names.
fn quoted_rate(state: &State, body: &Value) -> Result<(Quote, Rate), Reply> {
    let unknown = || {
        Reply::invalid(
            "Invalid requestToken or rateId",
            Some("Purchase a rateId returned by getRates together with its requestToken."),
        )
    };
    let token = body["requestToken"].as_str().unwrap_or_default();
    let rate_id = body["rateId"].as_str().unwrap_or_default();
    let quote = state.quotes.get(token).ok_or_else(unknown)?;
    let rate = quote
        .rates
        .iter()
        .find(|r| r.rate_id == rate_id)
        .ok_or_else(unknown)?;
    Ok((quote.clone(), rate.clone()))
}

/// Creates the shipment: an id, a tracking id per package.
fn buy(
    state: &mut State,
    consignment: Consignment,
    rate: Rate,
    extras: Vec<(String, f64)>,
    label: LabelSpec,
) -> Shipment {
    let id = format!("{}", 40_000_000_000_000 + state.next_number());
    let parcels = consignment
        .parcels
        .iter()
        .map(|parcel| Parcel {
            tracking_id: catalog::tracking_id(&rate.service.carrier_id, state.next_number()),
            ..parcel.clone()
        })
        .collect();
    let shipment = Shipment {
        id,
        rate,
        extras,
        consignment,
        parcels,
        label,
        created: Utc::now(),
        cancelled: None,
        manifested: None,
    };
    for parcel in &shipment.parcels {
        *state
            .bought_references
            .entry(parcel.reference.clone())
            .or_default() += 1;
    }
    state.shipments.push(shipment.clone());
    shipment
}

// ---------------------------------------------------------------------------
// Shipments after purchase

fn get_tracking(state: &mut State, req: &Request) -> Outcome {
    let tracking_id = req.query("trackingId").unwrap_or_default();
    let carrier_id = req.query("carrierId").unwrap_or_default();
    let (shipment, _) = state
        .by_tracking(tracking_id)
        .filter(|(s, _)| s.rate.service.carrier_id == carrier_id)
        .ok_or_else(|| {
            Reply::not_found(&format!(
                "No shipment with trackingId {tracking_id} and carrierId {carrier_id}."
            ))
        })?;
    let at = location(&shipment.consignment.ship_from);
    let event = |code: &str, time: DateTime<Utc>| {
        json!({
            "eventCode": code,
            "location": at,
            "eventTime": timestamp(time),
            "shipmentType": "FORWARD",
        })
    };
    // The sandbox's carrier collects a parcel the moment it is bought (so no
    // event lies in the future).
    let mut events = vec![
        event("ReadyForReceive", shipment.created),
        event("PickupDone", shipment.created),
    ];
    let status = match shipment.cancelled {
        Some(when) => {
            events.push(event("PickupCancelled", when));
            "PickupCancelled"
        }
        None => "InTransit",
    };
    Ok(Reply::ok(json!({
        "payload": {
            "trackingId": tracking_id,
            "alternateLegTrackingId": "",
            "eventHistory": events,
            "promisedDeliveryDate": timestamp(shipment.rate.delivery.1),
            "summary": {
                "status": status,
                "trackingDetailCodes": { "forward": [], "returns": [] },
            },
        }
    })))
}

fn get_shipment_documents(state: &mut State, req: &Request) -> Outcome {
    let id = req.path("shipmentId");
    let shipment = state
        .shipment(id)
        .ok_or_else(|| Reply::not_found(&format!("Shipment {id} not found.")))?;
    let reference = req.query("packageClientReferenceId").unwrap_or_default();
    let index = shipment
        .parcels
        .iter()
        .position(|p| p.reference == reference)
        .ok_or_else(|| {
            Reply::not_found(&format!("Package {reference} not found in shipment {id}."))
        })?;
    let mut spec = shipment.label.clone();
    if let Some(format) = req.query("format") {
        spec.format = parse_format(format)?;
    }
    if let Some(dpi) = req.query("dpi") {
        spec.dpi = parse_dpi(dpi.parse().unwrap_or(f64::NAN))?;
    }
    Ok(Reply::ok(json!({
        "payload": {
            "shipmentId": shipment.id,
            "packageDocumentDetail": document_detail(shipment, index, &spec),
            "benefits": shipment.rate.benefits(),
        }
    })))
}

fn cancel_shipment(state: &mut State, req: &Request) -> Outcome {
    let id = req.path("shipmentId");
    let shipment = state
        .shipment_mut(id)
        .ok_or_else(|| Reply::not_found(&format!("Shipment {id} not found.")))?;
    if shipment.cancelled.is_some() {
        return Err(Reply::invalid(
            &format!("Shipment {id} is already cancelled."),
            None,
        ));
    }
    if let Some(form) = &shipment.manifested {
        return Err(Reply::invalid(
            &format!("Shipment {id} is on collection form {form} and can no longer be cancelled."),
            None,
        ));
    }
    shipment.cancelled = Some(Utc::now());
    Ok(Reply::ok(json!({ "payload": {} })))
}

fn get_additional_inputs(state: &mut State, req: &Request) -> Outcome {
    let body = json!({
        "requestToken": req.query("requestToken"),
        "rateId": req.query("rateId"),
    });
    quoted_rate(state, &body)?;
    Ok(Reply::ok(
        json!({ "payload": catalog::additional_inputs_schema() }),
    ))
}

// ---------------------------------------------------------------------------
// Carrier accounts

fn get_carrier_accounts(state: &mut State) -> Outcome {
    let accounts: Vec<Value> = state
        .accounts
        .iter()
        .map(|a| json!({ "accountId": a.account_id, "carrierId": a.carrier_id }))
        .collect();
    Ok(Reply::ok(json!({ "activeAccounts": accounts })))
}

fn link_carrier_account(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let carrier = req.path("carrierId");
    let carriers = catalog::linkable_carriers();
    let (carrier_id, types) = carriers
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(carrier))
        .ok_or_else(|| {
            Reply::invalid(
                &format!("Carrier {carrier} does not support linking a carrier account."),
                Some("getCarrierAccountFormInputs lists the carriers that do."),
            )
        })?;
    let account_type = body["carrierAccountType"].as_str().unwrap_or_default();
    let (_, inputs) = types
        .iter()
        .find(|(t, _)| *t == account_type)
        .ok_or_else(|| {
            let supported: Vec<&str> = types.iter().map(|(t, _)| *t).collect();
            Reply::invalid(
                &format!("Account type {account_type} is not supported for {carrier_id}."),
                Some(&format!("Supported: {}.", supported.join(", "))),
            )
        })?;
    let attributes: Vec<(&str, &str)> = [
        "carrierAccountAttributes",
        "encryptedCarrierAccountAttributes",
    ]
    .iter()
    .filter_map(|key| body[*key].as_array())
    .flatten()
    .filter_map(|a| Some((a["attributeName"].as_str()?, a["value"].as_str()?)))
    .filter(|(_, value)| !value.trim().is_empty())
    .collect();
    let missing: Vec<&str> = inputs
        .iter()
        .map(|(name, _, _)| *name)
        .filter(|name| !attributes.iter().any(|(n, _)| n == name))
        .collect();
    if !missing.is_empty() {
        return Err(Reply::invalid(
            "Missing carrier account attributes.",
            Some(&format!("{account_type} needs {}.", missing.join(", "))),
        ));
    }
    let number = attributes
        .iter()
        .find(|(name, _)| *name == "ACCOUNT_NUMBER")
        .map(|(_, value)| (*value).to_owned())
        .unwrap_or_default();
    let existing = state
        .accounts
        .iter()
        .find(|a| a.carrier_id == *carrier_id && a.account_number == number);
    let account_id = match existing {
        Some(account) => account.account_id.clone(),
        None => {
            let account_id = uuid::Uuid::new_v4().to_string();
            state.accounts.push(LinkedAccount {
                account_id: account_id.clone(),
                carrier_id: (*carrier_id).to_owned(),
                account_number: number,
            });
            account_id
        }
    };
    Ok(Reply::ok(
        json!({ "registrationStatus": "ACTIVE", "accountId": account_id }),
    ))
}

fn unlink_carrier_account(state: &mut State, req: &Request) -> Outcome {
    let carrier = req.path("carrierId");
    let account_id = req.body["accountId"].as_str();
    let before = state.accounts.len();
    state.accounts.retain(|a| {
        !(a.carrier_id.eq_ignore_ascii_case(carrier)
            && account_id.is_none_or(|id| id == a.account_id))
    });
    if state.accounts.len() == before {
        return Err(Reply::not_found(&format!(
            "No linked {carrier} account{}.",
            account_id.map(|id| format!(" {id}")).unwrap_or_default()
        )));
    }
    Ok(Reply::ok(json!({ "isUnlinked": true })))
}

// ---------------------------------------------------------------------------
// Collection forms (manifests)

fn generate_collection_form(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let carrier_id = body["carrierId"].as_str().unwrap_or_default().to_owned();
    let from = body.get("shipFromAddress").filter(|v| v.is_object());
    let form_id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let mut lines = Vec::new();
    let mut first_from = None;
    for shipment in state.shipments.iter_mut().filter(|s| {
        s.rate.service.carrier_id == carrier_id
            && s.cancelled.is_none()
            && s.manifested.is_none()
            && from.is_none_or(|f| same_place(f, &s.consignment.ship_from))
    }) {
        shipment.manifested = Some(form_id.clone());
        first_from.get_or_insert_with(|| shipment.consignment.ship_from.clone());
        for parcel in &shipment.parcels {
            lines.push(format!(
                "{}  shipment {}  ref {}",
                parcel.tracking_id, shipment.id, parcel.reference
            ));
        }
    }
    let ship_from = from.cloned().or(first_from);
    let carrier_name = catalog::carrier_name(&carrier_id);
    let mut head = vec![
        format!("Carrier: {carrier_name} ({carrier_id})"),
        format!("Form: {form_id}"),
        format!("Created: {}", timestamp(now)),
        format!("Packages: {}", lines.len()),
    ];
    if let Some(address) = &ship_from {
        head.push(format!("Ship from: {}", address_lines(address).join(", ")));
    }
    let pdf =
        documents::sheet(8.27, 11.69, "COLLECTION FORM", &head, &lines).render(Format::Pdf, 300);
    let document = collection_document(&pdf);
    state.forms.push(CollectionForm {
        id: form_id,
        carrier_id,
        carrier_name,
        created: now,
        ship_from,
        pdf,
    });
    Ok(Reply::ok(document))
}

fn collection_document(pdf: &[u8]) -> Value {
    json!({
        "collectionsFormDocument": {
            "base64EncodedContent": BASE64.encode(pdf),
            "documentFormat": "PDF",
        }
    })
}

fn get_collection_form_history(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let carrier = body["carrierId"].as_str();
    let from = body.get("shipFromAddress").filter(|v| v.is_object());
    let start = date(&body["dateRange"]["startDate"], "dateRange.startDate")?;
    let end = date(&body["dateRange"]["endDate"], "dateRange.endDate")?;
    let max = body["maxResults"].as_u64().unwrap_or(10).max(1) as usize;
    let records: Vec<Value> = state
        .forms
        .iter()
        .rev()
        .filter(|f| carrier.is_none_or(|c| c == f.carrier_id))
        .filter(|f| from.is_none_or(|a| f.ship_from.as_ref().is_some_and(|b| same_place(a, b))))
        .filter(|f| start.is_none_or(|s| f.created >= s) && end.is_none_or(|e| f.created <= e))
        .take(max)
        .map(|f| {
            let mut record = json!({
                "carrierName": f.carrier_name,
                "creationDate": timestamp(f.created),
                "generationStatus": "Completed",
                "collectionFormId": f.id,
            });
            if let Some(address) = &f.ship_from {
                record["shipFromAddress"] = address.clone();
            }
            record
        })
        .collect();
    Ok(Reply::ok(json!({
        "collectionFormsHistoryRecordList": records,
        "lastRefreshedDate": timestamp(Utc::now()),
    })))
}

fn get_unmanifested_shipments(state: &mut State) -> Outcome {
    // carrier id -> ship-from addresses with shipments not yet on a form.
    let mut carriers: Vec<(String, Vec<Value>)> = Vec::new();
    for shipment in state
        .shipments
        .iter()
        .filter(|s| s.cancelled.is_none() && s.manifested.is_none())
    {
        let carrier = &shipment.rate.service.carrier_id;
        let index = match carriers.iter().position(|(c, _)| c == carrier) {
            Some(i) => i,
            None => {
                carriers.push((carrier.clone(), Vec::new()));
                carriers.len() - 1
            }
        };
        let places = &mut carriers[index].1;
        let from = &shipment.consignment.ship_from;
        if !places.iter().any(|p| same_place(p, from)) {
            places.push(from.clone());
        }
    }
    let list: Vec<Value> = carriers
        .into_iter()
        .map(|(carrier_id, places)| {
            let locations: Vec<Value> = places
                .into_iter()
                .map(|address| {
                    let last = state
                        .forms
                        .iter()
                        .filter(|f| f.carrier_id == carrier_id)
                        .filter(|f| {
                            f.ship_from
                                .as_ref()
                                .is_some_and(|a| same_place(a, &address))
                        })
                        .map(|f| f.created)
                        .max();
                    let mut location = json!({ "address": address });
                    if let Some(last) = last {
                        location["lastManifestDate"] = json!(timestamp(last));
                    }
                    location
                })
                .collect();
            json!({
                "carrierId": carrier_id,
                "carrierName": catalog::carrier_name(&carrier_id),
                "unmanifestedShipmentLocationList": locations,
            })
        })
        .collect();
    Ok(Reply::ok(
        json!({ "unmanifestedCarrierInformationList": list }),
    ))
}

fn get_collection_form(state: &mut State, req: &Request) -> Outcome {
    let id = req.path("collectionFormId");
    let form = state
        .forms
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| Reply::not_found(&format!("Collection form {id} not found.")))?;
    Ok(Reply::ok(collection_document(&form.pdf)))
}

// ---------------------------------------------------------------------------
// Access points, NDR feedback, claims

fn get_access_points(req: &Request) -> Outcome {
    let types = req.query_list("accessPointTypes");
    let country = req.query("countryCode").unwrap_or_default();
    let postal_code = req.query("postalCode").unwrap_or_default();
    Ok(Reply::ok(json!({
        "payload": catalog::access_points(&types, country, postal_code)
    })))
}

fn submit_ndr_feedback(state: &mut State, req: &Request) -> Outcome {
    let body = &req.body;
    let tracking_id = body["trackingId"].as_str().unwrap_or_default();
    let (shipment, _) = state
        .by_tracking(tracking_id)
        .ok_or_else(|| Reply::not_found(&format!("No shipment with trackingId {tracking_id}.")))?;
    if shipment.cancelled.is_some() {
        return Err(Reply::invalid(
            &format!(
                "Shipment {} was cancelled; it takes no NDR feedback.",
                shipment.id
            ),
            None,
        ));
    }
    let action = body["ndrAction"].as_str().unwrap_or_default();
    if action == "RESCHEDULE" && body["ndrRequestData"]["rescheduleDate"].is_null() {
        return Err(Reply::invalid(
            "Request is missing or has invalid parameters.",
            Some("ndrRequestData.rescheduleDate is required for RESCHEDULE."),
        ));
    }
    date(
        &body["ndrRequestData"]["rescheduleDate"],
        "ndrRequestData.rescheduleDate",
    )?;
    state
        .ndr_feedback
        .push((tracking_id.to_owned(), action.to_owned()));
    Ok(Reply::no_content())
}

fn create_claim(state: &mut State, req: &Request) -> Outcome {
    let tracking_id = req.body["trackingId"].as_str().unwrap_or_default();
    let (shipment, _) = state
        .by_tracking(tracking_id)
        .ok_or_else(|| Reply::not_found(&format!("No shipment with trackingId {tracking_id}.")))?;
    if shipment.cancelled.is_some() {
        return Err(Reply::invalid(
            &format!(
                "Shipment {} was cancelled; there is nothing to claim.",
                shipment.id
            ),
            None,
        ));
    }
    if let Some(claim) = state.claims.get(tracking_id) {
        return Err(Reply::invalid(
            &format!("A claim already exists for trackingId {tracking_id}."),
            Some(&format!("claimId {claim}")),
        ));
    }
    let claim_id = format!("{}", 1_300_000_000_000 + state.next_number());
    state
        .claims
        .insert(tracking_id.to_owned(), claim_id.clone());
    Ok(Reply::with_status(201, json!({ "claimId": claim_id })))
}

// ---------------------------------------------------------------------------
// Reading requests

/// The shipment a rates or purchase request describes. Without packages,
/// `default_package` makes one 1 kg parcel (an Amazon order's package);
/// without `shipFrom` the seller's sandbox address in the business's country
/// is used.
fn consignment(body: &Value, country: &str, default_package: bool) -> Result<Consignment, Reply> {
    let bad = |details: String| {
        Reply::invalid(
            "Request is missing or has invalid parameters.",
            Some(&details),
        )
    };
    let ship_to = body.get("shipTo").filter(|v| v.is_object()).cloned();
    if body["channelDetails"]["channelType"] == "EXTERNAL" && ship_to.is_none() {
        return Err(bad(
            "shipTo is required when channelType is EXTERNAL.".into()
        ));
    }
    let ship_from = match body.get("shipFrom").filter(|v| v.is_object()) {
        Some(address) => address.clone(),
        None => seller_address(country),
    };
    let ship_date = date(&body["shipDate"], "shipDate")?.unwrap_or_else(Utc::now);
    let mut parcels: Vec<Parcel> = body["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(parcel)
        .collect();
    if parcels.is_empty() {
        if !default_package {
            return Err(bad("packages: at least one package is required.".into()));
        }
        let order = body["channelDetails"]["amazonOrderDetails"]["orderId"]
            .as_str()
            .unwrap_or("PACKAGE");
        parcels.push(Parcel {
            reference: format!("{order}-1"),
            weight_kg: 1.0,
            volume_kg: 1.2,
            imperial: false,
            items: Vec::new(),
            tracking_id: String::new(),
        });
    }
    for (i, p) in parcels.iter().enumerate() {
        if parcels[..i].iter().any(|q| q.reference == p.reference) {
            return Err(bad(format!(
                "packages[{i}].packageClientReferenceId: {} is used by another package.",
                p.reference
            )));
        }
    }
    Ok(Consignment {
        ship_from,
        ship_to,
        ship_date,
        parcels,
    })
}

fn parcel(package: &Value) -> Parcel {
    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    let weight = &package["weight"];
    let unit = weight["unit"].as_str().unwrap_or("KILOGRAM");
    let dims = &package["dimensions"];
    let dim_unit = dims["unit"].as_str().unwrap_or("CENTIMETER");
    let volume_cm3: f64 = ["length", "width", "height"]
        .iter()
        .map(|k| catalog::centimetres(number(&dims[*k]), dim_unit))
        .product();
    let items = package["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            format!(
                "{} x {}",
                item["quantity"].as_u64().unwrap_or(1),
                item["description"]
                    .as_str()
                    .or(item["itemIdentifier"].as_str())
                    .unwrap_or("item")
            )
        })
        .collect();
    Parcel {
        reference: package["packageClientReferenceId"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        weight_kg: catalog::kilograms(number(&weight["value"]), unit),
        volume_kg: volume_cm3 / 5000.0,
        imperial: matches!(unit, "POUND" | "OUNCE"),
        items,
        tracking_id: String::new(),
    }
}

/// The documents a purchase asks for; format and resolution must be ones
/// the rates offer.
fn label_spec(spec: &Value) -> Result<LabelSpec, Reply> {
    let format = parse_format(spec["format"].as_str().unwrap_or_default())?;
    let dpi = match spec["dpi"].as_f64() {
        Some(dpi) => parse_dpi(dpi)?,
        None => 203,
    };
    let size = &spec["size"];
    let inches = |key: &str| {
        let value = size[key].as_f64().unwrap_or(0.0);
        if size["unit"] == "CENTIMETER" {
            value / 2.54
        } else {
            value
        }
    };
    let mut types = strings(&spec["requestedDocumentTypes"]);
    if types.is_empty() {
        types.push("LABEL".to_owned());
    }
    if !types.iter().any(|t| t == "LABEL") {
        return Err(Reply::invalid(
            "The LABEL document is mandatory.",
            Some("Add LABEL to requestedDocumentTypes."),
        ));
    }
    if let Some(other) = types
        .iter()
        .find(|t| !matches!(t.as_str(), "LABEL" | "PACKSLIP" | "RECEIPT"))
    {
        return Err(Reply::invalid(
            &format!("Document type {other} is not supported for this rate."),
            Some("Supported: LABEL, PACKSLIP, RECEIPT."),
        ));
    }
    types.dedup();
    Ok(LabelSpec {
        format,
        dpi,
        size: (inches("width"), inches("length")),
        types,
    })
}

fn parse_format(value: &str) -> Result<Format, Reply> {
    Format::parse(value).ok_or_else(|| {
        Reply::invalid(
            &format!("Document format {value} is not supported."),
            Some("Supported: PNG, PDF, ZPL."),
        )
    })
}

fn parse_dpi(dpi: f64) -> Result<u32, Reply> {
    catalog::SUPPORTED_DPIS
        .into_iter()
        .find(|&d| f64::from(d) == dpi)
        .ok_or_else(|| {
            Reply::invalid(
                &format!("Resolution {dpi} dpi is not supported."),
                Some("Supported: 203, 300."),
            )
        })
}

/// The value-added services requested, with their cost on this rate.
fn extras(rate: &Rate, requested: &[String]) -> Result<Vec<(String, f64)>, Reply> {
    requested
        .iter()
        .map(|id| {
            rate.extras
                .iter()
                .find(|e| e.id == id)
                .map(|e| (id.clone(), e.cost))
                .ok_or_else(|| {
                    Reply::invalid(
                        &format!(
                            "Value-added service {id} is not available for {}.",
                            rate.service.id
                        ),
                        None,
                    )
                })
        })
        .collect()
}

/// The `id`s of a list of objects.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .map(str::to_owned)
        .collect()
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// An optional ISO 8601 date-time field.
fn date(value: &Value, path: &str) -> Result<Option<DateTime<Utc>>, Reply> {
    match value.as_str() {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|e| {
                Reply::invalid(
                    "Request is missing or has invalid parameters.",
                    Some(&format!(
                        "{path}: {text:?} is not an ISO 8601 date-time ({e})."
                    )),
                )
            }),
    }
}

// ---------------------------------------------------------------------------
// Addresses and documents

/// The seller's address when a request leaves `shipFrom` out.
fn seller_address(country: &str) -> Value {
    json!({
        "name": "Sandbox Seller",
        "addressLine1": "1 Sandbox Way",
        "city": "Sandbox City",
        "stateOrRegion": "Sandbox Region",
        "countryCode": country,
        "postalCode": "00000",
    })
}

/// An address's `Location`: city, region, country, postal code.
fn location(address: &Value) -> Value {
    let mut location = serde_json::Map::new();
    for key in ["city", "stateOrRegion", "countryCode", "postalCode"] {
        if let Some(value) = address[key].as_str() {
            location.insert(key.to_owned(), json!(value));
        }
    }
    Value::Object(location)
}

/// Two addresses are the same place when postal code and country agree.
fn same_place(a: &Value, b: &Value) -> bool {
    let key = |v: &Value, k: &str| {
        v[k].as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<String>()
            .to_uppercase()
    };
    key(a, "postalCode") == key(b, "postalCode") && key(a, "countryCode") == key(b, "countryCode")
}

/// An address as printed: name, company, street lines, city and postal
/// code, region, country.
fn address_lines(address: &Value) -> Vec<String> {
    let field = |k: &str| address[k].as_str().filter(|s| !s.is_empty());
    let mut lines: Vec<String> = [
        "name",
        "companyName",
        "addressLine1",
        "addressLine2",
        "addressLine3",
    ]
    .iter()
    .filter_map(|k| field(k).map(str::to_owned))
    .collect();
    let city = [field("city"), field("postalCode")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    lines.push(city);
    let region = [field("stateOrRegion"), field("countryCode")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    lines.push(region);
    lines
}

/// A `PackageDocumentDetail` for every package of the shipment.
fn document_details(shipment: &Shipment, spec: &LabelSpec) -> Vec<Value> {
    (0..shipment.parcels.len())
        .map(|i| document_detail(shipment, i, spec))
        .collect()
}

/// A package's documents, rendered in the requested format.
fn document_detail(shipment: &Shipment, index: usize, spec: &LabelSpec) -> Value {
    let parcel = &shipment.parcels[index];
    let documents: Vec<Value> = spec
        .types
        .iter()
        .map(|kind| {
            let bytes = render(shipment, index, kind, spec);
            json!({
                "type": kind,
                "format": spec.format.as_str(),
                "contents": BASE64.encode(bytes),
            })
        })
        .collect();
    json!({
        "packageClientReferenceId": parcel.reference,
        "trackingId": parcel.tracking_id,
        "packageDocuments": documents,
    })
}

fn render(shipment: &Shipment, index: usize, kind: &str, spec: &LabelSpec) -> Vec<u8> {
    let parcel = &shipment.parcels[index];
    let rate = &shipment.rate;
    let (width, length) = spec.size;
    let to = match &shipment.consignment.ship_to {
        Some(address) => address_lines(address),
        None => vec![
            "Amazon customer".to_owned(),
            "(address from the order)".to_owned(),
        ],
    };
    let page = match kind {
        "LABEL" => {
            let weight = if parcel.imperial {
                format!("{:.2} LB", parcel.weight_kg / 0.453_592)
            } else {
                format!("{:.2} KG", parcel.weight_kg)
            };
            let text = LabelText {
                carrier: rate.service.carrier_name.clone(),
                service: rate.service.name.clone(),
                tracking_id: parcel.tracking_id.clone(),
                shipment_id: shipment.id.clone(),
                reference: parcel.reference.clone(),
                package: (index + 1, shipment.parcels.len()),
                weight,
                from: address_lines(&shipment.consignment.ship_from),
                to,
            };
            documents::label(width, length, &text)
        }
        "PACKSLIP" => {
            let head = [
                format!("Shipment {}", shipment.id),
                format!("Package {} ({})", parcel.reference, parcel.tracking_id),
                format!("Ship to: {}", to.join(", ")),
            ];
            documents::sheet(width, length, "PACKING SLIP", &head, &parcel.items)
        }
        _ => {
            let money = |v: f64| format!("{v:.2} {}", rate.currency);
            let mut lines = vec![format!("{}: {}", rate.service.name, money(rate.total))];
            let mut total = rate.total;
            for (id, cost) in &shipment.extras {
                lines.push(format!("{id}: {}", money(*cost)));
                total += cost;
            }
            lines.push(format!("Total: {}", money(total)));
            let head = [
                format!("Shipment {}", shipment.id),
                format!("Purchased {}", timestamp(shipment.created)),
            ];
            documents::sheet(width, length, "RECEIPT", &head, &lines)
        }
    };
    page.render(spec.format, spec.dpi)
}
