//! Shared by the tests that run the server binary: building the examples,
//! starting and killing the server, and a minimal HTTP/1.0 client (so the
//! tests share no HTTP code with what they test).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The newest modification time under `path` (files and directories).
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut time = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Some(t) = newest(&entry.path()) {
                time = time.max(t);
            }
        }
    }
    Some(time)
}

/// The `server` and `loadgen` example binaries of this build profile.
/// `cargo test --workspace` has just built them; otherwise (a single
/// `--test`, or sources newer than the binaries) they are built with cargo
/// first.
pub(crate) fn examples() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("target/<profile>").to_owned();
    let examples = profile_dir.join("examples");
    let binaries = (examples.join("server"), examples.join("loadgen"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "examples",
        "loki-chunk/src",
        "loki-index/src",
        "loki-logql/src",
        "loki-ring/src",
        "loki-store/src",
    ]
    .iter()
    .filter_map(|p| newest(&root.join(p)))
    .max();
    let built = [&binaries.0, &binaries.1]
        .iter()
        .map(|b| std::fs::metadata(b).and_then(|m| m.modified()).ok())
        .min()
        .flatten();
    if matches!((built, sources), (Some(b), Some(s)) if b >= s) {
        return binaries;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--quiet",
            "--example",
            "server",
            "--example",
            "loadgen",
        ])
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
    binaries
}

/// A port free on 127.0.0.1 a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Percent-encodes a query parameter value.
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP/1.0 request to 127.0.0.1:`port` (the server answers without
/// chunking and closes): the status and the body.
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    Ok((status, body.to_owned()))
}

/// A running server binary; killed (SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    /// Starts `bin` on `port` with storage in `dir/data` (its log appended
    /// to `dir/server.log`) and waits until `/ready` answers.
    pub(crate) fn start(bin: &Path, port: u16, dir: &Path, auth: bool) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("the server log");
        let mut command = Command::new(bin);
        command
            .arg(format!("-server.http-listen-port={port}"))
            .arg(format!("-storage.dir={}", dir.join("data").display()))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the server log"))
            .stderr(log);
        if auth {
            command.arg("-auth.enabled=true");
        }
        let child = command.spawn().expect("the server starts");
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(port, "GET", "/ready", &[], b"") {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                panic!("the server exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "the server never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and reaps it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Acknowledged entries per stream id: (timestamp, xxh64 of the line).
pub(crate) type Acked = HashMap<u64, Vec<(i64, u64)>>;

/// `loadgen`'s ack log: streams by id (their labels) and the acknowledged
/// entries per stream. A missing log is empty, and a last line still being
/// written (no newline yet) is left for the next read; any other line that
/// does not parse fails the test.
pub(crate) fn read_ack_log(path: &Path) -> (HashMap<u64, String>, Acked) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut streams = HashMap::new();
    let mut entries: Acked = HashMap::new();
    for line in complete.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["S", id, _tenant, labels] => {
                streams.insert(id.parse().unwrap(), (*labels).to_owned());
            }
            ["E", id, ts, hash] => entries
                .entry(id.parse().unwrap())
                .or_default()
                .push((ts.parse().unwrap(), u64::from_str_radix(hash, 16).unwrap())),
            _ => panic!("unexpected ack log line {line:?}"),
        }
    }
    (streams, entries)
}

/// Every entry of the stream `selector` between `start` and `end`
/// (inclusive) on the server at `port`, as (timestamp, xxh64 of the line),
/// paging forward through `query_range`.
pub(crate) fn read_stream(port: u16, selector: &str, start: i64, end: i64) -> Vec<(i64, u64)> {
    let mut out = Vec::new();
    let mut from = start;
    loop {
        let path = format!(
            "/loki/api/v1/query_range?query={}&start={from}&end={}&limit=5000&direction=forward",
            url_encode(selector),
            end + 1
        );
        let (status, body) = http(port, "GET", &path, &[], b"").expect("query_range");
        assert_eq!(status, 200, "query_range {selector}: {body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["data"]["resultType"], "streams", "{body}");
        let mut page = Vec::new();
        for stream in value["data"]["result"].as_array().unwrap() {
            for pair in stream["values"].as_array().unwrap() {
                let ts: i64 = pair[0].as_str().unwrap().parse().unwrap();
                let line = pair[1].as_str().unwrap();
                page.push((ts, xxhash_rust::xxh64::xxh64(line.as_bytes(), 0)));
            }
        }
        page.sort();
        let full = page.len() >= 5000;
        let last = page.last().map(|(ts, _)| *ts);
        out.extend(page);
        match last {
            Some(ts) if full => from = ts + 1,
            _ => break,
        }
    }
    out
}
