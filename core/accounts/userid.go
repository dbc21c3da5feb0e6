package accounts

import (
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// maxUserIDLength is the spec's limit on a full user ID, in bytes.
const maxUserIDLength = 255

// ValidateLocalpart checks a localpart wanted for a new account: only the
// characters the spec allows for new user IDs (a-z 0-9 . _ = - / +), not
// empty, and a full ID of at most 255 bytes. It returns M_INVALID_USERNAME.
func (s *Service) ValidateLocalpart(localpart string) error {
	if localpart == "" {
		return httpx.InvalidUsername("User ID cannot be empty")
	}
	for i := 0; i < len(localpart); i++ {
		if !localpartByte(localpart[i]) {
			return httpx.InvalidUsername("User ID can only contain characters a-z, 0-9, or '=_-./+'")
		}
	}
	if len(s.UserID(localpart)) > maxUserIDLength {
		return httpx.InvalidUsername("User ID may not be longer than %d characters", maxUserIDLength)
	}
	return nil
}

func localpartByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._=-/+", c) >= 0
}

// UserID returns the local user ID for localpart.
func (s *Service) UserID(localpart string) id.UserID {
	return id.NewUserID(localpart, s.serverName)
}

// IsLocal reports whether userID belongs to this server.
func (s *Service) IsLocal(userID id.UserID) bool {
	_, hs, err := userID.Parse()
	return err == nil && hs == s.serverName
}

// ResolveUser turns what a user typed at login ("alice", "@Alice:example.org")
// into a local user ID. Localparts are lowercased because registration only
// creates lowercase ones and users type their names in any case. ok is
// false for another server's user or a malformed ID.
func (s *Service) ResolveUser(identifier string) (userID id.UserID, ok bool) {
	if identifier == "" || len(identifier) > maxUserIDLength {
		return "", false
	}
	if !strings.HasPrefix(identifier, "@") {
		return s.UserID(strings.ToLower(identifier)), true
	}
	local, hs, err := id.UserID(identifier).Parse()
	if err != nil || hs != s.serverName || local == "" {
		return "", false
	}
	return s.UserID(strings.ToLower(local)), true
}
