//! The writer: `json.dumps` defaults plus Tornado's `</` escape, byte for byte.

use super::float::write_json as write_float;
use super::raw::{client_str, raw_literal};
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::Value;
use std::io::{self, Write};

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
                let _ = write_float(out, f);
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
        write_float(w, f64::from(value))
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        write_float(w, value)
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

/// Write `s`, a string token's text without escapes (no `"`, `\\` or control
/// character), as [`write_py_json`] writes it: as it is when it is printable ASCII
/// without `<`, else by the writer itself.
pub(super) fn write_plain_str(s: &str, out: &mut Vec<u8>) {
    if s.bytes().any(|b| b >= 0x7f || b == b'<') {
        return write_py_json(s, out);
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}
