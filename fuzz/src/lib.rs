//! What every fuzz target shares: a memory cap that turns an allocation beyond the input-size caps
//! into a crash (so libFuzzer saves the input), and the caps the targets decode with.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `--max-profile-bytes` for the targets: small, so that "bounded by the caps" is checkable.
pub const MAX_PROFILE_BYTES: u64 = 4 << 20;

/// Live heap allowed: the decoders' caps plus the input and a margin. More is a finding.
pub const LIVE_HEAP_LIMIT: usize = 96 << 20;

/// Live heap allowed to the `amplify` target, which decodes at the default cap (1 GiB): what a
/// profile's decoded messages and model may take (the cap), its inflated bytes (at most 256 MiB
/// for protobuf) and a margin. A field that makes a small input take more is a finding.
pub const AMPLIFY_HEAP_LIMIT: usize = 1536 << 20;

/// The system allocator, aborting when live bytes would pass the limit ([`LIVE_HEAP_LIMIT`]
/// unless a target sets another with [`set_live_heap_limit`]).
pub struct CappedAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(LIVE_HEAP_LIMIT);

/// Sets the live heap limit of this fuzz target.
pub fn set_live_heap_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

fn over(size: usize) -> bool {
    LIVE.fetch_add(size, Ordering::Relaxed) + size > LIMIT.load(Ordering::Relaxed)
}

fn abort_over_cap() -> ! {
    let _ = std::io::stderr().write_all(b"leakhound-fuzz: live heap would pass its limit: decoding is not bounded by the caps\n");
    std::process::abort()
}

unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if over(layout.size()) {
            abort_over_cap();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if over(layout.size()) {
            abort_over_cap();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            if over(new_size - layout.size()) {
                abort_over_cap();
            }
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

use leakhound::analysis::diff::{diff, DiffOptions};
use leakhound::analysis::heap::HeapSeries;
use leakhound::analysis::rank::RankOptions;
use leakhound::analysis::series::Series;
use leakhound::analysis::Snapshot;
use leakhound::profile::{Profile, ProfileKind};
use leakhound::report::{self, escape, ChangeDoc, DiffReport, GroupDoc, OutputFormat, Style, Tool};
use leakhound::stacks::{GroupBy, StackTable};

/// Takes a decoded profile through the rest of the pipeline (a series growing from nothing to it,
/// ranking, heap attribution, a diff) and renders every format, checking that each output is safe
/// for where it goes: no control character a terminal acts on, no NUL in DOT, valid JSON.
pub fn pipeline(p: &Profile) {
    let mut p = p.clone();
    p.time_nanos = None;
    let mut empty = p.clone();
    empty.samples.clear();

    {
        let group_by = GroupBy::Line;
        // A diff of nothing against the profile, on its first value column.
        let mut table = StackTable::new(group_by, Some("a".into()));
        let base = Snapshot::from_profile(&mut table, &empty, "base\x1b[2J".into(), 0, 0);
        let new = Snapshot::from_profile(&mut table, &p, "new".into(), 1, 0);
        let changes = diff(&table, &base, &new, &DiffOptions { top: Some(50), min_delta: 1 });
        let doc = DiffReport {
            schema: report::DIFF_SCHEMA.into(),
            tool: Tool::default(),
            base: report::build::snapshot_doc(&base),
            new: report::build::snapshot_doc(&new),
            sample_type: new.sample_type.name.clone(),
            unit: new.sample_type.unit.clone(),
            base_total: base.total,
            new_total: new.total,
            changes: changes.iter().map(|c| ChangeDoc { group: GroupDoc::from(table.group(c.group)), base: c.base, new: c.new, delta: c.delta }).collect(),
            warnings: vec!["w\u{202e}".into()],
        };
        for format in [OutputFormat::Text, OutputFormat::Markdown, OutputFormat::Json] {
            for color in [false, true].into_iter().filter(|&c| !c || format == OutputFormat::Text) {
                let mut out = Vec::new();
                report::write_diff(&doc, format, Style { color }, &mut out).expect("rendering to memory");
                check(&out, format, color);
            }
        }

        // A series: nothing, then the profile three times, a minute apart.
        let mut series = Series::new(group_by, None);
        let mut heap = HeapSeries::default();
        series.push(&empty, "0".into(), Some(0));
        for i in 1..4i64 {
            series.push(&p, format!("{i}"), Some(i * 60_000_000_000));
            if p.kind == ProfileKind::GoroutineLeak {
                series.attach_proof(i as usize, &p);
            }
            if p.kind == ProfileKind::Heap {
                series.attach_heap(&mut heap, i as usize, &p);
            }
        }
        let opts = RankOptions { min_increase: 1, min_growth_per_minute: 0.0, ..Default::default() };
        let suspects = series.rank(&opts);
        let doc = report::build::leak_report("target\x07", &series, &heap, &suspects, &opts, Some(10), &["error\r".into()]);
        for format in [OutputFormat::Text, OutputFormat::Markdown, OutputFormat::Dot, OutputFormat::Json] {
            for color in [false, true].into_iter().filter(|&c| !c || format == OutputFormat::Text) {
                let mut out = Vec::new();
                report::write_leak(&doc, format, Style { color }, &mut out).expect("rendering to memory");
                check(&out, format, color);
            }
        }
    }
}

fn check(out: &[u8], format: OutputFormat, color: bool) {
    let text = std::str::from_utf8(out).expect("reports are UTF-8");
    let color = color && format == OutputFormat::Text;
    assert!(escape::is_terminal_safe(text, color), "{format:?} output holds a raw control character:\n{text}");
    match format {
        OutputFormat::Json => {
            serde_json::from_str::<serde_json::Value>(text).expect("JSON output parses");
        }
        OutputFormat::Dot => {
            assert!(!text.contains('\0'));
            assert!(text.starts_with("digraph leakhound {") && text.trim_end().ends_with('}'));
        }
        _ => {}
    }
}
