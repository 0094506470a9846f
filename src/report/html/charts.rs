//! Small hand-drawn SVG charts: the goroutine (and heap) totals over time, a suspect's count over
//! time, and table sparklines. Inline, so they show without JavaScript and fetch nothing.

use maud::{html, Markup};

use crate::report::{human_bytes, LeakReport, SuspectDoc};

/// Plot geometry in SVG units; the SVG scales to the page's width.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn x(&self, i: usize, n: usize) -> f64 {
        let pw = self.w - self.left - self.right;
        if n <= 1 {
            self.left + pw / 2.0
        } else {
            self.left + pw * i as f64 / (n - 1) as f64
        }
    }
    fn y(&self, v: i64, max: i64) -> f64 {
        let ph = self.h - self.top - self.bottom;
        self.h - self.bottom - ph * (v.max(0) as f64) / (max.max(1) as f64)
    }
}

/// A round number at or above `v`, so axes end on 10, 20, 50, 100, ...
fn nice_ceiling(v: i64) -> i64 {
    let v = v.max(1);
    let mut step = 1i64;
    while let Some(next) = step.checked_mul(10).filter(|&s| s <= v) {
        step = next;
    }
    for m in [1, 2, 3, 4, 5, 6, 8, 10] {
        match step.checked_mul(m) {
            Some(c) if c >= v => return c,
            Some(_) => {}
            None => return v,
        }
    }
    v
}

/// A round byte count at or above `v` in its unit (38.4 MiB → 40 MiB), so the heap axis reads.
fn nice_bytes(v: i64) -> i64 {
    let mut unit = 1i64;
    while v / unit >= 1024 && unit <= i64::MAX / 1024 / 1024 {
        unit *= 1024;
    }
    let v = v.max(1);
    let n = v / unit + i64::from(v % unit != 0);
    nice_ceiling(n).saturating_mul(unit)
}

fn points(f: &Frame, values: &[(usize, i64)], n: usize, max: i64) -> String {
    values.iter().map(|&(i, v)| format!("{:.1},{:.1}", f.x(i, n), f.y(v, max))).collect::<Vec<_>>().join(" ")
}

/// Which snapshot labels fit under the x axis.
fn label_every(n: usize) -> usize {
    n.div_ceil(16).max(1)
}

/// The x axis of the timeline: one slot per round, snapshots and failed rounds in the order they
/// happened (a failure just before the snapshot that followed it).
struct Slots {
    of_snapshot: Vec<usize>,
    of_failure: Vec<usize>,
    total: usize,
}

impl Slots {
    fn of(doc: &LeakReport) -> Slots {
        let n = doc.snapshots.len();
        let mut order: Vec<(usize, usize)> = doc.failed_rounds.iter().enumerate().map(|(k, f)| (f.before_snapshot.min(n), k)).collect();
        order.sort();
        let mut of_failure = vec![0; doc.failed_rounds.len()];
        let mut of_snapshot = Vec::with_capacity(n);
        let mut slot = 0;
        let mut next = order.iter().peekable();
        for i in 0..=n {
            while let Some(&&(_, k)) = next.peek().filter(|&&&(before, _)| before == i) {
                of_failure[k] = slot;
                slot += 1;
                next.next();
            }
            if i < n {
                of_snapshot.push(slot);
                slot += 1;
            }
        }
        Slots { of_snapshot, of_failure, total: slot }
    }
}

