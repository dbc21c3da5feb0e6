package directory

import (
	"context"
	"database/sql"
	"errors"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

var errNoRows = sql.ErrNoRows

// Visibility returns "public" or "private": whether the room is in the
// published room list.
func (s *Service) Visibility(ctx context.Context, roomID id.RoomID) (string, error) {
	if err := ValidateRoomID(string(roomID)); err != nil {
		return "", err
	}
	return s.rooms.Visibility(ctx, roomID)
}

// SetVisibility publishes a room in the room list or withdraws it. Like
// Synapse, it takes a server admin or a joined member whose power level
// allows sending m.room.canonical_alias (the "moderator" test); guests may
// never edit the list.
func (s *Service) SetVisibility(ctx context.Context, c *httpx.Caller, roomID id.RoomID, visibility string) error {
	if err := ValidateRoomID(string(roomID)); err != nil {
		return err
	}
	if visibility != "public" && visibility != "private" {
		return httpx.InvalidParam("visibility must be \"public\" or \"private\"")
	}
	if c.IsGuest {
		return httpx.Forbidden("Guests cannot edit the published room list")
	}
	if _, err := s.rooms.Version(ctx, roomID); err != nil {
		return err
	}
	if !c.IsAdmin {
		ok, err := s.canEditListing(ctx, roomID, c.UserID)
		if err != nil {
			return err
		}
		if !ok {
			return httpx.Forbidden("You need to be a moderator in the room to edit its room list entry")
		}
	}
	return s.rooms.SetVisibility(ctx, roomID, visibility)
}

// canEditListing is Synapse's check_can_change_room_list without the admin
// shortcut: joined, with the power to send m.room.canonical_alias.
func (s *Service) canEditListing(ctx context.Context, roomID id.RoomID, user id.UserID) (bool, error) {
	m, err := s.rooms.MembershipOf(ctx, roomID, user)
	if err != nil {
		return false, err
	}
	if m != event.MembershipJoin {
		return false, nil
	}
	pl, err := s.rooms.PowerLevels(ctx, roomID)
	if err != nil {
		return false, err
	}
	return pl.GetUserLevel(user) >= pl.GetEventLevel(event.StateCanonicalAlias), nil
}

// checkCanPeek allows current members, departed members who did not forget
// the room, and anyone when the room's history is world-readable.
func (s *Service) checkCanPeek(ctx context.Context, roomID id.RoomID, user id.UserID) error {
	m, err := s.rooms.MembershipOf(ctx, roomID, user)
	if err != nil {
		return err
	}
	if m == event.MembershipJoin {
		return nil
	}
	if m == event.MembershipLeave {
		var one int
		err := s.db.QueryRow(ctx, `SELECT 1 FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, user, roomID).Scan(&one)
		if errors.Is(err, errNoRows) {
			return nil
		} else if err != nil {
			return err
		}
	}
	hv, err := s.rooms.StateEvent(ctx, roomID, event.StateHistoryVisibility.Type, "")
	if err != nil {
		return err
	}
	if hv != nil && gjson.GetBytes(hv.PDU.Content, "history_visibility").Str == "world_readable" {
		return nil
	}
	return httpx.Forbidden("You are not in room %s and it is not world-readable", roomID)
}
