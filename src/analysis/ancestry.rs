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
    /// The handler net/http or gRPC dispatched the request to (inside any middleware), on the
    /// goroutine's own stack.
    Handler,
    /// The goroutine's entry function: the outermost frame of the program's own code on its stack
    /// (who started it is not known; see the missing note).
    Entry,
}

impl Via {
    pub fn describe(self) -> String {
        match self {
            Via::Stack => "caller on its stack".into(),
            Via::CreatedBy => "created by".into(),
            Via::Ancestor(1) => "stack of the goroutine that started it (tracebackancestors)".into(),
            Via::Ancestor(n) => format!("stack of its ancestor {n} goroutines up (tracebackancestors)"),
            Via::Enclosing => "the function its closure is defined in".into(),
            Via::Handler => "the handler the server dispatched the request to".into(),
            Via::Entry => "its goroutine's entry function; who started it is not known".into(),
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

/// The goroutine's entry function: the outermost frame of the program's own code on its stack
/// (whatever form the stack came from), `None` when the whole stack is the standard library's.
pub fn entry_function(info: &GroupInfo) -> Option<&Frame> {
    info.frames.iter().rev().find(|f| is_program_frame(&f.function))
}

/// A frame through which a server hands a request to its handler: net/http's `ServeHTTP` methods
/// (`HandlerFunc.ServeHTTP`, a mux's, a middleware's) and the handlers protoc-gen-go-grpc
/// generates (`_Watch_Watch_Handler`, `_KV_Range_Handler.func1`).
fn is_dispatch(function: &str) -> bool {
    let name = function.strip_suffix("-fm").unwrap_or(function);
    let last = name.rsplit('.').find(|part| !(part.starts_with("func") && part[4..].chars().all(|c| c.is_ascii_digit()))).unwrap_or(name);
    last == "ServeHTTP" || (last.starts_with('_') && last.ends_with("_Handler"))
}

/// The handler a server dispatched this goroutine's request to: the program's frame at, else
/// just inside, the innermost dispatch frame (middleware and routers sit outside it, response
/// writer wrappers and the libraries it calls inside).
fn handler(info: &GroupInfo) -> Option<&Frame> {
    handler_index(info).map(|i| &info.frames[i])
}

/// Where [`handler`]'s frame is in `info.frames`.
pub fn handler_index(info: &GroupInfo) -> Option<usize> {
    let d = info.frames.iter().position(|f| is_dispatch(&f.function))?;
    let at = &info.frames[d];
    if is_program_frame(&at.function) && !at.function.ends_with("HandlerFunc.ServeHTTP") && !at.function.contains("_Handler") {
        return Some(d);
    }
    info.frames[..d].iter().rposition(|f| is_program_frame(&f.function))
}

/// The module a package is in, as far as its path tells: `github.com/owner/repo`,
/// `golang.org/x/net`, `google.golang.org/grpc`, `go.etcd.io/etcd`.
pub fn module_of(package: &str) -> &str {
    let parts: Vec<&str> = package.splitn(4, '/').collect();
    let keep = match parts.first() {
        Some(host) if !host.contains('.') => 1,
        Some(&("github.com" | "gitlab.com" | "bitbucket.org" | "golang.org" | "gopkg.in")) => 3,
        _ => 2,
    };
    let len: usize = parts.iter().take(keep).map(|p| p.len()).sum::<usize>() + keep.min(parts.len()).saturating_sub(1);
    &package[..len.min(package.len())]
}

/// A method of the stream types protoc-gen-go-grpc generates (`(*watchWatchServer).Recv`): gRPC's
/// own plumbing in the service's package, never the code responsible.
/// So is any wrapper's `RecvMsg`/`SendMsg` (`go-grpc-prometheus.(*monitoredServerStream).RecvMsg`):
/// interceptors pass the stream's calls through.
fn is_generated_stream_method(function: &str) -> bool {
    let Some((receiver, method)) = function.rsplit_once(").") else { return false };
    matches!(method, "RecvMsg" | "SendMsg" | "SetHeader" | "SendHeader")
        || (matches!(method, "Recv" | "Send" | "SendAndClose" | "CloseAndRecv" | "CloseSend") && (receiver.ends_with("Server") || receiver.ends_with("Client")))
}

/// Libraries that carry a server's bytes (HTTP/2 framing, gRPC's transport, connection
/// multiplexers): their frames are how a goroutine waits, never the code responsible for it.
const WIRE_LIBRARIES: [&str; 3] = ["golang.org/x/net", "google.golang.org/grpc", "github.com/soheilhy/cmux"];

/// The responsible frame of a group, or what is missing to find it.
pub fn started_from(info: &GroupInfo) -> Result<StartedFrom, Missing> {
    if let Some(h) = handler(info) {
        return Ok(StartedFrom { frame: h.clone(), via: Via::Handler });
    }
    let leaf = &info.leaf_frame().function;
    // The library the leaf sits in, when it is neither the standard library nor package main: its
    // whole module (gRPC's transport and its parser are one library) when the goroutine was
    // entered outside it, else its package.
    let library = (is_program_frame(leaf) && package_of(leaf) != "main").then(|| {
        let module = module_of(package_of(leaf));
        let entered_outside = entry_function(info).is_some_and(|e| !package_of(&e.function).starts_with(module));
        if entered_outside {
            module.to_string()
        } else {
            package_of(leaf).to_string()
        }
    });
    let responsible = |f: &Frame| {
        is_program_frame(&f.function)
            && !is_generated_stream_method(&f.function)
            && !WIRE_LIBRARIES.contains(&module_of(package_of(&f.function)))
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

    // Prometheus 2.42's federate handler stuck writing to a client that never reads (a live dump,
    // tests/fixtures/realworld/prometheus-federate-watch), middle frames left out.
    #[test]
    fn a_server_leak_names_the_handler_not_the_writer_wrapper() {
        let g = group(
            &[
                "internal/poll.(*FD).Write",
                "net/http.(*response).Write",
                "github.com/prometheus/client_golang/prometheus/promhttp.(*responseWriterDelegator).Write",
                "github.com/prometheus/prometheus/util/httputil.(*compressedResponseWriter).Write",
                "bufio.(*Writer).Flush",
                "github.com/prometheus/common/expfmt.MetricFamilyToText",
                "github.com/prometheus/prometheus/web.(*Handler).federation.func1",
                "github.com/prometheus/prometheus/web.(*Handler).federation",
                "net/http.HandlerFunc.ServeHTTP",
                "github.com/prometheus/prometheus/util/httputil.CompressionHandler.ServeHTTP",
                "github.com/prometheus/prometheus/web.(*Handler).testReady.func1",
                "net/http.HandlerFunc.ServeHTTP",
                "github.com/julienschmidt/httprouter.(*Router).ServeHTTP",
                "net/http.serverHandler.ServeHTTP",
                "net/http.(*conn).serve",
            ],
            Some("net/http.(*Server).Serve"),
            &[],
        );
        let s = started_from(&g).unwrap();
        assert_eq!((s.frame.function.as_str(), s.via), ("github.com/prometheus/prometheus/web.(*Handler).federation", Via::Handler));
        assert_eq!(entry_function(&g).unwrap().function, "github.com/julienschmidt/httprouter.(*Router).ServeHTTP");
    }

    // etcd 3.4's watch stream reader and writer, their clients frozen (`etcdctl watch` under
    // SIGSTOP, keys written meanwhile): a live debug=2 dump of Debian's etcd 3.4.23.
    #[test]
    fn a_grpc_stream_goroutine_names_the_service_code_not_grpc() {
        let sender = group(
            &[
                "runtime.gopark",
                "runtime.selectgo",
                "google.golang.org/grpc/internal/transport.(*writeQuota).get",
                "google.golang.org/grpc/internal/transport.(*http2Server).Write",
                "google.golang.org/grpc.(*serverStream).SendMsg",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*monitoredServerStream).SendMsg",
                "go.etcd.io/etcd/etcdserver/etcdserverpb.(*watchWatchServer).Send",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).sendLoop",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch.func1",
            ],
            Some("go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch"),
            &[],
        );
        assert_eq!(started_from(&sender).unwrap().frame.function, "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).sendLoop");
        let g = group(
            &[
                "runtime.gopark",
                "runtime.selectgo",
                "google.golang.org/grpc/internal/transport.(*recvBufferReader).read",
                "google.golang.org/grpc/internal/transport.(*recvBufferReader).Read",
                "google.golang.org/grpc/internal/transport.(*transportReader).Read",
                "io.ReadAtLeast",
                "io.ReadFull",
                "google.golang.org/grpc/internal/transport.(*Stream).Read",
                "google.golang.org/grpc.(*parser).recvMsg",
                "google.golang.org/grpc.recvAndDecompress",
                "google.golang.org/grpc.recv",
                "google.golang.org/grpc.(*serverStream).RecvMsg",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*monitoredServerStream).RecvMsg",
                "go.etcd.io/etcd/etcdserver/etcdserverpb.(*watchWatchServer).Recv",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).recvLoop",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch.func2",
            ],
            None,
            &[],
        );
        let s = started_from(&g).unwrap();
        assert_eq!(s.frame.function, "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).recvLoop");
        // The stream handler itself, dispatched by gRPC's generated handler.
        let h = group(
            &[
                "runtime.gopark",
                "runtime.selectgo",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch",
                "go.etcd.io/etcd/etcdserver/etcdserverpb._Watch_Watch_Handler",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*ServerMetrics).StreamServerInterceptor.func1",
                "github.com/grpc-ecosystem/go-grpc-middleware.ChainStreamServer.func1.1.1",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.newStreamInterceptor.func1",
                "github.com/grpc-ecosystem/go-grpc-middleware.ChainStreamServer.func1.1.1",
                "github.com/grpc-ecosystem/go-grpc-middleware.ChainStreamServer.func1",
                "google.golang.org/grpc.(*Server).processStreamingRPC",
                "google.golang.org/grpc.(*Server).handleStream",
            ],
            None,
            &[],
        );
        assert_eq!(started_from(&h).unwrap().frame.function, "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch");
        // The connection's reader under cmux: HTTP/2 framing and gRPC's transport are how it
        // waits, not who is responsible; its stack names no more than its entry.
        let reader = group(
            &[
                "internal/poll.(*FD).Read",
                "net.(*conn).Read",
                "github.com/soheilhy/cmux.(*bufferedReader).Read",
                "github.com/soheilhy/cmux.(*MuxConn).Read",
                "bufio.(*Reader).Read",
                "io.ReadFull",
                "golang.org/x/net/http2.readFrameHeader",
                "golang.org/x/net/http2.(*Framer).ReadFrame",
                "google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams",
                "google.golang.org/grpc.(*Server).serveStreams",
                "google.golang.org/grpc.(*Server).handleRawConn.func1",
            ],
            None,
            &[],
        );
        assert_eq!(started_from(&reader), Err(Missing::CreationSite));
        assert_eq!(entry_function(&reader).unwrap().function, "google.golang.org/grpc.(*Server).handleRawConn.func1");
        assert_eq!(module_of("google.golang.org/grpc/internal/transport"), "google.golang.org/grpc");
        assert_eq!(module_of("golang.org/x/net/http2"), "golang.org/x/net");
        assert_eq!(module_of("github.com/prometheus/common/expfmt"), "github.com/prometheus/common");
        assert_eq!(module_of("main"), "main");
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
