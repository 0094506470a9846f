//! The `go` statement wrappers of Go 1.17–1.21 in SIGQUIT and crash dumps.
//!
//! From Go 1.17 to 1.21 the compiler turns `go f(x)` into `go func() { f(x) }()`: a closure of the
//! function holding the `go` statement, named like any closure of it (`pkg.(*T).Run.func2`, not
//! the `.gowrapN` of Go 1.22 and later). It is flagged as a wrapper, so the served `debug=2` dump,
//! panics and the protobuf profile leave it out; a traceback at GOTRACEBACK=system or above (every
//! SIGQUIT dump) prints it, between the goroutine's entry function and `runtime.goexit`. Left
//! there, it makes the same goroutines of one process fall in different groups depending on how
//! they were dumped, and `diff served.txt sigquit.log` lists each of them twice, as 1 → 0 and
//! 0 → 1 (seen on Debian's Prometheus and etcd, built with Go 1.19).
//!
//! A genuine closure started by `go func() { … }()` has the same shape and is printed at every
//! level, so the frame is dropped only when the dump proves it was printed by Go 1.21 or older at
//! the system level (`runtime.goexit` frames are shown, no `.gowrapN` frame exists (Go 1.22+), and
//! neither `gp=` goroutine headers (Go 1.23+) nor `created by … in goroutine N` lines (Go 1.21+)
//! appear), and only when the frame looks like the wrapper: its line is the `go` statement's line
//! (`go s.run()`, `go f(x)`: the line `created by` names), or the function it calls is itself a
//! closure of the creator (`go func(a actor) { … }(a)`). A genuine closure's frame is at the line of
//! the call inside its body (etcd's `goAttach`: `go func() { defer wg.Done(); f() }()` over lines).

use super::{Frame, Sample};

/// What a dump shows of the Go version that printed it (set while it is parsed).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracebackEvidence {
    /// A `goroutine N gp=0x… m=…` header (Go 1.23 and later, at the system level).
    pub gp_headers: bool,
    /// A `created by F in goroutine N` line (Go 1.21 and later).
    pub creator_goroutine: bool,
}

/// Drops the `go` statement wrapper frame from every goroutine of a dump that [`TracebackEvidence`]
/// and the frames show was printed by Go 1.21 or older at GOTRACEBACK=system or above: the frame
/// right above `runtime.goexit` that is a closure of the goroutine's creator, when the goroutine has
/// a frame of its own below it.
pub fn drop_go_statement_wrappers(frames: &[Frame], samples: &mut [Sample], evidence: TracebackEvidence) {
    if evidence.gp_headers || evidence.creator_goroutine || frames.iter().any(is_gowrap) {
        return;
    }
    let Some(goexit) = frames.iter().position(|f| f.function == "runtime.goexit") else {
        return; // GOTRACEBACK=single/all: wrappers are hidden already
    };
    for s in samples.iter_mut() {
        let Some(creator) = s.goroutine.as_ref().and_then(|g| g.created_by).and_then(|c| frames.get(c as usize)) else {
            continue;
        };
        let n = s.stack.len();
        if n < 3 || s.stack[n - 1] as usize != goexit {
            continue;
        }
        let Some(wrapper) = frames.get(s.stack[n - 2] as usize) else {
            continue;
        };
        let Some(inner) = frames.get(s.stack[n - 3] as usize) else {
            continue;
        };
        if is_closure_of(&wrapper.function, &creator.function) && (wrapper.line == creator.line || is_closure_of(&inner.function, &creator.function)) {
            s.stack.remove(n - 2);
        }
    }
}

