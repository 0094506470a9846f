//! The model's heart: stacks interned across snapshots, grouping modes, and for each group what it is
//! blocked on and which of the program's own functions it sits in.
//!
//! A [`StackTable`] is shared by every snapshot of one analysis, so a group has the same [`GroupId`]
//! in all of them: groups are identified by their frames, never by location ids, which change from
//! one profile to the next.

use std::fmt::Write as _;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

use serde::{Deserialize, Serialize};

use crate::profile::{Frame, Profile};

/// How samples are merged into groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// Function, file and line of every frame.
    #[default]
    Line,
    /// Function names only: matches stacks across builds whose line numbers moved.
    Function,
    /// Program counters (falls back to lines for dumps that have none).
    Address,
}

/// What the goroutines of a group are blocked on: exactly the names of `report.schema.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Blocking {
    #[serde(rename = "chan send")]
    ChanSend,
    #[serde(rename = "chan receive")]
    ChanReceive,
    #[serde(rename = "select")]
    Select,
    #[serde(rename = "select (no cases)")]
    SelectNoCases,
    #[serde(rename = "chan send (nil chan)")]
    ChanSendNil,
    #[serde(rename = "chan receive (nil chan)")]
    ChanReceiveNil,
    #[serde(rename = "sync.Mutex")]
    Mutex,
    #[serde(rename = "sync.RWMutex")]
    RwMutex,
    #[serde(rename = "sync.WaitGroup")]
    WaitGroup,
    #[serde(rename = "sync.Cond")]
    Cond,
    #[serde(rename = "IO wait")]
    IoWait,
    #[serde(rename = "sleep")]
    Sleep,
    #[serde(rename = "syscall")]
    Syscall,
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "other")]
    Other,
}

