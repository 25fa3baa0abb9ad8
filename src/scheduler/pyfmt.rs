//! Python's `str()`/`repr()` of JSON-decoded values (for `pretty_id` and history
//! parameters), the task-family guess of placeholder nodes, and MD5 (batch ids).

use super::compact::{parse_raw, plain_str, Params};
use crate::pyjson::client_str;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Python `str(value)` of a JSON-decoded value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => client_str(s).to_string(),
        other => {
            let mut out = String::new();
            py_repr(other, &mut out);
            out
        }
    }
}

/// Python `repr(value)`.
pub fn py_repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                out.push_str(&crate::pyjson::float::repr(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => py_str_repr(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_str_repr(k, out);
                out.push_str(": ");
                py_repr(x, out);
            }
            out.push('}');
        }
    }
}

fn py_str_repr(s: &str, out: &mut String) {
    let s = client_str(s);
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// `family(k1=v1, k2=v2)` over the public params sorted by key.
pub fn pretty_id_map(family: &str, public_params: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = public_params.keys().collect();
    keys.sort();
    let mut out = String::with_capacity(family.len() + 2 + 16 * keys.len());
    out.push_str(family);
    out.push('(');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(client_str(k));
        out.push('=');
        if let Some(v) = public_params.get(k.as_str()) {
            match v {
                Value::String(s) => out.push_str(client_str(s)),
                other => py_repr(other, &mut out),
            }
        }
    }
    out.push(')');
    out
}

/// [`pretty_id_map`] of parameters kept as JSON text, without building their values.
pub fn pretty_id(family: &str, params: &Params) -> String {
    let mut out = String::with_capacity(family.len() + 2 + params.text().len());
    pretty_id_into(&mut out, family, params);
    out
}

/// [`pretty_id`] appended to `out`.
pub fn pretty_id_into(out: &mut String, family: &str, params: &Params) {
    out.push_str(family);
    out.push('(');
    // Up to 16 keys sort on the stack (luigi tasks rarely have more).
    let mut small: [(&str, &str); 16] = [("", ""); 16];
    let mut n = 0;
    let mut plain = true;
    for (k, raw) in params.entries() {
        match k {
            Cow::Borrowed(k) if n < small.len() => {
                small[n] = (k, raw);
                n += 1;
            }
            _ => {
                plain = false;
                break;
            }
        }
    }
    if plain {
        let entries = &mut small[..n];
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (i, (k, raw)) in entries.iter().enumerate() {
            push_param(out, i, k, raw);
        }
    } else {
        let mut entries: Vec<(Cow<str>, &str)> = params.entries().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (k, raw)) in entries.iter().enumerate() {
            push_param(out, i, k, raw);
        }
    }
    out.push(')');
}

fn push_param(out: &mut String, i: usize, k: &str, raw: &str) {
    if i > 0 {
        out.push_str(", ");
    }
    out.push_str(client_str(k));
    out.push('=');
    match plain_str(raw) {
        Some(s) => out.push_str(s),
        None => match parse_raw(raw) {
            Value::String(s) => out.push_str(client_str(&s)),
            other => py_repr(&other, out),
        },
    }
}

/// The family luigid guesses from an id with `([^(_]+)[(_]` (anchored at the start).
pub fn guess_family(task_id: &str) -> &str {
    match task_id.find(['(', '_']) {
        Some(i) if i > 0 => &task_id[..i],
        _ => "UNKNOWN",
    }
}

/// The hex MD5 of `data`: luigid's batch ids (`hashlib.md5` of the joined task ids).
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in md5::Md5::digest(data) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn md5_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(md5_hex(b"A_1|A_2"), "3b223319e1962bb9a54501812900d0da");
    }

    #[test]
    fn float_params_read_as_python_str() {
        // An exact tie: Python's repr takes the even digit.
        let p = json!({"x": 1.0000076293945312, "y": 1e16, "z": 0.00001});
        assert_eq!(
            pretty_id_map("T", p.as_object().unwrap()),
            "T(x=1.0000076293945312, y=1e+16, z=1e-05)"
        );
    }

    #[test]
    fn a_client_string_with_the_raw_number_mark_reads_as_sent() {
        let v = crate::pyjson::parse_py_json(r#"{"\ufdd0k": "\ufdd0NaN", "l": "\ufdd0"}"#).unwrap();
        let m = v.as_object().unwrap();
        let want = "F(l=\u{FDD0}, \u{FDD0}k=\u{FDD0}NaN)";
        assert_eq!(pretty_id_map("F", m), want);
        assert_eq!(pretty_id("F", &Params::from_map(m)), want);
        assert_eq!(py_str(&m["\u{FDD0}\u{FDD0}k"]), "\u{FDD0}NaN");
    }

    #[test]
    fn pretty_ids() {
        let p = json!({"num": 5, "day": "2016-02-01"});
        assert_eq!(
            pretty_id_map("A", p.as_object().unwrap()),
            "A(day=2016-02-01, num=5)"
        );
        let p = json!({"a": [1, "x"], "b": 1.0, "c": null, "d": {"k": "it's"}, "e": true});
        assert_eq!(
            pretty_id_map("T", p.as_object().unwrap()),
            "T(a=[1, 'x'], b=1.0, c=None, d={'k': \"it's\"}, e=True)"
        );
        assert_eq!(pretty_id_map("", &Map::new()), "()");
        for p in [
            json!({"num": 5, "day": "2016-02-01"}),
            json!({"a": [1, "x"], "b": 1.0, "c": null, "d": {"k": "it's"}, "e": true, "f": "q\"</"}),
            json!({"z\u{e9}": "\u{e9}", "a": crate::pyjson::raw_number("NaN")}),
            json!({"b\"": 1, "a": 2}),
            crate::pyjson::parse_py_json(r#"{"\ufdd0k": "\ufdd0NaN", "m": ["\ufdd01"]}"#).unwrap(),
            Value::Object(
                (0..20)
                    .map(|i| (format!("k{}", 20 - i), json!(i)))
                    .collect(),
            ),
        ] {
            let m = p.as_object().unwrap();
            assert_eq!(pretty_id("F", &Params::from_map(m)), pretty_id_map("F", m));
        }
    }

    #[test]
    fn family_guess() {
        assert_eq!(guess_family("Foo_bar_123abc"), "Foo");
        assert_eq!(guess_family("Foo(a=1)"), "Foo");
        assert_eq!(guess_family("pkg.Mod_x"), "pkg.Mod");
        assert_eq!(guess_family("NoSeparator"), "UNKNOWN");
        assert_eq!(guess_family("_x"), "UNKNOWN");
    }
}
