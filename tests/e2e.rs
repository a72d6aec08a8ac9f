//! End to end: the server binary under `loadgen`, killed with SIGKILL at
//! random moments and restarted on the same data directory; afterwards
//! every entry the server acknowledged must be queryable exactly once.
//!
//! The test builds the `server` and `loadgen` examples with cargo (a no-op
//! when `cargo test` has just built them) and talks plain HTTP/1.0 to the
//! server, so nothing here shares code with the server's decoder.

#![cfg(feature = "server")]

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{examples, free_port, read_ack_log, read_stream, Server};

/// Pushing lasts this long; the kills happen within it.
const PUSH_SECONDS: u64 = 16;
/// SIGKILLs during the push.
const KILLS: usize = 3;

struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let (server_bin, loadgen_bin) = examples();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start(&server_bin, port, data.path(), false);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);

    let ack_log = data.path().join("acks.tsv");
    let loadgen = Command::new(&loadgen_bin)
        .args([
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--connections",
            "3",
            "--batch-bytes",
            "24KiB",
            "--streams",
            "24",
            "--duration",
            &format!("{PUSH_SECONDS}s"),
            "--max-retries",
            "200",
            "--ack-log",
        ])
        .arg(&ack_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("loadgen starts");
    let mut loadgen = Reaper(loadgen);

    let started = Instant::now();
    let mut moments: Vec<u64> = (0..KILLS)
        .map(|_| rng.u64(1_000..(PUSH_SECONDS - 2) * 1000))
        .collect();
    moments.sort();
    let mut kills = 0;
    for moment in moments {
        let at = Duration::from_millis(moment);
        if let Some(wait) = at.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        // On a slow machine restarts may eat the schedule: kill only
        // while loadgen is still pushing.
        if loadgen.0.try_wait().unwrap().is_some() {
            break;
        }
        server.kill();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.u64(50..500)));
        server = Server::start(&server_bin, port, data.path(), false);
    }
    assert!(kills > 0, "loadgen ended before the first kill");

    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = loadgen.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "loadgen did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut report = String::new();
    if let Some(mut out) = loadgen.0.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut report).unwrap();
    }
    eprintln!("{report}");
    assert!(status.success(), "loadgen failed: {report}");

    // One more crash after the last acknowledgement: nothing may depend on
    // a graceful stop.
    server.kill();
    server = Server::start(&server_bin, port, data.path(), false);

    let (streams, acked) = read_ack_log(&ack_log);
    let acked_total: usize = acked.values().map(Vec::len).sum();
    assert!(
        acked_total > 1000,
        "too little was acknowledged: {acked_total}"
    );
    let mut unacknowledged_but_stored = 0usize;
    for (id, entries) in &acked {
        let selector = &streams[id];
        let start = entries.iter().map(|e| e.0).min().unwrap();
        let end = entries.iter().map(|e| e.0).max().unwrap();
        let stored = read_stream(port, selector, start, end);
        let mut seen = HashSet::new();
        for entry in &stored {
            assert!(seen.insert(*entry), "{selector}: {entry:?} stored twice");
        }
        for entry in entries {
            assert!(
                seen.contains(entry),
                "{selector}: acknowledged entry {entry:?} is lost ({} stored, {} acknowledged)",
                stored.len(),
                entries.len()
            );
        }
        unacknowledged_but_stored += stored.len() - entries.len();
    }
    eprintln!(
        "{acked_total} acknowledged entries in {} streams all stored once; {unacknowledged_but_stored} more stored without an acknowledgement",
        acked.len()
    );
    drop(server);
}
