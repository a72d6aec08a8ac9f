//! The canonical one-line form (`Display`). It re-parses to an equal AST:
//! strings are Go-quoted, durations and bytes use exact units, parentheses
//! appear only where precedence needs them.

use std::fmt;

use crate::syntax::ast::{
    BinaryExpr, CompareValue, Expr, Extraction, Grouping, LabelFilter, LabelFmtSource,
    LabelSelection, LineFilterValue, LogExpr, LogRange, Matcher, MetricExpr, Selector, Stage,
    StageKind, Unwrap,
};
use crate::syntax::literal::{fmt_bytes, fmt_duration, fmt_float, quote};

pub(crate) fn selector(s: &Selector, out: &mut String) {
    out.push('{');
    for (i, m) in s.matchers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        matcher(m, out);
    }
    out.push('}');
}

pub(crate) fn matcher(m: &Matcher, out: &mut String) {
    out.push_str(&m.name);
    out.push_str(m.op.as_str());
    quote(&m.value, out);
}

fn extractions(list: &[Extraction], out: &mut String) {
    for (i, e) in list.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(&e.label);
        if let Some(expr) = &e.expr {
            out.push('=');
            quote(expr, out);
        }
    }
}

fn selections(list: &[LabelSelection], out: &mut String) {
    for (i, s) in list.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        match s {
            LabelSelection::Name { name, .. } => out.push_str(name),
            LabelSelection::Matcher(m) => matcher(m, out),
        }
    }
}

/// Writes a stage including its leading ` | ` (or ` |= ` etc.).
pub(crate) fn stage(s: &Stage, out: &mut String) {
    if let StageKind::LineFilter(f) = &s.kind {
        for (i, v) in f.values.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { " or " });
            if i == 0 {
                out.push_str(f.op.as_str());
                out.push(' ');
            }
            match v {
                LineFilterValue::Text(t) => quote(t, out),
                LineFilterValue::Ip(ip) => {
                    out.push_str("ip(");
                    quote(ip, out);
                    out.push(')');
                }
            }
        }
        return;
    }
    out.push_str(" | ");
    stage_body(&s.kind, out);
}

/// A stage without its leading pipe (line filters print their operator).
pub(crate) fn stage_body(kind: &StageKind, out: &mut String) {
    match kind {
        StageKind::LineFilter(_) => {
            let mut s = String::new();
            stage(
                &Stage {
                    kind: kind.clone(),
                    span: Default::default(),
                },
                &mut s,
            );
            out.push_str(s.trim_start());
        }
        StageKind::Json(list) => {
            out.push_str("json");
            extractions(list, out);
        }
        StageKind::Logfmt(l) => {
            out.push_str("logfmt");
            if l.strict {
                out.push_str(" --strict");
            }
            if l.keep_empty {
                out.push_str(" --keep-empty");
            }
            extractions(&l.params, out);
        }
        StageKind::Regexp(re) => {
            out.push_str("regexp ");
            quote(re, out);
        }
        StageKind::Pattern(p) => {
            out.push_str("pattern ");
            quote(p, out);
        }
        StageKind::Unpack => out.push_str("unpack"),
        StageKind::LabelFilter(f) => label_filter(f, out),
        StageKind::LineFormat(t) => {
            out.push_str("line_format ");
            quote(t, out);
        }
        StageKind::LabelFormat(list) => {
            out.push_str("label_format");
            for (i, f) in list.iter().enumerate() {
                out.push_str(if i == 0 { " " } else { ", " });
                out.push_str(&f.target);
                out.push('=');
                match &f.source {
                    LabelFmtSource::Rename(src) => out.push_str(src),
                    LabelFmtSource::Template(t) => quote(t, out),
                }
            }
        }
        StageKind::Decolorize => out.push_str("decolorize"),
        StageKind::Drop(list) => {
            out.push_str("drop");
            selections(list, out);
        }
        StageKind::Keep(list) => {
            out.push_str("keep");
            selections(list, out);
        }
    }
}

pub(crate) fn label_filter(f: &LabelFilter, out: &mut String) {
    match f {
        LabelFilter::Matcher(m) => matcher(m, out),
        LabelFilter::Ip {
            name,
            negated,
            value,
            ..
        } => {
            out.push_str(name);
            out.push_str(if *negated { "!=ip(" } else { "=ip(" });
            quote(value, out);
            out.push(')');
        }
        LabelFilter::Compare {
            name, op, value, ..
        } => {
            out.push_str(name);
            out.push_str(op.as_str());
            match value {
                CompareValue::Number(n) => fmt_float(*n, out),
                CompareValue::Duration(d) => out.push_str(&fmt_duration(*d)),
                CompareValue::Bytes(b) => out.push_str(&fmt_bytes(*b)),
            }
        }
        LabelFilter::And(a, b) => {
            filter_operand(a, false, true, out);
            out.push_str(" and ");
            filter_operand(b, true, true, out);
        }
        LabelFilter::Or(a, b) => {
            filter_operand(a, false, false, out);
            out.push_str(" or ");
            filter_operand(b, true, false, out);
        }
    }
}

/// Parenthesises an operand of `and` (`in_and`) or `or` when needed.
fn filter_operand(f: &LabelFilter, right: bool, in_and: bool, out: &mut String) {
    let paren = match f {
        LabelFilter::Or(..) => in_and || right,
        LabelFilter::And(..) => in_and && right,
        _ => false,
    };
    if paren {
        out.push('(');
    }
    label_filter(f, out);
    if paren {
        out.push(')');
    }
}

