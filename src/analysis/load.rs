//! Saved snapshots read into a [`Series`]: folders written by `watch` and profile files, in any
//! order and any form. Each file is recognised by its content and placed by its own time (see
//! [`Series::assemble`]): heap and goroutineleak profiles, and other forms of the same moment, add
//! to the goroutine snapshot they were taken with.

use std::path::PathBuf;

use super::heap::HeapSeries;
use super::series::{Input, Reading, Series};
use super::Snapshot;
use crate::error::{Error, Result};
use crate::profile::ProfileKind;
use crate::source::{files, saved};
use crate::stacks::GroupBy;

/// Reads `inputs` (decoded two at a time by [`saved::read_in_order`], grouped here in order).
pub fn saved_series(inputs: &[PathBuf], group_by: GroupBy, label: Option<String>, max_profile_bytes: u64) -> Result<(Series, HeapSeries)> {
    let mut series = Series::new(group_by, label);
    let (files, errors) = files::expand_inputs(inputs)?;
    series.errors.extend(errors);
    let mut read: Vec<Input> = Vec::new();
    let mut first_error = None;
    saved::read_in_order(&files, max_profile_bytes, |i, p| {
        let f = &files[i];
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                series.errors.push(e.to_string());
                series.unreadable.push(e.to_string());
                first_error.get_or_insert(e);
                return;
            }
        };
        let source = f.path.display().to_string();
        if let Some(why) = f.kind.as_deref().and_then(|k| saved::contradiction(k, p)) {
            series.errors.push(format!("{source}: {why}"));
            return;
        }
        let reading = match &p.kind {
            ProfileKind::Goroutine => Reading::Goroutine(Snapshot::from_profile(&mut series.table, p, source.clone(), 0, 0)),
            ProfileKind::GoroutineLeak => Reading::Proof(series.proof_of(p)),
            ProfileKind::Heap => Reading::Heap(super::heap::reduce(p, 0)),
            ProfileKind::Other(t) => {
                series.errors.push(format!("{source}: a profile of {t}, left out"));
                return;
            }
        };
        // watch's creation-site dump joins its round's snapshot like any text form of the same
        // moment; given without that snapshot (the dump alone), it is a snapshot of its own.
        read.push(Input { reading, source, when: p.time_nanos.or(f.fetched_at_nanos), round: f.round });
    });
    if !read.iter().any(|i| matches!(i.reading, Reading::Goroutine(_))) {
        return Err(first_error.unwrap_or_else(|| {
            Error::Input("no goroutine profile among the inputs: give goroutine profiles (heap and goroutineleak ones only go with them)".into())
        }));
    }
    let mut heap = HeapSeries::default();
    series.assemble(&mut heap, read);
    Ok((series, heap))
}
