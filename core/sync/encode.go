package sync

import (
	"encoding/json"
	"sort"
)

// placeholders are the E2EE sections sent until an Extension fills them.
var placeholders = map[string]string{
	"to_device":                  `{"events":[]}`,
	"device_lists":               `{"changed":[],"left":[]}`,
	"device_one_time_keys_count": `{}`,
}

// encode writes the response body.
func (res *result) encode() []byte {
	b := make([]byte, 0, 4096)
	b = append(b, `{"next_batch":`...)
	b = appendString(b, FormatToken(res.next))
	b = append(b, `,"rooms":{`...)
	for i, section := range []struct {
		name string
		kind int
	}{{"join", sectionJoin}, {"invite", sectionInvite}, {"leave", sectionLeave}} {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, section.name)
		b = append(b, '{')
		first := true
		for _, r := range res.rooms {
			if r.section != section.kind {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendKey(b, r.id)
			b = res.appendRoom(b, r)
		}
		b = append(b, '}')
	}
	b = append(b, `,"knock":{}}`...)
	b = append(b, `,"account_data":`...)
	b = appendEventsObj(b, res.accountData)
	b = append(b, `,"presence":`...)
	b = appendEventsObj(b, res.presence)
	keys := make([]string, 0, len(placeholders)+len(res.ext))
	for k := range placeholders {
		keys = append(keys, k)
	}
	for k := range res.ext {
		if _, ok := placeholders[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = append(b, ',')
		b = appendKey(b, k)
		if v, ok := res.ext[k]; ok {
			b = append(b, v...)
		} else {
			b = append(b, placeholders[k]...)
		}
	}
	return append(b, '}')
}

func (res *result) appendEvents(b []byte, evs []*evRow) []byte {
	b = append(b, '[')
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = res.dec.appendEvent(b, ev)
	}
	return append(b, ']')
}

func (res *result) appendRoom(b []byte, r *roomResult) []byte {
	if r.section == sectionInvite {
		b = append(b, `{"invite_state":`...)
		b = appendEventsObj(b, r.inviteState)
		return append(b, '}')
	}
	b = append(b, `{"timeline":{"events":`...)
	b = res.appendEvents(b, r.timeline)
	b = append(b, `,"limited":`...)
	b = appendBool(b, r.limited)
	b = append(b, `,"prev_batch":`...)
	b = appendString(b, FormatToken(r.prevBatch))
	b = append(b, `},"state":{"events":`...)
	b = res.appendEvents(b, r.state)
	b = append(b, `},"account_data":`...)
	b = appendEventsObj(b, r.accountData)
	if r.section == sectionJoin {
		b = append(b, `,"ephemeral":`...)
		b = appendEventsObj(b, r.ephemeral)
		b = append(b, `,"unread_notifications":{"notification_count":`...)
		b = appendInt(b, r.counts.Notifications)
		b = append(b, `,"highlight_count":`...)
		b = appendInt(b, r.counts.Highlights)
		b = append(b, '}')
		if r.summary != nil {
			b = append(b, `,"summary":{"m.heroes":`...)
			heroes, _ := json.Marshal(r.summary.heroes)
			if r.summary.heroes == nil {
				heroes = []byte("[]")
			}
			b = append(b, heroes...)
			b = append(b, `,"m.joined_member_count":`...)
			b = appendInt(b, r.summary.joined)
			b = append(b, `,"m.invited_member_count":`...)
			b = appendInt(b, r.summary.invited)
			b = append(b, '}')
		}
	}
	return append(b, '}')
}
