//! Chunk benchmarks on the generated corpus, throughput in uncompressed
//! block bytes (the decompressed block payloads) so every group of a codec
//! is comparable.
//!
//! Groups: `chunk/append/<codec>` (append with block cuts), `chunk/encode/<codec>`
//! (append, close and lay out the chunk), `chunk/iterate/<codec>` (open,
//! decompress and walk every entry), `chunk/raw_decompress/<codec>` and
//! `chunk/raw_compress/<codec>` (the codec alone on the same block bytes).
//!
//! After the criterion groups, a summary measures the target ratios in one
//! interleaved run: iterate vs raw decompression, append vs raw compression.

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, Criterion, Throughput};
use loki::chunk::{Chunk, ChunkBuilder, ChunkOptions, Codec, Direction};
use loki::corpus::Corpus;

/// About 8 MiB of mixed lines.
fn corpus() -> Vec<(i64, String)> {
    let mut corpus = Corpus::new(2024);
    (0..40_000).map(|_| corpus.next_entry()).collect()
}

fn build(entries: &[(i64, String)], codec: Codec) -> ChunkBuilder {
    let options = ChunkOptions::default().codec(codec).target_size(0);
    let mut builder = ChunkBuilder::with_options(options).unwrap();
    for (ts, line) in entries {
        let _ = builder.append(*ts, line.as_bytes(), &[]).unwrap();
    }
    builder
}

/// The codec alone: the standard streaming decoder of each format.
fn raw_decompress(codec: Codec, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    match codec {
        Codec::None => out.extend_from_slice(input),
        Codec::Gzip => drop(flate2::read::MultiGzDecoder::new(input).read_to_end(out)),
        Codec::Flate => drop(flate2::read::DeflateDecoder::new(input).read_to_end(out)),
        Codec::Snappy => drop(snap::read::FrameDecoder::new(input).read_to_end(out)),
        Codec::Zstd => drop(zstd::stream::copy_decode(input, &mut *out)),
        _ => drop(lz4_flex::frame::FrameDecoder::new(input).read_to_end(out)),
    }
}

/// The codec alone, compressing with the same settings the chunk uses.
fn raw_compress(codec: Codec, input: &[u8]) -> usize {
    match codec {
        Codec::None => input.to_vec().len(),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(input).unwrap();
            e.finish().unwrap().len()
        }
        Codec::Flate => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(input).unwrap();
            e.finish().unwrap().len()
        }
        Codec::Snappy => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(input).unwrap();
            e.into_inner().unwrap().len()
        }
        Codec::Zstd => zstd::bulk::compress(input, 1).unwrap().len(),
        _ => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(input).unwrap();
            e.finish().unwrap().len()
        }
    }
}

struct Prepared {
    codec: Codec,
    chunk: Chunk,
    compressed_blocks: Vec<Bytes>,
    plain_blocks: Vec<Vec<u8>>,
    plain_bytes: u64,
}

fn prepare(entries: &[(i64, String)], codec: Codec) -> Prepared {
    let chunk = Chunk::open(build(entries, codec).encode().unwrap()).unwrap();
    let n = chunk.blocks().len();
    let compressed_blocks: Vec<Bytes> = (0..n)
        .map(|i| chunk.as_raw().block_bytes(i).unwrap())
        .collect();
    let plain_blocks: Vec<Vec<u8>> = (0..n).map(|i| chunk.decompress_block(i).unwrap()).collect();
    let plain_bytes = plain_blocks.iter().map(|b| b.len() as u64).sum();
    Prepared {
        codec,
        chunk,
        compressed_blocks,
        plain_blocks,
        plain_bytes,
    }
}

fn iterate(chunk: &Chunk) -> usize {
    let chunk = Chunk::open(chunk.bytes().clone()).unwrap();
    let mut total = 0;
    let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
    while let Some(e) = entries.next().unwrap() {
        total += e.line.len();
    }
    total
}

fn decompress_all(p: &Prepared, buf: &mut Vec<u8>) -> usize {
    p.compressed_blocks
        .iter()
        .map(|block| {
            raw_decompress(p.codec, block, buf);
            buf.len()
        })
        .sum()
}

fn compress_all(p: &Prepared) -> usize {
    p.plain_blocks
        .iter()
        .map(|b| raw_compress(p.codec, b))
        .sum()
}

fn benches(c: &mut Criterion) {
    let entries = corpus();
    for codec in Codec::ALL {
        let p = prepare(&entries, codec);
        let name = codec.name();
        let mut group = c.benchmark_group("chunk");
        group.throughput(Throughput::Bytes(p.plain_bytes));
        group.bench_function(format!("append/{name}"), |b| {
            b.iter(|| black_box(build(&entries, codec)))
        });
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(build(&entries, codec).encode().unwrap()))
        });
        group.bench_function(format!("iterate/{name}"), |b| {
            b.iter(|| black_box(iterate(&p.chunk)))
        });
        let mut buf = Vec::new();
        group.bench_function(format!("raw_decompress/{name}"), |b| {
            b.iter(|| black_box(decompress_all(&p, &mut buf)))
        });
        group.bench_function(format!("raw_compress/{name}"), |b| {
            b.iter(|| black_box(compress_all(&p)))
        });
        group.finish();
    }
}

/// Seconds per call of `f`, best of several rounds.
fn best_of(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn summary() {
    let entries = corpus();
    let line_bytes: usize = entries.iter().map(|(_, l)| l.len()).sum();
    println!(
        "\nchunk summary: {} entries, {:.1} MiB of lines; ratios measured in this run",
        entries.len(),
        line_bytes as f64 / 1048576.0
    );
    println!(
        "{:<9} {:>7} {:>12} {:>12} {:>9} {:>12} {:>12} {:>9}",
        "codec",
        "ratio",
        "iterate MB/s",
        "raw dec MB/s",
        "it/raw",
        "append MB/s",
        "raw comp MB/s",
        "app/raw"
    );
    for codec in Codec::ALL {
        let p = prepare(&entries, codec);
        let mb = p.plain_bytes as f64 / 1e6;
        let mut buf = Vec::new();
        let (mut it, mut dec, mut app, mut comp) =
            (f64::INFINITY, f64::INFINITY, f64::INFINITY, f64::INFINITY);
        // Interleave the measurements so machine noise hits both sides alike.
        for _ in 0..5 {
            it = it.min(best_of(1, || {
                black_box(iterate(&p.chunk));
            }));
            dec = dec.min(best_of(1, || {
                black_box(decompress_all(&p, &mut buf));
            }));
            app = app.min(best_of(1, || drop(black_box(build(&entries, codec)))));
            comp = comp.min(best_of(1, || {
                black_box(compress_all(&p));
            }));
        }
        let ratio = line_bytes as f64 / p.chunk.bytes().len() as f64;
        println!(
            "{:<9} {:>6.2}x {:>12.0} {:>12.0} {:>8.0}% {:>12.0} {:>12.0} {:>8.0}%",
            codec.name(),
            ratio,
            mb / it,
            mb / dec,
            100.0 * dec / it,
            mb / app,
            mb / comp,
            100.0 * comp / app
        );
    }
}

criterion_group! {
    name = chunk;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(10);
    targets = benches
}

fn main() {
    chunk();
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    if !test_mode {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