/// The goroutine total per snapshot, heap in use on a second axis, the analysed run shaded,
/// restarts as dashed red lines and failed rounds as orange marks where they fell.
pub fn timeline(doc: &LeakReport) -> Markup {
    let n = doc.snapshots.len();
    let f = Frame { w: 1000.0, h: 260.0, left: 56.0, right: 78.0, top: 16.0, bottom: 40.0 };
    let slots = Slots::of(doc);
    let t = slots.total;
    let x = |i: usize| f.x(slots.of_snapshot.get(i).copied().unwrap_or(0), t);
    let totals: Vec<(usize, i64)> = doc.snapshots.iter().enumerate().map(|(i, s)| (slots.of_snapshot[i], s.goroutines)).collect();
    let heap: Vec<(usize, i64)> = doc.snapshots.iter().enumerate().filter_map(|(i, s)| s.heap_inuse_bytes.map(|b| (slots.of_snapshot[i], b))).collect();
    let gmax = nice_ceiling(totals.iter().map(|&(_, v)| v).max().unwrap_or(1));
    let hmax = nice_bytes(heap.iter().map(|&(_, v)| v).max().unwrap_or(1));
    let base_y = f.h - f.bottom;
    let every = label_every(n);
    let failed = &doc.failed_rounds;
    html! {
        svg.chart #timeline-chart viewBox=(format!("0 0 {} {}", f.w, f.h)) role="img"
            aria-label=(format!("goroutine total over {n} snapshots")) {
            title { "Goroutines per snapshot" }
            @if let Some([a, b]) = doc.analysed {
                @if n > 1 && (a > 0 || b + 1 < n) && a <= b && b < n {
                    rect.band x=(format!("{:.1}", x(a) - 4.0)) y=(f.top) width=(format!("{:.1}", x(b) - x(a) + 8.0)) height=(base_y - f.top) {
                        title { "analysed: snapshots " (a) "–" (b) }
                    }
                    text x=(format!("{:.1}", x(a))) y=(f.top + 10.0) { "analysed" }
                }
            }
            @for k in 0..=4 {
                @let v = gmax * k / 4;
                @let y = f.y(v, gmax);
                line class=(if k == 0 { "axis" } else { "grid" }) x1=(f.left) x2=(f.w - f.right) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) {}
                text x=(f.left - 6.0) y=(format!("{:.1}", y + 4.0)) text-anchor="end" { (v) }
                @if !heap.is_empty() {
                    text x=(f.w - f.right + 6.0) y=(format!("{:.1}", y + 4.0)) { (human_bytes(hmax * k / 4)) }
                }
            }
            @for i in (0..n).step_by(every) {
                text x=(format!("{:.1}", x(i))) y=(base_y + 16.0) text-anchor="middle" { (i) }
            }
            text x=(format!("{:.1}", (f.left + f.w - f.right) / 2.0)) y=(f.h - 4.0) text-anchor="middle" { "snapshot" }
            @for &r in doc.restarts.iter().filter(|&&r| r > 0 && r < n) {
                @let at = (x(r - 1) + x(r)) / 2.0;
                line.restart x1=(format!("{at:.1}")) x2=(format!("{at:.1}")) y1=(f.top) y2=(base_y) { title { "the service restarted before snapshot " (r) } }
                text.restart-t x=(format!("{:.1}", at + 3.0)) y=(f.top + 22.0) { "restart" }
            }
            @for (k, fr) in failed.iter().enumerate() {
                @let at = f.x(slots.of_failure[k], t);
                circle.fail cx=(format!("{at:.1}")) cy=(format!("{:.1}", base_y - 6.0)) r="5" { title { "failed round: " (fr.message) } }
                text.fail-t x=(format!("{at:.1}")) y=(base_y + 16.0) text-anchor="middle" { "✕" }
            }
            @if !heap.is_empty() {
                polyline.h points=(points(&f, &heap, t, hmax)) {}
                @for (i, s) in doc.snapshots.iter().enumerate() {
                    @if let Some(v) = s.heap_inuse_bytes {
                        circle.hd cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", f.y(v, hmax))) r="2.5" { title { "snapshot " (i) ": " (human_bytes(v)) " heap in use" } }
                    }
                }
            }
            polyline.g points=(points(&f, &totals, t, gmax)) {}
            @for (i, s) in doc.snapshots.iter().enumerate() {
                circle.gd cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", f.y(s.goroutines, gmax))) r="3.5" {
                    title { "snapshot " (i) ": " (s.goroutines) " goroutines" @if let Some(t) = &s.taken_at { " at " (t) } }
                }
            }
        }
        p.legend {
            span { span.key {} "goroutines" }
            @if !heap.is_empty() { span { span.key.h {} "heap in use (right axis)" } }
            @if !doc.restarts.is_empty() { span { span.key.r {} "restart" } }
            @if !failed.is_empty() { span { span.key.f {} "failed round (" (failed.len()) ")" } }
        }
    }
}

