// Command leaksvc is the test service for leakhound's integration tests.
//
// It serves net/http/pprof on a loopback port and reproduces the classic
// goroutine leaks next to benign goroutines whose count moves but does not
// grow. Standard library only; builds with Go 1.19 up to current Go.
//
// Once it listens it prints exactly one line to stdout:
//
//	LISTENING http://127.0.0.1:PORT
//
// Scenarios (-scenario):
//
//	leaky     (default) every leak pattern at -rate goroutines/s, plus benign kinds
//	benign    only the benign kinds
//	slowleak  one main.forgottenSender every -slow-every, plus benign kinds
//	heap      main.retainingLeak and main.growingCache, plus benign kinds
//	shared    main.handleOrder at -rate/s, each leaking one main.notifyShipping
//	          and one main.auditOrder (two kinds, one creation site), plus benign kinds
//	demo      leaky + heap + shared at once, plus benign kinds (what `leakhound demo` replays)
//	none      only the pprof endpoints
//	patterns  the leaks of patterns.go (standard library and client library), plus benign kinds
//
// Leak patterns (every goroutine stays parked forever):
//
//	main.forgottenSender      chan send     (caller returned on timeout)
//	main.abandonedReceiver    chan receive  (nobody ever sends or closes)
//	main.rangeOverUnclosed    chan receive  (range over a channel never closed)
//	main.fanoutWorker         chan send     (2 of the 3 workers of main.fanoutFirstWins)
//	main.generatorWithoutQuit select        (quit never closed, out no longer read)
//	main.lockNeverReleased    sync.Mutex.Lock on the global leakedMu
//	main.waitGroupNeverDone   sync.WaitGroup.Wait, Done never called
//	main.nilChannelSend       chan send (nil chan), at -rate/5
//	main.retainingLeak        chan receive, holding a 1 MiB []byte from main.newRetainedBuffer (heap scenario)
//	main.notifyShipping       chan send     (started by main.handleOrder; shared scenario)
//	main.auditOrder           chan receive  (started by main.handleOrder; shared scenario)
//
// Benign goroutines: main.burstWorker (a burst of -burst-size every
// -burst-every, first after half a period, drained within ~1-2 s),
// 8 x main.backgroundTicker, main.loadGenerator + main.loadRequest (-load
// concurrent requests to /work, handled by main.workHandler, 20-80 ms each),
// main.leakLoop (one per active leak pattern; exits when -max-leak is reached),
// main.growingCache (heap scenario; its map grows through main.(*cache).grow).
//
// Other endpoints: /work (used by the load generator), /leaks (JSON counts of
// leaked goroutines per function, or cache entries for main.(*cache).grow),
// / (hello). With -nopprof only these are served.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// hardGoroutineCap bounds all leaked goroutines together so a test
	// process never exceeds ~20k goroutines, whatever -rate and -max-leak say.
	hardGoroutineCap = 18000
	// hardHeapCap bounds the MiB retained by each heap pattern.
	hardHeapCap = 512
	maxRate     = 1000
)

var (
	flagAddr       = flag.String("addr", "127.0.0.1:0", "listen address")
	flagScenario   = flag.String("scenario", "leaky", "leaky | benign | slowleak | heap | shared | demo | none | patterns | slowtrend | churn | warmup")
	flagRate       = flag.Float64("rate", 5, "leaked goroutines per second per pattern (capped at 1000)")
	flagSlowEvery  = flag.Duration("slow-every", 3*time.Second, "slowleak: one main.forgottenSender every this long")
	flagToken      = flag.String("token", "", "if set, pprof endpoints require 'Authorization: Bearer TOKEN'")
	flagNoPprof    = flag.Bool("nopprof", false, "serve no pprof endpoints at all")
	flagPrefix     = flag.String("prefix", "/debug/pprof", "URL prefix of the pprof endpoints")
	flagMaxLeak    = flag.Int64("max-leak", 0, "stop after this many leaked goroutines per pattern (0 = unlimited)")
	flagLoad       = flag.Int("load", 50, "concurrent requests of main.loadGenerator against /work (0 = none)")
	flagBurstEvery = flag.Duration("burst-every", 10*time.Second, "period of the main.burstWorker bursts (0 = none)")
	flagBurstSize  = flag.Int("burst-size", 200, "goroutines per main.burstWorker burst")
	flagMemRate    = flag.Int("memprofilerate", -1, "runtime.MemProfileRate (-1: 65536 for scenario heap, Go default otherwise)")
	flagStdinEOF   = flag.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF (lets a test harness avoid orphans)")
)

