// Package pushers owns HTTP pushers: the per-user registrations that mobile
// clients make with POST /pushers/set, and the delivery of notifications to
// their push gateways (POST {data.url}, the push gateway API).
//
// Delivery is durable. core/push decides, inside an event's commit
// transaction, which users the event notifies; for each of them Notified
// queues one pusher_queue row per pusher in that same transaction, so a
// notification is stored exactly when its event is. After the commit a
// background goroutine per pusher with queued rows sends them in stream
// order, retrying with exponential backoff and giving up on a notification
// after GiveUpAfter. Nothing on the commit path waits for HTTP: Notified is
// a map lookup for users without pushers and one batched insert otherwise.
//
// Outbound requests go through a dialer that checks the resolved address
// against ip_range_blacklist, so a pusher cannot make the homeserver probe
// its own network, whatever a gateway's hostname resolves to.
//
// This package must not evaluate push rules (core/push does) nor import the
// HTTP surfaces; core/api/client serves the endpoints on top of it.
package pushers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/internal/netguard"
)

// Delivery defaults. The retry schedule follows Synapse (start at a second,
// give up on a notification after a day), but the backoff caps at ten
// minutes rather than an hour: a phone that missed a notification because
// its gateway was down should hear about the next ones soon after the
// gateway is back.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 10 * time.Minute
	DefaultGiveUpAfter   = 24 * time.Hour
	DefaultMaxConcurrent = 16
)

// Options tune a Pushers. The zero value gets the defaults above and no
// address restrictions.
type Options struct {
	// Blacklist lists CIDRs or addresses gateways are never reached at
	// (config ip_range_blacklist). Whitelist lists exceptions to it
	// (Synapse's ip_range_whitelist; tests allow loopback this way).
	Blacklist []string
	Whitelist []string

	Timeout       time.Duration // one POST to a gateway
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	GiveUpAfter   time.Duration // age at which a queued notification is dropped
	MaxConcurrent int           // POSTs in flight at once, over all pushers
}

// Pushers stores pushers and delivers notifications to their gateways.
type Pushers struct {
	db     *storage.DB
	log    zerolog.Logger
	opts   Options
	guard  *netguard.Guard
	client *http.Client
	now    func() time.Time
	sem    chan struct{}

	// setMu serialises pusher writes with the cache reloads that follow
	// them, so a reload never installs a list older than the database.
	setMu sync.Mutex
	mu    sync.RWMutex
	// byUser holds the IDs of each user's HTTP pushers. Slices are
	// replaced, never modified, so readers may keep them.
	byUser map[id.UserID][]int64

	runMu   sync.Mutex
	started bool
	runs    map[int64]*run // pushers with a delivery goroutine
	// staged maps a stream position to the pushers that got a queue row
	// for the event at that position, until the commit is published.
	staged map[int64][]int64
	// lastSent is the unread count each pusher's gateway last received.
	lastSent map[int64]int64
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// onAttempt, when set (tests), sees the outcome of every POST.
	onAttempt func(pusherID int64, err error)
}

// New loads the pushers of every user. Register Notified with core/push
// (OnNotify), OnCommit with stream.Writer.Subscribe, OnDeviceChange and
// OnDeactivate with the accounts service, then call Start.
func New(ctx context.Context, db *storage.DB, opts Options, log zerolog.Logger) (*Pushers, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = DefaultGiveUpAfter
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	guard, err := newIPGuard(opts.Blacklist, opts.Whitelist)
	if err != nil {
		return nil, err
	}
	p := &Pushers{db: db, log: log, opts: opts, guard: guard, client: newClient(guard, opts.Timeout),
		now: time.Now, sem: make(chan struct{}, opts.MaxConcurrent),
		byUser: map[id.UserID][]int64{}, runs: map[int64]*run{}, staged: map[int64][]int64{}, lastSent: map[int64]int64{}}
	rows, err := db.Query(ctx, `SELECT id, user_id FROM pushers WHERE kind = 'http' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load pushers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var user id.UserID
		if err := rows.Scan(&pid, &user); err != nil {
			return nil, err
		}
		p.byUser[user] = append(p.byUser[user], pid)
	}
	return p, rows.Err()
}

// Start launches delivery of what is already queued (notifications left
// over from before a restart) and of everything queued from now on.
func (p *Pushers) Start() {
	p.runMu.Lock()
	if p.started {
		p.runMu.Unlock()
		return
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.started = true
	p.runMu.Unlock()
	// Commits from here on kick their pushers themselves; the scan
	// catches everything committed before.
	ids, err := p.queuedPushers(p.ctx)
	if err != nil {
		p.log.Err(err).Msg("Failed to read the push queue; queued notifications wait for the next event")
	}
	p.kick(ids)
}

// Close stops delivery and waits for in-flight POSTs to be abandoned.
// What was not delivered stays queued for the next start.
func (p *Pushers) Close() {
	p.runMu.Lock()
	if p.cancel == nil {
		p.runMu.Unlock()
		return
	}
	// Cancelled under runMu, so kick starts no goroutine after Wait began.
	p.cancel()
	p.runMu.Unlock()
	p.wg.Wait()
}

// OnCommit is the stream.Writer hook: it starts delivery for the pushers
// that got notifications in the committed batch. It never blocks.
func (p *Pushers) OnCommit(changes []stream.Change) {
	p.runMu.Lock()
	if len(p.staged) == 0 {
		p.runMu.Unlock()
		return
	}
	var ids []int64
	for _, c := range changes {
		if s, ok := p.staged[c.Pos]; ok {
			ids = append(ids, s...)
			delete(p.staged, c.Pos)
		}
	}
	p.runMu.Unlock()
	p.kick(ids)
}

func (p *Pushers) queuedPushers(ctx context.Context) ([]int64, error) {
	rows, err := p.db.Query(ctx, `SELECT pusher_id FROM pusher_queue UNION SELECT pusher_id FROM pusher_badges`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var pid int64
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		ids = append(ids, pid)
	}
	return ids, rows.Err()
}

// pushersOf returns the IDs of user's HTTP pushers; the slice is shared.
func (p *Pushers) pushersOf(user id.UserID) []int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byUser[user]
}

// reloadUser refreshes user's cached pusher IDs. Call with setMu held,
// after the change committed.
func (p *Pushers) reloadUser(ctx context.Context, user id.UserID) error {
	rows, err := p.db.Query(ctx, `SELECT id FROM pushers WHERE user_id = $1 AND kind = 'http' ORDER BY id`, user)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var pid int64
		if err := rows.Scan(&pid); err != nil {
			return err
		}
		ids = append(ids, pid)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	if len(ids) == 0 {
		delete(p.byUser, user)
	} else {
		p.byUser[user] = ids
	}
	p.mu.Unlock()
	return nil
}
