//! The `regexp` parser stage: each named group of a match becomes a label.

use regex::{CaptureLocations, Regex};

use super::extract::Extractor;
use super::labels::LabelsBuilder;
use crate::syntax::regex::go_to_rust;

/// A compiled `regexp` stage.
#[derive(Debug, Clone)]
pub(crate) struct RegexpParser {
    re: Regex,
    names: Vec<(usize, String)>,
    locs: CaptureLocations,
    pub(crate) ex: Extractor,
}

impl RegexpParser {
    /// `None` if the regex does not compile (the parser rejects those).
    pub(crate) fn new(re: &str) -> Option<RegexpParser> {
        let re = Regex::new(&go_to_rust(re)).ok()?;
        let names = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
            .collect();
        let locs = re.capture_locations();
        Some(RegexpParser {
            re,
            names,
            locs,
            ex: Extractor::default(),
        })
    }

    pub(crate) fn process(&mut self, line: &str, lbs: &mut LabelsBuilder) {
        self.ex.begin(lbs);
        if self.re.captures_read(&mut self.locs, line).is_none() {
            return;
        }
        for (i, name) in &self.names {
            if let Some((s, e)) = self.locs.get(*i) {
                self.ex.set(lbs, name, &line[s..e]);
            }
        }
    }
}
