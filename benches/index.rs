//! Index benchmarks at one million series with realistic labels.
//!
//! Prints build and serialise times, segment bytes per series and head bytes
//! per series (measured with a counting global allocator), then measures
//! selector lookups and label values with criterion.
//!
//! Run: `cargo bench --bench index -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion};
use loki::index::{
    ChunkRef, HeadIndex, Labels, MatchOp, Matcher, Querier, Segment, Selector, TimeRange,
};
use std::hint::black_box;
use std::time::Instant;

/// Resident set size of this process in bytes (Linux), to measure the head's
/// memory as the growth of RSS while it is built. This includes allocator
/// overhead and rounding, so it errs on the high side. (A counting global
/// allocator would need `unsafe`, which the workspace forbids.)
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

const SERIES: usize = 1_000_000;
const SEED: u64 = 0x10c1_2024;

const NAMESPACES: [&str; 20] = [
    "shop",
    "core",
    "ingress",
    "monitoring",
    "logging",
    "payments",
    "search",
    "auth",
    "media",
    "mail",
    "ml",
    "data",
    "cache",
    "queue",
    "api",
    "web",
    "mobile",
    "billing",
    "infra",
    "security",
];
const CONTAINERS: [&str; 4] = ["main", "istio-proxy", "log-shipper", "init"];
const CLUSTERS: [(&str, &str); 6] = [
    ("prod-eu-west-1", "prod"),
    ("prod-us-east-1", "prod"),
    ("prod-ap-south-1", "prod"),
    ("staging-eu-west-1", "staging"),
    ("staging-us-east-1", "staging"),
    ("dev-eu-west-1", "dev"),
];

struct App {
    name: String,
    namespace: &'static str,
    job: String,
    containers: usize,
    replicasets: Vec<String>,
}

fn random_word(rng: &mut fastrand::Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| ALPHABET[rng.usize(..ALPHABET.len())] as char)
        .collect()
}

/// 400 apps in 20 namespaces; `checkout`, `cart` and `frontend` in `shop`,
/// and one `nginx-<namespace>` app per namespace with job `nginx`.
fn apps(rng: &mut fastrand::Rng) -> Vec<App> {
    let mut apps = Vec::new();
    for (n, ns) in NAMESPACES.iter().enumerate() {
        for k in 0..20 {
            let name = match (n, k) {
                (0, 0) => "checkout".to_string(),
                (0, 1) => "cart".to_string(),
                (0, 2) => "frontend".to_string(),
                (_, 3) => format!("nginx-{ns}"),
                _ => format!("{ns}-svc-{k}"),
            };
            let job = if k == 3 {
                "nginx".to_string()
            } else {
                format!("{ns}/{name}")
            };
            let replicasets = (0..2).map(|_| random_word(rng, 10)).collect();
            apps.push(App {
                name,
                namespace: ns,
                job,
                containers: 1 + rng.usize(..3),
                replicasets,
            });
        }
    }
    apps
}

fn generate() -> Vec<Labels> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let apps = apps(&mut rng);
    (0..SERIES)
        .map(|_| {
            let app = &apps[rng.usize(..apps.len())];
            let (cluster, env) = CLUSTERS[rng.usize(..CLUSTERS.len())];
            let pod = format!(
                "{}-{}-{}",
                app.name,
                app.replicasets[rng.usize(..2)],
                random_word(&mut rng, 5)
            );
            Labels::new([
                ("app", app.name.as_str()),
                ("cluster", cluster),
                ("container", CONTAINERS[rng.usize(..app.containers)]),
                ("env", env),
                ("job", app.job.as_str()),
                ("namespace", app.namespace),
                ("pod", pod.as_str()),
            ])
            .unwrap()
        })
        .collect()
}

fn chunk(i: usize) -> ChunkRef {
    let from = 1_700_000_000_000 + (i % 3600) as i64 * 1000;
    ChunkRef {
        from,
        through: from + 3_600_000,
        checksum: i as u32,
        compressed_size: 256 * 1024,
        entries: 10_000,
        uncompressed_size: 1 << 20,
    }
}

