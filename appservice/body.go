package appservice

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"maunium.net/go/mautrix/id"
)

// deviceLists is the MSC3202 device_lists object.
type deviceLists struct {
	Changed []id.UserID `json:"changed"`
	Left    []id.UserID `json:"left"`
}

// buildBody renders a transaction. Events carry unsigned.age and, for
// state events, prev_content and replaces_state (bridges read the previous
// membership from it). Each extension is written under its stable name and
// its MSC name, since appservices in the wild read one or the other.
// One-time key counts are computed now, not when queued: they are state,
// and a retry should carry the current numbers.
func (p *Pusher) buildBody(ctx context.Context, as *AppService, t *txn) ([]byte, error) {
	now := time.Now().UnixMilli()
	var events, ephemeral, toDevice []json.RawMessage
	changed := map[id.UserID]bool{} // user -> changed (true) or left (false), last one wins
	var order []id.UserID
	keyUsers := map[id.UserID]bool{}
	for _, q := range t.rows {
		switch q.kind {
		case kindEvent:
			if !q.client.Valid {
				continue // the event is gone (purged): nothing to deliver
			}
			ev, err := p.eventJSON(ctx, q, now)
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		case kindEphemeral:
			ephemeral = append(ephemeral, json.RawMessage(q.data))
		case kindToDevice:
			toDevice = append(toDevice, json.RawMessage(q.data))
			if u := id.UserID(gjson.Get(q.data, "to_user_id").Str); as.IsUser(u) {
				keyUsers[u] = true
			}
		case kindDeviceChanged, kindDeviceLeft:
			u := id.UserID(q.data)
			if _, seen := changed[u]; !seen {
				order = append(order, u)
			}
			changed[u] = q.kind == kindDeviceChanged
		case kindKeyCount:
			keyUsers[id.UserID(q.data)] = true
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"events":`)
	writeList(&b, events)
	if len(ephemeral) > 0 {
		writeField(&b, "ephemeral", ephemeral)
		writeField(&b, "de.sorunome.msc2409.ephemeral", ephemeral)
	}
	if len(toDevice) > 0 {
		writeField(&b, "to_device", toDevice)
		writeField(&b, "de.sorunome.msc2409.to_device", toDevice)
	}
	if as.MSC3202 {
		if len(order) > 0 {
			dl := deviceLists{Changed: []id.UserID{}, Left: []id.UserID{}}
			for _, u := range order {
				if changed[u] {
					dl.Changed = append(dl.Changed, u)
				} else {
					dl.Left = append(dl.Left, u)
				}
			}
			writeBoth(&b, "device_lists", "org.matrix.msc3202.device_lists", dl)
		}
		if err := p.writeKeyCounts(ctx, &b, as, keyUsers); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// eventJSON adds unsigned to a stored event.
func (p *Pusher) eventJSON(ctx context.Context, q queued, now int64) (json.RawMessage, error) {
	unsigned := map[string]any{"age": max(now-q.originTS, 0)}
	if q.stateKey.Valid {
		var prevClient, prevID string
		err := p.db.QueryRow(ctx, `SELECT client, event_id FROM events
			WHERE room_id = $1 AND type = $2 AND state_key = $3 AND stream_pos < $4
			ORDER BY stream_pos DESC LIMIT 1`, q.roomID, q.evType, q.stateKey.String, q.pos).Scan(&prevClient, &prevID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if err == nil {
			unsigned["prev_content"] = json.RawMessage(gjson.Get(prevClient, "content").Raw)
			unsigned["replaces_state"] = prevID
		}
	}
	u, err := json.Marshal(unsigned)
	if err != nil {
		return nil, err
	}
	return sjson.SetRawBytes([]byte(q.client.String), "unsigned", u)
}

// writeKeyCounts adds one-time key counts and unused fallback key types
// for the appservice's sender and the users its transaction concerns.
func (p *Pusher) writeKeyCounts(ctx context.Context, b *bytes.Buffer, as *AppService, users map[id.UserID]bool) error {
	if p.opts.Keys == nil {
		return nil
	}
	list := []id.UserID{as.Sender}
	for u := range users {
		if u != as.Sender {
			list = append(list, u)
		}
	}
	otks, err := p.opts.Keys.OneTimeKeyCounts(ctx, list)
	if err != nil {
		return err
	}
	fallback, err := p.opts.Keys.UnusedFallbackKeyTypes(ctx, list)
	if err != nil {
		return err
	}
	if len(otks) > 0 {
		writeBoth(b, "device_one_time_keys_count", "org.matrix.msc3202.device_one_time_keys_count", otks)
	}
	if len(fallback) > 0 {
		writeBoth(b, "device_unused_fallback_key_types", "org.matrix.msc3202.device_unused_fallback_key_types", fallback)
	}
	return nil
}

func writeList(b *bytes.Buffer, items []json.RawMessage) {
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
}

func writeField(b *bytes.Buffer, name string, items []json.RawMessage) {
	b.WriteString(`,"` + name + `":`)
	writeList(b, items)
}

// writeBoth writes v under a stable and an unstable key. v is built from
// maps and strings, which always encode.
func writeBoth(b *bytes.Buffer, stable, unstable string, v any) {
	raw, _ := json.Marshal(v)
	b.WriteString(`,"` + stable + `":`)
	b.Write(raw)
	b.WriteString(`,"` + unstable + `":`)
	b.Write(raw)
}
