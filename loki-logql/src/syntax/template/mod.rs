//! Go `text/template` templates as used by `line_format` and `label_format`.
//!
//! The AST keeps templates as text; this module parses them at query parse
//! time so that a bad template (syntax error, unknown function, undefined
//! variable) is a parse error. The parsed [`Template`] keeps the node tree
//! for an evaluator to execute.

mod lexer;
mod parse;

/// Functions available to templates: Loki's own, the Sprig subset Loki
/// registers, and Go's built-ins.
pub(crate) const FUNCTIONS: &[&str] = &[
    // Loki-specific
    "__line__",
    "__timestamp__",
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urlencode",
    "urldecode",
    "bytes",
    "duration",
    "duration_seconds",
    "unixEpochMillis",
    "unixEpochNanos",
    "toDateInZone",
    "unixToTime",
    "alignLeft",
    "alignRight",
    "b64dec",
    // Sprig subset
    "b64enc",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "fromJson",
    "date",
    "toDate",
    "now",
    "unixEpoch",
    "default",
    // Go built-ins
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "printf",
    "print",
    "println",
    "slice",
    "html",
    "js",
    "urlquery",
    "call",
];

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pub(crate) root: Vec<Node>,
}

/// A template node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    /// `{{pipeline}}`
    Action(Pipeline),
    If(Branch),
    Range(Branch),
    With(Branch),
    /// `{{template "name" pipeline}}`
    Template(String, Option<Pipeline>),
    Break,
    Continue,
}

/// The shared shape of `if`, `range` and `with`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipeline,
    pub(crate) then: Vec<Node>,
    pub(crate) otherwise: Vec<Node>,
}

/// `[$x :=] cmd | cmd …`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub(crate) decl: Vec<String>,
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Vec<Arg>>,
}

/// One operand of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// `.` followed by field names (`.a.b` = `["a", "b"]`, `.` = `[]`).
    Field(Vec<String>),
    /// `$x.a.b`
    Variable(String, Vec<String>),
    /// A function call by name (arguments are the following operands).
    Func(String),
    /// `(pipeline).a`
    Sub(Box<Pipeline>, Vec<String>),
    Str(String),
    Number(String),
    Bool(bool),
    Nil,
}

impl Template {
    /// Parses and validates `src`; the error explains the problem.
    pub(crate) fn parse(src: &str) -> Result<Template, String> {
        if !src.contains("{{") {
            return Ok(Template {
                root: vec![Node::Text(src.to_owned())],
            });
        }
        parse::Parser::new(lexer::lex(src)?).template()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        for t in [
            "plain",
            "{{.msg}}",
            "{{ .a.b }} {{- .c -}} x",
            "{{ToUpper .level}}",
            "{{ .status | ToLower | printf \"%s!\" }}",
            "{{if eq .a \"b\"}}x{{else if .c}}y{{else}}z{{end}}",
            "{{range $i, $e := .list}}{{$i}}={{$e}}{{end}}",
            "{{with .x}}{{.}}{{else}}none{{end}}",
            "{{ $v := .a }}{{ $v }}{{ $v = 3 }}",
            "{{ __line__ | upper }}",
            "{{ __timestamp__ | unixEpochMillis }}",
            "{{/* comment */}}x{{- /* c */ -}}",
            "{{ (div .a 1000) | printf \"%.2f\" }}",
            "{{ regexReplaceAll \"(a)\" .b \"$1\" }}",
            "{{ add 1 -2 }} {{ 'c' }} {{ `raw` }} {{ nil | default \"x\" }} {{ true }}",
            "{{range .x}}{{if .y}}{{break}}{{end}}{{continue}}{{end}}",
        ] {
            Template::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn invalid() {
        for t in [
            "{{.msg",
            "{{nosuchfunc .a}}",
            "{{if .a}}x",
            "{{end}}",
            "{{else}}",
            "{{ $undefined }}",
            "{{ .a | }}",
            "{{ ( .a }}",
            "{{ \"unterminated }}",
            "{{ break }}",
            "{{ 1x }}",
            "{{ }}",
            "{{/* open }}",
            "{{ .a ; }}",
        ] {
            assert!(Template::parse(t).is_err(), "{t}");
        }
    }
}
