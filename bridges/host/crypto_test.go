//go:build cgo && !nocrypto

package host

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// flakyEncrypt fails like mautrix's Encrypt when a membership change
// deleted the session it had just shared, a given number of times.
type flakyEncrypt struct {
	matrix.Crypto
	losses, calls int
	fail          error
}

func (f *flakyEncrypt) Encrypt(_ context.Context, _ id.RoomID, _ event.Type, content *event.Content) error {
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	if f.calls <= f.losses {
		return fmt.Errorf("failed to encrypt event after re-sharing group session: %w", crypto.ErrNoGroupSession)
	}
	content.Parsed = &event.EncryptedEventContent{Algorithm: id.AlgorithmMegolmV1}
	return nil
}

func TestEncryptRetriesLostSession(t *testing.T) {
	f := &flakyEncrypt{losses: 1}
	content := &event.Content{Parsed: &event.MessageEventContent{Body: "hello"}}
	if err := (retryingCrypto{f}).Encrypt(t.Context(), "!r:example.org", event.EventMessage, content); err != nil || f.calls != 2 {
		t.Fatalf("err %v after %d calls; want success on the second", err, f.calls)
	}
	if _, ok := content.Parsed.(*event.EncryptedEventContent); !ok {
		t.Fatalf("content not encrypted: %T", content.Parsed)
	}

	f = &flakyEncrypt{losses: 100}
	if err := (retryingCrypto{f}).Encrypt(t.Context(), "!r:example.org", event.EventMessage, content); !errors.Is(err, crypto.ErrNoGroupSession) || f.calls != encryptAttempts {
		t.Fatalf("err %v after %d calls; want the error after %d", err, f.calls, encryptAttempts)
	}

	other := errors.New("database is locked")
	f = &flakyEncrypt{fail: other}
	if err := (retryingCrypto{f}).Encrypt(t.Context(), "!r:example.org", event.EventMessage, content); !errors.Is(err, other) || f.calls != 1 {
		t.Fatalf("err %v after %d calls; other errors are not retried", err, f.calls)
	}
}
