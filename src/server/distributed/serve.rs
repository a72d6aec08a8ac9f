//! Serving a router on a listener over HTTP/1.1 and cleartext HTTP/2
//! (h2c with prior knowledge) on the same port, with the connections owned
//! by one task: a graceful stop drains them, an abrupt one drops them all
//! at once (what a crash looks like to peers).

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// How long a graceful stop waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// A running server.
#[derive(Debug)]
pub(crate) struct Server {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `router` on `listener` from a new task.
    pub(crate) fn spawn(listener: TcpListener, router: Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, router, stopped));
        Server {
            stop: Some(stop),
            task,
        }
    }

    /// Stops accepting, lets requests in flight finish (up to 5s), then
    /// closes every connection.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Closes the listener and every connection now.
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

async fn run(listener: TcpListener, router: Router, mut stopped: oneshot::Receiver<()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: try again soon.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let builder = Builder::new(TokioExecutor::new());
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let watched = graceful.watch(connection);
                connections.spawn(async move {
                    let _ = watched.await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    connections.abort_all();
}
