//! `spapi-shipping buy`: rates, a purchase planned by [`crate::purchase`],
//! the purchase, its documents; without writing the document specification
//! by hand.
//!
//! ```text
//! spapi-shipping [--save-documents DIR] [--world-readable-documents] buy \
//!     --rates-request rates-request.json --format PDF --size 4x6 [--dpi 300]
//!     [--page-layout LEFT] [--file-joining true] [--document RECEIPT]...
//!     [--vas GROUP=ID]... [--refuse-unanswered-vas] [--currency ISO]
//!     [--allow-unprotected] [--rate-id ID] [--json] [--dry-run]
//! ```
//!
//! It calls `getRates` with the body of `--rates-request` (`-`: standard
//! input; checked against the spec first, every violation reported with its
//! path as `get-rates --json-body` reports them), takes the cheapest rate that can be bought as asked (or
//! `--rate-id`), plans the request with [`Quote::cheapest`] /
//! [`Quote::plan`], says on standard error what it buys, and buys it with
//! `purchaseShipment`. With `--save-documents` every document of every
//! package is saved in DIR in one [`save_all`](crate::documents::save_all)
//! (no two share a name; written atomically; mode 0600 unless
//! `--world-readable-documents`). Standard output gets a summary, one
//! `key: value` per line (`shipment_id`, `carrier_id` (the rate's: the id
//! `get-tracking` needs, which the purchase answer does not carry),
//! `carrier_name`, `service_id`, `service_name`, `charge`, `currency`, then
//! `package` and `tracking_id` per package and `file` per saved document);
//! `--json` prints Amazon's whole answer instead (base64 documents
//! included). `--dry-run` prints the planned request instead of buying.
//!
//! Exit status as for every command ([`EXIT_FAILURE`] when a call failed),
//! [`EXIT_USAGE`] also when no rate can be bought as asked (each rate's
//! broken rules on standard error): nothing was bought; and
//! [`EXIT_NOT_SAVED`](super::EXIT_NOT_SAVED) when the label was bought but
//! its documents could not be saved (or the answer not written): standard
//! error names the shipment and tracking ids and the `get-shipment-documents`
//! command that fetches the documents again. Do not buy again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::Value;

use std::io::Write as _;

use super::{EXIT_FAILURE, EXIT_USAGE, NAME};
use crate::documents::SaveOptions;
use crate::purchase::{PlanError, Quote, RequiredGroups, Wishes, parse_size};
use crate::types::{
    DocumentFormat, DocumentType, GetRatesRequest, PackageDocumentDetail, PurchaseShipmentRequest,
    Rate,
};
use crate::validate::Validation;
use crate::{Client, Error};

/// The subcommand's name.
pub(super) const COMMAND: &str = "buy";