fn selectors() -> Vec<(&'static str, Selector)> {
    let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
    vec![
        (
            "{namespace=\"shop\"}",
            Selector::new(vec![m("namespace", MatchOp::Equal, "shop")]).unwrap(),
        ),
        (
            "{app=\"checkout\", env=~\"prod|staging\"}",
            Selector::new(vec![
                m("app", MatchOp::Equal, "checkout"),
                m("env", MatchOp::Regex, "prod|staging"),
            ])
            .unwrap(),
        ),
        (
            "{pod=~\"checkout-.*\"}",
            Selector::new(vec![m("pod", MatchOp::Regex, "checkout-.*")]).unwrap(),
        ),
        (
            "{job!=\"nginx\", namespace=\"core\"}",
            Selector::new(vec![
                m("job", MatchOp::NotEqual, "nginx"),
                m("namespace", MatchOp::Equal, "core"),
            ])
            .unwrap(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let labels = generate();

    let before = rss_bytes();
    let start = Instant::now();
    let head = HeadIndex::new();
    for (i, l) in labels.iter().enumerate() {
        head.insert(l, chunk(i)).unwrap();
    }
    let insert_time = start.elapsed();
    let head_bytes = rss_bytes()
        .zip(before)
        .map_or(0, |(after, before)| after.saturating_sub(before));
    // One chunk ref per series, held inline in the series entry: a 40-byte
    // ChunkRef plus the 8-byte tag of the inline/vector enum.
    let chunk_bytes = SERIES * (std::mem::size_of::<ChunkRef>() + 8);
    println!(
        "head: {} series inserted in {:.2?}; RSS growth {:.1} bytes/series, {:.1} excluding chunk refs",
        head.series_count(),
        insert_time,
        head_bytes as f64 / SERIES as f64,
        head_bytes.saturating_sub(chunk_bytes) as f64 / SERIES as f64,
    );

    let start = Instant::now();
    let bytes = head.write_segment("bench", TimeRange::ALL).unwrap();
    let write_time = start.elapsed();
    let start = Instant::now();
    let segment = Segment::open(bytes.into()).unwrap();
    let open_time = start.elapsed();
    let start = Instant::now();
    segment.verify().unwrap();
    let verify_time = start.elapsed();
    let sizes = segment.sizes();
    println!(
        "segment: serialised in {write_time:.2?} (build + serialise {:.2?}), open {open_time:.2?}, verify {verify_time:.2?}",
        insert_time + write_time
    );
    println!(
        "segment: {} bytes = {:.1} bytes/series; excluding chunk refs {:.1} bytes/series \
         (names {:.1}, series rows {:.1}); chunk refs {:.1} bytes/series",
        sizes.total,
        sizes.total as f64 / SERIES as f64,
        (sizes.total - sizes.chunk_refs) as f64 / SERIES as f64,
        sizes.names as f64 / SERIES as f64,
        sizes.series as f64 / SERIES as f64,
        sizes.chunk_refs as f64 / SERIES as f64,
    );
    drop(labels);

    let segments = [segment];
    let on_segment = Querier::new(None, &segments);
    let on_head = Querier::new(Some(&head), &[]);
    // Best of 50 runs: on a shared machine the minimum is the figure least
    // disturbed by other processes (criterion's estimates follow below).
    let best = |f: &dyn Fn()| {
        (0..50)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    for (name, sel) in selectors() {
        let n = on_segment.chunk_refs(&sel, TimeRange::ALL).unwrap().len();
        assert_eq!(n, on_head.chunk_refs(&sel, TimeRange::ALL).unwrap().len());
        let seg = best(&|| {
            drop(black_box(
                on_segment.chunk_refs(&sel, TimeRange::ALL).unwrap(),
            ))
        });
        let hd = best(&|| drop(black_box(on_head.chunk_refs(&sel, TimeRange::ALL).unwrap())));
        println!("{name}: {n} chunk refs; best of 50: segment {seg:.2?}, head {hd:.2?}");
    }

    let mut group = c.benchmark_group("index_1m");
    group.sample_size(20);
    for (name, sel) in selectors() {
        group.bench_function(format!("segment chunk_refs {name}"), |b| {
            b.iter(|| black_box(on_segment.chunk_refs(&sel, TimeRange::ALL).unwrap()))
        });
        group.bench_function(format!("head chunk_refs {name}"), |b| {
            b.iter(|| black_box(on_head.chunk_refs(&sel, TimeRange::ALL).unwrap()))
        });
    }
    group.bench_function("segment label_values pod", |b| {
        b.iter(|| {
            black_box(
                on_segment
                    .label_values("pod", None, TimeRange::ALL)
                    .unwrap(),
            )
        })
    });
    group.bench_function("head label_values pod", |b| {
        b.iter(|| black_box(on_head.label_values("pod", None, TimeRange::ALL).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
