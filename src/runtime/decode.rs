//! Decoding a response body into the type the spec documents for it, with
//! the JSON path of the first value that does not fit. Every generated
//! operation decodes its responses through `response_value` (build.rs
//! points progenitor's decoding here), so a body is decoded once and an
//! undecodable one is explained; [`decode`] serves tests, fuzzing, and
//! callers who replay stored responses.

use std::fmt;

use progenitor_client::{Error as ProgenitorError, ResponseValue};

use crate::error::{HookFailure, Undecodable, body_prefix};
use crate::runtime::{call, correct};
use crate::types;

/// Why a body does not decode into its documented type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeError {
    /// JSON path of the offending value (`payload.rates[0].totalCharge.value`);
    /// empty when the body as a whole is wrong (not JSON, truncated).
    pub path: String,
    /// serde's description of the problem.
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

fn typed<T>(body: &[u8]) -> Result<serde_json::Value, DecodeError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let value: T = parse(body)?;
    serde_json::to_value(value).map_err(|e| DecodeError {
        path: String::new(),
        message: e.to_string(),
    })
}

/// progenitor's `ResponseValue::from_response`, for `operation` (its client
/// method name, e.g. `get_rates`). The fast path decodes without tracking
/// the path (about half the cost); only a body that fails is decoded again
/// to find where, and comes back as [`crate::Error::Undecodable`] with the
/// operation, status, request id, content type and first bytes.
pub(crate) async fn response_value<T, E>(
    response: reqwest::Response,
    operation: &'static str,
) -> Result<ResponseValue<T>, ProgenitorError<E>>
where
    T: serde::de::DeserializeOwned,
{
    let status = response.status();
    let (headers, body) = take_body(response)
        .await
        .map_err(ProgenitorError::ResponseBodyError)?;
    match decode_typed::<T>(operation, status.as_u16(), &body) {
        Ok((inner, corrections)) => {
            call::update(|call| {
                call.corrections = corrections;
                call.body = Some(body);
            });
            Ok(ResponseValue::new(inner, status, headers))
        }
        Err(e) => {
            let reason = match still_encoded(&headers) {
                Some(encoding) => format!(
                    "the body is still `Content-Encoding: {encoding}`: the HTTP client did not \
                     decode it (a caller's `http_client` built with `.gzip(false)` that sends \
                     `Accept-Encoding` itself?) ({e})"
                ),
                None => e.to_string(),
            };
            let text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let id = crate::operations::find(operation).map_or(operation, |op| op.id);
            let failure = HookFailure::Undecodable(Undecodable {
                operation: Some(id.to_owned()),
                status: Some(status.as_u16()),
                request_id: text("x-amzn-requestid"),
                content_type: text("content-type"),
                reason,
                body_prefix: body_prefix(&body),
                // The call's key, added by `send` (runtime/call.rs).
                idempotency_key: None,
            });
            Err(call::fail(failure))
        }
    }
}

/// Decodes a response body of `operation` (client method name, e.g.
/// `get_rates`) and `status` into its type exactly as `send` does, with
/// the corrections made (empty when the body fits Amazon's model): for
/// stored responses and benchmarks. The fast path decodes without tracking
/// the path; only a body that fails is decoded again to find where.
pub fn decode_typed<T>(
    operation: &str,
    status: u16,
    body: &[u8],
) -> Result<(T, Vec<crate::Correction>), DecodeError>
where
    T: serde::de::DeserializeOwned,
{
    let before = correct::count();
    match serde_json::from_slice::<T>(body) {
        Ok(inner) => Ok((inner, correct::made_since(before, operation, status, body))),
        Err(fast) => Err(match parse::<T>(body) {
            Err(_) if body.is_empty() => DecodeError {
                path: String::new(),
                message: format!("empty body where JSON was expected ({fast})"),
            },
            Err(e) => e,
            // Cannot happen (both decoders agree); report the fast error.
            Ok(_) => DecodeError {
                path: String::new(),
                message: fast.to_string(),
            },
        }),
    }
}

/// The `Content-Encoding` of a body the HTTP client handed over without
/// decoding it (reqwest removes the header when it decodes); `identity`
/// does not count.
fn still_encoded(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
}

