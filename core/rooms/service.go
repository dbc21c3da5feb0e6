// Package rooms owns room state and the creation of local events: it builds
// each event as a signed PDU (auth_events, prev_events, depth, hashes), checks
// it against the room version's auth rules (mautrix federation/eventauth)
// before anything is stored, and persists it through the stream writer so
// /sync, appservices and federation see it in order.
//
// Each room's current state lives in memory (loaded on first use) behind the
// room's lock; the lock is held only while an event is built and queued, not
// while it commits, so concurrent senders into one room share commits.
//
// Reading timelines is the sync package's job; rooms only serves state.
package rooms

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Profiles is what rooms needs from accounts: whether a local user exists
// and the profile copied into their membership events.
type Profiles interface {
	UserExists(ctx context.Context, userID id.UserID) (bool, error)
	Profile(ctx context.Context, userID id.UserID) (displayName, avatarURL string, err error)
}

// PersistHook runs inside the transaction that stores ev (push actions,
// appservice queues). It must only write to tx and must be fast: it runs on
// the commit path of every event.
type PersistHook func(ctx context.Context, tx *storage.Tx, ev *Event) error

// Options are the room settings taken from the config.
type Options struct {
	ServerName     string
	Key            *events.SigningKey
	DefaultVersion id.RoomVersion
	// EncryptByDefault is "all", "invite" or "off"
	// (encryption_enabled_by_default_for_room_type).
	EncryptByDefault string
}

// Service creates and stores events for local senders.
type Service struct {
	db       *storage.DB
	writer   *stream.Writer
	profiles Profiles
	opts     Options
	log      zerolog.Logger
	hooks    []PersistHook

	mu    sync.Mutex
	rooms map[id.RoomID]*room
}

// New returns a room service. Profiles may be nil in tests that only use
// users known to exist.
func New(db *storage.DB, w *stream.Writer, profiles Profiles, opts Options, log zerolog.Logger) *Service {
	if opts.DefaultVersion == "" {
		opts.DefaultVersion = id.RoomV11
	}
	return &Service{db: db, writer: w, profiles: profiles, opts: opts, log: log, rooms: map[id.RoomID]*room{}}
}

// AddPersistHook registers h; call before the server starts serving.
func (s *Service) AddPersistHook(h PersistHook) { s.hooks = append(s.hooks, h) }

// ServerName returns the local server name.
func (s *Service) ServerName() string { return s.opts.ServerName }

// Event is a stored event. Change.Data of a stream.KindEvent change is an *Event.
type Event struct {
	Pos     int64
	ID      id.EventID
	Version id.RoomVersion
	// PDU is the event as federation sees it. In rooms of versions 1 and 2
	// it is a view of the stored form (events.ToView): prev_events and
	// auth_events by ID, the event ID in InternalMeta.EventID, hashes and
	// signatures that verify only on the stored form.
	PDU *pdu.PDU
	// Client is the client-format JSON without "unsigned".
	Client json.RawMessage
	// pduJSON caches the federation JSON between build and persist.
	pduJSON []byte
	// legacy is the stored form in rooms of versions 1 and 2 (legacy.go).
	legacy *legacyPDU
	// TxnID and DeviceID are set for events sent by a local client with a
	// transaction ID, so the sender's own /sync can echo transaction_id.
	TxnID    string
	DeviceID id.DeviceID
	// txnScope is the endpoint and room the transaction ID belongs to.
	txnScope string
}

// RoomID returns the event's room.
func (e *Event) RoomID() id.RoomID { return e.PDU.RoomID }

// Type returns the event type.
func (e *Event) Type() string { return e.PDU.Type }

// StateKey returns the state key, or nil for message events.
func (e *Event) StateKey() *string { return e.PDU.StateKey }

// Sender returns the sender.
func (e *Event) Sender() id.UserID { return e.PDU.Sender }

// Membership returns content.membership for member events.
func (e *Event) Membership() event.Membership {
	if e.PDU.Type != event.StateMember.Type {
		return ""
	}
	return event.Membership(gjson.GetBytes(e.PDU.Content, "membership").Str)
}

// Relation returns the m.relates_to event ID and rel_type, if any.
func (e *Event) Relation() (eventID, relType string) {
	rel := gjson.GetBytes(e.PDU.Content, `m\.relates_to`)
	if !rel.Exists() {
		return "", ""
	}
	if r := rel.Get("event_id"); r.Type == gjson.String {
		return r.Str, rel.Get("rel_type").Str
	}
	if r := rel.Get(`m\.in_reply_to.event_id`); r.Type == gjson.String {
		return r.Str, "m.in_reply_to"
	}
	return "", ""
}
