//! The diff's differential flame graph (an icicle: callers on top). A frame's width is the amount
//! that changed under it (goroutines gained plus goroutines lost, or bytes for heap), its colour
//! says whether that change is growth (red) or shrink (blue), deeper when one-sided.
//!
//! The page carries the stacks as a compact JSON block (function names once, stacks as indices) and
//! a static SVG of the same layout drawn here, pruned to frames at least a pixel wide, so the graph
//! reads without JavaScript; the page script redraws it from the data for zoom and search.

use std::collections::HashMap;

use maud::{html, Markup, PreEscaped};
use serde::Serialize;

use crate::report::{human_delta, human_value, DiffReport};

/// Layout width in SVG units (the SVG scales to the page).
const WIDTH: f64 = 1200.0;
const ROW: f64 = 18.0;
/// Stacks deeper than this are cut (Go records at most a few hundred frames).
const MAX_DEPTH: usize = 512;
/// Narrower frames are left out of the static drawing...
const MIN_STATIC_WIDTH: f64 = 1.0;
/// ... and it keeps at most this many frames (wider ones first), so many equal stacks of a
/// pixel each cannot make the page huge; the script draws the rest when zoomed.
const MAX_STATIC_FRAMES: usize = 6000;
/// A monospace character at 11px, for fitting labels.
const CHAR_WIDTH: f64 = 6.6;

#[derive(Serialize)]
struct FlameData<'a> {
    unit: &'a str,
    root_label: String,
    width: f64,
    row: f64,
    max_depth: usize,
    fns: Vec<&'a str>,
    /// `[base, new, function indices root first...]` per change.
    stacks: Vec<Vec<i64>>,
}

struct Node {
    f: Option<usize>,
    base: i64,
    new: i64,
    changed: i64,
    depth: usize,
    kids: Vec<usize>,
}

pub fn render(doc: &DiffReport) -> Markup {
    let mut fn_index: HashMap<&str, usize> = HashMap::new();
    let mut fns: Vec<&str> = Vec::new();
    let mut stacks = Vec::with_capacity(doc.changes.len());
    for c in &doc.changes {
        let mut s = Vec::with_capacity(c.group.stack.len().min(MAX_DEPTH) + 2);
        s.push(c.base);
        s.push(c.new);
        for f in c.group.stack.iter().rev().take(MAX_DEPTH) {
            let i = *fn_index.entry(f.function.as_str()).or_insert_with(|| {
                fns.push(f.function.as_str());
                fns.len() - 1
            });
            s.push(i as i64);
        }
        stacks.push(s);
    }
    let root_label = format!("all changes ({} stack groups)", doc.changes.len());
    let nodes = tree(&stacks);
    let data = FlameData { unit: &doc.unit, root_label, width: WIDTH, row: ROW, max_depth: MAX_DEPTH, fns, stacks };
    // Inside <script> only `</script` could end the block: escape `<` (and `>`, `&` for good measure).
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    let mut min_width = MIN_STATIC_WIDTH;
    let mut drawn = layout(&nodes, &data.fns, min_width);
    while drawn.len() > MAX_STATIC_FRAMES && min_width < WIDTH {
        min_width *= 2.0;
        drawn = layout(&nodes, &data.fns, min_width);
    }
    let height = (drawn.iter().map(|d| nodes[d.0].depth).max().unwrap_or(0) + 1) as f64 * ROW;
    let name = |n: &Node| -> &str { n.f.map_or(data.root_label.as_str(), |i| data.fns[i]) };
    let unit = doc.unit.as_str();
    let total = nodes[0].changed.max(1) as f64;
    html! {
        div.flame-controls #flame-controls hidden {
            input #flame-search type="search" placeholder="Search functions (e.g. main.)" aria-label="search functions";
            button #flame-reset type="button" hidden { "Reset zoom" }
            span #flame-status {}
        }
        svg.flame #flame viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label="differential flame graph of the changes" {
            @for &(i, x, w) in &drawn {
                @let n = &nodes[i];
                @let label = name(n);
                g class=(class_of(n)) {
                    title { (label) "\n" (human_value(n.base, unit)) " → " (human_value(n.new, unit)) " (" (human_delta(n.new - n.base, unit)) "); "
                        (format!("{:.1}", 100.0 * n.changed as f64 / total)) "% of the change" }
                    rect x=(format!("{x:.2}")) y=(n.depth as f64 * ROW) width=(format!("{w:.2}")) height=(ROW - 1.0) {}
                    @if let Some(text) = fit(label, w) {
                        text x=(format!("{:.2}", x + 3.0)) y=(n.depth as f64 * ROW + ROW - 5.0) { (text) }
                    }
                }
            }
        }
        script #flame-data type="application/json" { (PreEscaped(json)) }
    }
}

