//! Facts about each operation, derived from the spec at build time: its
//! usage plan and the query parameters Amazon expects comma-separated.

/// One operation of Amazon Shipping API v2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operation {
    /// The spec's operationId (`getRates`, `linkCarrierAccountPost`, ...).
    pub id: &'static str,
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template, e.g. `/shipping/v2/shipments/{shipmentId}/cancel`.
    pub path: &'static str,
    /// Amazon's default usage plan: sustained requests per second.
    pub rate: f64,
    /// Amazon's default usage plan: burst size.
    pub burst: f64,
    /// Array query parameters Amazon's model serializes as `a,b,c`
    /// (Swagger `collectionFormat: csv`, OpenAPI `explode: false`).
    pub comma_separated_query: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// Looks an operation up by its operationId.
pub fn find(id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.id == id)
}
