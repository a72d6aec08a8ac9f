//! Queries assembled from fuzzer-chosen grammar fragments: whatever parses
//! must survive print -> parse with an equal AST, in both the canonical and
//! the pretty (`format_query`) form.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const SELECTORS: &[&str] = &[
    r#"{app="a"}"#,
    r#"{app=~"a.+", env!="dev"}"#,
    r#"{x="1", y=~"z|w"}"#,
];
const STAGES: &[&str] = &[
    r#" |= "err""#,
    r#" != "x" or "y""#,
    r#" |~ "(?i)warn""#,
    r#" |> "<_> GET <_>""#,
    r#" |= ip("10.0.0.0/8")"#,
    " | json",
    r#" | json a="b.c", d"#,
    " | logfmt --strict",
    r#" | regexp "(?P<n>\\d+)""#,
    r#" | pattern "<ip> <_>""#,
    " | unpack",
    r#" | level="error" or status>=500"#,
    " | duration>1.5s, size<20KB",
    r#" | line_format "{{.msg | ToUpper}}""#,
    r#" | label_format a=b, c="{{.d}}""#,
    " | decolorize",
    r#" | drop a, b="c""#,
    " | keep x",
];
const UNWRAPS: &[&str] = &[
    "",
    " | unwrap v",
    " | unwrap bytes(v)",
    r#" | unwrap duration(v) | __error__="""#,
];
const RANGE_OPS: &[&str] = &[
    "count_over_time",
    "rate",
    "bytes_rate",
    "sum_over_time",
    "avg_over_time",
    "rate_counter",
    "quantile_over_time(0.9, ",
    "absent_over_time",
    "last_over_time",
];
const WRAPS: &[&str] = &[
    "sum",
    "topk(3, ",
    "sum by (a) ",
    "max without (b) ",
    "sort_desc",
    "",
];
const BINOPS: &[&str] = &[
    " + ",
    " / ",
    " > bool ",
    " and ",
    " or on (a) ",
    " * ignoring (b) group_left (c) ",
    " ^ ",
];

#[derive(Debug, Arbitrary)]
struct Query {
    selector: u8,
    stages: Vec<u8>,
    unwrap: u8,
    range_op: u8,
    range_ms: u32,
    offset: Option<i32>,
    wrap: u8,
    rhs: Option<(u8, Option<f32>)>,
    log_only: bool,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

fn build(q: &Query) -> String {
    let mut s = pick(SELECTORS, q.selector).to_owned();
    for &i in q.stages.iter().take(6) {
        s.push_str(pick(STAGES, i));
    }
    if q.log_only {
        return s;
    }
    s.push_str(pick(UNWRAPS, q.unwrap));
    s.push_str(&format!(" [{}ms]", q.range_ms));
    if let Some(o) = q.offset {
        s.push_str(&format!(" offset {o}s"));
    }
    let op = pick(RANGE_OPS, q.range_op);
    let mut e = if op.ends_with(", ") {
        format!("{op}{s})")
    } else {
        format!("{op}({s})")
    };
    let wrap = pick(WRAPS, q.wrap);
    if !wrap.is_empty() {
        e = if wrap.ends_with(", ") {
            format!("{wrap}{e})")
        } else {
            format!("{wrap}({e})")
        };
    }
    if let Some((op, lit)) = q.rhs {
        let rhs = match lit {
            Some(v) => v.to_string(),
            None => e.clone(),
        };
        e = format!("{e}{}{rhs}", pick(BINOPS, op));
    }
    e
}

fuzz_target!(|q: Query| {
    let text = build(&q);
    let Ok(expr) = loki_logql::parse(&text) else {
        return;
    };
    let canonical = expr.to_string();
    let back = loki_logql::parse(&canonical)
        .unwrap_or_else(|e| panic!("{text}\ncanonical {canonical} fails:\n{e}"));
    if !canonical.contains("(0 / 0)") {
        assert_eq!(back, expr, "{text}\ncanonical {canonical}");
    }
    let pretty = expr.pretty();
    let back = loki_logql::parse(&pretty)
        .unwrap_or_else(|e| panic!("{text}\npretty {pretty} fails:\n{e}"));
    assert_eq!(back.to_string(), canonical, "{text}\npretty {pretty}");
});