// shutdown is closed on SIGINT/SIGTERM. It is a global, so goroutines that
// select on it are never reported by the runtime's goroutine leak detector.
var shutdown = make(chan struct{})

// ---------------------------------------------------------------------------
// Accounting

var totalLeaked int64

var counts = struct {
	sync.Mutex
	m map[string]int64
}{m: map[string]int64{}}

func count(name string, n int64) {
	counts.Lock()
	counts.m[name] += n
	counts.Unlock()
}

// reserve takes n goroutines from the global budget.
func reserve(n int64) bool {
	if atomic.AddInt64(&totalLeaked, n) > hardGoroutineCap {
		atomic.AddInt64(&totalLeaked, -n)
		return false
	}
	return true
}

var sinkVal int64

//go:noinline
func sink(v int) { atomic.AddInt64(&sinkVal, int64(v)) }

// leakLoop calls spawn every interval; each call leaks perCall goroutines of
// the function name (when name is "", spawn counts them itself). It stops
// (and the loop goroutine exits) once -max-leak goroutines (or hardCap, if
// > 0) have been leaked for this pattern.
func leakLoop(name string, interval time.Duration, perCall int64, hardCap int64, spawn func()) {
	limit := *flagMaxLeak
	if hardCap > 0 && (limit <= 0 || limit > hardCap) {
		limit = hardCap
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var n int64
	for {
		if limit > 0 && n >= limit {
			return
		}
		select {
		case <-shutdown:
			return
		case <-t.C:
		}
		if !reserve(perCall) {
			continue
		}
		n += perCall
		spawn()
		if name != "" {
			count(name, perCall)
		}
	}
}

// ---------------------------------------------------------------------------
// Leak patterns

// callWithTimeout asks a slow backend for a result but gives up after a
// timeout. The result channel is unbuffered, so the backend goroutine
// (forgottenSender) blocks forever on its send once the caller is gone.
func callWithTimeout() {
	results := make(chan int) // BUG: should be buffered (cap 1)
	backend := make(chan struct{})
	go forgottenSender(results, backend)
	defer close(backend) // the backend answers only after the caller gave up
	select {
	case r := <-results:
		sink(r)
	case <-time.After(2 * time.Millisecond):
		return
	}
}

// forgottenSender parks on "chan send".
func forgottenSender(results chan<- int, backend <-chan struct{}) {
	<-backend
	results <- 42
}

// abandonedReceiver parks on "chan receive": nobody ever sends or closes.
func abandonedReceiver(in <-chan int) {
	v := <-in
	sink(v)
}

// startRangeConsumer hands two values to a consumer, then forgets to close.
func startRangeConsumer() {
	ch := make(chan int, 2)
	ch <- 1
	ch <- 2
	go rangeOverUnclosed(ch)
}

// rangeOverUnclosed parks on "chan receive" in its range loop.
func rangeOverUnclosed(ch <-chan int) {
	for v := range ch {
		sink(v)
	}
}

// fanoutFirstWins asks three replicas and keeps the first answer; the two
// slower fanoutWorker goroutines block forever on the unbuffered send.
func fanoutFirstWins() {
	answers := make(chan int) // BUG: should be buffered (cap 3)
	for i := 0; i < 3; i++ {
		go fanoutWorker(answers, i)
	}
	first := <-answers
	sink(first)
}

// fanoutWorker parks on "chan send" (2 of 3 of them).
func fanoutWorker(answers chan<- int, replica int) {
	time.Sleep(time.Duration(replica+1) * time.Millisecond)
	answers <- replica
}

// consumeFirst takes one value from a generator and returns without
// closing quit.
func consumeFirst() {
	out := make(chan int)
	quit := make(chan struct{}) // BUG: never closed
	go generatorWithoutQuit(out, quit)
	sink(<-out)
}

// generatorWithoutQuit parks on "select" after its first value.
func generatorWithoutQuit(out chan<- int, quit <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case out <- i:
		case <-quit:
			return
		}
	}
}