/// One suspect's count in each snapshot it was analysed over.
pub fn counts(doc: &LeakReport, s: &SuspectDoc, indices: &[usize]) -> Markup {
    let f = Frame { w: 320.0, h: 120.0, left: 36.0, right: 10.0, top: 10.0, bottom: 22.0 };
    let n = s.counts.len();
    let max = nice_ceiling(s.counts.iter().copied().max().unwrap_or(1));
    let values: Vec<(usize, i64)> = s.counts.iter().copied().enumerate().collect();
    let base_y = f.h - f.bottom;
    let label = |i: usize| indices.get(i).copied().unwrap_or(i);
    html! {
        svg.chart.count-chart viewBox=(format!("0 0 {} {}", f.w, f.h)) role="img" aria-label=(format!("count of suspect {} per snapshot", s.rank)) {
            title { (s.group.leaf) ": goroutines per snapshot" }
            line.axis x1=(f.left) x2=(f.w - f.right) y1=(base_y) y2=(base_y) {}
            line.grid x1=(f.left) x2=(f.w - f.right) y1=(f.top) y2=(f.top) {}
            text x=(f.left - 5.0) y=(f.top + 4.0) text-anchor="end" { (max) }
            text x=(f.left - 5.0) y=(base_y + 4.0) text-anchor="end" { "0" }
            @if n > 0 {
                text x=(format!("{:.1}", f.x(0, n))) y=(f.h - 6.0) text-anchor="start" { "#" (label(0)) }
                @if n > 1 { text x=(format!("{:.1}", f.x(n - 1, n))) y=(f.h - 6.0) text-anchor="end" { "#" (label(n - 1)) } }
            }
            polyline.g points=(points(&f, &values, n, max)) {}
            @for &(i, v) in &values {
                circle.gd cx=(format!("{:.1}", f.x(i, n))) cy=(format!("{:.1}", f.y(v, max))) r="2.5" {
                    title { "snapshot " (label(i)) ": " (v)
                        @if let Some(t) = doc.snapshots.get(label(i)).and_then(|s| s.taken_at.as_deref()) { " at " (t) } }
                }
            }
        }
    }
}

/// A tiny line for a table cell.
pub fn spark(values: &[i64]) -> Markup {
    let f = Frame { w: 110.0, h: 22.0, left: 2.0, right: 2.0, top: 2.0, bottom: 2.0 };
    let min = values.iter().copied().min().unwrap_or(0).min(0);
    let shifted: Vec<(usize, i64)> = values.iter().map(|&v| v.saturating_sub(min)).enumerate().collect();
    let max = shifted.iter().map(|&(_, v)| v).max().unwrap_or(1);
    html! {
        svg.spark viewBox="0 0 110 22" aria-hidden="true" {
            polyline points=(points(&f, &shifted, values.len(), max)) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{nice_bytes, nice_ceiling, Slots};
    use crate::report::LeakReport;

    #[test]
    fn failed_rounds_take_their_place_between_snapshots() {
        let snaps: Vec<serde_json::Value> = (0..4).map(|i| serde_json::json!({ "index": i, "source": "s", "goroutines": 1 })).collect();
        let doc: LeakReport = serde_json::from_value(serde_json::json!({
            "schema": "leakhound.report/v1", "tool": { "name": "leakhound", "version": "0" }, "target": "t", "snapshots": snaps,
            "verdict": "clean", "suspects": [],
            "failed_rounds": [{ "before_snapshot": 4, "message": "c" }, { "before_snapshot": 2, "message": "a" }, { "before_snapshot": 4, "message": "d" }]
        }))
        .unwrap();
        let s = Slots::of(&doc);
        assert_eq!(s.of_snapshot, [0, 1, 3, 4]);
        assert_eq!(s.of_failure, [5, 2, 6]);
        assert_eq!(s.total, 7);
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 8);
        assert_eq!(nice_ceiling(584), 600);
        assert_eq!(nice_ceiling(100), 100);
        assert_eq!(nice_ceiling(150), 200);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
        assert_eq!(nice_bytes(40_265_318), 40 << 20);
        assert_eq!(nice_bytes(900), 1000);
        assert!(nice_bytes(i64::MAX) > 0);
    }
}
