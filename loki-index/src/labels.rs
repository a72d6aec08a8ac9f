//! Label sets and the stream fingerprint.

use crate::consts::MAX_LABEL_LEN;
use crate::error::{Error, Result};
use xxhash_rust::xxh64::Xxh64;

/// A validated label set: sorted by name, names unique and matching
/// `[a-zA-Z_][a-zA-Z0-9_]*`, values non-empty.
///
/// As in Prometheus, a label with an empty value is the same as no label:
/// [`Labels::new`] drops such pairs. Parsing the `{a="b"}` text form is not
/// done here (it belongs to `loki-logql`); this type is built from pairs.
///
/// ```
/// use loki_index::Labels;
///
/// let labels = Labels::new([("job", "nginx"), ("env", "prod"), ("empty", "")])?;
/// assert_eq!(labels.get("env"), Some("prod"));
/// assert_eq!(labels.get("empty"), None);
/// let names: Vec<&str> = labels.iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["env", "job"]);
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels {
    pairs: Vec<(String, String)>,
}

impl Labels {
    /// Validates and sorts `pairs` into a label set.
    ///
    /// Errors: [`Error::InvalidLabelName`], [`Error::DuplicateLabelName`],
    /// [`Error::EmptyLabelSet`] (no pair with a non-empty value), and
    /// [`Error::LimitExceeded`] for names or values over 64 KiB.
    pub fn new<I, N, V>(pairs: I) -> Result<Labels>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            if !is_valid_name(&name) {
                return Err(Error::InvalidLabelName { name });
            }
            if name.len() > MAX_LABEL_LEN || value.len() > MAX_LABEL_LEN {
                return Err(Error::LimitExceeded {
                    what: "label name or value length",
                    limit: MAX_LABEL_LEN as u64,
                });
            }
            out.push((name, value));
        }
        out.sort_unstable();
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::DuplicateLabelName {
                name: w[0].0.clone(),
            });
        }
        out.retain(|(_, v)| !v.is_empty());
        if out.is_empty() {
            return Err(Error::EmptyLabelSet);
        }
        Ok(Labels { pairs: out })
    }

    /// Builds from pairs already known to be valid, sorted and non-empty.
    pub(crate) fn from_sorted_unchecked(pairs: Vec<(String, String)>) -> Labels {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        Labels { pairs }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.pairs[i].1.as_str())
    }

    /// The `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Always false: a label set has at least one label.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The stream fingerprint, as Loki computes it (see [`fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        fingerprint(self.iter())
    }

    /// The label set restricted to `names` (`None` if nothing is left).
    pub(crate) fn project(&self, names: &[String]) -> Option<Labels> {
        let pairs: Vec<_> = self
            .pairs
            .iter()
            .filter(|(n, _)| names.iter().any(|t| t == n))
            .cloned()
            .collect();
        (!pairs.is_empty()).then_some(Labels { pairs })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn ExactSizeIterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The stream fingerprint: xxHash64 (seed 0) over the labels sorted by name,
/// each written as `name 0xFF value 0xFF`, skipping `__name__`.
///
/// `pairs` must already be sorted by name (as [`Labels::iter`] yields them).
/// `loki-chunk` computes the same value independently.
///
/// ```
/// use loki_index::{fingerprint, Labels};
///
/// let labels = Labels::new([("job", "nginx"), ("env", "prod")])?;
/// assert_eq!(labels.fingerprint(), fingerprint(labels.iter()));
/// # Ok::<(), loki_index::Error>(())
/// ```
pub fn fingerprint<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut hasher = Xxh64::new(0);
    for (name, value) in pairs {
        if name == "__name__" {
            continue;
        }
        hasher.update(name.as_bytes());
        hasher.update(&[0xFF]);
        hasher.update(value.as_bytes());
        hasher.update(&[0xFF]);
    }
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_fingerprint_from_loki() {
        let labels = Labels::new([
            ("namespace", "ingress"),
            ("cluster", "eu-west-1"),
            ("env", "prod"),
            ("host", "web-000"),
            ("job", "nginx"),
        ])
        .unwrap();
        assert_eq!(labels.fingerprint(), 0xb89e203d5d949ddf);
    }

    #[test]
    fn name_label_is_skipped_in_fingerprint() {
        let a = Labels::new([("job", "x")]).unwrap();
        let b = Labels::new([("job", "x"), ("__name__", "m")]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a, b);
    }

    #[test]
    fn validation() {
        assert!(matches!(
            Labels::new([("a-b", "x")]),
            Err(Error::InvalidLabelName { .. })
        ));
        assert!(matches!(
            Labels::new([("", "x")]),
            Err(Error::InvalidLabelName { .. })
        ));
        assert!(matches!(
            Labels::new([("a", "x"), ("a", "y")]),
            Err(Error::DuplicateLabelName { .. })
        ));
        assert_eq!(Labels::new([("a", "")]), Err(Error::EmptyLabelSet));
        let l = Labels::new([("b", "2"), ("_a9", "1")]).unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), [("_a9", "1"), ("b", "2")]);
        assert_eq!(l.len(), 2);
    }
}
