package rooms

import (
	"context"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
)

// GetEvent loads one stored event by ID.
func (s *Service) GetEvent(ctx context.Context, eventID id.EventID) (*Event, error) {
	row := s.db.QueryRow(ctx, `
		SELECT e.stream_pos, e.event_id, e.pdu, e.client, r.room_version
		FROM events e JOIN rooms r ON r.room_id = e.room_id WHERE e.event_id = $1`, eventID)
	var ev Event
	var pduJSON, client, version string
	if err := row.Scan(&ev.Pos, &ev.ID, &pduJSON, &client, &version); err != nil {
		if errors.Is(err, sqlNoRows) {
			return nil, httpx.NotFound("Event not found")
		}
		return nil, err
	}
	ev.Version = id.RoomVersion(version)
	p, legacy, err := decodeStored([]byte(pduJSON), ev.Version)
	if err != nil {
		return nil, err
	}
	ev.PDU, ev.Client, ev.legacy = p, []byte(client), legacy
	return &ev, nil
}

// prepareRedaction checks that ev may redact its target and computes the
// target's redacted form. Called with the room locked.
func (s *Service) prepareRedaction(ctx context.Context, r *room, ev *Event) (*redaction, error) {
	target, err := s.GetEvent(ctx, *ev.PDU.Redacts)
	if err != nil {
		return nil, err
	}
	if target.RoomID() != r.id {
		return nil, httpx.NotFound("Event not found in this room")
	}
	if target.Sender() != ev.Sender() {
		// The auth rules only check the redaction's own power level; the
		// spec leaves "may redact others' events" to the server (redact level).
		plEv := r.state[pdu.StateKey{Type: event.StatePowerLevels.Type}]
		pl := &event.PowerLevelsEventContent{}
		if plEv != nil {
			_ = json.Unmarshal(plEv.PDU.Content, pl)
		}
		if pl.GetUserLevel(ev.Sender()) < pl.Redact() {
			return nil, httpx.Forbidden("You don't have permission to redact other users' events")
		}
	}
	var redactedPDU *pdu.PDU
	var stored pdu.AnyPDU
	var legacy *legacyPDU
	if target.legacy != nil {
		legacy = target.legacy.redacted(r.version)
		redactedPDU, stored = events.ToView(legacy.pdu), legacy.pdu
	} else {
		redactedPDU = target.PDU.Clone().Redact(r.version)
		stored = redactedPDU
	}
	pduJSON, err := events.EncodePDU(stored)
	if err != nil {
		return nil, err
	}
	client, err := events.ClientJSON(redactedPDU, target.ID)
	if err != nil {
		return nil, err
	}
	redacted := &Event{Pos: target.Pos, ID: target.ID, Version: r.version, PDU: redactedPDU, Client: client, legacy: legacy}
	red := &redaction{target: redacted, pdu: pduJSON}
	if sk := target.PDU.StateKey; sk != nil {
		key := pdu.StateKey{Type: target.PDU.Type, StateKey: *sk}
		if cur := r.state[key]; cur != nil && cur.ID == target.ID {
			red.stateKey = &key
		}
	}
	return red, nil
}
