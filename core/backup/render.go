package backup

import (
	"encoding/json"
	"strconv"
)

// depth says how much of the key tree a selector returns: 0 all rooms,
// 1 one room's sessions, 2 one session.
func (sel Selector) depth() int {
	switch {
	case sel.SessionID != "":
		return 2
	case sel.RoomID != "":
		return 1
	}
	return 0
}

// keysWriter renders key rows (ordered by room, then session) as JSON
// without building maps: a full backup can hold tens of thousands of keys.
type keysWriter struct {
	depth int
	b     []byte
	room  string
	n     int
}

func (w *keysWriter) add(room, session string, k *KeyData) error {
	if w.depth == 2 {
		w.b = appendKeyData(w.b[:0], k)
		w.n++
		return nil
	}
	if w.n == 0 {
		if w.depth == 0 {
			w.b = append(w.b, `{"rooms":{`...)
		} else {
			w.b = append(w.b, `{"sessions":{`...)
		}
	}
	if w.depth == 0 && (w.n == 0 || room != w.room) {
		if w.n > 0 {
			w.b = append(w.b, "}},"...)
		}
		w.b = appendString(w.b, room)
		w.b = append(w.b, `:{"sessions":{`...)
		w.room = room
	} else if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.b = appendString(w.b, session)
	w.b = append(w.b, ':')
	w.b = appendKeyData(w.b, k)
	w.n++
	return nil
}

func (w *keysWriter) finish() json.RawMessage {
	switch {
	case w.depth == 2:
		return w.b
	case w.n == 0 && w.depth == 0:
		return json.RawMessage(`{"rooms":{}}`)
	case w.n == 0:
		return json.RawMessage(`{"sessions":{}}`)
	case w.depth == 0:
		return append(w.b, "}}}}"...)
	}
	return append(w.b, "}}"...)
}

func appendKeyData(b []byte, k *KeyData) []byte {
	b = append(b, `{"first_message_index":`...)
	b = strconv.AppendInt(b, k.FirstMessageIndex, 10)
	b = append(b, `,"forwarded_count":`...)
	b = strconv.AppendInt(b, k.ForwardedCount, 10)
	b = append(b, `,"is_verified":`...)
	b = strconv.AppendBool(b, k.IsVerified)
	b = append(b, `,"session_data":`...)
	b = append(b, k.SessionData...)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s)
	return append(b, enc...)
}
