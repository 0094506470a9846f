//! The suspects' merged call graph (the same petgraph graph `--format dot` writes), laid out here
//! in layers so the page needs no Graphviz: callers above callees, each layer ordered to keep
//! edges short (barycentre sweeps), drawn as inline SVG.

use std::collections::BTreeSet;

use maud::{html, Markup};
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::analysis::callgraph::CallGraph;
use crate::report::dot::paths;
use crate::report::LeakReport;
use crate::stacks::is_std_function;

/// More nodes than this do not read as a picture: the graph then keeps the best suspects only.
const MAX_NODES: usize = 240;
const NODE_H: f64 = 34.0;
const LAYER_GAP: f64 = 34.0;
const NODE_GAP: f64 = 14.0;
const CHAR_W: f64 = 6.6;
const MAX_LABEL: usize = 44;
const MARGIN: f64 = 12.0;

pub fn render(doc: &LeakReport, prefix: &str) -> Option<Markup> {
    let mut p = paths(doc);
    if p.is_empty() {
        return None;
    }
    let all = p.len();
    let mut g = CallGraph::build(&p);
    while g.graph.node_count() > MAX_NODES && p.len() > 1 {
        p.truncate(p.len() / 2);
        g = CallGraph::build(&p);
    }
    let layout = Layout::of(&g);
    let roots: BTreeSet<&str> = doc.root_causes.iter().map(|r| r.function.as_str()).collect();
    let leaf_rank = |f: &str| p.iter().find(|s| s.leaf == f).map(|s| s.rank);
    Some(html! {
        @if p.len() < all { p.legend { "The " (p.len()) " best of " (all) " suspects (the whole graph is too large to read)." } }
        div.graph-wrap {
            svg.cg #callgraph-svg width=(format!("{:.0}", layout.width)) height=(format!("{:.0}", layout.height))
                viewBox=(format!("0 0 {:.0} {:.0}", layout.width, layout.height)) role="img" aria-label="call graph of the suspects" {
                defs {
                    marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto" {
                        path d="M0,0 L10,5 L0,10 z" {}
                    }
                }
                @for e in g.graph.edge_references() {
                    @let (a, b) = (e.source().index(), e.target().index());
                    @let back = layout.layer[b] <= layout.layer[a];
                    path class=(if back { "back" } else { "fwd" }) d=(edge_path(&layout, a, b)) stroke-width=(format!("{:.1}", 1.0 + (e.weight().max(0.0).ln_1p() / 2.0).min(4.0))) marker-end="url(#arrow)" {
                        title { (g.graph[e.source()].function) " → " (g.graph[e.target()].function) ": " (format!("{:+.1}", e.weight())) " goroutines/min" }
                    }
                }
                @for n in g.graph.node_indices() {
                    @let node = &g.graph[n];
                    @let i = n.index();
                    @let class = node_class(node.is_leaf, roots.contains(node.function.as_str()), &node.function);
                    @let body = html! {
                        title { (node.function) "\n" (format!("{:+.1}", node.growth)) " goroutines/min; suspects "
                            (node.suspects.iter().map(|r| format!("#{r}")).collect::<Vec<_>>().join(", ")) }
                        rect x=(format!("{:.1}", layout.x[i])) y=(format!("{:.1}", layout.y(i))) width=(format!("{:.1}", layout.w[i])) height=(NODE_H) rx="4" {}
                        text x=(format!("{:.1}", layout.x[i] + 6.0)) y=(format!("{:.1}", layout.y(i) + 14.0)) { (short_label(&node.function)) }
                        text.sub x=(format!("{:.1}", layout.x[i] + 6.0)) y=(format!("{:.1}", layout.y(i) + 27.0)) {
                            (sub_label(node.growth, node.suspects.len()))
                        }
                    };
                    @if let Some(rank) = node.is_leaf.then(|| leaf_rank(&node.function)).flatten() {
                        a href=(format!("#{prefix}s{rank}")) { g class=(class) data-function=(node.function) { (body) } }
                    } @else {
                        g class=(class) data-function=(node.function) { (body) }
                    }
                }
            }
        }
    })
}

fn sub_label(growth: f64, suspects: usize) -> String {
    if suspects > 1 {
        format!("{growth:+.1}/min · {suspects} suspects")
    } else {
        format!("{growth:+.1}/min")
    }
}

fn node_class(leaf: bool, root_cause: bool, function: &str) -> String {
    let mut class = String::from("node");
    if leaf {
        class.push_str(" leaf");
    }
    if root_cause {
        class.push_str(" rc");
    }
    if is_std_function(function) {
        class.push_str(" std");
    }
    class
}