impl Blocking {
    pub fn as_str(self) -> &'static str {
        match self {
            Blocking::ChanSend => "chan send",
            Blocking::ChanReceive => "chan receive",
            Blocking::Select => "select",
            Blocking::SelectNoCases => "select (no cases)",
            Blocking::ChanSendNil => "chan send (nil chan)",
            Blocking::ChanReceiveNil => "chan receive (nil chan)",
            Blocking::Mutex => "sync.Mutex",
            Blocking::RwMutex => "sync.RWMutex",
            Blocking::WaitGroup => "sync.WaitGroup",
            Blocking::Cond => "sync.Cond",
            Blocking::IoWait => "IO wait",
            Blocking::Sleep => "sleep",
            Blocking::Syscall => "syscall",
            Blocking::Running => "running",
            Blocking::Other => "other",
        }
    }

    fn is_sync(self) -> bool {
        matches!(self, Blocking::Mutex | Blocking::RwMutex | Blocking::WaitGroup | Blocking::Cond)
    }

    /// From a `debug=2` wait reason (`chan receive`, `sync.Mutex.Lock`, ...).
    pub fn from_wait_reason(reason: &str) -> Option<Blocking> {
        Some(match reason {
            "chan send" => Blocking::ChanSend,
            "chan receive" => Blocking::ChanReceive,
            "select" => Blocking::Select,
            "select (no cases)" => Blocking::SelectNoCases,
            "chan send (nil chan)" => Blocking::ChanSendNil,
            "chan receive (nil chan)" => Blocking::ChanReceiveNil,
            "sync.Mutex.Lock" => Blocking::Mutex,
            "sync.RWMutex.Lock" | "sync.RWMutex.RLock" => Blocking::RwMutex,
            "sync.WaitGroup.Wait" => Blocking::WaitGroup,
            "sync.Cond.Wait" => Blocking::Cond,
            "IO wait" => Blocking::IoWait,
            "sleep" => Blocking::Sleep,
            "syscall" => Blocking::Syscall,
            "running" | "runnable" => Blocking::Running,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the runtime frames of a stack (innermost first) say the goroutine is blocked on.
///
/// `runtime_frames_hidden` is set for the text forms, which leave out the runtime frames a parked
/// goroutine sits in: there a stack with no telling frame is `other`, not `running`.
pub fn blocking_from_frames(frames: &[&Frame], runtime_frames_hidden: bool) -> Blocking {
    let mut first: Option<Blocking> = None;
    let mut outermost_sync: Option<Blocking> = None;
    for f in frames {
        if !is_std_function(&f.function) {
            break;
        }
        let Some(b) = frame_blocking(f) else { continue };
        if b.is_sync() {
            outermost_sync = Some(b);
        } else if first.is_none() && outermost_sync.is_none() {
            first = Some(b);
        }
    }
    if let Some(b) = outermost_sync.or(first) {
        return b;
    }
    match frames.first() {
        Some(f) if is_park_function(&f.function) || runtime_frames_hidden => Blocking::Other,
        Some(_) => Blocking::Running,
        None => Blocking::Other,
    }
}

fn is_park_function(name: &str) -> bool {
    matches!(name, "runtime.gopark" | "runtime.goparkunlock" | "runtime.park_m" | "runtime.notetsleepg" | "runtime.semacquire1")
}

/// Inside `runtime.chansend`/`chanrecv`, the nil-channel park is the first thing the function does;
/// the ordinary park comes much later. Only the protobuf form carries the function's first line.
fn near_function_start(f: &Frame) -> bool {
    f.start_line > 0 && f.line >= f.start_line && f.line - f.start_line <= 25
}

fn frame_blocking(f: &Frame) -> Option<Blocking> {
    let name = f.function.as_str();
    Some(match name {
        "runtime.chansend" if near_function_start(f) => Blocking::ChanSendNil,
        "runtime.chanrecv" if near_function_start(f) => Blocking::ChanReceiveNil,
        "runtime.chansend" | "runtime.chansend1" => Blocking::ChanSend,
        "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" => Blocking::ChanReceive,
        "runtime.selectgo" => Blocking::Select,
        "runtime.block" => Blocking::SelectNoCases,
        "time.Sleep" | "runtime.timeSleep" => Blocking::Sleep,
        "internal/poll.runtime_pollWait" | "runtime.netpollblock" => Blocking::IoWait,
        "runtime.cgocall" | "runtime.asmcgocall" | "runtime.notetsleepg" | "os/signal.signal_recv" => Blocking::Syscall,
        _ => {
            let n = name.strip_prefix("internal/").unwrap_or(name);
            if n.starts_with("sync.(*RWMutex).") || n.starts_with("sync.runtime_SemacquireRWMutex") {
                Blocking::RwMutex
            } else if n.starts_with("sync.(*Mutex).") || n == "sync.runtime_SemacquireMutex" {
                Blocking::Mutex
            } else if n.starts_with("sync.(*WaitGroup).Wait") || n == "sync.runtime_SemacquireWaitGroup" {
                Blocking::WaitGroup
            } else if n.starts_with("sync.(*Cond).Wait") || n == "sync.runtime_notifyListWait" {
                Blocking::Cond
            } else if n.starts_with("syscall.Syscall")
                || n.starts_with("syscall.RawSyscall")
                || n.starts_with("syscall.syscall")
                || n.starts_with("runtime/syscall.")
            {
                Blocking::Syscall
            } else {
                return None;
            }
        }
    })
}

/// Combines the frames' answer with a `debug=2` wait reason, which is the stronger evidence for the
/// nil-channel cases and when the frames say nothing specific.
pub fn blocking_of(frames: &[&Frame], wait_reason: Option<&str>, runtime_frames_hidden: bool) -> Blocking {
    // The runtime's own wait reason is the best evidence there is; frames decide where it is
    // missing or generic (`semacquire` in older releases).
    // `running` and `runnable` are states, not operations: a goroutine the netpoller or a channel
    // has just woken is `runnable` with its park frames still on the stack, and those frames say
    // what it blocks on.
    let from_frames = || blocking_from_frames(frames, runtime_frames_hidden);
    match wait_reason.and_then(Blocking::from_wait_reason) {
        Some(Blocking::Running) => match from_frames() {
            Blocking::Other => Blocking::Running,
            b => b,
        },
        Some(b) => b,
        None => from_frames(),
    }
}

fn stdlib() -> &'static (FxHashSet<&'static str>, FxHashSet<&'static str>) {
    static STD: OnceLock<(FxHashSet<&'static str>, FxHashSet<&'static str>)> = OnceLock::new();
    STD.get_or_init(|| {
        let paths: FxHashSet<&str> = include_str!("stdlib_packages.txt").lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        let roots = paths.iter().map(|p| p.split('/').next().unwrap_or(p)).collect();
        (paths, roots)
    })
}

/// The import path of a Go function name: `net/http.(*conn).serve` → `net/http`.
pub fn package_of(function: &str) -> &str {
    // Generic arguments and receivers may hold slashes and dots of their own: cut them off first.
    let head_end = function.find(['[', '(']).unwrap_or(function.len());
    let head = &function[..head_end];
    let after_slash = head.rfind('/').map_or(0, |i| i + 1);
    match head[after_slash..].find('.') {
        Some(dot) => &function[..after_slash + dot],
        None => head,
    }
}

/// Whether a function belongs to the Go standard library (per `go list std`; packages of a newer Go
/// are recognised by their first path element, which has no dot for the standard library only).
pub fn is_std_function(function: &str) -> bool {
    let pkg = package_of(function);
    if pkg == "main" || pkg.is_empty() {
        return false;
    }
    let (paths, roots) = stdlib();
    if paths.contains(pkg) {
        return true;
    }
    let root = pkg.split('/').next().unwrap_or(pkg);
    !root.contains('.') && roots.contains(root)
}

/// Frames no Go developer would call the place a goroutine sits: the builtin `panic` and the
/// compiler's `<autogenerated>` wrappers (neither is standard library by its name).
fn is_pseudo_frame(function: &str) -> bool {
    function == "panic" || function.starts_with("<autogenerated>") || function.starts_with("runtime.")
}

/// The schema's leaf of an allocation (heap) stack: the innermost frame outside the standard
/// library; if every frame is standard library, the innermost outside package `runtime`.
pub fn leaf_index(frames: &[&Frame]) -> usize {
    if let Some(i) = frames.iter().position(|f| !is_std_function(&f.function) && !is_pseudo_frame(&f.function)) {
        return i;
    }
    frames.iter().position(|f| package_of(&f.function) != "runtime" && !is_pseudo_frame(&f.function)).unwrap_or(0)
}

/// The leaf of a goroutine stack: the innermost frame of the program (outside the standard library,
/// never `panic` or `<autogenerated>`); when every frame is standard library, the goroutine's entry
/// function (its outermost frame outside `runtime`), e.g. `net/http.(*persistConn).readLoop`: the
/// innermost would be poll or runtime plumbing. Reports make labels distinct among the stacks
/// they list (`analysis::patterns::distinct_leaves`).
pub fn goroutine_leaf_index(frames: &[&Frame]) -> usize {
    if let Some(i) = frames.iter().position(|f| !is_std_function(&f.function) && !is_pseudo_frame(&f.function)) {
        return i;
    }
    frames.iter().rposition(|f| !is_pseudo_frame(&f.function)).unwrap_or(0)
}

/// Identifies a stack group in a [`StackTable`], the same in every snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// Everything known about a group that does not change between snapshots.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// Frames innermost first (one representative when grouping by function merges lines).
    pub frames: Vec<Frame>,
    pub label: Option<String>,
    /// The pprof labels its goroutines carried (protobuf labels, `debug=2` header labels, `debug=1`
    /// `# labels:`): distinct key/value pairs, sorted, at most [`MAX_GROUP_LABELS`].
    pub labels: Vec<(String, String)>,
    pub blocking: Blocking,
    /// Index into `frames`.
    pub leaf: usize,
    pub created_by: Option<Frame>,
    /// Stacks of the goroutine's ancestors (`GODEBUG=tracebackancestors`), nearest first, each
    /// innermost first with its own `created by` frame last when it has one. Where the group's
    /// goroutines came from several ancestries, the one of most goroutines in one dump.
    pub ancestors: Vec<Vec<Frame>>,
    /// Stable text key for deterministic ordering.
    pub sort_key: String,
}

/// What a group of a served profile is to the request that fetched it: a served profile holds the
/// goroutine that wrote it and that connection's background reader, which a SIGQUIT or panic dump
/// of the same moment does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRole {
    /// The goroutine running runtime/pprof's writer.
    Writer,
    /// `net/http.(*connReader).backgroundRead`, started for every request, the profile's one too.
    ConnReader,
    /// A connection's background reader created and not started yet: only the `go` statement's
    /// wrapper to show (`startBackgroundRead.gowrap1` since Go 1.22, `startBackgroundRead.func2`
    /// before). The profile request's own reader, when one is, as the request has just begun it.
    ConnReaderNotStarted,
}

