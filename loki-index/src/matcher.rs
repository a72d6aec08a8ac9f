//! Label matchers and selectors with Prometheus/Loki semantics.

use crate::error::{Error, Result};
use crate::labels::{is_valid_name, Labels};
use crate::regex_plan::{required_prefixes, Plan};
use std::fmt;

/// The four matcher operators of a Loki stream selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: the value equals the string.
    Equal,
    /// `!=`: the value differs from the string.
    NotEqual,
    /// `=~`: the value matches the fully anchored regex.
    Regex,
    /// `!~`: the value does not match the fully anchored regex.
    NotRegex,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        })
    }
}

/// The positive form of a matcher: what `=` or `=~` accepts.
#[derive(Debug, Clone)]
pub(crate) enum Core {
    /// Equality with this value.
    Exact(String),
    /// A fully anchored regex and its lookup plan.
    Regex {
        regex: regex::Regex,
        plan: Plan,
        /// For [`Plan::Automaton`] and [`Plan::Scan`]: literal prefixes of
        /// every matching value, if known (see [`required_prefixes`]).
        prefixes: Option<Vec<Vec<u8>>>,
    },
}

impl Core {
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Core::Exact(v) => v == value,
            Core::Regex { regex, .. } => regex.is_match(value),
        }
    }
}

/// One label matcher, e.g. `app=~"checkout|cart"`.
///
/// Semantics follow Prometheus and Loki: regexes are fully anchored (as if
/// written `^(?s:re)$`, so `.` also matches a newline), and a missing label
/// has the value `""`, so `{a=""}` matches series without `a` and `{a!=""}`
/// requires `a`.
///
/// ```
/// use loki_index::{Labels, MatchOp, Matcher};
///
/// let m = Matcher::new("app", MatchOp::Regex, "check.*")?;
/// assert!(m.matches(&Labels::new([("app", "checkout")])?));
/// assert!(!m.matches(&Labels::new([("app", "xcheckout")])?)); // anchored
///
/// let absent = Matcher::new("team", MatchOp::Equal, "")?;
/// assert!(absent.matches(&Labels::new([("app", "cart")])?));
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    core: Core,
}

impl Matcher {
    /// Builds a matcher; regexes are compiled (and analysed for index lookups)
    /// here.
    ///
    /// Errors: [`Error::InvalidLabelName`] and [`Error::InvalidRegex`].
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Matcher> {
        let (name, value) = (name.into(), value.into());
        if !is_valid_name(&name) {
            return Err(Error::InvalidLabelName { name });
        }
        let core = match op {
            MatchOp::Equal | MatchOp::NotEqual => Core::Exact(value.clone()),
            MatchOp::Regex | MatchOp::NotRegex => {
                let invalid = |e: regex::Error| Error::InvalidRegex {
                    pattern: value.clone(),
                    message: e.to_string(),
                };
                // The pattern must stand on its own, so that `a)|(b` is not
                // accepted thanks to the wrapping group.
                regex::Regex::new(&value).map_err(invalid)?;
                let anchored = format!("^(?s:{value})$");
                let regex = regex::Regex::new(&anchored).map_err(invalid)?;
                let plan = Plan::analyse(&value, &anchored);
                let prefixes = match plan {
                    Plan::Automaton(_) | Plan::Scan => required_prefixes(&value),
                    _ => None,
                };
                Core::Regex {
                    regex,
                    plan,
                    prefixes,
                }
            }
        };
        Ok(Matcher {
            name,
            op,
            value,
            core,
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher (`""` = label absent).
    ///
    /// ```
    /// use loki_index::{MatchOp, Matcher};
    ///
    /// let m = Matcher::new("env", MatchOp::NotRegex, "prod|staging")?;
    /// assert!(m.matches_value("dev"));
    /// assert!(m.matches_value("")); // absent label
    /// assert!(!m.matches_value("prod"));
    /// # Ok::<(), loki_index::Error>(())
    /// ```
    pub fn matches_value(&self, value: &str) -> bool {
        self.core.matches(value) != self.is_negated()
    }

    /// Whether a series with these labels satisfies the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }

    pub(crate) fn is_negated(&self) -> bool {
        matches!(self.op, MatchOp::NotEqual | MatchOp::NotRegex)
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

impl fmt::Display for Matcher {
    /// Writes `name op "value"` with Go-style quoting of the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op, self.value)
    }
}

/// A conjunction of matchers that Loki accepts as a stream selector.
///
/// Loki requires at least one `=` or `=~` matcher that does not match the
/// empty string; otherwise the selector would have to enumerate every series.
///
/// ```
/// use loki_index::{MatchOp, Matcher, Selector};
///
/// let ok = Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+")?])?;
/// assert_eq!(ok.matchers().len(), 1);
///
/// let err = Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".*")?]);
/// assert!(err.is_err());
/// # Ok::<(), loki_index::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

/// Loki's wording for a selector without a non-empty equality matcher.
pub(crate) const ERR_NEED_NON_EMPTY: &str = "queries require at least one regexp or equality \
    matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not \
    meet this requirement, but app=~\".+\" will";

impl Selector {
    /// Validates Loki's selector rules and builds the selector.
    ///
    /// Errors: [`Error::InvalidSelector`] when `matchers` is empty or has no
    /// `=`/`=~` matcher that rejects `""`.
    pub fn new(matchers: Vec<Matcher>) -> Result<Selector> {
        if matchers.is_empty() {
            return Err(Error::InvalidSelector {
                reason: "a selector needs at least one matcher",
            });
        }
        if !matchers
            .iter()
            .any(|m| !m.is_negated() && !m.matches_value(""))
        {
            return Err(Error::InvalidSelector {
                reason: ERR_NEED_NON_EMPTY,
            });
        }
        Ok(Selector { matchers })
    }

    /// The matchers, in the order given.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether a series with these labels satisfies every matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchoring_and_dotall() {
        let m = Matcher::new("a", MatchOp::Regex, "b.c").unwrap();
        assert!(m.matches_value("b\nc"));
        assert!(!m.matches_value("abxc"));
        assert!(!m.matches_value("bxcd"));
    }

    #[test]
    fn pattern_must_compile_alone() {
        assert!(matches!(
            Matcher::new("a", MatchOp::Regex, "a)|(b"),
            Err(Error::InvalidRegex { .. })
        ));
        assert!(Matcher::new("a", MatchOp::NotRegex, "(").is_err());
        assert!(Matcher::new("1a", MatchOp::Equal, "x").is_err());
    }

    #[test]
    fn selector_rules() {
        let m = |op, v| Matcher::new("a", op, v).unwrap();
        assert!(Selector::new(vec![]).is_err());
        assert!(Selector::new(vec![m(MatchOp::Equal, "")]).is_err());
        assert!(Selector::new(vec![m(MatchOp::NotEqual, "")]).is_err());
        assert!(Selector::new(vec![m(MatchOp::NotRegex, "x")]).is_err());
        assert!(Selector::new(vec![m(MatchOp::Regex, "x|")]).is_err());
        assert!(Selector::new(vec![m(MatchOp::Regex, "x"), m(MatchOp::Equal, "")]).is_ok());
        let err = Selector::new(vec![m(MatchOp::Regex, ".*")]).unwrap_err();
        assert!(err.to_string().contains("empty-compatible"));
    }

    #[test]
    fn display() {
        let m = Matcher::new("a", MatchOp::NotRegex, "x\"y").unwrap();
        assert_eq!(m.to_string(), r#"a!~"x\"y""#);
    }
}
