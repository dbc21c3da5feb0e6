package events

import (
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"
)

// MaxEventSize is the spec's limit on a PDU's canonical JSON size.
const MaxEventSize = 65536

// ErrTooLarge is returned when an event would exceed MaxEventSize.
var ErrTooLarge = errors.New("event is larger than 65536 bytes")

// clientEvent is the client-server rendering of a PDU, minus "unsigned",
// which /sync adds per viewer.
type clientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        id.EventID      `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         id.RoomID       `json:"room_id"`
	Sender         id.UserID       `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Redacts        *id.EventID     `json:"redacts,omitempty"`
}

// ClientJSON renders p in the client-server format.
func ClientJSON(p *pdu.PDU, eventID id.EventID) ([]byte, error) {
	content := json.RawMessage(p.Content)
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	return json.Marshal(clientEvent{
		Content: content, EventID: eventID, OriginServerTS: p.OriginServerTS, RoomID: p.RoomID,
		Sender: p.Sender, StateKey: p.StateKey, Type: p.Type, Redacts: p.Redacts,
	})
}

// RedactedClientJSON renders the redacted form of p, as clients see it after
// a redaction.
func RedactedClientJSON(p *pdu.PDU, version id.RoomVersion, eventID id.EventID) ([]byte, error) {
	return ClientJSON(p.Clone().Redact(version), eventID)
}

// Sign fills hashes and signature and returns the event ID, the reference
// hash, for rooms of version 3 and later (SignV1 signs versions 1 and 2).
func Sign(p *pdu.PDU, version id.RoomVersion, serverName string, key *SigningKey) (id.EventID, error) {
	if OriginChosenIDs(version) {
		// A view would sign (and GetEventID would accept) the wrong form.
		return "", fmt.Errorf("sign event: room version %s events are signed with SignV1", version)
	}
	if err := p.Sign(version, serverName, key.ID, key.Priv); err != nil {
		return "", fmt.Errorf("sign event: %w", err)
	}
	eventID, err := p.GetEventID(version)
	if err != nil {
		return "", fmt.Errorf("event ID: %w", err)
	}
	return eventID, nil
}

// EncodePDU returns the federation JSON of p, refusing oversized events.
// p is a *pdu.PDU, or a *pdu.RoomV1PDU in rooms of versions 1 and 2.
func EncodePDU(p pdu.AnyPDU) ([]byte, error) {
	data, err := jsonv2.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxEventSize {
		return nil, ErrTooLarge
	}
	return data, nil
}

// DecodePDU parses stored federation JSON of a room of version 3 or later
// (DecodeV1PDU reads versions 1 and 2). PDUs use encoding/json/v2 tags
// (unknown fields are kept), so they must go through json/v2.
func DecodePDU(data []byte) (*pdu.PDU, error) {
	var p pdu.PDU
	if err := jsonv2.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// SupportedVersions lists the room versions Gatehouse can create and serve.
var SupportedVersions = []id.RoomVersion{
	id.RoomV1, id.RoomV2, id.RoomV3, id.RoomV4, id.RoomV5, id.RoomV6, id.RoomV7, id.RoomV8, id.RoomV9, id.RoomV10, id.RoomV11,
}

// IsSupported reports whether v is in SupportedVersions.
func IsSupported(v id.RoomVersion) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}
