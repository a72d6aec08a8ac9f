//! LogQL parse throughput over a mix of 20 realistic queries
//! (`cargo bench --bench logql`). Target: at least 200k queries/s on one core.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loki::logql;

const QUERIES: [&str; 20] = [
    r#"{app="api"}"#,
    r#"{app="api", env="prod"} |= "error""#,
    r#"{namespace="prod", container=~"api|web"} |= "panic" != "test""#,
    r#"{job="nginx"} | json | status >= 500"#,
    r#"{job="nginx"} | logfmt | level="error" or level="warn""#,
    r#"{app="api"} | json | line_format "{{.method}} {{.path}} {{.status}}""#,
    r#"{app="api"} |~ "timeout|deadline" | json | duration > 1.5s"#,
    r#"{job="nginx"} | pattern "<ip> - - [<_>] \"<method> <uri> <_>\" <status> <size>""#,
    r#"count_over_time({app="api"} |= "error" [5m])"#,
    r#"rate({app="api"}[1m])"#,
    r#"sum by (status) (rate({job="nginx"} | json [5m]))"#,
    r#"sum(rate({app="api"} |= "error" [5m])) / sum(rate({app="api"}[5m]))"#,
    r#"topk(10, sum by (uri) (rate({job="nginx"} | json | status >= 500 [5m])))"#,
    r#"quantile_over_time(0.99, {app="api"} | json | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
    r#"avg_over_time({cluster="eu"} | logfmt | unwrap request_time [1m]) by (route)"#,
    r#"sum_over_time({app="api"} | json | unwrap bytes(size) [1h] offset 1d)"#,
    r#"sum by (pod) (count_over_time({app="api"} | json | level="error" [10m])) > 3"#,
    r#"label_replace(sum by (src) (rate({a="b"}[1m])), "dst", "$1", "src", "api-(.*)")"#,
    r#"{app="auth"} |= ip("10.0.0.0/8") | json | user != "" | label_format u=user | drop password"#,
    r#"max by (instance) (max_over_time({job="db"} | regexp "took (?P<ms>\\d+)ms" | unwrap ms [1m]))"#,
];

fn parse(c: &mut Criterion) {
    for q in QUERIES {
        logql::parse(q).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut group = c.benchmark_group("logql/parse");
    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    group.bench_function("mix20", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(logql::parse(black_box(q)).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
