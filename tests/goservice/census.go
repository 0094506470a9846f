package main

// Scenario census: what one dump of a service that has leaked for many minutes holds.
//
// Leaks, steady from the start (-rate is per second):
//
//	main.forgottenSender      chan send        at -rate
//	main.generatorWithoutQuit select           at -rate/2
//	main.lockNeverReleased    sync.Mutex.Lock  at -rate/3
//	main.waitGroupNeverDone   sync.WaitGroup   at -rate/6
//
// Benign, next to the kinds of startBenign and startLookalikes:
//
//	main.idleWorker      -idle-pool workers started at once, waiting on a queue that never gets a job
//	main.lazyWorker      -lazy-pool workers started one by one over the first -lazy-over, then idle
//	main.idleAcceptLoop  a second listener nobody connects to
//	main.nightlyJob      one goroutine waiting for a 24 h timer
//	main.retryBackoff    -retry-sleepers goroutines in a 1 h time.Sleep, started at once

import (
	"flag"
	"net"
	"time"
)

var (
	flagIdlePool      = flag.Int("idle-pool", 40, "census: main.idleWorker goroutines")
	flagLazyPool      = flag.Int("lazy-pool", 30, "census: main.lazyWorker goroutines")
	flagLazyOver      = flag.Duration("lazy-over", 3*time.Minute, "census: main.lazyWorker goroutines start evenly over this long")
	flagRetrySleepers = flag.Int("retry-sleepers", 20, "census: main.retryBackoff goroutines")
)

// idleQueue and lazyQueue are globals: the runtime's leak detector must not report their workers.
var (
	idleQueue = make(chan int)
	lazyQueue = make(chan int)
)

func idleWorker() {
	for {
		select {
		case j := <-idleQueue:
			sink(j)
		case <-shutdown:
			return
		}
	}
}

func lazyWorker() {
	for {
		select {
		case j := <-lazyQueue:
			sink(j)
		case <-shutdown:
			return
		}
	}
}

func startLazyPool(size int, over time.Duration) {
	step := over / time.Duration(size)
	for i := 0; i < size; i++ {
		go lazyWorker()
		time.Sleep(step)
	}
}

func idleAcceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func nightlyJob() {
	select {
	case <-time.After(24 * time.Hour):
	case <-shutdown:
	}
}

func retryBackoff() { time.Sleep(time.Hour) }

func startCensus(base string, rate float64) {
	go leakLoop("main.forgottenSender", every(rate), 1, 0, spawnCallWithTimeout)
	go leakLoop("main.generatorWithoutQuit", every(rate/2), 1, 0, spawnConsumeFirst)
	locked := make(chan struct{})
	go lockHolder(locked)
	<-locked
	go leakLoop("main.lockNeverReleased", every(rate/3), 1, 0, spawnLockWaiter)
	go leakLoop("main.waitGroupNeverDone", every(rate/6), 1, 0, startBatch)
	for i := 0; i < *flagIdlePool; i++ {
		go idleWorker()
	}
	go startLazyPool(*flagLazyPool, *flagLazyOver)
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		go idleAcceptLoop(ln)
	}
	go nightlyJob()
	for i := 0; i < *flagRetrySleepers; i++ {
		go retryBackoff()
	}
	startLookalikes(base)
	startBenign(base)
}
