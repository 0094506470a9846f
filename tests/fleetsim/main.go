// fleetsim: one Go process that is a whole fleet of leakhound targets, for `leakhound serve`'s
// tests and benchmarks (tests/serve.rs, bench/serve-fleet.sh).
//
// It listens on -targets ports of 127.0.0.1, one target each, and prints
//
//	TARGET <index> http://127.0.0.1:<port> leaking|benign
//	...
//	ready
//
// once every port listens (and writes a Prometheus file_sd file of them with -file-sd).
//
// What is real and what is not:
//   - Every target's goroutines are real goroutines of this process, started inside
//     pprof.Do(pprof.Labels("fleetsim_target", "<index>")) so they (and the goroutines they start)
//     carry the target's label: a benign pool waiting for work, a ticker loop, request-like
//     goroutines that come and go, and on the first -leaking targets goroutines that leak at
//     -rate per second, blocked forever on a chan send, a chan receive, a sync.Mutex or a select
//     (by target index modulo 4: leakChanSend, leakChanReceive, leakMutex, leakSelect).
//   - GET /debug/pprof/goroutine on a target's port is the real runtime/pprof goroutine profile
//     of this process (protobuf, gzipped, as net/http/pprof serves it) with the samples of other
//     targets removed: the protobuf is read field by field and only the samples labelled with
//     this target's index are kept, every other field byte for byte. So each target's profile
//     is distinct, with its own counts, real stacks, real time, and the real cost of taking a
//     goroutine profile of the whole process (which a fleet of separate services would pay
//     per service, on a smaller process).
//   - Not real: the goroutines every service has of its own (the HTTP server's, the profile
//     request's writer) are unlabelled here and left out of every target's profile; all
//     targets share one runtime, so one target cannot "restart" alone. Only the protobuf
//     goroutine profile is served: ?debug=1 or ?debug=2, goroutineleak and heap answer 404/501.
//   - -cache D reuses one profile of the process for D (default 0: a fresh profile per
//     request), for benchmarks of hundreds of targets where taking the whole process's profile
//     once per target and round would measure fleetsim rather than leakhound.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

var (
	flagTargets   = flag.Int("targets", 10, "number of targets (ports)")
	flagLeaking   = flag.Int("leaking", 2, "the first this many targets leak")
	flagRate      = flag.Float64("rate", 2, "leaked goroutines per second per leaking target")
	flagMaxLeak   = flag.Int("max-leak", 5000, "a leaking target stops after this many leaked goroutines (bounds the process)")
	flagWorkers   = flag.Int("workers", 4, "benign pool goroutines per target")
	flagChurn     = flag.Duration("churn-every", 100*time.Millisecond, "each target starts a short-lived request goroutine this often (0: none)")
	flagBasePort  = flag.Int("base-port", 0, "listen on ports base-port .. base-port+targets-1 (0: free ports)")
	flagFileSD    = flag.String("file-sd", "", "write a Prometheus file_sd JSON file of the targets here")
	flagCache     = flag.Duration("cache", 0, "reuse one goroutine profile of the process for this long (0: a fresh one per request)")
	flagStdinEOF  = flag.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF (lets a test harness avoid orphans)")
	labelKey      = "fleetsim_target"
	maxTargets    = 5000
	leakKindNames = []string{"chan-send", "chan-receive", "mutex", "select"}
)

func main() {
	flag.Parse()
	if *flagTargets < 1 || *flagTargets > maxTargets {
		fail("-targets must be in 1..%d", maxTargets)
	}
	if *flagLeaking < 0 || *flagLeaking > *flagTargets {
		fail("-leaking must be in 0..-targets")
	}
	if *flagRate <= 0 || *flagRate > 1000 {
		fail("-rate must be in (0, 1000]")
	}
	listeners := make([]net.Listener, *flagTargets)
	for i := range listeners {
		addr := "127.0.0.1:0"
		if *flagBasePort > 0 {
			addr = fmt.Sprintf("127.0.0.1:%d", *flagBasePort+i)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fail("listen %s: %v", addr, err)
		}
		listeners[i] = l
	}
	profiles := &profileSource{cache: *flagCache}
	type entry struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var sd []entry
	for i, l := range listeners {
		leaking := i < *flagLeaking
		startTarget(i, leaking)
		mux := http.NewServeMux()
		mux.Handle("/debug/pprof/goroutine", targetHandler(i, profiles))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		kind := "benign"
		if leaking {
			kind = "leaking"
		}
		addr := l.Addr().String()
		fmt.Printf("TARGET %d http://%s %s\n", i, addr, kind)
		sd = append(sd, entry{Targets: []string{addr}, Labels: map[string]string{"job": "fleetsim", "kind": kind, "replica": strconv.Itoa(i)}})
	}
	if *flagFileSD != "" {
		b, _ := json.MarshalIndent(sd, "", "  ")
		tmp := *flagFileSD + ".tmp"
		if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
			fail("writing %s: %v", tmp, err)
		}
		if err := os.Rename(tmp, *flagFileSD); err != nil {
			fail("renaming %s: %v", tmp, err)
		}
	}
	fmt.Println("ready")
	if *flagStdinEOF {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	select {}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fleetsim: "+format+"\n", args...)
	os.Exit(2)
}

