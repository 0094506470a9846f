package main

// Scenario "servers": leaks on the server's side only, each alone so that its goroutines can be
// told apart (issue 22).
//
//	servers/http-proxy-no-response   httputil.ReverseProxy to a backend that never answers: per
//	                                 request a RoundTrip, and the connection's readLoop and writeLoop
//	servers/http-server-write-blocked a handler writing a 4 MiB answer it built to a client that
//	                                 never reads, on a server with no WriteTimeout
//	servers/http-server-held-conns   clients that send half a request header (slowloris)

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"syscall"
)

func startServers(rate float64) {
	d := every(rate)
	silent := silentBackend()
	target, _ := url.Parse(silent)
	proxyAddr := serveOn(&http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}) // BUG: no backend timeout
	exportAddr := serveOn(&http.Server{Handler: http.HandlerFunc(exportAll)})             // BUG: no WriteTimeout
	heldAddr := serveOn(&http.Server{Handler: http.HandlerFunc(okHandler)})               // BUG: no ReadHeaderTimeout
	loop := func(name string, spawn func()) { go leakLoop("servers/"+name, d, 1, 0, spawn) }
	loop("http-proxy-no-response", func() { holdProxiedRequest(proxyAddr[len("http://"):]) })
	loop("http-server-write-blocked", func() { requestWithoutReading(exportAddr[len("http://"):]) })
	loop("http-server-held-conns", func() { holdHalfRequest(heldAddr[len("http://"):]) })
}

// exportAll builds its whole answer in memory, then writes it: to a client that never reads, the
// write never ends and the answer stays.
func exportAll(w http.ResponseWriter, r *http.Request) {
	answer := make([]byte, 4<<20)
	for i := range answer {
		answer[i] = 'a' + byte(i%26)
	}
	w.Write(answer)
}

// requestWithoutReading asks for an answer with a small receive buffer and never reads it.
func requestWithoutReading(addr string) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return
	}
	c.Write([]byte("GET /export HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
	hold(c)
}