/// The `buy` subcommand's arguments.
pub(super) fn command() -> Command {
    Command::new(COMMAND)
        .about("Get rates and buy the cheapest one with the label you ask for (e.g. a 4x6 PDF), the purchase planned so Amazon does not refuse it")
        .long_about(
            "Calls getRates with the body of --rates-request, takes the cheapest rate that offers \
             the documents asked for (or --rate-id), plans a purchaseShipment request that keeps \
             the rate's rules (format and size, dpi, page layout, file joining, mandatory \
             documents such as a packing slip, required value-added services) and buys it. \
             What is not asked for is chosen from what the rate offers. A key: value summary \
             goes to stdout (shipment_id, carrier_id, carrier_name, service_id, service_name, \
             charge, currency, package and tracking_id per package, file per saved document; \
             --json for Amazon's whole answer), the plan to stderr. Exit status 5: bought, but \
             the documents were not saved (stderr says how to fetch them again; do not buy again).",
        )
        .arg(
            Arg::new("rates-request")
                .long("rates-request")
                .value_name("FILE")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help("Path to the getRates request body (JSON), or - to read it from standard input"),
        )
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .value_parser(PossibleValuesParser::new(["PDF", "PNG", "ZPL"]))
                .ignore_case(true)
                .help("Document format [default: PDF, else PNG, else ZPL]"),
        )
        .arg(
            Arg::new("size")
                .long("size")
                .value_name("WxL")
                .value_parser(|s: &str| parse_size(s))
                .help("Document size, in inches (4x6) or centimetres (10x15cm) [default: 4x6 when offered]"),
        )
        .arg(
            Arg::new("dpi")
                .long("dpi")
                .value_name("DPI")
                .value_parser(clap::value_parser!(i64).range(1..))
                .help("Resolution [default: the highest offered, the lowest for ZPL]"),
        )
        .arg(
            Arg::new("page-layout")
                .long("page-layout")
                .value_name("LAYOUT")
                .help("Page layout as the rate lists it, e.g. LEFT [default: the first offered]"),
        )
        .arg(
            Arg::new("file-joining")
                .long("file-joining")
                .value_name("BOOL")
                .value_parser(clap::value_parser!(bool))
                .help("Whether the documents come joined in one file [default: false when offered]"),
        )
        .arg(
            Arg::new("document")
                .long("document")
                .value_name("TYPE")
                .action(ArgAction::Append)
                .value_parser(PossibleValuesParser::new(["LABEL", "PACKSLIP", "RECEIPT", "CUSTOM_FORM"]))
                .ignore_case(true)
                .help("A document wanted besides the rate's mandatory ones (repeatable)"),
        )
        .arg(
            Arg::new("vas")
                .long("vas")
                .value_name("GROUP=ID")
                .action(ArgAction::Append)
                .value_parser(parse_vas)
                .help("Answer value-added service group GROUP with service ID (repeatable) [default for a required group: its cheapest service]"),
        )
        .arg(
            Arg::new("refuse-unanswered-vas")
                .long("refuse-unanswered-vas")
                .action(ArgAction::SetTrue)
                .help("Do not answer required value-added service groups with their cheapest service; a rate with one left unanswered cannot be bought"),
        )
        .arg(
            Arg::new("currency")
                .long("currency")
                .value_name("ISO")
                .help("Only rates charged in this currency (e.g. GBP); rates in different currencies are never compared, so a quote with several needs it"),
        )
        .arg(
            Arg::new("allow-unprotected")
                .long("allow-unprotected")
                .action(ArgAction::SetTrue)
                .help("Also buy rates that exclude Amazon's claims protection (CLAIMS_PROTECTED in excludedBenefits)"),
        )
        .arg(
            Arg::new("rate-id")
                .long("rate-id")
                .value_name("ID")
                .help("Buy this rate of the quote instead of the cheapest"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print Amazon's whole purchase answer as JSON (base64 documents included) instead of the summary"),
        )
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Print the planned purchaseShipment request on stdout instead of buying"),
        )
}

fn parse_vas(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((group, id)) if !group.trim().is_empty() && !id.trim().is_empty() => {
            Ok((group.trim().to_owned(), id.trim().to_owned()))
        }
        _ => Err(format!(
            "{text:?}: expected GROUP=ID, e.g. DELIVERY_PROOF=PROOF_SCAN"
        )),
    }
}

/// The wishes the flags express.
pub(super) fn wishes(args: &ArgMatches) -> Wishes {
    let mut wishes = Wishes::new();
    if let Some(format) = args.get_one::<String>("format") {
        let format: DocumentFormat = format
            .to_ascii_uppercase()
            .parse()
            .expect("a listed format");
        wishes = wishes.format(format);
    }
    if let Some(size) = args.get_one("size") {
        wishes = wishes.size(Clone::clone(size));
    }
    if let Some(dpi) = args.get_one::<i64>("dpi") {
        wishes = wishes.dpi(*dpi);
    }
    if let Some(layout) = args.get_one::<String>("page-layout") {
        wishes = wishes.page_layout(layout.clone());
    }
    if let Some(join) = args.get_one::<bool>("file-joining") {
        wishes = wishes.file_joining(*join);
    }
    if let Some(currency) = args.get_one::<String>("currency") {
        wishes = wishes.currency(currency.to_ascii_uppercase());
    }
    if args.get_flag("allow-unprotected") {
        wishes = wishes.allow_unprotected(true);
    }
    for document in args.get_many::<String>("document").into_iter().flatten() {
        let document: DocumentType = document
            .to_ascii_uppercase()
            .parse()
            .expect("a listed type");
        wishes = wishes.document_type(document);
    }
    for (group, id) in args
        .get_many::<(String, String)>("vas")
        .into_iter()
        .flatten()
    {
        wishes = wishes.value_added_service(group.clone(), id.clone());
    }
    if args.get_flag("refuse-unanswered-vas") {
        wishes = wishes.required_groups(RequiredGroups::Refuse);
    }
    wishes
}

