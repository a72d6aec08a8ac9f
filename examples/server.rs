//! A Loki-compatible server: `cargo run --release --example server`.
//!
//! With no arguments: storage under `./data` (chunks, index and WAL),
//! listening on 127.0.0.1:3100, authentication off (tenant `fake`), as a
//! single-binary Loki. `-config.file=loki.yaml` reads a YAML configuration
//! with Loki's names; flags such as `-server.http-listen-port=3200`,
//! `-storage.dir=/srv/loki` or `-auth.enabled` override it, and
//! `-print-config` prints the effective configuration and exits. The
//! README's "Configuration" section lists every key and flag.
//!
//! SIGINT or SIGTERM stops it gracefully, flushing everything in memory.
//!
//! The process keeps the system allocator (glibc malloc), with its arenas
//! capped at the number of cores (`MALLOC_ARENA_MAX` overrides it): with
//! `mimalloc` as the global allocator, `.ci/bench-server 2GB 4` measured
//! twice the peak RSS (about 770 MB against 360 MB) and no less CPU per
//! GB, since the push path no longer allocates per line (the README's
//! benchmark section has the figures).
//!
//! `-target=distributor|ingester|querier` runs one component of
//! distributed mode instead, finding the others through the ring
//! (`-ring.store=etcd -ring.etcd.endpoints=…`, needs the `etcd` feature);
//! the README's "Distributed mode" section shows a five-process setup.

use std::process::ExitCode;

use loki::server::{run_distributed, run_maintenance, serve, AppState, Config, Target};
use loki::store::Store;

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

fn main() -> ExitCode {
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Caps glibc's malloc arenas at the number of cores unless
/// `MALLOC_ARENA_MAX` already says how many: glibc reads it only as the
/// process starts, so the server runs itself again with it set (same
/// process ID, same arguments). glibc gives threads up to eight arenas per
/// core, and the store's blocking I/O threads each took one; memory freed
/// in one arena is not reused by another. `.ci/bench-server 2GB 4` peaked
/// at 379 MB without the cap and at 358 and 370 MB with it; with
/// structured metadata on every entry, 552 MB without and 446 and 515 MB
/// with it, at no measurable CPU cost.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        use std::os::unix::process::CommandExt;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if let Ok(program) = std::env::current_exe() {
            let err = std::process::Command::new(program)
                .args(std::env::args_os().skip(1))
                .env("MALLOC_ARENA_MAX", cores.to_string())
                .exec();
            // Only reached when the exec failed: run without the cap.
            eprintln!("cannot restart with MALLOC_ARENA_MAX set: {err}");
        }
    }
}

async fn run() -> ExitCode {
    // The configuration's own warnings (Loki keys it ignores) come before
    // `server.log_level` is known: they go to stderr at warn level.
    let parse_logger = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let parsed = tracing::subscriber::with_default(parse_logger, || {
        Config::from_args(std::env::args().skip(1))
    });
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let config = cli.config;
    if cli.print_config {
        print!("{}", config.effective().to_yaml());
        return ExitCode::SUCCESS;
    }
    // `RUST_LOG` wins over `server.log_level`, for debugging one module.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| config.server.log_level.to_ascii_lowercase().into()),
        )
        .init();

    if config.target != Target::All {
        let target = config.target;
        return match run_distributed(config, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{target:?}: {err}");
                ExitCode::FAILURE
            }
        };
    }

    let address = config.listen_address();
    let store_config = match config.store_config() {
        Ok(store_config) => store_config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let storage = store_config.storage_url.to_string();
    let store = match Store::open(store_config).await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("cannot open the store at {storage}: {err}");
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
    let auth_enabled = config.auth_enabled;
    let state = AppState::with_config(store, config);
    let (stop_maintenance, stopped) = tokio::sync::oneshot::channel::<()>();
    let maintenance = tokio::spawn(run_maintenance(state.clone(), async {
        let _ = stopped.await;
    }));
    tracing::info!(%address, %storage, auth_enabled, "listening");
    let served = serve(listener, state, shutdown_signal()).await;
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
