// Package events is the pure side of Matrix events: the server's signing key,
// building, hashing and signing PDUs, and the client-format rendering that
// /sync serves. It does no I/O beyond reading and writing the key file.
package events

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"maunium.net/go/mautrix/id"
)

// SigningKey is the server's ed25519 federation signing key.
type SigningKey struct {
	ID   id.KeyID // "ed25519:a_XXXX"
	Priv ed25519.PrivateKey
}

// Public returns the unpadded-base64 public key, as published at /_matrix/key/v2/server.
func (k *SigningKey) Public() string {
	return base64.RawStdEncoding.EncodeToString(k.Priv.Public().(ed25519.PublicKey))
}

// LoadOrCreateSigningKey reads the key in Synapse's format
// ("ed25519 <version> <unpadded base64 seed>") or writes a new one (mode 0600)
// when the file does not exist, so a Synapse key file can be reused.
func LoadOrCreateSigningKey(path string) (*SigningKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		ver := []byte("a_xxxx")
		pick := make([]byte, len(ver))
		_, _ = rand.Read(pick)
		for i := 2; i < len(ver); i++ {
			ver[i] = alphabet[int(pick[i])%len(alphabet)]
		}
		line := fmt.Sprintf("ed25519 %s %s\n", ver, base64.RawStdEncoding.EncodeToString(seed))
		if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("write signing key %s: %w", path, err)
		}
		data = []byte(line)
	} else if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", path, err)
	}
	return ParseSigningKey(string(data))
}

// ParseSigningKey parses one Synapse-format key line.
func ParseSigningKey(s string) (*SigningKey, error) {
	fields := strings.Fields(s)
	if len(fields) != 3 || fields[0] != "ed25519" {
		return nil, errors.New("signing key file must hold one line: ed25519 <version> <base64 seed>")
	}
	seed, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(fields[2], "="))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("signing key seed must be 32 bytes of unpadded base64")
	}
	return &SigningKey{ID: id.KeyID("ed25519:" + fields[1]), Priv: ed25519.NewKeyFromSeed(seed)}, nil
}
