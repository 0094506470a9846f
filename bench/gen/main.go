// Command gen builds large, real goroutine profiles for leakhound's benchmarks.
//
// It starts, in this very process, a large number of goroutines (default
// 200,000) spread over many distinct call stacks (default 5,000), each 20 to
// 40 frames deep, parked on channel receives, channel sends, selects,
// sync.Mutex, sync.WaitGroup and time.Sleep. It serves net/http/pprof on
// 127.0.0.1 and takes its own snapshots over HTTP:
//
//	snap-0.pb.gz          goroutine profile (proto)
//	snap-1.pb.gz          after 50 stacks grew by 200 goroutines each
//	snap-1.debug1.txt     ?debug=1 (aggregated text)
//	snap-1.debug2.txt     ?debug=2 (Go cuts this off at 64 MiB)
//	series/00..11.pb.gz   the same 50 stacks grow a bit at every step
//	big.debug2.txt        the real full dump (runtime.Stack(all), same
//	                      format as ?debug=2 but not cut off), taken right
//	                      after snap-1: ~420 MB for 210k goroutines, as a
//	                      SIGQUIT of a huge service prints. If it is under
//	                      -big-mb MiB, renumbered copies of its blocks are
//	                      appended up to that size.
//	manifest.txt          the parameters and counts of this run
//
// Only the standard library is used.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Park kinds: what a goroutine of a stack blocks on.
const (
	kindRecv = iota
	kindSend
	kindSelect
	kindMutex
	kindWaitGroup
	kindSleep
	numKinds
)

var kindNames = [numKinds]string{"chan receive", "chan send", "select", "sync.Mutex", "sync.WaitGroup", "time.Sleep"}

// stackSpec describes one distinct stack: the sequence of fNN functions the
// recursion goes through (one frame each) and what the leaf parks on.
type stackSpec struct {
	id   int
	kind int
	path []uint8
}

// Things goroutines block on forever. They stay reachable from globals.
var (
	recvCh   = make(chan int)
	sendCh   = make(chan int)
	selectA  = make(chan int)
	selectB  = make(chan int)
	mutexes  [8]sync.Mutex
	blockWG  sync.WaitGroup
	parked   atomic.Int64
	spawnedN atomic.Int64
)

//go:noinline
func park(s *stackSpec) {
	switch s.kind {
	case kindRecv:
		parkRecv(s)
	case kindSend:
		parkSend(s)
	case kindSelect:
		parkSelect(s)
	case kindMutex:
		parkMutex(s)
	case kindWaitGroup:
		parkWaitGroup(s)
	default:
		parkSleep(s)
	}
}

//go:noinline
func parkRecv(s *stackSpec) {
	parked.Add(1)
	<-recvCh
}

//go:noinline
func parkSend(s *stackSpec) {
	parked.Add(1)
	sendCh <- s.id
}

//go:noinline
func parkSelect(s *stackSpec) {
	parked.Add(1)
	select {
	case <-selectA:
	case selectB <- s.id:
	}
}

//go:noinline
func parkMutex(s *stackSpec) {
	parked.Add(1)
	mutexes[s.id%len(mutexes)].Lock()
}

//go:noinline
func parkWaitGroup(s *stackSpec) {
	parked.Add(1)
	blockWG.Wait()
}

//go:noinline
func parkSleep(s *stackSpec) {
	parked.Add(1)
	time.Sleep(1000 * time.Hour)
}

// root is the function every spawned goroutine starts in.
//
//go:noinline
func root(s *stackSpec) {
	fns[s.path[0]](s, 1)
}

// spawn starts one goroutine on stack s. Every goroutine of the program is
// started by this one go statement, so growth keeps the stacks identical.
func spawn(s *stackSpec) {
	spawnedN.Add(1)
	go root(s)
}

