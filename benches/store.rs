//! Storage engine benchmarks on the generated corpus, through the public
//! API, on the local filesystem store with the WAL on (fsync per push of
//! about 1 MiB).
//!
//! Groups (throughput in raw line bytes): `store/ingest` (push with WAL),
//! `store/flush` (seal, upload and index everything in memory),
//! `store/scan_warm` and `store/scan_cold` (read every entry back from the
//! store, with the chunk cache warm, or from a freshly opened engine).
//!
//! Summaries then measure, in one run: ingest in MB and lines per
//! CPU-second of the whole process and wall MB/s, in steady state (over
//! 128 MiB pushed after a first 32 MiB that fills every stream's head and
//! warms the allocator; pushed from a multi-threaded runtime's `block_on`,
//! as from `#[tokio::main]`, and from a current-thread runtime, each the
//! median of five interleaved runs; each push's lines slices of one
//! buffer, as the server passes them, and once as owned `String`s),
//! without the WAL, without fsync, with buffered instead of direct WAL
//! writes, with Loki's faster chunk codecs (snappy, lz4), against zstd
//! compressing the same lines as the chunks' blocks encode them (the floor
//! of any store writing Loki's chunk format in zstd), and peak memory per
//! MB ingested; a table of codecs (zstd levels, gzip, snappy, lz4) on the
//! same lines, speed and ratio; memory per open stream; flush throughput;
//! the scan, cold and warm, and a `count_over_time` query, against zstd
//! decompressing the same lines (warm reads as the mean of 7 runs), with
//! chunks read again kept decompressed (the default) and with that cache
//! off.
//! `cargo bench --bench store -- summary` runs the summaries alone (no
//! criterion group matches that name).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::cpu_seconds;
use criterion::{criterion_group, Criterion, Throughput};
use loki::chunk::{Codec, Direction};
use loki::corpus::Corpus;
use loki::index::{Labels, MatchOp, Matcher, Selector};
use loki::store::wal::{FsyncPolicy, WalOptions};
use loki::store::{Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;

/// Runs of the headline ingest figures, whose median is reported.
const INGEST_RUNS: usize = 5;

/// Pushes of about 1 MiB each, over 100 streams: 32 MiB in all.
fn corpus() -> (Vec<Vec<PushStream>>, usize) {
    corpus_of(32 << 20)
}

/// Pushes of about 1 MiB each, over 100 streams, at least `at_least` bytes
/// of lines in all.
fn corpus_of(at_least: usize) -> (Vec<Vec<PushStream>>, usize) {
    let mut corpus = Corpus::new(7);
    let streams: Vec<Labels> = corpus
        .streams(100)
        .iter()
        .map(|s| Labels::new(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap())
        .collect();
    let mut pushes = Vec::new();
    let mut total = 0;
    let mut line = String::new();
    while total < at_least {
        let mut push: Vec<PushStream> = Vec::new();
        let mut slot = [usize::MAX; 100];
        let mut size = 0;
        while size < 1 << 20 {
            let ts = corpus.next_into(&mut line);
            let stream = (ts / 1_000 % 100) as usize;
            if slot[stream] == usize::MAX {
                slot[stream] = push.len();
                push.push(PushStream {
                    labels: streams[stream].clone(),
                    entries: Vec::new(),
                });
            }
            push[slot[stream]]
                .entries
                .push(PushEntry::new(ts, line.clone()));
            size += line.len();
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

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), 0 if unknown.
fn status_bytes(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib * 1024.0)
}

/// Pushes of about 1 MiB ingested before timing starts: every stream's
/// head fills and is cut at least once, and the allocator holds the pages
/// a running engine reuses, so the figures are a long-running engine's,
/// not a fresh process's first touch of its memory.
const WARM_UP_PUSHES: usize = 32;

/// Ingest on its own, over a corpus large enough (128 MiB timed) for a
/// stable per-CPU-second figure: CPU time of the whole process (the WAL's
/// blocking threads included) around each push after the warm-up, wall
/// time, and the peak resident memory the engine added per MB ingested
/// (warm-up included). Each push is cloned from the kept corpus outside
/// the timed part, so freed input never hides the engine's memory.
///
/// Lines are slices of one buffer per push, as the server hands them to
/// the engine (every line of a request body is a slice of it); one run
/// pushes every line as an owned `String` instead, whose freeing the
/// engine then pays line by line.
fn ingest_summary() {
    let (owned_pushes, _) = corpus_of(160 << 20);
    let all_pushes = sliced_from_one_buffer(&owned_pushes);
    let (warm_up, pushes) = all_pushes.split_at(WARM_UP_PUSHES);
    let line_bytes = |pushes: &[Vec<PushStream>]| -> usize {
        pushes
            .iter()
            .flatten()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum()
    };
    let bytes = line_bytes(pushes);
    let mb = bytes as f64 / 1e6;
    let warm_up_mb = line_bytes(warm_up) as f64 / 1e6;
    let ingested = (bytes + line_bytes(warm_up)) as f64;
    // Pushed from the future a multi-threaded runtime's `block_on` drives,
    // as the body of `#[tokio::main]` is (the push logs its batch on its
    // own thread); one run pushes from a current-thread runtime, where the
    // log is written on the blocking pool.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let single = runtime();
    let run_pushes_on = |rt: &tokio::runtime::Runtime,
                         config: StoreConfig,
                         warm_up: &[Vec<PushStream>],
                         pushes: &[Vec<PushStream>]| {
        let (mut cpu, mut wall) = (0.0, 0.0);
        // Reset the peak (VmHWM) to the current resident size.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = status_bytes("VmRSS:");
        let store = rt.block_on(Store::open(config)).unwrap();
        for push in warm_up {
            rt.block_on(store.push_at("bench", push.clone(), BASE))
                .unwrap();
        }
        let warm_up_fsyncs = store.wal_stats().map_or(0, |s| s.fsyncs);
        for push in pushes {
            let push = push.clone();
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            rt.block_on(store.push_at("bench", push, BASE)).unwrap();
            cpu += cpu_seconds() - cpu_start;
            wall += start.elapsed().as_secs_f64();
        }
        let peak = status_bytes("VmHWM:") - before;
        let held = store.memory_bytes() as f64;
        let fsyncs = store.wal_stats().map_or(0, |s| s.fsyncs) - warm_up_fsyncs;
        (cpu.max(1e-9), wall.max(1e-9), peak, held, fsyncs)
    };
    let run = |config: StoreConfig| run_pushes_on(&rt, config, warm_up, pushes);
    let dir = tempfile::tempdir().unwrap();
    let (first_cpu, first_wall, peak, held, fsyncs) = run(config(dir.path()));
    // The headline figures vary by a tenth or more from run to run on a
    // shared machine: they are the medians of interleaved runs, each on a
    // fresh directory.
    let mut cpus = vec![(first_cpu, first_wall)];
    let mut single_cpus = Vec::new();
    for _ in 0..INGEST_RUNS {
        let fresh = tempfile::tempdir().unwrap();
        single_cpus.push(run_pushes_on(&single, config(fresh.path()), warm_up, pushes).0);
        if cpus.len() < INGEST_RUNS {
            let fresh = tempfile::tempdir().unwrap();
            let (cpu, wall, _, _, _) = run(config(fresh.path()));
            cpus.push((cpu, wall));
        }
    }
    cpus.sort_by(|a, b| a.0.total_cmp(&b.0));
    single_cpus.sort_by(f64::total_cmp);
    let (cpu, wall) = cpus[INGEST_RUNS / 2];
    let cpu_single = single_cpus[INGEST_RUNS / 2];
    let spread = |low: f64, high: f64| format!("{:.0}–{:.0}", mb / high, mb / low);
    let cpu_spread = spread(cpus[0].0, cpus[INGEST_RUNS - 1].0);
    let single_spread = spread(single_cpus[0], single_cpus[INGEST_RUNS - 1]);
    let (owned_warm_up, owned) = owned_pushes.split_at(WARM_UP_PUSHES);
    let (cpu_owned, _, _, _, _) =
        run_pushes_on(&rt, config(&dir.path().join("owned")), owned_warm_up, owned);
    // A WAL checkpoint of everything ingested, still held in open chunks
    // (nothing is due for flushing): what each flush check costs while
    // chunks fill. The engine reopens on the log the run above left.
    let checkpoint_cpu = {
        let store = rt.block_on(Store::open(config(dir.path()))).unwrap();
        let start = cpu_seconds();
        let summary = rt.block_on(store.flush(false)).unwrap();
        assert_eq!(summary.chunks, 0);
        (cpu_seconds() - start).max(1e-9)
    };
    let mut no_wal = config(&dir.path().join("no-wal"));
    no_wal.wal_dir = None;
    let (cpu_no_wal, _, _, _, _) = run(no_wal);
    let mut no_fsync = config(&dir.path().join("no-fsync"));
    no_fsync.wal = WalOptions::default().fsync(FsyncPolicy::Never);
    let (cpu_no_fsync, _, _, _, _) = run(no_fsync);
    let mut buffered = config(&dir.path().join("buffered"));
    buffered.wal = WalOptions::default().direct_io(false);
    let (cpu_buffered, wall_buffered, _, _, _) = run(buffered);
    let faster_codecs: Vec<String> = [Codec::Snappy, Codec::Lz4_256k]
        .into_iter()
        .map(|codec| {
            let mut faster = config(&dir.path().join(codec.name()));
            faster.chunk = faster.chunk.codec(codec);
            let (cpu, _, _, _, _) = run(faster);
            format!("{}: {:.0}", codec.name(), mb / cpu)
        })
        .collect();
    // The codecs alone on the same entries, as the chunks' 256 KiB blocks
    // hold them: MB of lines per CPU-second and compression ratio of each.
    let blocks = block_encoded(pushes);
    let entries: usize = pushes.iter().flatten().map(|s| s.entries.len()).sum();
    let level = loki::chunk::DEFAULT_ZSTD_LEVEL;
    let codec_run = |compress: &mut dyn FnMut(&[u8]) -> usize| {
        let cpu_start = cpu_seconds();
        let packed: usize = blocks.iter().map(|block| compress(block)).sum();
        let cpu = (cpu_seconds() - cpu_start).max(1e-9);
        let encoded: usize = blocks.iter().map(Vec::len).sum();
        (mb / cpu, encoded as f64 / packed.max(1) as f64)
    };
    // With the window the chunk writer sets for 256 KiB blocks.
    let zstd_at = |level: i32| {
        let mut zstd = zstd::bulk::Compressor::new(level).unwrap();
        zstd.set_parameter(zstd::zstd_safe::CParameter::WindowLog(18))
            .unwrap();
        codec_run(&mut |block| black_box(zstd.compress(block).unwrap()).len())
    };
    let (zstd_speed, _) = zstd_at(level);
    let mut table: Vec<String> = [1, -1, -2, -3, -5]
        .into_iter()
        .map(|level| {
            let (speed, ratio) = zstd_at(level);
            format!("zstd {level}: {speed:.0} MB/CPU-s, ratio {ratio:.2}")
        })
        .collect();
    let (speed, ratio) = codec_run(&mut |block| {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(block).unwrap();
        black_box(gz.finish().unwrap()).len()
    });
    table.push(format!(
        "gzip (level 6, Go's default): {speed:.0} MB/CPU-s, ratio {ratio:.2}"
    ));
    let (speed, ratio) = codec_run(&mut |block| {
        use std::io::Write;
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(block).unwrap();
        black_box(enc.into_inner().unwrap()).len()
    });
    table.push(format!("snappy: {speed:.0} MB/CPU-s, ratio {ratio:.2}"));
    let (speed, ratio) = codec_run(&mut |block| {
        use std::io::Write;
        let info =
            lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max256KB);
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(block).unwrap();
        black_box(enc.finish().unwrap()).len()
    });
    table.push(format!(
        "lz4 (256 KiB frames): {speed:.0} MB/CPU-s, ratio {ratio:.2}"
    ));
    println!(
        "\ningest summary: {mb:.1} MB of lines ({entries} lines) timed in {} pushes of ~1 MiB over 100 streams, after {warm_up_mb:.1} MB in {} untimed; chunks in zstd level {level}; each push's lines slices of one buffer, as the server passes them",
        pushes.len(),
        warm_up.len()
    );
    println!(
        "ingest (WAL, fsync per push, {fsyncs} fsyncs), median of {INGEST_RUNS} runs: {:.0} MB per CPU-second ({cpu:.2} CPU-s; runs {cpu_spread}), {:.0} MB/s wall; {:.0} lines per CPU-second, {:.0} lines/s wall",
        mb / cpu,
        mb / wall,
        entries as f64 / cpu,
        entries as f64 / wall
    );
    println!(
        "ingest from a current-thread runtime (the WAL written and synced on the blocking pool), median of {INGEST_RUNS} runs: {:.0} MB per CPU-second (runs {single_spread})",
        mb / cpu_single
    );
    println!(
        "ingest with every line an owned String (freed by the engine line by line): {:.0} MB per CPU-second",
        mb / cpu_owned
    );
    println!(
        "ingest with Loki's faster chunk codecs (MB per CPU-second): {}",
        faster_codecs.join("; ")
    );
    println!(
        "ingest, WAL buffered (no direct I/O, page cache writeback not counted): {:.0} MB per CPU-second, {:.0} MB/s wall",
        mb / cpu_buffered,
        mb / wall_buffered
    );
    println!(
        "ingest, WAL without fsync: {:.0} MB per CPU-second; without WAL: {:.0} MB per CPU-second; zstd level {level} alone on the same entries, as blocks hold them: {:.0} MB per CPU-second",
        mb / cpu_no_fsync,
        mb / cpu_no_wal,
        zstd_speed
    );
    println!(
        "codecs alone on the same entries in 256 KiB blocks (MB of lines per CPU-second, ratio of the block encoding): {}",
        table.join("; ")
    );
    println!(
        "WAL checkpoint of the {:.1} MB held in open chunks: {:.0} MB per CPU-second ({checkpoint_cpu:.3} CPU-s)",
        mb + warm_up_mb,
        (mb + warm_up_mb) / checkpoint_cpu
    );
    println!(
        "memory: peak resident growth {:.2} MB per MB ingested; engine-accounted {:.2} MB per MB",
        peak / ingested,
        held / ingested
    );
}

/// The same pushes with every line a slice of one buffer per push, as
/// lines decoded from a request body are.
fn sliced_from_one_buffer(pushes: &[Vec<PushStream>]) -> Vec<Vec<PushStream>> {
    pushes
        .iter()
        .map(|push| {
            let mut body = Vec::new();
            for entry in push.iter().flat_map(|s| &s.entries) {
                body.extend_from_slice(entry.line.as_bytes());
            }
            let body = bytes::Bytes::from(body);
            let mut at = 0;
            push.iter()
                .map(|stream| PushStream {
                    labels: stream.labels.clone(),
                    entries: stream
                        .entries
                        .iter()
                        .map(|entry| {
                            let end = at + entry.line.len();
                            let line = bytestring::ByteString::try_from(body.slice(at..end))
                                .expect("a slice at line boundaries is UTF-8");
                            at = end;
                            PushEntry::new(entry.timestamp, line)
                        })
                        .collect(),
                })
                .collect()
        })
        .collect()
}

/// Each stream's entries in the order pushed, as the chunk writer's
/// blocks hold them (Loki's layout: timestamp and length varints, the line,
/// the structured-metadata section), 256 KiB blocks uncompressed.
fn block_encoded(pushes: &[Vec<PushStream>]) -> Vec<Vec<u8>> {
    use loki::chunk::{Chunk, ChunkBuilder, ChunkOptions};
    let options = ChunkOptions::default().codec(Codec::None).target_size(0);
    let mut streams: std::collections::HashMap<&Labels, ChunkBuilder> = Default::default();
    for stream in pushes.iter().flatten() {
        let builder = streams
            .entry(&stream.labels)
            .or_insert_with(|| ChunkBuilder::with_options(options).unwrap());
        for entry in &stream.entries {
            let _ = builder
                .append(entry.timestamp, entry.line.as_bytes(), &[])
                .unwrap();
        }
    }
    streams
        .into_values()
        .flat_map(|mut builder| {
            let chunk = Chunk::open(builder.encode().unwrap()).unwrap();
            (0..chunk.blocks().len())
                .map(|i| chunk.decompress_block(i).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Memory per open stream: 600 streams, each pushed 320 KiB of corpus lines
/// (one block cut, the rest in the head) and then left open, as streams
/// are between flushes. Resident growth and engine-accounted bytes per
/// stream, without the WAL (it holds no memory of its own per stream).
/// Run first, before other runs leave freed memory with the allocator.
fn open_streams_summary() {
    const STREAMS: usize = 600;
    const PER_STREAM: usize = 320 << 10;
    let (pushes, _) = corpus_of(8 << 20);
    let lines: Vec<String> = pushes
        .into_iter()
        .flatten()
        .flat_map(|s| s.entries.into_iter().map(|e| String::from(e.line)))
        .collect();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.wal_dir = None;
    let before = status_bytes("VmRSS:");
    let store = rt.block_on(Store::open(cfg)).unwrap();
    let mut next = 0;
    let mut raw = 0;
    for s in 0..STREAMS {
        let labels = Labels::new([("app", "open-streams"), ("stream", &s.to_string())]).unwrap();
        let mut entries = Vec::new();
        let mut bytes = 0;
        while bytes < PER_STREAM {
            let line = lines[next % lines.len()].clone();
            bytes += line.len();
            entries.push(PushEntry::new(BASE + next as i64, line));
            next += 1;
        }
        raw += bytes;
        rt.block_on(store.push_at("bench", vec![PushStream { labels, entries }], BASE))
            .unwrap();
    }
    let grown = status_bytes("VmRSS:") - before;
    let held = store.memory_bytes() as f64;
    println!(
        "open streams: {STREAMS} streams of {} KiB of lines each (one block cut): resident growth {:.0} KiB per stream, engine-accounted {:.0} KiB per stream, {:.2} MB per MB of lines",
        raw / STREAMS / 1024,
        grown / STREAMS as f64 / 1024.0,
        held / STREAMS as f64 / 1024.0,
        grown / raw as f64
    );
}

fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

/// Runs of each warm read measured: one run of a few tens of
/// milliseconds can be a third off on a shared machine.
const READ_RUNS: u32 = 7;

/// Wall and CPU seconds of one run of `f`: the means over [`READ_RUNS`].
fn per_run(mut f: impl FnMut()) -> (f64, f64) {
    let cpu_before = cpu_seconds();
    let wall = seconds(|| (0..READ_RUNS).for_each(|_| f()));
    let cpu = cpu_seconds() - cpu_before;
    (
        wall / f64::from(READ_RUNS),
        cpu.max(1e-9) / f64::from(READ_RUNS),
    )
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
    let store = rt.block_on(ingest(dir.path(), pushes.clone()));
    let flush_cpu_before = cpu_seconds();
    let flush_s = seconds(|| {
        rt.block_on(store.flush(true)).unwrap();
    });
    let flush_cpu = (cpu_seconds() - flush_cpu_before).max(1e-9);
    // Cold: a freshly opened engine (empty chunk and segment caches; the
    // files are in the OS page cache), then warm.
    let cold = rt.block_on(Store::open(config(dir.path()))).unwrap();
    let cold_cpu_before = cpu_seconds();
    let cold_s = seconds(|| {
        black_box(rt.block_on(scan(&cold)));
    });
    let cold_cpu = (cpu_seconds() - cold_cpu_before).max(1e-9);
    drop(cold);
    black_box(rt.block_on(scan(&store)));
    let (scan_s, scan_cpu) = per_run(|| {
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
    let (count_s, count_cpu) = per_run(|| {
        black_box(counted(&engine));
    });
    let (count_entries_s, _) = per_run(|| {
        black_box(counted(&entry_engine));
    });
    // The same reads with the chunks read again from the (compressed)
    // chunk cache only: every read decompresses.
    let mut compressed_only = config(dir.path());
    compressed_only.decompressed_cache_bytes = 0;
    let compressed_only = rt.block_on(Store::open(compressed_only)).unwrap();
    black_box(rt.block_on(scan(&compressed_only)));
    let (scan_compressed_s, scan_compressed_cpu) = per_run(|| {
        black_box(rt.block_on(scan(&compressed_only)));
    });
    let compressed_engine = loki::logql::Engine::new(compressed_only.logql_storage(&["bench"]));
    assert_eq!(entries_counted, counted(&compressed_engine));
    let (count_compressed_s, count_compressed_cpu) = per_run(|| {
        black_box(counted(&compressed_engine));
    });
    // The codec alone, on 256 KiB blocks as the chunk writer cuts them.
    let mut packed: Vec<Vec<u8>> = Vec::new();
    seconds(|| {
        let mut zstd = zstd::bulk::Compressor::new(1).unwrap();
        packed = lines
            .chunks(256 << 10)
            .map(|block| zstd.compress(block).unwrap())
            .collect();
    });
    let (decompress_s, _) = per_run(|| {
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
        "flush (seal, upload, index, checkpoint): {:.0} MB/s wall, {:.0} MB per CPU-second",
        mb / flush_s,
        mb / flush_cpu
    );
    println!(
        "cold scan (fresh engine): {:.0} MB/s wall, {:.0} MB per CPU-second",
        mb / cold_s,
        mb / cold_cpu
    );
    println!(
        "warm scan (chunks read again, kept decompressed): {:.0} MB/s wall, {:.0} MB per CPU-second = {:.2}x zstd decompression of the same lines ({:.0} MB/s)",
        mb / scan_s,
        mb / scan_cpu,
        decompress_s / scan_s,
        mb / decompress_s
    );
    println!(
        "warm scan, decompressed cache off (every read decompresses): {:.0} MB/s wall, {:.0} MB per CPU-second = {:.2}x zstd decompression",
        mb / scan_compressed_s,
        mb / scan_compressed_cpu,
        decompress_s / scan_compressed_s
    );
    println!(
        "sum by (app) (count_over_time) over every entry ({entries_counted} counted), chunks kept decompressed: {:.0} MB/s, {:.0} MB per CPU-second = {:.2}x zstd decompression; without the sample pushdown {:.0} MB/s",
        mb / count_s,
        mb / count_cpu,
        decompress_s / count_s,
        mb / count_entries_s
    );
    println!(
        "sum by (app) (count_over_time), decompressed cache off: {:.0} MB/s, {:.0} MB per CPU-second = {:.2}x zstd decompression",
        mb / count_compressed_s,
        mb / count_compressed_cpu,
        decompress_s / count_compressed_s
    );
}

criterion_group! {
    name = store;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(5)).sample_size(10);
    targets = benches
}

fn main() {
    let summaries = !std::env::args().any(|a| a == "--test" || a == "--list");
    if summaries {
        open_streams_summary();
    }
    store();
    if summaries {
        ingest_summary();
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
