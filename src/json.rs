//! JSON as Python's `json` module reads and writes it: bare `NaN`/`Infinity` accepted on
//! input, replies written with `", "`/`": "` separators, ASCII-only escapes, Python float
//! repr and Tornado's `</` escaping, so that replies match luigid's byte for byte.
//!
//! Input differences from Python that `serde_json::Value` forces on us:
//! - `NaN`, `Infinity`, `-Infinity` (and numbers too large for an f64, which Python reads
//!   as `inf`) and integers beyond 64 bits cannot live in a `serde_json::Value` number:
//!   they are carried as marked strings ([`RAW_NUMBER`]) that the writer puts back bare,
//!   so luigid's echo of them round-trips, and [`raw_number_value`] gives their value.
//! - Integers beyond the u64/i64 range become floats (Python keeps them exact).
//! - A lone surrogate escape such as `\ud800` becomes U+FFFD (a Rust string cannot hold it).
//! - A string that a client sends starting with U+FDD0 (the raw-number mark) is kept with
//!   a second mark in front, which every writer here drops again: the client gets back
//!   the string it sent, never a bare number. Texts that leave other ways (history rows,
//!   logs) show the extra mark; Python-style text (`scheduler::pyfmt`) drops it with
//!   [`client_str`].
//!
//! Why a parser of our own rather than serde_json's: Python's dialect (bare `NaN`,
//! `Infinity`, big integers kept, the last of repeated names winning at the first one's
//! place) must round-trip as luigid echoes it, and the hot path reads add_task's top-level
//! members into a reused list with borrowed names and its `params` objects straight to
//! the text the scheduler stores (see [`parse_add_task_args`]): 1.2 us for the add_task
//! `data` of `make bench`'s workload against 2.9-3.0 us for serde_json's `Value` and the
//! params text written from it (`cargo bench --bench in_memory -- json`, best of 3 over
//! 100,000 texts, 3 runs). The writer is our own for the same reason: `json.dumps`' separators, ASCII-only escapes, CPython's float repr
//! ([`crate::pyfloat`]) and Tornado's `</` escape, byte for byte.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::{Map, Number, Value};
use std::io::{self, Write};

/// Why a `data` text is not JSON as Python's `json.loads` reads it: what was expected and
/// the character offset where it was not found (Python's own messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    pub kind: ErrorKind,
    /// Byte offset into the text (Python counts characters; the same for ASCII).
    pub pos: usize,
}

/// What the parser expected, with Python's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    ExpectingValue,
    ExtraData,
    ExpectingName,
    ExpectingColon,
    ExpectingComma,
    BadEscape,
    BadUnicodeEscape,
    ControlCharacter,
    UnterminatedString,
    BadNumber,
    /// Nested deeper than Python's recursion limit allows.
    TooDeep,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ExpectingValue => "Expecting value",
            ErrorKind::ExtraData => "Extra data",
            ErrorKind::ExpectingName => "Expecting property name enclosed in double quotes",
            ErrorKind::ExpectingColon => "Expecting ':' delimiter",
            ErrorKind::ExpectingComma => "Expecting ',' delimiter",
            ErrorKind::BadEscape => "Invalid \\escape",
            ErrorKind::BadUnicodeEscape => "Invalid \\uXXXX escape",
            ErrorKind::ControlCharacter => "Invalid control character",
            ErrorKind::UnterminatedString => "Unterminated string",
            ErrorKind::BadNumber => "bad number",
            ErrorKind::TooDeep => "nesting too deep",
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "data is not valid JSON: {} at char {}",
            self.kind.as_str(),
            self.pos
        )
    }
}

impl std::error::Error for JsonError {}

/// The members of a top-level object in order, names borrowed from the text where they
/// have no escape. A repeated name stays repeated; its last value counts, at its first
/// position, as in the Python dict luigid builds.
pub type Members<'a> = Vec<(std::borrow::Cow<'a, str>, Value)>;

/// Python's json nesting limit is its recursion limit (about 1000); past it Python fails
/// the request, and so do we, instead of overflowing the stack.
const MAX_DEPTH: usize = 1000;

/// Parse a `data` argument the way Python's `json.loads` does. Errors carry a message for
/// a 400 reply.
pub fn parse_py_json(text: &str) -> Result<Value, JsonError> {
    with_parser(text, |p| p.document())
}