// makeStacks builds n distinct stacks. The first three path digits are the
// stack id in base 64 (distinct for n <= 262,144); the rest are random.
func makeStacks(n, minPath, maxPath int, rng *rand.Rand) []*stackSpec {
	if n > 64*64*64 {
		log.Fatalf("-stacks %d: at most %d", n, 64*64*64)
	}
	stacks := make([]*stackSpec, n)
	for i := range stacks {
		l := minPath + rng.Intn(maxPath-minPath+1)
		p := make([]uint8, l)
		p[0], p[1], p[2] = uint8(i/4096), uint8(i/64%64), uint8(i%64)
		for j := 3; j < l; j++ {
			p[j] = uint8(rng.Intn(64))
		}
		// Rotate so the id digits are not always at the root end.
		r := rng.Intn(l)
		p = append(p[r:], p[:r]...)
		stacks[i] = &stackSpec{id: i, kind: i % numKinds, path: p}
	}
	return stacks
}

// counts spreads total goroutines over n stacks: mostly 1..60 weight, with one
// stack in a hundred twenty times heavier, every stack at least one goroutine.
func counts(n, total int, rng *rand.Rand) []int {
	if total < n {
		log.Fatalf("-goroutines %d is less than -stacks %d", total, n)
	}
	w := make([]int, n)
	sum := 0
	for i := range w {
		w[i] = 1 + rng.Intn(60)
		if rng.Intn(100) == 0 {
			w[i] *= 20
		}
		sum += w[i]
	}
	c := make([]int, n)
	got := 0
	for i := range c {
		c[i] = 1 + (total-n)*w[i]/sum
		got += c[i]
	}
	for i := 0; got < total; i = (i + 1) % n {
		c[i]++
		got++
	}
	return c
}

// spawnCounts starts c[i] goroutines on stacks[i], interleaved across stacks
// as a real service's goroutines would be.
func spawnCounts(stacks []*stackSpec, c []int) {
	rem := append([]int(nil), c...)
	for left := true; left; {
		left = false
		for i, s := range stacks {
			if rem[i] > 0 {
				spawn(s)
				rem[i]--
				left = left || rem[i] > 0
			}
		}
	}
}

