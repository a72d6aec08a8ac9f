//! Execution of Go `text/template` templates for `line_format` and
//! `label_format`, over the templates parsed by `syntax::template`.
//!
//! The data (`.`) is the line's label map; `__line__` and `__timestamp__`
//! give the line and its time. Functions are Loki's list (see
//! [`funcs`]). Missing labels render as `""`. Execution is bounded: at
//! most [`MAX_OUTPUT`] bytes and [`MAX_STEPS`] evaluation steps, beyond
//! which the template fails (so a line gets `TemplateFormatErr`).

pub(crate) mod funcs;
mod text;
mod time;
pub(crate) mod value;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::pipeline::labels::LabelsBuilder;
use crate::syntax::template::{Arg, Branch, Node, Pipeline, Template};
use value::Value;

/// Largest rendering, in bytes.
pub(crate) const MAX_OUTPUT: usize = 1 << 20;
/// Most evaluation steps per execution.
pub(crate) const MAX_STEPS: usize = 100_000;

/// What a template sees besides the labels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The line (`__line__`).
    pub(crate) line: &'a str,
    /// The entry time, Unix ns (`__timestamp__`).
    pub(crate) ts: i64,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    tmpl: Template,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// The root label map, looked up lazily.
#[derive(Clone, Copy)]
enum Dot<'v> {
    Root,
    Val(&'v Value),
}

struct Exec<'a> {
    labels: &'a LabelsBuilder,
    ctx: Ctx<'a>,
    vars: Vec<(String, Value)>,
    steps: usize,
}

type R<T> = Result<T, String>;

impl Compiled {
    /// Parses a template the query parser has already validated.
    pub(crate) fn new(src: &str) -> Option<Compiled> {
        Template::parse(src).ok().map(|tmpl| Compiled { tmpl })
    }

    /// Renders into `out` (cleared first).
    pub(crate) fn render(&self, labels: &LabelsBuilder, ctx: Ctx<'_>, out: &mut String) -> R<()> {
        out.clear();
        let mut ex = Exec {
            labels,
            ctx,
            vars: vec![("$".to_owned(), Value::Nil)],
            steps: 0,
        };
        ex.nodes(&self.tmpl.root, Dot::Root, out).map(|_| ())
    }
}

