//! A Loki-compatible server: `cargo run --release --example server`.
//!
//! With no arguments: storage under `./data` (chunks, index and WAL),
//! listening on 127.0.0.1:3100, authentication off (tenant `fake`), as a
//! single-binary Loki. Flags, Loki-style (`-name=value` or `-name value`):
//!
//! | flag | default |
//! |---|---|
//! | `-server.http-listen-address` | `127.0.0.1` |
//! | `-server.http-listen-port` | `3100` |
//! | `-storage.dir` | `./data` |
//! | `-auth.enabled` | `false` |
//!
//! SIGINT or SIGTERM stops it gracefully, flushing everything in memory.

use std::collections::HashMap;
use std::process::ExitCode;

use loki::server::{serve, AppState};
use loki::store::{Store, StoreConfig};

fn flags() -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        let name = arg.trim_start_matches('-');
        if name.len() == arg.len() {
            return Err(format!("unexpected argument {arg:?}"));
        }
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => match args.peek() {
                Some(v) if !v.starts_with('-') => {
                    (name.to_owned(), args.next().unwrap_or_default())
                }
                _ => (name.to_owned(), "true".to_owned()),
            },
        };
        out.insert(name, value);
    }
    Ok(out)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: flushing everything in memory");
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = match flags() {
        Ok(flags) => flags,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let get = |name: &str, default: &str| {
        flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let address = format!(
        "{}:{}",
        get("server.http-listen-address", "127.0.0.1"),
        get("server.http-listen-port", "3100")
    );
    let data_dir = get("storage.dir", "./data");
    let auth_enabled = get("auth.enabled", "false") == "true";

    let store = match Store::open(StoreConfig::filesystem(&data_dir)).await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("cannot open the store in {data_dir}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("cannot listen on {address}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (stop_maintenance, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(store.clone().run_maintenance(async {
        let _ = stopped.await;
    }));
    tracing::info!(%address, %data_dir, auth_enabled, "listening");
    let served = serve(
        listener,
        AppState::new(store, auth_enabled),
        shutdown_signal(),
    )
    .await;
    let _ = stop_maintenance.send(());
    let _ = maintenance.await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("server error: {err}");
            ExitCode::FAILURE
        }
    }
}
