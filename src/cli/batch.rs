//! `spapi-shipping batch`: many orders bought durably with a journal
//! ([`crate::batch`]), and the journal read back.
//!
//! ```text
//! spapi-shipping batch buy --orders orders.jsonl --journal shipping.journal --labels labels/ \
//!     [--format PDF --size 4x6 ...] [--max-charge 12.50 GBP] [--concurrency 64]
//! spapi-shipping batch status --journal shipping.journal [--reference REF] [--json]
//! spapi-shipping batch export --journal shipping.journal --csv [--output shipped.csv]
//! spapi-shipping batch resolve --journal shipping.journal --reference REF --rebuy|--give-up
//! ```
//!
//! `--orders` has one `getRates` request body per line (JSON Lines); the
//! order's reference is its first package's `packageClientReferenceId`.
//! `--journal` is a file (SQLite) or a `postgres://` URL (feature
//! `journal-postgres`). Re-running the same `batch buy` after a crash at any
//! point finishes the batch and buys nothing twice.
//!
//! Exit status of `batch buy`: 0 when every order is bought and saved;
//! [`EXIT_SOME_FAILED`] when some orders failed with nothing bought and none
//! is ambiguous; [`EXIT_AMBIGUOUS`] when a purchase may have been bought
//! without an answer (re-run to resend it with the same key) or Amazon
//! refused its resend (`batch resolve`); [`EXIT_NOT_SAVED`] when all were
//! bought but some documents could not be saved (re-run to fetch them
//! again). [`EXIT_USAGE`] when nothing was sent (bad orders file),
//! [`EXIT_FAILURE`] when the journal failed.

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::{EXIT_AMBIGUOUS, EXIT_FAILURE, EXIT_NOT_SAVED, EXIT_SOME_FAILED, EXIT_USAGE, NAME};
use crate::batch::{self, Options, Order, Outcome, Progress, Summary};
use crate::journal::{self, AnyJournal, Journal as _, Resolution, Shipment, Stage};
use crate::types::GetRatesRequest;

/// The subcommand's name.
pub(super) const COMMAND: &str = "batch";

/// The `buy` options that choose the rate and its documents, shared with
/// `batch buy`.
const WISH_ARGS: &[&str] = &[
    "format",
    "size",
    "dpi",
    "page-layout",
    "file-joining",
    "document",
    "vas",
    "refuse-unanswered-vas",
    "currency",
    "allow-unprotected",
];

fn journal_arg() -> Arg {
    Arg::new("journal")
        .long("journal")
        .value_name("PATH|postgres://...")
        .required(true)
        .help("The journal: an SQLite file (created if missing) or a PostgreSQL URL")
}

/// The `batch` subcommand and its four actions.
pub(super) fn command() -> Command {
    let wish_args = super::buy::command()
        .get_arguments()
        .filter(|a| WISH_ARGS.contains(&a.get_id().as_str()))
        .cloned()
        .collect::<Vec<_>>();
    Command::new(COMMAND)
        .about("Buy many orders durably with a journal; resume after a crash without buying twice")
        .subcommand_required(true)
        .subcommand(
            Command::new("buy")
                .about("Rate, buy and save every order of a JSON Lines file, journaled; re-run to resume")
                .arg(
                    Arg::new("orders")
                        .long("orders")
                        .value_name("FILE.jsonl")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("One getRates request body per line; the order reference is the first package's packageClientReferenceId"),
                )
                .arg(journal_arg())
                .arg(
                    Arg::new("labels")
                        .long("labels")
                        .value_name("DIR")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Where the documents are saved (created if missing)"),
                )
                .args(wish_args)
                .arg(
                    Arg::new("max-charge")
                        .long("max-charge")
                        .value_names(["AMOUNT", "CURRENCY"])
                        .num_args(2)
                        .help("Buy nothing dearer than AMOUNT CURRENCY per shipment (e.g. 12.50 GBP); only rates in CURRENCY are chosen"),
                )
                .arg(
                    Arg::new("concurrency")
                        .long("concurrency")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u16).range(1..))
                        .default_value("64")
                        .help("Orders in flight at once (calls are paced within Amazon's usage plans)"),
                )
                .arg(
                    Arg::new("worker")
                        .long("worker")
                        .value_name("NAME")
                        .help("This worker's name in the journal [default: host, process id, random]"),
                )
                .arg(
                    Arg::new("lease")
                        .long("lease")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64).range(1..))
                        .default_value("15")
                        .help("How long another worker waits before taking over the orders of a worker that stopped"),
                )
        )
        .subcommand(
            Command::new("status")
                .about("Count the journal's orders by stage and list those that need attention")
                .arg(journal_arg())
                .arg(
                    Arg::new("reference")
                        .long("reference")
                        .value_name("REF")
                        .help("Show one order in full, with its history"),
                )
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("Print every order as JSON"),
                ),
        )
        .subcommand(
            Command::new("export")
                .about("Write the journal as CSV: reference, stage, shipment, tracking, carrier, service, charge, files")
                .arg(journal_arg())
                .arg(
                    Arg::new("csv")
                        .long("csv")
                        .action(ArgAction::SetTrue)
                        .required(true)
                        .help("CSV (RFC 4180), one row per order"),
                )
                .arg(
                    Arg::new("output")
                        .long("output")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Write to FILE instead of standard output"),
                ),
        )
        .subcommand(
            Command::new("resolve")
                .about("Decide an ambiguous or failed order after checking it in Seller Central")
                .arg(journal_arg())
                .arg(
                    Arg::new("reference")
                        .long("reference")
                        .value_name("REF")
                        .required(true)
                        .help("The order"),
                )
                .arg(
                    Arg::new("rebuy")
                        .long("rebuy")
                        .action(ArgAction::SetTrue)
                        .help("It was not bought: rate and buy it again under a new key at the next batch buy"),
                )
                .arg(
                    Arg::new("give-up")
                        .long("give-up")
                        .action(ArgAction::SetTrue)
                        .conflicts_with("rebuy")
                        .help("Leave it: mark it failed, nothing more is sent"),
                )
                .group(
                    clap::ArgGroup::new("decision")
                        .args(["rebuy", "give-up"])
                        .required(true),
                ),
        )
}

