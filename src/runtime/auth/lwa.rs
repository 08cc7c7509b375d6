//! The LWA exchange: the credentials and their secrets, the token request
//! (form body, redirects refused, body capped), reading LWA's answer into a
//! token or a typed [`AuthError`], and scrubbing every secret and token out
//! of any text an error keeps.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use tokio::time::Instant;

use super::source::CachedToken;
use super::{AccessToken, AuthError, REDACTED};

/// The default token endpoint.
pub const LWA_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";

/// How much of an unexpected response body is kept in [`AuthError::Unexpected`].
const BODY_PREFIX_LEN: usize = 256;
/// Caps an absurd `expires_in` so the expiry instant cannot overflow (LWA says 3600).
pub(super) const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;
/// Largest LWA answer read (a token answer is under 2 KiB; an OAuth error or
/// a gateway's error page rarely passes a few KiB): a larger body is refused
/// before or while reading, so a hostile endpoint cannot make a token refresh
/// hold hundreds of MiB.
pub const LWA_BODY_CAP: usize = 64 * 1024;
/// Secrets shorter than this are scrubbed only where they stand as a whole
/// token (a one-letter "secret" would otherwise turn `amazon.com` into
/// `amazon.***om`); real LWA secrets and tokens are tens to hundreds of bytes.
const MIN_SUBSTRING_SECRET: usize = 8;

/// A secret string: never shown by `Debug` (`Secret(***)`) or `Display` (`***`),
/// so credentials can sit in structs that get logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// LWA credentials of one application and selling partner. `Debug` shows the client id
/// (useful to tell applications apart in logs) and hides the two secrets.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LwaCredentials {
    /// The LWA client id (`amzn1.application-oa2-client...`); not secret.
    pub client_id: String,
    /// The LWA client secret.
    pub client_secret: Secret,
    /// The selling partner's refresh token (`Atzr|...`).
    pub refresh_token: Secret,
}

impl LwaCredentials {
    /// Bundles the three values needed to ask LWA for access tokens.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
        }
    }
}

/// LWA's success answer (`token_type` and the echoed `refresh_token` are not needed).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// LWA's OAuth error answer.
#[derive(Deserialize)]
struct OAuthErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// One application and seller's token exchange with LWA: where to ask, with
/// what, through which HTTP client. Sends one request per [`fetch`](Self::fetch);
/// the cache decides when.
pub(super) struct Lwa {
    credentials: LwaCredentials,
    token_url: reqwest::Url,
    http: reqwest::Client,
    requests: AtomicU64,
    /// An [`App`](crate::App)'s slots for LWA requests: one is held from
    /// sending until the answer is read (see `TokenProvider::with_slots`).
    pub(super) slots: Option<std::sync::Arc<crate::runtime::dial::Dials>>,
}

impl Lwa {
    pub(super) fn new(
        credentials: LwaCredentials,
        token_url: reqwest::Url,
        http: reqwest::Client,
    ) -> Self {
        Self {
            credentials,
            token_url,
            http,
            requests: AtomicU64::new(0),
            slots: None,
        }
    }

    /// The credentials (the fleet's token source seals with its secret).
    #[cfg(feature = "redis")]
    pub(super) fn credentials(&self) -> &LwaCredentials {
        &self.credentials
    }

    /// The LWA client id (not secret), for `Debug`.
    pub(super) fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// The token endpoint, for `Debug` (redact its password before showing it).
    pub(super) fn token_url(&self) -> &reqwest::Url {
        &self.token_url
    }

    /// How many token requests have been sent (for the unit tests).
    #[cfg(test)]
    pub(super) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One token request bounded by `timeout`, connection to last byte; on
    /// expiry a transient [`AuthError::Transport`] (`timeout: true`).
    pub(super) async fn fetch(&self, timeout: Duration) -> Result<CachedToken, AuthError> {
        // Waiting for a slot is not LWA hanging: the timeout starts after.
        // The semaphore is never closed, so `acquire` cannot fail.
        let _slot = match &self.slots {
            Some(slots) => slots.slot().await,
            None => None,
        };
        tokio::time::timeout(timeout, self.request())
            .await
            .unwrap_or_else(|_| {
                Err(AuthError::Transport {
                    message: format!("no complete answer from LWA within {timeout:?}"),
                    timeout: true,
                })
            })
    }

