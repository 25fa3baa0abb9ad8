//! Task dicts written straight into a byte buffer as luigid's JSON (the bytes
//! `crate::json::write_py_json` gives for [`Scheduler::serialize`]), for the large
//! read replies (task_list, task_search): parameters are copied from their stored JSON
//! text, plain ASCII strings are copied as they are, and only the rest goes through
//! the general writer.

use super::compact::Pv;
use super::pyfmt::pretty_id_into;
use super::types::{Status, Task};
use super::Scheduler;
use serde_json::{Map, Value};
use std::io::Write;

/// A JSON string as crate::json writes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Printable ASCII without quotes, backslashes or '<' needs no escaping (and cannot be
    // a raw number, which starts with a non-ASCII mark).
    let plain = s
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b'<');
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        crate::json::write_py_json(s, out);
    }
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
        Pv::Other(v) => crate::json::write_py_json(&**v, out),
    }
}

fn write_map(out: &mut Vec<u8>, m: &Map<String, Value>) {
    if m.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        crate::json::write_py_json(m, out);
    }
}

/// A time, or null when not finite (as `num_value` makes it).
fn write_time(out: &mut Vec<u8>, f: Option<f64>) {
    match f.filter(|f| f.is_finite()) {
        Some(f) => crate::json::write_py_json(&f, out),
        None => out.extend_from_slice(b"null"),
    }
}

impl Scheduler {
    /// One task dict without deps: luigid's keys in luigid's order.
    fn write_task(&self, t: &Task, out: &mut Vec<u8>, scratch: &mut String) {
        out.extend_from_slice(b"{\"display_name\": ");
        scratch.clear();
        pretty_id_into(scratch, &t.family, t.public_params());
        write_str(out, scratch);
        out.extend_from_slice(b", \"status\": \"");
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
        write_time(out, t.time_running);
        out.extend_from_slice(b", \"start_time\": ");
        write_time(out, Some(t.time));
        out.extend_from_slice(b", \"last_updated\": ");
        write_time(out, Some(t.updated));
        out.extend_from_slice(b", \"params\": ");
        out.extend_from_slice(t.public_params().text().as_bytes());
        out.extend_from_slice(b", \"name\": ");
        write_str(out, &t.family);
        out.extend_from_slice(b", \"priority\": ");
        write_pv(out, &t.priority);
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
            self.write_task(t, out, &mut scratch);
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
            crate::json::write_py_json(s, &mut b);
            assert_eq!(a, b, "{s:?}");
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
            crate::json::raw_number("Infinity"),
        ] {
            let mut a = Vec::new();
            write_pv(&mut a, &Pv::from_ref(&v));
            let mut b = Vec::new();
            crate::json::write_py_json(&v, &mut b);
            assert_eq!(a, b, "{v}");
        }
    }
}
