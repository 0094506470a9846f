// Package hang has one test that hangs with parked goroutines, so that
// `go test -timeout 2s` panics and prints every goroutine.
package hang

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

var never = make(chan int)

func stuckSender(wg *sync.WaitGroup) {
	wg.Done()
	never <- 1
}

func stuckCond(wg *sync.WaitGroup, c *sync.Cond) {
	c.L.Lock()
	wg.Done()
	c.Wait()
}

func TestHang(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go stuckSender(&wg)
	}
	c := sync.NewCond(&sync.Mutex{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go stuckCond(&wg, c)
	}
	wg.Wait()
	settle()
	t.Log("goroutines parked, now hanging")
	time.Sleep(time.Hour)
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
