//! Distributed mode in one process over real sockets on 127.0.0.1: one
//! distributor, three ingesters (RF 3) and one querier sharing an
//! in-memory ring and a filesystem object store in a temporary directory.

#![cfg(feature = "server")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loki::ring::{KvStore, MemoryKv};
use loki::server::{Config, Node};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.0 request (the server closes after answering): status and
/// body. Written here so the test shares no HTTP code with the server.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("an answer within 30s")
        .expect("read");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
    (status, body.to_owned())
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

async fn start(kv: &Arc<dyn KvStore>, dir: &Path, target: &str, id: &str) -> Node {
    start_with(kv, dir, target, id, &[]).await
}

async fn start_with(
    kv: &Arc<dyn KvStore>,
    dir: &Path,
    target: &str,
    id: &str,
    extra: &[&str],
) -> Node {
    let shared = url_of(&dir.join("shared"));
    let args = [
        format!("-target={target}"),
        format!("-storage.url={shared}"),
        format!("-storage.dir={}", dir.join(id).display()),
        format!("-ingester.lifecycler.id={id}"),
        "-ring.heartbeat-period=1s".to_owned(),
        "-ring.replication-factor=3".to_owned(),
    ]
    .into_iter()
    .chain(extra.iter().map(|a| (*a).to_owned()));
    let config = Config::from_args(args)
        .expect("a valid command line")
        .config;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Node::start(config, kv.clone(), listener)
        .await
        .unwrap_or_else(|e| panic!("{target} {id} does not start: {e}"))
}

/// POSTs a push `body` to `node` (a distributor): status and body.
async fn push_to(node: &Node, body: &[u8]) -> (u16, String) {
    http(node.address(), "POST", "/loki/api/v1/push", body).await
}

/// Three ingesters, `ingester-1` to `ingester-3`, started with `args`.
async fn start_ingesters(kv: &Arc<dyn KvStore>, dir: &Path, args: &[&str]) -> Vec<Node> {
    let mut ingesters = Vec::new();
    for n in 1..=3 {
        ingesters.push(start_with(kv, dir, "ingester", &format!("ingester-{n}"), args).await);
    }
    ingesters
}

