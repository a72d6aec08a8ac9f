//! Literal values: Go strings, Prometheus and Go durations, human byte sizes,
//! floats; parsing and the canonical printing that parses back exactly.

use std::fmt::Write as _;

/// Nanoseconds per unit, Prometheus duration units in the order they must
/// appear (`model.ParseDuration`).
const PROM_UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000_000_000),
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// Parses a Prometheus duration (`1h30m`, `5m`, `2d`, `0`) into nanoseconds.
pub(crate) fn parse_prom_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = PROM_UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)?
            + next_unit;
        next_unit = idx + 1;
        total = total.checked_add(n.checked_mul(PROM_UNITS[idx].1)?)?;
    }
    Some(total)
}

/// Parses a Go duration (`1.5h`, `300us`, `-2m3s`, `0`) into nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
        let int_part = &rest[..digits];
        rest = &rest[digits..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
            frac_part = &r[..n];
            rest = &r[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let ulen = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphabetic()))
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..ulen] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[ulen..];
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        total = total.checked_add(int.checked_mul(unit)?)?;
        let mut scale = unit;
        for d in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            total += u128::from(d - b'0') * scale;
        }
        if total > i64::MAX as u128 {
            return None;
        }
    }
    let v = total as i64;
    Some(if neg { -v } else { v })
}

/// Parses a duration literal as Loki's lexer does: Prometheus first, then Go.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    parse_prom_duration(s).or_else(|| parse_go_duration(s))
}

/// Formats nanoseconds so that [`parse_duration`] returns the same value:
/// Prometheus style (`1h30m`, `250ms`) for whole milliseconds, else `…us`/`…ns`.
pub(crate) fn fmt_duration(nanos: i64) -> String {
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let n = nanos.unsigned_abs();
    if n == 0 {
        out.push_str("0s");
    } else if n % 1_000_000 != 0 {
        if n % 1_000 == 0 {
            let _ = write!(out, "{}us", n / 1_000);
        } else {
            let _ = write!(out, "{n}ns");
        }
    } else {
        let mut rest = n;
        for (unit, size) in PROM_UNITS {
            let size = size as u64;
            if rest >= size {
                let _ = write!(out, "{}{unit}", rest / size);
                rest %= size;
            }
        }
    }
    out
}

const KB: u64 = 1_000;
const KIB: u64 = 1 << 10;

/// Canonical units, used when printing.
const BYTE_UNITS: [(&str, u64); 11] = [
    ("B", 1),
    ("kB", KB),
    ("MB", KB * KB),
    ("GB", KB * KB * KB),
    ("TB", KB * KB * KB * KB),
    ("PB", KB * KB * KB * KB * KB),
    ("KiB", KIB),
    ("MiB", KIB * KIB),
    ("GiB", KIB * KIB * KIB),
    ("TiB", KIB * KIB * KIB * KIB),
    ("PiB", KIB * KIB * KIB * KIB * KIB),
];

/// The multiplier of a unit, case-insensitive, as go-humanize reads it
/// (`kb`, `KiB`, bare `k`/`Ki`, …).
fn byte_unit(unit: &str) -> Option<u64> {
    let lower = unit.to_ascii_lowercase();
    let (base, rest) = match lower.as_bytes().first() {
        None => return Some(1),
        Some(b'b') if lower.len() == 1 => return Some(1),
        Some(b'k') => (0, &lower[1..]),
        Some(b'm') => (1, &lower[1..]),
        Some(b'g') => (2, &lower[1..]),
        Some(b't') => (3, &lower[1..]),
        Some(b'p') => (4, &lower[1..]),
        _ => return None,
    };
    let (step, ok) = match rest {
        "" | "b" => (KB, true),
        "i" | "ib" => (KIB, true),
        _ => (0, false),
    };
    ok.then(|| step.pow(base + 1))
}

/// Parses a byte size as Loki does (go-humanize): `20KB`, `1.5MiB`, `3B`,
/// `5k`; units are case-insensitive.
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult = byte_unit(unit)?;
    if num.is_empty() || num.bytes().filter(|&c| c == b'.').count() > 1 || num == "." {
        return None;
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f: f64 = num.parse().ok()?;
    let v = f * mult as f64;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return None;
    }
    Some(v as u64)
}

