package main

// Scenario "patterns": the leaks people hit in production, most of them
// entirely inside the standard library or a client library, each at -rate
// per second (see startPatterns). Every one is started by a named function
// of this package, so leakhound can name the code responsible.
//
//	patterns/http-body-not-closed        client: resp.Body never closed (readLoop in select + writeLoop)
//	patterns/http-transport-per-request  client: a new http.Transport per call (idle readLoop in IO wait);
//	                                     its server (no IdleTimeout) keeps an idle (*conn).serve each
//	patterns/http-server-held-conns      server without ReadHeaderTimeout: clients send half a header and hold
//	patterns/http-no-response            client without timeouts calling a backend that never answers
//	patterns/http-proxy-no-response      httputil.ReverseProxy to that backend (all standard library)
//	patterns/context-cancel-never-called context.WithCancel under a custom parent, cancel dropped
//	patterns/io-pipe-abandoned           io.Pipe writer whose reader went away
//	patterns/cond-never-signalled        sync.Cond.Wait with no Signal
//	patterns/sql-db-not-closed           sql.Open per call, never Close (connectionOpener)
//	patterns/afterfunc-blocked           time.AfterFunc callback blocked on a send
//	patterns/sleep-loop                  a polling loop with time.Sleep and no exit
//	patterns/signal-notifycontext        signal.NotifyContext per call, stop never called
//	patterns/library-client-not-closed   kvclient.Dial per call, Close never called
//	patterns/busy-loop                   goroutines spinning in runtime.Gosched (capped; GOMAXPROCS 1)
//
// Run it with GODEBUG=tracebackancestors=5 to get the creators' stacks in
// debug=2 dumps.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"leakhound.test/goservice/kvclient"
)

// busyCap bounds the spinning goroutines: each one keeps a CPU busy.
const busyCap = 24

var (
	// heldConns keeps client connections (and the server goroutines behind
	// them) alive: a net.Conn that becomes garbage is closed by its finalizer.
	heldMu    sync.Mutex
	heldConns []net.Conn
	// kept holds objects a leak must keep reachable (response bodies, clients).
	kept []any
)

func hold(c net.Conn) {
	heldMu.Lock()
	heldConns = append(heldConns, c)
	heldMu.Unlock()
}

func keep(v any) {
	heldMu.Lock()
	kept = append(kept, v)
	heldMu.Unlock()
}

