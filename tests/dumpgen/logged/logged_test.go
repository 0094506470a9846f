// Package logged has one passing test that logs the goroutine dump of its
// parked goroutines with t.Log, so `go test -v` shows the dump indented
// under a `logged_test.go:N:` prefix, as people paste it from test output.
package logged

import (
	"bytes"
	"runtime/pprof"
	"sync"
	"testing"

	"leakhound.test/dumpgen/internal/settle"
)

var never = make(chan int)

func waiter(wg *sync.WaitGroup) {
	wg.Done()
	<-never
}

func TestLogDump(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 9; i++ {
		wg.Add(1)
		go waiter(&wg)
	}
	wg.Wait()
	settle.Wait()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	t.Log(buf.String())
}