// leakedMu is locked once by lockHolder and never unlocked.
var leakedMu sync.Mutex

// lockHolder takes leakedMu and returns on an error path without Unlock.
func lockHolder(locked chan<- struct{}) {
	leakedMu.Lock()
	if err := fmt.Errorf("simulated error"); err != nil {
		close(locked)
		return // BUG: leakedMu stays locked
	}
	leakedMu.Unlock()
}

// lockNeverReleased parks on leakedMu.Lock() ("semacquire" on Go 1.19,
// "sync.Mutex.Lock" later).
func lockNeverReleased(v int) {
	leakedMu.Lock()
	sink(v)
	leakedMu.Unlock()
}

// startBatch adds a job to a WaitGroup and skips it without Done.
func startBatch() {
	wg := new(sync.WaitGroup)
	wg.Add(1) // BUG: the job is never started, Done never called
	go waitGroupNeverDone(wg)
}

// waitGroupNeverDone parks in wg.Wait() ("semacquire" on Go 1.19,
// "sync.WaitGroup.Wait" later).
func waitGroupNeverDone(wg *sync.WaitGroup) {
	wg.Wait()
	sink(1)
}

// nilChannelSend parks on "chan send (nil chan)".
func nilChannelSend(v int) {
	var results chan int // BUG: the make() was forgotten
	results <- v
}

// retainingLeak holds 1 MiB (allocated by its callee newRetainedBuffer, so
// pprof attributes it to retainingLeak cumulatively, not flat), then parks on
// "chan receive".
func retainingLeak(in <-chan int) {
	buf := newRetainedBuffer()
	v := <-in
	buf[0] = byte(v)
	runtime.KeepAlive(buf)
}

// newRetainedBuffer allocates and touches 1 MiB.
//
//go:noinline
func newRetainedBuffer() []byte {
	buf := make([]byte, 1<<20)
	for i := 0; i < len(buf); i += 512 {
		buf[i] = byte(i)
	}
	return buf
}

// handleOrder handles one order and returns at once, without waiting for
// the two helpers it starts: both leak, so two leaking kinds share this
// creation site.
func handleOrder(id int) {
	confirmed := make(chan int) // BUG: nobody reads the confirmation
	go notifyShipping(confirmed, id)
	audit := make(chan int) // BUG: nothing is ever sent on or closed
	go auditOrder(audit)
	count("main.notifyShipping", 1)
	count("main.auditOrder", 1)
}

// notifyShipping parks on "chan send".
func notifyShipping(confirmed chan<- int, id int) {
	confirmed <- id
}

// auditOrder parks on "chan receive".
func auditOrder(in <-chan int) {
	sink(<-in)
}

type cache struct {
	mu sync.Mutex
	m  map[int][]byte
}

// globalCache only ever grows (no eviction).
var globalCache = &cache{m: map[int][]byte{}}

// grow adds 256 KiB to the cache.
//
//go:noinline
func (c *cache) grow() {
	b := make([]byte, 256<<10)
	for i := 0; i < len(b); i += 512 {
		b[i] = byte(i)
	}
	c.mu.Lock()
	c.m[len(c.m)] = b
	c.mu.Unlock()
}

// growingCache grows globalCache once per interval, at most limit times.
func growingCache(interval time.Duration, limit int64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var n int64
	for {
		select {
		case <-shutdown:
			return
		case <-t.C:
		}
		if n < limit {
			n++
			globalCache.grow()
			count("main.(*cache).grow", 1)
		}
	}
}

// ---------------------------------------------------------------------------
// Benign goroutines

