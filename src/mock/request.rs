//! An SP-API request as the handlers see it: path parameters decoded, query
//! pairs, lower-case headers, and the body checked against the spec.

use httpmock::HttpMockRequest;
use serde_json::Value;

use super::reply::Reply;
use crate::operations::Operation;
use crate::types;

/// One request to one operation.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) op: &'static Operation,
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// The JSON body; `Null` when there is none.
    pub(crate) body: Value,
}

impl Request {
    /// Reads the request; a body that is not JSON is a 400, one sent as
    /// something other than JSON a 415.
    pub(crate) fn read(op: &'static Operation, req: &HttpMockRequest) -> Result<Self, Reply> {
        let headers: Vec<(String, String)> = req
            .headers_vec()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let uri = req.uri();
        let path = op
            .path
            .split('/')
            .zip(uri.path().split('/'))
            .filter_map(|(template, actual)| {
                let name = template.strip_prefix('{')?.strip_suffix('}')?;
                Some((name.to_owned(), percent_decode(actual)))
            })
            .collect();
        let mut request = Self {
            op,
            path,
            query: req.query_params(),
            headers,
            body: Value::Null,
        };
        let raw = req.body_ref();
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Ok(request);
        }
        let json_sent = request
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        if !json_sent {
            return Err(Reply::error(
                415,
                "InvalidRequest",
                "The request payload format is not supported.",
                Some("Send the body as application/json."),
            ));
        }
        request.body = serde_json::from_slice(raw).map_err(|e| {
            Reply::invalid("The request body is not valid JSON.", Some(&e.to_string()))
        })?;
        Ok(request)
    }

    /// A path parameter (empty if the template has none of that name).
    pub(crate) fn path(&self, name: &str) -> &str {
        find(&self.path, name).unwrap_or_default()
    }

    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        find(&self.query, name)
    }

    /// Every value of a query parameter, comma-separated lists split.
    pub(crate) fn query_list(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A header by lower-case name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The country of the `x-amzn-shipping-business-id` (Amazon's default,
    /// the UK, without one).
    pub(crate) fn business_country(&self) -> &'static str {
        match self.header("x-amzn-shipping-business-id").unwrap_or("") {
            "AmazonShipping_US" => "US",
            "AmazonShipping_IN" => "IN",
            "AmazonShipping_IT" => "IT",
            "AmazonShipping_ES" => "ES",
            "AmazonShipping_FR" => "FR",
            "AmazonShipping_UAE" => "AE",
            "AmazonShipping_SA" => "SA",
            "AmazonShipping_EG" => "EG",
            "AmazonShipping_JP" => "JP",
            _ => "GB",
        }
    }

    /// Checks the request against the spec the way the client does (every
    /// broken constraint, by path), then decodes the body into its typed
    /// request. Unknown fields are ignored, as Amazon ignores them.
    pub(crate) fn check(&self) -> Result<(), Reply> {
        let body = (!self.body.is_null()).then_some(&self.body);
        let violations: Vec<String> = crate::validate::check_request(
            self.op.id,
            body,
            &crate::validate::as_pairs(&self.query),
            &crate::validate::as_pairs(&self.headers),
        )
        .into_iter()
        .filter(|v| v.message != "unknown field")
        .map(|v| v.to_string())
        .collect();
        if !violations.is_empty() {
            return Err(Reply::invalid(
                "Request is missing or has invalid parameters.",
                Some(&violations.join("; ")),
            ));
        }
        match body {
            Some(body) => typed_check(self.op.id, body),
            None => Ok(()),
        }
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` escapes of a path segment (`+` stays a plus).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body decodes into the operation's typed request.
fn typed_check(operation_id: &str, body: &Value) -> Result<(), Reply> {
    fn fits<T: serde::de::DeserializeOwned>(body: &Value) -> Result<(), String> {
        serde_path_to_error::deserialize::<_, T>(body)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    let result = match operation_id {
        "getRates" => fits::<types::GetRatesRequest>(body),
        "directPurchaseShipment" => fits::<types::DirectPurchaseRequest>(body),
        "purchaseShipment" => fits::<types::PurchaseShipmentRequest>(body),
        "oneClickShipment" => fits::<types::OneClickShipmentRequest>(body),
        "getCarrierAccounts" => fits::<types::GetCarrierAccountsRequest>(body),
        "linkCarrierAccount" | "linkCarrierAccountPost" => {
            fits::<types::LinkCarrierAccountRequest>(body)
        }
        "unlinkCarrierAccount" => fits::<types::UnlinkCarrierAccountRequest>(body),
        "generateCollectionForm" => fits::<types::GenerateCollectionFormRequest>(body),
        "getCollectionFormHistory" => fits::<types::GetCollectionFormHistoryRequest>(body),
        "getUnmanifestedShipments" => fits::<types::GetUnmanifestedShipmentsRequest>(body),
        "submitNdrFeedback" => fits::<types::SubmitNdrFeedbackRequest>(body),
        "createClaim" => fits::<types::CreateClaimRequest>(body),
        _ => Ok(()),
    };
    result.map_err(|e| Reply::invalid("Request is missing or has invalid parameters.", Some(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(percent_decode("CF%202024%2F11-0042"), "CF 2024/11-0042");
        assert_eq!(percent_decode("a+b%zz%4"), "a+b%zz%4");
    }
}
