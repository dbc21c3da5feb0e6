package rooms

import (
	"context"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// AdminJoin joins a local user to a room on a server admin's behalf
// (Synapse's POST /_synapse/admin/v1/join/{roomIdOrAlias}). When the room is
// not public the admin first invites the user, so the admin must be in the
// room with the power to invite; the auth rules refuse otherwise. Blocked
// rooms refuse as they do for any join. It returns the resolved room ID.
func (s *Service) AdminJoin(ctx context.Context, admin, user id.UserID, roomIDOrAlias string) (id.RoomID, error) {
	roomID, err := s.resolveRoom(ctx, roomIDOrAlias)
	if err != nil {
		return "", err
	}
	current, err := s.MembershipOf(ctx, roomID, user)
	if err != nil {
		return "", err
	}
	if current != event.MembershipJoin && current != event.MembershipInvite {
		public, err := s.joinRuleIsPublic(ctx, roomID)
		if err != nil {
			return "", err
		}
		if !public {
			if _, err := s.SetMembership(ctx, MembershipRequest{RoomID: roomID, Sender: admin, Target: user,
				Membership: event.MembershipInvite}); err != nil {
				return "", err
			}
		}
	}
	return s.Join(ctx, user, string(roomID), "", nil)
}

// joinRuleIsPublic reports whether anyone may join roomID without an invite.
func (s *Service) joinRuleIsPublic(ctx context.Context, roomID id.RoomID) (bool, error) {
	ev, err := s.StateEvent(ctx, roomID, event.StateJoinRules.Type, "")
	if err != nil || ev == nil {
		return false, err
	}
	return gjson.GetBytes(ev.Client, "content.join_rule").Str == string(event.JoinRulePublic), nil
}
