//! Hostile and broken servers (issue 11): redirects, oversized and endless
//! LWA answers, absurd `x-amzn-RateLimit-Limit` headers and path parameters
//! that would point a request elsewhere. Each test runs a real `Client`
//! against raw HTTP/1.1 servers on 127.0.0.1 (`support::server`, so a test
//! controls every byte, including a body that never ends), records what
//! each server received, and bounds every call in time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use spapi_shipping::auth::{AuthError, LWA_BODY_CAP, LwaCredentials};
use spapi_shipping::error::CallStage;
use spapi_shipping::rate_limit::RateLimitSettings;
use spapi_shipping::retry::RetryPolicy;
use spapi_shipping::{Client, ClientBuilder, Error, Validation, operations};
use support::Seen;
use support::server::{self, Reply, Server, TOKEN_PATH, Tally};
use tokio::time::Instant;

const CLIENT_SECRET: &str = "amzn1.oa2-cs.v1.HOSTILE-CLIENT-SECRET";
const REFRESH_TOKEN: &str = "Atzr|IwEBI-HOSTILE-REFRESH-TOKEN";
const ACCESS_TOKEN: &str = "Atza|IwEBI-HOSTILE-ACCESS-TOKEN";
/// Real-time bound on any single call in this file.
const BOUND: Duration = Duration::from_secs(10);

const GIB: u64 = 1 << 30;

/// An answer with these headers and `body`, then close.
fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::send(server::response(status, headers, body))
}

fn token_answer() -> Reply {
    Reply::send(server::token(ACCESS_TOKEN))
}

fn tracking_example() -> String {
    support::example("getTracking", 200)
}

fn client(server: &Server) -> Client {
    builder(server).build().unwrap()
}

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .endpoint(server.url(""))
        .token_url(server.token_url())
        .credentials(LwaCredentials::new(
            "amzn1.application-oa2-client.hostile",
            CLIENT_SECRET,
            REFRESH_TOKEN,
        ))
        .timeout(Duration::from_secs(3))
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(2))
                .with_max_backoff(Duration::from_millis(5))
                .with_max_elapsed(Duration::from_secs(5)),
        )
}

async fn track(client: &Client) -> Result<(), Error> {
    let call = client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .send();
    tokio::time::timeout(BOUND, call)
        .await
        .expect("the call ends within the bound")?;
    Ok(())
}

fn purchase_body() -> spapi_shipping::types::PurchaseShipmentRequest {
    support::request_body("purchaseShipment")
}

fn assert_nothing_secret(seen: &[Seen]) {
    for request in seen {
        let text = request.text();
        for secret in [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN] {
            assert!(!text.contains(secret), "{secret} reached {text}");
        }
    }
}

/// Finding 1: an API `307 Location: <other host>` made the other host
/// receive the access token, the idempotency key and the purchase body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_redirect_is_an_error_and_the_target_receives_nothing() {
    let target = Server::start(|_| response(200, &[], "{}")).await;
    for status in [301u16, 302, 303, 307, 308] {
        let location = target.url("/shipping/v2/shipments");
        let server = Server::start(move |seen| match seen.path.as_str() {
            TOKEN_PATH => token_answer(),
            _ => response(status, &[("location", &location)], ""),
        })
        .await;
        let client = client(&server);

        let tracked = track(&client).await.unwrap_err();
        let call = client.purchase_shipment().body(purchase_body()).send();
        let bought = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap_err();

        for (error, operation) in [(tracked, "getTracking"), (bought, "purchaseShipment")] {
            let Error::Redirect {
                operation: op,
                status: got,
                location,
            } = &error
            else {
                panic!("expected Redirect, got {error:?}");
            };
            assert_eq!((op.as_deref(), *got), (Some(operation), status));
            assert_eq!(
                location.as_deref(),
                Some(target.url("/shipping/v2/shipments").as_str())
            );
            assert_eq!(error.status(), Some(status));
            let text = error.to_string();
            assert!(
                text.contains(&format!("HTTP {status} redirect in {operation} to"))
                    && text.contains(&target.addr().to_string()),
                "{text}"
            );
        }
        assert_eq!(server.api_requests(), 2, "one request per call, no retry");
    }
    assert!(target.seen().is_empty(), "{:?}", target.seen());
}

