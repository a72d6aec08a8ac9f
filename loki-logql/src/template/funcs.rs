//! The template functions Loki registers: its own, the Sprig subset and
//! Go's built-ins. Times are UTC; `toDateInZone` understands `UTC`,
//! `Local` (as UTC) and fixed offsets such as `+02:00`.

use std::rc::Rc;

use super::text::{
    b64decode, b64encode, html_escape, js_escape, query_escape, query_unescape, sprintf,
};
use super::time::{format_time, parse_time, zone_offset};
use super::value::Value;
use super::{Ctx, MAX_OUTPUT};
use crate::syntax::literal::{parse_bytes, parse_go_duration};

type R<T> = Result<T, String>;

fn want(name: &str, args: &[Value], n: usize) -> R<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn s(v: &Value) -> String {
    v.to_text()
}

fn regex(re: &str) -> R<regex::Regex> {
    regex::Regex::new(&crate::syntax::regex::go_to_rust(re)).map_err(|e| e.to_string())
}

/// Calls function `name`.
pub(crate) fn call(name: &str, a: Vec<Value>, ctx: Ctx<'_>) -> R<Value> {
    let str1 = |f: fn(&str) -> String| -> R<Value> {
        want(name, &a, 1)?;
        Ok(Value::str(&f(&s(&a[0]))))
    };
    Ok(match name {
        "__line__" => Value::str(ctx.line),
        "__timestamp__" => Value::Time(ctx.ts),
        "ToLower" | "lower" => return str1(|x| x.to_lowercase()),
        "ToUpper" | "upper" => return str1(|x| x.to_uppercase()),
        "TrimSpace" | "trim" => return str1(|x| x.trim().to_owned()),
        "title" => {
            return str1(|x| {
                let mut out = String::with_capacity(x.len());
                let mut prev_letter = false;
                for c in x.chars() {
                    if !prev_letter {
                        out.extend(c.to_uppercase());
                    } else {
                        out.push(c);
                    }
                    prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
                }
                out
            })
        }
        "urlencode" | "urlquery" => return str1(query_escape),
        "urldecode" => {
            want(name, &a, 1)?;
            Value::str(&query_unescape(&s(&a[0]))?)
        }
        "b64enc" => return str1(|x| b64encode(x.as_bytes())),
        "b64dec" => {
            want(name, &a, 1)?;
            let b = b64decode(&s(&a[0])).ok_or("illegal base64 data")?;
            Value::str(&String::from_utf8_lossy(&b))
        }
        "html" => return str1(html_escape),
        "js" => return str1(js_escape),
        "Replace" => {
            want(name, &a, 4)?;
            let (src, old, new) = (s(&a[0]), s(&a[1]), s(&a[2]));
            let n = a[3].to_i64();
            Value::str(&if n < 0 {
                src.replace(&old, &new)
            } else {
                src.replacen(&old, &new, n as usize)
            })
        }
        "replace" => {
            want(name, &a, 3)?;
            Value::str(&s(&a[2]).replace(&s(&a[0]), &s(&a[1])))
        }
        "Trim" | "TrimLeft" | "TrimRight" => {
            want(name, &a, 2)?;
            let (x, cut) = (s(&a[0]), s(&a[1]));
            let f = |c: char| cut.contains(c);
            Value::str(match name {
                "Trim" => x.trim_matches(f),
                "TrimLeft" => x.trim_start_matches(f),
                _ => x.trim_end_matches(f),
            })
        }
        "trimAll" => {
            want(name, &a, 2)?;
            let (cut, x) = (s(&a[0]), s(&a[1]));
            Value::str(x.trim_matches(|c| cut.contains(c)))
        }
        "TrimPrefix" | "TrimSuffix" => {
            want(name, &a, 2)?;
            let (x, p) = (s(&a[0]), s(&a[1]));
            Value::str(if name == "TrimPrefix" {
                x.strip_prefix(p.as_str()).unwrap_or(&x)
            } else {
                x.strip_suffix(p.as_str()).unwrap_or(&x)
            })
        }
        "trimPrefix" | "trimSuffix" => {
            want(name, &a, 2)?;
            let (p, x) = (s(&a[0]), s(&a[1]));
            Value::str(if name == "trimPrefix" {
                x.strip_prefix(p.as_str()).unwrap_or(&x)
            } else {
                x.strip_suffix(p.as_str()).unwrap_or(&x)
            })
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, &a, 3)?;
            let re = regex(&s(&a[0]))?;
            let (x, rep) = (s(&a[1]), s(&a[2]));
            Value::str(&if name == "regexReplaceAll" {
                re.replace_all(&x, rep.as_str()).into_owned()
            } else {
                re.replace_all(&x, regex::NoExpand(&rep)).into_owned()
            })
        }
        "count" => {
            want(name, &a, 2)?;
            Value::Int(regex(&s(&a[0]))?.find_iter(&s(&a[1])).count() as i64)
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            want(name, &a, 2)?;
            let (n, x) = (s(&a[0]), s(&a[1]));
            Value::Bool(match name {
                "contains" => x.contains(&n),
                "hasPrefix" => x.starts_with(&n),
                _ => x.ends_with(&n),
            })
        }
        "trunc" => {
            want(name, &a, 2)?;
            let (n, x) = (a[0].to_i64(), s(&a[1]));
            let chars: Vec<char> = x.chars().collect();
            let len = chars.len() as i64;
            let out: String = if n >= 0 {
                chars[..n.min(len) as usize].iter().collect()
            } else {
                chars[(len + n).max(0) as usize..].iter().collect()
            };
            Value::str(&out)
        }
        "substr" => {
            want(name, &a, 3)?;
            let (start, end, x) = (a[0].to_i64(), a[1].to_i64(), s(&a[2]));
            let b = x.as_bytes();
            let len = b.len() as i64;
            let st = if start < 0 { 0 } else { start.min(len) };
            let en = if end < 0 || end > len { len } else { end };
            let out = if st >= en {
                ""
            } else {
                x.get(st as usize..en as usize).unwrap_or("")
            };
            Value::str(out)
        }
        "indent" | "nindent" => {
            want(name, &a, 2)?;
            let (n, x) = (a[0].to_i64().clamp(0, 1000) as usize, s(&a[1]));
            let pad = " ".repeat(n);
            let body = format!("{pad}{}", x.replace('\n', &format!("\n{pad}")));
            Value::str(&if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "repeat" => {
            want(name, &a, 2)?;
            let (n, x) = (a[0].to_i64().max(0) as usize, s(&a[1]));
            if n.saturating_mul(x.len()) > MAX_OUTPUT {
                return Err("repeat: output too large".to_owned());
            }
            Value::str(&x.repeat(n))
        }
        "alignLeft" | "alignRight" => {
            want(name, &a, 2)?;
            let (n, x) = (a[0].to_i64().clamp(0, MAX_OUTPUT as i64) as usize, s(&a[1]));
            let len = x.chars().count();
            Value::str(&if len >= n {
                x.chars().take(n).collect::<String>()
            } else if name == "alignLeft" {
                format!("{x}{}", " ".repeat(n - len))
            } else {
                format!("{}{x}", " ".repeat(n - len))
            })
        }
        "int" => {
            want(name, &a, 1)?;
            Value::Int(a[0].to_i64())
        }
        "float64" => {
            want(name, &a, 1)?;
            Value::Float(a[0].to_f64())
        }
        "add" | "sub" | "mul" | "div" | "mod" | "max" | "min" => {
            if a.is_empty() || (matches!(name, "sub" | "div" | "mod") && a.len() != 2) {
                return Err(format!("wrong number of args for {name}"));
            }
            let mut acc = a[0].to_i64();
            for v in &a[1..] {
                let x = v.to_i64();
                acc = match name {
                    "add" => acc.wrapping_add(x),
                    "sub" => acc.wrapping_sub(x),
                    "mul" => acc.wrapping_mul(x),
                    "div" => acc
                        .checked_div(x)
                        .ok_or("runtime error: integer divide by zero")?,
                    "mod" => acc
                        .checked_rem(x)
                        .ok_or("runtime error: integer divide by zero")?,
                    "max" => acc.max(x),
                    _ => acc.min(x),
                };
            }
            Value::Int(acc)
        }
        "addf" | "subf" | "mulf" | "divf" | "maxf" | "minf" => {
            if a.is_empty() {
                return Err(format!("wrong number of args for {name}"));
            }
            let mut acc = a[0].to_f64();
            for v in &a[1..] {
                let x = v.to_f64();
                acc = match name {
                    "addf" => acc + x,
                    "subf" => acc - x,
                    "mulf" => acc * x,
                    "divf" => acc / x,
                    "maxf" => acc.max(x),
                    _ => acc.min(x),
                };
            }
            Value::Float(acc)
        }
        "ceil" | "floor" | "round" => {
            let x = a.first().map_or(0.0, Value::to_f64);
            Value::Float(match name {
                "ceil" => x.ceil(),
                "floor" => x.floor(),
                _ => {
                    let p = a.get(1).map_or(0, Value::to_i64).clamp(0, 15) as i32;
                    let m = 10f64.powi(p);
                    (x * m).round() / m
                }
            })
        }
        "bytes" => {
            want(name, &a, 1)?;
            Value::Float(parse_bytes(s(&a[0]).trim()).ok_or("invalid bytes value")? as f64)
        }
        "duration" | "duration_seconds" => {
            want(name, &a, 1)?;
            let d = parse_go_duration(s(&a[0]).trim()).ok_or("invalid duration")?;
            Value::Float(d as f64 / 1e9)
        }
        "unixEpochMillis" | "unixEpochNanos" | "unixEpoch" => {
            want(name, &a, 1)?;
            let t = time_of(&a[0])?;
            let v = match name {
                "unixEpochMillis" => t.div_euclid(1_000_000),
                "unixEpochNanos" => t,
                _ => t.div_euclid(1_000_000_000),
            };
            if name == "unixEpoch" {
                Value::str(&v.to_string())
            } else {
                Value::Int(v)
            }
        }
        "unixToTime" => {
            want(name, &a, 1)?;
            let x = s(&a[0]);
            let n: i64 = x
                .trim()
                .parse()
                .map_err(|_| format!("invalid epoch {x:?}"))?;
            Value::Time(match x.trim().trim_start_matches('-').len() {
                5 => n.saturating_mul(86_400_000_000_000),
                10 => n.saturating_mul(1_000_000_000),
                13 => n.saturating_mul(1_000_000),
                16 => n.saturating_mul(1_000),
                19 => n,
                _ => return Err(format!("unable to convert {x:?} to time")),
            })
        }
        "date" => {
            want(name, &a, 2)?;
            let mut out = String::new();
            format_time(time_of(&a[1])?, &s(&a[0]), &mut out);
            Value::str(&out)
        }
        "toDate" => {
            want(name, &a, 2)?;
            Value::Time(parse_time(&s(&a[0]), &s(&a[1]), 0)?)
        }
        "toDateInZone" => {
            want(name, &a, 3)?;
            let off = zone_offset(&s(&a[1]))?;
            Value::Time(parse_time(&s(&a[0]), &s(&a[2]), off)?)
        }
        "now" => Value::Time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
        ),
        "fromJson" => {
            want(name, &a, 1)?;
            serde_json::from_str::<serde_json::Value>(&s(&a[0]))
                .map_or(Value::Nil, |v| Value::from_json(&v))
        }
        "default" => {
            if a.is_empty() {
                return Err("wrong number of args for default".to_owned());
            }
            match a.get(1) {
                Some(v) if v.truthy() => v.clone(),
                _ => a[0].clone(),
            }
        }
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "not" => {
            want(name, &a, 1)?;
            Value::Bool(!a[0].truthy())
        }
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".to_owned());
            }
            Value::Bool(
                a[1..]
                    .iter()
                    .any(|b| compare(&a[0], b) == Some(std::cmp::Ordering::Equal)),
            )
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &a, 2)?;
            let o = compare(&a[0], &a[1]).ok_or("incompatible types for comparison")?;
            use std::cmp::Ordering::*;
            Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "len" => {
            want(name, &a, 1)?;
            Value::Int(match &a[0] {
                Value::Str(x) => x.len(),
                Value::Map(m) => m.len(),
                Value::List(l) => l.len(),
                _ => return Err("len of unsupported type".to_owned()),
            } as i64)
        }
        "index" => {
            let mut v = a.first().cloned().ok_or("wrong number of args for index")?;
            for k in &a[1..] {
                v = match &v {
                    Value::Map(m) => m.get(&s(k)).cloned().unwrap_or(Value::Nil),
                    Value::List(l) => l
                        .get(usize::try_from(k.to_i64()).map_err(|_| "index out of range")?)
                        .cloned()
                        .ok_or("index out of range")?,
                    _ => return Err("can't index item".to_owned()),
                };
            }
            v
        }
        "slice" => {
            let x = a.first().ok_or("wrong number of args for slice")?;
            let idx: Vec<i64> = a[1..].iter().map(Value::to_i64).collect();
            match x {
                Value::Str(st) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx.get(1).map_or(st.len(), |&h| h.max(0) as usize);
                    Value::str(st.get(lo..hi).ok_or("slice index out of range")?)
                }
                Value::List(l) => {
                    let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                    let hi = idx.get(1).map_or(l.len(), |&h| h.max(0) as usize);
                    Value::List(Rc::new(
                        l.get(lo..hi).ok_or("slice index out of range")?.to_vec(),
                    ))
                }
                _ => return Err("can't slice item".to_owned()),
            }
        }
        "print" | "println" => {
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                let both_non_str =
                    i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_));
                if i > 0 && (name == "println" || both_non_str) {
                    out.push(' ');
                }
                v.write_to(&mut out);
            }
            if name == "println" {
                out.push('\n');
            }
            Value::str(&out)
        }
        "printf" => {
            let fmt = a.first().ok_or("wrong number of args for printf")?;
            Value::str(&sprintf(&s(fmt), &a[1..]))
        }
        _ => return Err(format!("function {name:?} not supported")),
    })
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            a.to_f64().partial_cmp(&b.to_f64())
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

fn time_of(v: &Value) -> R<i64> {
    match v {
        Value::Time(t) => Ok(*t),
        Value::Int(i) => Ok(*i),
        _ => Err(format!("expected a time, got {}", v.to_text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls() {
        let ctx = Ctx { line: "l", ts: 0 };
        let v = call("add", vec![Value::Int(1), Value::str("2")], ctx).unwrap();
        assert_eq!(v, Value::Int(3));
        assert!(call("div", vec![Value::Int(1), Value::Int(0)], ctx).is_err());
        assert!(call("nosuch", vec![], ctx).is_err());
    }
}
