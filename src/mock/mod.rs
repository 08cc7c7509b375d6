//! An offline Amazon: [`Sandbox`] is a local server on 127.0.0.1 that plays
//! Login with Amazon and all 20 operations of Amazon Shipping API v2, so the
//! crate can be tried without credentials and code using it can be tested
//! without Amazon.
//!
//! It behaves like Amazon, consistently: an access token comes from its LWA
//! endpoint and is required on every call; rates can be purchased (once per
//! `x-amzn-IdempotencyKey`) and give a shipment with real PNG, PDF or ZPL
//! labels, tracking and cancellation; linked carrier accounts are listed;
//! generated collection forms appear in the history; requests are checked
//! against the spec and errors come in Amazon's `{"errors": [...]}` shape.
//!
//! ```
//! use spapi_shipping::mock::Sandbox;
//! use spapi_shipping::types::Status;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), spapi_shipping::Error> {
//! // In a #[tokio::test]:
//! let sandbox = Sandbox::start().await;
//! let client = sandbox.client();
//!
//! let one_click: spapi_shipping::types::OneClickShipmentRequest =
//!     serde_json::from_value(serde_json::json!({
//!         "shipFrom": { "name": "Despatch", "addressLine1": "1 Mill Lane",
//!             "city": "Leeds", "stateOrRegion": "West Yorkshire",
//!             "postalCode": "LS11 5QE", "countryCode": "GB" },
//!         "shipTo": { "name": "E. Whitcombe", "addressLine1": "14 Larkspur Close",
//!             "city": "Harrogate", "stateOrRegion": "North Yorkshire",
//!             "postalCode": "HG3 1QT", "countryCode": "GB" },
//!         "packages": [{ "packageClientReferenceId": "order-1",
//!             "dimensions": { "length": 30, "width": 20, "height": 10, "unit": "CENTIMETER" },
//!             "weight": { "value": 1.2, "unit": "KILOGRAM" },
//!             "insuredValue": { "value": 25, "unit": "GBP" },
//!             "items": [{ "quantity": 1, "description": "Teapot" }] }],
//!         "channelDetails": { "channelType": "EXTERNAL" },
//!         "serviceSelection": { "serviceId": ["SWA-UK-STD"] },
//!         "labelSpecifications": { "format": "PNG", "size": { "width": 4, "length": 6,
//!             "unit": "INCH" }, "needFileJoining": false, "requestedDocumentTypes": ["LABEL"] },
//!     }))
//!     .unwrap();
//! let bought = client.one_click_shipment().body(one_click).send().await?.into_inner();
//! let shipment = bought.payload.unwrap();
//! let package = &shipment.package_document_details[0];
//! let label = &spapi_shipping::documents::decode_all(package).unwrap()[0];
//! assert!(label.bytes.starts_with(b"\x89PNG"));
//!
//! let tracking = client
//!     .get_tracking()
//!     .tracking_id(package.tracking_id.as_ref().unwrap().as_str())
//!     .carrier_id(shipment.carrier.unwrap().id.unwrap().as_str())
//!     .send()
//!     .await?
//!     .into_inner();
//! let summary = tracking.payload.unwrap().summary.unwrap();
//! assert_eq!(summary.status, Some(Status::InTransit));
//! assert_eq!(sandbox.executed("oneClickShipment"), 1);
//! # Ok(())
//! # }
//! ```
//!
//! `purchaseShipment` keeps Amazon's rules and answers like Amazon when a
//! purchase breaks them: a 400 `InvalidInput` "Invalid input." whose
//! details say "An invalid documentation specification was provided..."
//! (format, size, dpi, page layout, file joining or document types outside
//! the rate's `supportedDocumentSpecifications`), "The requested value
//! added services are invalid..." (a service not offered, or a required
//! group unanswered), or that the request token expired (10 minutes after
//! `getRates`; [`Sandbox::age_quotes`] makes time pass). Its rates are
//! built so the rules bite: Amazon's network needs a PDF label joined in
//! one file with a mandatory packing slip, and other carriers a required
//! proof-of-delivery choice. [`crate::purchase`] plans purchases that keep
//! them.
//!
//! Where the sandbox simplifies: the carrier collects a parcel as soon as it
//! is bought (tracking shows `ReadyForReceive` and `PickupDone`, status
//! `InTransit`), and a shipment can be cancelled until it is on a collection
//! form (tracking then ends with `PickupCancelled`). Prices are made up, in
//! the currency of the ship-from country (GBP, USD, INR, else EUR), and grow
//! with the billed (actual or volumetric) weight. Labels are marked
//! `SANDBOX - NOT VALID FOR SHIPPING`. Documents asked for with
//! `needFileJoining: true` still come one per type.
//!
//! To script exact answers instead, use the typed mocks
//! ([`typed`]) on an [`httpmock::MockServer`]; httpmock is
//! re-exported here, so a test needs no httpmock dependency of its own.

