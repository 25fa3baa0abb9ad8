//! JSON values as Python sees them: truthiness, numbers, `==`, sums.

use serde_json::{Map, Value};

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A number as Python sees it (bools are ints).
pub fn py_num(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(_) => crate::pyjson::raw_number_value(v),
        _ => None,
    }
}

/// Python `==` between JSON values (1 == 1.0 == true).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_) | Value::Bool(_), Value::Number(_) | Value::Bool(_)) => match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                    return x == y;
                }
                if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                    return x == y;
                }
                py_num(a) == py_num(b)
            }
            _ => py_num(a) == py_num(b),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => map_eq(x, y),
        _ => a == b,
    }
}

pub fn map_eq(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
}

/// Adds JSON numbers the way Python does: ints stay ints, anything float makes a float.
#[derive(Debug, Clone, Copy, Default)]
pub struct NumAcc {
    int: i64,
    float: f64,
    is_float: bool,
}

impl NumAcc {
    pub fn add(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.add_int(*b as i64),
            Value::Number(n) => match n.as_i64() {
                Some(i) => self.add_int(i),
                None => {
                    self.is_float = true;
                    self.float += n.as_f64().unwrap_or(0.0);
                }
            },
            _ => {}
        }
    }

    fn add_int(&mut self, i: i64) {
        match self.int.checked_add(i) {
            Some(s) => self.int = s,
            None => {
                self.is_float = true;
                self.float += i as f64;
            }
        }
    }

    pub fn as_f64(&self) -> f64 {
        self.int as f64 + self.float
    }

    pub fn to_value(self) -> Value {
        if self.is_float {
            num_value(self.as_f64())
        } else {
            Value::from(self.int)
        }
    }
}

/// A float as a JSON value (non-finite values cannot be represented and become null).
pub fn num_value(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn opt_num(f: Option<f64>) -> Value {
    f.map(num_value).unwrap_or(Value::Null)
}
