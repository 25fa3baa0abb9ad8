//! The reader: Python's `json.loads` dialect into `serde_json::Value`s, and a call's
//! top-level members into a reused list.

use super::raw::{client_string, raw_number, starts_with_mark};
use super::write::{write_plain_str, write_py_json};
use super::{ErrorKind, JsonError};
use serde_json::{Map, Number, Value};

/// The members of a top-level object in order, names borrowed from the text where they
/// have no escape. A repeated name stays repeated; its last value counts, at its first
/// position, as in the Python dict luigid builds.
pub type Members<'a> = Vec<(std::borrow::Cow<'a, str>, Value)>;

/// Python's json nesting limit is its recursion limit (about 1000); past it Python fails
/// the request, and so do we, instead of overflowing the stack.
const MAX_DEPTH: usize = 1000;

/// Where each top-level member is in the text: its name's opening quote, its value, and
/// the value's end (byte offsets), in the order of [`Members`].
pub type Spans = Vec<[usize; 3]>;

/// Parse a `data` argument the way Python's `json.loads` does. Errors carry a message for
/// a 400 reply.
pub fn parse_py_json(text: &str) -> Result<Value, JsonError> {
    with_parser(text, &[], &mut [], None, |p| p.document())
}

/// Run `f` on a parser over `text` that borrows the thread's scratch space, and keep the
/// scratch space for the next request (unless an odd one made it huge).
fn with_parser<'a, 'b, R>(
    text: &'a str,
    object_names: &'b [&'b str],
    object_texts: &'b mut [Option<String>],
    spans: Option<&'b mut Spans>,
    f: impl FnOnce(&mut Parser<'a, 'b>) -> R,
) -> R {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
        entries: ENTRIES.take(),
        object_names,
        object_texts,
        spans,
    };
    let result = f(&mut p);
    let mut entries = p.entries;
    entries.clear();
    if entries.capacity() <= 4096 {
        ENTRIES.set(entries);
    }
    result
}

/// [`parse_py_json`] for a call's `data`: a top-level object comes back as its
/// [`Members`], which spares hashing every name; `Ok(None)` for valid JSON
/// that is not an object. Errors are [`parse_py_json`]'s.
pub fn parse_members(text: &str) -> Result<Option<Members<'_>>, JsonError> {
    with_parser(text, &[], &mut [], None, |p| p.document_args())
}

/// [`parse_members`], with the top-level members named in `object_names` read as text
/// when they are objects of plain members (see [`Parser::object_text`]): each comes back,
/// at its name's index, as the text [`write_py_json`] writes for it, with an empty object
/// in its place in the list. A caller that keeps such objects as text (add_task's
/// `params`) spares building a map only to write it again, which cost more than the rest
/// of the parsing. Anything else is parsed as [`parse_members`] does.
///
/// Also gives each member's [`Spans`], so that a caller can copy the text without some
/// members.
#[allow(clippy::type_complexity)]
pub fn parse_members_with_texts<'a, const N: usize>(
    text: &'a str,
    object_names: &[&str; N],
) -> Result<Option<(Members<'a>, [Option<String>; N], Spans)>, JsonError> {
    let mut texts: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut spans = Vec::with_capacity(24);
    let members = with_parser(text, object_names, &mut texts, Some(&mut spans), |p| {
        p.document_args()
    })?;
    Ok(members.map(|m| (m, texts, spans)))
}

