package relations

import (
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/tidwall/sjson"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// unsigned is the part of "unsigned" this package fills in. The stored
// client JSON has no "unsigned" at all; it depends on the viewer and time.
type unsigned struct {
	Age       int64           `json:"age"`
	Relations json.RawMessage `json:"m.relations,omitempty"`
}

// clientEvent adds unsigned to a stored client-format event.
func clientEvent(client []byte, u unsigned) (json.RawMessage, error) {
	raw, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	return sjson.SetRawBytes(client, "unsigned", raw)
}

// storedEvent is one row read for rendering.
type storedEvent struct {
	pos      int64
	eventID  string
	sender   string
	client   []byte
	originTS int64
}

func (s *Service) render(ev storedEvent, rel json.RawMessage) (json.RawMessage, error) {
	return clientEvent(ev.client, unsigned{Age: s.now().UnixMilli() - ev.originTS, Relations: rel})
}