/// Runs `batch`: `matches` are the whole command line's, `args` the
/// subcommand's.
pub(super) fn main(matches: &ArgMatches, args: &ArgMatches) -> ExitCode {
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
    let (action, args) = args.subcommand().expect("clap requires an action");
    let location = args
        .get_one::<String>("journal")
        .expect("clap requires --journal")
        .clone();
    runtime.block_on(async {
        let journal = match journal::open(&location).await {
            Ok(journal) => journal,
            Err(e) => return fail(&e.to_string(), EXIT_FAILURE),
        };
        match action {
            "buy" => buy(matches, args, &journal).await,
            "status" => status(args, &journal).await,
            "export" => export(args, &journal).await,
            "resolve" => resolve(args, &journal).await,
            _ => unreachable!("clap knows the actions"),
        }
    })
}

async fn buy(matches: &ArgMatches, args: &ArgMatches, journal: &AnyJournal) -> ExitCode {
    let client = match super::client_builder(matches).and_then(crate::ClientBuilder::build) {
        Ok(client) => client,
        Err(e) => return fail(&e.to_string(), EXIT_USAGE),
    };
    let mut wishes = super::buy::wishes(args);
    let mut options = Options::new(args.get_one::<PathBuf>("labels").expect("required").clone())
        .concurrency(usize::from(
            *args.get_one::<u16>("concurrency").expect("defaulted"),
        ))
        .lease(Duration::from_secs(
            *args.get_one::<u64>("lease").expect("defaulted"),
        ))
        .save(super::save_options(matches));
    if let Some(worker) = args.get_one::<String>("worker") {
        options = options.worker(worker.clone());
    }
    if let Some(limit) = args.get_many::<String>("max-charge") {
        let limit: Vec<&String> = limit.collect();
        let amount = match limit[0].parse::<f64>() {
            Ok(amount) if amount.is_finite() && amount >= 0.0 => amount,
            _ => {
                return fail(
                    &format!(
                        "--max-charge {:?}: expected an amount such as 12.50",
                        limit[0]
                    ),
                    EXIT_USAGE,
                );
            }
        };
        let currency = limit[1].to_ascii_uppercase();
        if wishes.wished_currency().is_none() {
            wishes = wishes.currency(currency.clone());
        }
        options = options.max_charge(amount, currency);
    }
    let path = args.get_one::<PathBuf>("orders").expect("required");
    let orders = match read_orders(path, &wishes) {
        Ok(orders) => orders,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    let bar = ProgressOutput::new(orders.len());
    let summary = batch::run(&client, journal, orders, &options, |p| bar.show(&p)).await;
    bar.finish();
    match summary {
        Ok(summary) => report(&summary),
        Err(e) => fail(&e.to_string(), EXIT_FAILURE),
    }
}

/// The orders of a JSON Lines file, each line checked as a `getRates` body.
fn read_orders(path: &Path, wishes: &crate::purchase::Wishes) -> Result<Vec<Order>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut orders = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = format!("{} line {}", path.display(), i + 1);
        let line = line.map_err(|e| format!("{at}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{at}: not JSON: {e}"))?;
        let request: GetRatesRequest = crate::validate::from_json(value)
            .map_err(|e| format!("{at}: not a getRates request: {e}"))?;
        let order = Order::from_request(request, wishes.clone()).ok_or_else(|| {
            format!("{at}: packages[0].packageClientReferenceId is empty: it names the order")
        })?;
        if let Some(first) = seen.insert(order.reference.clone(), i + 1) {
            return Err(format!(
                "{at}: order reference {} already used on line {first}",
                order.reference
            ));
        }
        orders.push(order);
    }
    if orders.is_empty() {
        return Err(format!("{}: no orders", path.display()));
    }
    Ok(orders)
}

