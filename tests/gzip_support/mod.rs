//! gzip bodies for the tests of issue 18 item 7: a whole body compressed
//! (`gzip`), a gzip bomb built without compressing gigabytes (`bomb`), and
//! HTTP/1.1 chunked framing (`chunked`), as Amazon sends a compressed answer
//! (`Content-Encoding: gzip`, `Transfer-Encoding: chunked`, no
//! `Content-Length`).

#![allow(dead_code)]

use std::io::Write as _;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

const MIB: usize = 1 << 20;

/// `body` as one gzip member at `level`.
pub fn gzip(body: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(body).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// A gzip bomb: one valid gzip member (one deflate stream, correct CRC-32
/// and length) that decodes to `prefix` followed by `mib` MiB of spaces,
/// about 1 KiB on the wire per MiB decoded (4 GiB in about 4 MiB).
///
/// Compressing gigabytes would take minutes in a debug build, so one MiB of
/// spaces is compressed once and its output repeated: each segment ends
/// with a full flush, which byte-aligns the stream and empties the
/// compressor's window, so every later segment compresses to the same bytes
/// (checked here) and none refers back past its own start.
pub fn bomb(prefix: &[u8], mib: usize) -> Vec<u8> {
    let spaces = vec![b' '; MIB];
    let mut deflate = Compress::new(Compression::best(), false);
    let head = deflate_part(&mut deflate, prefix, FlushCompress::Full);
    let segment = deflate_part(&mut deflate, &spaces, FlushCompress::Full);
    let again = deflate_part(&mut deflate, &spaces, FlushCompress::Full);
    assert_eq!(segment, again, "a full flush makes segments repeatable");
    let end = deflate_part(&mut deflate, &[], FlushCompress::Finish);

    let mut crc = Crc::new();
    crc.update(prefix);
    let mut per_mib = Crc::new();
    per_mib.update(&spaces);
    for _ in 0..mib {
        crc.combine(&per_mib);
    }
    let total = prefix.len() as u64 + (mib * MIB) as u64;

    let mut out = Vec::with_capacity(10 + head.len() + segment.len() * mib + end.len() + 8);
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.extend_from_slice(&head);
    for _ in 0..mib {
        out.extend_from_slice(&segment);
    }
    out.extend_from_slice(&end);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out
}

/// Raw deflate of all of `input`, then `flush`.
fn deflate_part(deflate: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let start = deflate.total_in();
    let mut out = Vec::with_capacity(input.len() / 64 + 4096);
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        let status = deflate
            .compress_vec(&input[consumed..], &mut out, flush)
            .expect("deflate");
        let consumed = (deflate.total_in() - start) as usize;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return out,
            // All input taken and the flush written with room to spare.
            _ if consumed == input.len() && room_left && flush != FlushCompress::Finish => {
                return out;
            }
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

/// `body` framed as HTTP/1.1 chunks of at most `chunk` bytes, with the
/// final zero-length chunk.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk * 8 + 16);
    for part in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A compressed 200 answer as Amazon sends one: [`gzip_chunked_head`], then
/// `compressed` in chunks of 8 KiB.
pub fn gzip_chunked_answer(request_id: &str, compressed: &[u8]) -> Vec<u8> {
    let mut out = gzip_chunked_head(request_id).into_bytes();
    out.extend_from_slice(&chunked(compressed, 8192));
    out
}

/// The head of a compressed, chunked 200 answer, as Amazon sends one.
pub fn gzip_chunked_head(request_id: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n\
         transfer-encoding: chunked\r\nx-amzn-RequestId: {request_id}\r\nconnection: close\r\n\r\n"
    )
}
