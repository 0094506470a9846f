// labelsvc: a Go 1.27 module (so the runtime prints pprof labels in goroutine headers, the
// default of GODEBUG=tracebacklabels for modules at go >= 1.27) serving net/http/pprof on
// 127.0.0.1. Its goroutines carry labels set with pprof.Do, as gRPC and tracing middleware do:
//
//   - main.forgottenSender: leaked (nobody receives), labelled {route: /pay, tenant: "acme corp"}
//     and {route: /refund, tenant: globex}: GET /leak?n=N leaks N of each before it answers, and
//     -leak N leaks that many of each at start;
//   - main.labelledWorker: a fixed pool of benign labelled workers {pool: "io workers", tenant: ...};
//   - main.unlabelledIdle: benign goroutines without labels.
//
// It prints `LISTENING http://127.0.0.1:PORT` once it serves, and exits when stdin reaches EOF
// with -exit-on-stdin-eof (as tests/goservice does).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
)

var (
	flagAddr     = flag.String("addr", "127.0.0.1:0", "listen address")
	flagLeak     = flag.Int("leak", 0, "main.forgottenSender goroutines leaked per route at start")
	flagWorkers  = flag.Int("workers", 6, "benign labelled workers")
	flagIdle     = flag.Int("idle", 5, "benign unlabelled goroutines")
	flagStdinEOF = flag.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF")
)

// forgottenSender sends a result nobody will ever receive: the caller returned early.
func forgottenSender(results chan<- int) {
	results <- 42
}

// labelledWorker waits for jobs that come now and then: benign.
func labelledWorker(jobs <-chan int) {
	for range jobs {
	}
}

// unlabelledIdle waits for a shutdown that has not come: benign.
func unlabelledIdle(stop <-chan struct{}) {
	<-stop
}

var leaked atomic.Int64

// Kept reachable from globals, so the garbage collector's leak detector (goroutineleak) sees
// the benign goroutines as waiting on channels someone can still use.
var (
	jobs = make(chan int)
	stop = make(chan struct{})
)

// handle is what a request handler does: it starts a backend call and gives up waiting.
func handle(ctx context.Context) {
	results := make(chan int)
	go forgottenSender(results)
	leaked.Add(1)
}

func main() {
	flag.Parse()
	routes := []pprof.LabelSet{
		pprof.Labels("route", "/pay", "tenant", "acme corp"),
		pprof.Labels("route", "/refund", "tenant", "globex"),
	}
	for i := 0; i < *flagWorkers; i++ {
		tenant := []string{"acme corp", "globex"}[i%2]
		pprof.Do(context.Background(), pprof.Labels("pool", "io workers", "tenant", tenant), func(context.Context) {
			go labelledWorker(jobs)
		})
	}
	for i := 0; i < *flagIdle; i++ {
		go unlabelledIdle(stop)
	}
	leak := func(n int) {
		for i := 0; i < n; i++ {
			for _, l := range routes {
				pprof.Do(context.Background(), l, handle)
			}
		}
	}
	leak(*flagLeak)
	http.HandleFunc("/leak", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 100000 {
			http.Error(w, "n: a count of goroutines to leak per route", http.StatusBadRequest)
			return
		}
		leak(n)
		fmt.Fprintf(w, "main.forgottenSender %d\n", leaked.Load())
	})
	http.HandleFunc("/leaks", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "main.forgottenSender %d\n", leaked.Load())
	})
	ln, err := net.Listen("tcp", *flagAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stdout, "LISTENING http://%s\n", ln.Addr())
	if *flagStdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
	}
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