/// The getRates body `buy` sends.
enum RatesBody {
    /// Checked and typed (validation `enforce`, the default).
    Typed(Box<GetRatesRequest>),
    /// The JSON as the user wrote it (`--no-validate`, validation `warn` or
    /// `off`), sent through `body_json` as `get-rates --json-body` sends it:
    /// what Amazon accepts can be sent (issue 18).
    Raw(Value),
}

/// Reads the getRates body: a file, or standard input for `-`. The JSON is
/// checked against the spec first, as `get-rates --json-body` checks its
/// body (`super::report_violations`: every violation with its path, not only
/// the first). With validation `enforce` it is then read into the typed
/// request, whose own constraints apply too; otherwise it is sent as
/// written. `Ok` holds the warnings to print (validation `warn`).
fn rates_request(path: &Path, validation: Validation) -> Result<(RatesBody, Vec<String>), String> {
    let (text, name) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("cannot read the getRates request from standard input: {e}"))?;
        (text, "standard input".to_owned())
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        (text, path.display().to_string())
    };
    let given: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
    let warnings = if validation == Validation::Off {
        Vec::new()
    } else {
        let violations = crate::validate::check_request_body("getRates", &given);
        super::report_violations("getRates", &name, &violations, validation)?
    };
    if validation != Validation::Enforce {
        return Ok((RatesBody::Raw(given), warnings));
    }
    let request: GetRatesRequest = crate::validate::from_json(given.clone()).map_err(|e| {
        if e.path.is_empty() {
            format!("{name}: not a getRates request: {}", e.message)
        } else {
            format!("{name}: {e}")
        }
    })?;
    // serde drops fields it does not know: a misspelt `shipDte` would be
    // lost silently, so it is an error here whatever the validation mode.
    let kept = serde_json::to_value(&request).map_err(|e| format!("{name}: {e}"))?;
    let mut unknown = Vec::new();
    dropped_fields(&given, &kept, "", &mut unknown);
    if unknown.is_empty() {
        Ok((RatesBody::Typed(Box::new(request)), warnings))
    } else {
        Err(format!(
            "{name}: not a field of the getRates request: {}",
            unknown.join(", ")
        ))
    }
}

