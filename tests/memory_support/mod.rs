//! A counting global allocator for the peak-memory tests (one test per
//! binary, so no other test allocates meanwhile): it records the highest
//! live heap, and [`mark`] / [`extra_since`] read the peak over what was
//! live at a starting point.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a measurement: the heap live now, with the peak reset to it.
pub fn mark() -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    before
}

/// The highest heap since [`mark`] returned `before`, over `before`.
pub fn extra_since(before: usize) -> usize {
    PEAK.load(Ordering::Relaxed) - before
}

/// One getTracking call to `base` through a client without credentials (no
/// token request) whose body cap is `cap`; it must fail within 10 s. The
/// error, and the peak heap the call added ([`extra_since`]).
#[allow(dead_code)] // not every peak-memory test makes a call
pub async fn failed_capped_call(base: String, cap: usize) -> (spapi_shipping::Error, usize) {
    let client = spapi_shipping::Client::builder()
        .endpoint(base)
        .max_response_body(cap)
        .build()
        .unwrap();
    let before = mark();
    let call = client
        .get_tracking()
        .tracking_id("23AA47DE2B3B6")
        .carrier_id("AMZN_UK")
        .send();
    let error = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .expect("the call ends within 10 s")
        .unwrap_err();
    (error, extra_since(before))
}
