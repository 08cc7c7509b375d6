//! Many sellers in one process (issue 20, items 1 and 2): an `App` hands
//! out a client per seller, each with its own token and rate limits, over
//! one HTTP pool; a revoked seller fails fast without asking LWA on every
//! call, and the other sellers are not affected. Against the offline
//! sandbox only (loopback).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spapi_shipping::auth::AuthError;
use spapi_shipping::mock::Sandbox;
use spapi_shipping::{App, Client, ClientInfo, ConfigError, Error, Region, Seller};

/// One cheap call (usage plan 80/s, burst 100).
async fn call(client: &Client) -> Result<(), Error> {
    client
        .get_carrier_account_form_inputs()
        .send()
        .await
        .map(|_| ())
}

fn token(name: &str) -> String {
    Sandbox::seller_refresh_token(name)
}

#[tokio::test]
async fn each_seller_gets_its_own_token_from_one_lwa_request_and_a_client_per_key() {
    let sandbox = Sandbox::start().await;
    let app = sandbox.app_builder().build().unwrap();
    for name in ["north", "south", "east"] {
        for _ in 0..3 {
            // Asked for on every call, as a job runner would: the same state.
            let client = app.seller(name, token(name)).unwrap();
            call(&client).await.unwrap();
        }
        assert_eq!(sandbox.token_requests(&token(name)), 1, "{name}");
    }
    assert_eq!(app.len(), 3);
    assert_eq!(app.live(), 3);
    assert_eq!(sandbox.executed("getCarrierAccountFormInputs"), 9);
    // The same seller's clients share one rate limiter; another seller's is its own.
    let op = spapi_shipping::operations::find("getTracking").unwrap();
    let north = app.seller("north", token("north")).unwrap();
    app.client("north")
        .unwrap()
        .rate_limiter()
        .observe_rate(op, 7.0);
    assert_eq!(north.rate_limiter().plan(op).0, 7.0);
    assert_ne!(app.client("south").unwrap().rate_limiter().plan(op).0, 7.0);
}

#[tokio::test]
async fn registering_makes_no_request_and_the_first_call_makes_the_state() {
    let sandbox = Sandbox::start().await;
    let app = sandbox.app_builder().build().unwrap();
    for i in 0..1_000 {
        app.register(&format!("seller-{i}"), token(&i.to_string()))
            .unwrap();
    }
    assert_eq!((app.len(), app.live()), (1_000, 0));
    assert_eq!(sandbox.token_requests(&token("7")), 0);
    call(&app.client("seller-7").unwrap()).await.unwrap();
    assert_eq!((app.len(), app.live()), (1_000, 1));
    assert_eq!(sandbox.token_requests(&token("7")), 1);
    let err = app.client("nobody").unwrap_err();
    assert_eq!(err.setting, "seller");
    assert!(err.to_string().contains("\"nobody\""), "{err}");
    assert!(app.remove("seller-7"));
    assert_eq!(app.len(), 999);
}

