//! Property tests: random ASTs print to text that parses back to the same
//! AST (canonical and pretty forms), and random text never panics.

use loki_logql::ast::*;
use loki_logql::{parse, parse_labels, Expr};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "app", "env", "level", "status", "x_1", "_y", "pod", "Count", "ütf",
];
const REGEXES: &[&str] = &["a.*", "(?i)err(or)?", r"\d+", "x|y|z", "[a-z]+", "^$", ""];
const PATTERNS: &[&str] = &["<_> GET <_>", "a<_>b", "", "<_>", "x"];
const PARSER_PATTERNS: &[&str] = &["<ip> - <_>", "<a> <b>", "[<ts>] <_> <msg>"];
const RE_PARSERS: &[&str] = &[r"(?P<x>\d+)", "(?P<a>.) (?P<b>.)"];
const TEMPLATES: &[&str] = &[
    "{{.a}}",
    "{{ .b | ToUpper }} x",
    "plain",
    "{{if .a}}1{{else}}2{{end}}",
];
const JSON_PATHS: &[&str] = &["a", "a.b", "list[0]", "x[\"k y\"]"];
const IPS: &[&str] = &["192.0.2.1", "10.0.0.0/8", "::1", "192.0.2.1-192.0.2.9"];

fn sp() -> Span {
    Span::default()
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(list).prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z \"\\\\\n\t]{0,8}"]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (name(), 0..4u8, text(), pick(REGEXES)).prop_map(|(name, op, s, re)| {
        let (op, value) = match op {
            0 => (MatchOp::Eq, s),
            1 => (MatchOp::Neq, s),
            2 => (MatchOp::Re, re),
            _ => (MatchOp::Nre, re),
        };
        Matcher {
            name,
            op,
            value,
            span: sp(),
        }
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    (name(), "[a-z]{1,5}", prop::collection::vec(matcher(), 0..3)).prop_map(|(n, v, rest)| {
        let mut matchers = vec![Matcher {
            name: n,
            op: MatchOp::Eq,
            value: v,
            span: sp(),
        }];
        matchers.extend(rest);
        Selector {
            matchers,
            span: sp(),
        }
    })
}

fn compare_value() -> impl Strategy<Value = CompareValue> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(CompareValue::Number),
        (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(CompareValue::Duration),
        any::<u64>().prop_map(CompareValue::Bytes),
    ]
}

fn label_filter() -> impl Strategy<Value = LabelFilter> {
    let leaf = prop_oneof![
        matcher().prop_map(LabelFilter::Matcher),
        (name(), any::<bool>(), pick(IPS)).prop_map(|(name, negated, value)| LabelFilter::Ip {
            name,
            negated,
            value,
            span: sp()
        }),
        (name(), 0..6u8, compare_value()).prop_map(|(name, op, value)| LabelFilter::Compare {
            name,
            op: [
                CmpOp::Eq,
                CmpOp::Neq,
                CmpOp::Gt,
                CmpOp::Gte,
                CmpOp::Lt,
                CmpOp::Lte
            ][op as usize],
            value,
            span: sp()
        }),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        (inner.clone(), inner, any::<bool>()).prop_map(|(a, b, and)| {
            if and {
                LabelFilter::And(Box::new(a), Box::new(b))
            } else {
                LabelFilter::Or(Box::new(a), Box::new(b))
            }
        })
    })
}

fn extraction(json: bool) -> impl Strategy<Value = Extraction> {
    (
        name(),
        prop::option::of(if json {
            pick(JSON_PATHS).boxed()
        } else {
            text().boxed()
        }),
    )
        .prop_map(|(label, expr)| Extraction {
            label,
            expr,
            span: sp(),
        })
}

fn selection() -> impl Strategy<Value = LabelSelection> {
    prop_oneof![
        name().prop_map(|name| LabelSelection::Name { name, span: sp() }),
        matcher().prop_map(LabelSelection::Matcher),
    ]
}

fn line_filter() -> impl Strategy<Value = StageKind> {
    (
        0..6u8,
        prop::collection::vec(
            (
                text(),
                pick(REGEXES),
                pick(PATTERNS),
                pick(IPS),
                any::<bool>(),
            ),
            1..3,
        ),
    )
        .prop_map(|(op, vals)| {
            let op = [
                LineFilterOp::Contains,
                LineFilterOp::NotContains,
                LineFilterOp::Match,
                LineFilterOp::NotMatch,
                LineFilterOp::Pattern,
                LineFilterOp::NotPattern,
            ][op as usize];
            let values = vals
                .into_iter()
                .map(|(t, re, p, ip, use_ip)| match op {
                    LineFilterOp::Contains | LineFilterOp::NotContains if use_ip => {
                        LineFilterValue::Ip(ip)
                    }
                    LineFilterOp::Contains | LineFilterOp::NotContains => LineFilterValue::Text(t),
                    LineFilterOp::Match | LineFilterOp::NotMatch => LineFilterValue::Text(re),
                    _ => LineFilterValue::Text(p),
                })
                .collect();
            StageKind::LineFilter(LineFilter { op, values })
        })
}

