//! Vector aggregations and `label_replace`, applied step by step.

use std::collections::HashMap;

use super::acc::quantile;
use super::range::group_labels;
use super::{StepVectors, Value};
use crate::error::{Error, Result};
use crate::pipeline::anchored_regex;
use crate::syntax::ast::{Grouping, LabelReplace, VectorAggregation, VectorOp};
use crate::LabelSet;

fn vectors(v: Value, what: &str) -> Result<StepVectors> {
    match v {
        Value::Vector(v) => Ok(v),
        Value::Scalar(_) => Err(Error::Evaluation(format!(
            "{what} expects a vector, got a scalar"
        ))),
    }
}

fn key(ls: &LabelSet, g: Option<&Grouping>) -> LabelSet {
    match g {
        Some(g) => group_labels(ls, g),
        None => LabelSet::default(),
    }
}

/// `sum`, `avg`, … `topk`, `sort` over each step.
pub(crate) fn aggregate(a: &VectorAggregation, inner: Value) -> Result<StepVectors> {
    let input = vectors(inner, a.op.as_str())?;
    let g = a.grouping.as_ref();
    let mut out = Vec::with_capacity(input.len());
    for step in input {
        out.push(match a.op {
            VectorOp::Sort | VectorOp::SortDesc => {
                let mut v = step;
                v.sort_by(|x, y| {
                    let o = x.1.total_cmp(&y.1);
                    if a.op == VectorOp::SortDesc {
                        o.reverse()
                    } else {
                        o
                    }
                });
                v
            }
            VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk => {
                let k = a.param.unwrap_or(1) as usize;
                let mut groups: HashMap<LabelSet, Vec<(LabelSet, f64)>> = HashMap::new();
                for (ls, v) in step {
                    groups.entry(key(&ls, g)).or_default().push((ls, v));
                }
                let top = a.op != VectorOp::Bottomk;
                let mut res = Vec::new();
                let mut keys: Vec<_> = groups.into_iter().collect();
                keys.sort_by(|x, y| x.0.cmp(&y.0));
                for (_, mut members) in keys {
                    // NaN sorts last either way.
                    members.sort_by(|x, y| {
                        let o = match (x.1.is_nan(), y.1.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if top => y.1.total_cmp(&x.1),
                            _ => x.1.total_cmp(&y.1),
                        };
                        o.then_with(|| x.0.cmp(&y.0))
                    });
                    members.truncate(k);
                    res.extend(members);
                }
                res
            }
            _ => {
                let mut groups: HashMap<LabelSet, Vec<f64>> = HashMap::new();
                for (ls, v) in step {
                    groups.entry(key(&ls, g)).or_default().push(v);
                }
                groups
                    .into_iter()
                    .map(|(k, vals)| (k, reduce(a.op, &vals)))
                    .collect()
            }
        });
    }
    Ok(out)
}

fn reduce(op: VectorOp, vals: &[f64]) -> f64 {
    let n = vals.len() as f64;
    match op {
        VectorOp::Sum => vals.iter().sum(),
        VectorOp::Count => n,
        VectorOp::Avg => {
            let mut mean = 0.0;
            for (i, v) in vals.iter().enumerate() {
                mean += (v - mean) / (i + 1) as f64;
            }
            mean
        }
        VectorOp::Min | VectorOp::Max => {
            let mut acc = f64::NAN;
            for &v in vals {
                let better = if op == VectorOp::Min {
                    v < acc
                } else {
                    v > acc
                };
                if acc.is_nan() || better {
                    acc = v;
                }
            }
            acc
        }
        VectorOp::Stddev | VectorOp::Stdvar => {
            let (mut mean, mut m2) = (0.0, 0.0);
            for (i, v) in vals.iter().enumerate() {
                let d = v - mean;
                mean += d / (i + 1) as f64;
                m2 += d * (v - mean);
            }
            let var = m2 / n;
            if op == VectorOp::Stddev {
                var.sqrt()
            } else {
                var
            }
        }
        _ => quantile(0.5, &mut vals.to_vec()),
    }
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in a replacement.
fn expand(repl: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    caps.expand(repl, &mut out);
    out
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(l: &LabelReplace, inner: Value) -> Result<StepVectors> {
    let input = vectors(inner, "label_replace")?;
    let re = anchored_regex(&l.regex)
        .ok_or_else(|| Error::Plan(format!("label_replace regex {:?}", l.regex)))?;
    let mut out = Vec::with_capacity(input.len());
    for step in input {
        let mut v = Vec::with_capacity(step.len());
        for (ls, x) in step {
            let src = ls.get(&l.src).unwrap_or("").to_owned();
            let Some(caps) = re.captures(&src) else {
                v.push((ls, x));
                continue;
            };
            let value = expand(&l.replacement, &caps);
            let mut pairs: Vec<(String, String)> = ls
                .into_pairs()
                .into_iter()
                .filter(|(k, _)| *k != l.dst)
                .collect();
            if !value.is_empty() {
                pairs.push((l.dst.clone(), value));
                pairs.sort();
            }
            v.push((LabelSet { pairs }, x));
        }
        let mut seen = std::collections::HashSet::new();
        for (ls, _) in &v {
            if !seen.insert(ls.clone()) {
                return Err(Error::Evaluation(
                    "vector cannot contain metrics with the same labelset".to_owned(),
                ));
            }
        }
        out.push(v);
    }
    Ok(out)
}
