//! JSON as Python's `json` module reads and writes it: bare `NaN`/`Infinity` accepted on
//! input, replies written with `", "`/`": "` separators, ASCII-only escapes, Python float
//! repr and Tornado's `</` escaping, so that replies match luigid's byte for byte.
//!
//! Owner: the router/JSON work item.

use serde_json::Value;

/// Parse a `data` argument. Errors carry a message for a 400 reply.
pub fn parse_py_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("data is not valid JSON: {e}"))
}

/// Write a reply body the way luigid does.
pub fn to_py_json(value: &Value, out: &mut Vec<u8>) {
    // Placeholder until the Python-compatible formatter lands.
    let _ = serde_json::to_writer(out, value);
}
