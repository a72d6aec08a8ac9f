//! Text helpers of the template functions: Go's `printf`, URL, HTML,
//! JavaScript and base64 encodings.

use std::fmt::Write as _;

use super::value::{fmt_go_float, Value};
use super::MAX_OUTPUT;

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

pub(crate) fn query_escape(s: &str) -> String {
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

pub(crate) fn query_unescape(s: &str) -> R<String> {
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

pub(crate) fn html_escape(s: &str) -> String {
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

pub(crate) fn js_escape(s: &str) -> String {
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

pub(crate) fn b64encode(b: &[u8]) -> String {
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

pub(crate) fn b64decode(s: &str) -> Option<Vec<u8>> {
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

type R<T> = Result<T, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf() {
        let a = [
            Value::Float(1.23456),
            Value::Int(42),
            Value::str("x"),
            Value::str("x"),
        ];
        assert_eq!(sprintf("%.2f|%5d|%-3s|%q|%%", &a), "1.23|   42|x  |\"x\"|%");
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
    }

    #[test]
    fn encodings() {
        assert_eq!(b64decode(&b64encode(b"hello!?")).unwrap(), b"hello!?");
        assert_eq!(b64encode(b"ab"), "YWI=");
        assert_eq!(query_unescape(&query_escape("a b/&")).unwrap(), "a b/&");
    }
}
