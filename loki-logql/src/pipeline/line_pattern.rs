//! Pattern line filters `|> "…"` / `!> "…"`: literals and `<_>` wildcards.
//!
//! Literal parts must occur in order; every `<_>` matches at least one
//! byte; a pattern ending in a literal must match at the end of the line;
//! a leading literal may occur anywhere; the empty pattern matches only the
//! empty line.

use memchr::memmem;

use crate::syntax::pattern::{parse, Node};

#[derive(Debug, Clone)]
enum Part {
    Lit(Box<memmem::Finder<'static>>),
    Any,
}

/// A compiled pattern filter.
#[derive(Debug, Clone)]
pub(crate) struct LinePattern {
    parts: Vec<Part>,
}

impl LinePattern {
    /// Compiles a pattern already validated by the parser.
    pub(crate) fn new(p: &str) -> LinePattern {
        let parts = parse(p)
            .into_iter()
            .map(|n| match n {
                Node::Literal(l) => {
                    Part::Lit(Box::new(memmem::Finder::new(l.as_bytes()).into_owned()))
                }
                Node::Capture(_) => Part::Any,
            })
            .collect();
        LinePattern { parts }
    }

    /// Whether `line` matches.
    pub(crate) fn matches(&self, line: &[u8]) -> bool {
        if self.parts.is_empty() {
            return line.is_empty();
        }
        let mut pos = 0;
        let mut pending_any = false;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Any => pending_any = true,
                Part::Lit(f) => {
                    let from = pos + usize::from(pending_any);
                    if from > line.len() {
                        return false;
                    }
                    if i == last {
                        let n = f.needle().len();
                        return line.len() >= from + n && line.ends_with(f.needle());
                    }
                    match f.find(&line[from..]) {
                        Some(at) => pos = from + at + f.needle().len(),
                        None => return false,
                    }
                    pending_any = false;
                }
            }
        }
        !pending_any || pos < line.len()
    }
}

#[cfg(test)]
mod tests {
    use super::LinePattern;

    #[test]
    fn matching() {
        let p = LinePattern::new("<_> status=<_> took");
        assert!(p.matches(b"GET status=200 took"));
        assert!(!p.matches(b"GET status=200 took 5ms"));
        assert!(!p.matches(b" status= took"));
        let q = LinePattern::new("GET <_>");
        assert!(q.matches(b"x GET /a"));
        assert!(!q.matches(b"x GET "));
        assert!(LinePattern::new("").matches(b""));
        assert!(!LinePattern::new("").matches(b"a"));
    }
}
