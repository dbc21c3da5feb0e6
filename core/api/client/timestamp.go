package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/jumptodate"
)

// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event finds the event
// closest to a time, in the direction asked, that the caller may see.
func (h *navigationAPI) timestampToEvent(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := directoryRoomID(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if q.Get("ts") == "" {
		return nil, httpx.MissingParam("Missing query parameter ts")
	}
	ts, err := httpx.QueryInt(r, "ts", 0)
	if err != nil {
		return nil, err
	}
	if ts < 0 {
		return nil, httpx.InvalidParam("ts must not be negative")
	}
	req := jumptodate.Request{UserID: c.UserID, DeviceID: c.DeviceID, RoomID: room, TS: ts}
	switch q.Get("dir") {
	case "f":
		req.Forward = true
	case "b":
	case "":
		return nil, httpx.MissingParam("Missing query parameter dir")
	default:
		return nil, httpx.InvalidParam("dir must be f or b")
	}
	return h.jump.Find(r.Context(), req)
}