/// A profile grouped: the groups' values and what was left out.
#[derive(Debug, Default)]
pub struct Grouping {
    pub groups: FxHashMap<GroupId, GroupStats>,
    /// Goroutines of the runtime itself (GC workers, `goroutine 0`, ...): only dumps printed with
    /// GOTRACEBACK=system or by a SIGQUIT show them; every other form leaves them out, so they are
    /// left out here too.
    pub runtime_goroutines: i64,
}

/// Most distinct label pairs a group keeps to show (a label per request id would be thousands).
pub const MAX_GROUP_LABELS: usize = 32;

/// Stacks deeper than this are grouped by their innermost frames only. Go keeps 128 program
/// counters of a stack in the protobuf and `debug=1` forms, and beyond 100 frames its text dumps
/// print the innermost 50 and the outermost 50 (counting the runtime's own frames under
/// GOTRACEBACK=system or SIGQUIT): the innermost 40 comparable frames are what every form shows of
/// any stack, so the same goroutine falls in the same group whichever form it was read from.
pub const MAX_KEY_FRAMES: usize = 40;

impl GroupInfo {
    pub fn leaf_frame(&self) -> &Frame {
        &self.frames[self.leaf]
    }
}

/// Per-snapshot value of one group. What only a `debug=2` dump tells (waits, leak marks) is boxed
/// apart, so that the snapshots of the other forms, which a rolling window holds many of per
/// target, cost 16 bytes a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// Goroutines, or the chosen sample type's value for heap profiles.
    pub value: i64,
    facts: Option<Box<WaitFacts>>,
}

/// A group's waits and leak marks in one snapshot (see [`GroupStats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitFacts {
    pub max_wait_minutes: u64,
    /// Goroutines the runtime marked leaked in a debug=2 header.
    pub leaked: u64,
    /// How long its goroutines have waited (debug=2 dumps only; empty for the other forms).
    pub wait: crate::profile::WaitMinutes,
}

static NO_WAITS: crate::profile::WaitMinutes = crate::profile::WaitMinutes::new();

impl GroupStats {
    pub fn new(value: i64) -> GroupStats {
        GroupStats { value, facts: None }
    }

    /// The longest wait among its goroutines, in minutes (0 when unknown).
    pub fn max_wait_minutes(&self) -> u64 {
        self.facts.as_ref().map_or(0, |f| f.max_wait_minutes)
    }

    /// Goroutines the runtime marked leaked.
    pub fn leaked(&self) -> u64 {
        self.facts.as_ref().map_or(0, |f| f.leaked)
    }

    /// How long its goroutines have waited (empty unless a debug=2 dump said).
    pub fn wait(&self) -> &crate::profile::WaitMinutes {
        self.facts.as_ref().map_or(&NO_WAITS, |f| &f.wait)
    }

    /// The waits and marks, to add to.
    pub fn facts_mut(&mut self) -> &mut WaitFacts {
        self.facts.get_or_insert_with(Default::default)
    }
}

/// The part of a frame that groups compare (by `GroupBy`): its hash, and whether two frames agree.
fn frame_key_hash(group_by: GroupBy, f: &Frame) -> u64 {
    use std::hash::BuildHasher as _;
    let h = rustc_hash::FxBuildHasher;
    match group_by {
        GroupBy::Function => h.hash_one(&f.function),
        GroupBy::Address if f.address != 0 => h.hash_one((1u8, f.address)),
        GroupBy::Line | GroupBy::Address => h.hash_one((0u8, &f.function, &f.file, f.line)),
    }
}

fn same_frame_key(group_by: GroupBy, a: &Frame, b: &Frame) -> bool {
    match group_by {
        GroupBy::Function => a.function == b.function,
        GroupBy::Address if a.address != 0 || b.address != 0 => a.address == b.address,
        GroupBy::Line | GroupBy::Address => a.function == b.function && a.file == b.file && a.line == b.line,
    }
}

fn frame_hash(f: &Frame) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one(f)
}

#[derive(Hash, PartialEq, Eq)]
struct GroupKey {
    frames: Vec<u32>,
    label: Option<String>,
}

/// What a group is made from, kept until its [`GroupInfo`] is first asked for: a diff or a ranking
/// shows only a few of the thousands of groups, so most never need their frames cloned.
struct GroupRecord {
    /// A sample's whole stack, as ids into [`StackTable::exact`]: the first one read from the form
    /// with the most frames (protobuf keeps the runtime's own frames, text forms hide them).
    stack: Vec<u32>,
    label: Option<String>,
    /// As [`GroupInfo::labels`], in the order first seen.
    labels: Vec<(String, String)>,
    wait_reason: Option<String>,
    runtime_frames_hidden: bool,
    /// Id into [`StackTable::exact`].
    created_by: Option<u32>,
    request: Option<RequestRole>,
    /// Ids into [`StackTable::exact`], as [`GroupInfo::ancestors`].
    ancestors: Vec<Vec<u32>>,
    /// Goroutines that had those ancestors in their dump.
    ancestors_weight: i64,
    /// From a goroutine (not a heap) profile: decides how the leaf is chosen.
    goroutines: bool,
    /// Boxed: most groups never build it, and a table holds thousands of records.
    info: OnceLock<Box<GroupInfo>>,
}

/// Per table frame facts that grouping needs for every sample.
#[derive(Clone, Copy)]
struct FrameFacts {
    /// Id of the grouping key ([`FrameKey`]) this frame falls under.
    key: u32,
    /// Left out of the key wherever it is: a frame some forms show and others hide.
    hidden: bool,
    /// An `internal/runtime/` frame, left out of the key at the top of a stack (`debug=1` hides it there).
    internal_runtime: bool,
    /// A compiler-made wrapper (`<autogenerated>`, `-fm`, `.gowrapN`): never the goroutine's own function.
    wrapper: bool,
    /// `runtime.goexit`.
    goexit: bool,
    /// A function of package runtime other than `runtime.main`: as the outermost frame, the mark
    /// of one of the runtime's own goroutines.
    runtime_start: bool,
    /// What a stack with this frame is to a profile request (see [`request_role`]).
    request: Option<RequestRole>,
}

