package sync

import (
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
)

// ephemeralAndAccountData fills typing, receipts, room account data and
// unread counts. Full rooms get everything, other rooms what changed.
func (c *computation) ephemeralAndAccountData(ctx context.Context) error {
	ef := &c.f.Room.Ephemeral
	var full, inc []id.RoomID
	for _, r := range c.res.rooms {
		if r.section != sectionJoin || !ef.AllowsRoom(r.id) {
			continue
		}
		if r.full {
			full = append(full, id.RoomID(r.id))
		} else {
			inc = append(inc, id.RoomID(r.id))
		}
	}
	eph := map[string][]json.RawMessage{}
	if src := c.s.src.Typing; src != nil && ef.AllowsType("m.typing") {
		for _, part := range []struct {
			rooms []id.RoomID
			since int64
		}{{full, 0}, {inc, c.since}} {
			for room, users := range src.Since(part.rooms, part.since) {
				raw, err := json.Marshal(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": users}})
				if err != nil {
					return err
				}
				eph[room.String()] = append(eph[room.String()], raw)
			}
		}
	}
	if src := c.s.src.Receipts; src != nil && ef.AllowsType("m.receipt") {
		for _, part := range []struct {
			rooms []id.RoomID
			since int64
		}{{full, 0}, {inc, c.since}} {
			if len(part.rooms) == 0 {
				continue
			}
			got, err := src.Since(ctx, part.rooms, part.since, c.req.UserID)
			if err != nil {
				return err
			}
			for room, content := range got {
				raw := append([]byte(`{"type":"m.receipt","content":`), content...)
				eph[room.String()] = append(eph[room.String()], append(raw, '}'))
			}
		}
	}
	var roomData map[id.RoomID][]accountdata.Item
	if src := c.s.src.AccountData; src != nil {
		global, rooms, err := src.Since(ctx, c.req.UserID, c.since)
		if err != nil {
			return err
		}
		roomData = rooms
		for _, it := range global {
			if c.f.AccountData.AllowsType(it.Type) {
				c.globalValues = append(c.globalValues, accountEvent(it))
			}
		}
	}
	af := &c.f.Room.AccountData
	for _, r := range c.res.rooms {
		r.ephemeral = eph[r.id]
		if r.section == sectionInvite || !af.AllowsRoom(r.id) {
			continue
		}
		for _, it := range roomData[id.RoomID(r.id)] {
			if af.AllowsType(it.Type) {
				r.accountData = append(r.accountData, accountEvent(it))
			}
		}
	}
	return nil
}

// unreadCounts fills the notification counts of the joined rooms in the
// response (after keepNonEmpty, so a wake-up reads one or two rows).
func (c *computation) unreadCounts(ctx context.Context) error {
	src := c.s.src.Push
	if src == nil {
		return nil
	}
	var rooms []id.RoomID
	for _, r := range c.res.rooms {
		if r.section == sectionJoin {
			rooms = append(rooms, id.RoomID(r.id))
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	counts, err := src.UnreadCounts(ctx, c.req.UserID, rooms)
	if err != nil {
		return err
	}
	for _, r := range c.res.rooms {
		r.counts = counts[id.RoomID(r.id)]
	}
	return nil
}

func accountEvent(it accountdata.Item) json.RawMessage {
	b := append([]byte(`{"type":`), appendString(nil, it.Type)...)
	b = append(b, `,"content":`...)
	b = append(b, it.Content...)
	return append(b, '}')
}

// strippedTypes are the state events shown with an invite (the spec's
// recommended stripped state).
var strippedTypes = []string{"m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar",
	"m.room.canonical_alias", "m.room.encryption", "m.room.topic"}

// invites fills invite_state for invited rooms: stripped state events, the
// inviter's membership and the invite itself.
func (c *computation) invites(ctx context.Context) error {
	var rooms []string
	for _, r := range c.res.rooms {
		if r.section == sectionInvite {
			rooms = append(rooms, r.id)
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	byRoom := map[string]*roomResult{}
	for _, r := range c.res.rooms {
		byRoom[r.id] = r
	}
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(len(strippedTypes)+2, chunk)
		tin, targs := inArgs(2, strippedTypes)
		evs, err := c.s.queryEvents(ctx, `SELECT `+evCols+` FROM current_state cs JOIN events e ON e.event_id = cs.event_id
			WHERE cs.room_id IN (`+in+`) AND ((cs.type IN (`+tin+`) AND cs.state_key = '')
				OR (cs.type = 'm.room.member' AND cs.state_key = $1))`,
			append(append([]any{c.user}, targs...), args...)...)
		if err != nil {
			return err
		}
		inviters := map[string]string{}
		for _, ev := range evs {
			r := byRoom[ev.room]
			if ev.typ == "m.room.member" {
				// The invite itself, as a full event.
				d := &decorator{now: c.s.now().UnixMilli()}
				r.inviteState = append(r.inviteState, d.appendEvent(nil, ev))
				if ev.sender != c.user {
					inviters[ev.room] = ev.sender
				}
				continue
			}
			r.inviteState = append(r.inviteState, stripped(ev))
		}
		for room, inviter := range inviters {
			evs, err := c.s.queryEvents(ctx, `SELECT `+evCols+` FROM current_state cs JOIN events e ON e.event_id = cs.event_id
				WHERE cs.room_id = $1 AND cs.type = 'm.room.member' AND cs.state_key = $2`, room, inviter)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				byRoom[room].inviteState = append(byRoom[room].inviteState, stripped(ev))
			}
		}
	}
	return nil
}

// stripped renders a stripped state event: type, state_key, sender, content.
func stripped(ev *evRow) json.RawMessage {
	b := append([]byte(`{"type":`), appendString(nil, ev.typ)...)
	b = append(b, `,"state_key":`...)
	b = appendString(b, *ev.stateKey)
	b = append(b, `,"sender":`...)
	b = appendString(b, ev.sender)
	b = append(b, `,"content":`...)
	if content := gjson.GetBytes(ev.client, "content"); content.Exists() {
		b = append(b, content.Raw...)
	} else {
		b = append(b, "{}"...)
	}
	return append(b, '}')
}

// keepNonEmpty drops incremental joined rooms with nothing new.
func (c *computation) keepNonEmpty() {
	kept := c.res.rooms[:0]
	for _, r := range c.res.rooms {
		if r.section != sectionJoin || r.full || !r.empty() {
			kept = append(kept, r)
		}
	}
	c.res.rooms = kept
}

// global fills global account data (with m.push_rules) and presence.
func (c *computation) global(ctx context.Context) error {
	c.res.accountData = c.globalValues
	if src := c.s.src.Push; src != nil && c.f.AccountData.AllowsType("m.push_rules") {
		rules, err := src.AccountDataSince(ctx, c.req.UserID, c.since)
		if err != nil {
			return err
		}
		if rules != nil {
			c.res.accountData = append(c.res.accountData, accountEvent(accountdata.Item{Type: "m.push_rules", Content: rules}))
		}
	}
	if src := c.s.src.Presence; src != nil && c.f.Presence.AllowsType("m.presence") {
		evs, err := src.Since(ctx, c.req.UserID, c.since)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if c.f.Presence.AllowsSender(gjson.GetBytes(ev, "sender").Str) {
				c.res.presence = append(c.res.presence, ev)
			}
		}
		if lim := c.f.Presence.Limit; lim != nil && len(c.res.presence) > *lim {
			c.res.presence = c.res.presence[len(c.res.presence)-*lim:]
		}
	}
	return nil
}

// extensions asks each registered extension for its sections.
func (c *computation) extensions(ctx context.Context) error {
	if len(c.s.exts) == 0 {
		return nil
	}
	req := &ExtensionRequest{UserID: c.req.UserID, DeviceID: c.req.DeviceID, Since: c.since, Upto: c.upto,
		FullState: c.req.FullState, JoinedRooms: c.res.joined, NewlyJoined: c.newlyJoined, NewlyLeft: c.newlyLeft}
	for _, e := range c.s.exts {
		fields, news, err := e.Sync(ctx, req)
		if err != nil {
			return err
		}
		if c.res.ext == nil {
			c.res.ext = map[string]json.RawMessage{}
		}
		for k, v := range fields {
			c.res.ext[k] = v
		}
		c.res.extNews = c.res.extNews || news
	}
	return nil
}

// decorate loads the unsigned data of every event in the response.
func (c *computation) decorate(ctx context.Context) error {
	var all, states []*evRow
	for _, r := range c.res.rooms {
		all = append(all, r.timeline...)
		all = append(all, r.state...)
		for _, ev := range r.timeline {
			if ev.isState() {
				states = append(states, ev)
			}
		}
	}
	d, err := c.s.decorate(ctx, c.user, c.req.DeviceID.String(), all, states)
	if err != nil {
		return err
	}
	if err := c.bundleTimelines(ctx, d); err != nil {
		return err
	}
	d.fields = c.f.EventFields
	c.res.dec = d
	return nil
}