/// The [httpmock](https://docs.rs/httpmock/0.9) crate this module and the
/// typed mocks are built on, re-exported so a user's tests use the same
/// version: `use spapi_shipping::mock::httpmock::MockServer;`.
pub use httpmock;

mod catalog;
mod documents;
mod handlers;
mod reply;
mod request;
mod state;
pub mod typed;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{Duration, Utc};
use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Value, json};

use crate::auth::LwaCredentials;
use crate::operations::{OPERATIONS, Operation};
use crate::{Client, ClientBuilder};
use reply::Reply;
use request::Request;
use state::{State, Stored};

/// Path of the sandbox's Login with Amazon token endpoint.
const TOKEN_PATH: &str = "/auth/o2/token";
/// Lifetime of the sandbox's access tokens, like LWA's.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// A local server playing Amazon's side of Shipping API v2 and Login with
/// Amazon; stops when dropped. See the [module docs](self).
pub struct Sandbox {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Sandbox")
            .field("base_url", &self.server.base_url())
            .field("shipments", &state.shipments.len())
            .field("executed", &state.executed)
            .finish()
    }
}

impl Sandbox {
    /// The LWA client id the sandbox accepts.
    pub const CLIENT_ID: &'static str = "amzn1.application-oa2-client.sandbox";
    /// The LWA client secret the sandbox accepts.
    pub const CLIENT_SECRET: &'static str = "sandbox-secret";
    /// The sandbox's own seller's refresh token. Any other token of the
    /// form `Atzr|...` is accepted too, as another seller's (see
    /// [`seller_refresh_token`](Self::seller_refresh_token)), until
    /// [`revoke`](Self::revoke)d; anything else is refused with `invalid_grant`.
    pub const REFRESH_TOKEN: &'static str = "Atzr|sandbox-refresh";

    /// A refresh token the sandbox accepts as the seller `name`'s
    /// (`Atzr|sandbox-seller-<name>`): for trying many sellers offline
    /// ([`App`](crate::App)).
    pub fn seller_refresh_token(name: &str) -> String {
        format!("Atzr|sandbox-seller-{name}")
    }

    /// Revokes a refresh token, as a seller who removes the application
    /// does: LWA refuses it from now on with `invalid_grant`, and the
    /// access tokens issued for it are refused by the API.
    pub fn revoke(&self, refresh_token: &str) {
        let mut state = lock(&self.state);
        state.revoked.insert(refresh_token.to_owned());
        let issued: Vec<String> = state
            .issued_to
            .iter()
            .filter(|(_, seller)| *seller == refresh_token)
            .map(|(access, _)| access.clone())
            .collect();
        for access in issued {
            state.tokens.remove(&access);
            state.issued_to.remove(&access);
        }
    }

    /// Accepts a [`revoke`](Self::revoke)d refresh token again (the seller
    /// authorised the application again).
    pub fn reinstate(&self, refresh_token: &str) {
        lock(&self.state).revoked.remove(refresh_token);
    }

    /// How many token requests LWA received for this refresh token,
    /// refused ones included.
    pub fn token_requests(&self, refresh_token: &str) -> usize {
        lock(&self.state)
            .token_requests
            .get(refresh_token)
            .copied()
            .unwrap_or(0)
    }

    /// An [`App`](crate::App) builder pointed at the sandbox (endpoint,
    /// token URL and the application's credentials); each seller's refresh
    /// token is given to [`App::seller`](crate::App::seller).
    pub fn app_builder(&self) -> crate::AppBuilder {
        crate::App::builder()
            .app_credentials(Self::CLIENT_ID, Self::CLIENT_SECRET)
            .settings(
                Client::builder()
                    .endpoint(self.base_url())
                    .token_url(self.token_url()),
            )
    }