/// Whether a frame is shown in some forms of a goroutine profile and hidden in others, so that it
/// cannot be part of a stack's identity. Go's tracebacks (`debug=2`, panics, SIGQUIT) print the
/// runtime's unexported functions and compiler-made wrappers only at GOTRACEBACK=system and above
/// (a SIGQUIT dump always does); the protobuf form has the runtime's frames but no wrappers;
/// `debug=1` hides the runtime frames at the top only. Leaving all of them out makes every form agree.
fn is_hidden_frame(f: &Frame) -> bool {
    let name = f.function.as_str();
    if name == "panic" {
        // How a traceback prints runtime.gopanic.
        return true;
    }
    if is_wrapper(f) {
        return true;
    }
    match name.strip_prefix("runtime.") {
        Some(rest) => !is_exported_runtime(rest),
        None => false,
    }
}

/// Go's own rule (runtime/traceback.go, isExportedRuntime): an exported function, or an exported
/// method of an exported type, of package runtime; `rest` is the name after `runtime.`.
fn is_exported_runtime(rest: &str) -> bool {
    let (receiver, name) = match rest.rfind('.') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let receiver = receiver.strip_prefix("(*").and_then(|r| r.strip_suffix(')')).unwrap_or(receiver);
    let upper = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    upper(name) && (receiver.is_empty() || upper(receiver))
}

/// A wrapper the compiler made: `<autogenerated>` methods, method values (`-fm`), and the closures
/// of `go` and `defer` statements (`main.main.gowrap1`, `main.f.deferwrap2`).
fn is_wrapper(f: &Frame) -> bool {
    if f.file == "<autogenerated>" || f.function.ends_with("-fm") {
        return true;
    }
    let name = f.function.as_str();
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && {
        let head = &name[..name.len() - digits];
        head.ends_with(".gowrap") || head.ends_with(".deferwrap")
    }
}

/// Interned frames and groups, shared by every snapshot of one analysis.
pub struct StackTable {
    group_by: GroupBy,
    label_key: Option<String>,
    /// Every distinct frame seen, exactly as the profiles had it.
    exact: Vec<Frame>,
    /// Ids into `exact`, found by the frame's hash (each frame is held once, in `exact`).
    exact_ids: hashbrown::HashTable<u32>,
    /// Per exact frame.
    facts: Vec<FrameFacts>,
    /// (key id, a frame in `exact` with that key), found by the key's hash ([`frame_key_hash`]).
    key_ids: hashbrown::HashTable<(u32, u32)>,
    group_ids: FxHashMap<GroupKey, GroupId>,
    groups: Vec<GroupRecord>,
}

impl StackTable {
    pub fn new(group_by: GroupBy, label_key: Option<String>) -> Self {
        StackTable {
            group_by,
            label_key,
            exact: Vec::new(),
            exact_ids: hashbrown::HashTable::new(),
            facts: Vec::new(),
            key_ids: hashbrown::HashTable::new(),
            group_ids: FxHashMap::default(),
            groups: Vec::new(),
        }
    }

    /// The pprof label that splits groups (`--label`), if any.
    pub fn label_key(&self) -> Option<&str> {
        self.label_key.as_deref()
    }

    /// Everything known about a group (built on first use, then kept).
    pub fn group(&self, id: GroupId) -> &GroupInfo {
        let r = &self.groups[id.0 as usize];
        r.info.get_or_init(|| Box::new(self.build_info(r)))
    }

