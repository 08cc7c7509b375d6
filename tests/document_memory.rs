//! Peak memory of label decoding (issue 11, finding 8: 42 MiB of base64
//! cost +417 MiB at peak, about 10x). A counting global allocator, in this
//! test binary only, records the highest live heap while one document is
//! decoded; the extra must stay within twice the base64 size (the decoded
//! bytes are three quarters of it, a whitespace-free copy at most one).
//! One test per binary, so no other test allocates meanwhile.

use base64::Engine as _;
use spapi_shipping::documents::LabelDocument;
use spapi_shipping::types;

mod memory_support;

/// Extra heap at the peak of `f`, over what was live when it started.
fn peak_extra<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = memory_support::mark();
    let out = f();
    (out, memory_support::extra_since(before))
}

fn document(contents: String) -> types::PackageDocument {
    serde_json::from_value(serde_json::json!({
        "type": "LABEL",
        "format": "PNG",
        "contents": contents,
    }))
    .unwrap()
}

#[test]
fn decoding_42_mib_of_base64_takes_at_most_twice_its_size() {
    const MIB: usize = 1024 * 1024;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(42 * MIB * 3 / 4, 7);
    let plain = base64::engine::general_purpose::STANDARD.encode(&png);
    // The same with a line break every 76 characters (MIME style).
    let wrapped: String = plain
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");

    for (what, contents) in [("unwrapped", plain), ("wrapped", wrapped)] {
        let size = contents.len();
        let doc = document(contents);
        let (decoded, extra) = peak_extra(|| LabelDocument::from_document(&doc).unwrap());
        assert_eq!(decoded.bytes.len(), png.len(), "{what}");
        assert!(decoded.bytes == png, "{what}: bytes differ");
        let ratio = extra as f64 / size as f64;
        eprintln!("{what}: {size} bytes of base64, +{extra} bytes at peak ({ratio:.2}x)");
        assert!(ratio <= 2.0, "{what}: {ratio:.2}x the base64 size");
    }
}
