package appservice

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Delivery tuning. The backoff caps at one minute, lower than five
// minutes because bridges restart often and an admin watching one come
// back should not wait long, higher than Synapse's few seconds because a
// bridge that is down for an hour should not be hammered. A successful
// ping (bridges ping at startup) cuts any wait short.
const (
	DefaultBatchSize  = 100
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	// DefaultTimeout bounds one transaction PUT.
	DefaultTimeout = 60 * time.Second
)

// Typing is what the pusher reads from the typing service (*typing.Service).
type Typing interface {
	Since(rooms []id.RoomID, since int64) map[id.RoomID][]id.UserID
}

// Receipts is what the pusher reads from the receipts service (*receipts.Service).
type Receipts interface {
	Since(ctx context.Context, rooms []id.RoomID, since int64, viewer id.UserID) (map[id.RoomID]json.RawMessage, error)
}

// Presence is what the pusher reads from the presence service (*presence.Service).
type Presence interface {
	Get(ctx context.Context, user id.UserID) (presence.Status, error)
	Content(st presence.Status) map[string]any
}

// KeyCounts is what MSC3202 appservices get from the E2EE key store with
// every transaction: per device, unclaimed one-time keys by algorithm and
// unused fallback key algorithms. Called from the pusher's goroutine; it
// may query the database.
type KeyCounts interface {
	OneTimeKeyCounts(ctx context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID]map[id.KeyAlgorithm]int, error)
	UnusedFallbackKeyTypes(ctx context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm, error)
}

// PusherOptions tune a Pusher. Sources left nil are simply not delivered.
type PusherOptions struct {
	Typing   Typing
	Receipts Receipts
	Presence Presence
	Keys     KeyCounts
	// HTTPClient sends transactions; nil means a client with
	// DefaultTimeout and keep-alive connections.
	HTTPClient *http.Client
	BatchSize  int
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Pusher queues what appservices must receive and delivers it.
type Pusher struct {
	db   *storage.DB
	reg  *Registry
	log  zerolog.Logger
	opts PusherOptions
	out  *Client

	hintMu sync.RWMutex
	hint   map[id.RoomID]struct{}
	cache  *roomCache
	// aliasNamespaces is set when some appservice with a URL claims aliases,
	// so room aliases matter to interest.
	aliasNamespaces bool

	ephemeral chan stream.Change
	dropped   atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewPusher prepares delivery for the registry's appservices: it creates
// their state rows and rebuilds appservice_room_members for any whose user
// namespaces changed. Call it before the server persists events, then
// register PersistHook with rooms.Service.AddPersistHook and OnCommit with
// stream.Writer.Subscribe, and call Start.
func NewPusher(ctx context.Context, db *storage.DB, reg *Registry, opts PusherOptions, log zerolog.Logger) (*Pusher, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	p := &Pusher{db: db, reg: reg, log: log, opts: opts, out: NewClient(reg, opts.HTTPClient),
		hint: map[id.RoomID]struct{}{}, cache: newRoomCache(), ephemeral: make(chan stream.Change, 4096)}
	for _, as := range reg.withURL {
		if len(as.Namespaces.Aliases) > 0 {
			p.aliasNamespaces = true
		}
	}
	if err := p.prepare(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Client returns the pusher's outbound client (queries, ping, third party).
func (p *Pusher) Client() *Client { return p.out }

// Start launches one delivery worker per appservice with a URL, and the
// ephemeral worker. Workers stop on Close.
func (p *Pusher) Start() {
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, as := range p.reg.withURL {
		w := &worker{p: p, as: as, log: p.log.With().Str("appservice", as.ID).Logger()}
		p.wg.Add(1)
		go w.run(p.ctx)
	}
	p.wg.Add(1)
	go p.ephemeralLoop(p.ctx)
}

// Close stops the workers without flushing anything: what was not
// delivered stays queued in the database for the next start.
func (p *Pusher) Close() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
}

// OnCommit is the stream.Writer hook. It never blocks: it wakes workers
// whose appservice got rows in the committed batch and hands ephemeral
// changes to the ephemeral worker (dropping them, with a count, if that
// worker is far behind; typing and presence are best effort).
func (p *Pusher) OnCommit(changes []stream.Change) {
	for _, c := range changes {
		switch c.Kind {
		case stream.KindEvent:
			if ev, ok := c.Data.(*rooms.Event); ok && p.changesFacts(ev) {
				p.cache.committed(ev.RoomID())
			}
		case stream.KindTyping, stream.KindReceipt, stream.KindPresence:
			if !p.anyEphemeral() {
				continue
			}
			select {
			case p.ephemeral <- c:
			default:
				p.dropped.Add(1)
			}
		}
	}
	for _, as := range p.reg.withURL {
		if as.dirty.Swap(false) {
			signal(as.wake)
		}
	}
}

// AliasesChanged must be called after a room's directory aliases change
// (PUT or DELETE /directory/room/{roomAlias}), so alias namespace interest
// sees the new set. Canonical alias changes are events and need no call.
func (p *Pusher) AliasesChanged(roomID id.RoomID) {
	if p.aliasNamespaces {
		p.cache.forget(roomID)
	}
}

// Poke tells the appservice's worker that it is reachable again: a waiting
// retry happens now and the backoff restarts. The ping endpoint calls it.
func (p *Pusher) Poke(asID string) {
	if as := p.reg.byID[asID]; as != nil {
		signal(as.poke)
	}
}

func (p *Pusher) anyEphemeral() bool {
	for _, as := range p.reg.withURL {
		if as.ReceiveEphemeral {
			return true
		}
	}
	return false
}
