//! Peak memory of a hostile API answer (issue 11, finding 3: a 200 whose
//! body streamed 1 GiB drove the process to 2.1 GB RSS). A counting global
//! allocator, in this test binary only, records the highest live heap
//! while a real `Client` reads a chunked body of 1 GiB from a loopback
//! server with an 8 MiB cap: the call must fail with the typed error and
//! the extra heap stay within twice the cap (measured: about 1.3x, the
//! chunks read before the cut plus the HTTP client's own buffers). One
//! test per binary, so no other test allocates meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};

use spapi_shipping::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod memory_support;

const MIB: usize = 1 << 20;
const CAP: usize = 8 * MIB;
const GIB: u64 = 1 << 30;

#[tokio::test]
async fn a_streamed_gibibyte_costs_at_most_twice_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&sent);
    let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000)).into_bytes();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 8192];
        let _ = stream.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
        while ok && counter.load(Ordering::Relaxed) < GIB {
            ok = stream.write_all(&chunk).await.is_ok();
            counter.fetch_add(0x10000, Ordering::Relaxed);
        }
    });
    let (error, extra) = memory_support::failed_capped_call(format!("http://{addr}"), CAP).await;

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
        sent.load(Ordering::Relaxed)
    );
    assert!(ratio <= 2.0, "{ratio:.2}x the cap");
    assert!(
        sent.load(Ordering::Relaxed) < GIB / 4,
        "the client kept reading"
    );
}