/// A progress bar with counts and ETA on a terminal; one line per order
/// otherwise (logs, CI).
struct ProgressOutput {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressOutput {
    fn new(total: usize) -> ProgressOutput {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} orders, {per_sec}, ETA {eta} {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        ProgressOutput { bar }
    }

    fn show(&self, progress: &Progress<'_>) {
        let line = format!(
            "[{}/{}] {}",
            progress.finished,
            progress.total,
            super::escape_controls(&describe(progress.outcome))
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(progress.finished as u64);
                if !matches!(progress.outcome, Outcome::Done { .. }) {
                    bar.println(line);
                }
            }
            None => eprintln!("{NAME}: {line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One line about an order's outcome.
fn describe(outcome: &Outcome) -> String {
    let reference = outcome.reference();
    match outcome {
        Outcome::Done { shipment, already } => format!(
            "{reference}: {} shipment {}{}",
            if *already {
                "already bought,"
            } else {
                "bought"
            },
            shipment_id(shipment),
            tracking(shipment)
        ),
        Outcome::Failed(shipment) => {
            format!("{reference}: failed, nothing bought: {}", why(shipment))
        }
        Outcome::Ambiguous(shipment) => format!(
            "{reference}: AMBIGUOUS, may have been bought ({}): {}; decide with `{NAME} batch resolve --reference {reference} --rebuy|--give-up`",
            key_and_token(shipment),
            why(shipment)
        ),
        Outcome::InDoubt(shipment) => format!(
            "{reference}: purchase sent without an answer ({}): {}; re-run to resend it with the same key",
            key_and_token(shipment),
            why(shipment)
        ),
        Outcome::NotSaved(shipment) => format!(
            "{reference}: bought shipment {}, documents NOT saved: {}; re-run to fetch them again",
            shipment_id(shipment),
            why(shipment)
        ),
        Outcome::Elsewhere { .. } => format!("{reference}: held by another worker"),
    }
}

fn shipment_id(shipment: &Shipment) -> &str {
    shipment
        .answer
        .as_ref()
        .and_then(|a| a.shipment_id.as_deref())
        .unwrap_or("(unknown)")
}

fn tracking(shipment: &Shipment) -> String {
    let ids: Vec<&str> = shipment
        .answer
        .iter()
        .flat_map(|a| a.packages.iter().filter_map(|p| p.tracking_id.as_deref()))
        .collect();
    if ids.is_empty() {
        String::new()
    } else {
        format!(", tracking {}", ids.join(" "))
    }
}

fn why(shipment: &Shipment) -> String {
    shipment.failure.as_ref().map_or_else(
        || "no reason recorded".to_owned(),
        |f| match &f.request_id {
            Some(id) => format!("{} at {} (request id {id})", f.message, f.step),
            None => format!("{} at {}", f.message, f.step),
        },
    )
}

fn key_and_token(shipment: &Shipment) -> String {
    let key = shipment
        .purchase
        .as_ref()
        .map_or("none", |p| p.idempotency_key.as_str());
    let token = shipment
        .quote
        .as_ref()
        .map_or("none", |q| q.request_token.as_str());
    format!("key {key}, request token {token}")
}

/// The summary on standard error and the exit status.
fn report(summary: &Summary) -> ExitCode {
    let total = summary.outcomes.len();
    eprintln!(
        "{NAME}: {total} orders: {} bought ({} by an earlier run), {} failed, {} ambiguous, {} not saved, {} held by another worker",
        summary.bought(),
        summary.already_done(),
        summary.failed(),
        summary.ambiguous(),
        summary.not_saved(),
        summary.elsewhere()
    );
    let code = if summary.ambiguous() > 0 {
        EXIT_AMBIGUOUS
    } else if summary.not_saved() > 0 {
        EXIT_NOT_SAVED
    } else if summary.failed() > 0 || summary.elsewhere() > 0 {
        EXIT_SOME_FAILED
    } else {
        return ExitCode::SUCCESS;
    };
    ExitCode::from(code)
}

async fn status(args: &ArgMatches, journal: &AnyJournal) -> ExitCode {
    let all = match journal.list().await {
        Ok(all) => all,
        Err(e) => return fail(&e.to_string(), EXIT_FAILURE),
    };
    if let Some(reference) = args.get_one::<String>("reference") {
        let Some(shipment) = all.iter().find(|s| &s.reference == reference) else {
            return fail(
                &format!("order {reference} is not in the journal"),
                EXIT_USAGE,
            );
        };
        let events = match journal.events(reference).await {
            Ok(events) => events,
            Err(e) => return fail(&e.to_string(), EXIT_FAILURE),
        };
        let value = serde_json::json!({ "shipment": shipment, "events": events });
        println!("{}", serde_json::to_string_pretty(&value).expect("JSON"));
        return ExitCode::SUCCESS;
    }
    if args.get_flag("json") {
        println!("{}", serde_json::to_string_pretty(&all).expect("JSON"));
        return ExitCode::SUCCESS;
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for shipment in &all {
        *counts.entry(shipment.stage.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("{} orders: {}", all.len(), counts.join(", "));
    for shipment in all.iter().filter(|s| s.stage != Stage::Done) {
        let outcome = match shipment.stage {
            Stage::Failed => Outcome::Failed(Box::new(shipment.clone())),
            Stage::Ambiguous => Outcome::Ambiguous(Box::new(shipment.clone())),
            Stage::Purchasing => Outcome::InDoubt(Box::new(shipment.clone())),
            Stage::Bought => Outcome::NotSaved(Box::new(shipment.clone())),
            _ => {
                println!("{}: pending", super::escape_controls(&shipment.reference));
                continue;
            }
        };
        println!("{}", super::escape_controls(&describe(&outcome)));
    }
    ExitCode::SUCCESS
}

async fn export(args: &ArgMatches, journal: &AnyJournal) -> ExitCode {
    let all = match journal.list().await {
        Ok(all) => all,
        Err(e) => return fail(&e.to_string(), EXIT_FAILURE),
    };
    let text = csv(&all);
    match args.get_one::<PathBuf>("output") {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{}: {e}", path.display()), EXIT_FAILURE),
        },
        None => match std::io::stdout().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("cannot write the CSV: {e}"), EXIT_FAILURE),
        },
    }
}

/// The CSV columns of `batch export`.
pub(super) const CSV_HEADER: &str = "order_reference,stage,shipment_id,tracking_ids,carrier_id,carrier_name,service_id,service_name,charge,currency,label_files";

/// One row per order; several tracking ids or files separated by spaces.
fn csv(all: &[Shipment]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for s in all {
        let answer = s.answer.as_ref();
        let text = |f: fn(&journal::Answer) -> Option<&String>| {
            answer.and_then(f).map_or(String::new(), Clone::clone)
        };
        let tracking: Vec<&str> = answer
            .iter()
            .flat_map(|a| a.packages.iter().filter_map(|p| p.tracking_id.as_deref()))
            .collect();
        let files: Vec<String> = s
            .documents
            .iter()
            .map(|d| d.path.display().to_string())
            .collect();
        let charge = answer
            .and_then(|a| a.charge)
            .map_or(String::new(), |c| format!("{c:.2}"));
        let row = [
            s.reference.clone(),
            s.stage.as_str().to_owned(),
            text(|a| a.shipment_id.as_ref()),
            tracking.join(" "),
            text(|a| a.carrier_id.as_ref()),
            text(|a| a.carrier_name.as_ref()),
            text(|a| a.service_id.as_ref()),
            text(|a| a.service_name.as_ref()),
            charge,
            text(|a| a.currency.as_ref()),
            files.join(" "),
        ];
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One RFC 4180 field: quoted when it holds a comma, quote or line break.
/// A field starting with `=`, `+`, `-` or `@` (names come from Amazon and
/// buyers) gets a leading `'`, so a spreadsheet does not run it as a
/// formula. Written here: a CSV crate for one quoting rule is not worth a
/// dependency.
fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

async fn resolve(args: &ArgMatches, journal: &AnyJournal) -> ExitCode {
    let reference = args.get_one::<String>("reference").expect("required");
    let resolution = if args.get_flag("rebuy") {
        Resolution::Rebuy
    } else {
        Resolution::GiveUp
    };
    let by = format!("{NAME} batch resolve (pid {})", std::process::id());
    match journal.resolve(reference, resolution, &by).await {
        Ok(shipment) => {
            println!(
                "{}: now {}",
                super::escape_controls(&shipment.reference),
                shipment.stage
            );
            ExitCode::SUCCESS
        }
        Err(
            e @ (journal::JournalError::Unknown { .. }
            | journal::JournalError::NotResolvable { .. }),
        ) => fail(&e.to_string(), EXIT_USAGE),
        Err(e) => fail(&e.to_string(), EXIT_FAILURE),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("{NAME}: {}", super::escape_controls(message));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-1,5"), "\"'-1,5\"");
    }
}
