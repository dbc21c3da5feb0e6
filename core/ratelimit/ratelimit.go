// Package ratelimit implements Synapse's rc_* token buckets: each key (a
// user ID or a client IP) has a bucket holding up to burst_count requests
// that refills at per_second. A request finding its bucket empty is refused
// with 429 M_LIMIT_EXCEEDED and retry_after_ms.
//
// Memory is bounded: a bucket that has refilled completely carries no
// information (a new bucket starts full), so idle buckets are swept, and
// the number of buckets is capped. The package knows nothing of accounts;
// exemption comes from httpx.Caller.RateLimited.
package ratelimit

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
)

// DefaultMaxKeys caps how many buckets a Limiter keeps.
const DefaultMaxKeys = 100_000

// sweepInterval is how often full buckets are dropped.
const sweepInterval = time.Minute

// Options tunes a Limiter beyond its config. The zero value is valid.
type Options struct {
	// MaxKeys caps the number of buckets; 0 means DefaultMaxKeys.
	MaxKeys int
	// Now replaces the clock in tests; nil means time.Now.
	Now func() time.Time
}

// Limiter is a set of token buckets sharing one rate. A nil *Limiter, or
// one whose PerSecond or BurstCount is not positive, allows everything.
type Limiter struct {
	rate, burst float64
	maxKeys     int
	now         func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter for one of the config's rc_* settings.
func New(rc config.RateLimit, opts Options) *Limiter {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{
		rate: rc.PerSecond, burst: rc.BurstCount, maxKeys: opts.MaxKeys, now: opts.Now,
		buckets: make(map[string]*bucket), lastSweep: opts.Now(),
	}
}

func (l *Limiter) disabled() bool { return l == nil || l.rate <= 0 || l.burst <= 0 }

// Allow takes one request from key's bucket. When the bucket is empty it
// takes nothing and returns how long until a request would be allowed.
func (l *Limiter) Allow(key string) (retryAfter time.Duration, ok bool) {
	return l.take(key, true)
}

// Check reports whether key's bucket has a request left without taking it,
// for limits that only count failures (rc_login.failed_attempts): check
// before the attempt, Allow after it fails.
func (l *Limiter) Check(key string) (retryAfter time.Duration, ok bool) {
	return l.take(key, false)
}

func (l *Limiter) take(key string, consume bool) (time.Duration, bool) {
	if l.disabled() {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if !consume {
			return 0, true
		}
		l.makeRoom(now)
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.refill(now, l.rate, l.burst)
	if b.tokens < 1 {
		wait := (1 - b.tokens) / l.rate
		return time.Duration(math.Ceil(wait*1000)) * time.Millisecond, false
	}
	if consume {
		b.tokens--
	}
	return 0, true
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed*rate)
		b.last = now
	}
}

// makeRoom sweeps full buckets once per sweepInterval, or at once when the
// cap is reached. If every bucket is still in use at the cap, arbitrary ones
// are dropped: those keys get a fresh burst, which is the price of bounded
// memory under a flood of distinct keys.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.maxKeys && now.Sub(l.lastSweep) < sweepInterval {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
}

// Len returns the number of buckets held (for tests and metrics).
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Exceeded is the 429 M_LIMIT_EXCEEDED error for a wait.
func Exceeded(retryAfter time.Duration) *httpx.Error {
	return httpx.LimitExceeded(max(retryAfter.Milliseconds(), 1))
}

// KeyFunc picks the bucket for a request.
type KeyFunc func(r *http.Request) string

// ByIP keys on the client's IP address.
func ByIP(r *http.Request) string { return ClientIP(r) }

// ByUser keys on the authenticated user, or the IP for anonymous requests.
func ByUser(r *http.Request) string {
	if c := httpx.CallerFrom(r); c != nil {
		return string(c.UserID)
	}
	return ClientIP(r)
}

// Middleware refuses requests over the limit with M_LIMIT_EXCEEDED.
// Callers with RateLimited false (admins, unlimited appservices) pass
// untouched; on authenticated routes the middleware sees the caller because
// httpx runs middleware after authentication.
func (l *Limiter) Middleware(key KeyFunc) httpx.Middleware {
	return func(next httpx.Handler) httpx.Handler {
		return func(r *http.Request) (any, error) {
			if c := httpx.CallerFrom(r); c != nil && !c.RateLimited {
				return next(r)
			}
			if wait, ok := l.Allow(key(r)); !ok {
				return nil, Exceeded(wait)
			}
			return next(r)
		}
	}
}

// ClientIP is the request's peer address without the port. Behind a
// reverse proxy (listeners with x_forwarded) the listener must rewrite
// RemoteAddr from X-Forwarded-For before requests reach handlers.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
