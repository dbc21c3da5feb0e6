package ratelimit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Unix(1_700_000_000, 0)} }

func TestBucket(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{PerSecond: 0.5, BurstCount: 3}, Options{Now: c.now})
	for i := 0; i < 3; i++ {
		if _, ok := l.Allow("a"); !ok {
			t.Fatalf("request %d refused within burst", i)
		}
	}
	wait, ok := l.Allow("a")
	if ok || wait != 2*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for 2s", ok, wait)
	}
	if _, ok := l.Allow("b"); !ok {
		t.Fatal("another key shares a's bucket")
	}
	c.advance(time.Second)
	if wait, ok := l.Allow("a"); ok || wait != time.Second {
		t.Fatalf("after 1s: ok=%v wait=%v", ok, wait)
	}
	c.advance(time.Second)
	if _, ok := l.Allow("a"); !ok {
		t.Fatal("refill did not allow a request after 2s")
	}
	// A long pause refills to the burst, not beyond it.
	c.advance(time.Hour)
	for i := 0; i < 3; i++ {
		l.Allow("a")
	}
	if _, ok := l.Allow("a"); ok {
		t.Fatal("bucket overfilled past burst_count")
	}
}

func TestCheckDoesNotConsume(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{PerSecond: 1, BurstCount: 1}, Options{Now: c.now})
	for i := 0; i < 5; i++ {
		if _, ok := l.Check("k"); !ok {
			t.Fatal("Check consumed")
		}
	}
	if l.Len() != 0 {
		t.Fatal("Check created a bucket")
	}
	l.Allow("k")
	if wait, ok := l.Check("k"); ok || wait != time.Second {
		t.Fatalf("Check after Allow: ok=%v wait=%v", ok, wait)
	}
}

func TestDisabled(t *testing.T) {
	var nilLimiter *Limiter
	zero := New(config.RateLimit{}, Options{})
	for _, l := range []*Limiter{nilLimiter, zero} {
		for i := 0; i < 100; i++ {
			if _, ok := l.Allow("x"); !ok {
				t.Fatal("disabled limiter refused")
			}
		}
	}
}

func TestBoundedMemory(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{PerSecond: 0.001, BurstCount: 5}, Options{Now: c.now, MaxKeys: 100})
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprint("ip", i))
		if l.Len() > 100 {
			t.Fatalf("%d buckets, cap is 100", l.Len())
		}
	}
	// Idle buckets are swept once they have refilled.
	fast := New(config.RateLimit{PerSecond: 10, BurstCount: 1}, Options{Now: c.now})
	for i := 0; i < 50; i++ {
		fast.Allow(fmt.Sprint("ip", i))
	}
	c.advance(2 * sweepInterval)
	fast.Allow("new")
	if fast.Len() != 1 {
		t.Fatalf("%d buckets after sweep, want 1", fast.Len())
	}
}

func TestMiddleware(t *testing.T) {
	c := newClock()
	l := New(config.RateLimit{PerSecond: 0.1, BurstCount: 1}, Options{Now: c.now})
	h := httpx.Handler(l.Middleware(ByUser)(func(r *http.Request) (any, error) { return httpx.Empty, nil }))

	call := func(caller *httpx.Caller) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/x", nil)
		r.RemoteAddr = "198.51.100.4:1234"
		if caller != nil {
			r = httpx.WithCaller(r, caller)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := call(nil); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	w := call(nil)
	var body struct {
		ErrCode      string `json:"errcode"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != 429 || body.ErrCode != "M_LIMIT_EXCEEDED" || body.RetryAfterMS != 10000 || w.Header().Get("Retry-After") != "10" {
		t.Fatalf("second: %d %s %+v", w.Code, w.Body, body)
	}
	user := &httpx.Caller{UserID: "@a:x", RateLimited: true}
	if w := call(user); w.Code != 200 {
		t.Fatalf("user has its own bucket: %d", w.Code)
	}
	if w := call(user); w.Code != 429 {
		t.Fatalf("user over limit: %d", w.Code)
	}
	admin := &httpx.Caller{UserID: "@admin:x", IsAdmin: true, RateLimited: false}
	for i := 0; i < 10; i++ {
		if w := call(admin); w.Code != 200 {
			t.Fatalf("exempt caller limited: %d", w.Code)
		}
	}
}

func TestClientIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for addr, want := range map[string]string{"192.0.2.1:80": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "@unix": "@unix"} {
		r.RemoteAddr = addr
		if got := ClientIP(r); got != want {
			t.Errorf("ClientIP(%q) = %q", addr, got)
		}
	}
}
