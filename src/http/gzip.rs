//! luigid's response compression (Tornado's `GZipContentEncoding`, `tornado/web.py`).

use super::Response;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::cell::RefCell;

/// Smallest body worth compressing.
pub const MIN_LENGTH: usize = 1024;

/// From this size on, gzip with the fast fixed-code encoder instead of luigid's level 6: on
/// a 3.8 MB task_list reply level 6 takes ~14 ms, miniz level 1 ~5 ms, the fast encoder
/// ~2.5 ms, for a body ~25% larger than level 1's (still ~17x smaller than the JSON).
/// Clients only see the decompressed bytes, which are the same.
pub const FAST_LENGTH: usize = 64 * 1024;

/// Content types compressed besides `text/*`.
const TYPES: [&str; 7] = [
    "application/javascript",
    "application/x-javascript",
    "application/xml",
    "application/atom+xml",
    "application/json",
    "application/xhtml+xml",
    "image/svg+xml",
];

fn compressible(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("");
    base.starts_with("text/") || TYPES.contains(&base)
}

/// Apply luigid's gzip rule to a finished reply: always add `Vary: Accept-Encoding`
/// (appended to an existing Vary as `Origin, Accept-Encoding`); gzip the body (see
/// `gzip_bytes` for how) and set `Content-Encoding: gzip` when `accept_encoding` contains `gzip`, the content
/// type (parameters aside) is `text/*` or one of luigid's list, no Content-Encoding is
/// set, and the body has at least 1024 bytes. Compute the ETag before calling this.
/// Like Tornado, the checks are case-sensitive substring/prefix tests.
pub fn gzip_response(accept_encoding: Option<&str>, resp: &mut Response) {
    match resp
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("vary"))
    {
        Some((_, v)) => v.push_str(", Accept-Encoding"),
        None => resp
            .headers
            .push(("Vary".to_string(), "Accept-Encoding".to_string())),
    }
    let wanted = accept_encoding.is_some_and(|a| a.contains("gzip"))
        && resp.header("content-type").is_some_and(compressible)
        && resp.header("content-encoding").is_none()
        && resp.body_len() >= MIN_LENGTH;
    if !wanted {
        resp.flatten();
        return;
    }
    let gz = match (resp.splice.take(), resp.shared_body()) {
        (Some(splice), _) => match gzip_spliced(&resp.body, &splice) {
            Some(gz) => Some(gz),
            None => {
                resp.splice = Some(splice);
                resp.flatten();
                return;
            }
        },
        (None, Some(shared)) => shared.gzip.get_or_init(|| gzip_bytes(&shared.body)).clone(),
        (None, None) => gzip_bytes(&resp.body),
    };
    if gz.is_none() {
        resp.flatten();
    }
    if let Some(gz) = gz {
        resp.body = gz;
        resp.body_in_shared = false;
        resp.headers
            .push(("Content-Encoding".to_string(), "gzip".to_string()));
    }
}

thread_local! {
    /// The level-6 raw-deflate compressor for 32-64 KB replies, reset between replies: a
    /// fresh one allocates and zeroes several hundred KB of state.
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(6), false));
}

