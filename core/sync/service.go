// Package sync serves /sync and the other endpoints that read rooms:
// /messages, /context, /event, /state, /members, /joined_members and
// /joined_rooms, plus sync filters, and MSC4186 simplified sliding sync
// (sliding*.go, the sync of Element X).
//
// It reads the events and current_state tables that core/rooms writes and
// never writes them. A /sync token is one stream position (see token.go);
// long polls wait on a stream.Notifier that New subscribes to the stream
// writer, so a waiting /sync wakes as soon as a relevant change commits.
//
// Cost model: every section is fetched with a constant number of batched
// queries per response (IN lists over rooms, UNION ALL of per-room LIMIT
// sub-selects), never one query per room, and stored client JSON is
// spliced into the response with its "unsigned" object added, never
// decoded and re-encoded. Bundled aggregations (edits, thread summaries,
// references; aggregations.go) add one to three batched queries to a
// page of events. The E2EE sections (to_device, device_lists,
// one-time key counts) come from Extensions registered by other packages.
//
// Deliberate gaps (NOTSPEC): event_format "federation" is served as
// "client"; knocked rooms and unread_thread_notifications are not reported;
// lazy loading does not remember which members a device already has, so
// incremental syncs resend the member events of timeline senders.
//
// The package is named sync like the standard library's; importers alias
// it (gsync).
package sync

import (
	"context"
	"encoding/json"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/push"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/core/typing"
)

// Sources are the services whose data /sync serves besides rooms.
type Sources struct {
	AccountData *accountdata.Service
	Receipts    *receipts.Service
	Typing      *typing.Service
	Presence    *presence.Service
	Push        *push.Service
}

// Extension contributes top-level sections to every /sync response; the
// E2EE package uses it for to_device, device_lists,
// device_one_time_keys_count and device_unused_fallback_key_types.
type Extension interface {
	// Sync is called for every computation of a /sync response (several
	// times for one request while a long poll waits), after the rooms are
	// known. It returns top-level fields to set, which replace the
	// placeholders of the same name, and whether any of them is news that
	// should end a long poll. It may query the database but must not wait
	// for anything else. Changes an extension reports must be written
	// through the stream writer with the user in Change.UserIDs, so that
	// a waiting /sync wakes.
	Sync(ctx context.Context, req *ExtensionRequest) (fields map[string]json.RawMessage, news bool, err error)
}

// ExtensionRequest describes the /sync being computed.
type ExtensionRequest struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	// Since is 0 for an initial sync. The response covers (Since, Upto].
	// While a long poll waits, Since moves past windows that held nothing
	// for the user (the extension included: it reported no news there), so
	// it can be later than the client's token.
	Since, Upto int64
	FullState   bool
	// JoinedRooms are the user's joined rooms at Upto; NewlyJoined and
	// NewlyLeft those whose membership changed to or from join in the window.
	JoinedRooms []id.RoomID
	NewlyJoined []id.RoomID
	NewlyLeft   []id.RoomID
}

// MaxTimeout caps a client's long-poll timeout.
const MaxTimeout = 3 * time.Minute

// Service computes /sync responses and serves room reads.
type Service struct {
	db       *storage.DB
	w        *stream.Writer
	notifier *stream.Notifier
	src      Sources
	exts     []Extension
	log      zerolog.Logger
	now      func() time.Time
	filters  filterCache
}

// New returns the sync service. n is the long-poll notifier, already
// subscribed to w (n := stream.NewNotifier(w.Pos()); w.Subscribe(n.OnCommit));
// when n is nil, New creates one and subscribes it. Either way the
// subscription must happen before anything is written through w.
func New(db *storage.DB, w *stream.Writer, n *stream.Notifier, src Sources, log zerolog.Logger) *Service {
	if n == nil {
		n = stream.NewNotifier(w.Pos())
		w.Subscribe(n.OnCommit)
	}
	return &Service{db: db, w: w, notifier: n, src: src, log: log, now: time.Now,
		filters: filterCache{m: map[string]*Filter{}}}
}

// AddExtension registers an extension; call before serving.
func (s *Service) AddExtension(e Extension) { s.exts = append(s.exts, e) }

// Sources returns the services New was given (the HTTP layer writes through them).
func (s *Service) Sources() Sources { return s.src }

// Notifier returns the long-poll notifier, for other long-polling endpoints.
func (s *Service) Notifier() *stream.Notifier { return s.notifier }

// Request is one /sync call.
type Request struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	// Since is the position of the since token; 0 for an initial sync.
	Since       int64
	Timeout     time.Duration
	FullState   bool
	SetPresence string
	Filter      *Filter
}
