//! TLS with the default features: the client's own `reqwest::Client`
//! completes a handshake with a local rustls server (127.0.0.1, self-signed
//! certificate trusted through `tls_root_certificate`), and its provider is
//! chosen per client, never installed process-wide.

use rustls::crypto::CryptoProvider;
use spapi_shipping::{Client, Error, types::ShippingBusinessId};
use support::server::{self, Reply, Server};

mod support;

/// An HTTPS server (`support::server`, self-signed for `localhost`)
/// answering every request with Amazon's getTracking example; it counts
/// handshakes and records requests.
async fn tracking_server() -> Server {
    let body = support::example("getTracking", 200);
    Server::tls(move |_| {
        Reply::send(server::response(
            200,
            &[("content-type", "application/json")],
            &body,
        ))
    })
    .await
}

/// The one request reached the server as a getTracking call.
fn assert_one_tracking_request(server: &Server) {
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/shipping/v2/tracking")
    );
    assert!(request.query.is_some(), "{request:?}");
}

async fn track(client: &Client) -> Result<String, Error> {
    let tracking = client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .x_amzn_shipping_business_id(ShippingBusinessId::AmazonShippingUk)
        .send()
        .await?
        .into_inner();
    Ok(tracking
        .payload
        .expect("payload")
        .tracking_id
        .as_deref()
        .unwrap()
        .to_owned())
}

#[tokio::test]
async fn default_features_complete_a_tls_handshake_without_a_process_default_provider() {
    let server = tracking_server().await;
    let client = Client::builder()
        .endpoint(server.url(""))
        .tls_root_certificate(server.certificate())
        .build()
        .expect("a client with the default TLS features");
    // The provider (ring) was chosen for this client only.
    assert!(CryptoProvider::get_default().is_none());

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(server.handshakes(), 1);
    assert_one_tracking_request(&server);
    assert!(CryptoProvider::get_default().is_none());
}

#[tokio::test]
async fn a_server_certificate_outside_the_roots_is_refused_before_any_request() {
    let server = tracking_server().await;
    let client = Client::builder()
        .endpoint(server.url(""))
        .retry(spapi_shipping::retry::RetryPolicy::default().with_max_attempts(1))
        .build()
        .unwrap();

    let error = track(&client).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    let chain = format!("{error:?}").to_lowercase();
    assert!(chain.contains("certificate"), "{chain}");
    assert_eq!(server.handshakes(), 0);
    assert!(server.seen().is_empty());
}

#[test]
fn a_malformed_root_certificate_is_a_config_error_naming_the_setting() {
    let error = Client::builder()
        .endpoint("https://localhost:1")
        .tls_root_certificate(b"not a certificate".to_vec())
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("tls_root_certificate"),
        "{error}"
    );
}
