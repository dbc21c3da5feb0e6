package client

import (
	"encoding/json"
	"net/http"
	"strconv"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// massagedTS returns the appservice ?ts= override, or 0. Only appservices
// may set timestamps (history import, bridged messages).
func massagedTS(r *http.Request) int64 {
	c := httpx.CallerFrom(r)
	if c == nil || c.AppServiceID == "" {
		return 0
	}
	ts, err := strconv.ParseInt(r.URL.Query().Get("ts"), 10, 64)
	if err != nil || ts <= 0 {
		return 0
	}
	return ts
}

// readContent reads an event content body, which must be a JSON object.
func readContent(r *http.Request) (json.RawMessage, error) {
	data, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := httpx.DecodeBytes(data, &obj); err != nil {
		return nil, err
	}
	return data, nil
}

func eventTypeParam(r *http.Request) (string, error) {
	t := r.PathValue("eventType")
	if t == "" || len(t) > 255 {
		return "", httpx.InvalidParam("Invalid event type")
	}
	return t, nil
}

// send: PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId} sends a message event.
func (h *RoomHandlers) send(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	evType, err := eventTypeParam(r)
	if err != nil {
		return nil, err
	}
	if evType == event.EventRedaction.Type {
		// Redactions need their target checked: use /redact.
		return nil, httpx.Forbidden("Send redactions with the /redact endpoint")
	}
	content, err := readContent(r)
	if err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	ev, err := h.Rooms.Send(r.Context(), rooms.SendRequest{RoomID: roomID, Sender: c.UserID, Type: evType,
		Content: content, TS: massagedTS(r), DeviceID: txnDevice(c), TxnID: r.PathValue("txnId")})
	if err != nil {
		return nil, err
	}
	return map[string]any{"event_id": ev.ID}, nil
}

// txnDevice scopes transaction IDs: per device for users, per appservice
// (and asserted user) for appservices.
func txnDevice(c *httpx.Caller) id.DeviceID {
	if c.AppServiceID != "" && c.DeviceID == "" {
		return id.DeviceID("as:" + c.AppServiceID)
	}
	return c.DeviceID
}

// putState: PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} sets room state.
func (h *RoomHandlers) putState(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	evType, err := eventTypeParam(r)
	if err != nil {
		return nil, err
	}
	content, err := readContent(r)
	if err != nil {
		return nil, err
	}
	stateKey := r.PathValue("stateKey")
	c := httpx.CallerFrom(r)
	if evType == event.StateMember.Type {
		// Membership changes go through the auth rules like any state, but
		// the profile handling lives in the membership endpoints.
		if _, _, err := id.UserID(stateKey).ParseAndValidateRelaxed(); err != nil {
			return nil, httpx.InvalidParam("m.room.member state key must be a user ID")
		}
		var m struct {
			Membership event.Membership `json:"membership"`
		}
		_ = json.Unmarshal(content, &m) // the auth rules judge malformed content
		if err := h.Rooms.CheckNotBlocked(r.Context(), roomID, m.Membership); err != nil {
			return nil, err
		}
	}
	ev, err := h.Rooms.Send(r.Context(), rooms.SendRequest{RoomID: roomID, Sender: c.UserID, Type: evType,
		StateKey: &stateKey, Content: content, TS: massagedTS(r)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"event_id": ev.ID}, nil
}

// redact: PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId} redacts an event.
func (h *RoomHandlers) redact(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	target := id.EventID(r.PathValue("eventId"))
	if len(target) < 2 || target[0] != '$' {
		return nil, httpx.InvalidParam("Invalid event ID %q", target)
	}
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if reason, ok := body["reason"]; ok {
		if _, isString := reason.(string); !isString {
			return nil, httpx.BadJSON("reason must be a string")
		}
	}
	// Room v11 moved redacts into content; older versions read the top
	// level. Setting both serves every version.
	body["redacts"] = target
	content, _ := json.Marshal(body)
	c := httpx.CallerFrom(r)
	ev, err := h.Rooms.Send(r.Context(), rooms.SendRequest{RoomID: roomID, Sender: c.UserID, Type: event.EventRedaction.Type,
		Content: content, Redacts: target, TS: massagedTS(r), DeviceID: txnDevice(c), TxnID: r.PathValue("txnId")})
	if err != nil {
		return nil, err
	}
	return map[string]any{"event_id": ev.ID}, nil
}
