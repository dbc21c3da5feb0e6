// Package inproc carries HTTP requests between parts of the one process
// without a socket: an in-tree bridge talks to the homeserver's client API,
// and the homeserver pushes appservice transactions to the bridge, through
// the same http.Handlers a network peer would reach, with the same paths,
// tokens and JSON. Nothing is bypassed: only TCP is left out, so no port has
// to be allocated, exposed or guarded, and no listener address has to be
// guessed (the client listener may be on 0.0.0.0, a unix socket, or TLS).
package inproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Scheme-less hosts served in-process end in this suffix, which no DNS name
// can resolve to, so a request meant for one never leaves the machine.
const hostSuffix = ".gatehouse.internal"

// URL returns the base URL under which Transport serves the handler
// registered as name.
func URL(name string) string { return "http://" + name + hostSuffix }

// RemoteAddr is the peer address in-process requests carry, so rate limits
// and ip_range_whitelist checks see a loopback caller.
const RemoteAddr = "127.0.0.1:0"

// Transport is an http.RoundTripper that serves requests for registered
// names by calling their handlers directly and sends everything else
// through Next. It is safe for concurrent use.
type Transport struct {
	// Next handles requests for other hosts; nil means http.DefaultTransport.
	Next http.RoundTripper

	mu       sync.RWMutex
	handlers map[string]http.Handler
}

// Handle serves URL(name) with h. A later call replaces an earlier one.
func (t *Transport) Handle(name string, h http.Handler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.handlers == nil {
		t.handlers = make(map[string]http.Handler)
	}
	t.handlers[name+hostSuffix] = h
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := strings.ToLower(req.URL.Hostname())
	if !strings.HasSuffix(host, hostSuffix) {
		next := t.Next
		if next == nil {
			next = http.DefaultTransport
		}
		return next.RoundTrip(req)
	}
	t.mu.RLock()
	h := t.handlers[host]
	t.mu.RUnlock()
	if h == nil {
		closeBody(req)
		return nil, fmt.Errorf("inproc: nothing serves %s in this process", host)
	}
	return serve(h, req)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// serve runs h on a copy of req in its own goroutine and returns as soon as
// h has written its status line, streaming the body through a pipe, so long
// polls and large downloads behave as they would over a socket.
func serve(h http.Handler, req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(ctx)
	in.RemoteAddr = RemoteAddr
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &writer{header: make(http.Header), ready: make(chan struct{}), body: pw, req: req}
	go func() {
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				// net/http would log and drop the connection; the caller
				// sees a broken body, which is what a client would see.
				w.writeHeader(http.StatusInternalServerError)
				_ = pw.CloseWithError(fmt.Errorf("inproc: handler panicked: %v", p))
				return
			}
			w.writeHeader(http.StatusOK)
			_ = pw.Close()
		}()
		h.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	w.resp.Body = &body{PipeReader: pr, cancel: cancel}
	return w.resp, nil
}

// writer is the handler's side: the first write fixes the response head.
type writer struct {
	header http.Header
	once   sync.Once
	ready  chan struct{}
	resp   *http.Response
	body   *io.PipeWriter
	req    *http.Request
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) WriteHeader(status int) { w.writeHeader(status) }

func (w *writer) writeHeader(status int) {
	w.once.Do(func() {
		w.resp = &http.Response{
			Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: w.header.Clone(), ContentLength: -1, Request: w.req,
		}
		close(w.ready)
	})
}

func (w *writer) Write(p []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush lets handlers that stream (http.Flusher) work unchanged: every
// write already reaches the reader.
func (w *writer) Flush() { w.writeHeader(http.StatusOK) }

// body cancels the handler's context when the caller stops reading early,
// as closing a connection would.
type body struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *body) Close() error {
	b.cancel()
	return b.PipeReader.CloseWithError(errClosed)
}

var errClosed = errors.New("inproc: response body closed")
