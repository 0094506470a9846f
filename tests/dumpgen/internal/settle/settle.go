// Package settle is shared by dumpgen and its test packages (hang, logged).
package settle

import (
	"bytes"
	"runtime"
	"time"
)

// Wait waits until no goroutine but the caller is running or runnable, so
// every parked goroutine has reached the call it blocks in (on a loaded
// machine one may still be between wg.Done and its channel operation).
func Wait() {
	buf := make([]byte, 1<<20)
	for i := 0; i < 1000; i++ {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte(" [runnable")) && bytes.Count(buf[:n], []byte(" [running")) <= 1 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
