//! Push body decoding, as the server's push handler runs it: a ~1 MiB
//! protobuf + snappy body (the corpus's lines over 20 streams, 16 lines
//! per stream in turn, as `loadgen` and agents batch them) decoded into
//! the store's push streams, against snappy decompression of the same body
//! alone. Throughput in raw line bytes.
//!
//! Groups: `push/decode` (the whole decode: snappy, protobuf, label
//! parsing, UTF-8 checks), `push/snappy` (raw snappy decompression only).
//! A summary then prints both in MB of lines per CPU-second and their
//! ratio, measured in one run.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::cpu_seconds;
use criterion::{criterion_group, Criterion, Throughput};
use loki::corpus::Corpus;
use loki::server::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};

/// A body of at least 1 MiB of lines and the line bytes it carries.
fn body() -> (bytes::Bytes, usize) {
    let mut corpus = Corpus::new(11);
    let streams: Vec<StreamAdapter> = corpus
        .streams(20)
        .iter()
        .map(|s| StreamAdapter {
            labels: s.label_string(),
            entries: Vec::new(),
            hash: 0,
        })
        .collect();
    let mut request = PushRequest { streams };
    let mut bytes = 0;
    let mut turn = 0;
    while bytes < 1 << 20 {
        let stream = &mut request.streams[turn % 20];
        for _ in 0..16 {
            let (ts, line) = corpus.next_entry();
            bytes += line.len();
            stream.entries.push(EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(ts)),
                line,
                structured_metadata: Vec::new(),
            });
        }
        turn += 1;
    }
    (request.encode_snappy().into(), bytes)
}

fn decode(body: &bytes::Bytes) -> usize {
    let streams = loki::server::decode_push("application/x-protobuf", "", body.clone())
        .expect("the body decodes");
    streams.iter().map(|s| s.entries.len()).sum()
}

fn snappy(body: &[u8], out: &mut [u8]) -> usize {
    snap::raw::Decoder::new()
        .decompress(body, out)
        .expect("the body decompresses")
}

fn benches(c: &mut Criterion) {
    let (body, bytes) = body();
    let mut out = vec![0; snap::raw::decompress_len(&body).unwrap()];
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("decode", |b| b.iter(|| black_box(decode(&body))));
    group.bench_function("snappy", |b| b.iter(|| black_box(snappy(&body, &mut out))));
    group.finish();
}

/// Decode and snappy alone, interleaved in rounds so both see the same
/// machine: MB of lines per CPU-second of each, and their ratio.
fn summary() {
    let (body, bytes) = body();
    let mut out = vec![0; snap::raw::decompress_len(&body).unwrap()];
    let (mut decode_cpu, mut snappy_cpu) = (0.0, 0.0);
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        let t = cpu_seconds();
        black_box(decode(&body));
        decode_cpu += cpu_seconds() - t;
        let t = cpu_seconds();
        black_box(snappy(&body, &mut out));
        snappy_cpu += cpu_seconds() - t;
    }
    let mb = (bytes * rounds) as f64 / 1e6;
    println!(
        "\npush decode summary: {:.2} MB of lines in a {:.2} MB body, {rounds} rounds in {:.1} s",
        bytes as f64 / 1e6,
        body.len() as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    println!(
        "decode: {:.0} MB of lines per CPU-second; snappy alone: {:.0}; decode = {:.2}x snappy's time",
        mb / decode_cpu,
        mb / snappy_cpu,
        decode_cpu / snappy_cpu
    );
}

criterion_group! {
    name = push;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = benches
}

fn main() {
    let summaries = !std::env::args().any(|a| a == "--test" || a == "--list");
    push();
    if summaries {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
