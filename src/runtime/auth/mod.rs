//! Login with Amazon (LWA) access tokens.
//!
//! Every SP-API call carries a short-lived LWA access token in `x-amz-access-token`.
//! [`TokenProvider`] trades the long-lived refresh token for access tokens, caches
//! them until shortly before they expire, and makes sure at most one token request
//! is in flight however many calls are waiting for a token.
//!
//! Secrets (client secret, refresh token) and access tokens never appear in `Debug`,
//! `Display`, `tracing` output or an [`AuthError`].
//
// In two parts (issue 20): `lwa` is the exchange with LWA (the request,
// reading its answer, the secrets and their scrubbing), `cache` the token
// cache (one refresh at a time, the breaker), fed by a `source::TokenSource`:
// LWA directly, or (feature `redis`) the fleet's token in Redis around LWA.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;

mod cache;
#[cfg(feature = "redis")]
mod fleet;
mod lwa;
mod source;
#[cfg(test)]
mod testing;

pub use cache::TokenProvider;
#[doc(hidden)]
pub use lwa::parse_answer;
pub use lwa::{LWA_BODY_CAP, LWA_TOKEN_URL, LwaCredentials, Secret};

/// What a secret looks like wherever it would otherwise be shown.
const REDACTED: &str = "***";

/// An LWA access token (`Atza|...`). Redacted in `Debug` so it cannot leak into logs.
///
/// Held as the ready `x-amz-access-token` header value (marked sensitive),
/// made once per token: every call clones it (a reference count), instead
/// of copying and checking the token into a new header value (issue 12).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(HeaderValue);

impl AccessToken {
    /// `None` when the token could not be sent as a header (anything but
    /// visible ASCII and spaces), so it is refused where it arrives.
    fn new(token: String) -> Option<Self> {
        let mut header = HeaderValue::try_from(token).ok()?;
        header.to_str().ok()?;
        header.set_sensitive(true);
        Some(Self(header))
    }

    /// A token another process put in Redis (feature `redis`); `None` when
    /// it could not be sent as a header.
    #[cfg(feature = "redis")]
    pub(crate) fn from_shared(token: String) -> Option<Self> {
        Self::new(token)
    }

    /// The token value, for the `x-amz-access-token` header.
    pub fn expose(&self) -> &str {
        // Checked to be visible ASCII when made.
        self.0.to_str().unwrap_or_default()
    }

    /// The `x-amz-access-token` header value (sensitive).
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({REDACTED})")
    }
}

