//! Query and form decoding the way luigid (Tornado 6) reads request arguments
//! (`RequestHandler.get_argument` in `tornado/web.py`, `parse_body_arguments` in
//! `tornado/httputil.py`).
//!
//! Values stay raw bytes until one is asked for: like Tornado, only the requested
//! argument's values must be valid UTF-8.

use super::{find_byte, HttpError, Request};

/// Tornado's cap on urlencoded fields (query string or body), counted as `1 + #'&'`.
pub const MAX_URLENCODED_FIELDS: usize = 1000;
/// Tornado's cap on multipart parts.
pub const MAX_MULTIPART_PARTS: usize = 100;
/// Tornado's cap on the header block of one multipart part.
pub const MAX_PART_HEADER_BYTES: usize = 10 * 1024;

fn bad(msg: &str) -> HttpError {
    HttpError::bad_request(msg)
}

/// Hex digit values, 0xff for bytes that are not hex digits.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Percent-decode; `plus` turns `+` into a space first (forms). A `%` not followed by
/// two hex digits stays as it is, as in Python's `unquote_to_bytes`.
#[allow(clippy::slow_vector_initialization)] // deliberately not calloc: see below
fn unquote(raw: &[u8], plus: bool) -> Vec<u8> {
    // Into a zeroed buffer of the input's size (the output is never longer), by index:
    // form-encoded JSON escapes about every third byte, so copying runs between escapes
    // does not pay off, and a push per byte cost a capacity check each.
    let n = raw.len();
    // Not `vec![0; n]`: that is calloc, which skips glibc's per-thread cache and cost
    // 250 ns per add_task body here; malloc plus a short memset does not.
    let mut out = Vec::with_capacity(n);
    out.resize(n, 0u8);
    let (mut i, mut j) = (0, 0);
    while i < n {
        let b = raw[i];
        if b == b'%' && i + 2 < n {
            let (h, l) = (HEX[usize::from(raw[i + 1])], HEX[usize::from(raw[i + 2])]);
            if (h | l) & 0xf0 == 0 {
                out[j] = h << 4 | l;
                j += 1;
                i += 3;
                continue;
            }
        }
        out[j] = if plus && b == b'+' { b' ' } else { b };
        j += 1;
        i += 1;
    }
    out.truncate(j);
    out
}

/// Latin-1 text of raw bytes: how Tornado names urlencoded arguments.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `name=value&...` into raw pairs: split on `&`, skip empty fields, a field without
/// `=` has an empty value, `+` is a space, `%XX` decoded.
fn urlencoded_raw(bytes: &[u8], out: &mut Vec<(String, Vec<u8>)>) -> Result<(), HttpError> {
    if bytes.is_empty() {
        return Ok(());
    }
    // Fields are counted as they are split (all of them, empty ones included).
    let mut fields = 0;
    let mut rest = bytes;
    loop {
        fields += 1;
        if fields > MAX_URLENCODED_FIELDS {
            return Err(bad("too many form fields"));
        }
        let (field, next) = match find_byte(rest, b'&') {
            Some(amp) => (&rest[..amp], Some(&rest[amp + 1..])),
            None => (rest, None),
        };
        if !field.is_empty() {
            let (name, value) = match find_byte(field, b'=') {
                Some(eq) => (&field[..eq], &field[eq + 1..]),
                None => (field, &b""[..]),
            };
            let name = unquote(name, true);
            // ASCII reads the same in Latin-1: no second copy for the usual names.
            let name = if name.is_ascii() {
                String::from_utf8(name).unwrap_or_default()
            } else {
                latin1(&name)
            };
            out.push((name, unquote(value, true)));
        }
        match next {
            Some(n) => rest = n,
            None => return Ok(()),
        }
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, HttpError> {
    String::from_utf8(bytes).map_err(|_| bad("invalid UTF-8 in argument"))
}

/// Decode an `application/x-www-form-urlencoded` body or query string into
/// (name, value) pairs in order. `+` is a space, `%XX` is decoded, blank values are kept;
/// invalid UTF-8 in a name or value, or more than 1000 fields, gives 400.
pub fn parse_urlencoded(bytes: &[u8]) -> Result<Vec<(String, String)>, HttpError> {
    let mut raw = Vec::new();
    urlencoded_raw(bytes, &mut raw)?;
    raw.into_iter()
        .map(|(n, v)| {
            // `n` is the Latin-1 reading of the bytes; read them again as UTF-8.
            let name_bytes: Vec<u8> = n.chars().map(|c| c as u32 as u8).collect();
            Ok((utf8(name_bytes)?, utf8(v)?))
        })
        .collect()
}

/// Percent-decode a path capture as Tornado does: `+` stays `+`, invalid UTF-8 -> 400.
/// Borrowed when there is nothing to decode (the usual `/api/add_task`).
pub fn percent_decode_path(raw: &str) -> Result<std::borrow::Cow<'_, str>, HttpError> {
    if find_byte(raw.as_bytes(), b'%').is_none() {
        return Ok(raw.into());
    }
    String::from_utf8(unquote(raw.as_bytes(), false))
        .map(Into::into)
        .map_err(|_| bad("invalid UTF-8 in the request path"))
}

/// Split a parameter list (`a; b="x;y"; c`) on the semicolons outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// `form-data; name="x"` -> ("form-data", [("name", "x")]); parameter names lower-cased,
/// quoted values unquoted with `\\` and `\"` escapes.
fn parse_disposition(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_params(value).into_iter();
    let key = parts.next().unwrap_or("").to_string();
    let params = parts
        .filter_map(|p| {
            let (n, v) = p.split_once('=')?;
            let v = v.trim();
            let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => {
                    let mut s = String::with_capacity(inner.len());
                    let mut chars = inner.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            match chars.next() {
                                Some(e @ ('\\' | '"')) => s.push(e),
                                Some(other) => {
                                    s.push('\\');
                                    s.push(other);
                                }
                                None => s.push('\\'),
                            }
                        } else {
                            s.push(c);
                        }
                    }
                    s
                }
                None => v.to_string(),
            };
            Some((n.trim().to_ascii_lowercase(), v))
        })
        .collect();
    (key, params)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The Content-Disposition of a part's header block (UTF-8, lines split at LF).