fn stage() -> impl Strategy<Value = Stage> {
    let kind = prop_oneof![
        line_filter(),
        prop::collection::vec(extraction(true), 0..3).prop_map(StageKind::Json),
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(extraction(false), 0..3)
        )
            .prop_map(|(strict, keep_empty, params)| StageKind::Logfmt(Logfmt {
                strict,
                keep_empty,
                params
            })),
        pick(RE_PARSERS).prop_map(StageKind::Regexp),
        pick(PARSER_PATTERNS).prop_map(StageKind::Pattern),
        Just(StageKind::Unpack),
        label_filter().prop_map(StageKind::LabelFilter),
        pick(TEMPLATES).prop_map(StageKind::LineFormat),
        prop::collection::vec((pick(TEMPLATES), name(), any::<bool>()), 1..3).prop_map(|v| {
            let mut out: Vec<LabelFmt> = Vec::new();
            for (i, (t, src, rename)) in v.into_iter().enumerate() {
                out.push(LabelFmt {
                    target: format!("t{i}"),
                    source: if rename {
                        LabelFmtSource::Rename(src)
                    } else {
                        LabelFmtSource::Template(t)
                    },
                    span: sp(),
                });
            }
            StageKind::LabelFormat(out)
        }),
        Just(StageKind::Decolorize),
        prop::collection::vec(selection(), 1..3).prop_map(StageKind::Drop),
        prop::collection::vec(selection(), 1..3).prop_map(StageKind::Keep),
    ];
    kind.prop_map(|kind| Stage { kind, span: sp() })
}

/// `| drop a` followed by `!= "x"` has no text form: the parser (like
/// Loki's) reads `a != "x"` as a drop matcher. Such pipelines are skipped.
fn expressible(stages: &[Stage]) -> bool {
    stages.windows(2).all(|w| {
        let ends_with_name = match &w[0].kind {
            StageKind::Drop(l) | StageKind::Keep(l) => {
                matches!(l.last(), Some(LabelSelection::Name { .. }))
            }
            _ => false,
        };
        let negative_filter = matches!(
            &w[1].kind,
            StageKind::LineFilter(LineFilter {
                op: LineFilterOp::NotContains | LineFilterOp::NotMatch,
                ..
            })
        );
        !(ends_with_name && negative_filter)
    })
}

fn log_expr() -> impl Strategy<Value = LogExpr> {
    (
        selector(),
        prop::collection::vec(stage(), 0..4).prop_filter("expressible", |s| expressible(s)),
    )
        .prop_map(|(selector, pipeline)| LogExpr {
            selector,
            pipeline,
            span: sp(),
        })
}

fn grouping() -> impl Strategy<Value = Grouping> {
    (any::<bool>(), prop::collection::vec(name(), 0..3)).prop_map(|(without, labels)| Grouping {
        without,
        labels,
        span: sp(),
    })
}

fn range_agg() -> impl Strategy<Value = MetricExpr> {
    (
        prop::sample::select(RangeOp::ALL.to_vec()),
        0.0..1.0f64,
        log_expr(),
        prop::option::of((
            name(),
            prop::option::of(0..3u8),
            prop::collection::vec(label_filter(), 0..2),
        )),
        (0..10_000_000i64, -1_000_000_000_000i64..1_000_000_000_000),
        prop::option::of(grouping()),
    )
        .prop_map(|(op, phi, log, unwrap, (range_ms, offset), grouping)| {
            use RangeOp::*;
            let needs = !matches!(
                op,
                CountOverTime | BytesOverTime | BytesRate | Rate | AbsentOverTime
            );
            let forbidden = matches!(op, CountOverTime | BytesOverTime | BytesRate);
            let unwrap = if forbidden {
                None
            } else {
                unwrap.or(needs.then(|| ("v".to_owned(), None, vec![])))
            };
            let grouped = matches!(
                op,
                AvgOverTime
                    | MinOverTime
                    | MaxOverTime
                    | StddevOverTime
                    | StdvarOverTime
                    | QuantileOverTime
                    | FirstOverTime
                    | LastOverTime
            );
            MetricExpr::RangeAggregation(RangeAggregation {
                op,
                param: (op == QuantileOverTime).then_some(phi),
                range: LogRange {
                    selector: log.selector,
                    pipeline: log.pipeline,
                    unwrap: unwrap.map(|(label, conv, post_filters)| Unwrap {
                        label,
                        conversion: conv.map(|c| {
                            [
                                UnwrapConversion::Bytes,
                                UnwrapConversion::Duration,
                                UnwrapConversion::DurationSeconds,
                            ][c as usize]
                        }),
                        post_filters,
                        span: sp(),
                    }),
                    range: range_ms * 1_000_000,
                    offset,
                    span: sp(),
                },
                grouping: grouping.filter(|_| grouped),
                span: sp(),
            })
        })
}

fn lit(value: f64) -> MetricExpr {
    MetricExpr::Literal(Literal { value, span: sp() })
}

