//! Crash test: a child process ingests continuously (flushing now and then)
//! and is killed with SIGKILL at random moments, 20 times. After each
//! restart every acknowledged entry is present exactly once.
//!
//! This binary is its own child: run with `child <dir> <first id> <seed>` it
//! ingests until killed, printing `ack <id>` after each acknowledged push.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use loki_chunk::Direction;
use loki_index::{Labels, MatchOp, Matcher, Selector};
use loki_store::wal::{FsyncPolicy, WalOptions};
use loki_store::{Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;
const BATCH: u64 = 10;

fn config(dir: &str) -> StoreConfig {
    let mut config = StoreConfig::filesystem(dir);
    config.limits = Limits::unlimited();
    config.wal = WalOptions::default()
        .fsync(FsyncPolicy::EveryBatch)
        .segment_size(64 << 10);
    config.chunk = config.chunk.block_size(2_048).target_size(8_192);
    config
}

fn labels(id: u64) -> Labels {
    Labels::new([
        ("app", "crash"),
        ("stream", ["a", "b", "c"][(id % 3) as usize]),
    ])
    .unwrap()
}

/// Children with odd seeds (every other round) push from a multi-threaded
/// runtime's `block_on`, where a push logs its batch on its own thread,
/// the others from a current-thread runtime, where the blocking pool does.
fn child(dir: &str, first: u64, seed: u64) {
    let runtime = if seed % 2 == 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .unwrap();
    runtime.block_on(async {
        let store = Store::open(config(dir)).await.unwrap();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut stdout = std::io::stdout().lock();
        let mut id = first;
        loop {
            let mut streams: Vec<PushStream> = Vec::new();
            for n in id..id + BATCH {
                let entry = PushEntry::new(BASE + n as i64 * 1_000, format!("entry {n}"));
                match streams.iter_mut().find(|s| s.labels == labels(n)) {
                    Some(s) => s.entries.push(entry),
                    None => streams.push(PushStream {
                        labels: labels(n),
                        entries: vec![entry],
                    }),
                }
            }
            store.push_at("crash", streams, BASE).await.unwrap();
            id += BATCH;
            writeln!(stdout, "ack {}", id - 1).unwrap();
            stdout.flush().unwrap();
            if rng.u8(..20) == 0 {
                store.flush(rng.bool()).await.unwrap();
                writeln!(stdout, "flushed").unwrap();
            }
        }
    });
}

fn all_ids(dir: &str) -> Vec<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(config(dir)).await.unwrap();
        let selector =
            Selector::new(vec![Matcher::new("app", MatchOp::Equal, "crash").unwrap()]).unwrap();
        let streams = store
            .select(
                "crash",
                &selector,
                BASE,
                BASE + 1_000_000_000_000,
                Direction::Forward,
                usize::MAX,
            )
            .await
            .unwrap();
        let mut ids: Vec<u64> = streams
            .iter()
            .flat_map(|s| {
                s.entries.iter().map(|e| {
                    e.line
                        .strip_prefix("entry ")
                        .unwrap()
                        .parse::<u64>()
                        .unwrap()
                })
            })
            .collect();
        ids.sort_unstable();
        ids
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap());
        return;
    }
    // Under `cargo test -- --list` or a name filter, run normally: this
    // binary has one test, the crash test.
    if args.iter().any(|a| a == "--list") {
        println!("sigkill_twenty_times: test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_str = dir.path().to_str().unwrap().to_owned();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut acked: u64 = 0; // ids below this are acknowledged
    let mut next = 0u64;
    for round in 0..20 {
        // A seed as odd as the round: the children alternate runtimes.
        let seed = (rng.u64(..) & !1) | (round & 1);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child", &dir_str, &next.to_string(), &seed.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wait_for = rng.u32(1..60);
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(id) = line.strip_prefix("ack ") {
                acked = id.parse::<u64>().unwrap() + 1;
                seen += 1;
                if seen >= wait_for {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Acknowledgements printed before the kill count too.
        for line in lines {
            if let Some(id) = line.unwrap().strip_prefix("ack ") {
                acked = id.parse::<u64>().unwrap() + 1;
            }
        }
        child.wait().unwrap();

        let ids = all_ids(&dir_str);
        let mut deduped = ids.clone();
        deduped.dedup();
        assert_eq!(ids, deduped, "round {round}: an entry came back twice");
        for want in 0..acked {
            assert!(
                ids.binary_search(&want).is_ok(),
                "round {round}: acknowledged entry {want} lost"
            );
        }
        // The child continues after whatever it got in, acknowledged or not.
        next = ids.last().map_or(0, |last| last + 1).max(acked);
        println!("round {round}: {acked} acknowledged, {} stored", ids.len());
    }
    println!("1 passed, 0 failed");
}
