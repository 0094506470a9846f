//! `--format dot`: the suspects' call graph for Graphviz.
//!
//! Function names reach the graph as [`escape::terminal`] shows them (a control character, a NUL
//! included, becomes text); the graph writer then escapes quotes and backslashes for DOT's quoted
//! strings, which together is [`escape::dot`].

use std::io::Write;

use super::escape;
use crate::analysis::callgraph::{CallGraph, Path};

/// The graph's input from a report's suspects.
pub fn paths(doc: &super::LeakReport) -> Vec<Path> {
    doc.suspects
        .iter()
        .map(|s| Path {
            stack: s.group.stack.iter().map(|f| f.function.clone()).collect(),
            created_by: s.group.created_by.as_ref().map(|f| f.function.clone()),
            growth_per_minute: s.growth_per_minute,
            leaf: s.group.leaf.clone(),
            rank: s.rank,
        })
        .collect()
}

pub fn leak(doc: &super::LeakReport, w: &mut dyn Write) -> std::io::Result<()> {
    let shown = |s: &String| escape::terminal(s).into_owned();
    let p: Vec<Path> = paths(doc)
        .into_iter()
        .map(|p| Path { stack: p.stack.iter().map(shown).collect(), created_by: p.created_by.as_ref().map(shown), leaf: shown(&p.leaf), ..p })
        .collect();
    let roots: Vec<_> = doc.root_causes.iter().map(|r| crate::analysis::callgraph::RootCause { function: shown(&r.function), ..r.clone() }).collect();
    let g = CallGraph::build(&p);
    g.write_dot(&roots, w)
}