fn part_disposition(head: &[u8]) -> Result<String, HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| bad("invalid UTF-8 in a multipart header"))?;
    let mut disposition: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded multipart header"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("no colon in a multipart header line"))?;
        if name.is_empty() || !name.chars().all(is_tchar) {
            return Err(bad("invalid multipart header name"));
        }
        if value
            .chars()
            .any(|c| (c <= '\x1f' && c != '\t') || c == '\x7f')
        {
            return Err(bad("invalid multipart header value"));
        }
        if name.eq_ignore_ascii_case("content-disposition") {
            let value = value.trim_matches([' ', '\t']);
            // Repeated headers are joined with commas, as Tornado's HTTPHeaders does.
            disposition = Some(match disposition {
                Some(prev) => format!("{prev},{value}"),
                None => value.to_string(),
            });
        }
    }
    Ok(disposition.unwrap_or_default())
}

/// Fields (not files) of a multipart/form-data body, raw values, in order.
fn multipart_raw(
    content_type: &str,
    body: &[u8],
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), HttpError> {
    let mut fields = content_type.split(';');
    if fields.next().map(str::trim) != Some("multipart/form-data") {
        return Err(bad("invalid multipart content type"));
    }
    let boundary = fields
        .filter_map(|f| f.trim().split_once('='))
        .find(|(k, v)| *k == "boundary" && !v.is_empty())
        .map(|(_, v)| v)
        .ok_or_else(|| bad("multipart boundary not found"))?;
    let boundary = match boundary.strip_prefix('"').and_then(|b| b.strip_suffix('"')) {
        Some(b) => b,
        None => boundary,
    };
    let delim = format!("--{boundary}");
    let closing = format!("{delim}--");
    let end = rfind(body, closing.as_bytes()).ok_or_else(|| bad("no final multipart boundary"))?;
    let separator = format!("{delim}\r\n");
    let sep = separator.as_bytes();
    let mut rest = &body[..end];
    let mut parts = Vec::new();
    loop {
        if parts.len() > MAX_MULTIPART_PARTS {
            return Err(bad("too many multipart parts"));
        }
        match find(rest, sep) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + sep.len()..];
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    if parts.len() > MAX_MULTIPART_PARTS {
        return Err(bad("too many multipart parts"));
    }
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let eoh = find(part, b"\r\n\r\n").ok_or_else(|| bad("multipart part without headers"))?;
        if eoh > MAX_PART_HEADER_BYTES {
            return Err(bad("multipart part header too large"));
        }
        let (kind, params) = parse_disposition(&part_disposition(&part[..eoh])?);
        if kind != "form-data" || !part.ends_with(b"\r\n") || part.len() < eoh + 4 + 2 {
            return Err(bad("invalid multipart part"));
        }
        let param = |key: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let name = param("name").ok_or_else(|| bad("multipart part without a name"))?;
        if param("filename").is_none() {
            out.push((name.to_string(), part[eoh + 4..part.len() - 2].to_vec()));
        }
    }
    Ok(())
}

