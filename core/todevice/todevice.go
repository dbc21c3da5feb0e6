// Package todevice owns the to-device message queue: PUT /sendToDevice
// queues messages per target device (expanding the "*" wildcard to every
// device of the target), /sync delivers them in stream order and a later
// /sync acknowledges them, and MSC3814 dehydrated devices read theirs
// without acknowledging.
//
// Every queued message is written through the stream writer with its target
// users in Change.UserIDs, so their long-polling /sync wakes. The package
// reads the accounts domain's devices table to expand wildcards and to drop
// messages for devices that do not exist; it never writes it.
//
// Acknowledgement: a sync token is one stream position, and a /sync carries
// at most a bounded batch of messages, so "since >= message position" alone
// would drop messages that were queued before the token but did not fit in
// the batch. Each message therefore remembers the next_batch of the first
// /sync that carried it (delivered_in); a /sync whose since is at or past that
// position proves the client received it, and deletes it.
package todevice

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Defaults for Options.
const (
	DefaultMaxPerDevice = 10000
	DefaultBatchSize    = 100
	// MaxMessageSize bounds one message's content, like an event's.
	MaxMessageSize = 64 * 1024
	// txnLifetime is how long a transaction ID is remembered.
	txnLifetime = 24 * time.Hour
)

// Options tunes a Service; the zero value means the defaults.
type Options struct {
	// MaxPerDevice bounds the messages queued for one device.
	MaxPerDevice int
	// BatchSize bounds the messages one /sync delivers.
	BatchSize int
	// Now replaces the clock in tests.
	Now func() time.Time
	// OnQueue runs inside the transaction that queues messages, with every
	// copy ("*" already expanded). Appservices use it so their users'
	// to-device messages are delivered in transactions even while the
	// appservice is down. It must only write to tx.
	OnQueue func(ctx context.Context, tx *storage.Tx, pos int64, msgs []Queued) error
}

// Queued is one copy of a to-device message for one device.
type Queued struct {
	Sender   id.UserID
	Type     string
	Content  json.RawMessage
	ToUser   id.UserID
	ToDevice id.DeviceID
}

// Service queues and delivers to-device messages.
type Service struct {
	db         *storage.DB
	w          *stream.Writer
	serverName string
	log        zerolog.Logger
	opts       Options
}

// New returns a Service writing through w. serverName tells local target
// users from remote ones.
func New(db *storage.DB, w *stream.Writer, serverName string, log zerolog.Logger, opts Options) *Service {
	if opts.MaxPerDevice <= 0 {
		opts.MaxPerDevice = DefaultMaxPerDevice
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, w: w, serverName: serverName, log: log, opts: opts}
}

// errDuplicate aborts a write whose transaction ID was already used.
var errDuplicate = errors.New("duplicate to-device transaction")

// DeleteDevice drops a deleted device's queue and transaction IDs. It is
// meant for the accounts OnDeviceChange hook.
func (s *Service) DeleteDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	return s.db.InTx(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2`, userID, deviceID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM to_device_txns WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
		return err
	})
}

// Pending counts the messages queued for a device.
func (s *Service) Pending(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM to_device_messages WHERE user_id = $1 AND device_id = $2`,
		userID, deviceID).Scan(&n)
	return n, err
}

// OnDeviceChange drops a deleted device's queue; register it with
// accounts.Service.OnDeviceChange.
func (s *Service) OnDeviceChange(ctx context.Context, c accounts.DeviceChange) {
	if c.Kind != accounts.DeviceDeleted {
		return
	}
	if err := s.DeleteDevice(ctx, c.UserID, c.DeviceID); err != nil {
		s.log.Err(err).Stringer("user_id", c.UserID).Stringer("device_id", c.DeviceID).Msg("Failed to drop a deleted device's to-device queue")
	}
}
