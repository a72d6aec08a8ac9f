//! Go's `strconv.Quote`, for the label text a stream's token is computed
//! from: Loki hashes `labels.String()`, which Prometheus builds with
//! `strconv.Quote` for every value, so the same bytes must come out here
//! for the same stream to land on the same ingesters.
//!
//! Printable runes (Go's `unicode.IsPrint`: letters, marks, numbers,
//! punctuation, symbols and the ASCII space) pass through; `"` and `\`
//! get a backslash; `\a \b \f \n \r \t \v` are written so; other
//! control characters below U+0080 (and DEL) as `\xNN`; other
//! non-printable runes as `\uNNNN` or `\UNNNNNNNN`; bytes that are not
//! UTF-8 as `\xNN`. Hex digits are lower case, as Go's.
//!
//! The Unicode categories come from the `unicode-general-category` crate
//! (a compact, maintained table of the Unicode Character Database); a
//! rune assigned in a newer Unicode version than the Go release Loki was
//! built with may be printable here and escaped there.

use unicode_general_category::{get_general_category, GeneralCategory};

/// Whether Go's `strconv.IsPrint` (and `unicode.IsPrint`) holds for `c`:
/// categories L, M, N, P, S, and U+0020.
///
/// ```
/// use loki_ring::is_go_print;
///
/// assert!(is_go_print('a') && is_go_print(' ') && is_go_print('☺') && is_go_print('é'));
/// assert!(!is_go_print('\u{a0}') && !is_go_print('\n') && !is_go_print('\u{200b}'));
/// ```
pub fn is_go_print(c: char) -> bool {
    use GeneralCategory::*;
    c == ' '
        || !matches!(
            get_general_category(c),
            SpaceSeparator
                | LineSeparator
                | ParagraphSeparator
                | Control
                | Format
                | Surrogate
                | PrivateUse
                | Unassigned
        )
}

/// `bytes` as Go's `strconv.Quote` writes them, quotes included.
///
/// ```
/// use loki_ring::go_quote;
///
/// assert_eq!(go_quote(b"\"Fran & Freddie's Diner\t\xe2\x98\xba\""), r#""\"Fran & Freddie's Diner\t☺\"""#);
/// assert_eq!(go_quote(b"abc\xffdef"), r#""abc\xffdef""#);
/// ```
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            escape_rune(c, &mut out);
        }
        for &b in chunk.invalid() {
            push_hex(&mut out, 'x', u32::from(b), 2);
        }
    }
    out.push('"');
    out
}

/// A label set as Prometheus's `labels.String()` writes it (and Loki
/// hashes it): `{name="value", …}` in the order given (Prometheus label
/// sets are sorted by name), values quoted by [`go_quote`].
///
/// ```
/// use loki_ring::{labels_string, stream_token};
///
/// let text = labels_string([("app", "shop"), ("msg", "caf\u{e9}\n")]);
/// assert_eq!(text, "{app=\"shop\", msg=\"café\\n\"}");
/// let _token = stream_token("fake", &text);
/// ```
pub fn labels_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (n, (name, value)) in pairs.into_iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&go_quote(value.as_bytes()));
    }
    out.push('}');
    out
}

fn escape_rune(c: char, out: &mut String) {
    if c == '"' || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_go_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if c < ' ' || c == '\u{7f}' => push_hex(out, 'x', u32::from(c), 2),
        c if u32::from(c) < 0x10000 => push_hex(out, 'u', u32::from(c), 4),
        c => push_hex(out, 'U', u32::from(c), 8),
    }
}

fn push_hex(out: &mut String, kind: char, value: u32, digits: usize) {
    out.push('\\');
    out.push(kind);
    out.push_str(&format!("{value:0digits$x}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_gos_quote_table() {
        // Go's strconv quote tests and documented examples.
        let cases: &[(&[u8], &str)] = &[
            (b"\x07\x08\x0c\r\n\t\x0b", r#""\a\b\f\r\n\t\v""#),
            (b"\\", r#""\\""#),
            (b"abc\xffdef", r#""abc\xffdef""#),
            ("\u{263a}".as_bytes(), "\"☺\""),
            ("\u{10ffff}".as_bytes(), r#""\U0010ffff""#),
            (b"\x04", r#""\x04""#),
            (
                "!\u{a0}!\u{2000}!\u{3000}!".as_bytes(),
                r#""!\u00a0!\u2000!\u3000!""#,
            ),
            (b"\x7f", r#""\x7f""#),
            (
                "\"Fran & Freddie's Diner\t☺\"".as_bytes(),
                r#""\"Fran & Freddie's Diner\t☺\"""#,
            ),
            ("\u{feff}".as_bytes(), r#""\ufeff""#),
            ("\u{e000}".as_bytes(), r#""\ue000""#),
            ("\u{1f600}".as_bytes(), "\"\u{1f600}\""),
            ("\u{fffd}".as_bytes(), "\"\u{fffd}\""),
            (b"\xe2\x82", r#""\xe2\x82""#),
            ("\u{85}".as_bytes(), r#""\u0085""#),
            ("é\u{301}".as_bytes(), "\"é\u{301}\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), *want, "{input:?}");
        }
    }

    #[test]
    fn label_text_and_token_of_a_non_ascii_stream() {
        let text = labels_string([("app", "caf\u{e9}"), ("x", "\u{1}")]);
        assert_eq!(text, "{app=\"café\", x=\"\\x01\"}");
        // Rust's `{:?}` writes `\u{1}`: a different text, another token.
        assert_ne!(format!("{:?}", "\u{1}"), "\"\\x01\"");
    }

    proptest! {
        #[test]
        fn ascii_printable_quotes_as_before(s in "[ -~]{0,64}") {
            prop_assert_eq!(go_quote(s.as_bytes()), format!("{s:?}"));
        }
    }
}
