//! The HTTP API in-process through the router: pushes in every encoding,
//! queries, labels, tenants and bad requests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use loki::server::{app, AppState};
use loki::store::{Limits, Store, StoreConfig};
use tower::ServiceExt;

/// A push request in Loki's protobuf wire format, written by hand from the
/// field numbers so the test does not share the server's encoder.
fn protobuf_push<L: AsRef<[u8]>>(labels: &str, entries: &[(i64, i32, L)]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(out: &mut Vec<u8>, tag: u64, bytes: &[u8]) {
        varint(out, tag << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    let mut stream = Vec::new();
    field(&mut stream, 1, labels.as_bytes());
    for (seconds, nanos, line) in entries {
        let mut ts = Vec::new();
        varint(&mut ts, 1 << 3);
        varint(&mut ts, *seconds as u64);
        varint(&mut ts, 2 << 3);
        varint(&mut ts, *nanos as u64);
        let mut entry = Vec::new();
        field(&mut entry, 1, &ts);
        field(&mut entry, 2, line.as_ref());
        field(&mut stream, 2, &entry);
    }
    let mut request = Vec::new();
    field(&mut request, 1, &stream);
    snap::raw::Encoder::new().compress_vec(&request).unwrap()
}

async fn state(auth: bool) -> AppState {
    let mut config = StoreConfig::in_memory();
    config.limits = Limits::unlimited();
    AppState::new(Store::open(config).await.unwrap(), auth)
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn push(
    content_type: &str,
    encoding: Option<&str>,
    tenant: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut builder = Request::post("/loki/api/v1/push").header("content-type", content_type);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    if let Some(tenant) = tenant {
        builder = builder.header("x-scope-orgid", tenant);
    }
    builder.body(Body::from(body)).unwrap()
}

fn get(uri: &str, tenant: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(tenant) = tenant {
        builder = builder.header("x-scope-orgid", tenant);
    }
    builder.body(Body::empty()).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A push that must be refused: content type, content encoding, body,
/// the status wanted and words its reason must hold.
type Refused = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

/// Sends every push in `cases`, checking each one's status and reason.
async fn assert_refused(state: &AppState, cases: Vec<Refused>) {
    for (content_type, encoding, body, want, reason) in cases {
        let (status, message) = send(state, push(content_type, encoding, None, body)).await;
        assert_eq!(status, want, "{message}");
        assert!(
            message.contains(reason),
            "{message:?} should mention {reason:?}"
        );
    }
}

/// No label is stored (Loki leaves `data` out of an empty label list).
async fn assert_nothing_stored(state: &AppState) {
    let (_, body) = send(
        state,
        get("/loki/api/v1/labels?start=0&end=2000000000", None),
    )
    .await;
    assert_eq!(body, r#"{"status":"success"}"#, "nothing stored");
}

const QUERY_ALL: &str = "/loki/api/v1/query_range?query=%7Bapp%3D%22shop%22%7D&start=1700000000&end=1700000100&direction=forward";

#[tokio::test]
async fn pushes_in_every_encoding_are_queryable() {
    let state = state(false).await;
    let proto = protobuf_push(
        r#"{app="shop", env="prod"}"#,
        &[(1_700_000_000, 5, "from protobuf")],
    );
    assert_eq!(
        send(
            &state,
            push("application/x-protobuf", None, None, proto.clone())
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let json = br#"{"streams":[{"stream":{"app":"shop","env":"prod"},"values":[["1700000001000000000","from json",{"trace_id":"t1"}]]}]}"#;
    assert_eq!(
        send(&state, push("application/json", None, None, json.to_vec()))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let json2 = br#"{"streams":[{"stream":{"app":"shop","env":"prod"},"values":[["1700000002000000000","from gzip json"]]}]}"#;
    assert_eq!(
        send(
            &state,
            push("application/json", Some("gzip"), None, gzip(json2))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    let (status, body) = send(&state, get(QUERY_ALL, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    let lines: Vec<&str> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e[1].as_str().unwrap())
        })
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines.contains(&"from protobuf")
            && lines.contains(&"from json")
            && lines.contains(&"from gzip json")
    );
    let (_, body) = send(
        &state,
        get(
            "/loki/api/v1/index/stats?query=%7Bapp%3D%22shop%22%7D&start=1700000000&end=1700000100",
            None,
        ),
    )
    .await;
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (stats["streams"].as_u64(), stats["entries"].as_u64()),
        (Some(1), Some(3)),
        "{body}"
    );
    let (_, metrics) = send(&state, get("/metrics", None)).await;
    assert!(
        metrics.contains(r#"loki_distributor_lines_received_total{tenant="fake"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("loki_ingester_memory_streams{tenant=\"fake\"} 1"),
        "{metrics}"
    );
    // service_name is discovered from app, as Loki does.
    let (_, body) = send(
        &state,
        get(
            "/loki/api/v1/label/service_name/values?start=1700000000&end=1700000100",
            None,
        ),
    )
    .await;
    assert_eq!(body, r#"{"data":["shop"],"status":"success"}"#);
}

#[tokio::test]
async fn tenants_need_a_header_and_stay_apart() {
    let state = state(true).await;
    let json = |line: &str| {
        format!(r#"{{"streams":[{{"stream":{{"app":"shop"}},"values":[["1700000000000000000","{line}"]]}}]}}"#).into_bytes()
    };
    let (status, body) = send(&state, push("application/json", None, None, json("x"))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, "no org id")
    );
    assert_eq!(
        send(
            &state,
            push("application/json", None, Some("a"), json("for a"))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &state,
            push("application/json", None, Some("b"), json("for b"))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, body) = send(&state, get(QUERY_ALL, Some("a"))).await;
    assert!(body.contains("for a") && !body.contains("for b"), "{body}");
    let (_, body) = send(&state, get(QUERY_ALL, Some("a|b"))).await;
    assert!(body.contains("for a") && body.contains("for b"), "{body}");
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_reason_and_store_nothing() {
    let state = state(false).await;
    let cases: Vec<Refused> = vec![
        (
            "application/x-protobuf",
            None,
            b"not snappy".to_vec(),
            StatusCode::BAD_REQUEST,
            "snappy",
        ),
        (
            "application/x-protobuf",
            None,
            snap::raw::Encoder::new().compress_vec(b"\xff\xff").unwrap(),
            StatusCode::BAD_REQUEST,
            "protobuf",
        ),
        (
            "application/json",
            None,
            b"{".to_vec(),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            "application/json",
            None,
            br#"{"streams":[{"stream":{"app":"x"},"values":[[1700000000,"number ts"]]}]}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "timestamp",
        ),
        (
            "application/json",
            Some("gzip"),
            b"not gzip".to_vec(),
            StatusCode::BAD_REQUEST,
            "decompress",
        ),
        (
            "application/json",
            Some("br"),
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "not supported",
        ),
        (
            "application/x-protobuf",
            None,
            protobuf_push("{app=shop}", &[(1, 0, "x")]),
            StatusCode::BAD_REQUEST,
            "error parsing labels",
        ),
        (
            "application/json",
            None,
            br#"{"streams":[]}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at least one valid stream",
        ),
    ];
    assert_refused(&state, cases).await;
    assert_nothing_stored(&state).await;
    let (_, body) = send(
        &state,
        get("/loki/api/v1/label/app/values?start=0&end=2000000000", None),
    )
    .await;
    assert_eq!(body, r#"{"status":"success"}"#, "no values");
    let (_, body) = send(&state, get("/api/prom/label?start=0&end=2000000000", None)).await;
    assert_eq!(body, "{}", "the legacy shape leaves `values` out");
    let (status, body) = send(
        &state,
        get("/loki/api/v1/query?query=%7Bapp%3D%22x%22%7D", None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("log queries are not supported as an instant query type"),
        "{body}"
    );
    let (status, body) = send(
        &state,
        get("/loki/api/v1/query_range?query=%7Bapp%3D%22x%22", None),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("parse error"), "{body}");
}

#[tokio::test]
async fn oversized_bodies_and_rate_limits_get_loki_status_codes() {
    // A 1 KiB burst per tenant; the other limits as Loki's defaults.
    let mut config = loki::server::Config::from_yaml(
        "limits_config:\n  ingestion_rate_mb: 0.001\n  ingestion_burst_size_mb: 0.001\n  reject_old_samples: false\n",
    )
    .unwrap();
    config.storage.url = Some("memory://".to_owned());
    config.ingester.wal.enabled = false;
    let store = Store::open(config.store_config().unwrap()).await.unwrap();
    let state = AppState::with_config(store, config);

    // Snappy's length preamble: a varint of the decompressed size.
    let snappy_declaring = |size: u64, rest: &[u8]| {
        let mut body = Vec::new();
        let mut v = size;
        while v >= 0x80 {
            body.push(v as u8 | 0x80);
            v >>= 7;
        }
        body.push(v as u8);
        body.extend_from_slice(rest);
        body
    };
    // A gzip bomb: 257 members of 1 MiB of zeros, about 260 KiB that
    // decompress past the 256 MiB bound.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb: Vec<u8> = (0..257).flat_map(|_| member.iter().copied()).collect();
    let cases: Vec<Refused> = vec![
        (
            "application/x-protobuf",
            None,
            snappy_declaring(300 << 20, &[0; 64]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds the limit",
        ),
        (
            "application/x-protobuf",
            None,
            snappy_declaring(1 << 20, &[0; 64]),
            StatusCode::BAD_REQUEST,
            "declares 1048576 bytes from",
        ),
        (
            "application/json",
            Some("gzip"),
            bomb,
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds the limit",
        ),
        (
            "application/x-protobuf",
            None,
            vec![0; loki::server::MAX_BODY_BYTES + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit exceeded",
        ),
    ];
    assert_refused(&state, cases).await;

    // Over the tenant's burst: Loki's 429 and message; under it: stored.
    let push_line = |line: &str| {
        push(
            "application/x-protobuf",
            None,
            None,
            protobuf_push(r#"{app="shop"}"#, &[(1_700_000_000, 0, line)]),
        )
    };
    let (status, message) = send(&state, push_line(&"x".repeat(2000))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{message}");
    assert!(
        message.starts_with("Ingestion rate limit exceeded for user fake (limit: 1048 bytes/sec) while attempting to ingest '1' lines totaling '2000' bytes"),
        "{message}"
    );
    assert_nothing_stored(&state).await;
    let (status, message) = send(&state, push_line("small")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{message}");
}

#[tokio::test]
async fn lines_that_are_not_utf8_are_stored_with_replacement_characters() {
    // Loki stores such lines and every read shows the bad bytes as U+FFFD.
    let state = state(false).await;
    let line: &[u8] = b"caf\xc3\xa9 \xff\xfe ok";
    let body = protobuf_push(r#"{app="shop"}"#, &[(1_700_000_000, 0, line)]);
    let (status, message) = send(&state, push("application/x-protobuf", None, None, body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{message}");
    let (status, body) = send(&state, get(QUERY_ALL, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["result"][0]["values"][0][1],
        "caf\u{e9} \u{fffd}\u{fffd} ok"
    );
    // Labels must still be text.
    let mut bad_labels = protobuf_push(r#"{app="shop"}"#, &[(1_700_000_000, 0, "x")]);
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&bad_labels)
        .unwrap();
    let at = raw.windows(4).position(|w| w == b"shop").unwrap();
    let mut raw = raw;
    raw[at] = 0xff;
    bad_labels = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let (status, message) = send(
        &state,
        push("application/x-protobuf", None, None, bad_labels),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("not UTF-8"), "{message}");
}

#[tokio::test]
async fn delete_requests_hide_data_and_can_be_listed_and_cancelled() {
    let state = state(false).await;
    let json = br#"{"streams":[{"stream":{"app":"shop"},"values":[["1700000000000000000","secret"],["1700000050000000000","kept"]]}]}"#;
    assert_eq!(
        send(&state, push("application/json", None, None, json.to_vec()))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let request = Request::post(
        "/loki/api/v1/delete?query=%7Bapp%3D%22shop%22%7D&start=1700000000&end=1700000010",
    )
    .body(Body::empty())
    .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let id = response.headers()["x-delete-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, body) = send(&state, get(QUERY_ALL, None)).await;
    assert!(body.contains("kept") && !body.contains("secret"), "{body}");
    let (_, list) = send(&state, get("/loki/api/v1/delete", None)).await;
    assert!(
        list.contains(&id) && list.contains(r#""status":"received""#),
        "{list}"
    );
    let cancel = Request::delete(format!("/loki/api/v1/delete?request_id={id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, cancel).await.0, StatusCode::NO_CONTENT);
    let (_, body) = send(&state, get(QUERY_ALL, None)).await;
    assert!(body.contains("secret"), "cancelled: {body}");
}

/// A writer into a shared buffer, for reading back what `tracing` logged.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_real_loki_config_starts_with_one_warning_per_ignored_key() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/loki-local-config.yaml"
    );
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let cli = tracing::subscriber::with_default(subscriber, || {
        loki::server::Config::from_args([format!("-config.file={fixture}")])
    })
    .unwrap();
    let config = cli.config;
    assert_eq!(config.server.http_listen_port, 3111);
    assert_eq!(config.server.log_level, "warn");
    assert_eq!(config.limits_config.max_line_size.0, 512 << 10);
    let store = config.store_config().unwrap();
    assert_eq!(store.storage_url.path(), "/tmp/loki-fixture/chunks/");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for key in [
        "server.grpc_listen_port",
        "server.grpc_server_max_concurrent_streams",
        "common.instance_addr",
        "common.replication_factor",
        "common.ring",
        "common.storage.filesystem.rules_directory",
        "query_range",
        "limits_config.metric_aggregation_enabled",
        "limits_config.allow_structured_metadata",
        "schema_config",
        "pattern_ingester",
        "ruler",
        "frontend",
        "memberlist",
        "compactor.retention_delete_delay",
    ] {
        let warnings = logs
            .lines()
            .filter(|l| l.contains("WARN") && l.trim_end().ends_with(&format!("key={key}")))
            .count();
        assert_eq!(warnings, 1, "one warning for {key}:\n{logs}");
    }
    assert_eq!(logs.lines().count(), 15, "{logs}");

    // A typo is still an error naming the key and the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("http_listen_port: 3111", "http_listen_prot: 3111");
    std::fs::write(&path, text).unwrap();
    let err = loki::server::Config::from_args([format!("-config.file={}", path.display())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("http_listen_prot"), "{err}");
    assert!(err.contains("typo.yaml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_loop_uploads_early_to_stay_under_ingester_max_memory() {
    let dir = tempfile::tempdir().unwrap();
    // A flush check only at start: whatever is uploaded later, the loop
    // uploaded because memory went over `ingester.max_memory`.
    let config = loki::server::Config::from_args([
        format!("-storage.dir={}", dir.path().display()),
        "-ingester.max-memory=256KB".to_owned(),
        "-ingester.flush-check-period=1h".to_owned(),
    ])
    .unwrap()
    .config;
    let store = Store::open(config.store_config().unwrap()).await.unwrap();
    let state = AppState::with_config(store.clone(), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(loki::server::run_maintenance(state.clone(), async {
        let _ = stopped.await;
    }));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    for round in 0..8 {
        let streams: Vec<serde_json::Value> = (0..8)
            .map(|s| {
                let values: Vec<[String; 2]> = (0..64)
                    .map(|i| {
                        let ts = now - 60_000_000_000 + (round * 64 + i) * 1_000_000;
                        [
                            ts.to_string(),
                            format!(
                                "round {round} stream {s} line {i} {}",
                                "x".repeat(1000 + i as usize)
                            ),
                        ]
                    })
                    .collect();
                serde_json::json!({"stream": {"app": format!("app-{s}")}, "values": values})
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "streams": streams })).unwrap();
        let (status, text) = send(&state, push("application/json", None, None, body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    }
    let mut uploaded = 0;
    for _ in 0..200 {
        uploaded = store.flushed_totals().chunks;
        if uploaded > 0 && store.memory_bytes() <= 512 << 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        uploaded > 0,
        "no chunk uploaded while memory was over the bound"
    );
    assert!(
        store.memory_bytes() <= 512 << 10,
        "{} bytes held",
        store.memory_bytes()
    );
    let (_, metrics) = send(&state, get("/metrics", None)).await;
    let flushed: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("loki_ingester_chunks_flushed_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no flushed chunks counter in\n{metrics}"));
    assert!(flushed >= uploaded, "{metrics}");
    let _ = stop.send(());
    maintenance.await.unwrap();
}
