//! AST-shape tests: precedence, associativity, folding, equivalent forms,
//! spans.

use crate::syntax::ast::*;
use crate::{parse, Expr};

fn metric(q: &str) -> MetricExpr {
    match parse(q).unwrap_or_else(|e| panic!("{e}")) {
        Expr::Metric(m) => m,
        Expr::Log(l) => panic!("log query: {l}"),
    }
}

fn log(q: &str) -> LogExpr {
    match parse(q).unwrap_or_else(|e| panic!("{e}")) {
        Expr::Log(l) => l,
        Expr::Metric(m) => panic!("metric query: {m}"),
    }
}

fn same(a: &str, b: &str) {
    assert_eq!(parse(a).unwrap(), parse(b).unwrap(), "{a} vs {b}");
}

fn binary(m: &MetricExpr) -> &BinaryExpr {
    match m {
        MetricExpr::Binary(b) => b,
        other => panic!("not binary: {other}"),
    }
}

const R: &str = r#"rate({a="b"}[1m])"#;

#[test]
fn precedence_and_associativity() {
    let m = metric(&format!("{R} + {R} * {R}"));
    let b = binary(&m);
    assert_eq!(b.op, BinaryOp::Add);
    assert_eq!(binary(&b.rhs).op, BinaryOp::Mul);

    let m = metric(&format!("{R} - {R} - {R}"));
    let b = binary(&m);
    assert_eq!(b.op, BinaryOp::Sub);
    assert_eq!(binary(&b.lhs).op, BinaryOp::Sub);

    let m = metric(&format!("{R} ^ {R} ^ {R}"));
    let b = binary(&m);
    assert_eq!(binary(&b.rhs).op, BinaryOp::Pow);

    let m = metric(&format!("{R} or {R} and {R} > {R}"));
    let b = binary(&m);
    assert_eq!(b.op, BinaryOp::Or);
    let rhs = binary(&b.rhs);
    assert_eq!(rhs.op, BinaryOp::And);
    assert_eq!(binary(&rhs.rhs).op, BinaryOp::Gt);

    let m = metric(&format!("({R} + {R}) * {R}"));
    assert_eq!(binary(&binary(&m).lhs).op, BinaryOp::Add);
}

#[test]
fn literals_fold() {
    let lit = |q: &str| match metric(q) {
        MetricExpr::Literal(l) => l.value,
        other => panic!("{other}"),
    };
    assert_eq!(lit("1 + 2 * 3"), 7.0);
    assert_eq!(lit("2 ^ 3 ^ 2"), 512.0);
    assert_eq!(lit("2 > 1"), 1.0);
    assert_eq!(lit("2 < 1"), 0.0);
    assert_eq!(lit("-1 - -1"), 0.0);
    assert!(lit("1 / 0").is_nan());
    assert!(lit("5 % 0").is_nan());
    assert_eq!(lit("0x10"), 16.0);
    assert_eq!(lit("(((3)))"), 3.0);
}

#[test]
fn modifiers() {
    let m = metric(&format!("{R} > bool on (a, b) group_left (c) {R}"));
    let b = binary(&m);
    assert!(b.return_bool);
    let vm = b.matching.as_ref().unwrap();
    assert!(vm.on);
    assert_eq!(vm.labels, ["a", "b"]);
    let g = vm.group.as_ref().unwrap();
    assert!(!g.right);
    assert_eq!(g.labels, ["c"]);
    let m = metric(&format!("{R} / ignoring (x) group_right {R}"));
    let vm = binary(&m).matching.clone().unwrap();
    assert!(!vm.on);
    assert!(vm.group.unwrap().right);
}

