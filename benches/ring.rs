//! Ring benchmarks: replica-set lookups on a ring of 100 instances × 128
//! tokens (12,800 tokens), throughput in lookups.
//!
//! Groups: `ring/lookup/<op>` (one `Ring::get` into a reused
//! `ReplicationSet`, no zones and with 3 zones), `ring/owner` (the primary
//! owner only), `ring/binary_search` (a plain `partition_point` over the
//! same sorted token array: the floor a lookup cannot beat),
//! `ring/stream_token` (FNV-1 over tenant + labels) and `ring/build`
//! (building the snapshot from a `RingDesc`).
//!
//! After the criterion groups, a summary measures lookups per second on
//! one core and the ratio of a lookup's cost to the plain binary search,
//! interleaved in one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use loki::ring::{
    stream_token, InstanceDesc, Operation, ReplicationSet, Ring, RingConfig, RingDesc,
    TokenGenerator,
};

const NOW: i64 = 1_700_000_000;
const KEYS: usize = 4096;

fn desc(instances: usize, zones: usize) -> RingDesc {
    let mut desc = RingDesc::default();
    let mut generator = TokenGenerator::seeded(2024);
    for n in 0..instances {
        let tokens = generator.generate(128, &desc.taken_tokens()).unwrap();
        let zone = if zones == 0 {
            String::new()
        } else {
            format!("zone-{}", n % zones)
        };
        desc.upsert(
            InstanceDesc::new(
                format!("ingester-{n}"),
                format!("10.0.{}.{}:9095", n / 256, n % 256),
                zone,
            )
            .with_tokens(tokens)
            .with_timestamp(NOW),
        );
    }
    desc
}

fn ring(zones: usize) -> Ring {
    let config = RingConfig::default().with_zone_awareness(zones > 0);
    Ring::new(&desc(100, zones), config, NOW).unwrap()
}

/// Pseudo-random keys (stream tokens are FNV hashes: uniformly spread).
fn keys() -> Vec<u32> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..KEYS).map(|_| rng.u32(..)).collect()
}

fn lookup_all(ring: &Ring, keys: &[u32], op: Operation, set: &mut ReplicationSet) -> usize {
    let mut total = 0;
    for &key in keys {
        ring.get(key, op, set).unwrap();
        total += set.len();
    }
    total
}

fn search_all(tokens: &[u32], keys: &[u32]) -> usize {
    let mut total = 0;
    for &key in keys {
        let i = tokens.partition_point(|&t| t <= key);
        total += if i == tokens.len() { 0 } else { i };
    }
    total
}

fn benches(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(KEYS as u64));
    for (name, zones) in [("no_zones", 0), ("3_zones", 3)] {
        let ring = ring(zones);
        let mut set = ReplicationSet::new();
        for (op_name, op) in [
            ("write_no_extend", Operation::WRITE_NO_EXTEND),
            ("read", Operation::READ),
        ] {
            group.bench_function(format!("lookup/{op_name}/{name}"), |b| {
                b.iter(|| black_box(lookup_all(&ring, black_box(&keys), op, &mut set)))
            });
        }
    }
    let ring = ring(0);
    group.bench_function("owner", |b| {
        b.iter(|| {
            let mut total = 0;
            for &key in black_box(&keys) {
                total += ring.owner(key).unwrap();
            }
            black_box(total)
        })
    });
    group.bench_function("binary_search", |b| {
        b.iter(|| black_box(search_all(ring.tokens(), black_box(&keys))))
    });
    let labels: Vec<String> = (0..KEYS)
        .map(|i| {
            format!(
                r#"{{app="app-{}", env="prod", pod="pod-{i}", service_name="app-{}"}}"#,
                i % 50,
                i % 50
            )
        })
        .collect();
    group.bench_function("stream_token", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for l in black_box(&labels) {
                acc ^= stream_token("tenant-1", l);
            }
            black_box(acc)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("ring");
    let d = desc(100, 0);
    group.throughput(Throughput::Elements(1));
    group.bench_function("build/100x128", |b| {
        b.iter(|| black_box(Ring::new(black_box(&d), RingConfig::default(), NOW).unwrap()))
    });
    group.finish();
}

/// Seconds for one call of `f`.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn summary() {
    let keys = keys();
    let rounds = 200;
    println!("\nring summary: 100 instances x 128 tokens, RF 3, {KEYS} random keys x {rounds} rounds, one core");
    println!(
        "{:<28} {:>14} {:>14} {:>12}",
        "lookup", "lookups/s", "bsearch/s", "cost ratio"
    );
    for (name, zones, op) in [
        ("write_no_extend, no zones", 0, Operation::WRITE_NO_EXTEND),
        ("write_no_extend, 3 zones", 3, Operation::WRITE_NO_EXTEND),
        ("read, no zones", 0, Operation::READ),
    ] {
        let ring = ring(zones);
        let mut set = ReplicationSet::new();
        let (mut lookup, mut search) = (f64::INFINITY, f64::INFINITY);
        // Interleave so machine noise hits both sides alike; keep the best.
        for _ in 0..5 {
            lookup = lookup.min(time(|| {
                for _ in 0..rounds {
                    black_box(lookup_all(&ring, black_box(&keys), op, &mut set));
                }
            }));
            search = search.min(time(|| {
                for _ in 0..rounds {
                    black_box(search_all(ring.tokens(), black_box(&keys)));
                }
            }));
        }
        let n = (KEYS * rounds) as f64;
        println!(
            "{:<28} {:>14.0} {:>14.0} {:>11.2}x",
            name,
            n / lookup,
            n / search,
            lookup / search
        );
    }
}

criterion_group! {
    name = ring_benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = benches
}

fn main() {
    ring_benches();
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    if !test_mode {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
