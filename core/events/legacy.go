package events

import (
	"crypto/rand"
	jsonv2 "encoding/json/v2"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"
)

// Room versions 1 and 2 name an event by an ID its origin server picks and
// writes into the PDU, and cite prev_events and auth_events as
// [event_id, {"sha256": reference hash}] pairs. Gatehouse stores that form
// (pdu.RoomV1PDU) and hands the rest of the server a *pdu.PDU view of it
// (ToView) whose prev and auth events are plain IDs, so code that reads
// events needs no second type.

func init() {
	// eventauth asks the create event for its ID (auth rule 5.3.1, the
	// creator's first join). A view cannot compute it from a hash, so
	// GetEventID must return the ID the view carries. Views are the only
	// PDUs with InternalMeta.EventID set: v3+ events still get hashed IDs.
	pdu.UseInternalMetaForGetEventID = true
}

// OriginChosenIDs reports whether events of rooms of version v carry an ID
// chosen by their origin server (versions 1 and 2) instead of being named
// by their reference hash.
func OriginChosenIDs(v id.RoomVersion) bool {
	return v.IsKnown() && v.EventIDFormat() == id.EventIDFormatCustom
}

// NewEventID returns a fresh "$<opaque>:<serverName>" event ID for a room
// of version 1 or 2. The opaque part holds about 140 random bits, so IDs do
// not collide.
func NewEventID(serverName string) id.EventID {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return id.EventID("$" + string(b) + ":" + serverName)
}

// EventIDServer returns the server name part of a version 1 or 2 event ID
// ("" when it has none).
func EventIDServer(eventID id.EventID) string {
	_, server, _ := strings.Cut(string(eventID), ":")
	return server
}

// RefOf returns how later events of a version 1 or 2 room cite p: its ID
// and reference hash (the hash of its redacted form, so a redaction does
// not change it).
func RefOf(p *pdu.RoomV1PDU, version id.RoomVersion) (pdu.V1EventReference, error) {
	hash, err := p.GetReferenceHash(version)
	if err != nil {
		return pdu.V1EventReference{}, fmt.Errorf("reference hash of %s: %w", p.EventID, err)
	}
	return pdu.V1EventReference{ID: p.EventID, Hashes: pdu.Hashes{SHA256: hash[:]}}, nil
}

// SignV1 turns the view p, whose InternalMeta.EventID names the event, into
// the version 1 or 2 PDU that is stored and federated: prev and auth are
// the references of p.PrevEvents and p.AuthEvents, in that order. It fills
// the content hash and signature of that PDU and copies them to p.
func SignV1(p *pdu.PDU, version id.RoomVersion, prev, auth []pdu.V1EventReference, serverName string, key *SigningKey) (*pdu.RoomV1PDU, error) {
	if p.InternalMeta.EventID == "" {
		return nil, fmt.Errorf("sign event: a room version %s event needs an event ID", version)
	}
	if err := sameIDs(p.PrevEvents, prev); err != nil {
		return nil, fmt.Errorf("sign event: prev_events: %w", err)
	}
	if err := sameIDs(p.AuthEvents, auth); err != nil {
		return nil, fmt.Errorf("sign event: auth_events: %w", err)
	}
	v1 := &pdu.RoomV1PDU{
		AuthEvents: auth, Content: p.Content, Depth: p.Depth, EventID: p.InternalMeta.EventID,
		OriginServerTS: p.OriginServerTS, PrevEvents: prev, Redacts: p.Redacts, RoomID: p.RoomID,
		Sender: p.Sender, StateKey: p.StateKey, Type: p.Type,
	}
	if err := v1.Sign(version, serverName, key.ID, key.Priv); err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	p.Hashes, p.Signatures = v1.Hashes, v1.Signatures
	return v1, nil
}

func sameIDs(ids []id.EventID, refs []pdu.V1EventReference) error {
	if len(ids) != len(refs) {
		return fmt.Errorf("%d IDs but %d references", len(ids), len(refs))
	}
	for i, ref := range refs {
		if ref.ID != ids[i] || len(ref.Hashes.SHA256) == 0 {
			return fmt.Errorf("reference %d is %s, want %s with a hash", i, ref.ID, ids[i])
		}
	}
	return nil
}

// ToView returns the *pdu.PDU view of a version 1 or 2 PDU: prev and auth
// events by ID only, the event ID in InternalMeta.EventID. Its hashes and
// signatures are those of v1, so check them on v1, not on the view.
func ToView(v1 *pdu.RoomV1PDU) *pdu.PDU {
	p := &pdu.PDU{
		AuthEvents: refIDs(v1.AuthEvents), Content: v1.Content, Depth: v1.Depth, Hashes: v1.Hashes,
		OriginServerTS: v1.OriginServerTS, PrevEvents: refIDs(v1.PrevEvents), Redacts: v1.Redacts,
		RoomID: v1.RoomID, Sender: v1.Sender, Signatures: v1.Signatures, StateKey: v1.StateKey,
		Sticky: v1.Sticky, Type: v1.Type, Unsigned: v1.Unsigned, Unknown: v1.Unknown,
		DeprecatedPrevState: v1.DeprecatedPrevState, DeprecatedOrigin: v1.DeprecatedOrigin,
		DeprecatedMembership: v1.DeprecatedMembership,
	}
	p.InternalMeta.EventID = v1.EventID
	return p
}

func refIDs(refs []pdu.V1EventReference) []id.EventID {
	ids := make([]id.EventID, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids
}

// DecodeV1PDU parses a stored version 1 or 2 PDU.
func DecodeV1PDU(data []byte) (*pdu.RoomV1PDU, error) {
	var p pdu.RoomV1PDU
	if err := jsonv2.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	if p.EventID == "" {
		return nil, fmt.Errorf("room version 1 or 2 PDU without event_id")
	}
	return &p, nil
}
