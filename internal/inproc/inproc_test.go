package inproc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestServesRegisteredHandler(t *testing.T) {
	var tr Transport
	tr.Handle("core", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.RemoteAddr != RemoteAddr {
			t.Errorf("RemoteAddr = %q", r.RemoteAddr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+string(body))
	}))
	c := &http.Client{Transport: &tr}
	resp, err := c.Post(URL("core")+"/_matrix/client/v3/x?user_id=%40a%3Ab", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, header %v", resp.StatusCode, resp.Header)
	}
	if want := `POST /_matrix/client/v3/x?user_id=%40a%3Ab {"a":1}`; string(got) != want {
		t.Fatalf("body %q, want %q", got, want)
	}
}

func TestUnknownNameFailsWithoutNetwork(t *testing.T) {
	c := &http.Client{Transport: &Transport{}}
	if _, err := c.Get(URL("nobody") + "/"); err == nil || !strings.Contains(err.Error(), "nothing serves") {
		t.Fatalf("err = %v", err)
	}
}

func TestOtherHostsUseNext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "net") }))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "net" {
		t.Fatalf("body %q", b)
	}
}

// A long poll that the caller abandons must stop the handler, as a closed
// connection would.
func TestCallerCancelStopsHandler(t *testing.T) {
	stopped := make(chan struct{})
	var tr Transport
	tr.Handle("core", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(stopped)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, URL("core")+"/sync", nil)
	if _, err := (&http.Client{Transport: &tr}).Do(req); err == nil {
		t.Fatal("expected a timeout")
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("handler still running after the caller gave up")
	}
}

func TestStreamsBeforeHandlerReturns(t *testing.T) {
	release := make(chan struct{})
	var tr Transport
	tr.Handle("core", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second")
	}))
	resp, err := (&http.Client{Transport: &tr}).Get(URL("core") + "/")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("read %q, %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
}

func TestHandlerPanicIsAnError(t *testing.T) {
	var tr Transport
	tr.Handle("core", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	resp, err := (&http.Client{Transport: &tr}).Get(URL("core") + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
