//! Recursive-descent parser over template tokens, with Go's checks:
//! balanced `if`/`range`/`with`/`end`, known functions, declared variables,
//! `break`/`continue` only inside `range`.

use super::lexer::TTok;
use super::{Arg, Branch, Node, Pipeline, Template, FUNCTIONS};

pub(super) struct Parser {
    toks: Vec<TTok>,
    pos: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

/// Deepest nesting of blocks and parenthesised pipelines accepted.
const MAX_DEPTH: usize = 100;

/// What ended a node list.
enum Stop {
    Eof,
    End,
    Else,
}

impl Parser {
    pub(super) fn new(toks: Vec<TTok>) -> Self {
        Parser {
            toks,
            pos: 0,
            vars: vec!["$".to_owned()],
            range_depth: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<&TTok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<TTok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), String> {
        match self.next() {
            Some(TTok::Close) => Ok(()),
            Some(t) => Err(format!("unexpected {} in {ctx}", describe(&t))),
            None => Err(format!("unclosed action in {ctx}")),
        }
    }

    pub(super) fn template(mut self) -> Result<Template, String> {
        let (root, end) = self.list()?;
        match end {
            Stop::Eof => Ok(Template { root }),
            Stop::End => Err("unexpected {{end}}".to_owned()),
            Stop::Else => Err("unexpected {{else}}".to_owned()),
        }
    }

    /// Nodes up to `{{end}}`, `{{else…` (left after the keyword) or EOF.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        loop {
            match self.next() {
                None => return Ok((nodes, Stop::Eof)),
                Some(TTok::Text(t)) => nodes.push(Node::Text(t)),
                Some(TTok::Open) => {
                    if let Some(TTok::Ident(kw)) = self.peek() {
                        match kw.as_str() {
                            "end" => {
                                self.pos += 1;
                                self.expect_close("end")?;
                                return Ok((nodes, Stop::End));
                            }
                            "else" => {
                                self.pos += 1;
                                return Ok((nodes, Stop::Else));
                            }
                            _ => {}
                        }
                    }
                    nodes.push(self.action()?);
                }
                Some(t) => return Err(format!("unexpected {}", describe(&t))),
            }
        }
    }

