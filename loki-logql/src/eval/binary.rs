//! Binary operators between scalars and vectors, with `bool`, vector
//! matching (`on`, `ignoring`, `group_left`, `group_right`) and the set
//! operators. Division and modulo by zero give NaN, as in Loki.

use std::collections::{HashMap, HashSet};

use super::{StepVectors, Value};
use crate::error::{Error, Result};
use crate::syntax::ast::{BinaryExpr, BinaryOp, VectorMatching};
use crate::LabelSet;

/// `lhs op rhs` on numbers: `(value, keep)`; `keep` is false when a
/// comparison fails.
fn apply(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (if r == 0.0 { f64::NAN } else { l / r }, true),
        BinaryOp::Mod => (if r == 0.0 { f64::NAN } else { l % r }, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Eq => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gt => (l, l > r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lt => (l, l < r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (f64::NAN, false),
    }
}

pub(crate) fn eval_binary(b: &BinaryExpr, lhs: Value, rhs: Value) -> Result<Value> {
    let op = b.op;
    let cmp = op.is_comparison();
    Ok(match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => Value::Scalar(
            l.iter()
                .zip(&r)
                .map(|(&x, &y)| {
                    let (v, keep) = apply(op, x, y);
                    if cmp {
                        f64::from(u8::from(keep))
                    } else {
                        v
                    }
                })
                .collect(),
        ),
        (Value::Vector(v), Value::Scalar(s)) => Value::Vector(with_scalar(b, v, &s, false)),
        (Value::Scalar(s), Value::Vector(v)) => Value::Vector(with_scalar(b, v, &s, true)),
        (Value::Vector(l), Value::Vector(r)) => {
            let mut out = Vec::with_capacity(l.len());
            for (ls, rs) in l.into_iter().zip(r) {
                out.push(if op.is_set() {
                    set_op(op, b.matching.as_ref(), ls, rs)
                } else {
                    vector_op(b, ls, rs)?
                });
            }
            Value::Vector(out)
        }
    })
}

fn with_scalar(b: &BinaryExpr, v: StepVectors, s: &[f64], scalar_left: bool) -> StepVectors {
    let cmp = b.op.is_comparison();
    v.into_iter()
        .zip(s)
        .map(|(step, &x)| {
            step.into_iter()
                .filter_map(|(ls, y)| {
                    let (l, r) = if scalar_left { (x, y) } else { (y, x) };
                    let (mut val, keep) = apply(b.op, l, r);
                    if cmp {
                        val = y;
                        if b.return_bool {
                            val = f64::from(u8::from(keep));
                        } else if !keep {
                            return None;
                        }
                    }
                    Some((ls, val))
                })
                .collect()
        })
        .collect()
}

/// The labels vector matching compares.
fn signature(ls: &LabelSet, m: Option<&VectorMatching>) -> LabelSet {
    match m {
        None => ls.clone(),
        Some(m) => LabelSet {
            pairs: ls
                .iter()
                .filter(|(k, _)| m.labels.iter().any(|l| l == k) == m.on)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        },
    }
}

fn set_op(
    op: BinaryOp,
    m: Option<&VectorMatching>,
    l: Vec<(LabelSet, f64)>,
    r: Vec<(LabelSet, f64)>,
) -> Vec<(LabelSet, f64)> {
    let rsigs: HashSet<LabelSet> = r.iter().map(|(ls, _)| signature(ls, m)).collect();
    match op {
        BinaryOp::And => l
            .into_iter()
            .filter(|(ls, _)| rsigs.contains(&signature(ls, m)))
            .collect(),
        BinaryOp::Unless => l
            .into_iter()
            .filter(|(ls, _)| !rsigs.contains(&signature(ls, m)))
            .collect(),
        _ => {
            let lsigs: HashSet<LabelSet> = l.iter().map(|(ls, _)| signature(ls, m)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|(ls, _)| !lsigs.contains(&signature(ls, m))),
            );
            out
        }
    }
}

fn vector_op(
    b: &BinaryExpr,
    l: Vec<(LabelSet, f64)>,
    r: Vec<(LabelSet, f64)>,
) -> Result<Vec<(LabelSet, f64)>> {
    let m = b.matching.as_ref();
    let group = m.and_then(|m| m.group.as_ref());
    let right_many = group.is_some_and(|g| g.right);
    // "one" side indexed by signature; "many" side iterated.
    let (many, one) = if right_many { (r, l) } else { (l, r) };
    let mut index: HashMap<LabelSet, (LabelSet, f64)> = HashMap::new();
    for (ls, v) in one {
        let sig = signature(&ls, m);
        if index.insert(sig.clone(), (ls, v)).is_some() {
            return Err(Error::Evaluation(format!(
                "found duplicate series for the match group {sig} on the {} hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                if right_many { "left" } else { "right" }
            )));
        }
    }
    let cmp = b.op.is_comparison();
    let mut out = Vec::new();
    let mut seen: HashSet<LabelSet> = HashSet::new();
    for (ls, v) in many {
        let sig = signature(&ls, m);
        let Some((ols, ov)) = index.get(&sig) else {
            continue;
        };
        let (lv, rv) = if right_many { (*ov, v) } else { (v, *ov) };
        let (mut val, keep) = apply(b.op, lv, rv);
        if cmp {
            if b.return_bool {
                val = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            }
        }
        let labels = result_labels(&ls, ols, m, group.is_some());
        if !seen.insert(labels.clone()) {
            return Err(Error::Evaluation(if group.is_some() {
                format!("multiple matches for labels: grouping labels must ensure unique matches ({labels})")
            } else {
                format!("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right) ({labels})")
            }));
        }
        out.push((labels, val));
    }
    Ok(out)
}

fn result_labels(
    many: &LabelSet,
    one: &LabelSet,
    m: Option<&VectorMatching>,
    grouped: bool,
) -> LabelSet {
    let Some(m) = m else {
        return many.clone();
    };
    let mut pairs: Vec<(String, String)> = if grouped {
        many.pairs.clone()
    } else {
        signature(many, Some(m)).pairs
    };
    if let Some(g) = &m.group {
        for l in &g.labels {
            pairs.retain(|(k, _)| k != l);
            if let Some(v) = one.get(l) {
                pairs.push((l.clone(), v.to_owned()));
            }
        }
        pairs.sort();
    }
    LabelSet { pairs }
}