// settle waits until every spawned goroutine reached its parking function,
// then a little longer so they are really blocked.
func settle() {
	deadline := time.Now().Add(5 * time.Minute)
	for parked.Load() < spawnedN.Load() {
		if time.Now().After(deadline) {
			log.Fatalf("only %d of %d goroutines parked", parked.Load(), spawnedN.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
}

func fetch(base, query, dest string) int64 {
	resp, err := http.Get(base + query)
	if err != nil {
		log.Fatalf("GET %s: %v", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		log.Fatalf("GET %s: %s: %s", query, resp.Status, b)
	}
	tmp := dest + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		log.Fatalf("GET %s: %v", query, err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s (%d bytes, %d goroutines)", dest, n, runtime.NumGoroutine())
	return n
}

// fullDump is runtime.Stack(all) with a buffer big enough for everything
// (unlike ?debug=2, which stops at 64 MiB). The buffer is sized from the
// goroutine count (about 2.4 KB a goroutine here), so a million goroutines
// are dumped in one stop-the-world rather than four growing tries.
func fullDump() []byte {
	buf := make([]byte, max(256<<20, runtime.NumGoroutine()*2600))
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// writeBig writes the whole dump to dest, then, while dest holds less than
// target bytes, its goroutine blocks again and again with goroutine ids
// renumbered past the highest one seen, stopping at the first block boundary
// past target. Blocks of running goroutines (the dumping one) are not
// repeated. A dump larger than target is written whole and alone.
func writeBig(dump []byte, dest string, target, maxBlocks int64) (blocks, bytesOut int64) {
	raw := bytes.Split(bytes.TrimRight(dump, "\n"), []byte("\n\n"))
	type block struct {
		id   int
		rest []byte // the block after "goroutine N"
	}
	var bs []block
	maxID := 0
	for _, b := range raw {
		if !bytes.HasPrefix(b, []byte("goroutine ")) {
			log.Fatalf("unexpected block in dump: %.80q", b)
		}
		sp := bytes.IndexByte(b[len("goroutine "):], ' ')
		id, err := strconv.Atoi(string(b[len("goroutine ") : len("goroutine ")+sp]))
		if err != nil {
			log.Fatalf("bad goroutine header %.80q", b)
		}
		maxID = max(maxID, id)
		bs = append(bs, block{id, b[len("goroutine ")+sp:]})
	}
	tmp := dest + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 4<<20)
	next := maxID + 1
	for copyN := 0; bytesOut < target && blocks < maxBlocks; copyN++ {
		for _, b := range bs {
			id := b.id
			if copyN > 0 {
				if bytes.Contains(b.rest[:bytes.IndexByte(b.rest, '\n')], []byte("[running")) {
					continue
				}
				id = next
				next++
			}
			n, _ := fmt.Fprintf(w, "goroutine %d", id)
			m, _ := w.Write(b.rest)
			w.WriteString("\n\n")
			bytesOut += int64(n + m + 2)
			blocks++
			if copyN > 0 && (bytesOut >= target || blocks >= maxBlocks) {
				break
			}
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		log.Fatal(err)
	}
	return blocks, bytesOut
}

func main() {
	out := flag.String("out", "bench/data", "output directory")
	goroutines := flag.Int("goroutines", 200000, "goroutines in snap-0")
	nStacks := flag.Int("stacks", 5000, "distinct stacks")
	growStacks := flag.Int("grow-stacks", 50, "stacks that grow between snap-0 and snap-1 and along the series")
	grow := flag.Int("grow", 200, "goroutines added to each growing stack between snap-0 and snap-1")
	seriesN := flag.Int("series", 12, "snapshots in series/")
	seriesGrow := flag.Int("series-grow", 20, "goroutines added to each growing stack at each series step")
	interval := flag.Duration("series-interval", time.Second, "pause between series snapshots")
	bigMB := flag.Int64("big-mb", 400, "least size of big.debug2.txt in MiB: the whole real dump, plus renumbered copies of its blocks if it is smaller (0: skip)")
	minPath := flag.Int("min-path", 17, "fewest fNN frames in a stack (plus 3 main frames, plus 2-5 runtime frames in the proto profiles)")
	maxPath := flag.Int("max-path", 34, "most fNN frames in a stack")
	seed := flag.Int64("seed", 1, "random seed")
	bigBlocksN := flag.Int64("big-goroutines", 0, "with -dump-only: repeat the dump's blocks (renumbered) up to this many goroutine blocks instead of -big-mb")
	snapDebug2 := flag.Bool("snap-debug2", true, "fetch snap-1.debug2.txt (?debug=2, cut at 64 MiB; at a million goroutines its ten growing tries take minutes)")
	dumpOnly := flag.Bool("dump-only", false, "write only big.debug2.txt and manifest.txt (no snapshots, no series): a dump of -stacks stacks to repeat up to -big-goroutines")
	serve := flag.Bool("serve", false, "write no files: print LISTENING <url>, then grow the growing stacks by -series-grow every -series-interval until stdin closes (for bench/watch-live.sh)")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if *growStacks > *nStacks {
		log.Fatalf("-grow-stacks %d > -stacks %d", *growStacks, *nStacks)
	}
	if *minPath < 3 || *maxPath < *minPath {
		log.Fatalf("need 3 <= -min-path <= -max-path")
	}
	if err := os.MkdirAll(filepath.Join(*out, "series"), 0o755); err != nil {
		log.Fatal(err)
	}

	// Things that block forever.
	for i := range mutexes {
		mutexes[i].Lock()
	}
	blockWG.Add(1)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, nil)
	base := "http://" + ln.Addr().String() + "/debug/pprof/goroutine"
	log.Printf("pprof on %s", base)

	rng := rand.New(rand.NewSource(*seed))
	stacks := makeStacks(*nStacks, *minPath, *maxPath, rng)
	c := counts(*nStacks, *goroutines, rng)
	start := time.Now()
	spawnCounts(stacks, c)
	settle()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Printf("%d goroutines on %d stacks parked in %v (stack in use %d MiB, sys %d MiB)",
		runtime.NumGoroutine(), *nStacks, time.Since(start).Round(time.Millisecond),
		ms.StackInuse>>20, ms.Sys>>20)

	// The growing stacks: evenly spread, so every park kind is among them.
	growing := make([]*stackSpec, *growStacks)
	for i := range growing {
		growing[i] = stacks[i**nStacks / *growStacks]
	}
	growBy := func(n int) {
		for k := 0; k < n; k++ {
			for _, s := range growing {
				spawn(s)
			}
		}
		settle()
	}

	if *serve {
		fmt.Printf("LISTENING http://%s\n", ln.Addr())
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		for {
			time.Sleep(*interval)
			growBy(*seriesGrow)
		}
	}

	var n0, n1 int
	var d2 int64
	if !*dumpOnly {
		fetch(base, "", filepath.Join(*out, "snap-0.pb.gz"))
		n0 = runtime.NumGoroutine()
		time.Sleep(time.Second)
		growBy(*grow)
		fetch(base, "", filepath.Join(*out, "snap-1.pb.gz"))
		n1 = runtime.NumGoroutine()
		fetch(base, "?debug=1", filepath.Join(*out, "snap-1.debug1.txt"))
		if *snapDebug2 {
			d2 = fetch(base, "?debug=2", filepath.Join(*out, "snap-1.debug2.txt"))
		}
	} else {
		*seriesN = 0
	}

	var bigBlocks, bigBytes, fullBytes int64
	if *bigMB > 0 {
		t := time.Now()
		dump := fullDump()
		fullBytes = int64(len(dump))
		log.Printf("full runtime.Stack dump: %d bytes in %v", len(dump), time.Since(t).Round(time.Millisecond))
		target, maxBlocks := *bigMB<<20, int64(1)<<62
		if *dumpOnly && *bigBlocksN > 0 {
			target, maxBlocks = 1<<62, *bigBlocksN
		}
		bigBlocks, bigBytes = writeBig(dump, filepath.Join(*out, "big.debug2.txt"), target, maxBlocks)
		log.Printf("wrote big.debug2.txt (%d bytes, %d goroutine blocks)", bigBytes, bigBlocks)
		dump = nil
		runtime.GC()
	}

	var seriesCounts []int
	for i := 0; i < *seriesN; i++ {
		if i > 0 {
			time.Sleep(*interval)
			growBy(*seriesGrow)
		}
		fetch(base, "", filepath.Join(*out, "series", fmt.Sprintf("%02d.pb.gz", i)))
		seriesCounts = append(seriesCounts, runtime.NumGoroutine())
	}

	growingIDs := make([]int, len(growing))
	kinds := map[string]int{}
	for i, s := range growing {
		growingIDs[i] = s.id
	}
	for _, s := range stacks {
		kinds[kindNames[s.kind]]++
	}
	mf, err := os.Create(filepath.Join(*out, "manifest.txt"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(mf, "go %s %s/%s seed %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, *seed)
	fmt.Fprintf(mf, "stacks %d (fNN frames %d..%d; stacks per park kind %v)\n", *nStacks, *minPath, *maxPath, kinds)
	fmt.Fprintf(mf, "goroutines: spawned %d; runtime.NumGoroutine snap-0 %d, snap-1 %d\n", *goroutines, n0, n1)
	fmt.Fprintf(mf, "growing stack ids (%d, +%d before snap-1, +%d per series step): %v\n", len(growing), *grow, *seriesGrow, growingIDs)
	fmt.Fprintf(mf, "snap-1.debug2.txt: %d bytes (Go stops ?debug=2 at 64 MiB; the full dump was %d bytes)\n", d2, fullBytes)
	fmt.Fprintf(mf, "big.debug2.txt: %d bytes, %d goroutine blocks\n", bigBytes, bigBlocks)
	fmt.Fprintf(mf, "series NumGoroutine: %v\n", seriesCounts)
	mf.Close()
	log.Printf("done in %v", time.Since(start).Round(time.Millisecond))
}
