//! The hand-written runtime behind the generated client: what happens to a
//! request between an operation builder's `send` and the wire (see
//! ARCHITECTURE.md). Private as a whole; the parts users name are
//! re-exported at the crate root (`spapi_shipping::auth`, `::retry`, ...).

pub mod auth;
pub(crate) mod call;
pub(crate) mod correct;
pub mod decode;
pub(crate) mod dial;
pub(crate) mod hooks;
pub(crate) mod lenient;
pub mod operations;
pub(crate) mod query;
pub mod rate_limit;
pub(crate) mod raw_body;
pub mod retry;
pub(crate) mod time;
pub(crate) mod url;
pub mod validate;