/// Finding 1: an LWA 307 made the other host receive the form with the
/// client secret and the refresh token.
#[tokio::test]
async fn an_lwa_redirect_is_an_auth_error_and_the_target_receives_nothing() {
    let target = Server::start(|_| token_answer()).await;
    let location = target.url(TOKEN_PATH);
    let server = Server::start(move |seen| match seen.path.as_str() {
        TOKEN_PATH => response(307, &[("location", &location)], ""),
        _ => response(200, &[], &tracking_example()),
    })
    .await;

    let error = track(&client(&server)).await.unwrap_err();

    let Error::Auth {
        source: AuthError::Redirect { status, location },
        ..
    } = &error
    else {
        panic!("expected Auth(Redirect), got {error:?}");
    };
    assert_eq!(*status, 307);
    assert_eq!(location.as_deref(), Some(target.url(TOKEN_PATH).as_str()));
    assert_eq!(server.api_requests(), 0, "no API request without a token");
    assert!(target.seen().is_empty(), "{:?}", target.seen());
    assert_nothing_secret(&target.seen());
}

/// Finding 3 (LWA part): an endless chunked LWA answer grew until the timeout.
#[tokio::test]
async fn an_endless_lwa_answer_is_cut_at_the_cap() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => Reply::send("HTTP/1.1 500 X\r\ntransfer-encoding: chunked\r\n\r\n")
            .then_endless_chunks(0x4000),
        _ => response(200, &[], &tracking_example()),
    })
    .await;
    let started = Instant::now();

    let error = track(&client(&server)).await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::Auth {
                source: AuthError::TooLarge {
                    status: 500,
                    cap: LWA_BODY_CAP,
                    content_length: None
                },
                ..
            }
        ),
        "{error:?}"
    );
    // Well before the 3 s attempt timeout: cut at the cap, not timed out.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.api_requests(), 0);
}

/// A declared Content-Length over the cap is refused before any body byte
/// (the server sends none and holds the connection: reading would time out).
#[tokio::test]
async fn an_lwa_content_length_over_the_cap_is_refused_before_reading() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => {
            Reply::send("HTTP/1.1 502 X\r\ncontent-length: 268435456\r\n\r\n").then_hang()
        }
        _ => response(200, &[], &tracking_example()),
    })
    .await;
    let started = Instant::now();

    let error = track(&client(&server)).await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::Auth {
                source: AuthError::TooLarge {
                    status: 502,
                    content_length: Some(268_435_456),
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Finding 4: `x-amzn-RateLimit-Limit: 1e-300` panicked the limiter with its
/// lock held, and `1e-6` made a call wait about 11 days. Each value is
/// reported once, the bucket is emptied, and the next calls must still come
/// back promptly, on the client and on a clone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_rate_limit_headers_never_panic_or_park_calls() {
    let cases = [
        ("1e-300", 0.5),
        ("1e-20", 0.5),
        ("1e-6", 0.5),
        ("1e9", 800.0),
        ("NaN", 80.0),
        ("inf", 80.0),
        ("-5", 80.0),
        ("0", 80.0),
    ];
    let mut runs = tokio::task::JoinSet::new();
    for (value, expected_rate) in cases {
        runs.spawn(async move {
            let server = Server::start(move |seen| match seen.path.as_str() {
                TOKEN_PATH => token_answer(),
                _ => response(
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("x-amzn-RateLimit-Limit", value),
                    ],
                    &tracking_example(),
                ),
            })
            .await;
            // Slots at 0.5/s are 2 s apart: each call waits at most 1 s.
            let client = builder(&server)
                .rate_limit(RateLimitSettings::default().with_max_wait(Duration::from_secs(1)))
                .build()
                .unwrap();
            track(&client).await.unwrap();
            let op = operations::find("getTracking").unwrap();
            assert_eq!(client.rate_limiter().plan(op).0, expected_rate, "{value}");
            // Spend the burst with real calls.
            for _ in 0..100 {
                track(&client).await.unwrap();
            }
            let started = Instant::now();
            for _ in 0..2 {
                track(&client).await.unwrap();
                track(&client.clone()).await.unwrap();
            }
            // 4 calls, each waiting at most max_wait (1 s) for its slot (2 s apart at 0.5/s).
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "{value}: {:?}",
                started.elapsed()
            );
        });
    }
    for run in runs.join_all().await {
        let () = run;
    }
}

