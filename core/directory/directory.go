// Package directory owns how people find rooms without being in them: local
// room aliases (who may create and delete them), a room's entry in the
// published room list, and the /publicRooms listing with its search and
// pagination.
//
// The alias rows and the visibility flag themselves are stored by core/rooms
// (room_aliases, rooms.visibility); this package adds Synapse's permission
// rules on top and reads room state for the listing straight from the
// current_state and events tables in a fixed number of queries. It never
// builds events itself: the one event it causes (the m.room.canonical_alias
// update after an alias is deleted) goes through rooms.Service.Send.
package directory

import (
	"strings"
	"unicode"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// MaxIDLength is the spec's limit on room IDs and aliases.
const MaxIDLength = 255

// Service answers directory questions for one server.
type Service struct {
	db    *storage.DB
	rooms *rooms.Service
}

// New returns a directory over the rooms stored in db.
func New(db *storage.DB, rs *rooms.Service) *Service {
	return &Service{db: db, rooms: rs}
}

// ValidateAlias checks the grammar of a room alias (#local:server) without
// caring which server it names.
func ValidateAlias(alias string) error {
	local, server, ok := strings.Cut(strings.TrimPrefix(alias, "#"), ":")
	if !strings.HasPrefix(alias, "#") || !ok || local == "" || len(alias) > MaxIDLength ||
		strings.ContainsFunc(local, badIDRune) || !id.ValidateServerName(server) {
		return httpx.InvalidParam("Invalid room alias %q", alias)
	}
	return nil
}

// ValidateRoomID checks that roomID looks like a room ID. Room IDs are
// opaque, so only the sigil, the length and stray whitespace are checked.
func ValidateRoomID(roomID string) error {
	if len(roomID) < 2 || roomID[0] != '!' || len(roomID) > MaxIDLength || strings.ContainsFunc(roomID, badIDRune) {
		return httpx.InvalidParam("Invalid room ID %q", roomID)
	}
	return nil
}

func badIDRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == '#' || r == '/'
}

// aliasServer returns the server part of a validated alias.
func aliasServer(alias id.RoomAlias) string {
	_, server, _ := strings.Cut(string(alias), ":")
	return server
}