/// Why getting a token failed. Never contains a secret or a token, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// LWA answered with an OAuth error (`invalid_grant`, `invalid_client`, ...).
    Lwa {
        /// The HTTP status of the answer.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// LWA's explanation, if it gave one (secrets scrubbed).
        error_description: Option<String>,
    },
    /// LWA answered something that is neither a token nor an OAuth error (a 5xx page,
    /// bad JSON).
    Unexpected {
        /// The HTTP status of the answer.
        status: u16,
        /// The first 256 bytes of the body (lossy UTF-8), secrets scrubbed.
        body_prefix: String,
    },
    /// The token request did not complete (connect error, timeout).
    Transport {
        /// reqwest's message with its causes, secrets scrubbed.
        message: String,
        /// Whether the request timed out.
        timeout: bool,
    },
    /// LWA answered with a redirect. Redirects are never followed: the
    /// request carries the client secret and the refresh token, and must not
    /// reach any other URL. Also reported when a caller-supplied HTTP client
    /// followed one anyway (its answer is then not used).
    Redirect {
        /// The HTTP status (301, 302, 303, 307, 308, ...).
        status: u16,
        /// Where the answer pointed (its `Location`, or the URL a redirect
        /// was followed to), secrets scrubbed.
        location: Option<String>,
    },
    /// The answer's body is larger than [`LWA_BODY_CAP`]; it was refused
    /// from its `Content-Length` or cut while streaming.
    TooLarge {
        /// The HTTP status of the answer.
        status: u16,
        /// The cap, in bytes.
        cap: usize,
        /// The declared `Content-Length`, when it gave the size away.
        content_length: Option<u64>,
    },
    /// A success answer that is not a valid token answer (bad JSON, a
    /// missing or empty `access_token`). None of its text is kept: it may
    /// hold a token the client could not recognise.
    Malformed {
        /// The HTTP status of the answer.
        status: u16,
        /// What is wrong, by position only (e.g. `trailing characters at
        /// line 1 column 97`).
        reason: String,
    },
    /// LWA refused this seller's refresh token (`invalid_grant`: the seller
    /// revoked the application, or the token is wrong), so calls for the
    /// seller fail at once, without asking LWA, until `retry_in` has
    /// passed; then one call tries again (see
    /// [`AppBuilder::revoked_retry_after`](crate::AppBuilder::revoked_retry_after)).
    /// Only sellers of an [`App`](crate::App) get it; the other sellers are
    /// not affected.
    SellerRevoked {
        /// The seller's key, as given to [`App::seller`](crate::App::seller)
        /// (never the refresh token).
        seller: String,
        /// LWA's explanation from the refusal, if it gave one (secrets scrubbed).
        error_description: Option<String>,
        /// How long until the next call asks LWA again.
        retry_in: Duration,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREFIX: &str = "LWA token request failed";
        match self {
            Self::Lwa {
                status,
                error,
                error_description: Some(description),
            } => {
                write!(f, "{PREFIX}: {error} ({description}), HTTP {status}")
            }
            Self::Lwa {
                status,
                error,
                error_description: None,
            } => {
                write!(f, "{PREFIX}: {error}, HTTP {status}")
            }
            Self::Unexpected {
                status,
                body_prefix,
            } => {
                write!(
                    f,
                    "{PREFIX}: unexpected HTTP {status} response {body_prefix:?}"
                )
            }
            Self::Transport {
                message,
                timeout: true,
            } => write!(f, "{PREFIX}: timed out: {message}"),
            Self::Transport {
                message,
                timeout: false,
            } => write!(f, "{PREFIX}: {message}"),
            Self::Redirect { status, location } => {
                write!(f, "{PREFIX}: HTTP {status} redirect")?;
                if let Some(location) = location {
                    write!(f, " to {location:?}")?;
                }
                f.write_str(" not followed (it would resend the client secret and refresh token)")
            }
            Self::TooLarge {
                status,
                cap,
                content_length,
            } => {
                write!(
                    f,
                    "{PREFIX}: HTTP {status} answer larger than the {cap}-byte LWA body cap"
                )?;
                match content_length {
                    Some(n) => write!(f, " (Content-Length {n}, not read)"),
                    None => f.write_str(" (cut while streaming)"),
                }
            }
            Self::Malformed { status, reason } => write!(
                f,
                "{PREFIX}: HTTP {status} answer is not a valid token answer ({reason}); body not shown, it may hold a token"
            ),
            Self::SellerRevoked {
                seller,
                error_description,
                retry_in,
            } => {
                write!(f, "{PREFIX}: seller {seller:?}: invalid_grant")?;
                if let Some(description) = error_description {
                    write!(f, " ({description})")?;
                }
                write!(
                    f,
                    "; the seller's refresh token was refused, calls for it fail without asking LWA for {}s more",
                    retry_in.as_secs_f64().ceil()
                )
            }
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// Whether asking again later may work: LWA unreachable, too slow,
    /// throttling (429) or failing (5xx). Refused credentials (4xx) are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Lwa { status, .. } | Self::Unexpected { status, .. } => {
                *status == 429 || *status >= 500
            }
            // A misdirected, oversized or garbled answer is not a passing failure.
            Self::Redirect { .. }
            | Self::TooLarge { .. }
            | Self::Malformed { .. }
            | Self::SellerRevoked { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        let lwa = |status| AuthError::Lwa {
            status,
            error: "invalid_grant".into(),
            error_description: None,
        };
        let unexpected = |status| AuthError::Unexpected {
            status,
            body_prefix: String::new(),
        };
        let transport = |timeout| AuthError::Transport {
            message: "connection refused".into(),
            timeout,
        };
        assert!(transport(true).is_transient());
        assert!(transport(false).is_transient());
        for status in [429, 500, 503] {
            assert!(unexpected(status).is_transient(), "{status}");
            assert!(lwa(status).is_transient(), "{status}");
        }
        for status in [200, 400, 401, 403] {
            assert!(!unexpected(status).is_transient(), "{status}");
            assert!(!lwa(status).is_transient(), "{status}");
        }
    }
}
