package rooms

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Blocked reports whether a server admin blocked roomID, and who.
func (s *Service) Blocked(ctx context.Context, roomID id.RoomID) (bool, id.UserID, error) {
	var by id.UserID
	err := s.db.QueryRow(ctx, `SELECT user_id FROM blocked_rooms WHERE room_id = $1`, roomID).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	return err == nil, by, err
}

// SetBlocked blocks or unblocks roomID. A blocked room refuses joins,
// invites and knocks made through SetMembership (every membership endpoint);
// leaving and bans still work. A raw m.room.member sent with Send is not
// checked. The room need not be known here yet.
func (s *Service) SetBlocked(ctx context.Context, roomID id.RoomID, by id.UserID, blocked bool) error {
	if !blocked {
		_, err := s.db.Exec(ctx, `DELETE FROM blocked_rooms WHERE room_id = $1`, roomID)
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO blocked_rooms (room_id, user_id, blocked_ts) VALUES ($1, $2, $3)
		ON CONFLICT (room_id) DO NOTHING`, roomID, by, time.Now().UnixMilli())
	return err
}

// CheckNotBlocked refuses a membership m that would bring someone into a
// blocked room; for membership events sent as raw state (PUT /state).
func (s *Service) CheckNotBlocked(ctx context.Context, roomID id.RoomID, m event.Membership) error {
	return s.checkNotBlocked(ctx, roomID, m)
}

// checkNotBlocked refuses memberships that bring someone into a blocked
// room. SetMembership calls it.
func (s *Service) checkNotBlocked(ctx context.Context, roomID id.RoomID, m event.Membership) error {
	if m != event.MembershipJoin && m != event.MembershipInvite && m != event.MembershipKnock {
		return nil
	}
	blocked, _, err := s.Blocked(ctx, roomID)
	if err != nil {
		return err
	}
	if blocked {
		return httpx.Forbidden("This room has been blocked on this server")
	}
	return nil
}

// Default texts of the room that replaces a shut-down room, as in Synapse.
const (
	DefaultShutdownRoomName = "Content Violation Notification"
	DefaultShutdownMessage  = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)

// ShutdownRequest describes a server admin's shutdown of a room (Synapse's
// DELETE /_synapse/admin/v1/rooms/{roomId}).
type ShutdownRequest struct {
	RoomID id.RoomID
	// Admin is who asked; recorded with a block.
	Admin id.UserID
	// NewRoomUserID, when set, creates a room with that local user as
	// admin, posts Message there and moves the local members into it.
	NewRoomUserID id.UserID
	RoomName      string
	Message       string
	// Block keeps local users from joining the room again.
	Block bool
}

// ShutdownResult says what a shutdown did.
type ShutdownResult struct {
	KickedUsers       []id.UserID
	FailedToKickUsers []id.UserID
	LocalAliases      []id.RoomAlias
	NewRoomID         id.RoomID
}

// Shutdown makes every local member leave a room (and forget it), removes
// it from the room directory, optionally blocks it and moves the members
// into a new room with an explanation. Its local aliases move to the new
// room, or are deleted without one. An unknown room is ErrUnknownRoom
// unless it is only to be blocked.
func (s *Service) Shutdown(ctx context.Context, req ShutdownRequest) (*ShutdownResult, error) {
	res := &ShutdownResult{KickedUsers: []id.UserID{}, FailedToKickUsers: []id.UserID{}, LocalAliases: []id.RoomAlias{}}
	_, err := s.Version(ctx, req.RoomID)
	if err != nil && !(errors.Is(err, ErrUnknownRoom) && req.Block) {
		return nil, err
	}
	if req.Block { // before listing members, so nobody slips back in
		if err := s.SetBlocked(ctx, req.RoomID, req.Admin, true); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return res, nil // an unknown room is only blocked
	}
	members, err := s.Members(ctx, req.RoomID, event.MembershipJoin, event.MembershipInvite, event.MembershipKnock)
	if err != nil {
		return nil, err
	}
	if req.NewRoomUserID != "" {
		if res.NewRoomID, err = s.createNoticeRoom(ctx, req); err != nil {
			return nil, err
		}
	}
	for _, u := range members {
		if u.Homeserver() != s.opts.ServerName {
			continue
		}
		if err := s.evict(ctx, req.RoomID, u, res.NewRoomID); err != nil {
			s.log.Warn().Err(err).Stringer("room_id", req.RoomID).Stringer("user_id", u).Msg("Failed to remove user from shut-down room")
			res.FailedToKickUsers = append(res.FailedToKickUsers, u)
			continue
		}
		res.KickedUsers = append(res.KickedUsers, u)
	}
	if res.LocalAliases, err = s.moveAliasesTo(ctx, req.RoomID, res.NewRoomID, req.NewRoomUserID, req.Admin); err != nil {
		return nil, err
	}
	return res, s.SetVisibility(ctx, req.RoomID, "private")
}

// createNoticeRoom creates the public room the members of a shut-down room
// land in, where they may read but not speak (users_default -10).
func (s *Service) createNoticeRoom(ctx context.Context, req ShutdownRequest) (id.RoomID, error) {
	name, msg := req.RoomName, req.Message
	if name == "" {
		name = DefaultShutdownRoomName
	}
	if msg == "" {
		msg = DefaultShutdownMessage
	}
	roomID, _, err := s.CreateRoom(ctx, req.NewRoomUserID, &CreateRequest{Preset: "public_chat", Name: &name,
		PowerLevelContentOverride: json.RawMessage(`{"users_default":-10}`)})
	if err != nil {
		return "", err
	}
	content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": msg})
	_, err = s.Send(ctx, SendRequest{RoomID: roomID, Sender: req.NewRoomUserID, Type: event.EventMessage.Type, Content: content})
	return roomID, err
}

// evict makes u leave roomID and forget it, and joins u to newRoom if set.
func (s *Service) evict(ctx context.Context, roomID id.RoomID, u id.UserID, newRoom id.RoomID) error {
	if _, err := s.SetMembership(ctx, MembershipRequest{RoomID: roomID, Sender: u, Target: u, Membership: event.MembershipLeave}); err != nil {
		return err
	}
	if err := s.Forget(ctx, u, roomID); err != nil {
		return err
	}
	if newRoom == "" {
		return nil
	}
	_, err := s.Join(ctx, u, string(newRoom), "", nil)
	return err
}

// moveAliasesTo points roomID's local aliases at newRoom, or deletes them
// when newRoom is empty, and returns them.
func (s *Service) moveAliasesTo(ctx context.Context, roomID, newRoom id.RoomID, newCreator, admin id.UserID) ([]id.RoomAlias, error) {
	aliases, err := s.Aliases(ctx, roomID)
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		if err := s.DeleteAlias(ctx, a, admin, true); err != nil {
			return nil, err
		}
		if newRoom != "" {
			if err := s.CreateAlias(ctx, a, newRoom, newCreator); err != nil {
				return nil, err
			}
		}
	}
	return aliases, nil
}