/// Finding 9: `shipment_id("..")` became `PUT /shipping/v2/cancel`.
#[tokio::test]
async fn dot_and_empty_path_parameters_are_refused_before_sending() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => response(
            200,
            &[("content-type", "application/json")],
            r#"{"payload":{}}"#,
        ),
    })
    .await;
    let client = client(&server);
    for id in ["..", ".", ""] {
        let call = client.cancel_shipment().shipment_id(id).send();
        let error = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap_err();
        let Error::InvalidRequest {
            operation,
            violations,
            ..
        } = &error
        else {
            panic!("{id:?}: expected InvalidRequest, got {error:?}");
        };
        assert_eq!(operation.as_deref(), Some("cancelShipment"));
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].path, "shipmentId");
        assert!(error.to_string().contains("must not be empty"), "{error}");
    }
    for id in ["..", ""] {
        let call = client
            .get_shipment_documents()
            .shipment_id(id)
            .package_client_reference_id("P1")
            .send();
        let error = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidRequest { .. }),
            "{id:?}: {error:?}"
        );
    }
    assert!(
        server.seen().is_empty(),
        "nothing sent, not even a token request: {:?}",
        server.seen()
    );

    // The escape hatch for bodies Amazon accepts does not open this: a
    // dot segment would reach another operation.
    for validation in [Validation::Off, Validation::Warn] {
        let relaxed = builder(&server).validation(validation).build().unwrap();
        let call = relaxed.cancel_shipment().shipment_id("..").send();
        let error = tokio::time::timeout(BOUND, call)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidRequest { violations, .. } if violations[0].path == "shipmentId"),
            "{validation:?}: {error:?}"
        );
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());

    // A real id (dots inside it are fine) goes where it should.
    let call = client.cancel_shipment().shipment_id("a..b").send();
    tokio::time::timeout(BOUND, call).await.unwrap().unwrap();
    let sent: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path != TOKEN_PATH)
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        sent,
        [(
            "PUT".to_owned(),
            "/shipping/v2/shipments/a..b/cancel".to_owned()
        )]
    );
}

/// Finding 3: a 200 whose body declares 1 GiB is refused from its
/// `Content-Length` before a byte of it is read (the server sends none and
/// holds the connection: reading would wait for the 3 s timeout).
#[tokio::test]
async fn an_api_content_length_over_the_cap_is_refused_before_reading() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => Reply::send(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
             x-amzn-RequestId: req-huge\r\ncontent-length: {GIB}\r\n\r\n"
        ))
        .then_hang(),
    })
    .await;
    let started = Instant::now();

    let error = track(&client(&server)).await.unwrap_err();

    let Error::ResponseTooLarge {
        operation,
        status,
        request_id,
        cap,
        content_length,
        attempts,
        ..
    } = &error
    else {
        panic!("expected ResponseTooLarge, got {error:?}");
    };
    assert_eq!(operation.as_deref(), Some("getTracking"));
    assert_eq!((*status, request_id.as_deref()), (200, Some("req-huge")));
    assert_eq!(*cap, spapi_shipping::decode::DEFAULT_RESPONSE_BODY_CAP);
    assert_eq!((*content_length, *attempts), (Some(GIB), 1));
    assert!(
        error
            .to_string()
            .contains("API response body cap of 67108864 bytes"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.api_requests(), 1, "not retried");
}

/// Finding 3: a streamed (chunked) 1 GiB body is cut once past the cap;
/// the client stops reading, so the server could send only the cap plus
/// what the socket buffers hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_api_body_is_cut_at_the_cap_and_the_client_stops_reading() {
    const CAP: usize = 1 << 20;
    let written = Arc::new(Tally::default());
    let counter = Arc::clone(&written);
    // 64 KiB chunks up to 1 GiB, counting the bytes the client accepted.
    let chunk: Arc<[u8]> = server::chunk_of(0x10000).into();
    let server = Server::start(move |seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => Reply::send(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
             x-amzn-RequestId: req-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .then_repeat(chunk.clone(), GIB, Some(Arc::clone(&counter)))
        .then_send("0\r\n\r\n"),
    })
    .await;
    let client = builder(&server).max_response_body(CAP).build().unwrap();
    let started = Instant::now();
    let stopped = written.stopped.notified();

    let call = client.purchase_shipment().body(purchase_body()).send();
    let error = tokio::time::timeout(BOUND, call)
        .await
        .unwrap()
        .unwrap_err();

    let Error::ResponseTooLarge {
        operation,
        status,
        request_id,
        cap,
        content_length,
        idempotency_key,
        ..
    } = &error
    else {
        panic!("expected ResponseTooLarge, got {error:?}");
    };
    assert_eq!(operation.as_deref(), Some("purchaseShipment"));
    assert_eq!((*status, request_id.as_deref()), (400, Some("req-stream")));
    assert_eq!((*cap, *content_length), (CAP, None));
    assert!(idempotency_key.is_some(), "a purchase reports its key");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The client hung up: the server's writes fail well before 1 GiB.
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the client closed the connection");
    let sent = written.bytes();
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes before the client stopped"
    );
    assert_eq!(server.api_requests(), 1, "not retried");
}

fn tracking_answer() -> Reply {
    response(
        200,
        &[("content-type", "application/json")],
        &tracking_example(),
    )
}

