//! The catalogue of known leak signatures: what each matches (frames, blocking operation, creator),
//! its name, its fix and where the fix comes from. One entry per signature; the first that matches
//! names the group. Stacks that match none are named by their blocking operation, but only when
//! the program's own code is where they wait: a stack wholly inside the standard library that no
//! entry knows is `stdlib-goroutines-growing`, never a guess such as "select without quit".
//!
//! Adding a signature is one entry in [`CATALOGUE`] and one test (below) built from a real stack.

use crate::stacks::{is_std_function, package_of, Blocking, GroupInfo};

/// A named leak pattern and how such leaks are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub name: &'static str,
    pub fix: &'static str,
}

/// Who started the goroutine, as its `created by` frame says (only `debug=2` dumps carry one).
#[derive(Debug, Clone, Copy)]
pub enum Creator {
    /// Any creator, or none known.
    Any,
    /// Exactly this function.
    Function(&'static str),
    /// A constructor (`New*`, `Dial*`, `Open*`, `Connect*`, `Start*`) of the package the leaf is in,
    /// the leaf being neither standard library nor package main: a client library's background loop.
    LibraryConstructor,
}

/// One known leak signature.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    pub pattern: Pattern,
    /// Matches when any frame's function starts with one of these (empty: no frame needed).
    pub frames: &'static [&'static str],
    /// ... and the goroutines are blocked on one of these (empty: any).
    pub blocking: &'static [Blocking],
    pub creator: Creator,
    /// ... and a frame starting with this is on the stack with only standard-library frames outside
    /// it (toward the goroutine's entry): no handler of the program's own between the server and
    /// the read, while connection wrappers inside the read (cmux, a TLS proxy) are allowed.
    pub std_outside: Option<&'static str>,
    /// Where the fix comes from.
    pub source: &'static str,
}

const fn sig(name: &'static str, fix: &'static str, frames: &'static [&'static str], blocking: &'static [Blocking], source: &'static str) -> Signature {
    Signature { pattern: Pattern { name, fix }, frames, blocking, creator: Creator::Any, std_outside: None, source }
}

/// The writeLoop of a client connection: named after its readLoop when the report holds one kind.
pub const HTTP_CLIENT_CONNECTION: Pattern = Pattern {
    name: "http-client-connections",
    fix: "Each client connection of an http.Transport has a readLoop and a writeLoop goroutine; these are the writeLoops. The readLoop suspect says why connections pile up: response bodies never closed (readLoop in select), or a new Transport/Client per request (readLoop in IO wait).",
};

/// Server connections waiting for a next request.
pub const HTTP_SERVER_IDLE: Pattern = Pattern {
    name: "http-server-no-idle-timeout",
    fix: "Server connections idle between requests pile up: clients hold keep-alive connections open and the http.Server has no IdleTimeout, so it waits as long as its ReadTimeout (forever when that is unset too). Set http.Server.IdleTimeout (a minute or two) and ReadHeaderTimeout; cap connections per client where needed.",
};

/// For stacks wholly inside the standard library that no entry knows.
pub const STDLIB_GOROUTINES: Pattern = Pattern {
    name: "stdlib-goroutines-growing",
    fix: "Goroutines that run entirely inside the standard library keep accumulating: something the program opened is never closed or cancelled. Find the code that starts them (started_from; watch with --debug2, and run the service with GODEBUG=tracebackancestors=5 to see through library code) and close what it opens (bodies, clients, listeners, pipes), cancel its contexts, and set timeouts.",
};

/// Client connections of requests that wait for a backend: named after the RoundTrip suspect that
/// grew as much beside them (one story, one fix).
pub const HTTP_BACKEND_CONNECTION: Pattern = Pattern {
    name: "http-no-response-timeout",
    fix: "The client connections of requests that wait for a backend that never answers (as many as the RoundTrip suspect beside them): not a Transport per request. Give the requests a deadline: http.Client.Timeout or Transport.ResponseHeaderTimeout (a ReverseProxy's Transport), and a request context with a deadline; the connections then close with them.",
};

