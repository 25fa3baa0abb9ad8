//! Arbitrary bytes, in arbitrary pieces, through the request framer.
//!
//! Input layout: byte 0 picks the limits; then repeatedly one length byte and that many
//! bytes of data (the last piece may be short). Checked: no panic; every call ends in a
//! request, a need-more or an error; `consumed` stays within the buffer; no call loop
//! stalls; and the same bytes fed whole give the same requests and the same error.

use crate::http::{Frame, Framer, Limits};

/// method, path, query, minor version, headers, body.
type Seen = (String, String, String, u8, Vec<(std::borrow::Cow<'static, str>, Vec<u8>)>, Vec<u8>);

#[derive(Debug, PartialEq)]
struct Outcome {
    requests: Vec<Seen>,
    error: Option<u16>,
    leftover: usize,
}

fn run(limits: &Limits, pieces: &[&[u8]]) -> Outcome {
    let mut framer = Framer::new(limits.clone());
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Outcome {
        requests: Vec::new(),
        error: None,
        leftover: 0,
    };
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut continues_without_progress = 0;
        loop {
            match framer.next_frame(&buf) {
                Ok(None) => break,
                Ok(Some(Frame::Continue)) => {
                    continues_without_progress += 1;
                    assert!(
                        continues_without_progress == 1,
                        "Continue repeated: stalled"
                    );
                }
                Ok(Some(Frame::Request { request, consumed })) => {
                    continues_without_progress = 0;
                    assert!(consumed > 0, "empty request consumed nothing: stalled");
                    assert!(consumed <= buf.len(), "consumed beyond the buffer");
                    assert!(request.body.len() <= limits.max_body_bytes);
                    buf.drain(..consumed);
                    out.requests.push((
                        request.method,
                        request.path,
                        request.query,
                        request.minor_version,
                        request.headers,
                        request.body,
                    ));
                }
                Err(e) => {
                    assert!(matches!(e.status, 400 | 413 | 431 | 501 | 505), "{e}");
                    out.error = Some(e.status);
                    return out;
                }
            }
        }
    }
    out.leftover = buf.len();
    out
}

pub fn check(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let limits = match sel % 4 {
        0 => Limits::default(),
        1 => Limits {
            max_head_bytes: 64,
            max_body_bytes: 16,
            max_headers: 4,
        },
        2 => Limits {
            max_head_bytes: 256,
            max_body_bytes: 1024,
            max_headers: 200,
        },
        _ => Limits {
            max_head_bytes: 1,
            max_body_bytes: 0,
            max_headers: 0,
        },
    };
    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut whole: Vec<u8> = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len % 64).min(tail.len());
        pieces.push(&tail[..n]);
        whole.extend_from_slice(&tail[..n]);
        rest = &tail[n..];
    }
    let split = run(&limits, &pieces);
    let at_once = run(&limits, &[&whole]);
    assert_eq!(split, at_once, "splitting changed the outcome");
}
