//! Live heap attributed to goroutine suspects, and heap growth that is not a goroutine leak.
//!
//! An allocation belongs to a suspect when its allocation stack runs through the suspect's own
//! goroutine function (the outermost frame of the goroutine, the function it was started with):
//! the same figure as `go tool pprof -sample_index=inuse_space -top -cum` gives that function.

use std::collections::{HashMap, HashSet};

use super::series::Series;
use super::trend::trend;
use crate::profile::Profile;
use crate::stacks::{is_std_function, leaf_index, GroupInfo};

/// One heap profile, reduced to what attribution needs.
#[derive(Debug, Clone, Default)]
pub struct HeapSnap {
    /// The goroutine snapshot it is paired with.
    pub snapshot: usize,
    pub time_nanos: Option<i64>,
    pub inuse_space: i64,
    pub inuse_objects: i64,
    /// inuse_space and inuse_objects of the samples whose stack runs through each function.
    pub cum_by_function: HashMap<String, (i64, i64)>,
    /// inuse_space by allocation site (innermost frame of the program), with the functions on its stacks.
    pub by_site: HashMap<String, (i64, String)>,
    pub site_functions: HashMap<String, HashSet<String>>,
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

pub fn reduce(profile: &Profile, snapshot: usize) -> HeapSnap {
    let space = profile.sample_type_index("inuse_space");
    let objects = profile.sample_type_index("inuse_objects");
    let mut snap = HeapSnap { snapshot, time_nanos: profile.time_nanos, ..Default::default() };
    let mut seen = HashSet::new();
    for s in &profile.samples {
        let b = space.and_then(|i| s.values.get(i).copied()).unwrap_or(0);
        let o = objects.and_then(|i| s.values.get(i).copied()).unwrap_or(0);
        // Saturating: a crafted profile's values must not wrap (they are checked at decoding too).
        snap.inuse_space = snap.inuse_space.saturating_add(b);
        snap.inuse_objects = snap.inuse_objects.saturating_add(o);
        seen.clear();
        for &fi in &s.stack {
            let f = &profile.frames[fi as usize].function;
            if seen.insert(f.as_str()) {
                let e = snap.cum_by_function.entry(f.clone()).or_default();
                e.0 = e.0.saturating_add(b);
                e.1 = e.1.saturating_add(o);
            }
        }
        let frames: Vec<&crate::profile::Frame> = s.stack.iter().map(|&i| &profile.frames[i as usize]).collect();
        if frames.is_empty() || b == 0 {
            continue;
        }
        // Allocation site: the innermost frame of the program, past the allocator's own frames.
        let site = &frames[leaf_index(&frames)];
        let entry = snap.by_site.entry(site.function.clone()).or_insert_with(|| (0, format!("{}:{}", site.file, site.line)));
        entry.0 = entry.0.saturating_add(b);
        let fs = snap.site_functions.entry(site.function.clone()).or_default();
        for f in &frames {
            if !is_std_function(&f.function) {
                fs.insert(f.function.clone());
            }
        }
    }
    snap
}

impl HeapSeries {
    /// Pairs a heap profile with goroutine snapshot `index` and records its total there.
    pub fn attach(&mut self, series: &mut Series, index: usize, profile: &Profile) {
        let snap = reduce(profile, index);
        if let Some(s) = series.snapshots.get_mut(index) {
            s.heap_inuse_bytes = Some(snap.inuse_space);
        }
        self.snaps.push(snap);
    }

    /// The heap snapshots paired with goroutine snapshots in `range`, in order.
    fn within(&self, range: &std::ops::Range<usize>) -> Vec<&HeapSnap> {
        let mut v: Vec<&HeapSnap> = self.snaps.iter().filter(|h| range.contains(&h.snapshot)).collect();
        v.sort_by_key(|h| h.snapshot);
        v
    }

    /// Live heap held by a group's goroutine function: last value and change first → last.
    pub fn attribute(&self, info: &GroupInfo, range: &std::ops::Range<usize>) -> Option<(i64, i64)> {
        let func = goroutine_function(info)?;
        let snaps = self.within(range);
        let first = snaps.first()?;
        let last = snaps.last()?;
        let get = |h: &HeapSnap| h.cum_by_function.get(func).map_or(0, |v| v.0);
        Some((get(last), get(last).saturating_sub(get(first))))
    }

    /// Allocation sites whose live heap keeps growing and that belong to none of `suspect_functions`.
    pub fn growth_outside(&self, suspect_functions: &HashSet<String>, range: &std::ops::Range<usize>, min_growth_bytes: i64) -> Vec<HeapGrowth> {
        let snaps = self.within(range);
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
        let last = snaps[snaps.len() - 1];
        let mut out = Vec::new();
        for (site, (_, location)) in &last.by_site {
            if last.site_functions.get(site).is_some_and(|fs| fs.iter().any(|f| suspect_functions.contains(f))) {
                continue;
            }
            let bytes: Vec<i64> = snaps.iter().map(|h| h.by_site.get(site).map_or(0, |v| v.0)).collect();
            let t = trend(&minutes, &bytes);
            let growth = bytes[bytes.len() - 1].saturating_sub(bytes[0]);
            if growth >= min_growth_bytes && t.tau >= 0.6 && t.drawdown <= 0.1 {
                out.push(HeapGrowth {
                    site: site.clone(),
                    location: location.clone(),
                    first_bytes: bytes[0],
                    last_bytes: bytes[bytes.len() - 1],
                    growth_bytes: growth,
                    growth_bytes_per_minute: t.slope_per_minute,
                    bytes,
                });
            }
        }
        out.sort_by(|a, b| b.growth_bytes.cmp(&a.growth_bytes).then(a.site.cmp(&b.site)));
        out
    }
}
