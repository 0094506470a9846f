//! Live heap attributed to goroutine suspects, and heap growth that is not a goroutine leak.
//!
//! An allocation belongs to the suspect whose goroutine stack it shares the longest outer part
//! with: at least the goroutine's own function (the outermost frame, the function it was started
//! with), and further down the calls both took. Each allocation belongs to at most one suspect:
//! two suspects with the same goroutine function (say `net/http.(*conn).serve`) do not both claim
//! it; on a tie the better-ranked one does. For a suspect alone with its goroutine function this
//! is the figure `go tool pprof -sample_index=inuse_space -top -cum` gives that function.
//! Allocations that belong to a suspect are never listed as heap growth of their own.

use std::collections::HashMap;

use super::trend::trend;
use crate::profile::{Frame, Profile};
use crate::stacks::{is_std_function, leaf_index, GroupInfo};

/// One heap sample, reduced to what attribution needs.
#[derive(Debug, Clone, Default)]
pub struct HeapSample {
    /// Function ids (into [`HeapSnap::functions`]) outermost first, without `runtime.goexit` and
    /// the runtime's frames below the goroutine's own function.
    pub outer_first: Vec<u32>,
    pub space: i64,
    pub objects: i64,
    /// Allocation site: function id of the innermost frame of the program.
    pub site: u32,
    /// The stack does not reach the goroutine's start (`runtime.goexit`, `runtime.main`): Go
    /// before 1.23 keeps only the innermost 32 frames of an allocation.
    pub cut: bool,
}

/// One heap profile, reduced to what attribution needs.
#[derive(Debug, Clone, Default)]
pub struct HeapSnap {
    /// The goroutine snapshot it is paired with.
    pub snapshot: usize,
    pub time_nanos: Option<i64>,
    pub inuse_space: i64,
    pub inuse_objects: i64,
    pub functions: Vec<String>,
    pub samples: Vec<HeapSample>,
    /// `file:line` of each allocation site (by function id).
    pub site_location: HashMap<u32, String>,
}

#[derive(Debug, Default)]
pub struct HeapSeries {
    pub snaps: Vec<HeapSnap>,
}

/// A heap allocation site that keeps growing on its own (a cache that only grows, say).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeapGrowth {
    pub site: String,
    pub location: String,
    pub first_bytes: i64,
    pub last_bytes: i64,
    pub growth_bytes: i64,
    pub growth_bytes_per_minute: f64,
    pub bytes: Vec<i64>,
}

/// The goroutine function of a group: its outermost frame below `runtime.goexit`.
pub fn goroutine_function(info: &GroupInfo) -> Option<&str> {
    info.frames.iter().rev().map(|f| f.function.as_str()).find(|f| *f != "runtime.goexit" && !f.starts_with("runtime."))
}

/// Function names of a stack (innermost first in `frames`), outermost first, from the goroutine's
/// own function on.
fn outer_first<'a>(frames: impl DoubleEndedIterator<Item = &'a Frame>) -> impl Iterator<Item = &'a str> {
    frames.rev().map(|f| f.function.as_str()).skip_while(|f| f.starts_with("runtime."))
}

pub fn reduce(profile: &Profile, snapshot: usize) -> HeapSnap {
    let space = profile.sample_type_index("inuse_space");
    let objects = profile.sample_type_index("inuse_objects");
    let mut snap = HeapSnap { snapshot, time_nanos: profile.time_nanos, ..Default::default() };
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut id_of = |snap: &mut HeapSnap, name: &str| -> u32 {
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let id = snap.functions.len() as u32;
        snap.functions.push(name.to_string());
        ids.insert(name.to_string(), id);
        id
    };
    for s in &profile.samples {
        let b = space.and_then(|i| s.values.get(i).copied()).unwrap_or(0);
        let o = objects.and_then(|i| s.values.get(i).copied()).unwrap_or(0);
        // Saturating: a crafted profile's values must not wrap (they are checked at decoding too).
        snap.inuse_space = snap.inuse_space.saturating_add(b);
        snap.inuse_objects = snap.inuse_objects.saturating_add(o);
        let frames: Vec<&Frame> = s.stack.iter().filter_map(|&i| profile.frames.get(i as usize)).collect();
        if frames.is_empty() || b == 0 {
            continue;
        }
        let outer: Vec<u32> = outer_first(frames.iter().copied()).map(|f| id_of(&mut snap, f)).collect();
        let cut = !frames.last().is_some_and(|f| f.function == "runtime.goexit" || f.function == "runtime.main");
        // Allocation site: the innermost frame of the program, past the allocator's own frames.
        let site_frame = frames[leaf_index(&frames)];
        let site = id_of(&mut snap, &site_frame.function);
        snap.site_location.entry(site).or_insert_with(|| format!("{}:{}", site_frame.file, site_frame.line));
        snap.samples.push(HeapSample { outer_first: outer, space: b, objects: o, site, cut });
    }
    snap
}