// serveOn starts an http.Server on a new loopback listener and returns its URL.
func serveOn(srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

func okHandler(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }

// silentBackend accepts connections and never answers.
func silentBackend() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hold(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// --- net/http client ---------------------------------------------------------

var sharedClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

// fetchStatusOnly reads the status and forgets the body: the connection can
// never be reused or freed.
func fetchStatusOnly(u string) {
	resp, err := sharedClient.Get(u)
	if err != nil {
		return
	}
	keep(resp)
	sink(resp.StatusCode) // BUG: resp.Body never closed
}

// fetchWithNewClient makes a Transport per call: each call leaves an idle
// keep-alive connection behind.
func fetchWithNewClient(u string) {
	client := &http.Client{Transport: &http.Transport{}} // BUG: one per call
	resp, err := client.Get(u)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

var noTimeoutClient = &http.Client{Transport: &http.Transport{}} // BUG: no Timeout, no ResponseHeaderTimeout

// callSilentBackend waits forever for an answer.
func callSilentBackend(u string) {
	resp, err := noTimeoutClient.Get(u)
	if err == nil {
		resp.Body.Close()
	}
}

// --- net/http server ---------------------------------------------------------

// holdHalfRequest connects and sends half a request header, then holds the connection.
func holdHalfRequest(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", addr)
	hold(c)
}

// holdProxiedRequest sends a whole request through the proxy and never reads the answer.
func holdProxiedRequest(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	hold(c)
}

// --- context, io, sync, database/sql, time, os/signal -----------------------

// jobContext is a Context type the context package does not know: a child
// made with WithCancel needs a goroutine to watch it.
type jobContext struct {
	context.Context
	done chan struct{}
}

func (c *jobContext) Done() <-chan struct{} { return c.done }

var rootJob = &jobContext{Context: context.Background(), done: make(chan struct{})}

// startJobWithContext derives a context and drops its cancel function.
func startJobWithContext() {
	ctx, cancel := context.WithCancel(rootJob) // BUG: cancel never called
	keep(ctx)
	_ = cancel
}

// pipeWriter writes into a pipe nobody reads any more.
func pipeWriter(pw *io.PipeWriter) {
	pw.Write([]byte("report"))
	pw.Close()
}

// streamReport starts a writer and returns before reading (error path).
func streamReport() {
	pr, pw := io.Pipe()
	go pipeWriter(pw)
	if err := errors.New("simulated error"); err != nil {
		keep(pr)
		return // BUG: pr.Close() never called
	}
	io.Copy(io.Discard, pr)
}

// condWaiter waits for a condition nobody signals.
func condWaiter(c *sync.Cond, ready *bool) {
	c.L.Lock()
	for !*ready {
		c.Wait()
	}
	c.L.Unlock()
}

func startCondWaiter() {
	var mu sync.Mutex
	ready := false
	go condWaiter(sync.NewCond(&mu), &ready) // BUG: no Signal/Broadcast ever
}

// fakeDriver is a database/sql driver that never connects (sql.Open does not).
type fakeDriver struct{}

func (fakeDriver) Open(string) (driver.Conn, error) { return nil, errors.New("fake driver: no database") }

func init() { sql.Register("leaksvcfake", fakeDriver{}) }

// openDBPerRequest opens a *sql.DB per call and never closes it.
func openDBPerRequest() {
	db, err := sql.Open("leaksvcfake", "dsn") // BUG: db.Close() never called
	if err != nil {
		return
	}
	keep(db)
}

// scheduleCallback arms a timer whose callback sends to a channel nobody reads.
func scheduleCallback() {
	done := make(chan int) // BUG: nobody receives
	time.AfterFunc(time.Millisecond, func() { done <- 1 })
}

// pollForever polls every 50 ms and has no way to stop.
func pollForever() {
	for {
		time.Sleep(50 * time.Millisecond)
		sink(1)
	}
}

// watchSignals derives a context cancelled on SIGUSR1 and never stops it.
func watchSignals() {
	ctx, stop := signal.NotifyContext(rootJob, syscall.SIGUSR1) // BUG: stop never called
	keep(ctx)
	_ = stop
}

// lookupWithNewClient dials a client per call and never closes it.
func lookupWithNewClient() {
	c, err := kvclient.Dial("127.0.0.1:1") // BUG: c.Close() never called
	if err != nil {
		return
	}
	keep(c)
	sink(len(c.Get("k")))
}

// busySpinner spins without ever blocking.
func busySpinner() {
	for {
		runtime.Gosched()
	}
}

// ---------------------------------------------------------------------------

func startPatterns(rate float64) {
	d := every(rate)
	okURL := serveOn(&http.Server{Handler: http.HandlerFunc(okHandler), IdleTimeout: time.Second})
	keepURL := serveOn(&http.Server{Handler: http.HandlerFunc(okHandler)}) // BUG: no IdleTimeout
	heldAddr := serveOn(&http.Server{Handler: http.HandlerFunc(okHandler)})  // BUG: no ReadHeaderTimeout
	silent := silentBackend()
	target, _ := url.Parse(silent)
	proxyAddr := serveOn(&http.Server{Handler: httputil.NewSingleHostReverseProxy(target)})

	loop := func(name string, perCall int64, spawn func()) {
		go leakLoop("patterns/"+name, d, perCall, 0, spawn)
	}
	loop("http-body-not-closed", 2, func() { fetchStatusOnly(okURL) })
	loop("http-transport-per-request", 3, func() { fetchWithNewClient(keepURL) })
	loop("http-server-held-conns", 1, func() { holdHalfRequest(heldAddr[len("http://"):]) })
	loop("http-no-response", 3, func() { go callSilentBackend(silent) })
	loop("http-proxy-no-response", 4, func() { holdProxiedRequest(proxyAddr[len("http://"):]) })
	loop("context-cancel-never-called", 1, startJobWithContext)
	loop("io-pipe-abandoned", 1, streamReport)
	loop("cond-never-signalled", 1, startCondWaiter)
	loop("sql-db-not-closed", 1, openDBPerRequest)
	loop("afterfunc-blocked", 1, scheduleCallback)
	loop("sleep-loop", 1, func() { go pollForever() })
	loop("signal-notifycontext", 1, watchSignals)
	loop("library-client-not-closed", 1, lookupWithNewClient)
	runtime.GOMAXPROCS(1) // the spinners would take every CPU otherwise
	// Slower than the others, so that it still grows when the cap is near.
	go leakLoop("patterns/busy-loop", 3*d, 1, busyCap, func() { go busySpinner() })
}
