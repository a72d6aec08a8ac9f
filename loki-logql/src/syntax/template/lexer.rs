//! Lexer for Go `text/template` source: text runs and action tokens.

/// A template token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TTok {
    /// Literal text between actions (trim markers already applied).
    Text(String),
    /// `{{` (after any trim marker and comment handling).
    Open,
    /// `}}`.
    Close,
    Pipe,
    LParen,
    RParen,
    Comma,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `.`
    Dot,
    /// `.name`
    Field(String),
    /// `.name` directly after an operand (`.a.b`, `$x.b`, `(…).b`): a
    /// field of that operand rather than a new argument.
    Chain(String),
    /// `$` or `$name`.
    Variable(String),
    /// A keyword or function name.
    Ident(String),
    Str(String),
    Char(char),
    Number(String),
}

/// Splits a template into tokens, or explains why it cannot.
pub(crate) fn lex(src: &str) -> Result<Vec<TTok>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    loop {
        let Some(open) = rest.find("{{") else {
            if !rest.is_empty() {
                out.push(TTok::Text(rest.to_owned()));
            }
            return Ok(out);
        };
        let mut text = &rest[..open];
        rest = &rest[open + 2..];
        if let Some(r) = rest.strip_prefix("- ").or_else(|| trim_marker(rest)) {
            text = text.trim_end();
            rest = r;
        }
        if !text.is_empty() {
            out.push(TTok::Text(text.to_owned()));
        }
        let body = rest.trim_start();
        if let Some(c) = body.strip_prefix("/*") {
            let end = c.find("*/").ok_or("unclosed comment")?;
            let after = c[end + 2..].trim_start();
            rest = if let Some(r) = after.strip_prefix("-}}") {
                r.trim_start()
            } else if let Some(r) = after.strip_prefix("}}") {
                r
            } else {
                return Err("comment ends before closing delimiter".to_owned());
            };
            continue;
        }
        out.push(TTok::Open);
        rest = lex_action(rest, &mut out)?;
    }
}

fn trim_marker(s: &str) -> Option<&str> {
    let r = s.strip_prefix('-')?;
    r.starts_with(['\t', '\n', '\r']).then_some(r)
}

/// Lexes one action body; returns the text after its `}}`.
fn lex_action<'a>(mut s: &'a str, out: &mut Vec<TTok>) -> Result<&'a str, String> {
    loop {
        let trimmed = s.trim_start_matches([' ', '\t', '\r', '\n']);
        let had_space = trimmed.len() != s.len();
        s = trimmed;
        if had_space {
            if let Some(r) = s.strip_prefix("-}}") {
                out.push(TTok::Close);
                return Ok(r.trim_start());
            }
        }
        if let Some(r) = s.strip_prefix("}}") {
            out.push(TTok::Close);
            return Ok(r);
        }
        let mut chars = s.chars();
        let Some(c) = chars.next() else {
            return Err("unclosed action".to_owned());
        };
        let (tok, len) = match c {
            '|' => (TTok::Pipe, 1),
            '(' => (TTok::LParen, 1),
            ')' => (TTok::RParen, 1),
            ',' => (TTok::Comma, 1),
            ':' if s[1..].starts_with('=') => (TTok::Declare, 2),
            '=' => (TTok::Assign, 1),
            '"' => {
                let mut i = 1;
                let b = s.as_bytes();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\n' {
                        return Err("unterminated quoted string".to_owned());
                    }
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if i >= b.len() {
                    return Err("unterminated quoted string".to_owned());
                }
                let body = &s[1..i];
                let v = crate::syntax::literal::unquote_body(body)
                    .map_err(|_| format!("invalid string literal \"{body}\""))?;
                (TTok::Str(v), i + 1)
            }
            '`' => {
                let end = s[1..].find('`').ok_or("unterminated raw quoted string")?;
                (TTok::Str(s[1..end + 1].to_owned()), end + 2)
            }
            '\'' => {
                let end = s[1..].find('\'').ok_or("unterminated character constant")?;
                let body = &s[1..end + 1];
                let v = crate::syntax::literal::unquote_body(body)
                    .ok()
                    .filter(|v| v.chars().count() == 1)
                    .ok_or_else(|| format!("invalid character constant '{body}'"))?;
                (TTok::Char(v.chars().next().unwrap_or_default()), end + 2)
            }
            '$' => {
                let n = ident_len(&s[1..]);
                (TTok::Variable(s[..n + 1].to_owned()), n + 1)
            }
            '.' if s[1..].starts_with(|c: char| c == '_' || c.is_alphabetic()) => {
                let n = ident_len(&s[1..]);
                let name = s[1..n + 1].to_owned();
                let attached = !had_space
                    && matches!(
                        out.last(),
                        Some(TTok::Field(_) | TTok::Chain(_) | TTok::Variable(_) | TTok::RParen)
                    );
                if attached {
                    (TTok::Chain(name), n + 1)
                } else {
                    (TTok::Field(name), n + 1)
                }
            }
            '.' if !s[1..].starts_with(|c: char| c.is_ascii_digit()) => (TTok::Dot, 1),
            c if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => {
                let n = s
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| {
                        !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '+' || c == '-')
                    })
                    .map_or(s.len(), |(i, _)| i);
                let text = &s[..n];
                if !valid_number(text) {
                    return Err(format!("bad number syntax: \"{text}\""));
                }
                (TTok::Number(text.to_owned()), n)
            }
            c if c == '_' || c.is_alphabetic() => {
                let n = ident_len(s);
                (TTok::Ident(s[..n].to_owned()), n)
            }
            c => return Err(format!("unexpected {c:?} in command")),
        };
        out.push(tok);
        s = &s[len..];
    }
}

fn ident_len(s: &str) -> usize {
    s.char_indices()
        .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
        .map_or(s.len(), |(i, _)| i)
}

fn valid_number(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let t = t.strip_suffix('i').unwrap_or(t);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit() || c == b'_');
    }
    let t: String = t.chars().filter(|&c| c != '_').collect();
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.') && t.parse::<f64>().is_ok()
}