    fn action(&mut self) -> Result<Node, String> {
        let kw = match self.peek() {
            Some(TTok::Ident(k)) => k.clone(),
            _ => {
                let pipe = self.pipeline("command", true)?;
                self.expect_close("command")?;
                return Ok(Node::Action(pipe));
            }
        };
        match kw.as_str() {
            "if" | "with" | "range" => {
                self.pos += 1;
                let scope = self.vars.len();
                let node = self.branch(&kw)?;
                self.vars.truncate(scope);
                Ok(node)
            }
            "break" | "continue" => {
                self.pos += 1;
                if self.range_depth == 0 {
                    return Err(format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                }
                self.expect_close(&kw)?;
                Ok(if kw == "break" {
                    Node::Break
                } else {
                    Node::Continue
                })
            }
            "template" => {
                self.pos += 1;
                let name = match self.next() {
                    Some(TTok::Str(s)) => s,
                    _ => return Err("template name must be a string".to_owned()),
                };
                let pipe = if self.peek() == Some(&TTok::Close) {
                    None
                } else {
                    Some(self.pipeline("template", false)?)
                };
                self.expect_close("template")?;
                Ok(Node::Template(name, pipe))
            }
            "define" | "block" => Err(format!("{{{{{kw}}}}} is not supported in LogQL templates")),
            _ => {
                let pipe = self.pipeline("command", true)?;
                self.expect_close("command")?;
                Ok(Node::Action(pipe))
            }
        }
    }

    /// `if`/`with`/`range` after the keyword.
    fn branch(&mut self, kw: &str) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("template nested more than {MAX_DEPTH} levels"));
        }
        let node = self.branch_inner(kw);
        self.depth -= 1;
        node
    }

    fn branch_inner(&mut self, kw: &str) -> Result<Node, String> {
        let pipe = self.pipeline(kw, true)?;
        self.expect_close(kw)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (then, end) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let otherwise = match end {
            Stop::Eof => return Err(format!("unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}")),
            Stop::End => Vec::new(),
            Stop::Else => {
                // `{{else if …}}` / `{{else with …}}` chain into a nested branch.
                match self.peek() {
                    Some(TTok::Ident(k)) if (k == "if" || k == "with") && kw != "range" => {
                        let k = k.clone();
                        self.pos += 1;
                        vec![self.branch(&k)?]
                    }
                    _ => {
                        self.expect_close("else")?;
                        let (list, end) = self.list()?;
                        match end {
                            Stop::End => list,
                            Stop::Else => return Err("expected {{end}}, found {{else}}".to_owned()),
                            Stop::Eof => {
                                return Err(format!(
                                    "unexpected EOF: {{{{{kw}}}}} without {{{{end}}}}"
                                ))
                            }
                        }
                    }
                }
            }
        };
        let b = Branch {
            pipe,
            then,
            otherwise,
        };
        Ok(match kw {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    fn pipeline(&mut self, ctx: &str, allow_decl: bool) -> Result<Pipeline, String> {
        let mut decl = Vec::new();
        let mut assign = false;
        if allow_decl {
            if let Some(d) = self.declaration()? {
                (decl, assign) = d;
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            if cmd.is_empty() {
                return Err(format!("missing value for {ctx}"));
            }
            cmds.push(cmd);
            if self.peek() == Some(&TTok::Pipe) {
                self.pos += 1;
            } else {
                break;
            }
        }
        for v in &decl {
            if !assign || !self.vars.contains(v) {
                self.vars.push(v.clone());
            }
        }
        Ok(Pipeline { decl, assign, cmds })
    }

    /// `$x :=`, `$x =`, `$i, $e :=`, if present.
    fn declaration(&mut self) -> Result<Option<(Vec<String>, bool)>, String> {
        let start = self.pos;
        let mut names = Vec::new();
        while let Some(TTok::Variable(v)) = self.peek() {
            names.push(v.clone());
            self.pos += 1;
            match self.peek() {
                Some(TTok::Comma) if names.len() < 2 => self.pos += 1,
                Some(TTok::Declare) => {
                    self.pos += 1;
                    return Ok(Some((names, false)));
                }
                Some(TTok::Assign) => {
                    self.pos += 1;
                    for n in &names {
                        if !self.vars.contains(n) {
                            return Err(format!("undefined variable \"{n}\""));
                        }
                    }
                    return Ok(Some((names, true)));
                }
                _ => break,
            }
        }
        self.pos = start;
        Ok(None)
    }

    /// Operands up to `|`, `)` or `}}`.
    fn command(&mut self) -> Result<Vec<Arg>, String> {
        let mut args = Vec::new();
        loop {
            match self.peek() {
                None | Some(TTok::Close | TTok::Pipe | TTok::RParen) => return Ok(args),
                _ => args.push(self.operand()?),
            }
        }
    }

    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(TTok::Chain(f)) = self.peek() {
            out.push(f.clone());
            self.pos += 1;
        }
        out
    }

    fn operand(&mut self) -> Result<Arg, String> {
        let tok = self.next().ok_or("unclosed action")?;
        Ok(match tok {
            TTok::Dot => Arg::Field(Vec::new()),
            TTok::Field(f) => {
                let mut all = vec![f];
                all.extend(self.fields());
                Arg::Field(all)
            }
            TTok::Variable(v) => {
                if !self.vars.contains(&v) {
                    return Err(format!("undefined variable \"{v}\""));
                }
                Arg::Variable(v, self.fields())
            }
            TTok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ if FUNCTIONS.contains(&name.as_str()) => Arg::Func(name),
                _ => return Err(format!("function \"{name}\" not defined")),
            },
            TTok::LParen => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!("template nested more than {MAX_DEPTH} levels"));
                }
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.depth -= 1;
                match self.next() {
                    Some(TTok::RParen) => {}
                    _ => return Err("unclosed left paren".to_owned()),
                }
                Arg::Sub(Box::new(p), self.fields())
            }
            TTok::Str(s) => Arg::Str(s),
            TTok::Char(c) => Arg::Number((c as u32).to_string()),
            TTok::Number(n) => Arg::Number(n),
            t => return Err(format!("unexpected {} in operand", describe(&t))),
        })
    }
}

fn describe(t: &TTok) -> String {
    match t {
        TTok::Text(_) => "text".to_owned(),
        TTok::Open => "\"{{\"".to_owned(),
        TTok::Close => "\"}}\"".to_owned(),
        TTok::Pipe => "\"|\"".to_owned(),
        TTok::LParen => "\"(\"".to_owned(),
        TTok::RParen => "\")\"".to_owned(),
        TTok::Comma => "\",\"".to_owned(),
        TTok::Declare => "\":=\"".to_owned(),
        TTok::Assign => "\"=\"".to_owned(),
        TTok::Dot => "\".\"".to_owned(),
        TTok::Field(f) | TTok::Chain(f) => format!("field .{f}"),
        TTok::Variable(v) => format!("variable {v}"),
        TTok::Ident(i) => format!("\"{i}\""),
        TTok::Str(s) => format!("string {s:?}"),
        TTok::Char(c) => format!("character {c:?}"),
        TTok::Number(n) => format!("number {n}"),
    }
}