fn metric() -> impl Strategy<Value = MetricExpr> {
    let leaf = prop_oneof![
        4 => range_agg(),
        1 => (0u32..1000).prop_map(|v| MetricExpr::Vector(Literal { value: f64::from(v) / 4.0, span: sp() })),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                prop::sample::select(VectorOp::ALL.to_vec()),
                1..100u64,
                inner.clone(),
                prop::option::of(grouping())
            )
                .prop_map(|(op, k, e, g)| MetricExpr::VectorAggregation(
                    VectorAggregation {
                        op,
                        param: op.takes_param().then_some(k),
                        expr: Box::new(e),
                        grouping: g.filter(|_| !matches!(
                            op,
                            VectorOp::Sort | VectorOp::SortDesc | VectorOp::ApproxTopk
                        )),
                        span: sp(),
                    }
                )),
            (
                0..15usize,
                inner.clone(),
                inner.clone(),
                any::<bool>(),
                prop::option::of((
                    any::<bool>(),
                    prop::collection::vec(name(), 0..2),
                    prop::option::of((any::<bool>(), prop::collection::vec(name(), 0..2)))
                )),
                prop::option::of((any::<bool>(), -1e6..1e6f64))
            )
                .prop_map(|(op, l, r, b, m, literal)| {
                    let op = [
                        BinaryOp::Or,
                        BinaryOp::And,
                        BinaryOp::Unless,
                        BinaryOp::Eq,
                        BinaryOp::Neq,
                        BinaryOp::Gt,
                        BinaryOp::Gte,
                        BinaryOp::Lt,
                        BinaryOp::Lte,
                        BinaryOp::Add,
                        BinaryOp::Sub,
                        BinaryOp::Mul,
                        BinaryOp::Div,
                        BinaryOp::Mod,
                        BinaryOp::Pow,
                    ][op];
                    let (mut l, mut r) = (l, r);
                    if let (Some((left, v)), false) = (literal, op.is_set()) {
                        if left {
                            l = lit(v)
                        } else {
                            r = lit(v)
                        }
                    }
                    let matching = m.map(|(on, labels, g)| VectorMatching {
                        on,
                        labels,
                        group: g
                            .filter(|_| !op.is_set())
                            .map(|(right, labels)| GroupModifier { right, labels }),
                    });
                    MetricExpr::Binary(BinaryExpr {
                        op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                        return_bool: b && op.is_comparison(),
                        matching,
                        span: sp(),
                    })
                }),
            (
                inner,
                pick(&["dst", "_d", "a1"]),
                text(),
                name(),
                pick(REGEXES)
            )
                .prop_map(|(e, dst, replacement, src, regex)| {
                    MetricExpr::LabelReplace(LabelReplace {
                        expr: Box::new(e),
                        dst,
                        replacement,
                        src,
                        regex,
                        span: sp(),
                    })
                }),
        ]
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        log_expr().prop_map(Expr::Log),
        metric().prop_map(Expr::Metric)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ast_print_parse_round_trip(e in expr()) {
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}\n{err}")))?;
        prop_assert_eq!(&back, &e, "{}", text);
        let pretty = e.pretty();
        let back = parse(&pretty).map_err(|err| TestCaseError::fail(format!("{pretty}\n{err}")))?;
        prop_assert_eq!(&back, &e, "{}", pretty);
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,80}") {
        let _ = parse(&s);
        let _ = parse_labels(&s);
    }

    #[test]
    fn query_alphabet_never_panics(s in "[{}()\\[\\]|=!~<>\"`a-z0-9 ,.+*/%^#\\-_:$\\\\]{0,60}") {
        if let Ok(e) = parse(&s) {
            let text = e.to_string();
            let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{s} -> {text}\n{err}")))?;
            prop_assert_eq!(back.to_string(), text);
        }
        let _ = parse_labels(&s);
    }

    #[test]
    fn mutated_valid_queries_never_panic(i in 0..6usize, pos in any::<prop::sample::Index>(), junk in "\\PC{0,4}") {
        let base = [
            r#"sum by (a) (rate({app="x"} |= "e" | json | s>1 [5m]))"#,
            r#"{a="b"} | logfmt --strict | line_format "{{.m}}" | drop x"#,
            r#"quantile_over_time(0.9, {a="b"} | unwrap bytes(x) [1m]) by (y)"#,
            r#"rate({a="b"}[1m]) / on (x) group_left sum(rate({c="d"}[1m]))"#,
            r#"label_replace(vector(1), "a", "$1", "b", "(.*)")"#,
            r#"{a="b"} |> "<_> x" or ip("1.2.3.4") | label_format q="{{.z}}""#,
        ][i];
        let mut at = pos.index(base.len() + 1);
        while !base.is_char_boundary(at) { at -= 1; }
        let q = format!("{}{}{}", &base[..at], junk, &base[at..]);
        let _ = parse(&q);
        let cut = &base[..at];
        let _ = parse(cut);
    }
}
