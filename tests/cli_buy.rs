#![cfg(all(feature = "cli", feature = "mock"))]
//! `spapi-shipping buy`: the cheapest rate with the label asked for, bought
//! without writing the document specification, run as a user runs it
//! against the offline sandbox (which refuses purchases that break the
//! rate's rules, as Amazon does).
//!
//! Run with `cargo test --test cli_buy`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spapi_shipping::mock::Sandbox;

/// Longest one run of the binary may take; every call goes to 127.0.0.1.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Stdout as JSON, asserting the run succeeded.
    fn json(&self) -> Value {
        assert_eq!(self.code(), Some(0), "{self:#?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs the binary against `sandbox` with only its configuration in the
/// environment, `stdin` on standard input, on a blocking thread so the
/// sandbox keeps serving.
async fn spapi_shipping(sandbox: &Sandbox, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spapi-shipping"));
    command.args(args).env_clear();
    for name in ["PATH", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .env("LWA_APP_ID", Sandbox::CLIENT_ID)
        .env("LWA_CLIENT_SECRET", Sandbox::CLIENT_SECRET)
        .env("SP_API_REFRESH_TOKEN", Sandbox::REFRESH_TOKEN)
        .env("SP_API_ENDPOINT", sandbox.base_url())
        .env("LWA_ENDPOINT", sandbox.token_url())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.map(str::to_owned);
    let shown = format!("spapi-shipping {}", args.join(" "));
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the binary starts");
        if let Some(mut pipe) = child.stdin.take() {
            let body = stdin.unwrap_or_default();
            std::thread::spawn(move || {
                let _ = pipe.write_all(body.as_bytes());
            });
        }
        let read = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().expect("piped stdout")));
        let stderr = read(Box::new(child.stderr.take().expect("piped stderr")));
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the binary") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{shown} did not finish within {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            status,
            stdout: stdout.join().expect("the stdout reader"),
            stderr: stderr.join().expect("the stderr reader"),
        }
    })
    .await
    .expect("the runner thread")
}

/// A fresh directory under the target directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cli-buy-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A getRates body: a 1.2 kg parcel from Leeds to Harrogate (the sandbox
/// offers Amazon Shipping One Day and Standard, and Royal Mail).
fn parcel() -> Value {
    let address = |name: &str, city: &str, postal: &str| {
        json!({
            "name": name, "addressLine1": "1 Mill Lane", "city": city,
            "stateOrRegion": "Yorkshire", "postalCode": postal, "countryCode": "GB",
        })
    };
    json!({
        "shipFrom": address("Despatch", "Leeds", "LS11 5QE"),
        "shipTo": address("E. Whitcombe", "Harrogate", "HG3 1QT"),
        "packages": [{
            "packageClientReferenceId": "order-7",
            "dimensions": { "length": 30, "width": 20, "height": 10, "unit": "CENTIMETER" },
            "weight": { "value": 1.2, "unit": "KILOGRAM" },
            "insuredValue": { "value": 25, "unit": "GBP" },
            "items": [{ "quantity": 1, "description": "Teapot" }],
        }],
        "channelDetails": { "channelType": "EXTERNAL" },
    })
}