/// Known signatures, most specific first.
pub const CATALOGUE: &[Signature] = &[
    Signature {
        pattern: Pattern {
            name: "http-server-write-blocked",
            fix: "Handlers are stuck writing a response to clients that never read it (a stalled or malicious client, a full TCP window): the server has no write deadline, so the handler, its connection and everything the answer holds stay. Set http.Server.WriteTimeout, or per handler http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d)) (Go 1.20+) for long streams, and bound how much one answer builds in memory.",
        },
        // HTTP/1 (the response's buffered writer flushing to the connection) and HTTP/2 (waiting
        // for flow control or the write scheduler), bundled in net/http before Go 1.27.
        frames: &[
            "net/http.(*response).write",
            "net/http.(*chunkWriter).Write",
            "net/http.(*http2responseWriter).write",
            "net/http.(*http2serverConn).writeDataFromHandler",
            "net/http/internal/http2.(*responseWriter).write",
            "net/http/internal/http2.(*serverConn).writeDataFromHandler",
        ],
        blocking: &[Blocking::IoWait, Blocking::Select],
        creator: Creator::Any,
        std_outside: None,
        source: "net/http: Server.WriteTimeout, ResponseController.SetWriteDeadline",
    },
    sig(
        "grpc-server-stream-client-stays",
        "Server-side streams whose clients never go away (a client stopped, frozen or gone without a FIN keeps its connection; a client that never ends a stream keeps its handler): each keeps a stream handler, its reader, the connection's keepalive and writer goroutines, and what they buffer (writeQuota.get: the client stopped reading). Make the server let go: keepalive.ServerParameters{Time, Timeout} so dead peers are closed, MaxConnectionIdle and MaxConnectionAge(+Grace) so no connection lives forever, keepalive.EnforcementPolicy against clients that ping too often, and stream handlers that return on stream.Context().Done() (a send or receive loop that waits on nothing else never ends).",
        &[
            "google.golang.org/grpc/internal/transport.(*http2Server)",
            "google.golang.org/grpc/internal/transport.newHTTP2Server",
            "google.golang.org/grpc.(*Server).",
            "google.golang.org/grpc.(*serverStream)",
        ],
        &[],
        "google.golang.org/grpc/keepalive: ServerParameters (MaxConnectionIdle, MaxConnectionAge, Time, Timeout), EnforcementPolicy; grpc: ServerStream.Context",
    ),
    sig(
        "http-body-not-closed",
        "A response body is never closed or read to EOF, so its connection can neither be reused nor freed (its readLoop waits for the body in select, its writeLoop beside it). After every successful client.Do/Get: defer resp.Body.Close(), and drain it (io.Copy(io.Discard, resp.Body)) when the body is not read to the end.",
        &["net/http.(*persistConn).readLoop"],
        &[Blocking::Select],
        "net/http: Client.Do — \"the caller should close resp.Body when done reading from it\"",
    ),
    sig(
        "http-transport-per-request",
        "Idle keep-alive connections pile up: a new http.Transport (or a Client with its own Transport) is made per request, and each leaves its idle connections behind (readLoop waiting in IO wait). Make one Client/Transport at start-up and share it; if one must be temporary, call CloseIdleConnections when done. (If a RoundTrip suspect grows beside this one, these connections are requests waiting for a backend: fix that one.)",
        &["net/http.(*persistConn).readLoop"],
        &[Blocking::IoWait],
        "net/http: Transport — \"Transports should be reused instead of created as needed\"",
    ),
    sig("http-client-connections", HTTP_CLIENT_CONNECTION.fix, &["net/http.(*persistConn).writeLoop"], &[], "net/http: Transport internals"),
    sig(
        "http-no-response-timeout",
        "Requests wait forever for a backend that never answers: the http.Client has no Timeout and its Transport no ResponseHeaderTimeout (a ReverseProxy uses http.DefaultTransport, which has none). Set http.Client.Timeout, or Transport.ResponseHeaderTimeout, and pass a request context with a deadline (http.NewRequestWithContext).",
        // HTTP/2: bundled into net/http before Go 1.27, net/http/internal/http2 since.
        &[
            "net/http.(*persistConn).roundTrip",
            "net/http.(*http2ClientConn).RoundTrip",
            "net/http.(*http2ClientConn).roundTrip",
            "net/http/internal/http2.(*ClientConn).RoundTrip",
            "net/http/internal/http2.(*ClientConn).roundTrip",
        ],
        &[],
        "net/http: Client.Timeout, Transport.ResponseHeaderTimeout",
    ),
    // Waiting for the first line of a request: an idle keep-alive connection before Go 1.21 (and
    // a client that connected and sent nothing).
    Signature {
        pattern: HTTP_SERVER_IDLE,
        frames: &["net/textproto.(*Reader).ReadLine"],
        blocking: &[Blocking::IoWait],
        creator: Creator::Any,
        std_outside: Some("net/http.(*connReader).Read"),
        source: "net/http: Server.IdleTimeout, ReadHeaderTimeout",
    },
    Signature {
        pattern: Pattern {
            name: "http-server-no-read-header-timeout",
            fix: "Server connections wait for request headers that clients never finish sending (slow or stuck clients, slowloris). Set http.Server.ReadHeaderTimeout (and ReadTimeout), and IdleTimeout for the keep-alive wait between requests.",
        },
        frames: &["net/http.(*conn).readRequest"],
        blocking: &[Blocking::IoWait],
        creator: Creator::Any,
        std_outside: Some("net/http.(*connReader).Read"),
        source: "net/http: Server.ReadHeaderTimeout; go vet's G112 (gosec) for servers without it",
    },
    Signature {
        pattern: Pattern {
            name: "http-server-handler-not-returning",
            fix: "One per server connection whose handler is still running: handlers that never return keep their connection and its background read. Find the handler's own suspect (a stack through net/http.serverHandler.ServeHTTP) and make it return: use the request's context, set timeouts on what it calls, or wrap it in http.TimeoutHandler.",
        },
        frames: &["net/http.(*connReader).backgroundRead"],
        blocking: &[],
        creator: Creator::Any,
        std_outside: Some("net/http.(*connReader).backgroundRead"),
        source: "net/http: Server, TimeoutHandler",
    },
    Signature {
        pattern: HTTP_SERVER_IDLE,
        frames: &["net/http.(*conn).serve"],
        blocking: &[Blocking::IoWait],
        creator: Creator::Any,
        std_outside: Some("net/http.(*connReader).Read"),
        source: "net/http: Server.IdleTimeout",
    },
    sig(
        "context-cancel-never-called",
        "context.WithCancel/WithTimeout/WithDeadline under a parent Context of a type the context package does not know starts a goroutine that waits until the parent or the child is done; the child's cancel function is never called. Call cancel on every path (defer cancel() right after the With* call; go vet's lostcancel finds many), or give the custom parent an AfterFunc method.",
        &["context.(*cancelCtx).propagateCancel", "context.propagateCancel"],
        &[],
        "context: \"Failing to call the CancelFunc leaks the child and its children\"; go vet lostcancel",
    ),
    sig(
        "signal-notifycontext-not-stopped",
        "signal.NotifyContext starts a goroutine that waits for the signal or the parent; its stop function is never called. defer stop() right after signal.NotifyContext, and do not call it per request.",
        &["os/signal.NotifyContext"],
        &[],
        "os/signal: NotifyContext — \"the stop function ... should be called as soon as the operations running in this Context complete\"",
    ),
    sig(
        "sql-db-not-closed",
        "A *sql.DB is opened (sql.Open/OpenDB) and never closed; each one runs a connectionOpener goroutine and holds a pool. Open one *sql.DB at start-up and share it (it is safe for concurrent use); if one must be temporary, defer db.Close().",
        &["database/sql.(*DB).connectionOpener", "database/sql.(*DB).connectionResetter", "database/sql.(*DB).connectionCleaner"],
        &[],
        "database/sql: Open — \"the returned DB is safe for concurrent use ... It is rarely necessary to close a DB\"",
    ),
    sig(
        "io-pipe-abandoned",
        "One end of an io.Pipe was abandoned: the writer blocks until someone reads, the reader until someone writes or closes. Close the other end on every path: pr.CloseWithError(err) when the reader gives up, pw.CloseWithError(err) (or pw.Close()) when the writer is done.",
        &["io.(*pipe).write", "io.(*pipe).read"],
        &[],
        "io: Pipe — \"each Write to the PipeWriter blocks until it has satisfied one or more Reads\"",
    ),
    sig(
        "cond-never-signalled",
        "cond.Wait() waits for a Signal or Broadcast that never comes. Broadcast whenever the condition changes and on shutdown; or replace the Cond with a channel that is closed.",
        &[],
        &[Blocking::Cond],
        "sync: Cond.Wait",
    ),
    Signature {
        pattern: Pattern {
            name: "afterfunc-callback-blocked",
            fix: "A time.AfterFunc callback runs in its own goroutine and blocks forever (here on a channel operation nobody completes). Make the callback non-blocking: send with select/default or into a buffered channel, and Stop the timer when its owner goes away.",
        },
        frames: &[],
        blocking: &[],
        creator: Creator::Function("time.goFunc"),
        std_outside: None,
        source: "time: AfterFunc — \"calls f in its own goroutine\"",
    },
    Signature {
        pattern: Pattern {
            name: "library-client-not-closed",
            fix: "A client library starts a background goroutine in its constructor (New*/Dial*/Open*) that runs until the client is closed, and the client is never closed. Create the client once and share it, or defer client.Close() where it is made; started_from names the code that makes it.",
        },
        frames: &[],
        blocking: &[Blocking::Select, Blocking::ChanReceive, Blocking::Sleep, Blocking::IoWait],
        creator: Creator::LibraryConstructor,
        std_outside: None,
        source: "the io.Closer contract of client libraries; goleak's \"VerifyNone\" findings",
    },
    sig(
        "busy-loop",
        "Goroutines that never block (running or runnable, e.g. spinning on runtime.Gosched or polling an atomic) keep accumulating and burn CPU. Give the loop an exit and block instead of spinning: wait on a channel, a sync.Cond or ctx.Done(), or a time.Ticker that is stopped.",
        &[],
        &[Blocking::Running],
        "the Go memory model: busy-waiting is not synchronisation",
    ),
    sig(
        "endless-loop",
        "A loop with no exit that sleeps between rounds (polling, retrying, a hand-made ticker). Give it one: use a time.Ticker with defer t.Stop() and select on ctx.Done() (or a quit channel) in every iteration.",
        &[],
        &[Blocking::Sleep],
        "time: NewTicker — \"Stop the ticker to release associated resources\"",
    ),
];

