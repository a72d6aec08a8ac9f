//! The multi-line form of Loki's `format_query`: an expression whose
//! canonical form is at most [`MAX_LINE`] bytes stays on one line; longer
//! ones are split, each child indented one level (two spaces) deeper:
//! aggregations put their arguments on their own lines, binary operations
//! put the operator on its own line between the operands, pipelines put
//! each stage on its own line. Unlike Loki, parentheses that precedence
//! needs are kept, so the output always re-parses to the same AST.

use crate::syntax::ast::{BinaryExpr, Expr, LogRange, MetricExpr, Selector, Stage};
use crate::syntax::literal::quote;
use crate::syntax::printer;

/// Longest canonical form kept on one line (Loki's `maxCharsPerLine`).
pub(crate) const MAX_LINE: usize = 100;
const INDENT: &str = "  ";

/// Formats `e` over several lines when it is long.
pub(crate) fn pretty(e: &Expr) -> String {
    let mut out = String::new();
    match e {
        Expr::Log(l) => pipeline(&l.selector, &l.pipeline, 0, &mut out),
        Expr::Metric(m) => metric(m, 0, &mut out),
    }
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

/// Writes `one` indented if it needs no split; returns whether it did.
fn short(one: &str, level: usize, out: &mut String) -> bool {
    if one.len() <= MAX_LINE {
        indent(level, out);
        out.push_str(one);
        true
    } else {
        false
    }
}

/// A selector and its stages, one stage per line when too long.
fn pipeline(sel: &Selector, stages: &[Stage], level: usize, out: &mut String) {
    let mut one = String::new();
    printer::selector(sel, &mut one);
    stages.iter().for_each(|s| printer::stage(s, &mut one));
    if short(&one, level, out) {
        return;
    }
    indent(level, out);
    printer::selector(sel, out);
    for s in stages {
        out.push('\n');
        let mut line = String::new();
        printer::stage(s, &mut line);
        indent(level + 1, out);
        out.push_str(line.trim_start());
    }
}

fn log_range(r: &LogRange, level: usize, out: &mut String) {
    let mut one = String::new();
    printer::log_range(r, &mut one);
    if short(&one, level, out) {
        return;
    }
    pipeline(&r.selector, &r.pipeline, level, out);
    if let Some(u) = &r.unwrap {
        out.push('\n');
        let mut line = String::new();
        let bare = crate::syntax::ast::Unwrap {
            post_filters: Vec::new(),
            ..u.clone()
        };
        printer::unwrap(&bare, &mut line);
        indent(level + 1, out);
        out.push_str(line.trim_start());
        for f in &u.post_filters {
            out.push('\n');
            indent(level + 1, out);
            out.push_str("| ");
            printer::label_filter(f, out);
        }
    }
    out.push(' ');
    printer::range_suffix(r, out);
}

fn metric(e: &MetricExpr, level: usize, out: &mut String) {
    let one = e.to_string();
    if short(&one, level, out) {
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
            log_range(&r.range, level + 1, out);
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
            out.push_str("(\n");
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
        MetricExpr::Binary(b) => binary(b, level, out),
        MetricExpr::LabelReplace(l) => {
            indent(level, out);
            out.push_str("label_replace(\n");
            metric(&l.expr, level + 1, out);
            for s in [&l.dst, &l.replacement, &l.src, &l.regex] {
                out.push_str(",\n");
                indent(level + 1, out);
                quote(s, out);
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

/// A split binary operation: operands one level deeper, the operator on
/// its own line. A left operand that is itself a split operation of the
/// same precedence stays at this level, so `a + b + c` reads as a list
/// instead of drifting right.
fn binary(b: &BinaryExpr, level: usize, out: &mut String) {
    for (i, side) in [&b.lhs, &b.rhs].into_iter().enumerate() {
        if i == 1 {
            out.push('\n');
            indent(level, out);
            out.push_str(b.op.as_str());
            printer::binary_modifiers(b, out);
            out.push('\n');
        }
        let paren = printer::needs_parens(b, side, i == 1);
        match &**side {
            MetricExpr::Binary(l)
                if i == 0
                    && !paren
                    && l.op.precedence() == b.op.precedence()
                    && side.to_string().len() > MAX_LINE =>
            {
                binary(l, level, out);
            }
            _ if paren => {
                indent(level + 1, out);
                out.push_str("(\n");
                metric(side, level + 2, out);
                out.push('\n');
                indent(level + 1, out);
                out.push(')');
            }
            _ => metric(side, level + 1, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    #[test]
    fn short_queries_stay_on_one_line() {
        let q = parse(r#"sum by (a) (rate({app="x"}[5m]))"#).unwrap();
        assert_eq!(q.pretty(), q.to_string());
    }

    #[test]
    fn long_queries_split() {
        let q = parse(
            r#"sum by (cluster, namespace) (rate({app="checkout", env="production"} |= "error" | json | level="error" [5m])) / sum by (cluster, namespace) (rate({app="checkout", env="production"}[5m]))"#,
        )
        .unwrap();
        let want = r#"  sum by (cluster, namespace)(
    rate({app="checkout", env="production"} |= "error" | json | level="error" [5m])
  )
/
  sum by (cluster, namespace) (rate({app="checkout", env="production"}[5m]))"#;
        assert_eq!(q.pretty(), want);
        assert_eq!(parse(&q.pretty()).unwrap(), q);
    }

    #[test]
    fn long_pipelines_put_one_stage_per_line() {
        let q = parse(
            r#"{app="api", namespace="production"} |= "request" != "health" | json | status>=500 | line_format "{{.msg}}""#,
        )
        .unwrap();
        let want = r#"{app="api", namespace="production"}
  |= "request"
  != "health"
  | json
  | status>=500
  | line_format "{{.msg}}""#;
        assert_eq!(q.pretty(), want);
        assert_eq!(parse(&q.pretty()).unwrap(), q);

        let q = parse(
            r#"quantile_over_time(0.99, {app="api", namespace="production"} |= "request" | json | status>=500 | unwrap duration(latency) | __error__="" [5m]) by (route)"#,
        )
        .unwrap();
        let want = r#"quantile_over_time(
  0.99,
  {app="api", namespace="production"} |= "request" | json | status>=500
    | unwrap duration(latency)
    | __error__="" [5m]
) by (route)"#;
        assert_eq!(q.pretty(), want);
        assert_eq!(parse(&q.pretty()).unwrap(), q);
    }
}
