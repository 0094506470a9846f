//! `--format dot`: the suspects' call graph for Graphviz.

use std::io::Write;

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
    let p = paths(doc);
    let g = CallGraph::build(&p);
    g.write_dot(&doc.root_causes, w)
}
