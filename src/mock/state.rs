//! What the sandbox remembers between requests: access tokens, rate quotes,
//! shipments, idempotent replies, carrier accounts, collection forms, claims.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::catalog::Rate;
use super::documents::Format;
use super::reply::Reply;

/// How long a `requestToken` from `getRates` can be purchased (Amazon: 10 minutes).
pub(crate) const QUOTE_LIFETIME_SECS: i64 = 600;

/// The whole sandbox state, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// Access tokens handed out by the LWA endpoint, with their expiry.
    pub(crate) tokens: HashMap<String, DateTime<Utc>>,
    /// `getRates` answers by `requestToken`.
    pub(crate) quotes: HashMap<String, Quote>,
    /// Purchased shipments, oldest first.
    pub(crate) shipments: Vec<Shipment>,
    /// Successful replies of keyed operations by (operationId, idempotency key).
    pub(crate) replies: HashMap<(String, String), Stored>,
    /// Every idempotency key received, by operationId.
    pub(crate) keys_seen: HashMap<String, HashSet<String>>,
    /// Successful executions by operationId (replays not counted).
    pub(crate) executed: HashMap<String, usize>,
    /// Shipments bought per package reference (`packageClientReferenceId`).
    pub(crate) bought_references: HashMap<String, usize>,
    /// Linked carrier accounts, oldest first.
    pub(crate) accounts: Vec<LinkedAccount>,
    /// Generated collection forms, oldest first.
    pub(crate) forms: Vec<CollectionForm>,
    /// Claim ids by tracking id.
    pub(crate) claims: HashMap<String, String>,
    /// NDR feedback received: (tracking id, action).
    pub(crate) ndr_feedback: Vec<(String, String)>,
    /// The refresh token each access token was issued for (its seller).
    pub(crate) issued_to: HashMap<String, String>,
    /// Token requests received per refresh token, refused ones included.
    pub(crate) token_requests: HashMap<String, usize>,
    /// Refresh tokens revoked by `Sandbox::revoke`.
    pub(crate) revoked: HashSet<String>,
    /// Source of numeric ids (shipment ids, tracking numbers, claim ids).
    sequence: u64,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            tokens: HashMap::new(),
            quotes: HashMap::new(),
            shipments: Vec::new(),
            replies: HashMap::new(),
            keys_seen: HashMap::new(),
            executed: HashMap::new(),
            bought_references: HashMap::new(),
            accounts: Vec::new(),
            forms: Vec::new(),
            claims: HashMap::new(),
            ndr_feedback: Vec::new(),
            issued_to: HashMap::new(),
            token_requests: HashMap::new(),
            revoked: HashSet::new(),
            // Different sandboxes hand out different ids.
            sequence: fastrand::u64(1_000_000..9_000_000) * 1_000,
        }
    }

    /// A number no earlier call returned.
    pub(crate) fn next_number(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    pub(crate) fn shipment(&self, id: &str) -> Option<&Shipment> {
        self.shipments.iter().find(|s| s.id == id)
    }

    pub(crate) fn shipment_mut(&mut self, id: &str) -> Option<&mut Shipment> {
        self.shipments.iter_mut().find(|s| s.id == id)
    }

    /// The shipment and package with this tracking id.
    pub(crate) fn by_tracking(&self, tracking_id: &str) -> Option<(&Shipment, &Parcel)> {
        self.shipments.iter().find_map(|s| {
            s.parcels
                .iter()
                .find(|p| p.tracking_id == tracking_id)
                .map(|p| (s, p))
        })
    }
}

/// A successful reply kept for its idempotency key, with the body it answered.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) request: Value,
    pub(crate) reply: Reply,
}

/// What a shipment request describes, whichever operation sent it.
#[derive(Debug, Clone)]
pub(crate) struct Consignment {
    pub(crate) ship_from: Value,
    pub(crate) ship_to: Option<Value>,
    pub(crate) ship_date: DateTime<Utc>,
    pub(crate) parcels: Vec<Parcel>,
}

impl Consignment {
    pub(crate) fn country(&self) -> &str {
        self.ship_from["countryCode"].as_str().unwrap_or("GB")
    }
}

/// One package of a consignment; the tracking id is set when it is bought.
#[derive(Debug, Clone)]
pub(crate) struct Parcel {
    pub(crate) reference: String,
    pub(crate) weight_kg: f64,
    /// The volumetric weight (length x width x height in cm / 5000).
    pub(crate) volume_kg: f64,
    /// Whether the request weighed it in pounds or ounces.
    pub(crate) imperial: bool,
    /// `quantity x description` per item.
    pub(crate) items: Vec<String>,
    pub(crate) tracking_id: String,
}

/// A `getRates` answer that can be purchased.
#[derive(Debug, Clone)]
pub(crate) struct Quote {
    pub(crate) created: DateTime<Utc>,
    pub(crate) consignment: Consignment,
    pub(crate) rates: Vec<Rate>,
}

/// The documents requested with a purchase (and the defaults for
/// `getShipmentDocuments`).
#[derive(Debug, Clone)]
pub(crate) struct LabelSpec {
    pub(crate) format: Format,
    pub(crate) dpi: u32,
    /// Width and length in inches.
    pub(crate) size: (f64, f64),
    /// `LABEL`, `PACKSLIP`, `RECEIPT`, `CUSTOM_FORM`.
    pub(crate) types: Vec<String>,
}

/// A purchased shipment.
#[derive(Debug, Clone)]
pub(crate) struct Shipment {
    pub(crate) id: String,
    pub(crate) rate: Rate,
    /// Value-added service ids bought with it, and what they cost.
    pub(crate) extras: Vec<(String, f64)>,
    pub(crate) consignment: Consignment,
    pub(crate) parcels: Vec<Parcel>,
    pub(crate) label: LabelSpec,
    pub(crate) created: DateTime<Utc>,
    pub(crate) cancelled: Option<DateTime<Utc>>,
    /// The collection form that lists it, once one was generated.
    pub(crate) manifested: Option<String>,
}

/// A carrier account linked with `linkCarrierAccount`.
#[derive(Debug, Clone)]
pub(crate) struct LinkedAccount {
    pub(crate) account_id: String,
    pub(crate) carrier_id: String,
    pub(crate) account_number: String,
}

/// A collection form (manifest) from `generateCollectionForm`.
#[derive(Debug, Clone)]
pub(crate) struct CollectionForm {
    pub(crate) id: String,
    pub(crate) carrier_id: String,
    pub(crate) carrier_name: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) ship_from: Option<Value>,
    pub(crate) pdf: Vec<u8>,
}
