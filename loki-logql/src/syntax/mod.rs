//! The LogQL language: lexer, parser, AST, checks, printers.
//!
//! | file | concept |
//! |---|---|
//! | `span.rs` | byte spans |
//! | `lexer.rs` | tokens |
//! | `literal.rs` | strings, durations, bytes, floats |
//! | `parser/` | one file per construct |
//! | `check.rs` | parse-time semantic checks |
//! | `regex.rs` | Go (RE2) regex syntax to Rust `regex` syntax |
//! | `pattern.rs` | `pattern` / `|>` syntax |
//! | `template/` | Go `text/template` parsing for `line_format`/`label_format` |
//! | `ast/` | the tree (log nodes, `metric.rs` for metric nodes) |
//! | `printer.rs` | canonical `Display` |
//! | `pretty.rs` | multi-line `format_query` form |

pub mod ast;
pub(crate) mod check;
pub(crate) mod labels;
pub(crate) mod lexer;
pub(crate) mod literal;
pub(crate) mod parser;
pub(crate) mod pattern;
pub(crate) mod pretty;
pub(crate) mod printer;
pub(crate) mod regex;
pub(crate) mod span;
pub(crate) mod template;
