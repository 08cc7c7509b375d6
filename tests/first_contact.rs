//! Issue 14, "docs and first contact": what a new user meets first.
//! String ids in the typed builders, typed mocks through the re-exported
//! httpmock, the CLI's `sandbox` command and `--verbose`.
#![cfg(all(feature = "cli", feature = "mock"))]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use spapi_shipping::mock::Sandbox;
use spapi_shipping::mock::httpmock::MockServer;
use spapi_shipping::mock::typed::MockServerExt as _;
use spapi_shipping::{Client, types};

/// The unconstrained string newtypes take `&str`, in their own `From` and in
/// every typed builder setter; before, `.city("Leeds")` did not compile and
/// needed `types::City::from("Leeds".to_owned())`.
#[test]
fn typed_builders_take_str_for_unconstrained_string_newtypes() {
    let address: types::Address = types::Address::builder()
        .name("E. Whitcombe")
        .address_line1("14 Larkspur Close")
        .city("Harrogate")
        .postal_code("HG3 1QT")
        .country_code("GB")
        .try_into()
        .unwrap();
    let encoded = serde_json::to_value(&address).unwrap();
    assert_eq!(encoded["city"], "Harrogate");
    assert_eq!(encoded["postalCode"], "HG3 1QT");
    assert_eq!(encoded["countryCode"], "GB");

    let purchase: types::PurchaseShipmentRequest = types::PurchaseShipmentRequest::builder()
        .rate_id("rate-1")
        .request_token("token-1")
        .requested_document_specification(
            serde_json::from_value::<types::RequestedDocumentSpecification>(json!({
                "format": "PDF", "size": {"width": 4, "length": 6, "unit": "INCH"},
                "needFileJoining": false, "requestedDocumentTypes": ["LABEL"]
            }))
            .unwrap(),
        )
        .try_into()
        .unwrap();
    assert_eq!(purchase.rate_id.as_str(), "rate-1");
    assert_eq!(purchase.request_token.as_str(), "token-1");

    let feedback = types::SubmitNdrFeedbackRequest::builder()
        .tracking_id("1Z999AA10123456784")
        .ndr_action(types::NdrAction::Reattempt);
    let feedback = types::SubmitNdrFeedbackRequest::try_from(feedback).unwrap();
    assert_eq!(
        feedback.tracking_id,
        types::TrackingId::from("1Z999AA10123456784")
    );
    assert_eq!(
        types::ShipmentId::from("s-1"),
        types::ShipmentId::from("s-1".to_owned())
    );
}

/// A constrained newtype still checks its constraint through the setter.
#[test]
fn constrained_string_newtypes_still_refuse_what_breaks_them() {
    let too_long = "x".repeat(61);
    let result: Result<types::Address, _> = types::Address::builder()
        .name("E. Whitcombe")
        .address_line1(too_long.as_str())
        .city("Harrogate")
        .postal_code("HG3 1QT")
        .country_code("GB")
        .try_into();
    let err = result.unwrap_err().to_string();
    // The field by its wire name, with the length found (build/paths.rs).
    assert_eq!(err, "addressLine1: longer than 60 characters (61)");
}

/// Typed mocks with only `spapi_shipping` in scope: the httpmock server is
/// the re-exported one, the answer built with `&str` ids.
#[tokio::test]
async fn typed_mocks_work_through_the_reexported_httpmock() {
    let server = MockServer::start_async().await;
    let answer = types::GetTrackingResponse {
        payload: Some(
            types::GetTrackingResult::builder()
                .tracking_id(Some(types::TrackingId::from("TRK-7")))
                .event_history(Vec::new())
                .summary(Some(
                    types::TrackingSummary::builder()
                        .status(types::Status::Delivered)
                        .try_into()
                        .unwrap(),
                ))
                .try_into()
                .unwrap(),
        ),
    };
    let mock = server.get_tracking(|when, then| {
        when.tracking_id("TRK-7").carrier_id("AMZN_UK");
        then.ok(&answer);
    });
    let client = Client::builder()
        .endpoint(server.base_url())
        .build()
        .unwrap();
    let got = client
        .get_tracking()
        .tracking_id("TRK-7")
        .carrier_id("AMZN_UK")
        .send()
        .await
        .unwrap()
        .into_inner();
    mock.assert();
    assert_eq!(
        got.payload.unwrap().summary.as_ref().unwrap().status,
        Some(types::Status::Delivered)
    );
}

