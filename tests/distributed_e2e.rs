//! Distributed mode as separate processes: etcd for the ring, an
//! S3-compatible server for the shared object store, one distributor,
//! three ingesters (RF 3) and one querier, all on 127.0.0.1. `loadgen`
//! pushes continuously through the distributor; one ingester is killed
//! with SIGKILL (pushes keep succeeding, queries stay complete) and
//! restarted (it rejoins through etcd and replays its WAL); at the end
//! every acknowledged entry is queryable exactly once.
//!
//! Runs when `LOKI_TEST_ETCD_ENDPOINTS` (e.g. `127.0.0.1:2379`) and
//! `LOKI_TEST_S3_ENDPOINT` (e.g. `http://127.0.0.1:5055`, bucket
//! `LOKI_TEST_S3_BUCKET`, default `loki-test`) are set, as `.ci/run` does;
//! it builds the examples with the `etcd` and `s3` features.

#![cfg(feature = "server")]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http, read_ack_log, read_stream};

/// How long loadgen pushes.
const PUSH_SECONDS: u64 = 14;

/// A child process, killed (SIGKILL) when dropped.
struct Process {
    child: Child,
    port: u16,
    name: String,
}

impl Process {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `server` and `loadgen` examples built with `etcd` and `s3`.
fn binaries() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
    let target_dir = profile_dir.parent().unwrap().to_owned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--features", "etcd,s3"])
        .args(["--example", "server", "--example", "loadgen"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "building the examples failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let examples = profile_dir.join("examples");
    (examples.join("server"), examples.join("loadgen"))
}

struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    etcd: String,
    ring_key: String,
}

impl Cluster {
    /// Starts `target` as `name` on `port` and waits until `/ready`.
    fn start(&self, target: &str, name: &str, port: u16) -> Process {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(&self.bin)
            .arg(format!("-target={target}"))
            .arg(format!(
                "-config.file={}",
                self.dir.join("loki.yaml").display()
            ))
            .arg(format!("-server.http-listen-port={port}"))
            .arg(format!("-storage.dir={}", self.dir.join(name).display()))
            .arg(format!("-ingester.lifecycler.id={name}"))
            .arg("-ring.store=etcd")
            .arg(format!("-ring.etcd.endpoints={}", self.etcd))
            .arg(format!("-ring.prefix={}", self.ring_key))
            .arg("-ring.heartbeat-period=1s")
            // The kill is under test here, not the ingesters' rate limits.
            .arg("-distributor.ingestion-rate-limit-mb=1000")
            .arg("-distributor.ingestion-burst-size-mb=1000")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the server starts");
        let mut process = Process {
            child,
            port,
            name: name.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(port, "GET", "/ready", &[], b"") {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join(format!("{name}.log")));
                panic!("{name} exited with {status}:\n{}", log.unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "{name} never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The ring's instances as the distributor sees them: (id, state).
fn ring(port: u16) -> Vec<(String, String)> {
    let (status, body) = http(port, "GET", "/ring?format=json", &[], b"").expect("/ring");
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    value["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every acknowledged entry is stored exactly once. Returns how many.
fn check_acknowledged(querier: u16, ack_log: &Path) -> usize {
    let (streams, acked) = read_ack_log(ack_log);
    let mut total = 0;
    for (id, entries) in &acked {
        let selector = &streams[id];
        let start = entries.iter().map(|e| e.0).min().unwrap();
        let end = entries.iter().map(|e| e.0).max().unwrap();
        let stored = read_stream(querier, selector, start, end);
        let mut seen = HashSet::new();
        for entry in &stored {
            assert!(seen.insert(*entry), "{selector}: {entry:?} returned twice");
        }
        for entry in entries {
            assert!(
                seen.contains(entry),
                "{selector}: acknowledged entry {entry:?} is missing ({} stored, {} acknowledged)",
                stored.len(),
                entries.len()
            );
        }
        total += entries.len();
    }
    total
}

#[test]
fn five_processes_on_etcd_and_s3_survive_a_killed_ingester() {
    let (Ok(etcd), Ok(s3)) = (
        std::env::var("LOKI_TEST_ETCD_ENDPOINTS"),
        std::env::var("LOKI_TEST_S3_ENDPOINT"),
    ) else {
        eprintln!(
            "skipped: set LOKI_TEST_ETCD_ENDPOINTS and LOKI_TEST_S3_ENDPOINT (as .ci/run does) to run the multi-process test"
        );
        return;
    };
    let bucket = std::env::var("LOKI_TEST_S3_BUCKET").unwrap_or_else(|_| "loki-test".to_owned());
    let (bin, loadgen_bin) = binaries();
    let dir = tempfile::tempdir().unwrap();
    let run = format!("{:x}", fastrand::u64(..));
    std::fs::write(
        dir.path().join("loki.yaml"),
        format!(
            "storage:\n  url: s3://{bucket}/distributed-{run}\n  options:\n    aws_endpoint: {s3}\n    aws_allow_http: \"true\"\n    aws_access_key_id: test\n    aws_secret_access_key: test\n    aws_region: us-east-1\n"
        ),
    )
    .unwrap();
    let cluster = Cluster {
        bin,
        dir: dir.path().to_owned(),
        etcd,
        ring_key: format!("ring-{run}"),
    };

    let mut ingesters: Vec<Process> = (1..=3)
        .map(|n| cluster.start("ingester", &format!("ingester-{n}"), free_port()))
        .collect();
    let distributor = cluster.start("distributor", "distributor", free_port());
    let querier = cluster.start("querier", "querier", free_port());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ring(distributor.port)
        .iter()
        .filter(|(_, state)| state == "ACTIVE")
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "the ingesters never all joined the ring"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let ack_log = dir.path().join("acks.tsv");
    let loadgen = Command::new(&loadgen_bin)
        .args(["--url", &format!("http://127.0.0.1:{}", distributor.port)])
        .args([
            "--connections",
            "2",
            "--batch-bytes",
            "16KiB",
            "--streams",
            "12",
        ])
        .args([
            "--duration",
            &format!("{PUSH_SECONDS}s"),
            "--max-retries",
            "200",
        ])
        .arg("--ack-log")
        .arg(&ack_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("loadgen starts");
    let mut loadgen = Process {
        child: loadgen,
        port: 0,
        name: "loadgen".to_owned(),
    };

    // Kill one ingester mid-push.
    std::thread::sleep(Duration::from_secs(4));
    let mut dead = ingesters.remove(1);
    dead.kill();
    let acked_at_kill = read_ack_log(&ack_log)
        .1
        .values()
        .map(Vec::len)
        .sum::<usize>();
    std::thread::sleep(Duration::from_secs(3));
    let acked_later = read_ack_log(&ack_log)
        .1
        .values()
        .map(Vec::len)
        .sum::<usize>();
    assert!(
        acked_later > acked_at_kill,
        "pushes stopped succeeding after {} died ({acked_at_kill} acknowledged)",
        dead.name
    );
    // Queries are complete while it is down.
    let checked = check_acknowledged(querier.port, &ack_log);
    assert!(checked >= acked_later, "{checked} < {acked_later}");

    // Restart it on its data directory: it rejoins through etcd.
    let name = dead.name.clone();
    drop(dead);
    let restarted = cluster.start("ingester", &name, free_port());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ring(distributor.port)
        .iter()
        .any(|(id, state)| *id == name && state == "ACTIVE")
    {
        assert!(Instant::now() < deadline, "{name} never rejoined");
        std::thread::sleep(Duration::from_millis(100));
    }
    let replayed = std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
    assert!(
        replayed.contains("distributed component started"),
        "{replayed}"
    );
    ingesters.push(restarted);

    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = loadgen.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "loadgen did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut report = String::new();
    if let Some(mut out) = loadgen.child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut report).unwrap();
    }
    eprintln!("{report}");
    assert!(status.success(), "loadgen failed: {report}");

    let total = check_acknowledged(querier.port, &ack_log);
    assert!(total > 1000, "too little was acknowledged: {total}");
    eprintln!("{total} acknowledged entries, each queryable exactly once");
    drop((distributor, querier, ingesters));
}