/// What the heap profiles say about a list of suspects.
#[derive(Debug, Default)]
pub struct Attribution {
    /// Per suspect (in the order given): live heap in the last heap profile and its change since the
    /// first; `None` when the range has no heap profile.
    pub held: Vec<Option<(i64, i64)>>,
    /// Allocation sites that kept growing in heap that belongs to no suspect.
    pub growth: Vec<HeapGrowth>,
}

impl HeapSeries {
    /// Pairs a heap profile with goroutine snapshot `index`; returns its bytes in use (for the
    /// snapshot to record: see [`crate::analysis::series::Series::attach_heap`]).
    pub fn attach(&mut self, index: usize, profile: &Profile) -> i64 {
        let snap = reduce(profile, index);
        let inuse = snap.inuse_space;
        self.snaps.push(snap);
        inuse
    }

    /// The heap snapshots paired with goroutine snapshots in `range`, in order.
    fn within(&self, range: &std::ops::Range<usize>) -> Vec<&HeapSnap> {
        let mut v: Vec<&HeapSnap> = self.snaps.iter().filter(|h| range.contains(&h.snapshot)).collect();
        v.sort_by_key(|h| h.snapshot);
        v
    }

    /// Attributes the heap of `range` to `suspects` (best first) and lists the growth of the rest.
    pub fn attribute(&self, suspects: &[&GroupInfo], range: &std::ops::Range<usize>, min_growth_bytes: i64) -> Attribution {
        let snaps = self.within(range);
        if snaps.is_empty() {
            return Attribution { held: vec![None; suspects.len()], growth: Vec::new() };
        }
        let stacks: Vec<Vec<&str>> = suspects.iter().map(|g| outer_first(g.frames.iter()).collect()).collect();
        // Where the handler a server dispatched to sits in each (outermost first).
        let handlers: Vec<Option<usize>> = suspects
            .iter()
            .zip(&stacks)
            .map(|(g, st)| {
                crate::analysis::ancestry::handler_index(g)
                    .and_then(|i| (g.frames.len() - 1).checked_sub(i))
                    .and_then(|from_outside| from_outside.checked_sub(g.frames.len() - st.len()))
            })
            .collect();
        // The handler's module: a sample cut inside the handler must show some of its code.
        let handlers: Vec<Option<(usize, &str)>> = handlers
            .iter()
            .zip(&stacks)
            .map(|(h, st)| h.and_then(|p| st.get(p).map(|f| (p, crate::analysis::ancestry::module_of(crate::stacks::package_of(f))))))
            .collect();
        // Per snapshot: bytes owned per suspect, and unowned bytes per site.
        let per_snap: Vec<(Vec<i64>, HashMap<u32, i64>)> = snaps.iter().map(|h| owners(h, &stacks, &handlers)).collect();
        let (first, last) = (&per_snap[0].0, &per_snap[per_snap.len() - 1].0);
        let held = (0..suspects.len()).map(|k| Some((last[k], last[k].saturating_sub(first[k])))).collect();
        Attribution { held, growth: growth_outside(&snaps, &per_snap, min_growth_bytes) }
    }
}