/// Generic patterns by blocking operation, for stacks that wait in the program's own code.
fn by_blocking(info: &GroupInfo) -> Pattern {
    let has = |name: &str| info.frames.iter().any(|f| f.function == name);
    let (name, fix) = match info.blocking {
        Blocking::ChanSend => (
            "forgotten-sender",
            "The receiver has gone (returned on a timeout, or took only the first answer). Give the channel a buffer sized to the number of senders, or send inside a select that also waits on ctx.Done().",
        ),
        Blocking::ChanReceive if has("runtime.chanrecv2") => (
            "range-over-unclosed-channel",
            "A `for range` (or `v, ok := <-ch`) waits for a close that never comes. Close the channel from the sending side when the last value is sent (defer close(ch) in the single sender, or after wg.Wait() for many). A time.Ticker's channel is never closed, not even by Stop: loop on a select that also waits on ctx.Done().",
        ),
        Blocking::ChanReceive => (
            "abandoned-receiver",
            "Nobody will send on or close this channel. Close it from the sender side when done, or receive in a select that also waits on ctx.Done() and cancel the context.",
        ),
        Blocking::Select => (
            "select-without-quit",
            "No case of this select will ever fire: the quit channel is never closed or the context never cancelled. Cancel the context (defer cancel()) or close the done channel when the owner stops, and stop tickers with defer t.Stop().",
        ),
        Blocking::SelectNoCases => {
            ("empty-select", "`select {}` blocks forever by design; if this goroutine is started per request, it is a leak: wait on a context instead.")
        }
        Blocking::ChanSendNil | Blocking::ChanReceiveNil => (
            "nil-channel",
            "An operation on a nil channel blocks forever: the channel was never made (make(chan T)) or was set to nil. Initialise it before the goroutine starts.",
        ),
        Blocking::Mutex | Blocking::RwMutex => (
            "lock-never-released",
            "A lock was taken and never released, so every later Lock waits forever. Put defer mu.Unlock() right after mu.Lock(), and check early returns and panics between them.",
        ),
        Blocking::WaitGroup => (
            "waitgroup-never-done",
            "wg.Wait() waits for a Done that never comes. Call wg.Add before `go`, and defer wg.Done() as the first line of each goroutine, on every path.",
        ),
        Blocking::Cond => ("cond-never-signalled", "cond.Wait() waits for a Signal or Broadcast that never comes. Broadcast when the condition changes and on shutdown."),
        Blocking::IoWait => (
            "blocked-io",
            "Goroutines wait on the network with no deadline. Set timeouts (http.Client.Timeout, conn.SetDeadline), cancel request contexts, and always close response bodies.",
        ),
        Blocking::Sleep | Blocking::Running => ("endless-loop", "A loop with no exit. Give it one: check ctx.Done() (or a quit channel) in every iteration."),
        Blocking::Syscall => ("blocked-syscall", "Goroutines stuck in system calls or cgo. Use deadlines or cancellable APIs; check for blocking reads on pipes and files."),
        Blocking::Other => ("growing-goroutines", "Goroutines of this stack keep accumulating. Find who starts them (created by) and make sure every one has a way to exit."),
    };
    Pattern { name, fix }
}

