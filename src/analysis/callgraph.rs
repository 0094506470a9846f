//! The suspects' stacks merged into one call graph (petgraph): nodes are functions, edges calls,
//! weighted by goroutine growth. Where several suspects meet in one function, that function is a
//! likely root cause: the handler that spawns every leaking goroutine, or their common creation site.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::stacks::is_std_function;

/// One suspect as the graph sees it.
#[derive(Debug, Clone)]
pub struct Path {
    /// Functions innermost first.
    pub stack: Vec<String>,
    pub created_by: Option<String>,
    pub growth_per_minute: f64,
    pub leaf: String,
    /// 1-based rank of the suspect.
    pub rank: usize,
}

#[derive(Debug, Default)]
pub struct Node {
    pub function: String,
    /// Growth of the suspects passing through.
    pub growth: f64,
    pub suspects: BTreeSet<usize>,
    pub is_leaf: bool,
}

pub struct CallGraph {
    pub graph: DiGraph<Node, f64>,
}

/// A function shared by several suspects.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RootCause {
    pub function: String,
    /// Ranks of the suspects that run through it or were started from it.
    pub suspects: Vec<usize>,
    pub growth_per_minute: f64,
    /// `started from` (a creation site) or `runs through`.
    pub relation: String,
    pub summary: String,
}

impl CallGraph {
    pub fn build(paths: &[Path]) -> CallGraph {
        let mut graph: DiGraph<Node, f64> = DiGraph::new();
        let mut nodes: HashMap<String, NodeIndex> = HashMap::new();
        let mut node = |graph: &mut DiGraph<Node, f64>, f: &str| -> NodeIndex {
            *nodes.entry(f.to_string()).or_insert_with(|| graph.add_node(Node { function: f.to_string(), ..Default::default() }))
        };
        for p in paths {
            // Callers first: creator → outermost frame → ... → innermost.
            let mut chain: Vec<&str> = Vec::new();
            if let Some(c) = &p.created_by {
                chain.push(c);
            }
            chain.extend(p.stack.iter().rev().map(String::as_str));
            chain.dedup();
            let mut prev: Option<NodeIndex> = None;
            let mut seen = BTreeSet::new();
            for f in chain {
                let n = node(&mut graph, f);
                if seen.insert(n) {
                    graph[n].growth += p.growth_per_minute;
                    graph[n].suspects.insert(p.rank);
                }
                if f == p.leaf {
                    graph[n].is_leaf = true;
                }
                if let Some(a) = prev {
                    match graph.find_edge(a, n) {
                        Some(e) => graph[e] += p.growth_per_minute,
                        None => {
                            graph.add_edge(a, n, p.growth_per_minute);
                        }
                    }
                }
                prev = Some(n);
            }
        }
        CallGraph { graph }
    }

    /// Functions of the program (not the standard library) that two or more suspects share, most
    /// suspects first; of functions shared by the same suspects only the innermost is kept.
    pub fn root_causes(&self, paths: &[Path]) -> Vec<RootCause> {
        let creators: BTreeSet<&str> = paths.iter().filter_map(|p| p.created_by.as_deref()).collect();
        let mut by_set: BTreeMap<Vec<usize>, (NodeIndex, f64)> = BTreeMap::new();
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            if node.suspects.len() < 2 || is_std_function(&node.function) {
                continue;
            }
            let set: Vec<usize> = node.suspects.iter().copied().collect();
            // Innermost: the function farthest from the roots, i.e. with the fewest descendants.
            let depth = self.graph.edges(n).map(|e| *e.weight()).sum::<f64>();
            match by_set.get(&set) {
                Some(&(_, d)) if d <= depth => {}
                _ => {
                    by_set.insert(set, (n, depth));
                }
            }
        }
        let mut out: Vec<RootCause> = by_set
            .into_iter()
            .map(|(set, (n, _))| {
                let node = &self.graph[n];
                let relation = if creators.contains(node.function.as_str()) { "started from" } else { "runs through" };
                let summary = format!("{} suspects, {:+.1} goroutines/min, all {relation} {}", set.len(), node.growth, node.function);
                RootCause { function: node.function.clone(), suspects: set, growth_per_minute: node.growth, relation: relation.into(), summary }
            })
            .collect();
        out.sort_by(|a, b| b.suspects.len().cmp(&a.suspects.len()).then(b.growth_per_minute.total_cmp(&a.growth_per_minute)).then(a.function.cmp(&b.function)));
        out
    }

    /// Graphviz: suspects' leaves filled, shared functions outlined, edges labelled with growth.
    pub fn write_dot(&self, roots: &[RootCause], w: &mut dyn Write) -> std::io::Result<()> {
        let root_set: BTreeSet<&str> = roots.iter().map(|r| r.function.as_str()).collect();
        writeln!(w, "digraph leakhound {{")?;
        writeln!(w, "  rankdir=TB;")?;
        writeln!(w, "  node [shape=box, fontname=\"Helvetica\", fontsize=10];")?;
        writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=9];")?;
        for n in self.graph.node_indices() {
            let node = &self.graph[n];
            let mut attrs = vec![format!("label=\"{}\\n{:+.1}/min\"", escape(&node.function), node.growth)];
            if node.is_leaf {
                attrs.push("style=filled, fillcolor=\"#f4a3a3\"".into());
            } else if is_std_function(&node.function) {
                attrs.push("color=gray60, fontcolor=gray40".into());
            }
            if root_set.contains(node.function.as_str()) {
                attrs.push("penwidth=3, color=\"#c0392b\"".into());
            }
            writeln!(w, "  n{} [{}];", n.index(), attrs.join(", "))?;
        }
        for e in self.graph.edge_references() {
            let width = 1.0 + (e.weight().max(0.0).ln_1p() / 2.0).min(4.0);
            writeln!(w, "  n{} -> n{} [label=\"{:+.1}/min\", penwidth={width:.1}];", e.source().index(), e.target().index(), e.weight())?;
        }
        writeln!(w, "}}")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(rank: usize, stack: &[&str], creator: &str, growth: f64) -> Path {
        Path { stack: stack.iter().map(|s| s.to_string()).collect(), created_by: Some(creator.into()), growth_per_minute: growth, leaf: stack[0].into(), rank }
    }

    #[test]
    fn shared_creation_site_is_found() {
        let paths = vec![
            path(1, &["main.a", "main.worker"], "orders.(*Fanout).Quote", 200.0),
            path(2, &["main.b", "main.worker"], "orders.(*Fanout).Quote", 180.0),
            path(3, &["main.c"], "orders.(*Fanout).Quote", 100.0),
            path(4, &["main.d"], "main.other", 5.0),
        ];
        let g = CallGraph::build(&paths);
        let roots = g.root_causes(&paths);
        assert_eq!(roots[0].function, "orders.(*Fanout).Quote");
        assert_eq!(roots[0].suspects, vec![1, 2, 3]);
        assert!(roots[0].summary.starts_with("3 suspects, +480.0 goroutines/min, all started from orders.(*Fanout).Quote"), "{}", roots[0].summary);
        assert!(roots.iter().any(|r| r.function == "main.worker" && r.suspects == vec![1, 2]));
        let mut dot = Vec::new();
        g.write_dot(&roots, &mut dot).unwrap();
        let dot = String::from_utf8(dot).unwrap();
        assert!(dot.starts_with("digraph leakhound {"));
        assert!(dot.contains("+480.0/min"));
    }
}
