//! The conformance suite against every backend: memory and the local
//! filesystem always; S3 when `LOKI_TEST_S3_ENDPOINT` names an
//! S3-compatible server (CI starts one) and the `s3` feature is on.

use std::sync::Arc;

use loki_store::{integration, StoreConfig};

#[tokio::test]
async fn memory() {
    let shared: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    integration::run_all(|| {
        let mut config = StoreConfig::in_memory();
        config.object_store = Some(shared.clone());
        config
    })
    .await;
}

#[tokio::test]
async fn local_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    integration::run_all(|| StoreConfig::filesystem(dir.path())).await;
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3() {
    let Ok(endpoint) = std::env::var("LOKI_TEST_S3_ENDPOINT") else {
        eprintln!("LOKI_TEST_S3_ENDPOINT is not set: S3 conformance not run");
        return;
    };
    let bucket = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".into());
    let prefix = format!("run-{}", std::process::id());
    integration::run_all(|| {
        let url = url::Url::parse(&format!("s3://{bucket}/{prefix}")).unwrap();
        let mut config = StoreConfig::new(url);
        config.storage_options = vec![
            ("aws_endpoint".into(), endpoint.clone()),
            ("aws_allow_http".into(), "true".into()),
            ("aws_access_key_id".into(), "test".into()),
            ("aws_secret_access_key".into(), "test".into()),
            ("aws_region".into(), "us-east-1".into()),
        ];
        config
    })
    .await;
}
