//! The code responsible for a suspect: the program's own function that started its goroutines, or
//! that called the library that did.
//!
//! Evidence, nearest first: the goroutine's own stack outside the leaf (the program's caller of a
//! library it waits in), its `created by` frame (`debug=2` dumps), and the stacks of its ancestors
//! that Go prints under `GODEBUG=tracebackancestors=N` (`[originating from goroutine N]:`). The
//! first frame outside the standard library and outside the package the leaf sits in is the answer.

use crate::profile::Frame;
use crate::stacks::{is_std_function, package_of, GroupInfo};

/// Where the responsible frame was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A caller on the goroutine's own stack.
    Stack,
    /// The goroutine's `created by` frame.
    CreatedBy,
    /// The stack of the n-th ancestor (1: the goroutine that started this one).
    Ancestor(usize),
    /// The function whose closure the goroutine runs (a callback such as time.AfterFunc's).
    Enclosing,
}

impl Via {
    pub fn describe(self) -> String {
        match self {
            Via::Stack => "caller on its stack".into(),
            Via::CreatedBy => "created by".into(),
            Via::Ancestor(1) => "stack of the goroutine that started it (tracebackancestors)".into(),
            Via::Ancestor(n) => format!("stack of its ancestor {n} goroutines up (tracebackancestors)"),
            Via::Enclosing => "the function its closure is defined in".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedFrom {
    pub frame: Frame,
    pub via: Via,
}

/// What a stack's evidence allows when no frame names the responsible code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No `created by` frame: only `debug=2` dumps have them.
    CreationSite,
    /// Created by library code and no ancestor stacks: the service must run with
    /// `GODEBUG=tracebackancestors=N`.
    Ancestors,
}

fn is_program_frame(function: &str) -> bool {
    !is_std_function(function) && function != "panic" && !function.starts_with('<')
}

/// The responsible frame of a group, or what is missing to find it.
pub fn started_from(info: &GroupInfo) -> Result<StartedFrom, Missing> {
    let leaf = &info.leaf_frame().function;
    // The library the leaf sits in, when it is neither the standard library nor package main.
    let library = (is_program_frame(leaf) && package_of(leaf) != "main").then(|| package_of(leaf).to_string());
    let responsible = |f: &Frame| {
        is_program_frame(&f.function)
            && library.as_deref().is_none_or(|lib| {
                let p = package_of(&f.function);
                p != lib && !p.strip_prefix(lib).is_some_and(|rest| rest.starts_with('/'))
            })
    };
    // The program's own leaf is the responsible code's callee: who started it is the question.
    if library.is_some() || !is_program_frame(leaf) {
        if let Some(f) = info.frames.iter().skip(info.leaf + 1).find(|f| responsible(f)) {
            return Ok(StartedFrom { frame: f.clone(), via: Via::Stack });
        }
    }
    if let Some(c) = info.created_by.as_ref().filter(|c| responsible(c)) {
        return Ok(StartedFrom { frame: c.clone(), via: Via::CreatedBy });
    }
    for (n, a) in info.ancestors.iter().enumerate() {
        if let Some(f) = a.iter().find(|f| responsible(f)) {
            return Ok(StartedFrom { frame: f.clone(), via: Via::Ancestor(n + 1) });
        }
    }
    // A closure of the program's own started by library code (a callback): its enclosing function.
    if library.is_none() && is_program_frame(leaf) {
        if let Some(enclosing) = enclosing_function(leaf) {
            let f = info.leaf_frame();
            return Ok(StartedFrom {
                frame: Frame { function: enclosing.to_string(), file: f.file.clone(), line: 0, address: 0, start_line: 0 },
                via: Via::Enclosing,
            });
        }
    }
    Err(if info.created_by.is_none() { Missing::CreationSite } else { Missing::Ancestors })
}

/// `main.scheduleCallback` of the closure `main.scheduleCallback.func1` (or `.func1.2`).
fn enclosing_function(function: &str) -> Option<&str> {
    let pkg_len = package_of(function).len();
    let mut end = function.len();
    let mut cut = false;
    while let Some(dot) = function[..end].rfind('.').filter(|&d| d > pkg_len) {
        let part = &function[dot + 1..end];
        if part.starts_with("func") && part[4..].chars().all(|c| c.is_ascii_digit()) || (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit())) {
            end = dot;
            cut = true;
        } else {
            break;
        }
    }
    cut.then(|| &function[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::{goroutine_leaf_index, Blocking};

    fn fr(function: &str, line: i64) -> Frame {
        Frame { function: function.into(), file: format!("/src/{}.go", package_of(function)), line, address: 0, start_line: 0 }
    }

    fn group(frames: &[&str], created_by: Option<&str>, ancestors: &[&[&str]]) -> GroupInfo {
        let frames: Vec<Frame> = frames.iter().map(|f| fr(f, 10)).collect();
        let refs: Vec<&Frame> = frames.iter().collect();
        let leaf = goroutine_leaf_index(&refs);
        GroupInfo {
            frames,
            label: None,
            labels: Vec::new(),
            blocking: Blocking::Select,
            leaf,
            created_by: created_by.map(|c| fr(c, 20)),
            ancestors: ancestors.iter().map(|a| a.iter().map(|f| fr(f, 30)).collect()).collect(),
            sort_key: String::new(),
        }
    }

    // From a live dump of tests/goservice -scenario patterns under GODEBUG=tracebackancestors=5.
    #[test]
    fn sql_opener_walks_to_the_service_through_the_ancestor() {
        let g = group(
            &["runtime.gopark", "runtime.selectgo", "database/sql.(*DB).connectionOpener", "runtime.goexit"],
            Some("database/sql.OpenDB"),
            &[
                &["database/sql.OpenDB", "database/sql.Open", "main.openDBPerRequest", "main.leakLoop", "main.startPatterns.func1"],
                &["main.startPatterns", "main.main"],
            ],
        );
        let s = started_from(&g).unwrap();
        assert_eq!(s.frame.function, "main.openDBPerRequest");
        assert_eq!(s.frame.line, 30);
        assert_eq!(s.via, Via::Ancestor(1));
    }

    #[test]
    fn library_constructor_is_skipped() {
        let lib = "leakhound.test/goservice/kvclient";
        let g = group(
            &["runtime.gopark", "runtime.selectgo", &format!("{lib}.(*Client).loop"), "runtime.goexit"],
            Some(&format!("{lib}.Dial")),
            &[&[&format!("{lib}.Dial"), "main.lookupWithNewClient", "main.leakLoop"]],
        );
        assert_eq!(started_from(&g).unwrap().frame.function, "main.lookupWithNewClient");
        // Without the ancestors, only the library's own constructor is known: ask for them.
        let g = group(&["runtime.gopark", "runtime.selectgo", &format!("{lib}.(*Client).loop")], Some(&format!("{lib}.Dial")), &[]);
        assert_eq!(started_from(&g), Err(Missing::Ancestors));
    }

    #[test]
    fn own_code_and_creators() {
        let g = group(&["runtime.gopark", "runtime.chansend1", "main.forgottenSender", "runtime.goexit"], Some("main.callWithTimeout"), &[]);
        let s = started_from(&g).unwrap();
        assert_eq!((s.frame.function.as_str(), s.via), ("main.callWithTimeout", Via::CreatedBy));
        let g = group(&["runtime.gopark", "runtime.chansend1", "main.forgottenSender", "runtime.goexit"], None, &[]);
        assert_eq!(started_from(&g), Err(Missing::CreationSite));
        // The program waits inside a library it called: its caller is on the stack.
        let g = group(&["runtime.gopark", "runtime.selectgo", "github.com/x/lib.(*Queue).Wait", "github.com/x/lib/internal/q.wait", "main.worker"], None, &[]);
        let s = started_from(&g).unwrap();
        assert_eq!((s.frame.function.as_str(), s.via), ("main.worker", Via::Stack));
    }

    #[test]
    fn callbacks_are_traced_to_their_enclosing_function() {
        assert_eq!(enclosing_function("main.scheduleCallback.func1"), Some("main.scheduleCallback"));
        assert_eq!(enclosing_function("main.(*T).run.func1.2"), Some("main.(*T).run"));
        assert_eq!(enclosing_function("main.handler"), None);
        let g = group(&["runtime.gopark", "runtime.chansend1", "main.scheduleCallback.func1", "runtime.goexit"], Some("time.goFunc"), &[]);
        let s = started_from(&g).unwrap();
        assert_eq!((s.frame.function.as_str(), s.via), ("main.scheduleCallback", Via::Enclosing));
    }

    #[test]
    fn stdlib_stacks_created_by_stdlib_need_ancestors() {
        let g = group(&["runtime.gopark", "runtime.selectgo", "context.(*cancelCtx).propagateCancel.func2"], Some("context.(*cancelCtx).propagateCancel"), &[]);
        assert_eq!(started_from(&g), Err(Missing::Ancestors));
        let g = group(
            &["runtime.gopark", "runtime.selectgo", "context.(*cancelCtx).propagateCancel.func2"],
            Some("context.(*cancelCtx).propagateCancel"),
            &[&["context.(*cancelCtx).propagateCancel", "context.withCancel", "context.WithCancel", "main.startJobWithContext"]],
        );
        assert_eq!(started_from(&g).unwrap().frame.function, "main.startJobWithContext");
    }
}