/// What an error answer's body was when it was not Amazon's error list:
/// recorded on the response progenitor returns as `UnexpectedResponse`,
/// where the conversion into [`crate::Error::Api`] reads it.
#[derive(Debug, Clone)]
pub(crate) struct UnlistedBody {
    /// The first bytes of the body (see [`body_prefix`]).
    pub(crate) prefix: String,
}

/// An error answer, whatever its status (a documented error status, or one
/// the spec does not list: a 422, a gateway's 502): Amazon's `errors[]`
/// when the body is an error list (progenitor's `ErrorResponse`, which
/// becomes [`crate::Error::Api`] with the list), otherwise progenitor's
/// `UnexpectedResponse` carrying the body's first bytes ([`UnlistedBody`]).
/// build/decode_once.rs points every generated error arm here; progenitor
/// alone drops the body of a status the spec does not list.
pub(crate) async fn error_response(
    response: reqwest::Response,
) -> ProgenitorError<types::ErrorList> {
    let status = response.status();
    let url = response.url().clone();
    let mut response = http::Response::<reqwest::Body>::from(response);
    let buffered = response.extensions_mut().remove::<Buffered>();
    let (parts, body) = response.into_parts();
    let body = match buffered {
        Some(Buffered(body)) => body,
        None => match collect(body).await {
            Ok(body) => body,
            Err(e) => return ProgenitorError::ResponseBodyError(e),
        },
    };
    if let Ok(list) = serde_json::from_slice::<types::ErrorList>(&body) {
        return ProgenitorError::ErrorResponse(ResponseValue::new(list, status, parts.headers));
    }
    let prefix = body_prefix(&body);
    let mut rebuilt = rebuild(Head { parts, url }, body);
    rebuilt.extensions_mut().insert(UnlistedBody { prefix });
    ProgenitorError::UnexpectedResponse(rebuilt)
}

/// A response's whole body, read by the runtime (hooks.rs) before the
/// generated code decodes it, kept in the response's extensions: the
/// response itself is handed on as it came (its body then spent), which
/// costs no conversion to `http::Response` and back (issue 12).
#[derive(Clone)]
pub(crate) struct Buffered(pub(crate) bytes::Bytes);

/// The response's headers and whole body: the body the runtime buffered,
/// or else read now.
async fn take_body(
    mut response: reqwest::Response,
) -> reqwest::Result<(reqwest::header::HeaderMap, bytes::Bytes)> {
    let headers = std::mem::take(response.headers_mut());
    let body = match response.extensions_mut().remove::<Buffered>() {
        Some(Buffered(body)) => body,
        None => response.bytes().await?,
    };
    Ok((headers, body))
}

/// A buffered response's status line, headers and URL.
pub(crate) struct Head {
    pub(crate) parts: http::response::Parts,
    pub(crate) url: reqwest::Url,
}

/// A response again from its head and buffered body (the head moved, not
/// copied; the URL kept so reqwest need not parse a placeholder).
pub(crate) fn rebuild(head: Head, body: bytes::Bytes) -> reqwest::Response {
    use reqwest::ResponseBuilderExt as _;
    let Head { parts, url } = head;
    let mut response = http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url)
        .body(body)
        .expect("status and version come from a valid response");
    *response.headers_mut() = parts.headers;
    reqwest::Response::from(response)
}

/// The whole body; the runtime has usually buffered it already, so this
/// only moves the bytes.
pub(crate) async fn collect(body: reqwest::Body) -> reqwest::Result<bytes::Bytes> {
    use http_body_util::BodyExt as _;
    Ok(body.collect().await?.to_bytes())
}

/// The default API response body cap (`ClientBuilder::max_response_body`):
/// 64 MiB. Labels are the largest legitimate bodies: a base64 PDF or PNG
/// label runs to tens or hundreds of KiB, so even a purchase of many
/// packages returning every label, or a ZPL/PDF collection form, stays far
/// below it, while a hostile or broken answer costs about this much memory
/// (a whole body up to twice its size while joined) instead of growing
/// without bound.
pub const DEFAULT_RESPONSE_BODY_CAP: usize = 64 * 1024 * 1024;

/// Why [`read_capped`] gave up on a body.
#[derive(Debug)]
pub(crate) enum CappedBodyError {
    /// The body is larger than the cap: refused from its `Content-Length`
    /// before any byte was read, or cut once the streamed bytes passed it.
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
        /// The declared `Content-Length`, when that is what gave it away.
        content_length: Option<u64>,
    },
    /// The body broke off or timed out.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, holding at most `cap` bytes: a declared
