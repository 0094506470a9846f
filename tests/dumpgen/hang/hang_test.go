// Package hang has one test that hangs with parked goroutines, so that
// `go test -timeout 2s` panics and prints every goroutine.
package hang

import (
	"sync"
	"testing"
	"time"

	"leakhound.test/dumpgen/internal/settle"
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
	settle.Wait()
	t.Log("goroutines parked, now hanging")
	time.Sleep(time.Hour)
}