/// Bytes of one heap snapshot per suspect, and the rest per allocation site.
fn owners(h: &HeapSnap, stacks: &[Vec<&str>], handlers: &[Option<(usize, &str)>]) -> (Vec<i64>, HashMap<u32, i64>) {
    // The suspects' stacks in this snapshot's function ids, and where each id sits in each stack.
    let ids: HashMap<&str, u32> = h.functions.iter().enumerate().map(|(i, f)| (f.as_str(), i as u32)).collect();
    let stacks: Vec<Vec<Option<u32>>> = stacks.iter().map(|st| st.iter().map(|f| ids.get(f).copied()).collect()).collect();
    let positions: Vec<HashMap<u32, Vec<usize>>> = stacks
        .iter()
        .map(|st| {
            let mut m: HashMap<u32, Vec<usize>> = HashMap::new();
            for (i, id) in st.iter().enumerate() {
                if let Some(id) = id {
                    m.entry(*id).or_default().push(i);
                }
            }
            m
        })
        .collect();
    let std_entry: Vec<bool> = stacks.iter().map(|st| st.first().copied().flatten().is_some_and(|id| is_std_function(&h.functions[id as usize]))).collect();
    let mut owned = vec![0i64; stacks.len()];
    let mut rest: HashMap<u32, i64> = HashMap::new();
    for s in &h.samples {
        let mut best: Option<(usize, usize)> = None;
        for (k, st) in stacks.iter().enumerate() {
            let common = shared_run(st, &positions[k], s, handlers[k], std_entry[k], &h.functions);
            if common > 0 && best.is_none_or(|(_, c)| common > c) {
                best = Some((k, common));
            }
        }
        match best {
            Some((k, _)) => owned[k] = owned[k].saturating_add(s.space),
            None => {
                let r = rest.entry(s.site).or_default();
                *r = r.saturating_add(s.space);
            }
        }
    }
    (owned, rest)
}

/// How many frames a suspect's stack (`stack`, outermost first, `positions` its index by id) and
/// a heap sample share, in one run of calls both made: from the outermost frames of both, or,
/// where either was cut short (Go before 1.23 keeps the innermost 32 frames of a goroutine or heap
/// stack), from the outermost frame the cut one still has, matched wherever it sits in the other.
/// The deepest match wins. Where the suspect is a request in a server (`handler`: the position of
/// the handler dispatched to), the run must hold that handler, or lie wholly inside it in a sample
/// cut short and show code of the handler's own module there: the server's entry, its router and middleware are every request's, and a
/// neighbour's allocations under them are not this suspect's. A run that is only a server's
/// entry function in the standard library (`net/http.(*conn).serve`) counts only when the sample
/// allocated there through the standard library alone.
fn shared_run(
    stack: &[Option<u32>],
    positions: &HashMap<u32, Vec<usize>>,
    sample: &HeapSample,
    handler: Option<(usize, &str)>,
    std_entry: bool,
    functions: &[String],
) -> usize {
    let sample_frames = &sample.outer_first;
    let run_from = |i: usize, j: usize| {
        let r = stack[i..].iter().zip(&sample_frames[j..]).take_while(|(a, &b)| **a == Some(b)).count();
        let allowed = match handler {
            Some((p, module)) => {
                (i <= p && p < i + r)
                    || (sample.cut
                        && j == 0
                        && i > p
                        && sample_frames[..r].iter().any(|&id| functions.get(id as usize).is_some_and(|f| crate::stacks::package_of(f).starts_with(module))))
            }
            None => true,
        };
        if allowed {
            r
        } else {
            0
        }
    };
    let mut best = 0;
    // Both whole (or cut alike): aligned at their outermost frames.
    if !stack.is_empty() && !sample_frames.is_empty() {
        best = run_from(0, 0);
    }
    // The sample cut: its outermost frame somewhere in the stack.
    if let Some(is) = sample_frames.first().and_then(|id| positions.get(id)) {
        for &i in is {
            best = best.max(run_from(i, 0));
        }
    }
    // The stack cut: its outermost frame somewhere in the sample.
    if let Some(Some(first)) = stack.first() {
        for (j, _) in sample_frames.iter().enumerate().filter(|(_, &id)| id == *first).skip(usize::from(sample_frames.first() == Some(first))) {
            best = best.max(run_from(0, j));
        }
    }
    if best == 1 && std_entry && sample_frames.first() == stack.first().copied().flatten().as_ref() {
        let beyond_std = sample_frames[1..].iter().all(|&id| functions.get(id as usize).is_some_and(|f| is_std_function(f)));
        if !beyond_std {
            return 0;
        }
    }
    best
}

