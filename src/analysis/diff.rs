//! The difference between two snapshots, group by group.

use std::collections::BTreeSet;

use super::Snapshot;
use crate::stacks::{GroupId, StackTable};

#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Keep only the first N changes (after sorting).
    pub top: Option<usize>,
    /// Keep only changes whose absolute delta is at least this.
    pub min_delta: i64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { top: None, min_delta: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub group: GroupId,
    pub base: i64,
    pub new: i64,
    pub delta: i64,
}

/// Groups whose value changed, largest increase first; ties in a stable order of their frames.
pub fn diff(table: &StackTable, base: &Snapshot, new: &Snapshot, opts: &DiffOptions) -> Vec<Change> {
    let ids: BTreeSet<GroupId> = base.groups.keys().chain(new.groups.keys()).copied().collect();
    let mut changes: Vec<Change> = ids
        .into_iter()
        .filter_map(|group| {
            let (b, n) = (base.value(group), new.value(group));
            let delta = n.saturating_sub(b);
            (delta != 0 && delta.unsigned_abs() >= opts.min_delta.max(1).unsigned_abs()).then_some(Change { group, base: b, new: n, delta })
        })
        .collect();
    changes.sort_by(|a, b| b.delta.cmp(&a.delta).then_with(|| table.group(a.group).sort_key.cmp(&table.group(b.group).sort_key)));
    if let Some(top) = opts.top {
        changes.truncate(top);
    }
    changes
}