    /// Sends one token request and turns the answer into a cacheable token.
    async fn request(&self) -> Result<CachedToken, AuthError> {
        let sent_at = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            client_id = %self.credentials.client_id,
            token_url = %crate::config::redact_url(self.token_url.as_str()),
            "requesting LWA access token"
        );
        let response = self
            .http
            .post(self.token_url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(self.form_body())
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            return Err(AuthError::Redirect {
                status: status.as_u16(),
                location: location.map(|l| self.scrubber().scrub(&l)),
            });
        }
        if response.url() != &self.token_url {
            // A caller-supplied HTTP client followed a redirect: the form
            // has gone elsewhere already; at least its answer is not used.
            return Err(AuthError::Redirect {
                status: status.as_u16(),
                location: Some(self.scrubber().scrub(response.url().as_str())),
            });
        }
        let body = crate::decode::read_capped(response, LWA_BODY_CAP)
            .await
            .map_err(|e| match e {
                crate::decode::CappedBodyError::TooLarge {
                    cap,
                    content_length,
                } => AuthError::TooLarge {
                    status: status.as_u16(),
                    cap,
                    content_length,
                },
                crate::decode::CappedBodyError::Transport(e) => self.transport_error(&e),
            })?;
        let credentials = &self.credentials;
        let secrets = [
            credentials.client_secret.expose(),
            credentials.refresh_token.expose(),
        ];
        let (token, expires_in) = parse_answer(status.as_u16(), &body, &secrets)?;
        let lifetime = Duration::from_secs(expires_in.min(MAX_LIFETIME_SECS));
        Ok(CachedToken {
            token,
            expires_at: sent_at + lifetime,
            lifetime,
        })
    }

    fn form_body(&self) -> String {
        let credentials = &self.credentials;
        serde_urlencoded::to_string([
            ("grant_type", "refresh_token"),
            ("refresh_token", credentials.refresh_token.expose()),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
        ])
        .expect("string pairs always form-encode")
    }

    fn transport_error(&self, error: &reqwest::Error) -> AuthError {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        let message = self.scrubber().scrub(&message);
        AuthError::Transport {
            message,
            timeout: error.is_timeout(),
        }
    }

    /// A scrubber for our secrets.
    fn scrubber(&self) -> Scrubber {
        let credentials = &self.credentials;
        let mut secrets = vec![
            credentials.client_secret.expose().to_owned(),
            credentials.refresh_token.expose().to_owned(),
        ];
        // reqwest's errors quote the URL: a password in the token URL (a
        // proxy's `user:password@`) is a secret too (issue 20).
        secrets.extend(self.token_url.password().map(str::to_owned));
        Scrubber::new(secrets)
    }
}