/// The gzip member (RFC 1952) for `body`: up to 32 KB (most RPC replies) the small
/// setup-free encoder of [`super::deflate`], then level 6, and the same fast encoder
/// again from [`FAST_LENGTH`] on. Same header as flate2's GzEncoder (no name, mtime 0, OS 255). None should deflate
/// fail.
fn gzip_bytes(body: &[u8]) -> Option<Vec<u8>> {
    let small = body.len() <= super::deflate::MAX_INPUT;
    let fast = small || body.len() >= FAST_LENGTH;
    let xfl = if fast { 4 } else { 0 };
    let mut out = Vec::with_capacity(body.len() / 4 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
    let ok = if small {
        super::deflate::deflate_small(body, &mut out)
    } else if body.len() >= FAST_LENGTH {
        super::deflate::deflate_large(body, &mut out);
        true
    } else {
        COMPRESSOR.with(|c| {
            let comp = &mut *c.borrow_mut();
            comp.reset();
            let mut input = body;
            loop {
                if out.capacity() - out.len() < 64 {
                    out.reserve(out.capacity().max(1024));
                }
                let before = comp.total_in();
                let status = comp.compress_vec(input, &mut out, FlushCompress::Finish);
                let used = (comp.total_in() - before) as usize;
                input = &input[used.min(input.len())..];
                match status {
                    Ok(Status::StreamEnd) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
    };
    if !ok {
        return None;
    }
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Some(out)
}

/// The gzip member of a body with a kept part (see [`super::Splice`]): the part's
/// deflate segment is made once and reused, so a repeated reply only compresses what
/// is around it. None when the splice does not fit the body.
fn gzip_spliced(body: &[u8], splice: &super::Splice) -> Option<Vec<u8>> {
    let (head, tail) = (body.get(..splice.at)?, body.get(splice.at..)?);
    let part = splice.part.bytes();
    let (segment, part_crc) = splice.part.deflated(&|bytes| {
        let mut segment = Vec::with_capacity(bytes.len() / 8 + 64);
        super::deflate::deflate_part(bytes, &mut segment, false);
        Some((segment, crc32fast::hash(bytes)))
    })?;
    let mut out = Vec::with_capacity(segment.len() + head.len() + tail.len() + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    super::deflate::deflate_part(head, &mut out, false);
    out.extend_from_slice(segment);
    super::deflate::deflate_part(tail, &mut out, true);
    let mut crc = crc32fast::Hasher::new();
    crc.update(head);
    crc.combine(&crc32fast::Hasher::new_with_initial_len(
        *part_crc,
        part.len() as u64,
    ));
    let mut tail_crc = crc32fast::Hasher::new();
    tail_crc.update(tail);
    crc.combine(&tail_crc);
    let len = head.len() + part.len() + tail.len();
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn reply(ct: &str, len: usize) -> Response {
        Response::new(200).with_body(ct, "x".repeat(len))
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(b).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn compresses_large_json_and_round_trips() {
        let mut r = reply("application/json; charset=UTF-8", 5000);
        gzip_response(Some("gzip, deflate"), &mut r);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
        assert!(r.body.len() < 200);
        assert_eq!(gunzip(&r.body), "x".repeat(5000).into_bytes());
    }

    #[test]
    fn large_bodies_round_trip_at_the_fast_level() {
        let text: String = (0..FAST_LENGTH * 2)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let mut r = Response::new(200).with_body("application/json", text.clone());
        gzip_response(Some("gzip"), &mut r);
        assert_eq!(r.header("Content-Encoding"), Some("gzip"));
        assert!(r.body.len() < text.len() / 10);
        assert_eq!(gunzip(&r.body), text.into_bytes());
    }

    #[test]
    fn reused_compressor_gives_independent_members() {
        for (i, len) in [5000, 1500, 200_000, 3000, 70_000, 1024]
            .into_iter()
            .enumerate()
        {
            let text: String = (0..len)
                .map(|j| char::from(b'a' + ((j * 31 + i * 7) % 26) as u8))
                .collect();
            let mut r = Response::new(200).with_body("application/json", text.clone());
            gzip_response(Some("gzip"), &mut r);
            assert_eq!(r.header("Content-Encoding"), Some("gzip"));
            assert_eq!(&r.body[..3], &[0x1f, 0x8b, 8]);
            assert_eq!(gunzip(&r.body), text.into_bytes(), "len {len}");
        }
    }

    #[derive(Debug)]
    struct Part(Vec<u8>, std::sync::OnceLock<Option<(Vec<u8>, u32)>>);
    impl crate::http::KeptPart for Part {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
        fn deflated(
            &self,
            make: &dyn Fn(&[u8]) -> Option<crate::http::DeflatedPart>,
        ) -> Option<&crate::http::DeflatedPart> {
            self.1.get_or_init(|| make(&self.0)).as_ref()
        }
    }

    #[test]
    fn spliced_bodies_gunzip_to_the_whole_body_and_reuse_the_part() {
        let text = |n: usize, k: usize| -> Vec<u8> {
            (0..n).map(|j| b'a' + ((j * 31 + k) % 26) as u8).collect()
        };
        for (head, part, tail) in [
            (10, 2000, 5),
            (0, 70_000, 0),
            (40_000, 100, 33_000),
            (1, 1100, 1),
        ] {
            let part = std::sync::Arc::new(Part(text(part, 3), Default::default()));
            for round in 0..2 {
                let mut body = text(head, round);
                body.extend(text(tail, 7 + round));
                let mut r = Response::new(200).with_body("application/json", body.clone());
                r.splice = Some(crate::http::Splice {
                    at: head,
                    part: part.clone(),
                });
                let mut whole = r.clone();
                whole.flatten();
                assert_eq!(whole.body.len(), head + part.0.len() + tail);
                gzip_response(Some("gzip"), &mut r);
                assert!(r.splice.is_none());
                assert_eq!(r.header("Content-Encoding"), Some("gzip"));
                assert_eq!(gunzip(&r.body), whole.body, "{head} {tail} round {round}");
                assert!(part.1.get().is_some(), "the part's segment is kept");
            }
        }
        // Not compressed: the part is copied in.
        let part = std::sync::Arc::new(Part(text(3000, 1), Default::default()));
        let mut r = Response::new(200).with_body("application/json", b"[]".to_vec());
        r.splice = Some(crate::http::Splice {
            at: 1,
            part: part.clone(),
        });
        gzip_response(None, &mut r);
        assert!(r.splice.is_none());
        assert_eq!(r.body.len(), 3002);
        assert_eq!(r.body[0], b'[');
        assert_eq!(&r.body[1..3001], &part.0[..]);
    }

    #[test]
    fn threshold_is_1024_bytes() {
        let mut small = reply("text/html; charset=UTF-8", 1023);
        gzip_response(Some("gzip"), &mut small);
        assert_eq!(small.header("Content-Encoding"), None);
        assert_eq!(small.body.len(), 1023);
        let mut big = reply("text/html; charset=UTF-8", 1024);
        gzip_response(Some("gzip"), &mut big);
        assert_eq!(big.header("Content-Encoding"), Some("gzip"));
    }

    #[test]
    fn vary_is_always_added_or_appended() {
        let mut r = Response::new(404);
        gzip_response(None, &mut r);
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
        let mut r = reply("text/plain", 10).with_header("Vary", "Origin");
        gzip_response(Some("gzip"), &mut r);
        assert_eq!(r.header("Vary"), Some("Origin, Accept-Encoding"));
        assert_eq!(r.headers.iter().filter(|(n, _)| n == "Vary").count(), 1);
    }

    #[test]
    fn not_compressed_when_rule_fails() {
        for (ae, ct) in [
            (None, "application/json"),
            (Some("deflate"), "application/json"),
            (Some("GZIP"), "application/json"),
            (Some("gzip"), "image/png"),
            (Some("gzip"), "application/octet-stream"),
        ] {
            let mut r = reply(ct, 4096);
            gzip_response(ae, &mut r);
            assert_eq!(r.header("Content-Encoding"), None, "{ae:?} {ct}");
            assert_eq!(r.body.len(), 4096);
        }
        let mut r = reply("text/css", 4096).with_header("Content-Encoding", "br");
        gzip_response(Some("gzip"), &mut r);
        assert_eq!(r.header("Content-Encoding"), Some("br"));
        assert_eq!(r.body.len(), 4096);
        let mut r = Response::new(200);
        r.body = vec![b'a'; 4096];
        gzip_response(Some("gzip"), &mut r);
        assert_eq!(r.header("Content-Encoding"), None, "no Content-Type");
    }

    #[test]
    fn listed_types_compress() {
        for ct in TYPES.iter().chain(["text/css", "text/javascript"].iter()) {
            let mut r = reply(ct, 2048);
            gzip_response(Some("br, gzip"), &mut r);
            assert_eq!(r.header("Content-Encoding"), Some("gzip"), "{ct}");
        }
    }
}
