// Package kvclient stands in for a third-party client library: Dial starts a
// background goroutine (a heartbeat/request loop, as many database, queue and
// RPC clients do) that runs until Close is called.
package kvclient

import "time"

// Client is a connection to an imaginary key-value store.
type Client struct {
	addr   string
	reqs   chan string
	closed chan struct{}
}

// Dial returns a client and starts its background loop. Close stops it.
func Dial(addr string) (*Client, error) {
	c := &Client{addr: addr, reqs: make(chan string), closed: make(chan struct{})}
	go c.loop()
	return c, nil
}

// Get pretends to look a key up.
func (c *Client) Get(key string) string { return c.addr + "/" + key }

// Close stops the background loop.
func (c *Client) Close() error {
	close(c.closed)
	return nil
}

// loop waits for requests or Close; a heartbeat every minute.
func (c *Client) loop() {
	heartbeat := time.NewTicker(time.Minute)
	defer heartbeat.Stop()
	for {
		select {
		case <-c.closed:
			return
		case r := <-c.reqs:
			_ = r
		case <-heartbeat.C:
		}
	}
}
