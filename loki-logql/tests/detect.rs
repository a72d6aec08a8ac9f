//! Field detection over a log query's newest entries: where fields come
//! from, what is left out, types, limits, and that no line breaks it.

use loki_logql::detect::{detect_fields, DetectedField, DetectedFields, FieldParser, FieldType};
use loki_logql::{parse, parse_labels, Expr, MemoryStorage};
use proptest::prelude::*;

fn detect(
    storage: &MemoryStorage,
    query: &str,
    line_limit: usize,
    field_limit: usize,
) -> DetectedFields {
    let Expr::Log(query) = parse(query).unwrap() else {
        panic!("not a log query: {query}");
    };
    futures::executor::block_on(detect_fields(
        storage,
        &query,
        0,
        1_000,
        line_limit,
        field_limit,
    ))
    .unwrap()
}

fn field<'a>(fields: &'a [DetectedField], label: &str) -> &'a DetectedField {
    fields
        .iter()
        .find(|f| f.label == label)
        .unwrap_or_else(|| panic!("no field {label} in {fields:?}"))
}

fn names(fields: &[DetectedField]) -> Vec<&str> {
    fields.iter().map(|f| f.label.as_str()).collect()
}

#[test]
fn metadata_query_labels_and_parsed_lines_are_fields_stream_labels_are_not() {
    let mut storage = MemoryStorage::new();
    let stream = parse_labels(r#"{app="shop", level="x"}"#).unwrap();
    storage.push_with_metadata(
        &stream,
        1,
        "level=info app=checkout took=15ms",
        &[("trace_id", "abc"), ("detected_level", "info")],
    );
    storage.push_with_metadata(&stream, 2, "plain words", &[("trace_id", "def")]);
    let found = detect(&storage, r#"{app="shop"}"#, 100, 1000);
    assert_eq!(found.lines(), 2);
    let fields = found.fields();
    assert_eq!(
        names(&fields),
        [
            "app_extracted",
            "detected_level",
            "level_extracted",
            "took",
            "trace_id"
        ]
    );
    let trace = field(&fields, "trace_id");
    assert_eq!((trace.cardinality, trace.parsers.as_slice()), (2, &[][..]));
    assert_eq!(field(&fields, "took").parsers, [FieldParser::Logfmt]);
    assert_eq!(found.values("trace_id"), ["abc", "def"]);
    assert!(found.values("app").is_empty(), "a stream label is no field");
}

#[test]
fn the_query_pipeline_chooses_the_lines_and_its_parsers_add_fields() {
    let mut storage = MemoryStorage::new();
    let stream = parse_labels(r#"{app="shop"}"#).unwrap();
    storage.push(&stream, 1, "GET /cart 200 user=ann");
    storage.push(&stream, 2, "POST /pay 500 user=bob");
    storage.push(&stream, 3, "GET /home 200 user=cy");
    let found = detect(
        &storage,
        r#"{app="shop"} |= "GET" | regexp "^(?P<method>\\S+) (?P<path>\\S+) (?P<status>\\d+)""#,
        100,
        1000,
    );
    assert_eq!(found.lines(), 2);
    let fields = found.fields();
    assert_eq!(names(&fields), ["method", "path", "status", "user"]);
    // Only the query's own parser found these: no parser of the line.
    assert!(field(&fields, "path").parsers.is_empty());
    assert_eq!(field(&fields, "status").field_type, FieldType::Int);
    assert_eq!(found.values("method"), ["GET"]);
    // The line itself parses as logfmt (its bare words have no value).
    assert_eq!(field(&fields, "user").parsers, [FieldParser::Logfmt]);
    assert_eq!(found.values("user"), ["ann", "cy"]);

    // A label filter after a parser drops lines too.
    let found = detect(&storage, r#"{app="shop"} | logfmt | user="bob""#, 100, 1000);
    assert_eq!(
        (found.lines(), found.values("user")),
        (1, vec!["bob".to_owned()])
    );
}

#[test]
fn json_keys_flatten_and_types_widen_over_values() {
    let mut storage = MemoryStorage::new();
    let stream = parse_labels(r#"{app="api"}"#).unwrap();
    let lines = [
        r#"{"latency":12,"ok":true,"size":"10KB","req":{"method":"GET","took":"1.5s"}}"#,
        r#"{"latency":0.5,"ok":false,"size":"2MiB","req":{"method":"PUT","took":"20ms"}}"#,
        r#"{"latency":7,"ok":"maybe","size":"3kB","req":{"method":"GET","took":"5us"}}"#,
    ];
    for (i, line) in lines.iter().enumerate() {
        storage.push(&stream, i as i64, line);
    }
    let found = detect(&storage, r#"{app="api"}"#, 100, 1000);
    let fields = found.fields();
    assert_eq!(
        names(&fields),
        ["latency", "ok", "req_method", "req_took", "size"]
    );
    let types: Vec<&str> = fields.iter().map(|f| f.field_type.as_str()).collect();
    assert_eq!(types, ["float", "string", "string", "duration", "bytes"]);
    assert_eq!(field(&fields, "req_method").cardinality, 2);
    assert!(fields.iter().all(|f| f.parsers == [FieldParser::Json]));
}

#[test]
fn only_the_newest_lines_and_the_first_fields_up_to_the_limits_count() {
    let mut storage = MemoryStorage::new();
    for s in 0..3 {
        let stream = parse_labels(&format!(r#"{{app="shop", pod="p{s}"}}"#)).unwrap();
        for i in 0..50i64 {
            let ts = i * 3 + s;
            storage.push(&stream, ts, &format!("n={ts} f{}=x", ts % 7));
        }
    }
    let found = detect(&storage, r#"{app="shop"}"#, 10, 1000);
    assert_eq!(found.lines(), 10);
    let newest: Vec<String> = (140..150).map(|n| n.to_string()).collect();
    assert_eq!(found.values("n"), newest);

    let found = detect(&storage, r#"{app="shop"}"#, 100, 3);
    assert_eq!(found.fields().len(), 3);
    assert!(found.values("n").len() <= 100);
}

proptest! {
    #[test]
    fn any_lines_give_consistent_fields(
        lines in proptest::collection::vec(".{0,80}", 0..30),
        metadata in proptest::collection::vec(("[a-z_]{1,8}", ".{0,10}"), 0..4),
        line_limit in 1usize..40,
        field_limit in 1usize..20,
    ) {
        let mut storage = MemoryStorage::new();
        let stream = parse_labels(r#"{app="p"}"#).unwrap();
        let metadata: Vec<(&str, &str)> =
            metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (i, line) in lines.iter().enumerate() {
            storage.push_with_metadata(&stream, i as i64, line, &metadata);
        }
        let found = detect(&storage, r#"{app="p"}"#, line_limit, field_limit);
        prop_assert_eq!(found.lines(), lines.len().min(line_limit));
        let fields = found.fields();
        prop_assert!(fields.len() <= field_limit);
        for f in &fields {
            prop_assert!(!["app", "__error__", "__error_details__"].contains(&f.label.as_str()));
            prop_assert_eq!(found.values(&f.label).len(), f.cardinality);
            prop_assert!(f.cardinality >= 1 && f.cardinality <= found.lines() * 64);
            for value in found.values(&f.label) {
                let t = FieldType::of(&value);
                prop_assert!(t == f.field_type || f.field_type == FieldType::String
                    || (f.field_type == FieldType::Float && t == FieldType::Int));
            }
        }
    }
}

#[test]
fn levels_come_from_labels_metadata_fields_then_words() {
    use loki_logql::detect::LevelDetector;
    let levels = LevelDetector::default();
    let none: &[(&str, &str)] = &[];
    // Labels: the first name in the list wins; unknown values as sent.
    let labels = [("lvl", "dbg"), ("Level", "Notice")];
    let label = |name: &str| labels.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    assert_eq!(levels.from_labels(label).as_deref(), Some("Notice"));
    assert_eq!(levels.from_labels(|_| None), None);
    assert_eq!(levels.from_labels(|_| Some("")).as_deref(), Some(""));
    // Metadata before the line; OpenTelemetry's severity number.
    assert_eq!(
        levels.from_entry(&[("severity", "WRN")], "level=error"),
        "warn"
    );
    assert_eq!(
        levels.from_entry(&[("severity_number", "3")], "error"),
        "trace"
    );
    assert_eq!(
        levels.from_entry(&[("severity_number", "x")], "error"),
        "info"
    );
    assert_eq!(
        levels.from_entry(&[("severity_number", "99")], "error"),
        "unknown"
    );
    // JSON: document order, string values, one object deep.
    assert_eq!(
        levels.from_entry(none, r#"{"log":{"level":"info"},"level":"error"}"#),
        "info"
    );
    assert_eq!(
        levels.from_entry(none, r#"{"level":3,"msg":"fatal: disk"}"#),
        "fatal"
    );
    assert_eq!(
        levels.from_entry(none, r#"{"a":{"b":{"level":"dbg"}},"m":"ok"}"#),
        "unknown"
    );
    assert_eq!(
        levels.from_entry(none, r#"  {"LEVEL":"Warning"}  "#),
        "warn"
    );
    // logfmt: the name earliest in the list, without case.
    assert_eq!(levels.from_entry(none, "LVL=error level=info"), "info");
    assert_eq!(levels.from_entry(none, "LeVeL=trc"), "trace");
    assert_eq!(
        levels.from_entry(none, "level=verbose msg=\"warn later\""),
        "warn"
    );
    // Words: whole words, any case, by word order.
    assert_eq!(
        levels.from_entry(none, "INFO: then [ERROR] then debug"),
        "debug"
    );
    assert_eq!(levels.from_entry(none, "terror errand informal"), "unknown");
    assert_eq!(levels.from_entry(none, "err_code=5 warning"), "warn");
    assert_eq!(levels.from_entry(none, ""), "unknown");
}

proptest! {
    #[test]
    fn any_entry_gets_a_level(
        line in ".{0,120}",
        metadata in proptest::collection::vec(("[a-zA-Z_]{1,16}", ".{0,10}"), 0..4),
    ) {
        let levels = loki_logql::detect::LevelDetector::default();
        let level = levels.from_entry(&metadata, &line);
        let from_metadata = metadata.iter().any(|(k, v)| {
            v.as_str() == level.as_ref() && loki_logql::detect::LEVEL_FIELDS.contains(&k.as_str())
        });
        prop_assert!(from_metadata || [
            "trace", "debug", "info", "warn", "error", "critical", "fatal", "unknown",
        ].contains(&level.as_ref()), "{level}");
    }
}
