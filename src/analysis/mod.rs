//! Snapshots (grouped profiles) and what is computed over them: the diff of two, the trend over many.

pub mod ancestry;
pub mod callgraph;
pub mod census;
pub mod diff;
pub mod heap;
pub mod load;
pub mod patterns;
pub mod rank;
pub mod rolling;
pub mod series;
pub mod trend;

use rustc_hash::FxHashMap;

use crate::profile::{Format, Profile, ProfileKind, SampleType, Truncation};
use crate::stacks::{GroupId, GroupStats, RequestRole, StackTable};

/// One profile, grouped: per-group values only, never the decoded profile, so a long series stays
/// small.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub index: usize,
    /// URL fetched or file read.
    pub source: String,
    pub time_nanos: Option<i64>,
    pub kind: ProfileKind,
    pub format: Format,
    /// The value column the groups hold (goroutine/count, inuse_space/bytes, ...).
    pub sample_type: SampleType,
    /// Sum of that column over all groups.
    pub total: i64,
    pub groups: FxHashMap<GroupId, GroupStats>,
    pub truncated: Option<Truncation>,
    pub heap_inuse_bytes: Option<i64>,
    /// Goroutines of the runtime itself that a GOTRACEBACK=system or SIGQUIT dump shows and every
    /// other form leaves out: not counted in `total`.
    pub runtime_goroutines: i64,
    /// Other forms of the same moment whose facts were added to this snapshot (files read).
    pub merged: Vec<String>,
    /// Goroutines of the profile request left out of `total` to compare with another form.
    pub request_left_out: i64,
}

impl Snapshot {
    /// Groups `profile` into `table`, keeping the value column `value_index`.
    pub fn from_profile(table: &mut StackTable, profile: &Profile, source: String, index: usize, value_index: usize) -> Snapshot {
        let grouping = table.group_counted(profile, value_index);
        let groups = grouping.groups;
        let total = groups.values().fold(0i64, |t, g| t.saturating_add(g.value));
        Snapshot {
            index,
            source,
            time_nanos: profile.time_nanos,
            kind: profile.kind.clone(),
            format: profile.format,
            sample_type: profile.sample_types.get(value_index).cloned().unwrap_or(SampleType { name: "count".into(), unit: "count".into() }),
            total,
            groups,
            truncated: profile.truncated.clone(),
            heap_inuse_bytes: None,
            runtime_goroutines: grouping.runtime_goroutines,
            merged: Vec::new(),
            request_left_out: 0,
        }
    }

    /// Adds what another form of the same moment knows (a `debug=2` dump beside a protobuf
    /// snapshot: wait minutes and the runtime's `(leaked)` marks; its creation sites are already
    /// in the shared table) without taking its counts: the two were not taken at the very same
    /// instant, and this snapshot's own counts stay the ones the series is ranked on.
    pub fn enrich_from(&mut self, other: &Snapshot) {
        for (id, o) in &other.groups {
            if let Some(g) = self.groups.get_mut(id) {
                if o.max_wait_minutes() == 0 && o.leaked() == 0 && o.wait().is_empty() {
                    continue;
                }
                let value = g.value.max(0) as u64;
                let f = g.facts_mut();
                f.max_wait_minutes = f.max_wait_minutes.max(o.max_wait_minutes());
                if f.wait.is_empty() {
                    f.wait.clone_from(o.wait());
                }
                f.leaked = f.leaked.max(o.leaked().min(value));
            }
        }
        self.merged.push(other.source.clone());
    }

    /// Goroutines of the request that fetched this profile (its writer and the connection's
    /// background reader), which a SIGQUIT or panic dump of the same process does not have.
    pub fn request_goroutines(&self, table: &StackTable) -> i64 {
        self.request_groups(table).map(|(_, n)| n).sum()
    }

    fn request_groups<'a>(&'a self, table: &'a StackTable) -> impl Iterator<Item = (GroupId, i64)> + 'a {
        let writers: i64 = self.groups.iter().filter(|(id, _)| table.request_role(**id) == Some(RequestRole::Writer)).map(|(_, g)| g.value).sum();
        // One background reader per writer: other requests' readers belong to the service. The
        // request has just started its own, so one not started yet is taken first; a running one
        // only when there is none (it may be another request's, but then the request's own has
        // run and looks the same).
        let mut readers_left = writers;
        let mut readers: Vec<(bool, GroupId, i64)> = self
            .groups
            .iter()
            .filter_map(|(id, g)| match table.request_role(*id) {
                Some(RequestRole::ConnReaderNotStarted) => Some((false, *id, g.value)),
                Some(RequestRole::ConnReader) => Some((true, *id, g.value)),
                _ => None,
            })
            .collect();
        readers.sort();
        let readers: Vec<(GroupId, i64)> = readers.into_iter().map(|(_, id, n)| (id, n)).collect();
        let readers: Vec<(GroupId, i64)> = readers
            .into_iter()
            .map(|(id, n)| {
                let take = n.min(readers_left);
                readers_left -= take;
                (id, take)
            })
            .collect();
        self.groups
            .iter()
            .filter(|(id, _)| table.request_role(**id) == Some(RequestRole::Writer))
            .map(|(id, g)| (*id, g.value))
            .chain(readers)
            .filter(|&(_, n)| n > 0)
    }

    /// Leaves the request's own goroutines out (see [`Snapshot::request_goroutines`]); returns how many.
    pub fn leave_out_request_goroutines(&mut self, table: &StackTable) -> i64 {
        let request: Vec<(GroupId, i64)> = self.request_groups(table).collect();
        let mut n = 0;
        for (id, take) in request {
            if let Some(g) = self.groups.get_mut(&id) {
                g.value -= take;
                n += take;
                if g.value <= 0 {
                    self.groups.remove(&id);
                }
            }
        }
        self.total -= n;
        self.request_left_out += n;
        n
    }

    /// A warning for a profile its producer cut short.
    pub fn truncation_warning(&self) -> Option<String> {
        let s = self;
        s.truncated.as_ref().map(|t| match t.declared_total {
            // debug=1: its header says how many goroutines the whole text holds.
            Some(declared) => format!(
                "{} declares {declared} goroutines but holds {} in {} bytes: the text was cut short; counts from it are partial. Fetch the profile again.",
                s.source, t.goroutines_read, t.bytes_read
            ),
            None => format!(
                "{} was cut off by its producer (Go stops ?debug=2 output at 64 MiB): read {} goroutines in {} bytes; counts from it are partial. Fetch the protobuf form (no ?debug) for whole counts.",
                s.source, t.goroutines_read, t.bytes_read
            ),
        })
    }

    pub fn value(&self, id: GroupId) -> i64 {
        self.groups.get(&id).map_or(0, |g| g.value)
    }
}
