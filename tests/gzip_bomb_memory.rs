//! Peak memory of a gzip bomb (issue 18, item 7): the client asks for gzip
//! and reqwest decodes while streaming, so the body cap must count the
//! decoded bytes. A loopback server answers `Content-Encoding: gzip`,
//! chunked, with one valid gzip member of about 4 MiB that expands to
//! 4 GiB of JSON whitespace; with an 8 MiB cap the call must end as
//! `ResponseTooLarge` quickly and the extra heap stay within 1.5x the cap,
//! measured like `body_cap_memory.rs` (the counting allocator of
//! `memory_support`; one test per binary, so no other test allocates
//! meanwhile).

use std::sync::Arc;
use std::time::{Duration, Instant};

use spapi_shipping::Error;
use support::server::{Reply, Server, Tally};

mod gzip_support;
mod memory_support;
mod support;

const MIB: usize = 1 << 20;
const CAP: usize = 8 * MIB;
/// Decoded size of the bomb: 4 GiB.
const BOMB_MIB: usize = 4096;

#[tokio::test]
async fn a_gzip_bomb_is_cut_at_the_cap_in_decoded_bytes_within_one_and_a_half_times_it() {
    let compressed = gzip_support::bomb(br#"{"payload": "#, BOMB_MIB);
    let wire_len = compressed.len();
    // Framed before the measurement starts, and shared with the server, not
    // copied: the server allocates (almost) nothing while the client reads.
    let response: Arc<[u8]> = gzip_support::gzip_chunked_answer("bomb-1", &compressed).into();
    drop(compressed);

    let sent = Arc::new(Tally::default());
    let counter = Arc::clone(&sent);
    let server = Server::start(move |_| {
        let whole = response.len() as u64;
        Reply::default().then_stream(response.clone(), 64 * 1024, whole, Some(counter.clone()))
    })
    .await;
    let started = Instant::now();
    let (error, extra) = memory_support::failed_capped_call(server.url(""), CAP).await;
    let took = started.elapsed();
    let seen = server.seen();
    assert!(seen[0].accepts_gzip(), "{seen:?}");

    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                status: 200,
                cap: CAP,
                content_length: None,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.request_id(), Some("bomb-1"));
    let ratio = extra as f64 / CAP as f64;
    eprintln!(
        "gzip bomb of {wire_len} bytes ({BOMB_MIB} MiB decoded), cap {CAP} bytes: +{extra} bytes \
         at peak ({ratio:.2}x the cap); the server wrote {} bytes before the client stopped; {took:?}",
        sent.bytes()
    );
    assert!(ratio <= 1.5, "{ratio:.2}x the cap");
    // Decoding 4 GiB would take far longer than this in a debug build.
    assert!(took < Duration::from_secs(5), "{took:?}");
}