/// LWA's answer (`status`, `body`) as a token and its `expires_in`, or the
/// error it amounts to, with every one of `secrets` scrubbed from any text
/// kept. A success status whose body is not a token answer keeps no text
/// at all ([`AuthError::Malformed`]): a token the parser could not
/// recognise would otherwise be echoed. Public for the fuzzer
/// (`examples/fuzz_decoders.rs`); callers use
/// [`TokenProvider`](super::TokenProvider).
#[doc(hidden)]
pub fn parse_answer(
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<(AccessToken, u64), AuthError> {
    let success = (200..300).contains(&status);
    if success {
        match serde_json::from_slice::<TokenResponse>(body) {
            Ok(answer) if !answer.access_token.is_empty() => {
                return match AccessToken::new(answer.access_token) {
                    Some(token) => Ok((token, answer.expires_in)),
                    None => Err(AuthError::Malformed {
                        status,
                        reason: "access_token is not a valid header value".into(),
                    }),
                };
            }
            Ok(_) => {
                return Err(AuthError::Malformed {
                    status,
                    reason: "empty access_token".into(),
                });
            }
            // A 2xx carrying an OAuth error is reported as one below.
            Err(_) if serde_json::from_slice::<OAuthErrorResponse>(body).is_ok() => {}
            Err(e) => {
                return Err(AuthError::Malformed {
                    status,
                    reason: describe_json_error(&e),
                });
            }
        }
    }
    let mut needles: Vec<String> = secrets.iter().map(|s| (*s).to_owned()).collect();
    needles.extend(echoed_tokens(body));
    let scrubber = Scrubber::new(needles);
    if let Ok(answer) = serde_json::from_slice::<OAuthErrorResponse>(body) {
        return Err(AuthError::Lwa {
            status,
            error: scrubber.scrub(&answer.error),
            error_description: answer.error_description.map(|d| scrubber.scrub(&d)),
        });
    }
    // Scrub a window that holds every secret starting in the kept prefix,
    // then cut: a large error page is never copied whole.
    let window = &body[..body.len().min(BODY_PREFIX_LEN + scrubber.longest())];
    let mut body_prefix = scrubber.scrub(&String::from_utf8_lossy(window));
    truncate_at_char_boundary(&mut body_prefix, BODY_PREFIX_LEN);
    Err(AuthError::Unexpected {
        status,
        body_prefix,
    })
}

/// serde_json's error by kind and position only: its message can quote the
/// offending value (`invalid type: string "Atza|..."`).
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "cut short",
        Category::Syntax => "not valid JSON",
        Category::Data => "JSON of the wrong shape",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Values of `access_token` / `refresh_token` in a JSON body that did not parse as a
/// token answer: they must not end up in an error.
fn echoed_tokens(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    ["access_token", "refresh_token"]
        .iter()
        .filter_map(|key| value.get(key)?.as_str().map(str::to_owned))
        .collect()
}

/// Replaces secrets, raw or form-encoded, with `***` in text taken from a response or
/// an error message.
struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    fn new(secrets: Vec<String>) -> Self {
        let mut needles: Vec<String> = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .flat_map(|s| [s.clone(), form_encode(s)])
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Self { needles }
    }

    /// The longest needle's length in bytes (0 without needles).
    fn longest(&self) -> usize {
        self.needles.first().map_or(0, String::len)
    }

    /// Replaces every needle of at least [`MIN_SUBSTRING_SECRET`] bytes
    /// wherever it occurs, and a shorter one only where it is a whole token
    /// (not touching a letter, digit or one of `|-_.%~+/`), so a short
    /// secret cannot garble the rest of the message.
    fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |text, needle| {
            if needle.len() >= MIN_SUBSTRING_SECRET {
                text.replace(needle.as_str(), REDACTED)
            } else {
                replace_whole_tokens(&text, needle)
            }
        })
    }
}

/// `text` with each occurrence of `needle` that is a whole token replaced.
fn replace_whole_tokens(text: &str, needle: &str) -> String {
    let in_token = |c: char| c.is_alphanumeric() || "|-_.%~+/".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(needle) {
        if at < rest {
            continue;
        }
        let end = at + needle.len();
        let before = text[..at].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(in_token) && !after.is_some_and(in_token) {
            out.push_str(&text[rest..at]);
            out.push_str(REDACTED);
            rest = end;
        }
    }
    out.push_str(&text[rest..]);
    out
}

/// `value` as it appears in a form-encoded body (`Atzr|x` -> `Atzr%7Cx`).
fn form_encode(value: &str) -> String {
    let pair = serde_urlencoded::to_string([("v", value)]).unwrap_or_default();
    pair.strip_prefix("v=").unwrap_or_default().to_owned()
}

