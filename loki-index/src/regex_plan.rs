//! How a regex matcher is resolved against a sorted term dictionary.
//!
//! A label regex is analysed once, when the matcher is built:
//!
//! * `.*` and `.+` need no dictionary at all (every value / every non-empty
//!   value);
//! * a finite language (`a|b|c`, `(prod|staging)-eu`, `[ab]c`, `x?`) becomes
//!   a sorted list of literals looked up one by one;
//! * a finite set of prefixes followed by `.*` or `.+` (`checkout-.*`,
//!   `(a|b)-.+`) becomes fst range scans over `[prefix, successor(prefix))`;
//! * anything else is compiled to a dense DFA that walks the fst (see
//!   [`DfaAutomaton`]), visiting only the branches that can still match;
//! * if that DFA would be too large, the plan falls back to testing every
//!   value of this one label name with the regex ([`Plan::Scan`]).

use fst::Automaton;
use regex_automata::dfa::{dense, Automaton as _, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use regex_syntax::hir::{Class, Hir, HirKind};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most literals a finite-language plan may expand to.
const MAX_LITERALS: usize = 256;
/// Size limits for the fst-walking DFA.
const DFA_SIZE_LIMIT: usize = 4 << 20;

/// The lookup strategy for one regex.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// Matches every value, including the empty one.
    Any,
    /// Matches every non-empty value.
    NonEmpty,
    /// Matches exactly these values (sorted, deduplicated).
    Literals(Vec<Vec<u8>>),
    /// Matches values starting with one of the prefixes; with `non_empty_rest`
    /// the value must be strictly longer than the prefix.
    Prefixes {
        prefixes: Vec<Vec<u8>>,
        non_empty_rest: bool,
    },
    /// Walk the dictionary with this DFA.
    Automaton(Arc<dense::DFA<Vec<u32>>>),
    /// Test every value of the label name with the regex.
    Scan,
}

impl Plan {
    /// Analyses `pattern` (the unanchored user pattern; `.` matches `\n`).
    pub(crate) fn analyse(pattern: &str, anchored: &str) -> Plan {
        let Some(hir) = parse(pattern) else {
            return Plan::Scan;
        };
        if let Some(min) = any_repetition(&hir) {
            return if min == 0 { Plan::Any } else { Plan::NonEmpty };
        }
        if let Some(set) = finite(&hir) {
            return Plan::Literals(set.into_iter().collect());
        }
        if let HirKind::Concat(parts) = hir.kind() {
            if let Some((last, init)) = parts.split_last() {
                if let Some(min) = any_repetition(last) {
                    let init = Hir::concat(init.to_vec());
                    if let Some(set) = finite(&init) {
                        return Plan::Prefixes {
                            prefixes: minimal_prefixes(set),
                            non_empty_rest: min > 0,
                        };
                    }
                }
            }
        }
        match build_dfa(anchored) {
            Some(dfa) => Plan::Automaton(Arc::new(dfa)),
            None => Plan::Scan,
        }
    }
}

/// The HIR of the unanchored user pattern, with `.` matching `\n`.
fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .ok()
}

/// Literal prefixes such that every value the (fully anchored) `pattern`
/// matches starts with one of them: a cheap prefilter for plans that must
/// otherwise test values one by one ([`Plan::Automaton`], [`Plan::Scan`]).
///
/// `None` when no useful set is known (it would contain `""` or more than
/// [`MAX_LITERALS`] prefixes); `Some(vec![])` when the pattern matches
/// nothing. A value starting with a prefix may still fail the regex.
pub(crate) fn required_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let set = prefix_set(&parse(pattern)?)?;
    let prefixes = minimal_prefixes(set);
    if prefixes.iter().any(Vec::is_empty) {
        return None;
    }
    Some(prefixes)
}