/// Run `f` on a parser over `text` that borrows the thread's scratch space, and keep the
/// scratch space for the next request (unless an odd one made it huge).
fn with_parser<'a, R>(text: &'a str, f: impl FnOnce(&mut Parser<'a>) -> R) -> R {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
        entries: ENTRIES.take(),
        object_texts: None,
        spans: None,
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
pub fn parse_py_json_args(text: &str) -> Result<Option<Members<'_>>, JsonError> {
    with_parser(text, |p| p.document_args())
}

/// The names of add_task's object arguments that [`parse_add_task_args`] can return as
/// text, in the order of [`ObjectTexts`].
pub const OBJECT_TEXT_ARGS: [&str; 2] = ["params", "param_visibilities"];

/// For each of [`OBJECT_TEXT_ARGS`], its object as [`write_py_json`] writes it, when
/// [`parse_add_task_args`] read it that way.
pub type ObjectTexts = [Option<String>; 2];

/// [`parse_py_json_args`] for `add_task`: a `params` or `param_visibilities` object of
/// plain members (see [`Parser::object_text`]) comes back as the text [`write_py_json`]
/// writes for it, in the [`ObjectTexts`], with an empty object in its place in the list.
/// The scheduler keeps both as text; building a map only to write it again cost more
/// than the rest of their parsing. Anything else is parsed as [`parse_py_json_args`] does.
///
/// Also gives each member's place in `text` (where its name's opening quote, its value
/// and the value's end are), so that the journal can leave members out.
#[allow(clippy::type_complexity)]
pub fn parse_add_task_args(
    text: &str,
) -> Result<Option<(Members<'_>, ObjectTexts, Vec<[usize; 3]>)>, JsonError> {
    with_parser(text, |p| {
        p.object_texts = Some(ObjectTexts::default());
        p.spans = Some(Vec::with_capacity(24));
        let args = p.document_args()?;
        Ok(args.map(|a| {
            (
                a,
                p.object_texts.take().unwrap_or_default(),
                p.spans.take().unwrap_or_default(),
            )
        }))
    })
}