/// The paths of `given`'s fields that `kept` (the same value after decoding
/// and encoding) lost; `null`, `{}` and `[]` may be left out on encoding.
fn dropped_fields(given: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (given, kept) {
        (Value::Object(given), Value::Object(kept)) => {
            let empty = |v: &Value| {
                v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty())
            };
            for (key, value) in given.iter().filter(|(_, v)| !empty(v)) {
                match kept.get(key) {
                    Some(kept) => dropped_fields(value, kept, &at(key), out),
                    None => out.push(at(key)),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, kept)) in given.iter().zip(kept).enumerate() {
                dropped_fields(value, kept, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Runs `buy`: `matches` are the whole command line's, `args` the
/// subcommand's.
pub(super) fn main(matches: &ArgMatches, args: &ArgMatches, validation: Validation) -> ExitCode {
    let client = match super::client_builder(matches).and_then(crate::ClientBuilder::build) {
        Ok(client) => client,
        Err(e) => return fail(&e.to_string(), EXIT_USAGE),
    };
    let save_documents = args
        .get_one::<PathBuf>("save-documents")
        .or_else(|| matches.get_one::<PathBuf>("save-documents"))
        .cloned();
    let request = match args
        .get_one::<PathBuf>("rates-request")
        .map(|path| rates_request(path, validation))
    {
        Some(Ok((request, warnings))) => {
            for warning in warnings {
                eprintln!("{NAME}: {}", escape_lines(&warning));
            }
            request
        }
        Some(Err(message)) => {
            eprintln!("{NAME}: {}", escape_lines(&message));
            return ExitCode::from(EXIT_USAGE);
        }
        None => unreachable!("clap requires --rates-request"),
    };
    let wishes = wishes(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(
                &format!("cannot start the async runtime: {e}"),
                EXIT_FAILURE,
            );
        }
    };
    runtime.block_on(buy(
        &client,
        request,
        &wishes,
        args.get_one::<String>("rate-id").map(String::as_str),
        args.get_flag("dry-run"),
        Output {
            matches,
            save_documents: save_documents.as_deref(),
            save_options: super::save_options(matches),
            json: args.get_flag("json"),
        },
    ))
}

/// Where and how `buy` writes what it bought.
struct Output<'a> {
    /// The whole command line's matches, for the global flags a
    /// `get-shipment-documents` command repeats.
    matches: &'a ArgMatches,
    /// `--save-documents`.
    save_documents: Option<&'a Path>,
    /// Owner-only files unless `--world-readable-documents`.
    save_options: SaveOptions,
    /// `--json`: Amazon's whole answer instead of the summary.
    json: bool,
}

async fn buy(
    client: &Client,
    request: RatesBody,
    wishes: &Wishes,
    rate_id: Option<&str>,
    dry_run: bool,
    output: Output<'_>,
) -> ExitCode {
    let call = match request {
        RatesBody::Typed(request) => client.get_rates().body(*request),
        RatesBody::Raw(json) => client.get_rates().body_json(json),
    };
    let rates = match call.send().await {
        Ok(response) => response.into_inner().payload,
        Err(e) => return call_failed(e),
    };
    let Some(rates) = rates else {
        return fail("getRates answered without a payload", EXIT_FAILURE);
    };
    let quote = Quote::new(rates);
    let planned = match rate_id {
        Some(id) => quote
            .plan(id, wishes)
            .map(|request| (quote.rate(id).expect("a planned rate"), request)),
        None => quote.cheapest(wishes).map(|p| (p.rate, p.request)),
    };
    let (rate, request) = match planned {
        Ok(planned) => planned,
        Err(e) => return cannot_plan(&e),
    };
    // Carrier and service names come from Amazon: escaped.
    eprintln!(
        "{NAME}: {}",
        super::escape_controls(&describe(rate, &request))
    );
    if dry_run {
        let planned = serde_json::to_value(&request).expect("a request encodes as JSON");
        return match print(&planned) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(
                &format!("cannot write the planned request: {e}"),
                EXIT_FAILURE,
            ),
        };
    }
    let charge = charge(rate, &request);
    let response = match client.purchase_shipment().body(request).send().await {
        Ok(response) => response.into_inner(),
        Err(e) => return call_failed(e),
    };
    // Bought: from here on, nothing may exit as a failed call would.
    let packages = response
        .payload
        .as_ref()
        .map_or(&[][..], |p| p.package_document_details.as_slice());
    let shipment_id = response
        .payload
        .as_ref()
        .and_then(|p| p.shipment_id.as_ref())
        .map(|id| id.as_str().to_owned());
    let saved = match output.save_documents {
        Some(dir) => super::save_documents_in(packages, dir, &output.save_options)
            .map_err(|e| (dir, e.to_string())),
        None => Ok(Vec::new()),
    };
    let files = saved.as_deref().unwrap_or_default();
    let printed = if output.json {
        let value = serde_json::to_value(&response).expect("a response encodes as JSON");
        files.iter().for_each(|p| eprintln!("{}", p.display()));
        print(&value)
    } else {
        let summary = Summary {
            shipment_id: shipment_id.as_deref(),
            rate,
            charge,
            packages,
            files,
        };
        print_text(&summary.to_string())
    };
    let failure = match (saved, printed) {
        (Err((dir, error)), _) => Some((dir, format!("cannot save the documents: {error}"))),
        (Ok(_), Err(error)) => Some((
            output.save_documents.unwrap_or(Path::new("labels")),
            format!("cannot write the answer: {error}"),
        )),
        (Ok(_), Ok(())) => None,
    };
    match failure {
        Some((dir, error)) => super::not_saved(
            output.matches,
            &super::NotSaved {
                shipment_id,
                packages,
                dir,
                error: &error,
            },
        ),
        None => ExitCode::SUCCESS,
    }
}

/// What the purchase costs: the rate's `totalCharge` plus the value-added
/// services the request asks for (as the planner counts it).
fn charge(rate: &Rate, request: &PurchaseShipmentRequest) -> f64 {
    let requested: Vec<&str> = request
        .requested_value_added_services
        .iter()
        .flat_map(|list| list.0.iter().map(|s| s.id.as_str()))
        .collect();
    let services: f64 = rate
        .available_value_added_service_groups
        .iter()
        .flat_map(|groups| groups.0.iter())
        .flat_map(|group| group.value_added_services.iter())
        .filter(|s| s.id.as_deref().is_some_and(|id| requested.contains(&id)))
        .map(|s| s.cost.as_ref().map_or(f64::NAN, |c| c.value))
        .sum();
    rate.total_charge.as_ref().map_or(f64::NAN, |c| c.value) + services
}

/// `buy`'s answer on standard output: one `key: value` per line, in this
/// order; `package` and `tracking_id` once per package, `file` once per
/// saved document. Keys are stable; values from Amazon are escaped.
///
/// ```text
/// shipment_id: 91d8a0b4-...
/// carrier_id: AMZN_UK
/// carrier_name: Amazon Shipping
/// service_id: SWA-UK-STD
/// service_name: Amazon Shipping Standard
/// charge: 3.65
/// currency: GBP
/// package: order-7
/// tracking_id: AMZN_UK0000001
/// file: labels/order-7-label.pdf
/// ```
struct Summary<'a> {
    shipment_id: Option<&'a str>,
    rate: &'a Rate,
    charge: f64,
    packages: &'a [PackageDocumentDetail],
    files: &'a [PathBuf],
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line =
            |key: &str, value: &str| writeln!(f, "{key}: {}", super::escape_controls(value));
        let rate = self.rate;
        line("shipment_id", self.shipment_id.unwrap_or(""))?;
        line(
            "carrier_id",
            rate.carrier_id.as_ref().map_or("", |c| c.as_str()),
        )?;
        line("carrier_name", rate.carrier_name.as_str())?;
        line(
            "service_id",
            rate.service_id.as_ref().map_or("", |s| s.as_str()),
        )?;
        line("service_name", rate.service_name.as_str())?;
        line("charge", &format!("{:.2}", self.charge))?;
        line(
            "currency",
            rate.total_charge.as_ref().map_or("", |c| c.unit.as_str()),
        )?;
        for package in self.packages {
            line(
                "package",
                package
                    .package_client_reference_id
                    .as_deref()
                    .map_or("", String::as_str),
            )?;
            line(
                "tracking_id",
                package.tracking_id.as_ref().map_or("", |t| t.as_str()),
            )?;
        }
        for file in self.files {
            line("file", &file.display().to_string())?;
        }
        Ok(())
    }
}

