package e2e

import (
	"fmt"
	"net/http"
	"sync"
)

// statusLog counts responses and keeps every 5xx. A 5xx is a bug in
// Gatehouse whatever the input (bad input must be a Matrix 4xx), so the
// harness fails the test, and TestMain the whole run, on any of them.
type statusLog struct {
	mu     sync.Mutex
	total  int
	errors []string
}

func (l *statusLog) add(req *http.Request, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if status >= 500 {
		l.errors = append(l.errors, fmt.Sprintf("%d for %s %s", status, req.Method, req.URL.Path))
	}
}

// serverErrors returns a description of every 5xx seen.
func (l *statusLog) serverErrors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errors...)
}

// count returns how many responses were seen.
func (l *statusLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// recordingTransport passes requests to base and records each response's
// status in every log.
type recordingTransport struct {
	base http.RoundTripper
	logs []*statusLog
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err == nil {
		for _, l := range rt.logs {
			l.add(req, resp.StatusCode)
		}
	}
	return resp, err
}
