//! The `decolorize` stage: removes ANSI escape sequences from the line.

use memchr::memchr2;

/// Strips ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL`,
/// and two-byte `ESC x`) from `line` into `out`. Returns false (and leaves
/// `out` empty) when there is nothing to strip.
pub(crate) fn decolorize(line: &str, out: &mut String) -> bool {
    let b = line.as_bytes();
    if memchr2(0x1b, 0x9b, b).is_none() && !line.contains('\u{9b}') {
        return false;
    }
    out.clear();
    let mut chars = line.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        let csi = if c == '\u{1b}' {
            match chars.peek() {
                Some((_, '[')) => {
                    chars.next();
                    true
                }
                Some((_, ']')) => {
                    chars.next();
                    for (_, c) in chars.by_ref() {
                        if c == '\u{7}' {
                            break;
                        }
                    }
                    continue;
                }
                Some(_) => {
                    chars.next();
                    continue;
                }
                None => continue,
            }
        } else {
            c == '\u{9b}'
        };
        if !csi {
            out.push(c);
            continue;
        }
        for (_, c) in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                break;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips() {
        let mut out = String::new();
        assert!(super::decolorize("\u{1b}[31mred\u{1b}[0m text", &mut out));
        assert_eq!(out, "red text");
        assert!(!super::decolorize("plain", &mut out));
    }
}