    /// Starts the server (on 127.0.0.1, a free port) and registers every
    /// operation and the token endpoint.
    pub async fn start() -> Sandbox {
        let server = MockServer::start_async().await;
        let state = Arc::new(Mutex::new(State::new()));
        let shared = Arc::clone(&state);
        server
            .mock_async(move |when, then| {
                when.method("POST").path(TOKEN_PATH);
                then.respond_with(move |req: &HttpMockRequest| token(&shared, req));
            })
            .await;
        for op in OPERATIONS {
            let shared = Arc::clone(&state);
            server
                .mock_async(move |when, then| {
                    when.method(op.method).path_matches(path_pattern(op.path));
                    then.respond_with(move |req: &HttpMockRequest| call(&shared, op, req));
                })
                .await;
        }
        // Registered last, so it only answers what nothing else matched.
        server
            .mock_async(|when, then| {
                when.any_request();
                then.respond_with(|req: &HttpMockRequest| {
                    let message =
                        format!("No operation at {} {}.", req.method_str(), req.uri().path());
                    Reply::not_found(&message).into_response(None)
                });
            })
            .await;
        Sandbox { server, state }
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`: the client's endpoint
    /// (`SP_API_ENDPOINT`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The Login with Amazon token URL (`LWA_ENDPOINT`).
    pub fn token_url(&self) -> String {
        self.server.url(TOKEN_PATH)
    }

    /// The credentials the sandbox accepts ([`CLIENT_ID`](Self::CLIENT_ID),
    /// [`CLIENT_SECRET`](Self::CLIENT_SECRET), [`REFRESH_TOKEN`](Self::REFRESH_TOKEN)).
    pub fn credentials(&self) -> LwaCredentials {
        LwaCredentials::new(Self::CLIENT_ID, Self::CLIENT_SECRET, Self::REFRESH_TOKEN)
    }

    /// A client builder pointed at the sandbox (endpoint, token URL and
    /// credentials); change anything else before building.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .endpoint(self.base_url())
            .token_url(self.token_url())
            .credentials(self.credentials())
    }

    /// A client for the sandbox: `client_builder().build()`.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("the sandbox's client settings are valid")
    }

    /// How many times an operation (operationId such as `purchaseShipment`,
    /// or method name such as `purchase_shipment`) was executed
    /// successfully. A reply replayed for a repeated idempotency key does not
    /// count, so this proves nothing was bought twice.
    pub fn executed(&self, operation_id: &str) -> usize {
        let id = operation_id_of(operation_id);
        lock(&self.state).executed.get(id).copied().unwrap_or(0)
    }

    /// Makes every quote `getRates` has given so far older by `by`, as if
    /// that time had passed: after 10 minutes `purchaseShipment` refuses
    /// their request token, as Amazon does. For tests of expired quotes.
    pub fn age_quotes(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).unwrap_or(Duration::MAX);
        for quote in lock(&self.state).quotes.values_mut() {
            quote.created = quote
                .created
                .checked_sub_signed(by)
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        }
    }

    /// How many shipments were bought (by any purchase operation) for each
    /// package reference (`packageClientReferenceId`): a replayed purchase
    /// does not count, so every value is 1 when nothing was bought twice.
    pub fn purchases_by_reference(&self) -> std::collections::HashMap<String, usize> {
        lock(&self.state).bought_references.clone()
    }

    /// How many distinct `x-amzn-IdempotencyKey` values an operation
    /// received (retries with the same key count once).
    pub fn idempotency_keys(&self, operation_id: &str) -> usize {
        let id = operation_id_of(operation_id);
        lock(&self.state)
            .keys_seen
            .get(id)
            .map_or(0, |keys| keys.len())
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Handlers never leave the state half-updated before panicking.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn operation_id_of(id_or_name: &str) -> &str {
    crate::operations::find(id_or_name).map_or(id_or_name, |op| op.id)
}

/// `^/shipping/v2/shipments/[^/]+/cancel$` for `/shipping/v2/shipments/{shipmentId}/cancel`.
fn path_pattern(template: &str) -> String {
    let segments: Vec<String> = template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "[^/]+".to_owned()
            } else {
                segment.replace('.', "\\.")
            }
        })
        .collect();
    format!("^{}$", segments.join("/"))
}

/// One call of an SP-API operation.
fn call(state: &Mutex<State>, op: &'static Operation, req: &HttpMockRequest) -> HttpMockResponse {
    let reply = {
        let mut state = lock(state);
        answer(&mut state, op, req)
    };
    reply.into_response(Some(op.rate))
}

fn answer(state: &mut State, op: &'static Operation, req: &HttpMockRequest) -> Reply {
    if let Err(denied) = authorize(state, req) {
        return denied;
    }
    let request = match Request::read(op, req).and_then(|r| r.check().map(|()| r)) {
        Ok(request) => request,
        Err(reply) => return reply,
    };
    let key = crate::retry::takes_idempotency_key(op.id)
        .then(|| request.header("x-amzn-idempotencykey"))
        .flatten()
        .map(str::to_owned);
    if let Some(key) = &key {
        state
            .keys_seen
            .entry(op.id.to_owned())
            .or_default()
            .insert(key.clone());
        if let Some(stored) = state.replies.get(&(op.id.to_owned(), key.clone())) {
            return if stored.request == request.body {
                stored.reply.clone()
            } else {
                Reply::invalid(
                    "The idempotency key was already used for a different request.",
                    Some(&format!("x-amzn-IdempotencyKey {key}")),
                )
            };
        }
    }
    let reply = checked(op, handlers::dispatch(state, &request));
    if reply.is_success() {
        *state.executed.entry(op.id.to_owned()).or_default() += 1;
        if let Some(key) = key {
            let stored = Stored {
                request: request.body.clone(),
                reply: reply.clone(),
            };
            state.replies.insert((op.id.to_owned(), key), stored);
        }
    }
    reply
}

/// The access token must be one the LWA endpoint issued and not expired.
fn authorize(state: &State, req: &HttpMockRequest) -> Result<(), Reply> {
    let token = req
        .headers_vec()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-access-token"))
        .map(|(_, v)| v.as_str());
    match token.and_then(|t| state.tokens.get(t)) {
        Some(expiry) if *expiry > Utc::now() => Ok(()),
        Some(_) => Err(Reply::unauthorized(
            "The access token you provided has expired.",
        )),
        None => Err(Reply::unauthorized(
            "The access token you provided is revoked, malformed or invalid.",
        )),
    }
}

/// A reply the client could not decode is a bug in the sandbox: it becomes
/// a 500 that says so, rather than a confusing decoding error.
fn checked(op: &Operation, reply: Reply) -> Reply {
    let body = reply
        .body
        .as_ref()
        .map(Value::to_string)
        .unwrap_or_default();
    match crate::decode::decode(op.name, reply.status, body.as_bytes()) {
        Some(Err(e)) => Reply::error(
            500,
            "InternalError",
            "The sandbox produced a response that does not fit the spec.",
            Some(&e.to_string()),
        ),
        _ => reply,
    }
}

/// Login with Amazon: trades the sandbox's refresh token for an access token.
fn token(state: &Mutex<State>, req: &HttpMockRequest) -> HttpMockResponse {
    let form: Vec<(String, String)> = form_urlencoded::parse(req.body_ref())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let oauth_error = |error: &str, description: &str| {
        let body = json!({ "error": error, "error_description": description });
        Reply::with_status(400, body).into_response(None)
    };
    for name in ["grant_type", "client_id", "client_secret", "refresh_token"] {
        if field(name).is_none_or(str::is_empty) {
            return oauth_error(
                "invalid_request",
                &format!("The request is missing a required parameter : {name}"),
            );
        }
    }
    if field("grant_type") != Some("refresh_token") {
        return oauth_error(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        );
    }
    if field("client_id") != Some(Sandbox::CLIENT_ID)
        || field("client_secret") != Some(Sandbox::CLIENT_SECRET)
    {
        return oauth_error("invalid_client", "Client authentication failed");
    }
    let refresh_token = field("refresh_token").unwrap_or_default();
    let mut state = lock(state);
    *state
        .token_requests
        .entry(refresh_token.to_owned())
        .or_default() += 1;
    // Any `Atzr|` token is a seller's, unless revoked.
    if !refresh_token.starts_with("Atzr|")
        || refresh_token.len() <= "Atzr|".len()
        || state.revoked.contains(refresh_token)
    {
        return oauth_error(
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let access_token = format!("Atza|sandbox-{}", uuid::Uuid::new_v4());
    let expiry = Utc::now() + Duration::seconds(TOKEN_LIFETIME_SECS);
    state.tokens.insert(access_token.clone(), expiry);
    state
        .issued_to
        .insert(access_token.clone(), refresh_token.to_owned());
    drop(state);
    let body = json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
    });
    Reply::ok(body).into_response(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_match_one_segment_per_parameter() {
        assert_eq!(
            path_pattern("/shipping/v2/shipments/{shipmentId}/cancel"),
            "^/shipping/v2/shipments/[^/]+/cancel$"
        );
        assert_eq!(
            path_pattern("/shipping/v2/carrierAccounts"),
            "^/shipping/v2/carrierAccounts$"
        );
    }
}
