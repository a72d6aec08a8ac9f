//! Property tests of the evaluator: no stage panics on any line, and
//! metric results depend neither on how storage splits streams into
//! batches nor on whether samples are pushed down to storage.

use futures::executor::block_on;
use loki_logql::{parse_labels, Engine, MemoryStorage, QueryParams};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;

const LOG_QUERIES: &[&str] = &[
    r#"{app="x"} |= "a" != "b" |~ "(?i)c|d" !~ "e+" |> "<_>a<_>" !> "z<_>""#,
    r#"{app="x"} |= ip("10.0.0.0/8") != ip("::1")"#,
    r#"{app="x"} | json"#,
    r#"{app="x"} | json a="a.b[0]", b="c[\"d\"]", e"#,
    r#"{app="x"} | logfmt"#,
    r#"{app="x"} | logfmt --strict --keep-empty a, b="c""#,
    r#"{app="x"} | regexp "(?P<a>\\w+)=(?P<b>\\S*)""#,
    r#"{app="x"} | pattern "<a> <_> \"<b>\" <c>""#,
    r#"{app="x"} | unpack"#,
    r#"{app="x"} | logfmt | a > 1 or b >= 1s and c < 1KB | d = ip("10.0.0.0/8")"#,
    r#"{app="x"} | json | line_format "{{.a}} {{ __line__ | upper | trunc 5 }} {{ printf \"%d %s\" .b .c }}""#,
    r#"{app="x"} | logfmt | label_format z="{{ regexReplaceAll \"(a)\" .a \"$1\" }}", y=a"#,
    r#"{app="x"} | decolorize | drop a, b="c" | keep a, d=~"e.*""#,
    r#"{app="x"} | line_format `{{ fromJson __line__ | len }} {{ b64dec __line__ }} {{ urldecode __line__ }} {{ bytes __line__ }}`"#,
];

