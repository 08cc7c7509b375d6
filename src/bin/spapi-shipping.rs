//! `spapi-shipping`: Amazon Shipping API v2 from the command line; see
//! [`spapi_shipping::cli`] (`cargo install --path . --features cli`).

fn main() -> std::process::ExitCode {
    spapi_shipping::cli::main()
}