pub(crate) fn unwrap(u: &Unwrap, out: &mut String) {
    out.push_str(" | unwrap ");
    match u.conversion {
        Some(c) => {
            out.push_str(c.as_str());
            out.push('(');
            out.push_str(&u.label);
            out.push(')');
        }
        None => out.push_str(&u.label),
    }
    for f in &u.post_filters {
        out.push_str(" | ");
        label_filter(f, out);
    }
}

pub(crate) fn log_expr(e: &LogExpr, out: &mut String) {
    selector(&e.selector, out);
    for s in &e.pipeline {
        stage(s, out);
    }
}

/// `[5m]` and ` offset 1h`.
pub(crate) fn range_suffix(r: &LogRange, out: &mut String) {
    out.push('[');
    out.push_str(&fmt_duration(r.range));
    out.push(']');
    if r.offset != 0 {
        out.push_str(" offset ");
        out.push_str(&fmt_duration(r.offset));
    }
}

pub(crate) fn log_range(r: &LogRange, out: &mut String) {
    selector(&r.selector, out);
    for s in &r.pipeline {
        stage(s, out);
    }
    if let Some(u) = &r.unwrap {
        unwrap(u, out);
    }
    if !r.pipeline.is_empty() || r.unwrap.is_some() {
        out.push(' ');
    }
    range_suffix(r, out);
}

pub(crate) fn grouping(g: &Grouping, out: &mut String) {
    out.push_str(if g.without { "without (" } else { "by (" });
    out.push_str(&g.labels.join(", "));
    out.push(')');
}

pub(crate) fn literal(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("(0 / 0)");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "(1e308 * 10)"
        } else {
            "(-1e308 * 10)"
        });
    } else {
        fmt_float(v, out);
    }
}

/// Whether `child` must be parenthesised as an operand of `parent`.
pub(crate) fn needs_parens(parent: &BinaryExpr, child: &MetricExpr, right: bool) -> bool {
    let MetricExpr::Binary(c) = child else {
        return false;
    };
    let (pp, cp) = (parent.op.precedence(), c.op.precedence());
    cp < pp || (cp == pp && (right != parent.op.is_right_assoc()))
}

/// `bool`, `on(…)`, `group_left(…)` after the operator.
pub(crate) fn binary_modifiers(b: &BinaryExpr, out: &mut String) {
    if b.return_bool {
        out.push_str(" bool");
    }
    if let Some(m) = &b.matching {
        out.push_str(if m.on { " on (" } else { " ignoring (" });
        out.push_str(&m.labels.join(", "));
        out.push(')');
        if let Some(g) = &m.group {
            out.push_str(if g.right {
                " group_right ("
            } else {
                " group_left ("
            });
            out.push_str(&g.labels.join(", "));
            out.push(')');
        }
    }
}

pub(crate) fn metric(e: &MetricExpr, out: &mut String) {
    match e {
        MetricExpr::RangeAggregation(r) => {
            out.push_str(r.op.as_str());
            out.push('(');
            if let Some(p) = r.param {
                literal(p, out);
                out.push_str(", ");
            }
            log_range(&r.range, out);
            out.push(')');
            if let Some(g) = &r.grouping {
                out.push(' ');
                grouping(g, out);
            }
        }
        MetricExpr::VectorAggregation(v) => {
            out.push_str(v.op.as_str());
            if let Some(g) = &v.grouping {
                out.push(' ');
                grouping(g, out);
                out.push(' ');
            }
            out.push('(');
            if let Some(p) = v.param {
                out.push_str(&p.to_string());
                out.push_str(", ");
            }
            metric(&v.expr, out);
            out.push(')');
        }
        MetricExpr::Binary(b) => {
            operand(b, &b.lhs, false, out);
            out.push(' ');
            out.push_str(b.op.as_str());
            binary_modifiers(b, out);
            out.push(' ');
            operand(b, &b.rhs, true, out);
        }
        MetricExpr::Literal(l) => literal(l.value, out),
        MetricExpr::Vector(l) => {
            out.push_str("vector(");
            literal(l.value, out);
            out.push(')');
        }
        MetricExpr::LabelReplace(l) => {
            out.push_str("label_replace(");
            metric(&l.expr, out);
            for s in [&l.dst, &l.replacement, &l.src, &l.regex] {
                out.push_str(", ");
                quote(s, out);
            }
            out.push(')');
        }
    }
}

fn operand(parent: &BinaryExpr, child: &MetricExpr, right: bool, out: &mut String) {
    let paren = needs_parens(parent, child, right);
    if paren {
        out.push('(');
    }
    metric(child, out);
    if paren {
        out.push(')');
    }
}

macro_rules! display {
    ($($ty:ty => $f:path),* $(,)?) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut s = String::with_capacity(64);
                $f(self, &mut s);
                f.write_str(&s)
            }
        }
    )*};
}

fn expr(e: &Expr, out: &mut String) {
    match e {
        Expr::Log(l) => log_expr(l, out),
        Expr::Metric(m) => metric(m, out),
    }
}

fn stage_kind(k: &StageKind, out: &mut String) {
    stage_body(k, out)
}

display! {
    Expr => expr,
    LogExpr => log_expr,
    MetricExpr => metric,
    Selector => selector,
    Matcher => matcher,
    Stage => stage_body_of,
    StageKind => stage_kind,
    LabelFilter => label_filter,
    LogRange => log_range,
    Grouping => grouping,
}

fn stage_body_of(s: &Stage, out: &mut String) {
    stage_body(&s.kind, out)
}