const METRIC_QUERIES: &[&str] = &[
    r#"sum by (app) (count_over_time({app=~".+"}[10s]))"#,
    r#"rate({app=~".+"} |= "a" [7s])"#,
    r#"bytes_over_time({app=~".+"}[5s] offset 2s)"#,
    r#"sum_over_time({app=~".+"} | logfmt | unwrap v | __error__="" [10s])"#,
    r#"quantile_over_time(0.9, {app=~".+"} | logfmt | unwrap v | __error__="" [10s]) by (app)"#,
    r#"max_over_time({app=~".+"} | logfmt | unwrap v | __error__="" [4s]) by (k)"#,
    r#"rate_counter({app=~".+"} | logfmt | unwrap v | __error__="" [10s])"#,
    r#"first_over_time({app=~".+"} | logfmt | unwrap v | __error__="" [6s]) by (app) - last_over_time({app=~".+"} | logfmt | unwrap v | __error__="" [6s]) by (app)"#,
    r#"topk(2, sum by (k) (count_over_time({app=~".+"} | logfmt [10s])))"#,
    r#"absent_over_time({app="a"}[3s])"#,
    r#"bytes_rate({app=~".+"} != "a=1" [3s])"#,
    r#"sum(count_over_time({app=~"a|b"} |~ "v=1." [5s])) / 2"#,
    // Stages that change or drop stream labels on some lines and not on
    // others, and metadata overriding a stream label on some lines.
    r#"sum by (app, k, t) (count_over_time({app=~".+"} | logfmt [10s]))"#,
    r#"count_over_time({app=~".+"} | logfmt | drop app="a", v [10s])"#,
    r#"sum by (app) (rate({app=~".+"} | logfmt | label_format app="{{.k}}" [10s]))"#,
    r#"count_over_time({app=~".+"} | logfmt | keep k, t [10s])"#,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stages_never_panic(lines in proptest::collection::vec(any::<String>(), 1..6),
                          shaped in proptest::collection::vec("[a-e=\" {}\\[\\]:,.0-9\\\\<>\u{1b}]{0,40}", 0..6)) {
        let mut s = MemoryStorage::new();
        let l = parse_labels(r#"{app="x", a="stream"}"#).unwrap();
        for (i, line) in lines.iter().chain(&shaped).enumerate() {
            s.push(&l, (i as i64 + 1) * S, line);
        }
        let e = Engine::new(s);
        for q in LOG_QUERIES {
            let r = block_on(e.query(q, &QueryParams::range(0, 100 * S, 0).with_limit(1000)));
            prop_assert!(r.is_ok(), "{q}: {r:?}");
        }
    }

    #[test]
    fn parser_hints_do_not_change_results(
        lines in proptest::collection::vec(
            "\\{(\"[a-c_.]{0,3}\":(\"[a-c\\\\\"]{0,3}\"|[0-9]{1,2}|\\{\"[ab]\":[0-9]\\}|\\[1\\]|null),?){0,5}\\}?|[a-c]{1,2}=[a-c0-9\"]{0,3}( [a-c]=[0-9])?",
            1..8,
        ),
    ) {
        // A `line_format` that keeps the line turns the hints off.
        let mut s = MemoryStorage::new();
        let l = parse_labels(r#"{app="x", a="stream"}"#).unwrap();
        for (i, line) in lines.iter().enumerate() {
            s.push(&l, (i as i64 + 1) * S, line);
        }
        let e = Engine::new(s);
        for parser in ["json", "logfmt", "regexp `(?P<a>[a-c])(?P<b_c>[0-9]?)`", "unpack", "json | logfmt"] {
            for tail in ["keep a, b_c", "a != \"zz\" | keep a_extracted, b", "drop a | keep a, b_c, c"] {
                let hinted = format!(r#"{{app="x"}} | {parser} | {tail}"#);
                let plain = format!(r#"{{app="x"}} | {parser} | line_format "{{{{__line__}}}}" | {tail}"#);
                let p = QueryParams::range(0, 100 * S, 0).with_limit(1000);
                let a = block_on(e.query(&hinted, &p)).map(|r| serde_json::to_string(&r).unwrap());
                let b = block_on(e.query(&plain, &p)).map(|r| serde_json::to_string(&r).unwrap());
                prop_assert_eq!(a, b, "{}", hinted);
            }
        }
    }

    #[test]
    fn batching_does_not_change_results(
        entries in proptest::collection::vec((0usize..3, 0i64..30, 0u8..20, 0u8..3, any::<bool>(), 0usize..3), 1..60),
        split in 1usize..7,
        step in 1i64..6,
    ) {
        let build = |batch: usize, pushdown: bool| {
            let mut s = MemoryStorage::new().with_batch_size(batch);
            for (app, t, v, k, extra, meta) in &entries {
                let l = parse_labels(&format!(r#"{{app="{}"}}"#, ["a", "b", "c"][*app])).unwrap();
                let line = format!("k=k{k} v={v}{}", if *extra { " a=1" } else { "" });
                let meta: &[(&str, &str)] = [&[][..], &[("app", "m")], &[("t", "x")]][*meta];
                s.push_with_metadata(&l, t * S + i64::from(*v), &line, meta);
            }
            Engine::new(s).with_sample_pushdown(pushdown)
        };
        let (one, many, entries) = (build(1024, true), build(split, true), build(split, false));
        for q in METRIC_QUERIES {
            for p in [QueryParams::instant(20 * S), QueryParams::range(0, 30 * S, step * S)] {
                let a = block_on(one.query(q, &p)).map(|r| serde_json::to_string(&r).unwrap());
                let b = block_on(many.query(q, &p)).map(|r| serde_json::to_string(&r).unwrap());
                let c = block_on(entries.query(q, &p)).map(|r| serde_json::to_string(&r).unwrap());
                prop_assert_eq!(&a, &b, "{}", q);
                prop_assert_eq!(&a, &c, "{}", q);
            }
        }
    }
}

/// `a` and `b` are the same JSON, numbers given as strings equal to a
/// relative 1e-9 (a sum of per-series rates and a rate of the summed
/// counts may differ in their last bits).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::String(x), Value::String(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// A `sum` over `count_over_time`, `rate` or the bytes functions keeps its
/// range aggregation's series per group from the start (so a trace id in
/// every line's metadata makes no series per line); the answers equal the
/// same sums over the ungrouped series, which `* 1` forces.
const SUMMED_QUERIES: &[(&str, &str)] = &[
    (
        r#"sum(count_over_time({app=~".+"}[10s]))"#,
        r#"sum(count_over_time({app=~".+"}[10s]) * 1)"#,
    ),
    (
        r#"sum by (app) (rate({app=~".+"} |= "k" [7s]))"#,
        r#"sum by (app) (rate({app=~".+"} |= "k" [7s]) * 1)"#,
    ),
    (
        r#"sum without (tr) (bytes_over_time({app=~".+"}[5s]))"#,
        r#"sum without (tr) (bytes_over_time({app=~".+"}[5s]) * 1)"#,
    ),
    (
        r#"sum by (tr, t) (count_over_time({app=~".+"} != "a=1" [10s] offset 2s))"#,
        r#"sum by (tr, t) (count_over_time({app=~".+"} != "a=1" [10s] offset 2s) * 1)"#,
    ),
    (
        r#"sum by (app, k) (bytes_rate({app=~".+"} | logfmt [10s]))"#,
        r#"sum by (app, k) (bytes_rate({app=~".+"} | logfmt [10s]) * 1)"#,
    ),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sums_grouped_early_equal_sums_of_every_series(
        entries in proptest::collection::vec((0usize..3, 0i64..30, 0u8..20, 0u8..3, any::<bool>(), 0usize..4), 1..60),
        split in 1usize..7,
        step in 1i64..6,
    ) {
        let build = |pushdown: bool| {
            let mut s = MemoryStorage::new().with_batch_size(split);
            for (n, (app, t, v, k, extra, meta)) in entries.iter().enumerate() {
                let l = parse_labels(&format!(r#"{{app="{}"}}"#, ["a", "b", "c"][*app])).unwrap();
                let line = format!("k=k{k} v={v}{}", if *extra { " a=1" } else { "" });
                let trace = format!("{n:x}");
                let pairs: Vec<(&str, &str)> = match meta {
                    0 => vec![],
                    1 => vec![("tr", &trace)],
                    2 => vec![("tr", &trace), ("t", "x")],
                    _ => vec![("app", "m")],
                };
                s.push_with_metadata(&l, t * S + i64::from(*v), &line, &pairs);
            }
            Engine::new(s).with_sample_pushdown(pushdown)
        };
        for engine in [build(true), build(false)] {
            for (grouped, every) in SUMMED_QUERIES {
                for p in [QueryParams::instant(20 * S), QueryParams::range(0, 30 * S, step * S)] {
                    let a = block_on(engine.query(grouped, &p)).map(|r| serde_json::to_value(&r).unwrap());
                    let b = block_on(engine.query(every, &p)).map(|r| serde_json::to_value(&r).unwrap());
                    match (&a, &b) {
                        (Ok(a), Ok(b)) => prop_assert!(same_json(a, b), "{}\n{:?}\n{:?}", grouped, a, b),
                        _ => prop_assert_eq!(a.is_ok(), b.is_ok(), "{}", grouped),
                    }
                }
            }
        }
    }
}
