//! `-v/--verbose`: the crate's `tracing` output on standard error, through
//! tracing-subscriber's formatter, with secrets redacted.
//!
//! `-v` shows each call's `spapi_shipping.call` span when it closes
//! (operation, attempt, status, request id, rate-limit wait, time spent) and
//! the debug events inside it (token refreshes, rate-limit waits, retries);
//! `-vv` adds trace detail. Other crates log warnings only.
//!
//! The runtime never puts a secret into an event, but a line is only written
//! after [`redact`] has replaced the client secret and refresh token of the
//! environment and anything shaped like an LWA token (`Atza|...`,
//! `Atzr|...`), so a future event or a server's error text cannot leak one.

use std::io::{self, Write};

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt as _;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

/// Installs the logger for `verbosity` (`-v` count); nothing for 0.
pub(super) fn init(verbosity: u8) {
    let level = match verbosity {
        0 => return,
        1 => Level::DEBUG,
        _ => Level::TRACE,
    };
    let secrets: Vec<String> = ["LWA_CLIENT_SECRET", "SP_API_REFRESH_TOKEN"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|value| !value.trim().is_empty())
        .collect();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || Redacting {
            secrets: secrets.clone(),
            buffer: Vec::new(),
        })
        .finish()
        .with(
            Targets::new()
                .with_target("spapi_shipping", level)
                .with_default(Level::WARN),
        );
    // Fails only if a logger is already installed (a second `run` in one
    // process): that one stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// One formatted line, held until dropped, then redacted and written to
/// standard error whole.
struct Redacting {
    secrets: Vec<String>,
    buffer: Vec<u8>,
}

impl Write for Redacting {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Redacting {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let _ = io::stderr()
            .lock()
            .write_all(redact(&text, &self.secrets).as_bytes());
    }
}

/// `text` with every value of `secrets` and every LWA token (`Atza|` access
/// and `Atzr|` refresh tokens, up to the next space, quote or delimiter)
/// replaced by [`REDACTED`].
fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), REDACTED)
    });
    for prefix in ["Atza|", "Atzr|"] {
        let mut from = 0;
        while let Some(at) = out[from..].find(prefix).map(|i| from + i) {
            let start = at + prefix.len();
            let end = out[start..]
                .find(|c: char| c.is_whitespace() || "\"',;}]){".contains(c))
                .map_or(out.len(), |i| start + i);
            out.replace_range(start..end, REDACTED);
            from = start + REDACTED.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_lwa_tokens_are_redacted() {
        let secrets = vec!["s3cret-value".to_owned()];
        let line = "token Atza|IwEBIA-x.y_z sent; form client_secret=s3cret-value \
                    refresh_token=\"Atzr|IwEBIB\" end";
        assert_eq!(
            redact(line, &secrets),
            "token Atza|[redacted] sent; form client_secret=[redacted] \
             refresh_token=\"Atzr|[redacted]\" end"
        );
        assert_eq!(redact("Atza|", &[]), "Atza|[redacted]");
        assert_eq!(redact("no secrets here", &secrets), "no secrets here");
    }
}
