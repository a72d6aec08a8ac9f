//! A small allocation-free JSON scanner for the `json` and `unpack`
//! stages: find strings, skip values, unescape into reused buffers.

use memchr::memchr2;

/// A scan failure, with the message put into `__error_details__`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanError(pub(crate) &'static str);

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub(crate) type ScanResult<T> = Result<T, ScanError>;

/// The kind of a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `b[i]` is `"`; returns the index after the closing quote and whether
/// the body has escapes.
pub(crate) fn scan_string(b: &[u8], i: usize) -> ScanResult<(usize, bool)> {
    let mut j = i + 1;
    let mut esc = false;
    loop {
        match memchr2(b'"', b'\\', &b[j.min(b.len())..]) {
            None => return Err(ScanError("unterminated string")),
            Some(k) => {
                j += k;
                if b[j] == b'\\' {
                    esc = true;
                    j += 2;
                } else {
                    return Ok((j + 1, esc));
                }
            }
        }
    }
}

/// The kind of the value at `b[i]`.
pub(crate) fn kind_at(b: &[u8], i: usize) -> ScanResult<Kind> {
    Ok(match b.get(i) {
        Some(b'"') => Kind::Str,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        Some(b'-' | b'0'..=b'9') => Kind::Number,
        _ => return Err(ScanError("unknown value type")),
    })
}

/// Skips the value at `b[i]`, returning the index after it.
pub(crate) fn skip_value(b: &[u8], i: usize) -> ScanResult<usize> {
    match kind_at(b, i)? {
        Kind::Str => scan_string(b, i).map(|(e, _)| e),
        Kind::Number => {
            let mut j = i + 1;
            while j < b.len() && matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                j += 1;
            }
            Ok(j)
        }
        Kind::Bool | Kind::Null => {
            let word: &[u8] = match b[i] {
                b't' => b"true",
                b'f' => b"false",
                _ => b"null",
            };
            if b[i..].starts_with(word) {
                Ok(i + word.len())
            } else {
                Err(ScanError("unknown value type"))
            }
        }
        Kind::Object | Kind::Array => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = scan_string(b, j)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(ScanError("unterminated object or array"))
        }
    }
}

/// Appends the decoded body of a JSON string (without quotes) to `out`.
pub(crate) fn unescape(raw: &[u8], out: &mut String) -> ScanResult<()> {
    let mut i = 0;
    let mut bytes = Vec::new();
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            bytes.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1).ok_or(ScanError("bad escape"))?;
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hex = |s: &[u8]| {
                    std::str::from_utf8(s)
                        .ok()
                        .and_then(|s| u32::from_str_radix(s, 16).ok())
                };
                let hi = raw
                    .get(i..i + 4)
                    .and_then(hex)
                    .ok_or(ScanError("bad escape"))?;
                i += 4;
                if (0xD800..0xDC00).contains(&hi) && raw.get(i..i + 2) == Some(b"\\u") {
                    let lo = raw.get(i + 2..i + 6).and_then(hex).unwrap_or(0);
                    if (0xDC00..0xE000).contains(&lo) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            .unwrap_or('\u{fffd}')
                    } else {
                        '\u{fffd}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            _ => return Err(ScanError("bad escape")),
        };
        let mut buf = [0; 4];
        bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    out.push_str(&String::from_utf8_lossy(&bytes));
    Ok(())
}

/// Appends a string body to `out`, decoding only if it has escapes.
pub(crate) fn push_string(raw: &[u8], esc: bool, out: &mut String) -> ScanResult<()> {
    if esc {
        unescape(raw, out)
    } else {
        match std::str::from_utf8(raw) {
            Ok(s) => out.push_str(s),
            Err(_) => out.push_str(&String::from_utf8_lossy(raw)),
        }
        Ok(())
    }
}

/// Calls `f(key_raw, key_has_escape, value_start, value_end)` for each
/// member of the object at `b[i]`; returns the index after the object.
pub(crate) fn each_member(
    b: &[u8],
    i: usize,
    mut f: impl FnMut(&[u8], bool, usize, usize) -> ScanResult<bool>,
) -> ScanResult<usize> {
    if b.get(i) != Some(&b'{') {
        return Err(ScanError(
            "Value looks like object, but can't find closing '}' symbol",
        ));
    }
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(j + 1);
    }
    loop {
        if b.get(j) != Some(&b'"') {
            return Err(ScanError("Malformed object key"));
        }
        let (kend, kesc) = scan_string(b, j)?;
        let key = &b[j + 1..kend - 1];
        j = skip_ws(b, kend);
        if b.get(j) != Some(&b':') {
            return Err(ScanError("Malformed object: missing ':'"));
        }
        let vstart = skip_ws(b, j + 1);
        let vend = skip_value(b, vstart)?;
        if !f(key, kesc, vstart, vend)? {
            return Ok(vend);
        }
        j = skip_ws(b, vend);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b'}') => return Ok(j + 1),
            _ => {
                return Err(ScanError(
                    "Value looks like object, but can't find closing '}' symbol",
                ))
            }
        }
    }
}
