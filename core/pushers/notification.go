package pushers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// notification is the body of POST /_matrix/push/v1/notify.
type notification struct {
	EventID           string          `json:"event_id"`
	RoomID            string          `json:"room_id"`
	Type              string          `json:"type,omitempty"`
	Sender            string          `json:"sender,omitempty"`
	SenderDisplayName string          `json:"sender_display_name,omitempty"`
	RoomName          string          `json:"room_name,omitempty"`
	RoomAlias         string          `json:"room_alias,omitempty"`
	UserIsTarget      bool            `json:"user_is_target,omitempty"`
	Membership        string          `json:"membership,omitempty"` // not in the spec; Sygnal reads it, as Synapse sends it
	Prio              string          `json:"prio"`
	Content           json.RawMessage `json:"content,omitempty"`
	Counts            counts          `json:"counts"`
	Devices           []device        `json:"devices"`
}

// counts omits zero counts, as the spec asks. Missed calls are not
// counted by this server, so that count is never sent.
type counts struct {
	Unread int64 `json:"unread,omitempty"`
}

type device struct {
	AppID     string          `json:"app_id"`
	PushKey   string          `json:"pushkey"`
	PushKeyTS int64           `json:"pushkey_ts"` // seconds
	Data      json.RawMessage `json:"data"`
	Tweaks    map[string]any  `json:"tweaks"`
}

// pusherRow is what delivery needs of a pusher.
type pusherRow struct {
	user      id.UserID
	appID     string
	pushKey   string
	pushKeyTS int64 // milliseconds
	data      map[string]json.RawMessage
}

func (p *Pushers) loadPusher(ctx context.Context, pid int64) (*pusherRow, error) {
	var ps pusherRow
	var data string
	err := p.db.QueryRow(ctx, `SELECT user_id, app_id, pushkey, pushkey_ts, data FROM pushers WHERE id = $1`, pid).
		Scan(&ps.user, &ps.appID, &ps.pushKey, &ps.pushKeyTS, &data)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &ps.data); err != nil {
		return nil, err
	}
	return &ps, nil
}

// build turns a queued row into a request, or returns nil when the
// notification is no longer worth sending: its event is gone, or the user
// has read up to it since (on another device, typically).
func (p *Pushers) build(ctx context.Context, ps *pusherRow, q queued) (*job, error) {
	var eventID, roomID, typ, sender, client string
	var stateKey sql.NullString
	err := p.db.QueryRow(ctx, `SELECT event_id, room_id, type, sender, state_key, client FROM events WHERE stream_pos = $1`,
		q.pos).Scan(&eventID, &roomID, &typ, &sender, &stateKey, &client)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var readUpTo int64
	err = p.db.QueryRow(ctx, `SELECT COALESCE(MAX(event_pos), 0) FROM receipts WHERE room_id = $1 AND user_id = $2
		AND receipt_type IN ('m.read', 'm.read.private') AND thread_id IN ('', 'main')`, roomID, ps.user).Scan(&readUpTo)
	if err != nil {
		return nil, err
	}
	if readUpTo >= q.pos {
		return nil, nil
	}
	n := notification{EventID: eventID, RoomID: roomID, Prio: "low"}
	if n.Counts.Unread, err = p.unread(ctx, ps.user); err != nil {
		return nil, err
	}
	content := gjson.Get(client, "content")
	isMember := typ == event.StateMember.Type && stateKey.Valid
	isTarget := isMember && stateKey.String == ps.user.String()
	if high, err := p.highPriority(ctx, q.highlight, typ, roomID, isTarget && content.Get("membership").Str == "invite"); err != nil {
		return nil, err
	} else if high {
		n.Prio = "high"
	}
	tweaks := map[string]any{}
	if q.highlight {
		tweaks["highlight"] = true
	}
	dev, gateway, err := deviceOf(ps, tweaks)
	if err != nil {
		return nil, err
	}
	var format string
	_ = json.Unmarshal(ps.data["format"], &format)
	n.Devices = []device{dev}
	if format != "event_id_only" {
		// The spec's event_id_only carries IDs, counts and devices only:
		// the client fetches (and decrypts) the event itself.
		n.Type, n.Sender, n.UserIsTarget = typ, sender, isTarget
		if isMember {
			n.Membership = content.Get("membership").Str
		}
		if content.IsObject() {
			n.Content = json.RawMessage(content.Raw)
		}
		if err := p.describeRoom(ctx, &n); err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(map[string]any{"notification": n})
	if err != nil {
		return nil, err
	}
	return &job{pos: q.pos, eventID: eventID, unread: n.Counts.Unread, appID: ps.appID, pushKey: ps.pushKey, url: gateway, body: body}, nil
}

// highPriority decides prio. Synapse sends "high" when a rule asked for a
// sound or highlight, or the event is encrypted (its rules could not be
// judged); core/push reports highlight only, so the default rules that ask
// for a sound are approximated here: invites to the user, calls, and
// messages in rooms of two.
func (p *Pushers) highPriority(ctx context.Context, highlight bool, typ, roomID string, inviteForUser bool) (bool, error) {
	switch {
	case highlight, inviteForUser, typ == event.EventEncrypted.Type, typ == event.CallInvite.Type:
		return true, nil
	case typ != event.EventMessage.Type:
		return false, nil
	}
	var joined int
	err := p.db.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member' AND membership = 'join' LIMIT 3) j`, roomID).Scan(&joined)
	return joined == 2, err
}

// describeRoom fills in the names a full-format notification shows: the
// room's name and canonical alias and the sender's display name, as they
// are now.
func (p *Pushers) describeRoom(ctx context.Context, n *notification) error {
	rows, err := p.db.Query(ctx, `SELECT cs.type, e.client FROM current_state cs JOIN events e ON e.event_id = cs.event_id
		WHERE cs.room_id = $1 AND ((cs.type IN ('m.room.name', 'm.room.canonical_alias') AND cs.state_key = '')
			OR (cs.type = 'm.room.member' AND cs.state_key = $2))`, n.RoomID, n.Sender)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, client string
		if err := rows.Scan(&typ, &client); err != nil {
			return err
		}
		switch typ {
		case event.StateRoomName.Type:
			n.RoomName = gjson.Get(client, "content.name").Str
		case event.StateCanonicalAlias.Type:
			n.RoomAlias = gjson.Get(client, "content.alias").Str
		case event.StateMember.Type:
			n.SenderDisplayName = gjson.Get(client, "content.displayname").Str
		}
	}
	return rows.Err()
}
