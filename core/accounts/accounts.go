// Package accounts owns local user accounts: registration, passwords,
// devices, access tokens and the profile fields stored with the account
// (display name, avatar URL). It authenticates every client request, so
// token lookups are served from a bounded in-memory cache.
//
// It must not know about rooms, sync or appservices: other domains react to
// account changes through the hooks registered with OnDeviceChange and
// OnDeactivate, and an appservice registry plugs in through the AppServices
// interface declared here.
//
// Errors a client should see are returned as *httpx.Error values (the
// Matrix error vocabulary is the domain's vocabulary here: M_USER_IN_USE,
// M_INVALID_USERNAME, M_FORBIDDEN...); anything else is an internal failure.
package accounts

import (
	"context"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// DefaultBcryptCost is Synapse's default bcrypt_rounds.
const DefaultBcryptCost = 12

// Options tunes a Service. The zero value is valid.
type Options struct {
	// BcryptCost is the bcrypt work factor for new password hashes;
	// 0 means DefaultBcryptCost. Tests use bcrypt.MinCost.
	BcryptCost int
	// TokenCacheSize bounds the access-token cache; 0 means 10,000 entries.
	TokenCacheSize int
	// AppServices lets an appservice registry claim user namespaces and
	// authenticate as_tokens; nil means there are no appservices.
	AppServices AppServices
	// Now replaces the clock in tests; nil means time.Now.
	Now func() time.Time
}

// Service manages local accounts in the database.
type Service struct {
	db         *storage.DB
	serverName string
	cost       int
	appsvc     AppServices
	now        func() time.Time
	tokens     *tokenCache

	dummyOnce sync.Once
	dummyHash []byte

	hookMu       sync.RWMutex
	deviceHooks  []func(context.Context, DeviceChange)
	deactivHooks []func(context.Context, id.UserID)
}

// New returns a Service for serverName's users stored in db.
func New(db *storage.DB, serverName string, opts Options) *Service {
	if opts.BcryptCost == 0 {
		opts.BcryptCost = DefaultBcryptCost
	}
	if opts.TokenCacheSize <= 0 {
		opts.TokenCacheSize = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{
		db:         db,
		serverName: serverName,
		cost:       opts.BcryptCost,
		appsvc:     opts.AppServices,
		now:        opts.Now,
		tokens:     newTokenCache(opts.TokenCacheSize),
	}
}

// ServerName returns the server name local user IDs end with.
func (s *Service) ServerName() string { return s.serverName }

// SetAppServices installs the appservice registry after construction, for
// wiring orders where the registry itself needs the Service. Call it before
// serving requests.
func (s *Service) SetAppServices(a AppServices) { s.appsvc = a }

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// DeviceChangeKind says what happened to a device.
type DeviceChangeKind int

const (
	DeviceAdded DeviceChangeKind = iota
	DeviceRenamed
	DeviceDeleted
)

// DeviceChange describes one change to a user's device list.
type DeviceChange struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	Kind     DeviceChangeKind
}

// OnDeviceChange registers fn to be called after a device is added,
// renamed or deleted (the E2EE domain sends device list updates and drops
// the device's keys). fn runs synchronously after the change has been
// committed, on the request's goroutine: it must not block for long and must
// not call back into device mutations. ctx is the request's context. Register hooks before serving.
func (s *Service) OnDeviceChange(fn func(ctx context.Context, c DeviceChange)) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.deviceHooks = append(s.deviceHooks, fn)
}

// OnDeactivate registers fn to be called after an account is deactivated
// (the rooms domain leaves the user's rooms). fn runs synchronously after the
// account, its devices and tokens are gone; it must not block for long.
func (s *Service) OnDeactivate(fn func(ctx context.Context, userID id.UserID)) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.deactivHooks = append(s.deactivHooks, fn)
}

func (s *Service) fireDevice(ctx context.Context, changes ...DeviceChange) {
	s.hookMu.RLock()
	hooks := s.deviceHooks
	s.hookMu.RUnlock()
	for _, c := range changes {
		for _, fn := range hooks {
			fn(ctx, c)
		}
	}
}

func (s *Service) fireDeactivate(ctx context.Context, userID id.UserID) {
	s.hookMu.RLock()
	hooks := s.deactivHooks
	s.hookMu.RUnlock()
	for _, fn := range hooks {
		fn(ctx, userID)
	}
}