impl Exec<'_> {
    fn root_map(&self) -> Value {
        let mut m = BTreeMap::new();
        if let Some(v) = self.labels.get(crate::pipeline::labels::ERROR_LABEL) {
            m.insert("__error__".to_owned(), Value::str(v));
        }
        let mut pairs = Vec::new();
        labels_each(self.labels, |k, v| {
            pairs.push((k.to_owned(), Value::str(v)))
        });
        m.extend(pairs);
        Value::Map(Rc::new(m))
    }

    fn dot_value(&self, dot: Dot<'_>) -> Value {
        match dot {
            Dot::Root => self.root_map(),
            Dot::Val(v) => v.clone(),
        }
    }

    fn nodes(&mut self, nodes: &[Node], dot: Dot<'_>, out: &mut String) -> R<Flow> {
        for n in nodes {
            self.steps += 1;
            if self.steps > MAX_STEPS || out.len() > MAX_OUTPUT {
                return Err("template execution exceeded its limits".to_owned());
            }
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    if p.decl.is_empty() && p.cmds.len() == 1 && p.cmds[0].len() == 1 {
                        if let (Arg::Field(f), Dot::Root) = (&p.cmds[0][0], dot) {
                            if f.len() == 1 {
                                out.push_str(self.labels.get(&f[0]).unwrap_or(""));
                                continue;
                            }
                        }
                    }
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        v.write_to(out);
                    }
                }
                Node::If(b) => {
                    let scope = self.vars.len();
                    let c = self.pipeline(&b.pipe, dot)?;
                    let f = if c.truthy() {
                        self.nodes(&b.then, dot, out)?
                    } else {
                        self.nodes(&b.otherwise, dot, out)?
                    };
                    self.vars.truncate(scope);
                    if !matches!(f, Flow::Normal) {
                        return Ok(f);
                    }
                }
                Node::With(b) => {
                    let scope = self.vars.len();
                    let c = self.pipeline(&b.pipe, dot)?;
                    let f = if c.truthy() {
                        self.nodes(&b.then, Dot::Val(&c), out)?
                    } else {
                        self.nodes(&b.otherwise, dot, out)?
                    };
                    self.vars.truncate(scope);
                    if !matches!(f, Flow::Normal) {
                        return Ok(f);
                    }
                }
                Node::Range(b) => self.range(b, dot, out)?,
                Node::Template(name, _) => {
                    return Err(format!("template: no template {name:?} associated"))
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, b: &Branch, dot: Dot<'_>, out: &mut String) -> R<()> {
        let scope = self.vars.len();
        let mut p = b.pipe.clone();
        let decl = std::mem::take(&mut p.decl);
        let coll = self.pipeline(&p, dot)?;
        let items: Vec<(Value, Value)> = match &coll {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil => Vec::new(),
            v => return Err(format!("range can't iterate over {}", v.to_text())),
        };
        if items.is_empty() {
            self.nodes(&b.otherwise, dot, out)?;
        }
        for (k, v) in items {
            let inner = self.vars.len();
            match decl.as_slice() {
                [e] => self.vars.push((e.clone(), v.clone())),
                [i, e] => {
                    self.vars.push((i.clone(), k));
                    self.vars.push((e.clone(), v.clone()));
                }
                _ => {}
            }
            let f = self.nodes(&b.then, Dot::Val(&v), out)?;
            self.vars.truncate(inner);
            if matches!(f, Flow::Break) {
                break;
            }
        }
        self.vars.truncate(scope);
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: Dot<'_>) -> R<Value> {
        let mut val: Option<Value> = None;
        for cmd in &p.cmds {
            val = Some(self.command(cmd, dot, val)?);
        }
        let v = val.unwrap_or(Value::Nil);
        if let Some(name) = p.decl.first() {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, cmd: &[Arg], dot: Dot<'_>, prev: Option<Value>) -> R<Value> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err("template execution exceeded its limits".to_owned());
        }
        match cmd.first() {
            Some(Arg::Func(name)) => {
                let mut args = Vec::with_capacity(cmd.len());
                for a in &cmd[1..] {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(p) = prev {
                    args.push(p);
                }
                funcs::call(name, args, self.ctx)
            }
            Some(a) => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err("can't give argument to non-function".to_owned());
                }
                self.arg(a, dot)
            }
            None => Err("empty command".to_owned()),
        }
    }

    fn arg(&mut self, a: &Arg, dot: Dot<'_>) -> R<Value> {
        Ok(match a {
            Arg::Field(path) => match (dot, path.split_first()) {
                (_, None) => self.dot_value(dot),
                (Dot::Root, Some((first, rest))) => {
                    let v = Value::str(self.labels.get(first).unwrap_or(""));
                    walk(v, rest)?
                }
                (Dot::Val(v), Some(_)) => walk(v.clone(), path)?,
            },
            Arg::Variable(name, fields) => {
                let v = if name == "$" {
                    self.root_map()
                } else {
                    self.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| format!("undefined variable {name}"))?
                };
                walk(v, fields)?
            }
            Arg::Func(name) => funcs::call(name, Vec::new(), self.ctx)?,
            Arg::Sub(p, fields) => {
                let v = self.pipeline(p, dot)?;
                walk(v, fields)?
            }
            Arg::Str(s) => Value::str(s),
            Arg::Number(n) => parse_number(n)?,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
        })
    }
}

fn labels_each(l: &LabelsBuilder, mut f: impl FnMut(&str, &str)) {
    l.for_each_ref(&mut f);
}

fn walk(mut v: Value, fields: &[String]) -> R<Value> {
    for f in fields {
        v = match &v {
            Value::Map(m) => m.get(f).cloned().unwrap_or_else(|| Value::str("")),
            Value::Nil => return Err(format!("nil pointer evaluating .{f}")),
            other => return Err(format!("can't evaluate field {f} in {}", other.to_text())),
        };
    }
    Ok(v)
}

fn parse_number(n: &str) -> R<Value> {
    let t = n.replace('_', "");
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = body.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok(Value::Int(if neg { -i } else { i }));
    }
    t.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| format!("illegal number syntax: {n}"))
}
