//! What the tests of `lwa` and `cache` share: credentials, a provider
//! against an httpmock LWA, canned answers, a log buffer.

use std::sync::{Arc, Mutex};

use httpmock::Method::POST;
use httpmock::{Mock, MockServer, When};
use serde_json::json;

use super::{LwaCredentials, TokenProvider};

pub(super) const CLIENT_ID: &str = "amzn1.application-oa2-client.test";
pub(super) const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.CLIENTSECRET0123456789";
pub(super) const REFRESH_TOKEN: &str = "Atzr|IwEBIREFRESHTOKEN0123456789";
pub(super) const ACCESS_TOKEN: &str = "Atza|IwEBIACCESSTOKEN0123456789";
pub(super) const TOKEN_PATH: &str = "/auth/o2/token";

pub(super) fn credentials() -> LwaCredentials {
    LwaCredentials::new(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
}

pub(super) fn provider_with(server: &MockServer, http: reqwest::Client) -> TokenProvider {
    let url = server.url(TOKEN_PATH).parse().expect("mock url");
    TokenProvider::new(credentials(), url, http)
}

pub(super) fn provider(server: &MockServer) -> TokenProvider {
    provider_with(server, http().build().unwrap())
}

/// reqwest with the crate's TLS setup (reqwest alone has no provider).
pub(super) fn http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_backend_preconfigured(crate::config::tls_config(&[]).unwrap())
}

/// Matches only a well-formed refresh-token grant for our credentials.
pub(super) fn token_request(when: When) -> When {
    when.method(POST)
        .path(TOKEN_PATH)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .form_urlencoded_tuple("grant_type", "refresh_token")
        .form_urlencoded_tuple("refresh_token", REFRESH_TOKEN)
        .form_urlencoded_tuple("client_id", CLIENT_ID)
        .form_urlencoded_tuple("client_secret", CLIENT_SECRET)
        .form_urlencoded_tuple_count(".*", ".*", 4)
}

pub(super) fn token_body(access_token: &str, expires_in: u64) -> serde_json::Value {
    json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "refresh_token": REFRESH_TOKEN,
    })
}

pub(super) async fn mock_token<'a>(
    server: &'a MockServer,
    token: &str,
    expires_in: u64,
) -> Mock<'a> {
    let body = token_body(token, expires_in);
    server
        .mock_async(|when, then| {
            token_request(when);
            then.status(200).json_body(body);
        })
        .await
}

/// [`mock_token`] for an hour, answered only after `delay`.
pub(super) async fn mock_slow_token(server: &MockServer, delay: std::time::Duration) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            token_request(when);
            then.status(200)
                .json_body(token_body(ACCESS_TOKEN, 3600))
                .delay(delay);
        })
        .await
}

pub(super) async fn mock_answer<'a>(server: &'a MockServer, status: u16, body: &str) -> Mock<'a> {
    server
        .mock_async(|when, then| {
            token_request(when);
            then.status(status).body(body);
        })
        .await
}

pub(super) fn invalid_grant_body(description: &str) -> String {
    json!({ "error": "invalid_grant", "error_description": description }).to_string()
}

pub(super) fn assert_no_secrets(text: &str) {
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, "IwEBI"] {
        assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
    }
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
pub(super) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

/// Every log line (TRACE and up) of this thread, while the guard lives.
pub(super) fn capture_logs() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    pub(super) fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl LogBuffer {
    pub(super) fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}
