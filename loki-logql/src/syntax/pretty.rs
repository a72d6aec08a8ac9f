//! The multi-line form of Loki's `format_query`: an expression that fits in
//! [`MAX_LINE`] columns stays on one line; longer ones break aggregations,
//! binary operations and pipelines over indented lines. The output re-parses
//! to the same AST as the canonical form.

use crate::syntax::ast::{Expr, LogRange, MetricExpr, Selector, Stage, Unwrap};
use crate::syntax::printer;

/// Longest line kept unbroken.
pub(crate) const MAX_LINE: usize = 100;
const INDENT: &str = "  ";

/// Formats `e` over several lines when it is long.
pub(crate) fn pretty(e: &Expr) -> String {
    let mut out = String::new();
    match e {
        Expr::Log(l) => pipeline(&l.selector, &l.pipeline, None, None, 0, &mut out),
        Expr::Metric(m) => metric(m, 0, &mut out),
    }
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

/// Writes `one` on one indented line if it fits; returns whether it did.
fn fits(one: &str, level: usize, out: &mut String) -> bool {
    if level * INDENT.len() + one.chars().count() <= MAX_LINE && !one.contains('\n') {
        indent(level, out);
        out.push_str(one);
        true
    } else {
        false
    }
}

/// Selector and stages; each stage on its own line when too long.
fn pipeline(
    sel: &Selector,
    stages: &[Stage],
    unwrap: Option<&Unwrap>,
    range: Option<&LogRange>,
    level: usize,
    out: &mut String,
) {
    let mut one = String::new();
    match range {
        Some(r) => printer::log_range(r, &mut one),
        None => {
            printer::selector(sel, &mut one);
            stages.iter().for_each(|s| printer::stage(s, &mut one));
        }
    }
    if fits(&one, level, out) {
        return;
    }
    indent(level, out);
    printer::selector(sel, out);
    if let Some(r) = range {
        if stages.is_empty() && unwrap.is_none() {
            printer::range_suffix(r, out);
            return;
        }
    }
    for s in stages {
        out.push('\n');
        let mut line = String::new();
        printer::stage(s, &mut line);
        indent(level + 1, out);
        out.push_str(line.trim_start());
    }
    if let Some(u) = unwrap {
        out.push('\n');
        let mut line = String::new();
        printer::unwrap(u, &mut line);
        indent(level + 1, out);
        out.push_str(line.trim_start());
    }
    if let Some(r) = range {
        out.push(' ');
        printer::range_suffix(r, out);
    }
}

fn metric(e: &MetricExpr, level: usize, out: &mut String) {
    let one = e.to_string();
    if fits(&one, level, out) {
        return;
    }
    match e {
        MetricExpr::RangeAggregation(r) => {
            indent(level, out);
            out.push_str(r.op.as_str());
            out.push_str("(\n");
            if let Some(p) = r.param {
                indent(level + 1, out);
                printer::literal(p, out);
                out.push_str(",\n");
            }
            let lr = &r.range;
            pipeline(
                &lr.selector,
                &lr.pipeline,
                lr.unwrap.as_ref(),
                Some(lr),
                level + 1,
                out,
            );
            out.push('\n');
            indent(level, out);
            out.push(')');
            if let Some(g) = &r.grouping {
                out.push(' ');
                printer::grouping(g, out);
            }
        }
        MetricExpr::VectorAggregation(v) => {
            indent(level, out);
            out.push_str(v.op.as_str());
            if let Some(g) = &v.grouping {
                out.push(' ');
                printer::grouping(g, out);
            }
            out.push_str(" (\n");
            if let Some(p) = v.param {
                indent(level + 1, out);
                out.push_str(&p.to_string());
                out.push_str(",\n");
            }
            metric(&v.expr, level + 1, out);
            out.push('\n');
            indent(level, out);
            out.push(')');
        }
        MetricExpr::Binary(b) => {
            for (i, side) in [&b.lhs, &b.rhs].into_iter().enumerate() {
                if i == 1 {
                    out.push('\n');
                    indent(level, out);
                    out.push_str(b.op.as_str());
                    printer::binary_modifiers(b, out);
                    out.push('\n');
                }
                if printer::needs_parens(b, side, i == 1) {
                    indent(level, out);
                    out.push_str("(\n");
                    metric(side, level + 1, out);
                    out.push('\n');
                    indent(level, out);
                    out.push(')');
                } else {
                    metric(side, level, out);
                }
            }
        }
        MetricExpr::LabelReplace(l) => {
            indent(level, out);
            out.push_str("label_replace(\n");
            metric(&l.expr, level + 1, out);
            out.push_str(",\n");
            indent(level + 1, out);
            for (i, s) in [&l.dst, &l.replacement, &l.src, &l.regex]
                .into_iter()
                .enumerate()
            {
                if i > 0 {
                    out.push_str(", ");
                }
                crate::syntax::literal::quote(s, out);
            }
            out.push('\n');
            indent(level, out);
            out.push(')');
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {
            indent(level, out);
            out.push_str(&one);
        }
    }
}