/// Runs the built binary with exactly `env` (plus PATH), returning exit
/// code, stdout and stderr; killed after 60 s.
fn run_cli(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spapi-shipping"))
        .args(args)
        .env_clear()
        .envs(std::env::var("PATH").map(|p| ("PATH".to_owned(), p)))
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("spapi-shipping {args:?} ran for more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `export NAME='value'` -> (NAME, value).
fn parse_export(line: &str) -> (String, String) {
    let rest = line
        .strip_prefix("export ")
        .unwrap_or_else(|| panic!("not an export line: {line:?}"));
    let (name, value) = rest.split_once('=').unwrap();
    let value = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not single-quoted: {line:?}"));
    (name.to_owned(), value.replace(r"'\''", "'"))
}

const ACCESS_POINTS: &[&str] = &[
    "get-access-points",
    "--country-code",
    "GB",
    "--postal-code",
    "LS1",
    "--access-point-types",
    "HELIX",
];

/// `spapi-shipping sandbox` as a user runs it: a child process whose export
/// lines point another run of the tool at it; Ctrl-C (SIGINT) stops it.
#[cfg(unix)]
#[test]
fn the_sandbox_command_prints_an_environment_the_cli_can_use() {
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_spapi-shipping"))
        .args(["sandbox", "--for", "120"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = sandbox.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut env = Vec::new();
    for _ in 0..6 {
        match lines_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => env.push(parse_export(&line)),
            Err(e) => {
                let _ = sandbox.kill();
                panic!("the sandbox printed {env:?}, then nothing ({e})");
            }
        }
    }
    let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "SP_API_ENDPOINT",
            "AMAZON_SHIPPING_BUSINESS_ID",
            "LWA_ENDPOINT",
            "LWA_APP_ID",
            "LWA_CLIENT_SECRET",
            "SP_API_REFRESH_TOKEN"
        ]
    );
    assert!(env[0].1.starts_with("http://127.0.0.1:"), "{env:?}");
    assert_eq!(env[1].1, "AmazonShipping_UK");
    assert_eq!(env[5].1, Sandbox::REFRESH_TOKEN);

    let (code, out, err) = run_cli(ACCESS_POINTS, &env);
    assert_eq!(code, Some(0), "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(answer["payload"]["accessPointsMap"].is_object(), "{answer}");

    // With the business id exported, `-v` logs the call and no warning
    // about a missing business id (issue 19, item 7).
    let mut args = vec!["-v"];
    args.extend_from_slice(ACCESS_POINTS);
    let (code, _, err) = run_cli(&args, &env);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("operation=\"getAccessPoints\""), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    assert!(!err.contains("no shipping business configured"), "{err}");
    let without: Vec<_> = env
        .iter()
        .filter(|(name, _)| name != "AMAZON_SHIPPING_BUSINESS_ID")
        .cloned()
        .collect();
    let (_, _, err) = run_cli(&args, &without);
    assert!(err.contains("no shipping business configured"), "{err}");

    let stopped = Command::new("kill")
        .args(["-INT", &sandbox.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sandbox.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sandbox.kill();
            panic!("the sandbox did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    sandbox
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sandbox stopped"), "{stderr}");
    // Stopped means stopped: the tool can no longer reach it.
    let (code, _, err) = run_cli(ACCESS_POINTS, &env);
    assert_eq!(code, Some(1), "{err}");
}

/// `--for` bounds the sandbox without a signal.
#[test]
fn the_sandbox_command_stops_after_its_time() {
    let started = Instant::now();
    let (code, out, err) = run_cli(&["sandbox", "--for", "1"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(err.contains("for 1 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// `-v` shows the call's span with its operation, status and request id and
/// the token refresh; never the client secret, the refresh token or an
/// access token, not even at `-vv` or when LWA refuses the credentials.
#[tokio::test]
async fn verbose_logs_the_call_span_and_never_a_secret() {
    let sandbox = Sandbox::start().await;
    let env_with = |refresh_token: &str| {
        vec![
            ("SP_API_ENDPOINT".to_owned(), sandbox.base_url()),
            ("LWA_ENDPOINT".to_owned(), sandbox.token_url()),
            ("LWA_APP_ID".to_owned(), Sandbox::CLIENT_ID.to_owned()),
            (
                "LWA_CLIENT_SECRET".to_owned(),
                Sandbox::CLIENT_SECRET.to_owned(),
            ),
            ("SP_API_REFRESH_TOKEN".to_owned(), refresh_token.to_owned()),
        ]
    };
    let secrets = [
        Sandbox::CLIENT_SECRET,
        Sandbox::REFRESH_TOKEN,
        "Atza|sandbox-",
    ];
    for flag in ["-v", "--verbose", "-vv"] {
        let mut args = vec![flag];
        args.extend_from_slice(ACCESS_POINTS);
        let env = env_with(Sandbox::REFRESH_TOKEN);
        let (code, out, err) = tokio::task::spawn_blocking(move || run_cli(&args, &env))
            .await
            .unwrap();
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("accessPointsMap"), "{out}");
        assert!(err.contains("spapi_shipping.call"), "{flag}: {err}");
        assert!(
            err.contains("operation=\"getAccessPoints\""),
            "{flag}: {err}"
        );
        assert!(err.contains("status=200"), "{flag}: {err}");
        assert!(err.contains("request_id="), "{flag}: {err}");
        assert!(err.contains("LWA access token refreshed"), "{flag}: {err}");
        for secret in secrets {
            assert!(!err.contains(secret), "{flag}: {secret} in {err}");
            assert!(!out.contains(secret), "{flag}: {secret} in {out}");
        }
    }
    // Refused credentials (the sandbox refuses a token not of the form
    // `Atzr|...`): the error is logged and printed, the token not.
    let wrong = "wrong-refresh-token-987";
    let mut args = vec!["-vv"];
    args.extend_from_slice(ACCESS_POINTS);
    let env = env_with(wrong);
    let (code, _, err) = tokio::task::spawn_blocking(move || run_cli(&args, &env))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("refresh failed"), "{err}");
    assert!(!err.contains("wrong-refresh-token-987"), "{err}");
    assert!(!err.contains(Sandbox::CLIENT_SECRET), "{err}");
    // Without -v nothing is logged.
    let env = env_with(Sandbox::REFRESH_TOKEN);
    let (code, _, err) = tokio::task::spawn_blocking(move || run_cli(ACCESS_POINTS, &env))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("spapi_shipping.call"), "{err}");
}

/// The README is the rustdoc front page on docs.rs, where a relative link
/// points nowhere: every link must be absolute, and each link to a file of
/// the repository must name a file that exists.
#[test]
fn readme_links_are_absolute_and_name_existing_files() {
    const REPOSITORY: &str = "https://github.com/spapi-shipping/spapi-shipping";
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut files = 0;
    for (at, _) in readme.match_indices("](") {
        let target = &readme[at + 2..];
        let target = &target[..target.find(')').unwrap()];
        assert!(target.starts_with("https://"), "relative link {target:?}");
        if let Some(path) = target.strip_prefix(&format!("{REPOSITORY}/blob/main/")) {
            assert!(
                std::path::Path::new(root).join(path).is_file(),
                "{target} names no file"
            );
            files += 1;
        }
    }
    // Reference-style definitions (`[progenitor]: https://...`) too.
    for line in readme
        .lines()
        .filter(|l| l.starts_with('[') && l.contains("]: "))
    {
        let target = line.split("]: ").nth(1).unwrap();
        assert!(target.starts_with("https://"), "relative link {line:?}");
    }
    assert!(files >= 5, "{files} repository links");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("repository = \"{REPOSITORY}\"")));
}

/// A first run with nothing configured names every variable to set, in one
/// message, and exits 2 without sending anything.
#[test]
fn the_cli_names_every_missing_variable_at_once() {
    let (code, out, err) = run_cli(ACCESS_POINTS, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(out, "");
    for name in [
        "LWA_APP_ID: not set",
        "LWA_CLIENT_SECRET: not set",
        "SP_API_REFRESH_TOKEN: not set",
        "SP_API_REGION: not set",
    ] {
        assert!(err.contains(name), "{name} missing from {err}");
    }
    let conflict = [
        ("LWA_APP_ID".to_owned(), "id".to_owned()),
        (
            "LWA_CLIENT_SECRET".to_owned(),
            "secret-value-123".to_owned(),
        ),
        ("SP_API_REFRESH_TOKEN".to_owned(), "Atzr|x".to_owned()),
        ("SP_API_REGION".to_owned(), "na".to_owned()),
        (
            "AMAZON_SHIPPING_BUSINESS_ID".to_owned(),
            "AmazonShipping_UK".to_owned(),
        ),
    ];
    let (code, _, err) = run_cli(ACCESS_POINTS, &conflict);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("SP_API_REGION, AMAZON_SHIPPING_BUSINESS_ID"),
        "{err}"
    );
    assert!(!err.contains("secret-value-123"), "{err}");
}