    /// The frames of a group, innermost first, without building its [`GroupInfo`].
    pub fn group_frames(&self, id: GroupId) -> impl Iterator<Item = &Frame> + '_ {
        let r = &self.groups[id.0 as usize];
        let placeholder = r.stack.is_empty().then(|| self.group(id).frames.iter()).into_iter().flatten();
        r.stack.iter().map(|&i| &self.exact[i as usize]).chain(placeholder)
    }

    /// Whether the group's stack has any frame (the runtime records a few goroutines without one).
    pub fn has_frames(&self, id: GroupId) -> bool {
        self.groups.get(id.0 as usize).is_some_and(|r| !r.stack.is_empty())
    }

    fn build_info(&self, r: &GroupRecord) -> GroupInfo {
        // Shown with every frame the profile has; keyed on the comparable part only.
        let mut frames: Vec<Frame> = r.stack.iter().map(|&i| self.exact[i as usize].clone()).collect();
        if frames.is_empty() {
            // The runtime records a few goroutines without any frame; keep them visible.
            frames.push(Frame { function: "(no frames)".into(), file: String::new(), line: 0, address: 0, start_line: 0 });
        }
        let refs: Vec<&Frame> = frames.iter().collect();
        let blocking = blocking_of(&refs, r.wait_reason.as_deref(), r.runtime_frames_hidden);
        let leaf = if r.goroutines { goroutine_leaf_index(&refs) } else { leaf_index(&refs) };
        let created_by = r.created_by.map(|i| self.exact[i as usize].clone());
        let ancestors = r.ancestors.iter().map(|a| a.iter().map(|&i| self.exact[i as usize].clone()).collect()).collect();
        let sort_key = sort_key(&frames, r.label.as_deref());
        let mut labels = r.labels.clone();
        labels.sort();
        GroupInfo { frames, label: r.label.clone(), labels, blocking, leaf, created_by, ancestors, sort_key }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Distinct frames interned (every frame of every profile grouped, used by a group or not).
    pub fn frames(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The table's id of one of a profile's frames; a frame seen before costs one lookup.
    fn intern_exact(&mut self, f: &Frame) -> u32 {
        let hash = frame_hash(f);
        let exact = &self.exact;
        if let Some(&id) = self.exact_ids.find(hash, |&i| exact[i as usize] == *f) {
            return id;
        }
        let id = self.exact.len() as u32;
        let group_by = self.group_by;
        let key_hash = frame_key_hash(group_by, f);
        let key = match self.key_ids.find(key_hash, |&(_, rep)| same_frame_key(group_by, &exact[rep as usize], f)) {
            Some(&(key, _)) => key,
            None => {
                let key = self.key_ids.len() as u32;
                let exact = &self.exact;
                // `id`, the frame about to be pushed, stands for the key; rehashing reads the
                // frames already pushed, and `f` for it.
                self.key_ids.insert_unique(key_hash, (key, id), |&(_, rep)| exact.get(rep as usize).map_or(key_hash, |r| frame_key_hash(group_by, r)));
                key
            }
        };
        self.facts.push(FrameFacts {
            key,
            hidden: is_hidden_frame(f),
            internal_runtime: f.function.starts_with("internal/runtime/"),
            wrapper: is_wrapper(f),
            goexit: f.function == "runtime.goexit",
            runtime_start: f.function.starts_with("runtime.") && f.function != "runtime.main",
            request: frame_request_role(&f.function),
        });
        self.exact.push(f.clone());
        let exact = &self.exact;
        self.exact_ids.insert_unique(hash, id, |&i| frame_hash(&exact[i as usize]));
        id
    }

    /// Groups one profile's samples, summing the value column `value_index`.
    pub fn group_profile(&mut self, profile: &Profile, value_index: usize) -> FxHashMap<GroupId, GroupStats> {
        self.group_counted(profile, value_index).groups
    }

    /// Groups one profile's samples, summing the value column `value_index`, and says what it left out.
    ///
    /// A group met again in a richer form takes that form's stack to show (the protobuf form has
    /// the runtime's frames, which tell the blocking operation), a `debug=2` wait reason and
    /// creation site where it had none: what a group shows does not depend on the order in which
    /// forms of the same goroutines were read.
    pub fn group_counted(&mut self, profile: &Profile, value_index: usize) -> Grouping {
        // Map the profile's own frames to table frames once; samples then cost integer work only.
        // Only the frames some sample uses: a profile's table may hold more (a profile cut down to
        // some samples keeps every location), and a long-running table should not keep them.
        let used = used_frames(profile);
        let frame_map: Vec<u32> = profile.frames.iter().zip(&used).map(|(f, &u)| if u { self.intern_exact(f) } else { u32::MAX }).collect();
        let hidden = profile.format != crate::profile::Format::Proto;
        // Only tracebacks (debug=2, panic, SIGQUIT) ever print the runtime's own goroutines.
        let may_hold_runtime_goroutines = profile.format == crate::profile::Format::Debug2;
        let mut out = Grouping { groups: FxHashMap::with_capacity_and_hasher(profile.samples.len().min(1 << 16), Default::default()), runtime_goroutines: 0 };
        let goroutines = profile.kind.is_goroutine_like();
        if self.groups.is_empty() {
            // The first profile makes most groups: room for them at once, not by doubling and
            // copying (each copy touches fresh pages).
            let expected = profile.samples.len().min(1 << 16);
            self.groups.reserve(expected);
            self.group_ids.reserve(expected);
        }
        let mut key = GroupKey { frames: Vec::new(), label: None };
        let mut table_stack: Vec<u32> = Vec::new();
        for s in &profile.samples {
            table_stack.clear();
            table_stack.extend(s.stack.iter().map(|&i| frame_map[i as usize]));
            if may_hold_runtime_goroutines && is_runtime_goroutine(&self.facts, &table_stack) {
                out.runtime_goroutines += s.values.get(value_index).copied().unwrap_or(0);
                continue;
            }
            key.frames.clear();
            comparable_key(&self.facts, &table_stack, &mut key.frames);
            key.label = self.label_key.as_ref().map(|k| s.labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.clone()).unwrap_or_default());
            let facts = s.goroutine.as_ref();
            let wait_reason = facts.map(|g| g.wait_reason.as_str()).filter(|r| !r.is_empty());
            let created_by = facts.and_then(|g| g.created_by).map(|i| frame_map[i as usize]);
            let id = match self.group_ids.get(&key) {
                Some(&id) => {
                    self.enrich(id, &table_stack, hidden, wait_reason, created_by);
                    id
                }
                None => {
                    let id = GroupId(self.groups.len() as u32);
                    let request = request_role(&self.facts, &table_stack);
                    self.groups.push(GroupRecord {
                        stack: table_stack.clone(),
                        label: key.label.clone(),
                        labels: Vec::new(),
                        wait_reason: wait_reason.map(str::to_string),
                        runtime_frames_hidden: hidden,
                        created_by,
                        request,
                        ancestors: facts.map(|g| map_ancestors(&frame_map, &g.ancestors)).unwrap_or_default(),
                        ancestors_weight: s.values.first().copied().unwrap_or(0),
                        goroutines,
                        info: OnceLock::new(),
                    });
                    self.group_ids.insert(GroupKey { frames: key.frames.clone(), label: key.label.take() }, id);
                    id
                }
            };
            if !s.labels.is_empty() {
                add_labels(&mut self.groups[id.0 as usize], &s.labels);
            }
            let stats = out.groups.entry(id).or_default();
            stats.value = stats.value.saturating_add(s.values.get(value_index).copied().unwrap_or(0));
            if let Some(g) = facts {
                if g.max_wait_minutes > 0 || g.leaked > 0 || !g.wait.is_empty() {
                    let f = stats.facts_mut();
                    f.max_wait_minutes = f.max_wait_minutes.max(g.max_wait_minutes);
                    f.wait.merge(&g.wait);
                    f.leaked = f.leaked.saturating_add(g.leaked);
                }
                let record = &mut self.groups[id.0 as usize];
                // So do the ancestors of a `GODEBUG=tracebackancestors` dump: those of the most
                // goroutines, where the group's came from several places.
                let weight = s.values.first().copied().unwrap_or(0);
                if !g.ancestors.is_empty() && (record.ancestors.is_empty() || weight > record.ancestors_weight) {
                    record.ancestors = map_ancestors(&frame_map, &g.ancestors);
                    record.ancestors_weight = weight;
                    if let Some(info) = record.info.get_mut() {
                        info.ancestors = record.ancestors.iter().map(|a| a.iter().map(|&i| self.exact[i as usize].clone()).collect()).collect();
                    }
                }
            }
        }
        out
    }

    /// What a sample of an existing group adds to it (see [`StackTable::group_counted`]).
    fn enrich(&mut self, id: GroupId, stack: &[u32], hidden: bool, wait_reason: Option<&str>, created_by: Option<u32>) {
        let record = &mut self.groups[id.0 as usize];
        let mut changed = false;
        if record.runtime_frames_hidden && !hidden {
            record.stack.clear();
            record.stack.extend_from_slice(stack);
            record.runtime_frames_hidden = false;
            changed = true;
        }
        // A parked goroutine's reason is better evidence than the state of one caught running.
        let is_state = |r: &str| r == "running" || r == "runnable";
        let better = match (record.wait_reason.as_deref(), wait_reason) {
            (None, Some(_)) => true,
            (Some(old), Some(new)) => is_state(old) && !is_state(new),
            _ => false,
        };
        if better {
            record.wait_reason = wait_reason.map(str::to_string);
            changed = true;
        }
        if let Some(c) = created_by {
            // Of two creation sites, the same one whatever the order they were read in.
            if record.created_by.is_none_or(|old| old != c && self.exact[c as usize] < self.exact[old as usize]) {
                record.created_by = Some(c);
                changed = true;
            }
        }
        if record.request.is_none() {
            record.request = request_role(&self.facts, stack);
        }
        if changed {
            record.info = OnceLock::new();
        }
    }

    /// The group's part in the request that fetched a served profile, if any.
    pub fn request_role(&self, id: GroupId) -> Option<RequestRole> {
        self.groups[id.0 as usize].request
    }

    /// A table holding only the groups `keep` (and the frames they use), and the new id of each:
    /// a long-running analysis (`serve`'s rolling window) forgets the stacks that left its window,
    /// so its table stays as small as the window. Each group keeps everything it had (stack, wait
    /// reason, creation site, ancestors), so what it shows does not change.
    pub fn retain(&self, keep: &[GroupId]) -> (StackTable, FxHashMap<GroupId, GroupId>) {
        let mut out = StackTable::new(self.group_by, self.label_key.clone());
        let mut ids = FxHashMap::default();
        for &old in keep {
            let Some(r) = self.groups.get(old.0 as usize) else { continue };
            if ids.contains_key(&old) {
                continue;
            }
            let stack: Vec<u32> = r.stack.iter().map(|&i| out.intern_exact(&self.exact[i as usize])).collect();
            let created_by = r.created_by.map(|i| out.intern_exact(&self.exact[i as usize]));
            let ancestors: Vec<Vec<u32>> = r.ancestors.iter().map(|a| a.iter().map(|&i| out.intern_exact(&self.exact[i as usize])).collect()).collect();
            // The key the group was found under: the comparable frames of any of its stacks agree.
            let mut key = Vec::new();
            comparable_key(&out.facts, &stack, &mut key);
            let id = GroupId(out.groups.len() as u32);
            out.groups.push(GroupRecord {
                stack,
                label: r.label.clone(),
                labels: r.labels.clone(),
                wait_reason: r.wait_reason.clone(),
                runtime_frames_hidden: r.runtime_frames_hidden,
                created_by,
                request: r.request,
                ancestors,
                ancestors_weight: r.ancestors_weight,
                goroutines: r.goroutines,
                info: OnceLock::new(),
            });
            out.group_ids.insert(GroupKey { frames: key, label: r.label.clone() }, id);
            ids.insert(old, id);
        }
        (out, ids)
    }
}

