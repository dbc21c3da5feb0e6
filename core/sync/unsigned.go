package sync

import (
	"context"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// decorator adds the per-viewer "unsigned" object to stored client JSON:
// age, transaction_id (the viewer's own device's events), redacted_because,
// for state events in a timeline prev_content and replaces_state, and the
// bundled aggregations (m.relations, see aggregations.go). Everything it
// needs is loaded up front in a few batched queries, and events are
// written by splicing bytes, never re-encoding.
type decorator struct {
	now        int64
	txns       map[string]string
	redactions map[string][]byte
	prev       map[string]*evRow
	relations  map[string][]byte
	fields     []string
}

// decorate prepares unsigned data for evs; prevFor lists state events that
// should carry prev_content.
func (s *Service) decorate(ctx context.Context, viewer, device string, evs []*evRow, prevFor []*evRow) (*decorator, error) {
	d := &decorator{now: s.now().UnixMilli()}
	var own, redactedBy []string
	for _, ev := range evs {
		if ev.sender == viewer && device != "" {
			own = append(own, ev.id)
		}
		if ev.redactedBy != "" {
			redactedBy = append(redactedBy, ev.redactedBy)
		}
	}
	if len(own) > 0 {
		d.txns = map[string]string{}
		for _, chunk := range chunks(own, maxIn) {
			in, args := inArgs(3, chunk)
			rows, err := s.db.Query(ctx, `SELECT event_id, txn_id FROM event_txns WHERE user_id = $1 AND device_id = $2 AND event_id IN (`+in+`)`,
				append([]any{viewer, device}, args...)...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var eid, txn string
				if err := rows.Scan(&eid, &txn); err != nil {
					rows.Close()
					return nil, err
				}
				d.txns[eid] = txn
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if len(redactedBy) > 0 {
		d.redactions = map[string][]byte{}
		for _, chunk := range chunks(redactedBy, maxIn) {
			in, args := inArgs(1, chunk)
			reds, err := s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.event_id IN (`+in+`)`, args...)
			if err != nil {
				return nil, err
			}
			for _, r := range reds {
				d.redactions[r.id] = r.client
			}
		}
	}
	if err := s.loadPrev(ctx, d, prevFor); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Service) loadPrev(ctx context.Context, d *decorator, states []*evRow) error {
	for _, chunk := range chunks(states, maxUnion) {
		var q strings.Builder
		var args []any
		for i, ev := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			n := len(args)
			args = append(args, ev.room, ev.typ, *ev.stateKey, ev.pos)
			fmt.Fprintf(&q, `SELECT * FROM (SELECT %s, %d AS k FROM events e WHERE e.room_id = $%d AND e.type = $%d AND e.state_key = $%d AND e.stream_pos < $%d ORDER BY e.stream_pos DESC LIMIT 1) AS t%d`,
				evCols, i, n+1, n+2, n+3, n+4, i)
		}
		rows, err := s.db.Query(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("query previous state: %w", err)
		}
		for rows.Next() {
			var k int
			prev, err := scanEvent(rows, &k)
			if err != nil {
				rows.Close()
				return err
			}
			if d.prev == nil {
				d.prev = map[string]*evRow{}
			}
			d.prev[chunk[k].id] = prev
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// appendEvent appends ev's client JSON with its unsigned object to b.
func (d *decorator) appendEvent(b []byte, ev *evRow) []byte {
	body := trimRight(ev.client)
	if len(body) < 2 || body[len(body)-1] != '}' {
		return append(b, "{}"...)
	}
	start := len(b)
	b = append(b, body[:len(body)-1]...)
	b = append(b, `,"unsigned":{"age":`...)
	b = appendInt(b, max(d.now-ev.ts, 0))
	if txn, ok := d.txns[ev.id]; ok {
		b = append(b, `,"transaction_id":`...)
		b = appendString(b, txn)
	}
	if red, ok := d.redactions[ev.redactedBy]; ok && ev.redactedBy != "" {
		b = append(b, `,"redacted_because":`...)
		b = append(b, trimRight(red)...)
	}
	if prev := d.prev[ev.id]; prev != nil {
		if c := gjson.GetBytes(prev.client, "content"); c.Exists() {
			b = append(b, `,"prev_content":`...)
			b = append(b, c.Raw...)
		}
		b = append(b, `,"replaces_state":`...)
		b = appendString(b, prev.id)
		b = append(b, `,"prev_sender":`...)
		b = appendString(b, prev.sender)
	}
	if rel := d.relations[ev.id]; rel != nil {
		b = append(b, `,"m.relations":`...)
		b = append(b, rel...)
	}
	b = append(b, "}}"...)
	if len(d.fields) > 0 {
		projected := projectFields(b[start:], d.fields)
		b = append(b[:start], projected...)
	}
	return b
}

func trimRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// projectFields keeps only the requested dot-separated paths of an event
// (filter event_fields).
func projectFields(raw []byte, fields []string) []byte {
	out := []byte("{}")
	for _, f := range fields {
		path := escapedPath(f)
		if path == "" {
			continue
		}
		v := gjson.GetBytes(raw, path)
		if !v.Exists() {
			continue
		}
		if next, err := sjson.SetRawBytes(out, path, []byte(v.Raw)); err == nil {
			out = next
		}
	}
	return out
}

// escapedPath turns a spec dot-separated path (with \. escapes) into a
// gjson/sjson path.
func escapedPath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			i++
			b.WriteByte('\\')
			b.WriteByte(key[i])
		case c == '.':
			b.WriteByte('.')
		case strings.IndexByte(`*?|#@!=<>%:`, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