/// The (non-file) fields of a multipart/form-data body, values decoded as UTF-8.
/// Malformed bodies give 400, as in Tornado 6.
pub fn parse_multipart(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, HttpError> {
    let mut raw = Vec::new();
    multipart_raw(content_type, body, &mut raw)?;
    raw.into_iter().map(|(n, v)| Ok((n, utf8(v)?))).collect()
}

/// All arguments of a request, as Tornado collects them before running a handler:
/// query arguments first, then those of an urlencoded or multipart body.
#[derive(Debug, Clone, Default)]
pub struct Arguments {
    pairs: Vec<(String, Vec<u8>)>,
}

impl Arguments {
    /// Collect the arguments. Errors (400) where Tornado refuses the request: over 1000
    /// query or form fields, a malformed multipart body, a form body with a
    /// Content-Encoding. Other body types (JSON...) contribute nothing.
    pub fn parse(req: &Request) -> Result<Arguments, HttpError> {
        let mut pairs = Vec::new();
        urlencoded_raw(req.query.as_bytes(), &mut pairs)?;
        // Tornado reads the headers as Latin-1 and joins repeated ones with commas.
        let mut types = req.headers.iter().filter(|(n, _)| n == "content-type");
        let content_type: std::borrow::Cow<str> = match (types.next(), types.next()) {
            (None, _) => "".into(),
            // The usual case, without copies: one ASCII value reads the same in Latin-1.
            (Some((_, v)), None) if v.is_ascii() => {
                std::str::from_utf8(v).map_or_else(|_| latin1(v).into(), Into::into)
            }
            _ => req
                .headers
                .iter()
                .filter(|(n, _)| n == "content-type")
                .map(|(_, v)| latin1(v))
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        };
        let encoded = req.header("content-encoding").is_some();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            if encoded {
                return Err(bad("unsupported Content-Encoding on a form body"));
            }
            urlencoded_raw(&req.body, &mut pairs)?;
        } else if content_type.starts_with("multipart/form-data") {
            if encoded {
                return Err(bad("unsupported Content-Encoding on a form body"));
            }
            multipart_raw(&content_type, &req.body, &mut pairs)?;
        }
        Ok(Arguments { pairs })
    }

    /// Every value of `name`, in order, cleaned as Tornado's `get_arguments`: UTF-8
    /// (400 otherwise), U+0000-U+0008 and U+000E-U+001F replaced by spaces, then
    /// stripped like Python's `str.strip()`.
    pub fn get_all(&self, name: &str) -> Result<Vec<String>, HttpError> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| clean(v))
            .collect()
    }

    /// The last value of `name` (`None` when absent), as Tornado's `get_argument`.
    pub fn get(&self, name: &str) -> Result<Option<String>, HttpError> {
        Ok(self.get_all(name)?.pop())
    }

    /// [`Arguments::get`], consuming the arguments so the value is not copied.
    pub fn take(self, name: &str) -> Result<Option<String>, HttpError> {
        let mut last = None;
        for (n, v) in self.pairs {
            if n == name {
                // Every value is checked, as Tornado decodes them all.
                last = Some(clean_owned(v)?);
            }
        }
        Ok(last)
    }
}

fn clean(raw: &[u8]) -> Result<String, HttpError> {
    clean_owned(raw.to_vec())
}

/// Python's str.isspace() set is Unicode White_Space plus U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn clean_owned(raw: Vec<u8>) -> Result<String, HttpError> {
    let s = String::from_utf8(raw).map_err(|_| bad("invalid UTF-8 in argument"))?;
    // Those control characters are single bytes in UTF-8, so a byte scan finds them;
    // usually there are none and the per-character copy is skipped.
    // (A fold rather than `any`: it runs over whole words at a time.)
    let s = if s
        .bytes()
        .fold(false, |seen, b| seen | is_replaced_control(b))
    {
        s.chars()
            .map(|c| match c {
                '\u{0}'..='\u{8}' | '\u{e}'..='\u{1f}' => ' ',
                c => c,
            })
            .collect()
    } else {
        s
    };
    let trimmed = s.trim_matches(py_space);
    if trimmed.len() == s.len() {
        return Ok(s);
    }
    Ok(trimmed.to_string())
}

