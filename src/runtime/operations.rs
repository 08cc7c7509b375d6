//! Facts about each operation, derived from the spec at build time: its
//! usage plan, the query parameters Amazon expects comma-separated, and
//! when a failed call may be sent again.

use super::retry::{AlreadyDone, RetryClass};

/// One operation of Amazon Shipping API v2.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Operation {
    /// The operation's position in [`OPERATIONS`] (spec order), so per-operation
    /// state (rate-limit buckets, cached URLs) is an array look-up.
    pub index: usize,
    /// The spec's operationId (`getRates`, `linkCarrierAccountPost`, ...).
    pub id: &'static str,
    /// The id progenitor passes to the hooks as
    /// `OperationInfo::operation_id` (`get_rates`, also the client method's
    /// name), read from the generated code at build time.
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
    /// Required array query parameters: the generated builder insists on a
    /// list but an empty one sends no pair, so the runtime checks that one
    /// is there. Every other query and header constraint of today's spec is
    /// guaranteed by the generated types (build/param_checks.rs).
    pub required_lists: &'static [&'static str],
    /// Query and header parameters with constraints the generated types do
    /// not express, checked against the spec at run time (none today).
    pub spec_checked_params: &'static [&'static str],
    /// When a failed call may be sent again (`x-spapi-retry`, spec/README.md F5).
    pub retry: RetryClass,
    /// For a write that sets a state: how Amazon's refusal of a repeat as
    /// already done is recognised, and the success reported instead.
    pub already_done: Option<AlreadyDone>,
}

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// Looks an operation up by its operationId (`getRates`) or progenitor's
/// id for it (`get_rates`).
pub fn find(id_or_name: &str) -> Option<&'static Operation> {
    index_of(id_or_name).map(|i| &OPERATIONS[i])
}

/// Path parameters that would send the request elsewhere: an empty value,
/// `.` or `..` (also percent-encoded). progenitor percent-encodes each value,
/// but the URL parser then normalises dot segments, so
/// `shipment_id("..")` turned `PUT /shipping/v2/shipments/../cancel` into
/// `PUT /shipping/v2/cancel`. The check compares the URL about to be sent
/// with the operation's path template (the base URL may add a prefix): each
/// literal segment must be there, and each parameter a non-empty,
/// non-dot segment. Returns one violation per offending parameter (every
/// parameter when the segments no longer line up).
pub(crate) fn path_violations(op: &Operation, url_path: &str) -> Vec<crate::validate::Violation> {
    if path_fits(op.path, url_path) {
        // The usual case, without allocating.
        return Vec::new();
    }
    let template: Vec<&str> = op.path.trim_start_matches('/').split('/').collect();
    let actual: Vec<&str> = url_path.trim_start_matches('/').split('/').collect();
    let param = |segment: &str| {
        segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(str::to_owned)
    };
    let violation = |name: String| crate::validate::Violation {
        message: format!(
            "must not be empty, \".\" or \"..\": the request would go to {url_path} \
             instead of {}",
            op.path
        ),
        path: name,
    };
    let aligned = actual.len() >= template.len()
        && template
            .iter()
            .zip(&actual[actual.len() - template.len()..])
            .all(|(t, a)| param(t).is_some() || t == a);
    if !aligned {
        return template
            .iter()
            .filter_map(|t| param(t))
            .map(violation)
            .collect();
    }
    template
        .iter()
        .zip(&actual[actual.len() - template.len()..])
        .filter_map(|(t, a)| param(t).filter(|_| a.is_empty() || is_dot_segment(a)))
        .map(violation)
        .collect()
}

/// Whether `url_path` ends with `template`'s segments, each parameter a
/// non-empty, non-dot segment: what [`path_violations`] reports nothing for.
fn path_fits(template: &str, url_path: &str) -> bool {
    if !template.contains('{') {
        // `template` starts with `/`, so this also ends on a segment boundary.
        return url_path.ends_with(template);
    }
    let mut actual = url_path.trim_start_matches('/').rsplit('/');
    template.trim_start_matches('/').rsplit('/').all(|t| {
        let Some(a) = actual.next() else {
            return false;
        };
        if t.starts_with('{') && t.ends_with('}') {
            !a.is_empty() && !is_dot_segment(a)
        } else {
            t == a
        }
    })
}

/// `.` or `..`, also percent-encoded (`%2e`, `%2E`).
fn is_dot_segment(segment: &str) -> bool {
    if !segment.contains(['.', '%']) {
        return false;
    }
    let dots = segment.to_ascii_lowercase().replace("%2e", ".");
    dots == "." || dots == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_dot_path_parameters_are_violations() {
        let cancel = find("cancelShipment").unwrap();
        assert_eq!(cancel.path, "/shipping/v2/shipments/{shipmentId}/cancel");
        let names = |path: &str| -> Vec<String> {
            path_violations(cancel, path)
                .into_iter()
                .map(|v| v.path)
                .collect()
        };
        assert!(names("/shipping/v2/shipments/S-1/cancel").is_empty());
        assert!(names("/prefix/shipping/v2/shipments/S-1/cancel").is_empty());
        // What the URL parser leaves of "..", "." and "".
        assert_eq!(names("/shipping/v2/cancel"), ["shipmentId"]);
        assert_eq!(names("/shipping/v2/shipments/cancel"), ["shipmentId"]);
        assert_eq!(names("/shipping/v2/shipments//cancel"), ["shipmentId"]);
        assert_eq!(
            names("/shipping/v2/shipments/%2E%2e/cancel"),
            ["shipmentId"]
        );
        let message = path_violations(cancel, "/shipping/v2/cancel")[0]
            .message
            .clone();
        assert!(
            message.contains(
                "/shipping/v2/cancel instead of /shipping/v2/shipments/{shipmentId}/cancel"
            ),
            "{message}"
        );
    }

    #[test]
    fn every_operation_is_found_by_id_and_by_method_name() {
        assert_eq!(OPERATIONS.len(), 20);
        for (i, op) in OPERATIONS.iter().enumerate() {
            assert_eq!(op.index, i);
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