/// The index of the first byte from `start` on that ends a string's plain text: `"`,
/// `\\` or a control character (`s.len()` if none). Eight bytes at a time: names and
/// values are mostly longer than a word, and this runs for every one of them.
fn plain_run_end(s: &[u8], start: usize) -> usize {
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

/// Write `s`, a string token's text without escapes (no `"`, `\\` or control
/// character), as [`write_py_json`] writes it: as it is when it is printable ASCII
/// without `<`, else by the writer itself.
fn write_plain_str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| b >= 0x7f || b == b'<') {
        return write_py_json(s, out);
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Give back a call's argument list once its values have been taken or used, so that
/// the next [`parse_py_json_args`] reuses its buffer: a new one of add_task's size is
/// too large for the allocator's fast path and cost more than the parsing around it.
pub fn recycle_args(mut args: Members<'_>) {
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
    /// The buffer of the last argument list, between calls (see [`recycle_args`]).
    static ARGS: std::cell::Cell<Vec<(std::borrow::Cow<'static, str>, Value)>> =
        const { std::cell::Cell::new(Vec::new()) };
    /// [`Parser::entries`] between parses: growing it anew cost a few reallocations
    /// per request.
    static ENTRIES: std::cell::Cell<Vec<(String, Value)>> = const { std::cell::Cell::new(Vec::new()) };
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Members of the objects being parsed, innermost last: an object's map is built
    /// once its size is known, so it never rehashes while growing.
    entries: Vec<(String, Value)>,
    /// Set by [`parse_add_task_args`]: where the top-level object arguments it reads as
    /// text go.
    object_texts: Option<ObjectTexts>,
    /// Set by [`parse_add_task_args`]: where each top-level member is in the text.
    spans: Option<Vec<[usize; 3]>>,
}

impl<'a> Parser<'a> {
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
        // An empty list whose buffer a previous call left (see [`recycle_args`]).
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

    /// Which of [`OBJECT_TEXT_ARGS`] `key` is, when object texts are wanted.
    fn object_text_slot(&self, key: &str) -> Option<usize> {
        self.object_texts.as_ref()?;
        OBJECT_TEXT_ARGS.iter().position(|&n| n == key)
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
        if let Some(slot) = self.object_texts.as_mut().and_then(|t| t.get_mut(i)) {
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

/// Marks a string `Value` that stands for a number JSON-in-`Value` cannot hold: `NaN`,
/// `Infinity`, `-Infinity` and integers beyond 64 bits. Python keeps these, and luigid
/// echoes them back, so they travel as `"\u{FDD0}<literal>"` (a Unicode noncharacter, never
/// sent by a real client) and are written back bare. [`raw_number_value`] reads them.
pub const RAW_NUMBER: char = '\u{FDD0}';

/// A raw-number `Value` for `literal` (see [`RAW_NUMBER`]).
pub fn raw_number(literal: &str) -> Value {
    let mut s = String::with_capacity(literal.len() + 3);
    s.push(RAW_NUMBER);
    s.push_str(literal);
    Value::String(s)
}

/// The UTF-8 bytes of [`RAW_NUMBER`].
const MARK: &[u8] = "\u{FDD0}".as_bytes();

fn starts_with_mark(b: &[u8]) -> bool {
    b.starts_with(MARK)
}

/// A string a client sent, as it is kept: with a second [`RAW_NUMBER`] in front when it
/// begins with one, so that it cannot pass for a raw number (see the module doc).
fn client_string(s: String) -> String {
    if !starts_with_mark(s.as_bytes()) {
        return s;
    }
    let mut kept = String::with_capacity(s.len() + MARK.len());
    kept.push(RAW_NUMBER);
    kept.push_str(&s);
    kept
}

/// A kept string as the client sent it: the mark added on input (see the module doc)
/// taken off again.
pub fn client_str(s: &str) -> &str {
    match s.strip_prefix(RAW_NUMBER) {
        Some(rest) if rest.starts_with(RAW_NUMBER) => rest,
        _ => s,
    }
}

/// The literal of a raw-number string, if `s` is one.
fn raw_literal(s: &str) -> Option<&str> {
    let lit = s.strip_prefix(RAW_NUMBER)?;
    let ok = matches!(lit, "NaN" | "Infinity" | "-Infinity")
        || (!lit.is_empty()
            && lit
                .strip_prefix('-')
                .unwrap_or(lit)
                .bytes()
                .all(|b| b.is_ascii_digit())
            && lit != "-");
    ok.then_some(lit)
}

/// The float value of a raw-number `Value` (`NaN`, `inf`, a big integer), else `None`.
pub fn raw_number_value(v: &Value) -> Option<f64> {
    let lit = raw_literal(v.as_str()?)?;
    match lit {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        digits => digits.parse::<f64>().ok(),
    }
}

/// Write a reply body the way luigid does (`json.dumps` defaults, then `</` -> `<\/`).
pub fn to_py_json(value: &Value, out: &mut Vec<u8>) {
    // The same bytes as `write_py_json` (tested against it), written directly: one pass
    // per string instead of serde's escape scan plus the formatter's.
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_int(out, u, false);
            } else if let Some(i) = n.as_i64() {
                write_int(out, i.unsigned_abs(), i < 0);
            } else if let Some(f) = n.as_f64() {
                // Writing into a Vec cannot fail.
                let _ = crate::pyfloat::write_json(out, f);
            }
        }
        Value::String(s) => match raw_literal(s) {
            Some(lit) => out.extend_from_slice(lit.as_bytes()),
            None => write_py_str(s, out),
        },
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                to_py_json(v, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_py_str(k, out);
                out.extend_from_slice(b": ");
                to_py_json(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_int(out: &mut Vec<u8>, mut v: u64, negative: bool) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Bytes a string cannot copy as they are: controls, `"`, `\`, `<` (for `</`), and
/// everything from DEL on (ensure_ascii).
const STR_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20
            || i >= 0x7f
            || i == b'"' as usize
            || i == b'\\' as usize
            || i == b'<' as usize;
        i += 1;
    }
    t
};

/// A JSON string as Python's `json.dumps` writes it, with `</` as `<\/`.
fn write_py_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let s = client_str(s);
    let b = s.as_bytes();
    out.push(b'"');
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let c = b[i];
        if !STR_SPECIAL[usize::from(c)] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        let mut next = i + 1;
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'<' => {
                out.push(b'<');
                if b.get(i + 1) == Some(&b'/') {
                    out.extend_from_slice(b"\\/");
                    next = i + 2;
                }
            }
            _ => {
                // A control, DEL, or the first byte of a non-ASCII character: \uXXXX per
                // UTF-16 unit. `i` is at a character boundary (all before it was whole).
                let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
                let mut units = [0u16; 2];
                for &u in ch.encode_utf16(&mut units).iter() {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((u >> shift) & 15)]);
                    }
                }
                next = i + ch.len_utf8();
            }
        }
        i = next;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// [`to_py_json`] for any serializable value, so callers can skip building a `Value`.
pub fn write_py_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, PyFormatter::default());
    // Writing into a Vec cannot fail, and our types have no failing Serialize impls;
    // on a (theoretical) error the caller gets whatever was written.
    if let Err(e) = value.serialize(&mut ser) {
        log::error!("JSON serialization failed: {e}");
    }
}

/// `serde_json` formatter reproducing Python's `json.dumps` defaults plus Tornado's
/// `</` escaping.
#[derive(Debug, Clone, Copy, Default)]
pub struct PyFormatter {
    /// Inside an object key (raw numbers are only values).
    in_key: bool,
    /// A string began; its quote is written with its first fragment (unless raw).
    pending_quote: bool,
    /// The current string is a raw number, written bare.
    raw: bool,
}

impl PyFormatter {
    fn open_quote<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.pending_quote {
            self.pending_quote = false;
            w.write_all(b"\"")?;
        }
        Ok(())
    }
}

impl Formatter for PyFormatter {
    fn begin_string<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.pending_quote = true;
        self.raw = false;
        Ok(())
    }

    fn end_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.raw {
            self.raw = false;
            return Ok(());
        }
        self.open_quote(w)?;
        w.write_all(b"\"")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.in_key = true;
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.in_key = false;
        Ok(())
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        crate::pyfloat::write_json(w, f64::from(value))
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        crate::pyfloat::write_json(w, value)
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // A string's mark or marks come whole in its first fragment: serde_json splits
        // strings only at the ASCII characters it escapes.
        let mut fragment = fragment;
        if self.pending_quote {
            if let (false, Some(lit)) = (self.in_key, raw_literal(fragment)) {
                self.pending_quote = false;
                self.raw = true;
                return w.write_all(lit.as_bytes());
            }
            fragment = client_str(fragment);
        }
        self.open_quote(w)?;
        let b = fragment.as_bytes();
        // Most fragments are plain printable ASCII without "</": one branch-free scan.
        if !b
            .iter()
            .fold(false, |acc, &c| acc | (c >= 0x7f) | (c == b'<'))
        {
            return w.write_all(b);
        }
        let mut start = 0;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'<' && b.get(i + 1) == Some(&b'/') {
                w.write_all(&b[start..=i])?;
                w.write_all(b"\\")?;
                i += 1;
                start = i;
            } else if c < 0x7f {
                i += 1;
            } else {
                w.write_all(&b[start..i])?;
                // `i` is at a char boundary: everything before it was whole chars.
                let ch = fragment[i..].chars().next().unwrap_or('\u{FFFD}');
                let mut units = [0u16; 2];
                for u in ch.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", u)?;
                }
                i += ch.len_utf8();
                start = i;
            }
        }
        w.write_all(&b[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        self.open_quote(w)?;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(c) => return write!(w, "\\u{:04x}", c),
        };
        w.write_all(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `params` and `param_visibilities` read as text by [`parse_add_task_args`] are the
    /// text the map path writes, and the rest of the list is unchanged.
    #[test]
    fn object_texts_are_what_the_map_would_write() {
        let keys = [
            r#""a""#,
            r#""b""#,
            r#""date""#,
            r#""\u00e9""#,
            "\"caf\u{e9}\"",
            r#""""#,
            r#""</x""#,
        ];
        let values = [
            r#""2026-11-24""#,
            r#""""#,
            "\"caf\u{e9} \\\"q\\\" \\\\ \\n \\u0001 \\ud83d\\ude00 \\ud800\"",
            "0",
            "-0",
            "7",
            "-12",
            "007",
            "1.5",
            "1e3",
            "123456789012345",
            "1234567890123456",
            "true",
            "false",
            "null",
            "NaN",
            "[]",
            "{}",
            r#"{"x": 1}"#,
            r#""</script>""#,
            "\"a\u{7f}b<c\"",
            "\"\\t\\u0041\"",
            "tru",
        ];
        let mut next = crate::test_rng::below(7);
        let (mut as_text, mut total) = (0, 0);
        for _ in 0..4000 {
            let members = next(10);
            let mut obj = String::from("{");
            for k in 0..members {
                if k > 0 {
                    obj.push_str([",", ", ", " ,\n"][next(3)]);
                }
                obj.push_str(keys[next(keys.len())]);
                obj.push_str([":", ": ", " : "][next(3)]);
                obj.push_str(values[next(values.len())]);
            }
            obj.push_str(if next(2) == 0 { "}" } else { " }" });
            let name = ["params", "param_visibilities"][next(2)];
            let data = format!(r#"{{"task_id": "T", "{name}": {obj}, "worker": "W"}}"#);
            let plain = parse_py_json_args(&data).map(|a| {
                a.map(|a| {
                    a.into_iter()
                        .map(|(k, v)| (k.into_owned(), v))
                        .collect::<Vec<_>>()
                })
            });
            let fast = parse_add_task_args(&data);
            total += 1;
            match (plain, fast) {
                (Ok(Some(plain)), Ok(Some((fast, texts, _)))) => {
                    let slot = OBJECT_TEXT_ARGS.iter().position(|&n| n == name);
                    assert!(texts
                        .iter()
                        .enumerate()
                        .all(|(i, t)| Some(i) == slot || t.is_none()));
                    assert_eq!(plain.len(), fast.len(), "{data}");
                    for ((pk, pv), (fk, fv)) in plain.iter().zip(&fast) {
                        assert_eq!(pk, fk);
                        match slot.and_then(|i| texts[i].as_deref()) {
                            Some(text) if pk == name => {
                                let mut want = Vec::new();
                                write_py_json(pv, &mut want);
                                assert_eq!(Ok(text), std::str::from_utf8(&want), "{data}");
                                assert_eq!(fv, &json!({}));
                                as_text += 1;
                            }
                            _ => assert_eq!(pv, fv, "{data}"),
                        }
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "{data}"),
                (a, b) => panic!("{data}: {a:?} vs {b:?}"),
            }
        }
        // Both kinds occur: read as text, and handed back to the usual parser.
        assert!(
            as_text > 200 && as_text < total - 200,
            "{as_text} of {total}"
        );
    }

    #[test]
    fn plain_run_end_finds_the_first_quote_backslash_or_control_byte() {
        let alphabet = [
            b'a', b'"', b'\\', 0x1f, 0x20, 0x00, 0x7f, 0x80, 0xff, b'Z', 0x21, 0x5c,
        ];
        let mut next = crate::test_rng::below(99);
        for len in 0..40usize {
            for _ in 0..300 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        // Mostly letters, so that runs of every length occur.
                        if next(4) == 0 {
                            alphabet[next(alphabet.len())]
                        } else {
                            b'a' + next(26) as u8
                        }
                    })
                    .collect();
                for start in 0..=len {
                    let want = s[start..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .map_or(len, |i| start + i);
                    assert_eq!(plain_run_end(&s, start), want, "{s:?} from {start}");
                }
            }
        }
    }

    #[test]
    fn a_repeated_object_argument_keeps_its_last_value() {
        let (args, texts, _) = parse_add_task_args(
            r#"{"params": {"a": "1"}, "params": {"a": 1.5}, "param_visibilities": [], "param_visibilities": {"a": 0}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(texts, [None, Some(r#"{"a": 0}"#.to_string())]);
        assert_eq!(args[1].1, json!({"a": 1.5}));
        assert_eq!(args[3].1, json!({}));
        let (_, texts, _) = parse_add_task_args(r#"{"params": {"a": [1]}, "params": {"b": "x"}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(texts, [Some(r#"{"b": "x"}"#.to_string()), None]);
    }

    fn dump(v: &Value) -> String {
        let mut out = Vec::new();
        to_py_json(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn direct_writer_matches_the_serde_writer() {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            "a",
            "</",
            "<",
            "/",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "\u{80}",
            "\u{e9}",
            "\u{2028}",
            "\u{FFFF}",
            "\u{1F600}",
            "\u{FDD0}",
            "NaN",
            "x y",
            "<<//",
            "</script>",
        ];
        let mut string = |next: &mut dyn FnMut() -> u64| -> String {
            (0..next() % 6)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect()
        };
        fn value(
            depth: u32,
            next: &mut dyn FnMut() -> u64,
            string: &mut dyn FnMut(&mut dyn FnMut() -> u64) -> String,
        ) -> Value {
            match next() % if depth > 3 { 7 } else { 9 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => json!(next() as i64),
                3 => json!(next()),
                4 => json!(f64::from_bits(next() >> 2)),
                5 => json!((next() % 100_000) as f64 / 8.0 + 1.7e9),
                6 => {
                    // Raw numbers and look-alikes.
                    let lits = [
                        "NaN",
                        "Infinity",
                        "-Infinity",
                        "123456789012345678901234",
                        "-",
                    ];
                    let lit = lits[(next() % 5) as usize];
                    if next().is_multiple_of(2) {
                        raw_number(lit)
                    } else {
                        Value::String(string(next))
                    }
                }
                7 => Value::Array(
                    (0..next() % 4)
                        .map(|_| value(depth + 1, next, string))
                        .collect(),
                ),
                _ => Value::Object(
                    (0..next() % 4)
                        .map(|_| (string(next), value(depth + 1, next, string)))
                        .collect(),
                ),
            }
        }
        // The serde writer checks for a raw number in a string's first escape-free run
        // only, so "\u{FDD0}NaN\n" came out as `NaN\n`; the direct writer quotes it.
        fn serde_breaks(v: &Value) -> bool {
            match v {
                Value::String(s) => {
                    let run = s
                        .find(|c: char| c < '\u{20}' || c == '"' || c == '\\')
                        .map_or(s.as_str(), |i| &s[..i]);
                    raw_literal(s).is_none() && raw_literal(run).is_some()
                }
                Value::Array(a) => a.iter().any(serde_breaks),
                Value::Object(m) => m.values().any(serde_breaks),
                _ => false,
            }
        }
        let mut compared = 0;
        for _ in 0..20_000 {
            let v = value(0, &mut next, &mut string);
            if serde_breaks(&v) {
                continue;
            }
            compared += 1;
            let (mut direct, mut serde) = (Vec::new(), Vec::new());
            to_py_json(&v, &mut direct);
            write_py_json(&v, &mut serde);
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&serde),
                "{v:?}"
            );
        }
        assert!(compared > 15_000);
        let mut out = Vec::new();
        to_py_json(&json!(["\u{FDD0}NaN\n"]), &mut out);
        assert_eq!(out, b"[\"\\ufdd0NaN\\n\"]");
    }

    #[test]
    fn dumps_matches_python_bytes() {
        // python3 -c 'import json; print(json.dumps(...).replace("</", "<\\/"))'
        let v = json!({"response": {"taskId": "</script>\u{e9}", "error": ""}});
        assert_eq!(
            dump(&v),
            r#"{"response": {"taskId": "<\/script>\u00e9", "error": ""}}"#
        );
        let v = json!([1, -2, 3.0, true, false, null, [], {}, "a/b", "<", "</"]);
        assert_eq!(
            dump(&v),
            r#"[1, -2, 3.0, true, false, null, [], {}, "a/b", "<", "<\/"]"#
        );
        let v = json!({"s": "\u{1F600}\u{7f}\u{1}\u{1f}\t\n\r\u{8}\u{c}\"\\x\u{2028}"});
        assert_eq!(
            dump(&v),
            r#"{"s": "\ud83d\ude00\u007f\u0001\u001f\t\n\r\b\f\"\\x\u2028"}"#
        );
        assert_eq!(
            dump(&json!({"</k": u64::MAX, "n": i64::MIN})),
            r#"{"<\/k": 18446744073709551615, "n": -9223372036854775808}"#
        );
        assert_eq!(dump(&json!("")), r#""""#);
        assert_eq!(dump(&json!("<<//")), r#""<<\//""#);
    }

    #[test]
    fn dumps_keeps_insertion_order() {
        let v = parse_py_json(r#"{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}"#).unwrap();
        assert_eq!(dump(&v), r#"{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}"#);
    }

    #[test]
    fn parses_python_literals() {
        let v =
            parse_py_json(r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [ 1e400 ]}"#).unwrap();
        assert!(raw_number_value(&v["a"]).is_some_and(f64::is_nan));
        assert_eq!(raw_number_value(&v["b"]), Some(f64::INFINITY));
        assert_eq!(raw_number_value(&v["c"]), Some(f64::NEG_INFINITY));
        assert_eq!(raw_number_value(&v["d"][0]), Some(f64::INFINITY));
        let neg = parse_py_json("-1e400").unwrap();
        assert_eq!(raw_number_value(&neg), Some(f64::NEG_INFINITY));
        // Written back bare, as Python does; as keys they stay strings.
        assert_eq!(
            dump(&v),
            r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [Infinity]}"#
        );
        let mut keyed = serde_json::Map::new();
        keyed.insert(RAW_NUMBER.to_string() + "NaN", json!(1));
        assert!(dump(&Value::Object(keyed)).starts_with("{\"\\ufdd0NaN\": 1"));
        // Inside a string they are just text.
        assert_eq!(parse_py_json(r#""NaN""#).unwrap(), json!("NaN"));
        assert_eq!(dump(&json!(["", "a\"b", "x"])), r#"["", "a\"b", "x"]"#);
    }

    #[test]
    fn last_duplicate_key_wins_at_first_position() {
        let v = parse_py_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(dump(&v), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn a_recycled_argument_list_lends_its_buffer_to_the_next_parse() {
        let text = r#"{"a": 1, "b": 2}"#;
        let first = parse_py_json_args(text).unwrap().unwrap();
        let buffer = first.as_ptr();
        let capacity = first.capacity();
        assert!(capacity >= 2);
        recycle_args(first);
        let second = parse_py_json_args(r#"{"c": 3}"#).unwrap().unwrap();
        assert_eq!((second.as_ptr(), second.capacity()), (buffer, capacity));
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].0, "c");
        recycle_args(second);
    }

    #[test]
    fn args_parse_agrees_with_the_value_parse() {
        for text in [
            r#"{"a": 1, "b": [2, {"c": 3, "c": 4}], "a": 5}"#,
            " {} ",
            "{\"x\": NaN}",
            "[1]",
            "1 x",
            "{\"a\": 1} x",
            "{\"a\" 1}",
            "{\"a\": 1,}",
            "{",
            "",
            "\"s\"",
        ] {
            let args = parse_py_json_args(text);
            match parse_py_json(text) {
                Err(e) => assert_eq!(args, Err(e), "{text}"),
                Ok(Value::Object(map)) => {
                    let list = args.unwrap().expect(text);
                    // Duplicates are kept in order; folding them as a dict does gives the map.
                    let folded: Map<String, Value> =
                        list.into_iter().map(|(k, v)| (k.into_owned(), v)).collect();
                    assert_eq!(dump(&Value::Object(folded)), dump(&Value::Object(map)));
                }
                Ok(_) => assert_eq!(args, Ok(None), "{text}"),
            }
        }
        let list = parse_py_json_args(r#"{"a": 1, "b": 2, "a": 3}"#)
            .unwrap()
            .unwrap();
        let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "b", "a"]);
        // Names with escapes are decoded (and copied); the others borrow the text.
        let list = parse_py_json_args(r#"{"a\u0062": 1, "c\"": 2, "d": 3}"#)
            .unwrap()
            .unwrap();
        let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["ab", "c\"", "d"]);
        assert!(matches!(list[2].0, std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_keep_int_float_distinction() {
        assert!(parse_py_json("1").unwrap().is_i64());
        assert!(parse_py_json("1.0").unwrap().is_f64());
        assert!(parse_py_json("1e2").unwrap().is_f64());
        assert_eq!(dump(&parse_py_json("1.0").unwrap()), "1.0");
        assert_eq!(dump(&parse_py_json("-0").unwrap()), "0");
        assert_eq!(dump(&parse_py_json("-0.0").unwrap()), "-0.0");
        assert_eq!(
            dump(&parse_py_json("18446744073709551615").unwrap()),
            "18446744073709551615"
        );
        assert_eq!(
            dump(&parse_py_json("-9223372036854775808").unwrap()),
            "-9223372036854775808"
        );
        // Beyond 64 bits: kept exactly, as Python does.
        let big = parse_py_json("-100000000000000000000000").unwrap();
        assert_eq!(dump(&big), "-100000000000000000000000");
        assert_eq!(raw_number_value(&big), Some(-1e23));
        assert_eq!(dump(&parse_py_json("1E16").unwrap()), "1e+16");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            parse_py_json(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap(),
            json!("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}")
        );
        // Lone surrogates, in either order or unpaired, become U+FFFD.
        assert_eq!(parse_py_json(r#""\ud800""#).unwrap(), json!("\u{FFFD}"));
        assert_eq!(parse_py_json(r#""\udc00x""#).unwrap(), json!("\u{FFFD}x"));
        assert_eq!(
            parse_py_json(r#""\ud800\u0041""#).unwrap(),
            json!("\u{FFFD}A")
        );
        assert_eq!(
            parse_py_json(r#""\ud800\ud800\udc00""#).unwrap(),
            json!("\u{FFFD}\u{10000}")
        );
        assert_eq!(
            parse_py_json("\"\u{e9}\u{7f}\"").unwrap(),
            json!("\u{e9}\u{7f}")
        );
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{'a': 1}",
            "{a: 1}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "-",
            "nan",
            "inf",
            "-NaN",
            "Infinityx",
            "\"a\tb\"",
            "\"a\nb\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"abc",
            "[1 2]",
            "{\"a\" 1}",
            "\u{feff}{}",
            "{} {}",
            "tru",
        ] {
            assert!(parse_py_json(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn accepts_what_python_accepts() {
        for (good, dumped) in [
            (" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", r#"{"a": [1, 2]}"#),
            ("[]", "[]"),
            ("0", "0"),
            ("-0.5e-3", "-0.0005"),
            ("1E+2", "100.0"),
            ("\"\"", "\"\""),
            ("[null,true,false]", "[null, true, false]"),
        ] {
            assert_eq!(dump(&parse_py_json(good).unwrap()), dumped, "{good:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse_py_json(&deep).is_err());
        let ok = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse_py_json(&ok).is_ok());
    }

    #[test]
    fn error_message_says_where() {
        let e = parse_py_json("{\"a\": }").unwrap_err();
        assert_eq!(
            e,
            JsonError {
                kind: ErrorKind::ExpectingValue,
                pos: 6
            }
        );
        assert_eq!(
            e.to_string(),
            "data is not valid JSON: Expecting value at char 6"
        );
        let e = parse_py_json(r#"["\q"]"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r"data is not valid JSON: Invalid \escape at char 3"
        );
    }

    /// A client's string that begins with the raw-number mark is echoed as the string it
    /// was, by every path: parsed values and names, add_task's object texts, both writers.
    #[test]
    fn a_client_string_with_the_mark_stays_a_string() {
        // (sent, the string Python reads, what json.dumps writes back)
        let sent = [
            (r#""\ufdd0NaN""#, "\u{FDD0}NaN", r#""\ufdd0NaN""#),
            ("\"\u{FDD0}NaN\"", "\u{FDD0}NaN", r#""\ufdd0NaN""#),
            (r#""\ufdd0123""#, "\u{FDD0}123", r#""\ufdd0123""#),
            (
                r#""\ufdd0\ufdd0Infinity""#,
                "\u{FDD0}\u{FDD0}Infinity",
                r#""\ufdd0\ufdd0Infinity""#,
            ),
            (r#""\ufdd0""#, "\u{FDD0}", r#""\ufdd0""#),
            (r#""\ufdd0x\n""#, "\u{FDD0}x\n", r#""\ufdd0x\n""#),
        ];
        for (text, read, python) in sent {
            let v = parse_py_json(text).unwrap();
            assert_eq!(client_str(v.as_str().unwrap()), read, "{text}");
            assert_eq!(dump(&v), python, "{text}");
            let mut via_serde = Vec::new();
            write_py_json(&v, &mut via_serde);
            assert_eq!(String::from_utf8(via_serde).unwrap(), python, "{text}");
            assert_eq!(raw_number_value(&v), None, "{text}");
            // As a name, in a nested object, and in add_task's params object text.
            let obj = format!(r#"{{"params": {{{text}: {text}}}, {text}: [{text}]}}"#);
            let want = format!(r#"{{"params": {{{python}: {python}}}, {python}: [{python}]}}"#);
            assert_eq!(dump(&parse_py_json(&obj).unwrap()), want, "{obj}");
            let (args, texts, _) = parse_add_task_args(&obj).unwrap().unwrap();
            let params = texts[0].clone().unwrap_or_else(|| dump(&args[0].1));
            assert_eq!(params, format!("{{{python}: {python}}}"), "{obj}");
            assert_eq!(client_str(&args[1].0), read, "{obj}");
            assert_eq!(dump(&args[1].1), format!("[{python}]"), "{obj}");
        }
        // The numbers the mark stands for still go back bare.
        let numbers = "[NaN, -Infinity, 123456789012345678901234567890]";
        assert_eq!(dump(&parse_py_json(numbers).unwrap()), numbers);
    }
}