/// U+0000-U+0008 and U+000E-U+001F, which Tornado's argument clean-up turns into spaces.
pub fn is_replaced_control(b: u8) -> bool {
    matches!(b, 0..=8 | 0x0e..=0x1f)
}

/// Tornado's `get_argument(name)`: the last of the query and form-body values, cleaned
/// (see [`Arguments::get_all`]); `None` when absent (the caller applies its default).
pub fn get_argument(req: &Request, name: &str) -> Result<Option<String>, HttpError> {
    if let Some(value) = lone_form_field(req, name) {
        return clean_owned(unquote(value, true)).map(Some);
    }
    Arguments::parse(req)?.take(name)
}

/// The raw value when the request's only argument is a form body that is exactly
/// `name=value` (no query string, one form Content-Type, no Content-Encoding): what
/// Luigi's client sends on every call, read without building the argument list.
/// Anything else (`None`) takes the general path, which gives the same answer.
fn lone_form_field<'a>(req: &'a Request, name: &str) -> Option<&'a [u8]> {
    if !req.query.is_empty() || req.header("content-encoding").is_some() {
        return None;
    }
    let mut types = req.headers.iter().filter(|(n, _)| n == "content-type");
    let (_, content_type) = types.next()?;
    if types.next().is_some() || !content_type.starts_with(b"application/x-www-form-urlencoded") {
        return None;
    }
    let value = req.body.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
    find_byte(value, b'&').is_none().then_some(value)
}

