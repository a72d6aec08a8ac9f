//! The `pattern` parser stage: `<name>` captures between literals.
//!
//! Anchored at the start when the pattern starts with a literal; a capture
//! runs to the next literal, or to the end of the line when that literal
//! is missing or the capture is last.

use memchr::memmem;

use super::extract::Extractor;
use super::labels::LabelsBuilder;
use crate::syntax::pattern::{parse, Node};

#[derive(Debug, Clone)]
enum Part {
    Lit(Box<memmem::Finder<'static>>),
    Cap(Option<String>),
}

/// A compiled `pattern` stage.
#[derive(Debug, Clone)]
pub(crate) struct PatternParser {
    parts: Vec<Part>,
    pub(crate) ex: Extractor,
}

impl PatternParser {
    pub(crate) fn new(p: &str) -> PatternParser {
        let parts = parse(p)
            .into_iter()
            .map(|n| match n {
                Node::Literal(l) => {
                    Part::Lit(Box::new(memmem::Finder::new(l.as_bytes()).into_owned()))
                }
                Node::Capture(c) => Part::Cap(c),
            })
            .collect();
        PatternParser {
            parts,
            ex: Extractor::default(),
        }
    }

    pub(crate) fn process(&mut self, line: &str, lbs: &mut LabelsBuilder) {
        let buf = &mut self.ex;
        buf.begin(lbs);
        let mut rest = line;
        let mut parts: &[Part] = &self.parts;
        if let Some(Part::Lit(f)) = parts.first() {
            if !rest.as_bytes().starts_with(f.needle()) {
                return;
            }
            rest = &rest[f.needle().len()..];
            parts = &parts[1..];
        }
        while let Some(Part::Cap(name)) = parts.first() {
            let next = match parts.get(1) {
                Some(Part::Lit(f)) => f.find(rest.as_bytes()).map(|i| (i, f.needle().len())),
                _ => None,
            };
            match next {
                None => {
                    if let Some(n) = name {
                        buf.set(lbs, n, rest);
                    }
                    return;
                }
                Some((i, n_len)) => {
                    if let Some(n) = name {
                        buf.set(lbs, n, &rest[..i]);
                    }
                    rest = &rest[i + n_len..];
                }
            }
            parts = &parts[2..];
        }
    }
}