/// Notes the labels of a sample of a group (up to [`MAX_GROUP_LABELS`] distinct pairs).
fn add_labels(record: &mut GroupRecord, labels: &[(String, String)]) {
    let mut changed = false;
    for pair in labels {
        if record.labels.len() < MAX_GROUP_LABELS && !record.labels.contains(pair) {
            record.labels.push(pair.clone());
            changed = true;
        }
    }
    if changed {
        if let Some(info) = record.info.get_mut() {
            info.labels.clone_from(&record.labels);
            info.labels.sort();
        }
    }
}

/// Which of a profile's frames its samples use (stacks, creation sites, ancestors).
fn used_frames(profile: &Profile) -> Vec<bool> {
    let mut used = vec![false; profile.frames.len()];
    let mut mark = |i: u32| {
        if let Some(u) = used.get_mut(i as usize) {
            *u = true;
        }
    };
    for s in &profile.samples {
        s.stack.iter().for_each(|&i| mark(i));
        if let Some(g) = &s.goroutine {
            g.created_by.into_iter().for_each(&mut mark);
            g.ancestors.iter().flatten().for_each(|&i| mark(i));
        }
    }
    used
}

/// A profile's ancestor stacks in table frame ids (indexes out of range are dropped, not trusted).
fn map_ancestors(frame_map: &[u32], ancestors: &[Vec<u32>]) -> Vec<Vec<u32>> {
    ancestors.iter().map(|a| a.iter().filter_map(|&i| frame_map.get(i as usize).copied()).collect()).collect()
}

/// The frames of a stack that every form of the profile shows, as grouping keys, innermost first
/// and at most [`MAX_KEY_FRAMES`]: the frames some forms hide are left out (see
/// [`is_hidden_frame`]), and so are `internal/runtime/` frames at the top. A stack made only of
/// such frames keeps them all, so that it still has an identity.
fn comparable_key(facts: &[FrameFacts], stack: &[u32], key: &mut Vec<u32>) {
    let mut top = true;
    for &i in stack {
        let f = facts[i as usize];
        if f.hidden || (top && f.internal_runtime) {
            continue;
        }
        top = false;
        key.push(f.key);
        if key.len() == MAX_KEY_FRAMES {
            return;
        }
    }
    if key.is_empty() {
        key.extend(stack.iter().filter(|&&i| !facts[i as usize].goexit).take(MAX_KEY_FRAMES).map(|&i| facts[i as usize].key));
    }
}

/// One of the runtime's own goroutines (GC workers, the finalizer and scavenger goroutines, an M's
/// `goroutine 0`): its outermost frame, past `runtime.goexit` and wrappers, is a runtime function
/// other than `runtime.main`. Go's goroutine profile and its default tracebacks leave these out.
fn is_runtime_goroutine(facts: &[FrameFacts], stack: &[u32]) -> bool {
    let outermost = stack.iter().rev().map(|&i| facts[i as usize]).find(|f| !f.goexit && !f.wrapper);
    let outermost = outermost.or_else(|| stack.last().map(|&i| facts[i as usize]));
    outermost.is_some_and(|f| f.runtime_start && !f.goexit)
}