// burstDispatcher runs a burst of size burstWorker goroutines every period,
// the first after half a period.
func burstDispatcher(every time.Duration, size int) {
	first := time.NewTimer(every / 2)
	defer first.Stop()
	select {
	case <-shutdown:
		return
	case <-first.C:
	}
	runBurst(size)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-shutdown:
			return
		case <-t.C:
			runBurst(size)
		}
	}
}

func runBurst(size int) {
	jobs := make(chan int, size)
	for i := 0; i < size; i++ {
		jobs <- i
	}
	close(jobs)
	for i := 0; i < size; i++ {
		go burstWorker(jobs)
	}
}

// burstWorker drains the job queue (200-900 ms per job) and exits.
func burstWorker(jobs <-chan int) {
	for j := range jobs {
		time.Sleep(time.Duration(200+rand.Intn(700)) * time.Millisecond)
		sink(j)
	}
}

var ticks int64

// backgroundTicker is a long-lived periodic task.
func backgroundTicker(id int, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			atomic.AddInt64(&ticks, int64(id))
		case <-shutdown:
			return
		}
	}
}

// loadGenerator keeps concurrency requests to url in flight.
func loadGenerator(url string, concurrency int) {
	client := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        concurrency * 2,
			MaxIdleConnsPerHost: concurrency * 2,
			DisableCompression:  true,
		},
		Timeout: 10 * time.Second,
	}
	sem := make(chan struct{}, concurrency)
	for {
		select {
		case <-shutdown:
			return
		case sem <- struct{}{}:
		}
		go loadRequest(client, url, sem)
	}
}

func loadRequest(client *http.Client, url string, sem <-chan struct{}) {
	defer func() { <-sem }()
	resp, err := client.Get(url)
	if err != nil {
		time.Sleep(100 * time.Millisecond)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// workHandler answers after 20-80 ms.
func workHandler(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Duration(20+rand.Intn(61)) * time.Millisecond)
	io.WriteString(w, "done\n")
}

// ---------------------------------------------------------------------------
// HTTP

func leaksHandler(w http.ResponseWriter, r *http.Request) {
	counts.Lock()
	m := make(map[string]int64, len(counts.m))
	for k, v := range counts.m {
		m[k] = v
	}
	counts.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(m)
}

func helloHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	io.WriteString(w, "hello from leaksvc\n")
}

func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := "Bearer " + token
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pprof"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

var profileNames = []string{"goroutine", "goroutineleak", "heap", "allocs", "block", "mutex", "threadcreate"}

func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", helloHandler)
	mux.HandleFunc("/work", workHandler)
	mux.HandleFunc("/leaks", leaksHandler)
	mux.HandleFunc("/poll", longPollHandler)
	mux.HandleFunc("/churn", churnHandler)
	if *flagNoPprof {
		return mux
	}
	prefix := "/" + strings.Trim(*flagPrefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	handle := func(path string, h http.Handler) {
		mux.Handle(path, requireToken(*flagToken, h))
	}
	// P/ serves the index for P/ and any other runtime profile by name
	// (pprof.Index only understands the /debug/pprof/ prefix by itself).
	handle(prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, prefix+"/")
		if name == "goroutineleak" && !*flagServeLeak {
			http.Error(w, "Unknown profile", http.StatusNotFound)
			return
		}
		if name == "" {
			pprof.Index(w, r)
			return
		}
		pprof.Handler(name).ServeHTTP(w, r)
	}))
	for _, name := range profileNames {
		if name == "goroutineleak" && !*flagServeLeak {
			continue // the catch-all above answers 404
		}
		// On Go < 1.26 goroutineleak answers 404 "Unknown profile".
		handle(prefix+"/"+name, pprof.Handler(name))
	}
	handle(prefix+"/cmdline", http.HandlerFunc(pprof.Cmdline))
	handle(prefix+"/profile", http.HandlerFunc(pprof.Profile))
	handle(prefix+"/symbol", http.HandlerFunc(pprof.Symbol))
	handle(prefix+"/trace", http.HandlerFunc(pprof.Trace))
	return mux
}

