//! Parsing arbitrary text never panics; an accepted query prints to a
//! canonical form that parses again, and label-set parsing never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loki_logql::parse_labels(text);
    if let Ok(expr) = loki_logql::parse(text) {
        let canonical = expr.to_string();
        let again = loki_logql::parse(&canonical).unwrap_or_else(|e| {
            panic!("canonical form of {text:?} does not parse: {canonical}\n{e}")
        });
        assert_eq!(again.to_string(), canonical, "canonical form is not stable");
    } else if let Err(e) = loki_logql::parse(text) {
        // Formatting the error (line/column, caret) must not panic either.
        let _ = e.to_string();
    }
});