/// A set of strings every string of `hir`'s language starts with (`None`:
/// unknown, as if `{""}`). Exact for finite languages, a superset otherwise.
fn prefix_set(hir: &Hir) -> Option<BTreeSet<Vec<u8>>> {
    if let Some(set) = finite(hir) {
        return Some(set);
    }
    match hir.kind() {
        HirKind::Capture(cap) => prefix_set(&cap.sub),
        // At least one copy of `sub` comes first.
        HirKind::Repetition(rep) if rep.min >= 1 => prefix_set(&rep.sub),
        HirKind::Alternation(alts) => {
            let mut out = BTreeSet::new();
            for alt in alts {
                out.extend(prefix_set(alt)?);
                if out.len() > MAX_LITERALS {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => {
            // Extend by finite parts; the first infinite one ends the prefix.
            let mut acc = BTreeSet::from([Vec::new()]);
            for part in parts {
                let (next, last) = match finite(part) {
                    Some(set) => (set, false),
                    None => match prefix_set(part) {
                        Some(set) => (set, true),
                        None => break,
                    },
                };
                if acc.len().saturating_mul(next.len()) > MAX_LITERALS {
                    break;
                }
                acc = acc
                    .iter()
                    .flat_map(|a| next.iter().map(move |b| [a.as_slice(), b].concat()))
                    .collect();
                if last {
                    break;
                }
            }
            Some(acc)
        }
        _ => None,
    }
}

fn build_dfa(anchored: &str) -> Option<dense::DFA<Vec<u32>>> {
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .match_kind(MatchKind::All)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .thompson(regex_automata::nfa::thompson::Config::new().nfa_size_limit(Some(DFA_SIZE_LIMIT)))
        .build(anchored)
        .ok()
        // A DFA without an anchored start state could not walk the fst.
        .filter(|dfa| {
            dfa.start_state(&start::Config::new().anchored(Anchored::Yes))
                .is_ok()
        })
}

/// `Some(min)` if `hir` is `.{min,}` with `.` matching any character.
fn any_repetition(hir: &Hir) -> Option<u32> {
    match hir.kind() {
        HirKind::Repetition(rep) if rep.max.is_none() && rep.min <= 1 && is_any_char(&rep.sub) => {
            Some(rep.min)
        }
        HirKind::Capture(cap) => any_repetition(&cap.sub),
        _ => None,
    }
}

fn is_any_char(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == '\u{10FFFF}'
        }
        HirKind::Capture(cap) => is_any_char(&cap.sub),
        _ => false,
    }
}

/// The finite language of `hir`, if it has at most [`MAX_LITERALS`] strings.
fn finite(hir: &Hir) -> Option<BTreeSet<Vec<u8>>> {
    let one = |v: Vec<u8>| Some(BTreeSet::from([v]));
    match hir.kind() {
        HirKind::Empty => one(Vec::new()),
        HirKind::Literal(lit) => one(lit.0.to_vec()),
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = BTreeSet::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    if out.len() >= MAX_LITERALS {
                        return None;
                    }
                    out.insert(ch.to_string().into_bytes());
                }
            }
            Some(out)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut out = BTreeSet::new();
            for r in c.ranges() {
                if r.end() >= 0x80 {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.insert(vec![b]);
                }
            }
            Some(out)
        }
        HirKind::Capture(cap) => finite(&cap.sub),
        HirKind::Concat(parts) => {
            let mut acc = BTreeSet::from([Vec::new()]);
            for part in parts {
                let next = finite(part)?;
                if acc.len().saturating_mul(next.len()) > MAX_LITERALS {
                    return None;
                }
                acc = acc
                    .iter()
                    .flat_map(|a| next.iter().map(move |b| [a.as_slice(), b].concat()))
                    .collect();
            }
            Some(acc)
        }
        HirKind::Alternation(alts) => {
            let mut out = BTreeSet::new();
            for alt in alts {
                out.extend(finite(alt)?);
                if out.len() > MAX_LITERALS {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Repetition(rep) => {
            let max = rep.max?;
            if max > 8 {
                return None;
            }
            let sub = finite(&rep.sub)?;
            let mut out = BTreeSet::new();
            let mut power = BTreeSet::from([Vec::new()]);
            for k in 0..=max {
                if k >= rep.min {
                    out.extend(power.iter().cloned());
                }
                if out.len() > MAX_LITERALS || power.len().saturating_mul(sub.len()) > MAX_LITERALS
                {
                    return None;
                }
                power = power
                    .iter()
                    .flat_map(|a| sub.iter().map(move |b| [a.as_slice(), b].concat()))
                    .collect();
            }
            Some(out)
        }
        HirKind::Look(_) => None,
    }
}

/// Drops prefixes that another (shorter) prefix in the set already covers.
fn minimal_prefixes(set: BTreeSet<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for p in set {
        if !out.iter().any(|q| p.starts_with(q)) {
            out.push(p);
        }
    }
    out
}

/// The smallest byte string greater than every string starting with `prefix`
/// (`None` if there is none, i.e. the prefix is all `0xFF`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A dense DFA of the anchored pattern, as an fst automaton.
#[derive(Debug)]
pub(crate) struct DfaAutomaton<'a>(pub(crate) &'a dense::DFA<Vec<u32>>);