/// Whether `function` is a constructor by Go's naming habits: `pkg.NewX`, `pkg.Dial`, `pkg.(*T).Open`.
fn is_constructor(function: &str) -> bool {
    let pkg = package_of(function);
    let rest = function.get(pkg.len()..).unwrap_or("").trim_start_matches('.');
    // The method or function name: the last dotted part that is not a closure (`func1`).
    let name = rest.split('.').rfind(|p| !p.starts_with("func") && !p.chars().all(|c| c.is_ascii_digit())).unwrap_or(rest);
    ["New", "Dial", "Open", "Connect", "Start"].iter().any(|p| name.starts_with(p))
}

/// Whether two packages belong to one library: the same path, or the same repository on a code
/// host (`github.com/org/repo/...`: a constructor in the root package, a loop in `internal/conn`).
fn same_library(a: &str, b: &str) -> bool {
    let root = |p: &str| -> String {
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() >= 3 && parts[0].contains('.') {
            parts[..3].join("/")
        } else {
            p.to_string()
        }
    };
    a == b || root(a) == root(b)
}

fn creator_matches(c: Creator, info: &GroupInfo) -> bool {
    match c {
        Creator::Any => true,
        Creator::Function(f) => info.created_by.as_ref().is_some_and(|c| c.function == f),
        Creator::LibraryConstructor => {
            let leaf = &info.leaf_frame().function;
            let pkg = package_of(leaf);
            if pkg == "main" || is_std_function(leaf) {
                return false;
            }
            info.created_by.as_ref().is_some_and(|c| same_library(package_of(&c.function), pkg) && is_constructor(&c.function))
        }
    }
}

fn matches(s: &Signature, info: &GroupInfo) -> bool {
    (s.blocking.is_empty() || s.blocking.contains(&info.blocking))
        && (s.frames.is_empty() || info.frames.iter().any(|f| s.frames.iter().any(|p| f.function.starts_with(p))))
        && creator_matches(s.creator, info)
        && s.std_outside.is_none_or(|prefix| {
            // Frames are innermost first: everything after the outermost match is outside it.
            info.frames.iter().rposition(|f| f.function.starts_with(prefix)).is_some_and(|i| {
                info.frames[i + 1..].iter().all(|f| is_std_function(&f.function) || f.function.starts_with('<') || f.function == "runtime.goexit")
            })
        })
}

/// The catalogue entry a group matches, if any.
pub fn signature_of(info: &GroupInfo) -> Option<&'static Signature> {
    CATALOGUE.iter().find(|s| matches(s, info))
}

/// The named leak pattern of a group and how such leaks are fixed.
pub fn pattern_of(info: &GroupInfo) -> Pattern {
    if let Some(s) = signature_of(info) {
        return s.pattern;
    }
    let program_frame = info.frames.iter().any(|f| !is_std_function(&f.function) && !f.function.starts_with('<') && f.function != "panic");
    if !program_frame {
        return STDLIB_GOROUTINES;
    }
    by_blocking(info)
}

/// Names the writeLoop goroutines of client connections after their readLoops when the listed
/// stacks hold one kind of readLoop only (`patterns` of the listed groups, in the same order).
/// `increases`: each listed group's growth over the run (last count less first).
pub fn pair_companions(patterns: &mut [Pattern], increases: &[i64]) {
    // A reverse proxy's (or any client's) requests waiting for a backend: their connections'
    // readLoop and writeLoop grow with them, one each per waiting request (give or take the
    // snapshot's timing and a few connections of other clients).
    let waiting: Vec<i64> = patterns.iter().zip(increases).filter(|(p, _)| p.name == "http-no-response-timeout").map(|(_, &n)| n).collect();
    // Waiting for the answer's headers, a connection's readLoop is in IO wait like an idle one's
    // (one in select has its answer, and a body nobody reads: another story).
    let connection = |p: &Pattern| ["http-transport-per-request", HTTP_CLIENT_CONNECTION.name].contains(&p.name);
    let alike = |a: i64, b: i64| b > 0 && a.abs_diff(b) <= (b / 10).max(2) as u64;
    for (p, &n) in patterns.iter_mut().zip(increases) {
        if connection(p) && waiting.iter().any(|&w| alike(n, w)) {
            *p = HTTP_BACKEND_CONNECTION;
        }
    }
    let mut kinds: Vec<Pattern> = patterns.iter().copied().filter(|p| p.name == "http-body-not-closed" || p.name == "http-transport-per-request").collect();
    kinds.sort_by_key(|p| p.name);
    kinds.dedup_by_key(|p| p.name);
    if let [only] = kinds[..] {
        for p in patterns.iter_mut().filter(|p| p.name == HTTP_CLIENT_CONNECTION.name) {
            *p = only;
        }
    }
}

/// Frames that say where a goroutine waits, not what it is: runtime, poll and syscall plumbing,
/// buffered readers, and net/http's own read wrappers.
fn is_plumbing(function: &str) -> bool {
    const FUNCTIONS: [&str; 4] = ["net/http.(*connReader).Read", "net/http.(*persistConn).Read", "net/http.readRequest", "net/http.readRequestLimit"];
    let pkg = package_of(function);
    is_never_a_label(function)
        || FUNCTIONS.contains(&function)
        || matches!(pkg, "syscall" | "net" | "bufio" | "io" | "sync" | "sync/atomic" | "time" | "os" | "net/textproto" | "crypto/tls")
        || pkg.starts_with("runtime/")
        || pkg.starts_with("vendor/")
}

/// What a table never shows as a stack's label.
fn is_never_a_label(function: &str) -> bool {
    function == "panic" || function.starts_with('<') || function.starts_with("runtime.") || function.starts_with("internal/")
}

