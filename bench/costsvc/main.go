// Command costsvc measures what a Go service itself pays to produce each form of its goroutine
// profile: how long the request takes, and how long a concurrent tiny request waits meanwhile
// (the stop-the-world pause and the CPU the profile takes, as the service's users see them).
//
// For every -sizes N it starts itself as the service (-serve: N goroutines parked on -stacks
// distinct stacks 12 to 30 frames deep, net/http/pprof and a tiny /ping on 127.0.0.1), then for
// each form (protobuf, debug=1, debug=2, goroutineleak) fetches the profile -reps times while a
// client sends /ping requests one after the other, and compares their latency with a quiet
// baseline. It prints a Markdown table. Only the standard library is used.
//
//	go run . -sizes 10000,100000,200000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ---- the service

// Things goroutines wait on forever, as a service's do: channels, a select, mutexes, a wait group
// and timers, reachable from globals (so none is a leak the runtime can prove).
var (
	recvCh, sendCh, selA, selB = make(chan int), make(chan int), make(chan int), make(chan int)
	mutexes                    [8]sync.Mutex
	wg                         sync.WaitGroup
	parked                     atomic.Int64
)

//go:noinline
func park(kind int) {
	parked.Add(1)
	switch kind {
	case 0:
		<-recvCh
	case 1:
		sendCh <- 1
	case 2:
		select {
		case <-selA:
		case selB <- 1:
		}
	case 3:
		mutexes[kind%len(mutexes)].Lock()
	case 4:
		wg.Wait()
	default:
		time.Sleep(1000 * time.Hour)
	}
}

// Distinct stacks: a path of these functions, one frame each, chosen by the stack's id.
type step func(path []uint8, i int)

var steps [8]step

//go:noinline
func s0(p []uint8, i int) { next(p, i) }

//go:noinline
func s1(p []uint8, i int) { next(p, i) }

//go:noinline
func s2(p []uint8, i int) { next(p, i) }

//go:noinline
func s3(p []uint8, i int) { next(p, i) }

//go:noinline
func s4(p []uint8, i int) { next(p, i) }

//go:noinline
func s5(p []uint8, i int) { next(p, i) }

//go:noinline
func s6(p []uint8, i int) { next(p, i) }

//go:noinline
func s7(p []uint8, i int) { next(p, i) }

func init() { steps = [8]step{s0, s1, s2, s3, s4, s5, s6, s7} }

//go:noinline
func next(p []uint8, i int) {
	if i == len(p) {
		park(int(p[0]+p[len(p)-1]) % 6)
		return
	}
	steps[p[i]](p, i+1)
}