/// The merged tree of the stacks: node 0 is the root, children keyed by function.
fn tree(stacks: &[Vec<i64>]) -> Vec<Node> {
    let mut nodes = vec![Node { f: None, base: 0, new: 0, changed: 0, depth: 0, kids: Vec::new() }];
    let mut child: HashMap<(usize, usize), usize> = HashMap::new();
    for s in stacks {
        let (base, new) = (s[0], s[1]);
        let changed = new.saturating_sub(base).saturating_abs();
        let mut at = 0;
        add(&mut nodes[0], base, new, changed);
        for &f in &s[2..] {
            let f = f as usize;
            let next = match child.get(&(at, f)) {
                Some(&n) => n,
                None => {
                    let depth = nodes[at].depth + 1;
                    nodes.push(Node { f: Some(f), base: 0, new: 0, changed: 0, depth, kids: Vec::new() });
                    let n = nodes.len() - 1;
                    nodes[at].kids.push(n);
                    child.insert((at, f), n);
                    n
                }
            };
            add(&mut nodes[next], base, new, changed);
            at = next;
        }
    }
    nodes
}

fn add(n: &mut Node, base: i64, new: i64, changed: i64) {
    n.base = n.base.saturating_add(base);
    n.new = n.new.saturating_add(new);
    n.changed = n.changed.saturating_add(changed);
}

/// `(node, x, width)` of every frame at least `min_width` wide; children in name order, as the
/// page script lays them out.
fn layout(nodes: &[Node], fns: &[&str], min_width: f64) -> Vec<(usize, f64, f64)> {
    let mut out = vec![(0, 0.0, WIDTH)];
    let mut todo = vec![(0usize, 0.0f64, WIDTH)];
    let mut kids: Vec<usize> = Vec::new();
    while let Some((i, x0, w0)) = todo.pop() {
        let n = &nodes[i];
        if n.changed <= 0 {
            continue;
        }
        kids.clear();
        kids.extend(&n.kids);
        kids.sort_by_key(|&k| nodes[k].f.map_or("", |f| fns[f]));
        let mut x = x0;
        for &k in &kids {
            let w = w0 * nodes[k].changed as f64 / n.changed as f64;
            if w >= min_width {
                out.push((k, x, w));
                todo.push((k, x, w));
            }
            x += w;
        }
    }
    out
}

fn class_of(n: &Node) -> &'static str {
    if n.changed == 0 || n.new == n.base {
        return "eq";
    }
    let r = (n.new - n.base) as f64 / n.changed as f64;
    let k = ((r.abs() * 4.0).ceil() as usize).clamp(1, 4);
    match (r > 0.0, k) {
        (true, 1) => "up1",
        (true, 2) => "up2",
        (true, 3) => "up3",
        (true, _) => "up4",
        (false, 1) => "dn1",
        (false, 2) => "dn2",
        (false, 3) => "dn3",
        (false, _) => "dn4",
    }
}

/// The label that fits in `width`, cut with an ellipsis; none when not even three characters fit.
fn fit(label: &str, width: f64) -> Option<String> {
    let chars = ((width - 6.0) / CHAR_WIDTH).floor();
    if chars < 3.0 {
        return None;
    }
    let chars = chars as usize;
    if label.chars().count() <= chars {
        Some(label.to_string())
    } else {
        Some(label.chars().take(chars - 1).chain(std::iter::once('…')).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_stacks_of_a_pixel_each_stay_within_the_static_budget() {
        // 1,000 distinct stacks 40 frames deep, each 1.2 units wide: all would be drawn at 1 unit.
        let stacks: Vec<Vec<i64>> = (0..1000).map(|i| [0, 1].into_iter().chain((0..40).map(|d| 1 + i * 40 + d)).collect()).collect();
        let names: Vec<String> = (0..=40_000).map(|i| format!("f{i}")).collect();
        let fns: Vec<&str> = names.iter().map(String::as_str).collect();
        let nodes = tree(&stacks);
        assert_eq!(nodes[0].changed, 1000);
        assert!(layout(&nodes, &fns, MIN_STATIC_WIDTH).len() > MAX_STATIC_FRAMES);
        let wide = layout(&nodes, &fns, 2.0);
        assert_eq!(wide.len(), 1, "only the root is 2 units wide or more");
    }

    #[test]
    fn colours_say_growth_or_shrink_and_how_one_sided() {
        let n = |base, new, changed| Node { f: None, base, new, changed, depth: 0, kids: Vec::new() };
        assert_eq!(class_of(&n(1, 5, 4)), "up4");
        assert_eq!(class_of(&n(5, 1, 4)), "dn4");
        assert_eq!(class_of(&n(4, 5, 9)), "up1");
        assert_eq!(class_of(&n(3, 3, 6)), "eq");
        assert_eq!(fit("main.fanoutWorker", 60.0).as_deref(), Some("main.fa…"));
        assert_eq!(fit("main.f", 10.0), None);
    }
}
