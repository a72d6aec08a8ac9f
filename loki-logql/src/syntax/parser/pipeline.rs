//! Pipeline stages: line filters, parsers, formatters, `drop`/`keep`, `unwrap`.

use super::{PResult, Parser};
use crate::error::ParseErrorKind;
use crate::syntax::ast::{
    Extraction, LabelFmt, LabelFmtSource, LabelSelection, LineFilter, LineFilterOp,
    LineFilterValue, Logfmt, Stage, StageKind, Unwrap, UnwrapConversion,
};
use crate::syntax::check;
use crate::syntax::lexer::Tok;
use crate::syntax::span::Span;

/// Stage keywords that may follow `|` (case-insensitive).
const STAGE_KEYWORDS: [&str; 11] = [
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
];

const EXPECTED_STAGE: &str = "a parser, formatter, label filter or unwrap after \"|\"";

impl Parser<'_> {
    /// Parses stages until none follows. With `allow_unwrap`, an `unwrap`
    /// stage ends the pipeline and is returned separately.
    pub(crate) fn pipeline(&mut self, allow_unwrap: bool) -> PResult<(Vec<Stage>, Option<Unwrap>)> {
        let mut stages = Vec::new();
        loop {
            if let Some(op) = self.line_filter_op() {
                stages.push(self.line_filter(op)?);
                continue;
            }
            if self.peek() != &Tok::Pipe {
                return Ok((stages, None));
            }
            let start = self.bump();
            if self.at_keyword("unwrap") {
                if !allow_unwrap {
                    return Err((ParseErrorKind::UnwrapOutsideRange, self.span()));
                }
                return Ok((stages, Some(self.unwrap(start)?)));
            }
            let kind = self.stage_after_pipe()?;
            stages.push(Stage {
                kind,
                span: start.to(self.prev_span()),
            });
        }
    }

    /// `| unwrap …` if that is what follows, else nothing.
    pub(crate) fn unwrap_only(&mut self) -> PResult<Option<Unwrap>> {
        if self.peek() == &Tok::Pipe
            && self.peek_at(1) == &Tok::Ident
            && self.text_at(1).eq_ignore_ascii_case("unwrap")
        {
            let start = self.bump();
            return Ok(Some(self.unwrap(start)?));
        }
        Ok(None)
    }

    fn line_filter_op(&self) -> Option<LineFilterOp> {
        Some(match self.peek() {
            Tok::PipeExact => LineFilterOp::Contains,
            Tok::Neq => LineFilterOp::NotContains,
            Tok::PipeMatch => LineFilterOp::Match,
            Tok::Nre => LineFilterOp::NotMatch,
            Tok::PipePattern => LineFilterOp::Pattern,
            Tok::NotPattern => LineFilterOp::NotPattern,
            _ => return None,
        })
    }

    /// `op value { or value }`.
    fn line_filter(&mut self, op: LineFilterOp) -> PResult<Stage> {
        let start = self.bump();
        let mut values = vec![self.line_filter_value(op)?];
        while self.at_keyword("or") {
            self.bump();
            values.push(self.line_filter_value(op)?);
        }
        Ok(Stage {
            kind: StageKind::LineFilter(LineFilter { op, values }),
            span: start.to(self.prev_span()),
        })
    }

    fn line_filter_value(&mut self, op: LineFilterOp) -> PResult<LineFilterValue> {
        if self.at_keyword("ip") && self.peek_at(1) == &Tok::LParen {
            let ip_span = self.bump();
            if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                return Err((
                    ParseErrorKind::IpFilterOperator(op.as_str().to_owned()),
                    ip_span,
                ));
            }
            let value = self.ip_call_rest()?;
            return Ok(LineFilterValue::Ip(value));
        }
        let (value, span) = self.string("a string or ip(\"…\")")?;
        match op {
            LineFilterOp::Match | LineFilterOp::NotMatch => {
                check::regex(&value, false, span)?;
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => check::pattern(&value, true, span)?,
            _ => {}
        }
        Ok(LineFilterValue::Text(value))
    }

    /// `( "addr" )` after `ip`; validates the argument.
    pub(crate) fn ip_call_rest(&mut self) -> PResult<String> {
        self.expect(&Tok::LParen, "\"(\"")?;
        let (value, span) = self.string("a string")?;
        check::ip(&value, span)?;
        self.expect(&Tok::RParen, "\")\"")?;
        Ok(value)
    }

    /// The stage after a consumed `|` (not `unwrap`).
    fn stage_after_pipe(&mut self) -> PResult<StageKind> {
        // Stage keywords are reserved after `|` (as in Loki), so a label
        // named `json` cannot be filtered on directly.
        let kw = STAGE_KEYWORDS
            .iter()
            .find(|kw| self.at_keyword(kw))
            .copied();
        let Some(kw) = kw else {
            if matches!(self.peek(), Tok::Ident | Tok::LParen) {
                return Ok(StageKind::LabelFilter(self.label_filter()?));
            }
            return Err(self.unexpected(EXPECTED_STAGE));
        };
        self.bump();
        Ok(match kw {
            "json" => StageKind::Json(self.extractions(true)?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while self.peek() == &Tok::Flag {
                    match self.text_at(0) {
                        "--strict" => strict = true,
                        _ => keep_empty = true,
                    }
                    self.bump();
                }
                StageKind::Logfmt(Logfmt {
                    strict,
                    keep_empty,
                    params: self.extractions(false)?,
                })
            }
            "regexp" => {
                let (re, span) = self.string("a regex string")?;
                check::regexp_parser(&re, span)?;
                StageKind::Regexp(re)
            }
            "pattern" => {
                let (p, span) = self.string("a pattern string")?;
                check::pattern(&p, false, span)?;
                StageKind::Pattern(p)
            }
            "unpack" => StageKind::Unpack,
            "decolorize" => StageKind::Decolorize,
            "line_format" => {
                let (t, span) = self.string("a template string")?;
                check::template(&t, span)?;
                StageKind::LineFormat(t)
            }
            "label_format" => StageKind::LabelFormat(self.label_fmts()?),
            "drop" => StageKind::Drop(self.label_selections()?),
            _ => StageKind::Keep(self.label_selections()?),
        })
    }

    /// `[ label ["=" "expr"] { "," label ["=" "expr"] } ]`.
    /// With `json`, expressions are JSON paths and are validated.
    fn extractions(&mut self, json: bool) -> PResult<Vec<Extraction>> {
        let mut out = Vec::new();
        if self.peek() != &Tok::Ident || self.at_keyword("or") || self.at_keyword("and") {
            return Ok(out);
        }
        loop {
            let (label, start) = self.ident("a label name")?;
            let mut expr = None;
            if self.eat(&Tok::Eq) {
                let (e, span) = self.string("a string")?;
                if json {
                    check::json_expr(&e, span)?;
                }
                expr = Some(e);
            }
            out.push(Extraction {
                label,
                expr,
                span: start.to(self.prev_span()),
            });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `target=source { , target=source }`.
    fn label_fmts(&mut self) -> PResult<Vec<LabelFmt>> {
        let mut out: Vec<LabelFmt> = Vec::new();
        loop {
            let (target, start) = self.ident("a label name")?;
            self.expect(&Tok::Eq, "\"=\"")?;
            let source = match self.peek() {
                Tok::Ident => LabelFmtSource::Rename(self.ident("a label name")?.0),
                Tok::Str(_) => {
                    let (t, span) = self.string("a template string")?;
                    check::template(&t, span)?;
                    LabelFmtSource::Template(t)
                }
                _ => return Err(self.unexpected("a label name or a template string")),
            };
            let span = start.to(self.prev_span());
            if target == "__error__" {
                return Err((ParseErrorKind::ErrorLabelFormat { name: target }, span));
            }
            if out.iter().any(|f| f.target == target) {
                return Err((ParseErrorKind::DuplicateLabelFormat { name: target }, span));
            }
            out.push(LabelFmt {
                target,
                source,
                span,
            });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `name | matcher { , name | matcher }`.
    fn label_selections(&mut self) -> PResult<Vec<LabelSelection>> {
        let mut out = Vec::new();
        loop {
            let (name, span) = self.ident("a label name or matcher")?;
            if self.match_op().is_some() {
                out.push(LabelSelection::Matcher(self.matcher_rest(name, span)?));
            } else {
                out.push(LabelSelection::Name { name, span });
            }
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `unwrap label` or `unwrap conv(label)`, then `| label_filter` stages.
    fn unwrap(&mut self, start: Span) -> PResult<Unwrap> {
        self.bump();
        let conversion = if self.peek_at(1) == &Tok::LParen {
            let conv = match self.text_at(0).to_ascii_lowercase().as_str() {
                "bytes" => UnwrapConversion::Bytes,
                "duration" => UnwrapConversion::Duration,
                "duration_seconds" => UnwrapConversion::DurationSeconds,
                _ => {
                    return Err(self
                        .unexpected("a label name, bytes(…), duration(…) or duration_seconds(…)"))
                }
            };
            self.bump();
            self.bump();
            Some(conv)
        } else {
            None
        };
        let (label, _) = self.ident("a label name")?;
        if conversion.is_some() {
            self.expect(&Tok::RParen, "\")\"")?;
        }
        let mut post_filters = Vec::new();
        while self.peek() == &Tok::Pipe {
            self.bump();
            if !matches!(self.peek(), Tok::Ident | Tok::LParen)
                || STAGE_KEYWORDS.iter().any(|k| self.at_keyword(k))
            {
                return Err(
                    self.unexpected("a label filter (only label filters may follow unwrap)")
                );
            }
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conversion,
            post_filters,
            span: start.to(self.prev_span()),
        })
    }
}