/// Allocation sites whose unowned live heap keeps growing.
fn growth_outside(snaps: &[&HeapSnap], per_snap: &[(Vec<i64>, HashMap<u32, i64>)], min_growth_bytes: i64) -> Vec<HeapGrowth> {
    if snaps.len() < 2 {
        return Vec::new();
    }
    let first_t = snaps[0].time_nanos;
    let minutes: Vec<f64> = snaps
        .iter()
        .enumerate()
        .map(|(i, h)| match (first_t, h.time_nanos) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 60e9,
            _ => i as f64,
        })
        .collect();
    // Sites are compared by name: function ids are per snapshot.
    let by_name = |i: usize| -> HashMap<&str, i64> {
        per_snap[i].1.iter().filter_map(|(&site, &b)| snaps[i].functions.get(site as usize).map(|f| (f.as_str(), b))).fold(HashMap::new(), |mut m, (f, b)| {
            let e = m.entry(f).or_default();
            *e = e.saturating_add(b);
            m
        })
    };
    let series: Vec<HashMap<&str, i64>> = (0..snaps.len()).map(by_name).collect();
    let last_i = snaps.len() - 1;
    let last = snaps[last_i];
    let mut out = Vec::new();
    for (&site, &last_bytes) in &series[last_i] {
        let bytes: Vec<i64> = series.iter().map(|m| m.get(site).copied().unwrap_or(0)).collect();
        let t = trend(&minutes, &bytes);
        let growth = last_bytes.saturating_sub(bytes[0]);
        if growth >= min_growth_bytes && t.tau >= 0.6 && t.drawdown <= 0.1 {
            let location = last.functions.iter().position(|f| f == site).and_then(|id| last.site_location.get(&(id as u32))).cloned().unwrap_or_default();
            out.push(HeapGrowth {
                site: site.to_string(),
                location,
                first_bytes: bytes[0],
                last_bytes,
                growth_bytes: growth,
                growth_bytes_per_minute: t.slope_per_minute,
                bytes,
            });
        }
    }
    out.sort_by(|a, b| b.growth_bytes.cmp(&a.growth_bytes).then(a.site.cmp(&b.site)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Format, ProfileKind, Sample, SampleType};
    use crate::stacks::Blocking;

    fn frame(function: &str) -> Frame {
        Frame { function: function.into(), file: "/x.go".into(), line: 1, address: 0, start_line: 0 }
    }

    /// A heap profile whose samples are (stack innermost first, bytes).
    fn heap(samples: &[(&[&str], i64)], t: i64) -> Profile {
        let mut frames: Vec<Frame> = Vec::new();
        let mut out = Vec::new();
        for (stack, bytes) in samples {
            let ids = stack
                .iter()
                .map(|f| match frames.iter().position(|x| x.function == *f) {
                    Some(i) => i as u32,
                    None => {
                        frames.push(frame(f));
                        (frames.len() - 1) as u32
                    }
                })
                .collect();
            out.push(Sample { stack: ids, values: vec![1, *bytes], labels: Vec::new(), goroutine: None });
        }
        Profile {
            kind: ProfileKind::Heap,
            format: Format::Proto,
            sample_types: vec![
                SampleType { name: "inuse_objects".into(), unit: "count".into() },
                SampleType { name: "inuse_space".into(), unit: "bytes".into() },
            ],
            default_sample_type: 1,
            time_nanos: Some(t),
            duration_nanos: 0,
            period_type: None,
            period: 0,
            frames,
            samples: out,
            declared_total: None,
            truncated: None,
        }
    }

    fn suspect(frames: &[&str]) -> GroupInfo {
        GroupInfo {
            frames: frames.iter().map(|f| frame(f)).collect(),
            label: None,
            labels: Vec::new(),
            blocking: Blocking::IoWait,
            leaf: 0,
            created_by: None,
            ancestors: Vec::new(),
            sort_key: String::new(),
        }
    }

    #[test]
    fn each_byte_has_at_most_one_owner_and_owned_growth_is_not_listed() {
        let serve_alloc: &[&str] = &["runtime.mallocgc", "bufio.NewReaderSize", "net/http.(*conn).serve", "runtime.goexit"];
        let proxy_alloc: &[&str] =
            &["runtime.mallocgc", "net/http.(*Transport).roundTrip", "net/http/httputil.(*ReverseProxy).ServeHTTP", "net/http.(*conn).serve", "runtime.goexit"];
        let cache: &[&str] = &["runtime.mallocgc", "main.(*cache).grow", "main.fill", "runtime.goexit"];
        let mut hs = HeapSeries::default();
        for (i, n) in [1i64, 2, 3, 4].into_iter().enumerate() {
            hs.snaps.push(reduce(&heap(&[(serve_alloc, n << 20), (proxy_alloc, n << 21), (cache, n << 22)], i as i64 * 10_000_000_000), i));
        }
        let idle = suspect(&["runtime.gopark", "bufio.(*Reader).Peek", "net/http.(*conn).serve", "runtime.goexit"]);
        let proxy = suspect(&[
            "runtime.gopark",
            "runtime.selectgo",
            "net/http.(*persistConn).roundTrip",
            "net/http/httputil.(*ReverseProxy).ServeHTTP",
            "net/http.(*conn).serve",
            "runtime.goexit",
        ]);
        let a = hs.attribute(&[&idle, &proxy], &(0..4), 1 << 20);
        // The proxy's allocations share more of its stack; serve's own go to the first suspect only.
        assert_eq!(a.held, vec![Some((4 << 20, 3 << 20)), Some((8 << 20, 6 << 20))]);
        let total: i64 = hs.snaps[3].inuse_space;
        assert!(a.held.iter().flatten().map(|h| h.0).sum::<i64>() <= total);
        // Only the cache, which no suspect owns, is heap growth of its own.
        let sites: Vec<&str> = a.growth.iter().map(|g| g.site.as_str()).collect();
        assert_eq!(sites, ["main.(*cache).grow"]);
        // With no suspects, the servers' allocations are growth too.
        let none = hs.attribute(&[], &(0..4), 1 << 20);
        assert_eq!(none.growth.len(), 3);
        // A handler's allocations are its own suspect's, not those of a neighbour sharing only the
        // server's entry (`net/http.(*conn).serve`) nor of one sharing its router and middleware.
        let router: &[&str] =
            &["net/http.HandlerFunc.ServeHTTP", "main.withLogging.func1", "net/http.serverHandler.ServeHTTP", "net/http.(*conn).serve", "runtime.goexit"];
        let federate_alloc: Vec<&str> =
            ["runtime.mallocgc", "main.buildAnswer", "main.federate", "net/http.HandlerFunc.ServeHTTP"].iter().chain(router).copied().collect();
        let metrics_alloc: Vec<&str> = ["runtime.mallocgc", "main.metrics", "net/http.HandlerFunc.ServeHTTP"].iter().chain(router).copied().collect();
        let mut hs = HeapSeries::default();
        hs.snaps.push(reduce(&heap(&[(&federate_alloc, 300 << 20), (&metrics_alloc, 1 << 20)], 0), 0));
        let slowloris =
            suspect(&["runtime.gopark", "net/textproto.(*Reader).ReadLine", "net/http.(*conn).readRequest", "net/http.(*conn).serve", "runtime.goexit"]);
        let federate: Vec<&str> = ["runtime.gopark", "net.(*conn).Write", "main.(*gzipWriter).Write", "main.federate", "net/http.HandlerFunc.ServeHTTP"]
            .iter()
            .chain(router)
            .copied()
            .collect();
        let a = hs.attribute(&[&slowloris, &suspect(&federate)], &(0..1), 1 << 20);
        assert_eq!(a.held, vec![Some((0, 0)), Some((300 << 20, 0))]);
        // Cut at 32 frames, the goroutine's stack has lost its outer part: it matches on what it has.
        let cut: Vec<&str> = federate[..4].to_vec();
        let a = hs.attribute(&[&slowloris, &suspect(&cut)], &(0..1), 1 << 20);
        assert_eq!(a.held, vec![Some((0, 0)), Some((300 << 20, 0))]);
    }
}