#[test]
fn equivalent_forms() {
    same(&format!("sum by (a) ({R})"), &format!("sum({R}) by (a)"));
    same(&format!("SUM BY (a) ({R})"), &format!("sum by (a) ({R})"));
    same(
        r#"count_over_time({a="b"} | json [5m] offset 1h)"#,
        r#"count_over_time({a="b"}[5m] offset 1h | json)"#,
    );
    same(
        r#"count_over_time(({a="b"} | json)[5m])"#,
        r#"count_over_time({a="b"} | json [5m])"#,
    );
    same(r#"{a="b"} | x="1", y="2""#, r#"{a="b"} | x="1" and y="2""#);
    same(r#"{a="b"} | x="1" y="2""#, r#"{a="b"} | x="1" and y="2""#);
    same(r#"{a="b"} | x=1"#, r#"{a="b"} | x==1"#);
    same(r#"{a="b"} | d>90s"#, r#"{a="b"} | d>1m30s"#);
    same(r#"{a="b"} | d>1.5m"#, r#"{a="b"} | d>90s"#);
    same(r#"{a="b"} | s>1KiB"#, r#"{a="b"} | s>1024B"#);
    same(r#"{a=`x\d`}"#, r#"{a="x\\d"}"#);
    same("{a=\"b\"} # comment\n|= \"x\"", r#"{a="b"} |= "x""#);
}

#[test]
fn label_filter_precedence() {
    let l = log(r#"{a="b"} | x="1" or y="2" and z="3""#);
    let StageKind::LabelFilter(LabelFilter::Or(_, rhs)) = &l.pipeline[0].kind else {
        panic!("{l}");
    };
    assert!(matches!(**rhs, LabelFilter::And(..)));
}

#[test]
fn keywords_are_contextual() {
    let l = log(r#"{count="1", rate="2"} | sum="x" | count>5"#);
    assert_eq!(l.selector.matchers[0].name, "count");
    assert_eq!(l.pipeline.len(), 2);
    let m = metric(r#"sum by (count) (count_over_time({rate="x"}[1m]))"#);
    let MetricExpr::VectorAggregation(v) = m else {
        panic!()
    };
    assert_eq!(v.grouping.unwrap().labels, ["count"]);
}

#[test]
fn stages() {
    let l = log(
        r#"{a="b"} |= "x" or ip("1.2.3.4") | logfmt --strict a="b", c | unwrap_me="1" | drop d, e="f""#,
    );
    let StageKind::LineFilter(f) = &l.pipeline[0].kind else {
        panic!()
    };
    assert_eq!(f.op, LineFilterOp::Contains);
    assert_eq!(
        f.values,
        [
            LineFilterValue::Text("x".into()),
            LineFilterValue::Ip("1.2.3.4".into())
        ]
    );
    let StageKind::Logfmt(lf) = &l.pipeline[1].kind else {
        panic!()
    };
    assert!(lf.strict && !lf.keep_empty);
    assert_eq!(lf.params[0].expr.as_deref(), Some("b"));
    assert_eq!(lf.params[1].expr, None);
    let StageKind::Drop(d) = &l.pipeline[3].kind else {
        panic!()
    };
    assert!(matches!(&d[1], LabelSelection::Matcher(m) if m.value == "f"));
}

#[test]
fn unwrap_and_range() {
    let m = metric(
        r#"quantile_over_time(0.9, {a="b"} | json | unwrap duration(t) | t>1s [5m] offset -1h) by (x)"#,
    );
    let MetricExpr::RangeAggregation(r) = m else {
        panic!()
    };
    assert_eq!(r.op, RangeOp::QuantileOverTime);
    assert_eq!(r.param, Some(0.9));
    assert_eq!(r.range.range, 300_000_000_000);
    assert_eq!(r.range.offset, -3_600_000_000_000);
    let u = r.range.unwrap.unwrap();
    assert_eq!(u.conversion, Some(UnwrapConversion::Duration));
    assert_eq!(u.label, "t");
    assert_eq!(u.post_filters.len(), 1);
    assert_eq!(r.grouping.unwrap().labels, ["x"]);
}

#[test]
fn spans_point_into_the_query() {
    let q = r#"sum(rate({app="foo"} |= "x" [5m]))"#;
    let MetricExpr::VectorAggregation(v) = metric(q) else {
        panic!()
    };
    assert_eq!((v.span.start, v.span.end), (0, q.len()));
    let MetricExpr::RangeAggregation(r) = *v.expr else {
        panic!()
    };
    assert_eq!(
        &q[r.span.start..r.span.end],
        r#"rate({app="foo"} |= "x" [5m])"#
    );
    let s = r.range.selector.span;
    assert_eq!(&q[s.start..s.end], r#"{app="foo"}"#);
    let m = r.range.selector.matchers[0].span;
    assert_eq!(&q[m.start..m.end], r#"app="foo""#);
    let st = r.range.pipeline[0].span;
    assert_eq!(&q[st.start..st.end], r#"|= "x""#);
}

#[test]
fn error_display_has_caret() {
    let err = parse("{app=\"foo\"}\n  | json\n  | x >").unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        "parse error at line 3, col 8: unexpected end of query, expected a string, number, duration, bytes or ip(\"…\")\n    | x >\n         ^"
    );
    let pe = err.as_parse().unwrap();
    assert_eq!(pe.line_col(), (3, 8));
    assert_eq!(pe.query(), "{app=\"foo\"}\n  | json\n  | x >");
    assert!(err.is_client_error());
}

#[test]
fn too_long() {
    let q = format!("{{a=\"{}\"}}", "x".repeat(200_000));
    let err = parse(&q).unwrap_err();
    assert!(matches!(
        err.as_parse().unwrap().kind(),
        crate::ParseErrorKind::QueryTooLong { .. }
    ));
}

#[test]
fn label_sets() {
    let ls = crate::parse_labels(r#"{b="2", a="1", c="", d="x\ny"}"#).unwrap();
    assert_eq!(ls.to_string(), r#"{a="1", b="2", d="x\ny"}"#);
    assert_eq!(ls.len(), 3);
    assert_eq!(ls.get("d"), Some("x\ny"));
    assert_eq!(ls.get("c"), None);
    assert!(crate::parse_labels("{}").unwrap().is_empty());
    assert_eq!(crate::parse_labels(r#"{a="1",}"#).unwrap().len(), 1);
    let err = crate::parse_labels(r#"{a="1", a="2"}"#).unwrap_err();
    assert!(
        err.to_string().contains("duplicate label name \"a\""),
        "{err}"
    );
    assert_eq!(err.as_parse().unwrap().line_col(), (1, 9));
    let err = crate::parse_labels(r#"{a!="1"}"#).unwrap_err();
    assert!(err.to_string().contains("only allow \"=\""), "{err}");
    let err = crate::parse_labels(r#"{a="1"} x"#).unwrap_err();
    assert!(
        err.to_string().contains("expected end of label set"),
        "{err}"
    );
    let err = crate::parse_labels(r#"{é="1"}"#).unwrap_err();
    assert!(err.to_string().contains("invalid label name"), "{err}");
    let err = crate::parse_labels(r#"{a="1""#).unwrap_err();
    assert!(err.to_string().contains("col 7"), "{err}");
}
