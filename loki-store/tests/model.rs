//! Model-based test: random pushes (several tenants and streams, out of
//! order within the window, duplicates), flushes, restarts, delete requests
//! and compactor passes; every query
//! answer equals a plain in-memory model (entries in time order, each
//! distinct entry once; entries of equal timestamps compared as sets).

use std::collections::BTreeMap;

use loki_chunk::Direction;
use loki_index::{Labels, MatchOp, Matcher, Selector};
use loki_store::wal::{FsyncPolicy, WalOptions};
use loki_store::{Clock, Limits, PushEntry, PushStream, Store, StoreConfig};
use proptest::prelude::*;

const BASE: i64 = 1_700_000_000_000_000_000;
const TENANTS: [&str; 2] = ["tenant-a", "tenant-b"];

#[derive(Debug, Clone)]
enum Op {
    Push {
        tenant: usize,
        stream: u8,
        entries: Vec<(i64, String, bool)>,
    },
    Flush {
        force: bool,
    },
    Restart,
    Delete {
        tenant: usize,
        stream: u8,
        from: i64,
        to: i64,
    },
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    let entry = (0i64..50, "[ab]{0,3}", any::<bool>());
    prop_oneof![
        6 => (0..TENANTS.len(), 0u8..3, proptest::collection::vec(entry, 1..6))
            .prop_map(|(tenant, stream, entries)| Op::Push { tenant, stream, entries }),
        1 => any::<bool>().prop_map(|force| Op::Flush { force }),
        1 => Just(Op::Restart),
        1 => (0..TENANTS.len(), 0u8..3, 0i64..50, 0i64..20)
            .prop_map(|(tenant, stream, from, len)| Op::Delete { tenant, stream, from, to: from + len }),
        1 => Just(Op::Compact),
    ]
}

fn config(dir: &std::path::Path, block_size: usize) -> StoreConfig {
    let mut config = StoreConfig::filesystem(dir);
    config.limits = Limits::unlimited();
    config.wal = WalOptions::default().fsync(FsyncPolicy::Never);
    config.chunk = config.chunk.block_size(block_size).target_size(2_000);
    config.clock = Clock::from_fn(|| BASE);
    config
}

fn labels(stream: u8) -> Labels {
    Labels::new([
        ("app", "shop"),
        ("stream", ["one", "two", "three"][stream as usize]),
    ])
    .unwrap()
}

type Entry = (i64, String, Vec<(String, String)>);
type Model = BTreeMap<(usize, Labels), Vec<Entry>>;

fn entry_of(ts: i64, line: &str, with_metadata: bool) -> Entry {
    let metadata = if with_metadata {
        vec![("trace_id".to_owned(), format!("t{ts}"))]
    } else {
        Vec::new()
    };
    (BASE + ts, line.to_owned(), metadata)
}

/// Deleted `(tenant, stream labels, from, to)`, inclusive, in absolute ns.
type Deletions = Vec<(usize, Labels, i64, i64)>;

fn visible(model: &Model, deletions: &Deletions) -> Model {
    model
        .iter()
        .map(|((t, l), entries)| {
            let kept = entries
                .iter()
                .filter(|e| {
                    !deletions
                        .iter()
                        .any(|(dt, dl, a, b)| dt == t && dl == l && e.0 >= *a && e.0 <= *b)
                })
                .cloned()
                .collect::<Vec<_>>();
            ((*t, l.clone()), kept)
        })
        .filter(|(_, e)| !e.is_empty())
        .collect()
}