/// `parcel()` written to a file in `dir`; its path.
fn rates_request(dir: &TempDir) -> String {
    let path = dir.join("rates-request.json");
    std::fs::write(&path, parcel().to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_takes_the_cheapest_rate_with_a_4x6_pdf_and_saves_its_documents() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("pdf");
    let labels = dir.join("labels");
    let request = rates_request(&dir);
    let args = [
        "--save-documents",
        &labels,
        "buy",
        "--rates-request",
        &request,
        "--format",
        "pdf",
        "--size",
        "4x6",
    ];
    let run = spapi_shipping(&sandbox, &args, None).await;
    let payload = run.json()["payload"].clone();
    assert!(payload["shipmentId"].is_string(), "{payload:#}");

    // Amazon Shipping Standard is the cheapest; its PDF must be joined and
    // come with the mandatory packing slip, which the plan asked for.
    assert!(
        run.stderr
            .contains("(Amazon Shipping Standard by Amazon Shipping, "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(": PDF 4x6 INCH 300 dpi layout LEFT, joined true, documents LABEL+PACKSLIP"),
        "{}",
        run.stderr
    );
    for (name, kind) in [("label", "LABEL"), ("packslip", "PACKSLIP")] {
        let path = Path::new(&labels).join(format!("order-7-{name}.pdf"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"%PDF-1."), "{kind}");
        assert!(
            run.stderr.contains(path.to_str().unwrap()),
            "{}",
            run.stderr
        );
    }
    assert_eq!(sandbox.executed("getRates"), 1);
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_reads_the_rates_request_from_stdin_and_answers_value_added_service_groups() {
    let sandbox = Sandbox::start().await;
    // Only Royal Mail offers the DELIVERY_PROOF group, so the answer picks
    // it. Its rate excludes claims protection, so buying it must be allowed.
    let refused = spapi_shipping(
        &sandbox,
        &[
            "buy",
            "--rates-request",
            "-",
            "--format",
            "PNG",
            "--vas",
            "DELIVERY_PROOF=PROOF_PHOTO",
        ],
        Some(&parcel().to_string()),
    )
    .await;
    assert_eq!(refused.code(), Some(2), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("excludes Amazon's claims protection"),
        "{}",
        refused.stderr
    );
    let args = [
        "buy",
        "--rates-request",
        "-",
        "--format",
        "PNG",
        "--vas",
        "DELIVERY_PROOF=PROOF_PHOTO",
        "--allow-unprotected",
    ];
    let run = spapi_shipping(&sandbox, &args, Some(&parcel().to_string())).await;
    let payload = run.json()["payload"].clone();
    assert!(
        run.stderr
            .contains("(Royal Mail Tracked 48 by Royal Mail, "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("documents LABEL, value-added services PROOF_PHOTO"),
        "{}",
        run.stderr
    );
    let documents = payload["packageDocumentDetails"][0]["packageDocuments"].clone();
    assert_eq!(documents[0]["format"], "PNG", "{payload:#}");
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_names_every_rate_s_broken_rule_and_buys_nothing() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("refused");
    let request = rates_request(&dir);
    let args = [
        "buy",
        "--rates-request",
        &request,
        "--format",
        "PDF",
        "--dpi",
        "600",
    ];
    let run = spapi_shipping(&sandbox, &args, None).await;
    assert_eq!(run.code(), Some(2), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr
            .starts_with("spapi-shipping: nothing bought: no rate can be bought as wished:\n"),
        "{}",
        run.stderr
    );
    for offered in ["offered: 203, 300", "offered: 203, 300", "offered: 300"] {
        assert!(run.stderr.contains(offered), "{}", run.stderr);
    }
    assert_eq!(
        run.stderr
            .matches("dpi 600 is not offered for PDF 4x6 INCH by rate ")
            .count(),
        3,
        "{}",
        run.stderr
    );
    assert_eq!(sandbox.executed("getRates"), 1);
    assert_eq!(sandbox.executed("purchaseShipment"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_dry_run_prints_the_planned_request_and_buys_nothing() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("dry");
    let request = rates_request(&dir);
    let args = [
        "buy",
        "--rates-request",
        &request,
        "--format",
        "ZPL",
        "--dry-run",
    ];
    let run = spapi_shipping(&sandbox, &args, None).await;
    let planned = run.json();
    // Amazon's ZPL lists no dpi: none is sent.
    assert_eq!(
        planned["requestedDocumentSpecification"],
        json!({
            "format": "ZPL",
            "size": { "width": 4.0, "length": 6.0, "unit": "INCH" },
            "pageLayout": "LEFT",
            "needFileJoining": false,
            "requestedDocumentTypes": ["LABEL"],
        })
    );
    assert!(planned["requestToken"].is_string() && planned["rateId"].is_string());
    assert_eq!(sandbox.executed("getRates"), 1);
    assert_eq!(sandbox.executed("purchaseShipment"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_refuses_bad_flags_and_bodies_before_calling_amazon() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("usage");
    let request = rates_request(&dir);
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\n  \"shipFrom\": ").unwrap();
    let misspelt = dir.join("misspelt.json");
    let mut body = parcel();
    body["shipDte"] = json!("2025-01-01T09:00:00Z");
    std::fs::write(&misspelt, body.to_string()).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["buy", "--rates-request", &request, "--vas", "PROOF_PHOTO"],
            "expected GROUP=ID",
        ),
        (
            &["buy", "--rates-request", &request, "--size", "4 by 6"],
            "WIDTHxLENGTH",
        ),
        (&["buy", "--rates-request", &broken], "line 2 column"),
        (
            &["buy", "--rates-request", &misspelt],
            "\n  shipDte: unknown field",
        ),
        (
            &["buy", "--rates-request", &dir.join("missing.json")],
            "cannot read",
        ),
    ];
    for (args, message) in cases {
        let run = spapi_shipping(&sandbox, args, None).await;
        assert_eq!(run.code(), Some(2), "{args:?}: {run:#?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    assert_eq!(sandbox.executed("getRates"), 0);

    // Unchecked, the body is sent as written (issue 18: what Amazon
    // accepts can be sent); like Amazon, the sandbox ignores `shipDte`.
    let run = spapi_shipping(
        &sandbox,
        &["--no-validate", "buy", "--rates-request", &misspelt],
        None,
    )
    .await;
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert_eq!(sandbox.executed("getRates"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_reports_every_violation_of_the_rates_request_as_get_rates_does() {
    let sandbox = Sandbox::start().await;
    let mut body = parcel();
    body["shipTo"]["addressLine1"] = json!("x".repeat(61));
    body["packages"][0]["insuredValue"]["unit"] = json!("POUND");
    body["packages"][0]["dimensions"]["unit"] = json!("FURLONG");
    body["shipFrom"].as_object_mut().unwrap().remove("city");
    let text = serde_json::to_string_pretty(&body).unwrap();
    let run = spapi_shipping(&sandbox, &["buy", "--rates-request", "-"], Some(&text)).await;
    assert_eq!(run.code(), Some(2), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    // The same report as `get-rates --json-body`: every violation, each
    // with its path, not only the first one the typed request meets.
    let report = [
        "spapi-shipping: invalid request in getRates: standard input breaks the spec's \
         constraints; nothing was sent (--no-validate skips this check):",
        "  shipFrom.city: required field missing",
        "  shipTo.addressLine1: longer than 60 characters (61)",
        "  packages[0].dimensions.unit: \"FURLONG\" is not one of",
        "  packages[0].insuredValue.unit: longer than 3 characters (5)",
    ];
    for line in report {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(line)),
            "{line:?} in {}",
            run.stderr
        );
    }
    assert_eq!(run.stderr.lines().count(), report.len(), "{}", run.stderr);
    assert_eq!(sandbox.executed("getRates"), 0);

    // With the check off, the body goes to Amazon as written, and Amazon's
    // (here the sandbox's) refusal is what the user sees.
    let run = spapi_shipping(
        &sandbox,
        &["--no-validate", "buy", "--rates-request", "-"],
        Some(&text),
    )
    .await;
    assert_eq!(run.code(), Some(1), "{run:#?}");
    assert!(
        run.stderr
            .starts_with("spapi-shipping: API error in getRates: HTTP 400"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("shipTo.addressLine1: longer than 60"),
        "{}",
        run.stderr
    );
}