/// Formats a byte count so that [`parse_bytes`] returns the same value,
/// choosing the shortest exact unit.
pub(crate) fn fmt_bytes(n: u64) -> String {
    let mut best = format!("{n}B");
    if n == 0 {
        return best;
    }
    for (unit, size) in &BYTE_UNITS[1..] {
        if n % size == 0 {
            let s = format!("{}{unit}", n / size);
            if s.len() < best.len() {
                best = s;
            }
        }
    }
    best
}

/// Formats a finite float so that it lexes back as the same number.
pub(crate) fn fmt_float(v: f64, out: &mut String) {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `s` as a Go double-quoted string literal.
pub(crate) fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
/// Returns `s` as a Go double-quoted string literal.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote(s, &mut out);
    out
}

/// Why a double-quoted string body failed to decode, with the byte offset
/// (relative to the body) of the bad escape.
#[derive(Debug)]
pub(crate) enum UnquoteError {
    Escape(usize, String),
    Utf8,
}

/// Decodes the body of a Go double-quoted string (without the quotes).
pub(crate) fn unquote_body(body: &str) -> Result<String, UnquoteError> {
    if !body.contains('\\') {
        return Ok(body.to_owned());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let b = body.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let start = i;
        let bad = |end: usize| {
            let end = (start..=end.min(body.len()))
                .rev()
                .find(|&e| body.is_char_boundary(e))
                .unwrap_or(start);
            UnquoteError::Escape(start, body[start..end].to_owned())
        };
        let Some(&e) = b.get(i + 1) else {
            return Err(bad(i + 1));
        };
        i += 2;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'0'..=b'7' => {
                let digits = body.get(i - 1..i + 2).ok_or_else(|| bad(b.len()))?;
                let v = u32::from_str_radix(digits, 8).map_err(|_| bad(i + 2))?;
                if v > 255 {
                    return Err(bad(i + 2));
                }
                out.push(v as u8);
                i += 2;
            }
            b'x' | b'u' | b'U' => {
                let n = match e {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let digits = body.get(i..i + n).ok_or_else(|| bad(b.len()))?;
                if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(bad(i + n));
                }
                let v = u32::from_str_radix(digits, 16).map_err(|_| bad(i + n))?;
                i += n;
                if e == b'x' {
                    out.push(v as u8);
                } else {
                    let c = char::from_u32(v).ok_or_else(|| bad(i))?;
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            _ => return Err(bad(i)),
        }
    }
    String::from_utf8(out).map_err(|_| UnquoteError::Utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(300_000_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300us"), Some(300_000));
        assert_eq!(parse_duration("2µs"), Some(2_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_prom_duration("1m1h"), None);
        assert_eq!(parse_duration("1m1h"), Some(3_660_000_000_000));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
        for n in [
            1,
            1_500,
            1_000_000,
            90_061_001_000_000,
            31_536_000_000_000_000,
            -5_000_000,
        ] {
            assert_eq!(parse_duration(&fmt_duration(n)), Some(n), "{n}");
        }
        assert_eq!(fmt_duration(5_400_000_000_000), "1h30m");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20KB"), Some(20_000));
        assert_eq!(parse_bytes("1.5MiB"), Some(1_572_864));
        assert_eq!(parse_bytes("3B"), Some(3));
        assert_eq!(parse_bytes("3b"), Some(3));
        assert_eq!(parse_bytes("5k"), Some(5_000));
        assert_eq!(parse_bytes("2Ki"), Some(2_048));
        assert_eq!(parse_bytes("1kib"), Some(1_024));
        assert_eq!(parse_bytes("1EB"), None);
        assert_eq!(parse_bytes("1x"), None);
        assert_eq!(parse_bytes("1..5B"), None);
        for n in [0, 1, 1000, 1024, 20_001, 1 << 50, u64::MAX / 3] {
            assert_eq!(parse_bytes(&fmt_bytes(n)), Some(n), "{n}");
        }
        assert_eq!(fmt_bytes(2048), "2KiB");
    }

    #[test]
    fn strings() {
        assert_eq!(
            unquote_body(r#"a\"b\n\x41\101\u00e9\U0001F600"#).unwrap(),
            "a\"b\nAAé😀"
        );
        assert!(unquote_body(r"\q").is_err());
        assert!(unquote_body(r"\xff").is_err());
        assert!(unquote_body(r"\400").is_err());
        assert!(unquote_body(r"\u12").is_err());
        let s = "tab\t\"q\" \\ \u{1} \u{85} é";
        let q = quoted(s);
        assert_eq!(unquote_body(&q[1..q.len() - 1]).unwrap(), s);
    }
}
