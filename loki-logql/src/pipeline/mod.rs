//! The log pipeline: the stages of a query compiled once, then run per
//! line with reused buffers.
//!
//! | file | stage |
//! |---|---|
//! | `line_filter.rs` | `\|=` `!=` `\|~` `!~` `\|>` `!>`, `ip()`, `or` |
//! | `line_pattern.rs` | the `\|>` pattern matcher |
//! | `json.rs`, `json_scan.rs` | `json` (all members or listed paths) |
//! | `logfmt.rs` | `logfmt` |
//! | `regexp.rs` | `regexp` |
//! | `pattern.rs` | `pattern` |
//! | `unpack.rs` | `unpack` |
//! | `label_filter.rs` | label filters |
//! | `line_format.rs`, `label_format.rs` | formatting |
//! | `decolorize.rs` | `decolorize` |
//! | `drop_keep.rs` | `drop`, `keep` |
//! | `labels.rs`, `extract.rs` | per-line label state, naming rules |
//! | `ip.rs` | `ip()` ranges |

mod decolorize;
mod drop_keep;
mod extract;
mod ip;
mod json;
pub(crate) mod json_scan;
pub(crate) mod label_filter;
mod label_format;
pub(crate) mod labels;
mod line_filter;
mod line_format;
mod line_pattern;
pub(crate) mod logfmt;
mod pattern;
mod regexp;
mod unpack;

use std::sync::Arc;

use regex::Regex;

use crate::error::{Error, Result};
use crate::syntax::ast::{LabelFmtSource, Stage, StageKind};
use crate::syntax::regex::go_to_rust;
use crate::template::Compiled;
use crate::LabelSet;

pub(crate) use label_filter::LabelFilterExpr;
pub(crate) use labels::LabelsBuilder;
pub(crate) use line_filter::CompiledLineFilter;
pub use line_filter::LineFilterSet;

/// Compiles a fully anchored selector/label regex.
pub(crate) fn anchored_regex(re: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{})$", go_to_rust(re))).ok()
}

#[derive(Debug, Clone)]
enum StageImpl {
    Filter(CompiledLineFilter),
    Json(json::JsonParser),
    Logfmt(logfmt::LogfmtParser),
    Regexp(regexp::RegexpParser),
    Pattern(pattern::PatternParser),
    Unpack(unpack::Unpacker),
    LabelFilter(LabelFilterExpr),
    LineFormat(Compiled),
    LabelFormat(Vec<label_format::Fmt>),
    Decolorize,
    Drop(Vec<drop_keep::Selection>),
    Keep(Vec<drop_keep::Selection>),
}

fn plan_err(what: &str) -> Error {
    Error::Plan(format!("cannot compile {what}"))
}

/// A compiled pipeline with its per-line state.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    stages: Vec<StageImpl>,
    leading_filters: usize,
    pub(crate) lbs: LabelsBuilder,
    cur: String,
    next: String,
    replaced: bool,
    buf: String,
}

