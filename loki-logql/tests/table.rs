//! The query tables: every valid query parses, prints canonically, and the
//! canonical and pretty forms re-parse to the same AST; every invalid query
//! fails with the expected message at the expected column.

use loki_logql::{parse, Expr};

const VALID: &[&str] = &[
    include_str!("data/valid_hand.txt"),
    include_str!("data/valid_generated.txt"),
];
const INVALID: &str = include_str!("data/invalid.txt");

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

fn round_trip(q: &str) -> Result<Expr, String> {
    let e = parse(q).map_err(|err| format!("{q}\n{err}"))?;
    let canonical = e.to_string();
    let again = parse(&canonical).map_err(|err| format!("{q}\ncanonical {canonical}\n{err}"))?;
    // NaN literals (`1 / 0`) never compare equal; their print is checked.
    if again != e && !canonical.contains("(0 / 0)") {
        return Err(format!("{q}\ncanonical {canonical} re-parses differently"));
    }
    if again.to_string() != canonical {
        return Err(format!(
            "{q}\ncanonical form is not stable: {canonical} vs {again}"
        ));
    }
    let pretty = e.pretty();
    match parse(&pretty) {
        Ok(p) if p == e || p.to_string() == canonical => Ok(e),
        Ok(_) => Err(format!("{q}\npretty form re-parses differently:\n{pretty}")),
        Err(err) => Err(format!("{q}\npretty form fails:\n{pretty}\n{err}")),
    }
}

#[test]
fn valid_queries_round_trip() {
    let mut failures = Vec::new();
    let mut n = 0;
    for q in VALID.iter().flat_map(|t| lines(t)) {
        n += 1;
        if let Err(e) = round_trip(q) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(n >= 300, "only {n} valid queries");
}

#[test]
fn invalid_queries_fail_with_message_and_column() {
    let mut failures = Vec::new();
    let mut n = 0;
    for line in lines(INVALID) {
        n += 1;
        let mut parts = line.splitn(3, '\t');
        let (col, want, q) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        match parse(q) {
            Ok(e) => failures.push(format!("{q:?} parsed as {e}")),
            Err(err) => {
                let pe = err.as_parse().expect("parse error");
                let text = err.to_string();
                if !text.contains(want) {
                    failures.push(format!("{q:?}: want {want:?}, got\n{text}"));
                }
                let got_col = pe.line_col().1.to_string();
                if col != "-" && got_col != col {
                    failures.push(format!("{q:?}: want col {col}, got {got_col}\n{text}"));
                }
                if !text.contains("\n  ") || !text.contains('^') {
                    failures.push(format!("{q:?}: no caret snippet\n{text}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(n >= 100, "only {n} invalid queries");
}