impl Automaton for DfaAutomaton<'_> {
    type State = Option<StateID>;

    fn start(&self) -> Option<StateID> {
        self.0
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .ok()
    }

    fn is_match(&self, state: &Option<StateID>) -> bool {
        state.is_some_and(|id| self.0.is_match_state(self.0.next_eoi_state(id)))
    }

    fn can_match(&self, state: &Option<StateID>) -> bool {
        state.is_some_and(|id| !self.0.is_dead_state(id))
    }

    fn accept(&self, state: &Option<StateID>, byte: u8) -> Option<StateID> {
        state.map(|id| self.0.next_state(id, byte))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(p: &str) -> Plan {
        Plan::analyse(p, &format!("^(?s:{p})$"))
    }

    #[test]
    fn classifies() {
        assert!(matches!(plan(".*"), Plan::Any));
        assert!(matches!(plan("(.+)"), Plan::NonEmpty));
        match plan("prod|staging|dev") {
            Plan::Literals(l) => assert_eq!(l, [&b"dev"[..], b"prod", b"staging"]),
            p => panic!("{p:?}"),
        }
        match plan("checkout-.*") {
            Plan::Prefixes {
                prefixes,
                non_empty_rest,
            } => {
                assert_eq!(prefixes, [b"checkout-".to_vec()]);
                assert!(!non_empty_rest);
            }
            p => panic!("{p:?}"),
        }
        assert!(matches!(
            plan("(a|ab).+"),
            Plan::Prefixes {
                non_empty_rest: true,
                ..
            }
        ));
        assert!(matches!(plan("a.*b"), Plan::Automaton(_)));
        assert!(matches!(plan("x?y"), Plan::Literals(_)));
        assert!(matches!(plan(r"\bfoo"), Plan::Scan | Plan::Automaton(_)));
    }

    #[test]
    fn required() {
        let req = |p: &str| required_prefixes(p);
        let v = |xs: &[&str]| Some(xs.iter().map(|x| x.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(req("checkout-.+-[0-9]*"), v(&["checkout-"]));
        assert_eq!(req("(ab|cd)[0-9]*x"), v(&["ab", "cd"]));
        assert_eq!(req("a(b|c)+d"), v(&["ab", "ac"]));
        assert_eq!(req(r"f\.o.*\d"), v(&["f.o"]));
        assert_eq!(req("(a.*|b+c)z"), v(&["a", "b"]));
        assert_eq!(req("é[^x]*"), v(&["é"]));
        assert_eq!(req(r"ab\bc.*d"), v(&["ab"]));
        assert_eq!(req("(|a)b.*c"), v(&["ab", "b"]));
        assert_eq!(req("p[0-3].*x"), v(&["p0", "p1", "p2", "p3"]));
        // A covered prefix is dropped.
        assert_eq!(req("(a|ab).*x"), v(&["a"]));
        // Optional or unknown starts give no prefixes.
        assert_eq!(req("x*y.*z"), None);
        assert_eq!(req(".*o.*"), None);
        assert_eq!(req("[^a]b.*"), None);
        // A DFA over the size limit: the plan scans, within the prefixes.
        let big = "p1(.*x[a-z]{14})?";
        assert!(matches!(plan(big), Plan::Scan));
        assert_eq!(req(big), v(&["p1"]));
        // The language is empty.
        assert_eq!(req(r"[^\x00-\x{10FFFF}]"), Some(vec![]));
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
