//! Task dicts written straight into a byte buffer as luigid's JSON (the bytes
//! `crate::pyjson::write_py_json` gives for [`Scheduler::serialize`]), for the large
//! read replies (task_list, task_search): parameters are copied from their stored JSON
//! text, plain ASCII strings are copied as they are, and only the rest goes through
//! the general writer.

use super::compact::Pv;
use super::ops::GraphNode;
use super::pyfmt::{guess_family, pretty_id_into};
use super::types::{Status, Task};
use super::Scheduler;
use serde_json::{Map, Value};
use std::io::Write;

/// True when no byte of `b` needs escaping: printable ASCII other than `"`, `\\`, `<`.
/// Eight bytes at a time (SWAR): the compiler did not vectorize the byte loop.
pub(crate) fn is_plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit per zero byte of `v` (exact as "any").
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut bad = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // Non-ASCII; below 0x20; DEL; and the three characters.
        bad |= x & HIGH;
        bad |= x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        bad |= zero(x ^ (ONES * 0x7f));
        bad |= zero(x ^ (ONES * u64::from(b'"')));
        bad |= zero(x ^ (ONES * u64::from(b'\\')));
        bad |= zero(x ^ (ONES * u64::from(b'<')));
    }
    bad == 0
        && chunks
            .remainder()
            .iter()
            .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' && c != b'<')
}

/// A JSON string as crate::pyjson writes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Printable ASCII without quotes, backslashes or '<' needs no escaping (and cannot be
    // a raw number, which starts with a non-ASCII mark).
    let plain = is_plain(s.as_bytes());
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        crate::pyjson::write_py_json(s, out);
    }
}

fn write_str_list(out: &mut Vec<u8>, items: &[&str]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_str(out, s);
    }
    out.push(b']');
}

fn write_pv(out: &mut Vec<u8>, v: &Pv) {
    match v {
        Pv::Null => out.extend_from_slice(b"null"),
        Pv::Bool(true) => out.extend_from_slice(b"true"),
        Pv::Bool(false) => out.extend_from_slice(b"false"),
        Pv::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Pv::Str(s) => write_str(out, s),
        Pv::Other(v) => crate::pyjson::write_py_json(&**v, out),
    }
}

fn write_map(out: &mut Vec<u8>, m: &Map<String, Value>) {
    if m.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        crate::pyjson::write_py_json(m, out);
    }
}

/// A time, or null when not finite (as `num_value` makes it).
fn write_time(out: &mut Vec<u8>, f: Option<f64>) {
    match f.filter(|f| f.is_finite()) {
        Some(f) => write_f64(out, f),
        None => out.extend_from_slice(b"null"),
    }
}

/// A float as Python's repr, as crate::pyjson writes it, with a fast path for the usual
/// times and durations (1 <= |v| < 1e15, shown without an exponent): Rust's shortest
/// round-trip digits, which are Python's unless `v` lies exactly halfway between two
/// shortest candidates. Such a tie needs the exact binary value to end one decimal
/// place after the shortest digits; anything near that goes to the general writer.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    if !(1.0..1e15).contains(&a) {
        crate::pyjson::write_py_json(&v, out);
        return;
    }
    let start = out.len();
    let _ = write!(out, "{v}");
    let frac_digits = match out[start..].iter().position(|&c| c == b'.') {
        Some(p) => out.len() - start - p - 1,
        None => 0,
    };
    // v = m * 2^e with m odd has exactly -e decimal places (for e < 0).
    let bits = a.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let e = exp - 1075 + i64::from(mant.trailing_zeros());
    let places = if e < 0 { -e } else { 0 };
    if places <= frac_digits as i64 + 2 && places > 0 {
        out.truncate(start);
        crate::pyjson::write_py_json(&v, out);
    } else if frac_digits == 0 {
        out.extend_from_slice(b".0");
    }
}

impl Scheduler {
    /// One task dict: luigid's keys in luigid's order; graphs leave out the display
    /// name (but for the root) and add the deps.
    fn write_task(
        &self,
        t: &Task,
        display_name: bool,
        deps: Option<&[&str]>,
        out: &mut Vec<u8>,
        scratch: &mut String,
    ) {
        out.push(b'{');
        if display_name {
            out.extend_from_slice(b"\"display_name\": ");
            scratch.clear();
            pretty_id_into(scratch, &t.family, t.public_params());
            write_str(out, scratch);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"\"status\": \"");
        out.extend_from_slice(t.status.as_str().as_bytes());
        out.extend_from_slice(b"\", \"workers\": [");
        for (i, &w) in t.workers.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            write_str(out, self.worker_name(w));
        }
        out.extend_from_slice(b"], \"worker_running\": ");
        match t.worker_running {
            Some(w) => write_str(out, self.worker_name(w)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b", \"time_running\": ");
        write_time(out, t.time_running.get());
        out.extend_from_slice(b", \"start_time\": ");
        let at = out.len();
        write_time(out, Some(t.time));
        out.extend_from_slice(b", \"last_updated\": ");
        if t.updated.to_bits() == t.time.to_bits() {
            // Often the same instant: copy the digits instead of formatting again.
            let end = out.len() - b", \"last_updated\": ".len();
            out.extend_from_within(at..end);
        } else {
            write_time(out, Some(t.updated));
        }
        out.extend_from_slice(b", \"params\": ");
        out.extend_from_slice(t.public_params().text().as_bytes());
        out.extend_from_slice(b", \"name\": ");
        write_str(out, &t.family);
        out.extend_from_slice(b", \"priority\": ");
        match t.priority_int() {
            Some(i) => {
                let _ = write!(out, "{i}");
            }
            None => write_pv(out, &t.priority()),
        }
        out.extend_from_slice(b", \"resources\": ");
        write_map(out, t.resources());
        out.extend_from_slice(b", \"resources_running\": ");
        match t.resources_running() {
            Some(m) => write_map(out, m),
            None => out.extend_from_slice(b"null"),
        }
        let x = t.x();
        out.extend_from_slice(b", \"tracking_url\": ");
        write_pv(out, &x.tracking_url);
        out.extend_from_slice(b", \"status_message\": ");
        write_pv(out, &x.status_message);
        out.extend_from_slice(b", \"progress_percentage\": ");
        write_pv(out, &x.progress_percentage);
        if t.status == Status::Disabled {
            out.extend_from_slice(if x.scheduler_disable_time.is_some() {
                b", \"re_enable_able\": true"
            } else {
                b", \"re_enable_able\": false"
            });
        }
        if let Some(deps) = deps {
            out.extend_from_slice(b", \"deps\": ");
            write_str_list(out, deps);
        }
        if self.config.send_messages && t.status == Status::Running {
            out.extend_from_slice(b", \"accepts_messages\": ");
            write_pv(out, &x.accepts_messages);
        }
        out.push(b'}');
    }