/// Whether a stack is the profile request's own goroutine (see [`RequestRole`]): the writer
/// wherever it is, else the connection's reader.
fn request_role(facts: &[FrameFacts], stack: &[u32]) -> Option<RequestRole> {
    let mut role = None;
    for &i in stack {
        match facts[i as usize].request {
            Some(RequestRole::Writer) => return Some(RequestRole::Writer),
            // Running (a SIGQUIT dump also shows the wrapper below it).
            Some(RequestRole::ConnReader) => role = Some(RequestRole::ConnReader),
            Some(r) => role = role.or(Some(r)),
            None => {}
        }
    }
    role
}

/// The part in a profile request of a stack holding `function`.
fn frame_request_role(function: &str) -> Option<RequestRole> {
    if function == "runtime/pprof.writeGoroutine" {
        return Some(RequestRole::Writer);
    }
    if function == "net/http.(*connReader).backgroundRead" {
        return Some(RequestRole::ConnReader);
    }
    // Created and not started yet: only the `go` statement's wrapper to show, `.gowrapN` since Go
    // 1.22, `.funcN` before (Prometheus 2.42, built with Go 1.19: `startBackgroundRead.func2`).
    function
        .strip_prefix("net/http.(*connReader).startBackgroundRead.")
        .is_some_and(|rest| rest.starts_with("gowrap") || rest.starts_with("func"))
        .then_some(RequestRole::ConnReaderNotStarted)
}

