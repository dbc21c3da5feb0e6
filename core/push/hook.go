package push

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// roomInfo is what evaluation needs from a room's state. It is cached per
// room and dropped whenever a member or power levels event is persisted;
// the next event reloads it inside its own transaction, so it always
// reflects the state the event is stored on top of.
type roomInfo struct {
	joined       int
	members      map[id.UserID]string // joined members -> lower-cased display name
	users        map[string]int64     // power levels of users
	usersDefault int64
	notifyRoom   int64
}

func (r *roomInfo) level(user string) int64 {
	if l, ok := r.users[user]; ok {
		return l
	}
	return r.usersDefault
}

// PersistHook evaluates ev for each local joined member (and an invited
// user) and stores a row for every user it notifies. Register it with
// rooms.Service.AddPersistHook. It runs on the commit path of every event.
func (s *Service) PersistHook(ctx context.Context, tx *storage.Tx, ev *rooms.Event) error {
	if s.Disabled {
		return nil
	}
	p := ev.PDU
	isMember := p.StateKey != nil && p.Type == event.StateMember.Type
	var invitee id.UserID
	if isMember {
		target := id.UserID(*p.StateKey)
		wasJoined, err := joinedBefore(ctx, tx, p.RoomID, target, ev.Pos)
		if err != nil {
			return err
		}
		switch m := ev.Membership(); {
		case m == event.MembershipInvite && !wasJoined:
			invitee = target
		case m == event.MembershipJoin && !wasJoined, m == event.MembershipLeave, m == event.MembershipBan:
			// Counts start at the join (the invite's notification is
			// not an unread message), and rows of a room the user left
			// would resurface if they came back.
			if err := clearCounts(ctx, tx, target, p.RoomID); err != nil {
				return err
			}
		}
	}
	if p.StateKey != nil && (isMember || p.Type == event.StatePowerLevels.Type) {
		s.dropRoom(p.RoomID)
	}
	info, err := s.roomInfo(ctx, tx, p.RoomID)
	if err != nil {
		return err
	}
	view := &eventView{typ: p.Type, sender: p.Sender.String(), roomID: p.RoomID.String(), stateKey: p.StateKey, content: p.Content}
	counts := pendingIn(tx)
	add := func(user id.UserID, displayName string) error {
		if user == p.Sender || !s.isLocal(user) {
			return nil
		}
		rules, err := s.rulesFor(ctx, tx, user)
		if err != nil {
			return err
		}
		if notify, highlight := rules.eval(view, info, member{displayName: displayName}); notify {
			counts.add(p.RoomID, user, ev.Pos, highlight)
			if s.OnNotify != nil {
				return s.OnNotify(ctx, tx, user, ev, highlight)
			}
		}
		return nil
	}
	for user, name := range info.members {
		if err := add(user, name); err != nil {
			return err
		}
	}
	if invitee != "" {
		if err := add(invitee, ""); err != nil {
			return err
		}
	}
	return nil
}

// clearCounts forgets all of a user's notifications in a room, including
// increments of this batch not yet written.
func clearCounts(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID) error {
	pendingIn(tx).drop(room, user)
	_, err := tx.Exec(ctx, `DELETE FROM notification_counts WHERE room_id = $1 AND user_id = $2`, room, user)
	return err
}

// joinedBefore reports whether user was joined just before position pos.
func joinedBefore(ctx context.Context, tx *storage.Tx, room id.RoomID, user id.UserID, pos int64) (bool, error) {
	var m sql.NullString
	err := tx.QueryRow(ctx, `SELECT membership FROM events WHERE room_id = $1 AND type = 'm.room.member'
		AND state_key = $2 AND stream_pos < $3 ORDER BY stream_pos DESC LIMIT 1`, room, user, pos).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return m.String == "join", err
}

func (s *Service) isLocal(user id.UserID) bool {
	return s.serverName == "" || user.Homeserver() == s.serverName
}

func (s *Service) dropRoom(roomID id.RoomID) {
	s.mu.Lock()
	delete(s.rooms, roomID)
	s.mu.Unlock()
}

func (s *Service) roomInfo(ctx context.Context, tx *storage.Tx, roomID id.RoomID) (*roomInfo, error) {
	s.mu.Lock()
	info := s.rooms[roomID]
	s.mu.Unlock()
	if info != nil {
		return info, nil
	}
	rows, err := tx.Query(ctx, `
		SELECT cs.type, cs.state_key, e.client FROM current_state cs JOIN events e ON e.event_id = cs.event_id
		WHERE cs.room_id = $1 AND ((cs.type = 'm.room.member' AND cs.membership = 'join')
			OR (cs.type = 'm.room.power_levels' AND cs.state_key = ''))`, roomID)
	if err != nil {
		return nil, fmt.Errorf("load push state of %s: %w", roomID, err)
	}
	defer rows.Close()
	info = &roomInfo{members: map[id.UserID]string{}, notifyRoom: 50}
	for rows.Next() {
		var typ, stateKey string
		var client []byte
		if err := rows.Scan(&typ, &stateKey, &client); err != nil {
			return nil, err
		}
		content := gjson.GetBytes(client, "content")
		if typ == event.StateMember.Type {
			info.members[id.UserID(stateKey)] = strings.ToLower(content.Get("displayname").Str)
			continue
		}
		info.users = map[string]int64{}
		content.Get("users").ForEach(func(k, v gjson.Result) bool {
			info.users[k.Str] = v.Int()
			return true
		})
		info.usersDefault = content.Get("users_default").Int()
		if n := content.Get("notifications.room"); n.Exists() {
			info.notifyRoom = n.Int()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	info.joined = len(info.members)
	s.mu.Lock()
	if len(s.rooms) >= cacheLimit {
		trim(s.rooms)
	}
	s.rooms[roomID] = info
	s.mu.Unlock()
	return info, nil
}

func (s *Service) rulesFor(ctx context.Context, tx *storage.Tx, user id.UserID) (*compiledRules, error) {
	s.mu.Lock()
	cr := s.compiled[user]
	s.mu.Unlock()
	if cr != nil {
		return cr, nil
	}
	ur, err := loadUserRules(ctx, tx, user)
	if err != nil {
		return nil, err
	}
	cr = compile(user, effective(user, ur))
	s.mu.Lock()
	if len(s.compiled) >= cacheLimit {
		trim(s.compiled)
	}
	s.compiled[user] = cr
	s.mu.Unlock()
	return cr, nil
}

// trim drops about half of a cache map; Go's random map order makes the
// choice arbitrary, which is good enough for caches that reload on demand.
func trim[K comparable, V any](m map[K]V) {
	n := len(m) / 2
	for k := range m {
		if n == 0 {
			return
		}
		delete(m, k)
		n--
	}
}
