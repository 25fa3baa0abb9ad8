//! Numbers a `serde_json::Value` cannot hold, carried as marked strings, and the escape
//! that keeps a client's own string from passing for one.

use serde_json::Value;

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

pub(super) fn starts_with_mark(b: &[u8]) -> bool {
    b.starts_with(MARK)
}

/// A string a client sent, as it is kept: with a second [`RAW_NUMBER`] in front when it
/// begins with one, so that it cannot pass for a raw number (see the module doc).
pub fn client_string(s: String) -> String {
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
pub(super) fn raw_literal(s: &str) -> Option<&str> {
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