/// `Content-Length` over the cap is refused before reading, and a streamed
/// (chunked) body is cut as soon as it passes the cap, so a hostile answer
/// costs about `cap` of memory.
///
/// The bytes counted are the ones reqwest hands over: decoded ones for a
/// `Content-Encoding: gzip` answer, which reqwest decompresses while
/// streaming. It also removes such an answer's `Content-Length` (the
/// compressed size), and `Response::content_length` is the decoded body's
/// size hint, unknown for a compressed body; so a small compressed length
/// never lets a gzip bomb through (its decoded chunks are counted and cut
/// at the cap) and a compressed length over the cap never refuses a body
/// that decodes to less (tests/gzip.rs asserts both).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<bytes::Bytes, CappedBodyError> {
    read_body(&mut response, cap).await
}

/// [`read_capped`], leaving the (spent) response to the caller.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<bytes::Bytes, CappedBodyError> {
    if let Some(declared) = response.content_length()
        && declared > cap as u64
    {
        return Err(CappedBodyError::TooLarge {
            cap,
            content_length: Some(declared),
        });
    }
    // The chunks are kept as they come (no growing buffer to reallocate
    // and copy) and joined once at the end: a body cut at the cap costs
    // about the cap, a whole one about twice its size while joined. The
    // usual single chunk is kept as it is.
    let mut first: Option<bytes::Bytes> = None;
    let mut more: Vec<bytes::Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = response.chunk().await.map_err(CappedBodyError::Transport)? {
        len += chunk.len();
        if len > cap {
            return Err(CappedBodyError::TooLarge {
                cap,
                content_length: None,
            });
        }
        if chunk.is_empty() {
            continue;
        }
        match first {
            None => first = Some(chunk),
            Some(_) => more.push(chunk),
        }
    }
    Ok(match (first, more.is_empty()) {
        (None, _) => bytes::Bytes::new(),
        (Some(only), true) => only,
        (Some(first), false) => {
            let mut out = bytes::BytesMut::with_capacity(len);
            out.extend_from_slice(&first);
            for chunk in more.drain(..) {
                out.extend_from_slice(&chunk);
            }
            out.freeze()
        }
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| DecodeError {
        path: display_path(e.path()),
        message: e.inner().to_string(),
    })?;
    de.end().map_err(|e| DecodeError {
        path: String::new(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// `payload.rates[0].value` rather than serde_path_to_error's `.`-only form.
pub(crate) fn display_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

include!(concat!(env!("OUT_DIR"), "/decoders.rs"));

/// [`decode`], with the required fields Amazon left out or sent as `null`
/// that decoding corrected (what [`crate::Response::corrections`] lists for
/// a live answer): for stored responses, tests and fuzzing.
pub fn decode_corrected(
    name: &str,
    status: u16,
    body: &[u8],
) -> Option<Result<(serde_json::Value, Vec<crate::Correction>), DecodeError>> {
    let before = correct::count();
    let decoded = decode(name, status, body)?;
    Some(decoded.map(|value| (value, correct::made_since(before, name, status, body))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_type_is_reported_with_its_path() {
        let body = br#"{"payload": {"trackingId": "T1", "alternateLegTrackingId": "A",
            "eventHistory": [{"eventCode": "Delivered", "eventTime": 5}],
            "promisedDeliveryDate": "2024-01-01T00:00:00Z", "summary": {"status": "Delivered"}}}"#;
        let err = decode("get_tracking", 200, body).unwrap().unwrap_err();
        assert_eq!(err.path, "payload.eventHistory[0].eventTime");
        assert!(err.message.contains("invalid type"), "{err}");
    }

    #[test]
    fn errors_and_undocumented_statuses() {
        let list = br#"{"errors": [{"code": "InvalidInput", "message": "bad"}]}"#;
        let value = decode("get_rates", 400, list).unwrap().unwrap();
        assert_eq!(value["errors"][0]["code"], "InvalidInput");
        assert!(decode("get_rates", 299, list).is_none());
        assert!(decode("submit_ndr_feedback", 204, b"").is_none());
        let err = decode("get_rates", 400, b"<html>").unwrap().unwrap_err();
        assert_eq!(err.path, "");
    }
}
