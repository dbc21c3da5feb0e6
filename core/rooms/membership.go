package rooms

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// memberContent builds an m.room.member content with the target's profile.
func (s *Service) memberContent(ctx context.Context, target id.UserID, m event.Membership, reason string, isDirect bool) (map[string]any, error) {
	content := map[string]any{"membership": string(m)}
	if reason != "" {
		content["reason"] = reason
	}
	if isDirect {
		content["is_direct"] = true
	}
	if target.Homeserver() == s.opts.ServerName && s.profiles != nil && (m == event.MembershipJoin || m == event.MembershipInvite) {
		exists, err := s.profiles.UserExists(ctx, target)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, httpx.NotFound("User %s does not exist", target)
		}
		name, avatar, err := s.profiles.Profile(ctx, target)
		if err != nil {
			return nil, err
		}
		if name != "" {
			content["displayname"] = name
		}
		if avatar != "" {
			content["avatar_url"] = avatar
		}
	}
	return content, nil
}

// MembershipRequest changes one user's membership.
type MembershipRequest struct {
	RoomID     id.RoomID
	Sender     id.UserID
	Target     id.UserID
	Membership event.Membership
	Reason     string
	IsDirect   bool
	// Extra is merged into the content (appservice or client extras).
	Extra map[string]any
	TS    int64
}

// SetMembership sends an m.room.member event: join, invite, leave (also
// kick and unban), ban or knock. The auth rules decide whether it is allowed.
func (s *Service) SetMembership(ctx context.Context, req MembershipRequest) (*Event, error) {
	if _, _, err := req.Target.ParseAndValidateRelaxed(); err != nil {
		return nil, httpx.InvalidParam("Invalid user ID %q", req.Target)
	}
	if req.Target.Homeserver() != s.opts.ServerName && req.Membership == event.MembershipInvite {
		return nil, httpx.Forbidden("Inviting users on other servers needs federation, which this server does not have enabled yet")
	}
	if err := s.checkNotBlocked(ctx, req.RoomID, req.Membership); err != nil {
		return nil, err
	}
	content, err := s.memberContent(ctx, req.Target, req.Membership, req.Reason, req.IsDirect)
	if err != nil {
		return nil, err
	}
	for k, v := range req.Extra {
		if k != "membership" {
			content[k] = v
		}
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	sk := req.Target.String()
	return s.Send(ctx, SendRequest{RoomID: req.RoomID, Sender: req.Sender, Type: event.StateMember.Type,
		StateKey: &sk, Content: raw, TS: req.TS})
}

// Join joins a user to a local room, by room ID or alias. Joining a room
// this server doesn't know needs federation.
func (s *Service) Join(ctx context.Context, user id.UserID, roomIDOrAlias string, reason string, extra map[string]any) (id.RoomID, error) {
	roomID, err := s.resolveRoom(ctx, roomIDOrAlias)
	if err != nil {
		return "", err
	}
	if m, err := s.MembershipOf(ctx, roomID, user); err != nil {
		if err == ErrUnknownRoom {
			return "", httpx.NotFound("No known servers to join %s: the room is unknown to this server", roomIDOrAlias)
		}
		return "", err
	} else if m == event.MembershipJoin && len(extra) == 0 {
		return roomID, nil // joining twice is a no-op, as in Synapse
	}
	_, err = s.SetMembership(ctx, MembershipRequest{RoomID: roomID, Sender: user, Target: user,
		Membership: event.MembershipJoin, Reason: reason, Extra: extra})
	return roomID, err
}

func (s *Service) resolveRoom(ctx context.Context, roomIDOrAlias string) (id.RoomID, error) {
	switch {
	case len(roomIDOrAlias) > 0 && roomIDOrAlias[0] == '!':
		return id.RoomID(roomIDOrAlias), nil
	case len(roomIDOrAlias) > 0 && roomIDOrAlias[0] == '#':
		roomID, err := s.ResolveAlias(ctx, id.RoomAlias(roomIDOrAlias))
		if err != nil {
			return "", err
		}
		if roomID == "" {
			return "", httpx.NotFound("Room alias %s not found", roomIDOrAlias)
		}
		return roomID, nil
	}
	return "", httpx.InvalidParam("%q is neither a room ID nor a room alias", roomIDOrAlias)
}

// Forget hides a room the user has left from their /sync.
func (s *Service) Forget(ctx context.Context, user id.UserID, roomID id.RoomID) error {
	m, err := s.MembershipOf(ctx, roomID, user)
	if err != nil {
		return err
	}
	if m == event.MembershipJoin || m == event.MembershipInvite || m == event.MembershipKnock {
		return httpx.BadRequest("You must leave the room before forgetting it")
	}
	_, err = s.db.Exec(ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, user, roomID)
	return err
}

// JoinedRooms lists the rooms where the user's membership is join.
func (s *Service) JoinedRooms(ctx context.Context, user id.UserID) ([]id.RoomID, error) {
	rows, err := s.db.Query(ctx, `SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = $1 AND membership = 'join'`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []id.RoomID{}
	for rows.Next() {
		var r id.RoomID
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProfileChanged re-sends the user's membership in every joined room so
// the new displayname/avatar shows there, as Synapse does.
func (s *Service) ProfileChanged(ctx context.Context, user id.UserID) error {
	rooms, err := s.JoinedRooms(ctx, user)
	if err != nil {
		return err
	}
	for _, roomID := range rooms {
		cur, err := s.StateEvent(ctx, roomID, event.StateMember.Type, user.String())
		if err != nil || cur == nil {
			continue
		}
		var content map[string]any
		_ = json.Unmarshal(cur.PDU.Content, &content)
		fresh, err := s.memberContent(ctx, user, event.MembershipJoin, "", false)
		if err != nil {
			return err
		}
		delete(content, "displayname")
		delete(content, "avatar_url")
		for k, v := range fresh {
			content[k] = v
		}
		raw, _ := json.Marshal(content)
		sk := user.String()
		if _, err := s.Send(ctx, SendRequest{RoomID: roomID, Sender: user, Type: event.StateMember.Type, StateKey: &sk, Content: raw}); err != nil {
			s.log.Warn().Err(err).Stringer("room_id", roomID).Msg("Failed to update membership after profile change")
		}
	}
	return nil
}

// LeaveAll makes a deactivated user leave every room they are joined to or
// invited to, as Synapse does on deactivation.
func (s *Service) LeaveAll(ctx context.Context, user id.UserID) {
	rows, err := s.db.Query(ctx, `SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = $1 AND membership IN ('join', 'invite', 'knock')`, user)
	if err != nil {
		s.log.Warn().Err(err).Stringer("user_id", user).Msg("Failed to list rooms of deactivated user")
		return
	}
	var roomIDs []id.RoomID
	for rows.Next() {
		var r id.RoomID
		if rows.Scan(&r) == nil {
			roomIDs = append(roomIDs, r)
		}
	}
	rows.Close()
	for _, roomID := range roomIDs {
		if _, err := s.SetMembership(ctx, MembershipRequest{RoomID: roomID, Sender: user, Target: user, Membership: event.MembershipLeave}); err != nil {
			s.log.Warn().Err(err).Stringer("room_id", roomID).Msg("Deactivated user could not leave room")
		}
	}
}