/// What is bought: rate, cost, documents, value-added services.
fn describe(rate: &crate::types::Rate, request: &PurchaseShipmentRequest) -> String {
    let spec = &request.requested_document_specification;
    let documents: Vec<String> = spec
        .requested_document_types
        .iter()
        .map(ToString::to_string)
        .collect();
    let services: Vec<&str> = request
        .requested_value_added_services
        .iter()
        .flat_map(|list| list.0.iter().map(|s| s.id.as_str()))
        .collect();
    // A planned rate has a charge (the planner refuses one without).
    let (value, unit) = rate
        .total_charge
        .as_ref()
        .map_or((f64::NAN, ""), |c| (c.value, c.unit.as_str()));
    let mut text = format!(
        "rate {} ({} by {}, {:.2} {}): {} {}x{} {}",
        request.rate_id.as_str(),
        rate.service_name.as_str(),
        rate.carrier_name.as_str(),
        value,
        unit,
        spec.format,
        spec.size.width,
        spec.size.length,
        spec.size.unit,
    );
    if let Some(dpi) = &spec.dpi {
        text.push_str(&format!(" {dpi} dpi"));
    }
    if let Some(layout) = &spec.page_layout {
        text.push_str(&format!(" layout {layout}"));
    }
    text.push_str(&format!(
        ", joined {}, documents {}",
        *spec.need_file_joining,
        documents.join("+")
    ));
    if !services.is_empty() {
        text.push_str(&format!(", value-added services {}", services.join("+")));
    }
    text
}

