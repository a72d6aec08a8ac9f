//! Categorized labels (Loki's `categorize-labels` encoding): log query
//! entries grouped by their stream labels alone, each with its structured
//! metadata and parsed labels apart, by Loki's rules of which is which.

use loki_logql::{
    parse_labels, Engine, EntryLabels, LabelSet, MemoryStorage, QueryParams, QueryResult, Stream,
};
use proptest::prelude::*;

type Pairs = Vec<(String, String)>;

fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One stream `{app="a", env="prod"}` holding `entries` (line, metadata)
/// at timestamps 1, 2, ….
fn storage(entries: &[(&str, &[(&str, &str)])]) -> MemoryStorage {
    let mut storage = MemoryStorage::new();
    let labels = parse_labels(r#"{app="a", env="prod"}"#).unwrap();
    for (i, (line, metadata)) in entries.iter().enumerate() {
        storage.push_with_metadata(&labels, i as i64 + 1, line, metadata);
    }
    storage
}

fn streams(storage: MemoryStorage, query: &str, categorize: bool) -> Vec<Stream> {
    let params = QueryParams::range(0, 100, 0)
        .with_limit(1000)
        .with_direction(loki_logql::Direction::Forward)
        .with_categorized_labels(categorize);
    match futures::executor::block_on(Engine::new(storage).query(query, &params)).unwrap() {
        QueryResult::Streams(streams) => streams,
        other => panic!("not streams: {other:?}"),
    }
}

/// The single entry of a query over one entry: its stream's labels and
/// its categorized labels.
fn only(entry: (&str, &[(&str, &str)]), query: &str) -> (String, Pairs, Pairs) {
    let st = streams(storage(&[entry]), query, true);
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0].entries.len(), 1);
    let labels = st[0].entries[0].categorized.clone().expect("categorized");
    (
        st[0].labels.to_string(),
        labels.structured_metadata,
        labels.parsed,
    )
}