// ---------------------------------------------------------------------------

func every(rate float64) time.Duration {
	d := time.Duration(float64(time.Second) / rate)
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}

func startBenign(base string) {
	if *flagBurstEvery > 0 && *flagBurstSize > 0 {
		go burstDispatcher(*flagBurstEvery, *flagBurstSize)
	}
	for i := 1; i <= 8; i++ {
		go backgroundTicker(i, time.Duration(100*i)*time.Millisecond)
	}
	if *flagLoad > 0 {
		go loadGenerator(base+"/work", *flagLoad)
	}
}

func startLeaky(rate float64) {
	d := every(rate)
	go leakLoop("main.forgottenSender", d, 1, 0, spawnCallWithTimeout)
	go leakLoop("main.abandonedReceiver", d, 1, 0, spawnAbandonedReceiver)
	go leakLoop("main.rangeOverUnclosed", d, 1, 0, startRangeConsumer)
	go leakLoop("main.fanoutWorker", d, 2, 0, spawnFanout)
	go leakLoop("main.generatorWithoutQuit", d, 1, 0, spawnConsumeFirst)
	locked := make(chan struct{})
	go lockHolder(locked)
	<-locked
	go leakLoop("main.lockNeverReleased", d, 1, 0, spawnLockWaiter)
	go leakLoop("main.waitGroupNeverDone", d, 1, 0, startBatch)
	go leakLoop("main.nilChannelSend", every(rate/5), 1, 0, spawnNilChannelSend)
}

// Named spawners, so every leaked goroutine has a named "created by" frame.
func spawnCallWithTimeout()   { go callWithTimeout() }
func spawnAbandonedReceiver() { go abandonedReceiver(make(chan int)) }
func spawnFanout()            { go fanoutFirstWins() }
func spawnConsumeFirst()      { go consumeFirst() }
func spawnLockWaiter()        { go lockNeverReleased(1) }
func spawnNilChannelSend()    { go nilChannelSend(7) }
func spawnRetainingLeak()     { go retainingLeak(make(chan int)) }
func spawnHandleOrder()       { go handleOrder(1) }

func startHeap(rate float64) {
	d := every(rate)
	go leakLoop("main.retainingLeak", d, 1, hardHeapCap, spawnRetainingLeak)
	limit := int64(hardHeapCap * 4) // 256 KiB entries
	if *flagMaxLeak > 0 && *flagMaxLeak < limit {
		limit = *flagMaxLeak
	}
	go growingCache(d, limit)
}

func main() {
	flag.Parse()
	rate := *flagRate
	if rate <= 0 {
		fmt.Fprintln(os.Stderr, "leaksvc: -rate must be > 0")
		os.Exit(2)
	}
	if rate > maxRate {
		rate = maxRate
	}
	switch *flagScenario {
	case "leaky", "benign", "slowleak", "heap", "shared", "demo", "none", "patterns":
	case "slowtrend", "churn", "warmup":
	default:
		fmt.Fprintf(os.Stderr, "leaksvc: unknown -scenario %q (leaky, benign, slowleak, heap, shared, demo, none, patterns, slowtrend, churn, warmup)\n", *flagScenario)
		os.Exit(2)
	}
	if *flagMemRate >= 0 {
		runtime.MemProfileRate = *flagMemRate
	} else if *flagScenario == "heap" || *flagScenario == "demo" {
		runtime.MemProfileRate = 64 << 10
	}

	ln, err := net.Listen("tcp", *flagAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "leaksvc: listen %s: %v\n", *flagAddr, err)
		os.Exit(1)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: newMux(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	switch *flagScenario {
	case "leaky":
		startLeaky(rate)
		startBenign(base)
	case "benign":
		startBenign(base)
	case "slowleak":
		go leakLoop("main.forgottenSender", *flagSlowEvery, 1, 0, spawnCallWithTimeout)
		startBenign(base)
	case "heap":
		startHeap(rate)
		startBenign(base)
	case "shared":
		go leakLoop("", every(rate), 2, 0, spawnHandleOrder)
		startBenign(base)
	case "patterns": // patterns.go: leaks inside the standard library and a client library
		startPatterns(rate)
		startBenign(base)
	case "demo": // what `leakhound demo` replays: every kind of leak at once
		startLeaky(rate)
		startHeap(rate)
		go leakLoop("", every(rate), 2, 0, spawnHandleOrder)
		startBenign(base)
	default:
		startTrendScenario(*flagScenario, base, rate)
	}

	fmt.Fprintf(os.Stdout, "LISTENING %s\n", base)
	os.Stdout.Sync()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	stdinEOF := make(chan struct{})
	if *flagStdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(stdinEOF)
		}()
	}
	select {
	case <-sig:
	case <-stdinEOF:
	}
	close(shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	os.Exit(0)
}