/// Prints `value` as pretty JSON on standard output.
fn print(value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    print_text(&format!("{text}\n"))
}

/// Writes `text` to standard output, reporting a closed pipe or a full disk
/// rather than panicking as `print!` would.
fn print_text(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())
}

/// Prints `message` (which may quote Amazon's answer) escaped.
/// A report of one violation per line: each line escaped, the line breaks
/// kept.
fn escape_lines(message: &str) -> String {
    let lines: Vec<_> = message.split('\n').map(super::escape_controls).collect();
    lines.join("\n")
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("{NAME}: {}", super::escape_controls(message));
    ExitCode::from(code)
}

/// A plan error is one line per rate (the line breaks are ours); each line
/// quotes Amazon's service and carrier names, escaped.
fn cannot_plan(error: &PlanError) -> ExitCode {
    let message = format!("nothing bought: {error}");
    let lines: Vec<_> = message.split('\n').map(super::escape_controls).collect();
    eprintln!("{NAME}: {}", lines.join("\n"));
    ExitCode::from(EXIT_USAGE)
}

/// A failed call: Amazon's errors and request id; a request refused before
/// sending, or a configuration error, is a usage error.
fn call_failed(error: Error) -> ExitCode {
    let code = match error {
        Error::InvalidRequest { .. } | Error::Config(_) => EXIT_USAGE,
        _ => EXIT_FAILURE,
    };
    fail(&error.to_string(), code)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_serde_drops_are_named_with_their_path() {
        let given = json!({
            "shipDte": "2025-01-01T00:00:00Z",
            "packages": [{ "weight": { "value": 1, "unit": "KILOGRAM", "grams": 3 } }],
            "shipTo": null,
            "taxDetails": [],
            "channelDetails": {},
        });
        let kept = json!({ "packages": [{ "weight": { "value": 1.0, "unit": "KILOGRAM" } }] });
        let mut out = Vec::new();
        dropped_fields(&given, &kept, "", &mut out);
        assert_eq!(out, ["shipDte", "packages[0].weight.grams"]);
    }

    #[test]
    fn a_complete_rates_request_loses_no_field() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/requests/getRates.json"))
                .unwrap();
        let body = &fixture["body"];
        let request: GetRatesRequest = serde_json::from_value(body.clone()).unwrap();
        let mut out = Vec::new();
        dropped_fields(body, &serde_json::to_value(request).unwrap(), "", &mut out);
        assert_eq!(out, Vec::<String>::new());
    }

    #[test]
    fn vas_answers_are_group_equals_id() {
        assert_eq!(
            parse_vas("DELIVERY_PROOF=PROOF_SCAN"),
            Ok(("DELIVERY_PROOF".to_owned(), "PROOF_SCAN".to_owned()))
        );
        assert!(parse_vas("PROOF_SCAN").is_err());
        assert!(parse_vas("=PROOF_SCAN").is_err());
    }
}
