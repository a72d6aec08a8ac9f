//! The `drop` and `keep` stages.
//!
//! `drop a, b="v"` removes labels by name, or only when the matcher holds;
//! `keep a, b="v"` removes every other label but never the error pair.

use super::label_filter::StringMatcher;
use super::labels::{LabelsBuilder, ERROR_DETAILS_LABEL, ERROR_LABEL};
use crate::syntax::ast::LabelSelection;

/// One `drop`/`keep` operand.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    Name(String),
    Matcher(String, StringMatcher),
}

impl Selection {
    pub(crate) fn new(s: &LabelSelection) -> Option<Selection> {
        Some(match s {
            LabelSelection::Name { name, .. } => Selection::Name(name.clone()),
            LabelSelection::Matcher(m) => {
                Selection::Matcher(m.name.clone(), StringMatcher::new(m)?)
            }
        })
    }

    fn name(&self) -> &str {
        match self {
            Selection::Name(n) | Selection::Matcher(n, _) => n,
        }
    }

    fn selects(&self, name: &str, value: &str) -> bool {
        match self {
            Selection::Name(n) => n == name,
            Selection::Matcher(n, m) => n == name && m.matches(value),
        }
    }
}

/// `drop`.
pub(crate) fn drop(sel: &[Selection], lbs: &mut LabelsBuilder) {
    for s in sel {
        let name = s.name();
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            let v = lbs.get(name).map(str::to_owned);
            if let Some(v) = v {
                if s.selects(name, &v) {
                    lbs.delete(name);
                }
            }
        }
    }
    lbs.retain(|k, v| !sel.iter().any(|s| s.selects(k, v)));
}

/// `keep`.
pub(crate) fn keep(sel: &[Selection], lbs: &mut LabelsBuilder) {
    lbs.retain(|k, v| sel.iter().any(|s| s.selects(k, v)));
}
