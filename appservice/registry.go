// Package appservice is the homeserver side of the Application Service API:
// the registry of loaded registrations (namespace matching, which rooms and
// users an appservice is interested in), as_token authentication with
// identity assertion and device masquerading, the durable transaction
// pusher, and the outbound calls to appservices (user and alias queries,
// ping, third-party lookups).
//
// Delivery is durable: what an appservice must receive is written to its
// outbox (appservice_queue) in the same database transaction as the event
// or to-device message itself, through rooms' persist hook and the Queue*
// functions, so nothing is lost if the process dies right after a commit.
// Each appservice has one worker that sends its outbox in order, in batches,
// retrying the same transaction ID with the same contents until it is
// accepted. See pusher.go.
//
// Appservice URLs are configured by the admin and trusted; bridges normally
// listen on loopback. Outbound requests to them therefore bypass the
// private-address blacklist that guards URL previews and federation.
//
// It must not be imported by core: core declares the interfaces it needs
// (accounts.AppServices, the client API's AppServiceAPI) and serve.go wires
// this package in, before the server persists or serves anything:
//
//	regs, err := registration.LoadFiles(cfg.AppServiceConfigFiles, cfg.ServerName)
//	reg := appservice.NewRegistry(regs, cfg.ServerName, acc)
//	acc.SetAppServices(reg)
//	pusher, err := appservice.NewPusher(ctx, db, reg, appservice.PusherOptions{...}, log)
//	rs.AddPersistHook(pusher.PersistHook)
//	writer.Subscribe(pusher.OnCommit)
//	pusher.Start() // and pusher.Close() on shutdown, before writer.Close()
//	client.RegisterAppServices(rt, appservice.NewAPI(reg, pusher.Client(), pusher))
package appservice

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// AppService is one registered appservice at runtime.
type AppService struct {
	*registration.Registration
	// Sender is the user named by sender_localpart.
	Sender id.UserID

	// dirty is set on the commit path when a row was queued for this
	// appservice; the writer hook turns it into a wake-up once committed.
	dirty atomic.Bool
	// wake says "new rows"; poke says "the appservice is up, retry now".
	wake chan struct{}
	poke chan struct{}
}

// IsUser reports whether userID is the appservice's sender or in one of
// its user namespaces, exclusive or not: the users it may act as and
// whose events, to-device messages and keys concern it.
func (as *AppService) IsUser(userID id.UserID) bool {
	return userID == as.Sender || as.MatchUser(string(userID), false)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Accounts is what the registry needs from the accounts service to check
// an identity assertion; *accounts.Service implements it.
type Accounts interface {
	UserExists(ctx context.Context, userID id.UserID) (bool, error)
	Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (*accounts.Device, error)
}

// Registry holds the loaded appservices. It is immutable after NewRegistry
// and safe for concurrent use.
type Registry struct {
	serverName string
	accounts   Accounts
	list       []*AppService
	byID       map[string]*AppService
	byToken    map[[32]byte]*AppService
	// withURL are the appservices that receive transactions.
	withURL []*AppService

	// known caches users that exist (accounts are deactivated, never
	// deleted), so identity assertion costs no query after the first.
	knownMu sync.RWMutex
	known   map[id.UserID]struct{}

	// Native double puppeting (SetDoublePuppet); set before serving.
	puppetGrants  map[string]DoublePuppetMode
	puppetConsent AccountDataReader
}

// maxKnownUsers bounds the existence cache; past it the cache restarts.
const maxKnownUsers = 100_000

// NewRegistry builds the registry from registrations that passed
// registration.LoadFiles (or Validate and ValidateSet). accounts may be nil
// in tests that assert no identities; the server passes its accounts
// service so ?user_id= and device masquerading are checked against it.
func NewRegistry(regs []*registration.Registration, serverName string, accounts Accounts) *Registry {
	r := &Registry{serverName: serverName, accounts: accounts,
		byID: map[string]*AppService{}, byToken: map[[32]byte]*AppService{}, known: map[id.UserID]struct{}{}}
	for _, reg := range regs {
		as := &AppService{Registration: reg, Sender: reg.SenderUserID(serverName),
			wake: make(chan struct{}, 1), poke: make(chan struct{}, 1)}
		r.list = append(r.list, as)
		r.byID[reg.ID] = as
		r.byToken[sha256.Sum256([]byte(reg.ASToken))] = as
		if reg.HasURL() {
			r.withURL = append(r.withURL, as)
		}
	}
	return r
}

// ServerName is the homeserver's server name.
func (r *Registry) ServerName() string { return r.serverName }

// Get returns the appservice with that ID, or nil.
func (r *Registry) Get(asID string) *AppService { return r.byID[asID] }

// All returns every appservice, in registration order.
func (r *Registry) All() []*AppService { return r.list }

// byTokenValue finds the appservice whose as_token is token. Hashing first
// keeps the lookup's timing independent of how much of a token matches.
func (r *Registry) byTokenValue(token string) *AppService {
	return r.byToken[sha256.Sum256([]byte(token))]
}

// ExclusiveOwner implements accounts.AppServices: the appservice claiming
// userID in an exclusive namespace (or as its sender), or "".
func (r *Registry) ExclusiveOwner(userID id.UserID) string {
	for _, as := range r.list {
		if userID == as.Sender || as.MatchUser(string(userID), true) {
			return as.ID
		}
	}
	return ""
}

// InNamespace implements accounts.AppServices: whether appServiceID may
// register and log in as userID.
func (r *Registry) InNamespace(appServiceID string, userID id.UserID) bool {
	as := r.byID[appServiceID]
	return as != nil && as.IsUser(userID)
}

// AliasExclusiveOwner returns the appservice claiming alias exclusively,
// or "". Creating such an alias is refused to everyone else (M_EXCLUSIVE).
func (r *Registry) AliasExclusiveOwner(alias id.RoomAlias) string {
	for _, as := range r.list {
		if as.MatchAlias(string(alias), true) {
			return as.ID
		}
	}
	return ""
}

// userExists answers from the cache, then accounts.
func (r *Registry) userExists(ctx context.Context, userID id.UserID) (bool, error) {
	r.knownMu.RLock()
	_, ok := r.known[userID]
	r.knownMu.RUnlock()
	if ok || r.accounts == nil {
		return true, nil
	}
	exists, err := r.accounts.UserExists(ctx, userID)
	if err != nil || !exists {
		return false, err
	}
	r.knownMu.Lock()
	if len(r.known) >= maxKnownUsers {
		r.known = map[id.UserID]struct{}{}
	}
	r.known[userID] = struct{}{}
	r.knownMu.Unlock()
	return true, nil
}

// UnstableFeatures are the /versions unstable_features flags for what
// this package serves; serve.go merges them into client.ServerInfo.Unstable.
// Appservice ping is also implied by the v1.7 spec version, but mautrix
// checks this flag too.
func UnstableFeatures() map[string]bool {
	return map[string]bool{
		"fi.mau.msc2659.stable": true, // appservice ping
		"org.matrix.msc3202":    true, // device masquerading, device lists and key counts in transactions
	}
}
