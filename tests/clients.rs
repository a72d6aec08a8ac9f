//! Independent Loki clients push to the server over a real socket and the
//! lines are queried back: the `tracing-loki` crate (protobuf + snappy,
//! its own prost messages and encoder) and, when installed, the Python
//! `python-logging-loki` handler (JSON). `.ci/run` installs the Python
//! package and sets `LOKI_TEST_PYTHON_CLIENT=1`, which makes its absence a
//! failure instead of a skipped check.

#![cfg(feature = "server")]

mod common;

use loki::server::{serve, AppState};
use loki::store::{Store, StoreConfig};
use tracing_subscriber::layer::SubscriberExt;

/// Serves an in-memory store on 127.0.0.1 (a free port): returns the port
/// and a sender that stops the server.
async fn start(auth: bool) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let store = Store::open(StoreConfig::in_memory()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, AppState::new(store, auth), async {
        let _ = stopped.await;
    }));
    (port, stop)
}

/// `query_range` over the last hour: each stream's labels and lines.
async fn query(
    port: u16,
    tenant: Option<&str>,
    query: &str,
) -> Vec<(serde_json::Value, Vec<String>)> {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit=1000&direction=forward",
        common::url_encode(query),
        end - 3_600_000_000_000,
        end + 60_000_000_000
    );
    let tenant = tenant.map(str::to_owned);
    let (status, body) = tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = tenant
            .as_deref()
            .map(|t| vec![("X-Scope-OrgID", t)])
            .unwrap_or_default();
        common::http(port, "GET", &path, &headers, b"")
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| {
            let lines = stream["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| pair[1].as_str().unwrap().to_owned())
                .collect();
            (stream["stream"].clone(), lines)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_loki_pushes_protobuf_to_its_tenant() {
    let (port, stop) = start(true).await;
    let (layer, controller, task) = tracing_loki::builder()
        .label("app", "clients-test")
        .unwrap()
        .extra_field("run", "tracing")
        .unwrap()
        .http_header("X-Scope-OrgID", "team-a")
        .unwrap()
        .build_controller_url(
            tracing_loki::url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        )
        .unwrap();
    let sender = tokio::spawn(task);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..25 {
            tracing::warn!(order = i, "order {i} delayed");
        }
        tracing::info!("all orders seen");
    });
    controller.shutdown().await;
    sender.await.unwrap();

    let streams = query(port, Some("team-a"), r#"{app="clients-test"}"#).await;
    assert_eq!(streams.len(), 2, "one stream per level: {streams:?}");
    let warn = streams
        .iter()
        .find(|(labels, _)| labels["level"] == "warn")
        .expect("the warn stream");
    assert_eq!(warn.0["service_name"], "clients-test");
    assert_eq!(warn.1.len(), 25);
    for (i, line) in warn.1.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["message"], format!("order {i} delayed"), "{line}");
        assert_eq!(event["run"], "tracing");
    }
    let filtered = query(
        port,
        Some("team-a"),
        r#"{app="clients-test"} | json | order >= 20"#,
    )
    .await;
    assert_eq!(filtered.iter().map(|(_, l)| l.len()).sum::<usize>(), 5);
    // Another tenant sees nothing.
    assert!(query(port, Some("team-b"), r#"{app="clients-test"}"#)
        .await
        .is_empty());
    let _ = stop.send(());
}

const PYTHON_CLIENT: &str = r#"
import logging, sys
import logging_loki

handler = logging_loki.LokiHandler(
    url=sys.argv[1], tags={"app": "py-clients-test"}, version="1"
)
logger = logging.getLogger("orders")
logger.setLevel(logging.INFO)
logger.addHandler(handler)

def fail(record):
    # Raise instead of printing when the server refuses a push.
    raise RuntimeError("push failed")

handler.handleError = fail
for i in range(30):
    logger.warning("python order %d", i, extra={"tags": {"shop": "eu"}})
logger.error("python done")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_logging_loki_pushes_json() {
    let required = std::env::var("LOKI_TEST_PYTHON_CLIENT").is_ok_and(|v| v == "1");
    let installed = std::process::Command::new("python3")
        .args(["-c", "import logging_loki"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            !required,
            "LOKI_TEST_PYTHON_CLIENT=1 but python3 cannot import logging_loki \
             (pip install python-logging-loki)"
        );
        eprintln!("python-logging-loki is not installed: skipped (.ci/run installs it)");
        return;
    }
    let (port, stop) = start(false).await;
    let url = format!("http://127.0.0.1:{port}/loki/api/v1/push");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", PYTHON_CLIENT, &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let streams = query(port, None, r#"{app="py-clients-test"}"#).await;
    let warnings = streams
        .iter()
        .find(|(labels, _)| labels["severity"] == "warning")
        .unwrap_or_else(|| panic!("a warning stream: {streams:?}"));
    assert_eq!(warnings.0["shop"], "eu");
    assert_eq!(warnings.0["logger"], "orders");
    let expected: Vec<String> = (0..30).map(|i| format!("python order {i}")).collect();
    assert_eq!(warnings.1, expected);
    let errors = query(port, None, r#"{app="py-clients-test", severity="error"}"#).await;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].1, vec!["python done".to_owned()]);
    let _ = stop.send(());
}
