//! The server's configuration, volume, tail, legacy and splitting APIs,
//! in-process (`oneshot`) and over real sockets on 127.0.0.1 port 0.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use loki::server::{app, serve, AppState, Config};
use loki::store::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

const T0: i64 = 1_700_000_000;

/// An in-memory server with `yaml` as configuration, without a WAL, and
/// with the age and rate limits off so the fixed timestamps are accepted.
async fn state(yaml: &str) -> AppState {
    let mut config = Config::from_yaml(yaml).unwrap();
    config.storage.url = Some("memory://".to_owned());
    config.ingester.wal.enabled = false;
    config.limits_config.reject_old_samples = false;
    config.limits_config.ingestion_rate_mb = 0.0;
    let store = Store::open(config.store_config().unwrap()).await.unwrap();
    AppState::with_config(store, config)
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn json_of(state: &AppState, uri: &str) -> Value {
    let (status, body) = send(state, Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn push_json(state: &AppState, path: &str, body: &str) -> (StatusCode, String) {
    send(
        state,
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

/// A corpus over 10 minutes: three apps, a level, durations.
async fn fill(state: &AppState) {
    let mut streams = Vec::new();
    for (i, app) in ["shop", "db", "auth"].iter().enumerate() {
        let values: Vec<Value> = (0..600)
            .filter(|t| (t + i) % (i + 2) == 0)
            .map(|t| {
                let level = if t % 7 == 0 { "error" } else { "info" };
                serde_json::json!([
                    format!("{}", (T0 + t as i64) * 1_000_000_000 + i as i64),
                    format!("level={level} t={t} took={}ms", t % 50)
                ])
            })
            .collect();
        streams.push(serde_json::json!({"stream": {"app": app, "env": "prod"}, "values": values}));
    }
    let body = serde_json::json!({ "streams": streams }).to_string();
    let (status, text) = push_json(state, "/loki/api/v1/push", &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One HTTP/1.1 request over a real socket; the status and body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // Bodies may come chunked: keep the payload lines only.
    let chunked = text.split_once("\r\n\r\n").is_some_and(|(h, _)| {
        h.to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.push_str(&tail[..size]);
            rest = &tail[size + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

async fn start(state: AppState) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

#[tokio::test]
async fn config_is_served_and_limits_apply() {
    let state = state(
        "auth_enabled: false\nlimits_config:\n  max_entries_limit_per_query: 50\n  max_line_size: 10B\n",
    )
    .await;
    let (status, yaml) = send(&state, Request::get("/config").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(yaml.contains("max_entries_limit_per_query: 50"), "{yaml}");
    assert!(yaml.contains("http_listen_port: 3100"), "{yaml}");
    let reparsed = Config::from_yaml(&yaml).unwrap();
    assert_eq!(reparsed.limits_config.max_line_size.0, 10);
    let (status, diff) = send(
        &state,
        Request::get("/config?mode=diff")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(diff.contains("max_entries_limit_per_query: 50"), "{diff}");
    assert!(!diff.contains("http_listen_port"), "{diff}");
    let (_, defaults) = send(
        &state,
        Request::get("/config?mode=defaults")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        defaults.contains("max_entries_limit_per_query: 5000"),
        "{defaults}"
    );

    let uri = format!(
        "/loki/api/v1/query_range?query={}&limit=51",
        enc(r#"{app="shop"}"#)
    );
    let (status, body) = send(&state, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("(51 > 50)"), "{body}");

    let long = r#"{"streams":[{"stream":{"app":"shop"},"values":[["1700000000000000000","this line is too long"]]}]}"#;
    let (status, body) = push_json(&state, "/loki/api/v1/push", long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("Max entry size '10' bytes exceeded"),
        "{body}"
    );
}

#[tokio::test]
async fn over_a_real_socket_config_metrics_and_queries_answer() {
    let state = state("").await;
    let (addr, stop) = start(state).await;
    let (status, body) = http(addr, "GET", "/ready", "").await;
    assert_eq!((status, body.as_str()), (200, "ready"));
    let (status, yaml) = http(addr, "GET", "/config", "").await;
    assert_eq!(status, 200);
    assert!(yaml.contains("split_queries_by_interval: 1h"), "{yaml}");
    let push = r#"{"streams":[{"stream":{"app":"shop"},"values":[["1700000000000000000","hello"],["1700000001000000000","world"]]}]}"#;
    assert_eq!(http(addr, "POST", "/loki/api/v1/push", push).await.0, 204);
    assert_eq!(http(addr, "POST", "/loki/api/v1/push", "{").await.0, 400);
    let uri = format!(
        "/loki/api/v1/index/volume?query={}&start=1700000000&end=1700000010",
        enc(r#"{app="shop"}"#)
    );
    let (status, body) = http(addr, "GET", &uri, "").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "10");
    let (status, metrics) = http(addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    for needle in [
        "loki_distributor_lines_received_total{tenant=\"fake\"} 2",
        "loki_distributor_bytes_received_total{tenant=\"fake\"} 10",
        "loki_ingester_memory_streams{tenant=\"fake\"} 1",
        "loki_request_duration_seconds_bucket{method=\"POST\",route=\"loki_api_v1_push\",status_code=\"204\",le=\"+Inf\"} 1",
        "loki_request_duration_seconds_count{method=\"GET\",route=\"loki_api_v1_index_volume\",status_code=\"200\"} 1",
        "loki_request_errors_total{method=\"POST\",route=\"loki_api_v1_push\",status_code=\"400\"} 1",
        "loki_ingester_chunks_flushed_total 0",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
    assert_eq!(http(addr, "POST", "/flush", "").await.0, 204);
    let (_, metrics) = http(addr, "GET", "/metrics", "").await;
    assert!(
        metrics.contains("loki_ingester_chunks_flushed_total 1"),
        "{metrics}"
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn volume_and_volume_range_are_shaped_like_loki() {
    let state = state("").await;
    fill(&state).await;
    let q = enc(r#"{env="prod"}"#);
    let v = json_of(
        &state,
        &format!(
            "/loki/api/v1/index/volume?query={q}&start={T0}&end={}",
            T0 + 600
        ),
    )
    .await;
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{v}");
    assert_eq!(result[0]["metric"], serde_json::json!({"env": "prod"}));
    assert_eq!(result[0]["value"][0].as_f64(), Some((T0 + 600) as f64));
    assert!(
        result[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    let v = json_of(
        &state,
        &format!(
            "/loki/api/v1/index/volume?query={q}&start={T0}&end={}&targetLabels=app&limit=2",
            T0 + 600
        ),
    )
    .await;
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["metric"], serde_json::json!({"app": "shop"}));

    let v = json_of(
        &state,
        &format!("/loki/api/v1/index/volume?query={q}&start={T0}&end={}&targetLabels=app,env&aggregateBy=labels", T0 + 600),
    )
    .await;
    let metrics: Vec<&Value> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["metric"])
        .collect();
    assert_eq!(
        metrics,
        vec![
            &serde_json::json!({"app": ""}),
            &serde_json::json!({"env": ""})
        ]
    );

    let v = json_of(
        &state,
        &format!(
            "/loki/api/v1/index/volume_range?query={q}&start={T0}&end={}&step=300&targetLabels=app",
            T0 + 599
        ),
    )
    .await;
    assert_eq!(v["data"]["resultType"], "matrix");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 3);
    let points = result[0]["values"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0][0].as_f64(), Some(T0 as f64));
    assert_eq!(points[1][0].as_f64(), Some((T0 + 300) as f64));

    for bad in [
        "/loki/api/v1/index/volume",
        "/loki/api/v1/index/volume?query=%7Bapp%3D%22a%22%7D&aggregateBy=pods",
        "/loki/api/v1/index/volume?query=%7Bapp%3D%22a%22%7D&limit=-1",
        "/loki/api/v1/index/volume?query=rate(%7Bapp%3D%22a%22%7D%5B1m%5D)",
        "/loki/api/v1/index/volume_range?query=%7Bapp%3D%22a%22%7D&step=0",
    ] {
        let (status, body) = send(&state, Request::get(bad).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(!body.is_empty());
    }
}

#[tokio::test]
async fn split_and_unsplit_queries_answer_the_same() {
    let whole = state("limits_config:\n  split_queries_by_interval: 0s\n").await;
    let split = state("limits_config:\n  split_queries_by_interval: 47s\n").await;
    fill(&whole).await;
    fill(&split).await;
    let range = format!("start={T0}&end={}", T0 + 600);
    for (query, extra) in [
        (r#"{env="prod"}"#, "limit=1000&direction=forward"),
        (r#"{env="prod"}"#, "limit=17"),
        (
            r#"{env="prod"} |= "error" | logfmt | took > 20ms"#,
            "limit=100",
        ),
        (
            r#"sum by (app) (count_over_time({env="prod"}[1m]))"#,
            "step=15",
        ),
        (r#"rate({app="shop"} |= "error" [30s])"#, "step=7"),
    ] {
        let uri = format!(
            "/loki/api/v1/query_range?query={}&{range}&{extra}",
            enc(query)
        );
        let a = json_of(&whole, &uri).await;
        let b = json_of(&split, &uri).await;
        assert_eq!(a["data"]["result"], b["data"]["result"], "{query} {extra}");
        assert!(
            a["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{query}"
        );
        assert_eq!(a["data"]["stats"]["summary"]["splits"], 1);
        // A backward log query whose newest slice holds `limit` entries
        // reads that slice only.
        let splits = b["data"]["stats"]["summary"]["splits"].as_u64().unwrap();
        if extra == "limit=17" {
            assert_eq!(splits, 1, "{query}");
        } else {
            assert!(splits > 1, "{query} {extra}");
        }
    }
}

#[tokio::test]
async fn stats_time_formats_steps_and_interval() {
    let state = state("").await;
    fill(&state).await;
    let q = enc(r#"{app="shop"}"#);
    let v = json_of(
        &state,
        &format!("/loki/api/v1/query_range?query={q}&start=2023-11-14T22:13:20Z&end=2023-11-14T23:23:20.5%2B01:00&limit=5"),
    )
    .await;
    let stats = &v["data"]["stats"];
    for key in [
        "bytesProcessedPerSecond",
        "linesProcessedPerSecond",
        "totalBytesProcessed",
        "totalLinesProcessed",
        "execTime",
        "queueTime",
        "subqueries",
        "totalEntriesReturned",
        "splits",
        "shards",
        "totalPostFilterLines",
        "totalStructuredMetadataBytesProcessed",
    ] {
        assert!(
            stats["summary"].get(key).is_some(),
            "{key} missing: {stats}"
        );
    }
    assert_eq!(stats["summary"]["totalEntriesReturned"], 5);
    assert!(stats["summary"]["totalLinesProcessed"].as_u64().unwrap() >= 5);
    assert!(stats["querier"]["store"]["chunk"]
        .get("decompressedLines")
        .is_some());
    assert!(stats["cache"]["chunk"].get("entriesFound").is_some());
    let lines = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(lines.len(), 5);

    // Float seconds, nanoseconds and float-second steps give the same matrix.
    let m = enc(r#"count_over_time({app="shop"}[1m])"#);
    let a = json_of(
        &state,
        &format!(
            "/loki/api/v1/query_range?query={m}&start={T0}.0&end={}&step=60",
            T0 + 300
        ),
    )
    .await;
    let b = json_of(
        &state,
        &format!(
            "/loki/api/v1/query_range?query={m}&start={T0}000000000&end={}000000000&step=1m",
            T0 + 300
        ),
    )
    .await;
    assert_eq!(a["data"]["result"], b["data"]["result"]);
    assert_eq!(
        a["data"]["result"][0]["values"].as_array().unwrap().len(),
        6
    );

    let (status, body) = send(
        &state,
        Request::get(format!("/loki/api/v1/query_range?query={q}&interval=-1s"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for extreme in [
        "start=-9223372036854775808&end=9223372036854775807&step=1000000000000000000",
        "start=0&end=9223372036854775807",
    ] {
        for path in ["query_range", "index/volume_range", "labels", "series"] {
            let uri = format!("/loki/api/v1/{path}?query={q}&{extreme}");
            let (status, body) =
                send(&state, Request::get(&uri).body(Body::empty()).unwrap()).await;
            assert!(
                status.is_success() || status == StatusCode::BAD_REQUEST,
                "{uri}: {status} {body}"
            );
        }
    }
    let long = format!(
        "/loki/api/v1/query_range?query={q}&start={}&end={T0}",
        T0 - 722 * 3600
    );
    let (status, body) = send(&state, Request::get(&long).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("the query time range exceeds the limit (query length: 722h, limit: 721h)"),
        "{body}"
    );
    let (status, _) = send(
        &state,
        Request::get(format!("/loki/api/v1/query_range?query={q}&interval=0"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // `shop` has an entry every 2 s over 600 s: one a minute survives a 1m
    // interval, split or not.
    let thinned = json_of(
        &state,
        &format!(
            "/loki/api/v1/query_range?query={q}&start={T0}&end={}&interval=1m&direction=forward&limit=1000",
            T0 + 600
        ),
    )
    .await;
    let values = thinned["data"]["result"][0]["values"].as_array().unwrap();
    let seconds: Vec<i64> = values
        .iter()
        .map(|v| v[0].as_str().unwrap().parse::<i64>().unwrap() / 1_000_000_000 - T0)
        .collect();
    assert_eq!(seconds, (0..10).map(|m| m * 60).collect::<Vec<_>>());
}

#[tokio::test]
async fn legacy_paths_answer_in_the_legacy_shapes() {
    let state = state("").await;
    let legacy = r#"{"streams":[{"labels":"{app=\"shop\", env=\"prod\"}","entries":[{"ts":"2023-11-14T22:13:20.5Z","line":"legacy one"},{"ts":"2023-11-14T23:13:21+01:00","line":"legacy two"}]}]}"#;
    let (status, body) = push_json(&state, "/api/prom/push", legacy).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let v1 = r#"{"streams":[{"stream":{"app":"shop","env":"prod"},"values":[["1700000002000000000","v1 shape"]]}]}"#;
    assert_eq!(
        push_json(&state, "/api/prom/push", v1).await.0,
        StatusCode::NO_CONTENT
    );
    // The v1 path does not take the legacy shape.
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", legacy).await.0,
        StatusCode::BAD_REQUEST
    );
    let bad =
        r#"{"streams":[{"labels":"{app=\"shop\"}","entries":[{"ts":"yesterday","line":"x"}]}]}"#;
    let (status, body) = push_json(&state, "/api/prom/push", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("yesterday"), "{body}");

    let q = enc(r#"{app="shop"}"#);
    let v = json_of(
        &state,
        &format!(
            "/api/prom/query?query={q}&start={T0}&end={}&direction=forward",
            T0 + 10
        ),
    )
    .await;
    assert_eq!(
        v,
        serde_json::json!({"streams": [{
            "labels": "{app=\"shop\", env=\"prod\", service_name=\"shop\"}",
            "entries": [
                {"ts": "2023-11-14T22:13:20.5Z", "line": "legacy one"},
                {"ts": "2023-11-14T22:13:21Z", "line": "legacy two"},
                {"ts": "2023-11-14T22:13:22Z", "line": "v1 shape"},
            ],
        }]})
    );
    let range = format!("start={T0}&end={}", T0 + 10);
    let v = json_of(&state, &format!("/api/prom/label?{range}")).await;
    assert_eq!(
        v,
        serde_json::json!({"values": ["app", "env", "service_name"]})
    );
    let v = json_of(&state, &format!("/api/prom/label/app/values?{range}")).await;
    assert_eq!(v, serde_json::json!({"values": ["shop"]}));
    let v = json_of(&state, &format!("/api/prom/series?match[]={q}&{range}")).await;
    assert_eq!(v["data"][0]["env"], "prod");
    let m = enc(r#"rate({app="shop"}[1m])"#);
    let (status, _) = send(
        &state,
        Request::get(format!("/api/prom/query?query={m}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tail_streams_backfill_then_live_pushes_through_the_pipeline() {
    let state = state("").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let before = format!(
        r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[["{}","level=error msg=old"],["{}","level=info msg=quiet"]]}}]}}"#,
        now - 2_000_000_000,
        now - 1_000_000_000
    );
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", &before).await.0,
        StatusCode::NO_CONTENT
    );
    let (addr, stop) = start(state.clone()).await;

    let query = enc(r#"{app="shop"} |= "error" | logfmt | line_format "{{.msg}}""#);
    let url = format!(
        "ws://{addr}/loki/api/v1/tail?query={query}&start={}",
        now - 60_000_000_000
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("{first:?}")
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["streams"][0]["values"][0][1], "old", "{v}");
    assert_eq!(v["streams"][0]["values"].as_array().unwrap().len(), 1);
    assert!(v.get("dropped_entries").is_none());

    let live = format!(
        r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[["{}","level=info msg=skip"],["{}","level=error msg=new"]]}},{{"stream":{{"app":"db"}},"values":[["{}","level=error msg=other"]]}}]}}"#,
        now + 1,
        now + 2,
        now + 3
    );
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", &live).await.0,
        StatusCode::NO_CONTENT
    );
    let second = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = second else {
        panic!("{second:?}")
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"streams": [{
            "stream": {"app": "shop", "level": "error", "msg": "new", "service_name": "shop"},
            "values": [[(now + 2).to_string(), "new"]],
        }]})
    );
    ws.send(Message::Close(None)).await.unwrap();
    drop(ws);

    let (status, body) = http(
        addr,
        "GET",
        "/loki/api/v1/tail?query=%7Bapp%3D%22a%22%7D&delay_for=6",
        "",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let _ = stop.send(());
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = message else {
        panic!("{message:?}")
    };
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn legacy_tail_shape_and_dropped_entries_for_a_burst_too_large_to_queue() {
    let state = state("").await;
    let now = now_ns();
    let before =
        format!(r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[["{now}","before"]]}}]}}"#);
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", &before).await.0,
        StatusCode::NO_CONTENT
    );
    let (addr, stop) = start(state.clone()).await;
    let query = enc(r#"{app="shop"}"#);
    let since = now - 60_000_000_000;
    let url = format!("ws://{addr}/api/prom/tail?query={query}&start={since}");
    let (mut legacy, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let v = next_json(&mut legacy).await;
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(
        streams[0]["labels"],
        "{app=\"shop\", service_name=\"shop\"}"
    );
    assert_eq!(streams[0]["entries"][0]["line"], "before");
    assert!(streams[0]["entries"][0]["ts"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let url = format!("ws://{addr}/loki/api/v1/tail?query={query}&start={since}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let _backfill = next_json(&mut ws).await;
    let burst = loki::store::TAIL_QUEUE_ENTRIES + 1;
    let values: Vec<Value> = (0..burst)
        .map(|i| serde_json::json!([(now + 1 + i as i64).to_string(), "x"]))
        .collect();
    let body = serde_json::json!({"streams": [{"stream": {"app": "shop"}, "values": values}]});
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", &body.to_string())
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let v = next_json(&mut ws).await;
    assert!(v.get("streams").is_none(), "{v}");
    let dropped = v["dropped_entries"].as_array().unwrap();
    assert_eq!(dropped.len(), loki::store::TAIL_DROPPED_REMEMBERED);
    assert_eq!(dropped[0]["labels"]["app"], "shop");
    assert_eq!(dropped[0]["timestamp"], (now + 1).to_string());
    let _ = stop.send(());
}

#[tokio::test]
async fn tenant_overrides_apply_to_queries() {
    let state = state(
        "auth_enabled: true\nlimits_config:\n  max_entries_limit_per_query: 50\noverrides:\n  big:\n    max_entries_limit_per_query: 1000\n",
    )
    .await;
    let uri = format!(
        "/loki/api/v1/query_range?query={}&limit=100",
        enc(r#"{app="shop"}"#)
    );
    for (tenant, expected) in [
        ("big", StatusCode::OK),
        ("small", StatusCode::BAD_REQUEST),
        ("big|small", StatusCode::BAD_REQUEST),
    ] {
        let request = Request::get(&uri)
            .header("x-scope-orgid", tenant)
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(&state, request).await;
        assert_eq!(status, expected, "{tenant}: {body}");
    }
}

#[tokio::test]
async fn series_without_a_matcher_or_with_braces_lists_every_series() {
    let state = state("").await;
    fill(&state).await;
    let range = format!("start={T0}&end={}", T0 + 600);
    for uri in [
        format!("/loki/api/v1/series?{range}"),
        format!("/loki/api/v1/series?{range}&match[]=%7B%20%7D"),
    ] {
        let v = json_of(&state, &uri).await;
        assert_eq!(v["data"].as_array().unwrap().len(), 3, "{uri}: {v}");
    }
    let v = json_of(
        &state,
        &format!(
            "/loki/api/v1/series?{range}&match[]={}&match={}",
            enc(r#"{app="db"}"#),
            enc(r#"{app="auth"}"#)
        ),
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    let (status, _) = send(
        &state,
        Request::get(format!("/loki/api/v1/series?{range}&match[]=%7Bapp%3D%7D"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn concurrent_tails_are_limited_per_tenant() {
    let state = state("limits_config:\n  max_concurrent_tail_requests: 1\n").await;
    let (addr, stop) = start(state).await;
    let url = format!(
        "ws://{addr}/loki/api/v1/tail?query={}",
        enc(r#"{app="shop"}"#)
    );
    let (first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body =
                String::from_utf8_lossy(response.body().as_deref().unwrap_or(&[])).into_owned();
            assert!(body.contains("(2 > 1)"), "{body}");
        }
        other => panic!("a second tail was not refused: {other:?}"),
    }
    drop(first);
    // The slot is released once the server sees the connection close.
    let mut reopened = false;
    for _ in 0..100 {
        if tokio_tungstenite::connect_async(&url).await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "the slot of a closed tail was not released");
    let _ = stop.send(());
}

#[tokio::test]
async fn drilldown_endpoints_detect_labels_and_fields_as_loki_shapes_them() {
    let state = state("").await;
    let ns = |t: i64| ((T0 + t) * 1_000_000_000).to_string();
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "shop", "env": "prod", "pod": "7", "request": "6f1c4a52-3b0e-4d4b-9a43-1c2d3e4f5a6b"},
         "values": [
            [ns(1), "level=info status=200 took=15ms", {"trace_id": "abc"}],
            [ns(2), "level=error status=500 took=1.5s", {"trace_id": "def"}],
         ]},
        {"stream": {"app": "db", "env": "prod", "pod": "8", "request": "1f1c4a52-3b0e-4d4b-9a43-1c2d3e4f5a6b"},
         "values": [[ns(3), r#"{"query":"select","rows":12}"#]]},
    ]})
    .to_string();
    let (status, text) = push_json(&state, "/loki/api/v1/push", &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let range = format!("start={}&end={}", ns(0), ns(10));

    // Labels worth grouping by: `request` (all UUIDs) is left out, `pod`
    // (numbers, but one of Loki's static labels) kept.
    let labels = json_of(
        &state,
        &format!("/loki/api/v1/detected_labels?query=&{range}"),
    )
    .await;
    assert_eq!(
        labels,
        serde_json::json!({"detectedLabels": [
            {"label": "app", "cardinality": 2},
            {"label": "env", "cardinality": 1},
            {"label": "pod", "cardinality": 2},
            {"label": "service_name", "cardinality": 2},
        ]})
    );
    let one = json_of(
        &state,
        &format!(
            "/loki/api/v1/detected_labels?query={}&{range}",
            enc(r#"{app="db"}"#)
        ),
    )
    .await;
    assert_eq!(
        one["detectedLabels"][0],
        serde_json::json!({"label": "app", "cardinality": 1})
    );

    // Fields of the shop's lines: parsed from logfmt, and metadata.
    let shop = enc(r#"{app="shop"}"#);
    let fields = json_of(
        &state,
        &format!("/loki/api/v1/detected_fields?query={shop}&{range}"),
    )
    .await;
    assert_eq!(fields["limit"], 1000);
    let by_label: std::collections::BTreeMap<String, Value> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["label"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    assert_eq!(
        by_label.keys().map(String::as_str).collect::<Vec<_>>(),
        ["level", "status", "took", "trace_id"]
    );
    assert_eq!(
        by_label["status"],
        serde_json::json!({"label": "status", "type": "int", "cardinality": 2, "parsers": ["logfmt"]})
    );
    assert_eq!(by_label["took"]["type"], "duration");
    assert_eq!(by_label["trace_id"]["parsers"], Value::Null);
    let values = json_of(
        &state,
        &format!("/loki/api/v1/detected_field/status/values?query={shop}&{range}&line_limit=1"),
    )
    .await;
    assert_eq!(
        values,
        serde_json::json!({"values": ["500"], "limit": 1000})
    );

    // JSON lines, a filter that keeps nothing, and bad requests.
    let db = enc(r#"{app="db"}"#);
    let fields = json_of(
        &state,
        &format!("/loki/api/v1/detected_fields?query={db}&{range}"),
    )
    .await;
    assert_eq!(fields["fields"][0]["parsers"], serde_json::json!(["json"]));
    let none = enc(r#"{app="db"} |= "nothing like this""#);
    let empty = json_of(
        &state,
        &format!("/loki/api/v1/detected_fields?query={none}&{range}"),
    )
    .await;
    assert_eq!(empty, serde_json::json!({}));
    for bad in [
        format!("/loki/api/v1/detected_fields?{range}"),
        format!(
            "/loki/api/v1/detected_fields?query={}&{range}",
            enc(r#"rate({app="db"}[1m])"#)
        ),
        format!("/loki/api/v1/detected_fields?query={db}&{range}&line_limit=0"),
        format!("/loki/api/v1/detected_fields?query={db}&{range}&line_limit=100000"),
    ] {
        let (status, body) = send(&state, Request::get(&bad).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Drilldown's limits: no pattern ingester, the query limits.
    let limits = json_of(&state, "/loki/api/v1/drilldown-limits").await;
    assert_eq!(limits["pattern_ingester_enabled"], false);
    assert_eq!(limits["limits"]["max_entries_limit_per_query"], 5000);
    assert_eq!(limits["limits"]["volume_enabled"], true);
}

#[tokio::test]
async fn pushed_entries_get_the_detected_level_loki_adds() {
    let state = state("limits_config:\n  discover_log_levels: true\n").await;
    let ns = |t: i64| ((T0 + t) * 1_000_000_000).to_string();
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "a", "level": "WARNING"}, "values": [[ns(1), "level=error but the label wins"]]},
        {"stream": {"app": "b"}, "values": [
            [ns(2), r#"{"msg":"x","level":"ERR"}"#],
            [ns(3), "ts=1 level=dbg msg=hi"],
            [ns(4), "x", {"severity_number": "21"}],
            [ns(5), "upstream said: Critical failure"],
            [ns(6), "hello world"],
            [ns(7), "trace me", {"detected_level": "custom"}],
        ]},
    ]})
    .to_string();
    let (status, text) = push_json(&state, "/loki/api/v1/push", &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let query = enc(r#"sum by (detected_level) (count_over_time({app=~"a|b"}[1m]))"#);
    let result = json_of(
        &state,
        &format!("/loki/api/v1/query?query={query}&time={}", T0 + 30),
    )
    .await;
    let mut counts: Vec<(String, String)> = result["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["detected_level"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                s["value"][1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    counts.sort();
    let want: Vec<(String, String)> = [
        "critical", "custom", "debug", "error", "fatal", "unknown", "warn",
    ]
    .iter()
    .map(|l| ((*l).to_owned(), "1".to_owned()))
    .collect();
    assert_eq!(counts, want, "{result}");
    // Drilldown lists it as metadata (no parser).
    let range = format!("start={}&end={}", ns(0), ns(10));
    let fields = json_of(
        &state,
        &format!(
            "/loki/api/v1/detected_fields?query={}&{range}",
            enc(r#"{app="b"}"#)
        ),
    )
    .await;
    let level = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "detected_level")
        .cloned();
    assert_eq!(
        level,
        Some(
            serde_json::json!({"label": "detected_level", "type": "string", "cardinality": 6, "parsers": null})
        )
    );
}

#[tokio::test]
async fn a_tenant_override_turns_level_detection_on_for_that_tenant() {
    let state = state("overrides:\n  fake:\n    discover_log_levels: true\n").await;
    let body = serde_json::json!({"streams": [
        {"stream": {"app": "a"}, "values": [[format!("{}", T0 * 1_000_000_000), "level=warn x"]]},
    ]})
    .to_string();
    let (status, text) = push_json(&state, "/loki/api/v1/push", &body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let query = enc(r#"sum by (detected_level) (count_over_time({app="a"}[1m]))"#);
    let result = json_of(
        &state,
        &format!("/loki/api/v1/query?query={query}&time={}", T0 + 30),
    )
    .await;
    assert_eq!(
        result["data"]["result"][0]["metric"]["detected_level"], "warn",
        "{result}"
    );
}

/// `GET` with Grafana's `X-Loki-Response-Encoding-Flags` header.
async fn json_categorized(state: &AppState, uri: &str, flags: &str) -> Value {
    let request = Request::get(uri)
        .header("X-Loki-Response-Encoding-Flags", flags)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(state, request).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn categorize_labels_splits_metadata_and_parsed_labels_from_the_stream() {
    let state = state("").await;
    let t = |s: i64| ((T0 + s) * 1_000_000_000).to_string();
    let body = serde_json::json!({"streams": [{
        "stream": {"app": "shop"},
        "values": [
            [t(1), "level=info msg=a", {"trace_id": "t1"}],
            [t(2), "level=warn msg=b", {"trace_id": "t2"}],
            [t(3), "plain"],
        ],
    }]})
    .to_string();
    assert_eq!(
        push_json(&state, "/loki/api/v1/push", &body).await.0,
        StatusCode::NO_CONTENT
    );
    let range = |q: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&direction=forward",
            enc(q),
            T0,
            T0 + 10
        )
    };

    // Grafana's request: one stream, each entry's labels beside its line.
    let v = json_categorized(
        &state,
        &range(r#"{app="shop"} | logfmt"#),
        "categorize-labels",
    )
    .await;
    assert_eq!(
        v["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
    assert_eq!(
        v["data"]["result"],
        serde_json::json!([{
            "stream": {"app": "shop", "service_name": "shop"},
            "values": [
                [t(1), "level=info msg=a", {"structuredMetadata": {"trace_id": "t1"}, "parsed": {"level": "info", "msg": "a"}}],
                [t(2), "level=warn msg=b", {"structuredMetadata": {"trace_id": "t2"}, "parsed": {"level": "warn", "msg": "b"}}],
                [t(3), "plain", {}],
            ],
        }])
    );
    assert_eq!(v["data"]["stats"]["summary"]["totalEntriesReturned"], 3);

    // Among other flags, with spaces; a bare selector gives `{}` per entry
    // without metadata.
    let v = json_categorized(
        &state,
        &range(r#"{app="shop"} |= "plain""#),
        "other, categorize-labels",
    )
    .await;
    assert_eq!(
        v["data"]["result"][0]["values"],
        serde_json::json!([[t(3), "plain", {}]])
    );

    // Without the header: Loki's plain shape, a stream per label set.
    let v = json_of(&state, &range(r#"{app="shop"} |= "msg=a""#)).await;
    assert!(v["data"].get("encodingFlags").is_none(), "{v}");
    assert_eq!(
        v["data"]["result"],
        serde_json::json!([{
            "stream": {"app": "shop", "service_name": "shop", "trace_id": "t1"},
            "values": [[t(1), "level=info msg=a"]],
        }])
    );

    // A metric query keeps its shape and, as in Loki, says the flag.
    let v = json_categorized(
        &state,
        &format!(
            "{}&step=10",
            range(r#"sum(count_over_time({app="shop"}[10s]))"#)
        ),
        "categorize-labels",
    )
    .await;
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
}

#[tokio::test]
async fn a_categorized_tail_sends_entry_labels_and_the_flag() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let state = state("").await;
    let (addr, stop) = start(state.clone()).await;
    let now = now_ns();
    let query = enc(r#"{app="shop"} | logfmt"#);
    let mut request = format!("ws://{addr}/loki/api/v1/tail?query={query}&start={now}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "X-Loki-Response-Encoding-Flags",
        "categorize-labels".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let live = serde_json::json!({"streams": [{
        "stream": {"app": "shop"},
        "values": [[(now + 1_000).to_string(), "msg=hi", {"trace_id": "t9"}]],
    }]})
    .to_string();
    // The tail subscribes once upgraded; push until the entry arrives.
    let mut got = None;
    for _ in 0..50 {
        assert_eq!(
            push_json(&state, "/loki/api/v1/push", &live).await.0,
            StatusCode::NO_CONTENT
        );
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            got = Some(serde_json::from_str::<Value>(&text).unwrap());
            break;
        }
    }
    let v = got.expect("a tail message");
    assert_eq!(v["encodingFlags"], serde_json::json!(["categorize-labels"]));
    assert_eq!(
        v["streams"][0],
        serde_json::json!({
            "stream": {"app": "shop", "service_name": "shop"},
            "values": [[(now + 1_000).to_string(), "msg=hi", {"structuredMetadata": {"trace_id": "t9"}, "parsed": {"msg": "hi"}}]],
        })
    );
    let _ = stop.send(());
}