/// Finding 4: nothing bounded a call as a whole. The deadline cuts the
/// wait for a token from an LWA endpoint that accepts and never answers
/// (its own 5 s timeout would come much later).
#[tokio::test]
async fn the_call_deadline_bounds_the_token_wait() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => Reply::default().then_hang(),
        _ => tracking_answer(),
    })
    .await;
    let client = builder(&server)
        .timeout(Duration::from_secs(5))
        .call_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();

    let error = track(&client).await.unwrap_err();

    let Error::DeadlineExceeded {
        operation,
        deadline,
        stage,
        attempts,
        ..
    } = &error
    else {
        panic!("expected DeadlineExceeded, got {error:?}");
    };
    assert_eq!(operation.as_deref(), Some("getTracking"));
    assert_eq!(*deadline, Duration::from_millis(300));
    assert_eq!((*stage, *attempts), (CallStage::Token, 0));
    assert_eq!(error.attempts(), None, "nothing was sent");
    assert!(
        error.to_string().contains("waiting for an access token"),
        "{error}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(server.api_requests(), 0);
}

/// The deadline cuts a rate-limit wait: at a tiny fraction of the usage
/// plan the bucket holds one token, and the next slot is far away.
#[tokio::test]
async fn the_call_deadline_bounds_the_rate_limit_wait() {
    let server = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => tracking_answer(),
    })
    .await;
    let client = builder(&server)
        .rate_limit(RateLimitSettings::default().with_safety_factor(0.001))
        .call_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    track(&client).await.expect("the bucket's one token");
    let started = Instant::now();

    let error = track(&client).await.unwrap_err();

    assert!(
        matches!(
            error,
            Error::DeadlineExceeded {
                stage: CallStage::RateLimit,
                attempts: 0,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.api_requests(), 1, "the second call sent nothing");
}

/// A caller's own reqwest client has a timeout the runtime cannot know,
/// so the deadline bounds its attempt with a timer instead of the
/// request's timeout (issue 12 moved the deadline off a call-wide timer):
/// a hung answer still ends the call at the deadline, with the stage.
#[tokio::test]
async fn the_call_deadline_bounds_an_attempt_through_a_callers_own_client() {
    let hung = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => Reply::default().then_hang(),
    })
    .await;
    // A plain reqwest client has no TLS provider here (rustls-no-provider).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = builder(&hung)
        .http_client(http)
        .call_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();

    let error = tokio::time::timeout(BOUND, track(&client))
        .await
        .unwrap()
        .unwrap_err();

    assert!(
        matches!(
            error,
            Error::DeadlineExceeded {
                stage: CallStage::Attempt,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(hung.api_requests(), 1);
}

/// The deadline cuts an attempt whose answer never comes (the per-attempt
/// timeout is 3 s), and reports the purchase's key since it may have
/// reached the server; and no retry starts that could not finish before
/// it: a server answering 503 ends the call with its own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_deadline_bounds_attempts_and_retries() {
    let hung = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => Reply::default().then_hang(),
    })
    .await;
    let client = builder(&hung)
        .call_deadline(Duration::from_millis(400))
        .build()
        .unwrap();
    let started = Instant::now();
    let call = client.purchase_shipment().body(purchase_body()).send();
    let error = tokio::time::timeout(BOUND, call)
        .await
        .unwrap()
        .unwrap_err();
    let Error::DeadlineExceeded {
        stage,
        attempts,
        idempotency_key,
        ..
    } = &error
    else {
        panic!("expected DeadlineExceeded, got {error:?}");
    };
    assert_eq!((*stage, *attempts), (CallStage::Attempt, 1));
    assert!(idempotency_key.is_some());
    assert!(
        error.to_string().contains("retry with idempotency key"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let unavailable = Server::start(|seen| match seen.path.as_str() {
        TOKEN_PATH => token_answer(),
        _ => response(503, &[], ""),
    })
    .await;
    let client = builder(&unavailable)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(1000)
                .with_initial_backoff(Duration::from_millis(40))
                .with_max_backoff(Duration::from_millis(40))
                .with_max_elapsed(Duration::from_secs(60)),
        )
        .call_deadline(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = track(&client).await.unwrap_err();
    let elapsed = started.elapsed();
    // No retry starts that could not finish before the deadline, judged by
    // how long the last attempt took, so the call ends with Amazon's own
    // 503. On a saturated machine an attempt can still take longer than
    // the one before and be cut by the deadline (as in the first half):
    // then every request but the cut one was answered 503.
    let (attempts, answered) = match &error {
        Error::DeadlineExceeded {
            stage: CallStage::Attempt,
            attempts,
            ..
        } => (*attempts as usize, *attempts as usize - 1),
        _ => {
            assert_eq!(error.status(), Some(503), "{error:?}");
            let attempts = error.attempts().unwrap() as usize;
            (attempts, attempts)
        }
    };
    assert!(attempts > 1, "retried within the deadline: {error:?}");
    let requests = unavailable.api_requests();
    assert!(
        (answered..=attempts).contains(&requests),
        "{requests} requests for {attempts} attempts"
    );
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
}
