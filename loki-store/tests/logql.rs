//! LogQL over the store through the evaluator's storage seam: the same
//! answers whether data is in memory, flushed, or both, with deletions and
//! several tenants.

use loki_index::Labels;
use loki_logql::{Direction, Engine, QueryParams, QueryResult};
use loki_store::{Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn push(app: &str, level: &str, count: i64) -> Vec<PushStream> {
    vec![PushStream {
        labels: Labels::new([("app", app), ("env", "prod")]).unwrap(),
        entries: (0..count)
            .map(|i| {
                PushEntry::new(
                    BASE + i * SECOND,
                    format!("level={level} i={i} msg=\"request done\""),
                )
            })
            .collect(),
    }]
}

async fn store() -> Store {
    let mut config = StoreConfig::in_memory();
    config.limits = Limits::unlimited();
    config.chunk = config.chunk.block_size(512).target_size(2048);
    let store = Store::open(config).await.unwrap();
    store
        .push_at("t", push("shop", "info", 60), BASE)
        .await
        .unwrap();
    store
        .push_at("t", push("cart", "error", 30), BASE)
        .await
        .unwrap();
    store
        .push_at("other", push("shop", "error", 60), BASE)
        .await
        .unwrap();
    store
}

async fn lines(
    engine: &Engine<loki_store::TenantStorage>,
    query: &str,
    limit: usize,
    direction: Direction,
) -> Vec<String> {
    let params = QueryParams::range(BASE, BASE + 3600 * SECOND, 0)
        .with_limit(limit)
        .with_direction(direction);
    let QueryResult::Streams(streams) = engine.query(query, &params).await.unwrap() else {
        panic!("a log query returns streams")
    };
    streams
        .into_iter()
        .flat_map(|s| s.entries.into_iter().map(|e| e.line))
        .collect()
}

async fn count(engine: &Engine<loki_store::TenantStorage>, query: &str) -> Vec<(String, f64)> {
    let params = QueryParams::instant(BASE + 60 * SECOND);
    let QueryResult::Vector(samples) = engine.query(query, &params).await.unwrap() else {
        panic!("an instant metric query returns a vector")
    };
    let mut out: Vec<(String, f64)> = samples
        .into_iter()
        .map(|s| (s.labels.to_string(), s.samples[0].value))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn answers_do_not_depend_on_where_data_is() {
    let store = store().await;
    let engine = Engine::new(store.logql_storage(&["t"]));
    let mut answers = Vec::new();
    for step in 0..3 {
        match step {
            1 => drop(store.flush(false).await.unwrap()), // full chunks only: data in both places
            2 => drop(store.flush(true).await.unwrap()),
            _ => {}
        }
        let newest = lines(
            &engine,
            r#"{env="prod"} |= "level=error""#,
            5,
            Direction::Backward,
        )
        .await;
        let oldest = lines(&engine, r#"{app="shop"}"#, 3, Direction::Forward).await;
        let counts = count(
            &engine,
            r#"sum by (app) (count_over_time({env="prod"}[2m]))"#,
        )
        .await;
        answers.push((newest, oldest, counts));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    let (newest, oldest, counts) = &answers[0];
    assert_eq!(newest[0], r#"level=error i=29 msg="request done""#);
    assert_eq!(newest.len(), 5);
    assert_eq!(
        oldest,
        &[
            r#"level=info i=0 msg="request done""#,
            r#"level=info i=1 msg="request done""#,
            r#"level=info i=2 msg="request done""#
        ]
    );
    assert_eq!(
        counts,
        &[
            (r#"{app="cart"}"#.to_owned(), 30.0),
            (r#"{app="shop"}"#.to_owned(), 60.0)
        ]
    );
}

#[tokio::test]
async fn tenants_and_deletions_apply_to_queries() {
    let store = store().await;
    store.flush(true).await.unwrap();
    let only_t = Engine::new(store.logql_storage(&["t"]));
    let both = Engine::new(store.logql_storage(&["t", "other"]));
    let query = r#"sum(count_over_time({app="shop"} |= "level=error" [2m]))"#;
    assert!(
        count(&only_t, query).await.is_empty(),
        "tenant t has no shop errors"
    );
    assert_eq!(count(&both, query).await[0].1, 60.0);

    let selector = loki_index::Selector::new(vec![loki_index::Matcher::new(
        "app",
        loki_index::MatchOp::Equal,
        "cart",
    )
    .unwrap()])
    .unwrap();
    store
        .add_delete_request("t", &selector, BASE, BASE + 9 * SECOND)
        .await
        .unwrap();
    let counts = count(
        &only_t,
        r#"sum by (app) (count_over_time({env="prod"}[2m]))"#,
    )
    .await;
    assert_eq!(
        counts,
        [
            (r#"{app="cart"}"#.to_owned(), 20.0),
            (r#"{app="shop"}"#.to_owned(), 60.0)
        ]
    );
}
