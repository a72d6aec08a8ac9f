//! Storage engine benchmarks on the generated corpus, through the public
//! API, on the local filesystem store with the WAL on (fsync per push of
//! about 1 MiB).
//!
//! Groups (throughput in raw line bytes): `store/ingest` (push with WAL),
//! `store/flush` (seal, upload and index everything in memory),
//! `store/scan_warm` and `store/scan_cold` (read every entry back from the
//! store, with the chunk cache warm, or from a freshly opened engine).
//!
//! A summary then measures, in one run, ingest against zstd compressing the
//! same lines (the floor of any chunk store's write cost), the scan against
//! zstd decompressing them, and memory held per MiB ingested.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use loki::chunk::Direction;
use loki::corpus::Corpus;
use loki::index::{Labels, MatchOp, Matcher, Selector};
use loki::store::{Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;

/// Pushes of about 1 MiB each, over 100 streams: 32 MiB in all.
fn corpus() -> (Vec<Vec<PushStream>>, usize) {
    let mut corpus = Corpus::new(7);
    let streams = corpus.streams(100);
    let mut pushes = Vec::new();
    let mut total = 0;
    let mut line = String::new();
    while total < 32 << 20 {
        let mut push: Vec<PushStream> = Vec::new();
        let mut size = 0;
        while size < 1 << 20 {
            let ts = corpus.next_into(&mut line);
            let stream = &streams[(ts / 1_000 % 100) as usize];
            let labels =
                Labels::new(stream.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
            let entry = PushEntry::new(ts, line.clone());
            size += line.len();
            match push.iter_mut().find(|s| s.labels == labels) {
                Some(s) => s.entries.push(entry),
                None => push.push(PushStream {
                    labels,
                    entries: vec![entry],
                }),
            }
        }
        total += size;
        pushes.push(push);
    }
    (pushes, total)
}

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::filesystem(dir);
    config.limits = Limits::unlimited();
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn ingest(dir: &std::path::Path, pushes: Vec<Vec<PushStream>>) -> Store {
    let store = Store::open(config(dir)).await.unwrap();
    for push in pushes {
        store.push_at("bench", push, BASE).await.unwrap();
    }
    store
}

async fn scan(store: &Store) -> usize {
    let selector = Selector::new(vec![Matcher::new("app", MatchOp::Regex, ".+").unwrap()]).unwrap();
    store
        .select(
            "bench",
            &selector,
            0,
            i64::MAX,
            Direction::Forward,
            usize::MAX,
        )
        .await
        .unwrap()
        .iter()
        .map(|s| s.entries.iter().map(|e| e.line.len()).sum::<usize>())
        .sum()
}

fn benches(c: &mut Criterion) {
    let (pushes, bytes) = corpus();
    let rt = runtime();
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("ingest", |b| {
        b.iter_batched(
            || (tempfile::tempdir().unwrap(), pushes.clone()),
            |(dir, pushes)| {
                let store = rt.block_on(ingest(dir.path(), pushes));
                (store, dir)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.bench_function("flush", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = rt.block_on(ingest(dir.path(), pushes.clone()));
                (store, dir)
            },
            |(store, dir)| {
                rt.block_on(store.flush(true)).unwrap();
                (store, dir)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let store = ingest(dir.path(), pushes.clone()).await;
        store.flush(true).await.unwrap();
        store
    });
    group.bench_function("scan_warm", |b| {
        b.iter(|| black_box(rt.block_on(scan(&store))))
    });
    group.bench_function("scan_cold", |b| {
        b.iter(|| {
            rt.block_on(async {
                let store = Store::open(config(dir.path())).await.unwrap();
                black_box(scan(&store).await)
            })
        })
    });
    group.finish();
}

/// CPU seconds this process's live threads have used, summed from each
/// thread's `/proc/self/task/*/schedstat` (nanosecond resolution).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let nanos: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn summary() {
    let (pushes, bytes) = corpus();
    let lines: Vec<u8> = pushes
        .iter()
        .flatten()
        .flat_map(|s| s.entries.iter().flat_map(|e| e.line.bytes().chain([b'\n'])))
        .collect();
    let mb = bytes as f64 / 1e6;
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut store = None;
    let owned = pushes.clone();
    let cpu_before = cpu_seconds();
    let ingest_s = seconds(|| store = Some(rt.block_on(ingest(dir.path(), owned))));
    let ingest_cpu = (cpu_seconds() - cpu_before).max(1e-6);
    let store = store.unwrap();
    let held = store.memory_bytes() as f64;
    let flush_s = seconds(|| {
        rt.block_on(store.flush(true)).unwrap();
    });
    black_box(rt.block_on(scan(&store)));
    let scan_s = seconds(|| {
        black_box(rt.block_on(scan(&store)));
    });
    // A metric query through the LogQL evaluator over warm chunks: with
    // samples taken straight from the chunk walk (the default), and with
    // the sample pushdown off (entries copied into batches, as before).
    let engine = loki::logql::Engine::new(store.logql_storage(&["bench"]));
    let entry_engine =
        loki::logql::Engine::new(store.logql_storage(&["bench"])).with_sample_pushdown(false);
    let count_query = r#"sum by (app) (count_over_time({app=~".+"}[1h]))"#;
    let params = loki::logql::QueryParams::instant(BASE + 3_600 * 1_000_000_000);
    let counted = |engine: &loki::logql::Engine<loki::store::TenantStorage>| match rt
        .block_on(engine.query(count_query, &params))
        .unwrap()
    {
        loki::logql::QueryResult::Vector(v) => v.iter().map(|s| s.samples[0].value).sum(),
        _ => 0.0,
    };
    let entries_counted = counted(&engine);
    assert_eq!(entries_counted, counted(&entry_engine));
    let cpu_before = cpu_seconds();
    let count_s = seconds(|| {
        black_box(counted(&engine));
    });
    let count_cpu = (cpu_seconds() - cpu_before).max(1e-6);
    let count_entries_s = seconds(|| {
        black_box(counted(&entry_engine));
    });
    // The codec alone, on 256 KiB blocks as the chunk writer cuts them.
    let mut packed: Vec<Vec<u8>> = Vec::new();
    let compress_s = seconds(|| {
        let mut zstd = zstd::bulk::Compressor::new(1).unwrap();
        packed = lines
            .chunks(256 << 10)
            .map(|block| zstd.compress(block).unwrap())
            .collect();
    });
    let decompress_s = seconds(|| {
        let mut zstd = zstd::bulk::Decompressor::new().unwrap();
        for block in &packed {
            black_box(zstd.decompress(block, 256 << 10).unwrap());
        }
    });
    println!(
        "\nstore summary: {mb:.1} MB of lines in {} pushes; ratios measured in this run",
        pushes.len()
    );
    println!(
        "ingest CPU: {:.0} MB per CPU-second ({:.2} CPU-s for {mb:.1} MB; the rest of the wall time waits on fsync)",
        mb / ingest_cpu,
        ingest_cpu
    );
    println!("ingest (WAL, fsync per push): {:.0} MB/s = {:.2}x zstd (level 1, as chunks use) compressing the same lines ({:.0} MB/s)", mb / ingest_s, compress_s / ingest_s, mb / compress_s);
    println!("flush: {:.0} MB/s", mb / flush_s);
    println!(
        "warm scan: {:.0} MB/s = {:.2}x zstd decompression of the same lines ({:.0} MB/s)",
        mb / scan_s,
        decompress_s / scan_s,
        mb / decompress_s
    );
    println!(
        "sum by (app) (count_over_time) over every entry ({entries_counted} counted): {:.0} MB/s, {:.0} MB per CPU-second = {:.2}x zstd decompression; without the sample pushdown {:.0} MB/s",
        mb / count_s,
        mb / count_cpu,
        decompress_s / count_s,
        mb / count_entries_s
    );
    println!(
        "held in memory after ingest: {:.2} bytes per line byte",
        held / bytes as f64
    );
}

criterion_group! {
    name = store;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5)).sample_size(10);
    targets = benches
}

fn main() {
    store();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
