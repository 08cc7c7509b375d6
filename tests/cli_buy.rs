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

    /// The `key: value` summary `buy` prints: every value of `key`, in order.
    fn summary(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key}: ");
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect()
    }

    /// The one value of `key` in the summary.
    fn one(&self, key: &str) -> String {
        let values = self.summary(key);
        assert_eq!(values.len(), 1, "{key} in {self:#?}");
        values[0].clone()
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
    command.args(args);
    run(sandbox, command, args, stdin).await
}

/// [`spapi_shipping`] started by `sh` with `umask` set, so the modes of
/// the files it creates do not depend on the test runner's umask.
#[cfg(unix)]
async fn spapi_shipping_with_umask(sandbox: &Sandbox, umask: &str, args: &[&str]) -> Run {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_spapi-shipping"))
        .args(args);
    run(sandbox, command, args, None).await
}

async fn run(sandbox: &Sandbox, mut command: Command, args: &[&str], stdin: Option<&str>) -> Run {
    command.env_clear();
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
    assert_eq!(run.code(), Some(0), "{run:#?}");

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
    // A summary, not Amazon's answer with its base64 documents.
    let keys: Vec<&str> = run
        .stdout
        .lines()
        .map(|line| line.split_once(": ").expect("key: value").0)
        .collect();
    assert_eq!(
        keys,
        [
            "shipment_id",
            "carrier_id",
            "carrier_name",
            "service_id",
            "service_name",
            "charge",
            "currency",
            "package",
            "tracking_id",
            "file",
            "file"
        ],
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("contents"), "{}", run.stdout);
    assert!(!run.one("shipment_id").is_empty());
    assert_eq!(run.one("carrier_id"), "AMZN_UK");
    assert_eq!(run.one("carrier_name"), "Amazon Shipping");
    assert_eq!(run.one("service_id"), "SWA-UK-STD");
    assert_eq!(run.one("service_name"), "Amazon Shipping Standard");
    assert_eq!(run.one("currency"), "GBP");
    let charge: f64 = run.one("charge").parse().expect("a number");
    assert!(
        run.stderr.contains(&format!(", {charge:.2} GBP)")),
        "{}",
        run.stderr
    );
    assert_eq!(run.one("package"), "order-7");
    let files: Vec<PathBuf> = run.summary("file").iter().map(PathBuf::from).collect();
    for ((name, kind), path) in [("label", "LABEL"), ("packslip", "PACKSLIP")]
        .into_iter()
        .zip(&files)
    {
        assert_eq!(
            path,
            &Path::new(&labels).join(format!("order-7-{name}.pdf"))
        );
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"%PDF-1."), "{kind}");
        assert_owner_only(path);
    }
    assert_eq!(sandbox.executed("getRates"), 1);
    assert_eq!(sandbox.executed("purchaseShipment"), 1);

    // The summary's carrier id and tracking id are what getTracking needs.
    let tracking_id = run.one("tracking_id");
    let carrier_id = run.one("carrier_id");
    let args = [
        "get-tracking",
        "--tracking-id",
        &tracking_id,
        "--carrier-id",
        &carrier_id,
    ];
    let tracked = spapi_shipping(&sandbox, &args, None).await;
    assert_eq!(
        tracked.json()["payload"]["trackingId"],
        tracking_id.as_str()
    );
}

/// Labels carry buyers' names and addresses: 0600 on Unix.
fn assert_owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
    }
}

/// A label bought but not saved (here DIR is a file) exits 5, not 1 like a
/// failed call: a wrapper retrying failures would buy it again. The message
/// names the shipment and tracking ids and the command that fetches the
/// documents again, and that command works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_bought_but_not_saved_exits_5_saying_how_to_fetch_it_again() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("unsaved");
    let labels = dir.join("labels");
    std::fs::write(&labels, "a file, not a directory").unwrap();
    let request = rates_request(&dir);
    let args = [
        "--save-documents",
        &labels,
        "buy",
        "--rates-request",
        &request,
        "--format",
        "PDF",
    ];
    let run = spapi_shipping(&sandbox, &args, None).await;
    assert_eq!(run.code(), Some(5), "{run:#?}");
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
    // The summary still goes to stdout, without files.
    let shipment_id = run.one("shipment_id");
    let tracking_id = run.one("tracking_id");
    assert!(run.summary("file").is_empty(), "{}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("spapi-shipping: the label is bought, but its documents were not saved: cannot save the documents: "))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(lines[at].contains(&labels), "{}", run.stderr);
    let command = format!(
        "  spapi-shipping get-shipment-documents --shipment-id {shipment_id} \
         --package-client-reference-id order-7 --format PDF --save-documents {labels}"
    );
    assert_eq!(
        lines[at + 1..],
        [
            format!("shipment id: {shipment_id}").as_str(),
            &format!("tracking id: {tracking_id} (package order-7)"),
            "Do not buy it again: fetch the documents again (Amazon keeps them) with:",
            &command,
        ],
        "{}",
        run.stderr
    );

    // Once DIR can be written, the printed command saves the documents.
    std::fs::remove_file(&labels).unwrap();
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let fetched = spapi_shipping(&sandbox, &words, None).await;
    assert_eq!(
        fetched.json()["payload"]["shipmentId"],
        shipment_id.as_str()
    );
    let saved = Path::new(&labels).join("order-7-label.pdf");
    assert!(std::fs::read(&saved).unwrap().starts_with(b"%PDF-1."));
    assert_owner_only(&saved);
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
}

/// Owner-only whatever the umask; `--world-readable-documents` lets the
/// umask decide.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_files_are_0600_unless_world_readable_documents() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("modes");
    let request = rates_request(&dir);
    for (flag, mode) in [(None, 0o600), (Some("--world-readable-documents"), 0o644)] {
        let labels = dir.join(&format!("labels-{mode:o}"));
        let mut args: Vec<&str> = flag.into_iter().collect();
        args.extend([
            "--save-documents",
            &labels,
            "buy",
            "--rates-request",
            &request,
            "--format",
            "ZPL",
        ]);
        let run = spapi_shipping_with_umask(&sandbox, "022", &args).await;
        assert_eq!(run.code(), Some(0), "{run:#?}");
        let files = run.summary("file");
        assert_eq!(files.len(), 1, "{run:#?}");
        let found = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(found, mode, "{flag:?}: {found:o}");
    }
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
    // --json: Amazon's whole answer instead of the summary.
    let args = [
        "buy",
        "--rates-request",
        "-",
        "--format",
        "PNG",
        "--vas",
        "DELIVERY_PROOF=PROOF_PHOTO",
        "--allow-unprotected",
        "--json",
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

/// `examples/rates-request.json`, which README points newcomers to, is a
/// complete getRates body `buy --rates-request` accepts and buys with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_rates_request_buys_a_label() {
    let sandbox = Sandbox::start().await;
    let dir = TempDir::new("example");
    let labels = dir.join("labels");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rates-request.json");
    let args = [
        "--save-documents",
        &labels,
        "buy",
        "--rates-request",
        example,
        "--format",
        "PDF",
        "--size",
        "4x6",
    ];
    let run = spapi_shipping(&sandbox, &args, None).await;
    assert_eq!(run.code(), Some(0), "{run:#?}");
    assert_eq!(run.one("package"), "ORDER-1001-1");
    assert_eq!(run.one("carrier_id"), "AMZN_UK");
    assert_eq!(
        run.summary("file"),
        [
            format!("{labels}/ORDER-1001-1-label.pdf"),
            format!("{labels}/ORDER-1001-1-packslip.pdf")
        ]
    );
    assert_eq!(sandbox.executed("purchaseShipment"), 1);
}
