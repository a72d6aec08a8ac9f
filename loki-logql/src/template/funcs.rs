//! The template functions Loki registers: its own, the Sprig subset and
//! Go's built-ins. Times are UTC; `toDateInZone` understands `UTC`,
//! `Local` (as UTC) and fixed offsets such as `+02:00`.

use std::fmt::Write as _;
use std::rc::Rc;

use super::value::{fmt_go_float, Value};
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

/// Go's `fmt.Sprintf` for the common verbs.
pub(crate) fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = it.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let body = match verb {
            'v' | 's' => {
                let t = arg.to_text();
                match prec {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'd' => match arg {
                Value::Int(_) | Value::Bool(_) => {
                    let v = arg.to_i64();
                    if flags.contains('+') && v >= 0 {
                        format!("+{v}")
                    } else {
                        v.to_string()
                    }
                }
                other => format!("%!d({})", other.to_text()),
            },
            'f' | 'F' | 'e' | 'g' => match arg {
                Value::Float(_) | Value::Int(_) => {
                    let v = arg.to_f64();
                    match verb {
                        'e' => {
                            let s = format!("{:.*e}", prec.unwrap_or(6), v);
                            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                            let e: i32 = e.parse().unwrap_or(0);
                            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
                        }
                        'g' => {
                            let mut s = String::new();
                            fmt_go_float(v, &mut s);
                            s
                        }
                        _ => format!("{:.*}", prec.unwrap_or(6), v),
                    }
                }
                other => format!("%!{verb}({})", other.to_text()),
            },
            'q' => format!("{:?}", arg.to_text()),
            'x' | 'X' => {
                let t = match arg {
                    Value::Int(i) => format!("{i:x}"),
                    other => other
                        .to_text()
                        .bytes()
                        .map(|b| format!("{b:02x}"))
                        .collect(),
                };
                if verb == 'X' {
                    t.to_uppercase()
                } else {
                    t
                }
            }
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", other.to_text()),
            },
            'c' => char::from_u32(arg.to_i64() as u32).map_or(String::new(), String::from),
            _ => format!("%!{verb}({})", arg.to_text()),
        };
        let w: usize = width.parse::<usize>().unwrap_or(0).min(MAX_OUTPUT);
        let n = body.chars().count();
        if n >= w {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - n));
        } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'e' | 'g') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - n));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - n));
            out.push_str(&body);
        }
    }
    for extra in it {
        let _ = write!(out, "%!(EXTRA {})", extra.to_text());
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn query_unescape(s: &str) -> R<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!(
                            "invalid URL escape {:?}",
                            s.get(i..(i + 3).min(s.len())).unwrap_or("%")
                        )
                    })?;
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn zone_offset(zone: &str) -> R<i64> {
    match zone {
        "" | "UTC" | "Local" | "GMT" | "Etc/UTC" => Ok(0),
        z => {
            let (sign, rest) = match z.as_bytes().first() {
                Some(b'+') => (1, &z[1..]),
                Some(b'-') => (-1, &z[1..]),
                _ => return Err(format!("unknown time zone {z}")),
            };
            let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return Err(format!("unknown time zone {z}"));
            }
            let h: i64 = digits[..2].parse().unwrap_or(0);
            let m: i64 = digits[2..].parse().unwrap_or(0);
            Ok(sign * (h * 3600 + m * 60))
        }
    }
}

/// Days since 1970-01-01 to (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Layout tokens of Go's `time` package, longest first.
const TOKENS: [&str; 24] = [
    "January",
    "Monday",
    "2006",
    "Jan",
    "Mon",
    "MST",
    "Z07:00",
    "-07:00",
    "-0700",
    ".000000000",
    ".000000",
    ".000",
    ".999999999",
    ".999999",
    ".999",
    "01",
    "02",
    "15",
    "03",
    "04",
    "05",
    "PM",
    "_2",
    "06",
];