fn sort_key(frames: &[Frame], label: Option<&str>) -> String {
    let mut k = String::new();
    for f in frames.iter().rev() {
        k.push_str(&f.function);
        let _ = write!(k, ":{};", f.line);
    }
    if let Some(l) = label {
        k.push_str("label=");
        k.push_str(l);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Frame {
        Frame { function: name.into(), file: String::new(), line: 1, address: 0, start_line: 0 }
    }

    #[test]
    fn packages() {
        assert_eq!(package_of("net/http.(*conn).serve"), "net/http");
        assert_eq!(package_of("main.(*server).fanout.func1"), "main");
        assert_eq!(package_of("github.com/a/b.(*T).M"), "github.com/a/b");
        assert_eq!(package_of("sync/atomic.(*Pointer[net/http.x]).Load"), "sync/atomic");
        assert!(is_std_function("internal/poll.runtime_pollWait"));
        assert!(is_std_function("runtime.gopark"));
        assert!(is_std_function("vendor/golang.org/x/net/http2.(*Framer).ReadFrame"));
        assert!(!is_std_function("main.forgottenSender"));
        assert!(!is_std_function("github.com/x/y.F"));
        assert!(!is_std_function("golang.org/x/sync/errgroup.(*Group).Wait"));
    }

    #[test]
    fn blocking_reads_runtime_frames() {
        let mutex = [
            f("runtime.gopark"),
            f("runtime.semacquire1"),
            f("internal/sync.runtime_SemacquireMutex"),
            f("internal/sync.(*Mutex).lockSlow"),
            f("sync.(*Mutex).Lock"),
            f("main.x"),
        ];
        let refs: Vec<&Frame> = mutex.iter().collect();
        assert_eq!(blocking_from_frames(&refs, false), Blocking::Mutex);
        let rw = [f("runtime.gopark"), f("sync.runtime_SemacquireMutex"), f("sync.(*Mutex).Lock"), f("sync.(*RWMutex).Lock"), f("main.x")];
        let refs: Vec<&Frame> = rw.iter().collect();
        assert_eq!(blocking_from_frames(&refs, false), Blocking::RwMutex);
        let send = [f("runtime.gopark"), f("runtime.chansend"), f("runtime.chansend1"), f("main.x")];
        let refs: Vec<&Frame> = send.iter().collect();
        assert_eq!(blocking_from_frames(&refs, false), Blocking::ChanSend);
        let running = [f("main.spin"), f("main.x")];
        let refs: Vec<&Frame> = running.iter().collect();
        assert_eq!(blocking_from_frames(&refs, false), Blocking::Running);
        assert_eq!(leaf_index(&refs), 0);
        let io = [f("runtime.gopark"), f("runtime.netpollblock"), f("internal/poll.runtime_pollWait"), f("net.(*conn).Read")];
        let refs: Vec<&Frame> = io.iter().collect();
        assert_eq!(blocking_from_frames(&refs, false), Blocking::IoWait);
        assert_eq!(leaf_index(&refs), 2, "all standard library: innermost outside runtime");
        assert_eq!(goroutine_leaf_index(&refs), 3, "all standard library: the entry function");
        let panicking = [f("panic"), f("main.handle"), f("main.main"), f("runtime.main")];
        let refs: Vec<&Frame> = panicking.iter().collect();
        assert_eq!(goroutine_leaf_index(&refs), 1, "never the builtin panic");
        let wrapped = [f("runtime.gopark"), f("runtime.selectgo"), f("net/http.(*persistConn).readLoop"), f("<autogenerated>"), f("runtime.goexit")];
        let refs: Vec<&Frame> = wrapped.iter().collect();
        assert_eq!(goroutine_leaf_index(&refs), 2);
    }

    #[test]
    fn wait_reason_wins_for_nil_channels() {
        let send = [f("runtime.gopark"), f("runtime.chansend"), f("runtime.chansend1"), f("main.x")];
        let refs: Vec<&Frame> = send.iter().collect();
        assert_eq!(blocking_of(&refs, Some("chan send (nil chan)"), false), Blocking::ChanSendNil);
        assert_eq!(blocking_of(&refs[3..], Some("chan send"), true), Blocking::ChanSend);
        assert_eq!(blocking_of(&refs[3..], None, true), Blocking::Other);
        assert_eq!(blocking_of(&refs[3..], Some("semacquire"), true), Blocking::Other);
    }

    #[test]
    fn a_woken_goroutine_keeps_what_its_frames_block_on() {
        let io = [f("internal/poll.runtime_pollWait"), f("internal/poll.(*pollDesc).wait"), f("net/http.(*conn).serve")];
        let refs: Vec<&Frame> = io.iter().collect();
        assert_eq!(blocking_of(&refs, Some("runnable"), true), Blocking::IoWait);
        let spin = [f("runtime.Gosched"), f("main.spin")];
        let refs: Vec<&Frame> = spin.iter().collect();
        assert_eq!(blocking_of(&refs[1..], Some("runnable"), true), Blocking::Running, "nothing telling: the state stands");
    }

    fn at(name: &str, file: &str, line: i64) -> Frame {
        Frame { function: name.into(), file: file.into(), line, address: 0, start_line: 0 }
    }

    #[test]
    fn frames_some_forms_hide() {
        assert!(is_hidden_frame(&f("runtime.gopark")));
        assert!(is_hidden_frame(&f("runtime.main")));
        assert!(is_hidden_frame(&f("runtime.goexit")));
        assert!(is_hidden_frame(&f("panic")));
        assert!(!is_hidden_frame(&f("runtime.Gosched")), "exported: every traceback prints it");
        assert!(!is_hidden_frame(&f("runtime.(*Func).Name")));
        assert!(is_hidden_frame(&f("runtime.(*cleanupQueue).createGs")));
        assert!(!is_hidden_frame(&f("runtime/pprof.writeGoroutine")));
        assert!(!is_hidden_frame(&f("internal/sync.runtime_SemacquireMutex")));
        assert!(is_hidden_frame(&at("main.(*T).Wait", "<autogenerated>", 1)));
        assert!(is_hidden_frame(&f("main.T.Wait-fm")));
        assert!(is_hidden_frame(&f("main.main.gowrap12")));
        assert!(is_hidden_frame(&f("main.f.deferwrap1")));
        assert!(!is_hidden_frame(&f("main.gowrap")));
        assert!(!is_hidden_frame(&f("main.(*T).Wait")));
    }

    fn profile(format: crate::profile::Format, stacks: &[&[Frame]]) -> Profile {
        let mut frames: Vec<Frame> = Vec::new();
        let samples = stacks
            .iter()
            .map(|st| crate::profile::Sample {
                stack: st
                    .iter()
                    .map(|fr| match frames.iter().position(|x| x == fr) {
                        Some(i) => i as u32,
                        None => {
                            frames.push(fr.clone());
                            frames.len() as u32 - 1
                        }
                    })
                    .collect(),
                values: vec![1],
                labels: Vec::new(),
                goroutine: None,
            })
            .collect();
        Profile {
            kind: crate::profile::ProfileKind::Goroutine,
            format,
            sample_types: Vec::new(),
            default_sample_type: 0,
            time_nanos: None,
            duration_nanos: 0,
            period_type: None,
            period: 1,
            frames,
            samples,
            declared_total: None,
            truncated: None,
        }
    }

    #[test]
    fn every_form_of_one_goroutine_falls_in_one_group() {
        use crate::profile::Format;
        let worker = at("main.worker", "main.go", 20);
        let caller = at("main.viaInterface", "main.go", 30);
        // protobuf: runtime frames on top, no wrappers, no goexit
        let proto: Vec<Frame> = vec![at("runtime.gopark", "proc.go", 474), at("runtime.chanrecv1", "chan.go", 509), worker.clone(), caller.clone()];
        // served debug=2: no runtime frames
        let served: Vec<Frame> = vec![worker.clone(), caller.clone()];
        // SIGQUIT: runtime frames, an <autogenerated> wrapper, the go statement's wrapper, goexit
        let sigquit: Vec<Frame> = vec![
            at("runtime.gopark", "proc.go", 474),
            at("runtime.chanrecv1", "chan.go", 509),
            worker.clone(),
            at("main.(*T).worker", "<autogenerated>", 1),
            caller.clone(),
            at("main.main.gowrap1", "main.go", 12),
            at("runtime.goexit", "asm_amd64.s", 1700),
        ];
        // a system goroutine in the SIGQUIT dump
        let gc: Vec<Frame> = vec![at("runtime.gopark", "proc.go", 474), at("runtime.bgsweep", "mgcsweep.go", 300), at("runtime.goexit", "asm_amd64.s", 1700)];
        let mut table = StackTable::new(GroupBy::Line, None);
        let a = table.group_counted(&profile(Format::Proto, &[&proto]), 0);
        let b = table.group_counted(&profile(Format::Debug2, &[&served]), 0);
        let c = table.group_counted(&profile(Format::Debug2, &[&sigquit, &gc]), 0);
        assert_eq!(table.len(), 1, "one group");
        assert_eq!((a.groups.len(), b.groups.len(), c.groups.len()), (1, 1, 1));
        assert_eq!(c.runtime_goroutines, 1);
        // The protobuf form's stack is the one shown, whichever form came first.
        let mut t2 = StackTable::new(GroupBy::Line, None);
        t2.group_counted(&profile(Format::Debug2, &[&served]), 0);
        t2.group_counted(&profile(Format::Proto, &[&proto]), 0);
        assert_eq!(t2.group(GroupId(0)).frames, table.group(GroupId(0)).frames);
        assert_eq!(t2.group(GroupId(0)).frames[0].function, "runtime.gopark");
    }

    #[test]
    fn deep_stacks_are_keyed_on_their_innermost_frames() {
        use crate::profile::Format;
        let deep: Vec<Frame> = (0..130).map(|i| at("main.recurse", "main.go", if i == 0 { 21 } else { 24 })).collect();
        // The protobuf form keeps 128; a traceback the innermost and outermost 50.
        let cut = &deep[..128];
        let elided: Vec<Frame> = deep[..50].iter().chain(&deep[80..]).cloned().collect();
        let mut table = StackTable::new(GroupBy::Line, None);
        table.group_counted(&profile(Format::Proto, &[cut]), 0);
        table.group_counted(&profile(Format::Debug2, &[&elided]), 0);
        table.group_counted(&profile(Format::Debug2, &[&deep[..MAX_KEY_FRAMES + 3]]), 0);
        assert_eq!(table.len(), 1);
        table.group_counted(&profile(Format::Debug2, &[&deep[..MAX_KEY_FRAMES - 1]]), 0);
        assert_eq!(table.len(), 2, "a shorter stack is another group");
    }
}