/// The function without its package path (`example.com/a/b.(*T).m` → `b.(*T).m`), cut to fit.
fn short_label(f: &str) -> String {
    // Only a slash before the receiver or type parameters separates the package path.
    let end = f.find(['(', '[']).unwrap_or(f.len());
    let name = match f[..end].rfind('/') {
        Some(i) => &f[i + 1..],
        None => f,
    };
    if name.chars().count() > MAX_LABEL {
        name.chars().take(MAX_LABEL - 1).chain(std::iter::once('…')).collect()
    } else {
        name.to_string()
    }
}

struct Layout {
    layer: Vec<usize>,
    x: Vec<f64>,
    w: Vec<f64>,
    width: f64,
    height: f64,
}

impl Layout {
    fn y(&self, i: usize) -> f64 {
        MARGIN + self.layer[i] as f64 * (NODE_H + LAYER_GAP)
    }

    fn of(g: &CallGraph) -> Layout {
        let graph = &g.graph;
        let n = graph.node_count();
        // Break cycles (recursion): a depth-first search from every node without callers marks the
        // edges that point back into the current path, and layering ignores them.
        let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
        let mut back: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut order: Vec<usize> = Vec::with_capacity(n); // reverse topological
        let starts: Vec<NodeIndex> =
            graph.node_indices().filter(|&v| graph.neighbors_directed(v, Direction::Incoming).next().is_none()).chain(graph.node_indices()).collect();
        for s in starts {
            if state[s.index()] != 0 {
                continue;
            }
            let mut stack: Vec<(NodeIndex, Vec<NodeIndex>)> = vec![(s, graph.neighbors(s).collect())];
            state[s.index()] = 1;
            while let Some((v, rest)) = stack.last_mut() {
                let v = *v;
                match rest.pop() {
                    Some(u) => match state[u.index()] {
                        0 => {
                            state[u.index()] = 1;
                            let next = graph.neighbors(u).collect();
                            stack.push((u, next));
                        }
                        1 => {
                            back.insert((v.index(), u.index()));
                        }
                        _ => {}
                    },
                    None => {
                        state[v.index()] = 2;
                        order.push(v.index());
                        stack.pop();
                    }
                }
            }
        }
        // Longest path from the top, in topological order.
        let mut layer = vec![0usize; n];
        for &v in order.iter().rev() {
            for u in graph.neighbors(NodeIndex::new(v)) {
                if !back.contains(&(v, u.index())) {
                    layer[u.index()] = layer[u.index()].max(layer[v] + 1);
                }
            }
        }
        let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
        for v in 0..n {
            rows[layer[v]].push(v);
        }
        let w: Vec<f64> = graph
            .node_indices()
            .map(|v| {
                let node = &graph[v];
                let sub = sub_label(node.growth, node.suspects.len()).chars().count() as f64 * 0.92;
                (short_label(&node.function).chars().count() as f64).max(sub).max(10.0) * CHAR_W + 14.0
            })
            .collect();
        // Barycentre sweeps: order each layer by the mean position of its neighbours in the layer
        // above (going down) or below (going up).
        let mut pos = vec![0f64; n];
        let index_positions = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
            for row in rows {
                for (k, &v) in row.iter().enumerate() {
                    pos[v] = k as f64;
                }
            }
        };
        index_positions(&rows, &mut pos);
        for sweep in 0..6 {
            let down = sweep % 2 == 0;
            let range: Vec<usize> = if down { (1..layers).collect() } else { (0..layers.saturating_sub(1)).rev().collect() };
            for l in range {
                let dir = if down { Direction::Incoming } else { Direction::Outgoing };
                let mut keyed: Vec<(f64, usize)> = rows[l]
                    .iter()
                    .map(|&v| {
                        let ns: Vec<f64> = graph.neighbors_directed(NodeIndex::new(v), dir).map(|u| pos[u.index()]).collect();
                        let key = if ns.is_empty() { pos[v] } else { ns.iter().sum::<f64>() / ns.len() as f64 };
                        (key, v)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                rows[l] = keyed.into_iter().map(|(_, v)| v).collect();
                for (k, &v) in rows[l].iter().enumerate() {
                    pos[v] = k as f64;
                }
            }
        }
        // Place the widest layer left to right; then, sweeping away from it, put each node under
        // (or over) the mean centre of its neighbours in the layer just placed, pushed apart where
        // they would overlap.
        let row_width = |row: &Vec<usize>| row.iter().map(|&v| w[v]).sum::<f64>() + NODE_GAP * row.len().saturating_sub(1) as f64;
        let widest_row = (0..layers).max_by(|&a, &b| row_width(&rows[a]).total_cmp(&row_width(&rows[b])).then(b.cmp(&a))).unwrap_or(0);
        let mut x = vec![0f64; n];
        let mut at = 0.0;
        for &v in rows.get(widest_row).into_iter().flatten() {
            x[v] = at;
            at += w[v] + NODE_GAP;
        }
        let place = |row: &Vec<usize>, dir: Direction, x: &mut Vec<f64>| {
            let mut want: Vec<f64> = row
                .iter()
                .map(|&v| {
                    let cs: Vec<f64> = graph.neighbors_directed(NodeIndex::new(v), dir).map(|u| x[u.index()] + w[u.index()] / 2.0).collect();
                    if cs.is_empty() {
                        f64::NAN
                    } else {
                        cs.iter().sum::<f64>() / cs.len() as f64 - w[v] / 2.0
                    }
                })
                .collect();
            // Nodes with no placed neighbour go right after the one before them.
            let mut prev_end = f64::NEG_INFINITY;
            for (k, &v) in row.iter().enumerate() {
                if want[k].is_nan() {
                    want[k] = if prev_end.is_finite() { prev_end } else { 0.0 };
                }
                let start = want[k].max(prev_end);
                x[v] = start;
                prev_end = start + w[v] + NODE_GAP;
            }
        };
        for row in rows.iter().skip(widest_row + 1) {
            place(row, Direction::Incoming, &mut x);
        }
        for row in rows.iter().take(widest_row).rev() {
            place(row, Direction::Outgoing, &mut x);
        }
        // Shift everything right of the margin.
        let min_x = (0..n).map(|v| x[v]).fold(f64::INFINITY, f64::min);
        let shift = if min_x.is_finite() { MARGIN - min_x } else { MARGIN };
        for v in x.iter_mut() {
            *v += shift;
        }
        let widest = (0..n).map(|v| x[v] + w[v]).fold(0.0, f64::max) - MARGIN;
        Layout { layer, x, w, width: widest + 2.0 * MARGIN, height: MARGIN * 2.0 + layers as f64 * (NODE_H + LAYER_GAP) - LAYER_GAP }
    }
}

/// A curve from the bottom of the caller to the top of the callee (or around, for a call back up).
fn edge_path(l: &Layout, a: usize, b: usize) -> String {
    let (ax, bx) = (l.x[a] + l.w[a] / 2.0, l.x[b] + l.w[b] / 2.0);
    if l.layer[b] > l.layer[a] {
        let (ay, by) = (l.y(a) + NODE_H, l.y(b));
        let mid = (ay + by) / 2.0;
        format!("M{ax:.1},{ay:.1} C{ax:.1},{mid:.1} {bx:.1},{mid:.1} {bx:.1},{by:.1}")
    } else {
        // Recursion or a call to a function drawn higher up: leave from the side, come in from the side.
        let (ay, by) = (l.y(a) + NODE_H / 2.0, l.y(b) + NODE_H / 2.0);
        let (sx, ex) = (l.x[a] + l.w[a], l.x[b] + l.w[b]);
        let out = sx.max(ex) + 40.0;
        format!("M{sx:.1},{ay:.1} C{out:.1},{ay:.1} {out:.1},{by:.1} {ex:.1},{by:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::callgraph::Path;

    fn path(stack: &[&str], rank: usize) -> Path {
        Path { stack: stack.iter().map(|s| s.to_string()).collect(), created_by: None, growth_per_minute: 1.0, leaf: stack[0].into(), rank }
    }

    #[test]
    fn callers_sit_above_callees_even_with_recursion() {
        // Innermost first: main.a → main.b → main.c, and main.c → main.b (recursion).
        let g = CallGraph::build(&[path(&["main.c", "main.b", "main.a"], 1), path(&["main.b", "main.c", "main.b", "main.a"], 2)]);
        let l = Layout::of(&g);
        let at = |f: &str| g.graph.node_indices().find(|&v| g.graph[v].function == f).unwrap().index();
        assert!(l.layer[at("main.a")] < l.layer[at("main.b")]);
        assert!(l.layer[at("main.b")] < l.layer[at("main.c")]);
        assert!(l.width > 0.0 && l.height > 0.0);
    }

    #[test]
    fn labels_drop_the_package_path() {
        assert_eq!(short_label("example.com/shop/orders.(*Svc).Run"), "orders.(*Svc).Run");
        assert_eq!(short_label("main.f"), "main.f");
        assert_eq!(short_label("main.F[go.shape.*example.com/x.T]"), "main.F[go.shape.*example.com/x.T]");
    }
}
