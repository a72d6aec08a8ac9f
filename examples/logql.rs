//! Formats or checks LogQL queries read from stdin, one per line.
//!
//! ```text
//! echo 'sum(rate({app="a"} |= "x" [5m])) by (job)' | cargo run --example logql -- fmt
//! cargo run --example logql -- check < queries.txt
//! ```
//!
//! `fmt` prints each query in the multi-line `format_query` form (or its
//! error); `check` prints `ok` or the error. Blank lines and lines starting
//! with `#` are skipped. Exits with status 1 if any query failed.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use loki::logql;

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "fmt" && mode != "check" {
        eprintln!("usage: logql fmt|check < queries (one per line)");
        return ExitCode::from(2);
    }
    let stdin = io::stdin();
    let mut out = io::stdout().lock();
    let mut failed = false;
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("reading stdin: {e}");
                return ExitCode::from(2);
            }
        };
        let query = line.trim();
        if query.is_empty() || query.starts_with('#') {
            continue;
        }
        let text = match (logql::parse(query), mode.as_str()) {
            (Ok(expr), "fmt") => expr.pretty(),
            (Ok(_), _) => "ok".to_owned(),
            (Err(e), _) => {
                failed = true;
                e.to_string()
            }
        };
        if writeln!(out, "{text}").is_err() {
            return ExitCode::from(2);
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
