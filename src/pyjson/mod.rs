//! JSON as Python's `json` module reads and writes it, so that luigid-rs reads what Luigi's
//! workers and the visualiser send and answers with luigid's bytes: bare `NaN`/`Infinity`
//! accepted on input, replies written with `", "`/`": "` separators, ASCII-only escapes,
//! Python's float repr and Tornado's `</` escaping.
//!
//! A leaf: it imports nothing of the crate, so the scheduler and the api can both use it.
//! - [`parse`](parse_py_json): the reader, and a call's top-level members
//!   ([`parse_members`], [`parse_members_with_texts`]).
//! - [`write`](to_py_json): the writer ([`to_py_json`] for a `Value`, [`write_py_json`]
//!   for anything serializable).
//! - [`raw`](RAW_NUMBER): numbers a `serde_json::Value` cannot hold, and client strings.
//! - [`float`]: CPython's `repr(float)`, the one implementation in the crate.
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
//!   [`client_str`]. Strings read from a luigid pickle get the same escape
//!   ([`client_string`]).
//!
//! Why hand-written rather than serde_json: Python's dialect (bare `NaN`, `Infinity`, big
//! integers kept, the last of repeated names winning at the first one's place) must
//! round-trip as luigid echoes it, and the hot path reads add_task's top-level members
//! into a reused list with borrowed names and its `params` objects straight to the text
//! the scheduler stores (see [`parse_members_with_texts`]). For the add_task `data` of
//! `make bench`'s workload that is 1.31-1.69 us per text against 3.33-4.46 us for
//! serde_json's `Value` plus the `params` text written from it, about 2.5-3x less
//! (`cargo bench --bench in_memory -- json`: 100,000 texts, best of 3 repetitions, 3 runs
//! on a shared 2-core machine). The writer is our own for the same reason:
//! `json.dumps`' separators, ASCII-only escapes, CPython's float repr and Tornado's `</`
//! escape, byte for byte.

pub mod float;
mod parse;
mod raw;
mod write;

pub use parse::{
    parse_members, parse_members_with_texts, parse_py_json, recycle_members, Members, Spans,
};
pub use raw::{client_str, client_string, raw_number, raw_number_value, RAW_NUMBER};
pub use write::{to_py_json, write_py_json, PyFormatter};

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

#[cfg(test)]
mod tests;
