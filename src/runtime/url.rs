//! The URL of a generated request, from URLs parsed once per client
//! (issue 12).
//!
//! progenitor `format!`s `"{baseurl}/shipping/v2/..."` and reqwest parses
//! that string on every call: scheme, host, port and path cost about 6,800
//! instructions, as much as the rest of building the request. The client's
//! base URL never changes, so build/request_build.rs asks this module
//! instead: an operation whose path has no parameter gets a clone of its
//! URL parsed on first use ([`fixed`]); one with path parameters gets the
//! parsed base URL with its formatted path set ([`join`]), so only the path
//! is parsed. Either way the URL is the one parsing the formatted string
//! gives (same percent-encoding, same dot-segment handling); a test checks
//! that for several base URLs.

use std::sync::OnceLock;

use reqwest::Url;

use crate::operations::{self, OPERATIONS};

/// URLs parsed once per client; part of the runtime every clone shares.
#[derive(Debug)]
pub(crate) struct Urls {
    /// The base URL, for paths with parameters.
    base: OnceLock<Result<Url, String>>,
    /// Each operation's URL (path without parameters), by `Operation::index`.
    fixed: Box<[OnceLock<Result<Url, String>>]>,
}

impl Default for Urls {
    fn default() -> Self {
        Self {
            base: OnceLock::new(),
            fixed: OPERATIONS.iter().map(|_| OnceLock::new()).collect(),
        }
    }
}

/// `baseurl` + `path` for the operation progenitor knows as `name`, whose
/// path has no parameter: parsed on the first call, cloned after.
pub(crate) fn fixed(client: &crate::Client, name: &str, path: &str) -> Result<Url, String> {
    let parse_it = || parse(&format!("{}{path}", client.baseurl));
    match operations::find(name) {
        Some(op) => client.inner.runtime().urls.fixed[op.index]
            .get_or_init(parse_it)
            .clone(),
        None => parse_it(),
    }
}

/// `baseurl` + `path` (its parameters already percent-encoded by the
/// generated code): the base URL parsed once, then only the path.
pub(crate) fn join(client: &crate::Client, path: &str) -> Result<Url, String> {
    let base = client
        .inner
        .runtime()
        .urls
        .base
        .get_or_init(|| parse(&client.baseurl));
    match base {
        // A base URL ending in `/`, or with a query or fragment, would not
        // simply prefix the path: parse the whole string, as progenitor would.
        Ok(base)
            if !client.baseurl.ends_with('/')
                && base.query().is_none()
                && base.fragment().is_none()
                && !base.cannot_be_a_base() =>
        {
            let mut url = base.clone();
            let prefix = if base.path() == "/" { "" } else { base.path() };
            url.set_path(&format!("{prefix}{path}"));
            Ok(url)
        }
        _ => parse(&format!("{}{path}", client.baseurl)),
    }
}

/// The URL progenitor's formatted string stands for.
fn parse(url: &str) -> Result<Url, String> {
    Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> crate::Client {
        // reqwest alone has no TLS provider here (rustls-no-provider).
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::config::tls_config(&[]).unwrap())
            .build()
            .unwrap();
        // The runtime of a default client: the one set of defaults.
        let inner = crate::Client::builder()
            .region(crate::Region::Europe)
            .build()
            .unwrap()
            .inner
            .clone();
        crate::Client::new_with_client(base, http, inner)
    }

    /// What progenitor's `format!` + parse gives.
    fn by_string(base: &str, path: &str) -> String {
        Url::parse(&format!("{base}{path}")).unwrap().to_string()
    }

    #[test]
    fn joined_and_fixed_urls_are_the_ones_the_string_parses_to() {
        let paths = [
            "/shipping/v2/shipments/S-1/cancel",
            "/shipping/v2/shipments/a%2Fb%20c/cancel",
            "/shipping/v2/shipments/../cancel",
            "/shipping/v2/shipments/%2e%2E/cancel",
            "/shipping/v2/shipments//cancel",
            "/shipping/v2/carrierAccounts/%C3%A9t%C3%A9",
        ];
        let bases = [
            "http://127.0.0.1:8080",
            "https://sellingpartnerapi-eu.amazon.com",
            "https://proxy.example/prefix",
            "https://proxy.example/prefix/",
            "http://[::1]:9",
            "HTTPS://Sellingpartnerapi-NA.amazon.com:443",
        ];
        for base in bases {
            let client = client(base);
            for path in paths {
                assert_eq!(
                    join(&client, path).unwrap().as_str(),
                    by_string(base, path),
                    "{base} + {path}"
                );
            }
            // Twice: the second comes from the cache, filled by the first.
            let op = crate::operations::find("get_tracking").unwrap();
            let cached = || client.inner.runtime().urls.fixed[op.index].get().is_some();
            assert!(!cached());
            for _ in 0..2 {
                assert_eq!(
                    fixed(&client, "get_tracking", "/shipping/v2/tracking")
                        .unwrap()
                        .as_str(),
                    by_string(base, "/shipping/v2/tracking")
                );
                assert!(cached());
            }
        }
    }

    #[test]
    fn a_base_that_is_not_a_url_fails_with_the_url_in_the_message() {
        let client = client("not a url");
        let error = fixed(&client, "get_tracking", "/shipping/v2/tracking").unwrap_err();
        assert!(
            error.starts_with("not a url/shipping/v2/tracking is not a URL"),
            "{error}"
        );
        let error = join(&client, "/shipping/v2/shipments/S/cancel").unwrap_err();
        assert!(
            error.contains("not a url/shipping/v2/shipments/S/cancel"),
            "{error}"
        );
    }
}
