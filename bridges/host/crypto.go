//go:build cgo && !nocrypto

package host

import (
	"context"
	"errors"

	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// encryptAttempts bounds how often one event is encrypted again after
// its room's megolm session vanished (see retryingCrypto).
const encryptAttempts = 3

// retryingCrypto works around a race in mautrix-go's bridge encryption
// (v0.32): Encrypt shares a new megolm session and then encrypts with it,
// while a membership change of a non-ghost (the bot's own join, the
// user's invite, both echoed back by the homeserver just as a new portal
// sends its first message) deletes the room's session in between. The
// event then fails with "no group session created" and is never
// bridged. Encrypting again shares a fresh session.
type retryingCrypto struct{ matrix.Crypto }

// Encrypt encrypts content for roomID, retrying while the session it
// shared disappears before use.
func (c retryingCrypto) Encrypt(ctx context.Context, roomID id.RoomID, evtType event.Type, content *event.Content) error {
	var err error
	for range encryptAttempts {
		if err = c.Crypto.Encrypt(ctx, roomID, evtType, content); !errors.Is(err, crypto.ErrNoGroupSession) {
			return err
		}
	}
	return err
}

// guardEncryption wraps the connector's encryption in retryingCrypto.
func guardEncryption(conn *matrix.Connector) {
	if conn.Crypto != nil {
		conn.Crypto = retryingCrypto{conn.Crypto}
	}
}
