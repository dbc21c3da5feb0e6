package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
)

// PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId} starts or stops typing.
func (h *syncAPI) typing(r *http.Request) (any, error) {
	c, err := syncSelf(r, "set typing notifications")
	if err != nil {
		return nil, err
	}
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Typing == nil {
		return nil, httpx.BadJSON("typing is required")
	}
	var timeout time.Duration
	if req.Timeout != nil {
		timeout = time.Duration(max(*req.Timeout, 0)) * time.Millisecond
	}
	if err := h.src.Typing.Set(r.Context(), room, c.UserID, *req.Typing, timeout); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

const fullyRead = "m.fully_read"

// syncThreadID validates a receipt's thread_id: "main" or an event ID.
func syncThreadID(thread string) error {
	if thread == "" || thread == "main" || strings.HasPrefix(thread, "$") {
		return nil
	}
	return httpx.InvalidParam("thread_id must be \"main\" or an event ID")
}

// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId} sends a receipt.
func (h *syncAPI) receipt(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		ThreadID string `json:"thread_id"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if err := syncThreadID(req.ThreadID); err != nil {
		return nil, err
	}
	eventID := id.EventID(r.PathValue("eventId"))
	switch typ := r.PathValue("receiptType"); typ {
	case receipts.Read, receipts.ReadPrivate:
		err = h.src.Receipts.Set(r.Context(), room, c.UserID, typ, eventID, req.ThreadID)
	case fullyRead:
		if req.ThreadID != "" {
			return nil, httpx.InvalidParam("m.fully_read cannot be threaded")
		}
		err = h.setFullyRead(r.Context(), room, c.UserID, eventID)
	default:
		return nil, httpx.InvalidParam("Unknown receipt type %q", typ)
	}
	if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// setFullyRead moves the m.fully_read marker, which is room account data.
func (h *syncAPI) setFullyRead(ctx context.Context, room id.RoomID, user id.UserID, eventID id.EventID) error {
	if err := h.src.Receipts.CheckJoined(ctx, room, user); err != nil {
		return err
	}
	if _, err := h.src.Receipts.EventPos(ctx, room, eventID); err != nil {
		return err
	}
	content, err := json.Marshal(map[string]id.EventID{"event_id": eventID})
	if err != nil {
		return err
	}
	return h.src.AccountData.Set(ctx, user, room, fullyRead, content)
}

// POST /_matrix/client/v3/rooms/{roomId}/read_markers sets the fully-read marker and read receipts.
func (h *syncAPI) readMarkers(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	var req map[string]id.EventID
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	// Other keys (old unstable prefixes) are ignored, as Synapse does.
	if ev := req[fullyRead]; ev != "" {
		if err := h.setFullyRead(r.Context(), room, c.UserID, ev); err != nil {
			return nil, err
		}
	}
	for _, typ := range []string{receipts.Read, receipts.ReadPrivate} {
		if ev := req[typ]; ev != "" {
			if err := h.src.Receipts.Set(r.Context(), room, c.UserID, typ, ev, ""); err != nil {
				return nil, err
			}
		}
	}
	return httpx.Empty, nil
}
