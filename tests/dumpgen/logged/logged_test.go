// Package logged has one passing test that logs the goroutine dump of its
// parked goroutines with t.Log, so `go test -v` shows the dump indented
// under a `logged_test.go:N:` prefix, as people paste it from test output.
package logged

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
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
	settle()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	t.Log(buf.String())
}

// settle waits until no goroutine but the caller is running or runnable, so
// every parked goroutine has reached the call it blocks in (on a loaded
// machine one may still be between wg.Done and its channel operation).
func settle() {
	buf := make([]byte, 1<<20)
	for i := 0; i < 1000; i++ {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(" [runnable")) && bytes.Count(buf[:n], []byte(" [running")) <= 1 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
