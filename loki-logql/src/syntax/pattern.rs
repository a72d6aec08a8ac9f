//! The `pattern` parser / `|>` filter syntax: literals and `<name>` / `<_>`
//! captures. Kept as a node list so the evaluator can match with it.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Text that must appear literally.
    Literal(String),
    /// `<name>`, or `<_>` (`None`).
    Capture(Option<String>),
}

/// Splits a pattern into literals and captures. A `<` that does not start a
/// well-formed capture is literal text.
pub(crate) fn parse(p: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut lit = String::new();
    let mut rest = p;
    while let Some(i) = rest.find('<') {
        lit.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(name) = capture_at(rest) {
            if !lit.is_empty() {
                nodes.push(Node::Literal(std::mem::take(&mut lit)));
            }
            rest = &rest[name.len() + 2..];
            nodes.push(Node::Capture((name != "_").then(|| name.to_owned())));
        } else {
            lit.push('<');
            rest = &rest[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        nodes.push(Node::Literal(lit));
    }
    nodes
}

/// The capture name if `s` starts with `<ident>`.
fn capture_at(s: &str) -> Option<&str> {
    let body = s.strip_prefix('<')?;
    let end = body.find('>')?;
    let name = &body[..end];
    let mut b = name.bytes();
    let ok = matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric());
    ok.then_some(name)
}

/// Loki's rules: no adjacent captures; a parser needs a named capture and
/// unique names; a line filter allows only `<_>`.
pub(crate) fn validate(p: &str, filter: bool) -> Result<(), String> {
    let nodes = parse(p);
    let mut names: Vec<&str> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Node::Capture(name) = n {
            if matches!(nodes.get(i + 1), Some(Node::Capture(_))) {
                return Err("found consecutive capture".to_owned());
            }
            if let Some(name) = name {
                if filter {
                    return Err(format!(
                        "only unnamed captures <_> are allowed in pattern line filters, found <{name}>"
                    ));
                }
                if names.contains(&name.as_str()) {
                    return Err(format!("duplicate capture name <{name}>"));
                }
                names.push(name);
            }
        }
    }
    if !filter && names.is_empty() {
        return Err("at least one named capture is required".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(
            parse("<ip> - <_> [<ts>] a<b"),
            vec![
                Node::Capture(Some("ip".into())),
                Node::Literal(" - ".into()),
                Node::Capture(None),
                Node::Literal(" [".into()),
                Node::Capture(Some("ts".into())),
                Node::Literal("] a<b".into()),
            ]
        );
    }

    #[test]
    fn rules() {
        assert!(validate("<a> <b>", false).is_ok());
        assert!(validate("<a><b>", false).is_err());
        assert!(validate("<_> x", false).is_err());
        assert!(validate("<a> <a>", false).is_err());
        assert!(validate("x <_> y", true).is_ok());
        assert!(validate("", true).is_ok());
        assert!(validate("<a> y", true).is_err());
    }
}