/// `creator.funcN` or, inside a closure, `creator.N` (`main.main.func1.2`).
fn is_closure_of(function: &str, creator: &str) -> bool {
    let Some(rest) = function.strip_prefix(creator).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let digits = rest.strip_prefix("func").unwrap_or(rest);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_gowrap(f: &Frame) -> bool {
    let name = f.function.trim_end_matches(|c: char| c.is_ascii_digit());
    name.len() < f.function.len() && name.ends_with(".gowrap")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::GoroutineFacts;

    fn frame(function: &str) -> Frame {
        at(function, 0)
    }

    fn at(function: &str, line: i64) -> Frame {
        Frame { function: function.into(), file: String::new(), line, address: 0, start_line: 0 }
    }

    fn sample(stack: &[u32], created_by: u32) -> Sample {
        Sample {
            stack: stack.to_vec(),
            values: vec![1],
            labels: Vec::new(),
            goroutine: Some(GoroutineFacts { created_by: Some(created_by), ..Default::default() }),
        }
    }

    // Frames of a Go 1.19 SIGQUIT dump of Prometheus (oklog/run starts each actor with
    // `go func(a actor) { errors <- a.execute() }(a)`).
    fn prometheus() -> (Vec<Frame>, Vec<Sample>) {
        let frames = vec![
            at("main.main.func7", 821),
            at("github.com/oklog/run.(*Group).Run.func1", 38),
            at("github.com/oklog/run.(*Group).Run.func2", 39),
            frame("runtime.goexit"),
            at("github.com/oklog/run.(*Group).Run", 37),
        ];
        (frames, vec![sample(&[0, 1, 2, 3], 4)])
    }

    #[test]
    fn go_1_19_system_dump_loses_the_wrapper() {
        let (frames, mut samples) = prometheus();
        drop_go_statement_wrappers(&frames, &mut samples, TracebackEvidence::default());
        assert_eq!(samples[0].stack, vec![0, 1, 3]);
    }

    #[test]
    fn newer_go_keeps_its_closures() {
        for evidence in [TracebackEvidence { gp_headers: true, ..Default::default() }, TracebackEvidence { creator_goroutine: true, ..Default::default() }] {
            let (frames, mut samples) = prometheus();
            drop_go_statement_wrappers(&frames, &mut samples, evidence);
            assert_eq!(samples[0].stack, vec![0, 1, 2, 3]);
        }
        let (mut frames, mut samples) = prometheus();
        frames.push(frame("net/http.(*Server).Serve.gowrap3"));
        drop_go_statement_wrappers(&frames, &mut samples, TracebackEvidence::default());
        assert_eq!(samples[0].stack, vec![0, 1, 2, 3], "a .gowrapN frame means Go 1.22 or later");
    }

    #[test]
    fn only_a_closure_of_the_creator_at_the_go_statement_above_goexit() {
        // etcd: `go s.run()` (line 829) in (*EtcdServer).start is wrapped; goAttach's
        // `go func() { defer wg.Done(); f() }()` is a real closure, at its call of f (line 2698).
        let frames = vec![
            at("etcdserver.(*EtcdServer).run", 1070),
            at("etcdserver.(*EtcdServer).start.func1", 829),
            frame("runtime.goexit"),
            at("etcdserver.(*EtcdServer).start", 829),
            at("etcdserver.(*EtcdServer).purgeFile", 844),
            at("etcdserver.(*EtcdServer).goAttach.func1", 2698),
            at("etcdserver.(*EtcdServer).goAttach", 2694),
            at("main.other.func1", 829),
        ];
        let mut samples = vec![sample(&[0, 1, 2], 3), sample(&[4, 5, 2], 6), sample(&[1, 2], 3), sample(&[0, 7, 2], 3), sample(&[0, 1], 3)];
        drop_go_statement_wrappers(&frames, &mut samples, TracebackEvidence::default());
        assert_eq!(samples[0].stack, vec![0, 2], "go s.run(): the wrapper is at the go statement");
        assert_eq!(samples[1].stack, vec![4, 5, 2], "a real closure, at the call in its body");
        assert_eq!(samples[2].stack, vec![1, 2], "the closure is the goroutine's only frame");
        assert_eq!(samples[3].stack, vec![0, 7, 2], "a closure of another function");
        assert_eq!(samples[4].stack, vec![0, 1], "no goexit: not a system-level traceback");
    }

    #[test]
    fn closure_names() {
        assert!(is_closure_of("main.main.func12", "main.main"));
        assert!(is_closure_of("main.main.func1.2", "main.main.func1"));
        assert!(!is_closure_of("main.main.func", "main.main"));
        assert!(!is_closure_of("main.mainfunc1", "main.main"));
        assert!(!is_closure_of("main.main.funcX", "main.main"));
        assert!(!is_closure_of("main.main", "main.main"));
    }
}
