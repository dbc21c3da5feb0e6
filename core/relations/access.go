package relations

import (
	"context"
	"database/sql"
	"errors"
	"math"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// ReadLimit returns the last stream position of roomID that user may read:
// everything for joined members and world-readable rooms, and up to their
// departure for members who left and did not forget the room (Synapse's
// check_user_in_room_or_world_readable with allow_departed_users).
//
// NOTSPEC: within that range every event counts as visible; the finer
// history_visibility rules ("joined", "invited") are the sync package's
// filter and are not applied here yet.
func (s *Service) ReadLimit(ctx context.Context, roomID id.RoomID, user id.UserID) (int64, error) {
	member, err := s.rooms.StateEvent(ctx, roomID, event.StateMember.Type, user.String())
	if err != nil {
		return 0, err
	}
	var m event.Membership
	if member != nil {
		m = member.Membership()
	}
	if m == event.MembershipJoin {
		return math.MaxInt64, nil
	}
	hv, err := s.rooms.StateEvent(ctx, roomID, event.StateHistoryVisibility.Type, "")
	if err != nil {
		return 0, err
	}
	if hv != nil && gjson.GetBytes(hv.PDU.Content, "history_visibility").Str == "world_readable" {
		return math.MaxInt64, nil
	}
	if m == event.MembershipLeave {
		var one int
		err := s.db.QueryRow(ctx, `SELECT 1 FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, user, roomID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return member.Pos, nil
		} else if err != nil {
			return 0, err
		}
	}
	return 0, httpx.Forbidden("You are not in room %s and it is not world-readable", roomID)
}