// startTarget starts the goroutines of target i, all labelled with its index.
func startTarget(i int, leaking bool) {
	labels := pprof.Labels(labelKey, strconv.Itoa(i))
	pprof.Do(context.Background(), labels, func(ctx context.Context) {
		jobs := make(chan int)
		for w := 0; w < *flagWorkers; w++ {
			go poolWorker(jobs)
		}
		go dispatcher(jobs)
		go tickerLoop()
		if *flagChurn > 0 {
			go churnLoop(*flagChurn)
		}
		if leaking {
			go leakLoop(i % len(leakKindNames))
		}
	})
}

// Benign: a pool that waits for work, gets some, and goes back to waiting.
func poolWorker(jobs <-chan int) {
	for j := range jobs {
		time.Sleep(time.Duration(j) * time.Millisecond)
	}
}

func dispatcher(jobs chan<- int) {
	for {
		time.Sleep(50 * time.Millisecond)
		jobs <- rand.Intn(5)
	}
}

func tickerLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range t.C {
	}
}

// Benign churn: request-like goroutines that come and go.
func churnLoop(every time.Duration) {
	for {
		time.Sleep(every)
		go shortRequest(5 + rand.Intn(45))
	}
}

func shortRequest(ms int) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
}

// Leaks: one goroutine every 1/-rate seconds, blocked forever, up to -max-leak.
func leakLoop(kind int) {
	every := time.Duration(float64(time.Second) / *flagRate)
	var mu sync.Mutex
	mu.Lock() // never unlocked: every leakMutex waits forever
	for n := 0; n < *flagMaxLeak; n++ {
		switch kind {
		case 0:
			go leakChanSend(make(chan int))
		case 1:
			go leakChanReceive(make(chan int))
		case 2:
			go leakMutex(&mu)
		default:
			go leakSelect(make(chan int), make(chan struct{}))
		}
		time.Sleep(every)
	}
	select {}
}

func leakChanSend(ch chan<- int) { ch <- 1 }

func leakChanReceive(ch <-chan int) { <-ch }

func leakMutex(mu *sync.Mutex) { mu.Lock() }

func leakSelect(in <-chan int, quit <-chan struct{}) {
	for {
		select {
		case <-in:
		case <-quit:
			return
		}
	}
}

// profileSource takes the process's goroutine profile (uncompressed protobuf), optionally cached.
// A cached profile is split by target once (see splitByLabel), so that answering one target costs
// the size of its own samples rather than a scan of the whole process's profile: with thousands
// of targets, scanning per request made fleetsim's cost grow with the square of the fleet.
type profileSource struct {
	cache time.Duration
	mu    sync.Mutex
	at    time.Time
	split *labelSplit
}

func (s *profileSource) take() ([]byte, error) {
	var gz bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&gz, 0); err != nil {
		return nil, err
	}
	r, err := gzip.NewReader(&gz)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// get returns the profile with only the samples labelled key=value.