func serve(goroutines, stacks int) {
	for i := range mutexes {
		mutexes[i].Lock()
	}
	wg.Add(1)
	paths := make([][]uint8, stacks)
	for s := range paths {
		depth := 12 + s%19 // 12..30 frames of ours
		p := make([]uint8, depth)
		for i, v := 0, s; i < depth; i++ {
			p[i] = uint8(v % 8)
			v = v/8 + i*7 + s // distinct for distinct s, varied below the id digits
		}
		paths[s] = p
	}
	for g := 0; g < goroutines; g++ {
		go next(paths[g%stacks], 0)
	}
	for parked.Load() < int64(goroutines) {
		time.Sleep(10 * time.Millisecond)
	}
	http.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTENING http://%s\n", ln.Addr())
	go func() { // exit when the driver goes
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	log.Fatal(http.Serve(ln, nil))
}

// ---- the driver

type ping struct{ start, end time.Time }

// pinger sends /ping requests one after the other until stopped, recording each.
func pinger(c *http.Client, url string, stop <-chan struct{}) []ping {
	var out []ping
	for {
		select {
		case <-stop:
			return out
		default:
		}
		t := time.Now()
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		out = append(out, ping{t, time.Now()})
	}
}

// latencies of the pings that overlap [from, to] (all of them when from is zero), sorted
func latencies(ps []ping, from, to time.Time) []time.Duration {
	var out []time.Duration
	for _, p := range ps {
		if from.IsZero() || (p.end.After(from) && p.start.Before(to)) {
			out = append(out, p.end.Sub(p.start))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

type form struct{ name, path string }

var forms = []form{
	{"protobuf", "/debug/pprof/goroutine"},
	{"debug=1", "/debug/pprof/goroutine?debug=1"},
	{"debug=2", "/debug/pprof/goroutine?debug=2"},
	{"goroutineleak", "/debug/pprof/goroutineleak"},
}

type result struct {
	took          []time.Duration
	bytes         int64
	p99, max      time.Duration // of pings during the fetch, worst over the repetitions
	pings, failed int
}

func measure(base string, f form, reps int) (result, error) {
	var r result
	c := &http.Client{Timeout: 10 * time.Minute}
	pc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := 0; i < reps; i++ {
		stop := make(chan struct{})
		var ps []ping
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ps = pinger(pc, base+"/ping", stop) }()
		time.Sleep(200 * time.Millisecond)
		t0 := time.Now()
		resp, err := c.Get(base + f.path)
		if err != nil {
			close(stop)
			wg.Wait()
			return r, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t1 := time.Now()
		if err != nil || resp.StatusCode != 200 {
			close(stop)
			wg.Wait()
			return r, fmt.Errorf("%s: %s %v", f.path, resp.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
		close(stop)
		wg.Wait()
		l := latencies(ps, t0, t1)
		r.took = append(r.took, t1.Sub(t0))
		r.bytes = n
		r.pings += len(l)
		r.p99 = max(r.p99, quantile(l, 0.99))
		if len(l) > 0 {
			r.max = max(r.max, l[len(l)-1])
		}
	}
	sort.Slice(r.took, func(i, j int) bool { return r.took[i] < r.took[j] })
	return r, nil
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func main() {
	serveMode := flag.Bool("serve", false, "be the service (started by the driver)")
	goroutines := flag.Int("goroutines", 10000, "goroutines of the service (-serve)")
	stacks := flag.Int("stacks", 1000, "distinct stacks of the service (-serve)")
	sizes := flag.String("sizes", "10000,100000,200000", "service sizes to measure, in goroutines")
	stacksPer := flag.Int("goroutines-per-stack", 40, "the service gets sizes/this distinct stacks (at most 5000)")
	reps := flag.Int("reps", 3, "fetches of each form (debug=2 and goroutineleak: 1 from 100k goroutines on, they take seconds)")
	only := flag.String("forms", "protobuf,debug=1,debug=2,goroutineleak", "forms to measure")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *serveMode {
		serve(*goroutines, *stacks)
		return
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("| goroutines | form | time to produce | size | concurrent /ping p99 / max (ms) | quiet /ping p99 / max (ms) |\n")
	fmt.Printf("| ---: | --- | ---: | ---: | ---: | ---: |\n")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			log.Fatalf("-sizes: %v", err)
		}
		st := min(5000, max(1, n / *stacksPer))
		cmd := exec.Command(self, "-serve", "-goroutines", strconv.Itoa(n), "-stacks", strconv.Itoa(st))
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "LISTENING ") {
			log.Fatalf("service of %d goroutines did not start: %q %v", n, line, err)
		}
		base := strings.TrimSpace(strings.TrimPrefix(line, "LISTENING "))
		log.Printf("%d goroutines on %d stacks at %s", n, st, base)
		// The quiet baseline: /ping alone for two seconds.
		pc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		stop := make(chan struct{})
		time.AfterFunc(2*time.Second, func() { close(stop) })
		quiet := latencies(pinger(pc, base+"/ping", stop), time.Time{}, time.Time{})
		for _, f := range forms {
			if !strings.Contains(","+*only+",", ","+f.name+",") {
				continue
			}
			r := *reps
			if (f.name == "debug=2" || f.name == "goroutineleak") && n >= 100000 {
				r = 1
			}
			res, err := measure(base, f, r)
			if err != nil {
				fmt.Printf("| %d | %s | failed: %v | | | |\n", n, f.name, err)
				continue
			}
			med := res.took[len(res.took)/2]
			log.Printf("%d %s: %v (%d pings during)", n, f.name, res.took, res.pings)
			fmt.Printf("| %d | %s | %.3f s | %s | %s / %s | %s / %s |\n", n, f.name, med.Seconds(), size(res.bytes),
				ms(res.p99), ms(res.max), ms(quantile(quiet, 0.99)), ms(quiet[len(quiet)-1]))
		}
		stdin.Close()
		cmd.Wait()
	}
	fmt.Printf("\nMedian of %d fetches (debug=2 and goroutineleak: one from 100k goroutines on); latency of /ping requests sent one after the other during the fetches (the worst fetch), and alone for 2 s. %s, GOMAXPROCS %d, %d CPUs.\n",
		*reps, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}
