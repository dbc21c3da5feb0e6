package rooms

import (
	"context"
	"encoding/json"
	"fmt"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/eventauth"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
)

// Rooms of versions 1 and 2 store each event in the pdu.RoomV1PDU form:
// the ID picked at build time is inside the PDU, and prev_events and
// auth_events cite each event with its reference hash. Event.PDU is a
// view of it (events.ToView) so the rest of the server reads one type;
// Event.legacy keeps the stored form, which signing, redaction and later
// events' references need. Building, auth and storage are otherwise the
// same as for later versions: there is no federation yet, so state
// resolution (v1 for room version 1) never runs.

// legacyPDU is the stored form of an event in a room of version 1 or 2.
// It is immutable once built or loaded, except that ref is filled on first
// use under the room's lock.
type legacyPDU struct {
	pdu *pdu.RoomV1PDU
	ref pdu.V1EventReference
}

// reference returns how later events cite this one.
func (l *legacyPDU) reference(version id.RoomVersion) (pdu.V1EventReference, error) {
	if l.ref.ID == "" {
		ref, err := events.RefOf(l.pdu, version)
		if err != nil {
			return ref, err
		}
		l.ref = ref
	}
	return l.ref, nil
}

// redacted returns the stored form after a redaction. The reference hash
// is taken over the redacted form anyway, so it carries over.
func (l *legacyPDU) redacted(version id.RoomVersion) *legacyPDU {
	return &legacyPDU{pdu: l.pdu.Clone().Redact(version), ref: l.ref}
}

// decodeStored parses a stored PDU of a room of the given version; the
// second result is set for versions 1 and 2.
func decodeStored(data []byte, version id.RoomVersion) (*pdu.PDU, *legacyPDU, error) {
	if !events.OriginChosenIDs(version) {
		p, err := events.DecodePDU(data)
		return p, nil, err
	}
	v1, err := events.DecodeV1PDU(data)
	if err != nil {
		return nil, nil, err
	}
	return events.ToView(v1), &legacyPDU{pdu: v1}, nil
}

// signLegacy signs the view p, whose InternalMeta.EventID is set, in the
// stored form of room versions 1 and 2. It resolves the references of
// p's prev and auth events from the room's head and state, which is what
// build chose them from. Called with r.mu held.
func (s *Service) signLegacy(r *room, p *pdu.PDU) (*legacyPDU, error) {
	prev := make([]pdu.V1EventReference, 0, len(r.legacyHead))
	for _, l := range r.legacyHead {
		ref, err := l.reference(r.version)
		if err != nil {
			return nil, err
		}
		prev = append(prev, ref)
	}
	auth := make([]pdu.V1EventReference, 0, len(p.AuthEvents))
	for _, k := range p.AuthEventSelection(r.version) {
		if ae := r.state[k]; ae != nil {
			if ae.legacy == nil {
				return nil, fmt.Errorf("auth event %s of %s has no stored form", ae.ID, r.id)
			}
			ref, err := ae.legacy.reference(r.version)
			if err != nil {
				return nil, err
			}
			auth = append(auth, ref)
		}
	}
	v1, err := events.SignV1(p, r.version, prev, auth, s.opts.ServerName, s.opts.Key)
	if err != nil {
		return nil, httpx.BadJSON("Event content cannot be encoded as canonical JSON: %v", err)
	}
	return &legacyPDU{pdu: v1}, nil
}

// loadLegacyHead loads the stored form of the room's forward extremities,
// which the next event cites. Called by loadRoom.
func (s *Service) loadLegacyHead(ctx context.Context, r *room) error {
	r.legacyHead = r.legacyHead[:0]
	for _, eid := range r.extremities {
		var data string
		if err := s.db.QueryRow(ctx, `SELECT pdu FROM events WHERE event_id = $1`, eid).Scan(&data); err != nil {
			return fmt.Errorf("load forward extremity %s of %s: %w", eid, r.id, err)
		}
		_, l, err := decodeStored([]byte(data), r.version)
		if err != nil {
			return fmt.Errorf("decode forward extremity %s: %w", eid, err)
		}
		r.legacyHead = append(r.legacyHead, l)
	}
	return nil
}

// errLegacyRedaction is the redaction rule of room versions 1 and 2.
var errLegacyRedaction = eventauth.AuthFailError{Index: "11", Message: "sender may not redact events of another server"}

// authorizeLegacyRedaction applies the auth rule for m.room.redaction that
// room versions 1 and 2 have after the rules eventauth checks (version 3
// moved it to when the redaction is served): allow when the sender has the
// redact level or the target's event ID has the redaction's server name.
// Called with r.mu held, after eventauth.Authorize passed.
func authorizeLegacyRedaction(r *room, p *pdu.PDU) error {
	if p.Type != event.EventRedaction.Type {
		return nil
	}
	if p.Redacts != nil && events.EventIDServer(*p.Redacts) == events.EventIDServer(p.InternalMeta.EventID) {
		return nil
	}
	pl := &event.PowerLevelsEventContent{}
	if plEv := r.state[pdu.StateKey{Type: event.StatePowerLevels.Type}]; plEv != nil {
		if err := json.Unmarshal(plEv.PDU.Content, pl); err != nil {
			return fmt.Errorf("%w: power levels: %w", errLegacyRedaction, err)
		}
	} else if create := r.state[pdu.StateKey{Type: event.StateCreate.Type}]; create != nil {
		// Without power levels the creator has 100 (v1 creators are in content).
		var c struct {
			Creator id.UserID `json:"creator"`
		}
		_ = json.Unmarshal(create.PDU.Content, &c)
		pl.Users = map[id.UserID]int{c.Creator: 100}
	}
	if pl.GetUserLevel(p.Sender) >= pl.Redact() {
		return nil
	}
	return errLegacyRedaction
}
