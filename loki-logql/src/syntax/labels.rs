//! Label-set text `{a="b", c="d"}`, as Loki's push API receives it.

use std::fmt;

use crate::error::Result;
use crate::syntax::literal::quote;
use crate::syntax::parser;

/// A validated label set: pairs sorted by name, names unique and valid,
/// values non-empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet {
    pub(crate) pairs: Vec<(String, String)>,
}

impl LabelSet {
    /// The `(name, value)` pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.pairs[i].1.as_str())
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Iterates `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The pairs, sorted by name.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }
}

/// The canonical form Loki hashes: `{a="b", c="d"}`.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(2 + self.pairs.len() * 16);
        s.push('{');
        for (i, (n, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(n);
            s.push('=');
            quote(v, &mut s);
        }
        s.push('}');
        f.write_str(&s)
    }
}

/// Parses label-set text such as a push request's stream labels.
///
/// Uses the selector grammar (Go string escapes): only `=` pairs are
/// allowed, names must be valid Prometheus label names and unique. The
/// result is sorted by name; pairs with empty values are dropped, as Loki
/// does before hashing a stream.
///
/// ```
/// let ls = loki_logql::parse_labels(r#"{job="api", app="shop", env=""}"#)?;
/// assert_eq!(ls.to_string(), r#"{app="shop", job="api"}"#);
/// assert_eq!(ls.get("job"), Some("api"));
/// assert!(loki_logql::parse_labels(r#"{a=~"x"}"#).is_err());
/// # Ok::<(), loki_logql::Error>(())
/// ```
pub fn parse_labels(text: &str) -> Result<LabelSet> {
    Ok(LabelSet {
        pairs: parser::parse_label_set(text)?,
    })
}
