//! A request's body: how it is delimited (Content-Length or chunked, RFC 9112 6.3), and
//! the incremental decoding of a chunked body.

use crate::http::{HttpError, Limits, Request};

/// Longest chunk-size line (size, extensions, CRLF) accepted; real clients send a few bytes.
pub(super) const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug)]
pub(super) enum BodyKind {
    Length(usize),
    Chunked(Chunked),
}

#[derive(Debug)]
pub(super) struct Chunked {
    /// Offset in the buffer of the first byte not yet decoded.
    pub(super) pos: usize,
    pub(super) phase: Phase,
    /// Bytes of framing (size lines, CRLFs, trailers) seen so far; bounded so that tiny
    /// chunks with long extensions cannot make the buffer grow without limit.
    pub(super) overhead: usize,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Phase {
    Size,
    Data { remaining: usize },
    DataEnd,
    Trailers { bytes: usize },
}

/// Decide how the body is delimited (RFC 9112 6.3), refusing ambiguous framing that
/// could smuggle a second request past a proxy.
pub(super) fn body_kind(
    limits: &Limits,
    req: &Request,
    head_len: usize,
) -> Result<BodyKind, HttpError> {
    let values = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(|t| t.trim_ascii())
    };
    let has_te = req.headers.iter().any(|(n, _)| n == "transfer-encoding");
    let has_cl = req.headers.iter().any(|(n, _)| n == "content-length");
    if has_te {
        if has_cl {
            return Err(HttpError::new(
                400,
                "both Transfer-Encoding and Content-Length",
            ));
        }
        if req.minor_version == 0 {
            return Err(HttpError::new(
                400,
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        let mut chunked = 0usize;
        let mut codings = 0usize;
        for coding in values("transfer-encoding").filter(|t| !t.is_empty()) {
            codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
            } else {
                return Err(HttpError::new(501, "unsupported transfer coding"));
            }
        }
        if codings == 0 || chunked != 1 {
            return Err(HttpError::new(400, "invalid Transfer-Encoding"));
        }
        return Ok(BodyKind::Chunked(Chunked {
            pos: head_len,
            phase: Phase::Size,
            overhead: 0,
        }));
    }
    if !has_cl {
        // A request without either has no body (RFC 9112 6.3, rule 7).
        return Ok(BodyKind::Length(0));
    }
    let mut length: Option<&[u8]> = None;
    for v in values("content-length") {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(HttpError::new(400, "invalid Content-Length"));
        }
        // Compare as numbers written without leading zeros ("05" equals "5").
        let v = &v[v.iter().take_while(|&&b| b == b'0').count()..];
        match length {
            None => length = Some(v),
            Some(prev) if prev == v => {}
            Some(_) => return Err(HttpError::new(400, "conflicting Content-Length values")),
        }
    }
    let digits = std::str::from_utf8(length.unwrap_or(b"")).unwrap_or("");
    // Empty after stripping zeros means 0; too many digits for u64 is simply too large.
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    if n > limits.max_body_bytes as u64 {
        return Err(HttpError::new(413, "request body too large"));
    }
    Ok(BodyKind::Length(n as usize))
}

/// Decode as much of a chunked body as the buffer holds. `Some(end)`: the body and its
/// trailers end at offset `end`.
pub(super) fn decode_chunked(
    limits: &Limits,
    buf: &[u8],
    c: &mut Chunked,
    body: &mut Vec<u8>,
) -> Result<Option<usize>, HttpError> {
    let max_overhead = limits.max_body_bytes.saturating_add(limits.max_head_bytes);
    loop {
        if c.overhead > max_overhead {
            return Err(HttpError::new(413, "chunked framing overhead too large"));
        }
        let avail = &buf[c.pos.min(buf.len())..];
        match c.phase {
            Phase::Size => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if avail.len() > MAX_CHUNK_LINE {
                        return Err(HttpError::new(400, "chunk size line too long"));
                    }
                    return Ok(None);
                };
                if nl + 1 > MAX_CHUNK_LINE {
                    return Err(HttpError::new(400, "chunk size line too long"));
                }
                let line = &avail[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let size = parse_chunk_size(line)?;
                if size > limits.max_body_bytes.saturating_sub(body.len()) {
                    return Err(HttpError::new(413, "request body too large"));
                }
                c.pos += nl + 1;
                c.overhead += nl + 1;
                c.phase = if size == 0 {
                    Phase::Trailers { bytes: 0 }
                } else {
                    body.reserve(size.min(avail.len()));
                    Phase::Data { remaining: size }
                };
            }
            Phase::Data { remaining } => {
                if avail.is_empty() {
                    return Ok(None);
                }
                let take = remaining.min(avail.len());
                body.extend_from_slice(&avail[..take]);
                c.pos += take;
                c.phase = if take == remaining {
                    Phase::DataEnd
                } else {
                    Phase::Data {
                        remaining: remaining - take,
                    }
                };
            }
            Phase::DataEnd => {
                let used = match (avail.first(), avail.get(1)) {
                    (None, _) | (Some(b'\r'), None) => return Ok(None),
                    (Some(b'\n'), _) => 1,
                    (Some(b'\r'), Some(b'\n')) => 2,
                    _ => return Err(HttpError::new(400, "chunk data not followed by CRLF")),
                };
                c.pos += used;
                c.overhead += used;
                c.phase = Phase::Size;
            }
            Phase::Trailers { bytes } => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if bytes + avail.len() > limits.max_head_bytes {
                        return Err(HttpError::new(431, "trailer section too large"));
                    }
                    return Ok(None);
                };
                let bytes = bytes + nl + 1;
                if bytes > limits.max_head_bytes {
                    return Err(HttpError::new(431, "trailer section too large"));
                }
                let line = &avail[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                c.pos += nl + 1;
                c.overhead += nl + 1;
                if line.is_empty() {
                    return Ok(Some(c.pos));
                }
                check_trailer(line)?;
                c.phase = Phase::Trailers { bytes };
            }
        }
    }
}

/// `1*HEXDIG [BWS ";" extensions]`; trailers and extensions are read and ignored.
pub(super) fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::new(400, "invalid chunk size"));
    }
    let mut size: usize = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as usize;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or_else(|| HttpError::new(400, "chunk size overflows"))?;
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    if !rest.is_empty() {
        if rest[0] != b';' {
            return Err(HttpError::new(400, "invalid chunk size"));
        }
        if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(HttpError::new(400, "invalid chunk extension"));
        }
    }
    Ok(size)
}

pub(super) fn check_trailer(line: &[u8]) -> Result<(), HttpError> {
    let name_len = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| HttpError::new(400, "invalid trailer field"))?;
    let name_ok = name_len > 0
        && line[..name_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = line[name_len + 1..]
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t');
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(HttpError::new(400, "invalid trailer field"))
    }
}
