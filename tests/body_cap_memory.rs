//! Peak memory of a hostile API answer (issue 11, finding 3: a 200 whose
//! body streamed 1 GiB drove the process to 2.1 GB RSS). A counting global
//! allocator, in this test binary only, records the highest live heap
//! while a real `Client` reads a chunked body of 1 GiB from a loopback
//! server with an 8 MiB cap: the call must fail with the typed error and
//! the extra heap stay within twice the cap (measured: about 1.3x, the
//! chunks read before the cut plus the HTTP client's own buffers). One
//! test per binary, so no other test allocates meanwhile.

use std::sync::Arc;

use spapi_shipping::Error;
use support::server::{self, Reply, Server, Tally};

mod memory_support;
mod support;

const MIB: usize = 1 << 20;
const CAP: usize = 8 * MIB;
const GIB: u64 = 1 << 30;

#[tokio::test]
async fn a_streamed_gibibyte_costs_at_most_twice_the_cap() {
    let sent = Arc::new(Tally::default());
    let counter = Arc::clone(&sent);
    // Built before the measurement starts: the server allocates (almost)
    // nothing while the client reads.
    let chunk: Arc<[u8]> = server::chunk_of(0x10000).into();
    let server = Server::start(move |_| {
        Reply::send(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\n\r\n",
        )
        .then_repeat(chunk.clone(), GIB, Some(Arc::clone(&counter)))
    })
    .await;
    let (error, extra) = memory_support::failed_capped_call(server.url(""), CAP).await;

    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                status: 200,
                cap: CAP,
                content_length: None,
                ..
            }
        ),
        "{error:?}"
    );
    let ratio = extra as f64 / CAP as f64;
    eprintln!(
        "cap {CAP} bytes: +{extra} bytes at peak ({ratio:.2}x); the server sent {} bytes",
        sent.bytes()
    );
    assert!(ratio <= 2.0, "{ratio:.2}x the cap");
    assert!(sent.bytes() < GIB / 4, "the client kept reading");
}
