//! Template values: what Go's `text/template` passes around, reduced to
//! the kinds LogQL templates meet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// Go's `nil` / a missing value.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    /// A point in time, Unix nanoseconds (UTC).
    Time(i64),
    Map(Rc<BTreeMap<String, Value>>),
    List(Rc<Vec<Value>>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// Go's truth: false, 0, nil, empty string/map/list are false.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// `fmt.Sprint` of one value.
    pub(crate) fn write_to(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => fmt_go_float(*f, out),
            Value::Str(s) => out.push_str(s),
            Value::Time(t) => {
                super::time::format_time(*t, "2006-01-02 15:04:05.999999999 -0700 UTC", out)
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_to(out);
                }
                out.push(']');
            }
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_to(out);
                }
                out.push(']');
            }
        }
    }

    pub(crate) fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            _ => {
                let mut s = String::new();
                self.write_to(&mut s);
                s
            }
        }
    }

    /// Sprig's `toInt64`: numbers truncate, strings parse, else 0.
    pub(crate) fn to_i64(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => i64::from(*b),
            Value::Str(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                    .unwrap_or(0)
            }
            Value::Time(t) => *t,
            _ => 0,
        }
    }

    /// Sprig's `toFloat64`.
    pub(crate) fn to_f64(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Converts parsed JSON.
    pub(crate) fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => {
                Value::List(Rc::new(a.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(o) => Value::Map(Rc::new(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            )),
        }
    }
}

/// Formats a float as Go's `%v` does (shortest, exponent outside
/// `1e-4 ≤ |v| < 1e21`).
pub(crate) fn fmt_go_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
    } else if f != 0.0 && (f.abs() < 1e-4 || f.abs() >= 1e21) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let _ = write!(out, "{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    } else {
        let _ = write!(out, "{f}");
    }
}