func (s *profileSource) get(key, value string) ([]byte, error) {
	if s.cache <= 0 {
		raw, err := s.take()
		if err != nil {
			return nil, err
		}
		sp, err := splitByLabel(raw, key)
		if err != nil {
			return nil, err
		}
		return sp.only(value), nil
	}
	s.mu.Lock()
	if s.split == nil || time.Since(s.at) >= s.cache {
		raw, err := s.take()
		if err == nil {
			var sp *labelSplit
			if sp, err = splitByLabel(raw, key); err == nil {
				s.split, s.at = sp, time.Now()
			}
		}
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	sp := s.split
	s.mu.Unlock()
	return sp.only(value), nil
}

// only returns the profile with just the samples labelled with value.
func (sp *labelSplit) only(value string) []byte {
	mine := sp.samples[value]
	out := make([]byte, 0, len(sp.head)+len(mine)+len(sp.tail))
	return append(append(append(out, sp.head...), mine...), sp.tail...)
}

// labelSplit is one profile cut in three: the fields before its first sample, every sample by the
// value of one label key, and the other fields after it. head+samples[v]+tail holds the fields of the profile
// with only those samples, each field number's in the same order; only fields of different numbers
// (samples and the locations runtime/pprof writes between them) change places, which protobuf ignores.
type labelSplit struct {
	head, tail []byte
	samples    map[string][]byte
}

func splitByLabel(p []byte, key string) (*labelSplit, error) {
	type field struct {
		num       uint64
		raw, body []byte
	}
	var fields []field
	var strs []string
	for rest := p; len(rest) > 0; {
		start := rest
		num, _, body, next, err := readField(rest)
		if err != nil {
			return nil, err
		}
		rest = next
		fields = append(fields, field{num: num, raw: start[:len(start)-len(rest)], body: body})
		if num == 6 { // string_table
			strs = append(strs, string(body))
		}
	}
	keyIdx := int64(-1)
	for n, s := range strs {
		if s == key {
			keyIdx = int64(n)
			break
		}
	}
	sp := &labelSplit{samples: map[string][]byte{}}
	seenSample := false
	for _, f := range fields {
		if f.num != 2 { // not a sample
			if seenSample {
				sp.tail = append(sp.tail, f.raw...)
			} else {
				sp.head = append(sp.head, f.raw...)
			}
			continue
		}
		seenSample = true
		v, err := sampleLabel(f.body, keyIdx)
		if err != nil {
			return nil, err
		}
		if v >= 0 && v < int64(len(strs)) {
			sp.samples[strs[v]] = append(sp.samples[strs[v]], f.raw...)
		}
	}
	return sp, nil
}

// sampleLabel: the string index of the value of the Sample's label keyIdx, or -1.
func sampleLabel(sample []byte, keyIdx int64) (int64, error) {
	if keyIdx < 0 {
		return -1, nil
	}
	for rest := sample; len(rest) > 0; {
		num, _, body, next, err := readField(rest)
		if err != nil {
			return -1, err
		}
		rest = next
		if num != 3 || body == nil { // label
			continue
		}
		var k, v int64 = -1, -1
		for lr := body; len(lr) > 0; {
			ln, x, _, lnext, err := readField(lr)
			if err != nil {
				return -1, err
			}
			lr = lnext
			switch ln {
			case 1:
				k = int64(x)
			case 2:
				v = int64(x)
			}
		}
		if k == keyIdx {
			return v, nil
		}
	}
	return -1, nil
}

func targetHandler(i int, profiles *profileSource) http.Handler {
	value := strconv.Itoa(i)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := r.URL.Query().Get("debug"); d != "" && d != "0" {
			http.Error(w, "fleetsim serves the protobuf goroutine profile only (no ?debug=)", http.StatusNotImplemented)
			return
		}
		raw, err := profiles.get(labelKey, value)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="goroutine"`)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		zw.Write(raw)
		zw.Close()
	})
}

var errBad = errors.New("fleetsim: malformed profile from runtime/pprof")

// readField reads one protobuf field: its number, its value when a varint, its body when
// length-delimited, and the rest.
func readField(b []byte) (num, val uint64, body []byte, rest []byte, err error) {
	tag, n := varint(b)
	if n == 0 {
		return 0, 0, nil, nil, errBad
	}
	b = b[n:]
	switch tag & 7 {
	case 0:
		v, m := varint(b)
		if m == 0 {
			return 0, 0, nil, nil, errBad
		}
		return tag >> 3, v, nil, b[m:], nil
	case 1:
		if len(b) < 8 {
			return 0, 0, nil, nil, errBad
		}
		return tag >> 3, 0, nil, b[8:], nil
	case 2:
		l, m := varint(b)
		if m == 0 || uint64(len(b)-m) < l {
			return 0, 0, nil, nil, errBad
		}
		return tag >> 3, 0, b[m : m+int(l)], b[m+int(l):], nil
	case 5:
		if len(b) < 4 {
			return 0, 0, nil, nil, errBad
		}
		return tag >> 3, 0, nil, b[4:], nil
	}
	return 0, 0, nil, nil, errBad
}

func varint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		x |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}