// ---------------------------------------------------------------------------
// Trend scenarios (slow leaks judged by growth alone, and benign look-alikes)
//
//	slowtrend  main.minuteLeak (one every -trend-every) and main.twoMinuteLeak
//	           (one every 2 x -trend-every), plus the look-alikes and the benign kinds
//	churn      the look-alikes and the benign kinds under heavy load, plus main.churnClient:
//	           a new connection per request, in-flight requests re-drawn every 5 s (20-250),
//	           each main.churnHandler fanning out to short main.churnTask goroutines; nothing leaks
//	warmup     main.pausingLeak (-rate/s, pausing 2 s in every 6 s) next to the
//	           look-alikes, whose pool warms up over -warmup
//
// Look-alikes (benign, but each resembles a leak over part of a window):
//
//	main.poolWorker       a pool that grows to -pool-size over -warmup, then holds
//	main.keepAliveClient  -keepalive clients, each with its own connection, polling /work
//	main.longPollClient   -longpolls clients, each holding /poll (main.longPollHandler) 5-25 s, then reconnecting
//	main.sweepWorker      a sawtooth: one more every -sweep-period/25, all exit at the end of each period

var (
	flagTrendEvery  = flag.Duration("trend-every", time.Minute, "slowtrend: one main.minuteLeak every this long (main.twoMinuteLeak every twice as long)")
	flagWarmup      = flag.Duration("warmup", 10*time.Second, "look-alikes: main.poolWorker reaches -pool-size over this long")
	flagPoolSize    = flag.Int("pool-size", 60, "look-alikes: main.poolWorker goroutines once warm")
	flagKeepAlive   = flag.Int("keepalive", 12, "look-alikes: main.keepAliveClient goroutines")
	flagLongPolls   = flag.Int("longpolls", 20, "look-alikes: main.longPollClient goroutines")
	flagSweepPeriod = flag.Duration("sweep-period", 100*time.Second, "look-alikes: period of the main.sweepWorker sawtooth")
	flagServeLeak   = flag.Bool("serve-goroutineleak", true, "serve /debug/pprof/goroutineleak (false: 404, as on Go < 1.26)")
)

// minuteLeak and twoMinuteLeak park on "chan receive" forever.
func minuteLeak(in <-chan int)    { sink(<-in) }
func twoMinuteLeak(in <-chan int) { sink(<-in) }

// pausingLeak parks on "chan send": nobody receives.
func pausingLeak(out chan<- int) { out <- 1 }

func spawnMinuteLeak()    { go minuteLeak(make(chan int)) }
func spawnTwoMinuteLeak() { go twoMinuteLeak(make(chan int)) }
func spawnPausingLeak()   { go pausingLeak(make(chan int)) }

// pausingLeakLoop leaks at rate/s, but not during the last 2 s of every 6 s.
func pausingLeakLoop(rate float64) {
	t := time.NewTicker(every(rate))
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-shutdown:
			return
		case <-t.C:
		}
		if time.Since(start)%(6*time.Second) >= 4*time.Second || !reserve(1) {
			continue
		}
		spawnPausingLeak()
		count("main.pausingLeak", 1)
	}
}

var poolJobs = make(chan int)