/// Item 2: 3 sellers, one revoked: its 20 calls fail with the typed error
/// naming its key after 1 LWA request; the others succeed; after the
/// interval one call asks LWA again.
#[tokio::test]
async fn a_revoked_seller_fails_fast_with_its_key_and_the_others_are_unaffected() {
    let sandbox = Sandbox::start().await;
    let interval = Duration::from_secs(1);
    let app = sandbox
        .app_builder()
        .revoked_retry_after(interval)
        .build()
        .unwrap();
    sandbox.revoke(&token("gone"));
    let revoked = app.seller("shop-gone", token("gone")).unwrap();
    let mut last = None;
    for i in 0..20 {
        let err = call(&revoked).await.unwrap_err();
        let text = (err.to_string(), format!("{err:?}"));
        match err {
            Error::Auth {
                source:
                    AuthError::SellerRevoked {
                        seller,
                        error_description,
                        retry_in,
                    },
                ..
            } => {
                assert_eq!(seller, "shop-gone", "call {i}");
                assert_eq!(
                    error_description.as_deref(),
                    Some("The request has an invalid grant parameter : refresh_token")
                );
                assert!(
                    retry_in <= interval && retry_in > Duration::ZERO,
                    "{retry_in:?}"
                );
            }
            other => panic!("call {i}: {other:?}"),
        }
        last = Some(text);
    }
    assert_eq!(sandbox.token_requests(&token("gone")), 1);
    let (text, debug) = last.unwrap();
    assert!(
        text.contains("seller \"shop-gone\": invalid_grant"),
        "{text}"
    );
    assert!(!text.contains(&token("gone")), "{text}");
    assert!(!debug.contains(&token("gone")), "{debug}");
    for name in ["kept-1", "kept-2"] {
        let client = app.seller(name, token(name)).unwrap();
        for _ in 0..20 {
            call(&client).await.unwrap();
        }
        assert_eq!(sandbox.token_requests(&token(name)), 1);
    }
    let err = call(&revoked).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("seller \"shop-gone\": invalid_grant"),
        "{text}"
    );
    assert!(!text.contains(&token("gone")), "{text}");
    assert!(!format!("{err:?}").contains(&token("gone")));
    assert!(matches!(&err, Error::Auth { source, .. } if !source.is_transient()));

    // After the interval: one new LWA attempt, then fast failures again.
    tokio::time::sleep(interval).await;
    for _ in 0..5 {
        match call(&revoked).await {
            Err(Error::Auth {
                source: AuthError::SellerRevoked { seller, .. },
                ..
            }) => assert_eq!(seller, "shop-gone"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sandbox.token_requests(&token("gone")), 2);

    // The seller authorises again: after the interval, calls succeed.
    sandbox.reinstate(&token("gone"));
    tokio::time::sleep(interval).await;
    call(&revoked).await.unwrap();
    assert_eq!(sandbox.token_requests(&token("gone")), 3);
}

/// A new refresh token for a seller ends its breaker at once.
#[tokio::test]
async fn a_new_refresh_token_replaces_a_revoked_sellers_state() {
    let sandbox = Sandbox::start().await;
    let app = sandbox.app_builder().build().unwrap();
    sandbox.revoke(&token("old"));
    let client = app.seller("shop", token("old")).unwrap();
    assert!(call(&client).await.is_err());
    let client = app.seller("shop", token("new")).unwrap();
    call(&client).await.unwrap();
    assert_eq!(
        (
            sandbox.token_requests(&token("old")),
            sandbox.token_requests(&token("new"))
        ),
        (1, 1)
    );
}

/// An idle seller's state is dropped once its buckets are full again and no
/// client of it is held; a held client, or buckets still refilling, keep it.
#[tokio::test]
async fn idle_state_is_dropped_only_when_unheld_and_its_buckets_are_full() {
    let sandbox = Sandbox::start().await;
    let app = sandbox
        .app_builder()
        .idle_after(Duration::ZERO)
        .build()
        .unwrap();
    let held = app.seller("held", token("held")).unwrap();
    let unheld = app.seller("unheld", token("unheld")).unwrap();
    for _ in 0..50 {
        call(&held).await.unwrap();
        call(&unheld).await.unwrap();
    }
    drop(unheld);
    // 50 of a burst of 100 (80/s) taken: both buckets are still refilling.
    assert_eq!(app.shed_idle(), 0);
    assert_eq!(app.live(), 2);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Full again: the unheld seller's state goes, the held one's stays.
    assert_eq!(app.shed_idle(), 1);
    assert_eq!(app.live(), 1);
    call(&held).await.unwrap();
    assert_eq!(sandbox.token_requests(&token("held")), 1);
    // A seller that comes back is made again: one more LWA request.
    call(&app.client("unheld").unwrap()).await.unwrap();
    assert_eq!(sandbox.token_requests(&token("unheld")), 2);
    assert_eq!(app.live(), 2);
}

/// A revoked seller's open breaker is kept through idleness.
#[tokio::test]
async fn an_open_breaker_is_not_dropped_as_idle() {
    let sandbox = Sandbox::start().await;
    let app = sandbox
        .app_builder()
        .idle_after(Duration::ZERO)
        .build()
        .unwrap();
    sandbox.revoke(&token("gone"));
    assert!(
        call(&app.seller("gone", token("gone")).unwrap())
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.shed_idle(), 0);
    assert!(call(&app.client("gone").unwrap()).await.is_err());
    assert_eq!(sandbox.token_requests(&token("gone")), 1);
}

#[tokio::test]
async fn settings_are_checked_when_the_app_is_built() {
    let err = App::builder()
        .settings(Client::builder().region(Region::Europe))
        .build()
        .unwrap_err();
    assert_eq!(err.setting, "app_credentials");
    let err = App::builder()
        .app_credentials("id", "app-secret-value")
        .settings(
            Client::builder()
                .region(Region::Europe)
                .credentials(spapi_shipping::auth::LwaCredentials::new("id", "s", "r")),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting, "credentials");
    let err = App::builder()
        .app_credentials("id", "app-secret-value")
        .settings(Client::builder().endpoint("http://10.0.0.1"))
        .build()
        .unwrap_err();
    assert_eq!(err.setting, "endpoint");
    // A seller's business must be in its region.
    let app = App::builder()
        .app_credentials("id", "app-secret-value")
        .settings(Client::builder().region(Region::NorthAmerica))
        .build()
        .unwrap();
    let uk = spapi_shipping::types::ShippingBusinessId::AmazonShippingUk;
    let err: ConfigError = app
        .register("uk", Seller::new("Atzr|x").business_id(uk))
        .unwrap_err();
    assert_eq!(err.setting, "business_id");
    let client = app
        .seller(
            "uk",
            Seller::new("Atzr|x").business_id(uk).region(Region::Europe),
        )
        .unwrap();
    assert_eq!(client.baseurl(), "https://sellingpartnerapi-eu.amazon.com");
    assert_eq!(
        app.seller("us", "Atzr|y").unwrap().baseurl(),
        "https://sellingpartnerapi-na.amazon.com"
    );
    let shown = format!("{app:?} {:?}", Seller::new("Atzr|secret-refresh"));
    assert!(!shown.contains("app-secret-value"), "{shown}");
    assert!(!shown.contains("secret-refresh"), "{shown}");
}

/// Issue 20 item 6: the App's durations take `Duration::MAX` ("never"):
/// calls go on, a revoked seller stays refused without asking LWA again,
/// and no idle state is dropped.
#[tokio::test]
async fn the_apps_durations_accept_duration_max() {
    let sandbox = Sandbox::start().await;
    let app = sandbox
        .app_builder()
        .revoked_retry_after(Duration::MAX)
        .idle_after(Duration::MAX)
        .build()
        .unwrap();
    let client = app.seller("open", token("open")).unwrap();
    for _ in 0..3 {
        call(&client).await.unwrap();
    }
    sandbox.revoke(&token("gone"));
    let revoked = app.seller("shop-gone", token("gone")).unwrap();
    for _ in 0..3 {
        let err = call(&revoked).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Auth {
                    source: AuthError::SellerRevoked { .. },
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(sandbox.token_requests(&token("gone")), 1);
    drop(client);
    assert_eq!(app.shed_idle(), 0);
    assert_eq!(sandbox.token_requests(&token("open")), 1);
}

/// LWA is another host, with a pool of its own: an App's sellers starting
/// together ask it for tokens at most `max_connections` at a time. A
/// request can only arrive once an earlier one's answer (100 ms late) was
/// read, so any 5 arrivals span at least 100 ms with 4 slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sellers_starting_together_ask_lwa_at_most_max_connections_at_a_time() {
    use support::server::{self, Reply, Server, TOKEN_PATH};
    const SLOTS: usize = 4;
    const SELLERS: usize = 24;
    let answer_after = Duration::from_millis(100);
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    let server = Server::start(move |request| {
        if request.path == TOKEN_PATH {
            seen.lock().unwrap().push(Instant::now());
            Reply::after(answer_after).then_send(server::token("Atza|one-of-many"))
        } else {
            Reply::send(server::json(200, "req-many", r#"{"payload":{}}"#))
        }
    })
    .await;
    let app = App::builder()
        .app_credentials("amzn1.application-oa2-client.many", "many-secret")
        .max_connections(SLOTS)
        .settings(
            Client::builder()
                .endpoint(server.url(""))
                .token_url(server.token_url()),
        )
        .build()
        .unwrap();
    let calls = (0..SELLERS).map(|n| {
        let client = app
            .seller(&format!("seller-{n}"), format!("Atzr|many-{n}"))
            .unwrap();
        tokio::spawn(async move { call(&client).await })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap().unwrap();
    }
    let mut arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), SELLERS, "one token request per seller");
    arrivals.sort();
    for (i, window) in arrivals.windows(SLOTS + 1).enumerate() {
        let span = window[SLOTS] - window[0];
        assert!(
            span >= answer_after,
            "token requests {i}..={} arrived within {span:?}: more than {SLOTS} at a time",
            i + SLOTS
        );
    }
}

/// An App opens at most `max_connections` connections to Amazon's API,
/// however many sellers call at once (issue 20 item 1): hyper gives a
/// connection back to its pool on a task of its own after the body is
/// read, and a request that took the freed slot meanwhile waits for it
/// rather than dialing another. A keep-alive server counts the connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sellers_calling_at_once_open_at_most_max_connections() {
    use support::server::{self, Reply, Server};
    const SLOTS: usize = 8;
    const SELLERS: usize = 100;
    const CALLS: usize = 12;
    let sandbox = Sandbox::start().await;
    let api = Server::start(|_| {
        let body = r#"{"payload":{"linkableAccountTypeList":[],"carrierAccountInputs":[]}}"#;
        Reply::send(server::response(
            200,
            &[
                ("content-type", "application/json"),
                ("x-amzn-RequestId", "req-pooled"),
                ("connection", "keep-alive"),
            ],
            body,
        ))
        .then_keep_open()
    })
    .await;
    let app = App::builder()
        .app_credentials(Sandbox::CLIENT_ID, Sandbox::CLIENT_SECRET)
        .max_connections(SLOTS)
        .settings(
            Client::builder()
                .endpoint(api.url(""))
                .token_url(sandbox.token_url()),
        )
        .build()
        .unwrap();
    let calls = (0..SELLERS * CALLS).map(|n| {
        let name = format!("pooled-{}", n % SELLERS);
        let client = app.seller(&name, token(&name)).unwrap();
        tokio::spawn(async move { call(&client).await })
    });
    for call in calls.collect::<Vec<_>>() {
        call.await.unwrap().unwrap();
    }
    assert_eq!(api.seen().len(), SELLERS * CALLS);
    let opened = app.connections();
    assert!(
        api.accepted() <= SLOTS,
        "{} API connections for {SLOTS} slots ({opened:?})",
        api.accepted()
    );
    assert_eq!(opened.api, api.accepted(), "{opened:?}");
    assert!((1..=SLOTS).contains(&opened.lwa), "{opened:?}");
    for name in ["pooled-0", "pooled-99"] {
        assert_eq!(sandbox.token_requests(&token(name)), 1, "{name}");
    }
}