    /// `{task_id: task dict}` for `slots`, in order.
    pub(super) fn write_task_map(&self, slots: &[u32], out: &mut Vec<u8>) {
        let mut scratch = String::with_capacity(128);
        out.push(b'{');
        let mut first = true;
        for &slot in slots {
            let Some(t) = self.task(slot) else { continue };
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            write_str(out, &t.id);
            out.extend_from_slice(b": ");
            self.write_task(t, true, None, out, &mut scratch);
        }
        out.push(b'}');
    }

    /// A graph reply: `{id: node}` in walk order.
    pub(super) fn write_graph(&self, nodes: &[GraphNode], out: &mut Vec<u8>) {
        let mut scratch = String::with_capacity(128);
        out.reserve(nodes.len() * 384);
        out.push(b'{');
        for (i, n) in nodes.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            write_str(out, n.id);
            out.extend_from_slice(b": ");
            match n.slot.and_then(|s| self.task(s)) {
                Some(t) => self.write_task(t, n.is_root, Some(&n.deps), out, &mut scratch),
                None => {
                    out.extend_from_slice(
                        b"{\"deps\": [], \"status\": \"UNKNOWN\", \"workers\": [], \
                          \"start_time\": \"UNKNOWN\", \"params\": {\"task_id\": ",
                    );
                    write_str(out, n.id);
                    out.extend_from_slice(b"}, \"name\": ");
                    write_str(out, guess_family(n.id));
                    if n.is_root {
                        out.extend_from_slice(b", \"display_name\": ");
                        write_str(out, n.id);
                    }
                    out.extend_from_slice(b", \"priority\": 0}");
                }
            }
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_values_as_the_general_writer() {
        for s in [
            "", "abc", "a\"b", "a\\b", "</x>", "<", "\u{e9}", "\n", "\u{7f}", "~ }",
        ] {
            let mut a = Vec::new();
            write_str(&mut a, s);
            let mut b = Vec::new();
            crate::pyjson::write_py_json(s, &mut b);
            assert_eq!(a, b, "{s:?}");
        }
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut floats = vec![
            1.0,
            1.5,
            2.25,
            1.125,
            0.5,
            1e15,
            999999999999999.9,
            1e14 + 0.5,
        ];
        for i in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let f = match i % 4 {
                0 => 1_764_000_000.0 + (seed % 10_000_000) as f64 / 1e4,
                1 => f64::from_bits(seed) % 1e16,
                2 => (seed % 100_000) as f64 / 8.0,
                _ => (seed % 1_000_000_000) as f64 * 1e-3,
            };
            floats.push(f);
            floats.push(-f);
        }
        for f in floats {
            if !f.is_finite() {
                continue;
            }
            let mut a = Vec::new();
            write_f64(&mut a, f);
            let mut b = Vec::new();
            crate::pyjson::write_py_json(&f, &mut b);
            assert_eq!(a, b, "{f:e}");
        }
        for v in [
            json!(null),
            json!(true),
            json!(false),
            json!(-7),
            json!(u64::MAX),
            json!(1.0),
            json!("</"),
            json!({"a": [1]}),
            crate::pyjson::raw_number("Infinity"),
        ] {
            let mut a = Vec::new();
            write_pv(&mut a, &Pv::from_ref(&v));
            let mut b = Vec::new();
            crate::pyjson::write_py_json(&v, &mut b);
            assert_eq!(a, b, "{v}");
        }
    }

    #[test]
    fn is_plain_agrees_with_the_byte_rule() {
        let plain = |c: u8| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' && c != b'<';
        for len in [1usize, 7, 8, 9, 16, 23] {
            for pos in 0..len {
                for c in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    b[pos] = c;
                    assert_eq!(super::is_plain(&b), plain(c), "{len} {pos} {c}");
                }
            }
        }
        assert!(super::is_plain(b""));
    }
}