// poolWorker is one worker of a pool that warms up, then holds its size.
func poolWorker() {
	for {
		select {
		case j := <-poolJobs:
			sink(j)
		case <-shutdown:
			return
		}
	}
}

// warmPool starts size poolWorkers evenly over warmup, and feeds them.
func warmPool(size int, warmup time.Duration) {
	step := warmup / time.Duration(size)
	for i := 0; i < size; i++ {
		go poolWorker()
		time.Sleep(step)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-shutdown:
			return
		case <-t.C:
			select {
			case poolJobs <- i:
			case <-shutdown:
				return
			}
		}
	}
}

// keepAliveClient polls url every 2 s on its own keep-alive connection.
func keepAliveClient(url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case <-shutdown:
			return
		case <-t.C:
		}
	}
}

// longPollClient holds a long poll open, and opens the next when it returns.
func longPollClient(url string, client *http.Client) {
	for {
		select {
		case <-shutdown:
			return
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// longPollHandler answers after 5-25 s, or when the client goes.
func longPollHandler(w http.ResponseWriter, r *http.Request) {
	t := time.NewTimer(time.Duration(5000+rand.Intn(20000)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-shutdown:
	}
	io.WriteString(w, "poll\n")
}

// sweeper runs the sawtooth: every period it starts 25 sweepWorkers one by
// one, which all exit together at the end of the period.
func sweeper(period time.Duration) {
	for {
		done := make(chan struct{})
		for i := 0; i < 25; i++ {
			go sweepWorker(done)
			select {
			case <-shutdown:
				close(done)
				return
			case <-time.After(period / 25):
			}
		}
		close(done)
	}
}

func sweepWorker(done <-chan struct{}) { <-done }

// churnController re-draws the number of main.churnClient requests in flight every 5 s.
func churnController(url string) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var target int64 = 100
	for i := 0; i < 250; i++ {
		go churnClient(url, client, i, &target)
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-shutdown:
			return
		case <-t.C:
			atomic.StoreInt64(&target, int64(20+rand.Intn(231)))
		}
	}
}

// churnClient i sends requests while i is below the target, on a new connection each time.
func churnClient(url string, client *http.Client, i int, target *int64) {
	for {
		select {
		case <-shutdown:
			return
		default:
		}
		if int64(i) >= atomic.LoadInt64(target) {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// churnHandler fans out to 1-4 churnTasks and waits for them all.
func churnHandler(w http.ResponseWriter, r *http.Request) {
	n := 1 + rand.Intn(4)
	var wg sync.WaitGroup
	results := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go churnTask(&wg, results)
	}
	wg.Wait()
	io.WriteString(w, "churned\n")
}

// churnTask works 5-300 ms, mostly briefly.
func churnTask(wg *sync.WaitGroup, results chan<- int) {
	defer wg.Done()
	d := time.Duration(5+rand.ExpFloat64()*60) * time.Millisecond
	if d > 300*time.Millisecond {
		d = 300 * time.Millisecond
	}
	time.Sleep(d)
	results <- int(d)
}

func startLookalikes(base string) {
	go warmPool(*flagPoolSize, *flagWarmup)
	for i := 0; i < *flagKeepAlive; i++ {
		go keepAliveClient(base + "/work")
	}
	pollClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *flagLongPolls + 1}}
	for i := 0; i < *flagLongPolls; i++ {
		go longPollClient(base+"/poll", pollClient)
	}
	if *flagSweepPeriod > 0 {
		go sweeper(*flagSweepPeriod)
	}
}

// startTrendScenario starts the scenarios of this block; false if name is not one.
func startTrendScenario(name, base string, rate float64) bool {
	switch name {
	case "slowtrend":
		go leakLoop("main.minuteLeak", *flagTrendEvery, 1, 0, spawnMinuteLeak)
		go leakLoop("main.twoMinuteLeak", 2**flagTrendEvery, 1, 0, spawnTwoMinuteLeak)
	case "churn":
		go churnController(base + "/churn")
	case "warmup":
		go pausingLeakLoop(rate)
	default:
		return false
	}
	startLookalikes(base)
	startBenign(base)
	return true
}