/// The leaf shown for each of `groups` (indexes into each group's frames, the groups in report
/// order), so that no two show the same function at the same line. A group keeps its own leaf
/// unless another listed stack shows the same function; of those that do, each that has another
/// frame outside plumbing takes its innermost such frame (`net/http.(*conn).readRequest`,
/// `net/http.(*persistConn).roundTrip`), and the rest keep the shared function where their lines
/// differ (`net/http.(*persistConn).readLoop` in select and in IO wait). Labels are never runtime,
/// poll, `panic` or `<autogenerated>` frames.
pub fn distinct_leaves(groups: &[&GroupInfo]) -> Vec<usize> {
    use std::collections::{HashMap, HashSet};
    let name = |g: &GroupInfo, i: usize| g.frames.get(i).map_or("", |f| f.function.as_str()).to_string();
    let key = |g: &GroupInfo, i: usize| g.frames.get(i).map_or(String::new(), |f| format!("{}\n{}:{}", f.function, f.file, f.line));
    let mut leaf_count: HashMap<String, usize> = HashMap::new();
    for g in groups {
        *leaf_count.entry(name(g, g.leaf)).or_default() += 1;
    }
    let mut out: Vec<Option<usize>> = vec![None; groups.len()];
    // Functions shown, and function-and-line keys shown.
    let mut taken: HashSet<String> = HashSet::new();
    let mut taken_keys: HashSet<String> = HashSet::new();
    for (k, g) in groups.iter().enumerate() {
        if leaf_count[&name(g, g.leaf)] == 1 {
            out[k] = Some(g.leaf);
            taken.insert(name(g, g.leaf));
            taken_keys.insert(key(g, g.leaf));
        }
    }
    for (k, g) in groups.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        let leaf = name(g, g.leaf);
        // When the leaf is a library's wrapper around the read (cmux), its package's other frames
        // are the same wrapper seen again.
        let wrapper = (!is_std_function(&leaf)).then(|| package_of(&leaf).to_string());
        let alt = (0..g.frames.len()).find(|&i| {
            let n = name(g, i);
            n != leaf && wrapper.as_deref() != Some(package_of(&n)) && !is_plumbing(&n) && !taken.contains(&n) && !leaf_count.contains_key(&n)
        });
        if let Some(i) = alt {
            taken.insert(name(g, i));
            taken_keys.insert(key(g, i));
            out[k] = Some(i);
        }
    }
    for (k, g) in groups.iter().enumerate() {
        if out[k].is_some() {
            continue;
        }
        // The program's own frames first (its callers of the leaf), then frames that say what the
        // goroutine is, and plumbing (`sync.(*Mutex).Lock`) only when nothing else is left.
        let own = |i: &usize| !is_std_function(&name(g, *i));
        let candidates = std::iter::once(g.leaf)
            .chain((g.leaf..g.frames.len()).filter(own))
            .chain((0..g.frames.len()).filter(|&i| !is_plumbing(&name(g, i))))
            .chain(0..g.frames.len());
        let pick = candidates.into_iter().find(|&i| !taken_keys.contains(&key(g, i)) && !is_never_a_label(&name(g, i)));
        let pick = pick.unwrap_or(g.leaf);
        taken_keys.insert(key(g, pick));
        out[k] = Some(pick);
    }
    out.into_iter().map(|o| o.unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Frame;
    use crate::stacks::{blocking_of, goroutine_leaf_index};

    /// A group as a goroutine profile would give it: `frames` innermost first, as in the live
    /// captures of tests/goservice's scenario `patterns` (Go 1.27, protobuf form).
    fn group(frames: &[&str], created_by: Option<&str>) -> GroupInfo {
        let frames: Vec<Frame> = frames.iter().map(|f| Frame { function: f.to_string(), file: String::new(), line: 1, address: 0, start_line: 0 }).collect();
        let refs: Vec<&Frame> = frames.iter().collect();
        let blocking = blocking_of(&refs, None, false);
        let leaf = goroutine_leaf_index(&refs);
        let created_by = created_by.map(|f| Frame { function: f.into(), file: String::new(), line: 1, address: 0, start_line: 0 });
        GroupInfo { frames, label: None, labels: Vec::new(), blocking, leaf, created_by, ancestors: Vec::new(), sort_key: String::new() }
    }

    const IO_WAIT: [&str; 8] = [
        "runtime.gopark",
        "runtime.netpollblock",
        "internal/poll.runtime_pollWait",
        "internal/poll.(*pollDesc).wait",
        "internal/poll.(*pollDesc).waitRead",
        "internal/poll.(*FD).Read",
        "net.(*netFD).Read",
        "net.(*conn).Read",
    ];

    fn io_wait(rest: &[&str]) -> Vec<&'static str> {
        let mut v: Vec<&str> = IO_WAIT.to_vec();
        v.extend(rest.iter().map(|s| -> &'static str { Box::leak(s.to_string().into_boxed_str()) }));
        v.push("runtime.goexit");
        v
    }

    fn name(frames: &[&str], created_by: Option<&str>) -> &'static str {
        pattern_of(&group(frames, created_by)).name
    }

    #[test]
    fn http_client_body_not_closed_and_transport_per_request() {
        let select = ["runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).readLoop", "runtime.goexit"];
        assert_eq!(name(&select, None), "http-body-not-closed");
        assert_eq!(group(&select, None).leaf_frame().function, "net/http.(*persistConn).readLoop");
        let idle = io_wait(&["net/http.(*persistConn).Read", "bufio.(*Reader).fill", "bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop"]);
        assert_eq!(name(&idle, None), "http-transport-per-request");
        assert_eq!(group(&idle, None).leaf_frame().function, "net/http.(*persistConn).readLoop");
        let write = ["runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).writeLoop", "runtime.goexit"];
        assert_eq!(name(&write, None), "http-client-connections");
    }

    fn catalogued(name: &str) -> Pattern {
        CATALOGUE.iter().find(|s| s.pattern.name == name).unwrap().pattern
    }

    #[test]
    fn writeloop_follows_its_readloop() {
        let body = catalogued("http-body-not-closed");
        let per_request = catalogued("http-transport-per-request");
        let mut one = [HTTP_CLIENT_CONNECTION, body, body];
        pair_companions(&mut one, &[4, 4, 2]);
        assert_eq!(one[0].name, "http-body-not-closed");
        let mut both = [HTTP_CLIENT_CONNECTION, body, per_request];
        pair_companions(&mut both, &[4, 4, 2]);
        assert_eq!(both[0].name, "http-client-connections", "two kinds of readLoop: the writeLoops cannot be told apart");
    }

    // A reverse proxy in front of a backend that never answers (tests/goservice `-scenario
    // servers`, live: RoundTrip 0 → 40, readLoop and writeLoop 5 → 45 beside the load's own 5
    // connections): per waiting request one RoundTrip, one readLoop, one writeLoop.
    #[test]
    fn a_proxys_connections_beside_its_roundtrip_are_one_story() {
        let round_trip = catalogued("http-no-response-timeout");
        let per_request = catalogued("http-transport-per-request");
        let mut listed = [round_trip, per_request, HTTP_CLIENT_CONNECTION];
        pair_companions(&mut listed, &[40, 40, 39]);
        assert!(listed.iter().all(|p| p.name == "http-no-response-timeout"), "{listed:?}");
        assert!(listed[1].fix.contains("not a Transport per request"));
        // A readLoop in select has its answer: a body not closed is another story.
        let body = catalogued("http-body-not-closed");
        let mut bodies = [round_trip, body];
        pair_companions(&mut bodies, &[40, 40]);
        assert_eq!(bodies[1].name, "http-body-not-closed");
        // Connections that grew by another count are another story.
        let mut apart = [round_trip, per_request, HTTP_CLIENT_CONNECTION];
        pair_companions(&mut apart, &[12, 40, 40]);
        assert_eq!(
            (apart[1].name, apart[2].name),
            ("http-transport-per-request", "http-transport-per-request"),
            "the writeLoops follow the one kind of readLoop"
        );
    }

    // Debian's etcd 3.4.23 (Go 1.19, grpc 1.26) with `etcdctl watch` clients frozen by SIGSTOP
    // while keys are written: each kind of goroutine a stream leaves, from one live debug=2 dump.
    #[test]
    fn grpc_server_streams_whose_clients_stay() {
        let select = |rest: &[&str]| -> Vec<&'static str> {
            let mut v = vec!["runtime.gopark", "runtime.selectgo"];
            v.extend(rest.iter().map(|s| -> &'static str { Box::leak(s.to_string().into_boxed_str()) }));
            v.push("runtime.goexit");
            v
        };
        let t = "google.golang.org/grpc/internal/transport";
        let stacks = [
            select(&[&format!("{t}.(*controlBuffer).get"), &format!("{t}.(*loopyWriter).run"), &format!("{t}.newHTTP2Server.func2")]),
            select(&[&format!("{t}.(*http2Server).keepalive")]),
            select(&[
                &format!("{t}.(*writeQuota).get"),
                &format!("{t}.(*http2Server).Write"),
                "google.golang.org/grpc.(*serverStream).SendMsg",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*monitoredServerStream).SendMsg",
                "go.etcd.io/etcd/etcdserver/etcdserverpb.(*watchWatchServer).Send",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).sendLoop",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch.func1",
            ]),
            select(&[
                &format!("{t}.(*recvBufferReader).read"),
                &format!("{t}.(*recvBufferReader).Read"),
                &format!("{t}.(*transportReader).Read"),
                "io.ReadAtLeast",
                "io.ReadFull",
                &format!("{t}.(*Stream).Read"),
                "google.golang.org/grpc.(*parser).recvMsg",
                "google.golang.org/grpc.recvAndDecompress",
                "google.golang.org/grpc.recv",
                "google.golang.org/grpc.(*serverStream).RecvMsg",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*monitoredServerStream).RecvMsg",
                "go.etcd.io/etcd/etcdserver/etcdserverpb.(*watchWatchServer).Recv",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*serverWatchStream).recvLoop",
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch.func2",
            ]),
            select(&[
                "go.etcd.io/etcd/etcdserver/api/v3rpc.(*watchServer).Watch",
                "go.etcd.io/etcd/etcdserver/etcdserverpb._Watch_Watch_Handler",
                "github.com/grpc-ecosystem/go-grpc-prometheus.(*ServerMetrics).StreamServerInterceptor.func1",
                "github.com/grpc-ecosystem/go-grpc-middleware.ChainStreamServer.func1",
                "google.golang.org/grpc.(*Server).processStreamingRPC",
                "google.golang.org/grpc.(*Server).handleStream",
                "google.golang.org/grpc.(*Server).serveStreams.func1.2",
            ]),
        ];
        for stack in &stacks {
            let p = pattern_of(&group(stack, None));
            assert_eq!(p.name, "grpc-server-stream-client-stays", "{stack:?}");
            assert!(p.fix.contains("MaxConnectionIdle") && p.fix.contains("stream.Context().Done()") && !p.name.contains("select"));
        }
        // The same writer on a client connection is not the server's story.
        let client = select(&[&format!("{t}.(*controlBuffer).get"), &format!("{t}.(*loopyWriter).run"), &format!("{t}.newHTTP2Client.func3")]);
        assert_ne!(name(&client, None), "grpc-server-stream-client-stays");
    }

    // Prometheus 2.42's federate handler writing to a client that never reads (live, Go 1.19;
    // tests/fixtures/realworld/prometheus-federate-watch/029-goroutine-debug2.txt), cut at the
    // handler as Go before 1.23 cuts its protobuf stacks.
    #[test]
    fn a_handler_blocked_writing_to_a_client_that_never_reads() {
        let federate = [
            "runtime.gopark",
            "runtime.netpollblock",
            "internal/poll.runtime_pollWait",
            "internal/poll.(*pollDesc).wait",
            "internal/poll.(*pollDesc).waitWrite",
            "internal/poll.(*FD).Write",
            "net.(*netFD).Write",
            "net.(*conn).Write",
            "net/http.checkConnErrorWriter.Write",
            "bufio.(*Writer).Flush",
            "bufio.(*Writer).Write",
            "net/http.(*chunkWriter).Write",
            "bufio.(*Writer).Write",
            "net/http.(*response).write",
            "net/http.(*response).Write",
            "github.com/prometheus/client_golang/prometheus/promhttp.(*responseWriterDelegator).Write",
            "github.com/prometheus/client_golang/prometheus/promhttp.(*responseWriterDelegator).Write",
            "github.com/prometheus/prometheus/util/httputil.(*compressedResponseWriter).Write",
            "bufio.(*Writer).Flush",
            "bufio.(*Writer).WriteString",
            "strings.(*byteStringReplacer).WriteString",
            "strings.(*Replacer).WriteString",
            "github.com/prometheus/common/expfmt.writeEscapedString",
            "github.com/prometheus/common/expfmt.writeLabelPairs",
            "github.com/prometheus/common/expfmt.writeSample",
            "github.com/prometheus/common/expfmt.MetricFamilyToText",
            "github.com/prometheus/common/expfmt.NewEncoder.func7",
            "github.com/prometheus/common/expfmt.encoderCloser.Encode",
            "github.com/prometheus/prometheus/web.(*Handler).federation.func1",
            "github.com/prometheus/prometheus/model/labels.Labels.Validate",
            "github.com/prometheus/prometheus/web.(*Handler).federation",
            "net/http.HandlerFunc.ServeHTTP",
        ];
        let p = pattern_of(&group(&federate, None));
        assert_eq!(p.name, "http-server-write-blocked");
        assert!(p.fix.contains("WriteTimeout") && p.fix.contains("SetWriteDeadline"), "{}", p.fix);
    }

    #[test]
    fn http_roundtrip_waiting_for_a_backend() {
        let client = [
            "runtime.gopark",
            "runtime.selectgo",
            "net/http.(*persistConn).roundTrip",
            "net/http.(*Transport).roundTrip",
            "net/http.(*Transport).RoundTrip",
            "net/http.send",
            "net/http.(*Client).send",
            "net/http.(*Client).do",
            "net/http.(*Client).Do",
            "net/http.(*Client).Get",
            "main.callSilentBackend",
            "runtime.goexit",
        ];
        assert_eq!(name(&client, None), "http-no-response-timeout");
        assert_eq!(group(&client, None).leaf_frame().function, "main.callSilentBackend");
        let proxy = [
            "runtime.gopark",
            "runtime.selectgo",
            "net/http.(*persistConn).roundTrip",
            "net/http.(*Transport).roundTrip",
            "net/http.(*Transport).RoundTrip",
            "net/http/httputil.(*ReverseProxy).ServeHTTP",
            "net/http.serverHandler.ServeHTTP",
            "net/http.(*conn).serve",
            "runtime.goexit",
        ];
        assert_eq!(name(&proxy, None), "http-no-response-timeout");
    }

    #[test]
    fn http_server_connections() {
        let header = io_wait(&[
            "net/http.(*connReader).Read",
            "bufio.(*Reader).fill",
            "bufio.(*Reader).ReadByte",
            "net/textproto.(*Reader).skipSpace",
            "net/textproto.(*Reader).readContinuedLineSlice",
            "net/textproto.readMIMEHeader",
            "net/http.readRequestLimit",
            "net/http.(*conn).readRequest",
            "net/http.(*conn).serve",
        ]);
        assert_eq!(name(&header, None), "http-server-no-read-header-timeout");
        let idle = io_wait(&["net/http.(*connReader).Read", "bufio.(*Reader).fill", "bufio.(*Reader).Peek", "net/http.(*conn).serve"]);
        assert_eq!(name(&idle, None), "http-server-no-idle-timeout");
        let background = io_wait(&["net/http.(*connReader).backgroundRead"]);
        assert_eq!(name(&background, None), "http-server-handler-not-returning");
        // A connection wrapper inside the read (etcd's cmux) changes nothing.
        let cmux = [
            &IO_WAIT[..],
            &[
                "github.com/soheilhy/cmux.(*MuxConn).Read",
                "net/http.(*connReader).Read",
                "bufio.(*Reader).fill",
                "bufio.(*Reader).ReadSlice",
                "bufio.(*Reader).ReadLine",
                "net/textproto.(*Reader).readLineSlice",
                "net/textproto.(*Reader).ReadLine",
                "net/http.readRequest",
                "net/http.(*conn).readRequest",
                "net/http.(*conn).serve",
                "runtime.goexit",
            ],
        ]
        .concat();
        assert_eq!(name(&cmux, None), "http-server-no-idle-timeout", "Go 1.19: waiting for a request line is the keep-alive wait");
        assert_eq!(group(&cmux, None).leaf_frame().function, "github.com/soheilhy/cmux.(*MuxConn).Read");
        // A handler of the program's own reading the network is the program's business.
        let handler =
            io_wait(&["main.readUpstream", "main.handler", "net/http.HandlerFunc.ServeHTTP", "net/http.serverHandler.ServeHTTP", "net/http.(*conn).serve"]);
        assert_eq!(name(&handler, None), "blocked-io");
    }

    #[test]
    fn context_signal_sql_pipe_cond() {
        let ctx = ["runtime.gopark", "runtime.selectgo", "context.(*cancelCtx).propagateCancel.func2", "runtime.goexit"];
        assert_eq!(name(&ctx, Some("context.(*cancelCtx).propagateCancel")), "context-cancel-never-called");
        assert_eq!(name(&["context.propagateCancel.func1"], None), "context-cancel-never-called", "Go before 1.21");
        let sig = ["runtime.gopark", "runtime.selectgo", "os/signal.NotifyContext.func1", "runtime.goexit"];
        assert_eq!(name(&sig, None), "signal-notifycontext-not-stopped");
        let sql = ["runtime.gopark", "runtime.selectgo", "database/sql.(*DB).connectionOpener", "runtime.goexit"];
        assert_eq!(name(&sql, Some("database/sql.OpenDB")), "sql-db-not-closed");
        let pipe = ["runtime.gopark", "runtime.selectgo", "io.(*pipe).write", "io.(*PipeWriter).Write", "main.pipeWriter", "runtime.goexit"];
        assert_eq!(name(&pipe, None), "io-pipe-abandoned");
        assert_eq!(group(&pipe, None).leaf_frame().function, "main.pipeWriter");
        let cond = ["runtime.gopark", "runtime.goparkunlock", "sync.runtime_notifyListWait", "sync.(*Cond).Wait", "main.condWaiter", "runtime.goexit"];
        assert_eq!(name(&cond, None), "cond-never-signalled");
    }

    #[test]
    fn timers_libraries_and_loops() {
        let after = ["runtime.gopark", "runtime.chansend", "runtime.chansend1", "main.scheduleCallback.func1", "runtime.goexit"];
        assert_eq!(name(&after, Some("time.goFunc")), "afterfunc-callback-blocked");
        assert_eq!(name(&after, None), "forgotten-sender", "without the creator (protobuf form) it is a plain blocked send");
        let lib = ["runtime.gopark", "runtime.selectgo", "leakhound.test/goservice/kvclient.(*Client).loop", "runtime.goexit"];
        assert_eq!(name(&lib, Some("leakhound.test/goservice/kvclient.Dial")), "library-client-not-closed");
        assert_eq!(name(&lib, Some("main.startWorker")), "select-without-quit");
        let deep = ["runtime.gopark", "runtime.selectgo", "github.com/acme/kv/internal/conn.(*Conn).readLoop", "runtime.goexit"];
        assert_eq!(name(&deep, Some("github.com/acme/kv.NewClient")), "library-client-not-closed", "a constructor of the same repository");
        assert_eq!(name(&deep, Some("github.com/other/kv.NewClient")), "select-without-quit");
        let busy = ["runtime.Gosched", "main.busySpinner", "runtime.goexit"];
        assert_eq!(name(&busy, None), "busy-loop");
        assert_eq!(group(&busy, None).leaf_frame().function, "main.busySpinner");
        let sleep = ["runtime.gopark", "time.Sleep", "main.pollForever", "runtime.goexit"];
        assert_eq!(name(&sleep, None), "endless-loop");
    }

    #[test]
    fn unknown_stdlib_stacks_get_no_generic_guess() {
        let odd = ["runtime.gopark", "runtime.selectgo", "net/http.(*Server).somethingNew", "runtime.goexit"];
        assert_eq!(name(&odd, None), "stdlib-goroutines-growing");
        let own = ["runtime.gopark", "runtime.selectgo", "main.generatorWithoutQuit", "runtime.goexit"];
        assert_eq!(name(&own, None), "select-without-quit");
    }

    #[test]
    fn the_readme_lists_every_pattern() {
        let readme = include_str!("../../README.md");
        let listed = |name: &str| readme.lines().any(|l| l.starts_with(&format!("| `{name}` |")));
        for s in CATALOGUE {
            assert!(listed(s.pattern.name), "README's pattern table lacks {}", s.pattern.name);
            assert!(!s.source.is_empty() && s.pattern.fix.len() > 60, "{}", s.pattern.name);
        }
        assert!(listed(STDLIB_GOROUTINES.name));
    }

    #[test]
    fn constructors() {
        assert!(is_constructor("github.com/x/y.NewClient"));
        assert!(is_constructor("github.com/x/y.Dial.func1"));
        assert!(is_constructor("github.com/x/y.(*Pool).Open"));
        assert!(!is_constructor("github.com/x/y.(*Client).loop"));
    }

    #[test]
    fn a_label_is_the_programs_own_frame_never_the_lock() {
        // Two stacks waiting on one mutex at one line of the program, called from two handlers.
        let lock = |caller: &str| {
            let mut g = group(
                &[
                    "runtime.gopark",
                    "sync.runtime_SemacquireMutex",
                    "sync.(*Mutex).lockSlow",
                    "sync.(*Mutex).Lock",
                    "main.(*store).get",
                    caller,
                    "runtime.goexit",
                ],
                None,
            );
            g.frames[4].line = 40;
            g
        };
        let (a, b) = (lock("main.handleRead"), lock("main.handleList"));
        let leaves = distinct_leaves(&[&a, &b]);
        let names: Vec<&str> = leaves.iter().zip([&a, &b]).map(|(&i, g)| g.frames[i].function.as_str()).collect();
        assert_eq!(names, ["main.(*store).get", "main.handleList"]);
    }

    #[test]
    fn labels_are_distinct() {
        let idle = group(&io_wait(&["net/http.(*connReader).Read", "bufio.(*Reader).fill", "bufio.(*Reader).Peek", "net/http.(*conn).serve"]), None);
        let header = group(&io_wait(&["net/http.(*connReader).Read", "bufio.(*Reader).fill", "net/http.(*conn).readRequest", "net/http.(*conn).serve"]), None);
        let proxy = group(&["runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).roundTrip", "net/http.(*conn).serve", "runtime.goexit"], None);
        let body = group(&["runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).readLoop", "runtime.goexit"], None);
        let mut idle_client =
            group(&io_wait(&["net/http.(*persistConn).Read", "bufio.(*Reader).fill", "bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop"]), None);
        let n = idle_client.frames.len();
        idle_client.frames[n - 2].line = 2493;
        let both = [&body, &idle_client];
        let leaves = distinct_leaves(&both);
        assert_eq!(both[0].frames[leaves[0]].function, both[1].frames[leaves[1]].function, "one function ...");
        assert_ne!(both[0].frames[leaves[0]].line, both[1].frames[leaves[1]].line, "... at two lines");
        for groups in [[&idle, &header, &proxy, &body], [&proxy, &body, &header, &idle]] {
            let leaves = distinct_leaves(&groups);
            let names: Vec<&str> = groups.iter().zip(&leaves).map(|(g, &i)| g.frames[i].function.as_str()).collect();
            let of = |g: &GroupInfo| names[groups.iter().position(|x| std::ptr::eq(*x, g)).unwrap()];
            assert_eq!(of(&body), "net/http.(*persistConn).readLoop", "no clash: its own leaf");
            assert_eq!(of(&proxy), "net/http.(*persistConn).roundTrip");
            assert_eq!(of(&header), "net/http.(*conn).readRequest");
            assert_eq!(of(&idle), "net/http.(*conn).serve");
        }
    }
}
