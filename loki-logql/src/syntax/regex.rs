//! Go (RE2) regex syntax to Rust `regex` syntax.
//!
//! Queries carry Go regexes; the `regex` crate reads nearly the same
//! language. The differences that matter in practice are bridged here:
//! a `{` that does not start a valid repetition is a literal in Go (so
//! `|~ "{.*}"` is valid), `\Q…\E` quotes literal text, and `\C` matches any
//! byte. The AST keeps the Go text; checks (and the evaluator) translate.

use std::borrow::Cow;

/// Rewrites a Go regex into an equivalent Rust regex.
pub(crate) fn go_to_rust(re: &str) -> Cow<'_, str> {
    if !re.contains(['{', '\\']) {
        return Cow::Borrowed(re);
    }
    let mut out = String::with_capacity(re.len() + 8);
    let b = re.as_bytes();
    let mut i = 0;
    let mut class_depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                match b[i + 1] {
                    b'Q' if class_depth == 0 => {
                        let body = &re[i + 2..];
                        let end = body.find("\\E").unwrap_or(body.len());
                        out.push_str(&regex_syntax::escape(&body[..end]));
                        i += 2 + end + if end < body.len() { 2 } else { 0 };
                        continue;
                    }
                    b'C' if class_depth == 0 => out.push_str("(?s-u:.)"),
                    _ => {
                        let n = re[i + 1..].chars().next().map_or(1, char::len_utf8);
                        out.push_str(&re[i..i + 1 + n]);
                        i += 1 + n;
                        continue;
                    }
                }
                i += 2;
                continue;
            }
            b'[' => {
                // `[]a]` and `[^]a]`: a leading `]` is literal.
                class_depth += 1;
                out.push('[');
                i += 1;
                if b.get(i) == Some(&b'^') {
                    out.push('^');
                    i += 1;
                }
                if b.get(i) == Some(&b']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            b']' if class_depth > 0 => class_depth -= 1,
            b'{' if class_depth == 0 && !is_repeat(&re[i..]) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            _ => {}
        }
        let n = re[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&re[i..i + n]);
        i += n;
    }
    Cow::Owned(out)
}

/// Whether `s` starts with `{n}`, `{n,}` or `{n,m}`.
fn is_repeat(s: &str) -> bool {
    let Some(body) = s.strip_prefix('{') else {
        return false;
    };
    let Some(end) = body.find('}') else {
        return false;
    };
    let body = &body[..end];
    let (min, max) = body.split_once(',').unwrap_or((body, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    digits(min) && (max.is_empty() || digits(max))
}

#[cfg(test)]
mod tests {
    use super::go_to_rust;

    #[test]
    fn translations() {
        assert_eq!(go_to_rust("a.*"), "a.*");
        assert_eq!(go_to_rust("{.*}"), "\\{.*}");
        assert_eq!(go_to_rust("a{"), "a\\{");
        assert_eq!(go_to_rust("a{2}b{1,}c{1,3}"), "a{2}b{1,}c{1,3}");
        assert_eq!(go_to_rust("x{a}"), "x\\{a}");
        assert_eq!(go_to_rust(r"\Qa.b\E+"), r"a\.b+");
        assert_eq!(go_to_rust(r"\Qa.b"), r"a\.b");
        assert_eq!(go_to_rust(r"\C"), "(?s-u:.)");
        assert_eq!(go_to_rust(r"[{]\{"), r"[{]\{");
        assert_eq!(go_to_rust(r"[]{]{"), r"[\]{]\{");
        for re in ["{.*}", "a{", r"\Qa.b\E", "[]a]", r"\d{2,}x{", "é{"] {
            let rust = go_to_rust(re);
            assert!(
                regex_syntax::Parser::new().parse(&rust).is_ok(),
                "{re} -> {rust}"
            );
        }
    }
}