/// Formats a UTC time with a Go layout.
pub(crate) fn format_time(ns: i64, layout: &str, out: &mut String) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for t in TOKENS {
            if let Some(r) = rest.strip_prefix(t) {
                let _ = match t {
                    "January" => write!(out, "{}", MONTHS[mo as usize - 1]),
                    "Jan" => write!(out, "{}", &MONTHS[mo as usize - 1][..3]),
                    "Monday" => write!(out, "{}", DAYS[days.rem_euclid(7) as usize]),
                    "Mon" => write!(out, "{}", &DAYS[days.rem_euclid(7) as usize][..3]),
                    "2006" => write!(out, "{y:04}"),
                    "06" => write!(out, "{:02}", y.rem_euclid(100)),
                    "01" => write!(out, "{mo:02}"),
                    "02" => write!(out, "{d:02}"),
                    "_2" => write!(out, "{d:>2}"),
                    "15" => write!(out, "{h:02}"),
                    "03" => write!(out, "{:02}", if h % 12 == 0 { 12 } else { h % 12 }),
                    "04" => write!(out, "{mi:02}"),
                    "05" => write!(out, "{s:02}"),
                    "PM" => write!(out, "{}", if h >= 12 { "PM" } else { "AM" }),
                    "MST" => write!(out, "UTC"),
                    "Z07:00" => write!(out, "Z"),
                    "-07:00" => write!(out, "+00:00"),
                    "-0700" => write!(out, "+0000"),
                    ".000" => write!(out, ".{:03}", frac / 1_000_000),
                    ".000000" => write!(out, ".{:06}", frac / 1_000),
                    ".000000000" => write!(out, ".{frac:09}"),
                    _ => {
                        // .999…: trailing zeros trimmed, nothing when zero.
                        let digits = t.len() - 1;
                        let v = format!("{frac:09}");
                        let v = v[..digits].trim_end_matches('0');
                        if v.is_empty() {
                            Ok(())
                        } else {
                            write!(out, ".{v}")
                        }
                    }
                };
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
}

/// Parses `value` with a Go layout; the zone offset (seconds) applies when
/// the layout has none.
fn parse_time(layout: &str, value: &str, offset: i64) -> R<i64> {
    let err = || format!("parsing time {value:?} as {layout:?}: cannot parse");
    let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut frac, mut pm) =
        (1i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0i64, None);
    let mut off = offset;
    let mut l = layout;
    let mut v = value;
    let num = |v: &mut &str, n: usize| -> R<i64> {
        let t = v.get(..n).ok_or_else(err)?;
        let x = t.trim_start().parse::<i64>().map_err(|_| err())?;
        *v = &v[n..];
        Ok(x)
    };
    'outer: while !l.is_empty() {
        for t in TOKENS {
            if let Some(r) = l.strip_prefix(t) {
                match t {
                    "2006" => y = num(&mut v, 4)?,
                    "06" => y = 2000 + num(&mut v, 2)?,
                    "01" => mo = num(&mut v, 2)? as u32,
                    "02" | "_2" => d = num(&mut v, 2)? as u32,
                    "15" => h = num(&mut v, 2)?,
                    "03" => h = num(&mut v, 2)?,
                    "04" => mi = num(&mut v, 2)?,
                    "05" => s = num(&mut v, 2)?,
                    "PM" => {
                        pm = Some(v.starts_with("PM"));
                        v = v.get(2..).ok_or_else(err)?;
                    }
                    "Jan" | "January" => {
                        let i = MONTHS
                            .iter()
                            .position(|m| v.starts_with(if t == "Jan" { &m[..3] } else { m }))
                            .ok_or_else(err)?;
                        mo = i as u32 + 1;
                        v = &v[if t == "Jan" { 3 } else { MONTHS[i].len() }..];
                    }
                    "Mon" | "Monday" => {
                        let n = v.find(|c: char| !c.is_alphabetic()).unwrap_or(v.len());
                        v = &v[n..];
                    }
                    "MST" => {
                        let n = v.find(|c: char| !c.is_ascii_uppercase()).unwrap_or(v.len());
                        v = &v[n..];
                        off = 0;
                    }
                    "Z07:00" | "-07:00" | "-0700" => {
                        if let Some(r) = v.strip_prefix('Z') {
                            v = r;
                            off = 0;
                        } else {
                            let n = if t == "-0700" { 5 } else { 6 };
                            let z = v.get(..n).ok_or_else(err)?;
                            off = zone_offset(z)?;
                            v = &v[n..];
                        }
                    }
                    _ => {
                        // fractional seconds
                        let body = v.strip_prefix(['.', ',']).ok_or_else(err)?;
                        let n = body
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(body.len());
                        let digits = format!("{:0<9}", &body[..n.min(9)]);
                        frac = digits.parse().map_err(|_| err())?;
                        v = &body[n..];
                    }
                }
                l = r;
                continue 'outer;
            }
        }
        let c = l.chars().next().unwrap_or(' ');
        v = v.strip_prefix(c).ok_or_else(err)?;
        l = &l[c.len_utf8()..];
    }
    // Seconds may carry a fraction even when the layout has none.
    if let Some(body) = v.strip_prefix('.') {
        let n = body
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len());
        frac = format!("{:0<9}", &body[..n.min(9)]).parse().unwrap_or(0);
        v = &body[n..];
    }
    if !v.is_empty() {
        return Err(format!("parsing time {value:?}: extra text {v:?}"));
    }
    if let Some(pm) = pm {
        h = h % 12 + if pm { 12 } else { 0 };
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(err());
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - off;
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = parse_time("2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z", 0).unwrap();
        assert_eq!(t, 1_700_000_000_000_000_000);
        let mut out = String::new();
        format_time(t, "2006-01-02 15:04:05.000 Mon Jan", &mut out);
        assert_eq!(out, "2023-11-14 22:13:20.000 Tue Nov");
        assert_eq!(b64decode(&b64encode(b"hello!?")).unwrap(), b"hello!?");
        assert_eq!(b64encode(b"ab"), "YWI=");
    }

    #[test]
    fn printf() {
        let a = [
            Value::Float(3.14159),
            Value::Int(42),
            Value::str("x"),
            Value::str("x"),
        ];
        assert_eq!(sprintf("%.2f|%5d|%-3s|%q|%%", &a), "3.14|   42|x  |\"x\"|%");
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
    }
}