impl Pipeline {
    /// Compiles parsed stages.
    pub(crate) fn new(stages: &[Stage]) -> Result<Pipeline> {
        let mut out = Vec::with_capacity(stages.len());
        for s in stages {
            out.push(match &s.kind {
                StageKind::LineFilter(f) => StageImpl::Filter(
                    CompiledLineFilter::new(f).ok_or_else(|| plan_err("line filter"))?,
                ),
                StageKind::Json(p) => StageImpl::Json(json::JsonParser::new(p)),
                StageKind::Logfmt(l) => StageImpl::Logfmt(logfmt::LogfmtParser::new(l)),
                StageKind::Regexp(r) => StageImpl::Regexp(
                    regexp::RegexpParser::new(r).ok_or_else(|| plan_err("regexp"))?,
                ),
                StageKind::Pattern(p) => StageImpl::Pattern(pattern::PatternParser::new(p)),
                StageKind::Unpack => StageImpl::Unpack(unpack::Unpacker::default()),
                StageKind::LabelFilter(f) => StageImpl::LabelFilter(
                    LabelFilterExpr::new(f).ok_or_else(|| plan_err("label filter"))?,
                ),
                StageKind::LineFormat(t) => {
                    StageImpl::LineFormat(Compiled::new(t).ok_or_else(|| plan_err("line_format"))?)
                }
                StageKind::LabelFormat(fs) => {
                    let mut v = Vec::new();
                    for f in fs {
                        v.push(match &f.source {
                            LabelFmtSource::Rename(src) => {
                                label_format::Fmt::Rename(f.target.clone(), src.clone())
                            }
                            LabelFmtSource::Template(t) => label_format::Fmt::Template(
                                f.target.clone(),
                                Compiled::new(t).ok_or_else(|| plan_err("label_format"))?,
                            ),
                        });
                    }
                    StageImpl::LabelFormat(v)
                }
                StageKind::Decolorize => StageImpl::Decolorize,
                StageKind::Drop(sel) | StageKind::Keep(sel) => {
                    let mut v = Vec::new();
                    for s in sel {
                        v.push(drop_keep::Selection::new(s).ok_or_else(|| plan_err("drop/keep"))?);
                    }
                    if matches!(s.kind, StageKind::Drop(_)) {
                        StageImpl::Drop(v)
                    } else {
                        StageImpl::Keep(v)
                    }
                }
            });
        }
        // Parser label hints: a parser followed by a `keep` only adds the
        // names that can still be seen.
        for (i, st) in out.iter_mut().enumerate() {
            let ex = match st {
                StageImpl::Json(p) => &mut p.ex,
                StageImpl::Logfmt(p) => &mut p.ex,
                StageImpl::Regexp(p) => &mut p.ex,
                StageImpl::Pattern(p) => &mut p.ex,
                StageImpl::Unpack(p) => &mut p.ex,
                _ => continue,
            };
            ex.wanted = extract::wanted_after(&stages[i + 1..]);
        }
        let leading_filters = out
            .iter()
            .take_while(|s| matches!(s, StageImpl::Filter(_)))
            .count();
        Ok(Pipeline {
            stages: out,
            leading_filters,
            lbs: LabelsBuilder::default(),
            cur: String::new(),
            next: String::new(),
            replaced: false,
            buf: String::new(),
        })
    }

    /// Whether every stage is a leading line filter (so a line's labels
    /// and text pass through unchanged).
    pub(crate) fn only_leading_filters(&self) -> bool {
        self.leading_filters == self.stages.len()
    }

    /// Runs the pipeline over one line; `skip_leading` when storage already
    /// applied the leading line filters. Returns whether the line is kept;
    /// then [`Pipeline::line`] and `lbs` hold the results.
    pub(crate) fn process(
        &mut self,
        ts: i64,
        line: &str,
        labels: &Arc<LabelSet>,
        meta: &[(String, String)],
        skip_leading: bool,
    ) -> bool {
        let Pipeline {
            stages,
            leading_filters,
            lbs,
            cur,
            next,
            replaced,
            buf,
        } = self;
        lbs.reset(labels, meta);
        *replaced = false;
        let from = if skip_leading { *leading_filters } else { 0 };
        for st in &mut stages[from..] {
            let l: &str = if *replaced { cur } else { line };
            let mut swap = false;
            match st {
                StageImpl::Filter(f) => {
                    if !f.matches(l.as_bytes()) {
                        return false;
                    }
                }
                StageImpl::Json(p) => p.process(l, lbs),
                StageImpl::Logfmt(p) => p.process(l, lbs),
                StageImpl::Regexp(p) => p.process(l, lbs),
                StageImpl::Pattern(p) => p.process(l, lbs),
                StageImpl::Unpack(p) => swap = p.process(l, lbs, next),
                StageImpl::LabelFilter(f) => {
                    if !f.process(lbs) {
                        return false;
                    }
                }
                StageImpl::LineFormat(t) => swap = line_format::line_format(t, ts, l, lbs, next),
                StageImpl::LabelFormat(f) => label_format::label_format(f, ts, l, lbs, buf),
                StageImpl::Decolorize => swap = decolorize::decolorize(l, next),
                StageImpl::Drop(s) => drop_keep::drop(s, lbs),
                StageImpl::Keep(s) => drop_keep::keep(s, lbs),
            }
            if swap {
                std::mem::swap(cur, next);
                *replaced = true;
            }
        }
        true
    }

    /// The line after the last [`Pipeline::process`].
    pub(crate) fn line<'a>(&'a self, original: &'a str) -> &'a str {
        if self.replaced {
            &self.cur
        } else {
            original
        }
    }
}
