package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/eventauth"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// SendRequest is one event a local user wants in a room.
type SendRequest struct {
	RoomID   id.RoomID
	Sender   id.UserID
	Type     string
	StateKey *string
	Content  json.RawMessage
	// Redacts is the target of an m.room.redaction.
	Redacts id.EventID
	// TS overrides origin_server_ts (appservice timestamp massaging); 0 = now.
	TS int64
	// DeviceID and TxnID make a client send idempotent.
	DeviceID id.DeviceID
	TxnID    string
}

// Send builds, authorises and stores an event, returning once it is durable.
// A repeated (sender, device, endpoint and room, txn ID) returns the first
// event's ID.
func (s *Service) Send(ctx context.Context, req SendRequest) (*Event, error) {
	if req.TxnID != "" {
		if eid, err := s.txnEvent(ctx, req); err != nil || eid != "" {
			return &Event{ID: eid}, err
		}
	}
	r, err := s.lockRoom(ctx, req.RoomID)
	if err != nil {
		return nil, err
	}
	ev, pending, err := s.buildAndQueue(ctx, r, req)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.await(r, ev, pending)
}

func (s *Service) await(r *room, ev *Event, pending *stream.Pending) (*Event, error) {
	pos, err := pending.Wait()
	if err != nil {
		r.mu.Lock()
		r.stale = true
		r.mu.Unlock()
		if errors.Is(err, stream.ErrPredecessorFailed) {
			return nil, httpx.NewError(503, "M_UNKNOWN", "The event could not be stored because an earlier one failed; retry the request")
		}
		if s.db.IsUniqueViolation(err) && ev.TxnID != "" {
			return nil, httpx.BadRequest("Transaction ID was already used for another event")
		}
		return nil, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	ev.Pos = pos
	if ev.PDU.StateKey != nil {
		// The copy in the room's state learns its position under the lock
		// (readers get copies made under the same lock).
		r.mu.Lock()
		if cur := r.state[pdu.StateKey{Type: ev.PDU.Type, StateKey: *ev.PDU.StateKey}]; cur != nil && cur.ID == ev.ID {
			cur.Pos = pos
		}
		r.mu.Unlock()
	}
	return ev, nil
}

func (s *Service) txnEvent(ctx context.Context, req SendRequest) (id.EventID, error) {
	var eid id.EventID
	// Read where the newest writes are, cheaply (see storage.DB.ScanFresh).
	err := s.db.ScanFresh(ctx, `SELECT event_id FROM event_txns WHERE user_id = $1 AND device_id = $2 AND scope = $3 AND txn_id = $4`,
		[]any{req.Sender, req.DeviceID, txnScope(req), req.TxnID}, &eid)
	if err != nil && !errors.Is(err, sqlNoRows) {
		return "", err
	}
	return eid, nil
}

// txnScope is what a transaction ID is unique within, besides the device
// (spec "Transaction identifiers": one device and one endpoint): PUT /send
// or PUT /redact, in one room.
func txnScope(req SendRequest) string {
	if req.Redacts != "" {
		return "redact " + string(req.RoomID)
	}
	return "send " + string(req.RoomID)
}

// buildAndQueue must be called with r.mu held. It advances the room's head
// and queues the event; the caller waits for the commit after unlocking.
func (s *Service) buildAndQueue(ctx context.Context, r *room, req SendRequest) (*Event, *stream.Pending, error) {
	ev, err := s.build(ctx, r, req)
	if err != nil {
		return nil, nil, err
	}
	var redacted *redaction
	if req.Redacts != "" {
		if redacted, err = s.prepareRedaction(ctx, r, ev); err != nil {
			return nil, nil, err
		}
	}
	s.advance(r, ev, redacted)
	change := stream.Change{Kind: stream.KindEvent, RoomID: string(r.id), Data: ev}
	if ev.PDU.StateKey != nil && ev.PDU.Type == event.StateMember.Type {
		change.UserIDs = []string{*ev.PDU.StateKey}
	}
	pending := s.writer.Enqueue(ctx, change, func(ctx context.Context, tx *storage.Tx, pos int64) error {
		ev.Pos = pos // read only by persist hooks, on this same goroutine
		return s.persist(ctx, tx, r.version, ev, redacted)
	})
	return ev, pending, nil
}

func (s *Service) build(ctx context.Context, r *room, req SendRequest) (*Event, error) {
	ts := req.TS
	if ts == 0 {
		ts = time.Now().UnixMilli()
	}
	content := req.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	if !utf8.ValidString(req.Type) || (req.StateKey != nil && !utf8.ValidString(*req.StateKey)) {
		return nil, httpx.InvalidParam("Event type and state key must be valid UTF-8")
	}
	if !utf8.Valid(content) {
		return nil, httpx.BadJSON("Event content must be valid UTF-8")
	}
	p := &pdu.PDU{
		Type: req.Type, StateKey: req.StateKey, Sender: req.Sender, RoomID: r.id,
		Content: []byte(content), OriginServerTS: ts,
		PrevEvents: append([]id.EventID(nil), r.extremities...), Depth: r.depth + 1,
		AuthEvents: []id.EventID{},
	}
	if req.Redacts != "" {
		target := req.Redacts
		p.Redacts = &target
	}
	legacy := events.OriginChosenIDs(r.version)
	if legacy {
		p.InternalMeta.EventID = events.NewEventID(s.opts.ServerName)
	}
	var authEvents []*pdu.PDU
	for _, k := range p.AuthEventSelection(r.version) {
		if ae := r.state[k]; ae != nil {
			p.AuthEvents = append(p.AuthEvents, ae.ID)
			authEvents = append(authEvents, ae.PDU)
		}
	}
	if req.Type != event.StateCreate.Type {
		if err := eventauth.Authorize(r.version, p, authEvents, nil, nil); err != nil {
			return nil, authError(err)
		}
		if legacy {
			if err := authorizeLegacyRedaction(r, p); err != nil {
				return nil, authError(err)
			}
		}
	}
	var stored pdu.AnyPDU = p
	var eventID id.EventID
	var lp *legacyPDU
	var pduJSON, client []byte
	var err error
	if legacy {
		if lp, err = s.signLegacy(r, p); err != nil {
			return nil, err
		}
		eventID, stored = lp.pdu.EventID, lp.pdu
	} else {
		// One canonical encoding serves the hash, the signature, the
		// event ID and the stored forms.
		enc, err := events.SignAndEncode(p, r.version, s.opts.ServerName, s.opts.Key)
		if errors.Is(err, events.ErrTooLarge) {
			return nil, httpx.TooLarge("Event is larger than %d bytes", events.MaxEventSize)
		} else if err != nil {
			// Signing fails only on content canonical JSON cannot express.
			return nil, httpx.BadJSON("Event content cannot be encoded as canonical JSON: %v", err)
		}
		eventID, pduJSON, client = enc.ID, enc.PDU, enc.Client
	}
	if req.Type == event.StateCreate.Type {
		if err := eventauth.Authorize(r.version, p, nil, nil, nil); err != nil {
			return nil, authError(err)
		}
	}
	if pduJSON == nil {
		pduJSON, err = events.EncodePDU(stored)
		if errors.Is(err, events.ErrTooLarge) {
			return nil, httpx.TooLarge("Event is larger than %d bytes", events.MaxEventSize)
		} else if err != nil {
			return nil, err
		}
		if client, err = events.ClientJSON(p, eventID); err != nil {
			return nil, err
		}
	}
	ev := &Event{ID: eventID, Version: r.version, PDU: p, Client: client, TxnID: req.TxnID, DeviceID: req.DeviceID, pduJSON: pduJSON, legacy: lp}
	if req.TxnID != "" {
		ev.txnScope = txnScope(req)
	}
	return ev, nil
}

// advance moves the room's head past ev, before it commits.
func (s *Service) advance(r *room, ev *Event, red *redaction) {
	r.extremities = []id.EventID{ev.ID}
	if ev.legacy != nil {
		r.legacyHead = []*legacyPDU{ev.legacy}
	}
	r.depth = ev.PDU.Depth
	if ev.PDU.StateKey != nil {
		// A copy: the writer goroutine sets ev.Pos while readers look at state.
		stateEv := *ev
		r.state[pdu.StateKey{Type: ev.PDU.Type, StateKey: *ev.PDU.StateKey}] = &stateEv
	}
	if red != nil && red.stateKey != nil {
		r.state[*red.stateKey] = red.target
	}
}

// authError turns an auth-rule rejection into M_FORBIDDEN.
func authError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, eventauth.ErrNotInRoom):
		msg = "You are not joined to this room"
	case errors.Is(err, eventauth.ErrInsufficientPowerLevel):
		msg = "You don't have permission to send this event: " + msg
	}
	return httpx.Forbidden("%s", msg)
}
