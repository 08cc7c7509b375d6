//! TLS with the default features: the client's own `reqwest::Client`
//! completes a handshake with a local rustls server (127.0.0.1, self-signed
//! certificate trusted through `tls_root_certificate`), and its provider is
//! chosen per client, never installed process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use spapi_shipping::{Client, Error, types::ShippingBusinessId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-purpose HTTPS server: answers every request with Amazon's
/// getTracking example. Counts completed handshakes and HTTP requests.
struct TlsServer {
    port: u16,
    certificate: CertificateDer<'static>,
    handshakes: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl TlsServer {
    async fn start() -> Self {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        let certificate = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        // The server picks its provider explicitly too: nothing in this test
        // binary installs a process default.
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = example_body();
        let (handshakes, requests): (Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let (h, r) = (Arc::clone(&handshakes), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, body) = (acceptor.clone(), body.clone());
                let (h, r) = (h.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    h.fetch_add(1, Ordering::SeqCst);
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    assert!(head.starts_with(b"GET /shipping/v2/tracking?"));
                    r.fetch_add(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            port,
            certificate,
            handshakes,
            requests,
        }
    }

    fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

fn example_body() -> String {
    let path = format!(
        "{}/tests/fixtures/responses/getTracking.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    fixture["examples"]["200"].to_string()
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
    let server = TlsServer::start().await;
    let client = Client::builder()
        .endpoint(server.endpoint())
        .tls_root_certificate(server.certificate.to_vec())
        .build()
        .expect("a client with the default TLS features");
    // The provider (ring) was chosen for this client only.
    assert!(CryptoProvider::get_default().is_none());

    assert_eq!(track(&client).await.unwrap(), "23AA47DE2B3B6");
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert!(CryptoProvider::get_default().is_none());
}

#[tokio::test]
async fn a_server_certificate_outside_the_roots_is_refused_before_any_request() {
    let server = TlsServer::start().await;
    let client = Client::builder()
        .endpoint(server.endpoint())
        .retry(spapi_shipping::retry::RetryPolicy::default().with_max_attempts(1))
        .build()
        .unwrap();

    let error = track(&client).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    let chain = format!("{error:?}").to_lowercase();
    assert!(chain.contains("certificate"), "{chain}");
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
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