/// Shortens `text` to at most `max` bytes without splitting a character.
fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::super::TokenProvider;
    use super::super::testing::*;
    use super::*;
    use httpmock::MockServer;
    use serde_json::json;

    #[tokio::test]
    async fn lwa_oauth_error_is_typed() {
        let server = MockServer::start_async().await;
        let body = json!({ "error": "invalid_client", "error_description": "Client authentication failed" });
        mock_answer(&server, 401, &body.to_string()).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Lwa {
                status: 401,
                error: "invalid_client".into(),
                error_description: Some("Client authentication failed".into()),
            }
        );
        assert_eq!(
            error.to_string(),
            "LWA token request failed: invalid_client (Client authentication failed), HTTP 401"
        );
    }

    #[tokio::test]
    async fn lwa_oauth_error_without_description() {
        let server = MockServer::start_async().await;
        mock_answer(&server, 400, r#"{"error":"unsupported_grant_type"}"#).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let expected = AuthError::Lwa {
            status: 400,
            error: "unsupported_grant_type".into(),
            error_description: None,
        };
        assert_eq!(error, expected);
        assert_eq!(
            error.to_string(),
            "LWA token request failed: unsupported_grant_type, HTTP 400"
        );
    }

    #[tokio::test]
    async fn html_503_is_unexpected_with_a_256_byte_body_prefix() {
        let server = MockServer::start_async().await;
        let page = format!(
            "<html><body>Service Unavailable{}</body></html>",
            "é".repeat(300)
        );
        mock_answer(&server, 503, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let AuthError::Unexpected {
            status,
            body_prefix,
        } = &error
        else {
            panic!("expected Unexpected, got {error:?}");
        };
        assert_eq!(*status, 503);
        assert!(
            body_prefix.starts_with("<html><body>Service Unavailable"),
            "{body_prefix}"
        );
        assert!(
            body_prefix.len() <= 256 && body_prefix.len() >= 254,
            "{}",
            body_prefix.len()
        );
        assert!(page.starts_with(body_prefix.as_str()));
        assert!(error.to_string().starts_with(
            "LWA token request failed: unexpected HTTP 503 response \"<html><body>Service Unavailable"
        ));
    }

    #[tokio::test]
    async fn success_status_with_a_malformed_token_is_malformed_and_shows_nothing() {
        let server = MockServer::start_async().await;
        let body = json!({ "access_token": ACCESS_TOKEN, "token_type": "bearer" });
        mock_answer(&server, 200, &body.to_string()).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Malformed {
                status: 200,
                reason: "JSON of the wrong shape at line 1 column 72".into(),
            }
        );
        assert!(!error.is_transient());
    }

    /// Issue 11, finding 5: one stray byte after a valid token answer used
    /// to put the access token into the error's Display and the WARN line.
    #[tokio::test]
    async fn a_token_answer_with_a_stray_byte_is_never_echoed_in_errors_or_logs() {
        let (logs, _guard) = capture_logs();
        let server = MockServer::start_async().await;
        let body = format!("{}x", token_body(ACCESS_TOKEN, 3600));
        mock_answer(&server, 200, &body).await;
        let fail = || async { provider(&server).access_token().await.unwrap_err() };
        fail().await;
        tracing::callsite::rebuild_interest_cache();
        logs.clear();

        let error = fail().await;

        let AuthError::Malformed { status, reason } = &error else {
            panic!("expected Malformed, got {error:?}");
        };
        assert_eq!(*status, 200);
        assert!(
            reason.starts_with("not valid JSON at line 1 column"),
            "{reason}"
        );
        let output = logs.contents();
        assert!(
            output.contains("LWA access token refresh failed"),
            "{output}"
        );
        assert!(output.contains("not a valid token answer"), "{output}");
        for text in [error.to_string(), format!("{error:?}"), output] {
            assert_no_secrets(&text);
            assert!(!text.contains("Atza"), "{text}");
        }
    }

    #[test]
    fn parse_errors_never_quote_the_body() {
        // serde's own message would quote the string: `invalid type: string "Atza|..."`.
        let body = format!(r#"{{"access_token":"x","expires_in":"{ACCESS_TOKEN}"}}"#);
        let error = parse_answer(200, body.as_bytes(), &[]).unwrap_err();
        assert!(!format!("{error} {error:?}").contains("IwEBI"), "{error}");
        let empty = parse_answer(200, br#"{"access_token":"","expires_in":5}"#, &[]);
        assert_eq!(
            empty.unwrap_err(),
            AuthError::Malformed {
                status: 200,
                reason: "empty access_token".into()
            }
        );
        // A token that could not be sent as a header is refused where it
        // arrives (it used to fail every call that tried to send it).
        let unsendable = parse_answer(
            200,
            b"{\"access_token\":\"Atza|a\\nb\",\"expires_in\":5}",
            &[],
        );
        assert_eq!(
            unsendable.unwrap_err(),
            AuthError::Malformed {
                status: 200,
                reason: "access_token is not a valid header value".into()
            }
        );
        let (token, _) = parse_answer(200, br#"{"access_token":"Atza|ok","expires_in":5}"#, &[])
            .expect("a plain token");
        assert_eq!(token.expose(), "Atza|ok");
        assert!(token.header().is_sensitive());
        assert_eq!(token.header().as_bytes(), b"Atza|ok");
        // A 200 carrying an OAuth error is still that error.
        let oauth = parse_answer(200, br#"{"error":"invalid_grant"}"#, &[]);
        assert!(
            matches!(oauth, Err(AuthError::Lwa { status: 200, .. })),
            "{oauth:?}"
        );
    }

    /// Issue 11, finding 6: `SP_API_REFRESH_TOKEN=c` turned `amazon.com`
    /// into `amazon.***om`.
    #[test]
    fn short_secrets_are_scrubbed_only_as_whole_tokens() {
        let scrubber = Scrubber::new(vec!["c".into(), "Atzr|x".into()]);
        assert_eq!(
            scrubber.scrub("error sending request for url (https://api.amazon.com/auth/o2/token)"),
            "error sending request for url (https://api.amazon.com/auth/o2/token)"
        );
        assert_eq!(
            scrubber.scrub("bad token c; refresh_token=c&x, Atzr|x, Atzr|xy, \"c\""),
            "bad token ***; refresh_token=***&x, ***, Atzr|xy, \"***\""
        );
        // Long secrets are still found inside anything, raw or form-encoded.
        let long = Scrubber::new(vec![REFRESH_TOKEN.into()]);
        assert_eq!(
            long.scrub("x=Atzr%7CIwEBIREFRESHTOKEN0123456789y Atzr|IwEBIREFRESHTOKEN0123456789"),
            "x=***y ***"
        );
    }

    #[tokio::test]
    async fn a_redirect_from_lwa_is_an_error_and_the_target_receives_nothing() {
        let target = MockServer::start_async().await;
        let catch_all = target
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(token_body("Atza|stolen", 3600));
            })
            .await;
        let server = MockServer::start_async().await;
        let location = target.url(TOKEN_PATH);
        for status in [301, 302, 303, 307, 308] {
            let mock = server
                .mock_async(|when, then| {
                    token_request(when);
                    then.status(status).header("location", location.as_str());
                })
                .await;
            let http = http()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();

            let error = provider_with(&server, http)
                .access_token()
                .await
                .unwrap_err();

            assert_eq!(
                error,
                AuthError::Redirect {
                    status,
                    location: Some(location.clone())
                }
            );
            assert!(!error.is_transient());
            assert!(
                error
                    .to_string()
                    .contains(&format!("HTTP {status} redirect to")),
                "{error}"
            );
            mock.delete_async().await;
        }
        assert_eq!(
            catch_all.calls_async().await,
            0,
            "nothing reached the target"
        );
    }

    #[tokio::test]
    async fn a_redirect_followed_by_a_callers_http_client_is_detected_and_refused() {
        let target = MockServer::start_async().await;
        target
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(token_body("Atza|stolen", 3600));
            })
            .await;
        let location = target.url(TOKEN_PATH);
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                token_request(when);
                then.status(307).header("location", location.as_str());
            })
            .await;

        // reqwest's default policy follows the 307 (the documented hazard
        // of `ClientBuilder::http_client`); the answer is not used.
        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::Redirect {
                status: 200,
                location: Some(location)
            }
        );
    }

    #[tokio::test]
    async fn an_lwa_answer_over_the_cap_is_refused_by_its_content_length() {
        let server = MockServer::start_async().await;
        let page = "x".repeat(LWA_BODY_CAP + 1);
        mock_answer(&server, 500, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        assert_eq!(
            error,
            AuthError::TooLarge {
                status: 500,
                cap: LWA_BODY_CAP,
                content_length: Some(LWA_BODY_CAP as u64 + 1)
            }
        );
        assert!(
            error.to_string().contains("65536-byte LWA body cap"),
            "{error}"
        );
        // At the cap exactly, the answer is read (and reported as unexpected).
        let server = MockServer::start_async().await;
        mock_answer(&server, 500, &"x".repeat(LWA_BODY_CAP)).await;
        let error = provider(&server).access_token().await.unwrap_err();
        assert!(
            matches!(error, AuthError::Unexpected { status: 500, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn connection_refused_is_a_transport_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}{TOKEN_PATH}")
            .parse()
            .unwrap();
        let provider = TokenProvider::new(credentials(), url, http().build().unwrap());

        let error = provider.access_token().await.unwrap_err();

        let AuthError::Transport { message, timeout } = &error else {
            panic!("expected Transport, got {error:?}");
        };
        assert!(!timeout);
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(error.to_string().starts_with("LWA token request failed: "));
        assert_eq!(provider.requests_sent(), 1);
    }

    /// Issue 20 item 5: a password in the token URL (a proxy's) is never
    /// shown, in errors, logs or `Debug`.
    #[tokio::test]
    async fn a_password_in_the_token_url_never_shows() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://proxy:hunter2pass@127.0.0.1:{port}{TOKEN_PATH}")
            .parse()
            .unwrap();
        let provider = TokenProvider::new(credentials(), url, http().build().unwrap());
        assert!(
            format!("{provider:?}").contains(&format!(
                "token_url: \"http://proxy:***@127.0.0.1:{port}{TOKEN_PATH}\""
            )),
            "{provider:?}"
        );
        let error = provider.access_token().await.unwrap_err();
        let AuthError::Transport { message, .. } = &error else {
            panic!("expected Transport, got {error:?}");
        };
        assert!(!message.contains("hunter2pass"), "{message}");
        // reqwest sends the user info as Basic auth and leaves it out of the
        // URL its errors quote; the scrubber would hide it otherwise.
        assert!(
            message.contains(&format!("http://127.0.0.1:{port}{TOKEN_PATH}")),
            "{message}"
        );
    }

    #[tokio::test]
    async fn slow_answer_past_the_client_timeout_is_a_transport_timeout() {
        let server = MockServer::start_async().await;
        mock_slow_token(&server, Duration::from_millis(500)).await;
        let http = http().timeout(Duration::from_millis(50)).build().unwrap();

        let error = provider_with(&server, http)
            .access_token()
            .await
            .unwrap_err();

        assert!(
            matches!(error, AuthError::Transport { timeout: true, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("timed out"), "{error}");
    }

    #[test]
    fn secrets_and_tokens_are_redacted_in_debug_and_display() {
        let credentials = credentials();
        let debug = format!("{credentials:?}");
        assert!(debug.contains(CLIENT_ID), "{debug}");
        assert_eq!(
            debug,
            format!(
                "LwaCredentials {{ client_id: {CLIENT_ID:?}, client_secret: Secret(***), refresh_token: Secret(***) }}"
            )
        );
        assert_eq!(credentials.client_secret.to_string(), "***");
        assert_eq!(
            format!("{:?}", AccessToken::new(ACCESS_TOKEN.into()).unwrap()),
            "AccessToken(***)"
        );
        assert_eq!(Secret::from(String::from("x")), Secret::new("x"));
        assert_eq!(credentials.refresh_token.expose(), REFRESH_TOKEN);
    }

    #[tokio::test]
    async fn secrets_echoed_by_lwa_are_scrubbed_from_errors() {
        let server = MockServer::start_async().await;
        let echo = invalid_grant_body(&format!("Unknown refresh_token {REFRESH_TOKEN}"));
        mock_answer(&server, 400, &echo).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let expected_description = "Unknown refresh_token ***".to_string();
        let AuthError::Lwa {
            error_description, ..
        } = &error
        else {
            panic!("expected Lwa, got {error:?}");
        };
        assert_eq!(error_description.as_ref(), Some(&expected_description));
        assert_no_secrets(&error.to_string());
        assert_no_secrets(&format!("{error:?}"));
    }

    #[tokio::test]
    async fn form_encoded_echo_in_an_unexpected_body_is_scrubbed_before_truncation() {
        let server = MockServer::start_async().await;
        let padding = "x".repeat(200);
        let page = format!(
            "{padding} grant_type=refresh_token&refresh_token=Atzr%7CIwEBIREFRESHTOKEN0123456789&client_secret={CLIENT_SECRET}"
        );
        mock_answer(&server, 500, &page).await;

        let error = provider(&server).access_token().await.unwrap_err();

        let AuthError::Unexpected {
            status: 500,
            body_prefix,
        } = &error
        else {
            panic!("expected Unexpected 500, got {error:?}");
        };
        // The echoed refresh token starts at byte 240: truncating first would leak its head.
        assert_eq!(
            body_prefix,
            &format!("{padding} grant_type=refresh_token&refresh_token=***&client_secre")
        );
        let full = Scrubber::new(vec![CLIENT_SECRET.into(), REFRESH_TOKEN.into()]).scrub(&page);
        assert_eq!(
            full,
            format!("{padding} grant_type=refresh_token&refresh_token=***&client_secret=***")
        );
        assert_no_secrets(&format!("{error:?} {error}"));
    }
}
