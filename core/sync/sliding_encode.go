package sync

import (
	"encoding/json"
	"sort"

	"maunium.net/go/mautrix/id"
)

// encode writes the response body in the shape matrix-rust-sdk (ruma)
// reads: timeline and invite_state, unread counts flattened into the room.
func (res *slidingResult) encode(pos, txnID string) []byte {
	b := make([]byte, 0, 4096)
	b = append(b, `{"pos":`...)
	b = appendString(b, pos)
	if txnID != "" {
		b = append(b, `,"txn_id":`...)
		b = appendString(b, txnID)
	}
	b = append(b, `,"lists":{`...)
	for i, l := range res.lists {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, l.name)
		b = append(b, `{"count":`...)
		b = appendInt(b, int64(l.count))
		b = append(b, '}')
	}
	b = append(b, `},"rooms":{`...)
	for i, r := range res.rooms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, r.id)
		b = res.appendSlidingRoom(b, r)
	}
	b = append(b, `},"extensions":`...)
	b = res.ext.appendTo(b)
	return append(b, '}')
}

func (res *slidingResult) appendSlidingRoom(b []byte, r *slidingRoom) []byte {
	b = append(b, `{"bump_stamp":`...)
	b = appendInt(b, r.cand.bump)
	b = append(b, `,"membership":`...)
	b = appendString(b, r.cand.m.value)
	if len(r.cfg.lists) > 0 {
		b = append(b, `,"lists":`...)
		b = appendStrings(b, r.cfg.lists)
	}
	if r.initial {
		b = append(b, `,"initial":true`...)
	}
	if r.isDM {
		b = append(b, `,"is_dm":true`...)
	}
	if r.cand.m.value == "invite" {
		b = append(b, `,"invite_state":`...)
		b = appendRawList(b, r.inviteState)
		return append(b, '}')
	}
	b = appendOptString(b, "name", r.name)
	b = appendOptString(b, "avatar", r.avatar)
	if len(r.heroes) > 0 {
		b = append(b, `,"heroes":`...)
		b = appendRawList(b, r.heroes)
	}
	if r.expanded {
		b = append(b, `,"expanded_timeline":true,"unstable_expanded_timeline":true`...)
	}
	b = append(b, `,"required_state":`...)
	b = res.appendEvents(b, r.state)
	b = append(b, `,"timeline":`...)
	b = res.appendEvents(b, r.timeline)
	if len(r.timeline) > 0 {
		b = append(b, `,"prev_batch":`...)
		b = appendString(b, FormatToken(r.timeline[0].pos-1))
	} else if r.initial {
		b = append(b, `,"prev_batch":`...)
		b = appendString(b, FormatToken(r.hi))
	}
	b = append(b, `,"limited":`...)
	b = appendBool(b, r.limited)
	b = append(b, `,"num_live":`...)
	b = appendInt(b, int64(r.numLive))
	if r.sum != nil {
		b = append(b, `,"joined_count":`...)
		b = appendInt(b, r.sum.joined)
		b = append(b, `,"invited_count":`...)
		b = appendInt(b, r.sum.invited)
	}
	if r.cand.m.value == "join" {
		b = append(b, `,"notification_count":`...)
		b = appendInt(b, r.counts.Notifications)
		b = append(b, `,"highlight_count":`...)
		b = appendInt(b, r.counts.Highlights)
	}
	return append(b, '}')
}

// appendOptString appends ,"key":value; an empty value is null (removed)
// and a nil one nothing.
func appendOptString(b []byte, key string, v *string) []byte {
	if v == nil {
		return b
	}
	b = append(b, ',')
	b = appendKey(b, key)
	if *v == "" {
		return append(b, "null"...)
	}
	return appendString(b, *v)
}

func appendStrings[T ~string](b []byte, list []T) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(s))
	}
	return append(b, ']')
}

func (x *slidingExt) appendTo(b []byte) []byte {
	b = append(b, '{')
	first := true
	sep := func(key string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendKey(b, key)
	}
	if x.toDevice != nil {
		sep("to_device")
		b = append(b, `{"next_batch":`...)
		b = appendString(b, x.toDeviceNext)
		b = append(b, `,"events":`...)
		b = appendRawList(b, x.toDevice)
		b = append(b, '}')
	}
	if e := x.e2ee; e != nil {
		sep("e2ee")
		b = append(b, `{"device_lists":{"changed":`...)
		b = appendStrings(b, e.changed)
		b = append(b, `,"left":`...)
		b = appendStrings(b, e.left)
		b = append(b, `},"device_one_time_keys_count":`...)
		otk, _ := json.Marshal(e.otk)
		b = append(b, otk...)
		b = append(b, `,"device_unused_fallback_key_types":`...)
		b = appendStrings(b, e.fallback)
		b = append(b, '}')
	}
	if a := x.accountData; a != nil {
		sep("account_data")
		b = append(b, `{"global":`...)
		b = appendRawList(b, a.global)
		b = append(b, `,"rooms":{`...)
		for i, room := range sortedKeys(a.rooms) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKey(b, room)
			b = appendRawList(b, a.rooms[room])
		}
		b = append(b, "}}"...)
	}
	if x.receipts != nil {
		sep("receipts")
		b = append(b, `{"rooms":{`...)
		for i, room := range sortedKeys(x.receipts) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKey(b, room)
			b = append(b, `{"type":"m.receipt","content":`...)
			b = append(b, x.receipts[room]...)
			b = append(b, '}')
		}
		b = append(b, "}}"...)
	}
	if x.typing != nil {
		sep("typing")
		b = append(b, `{"rooms":{`...)
		for i, room := range sortedKeys(x.typing) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendKey(b, room)
			b = append(b, `{"type":"m.typing","content":{"user_ids":`...)
			b = appendStrings[id.UserID](b, x.typing[room])
			b = append(b, "}}"...)
		}
		b = append(b, "}}"...)
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (res *slidingResult) appendEvents(b []byte, evs []*evRow) []byte {
	b = append(b, '[')
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = res.dec.appendEvent(b, ev)
	}
	return append(b, ']')
}
