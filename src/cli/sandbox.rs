//! `spapi-shipping sandbox` (features `cli` and `mock`): the offline sandbox
//! ([`crate::mock::Sandbox`]) as a process, for trying the tool or an app
//! without credentials.
//!
//! ```text
//! $ spapi-shipping sandbox > sandbox.env &
//! $ . ./sandbox.env
//! $ spapi-shipping get-access-points --country-code GB --postal-code LS1 --access-point-types HELIX
//! ```
//!
//! It starts the sandbox on 127.0.0.1 (a free port), prints on standard
//! output one `export NAME='value'` line per variable of
//! [`ClientBuilder::from_env`](crate::ClientBuilder::from_env) that points a
//! client at it (endpoint, business id `AmazonShipping_UK`, token URL and the
//! sandbox's own credentials, which are public), then serves until Ctrl-C, or for `--for SECONDS`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgMatches, Command};

use super::{EXIT_FAILURE, NAME};
use crate::mock::Sandbox;
use crate::types::ShippingBusinessId;

/// The subcommand's name.
pub(super) const COMMAND: &str = "sandbox";

/// The `sandbox` subcommand's arguments.
pub(super) fn command() -> Command {
    Command::new(COMMAND)
        .about("Start the offline sandbox on 127.0.0.1 and print the environment that points this tool or an app at it")
        .long_about(
            "Starts the offline sandbox (a local server playing Login with Amazon and every \
             Shipping v2 operation: rates, purchases with label files, tracking, cancellation) \
             on 127.0.0.1, prints `export NAME='value'` lines for SP_API_ENDPOINT, \
             AMAZON_SHIPPING_BUSINESS_ID, LWA_ENDPOINT, LWA_APP_ID, LWA_CLIENT_SECRET and SP_API_REFRESH_TOKEN on stdout (source them in a \
             shell), and serves until Ctrl-C or --for SECONDS. Nothing leaves the machine.",
        )
        .arg(
            Arg::new("for")
                .long("for")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("Stop after SECONDS [default: serve until Ctrl-C]"),
        )
}

/// `command` (the whole tool, `sandbox` among its subcommands) with the
/// global options hidden from `sandbox --help`: none applies to it (`run`
/// refuses them). clap does not propagate a global option into a command
/// that has an argument of the same id, so `sandbox` gets hidden copies.
pub(super) fn without_global_options(command: Command) -> Command {
    let hidden: Vec<Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    command.mut_subcommand(COMMAND, |sandbox| sandbox.args(hidden))
}

/// Runs the sandbox until Ctrl-C or `--for`.
pub(super) fn main(matches: &ArgMatches) -> ExitCode {
    let limit = matches
        .get_one::<u64>("for")
        .copied()
        .map(Duration::from_secs);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{NAME}: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(async {
        let sandbox = Sandbox::start().await;
        let mut stdout = std::io::stdout().lock();
        let printed = environment(&sandbox)
            .iter()
            .try_for_each(|(name, value)| writeln!(stdout, "export {name}={}", quoted(value)))
            .and_then(|()| stdout.flush());
        drop(stdout);
        if let Err(e) = printed {
            eprintln!("{NAME}: cannot write the environment: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
        let until = match limit {
            Some(limit) => format!("for {} s", limit.as_secs()),
            None => "until Ctrl-C".to_owned(),
        };
        eprintln!(
            "{NAME}: offline sandbox serving on {} {until}",
            sandbox.base_url()
        );
        let stop = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            signal = tokio::signal::ctrl_c() => {
                if let Err(e) = signal {
                    eprintln!("{NAME}: cannot wait for Ctrl-C: {e}");
                    return ExitCode::from(EXIT_FAILURE);
                }
            }
            () = stop => {}
        }
        eprintln!("{NAME}: sandbox stopped");
        ExitCode::SUCCESS
    })
}

/// The variables [`ClientBuilder::from_env`](crate::ClientBuilder::from_env)
/// reads, pointing at `sandbox`.
fn environment(sandbox: &Sandbox) -> [(&'static str, String); 6] {
    [
        ("SP_API_ENDPOINT", sandbox.base_url()),
        // Without a region the client cannot choose a business and warns
        // on every call (`-v`); the sandbox answers as Amazon's default.
        (
            "AMAZON_SHIPPING_BUSINESS_ID",
            ShippingBusinessId::AmazonShippingUk.to_string(),
        ),
        ("LWA_ENDPOINT", sandbox.token_url()),
        ("LWA_APP_ID", Sandbox::CLIENT_ID.to_owned()),
        ("LWA_CLIENT_SECRET", Sandbox::CLIENT_SECRET.to_owned()),
        ("SP_API_REFRESH_TOKEN", Sandbox::REFRESH_TOKEN.to_owned()),
    ]
}

/// `value` in POSIX shell single quotes (the refresh token holds a `|`).
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_a_posix_shell() {
        assert_eq!(quoted("Atzr|sandbox-refresh"), "'Atzr|sandbox-refresh'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}