/// The index of the first byte from `start` on that ends a string's plain text: `"`,
/// `\\` or a control character (`s.len()` if none). Eight bytes at a time: names and
/// values are mostly longer than a word, and this runs for every one of them.
pub(super) fn plain_run_end(s: &[u8], start: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = start;
    while let Some(chunk) = s.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        // Flags quotes, backslashes and bytes below 0x20. A flag above the lowest may be
        // false (a borrow), but the lowest is always right, and only it is used.
        let m = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = s.get(i..).unwrap_or_default();
    i + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

/// Give back a call's member list once its values have been taken or used, so that
/// the next [`parse_members`] reuses its buffer: a new one of add_task's size is
/// too large for the allocator's fast path and cost more than the parsing around it.
pub fn recycle_members(mut args: Members<'_>) {
    args.clear();
    // An empty list of the same layout under the longer lifetime; collecting an emptied
    // vector's iterator keeps its buffer (std collects in place when layouts match).
    let empty: Vec<(std::borrow::Cow<'static, str>, Value)> = args
        .into_iter()
        .map(|(k, v)| (std::borrow::Cow::Owned(k.into_owned()), v))
        .collect();
    if empty.capacity() <= 256 {
        ARGS.set(empty);
    }
}

thread_local! {
    /// The buffer of the last argument list, between calls (see [`recycle_members`]).
    static ARGS: std::cell::Cell<Vec<(std::borrow::Cow<'static, str>, Value)>> =
        const { std::cell::Cell::new(Vec::new()) };
    /// [`Parser::entries`] between parses: growing it anew cost a few reallocations
    /// per request.
    static ENTRIES: std::cell::Cell<Vec<(String, Value)>> = const { std::cell::Cell::new(Vec::new()) };
}

struct Parser<'a, 'b> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Members of the objects being parsed, innermost last: an object's map is built
    /// once its size is known, so it never rehashes while growing.
    entries: Vec<(String, Value)>,
    /// The top-level members to read as text ([`parse_members_with_texts`]), and where
    /// their texts go, at the same index.
    object_names: &'b [&'b str],
    object_texts: &'b mut [Option<String>],
    /// Where each top-level member is in the text, when wanted.
    spans: Option<&'b mut Spans>,
}

impl<'a> Parser<'a, '_> {
    fn document(&mut self) -> Result<Value, JsonError> {
        self.skip_ws();
        let v = self.value()?;
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err(self.err(ErrorKind::ExtraData));
        }
        Ok(v)
    }

    fn document_args(&mut self) -> Result<Option<Members<'a>>, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return self.document().map(|_| None);
        }
        // The members of the top-level object, as `object_members` reads them, with the
        // names borrowed from the text where they have no escape (a copy each otherwise).
        self.depth += 1;
        self.pos += 1; // '{'
        self.skip_ws();
        // An empty list whose buffer a previous call left (see [`recycle_members`]).
        let mut members: Members<'a> = ARGS.take();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            members.reserve(24);
            loop {
                self.member_name_start()?;
                let start = self.pos;
                let key = self.key()?;
                self.member_colon()?;
                let value_start = self.pos;
                let v = match self.object_text_slot(&key) {
                    Some(i) => self.object_or_text(i)?,
                    None => self.value()?,
                };
                if let Some(spans) = self.spans.as_mut() {
                    spans.push([start, value_start, self.pos]);
                }
                members.push((key, v));
                if !self.member_end()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err(self.err(ErrorKind::ExtraData));
        }
        Ok(Some(members))
    }

    /// A string, borrowed from the text when it has no escape (nor a leading mark).
    fn key(&mut self) -> Result<std::borrow::Cow<'a, str>, JsonError> {
        let start = self.pos + 1;
        let end = plain_run_end(self.s, start);
        if self.s.get(end) == Some(&b'"') && !starts_with_mark(&self.s[start..end]) {
            self.pos = end + 1;
            // The run ends at an ASCII byte, so it is a whole UTF-8 slice.
            return Ok(std::borrow::Cow::Borrowed(&self.text[start..end]));
        }
        self.string().map(std::borrow::Cow::Owned)
    }

    /// Which of the object names to read as text `key` is.
    fn object_text_slot(&self, key: &str) -> Option<usize> {
        self.object_names.iter().position(|&n| n == key)
    }

    /// The value of object argument `i`: as text when [`Parser::object_text`] can read
    /// it (an empty object stands in the list), else parsed. Each occurrence of the name
    /// sets or clears the text, so a repeated name's last value counts here as well.
    fn object_or_text(&mut self, i: usize) -> Result<Value, JsonError> {
        let start = self.pos;
        let text = if self.peek() == Some(b'{') {
            self.object_text()
        } else {
            None
        };
        let found = text.is_some();
        if let Some(slot) = self.object_texts.get_mut(i) {
            *slot = text;
        }
        if found {
            return Ok(Value::Object(Map::new()));
        }
        self.pos = start;
        self.value()
    }

    /// An object of plain members written as [`write_py_json`] writes its map: at most
    /// eight members, no name repeated or escaped, each value a string, `true`, `false`,
    /// `null` or an integer of at most 15 digits (the same text either way). `None`
    /// for anything else (`{}` included), leaving the position anywhere: the caller
    /// parses again, and reports any error, the usual way.
    fn object_text(&mut self) -> Option<String> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.pos += 1; // '{'
        self.skip_ws();
        let mut names: [&str; 8] = [""; 8];
        let mut n = 0;
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        loop {
            if self.peek() != Some(b'"') || n == names.len() {
                return None;
            }
            let std::borrow::Cow::Borrowed(name) = self.key().ok()? else {
                return None;
            };
            if names[..n].contains(&name) {
                return None;
            }
            names[n] = name;
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            n += 1;
            write_plain_str(name, &mut out);
            out.extend_from_slice(b": ");
            self.member_colon().ok()?;
            match self.peek()? {
                b'"' => match self.key().ok()? {
                    std::borrow::Cow::Borrowed(v) => write_plain_str(v, &mut out),
                    std::borrow::Cow::Owned(v) => write_py_json(&v, &mut out),
                },
                b'n' if self.starts_with(b"null") => {
                    self.pos += 4;
                    out.extend_from_slice(b"null");
                }
                b't' if self.starts_with(b"true") => {
                    self.pos += 4;
                    out.extend_from_slice(b"true");
                }
                b'f' if self.starts_with(b"false") => {
                    self.pos += 5;
                    out.extend_from_slice(b"false");
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.pos;
                    if self.peek() == Some(b'-') {
                        self.pos += 1;
                    }
                    let first = self.pos;
                    while let Some(b'0'..=b'9') = self.peek() {
                        self.pos += 1;
                    }
                    let digits = &self.s[first..self.pos];
                    // `-0`, leading zeros, fractions and exponents go the usual way.
                    let plain = match digits {
                        [b'0'] => first == start,
                        [b'1'..=b'9', ..] => digits.len() <= 15,
                        _ => false,
                    };
                    if !plain || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                        return None;
                    }
                    out.extend_from_slice(&self.s[start..self.pos]);
                }
                _ => return None,
            }
            if !self.member_end().ok()? {
                break;
            }
        }
        out.push(b'}');
        String::from_utf8(out).ok()
    }

    fn err(&self, kind: ErrorKind) -> JsonError {
        JsonError {
            kind,
            pos: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Python's JSON whitespace is exactly these four bytes.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn starts_with(&self, lit: &[u8]) -> bool {
        self.s[self.pos..].starts_with(lit)
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'n') if self.starts_with(b"null") => {
                self.pos += 4;
                Ok(Value::Null)
            }
            Some(b't') if self.starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Bool(false))
            }
            Some(b'N') if self.starts_with(b"NaN") => {
                self.pos += 3;
                Ok(raw_number("NaN"))
            }
            Some(b'I') if self.starts_with(b"Infinity") => {
                self.pos += 8;
                Ok(raw_number("Infinity"))
            }
            Some(b'-') if self.starts_with(b"-Infinity") => {
                self.pos += 9;
                Ok(raw_number("-Infinity"))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err(ErrorKind::ExpectingValue)),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Value, JsonError>) -> Result<Value, JsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(ErrorKind::TooDeep));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        let base = self.entries.len();
        if !self.object_members()? {
            return Ok(Value::Object(Map::new()));
        }
        let mut map = Map::with_capacity(self.entries.len() - base);
        for (key, v) in self.entries.drain(base..) {
            // Like a Python dict: the last duplicate wins, at the first one's position.
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }

    /// An object's members, pushed onto `entries` in order (duplicates kept); false for
    /// `{}`, which pushes nothing.
    fn object_members(&mut self) -> Result<bool, JsonError> {
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(false);
        }
        loop {
            self.member_name_start()?;
            let key = self.string()?;
            self.member_colon()?;
            let v = self.value()?;
            self.entries.push((key, v));
            if !self.member_end()? {
                return Ok(true);
            }
        }
    }

    // The punctuation of an object's members, shared by the value parser and the
    // top-level argument parser (same errors as Python's json).

    fn member_name_start(&self) -> Result<(), JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.err(ErrorKind::ExpectingName));
        }
        Ok(())
    }

    fn member_colon(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.err(ErrorKind::ExpectingColon));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    /// After a member's value: true when another member follows, false at the `}`.
    fn member_end(&mut self) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.err(ErrorKind::ExpectingComma)),
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err(ErrorKind::ExpectingComma)),
            }
        }
    }

    /// Python's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`. A '.' or
    /// 'e' not followed by digits ends the number (and the leftover fails as extra data).
    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => {
                self.pos = start;
                return Err(self.err(ErrorKind::ExpectingValue));
            }
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.s.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            digits(self);
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                self.pos = save;
            } else {
                is_float = true;
            }
        }
        let text = &self.text[start..self.pos];
        if !is_float {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Number(Number::from(i)));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(Number::from(u)));
            }
            // Python keeps big integers exact: carry the digits.
            return Ok(raw_number(text));
        }
        let f: f64 = text.parse().map_err(|_| self.err(ErrorKind::BadNumber))?;
        if f.is_infinite() {
            // Python reads 1e400 as inf.
            return Ok(raw_number(if f > 0.0 { "Infinity" } else { "-Infinity" }));
        }
        Ok(Value::from(f))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.err(ErrorKind::BadUnicodeEscape))?;
        let mut v = 0u32;
        for &b in h {
            v = v * 16 + (b as char).to_digit(16).unwrap_or(0);
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
                       // Most strings have no escape: find the closing quote, copy once.
        let start = self.pos;
        let end = plain_run_end(self.s, start);
        if self.s.get(end) == Some(&b'"') {
            self.pos = end + 1;
            // The run ends at an ASCII byte, so it is a whole UTF-8 slice.
            return Ok(client_string(self.text[start..end].to_owned()));
        }
        let mut out = String::new();
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run ends at an ASCII byte, so it is a whole UTF-8 slice.
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(client_string(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.err(ErrorKind::BadEscape)),
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.err(ErrorKind::ControlCharacter)),
                None => return Err(self.err(ErrorKind::UnterminatedString)),
            }
        }
    }

    /// After `\u`: one code point, joining a surrogate pair when the low half follows.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            // Not a pair: the high half stands alone, the next escape is read on its own.
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }
}
