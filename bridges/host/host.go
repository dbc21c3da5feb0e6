// Package host runs several mautrix bridgev2 bridges inside the Gatehouse
// process: it validates their sections of gatehouse.yaml, generates their
// appservice registrations into the data directory, opens their databases,
// starts them, retries those that fail, and stops them on shutdown.
//
// A hosted bridge is an ordinary appservice. It reaches the homeserver's
// client API and receives its transactions through the same HTTP handlers
// an external bridge uses; internal/inproc only removes the socket. So a
// bridge that works here works against any homeserver, and an external
// bridge (mautrix-whatsapp, Heisenbridge) gets exactly the API the in-tree
// ones get.
//
// The host must never end the process: mautrix's standalone entry point
// (mxmain) calls os.Exit on startup errors, so bridges are assembled by
// hand from bridgev2.NewBridge and matrix.NewConnector, errors are logged
// with what to do next, and a failed bridge is retried with backoff while
// the homeserver keeps serving.
package host

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/internal/inproc"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// Consent records a user's double puppeting opt-in for a bridge; serve.go
// backs it with the user's io.gatehouse.double_puppet account data.
type Consent interface {
	// SetDoublePuppet adds (on) or removes bridgeID from user's opt-ins.
	SetDoublePuppet(ctx context.Context, user id.UserID, bridgeID string, on bool) error
}

// Options are what the host needs from the homeserver it runs in.
type Options struct {
	ServerName string
	Files      Files
	// PostgresDSN is the core's PostgreSQL DSN; bridges share that
	// database (bridgev2 keys its tables by bridge ID). Empty means each
	// bridge gets its own SQLite file.
	PostgresDSN string
	// Transport carries requests between the bridges and the homeserver
	// in-process; the homeserver's handler is registered on it as
	// HomeserverName before Start.
	Transport *inproc.Transport
	Consent   Consent
	Log       zerolog.Logger
	// MinBackoff and MaxBackoff bound the wait between start attempts of
	// a failing bridge (defaults 5 s and 5 min).
	MinBackoff, MaxBackoff time.Duration
}

// HomeserverName is the in-process name of the homeserver's HTTP handler.
const HomeserverName = "homeserver"

// Host runs the enabled bridges.
type Host struct {
	opts     Options
	bridges  []*hosted
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	startMu  sync.Mutex
	started  bool
	stopOnce sync.Once
	// schemaMu lets one bridge at a time upgrade its tables (see
	// upgradeSchemas).
	schemaMu sync.Mutex
}

// New prepares the enabled bridges: each gets its registration (generated
// on first start) and its HTTP handler on the transport. It returns the
// registrations for the homeserver's appservice registry.
func New(opts Options, settings []*Settings) (*Host, []*registration.Registration, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 5 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Minute, opts.MinBackoff)
	}
	h := &Host{opts: opts}
	var regs []*registration.Registration
	for _, s := range settings {
		if !s.Enabled {
			continue
		}
		reg, err := EnsureRegistration(opts.Files, s.Def.Name, opts.ServerName)
		if err != nil {
			return nil, nil, err
		}
		b := &hosted{settings: s, reg: reg, host: h,
			log: opts.Log.With().Str("bridge", s.Def.Name).Logger(), ready: make(chan struct{})}
		opts.Transport.Handle("bridge-"+s.Def.Name, b)
		h.bridges = append(h.bridges, b)
		regs = append(regs, reg)
	}
	return h, regs, nil
}

// Start launches every bridge in the background and returns at once: a
// bridge that cannot start is logged and retried, never fatal.
func (h *Host) Start(ctx context.Context) {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	if h.started {
		return
	}
	h.started = true
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, b := range h.bridges {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			b.run(ctx)
		}()
	}
}

// Stop stops the bridges and waits for them (each has a few seconds to
// disconnect its logins).
func (h *Host) Stop() {
	h.stopOnce.Do(func() {
		h.startMu.Lock()
		cancel := h.cancel
		h.startMu.Unlock()
		if cancel != nil {
			cancel()
		}
		h.wg.Wait()
	})
}

// SetConsent sets where double puppeting opt-ins are recorded; the core
// that backs it is built after New, so it is set before Start.
func (h *Host) SetConsent(c Consent) { h.opts.Consent = c }

// Names lists the bridges the host runs.
func (h *Host) Names() []string {
	out := make([]string, len(h.bridges))
	for i, b := range h.bridges {
		out[i] = b.settings.Def.Name
	}
	return out
}

// WaitReady blocks until the named bridge has started, or ctx ends. Tests
// and the startup log use it.
func (h *Host) WaitReady(ctx context.Context, name string) error {
	for _, b := range h.bridges {
		if b.settings.Def.Name == name {
			select {
			case <-b.ready:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return fmt.Errorf("no enabled bridge %q", name)
}

// ServeHTTP on a bridge that is not running answers 503: the homeserver's
// pusher keeps the transaction queued and retries, so nothing is lost
// while a bridge (re)starts.
func (b *hosted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.RLock()
	target := b.handler
	b.mu.RUnlock()
	if target == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"bridge is starting"}`))
		return
	}
	target.ServeHTTP(w, r)
}