/// Tornado's `get_arguments(name)`: every value, query ones first.
pub fn get_arguments(req: &Request, name: &str) -> Result<Vec<String>, HttpError> {
    Arguments::parse(req)?.get_all(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, content_type: Option<&str>, body: &[u8]) -> Request {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("content-type".into(), ct.as_bytes().to_vec()));
        }
        Request {
            method: "POST".into(),
            path: "/api/x".into(),
            query: query.into(),
            minor_version: 1,
            headers,
            body: body.to_vec(),
        }
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    /// `get_argument("data")`, with errors reduced to their status.
    fn data(query: &str, ct: Option<&str>, body: &[u8]) -> Result<Option<String>, u16> {
        get_argument(&request(query, ct, body), "data").map_err(|e| e.status)
    }

    fn some(s: &str) -> Result<Option<String>, u16> {
        Ok(Some(s.to_string()))
    }

    /// Python's `unquote_to_bytes` (after `+` -> space for forms), spelled plainly.
    fn unquote_reference(raw: &[u8], plus: bool) -> Vec<u8> {
        let hex = |b: u8| (b as char).to_digit(16);
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match (
                raw[i],
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (b'%', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                (b'+', _, _) if plus => out.push(b' '),
                (b, _, _) => out.push(b),
            }
            i += 1;
        }
        out
    }

    #[test]
    fn the_lone_field_shortcut_answers_as_the_general_path() {
        let bodies: [&[u8]; 10] = [
            b"data=%7B%22a%22%3A+1%7D",
            b"data=",
            b"data",
            b"data=x&data=y",
            b"data=%00%20x%0A",
            b"dat%61=v",
            b"datax=v",
            b"data=\xff",
            b"data=a%2",
            b"",
        ];
        for body in bodies {
            for (query, ct) in [
                ("", Some(FORM)),
                ("", Some("application/x-www-form-urlencoded; charset=UTF-8")),
                ("data=q", Some(FORM)),
                ("", Some("text/plain")),
                ("", None),
            ] {
                let req = request(query, ct, body);
                let general = Arguments::parse(&req).and_then(|a| a.take("data"));
                let got = get_argument(&req, "data");
                assert_eq!(
                    got.as_ref().map_err(|e| e.status),
                    general.as_ref().map_err(|e| e.status),
                    "{query:?} {ct:?} {body:?}"
                );
            }
        }
        let mut req = request("", Some(FORM), b"data=x");
        req.headers
            .push(("content-encoding".into(), b"gzip".to_vec()));
        assert_eq!(get_argument(&req, "data").map_err(|e| e.status), Err(400));
    }

    #[test]
    fn find_byte_finds_the_first() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'a'; len];
                hay[at] = b'&';
                if at + 3 < len {
                    hay[at + 3] = b'&';
                }
                // Bytes that differ from '&' (0x26) by one bit or borrow do not match.
                if at > 0 {
                    hay[at - 1] = 0x27;
                }
                assert_eq!(find_byte(&hay, b'&'), Some(at), "{hay:?}");
                assert_eq!(find_byte(&hay[..at], b'&'), None);
            }
        }
        assert_eq!(find_byte(&[0xa6, 0x25, 0x06, b'&'], b'&'), Some(3));
    }

    #[test]
    fn unquote_matches_the_plain_definition() {
        let alphabet = [b'%', b'+', b'a', b'F', b'0', b'g', 0xff, b'%'];
        // Every string of up to 5 bytes over that alphabet (escapes at every place,
        // incomplete ones at the end).
        for len in 0..=5u32 {
            for code in 0..alphabet.len().pow(len) {
                let mut c = code;
                let raw: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[c % alphabet.len()];
                        c /= alphabet.len();
                        b
                    })
                    .collect();
                for plus in [false, true] {
                    assert_eq!(
                        unquote(&raw, plus),
                        unquote_reference(&raw, plus),
                        "{raw:?}"
                    );
                }
            }
        }
    }

    // Expected values below were produced by Tornado 6.6.1's get_argument.

    #[test]
    fn query_and_body_order_last_wins() {
        assert_eq!(data("data=%7B%7D", None, b""), some("{}"));
        assert_eq!(data("data=1", Some(FORM), b"data=2"), some("2"));
        assert_eq!(data("data=1&data=3", None, b""), some("3"));
        assert_eq!(
            get_arguments(&request("data=1", Some(FORM), b"data=2"), "data").unwrap(),
            ["1", "2"]
        );
        assert_eq!(data("", None, b""), Ok(None));
    }

    #[test]
    fn luigi_client_post_body() {
        // What RemoteScheduler sends: form-encoded JSON, spaces as '+'.
        let body = b"data=%7B%22worker%22%3A+%22w1%22%2C+%22host%22%3A+null%7D";
        assert_eq!(
            data("", Some(FORM), body),
            some("{\"worker\": \"w1\", \"host\": null}")
        );
        assert_eq!(
            data(
                "",
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                b"data=y"
            ),
            some("y")
        );
    }

    #[test]
    fn json_and_unknown_bodies_are_ignored() {
        assert_eq!(
            data("data=1", Some("application/json"), b"{\"data\": 2}"),
            some("1")
        );
        assert_eq!(
            data("", Some("Application/x-www-form-urlencoded"), b"data=x"),
            Ok(None)
        );
        assert_eq!(data("", None, b"data=x"), Ok(None));
    }

    #[test]
    fn control_chars_and_unicode_strip() {
        assert_eq!(
            data("", Some(FORM), b"data=+%20a%00b%1Fc%09+\xc2\xa0"),
            some("a b c")
        );
        assert_eq!(
            data("", Some(FORM), b"data=%E3%80%80x%E3%80%80%1C"),
            some("x")
        );
        // Tab, LF, VT, FF, CR inside are kept.
        assert_eq!(
            data("data=a%09%0A%0B%0C%0Db", None, b""),
            some("a\t\n\x0b\x0c\rb")
        );
    }

    #[test]
    fn blank_and_odd_fields() {
        assert_eq!(data("data", None, b""), some(""));
        assert_eq!(data("data=", None, b""), some(""));
        assert_eq!(data("&&data=a&&", None, b""), some("a"));
        assert_eq!(data("d%61ta=x", None, b""), some("x"));
        assert_eq!(data("data=%zz%4", None, b""), some("%zz%4"));
        assert_eq!(data("data=a=b", None, b""), some("a=b"));
    }

    #[test]
    fn invalid_utf8_only_matters_for_the_asked_name() {
        assert_eq!(data("data=%FF", Some(FORM), b"data=ok"), Err(400));
        assert_eq!(data("other=%FF&data=ok", None, b""), some("ok"));
    }

    #[test]
    fn tornado_refusals_are_400() {
        let many = vec!["a=1"; 1001].join("&");
        assert_eq!(data(&many, None, b""), Err(400));
        let enough = vec!["a=1"; 1000].join("&");
        assert_eq!(data(&enough, None, b""), Ok(None));
        // Empty fields count too.
        assert_eq!(data(&"&".repeat(1000), None, b""), Err(400));
        assert_eq!(data(&"&".repeat(999), None, b""), Ok(None));
        assert_eq!(
            data(&format!("{}data=1", "&".repeat(999)), None, b""),
            some("1")
        );
        let mut req = request("", Some(FORM), b"data=1");
        req.headers
            .push(("content-encoding".into(), b"gzip".to_vec()));
        assert_eq!(get_argument(&req, "data").map_err(|e| e.status), Err(400));
    }

    #[test]
    fn multipart_fields() {
        let ct = "multipart/form-data; boundary=XyZ";
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"a\": 1}\r\n--XyZ--\r\n";
        assert_eq!(data("", Some(ct), body), some("{\"a\": 1}"));
        // Files are not arguments; quoted boundary; header names case-insensitive.
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n\r\nfile\r\n--XyZ\r\ncontent-disposition: form-data; name=data\r\nContent-Type: text/plain\r\n\r\nfield\r\n--XyZ--";
        assert_eq!(
            data("", Some("multipart/form-data; boundary=\"XyZ\""), body),
            some("field")
        );
        let body = b"--B\r\nContent-Disposition: form-data; name=\"d\\\"x\"\r\n\r\nv\r\n--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nv2\r\n--B--";
        assert_eq!(
            data("", Some("multipart/form-data; boundary=B"), body),
            some("v2")
        );
        let parsed = parse_multipart("multipart/form-data; boundary=B", body).unwrap();
        assert_eq!(parsed[0].0, "d\"x");
        let body = b"--B\r\nContent-Disposition: form-data; name=\"x;y\"\r\n\r\nv\r\n--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n\x01 v3 \r\n--B--";
        assert_eq!(
            data("", Some("multipart/form-data; boundary=B"), body),
            some("v3")
        );
        assert_eq!(
            parse_multipart("multipart/form-data; boundary=B", body).unwrap()[0],
            ("x;y".to_string(), "v".to_string())
        );
    }

    #[test]
    fn malformed_multipart_is_400() {
        let ct = "multipart/form-data; boundary=XyZ";
        for (ct, body) in [
            (ct, &b"--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nv\r\n"[..]),
            (ct, b"--XyZ\r\nContent-Disposition: attachment; name=\"data\"\r\n\r\nv\r\n--XyZ--"),
            (ct, b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--"),
            (ct, b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--"),
            (ct, b"--XyZ\r\nNo colon\r\n\r\nv\r\n--XyZ--"),
            (ct, b"--XyZ\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--XyZ--"),
            ("multipart/form-data", b"--XyZ--"),
            ("multipart/form-dataxyz; boundary=XyZ", b"--XyZ--"),
        ] {
            assert_eq!(data("", Some(ct), body), Err(400), "{:?}", String::from_utf8_lossy(body));
        }
        // Tornado counts the empty piece before the first boundary: 99 parts pass, 100 fail.
        let part = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n";
        let ok = [part.repeat(99), b"--B--".to_vec()].concat();
        assert_eq!(
            data("", Some("multipart/form-data; boundary=B"), &ok),
            Ok(None)
        );
        let mut many = Vec::new();
        for _ in 0..100 {
            many.extend_from_slice(
                b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n",
            );
        }
        many.extend_from_slice(b"--B--");
        assert_eq!(
            data("", Some("multipart/form-data; boundary=B"), &many),
            Err(400)
        );
    }

    #[test]
    fn parse_urlencoded_strict_utf8() {
        assert_eq!(
            parse_urlencoded(b"a=1+2&b=%C3%A9&c&=x&&d=").unwrap(),
            [
                ("a", "1 2"),
                ("b", "\u{e9}"),
                ("c", ""),
                ("", "x"),
                ("d", "")
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert_eq!(parse_urlencoded(b"a=%FF").map_err(|e| e.status), Err(400));
        assert_eq!(parse_urlencoded(b"%FF=a").map_err(|e| e.status), Err(400));
        assert!(parse_urlencoded(b"").unwrap().is_empty());
    }

    #[test]
    fn path_decoding() {
        assert_eq!(percent_decode_path("p%69ng").unwrap(), "ping");
        assert_eq!(percent_decode_path("a+b%2Fc").unwrap(), "a+b/c");
        assert_eq!(percent_decode_path("%C3%A9%").unwrap(), "\u{e9}%");
        assert_eq!(percent_decode_path("%ff").map_err(|e| e.status), Err(400));
        assert_eq!(
            percent_decode_path("%ED%A0%80").map_err(|e| e.status),
            Err(400)
        );
    }
}
