//! Inspects chunk files: bare chunks and the stored chunk objects Loki's
//! object store (or this workspace's) writes, told apart automatically.
//!
//! ```text
//! cargo run --release --example chunks-inspect -- [--entries] FILE...
//! ```
//!
//! For each file: the object key and metadata (tenant, labels, time span,
//! checksum check) when it is a stored object, then the format version,
//! codec, every block (entries, time range, sizes) and the compression
//! ratio. With `--entries`, every entry is printed to standard output as
//! one JSON object per line, `{"ts":"<ns>","line":"…","metadata":{…}}`,
//! and the summary goes to standard error, so the output can be piped.
//!
//! A file in a Loki filesystem store (`<dir>/<tenant>/<fp>/<base64 name>`)
//! has its checksum and metadata checked against the key its path encodes.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use loki::chunk::{Chunk, ChunkKey, ChunkObject, Direction};

fn main() -> ExitCode {
    let mut print_entries = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--entries" | "-e" => print_entries = true,
            "--help" | "-h" => {
                println!("usage: chunks-inspect [--entries] FILE...");
                return ExitCode::SUCCESS;
            }
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        eprintln!("usage: chunks-inspect [--entries] FILE...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for file in &files {
        if let Err(err) = inspect(file, print_entries) {
            eprintln!("{file}: error: {err}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn time(ns: i64) -> String {
    if ns < 0 {
        return format!("{ns} ns");
    }
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(ns as u64)).to_string()
}

fn inspect(path: &str, print_entries: bool) -> Result<(), Box<dyn std::error::Error>> {
    let data = Bytes::from(std::fs::read(path)?);
    // The summary goes where the entries do not.
    let mut out: Box<dyn Write> = if print_entries {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    writeln!(out, "file: {path} ({} bytes)", data.len())?;
    let chunk = if ChunkObject::looks_like_object(&data) {
        let object = match ChunkKey::from_filesystem_path(path) {
            Ok(key) => {
                let object = ChunkObject::decode_checked(data, &key)?;
                writeln!(out, "key: {key} (checksum and metadata verified)")?;
                object
            }
            Err(_) => {
                let object = ChunkObject::decode(data)?;
                writeln!(
                    out,
                    "key: {} (path is not a chunk key: checksum not verified)",
                    object.key()
                )?;
                object
            }
        };
        let meta = object.meta();
        let labels: Vec<String> = meta
            .labels
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        writeln!(out, "tenant: {}", meta.tenant)?;
        writeln!(out, "labels: {{{}}}", labels.join(", "))?;
        writeln!(out, "fingerprint: {:016x}", meta.fingerprint)?;
        writeln!(
            out,
            "from: {} ({} ms)",
            time(meta.from_ms * 1_000_000),
            meta.from_ms
        )?;
        writeln!(
            out,
            "through: {} ({} ms)",
            time(meta.through_ms * 1_000_000),
            meta.through_ms
        )?;
        object.into_chunk()
    } else {
        Chunk::open(data)?
    };
    let stats = chunk.stats();
    writeln!(out, "format version: {}", chunk.version().byte())?;
    writeln!(
        out,
        "codec: {} (byte {})",
        chunk.codec(),
        chunk.codec().byte()
    )?;
    writeln!(out, "blocks: {}", chunk.blocks().len())?;
    for (i, block) in chunk.blocks().iter().enumerate() {
        writeln!(
            out,
            "  block {i}: {} entries, {} .. {}, offset {}, {} bytes compressed, {} uncompressed ({:.2}x)",
            block.entries,
            time(block.min_time),
            time(block.max_time),
            block.offset,
            block.compressed_len,
            block.uncompressed_size,
            block.uncompressed_size as f64 / block.compressed_len.max(1) as f64
        )?;
    }
    writeln!(out, "entries: {}", stats.entries)?;
    if let (Some(min), Some(max)) = (stats.min_time, stats.max_time) {
        writeln!(out, "time range: {} .. {}", time(min), time(max))?;
    }
    writeln!(
        out,
        "size: {} bytes uncompressed, {} compressed, ratio {:.2}x",
        stats.uncompressed_bytes,
        stats.compressed_bytes,
        stats.uncompressed_bytes as f64 / stats.compressed_bytes.max(1) as f64
    )?;
    chunk.verify()?;
    writeln!(out, "verified: every checksum and entry")?;
    drop(out);

    if print_entries {
        let stdout = std::io::stdout();
        let mut stdout = std::io::BufWriter::new(stdout.lock());
        let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
        while let Some(entry) = entries.next()? {
            let metadata: serde_json::Map<String, serde_json::Value> = entry
                .metadata
                .iter()
                .map(|(n, v)| (n.to_owned(), serde_json::Value::from(v)))
                .collect();
            // Field order as documented: ts, line, metadata.
            let line = format!(
                "{{\"ts\":\"{}\",\"line\":{},\"metadata\":{}}}",
                entry.timestamp,
                serde_json::Value::from(String::from_utf8_lossy(entry.line)),
                serde_json::Value::Object(metadata),
            );
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
    }
    Ok(())
}