#[test]
fn entries_with_different_metadata_share_their_stream() {
    let store = storage(&[
        ("a", &[("trace_id", "1")]),
        ("b", &[("trace_id", "2")]),
        ("c", &[]),
    ]);
    let st = streams(store, r#"{app="a"}"#, true);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].labels.to_string(), r#"{app="a", env="prod"}"#);
    let got: Vec<Option<EntryLabels>> = st[0]
        .entries
        .iter()
        .map(|e| e.categorized.clone())
        .collect();
    let with = |trace: &str| {
        Some(EntryLabels {
            structured_metadata: pairs(&[("trace_id", trace)]),
            parsed: vec![],
        })
    };
    assert_eq!(got, [with("1"), with("2"), Some(EntryLabels::default())]);

    // Without the flag each trace id makes its own stream, as before.
    let store = storage(&[("a", &[("trace_id", "1")]), ("b", &[("trace_id", "2")])]);
    let st = streams(store, r#"{app="a"}"#, false);
    assert_eq!(st.len(), 2);
    assert!(st.iter().all(|s| s.entries[0].categorized.is_none()));
    assert_eq!(
        st[0].labels.to_string(),
        r#"{app="a", env="prod", trace_id="1"}"#
    );
}

#[test]
fn parsers_add_parsed_labels_and_a_clash_with_a_stream_label_is_extracted() {
    let (stream, metadata, parsed) = only(
        (r#"{"app":"x","status":200}"#, &[("pod", "p-1")]),
        r#"{app="a"} | json"#,
    );
    assert_eq!(stream, r#"{app="a", env="prod"}"#);
    assert_eq!(metadata, pairs(&[("pod", "p-1")]));
    assert_eq!(parsed, pairs(&[("app_extracted", "x"), ("status", "200")]));
}

#[test]
fn a_parsed_label_takes_the_name_from_metadata() {
    let (stream, metadata, parsed) = only(
        ("level=warn user=7", &[("level", "info"), ("trace_id", "t")]),
        r#"{app="a"} | logfmt"#,
    );
    assert_eq!(stream, r#"{app="a", env="prod"}"#);
    assert_eq!(metadata, pairs(&[("trace_id", "t")]));
    assert_eq!(parsed, pairs(&[("level", "warn"), ("user", "7")]));
}

#[test]
fn metadata_named_as_a_stream_label_is_extracted_metadata() {
    let (stream, metadata, parsed) = only(("x", &[("env", "dev")]), r#"{app="a"}"#);
    assert_eq!(stream, r#"{app="a", env="prod"}"#);
    assert_eq!(metadata, pairs(&[("env_extracted", "dev")]));
    assert!(parsed.is_empty());
}

#[test]
fn label_format_renames_keep_their_kind_and_templates_are_parsed() {
    let (stream, metadata, parsed) = only(
        ("x", &[("trace_id", "t")]),
        r#"{app="a"} | label_format service=app, trace=trace_id, tag="{{.env}}-1""#,
    );
    assert_eq!(stream, r#"{env="prod", service="a"}"#);
    assert_eq!(metadata, pairs(&[("trace", "t")]));
    assert_eq!(parsed, pairs(&[("tag", "prod-1")]));
}

#[test]
fn errors_are_parsed_labels_and_dropped_labels_are_gone() {
    let (stream, metadata, parsed) = only(
        ("not json", &[("trace_id", "t"), ("span_id", "s")]),
        r#"{app="a"} | json | drop env, span_id"#,
    );
    assert_eq!(stream, r#"{app="a"}"#);
    assert_eq!(metadata, pairs(&[("trace_id", "t")]));
    let names: Vec<&str> = parsed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["__error__", "__error_details__"]);
    assert_eq!(parsed[0].1, "JSONParserErr");
}

#[test]
fn a_line_format_changes_the_line_not_the_categories() {
    let (stream, metadata, parsed) = only(
        ("level=info msg=hi", &[]),
        r#"{app="a"} | logfmt | line_format "{{.msg}}""#,
    );
    assert_eq!(stream, r#"{app="a", env="prod"}"#);
    assert!(metadata.is_empty());
    assert_eq!(parsed, pairs(&[("level", "info"), ("msg", "hi")]));
    let st = streams(
        storage(&[("level=info msg=hi", &[])]),
        r#"{app="a"} | logfmt | line_format "{{.msg}}""#,
        true,
    );
    assert_eq!(st[0].entries[0].line, "hi");
}

#[test]
fn categorized_entries_serialise_as_loki_writes_them() {
    let store = storage(&[("level=info", &[("trace_id", "t")]), ("plain", &[])]);
    let st = streams(store, r#"{app="a"} | logfmt"#, true);
    let json = serde_json::to_string(&QueryResult::Streams(st)).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"resultType":"streams","result":[{"stream":{"app":"a","env":"prod"},"values":["#,
            r#"["1","level=info",{"structuredMetadata":{"trace_id":"t"},"parsed":{"level":"info"}}],"#,
            r#"["2","plain",{}]]}]}"#
        )
    );
}

fn union(stream: &LabelSet, labels: &EntryLabels) -> Pairs {
    let mut all: Pairs = stream
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.extend(labels.structured_metadata.iter().cloned());
    all.extend(labels.parsed.iter().cloned());
    all.sort();
    all
}

proptest! {
    /// Categorizing only splits an entry's labels: the three parts are
    /// disjoint, and together they are the labels the entry has without
    /// the flag.
    #[test]
    fn categories_partition_the_uncategorized_labels(
        lines in proptest::collection::vec(
            prop_oneof![
                "[a-z]{1,4}=[a-z0-9]{0,4}( [a-z]{1,4}=[a-z0-9]{0,4}){0,3}",
                r#"\{"[a-z]{1,4}":"[a-z0-9]{0,4}"\}"#,
                ".{0,20}",
            ],
            1..12,
        ),
        metadata in proptest::collection::vec(("(app|env|[a-z]{1,4})", "[a-z0-9]{1,4}"), 0..3),
        stage in prop_oneof![
            Just(""),
            Just("| logfmt"),
            Just("| json"),
            Just("| logfmt | label_format svc=app"),
            Just("| json | drop env"),
            Just(r#"| logfmt | label_format t="{{.app}}x""#),
        ],
    ) {
        let query = format!(r#"{{app="a"}} {stage}"#);
        let metadata: Vec<(&str, &str)> =
            metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let entries: Vec<(&str, &[(&str, &str)])> =
            lines.iter().map(|l| (l.as_str(), metadata.as_slice())).collect();
        let mut plain: Vec<(i64, Pairs)> = streams(storage(&entries), &query, false)
            .into_iter()
            .flat_map(|s| {
                let labels: Pairs = s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                s.entries.into_iter().map(move |e| (e.timestamp, labels.clone()))
            })
            .collect();
        let mut split: Vec<(i64, Pairs)> = Vec::new();
        for s in streams(storage(&entries), &query, true) {
            for e in s.entries {
                let labels = e.categorized.expect("categorized");
                let names = |p: &Pairs| p.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
                for name in names(&labels.structured_metadata).iter().chain(&names(&labels.parsed)) {
                    prop_assert!(s.labels.get(name).is_none(), "{name} in the stream too");
                }
                for name in names(&labels.structured_metadata) {
                    prop_assert!(!labels.parsed.iter().any(|(k, _)| *k == name));
                }
                split.push((e.timestamp, union(&s.labels, &labels)));
            }
        }
        plain.sort();
        split.sort();
        prop_assert_eq!(plain, split);
    }
}

#[test]
fn without_categories_clashing_metadata_is_extracted_too() {
    // As Loki: the stream's `env` stays, the entry's is `env_extracted`.
    let st = streams(
        storage(&[("x", &[("env", "dev")])]),
        r#"{app="a"} | env="prod""#,
        false,
    );
    assert_eq!(
        st[0].labels.to_string(),
        r#"{app="a", env="prod", env_extracted="dev"}"#
    );
    let params = QueryParams::range(0, 10, 10);
    let query = r#"sum by (env, env_extracted) (count_over_time({app="a"}[10s]))"#;
    let result = futures::executor::block_on(
        Engine::new(storage(&[("x", &[("env", "dev")])])).query(query, &params),
    )
    .unwrap();
    let QueryResult::Matrix(series) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        series[0].labels.to_string(),
        r#"{env="prod", env_extracted="dev"}"#
    );
}