/// The LogQL seam must agree with the model too: every stream's entries,
/// each exact duplicate (timestamp, line and metadata) once, as the store's
/// own reads (compared as `(timestamp, line)` pairs, since metadata comes
/// back as result labels).
async fn check_logql(store: &Store, model: &Model) {
    for (t, tenant) in TENANTS.iter().enumerate() {
        let engine = loki_logql::Engine::new(store.logql_storage(&[tenant]));
        let params = loki_logql::QueryParams::range(BASE, BASE + 1_000, 0)
            .with_limit(5_000)
            .with_direction(loki_logql::Direction::Forward);
        let loki_logql::QueryResult::Streams(streams) =
            engine.query(r#"{stream=~".+"}"#, &params).await.unwrap()
        else {
            panic!("a log query returns streams")
        };
        // Structured metadata becomes result labels, so one stored stream may
        // come back as several: regroup by the stream label.
        let mut grouped: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for s in streams {
            let name = s.labels.get("stream").unwrap_or_default().to_owned();
            grouped
                .entry(name)
                .or_default()
                .extend(s.entries.into_iter().map(|e| (e.timestamp, e.line)));
        }
        let got: Vec<(String, Vec<(i64, String)>)> = grouped
            .into_iter()
            .map(|(name, mut entries)| {
                entries.sort();
                (name, entries)
            })
            .collect();
        let mut want: Vec<(String, Vec<(i64, String)>)> = model
            .iter()
            .filter(|((mt, _), _)| *mt == t)
            .map(|((_, l), e)| {
                let mut entries: Vec<(i64, String)> =
                    e.iter().map(|e| (e.0, e.1.clone())).collect();
                entries.sort();
                (l.get("stream").unwrap().to_owned(), entries)
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "tenant {tenant} through LogQL");

        // Metric queries read samples, not entries: the same entries count,
        // with a line filter too, and their lines' bytes add up.
        // (An entry's sample, if it makes one.)
        type Measure = fn(&(i64, String)) -> Option<usize>;
        let measures: [(&str, Measure); 3] = [
            ("count_over_time({stream=~\".+\"}[1s])", |_| Some(1)),
            ("count_over_time({stream=~\".+\"} |= \"a\" [1s])", |e| {
                e.1.contains('a').then_some(1)
            }),
            ("bytes_over_time({stream=~\".+\"}[1s])", |e| Some(e.1.len())),
        ];
        for (query, measure) in measures {
            let result = engine
                .query(
                    &format!("sum by (stream) ({query})"),
                    &loki_logql::QueryParams::instant(BASE + 1_000),
                )
                .await
                .unwrap();
            let loki_logql::QueryResult::Vector(series) = result else {
                panic!("an instant metric query returns a vector")
            };
            let mut got: Vec<(String, usize)> = series
                .iter()
                .map(|s| {
                    let name = s.labels.get("stream").unwrap_or_default().to_owned();
                    (name, s.samples[0].value as usize)
                })
                .collect();
            got.sort();
            let want: Vec<(String, usize)> = want
                .iter()
                .filter_map(|(name, e)| {
                    let samples: Vec<usize> = e.iter().filter_map(measure).collect();
                    (!samples.is_empty()).then(|| (name.clone(), samples.iter().sum()))
                })
                .collect();
            assert_eq!(got, want, "tenant {tenant}: {query}");
        }
    }
}

async fn check(store: &Store, model: &Model, deletions: &Deletions) {
    let model = &visible(model, deletions);
    check_logql(store, model).await;
    let selector =
        Selector::new(vec![Matcher::new("stream", MatchOp::Regex, ".+").unwrap()]).unwrap();
    for (t, tenant) in TENANTS.iter().enumerate() {
        let got = store
            .select(
                tenant,
                &selector,
                BASE,
                BASE + 1_000,
                Direction::Forward,
                10_000,
            )
            .await
            .unwrap();
        let got: Vec<(Labels, Vec<Entry>)> = got
            .into_iter()
            .map(|s| {
                let mut entries: Vec<Entry> = s
                    .entries
                    .into_iter()
                    .map(|e| (e.timestamp, e.line, e.metadata))
                    .collect();
                assert!(
                    entries.windows(2).all(|w| w[0].0 <= w[1].0),
                    "tenant {tenant}: not in time order"
                );
                // Equal timestamps come back in push order as far as the
                // store knows it (tested on its own); the model orders them
                // by line.
                entries.sort();
                (s.labels, entries)
            })
            .collect();
        let want: Vec<(Labels, Vec<Entry>)> = model
            .iter()
            .filter(|((mt, _), _)| *mt == t)
            .map(|((_, l), e)| (l.clone(), e.clone()))
            .collect();
        assert_eq!(got, want, "tenant {tenant}");

        let backward = store
            .select(
                tenant,
                &selector,
                BASE,
                BASE + 1_000,
                Direction::Backward,
                3,
            )
            .await
            .unwrap();
        let mut newest: Vec<i64> = want
            .iter()
            .flat_map(|(_, e)| e.iter().map(|e| e.0))
            .collect();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest.truncate(3);
        let mut got: Vec<i64> = backward
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.timestamp))
            .collect();
        got.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(got, newest, "tenant {tenant}: limit 3 backward");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn queries_equal_the_model(ops in proptest::collection::vec(op(), 1..25), block_size in 16usize..400) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(config(dir.path(), block_size)).await.unwrap();
            let mut model: Model = BTreeMap::new();
            let mut deletions: Deletions = Vec::new();
            for op in ops {
                match op {
                    Op::Push { tenant, stream, entries } => {
                        let entries: Vec<PushEntry> = entries
                            .iter()
                            .map(|(ts, line, md)| {
                                let (timestamp, line, metadata) = entry_of(*ts, line, *md);
                                let metadata = metadata.into_iter().map(|(n, v)| (n.into(), v.into())).collect();
                                PushEntry { timestamp, line: line.into(), metadata }
                            })
                            .collect();
                        let summary = store
                            .push_at(TENANTS[tenant], vec![PushStream { labels: labels(stream), entries: entries.clone() }], BASE)
                            .await
                            .unwrap();
                        assert!(summary.refusals.is_empty(), "{summary:?}");
                        let stored = model.entry((tenant, labels(stream))).or_default();
                        for e in entries {
                            let metadata = e.metadata.into_iter().map(|(n, v)| (String::from(n), String::from(v))).collect();
                            let e = (e.timestamp, String::from(e.line), metadata);
                            if !stored.contains(&e) {
                                stored.push(e);
                            }
                        }
                        stored.sort();
                    }
                    Op::Flush { force } => {
                        store.flush(force).await.unwrap();
                    }
                    Op::Restart => {
                        drop(store);
                        store = Store::open(config(dir.path(), block_size)).await.unwrap();
                    }
                    Op::Delete { tenant, stream, from, to } => {
                        let sel = Selector::new(vec![Matcher::new("stream", MatchOp::Equal, labels(stream).get("stream").unwrap()).unwrap()]).unwrap();
                        store.add_delete_request(TENANTS[tenant], &sel, BASE + from, BASE + to).await.unwrap();
                        deletions.push((tenant, labels(stream), BASE + from, BASE + to));
                    }
                    Op::Compact => {
                        store.compact().await.unwrap();
                    }
                }
                check(&store, &model, &deletions).await;
            }
            store.flush(true).await.unwrap();
            drop(store);
            let store = Store::open(config(dir.path(), block_size)).await.unwrap();
            store.compact().await.unwrap();
            check(&store, &model, &deletions).await;
        });
    }
}
