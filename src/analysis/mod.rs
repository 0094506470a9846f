//! Snapshots (grouped profiles) and what is computed over them: the diff of two, the trend over many.

pub mod ancestry;
pub mod callgraph;
pub mod diff;
pub mod heap;
pub mod patterns;
pub mod rank;
pub mod series;
pub mod trend;

use std::collections::HashMap;

use crate::profile::{Format, Profile, ProfileKind, SampleType, Truncation};
use crate::stacks::{GroupId, GroupStats, StackTable};

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
    pub groups: HashMap<GroupId, GroupStats>,
    pub truncated: Option<Truncation>,
    pub heap_inuse_bytes: Option<i64>,
}

impl Snapshot {
    /// Groups `profile` into `table`, keeping the value column `value_index`.
    pub fn from_profile(table: &mut StackTable, profile: &Profile, source: String, index: usize, value_index: usize) -> Snapshot {
        let groups = table.group_profile(profile, value_index);
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
        }
    }

    pub fn value(&self, id: GroupId) -> i64 {
        self.groups.get(&id).map_or(0, |g| g.value)
    }
}