/// `node`'s `/ring` as JSON once it lists `ingesters` instances (or after
/// 5 s, for the caller's assertions to say what it lists).
async fn ring_with_ingesters(node: &Node, ingesters: usize) -> Value {
    let mut ring = Value::Null;
    for _ in 0..100 {
        let (status, body) = http(node.address(), "GET", "/ring?format=json", b"").await;
        assert_eq!(status, 200, "{body}");
        ring = serde_json::from_str(&body).unwrap();
        if ring["shards"].as_array().unwrap().len() == ingesters {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ring
}

fn url_of(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    url::Url::from_directory_path(dir).unwrap().to_string()
}

/// A push of `streams` streams of `lines` lines each, tagged `batch`.
fn push_body(batch: &str, streams: usize, lines: usize, base: i64) -> Vec<u8> {
    let streams: Vec<Value> = (0..streams)
        .map(|s| {
            let values: Vec<Value> = (0..lines)
                .map(|l| {
                    json!([
                        (base + (s * lines + l) as i64).to_string(),
                        format!("{batch} stream={s} line={l}")
                    ])
                })
                .collect();
            json!({"stream": {"job": format!("job-{s}"), "batch": batch}, "values": values})
        })
        .collect();
    serde_json::to_vec(&json!({ "streams": streams })).unwrap()
}

/// Every line a log query returns (with its stream's `job`), in order.
async fn lines(
    querier: &Node,
    query: &str,
    start: i64,
    end: i64,
) -> Result<Vec<String>, (u16, String)> {
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={start}&end={end}&limit=5000&direction=forward",
        encode(query)
    );
    let (status, body) = http(querier.address(), "GET", &path, b"").await;
    if status != 200 {
        return Err((status, body));
    }
    let value: Value = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    for stream in value["data"]["result"].as_array().unwrap() {
        for entry in stream["values"].as_array().unwrap() {
            out.push(entry[1].as_str().unwrap().to_owned());
        }
    }
    Ok(out)
}

/// The sum of a metric query's values at its single step.
async fn count(querier: &Node, query: &str, time: i64) -> f64 {
    let path = format!("/loki/api/v1/query?query={}&time={time}", encode(query));
    let (status, body) = http(querier.address(), "GET", &path, b"").await;
    assert_eq!(status, 200, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    value["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn expected(batch: &str, streams: usize, lines: usize) -> BTreeSet<String> {
    (0..streams)
        .flat_map(|s| (0..lines).map(move |l| format!("{batch} stream={s} line={l}")))
        .collect()
}

/// Every line exactly once, and exactly the lines expected.
fn assert_complete(got: &[String], want: &BTreeSet<String>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in got {
        *seen.entry(line).or_default() += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(3).collect();
    assert!(
        duplicated.is_empty(),
        "lines returned more than once: {duplicated:?}"
    );
    let got: BTreeSet<String> = got.iter().cloned().collect();
    let missing: Vec<_> = want.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(want).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicated_push_and_deduplicated_queries_survive_a_dead_ingester() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let mut ingesters = start_ingesters(&kv, dir.path(), &[]).await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    let querier = start(&kv, dir.path(), "querier", "querier").await;

    // The ring as every component sees it: three ACTIVE ingesters.
    let ring = ring_with_ingesters(&distributor, 3).await;
    let shards = ring["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3, "{ring}");
    assert!(
        shards
            .iter()
            .all(|s| s["state"] == "ACTIVE" && s["tokens"] == 128),
        "{ring}"
    );
    let owned: f64 = shards
        .iter()
        .map(|s| s["ownership"].as_f64().unwrap())
        .sum();
    assert!(
        (owned - 1.0).abs() < 1e-6,
        "ownership adds up to the ring: {owned}"
    );
    for node in ingesters.iter().chain([&distributor, &querier]) {
        assert_eq!(http(node.address(), "GET", "/ready", b"").await.0, 200);
    }
    let (status, page) = http(querier.address(), "GET", "/ring", b"").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<table") && page.contains("ingester-2") && page.contains("ACTIVE"),
        "{page}"
    );

    // Push through the distributor: every stream replicated to all three.
    let base = now_ns() - 60_000_000_000;
    let (status, body) = push_to(&distributor, &push_body("a", 20, 25, base)).await;
    assert_eq!(status, 204, "{body}");
    for ingester in &ingesters {
        assert_eq!(
            ingester.state().store.active_streams("fake"),
            20,
            "every ingester holds every stream"
        );
    }
    let (start_ns, end_ns) = (base - 1, now_ns() + 60_000_000_000);
    let want_a = expected("a", 20, 25);
    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &want_a);
    // Metric queries go through the same merged storage.
    let total = count(
        &querier,
        r#"sum(count_over_time({batch="a"}[10m]))"#,
        end_ns,
    )
    .await;
    assert_eq!(total, 500.0);
    let filtered = count(
        &querier,
        r#"sum(count_over_time({batch="a"} |= "line=3"[10m]))"#,
        end_ns,
    )
    .await;
    assert_eq!(filtered, 20.0, "line=3 of each of 20 streams");

    // One ingester flushes: its chunks and index are in the shared store
    // now, and the querier reads them besides the three heads, still once.
    ingesters[0].flush().await.unwrap();
    // (The querier lists the store's segments at most once a second.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let segments = walk(&dir.path().join("shared"))
        .into_iter()
        .filter(|p| p.ends_with(".seg"))
        .collect::<Vec<_>>();
    assert!(
        !segments.is_empty() && segments.iter().all(|p| p.contains("ingester-1.")),
        "{segments:?}"
    );
    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &want_a);

    // What every ingester refuses as invalid is the client's error (the
    // ingesters' status and message), not a quorum failure.
    let long_value = "x".repeat(5000);
    let invalid = serde_json::to_vec(&json!({"streams": [{"stream": {"job": long_value}, "values": [[base.to_string(), "hello"]]}]})).unwrap();
    let (status, body) = push_to(&distributor, &invalid).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("label value too long"), "{body}");

    // Labels and series: merged from ingesters and the store.
    let (status, body) = http(
        querier.address(),
        "GET",
        "/loki/api/v1/label/job/values",
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let jobs: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(jobs["data"].as_array().unwrap().len(), 20, "{jobs}");
    let (status, body) = http(
        querier.address(),
        "GET",
        &format!("/loki/api/v1/series?match[]={}", encode(r#"{job="job-3"}"#)),
        b"",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let series: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(series["data"].as_array().unwrap().len(), 1, "{series}");
    assert_eq!(series["data"][0]["batch"], "a");

    // An ingester dies: pushes still meet quorum (2 of 3) and queries are
    // still complete.
    let dead = ingesters.remove(1);
    dead.kill().await;
    let (status, body) = push_to(&distributor, &push_body("b", 20, 25, base + 1_000_000)).await;
    assert_eq!(status, 204, "{body}");
    let want_b = expected("b", 20, 25);
    let got = lines(&querier, r#"{batch="b"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &want_b);
    let got = lines(&querier, r#"{batch=~"a|b"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &want_a.union(&want_b).cloned().collect());

    // A second one dies: no stream can reach quorum any more, and reads
    // cannot be complete either; both say so.
    let dead = ingesters.remove(1);
    dead.kill().await;
    let (status, body) = push_to(&distributor, &push_body("c", 2, 2, base + 2_000_000)).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("quorum"), "{body}");
    let err = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap_err();
    assert!(
        err.0 >= 500 && err.1.contains("ingesters failed"),
        "{err:?}"
    );

    // The second ingester restarts with its WAL: it rejoins the ring under
    // its ID and holds what it had acknowledged; reads are whole again.
    let restarted = start(&kv, dir.path(), "ingester", "ingester-3").await;
    assert_eq!(
        restarted.state().store.active_streams("fake"),
        40,
        "replayed from the WAL"
    );
    // The querier learns of the restart through its ring watch; until then
    // it still counts two ingesters down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let got = loop {
        match lines(&querier, r#"{batch=~"a|b"}"#, start_ns, end_ns).await {
            Ok(got) => break got,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no complete read after the restart: {e:?}"),
        }
    };
    assert_complete(&got, &want_a.union(&want_b).cloned().collect());

    restarted.shutdown().await.unwrap();
    for node in ingesters {
        node.shutdown().await.unwrap();
    }
    distributor.shutdown().await.unwrap();
    querier.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_replica_next_to_a_dead_one_is_a_429() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let tiny = [
        "-distributor.ingestion-rate-limit-mb=0.001",
        "-distributor.ingestion-burst-size-mb=0.001",
    ];
    let normal = start(&kv, dir.path(), "ingester", "ingester-1").await;
    let limited = start_with(&kv, dir.path(), "ingester", "ingester-2", &tiny).await;
    let doomed = start(&kv, dir.path(), "ingester", "ingester-3").await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    ring_with_ingesters(&distributor, 3).await;
    let base = now_ns() - 60_000_000_000;
    // Two of three replicas store it: a quorum, whatever the third says.
    let (status, body) = push_to(&distributor, &push_body("a", 4, 50, base)).await;
    assert_eq!(status, 204, "{body}");
    // One replica down, one rate-limited: no quorum, and the client is
    // told to back off rather than that the server failed.
    doomed.kill().await;
    let (status, body) = push_to(&distributor, &push_body("b", 4, 50, base + 1_000)).await;
    assert_eq!(status, 429, "{body}");
    for node in [normal, limited, distributor] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_querier_reads_what_departed_ingesters_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let first = start_ingesters(&kv, dir.path(), &[]).await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    let querier = start(&kv, dir.path(), "querier", "querier").await;
    ring_with_ingesters(&distributor, 3).await;
    let base = now_ns() - 60_000_000_000;
    let (status, body) = push_to(&distributor, &push_body("a", 10, 30, base)).await;
    assert_eq!(status, 204, "{body}");
    // Every ingester flushes its replica and leaves; new, empty ones take
    // their place. The data is now only in the store, three times over.
    for node in first {
        node.shutdown().await.unwrap();
    }
    let mut second = Vec::new();
    for n in 4..=6 {
        second.push(start(&kv, dir.path(), "ingester", &format!("ingester-{n}")).await);
    }
    let segments = walk(&dir.path().join("shared"))
        .into_iter()
        .filter(|p| p.ends_with(".seg"))
        .count();
    assert!(
        segments >= 3,
        "each ingester wrote its own segments: {segments}"
    );
    let (start_ns, end_ns) = (base - 1, now_ns() + 60_000_000_000);
    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &expected("a", 10, 30));
    let total = count(
        &querier,
        r#"sum(count_over_time({batch="a"}[10m]))"#,
        end_ns,
    )
    .await;
    assert_eq!(total, 300.0);
    let (status, body) = http(querier.address(), "GET", "/loki/api/v1/labels", b"").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"batch\"") && body.contains("\"job\""),
        "{body}"
    );
    for node in second.into_iter().chain([distributor, querier]) {
        node.shutdown().await.unwrap();
    }
}

/// Every file under `dir`, as a path text.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// A query's `data.result`, its series in a stable order.
async fn result(querier: &Node, path: &str) -> Value {
    let (status, body) = http(querier.address(), "GET", path, b"").await;
    assert_eq!(status, 200, "{path}: {body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    let mut result = value["data"]["result"].as_array().unwrap().clone();
    result.sort_by_key(|r| {
        r.get("stream")
            .or_else(|| r.get("metric"))
            .map(ToString::to_string)
    });
    Value::Array(result)
}

/// Bytes all ingesters have sent queriers' selects so far.
fn sent(ingesters: &[Node]) -> u64 {
    ingesters.iter().map(|i| i.select_sent().1).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushdown_answers_as_whole_streams_do_and_moves_fewer_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let ingesters = start_ingesters(&kv, dir.path(), &[]).await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    let pushdown = start(&kv, dir.path(), "querier", "querier-1").await;
    let whole = start_with(
        &kv,
        dir.path(),
        "querier",
        "querier-2",
        &["-querier.ingester-pushdown=false"],
    )
    .await;
    ring_with_ingesters(&distributor, 3).await;
    // Lines of several levels, some timestamps shared within a stream.
    let base = now_ns() - 120_000_000_000;
    let streams: Vec<Value> = (0..6)
        .map(|s| {
            let values: Vec<Value> = (0..200)
                .map(|l| {
                    let level = ["info", "warn", "error", "debug"][(l * 7 + s) % 4];
                    json!([
                        (base + (l as i64 / 3) * 100_000_000 + s as i64).to_string(),
                        format!(
                            "{{\"level\":\"{level}\",\"n\":{l},\"pad\":\"{}\"}}",
                            "x".repeat(l % 50)
                        )
                    ])
                })
                .collect();
            json!({"stream": {"job": format!("job-{s}"), "app": "pd"}, "values": values})
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "streams": streams })).unwrap();
    let (status, answer) = push_to(&distributor, &body).await;
    assert_eq!(status, 204, "{answer}");
    // Part of it flushed to the store, part only in the ingesters.
    ingesters[0].flush().await.unwrap();

    let (start_ns, end_ns) = (base - 1, now_ns() + 60_000_000_000);
    let range = |q: &str, extra: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}{extra}",
            encode(q)
        )
    };
    let queries = [
        range(r#"{app="pd"}"#, "&limit=50&direction=forward"),
        range(r#"{app="pd"}"#, "&limit=37&direction=backward"),
        range(r#"{app="pd"} |= "error""#, "&limit=25&direction=backward"),
        range(r#"{app="pd"} |= "error" != "\"n\":1""#, "&limit=1000"),
        range(
            r#"{app="pd"} |~ "warn|debug" | json | n > 100"#,
            "&limit=20",
        ),
        range(
            r#"{app="pd", job=~"job-[12]"} |= "info""#,
            "&limit=7&direction=forward",
        ),
        range(r#"{app="pd"} |= "error""#, "&limit=10&interval=5s"),
        range(
            r#"sum by (job) (count_over_time({app="pd"} |= "error" [1m]))"#,
            "&step=30s",
        ),
        range(
            r#"sum(bytes_over_time({app="pd"} != "info" [1m]))"#,
            "&step=30s",
        ),
        range(
            r#"sum(rate({app="pd"} |= "warn" [1m])) / sum(rate({app="pd"} [1m]))"#,
            "&step=30s",
        ),
        range(
            r#"sum(count_over_time({app="pd"} |= "warn" [1m])) - sum(count_over_time({app="pd"} |= "info" [1m]))"#,
            "&step=30s",
        ),
        range(
            r#"max(max_over_time({app="pd"} | json | unwrap n [1m]))"#,
            "&step=30s",
        ),
    ];
    for path in &queries {
        let a = result(&pushdown, path).await;
        let b = result(&whole, path).await;
        assert!(
            a.as_array().is_some_and(|r| !r.is_empty()),
            "{path}: no result"
        );
        assert_eq!(a, b, "{path}: pushdown and whole streams differ");
    }

    // A filtered query: the ingesters send only what passes, and only the
    // first `limit`; a sample query sends no lines.
    for (query, factor) in [
        (range(r#"{app="pd"} |= "error""#, "&limit=10"), 10),
        (
            range(
                r#"sum(count_over_time({app="pd"} |= "error" [10m]))"#,
                "&step=60s",
            ),
            3,
        ),
    ] {
        let before = sent(&ingesters);
        result(&whole, &query).await;
        let whole_bytes = sent(&ingesters) - before;
        let before = sent(&ingesters);
        result(&pushdown, &query).await;
        let pushed_bytes = sent(&ingesters) - before;
        assert!(
            pushed_bytes * factor < whole_bytes,
            "{query}: {pushed_bytes} bytes sent with pushdown, {whole_bytes} without"
        );
    }
    for node in ingesters.into_iter().chain([distributor, pushdown, whole]) {
        node.shutdown().await.unwrap();
    }
}

/// The index segment files of the shared store.
fn segment_files(dir: &Path) -> Vec<String> {
    walk(&dir.join("shared"))
        .into_iter()
        .filter(|p| p.ends_with(".seg"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_compactor_merges_settled_segments_and_applies_deletes_queriers_see_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let ingesters = start_ingesters(&kv, dir.path(), &[]).await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    let querier = start(&kv, dir.path(), "querier", "querier").await;
    let compactor = start_with(
        &kv,
        dir.path(),
        "compactor",
        "compactor",
        &[
            "-compactor.compaction-interval=1s",
            "-compactor.min-segment-age=5s",
        ],
    )
    .await;
    ring_with_ingesters(&distributor, 3).await;
    let base = now_ns() - 600_000_000_000;
    let (status, body) = push_to(&distributor, &push_body("a", 4, 50, base)).await;
    assert_eq!(status, 204, "{body}");
    for ingester in &ingesters {
        ingester.flush().await.unwrap();
    }
    let flushed = segment_files(dir.path());
    assert_eq!(flushed.len(), 3, "one segment per ingester: {flushed:?}");
    let (start_ns, end_ns) = (base - 1, now_ns() + 60_000_000_000);

    // Queries run all along: the compactor never takes a segment from
    // under a querier or an ingester.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, address) = (stop.clone(), querier.address());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let path = format!(
                    "/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&limit=5000",
                    encode(r#"{batch="a", job=~"job-0|job-3"}"#)
                );
                let (status, body) = http(address, "GET", &path, b"").await;
                assert_eq!(status, 200, "{body}");
                let value: Value = serde_json::from_str(&body).unwrap();
                let n: usize = value["data"]["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["values"].as_array().unwrap().len())
                    .sum();
                assert_eq!(n, 100, "every line of two streams, once");
                reads += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            reads
        })
    };

    // The delete API is the compactor's; the querier hides the data at
    // once, although the ingesters still hold it.
    let delete = |query: &str, start: i64, end: i64| {
        format!(
            "/loki/api/v1/delete?query={}&start={start}&end={end}",
            encode(query)
        )
    };
    let (status, body) = http(
        querier.address(),
        "POST",
        &delete(r#"{job="job-1"}"#, base, base + 1_000_000_000),
        b"",
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("compactor"), "{body}");
    let (status, body) = http(
        compactor.address(),
        "POST",
        &delete(r#"{job="job-1"}"#, base - 1, now_ns() - 1_000_000_000),
        b"",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = http(
        compactor.address(),
        "POST",
        &delete(r#"{job="job-2"}"#, base - 1, now_ns() - 1_000_000_000),
        b"",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert!(
        got.iter()
            .all(|l| !l.contains("stream=1 ") && !l.contains("stream=2 ")),
        "deleted lines are hidden at once"
    );
    assert_eq!(got.len(), 100);
    assert_eq!(
        count(
            &querier,
            r#"sum(count_over_time({batch="a"}[20m]))"#,
            end_ns
        )
        .await,
        100.0
    );
    // Cancelling job-2's request brings its lines back.
    let (_, body) = http(compactor.address(), "GET", "/loki/api/v1/delete", b"").await;
    let requests: Value = serde_json::from_str(&body).unwrap();
    let job2 = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"].as_str().unwrap().contains("job-2"))
        .unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = http(
        compactor.address(),
        "DELETE",
        &format!("/loki/api/v1/delete?request_id={job2}"),
        b"",
    )
    .await;
    assert!(status == 204 || status == 200, "{status}: {body}");
    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_eq!(got.len(), 150);

    // Once the segments are settled the compactor merges them into one
    // and processes the request.
    let mut processed = false;
    for _ in 0..200 {
        let (_, body) = http(compactor.address(), "GET", "/loki/api/v1/delete", b"").await;
        let requests: Value = serde_json::from_str(&body).unwrap();
        processed = requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "processed");
        if processed && segment_files(dir.path()).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(processed, "the delete request is processed");
    let segments = segment_files(dir.path());
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert!(segments[0].contains("compacted"), "{segments:?}");
    // A while longer under queries, then they stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(reads > 10, "{reads} reads during compaction");

    let got = lines(&querier, r#"{batch="a"}"#, start_ns, end_ns)
        .await
        .unwrap();
    let want: BTreeSet<String> = expected("a", 4, 50)
        .into_iter()
        .filter(|l| !l.contains("stream=1 "))
        .collect();
    assert_complete(&got, &want);
    // New pushes after the compaction (and after the deleted range) are
    // read next to the merged index.
    let (status, body) = push_to(&distributor, &push_body("b", 2, 10, now_ns())).await;
    assert_eq!(status, 204, "{body}");
    let got = lines(&querier, r#"{batch="b"}"#, start_ns, end_ns)
        .await
        .unwrap();
    assert_complete(&got, &expected("b", 2, 10));
    for node in ingesters
        .into_iter()
        .chain([distributor, querier, compactor])
    {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tail_volume_and_stats_reach_the_ingesters() {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let ingesters = start_ingesters(&kv, dir.path(), &[]).await;
    let distributor = start(&kv, dir.path(), "distributor", "distributor").await;
    let querier = start(&kv, dir.path(), "querier", "querier").await;
    ring_with_ingesters(&distributor, 3).await;
    let base = now_ns() - 60_000_000_000;
    let (status, body) = push_to(&distributor, &push_body("a", 4, 25, base)).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = push_to(&distributor, &push_body("b", 4, 25, base + 10_000_000_000)).await;
    assert_eq!(status, 204, "{body}");
    let (start_ns, end_ns) = (base - 1, now_ns() + 60_000_000_000);

    // Statistics and volume count each stream once: first with everything
    // in the ingesters (three replicas), then with everything flushed by
    // every replica and only in the store.
    check_index_stats(&querier, start_ns, end_ns).await;
    for ingester in &ingesters {
        ingester.flush().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    check_index_stats(&querier, start_ns, end_ns).await;

    // Tail: the querier follows every ingester, each line arrives once.
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={}",
        querier.address(),
        encode(r#"{batch="live"}"#)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = push_to(&distributor, &push_body("live", 3, 10, now_ns())).await;
    assert_eq!(status, 204, "{body}");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 30 {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("every tailed line within 10s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        for stream in value["streams"].as_array().unwrap() {
            for entry in stream["values"].as_array().unwrap() {
                got.push(entry[1].as_str().unwrap().to_owned());
            }
        }
    }
    // Nothing more comes: replicas' copies were dropped.
    let more = tokio::time::timeout(Duration::from_millis(700), ws.next()).await;
    assert!(more.is_err(), "a further message: {more:?}");
    assert_complete(&got, &expected("live", 3, 10));
    drop(ws);
    for node in ingesters.into_iter().chain([distributor, querier]) {
        node.shutdown().await.unwrap();
    }
}

/// `/index/stats` and `/index/volume` of the test's two batches of four
/// streams of 25 lines: each stream and line once.
async fn check_index_stats(querier: &Node, start_ns: i64, end_ns: i64) {
    let path = format!(
        "/loki/api/v1/index/stats?query={}&start={start_ns}&end={end_ns}",
        encode(r#"{job=~"job-.*"}"#)
    );
    let (status, body) = http(querier.address(), "GET", &path, b"").await;
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["streams"], 8, "{stats}");
    assert_eq!(stats["entries"], 200, "{stats}");
    // Volume: per job, each stream's bytes once (the lines of a job are
    // `<batch> stream=<s> line=<l>`).
    let path = format!(
        "/loki/api/v1/index/volume?query={}&start={start_ns}&end={end_ns}&targetLabels=job",
        encode(r#"{job=~"job-.*"}"#)
    );
    let (status, body) = http(querier.address(), "GET", &path, b"").await;
    assert_eq!(status, 200, "{body}");
    let volume: Value = serde_json::from_str(&body).unwrap();
    let groups = volume["data"]["result"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{volume}");
    for group in groups {
        let job = group["metric"]["job"].as_str().unwrap();
        let s: usize = job.trim_start_matches("job-").parse().unwrap();
        let want: usize = ["a", "b"]
            .iter()
            .flat_map(|b| (0..25).map(move |l| format!("{b} stream={s} line={l}").len()))
            .sum();
        assert_eq!(
            group["value"][1].as_str().unwrap(),
            want.to_string(),
            "{job}: {volume}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_global_rate_limit_is_shared_by_the_distributors() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let roomy = [
        "-distributor.ingestion-rate-limit-mb=1000",
        "-distributor.ingestion-burst-size-mb=1000",
    ];
    let nodes = start_ingesters(&kv, dir.path(), &roomy).await;
    // 10 KiB/s and a 10 KiB burst for the tenant, shared by two.
    let tight = [
        "-distributor.ingestion-rate-limit-mb=0.009765625",
        "-distributor.ingestion-burst-size-mb=0.009765625",
    ];
    let first = start_with(&kv, dir.path(), "distributor", "distributor-1", &tight).await;
    let second = start_with(&kv, dir.path(), "distributor", "distributor-2", &tight).await;
    let local = start_with(
        &kv,
        dir.path(),
        "distributor",
        "distributor-3",
        &[
            tight[0],
            tight[1],
            "-distributor.ingestion-rate-limit-strategy=local",
        ],
    )
    .await;
    let distributors = loki::ring::get_ring_desc(kv.as_ref(), "distributor")
        .await
        .unwrap();
    assert_eq!(distributors.len(), 3, "every distributor is in its ring");
    ring_with_ingesters(&first, 3).await;
    let base = now_ns() - 60_000_000_000;
    // About 9 KiB: within the burst, then over what has come back since.
    let push = |n: i64| push_body("r", 4, 120, base + n * 1_000_000);
    let (status, body) = push_to(&first, &push(0)).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = push_to(&first, &push(1)).await;
    assert_eq!(status, 429, "{body}");
    // 10 KiB/s over three healthy distributors.
    assert!(
        body.contains("Ingestion rate limit exceeded for user fake (limit: 3413 bytes/sec)"),
        "{body}"
    );
    // Each distributor has its own share.
    let (status, body) = push_to(&second, &push(2)).await;
    assert_eq!(status, 204, "{body}");
    // `local`: the distributor leaves the limit to the ingesters, whose
    // own limit is far away.
    for n in 3..6 {
        let (status, body) = push_to(&local, &push(n)).await;
        assert_eq!(status, 204, "{body}");
    }
    for node in nodes.into_iter().chain([first, second, local]) {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_compactor_leads_the_other_hands_deletes_on_and_takes_over_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
    let args = [
        "-compactor.compaction-interval=1s",
        "-compactor.min-segment-age=5s",
        "-ring.heartbeat-timeout=3s",
    ];
    let first = start_with(&kv, dir.path(), "compactor", "compactor-1", &args).await;
    let second = start_with(&kv, dir.path(), "compactor", "compactor-2", &args).await;
    // Both are in the compactor ring, one token each; the lowest leads.
    let ring = loki::ring::get_ring_desc(kv.as_ref(), "compactor")
        .await
        .unwrap();
    let lowest = |id: &str| ring.get(id).expect("in the compactor ring").tokens[0];
    let (leader, follower) = if lowest("compactor-1") < lowest("compactor-2") {
        (first, second)
    } else {
        (second, first)
    };
    let end = now_ns() - 1_000_000_000;
    let delete = |job: &str| {
        format!(
            "/loki/api/v1/delete?query={}&start=1&end={end}",
            encode(&format!(r#"{{job="{job}"}}"#))
        )
    };
    let listed = |node: &Node| {
        let address = node.address();
        async move {
            let (status, body) = http(address, "GET", "/loki/api/v1/delete", b"").await;
            assert_eq!(status, 200, "{body}");
            let requests: Value = serde_json::from_str(&body).unwrap();
            let mut queries: Vec<String> = requests
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["query"].as_str().unwrap().to_owned())
                .collect();
            queries.sort();
            queries
        }
    };

    // Each compactor's `/compactor/ring` names the same leader.
    let leader_id = if lowest("compactor-1") < lowest("compactor-2") {
        "compactor-1"
    } else {
        "compactor-2"
    };
    for node in [&leader, &follower] {
        let (status, body) = http(node.address(), "GET", "/compactor/ring?format=json", b"").await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        let leaders: Vec<&str> = page["shards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["leader"] == json!(true))
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(leaders, [leader_id], "{body}");
    }

    // A request sent to the follower is recorded by the leader.
    let (status, body) = http(follower.address(), "POST", &delete("job-1"), b"").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(listed(&leader).await, [r#"{job="job-1"}"#]);
    assert_eq!(listed(&follower).await, [r#"{job="job-1"}"#]);
    // Requests sent to both at once are all recorded: one compactor
    // writes them, none is lost to another's concurrent write.
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let address = [leader.address(), follower.address()][i % 2];
            let path = delete(&format!("many-{i:02}"));
            tokio::spawn(async move { http(address, "POST", &path, b"").await })
        })
        .collect();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 204, "{body}");
    }
    let all = listed(&leader).await;
    assert_eq!(all.len(), 17, "{all:?}");

    // The leader dies without leaving the ring: once its heartbeat is
    // older than the timeout, the follower leads, and it keeps the request
    // the other one recorded.
    leader.kill().await;
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(follower.address(), "POST", &delete("job-2"), b"").await;
        if status == 204 {
            break;
        }
        assert_eq!(status, 502, "handed on to the dead leader: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no takeover: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut want = all;
    want.push(r#"{job="job-2"}"#.to_owned());
    want.sort();
    assert_eq!(listed(&follower).await, want);
    follower.shutdown().await.unwrap();
}
