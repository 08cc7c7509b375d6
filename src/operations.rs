//! Facts about each operation, derived from the spec at build time: its
//! usage plan and the query parameters Amazon expects comma-separated.

/// One operation of Amazon Shipping API v2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operation {
    /// The spec's operationId (`getRates`, `linkCarrierAccountPost`, ...).
    pub id: &'static str,
    /// The client method's name (`get_rates`), which progenitor also passes
    /// to the hooks as `OperationInfo::operation_id`.
    pub name: &'static str,
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

/// Looks an operation up by its operationId (`getRates`) or its client
/// method name (`get_rates`).
pub fn find(id_or_name: &str) -> Option<&'static Operation> {
    OPERATIONS
        .iter()
        .find(|op| op.id == id_or_name || op.name == id_or_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_found_by_id_and_by_method_name() {
        assert_eq!(OPERATIONS.len(), 20);
        for op in OPERATIONS {
            assert_eq!(find(op.id), Some(op));
            assert_eq!(find(op.name), Some(op));
        }
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn usage_plans_come_from_the_spec() {
        let post = find("linkCarrierAccountPost").unwrap();
        assert_eq!((post.method, post.rate, post.burst), ("POST", 5.0, 10.0));
        let others: Vec<_> = OPERATIONS.iter().filter(|op| op.id != post.id).collect();
        assert_eq!(others.len(), 19);
        assert!(others.iter().all(|op| (op.rate, op.burst) == (80.0, 100.0)));
        assert_eq!(
            find("get_access_points").unwrap().comma_separated_query,
            &["accessPointTypes"]
        );
    }
}
