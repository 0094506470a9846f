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
//     this target's index are kept, every other field as it was (same samples, counts,
//     locations, functions, mappings, time), except the string table: the other targets' label
//     values ("0".."4999") are left out of it and every string reference is renumbered to match
//     (see labelSplit), so an answer is a few KB whatever the size of the fleet, like a small
//     service's. So each target's profile is distinct, with its own counts, real stacks, real
//     time, and the real cost of taking a goroutine profile of the whole process (which a fleet
//     of separate services would pay per service, on a smaller process). Each profile taken is
//     split once for all targets; an answer is then a concatenation of precomputed parts, gzipped.
//   - Not real: the goroutines every service has of its own (the HTTP server's, the profile
//     request's writer) are unlabelled here and left out of every target's profile; all
//     targets share one runtime, so one target cannot "restart" alone. Only the protobuf
//     goroutine profile is served: ?debug=1 or ?debug=2, goroutineleak and heap answer 404/501.
//   - -cache D reuses one profile of the process for D (default 0: a fresh profile per
//     request), for benchmarks of hundreds of targets where taking the whole process's profile
//     once per target and round would measure fleetsim rather than leakhound. When D is over,
//     the next profile is taken in the background while requests are answered from the last one
//     (an answer is at most D plus one take old).
//
// Stats: GET /stats on every port answers one line,
//
//	STATS answers=<n> mean_ms=<ms> max_ms=<ms> p99_ms=<ms> bytes_mean=<bytes> takes=<n> take_ms_mean=<ms>
//
// (the profile answers of all targets so far: their handler time, mean, max and p99 from a
// histogram within 12.5%; their mean gzipped size; the profiles taken and their mean time to take
// and split), and with -exit-on-stdin-eof the same line is printed to stdout at exit.
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
	"math/bits"
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
	flagCache     = flag.Duration("cache", 0, "reuse one goroutine profile of the process for this long, then take the next one in the background (0: a fresh one per request)")
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
		mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, stats.line()) })
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
	if *flagCache > 0 {
		go profiles.get(labelKey) // take the first profile now rather than in the first request
	}
	if *flagStdinEOF {
		io.Copy(io.Discard, os.Stdin)
		fmt.Println(stats.line())
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
// Each profile taken is split by target once (see splitByLabel), so that answering one target
// costs the size of its own samples rather than a scan of the whole process's profile: with
// thousands of targets, scanning per request made fleetsim's cost grow with the square of the fleet.
type profileSource struct {
	cache      time.Duration
	mu         sync.Mutex
	at         time.Time   // when split was taken
	split      *labelSplit // the current split, with -cache
	refreshing bool        // a goroutine is taking the next one
}

// take returns the process's goroutine profile, uncompressed. runtime/pprof only writes it
// gzipped, so this pays a gzip and a gunzip of the whole process's profile.
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

// takeSplit takes a profile, splits it by the values of label key, and counts both in stats.
func (s *profileSource) takeSplit(key string) (*labelSplit, error) {
	t0 := time.Now()
	raw, err := s.take()
	if err != nil {
		return nil, err
	}
	sp, err := splitByLabel(raw, key)
	if err != nil {
		return nil, err
	}
	stats.took(time.Since(t0))
	return sp, nil
}

// get returns a split of the profile by label key: a fresh one per call without -cache, else one
// reused for -cache. The first request after it expires starts taking the next one in the
// background and, like every request until that is done, is answered from the one it has: taking
// a profile of thousands of targets' goroutines takes long (seconds on a busy machine), and
// requests waiting for it measured fleetsim, not the scraper. So with -cache D an answer is at
// most D plus one take old. Only the very first request (or one after a failed take) waits.
func (s *profileSource) get(key string) (*labelSplit, error) {
	if s.cache <= 0 {
		return s.takeSplit(key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.split == nil {
		sp, err := s.takeSplit(key)
		if err != nil {
			return nil, err
		}
		s.split, s.at = sp, time.Now()
	}
	if time.Since(s.at) >= s.cache && !s.refreshing {
		s.refreshing = true
		go func() {
			sp, err := s.takeSplit(key)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refreshing = false
			if err == nil {
				s.split, s.at = sp, time.Now()
			} else {
				s.split = nil // the next request takes one itself, and answers its error
			}
		}()
	}
	return s.split, nil
}

// labelSplit is one profile cut, once, into the parts of every target's own compact profile:
//
//	head + parts[v].samples + tail + parts[v].str
//
// is the profile with only the samples labelled key=v, every field in the order it had, except
// that fields of different numbers (the samples and the locations runtime/pprof writes between
// them) change places, which protobuf ignores. Its string table is the profile's without the
// strings used only as values of label key (the other targets' "0".."4999"), and every string
// reference in head, tail and the samples is remapped for that; when v's own string was one of
// them, parts[v].str appends it as the table's last entry, and v's samples refer to that index.
// So a target's answer is the size of its own samples plus what all share, not of the fleet.
type labelSplit struct {
	head, tail []byte
	parts      map[string]targetPart
}

type targetPart struct {
	samples []byte // the target's Sample fields, remapped
	str     []byte // a string_table field holding the target's label value, or nil
}

// writeTo writes the profile of the samples labelled value (uncompressed) to w.
func (sp *labelSplit) writeTo(w io.Writer, value string) error {
	p := sp.parts[value]
	for _, b := range [...][]byte{sp.head, p.samples, sp.tail, p.str} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Field numbers of profile.proto (github.com/google/pprof/proto/profile.proto) that the split
// treats specially.
const (
	profSample      = 2 // Profile.sample: Sample
	profStringTable = 6 // Profile.string_table: string
	sampleLabel     = 3 // Sample.label: Label
	labelKeyField   = 1 // Label.key: string index
	labelStrField   = 2 // Label.str: string index
	labelUnitField  = 4 // Label.num_unit: string index
)

// msgSchema says which fields of a message are string-table indices (strs: one bit per field
// number; each a varint, or packed varints) and which are messages that hold some (subs).
type msgSchema struct {
	strs uint64
	subs map[uint64]*msgSchema
}

func (m *msgSchema) isStr(num uint64) bool { return num < 64 && m.strs&(1<<num) != 0 }

func fieldBits(nums ...uint) (b uint64) {
	for _, n := range nums {
		b |= 1 << n
	}
	return b
}

// The string references of profile.proto. Location (4) refers to functions and mappings by id,
// to no string; Sample's location_id and value are numbers.
var (
	valueTypeSchema = &msgSchema{strs: fieldBits(1, 2)} // type, unit
	labelSchema     = &msgSchema{strs: fieldBits(labelKeyField, labelStrField, labelUnitField)}
	sampleSchema    = &msgSchema{subs: map[uint64]*msgSchema{sampleLabel: labelSchema}}
	profileSchema   = &msgSchema{
		strs: fieldBits(7, 8, 13, 14, 15), // drop_frames, keep_frames, comment, default_sample_type, doc_url
		subs: map[uint64]*msgSchema{
			1:          valueTypeSchema,            // sample_type
			profSample: sampleSchema,               // sample
			3:          {strs: fieldBits(5, 6)},    // mapping: filename, build_id
			5:          {strs: fieldBits(2, 3, 4)}, // function: name, system_name, filename
			11:         valueTypeSchema,            // period_type
		},
	}
)

// splitByLabel splits profile p by the value of label key (see labelSplit). Samples without that
// label (the goroutines of fleetsim itself) are in no target's part.
func splitByLabel(p []byte, key string) (*labelSplit, error) {
	// 1. The string table, as slices of p, and the index of key in it.
	var strs [][]byte
	for rest := p; len(rest) > 0; {
		f, err := readField(rest)
		if err != nil {
			return nil, err
		}
		rest = f.rest
		if f.num == profStringTable && f.wire == wireBytes {
			strs = append(strs, f.body)
		}
	}
	n := uint64(len(strs))
	keyIdx := n // n: no such string, so no sample has the label
	for i, s := range strs {
		if string(s) == key { // compared without allocating
			keyIdx = uint64(i)
			break
		}
	}

	// 2. Where each string is referenced: isValue[i] if as the value of label key in some sample,
	// used[i] if in any other way (a name, a file, a type, another label's key or value...).
	// sampleValue holds each sample's value of label key, in order (n: none).
	isValue := make([]bool, n)
	used := make([]bool, n)
	mark := func(i uint64) {
		if i < n {
			used[i] = true
		}
	}
	mark(keyIdx)
	var sampleValue []uint64
	for rest := p; len(rest) > 0; {
		f, _ := readField(rest) // no error: read in step 1
		rest = f.rest
		if f.num != profSample || f.wire != wireBytes {
			if err := visitStrings(f, profileSchema, mark); err != nil {
				return nil, err
			}
			continue
		}
		v, err := sampleValueOf(f.body, keyIdx, mark)
		if err != nil {
			return nil, err
		}
		if v < n {
			isValue[v] = true
		}
		sampleValue = append(sampleValue, v)
	}

	// 3. The strings left out (a value of label key and nothing else; never index 0, ""), and
	// every index's new one: the kept strings in their order, then one more for a target's own
	// value, which its part appends.
	dropped := func(i uint64) bool { return i != 0 && isValue[i] && !used[i] }
	remap := make([]uint64, n)
	kept := uint64(0)
	for i := range remap {
		if !dropped(uint64(i)) {
			remap[i] = kept
			kept++
		}
	}
	for i := range remap {
		if dropped(uint64(i)) {
			remap[i] = kept
		}
	}

	// 4. Rewrite: head and tail once, each target's samples once, each field in its order.
	rw := &rewriter{remap: remap}
	var head, tail []byte
	byValue := make([][]byte, n) // rewritten samples, by the string index of their value
	seenSample := false
	si, k := uint64(0), 0
	for rest := p; len(rest) > 0; {
		f, _ := readField(rest)
		rest = f.rest
		if f.num == profSample && f.wire == wireBytes {
			seenSample = true
			if v := sampleValue[k]; v < n {
				byValue[v] = rw.field(byValue[v], f, profileSchema)
			}
			k++
			continue
		}
		if f.num == profStringTable && f.wire == wireBytes {
			si++
			if dropped(si - 1) {
				continue
			}
		}
		if seenSample {
			tail = rw.field(tail, f, profileSchema)
		} else {
			head = rw.field(head, f, profileSchema)
		}
	}
	sp := &labelSplit{head: head, tail: tail, parts: make(map[string]targetPart, len(byValue))}
	for v, samples := range byValue {
		if samples == nil {
			continue
		}
		part := targetPart{samples: samples}
		if dropped(uint64(v)) {
			part.str = appendBytesField(nil, profStringTable, strs[v])
		}
		sp.parts[string(strs[v])] = part
	}
	return sp, nil
}

// sampleValueOf returns the string index of the value of the Sample's label keyIdx (the first if
// several; 1<<63 if none), and marks every other string the sample refers to.
func sampleValueOf(sample []byte, keyIdx uint64, mark func(uint64)) (uint64, error) {
	value, found := uint64(1<<63), false
	for rest := sample; len(rest) > 0; {
		f, err := readField(rest)
		if err != nil {
			return 0, err
		}
		rest = f.rest
		if f.num != sampleLabel || f.wire != wireBytes {
			continue
		}
		var k, v, unit uint64
		for lr := f.body; len(lr) > 0; {
			lf, err := readField(lr)
			if err != nil {
				return 0, err
			}
			lr = lf.rest
			switch {
			case lf.wire != wireVarint:
			case lf.num == labelKeyField:
				k = lf.val
			case lf.num == labelStrField:
				v = lf.val
			case lf.num == labelUnitField:
				unit = lf.val
			}
		}
		mark(k)
		mark(unit)
		if k == keyIdx && !found {
			value, found = v, true
		} else {
			mark(v)
		}
	}
	return value, nil
}

// visitStrings calls mark with every string index field f refers to, per schema s of the
// message f is a field of.
func visitStrings(f field, s *msgSchema, mark func(uint64)) error {
	switch {
	case s.isStr(f.num) && f.wire == wireVarint:
		mark(f.val)
	case s.isStr(f.num) && f.wire == wireBytes: // packed
		for b := f.body; len(b) > 0; {
			v, m := varint(b)
			if m == 0 {
				return errBad
			}
			mark(v)
			b = b[m:]
		}
	case s.subs[f.num] != nil && f.wire == wireBytes:
		for rest := f.body; len(rest) > 0; {
			sub, err := readField(rest)
			if err != nil {
				return err
			}
			rest = sub.rest
			if err := visitStrings(sub, s.subs[f.num], mark); err != nil {
				return err
			}
		}
	}
	return nil
}

// rewriter re-encodes fields with their string indices remapped; every other field is copied
// byte for byte. Its scratch buffers (one per depth of nesting) are reused between fields.
type rewriter struct {
	remap   []uint64
	scratch [][]byte
	depth   int
}

func (rw *rewriter) idx(i uint64) uint64 {
	if i < uint64(len(rw.remap)) {
		return rw.remap[i]
	}
	return i // out of the table already: leave it as it was
}

// field appends field f, of a message of schema s, to dst, remapped.
func (rw *rewriter) field(dst []byte, f field, s *msgSchema) []byte {
	switch {
	case s.isStr(f.num) && f.wire == wireVarint:
		dst = appendVarint(dst, f.num<<3|wireVarint)
		return appendVarint(dst, rw.idx(f.val))
	case s.isStr(f.num) && f.wire == wireBytes: // packed
		size := 0
		for b := f.body; len(b) > 0; {
			v, m := varint(b)
			if m == 0 { // malformed: keep the field as it was
				return append(dst, f.raw...)
			}
			size += varintLen(rw.idx(v))
			b = b[m:]
		}
		dst = appendVarint(dst, f.num<<3|wireBytes)
		dst = appendVarint(dst, uint64(size))
		for b := f.body; len(b) > 0; {
			v, m := varint(b)
			dst = appendVarint(dst, rw.idx(v))
			b = b[m:]
		}
		return dst
	case s.subs[f.num] != nil && f.wire == wireBytes:
		if rw.depth == len(rw.scratch) {
			rw.scratch = append(rw.scratch, nil)
		}
		d := rw.depth
		rw.depth++
		body := rw.scratch[d][:0]
		for rest := f.body; len(rest) > 0; {
			sub, _ := readField(rest) // checked by visitStrings
			rest = sub.rest
			body = rw.field(body, sub, s.subs[f.num])
		}
		rw.depth--
		rw.scratch[d] = body
		return appendBytesField(dst, f.num, body)
	}
	return append(dst, f.raw...)
}

func appendBytesField(dst []byte, num uint64, body []byte) []byte {
	dst = appendVarint(dst, num<<3|wireBytes)
	dst = appendVarint(dst, uint64(len(body)))
	return append(dst, body...)
}

func appendVarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

func varintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// stats counts the answers to /debug/pprof/goroutine and the profiles taken, for the STATS line
// (printed at exit with -exit-on-stdin-eof, and at GET /stats on every port).
var stats fleetStats

type fleetStats struct {
	mu               sync.Mutex
	answers          int64
	handlerNs, maxNs int64
	bytes            int64
	hist             [histBuckets]int64 // answers by handler time, see histBucket
	takes, takeNs    int64
}

// histBuckets covers handler times up to 2^40 µs with 8 buckets per power of two (within 12.5%).
const histBuckets = 8 * 40

// histBucket: microseconds below 8 exactly, then 8 buckets per power of two.
func histBucket(us uint64) int {
	if us < 8 {
		return int(us)
	}
	n := bits.Len64(us) // >= 4
	b := (n-3)*8 + int(us>>(n-4)&7)
	return min(b, histBuckets-1)
}

// histUpper: the upper end of bucket b, in microseconds.
func histUpper(b int) uint64 {
	if b < 8 {
		return uint64(b + 1)
	}
	n := b/8 + 3
	return uint64(8+b%8+1) << (n - 4)
}

func (st *fleetStats) answered(d time.Duration, bytes int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.answers++
	st.handlerNs += int64(d)
	st.maxNs = max(st.maxNs, int64(d))
	st.bytes += bytes
	st.hist[histBucket(uint64(d.Microseconds()))]++
}

func (st *fleetStats) took(d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.takes++
	st.takeNs += int64(d)
}

// line is the STATS line: answers, their handler time (mean, max, p99 from the histogram: the
// upper end of its bucket), their mean gzipped size, and the profiles taken and split.
func (st *fleetStats) line() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	div := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	p99 := 0.0
	if st.answers > 0 {
		want := st.answers - st.answers/100 // answers at or below p99
		var seen int64
		for b, c := range st.hist {
			if seen += c; seen >= want {
				p99 = float64(histUpper(b)) / 1e3
				break
			}
		}
	}
	return fmt.Sprintf("STATS answers=%d mean_ms=%.3f max_ms=%.3f p99_ms=%.3f bytes_mean=%.0f takes=%d take_ms_mean=%.3f",
		st.answers, div(st.handlerNs, st.answers)/1e6, float64(st.maxNs)/1e6, p99,
		div(st.bytes, st.answers), st.takes, div(st.takeNs, st.takes)/1e6)
}

// gzipWriters: a gzip.Writer holds some 800 KB of compressor state; reused between answers.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func targetHandler(i int, profiles *profileSource) http.Handler {
	value := strconv.Itoa(i)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		if d := r.URL.Query().Get("debug"); d != "" && d != "0" {
			http.Error(w, "fleetsim serves the protobuf goroutine profile only (no ?debug=)", http.StatusNotImplemented)
			return
		}
		sp, err := profiles.get(labelKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="goroutine"`)
		cw := &countingWriter{w: w}
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(cw)
		sp.writeTo(zw, value)
		zw.Close()
		zw.Reset(io.Discard) // drop the reference to w
		gzipWriters.Put(zw)
		stats.answered(time.Since(t0), cw.n)
	})
}

var errBad = errors.New("fleetsim: malformed profile from runtime/pprof")

// Protobuf wire types fleetsim reads.
const (
	wireVarint = 0
	wireI64    = 1
	wireBytes  = 2
	wireI32    = 5
)

// field is one protobuf field: its number and wire type, its value when a varint, its body when
// length-delimited, all of it (raw), and what follows it (rest).
type field struct {
	num, wire, val  uint64
	body, raw, rest []byte
}

// readField reads one protobuf field of b.
func readField(b []byte) (field, error) {
	tag, n := varint(b)
	if n == 0 {
		return field{}, errBad
	}
	f := field{num: tag >> 3, wire: tag & 7}
	p := b[n:]
	switch f.wire {
	case wireVarint:
		v, m := varint(p)
		if m == 0 {
			return field{}, errBad
		}
		f.val, p = v, p[m:]
	case wireI64:
		if len(p) < 8 {
			return field{}, errBad
		}
		p = p[8:]
	case wireBytes:
		l, m := varint(p)
		if m == 0 || uint64(len(p)-m) < l {
			return field{}, errBad
		}
		f.body, p = p[m:m+int(l)], p[m+int(l):]
	case wireI32:
		if len(p) < 4 {
			return field{}, errBad
		}
		p = p[4:]
	default:
		return field{}, errBad
	}
	f.raw, f.rest = b[:len(b)-len(p)], p
	return f, nil
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
