package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/relations"
)

type reportAPI struct {
	rel *relations.Service
}

// RegisterReports registers the event and room reporting endpoints.
func RegisterReports(rt *httpx.Router, rel *relations.Service) {
	h := &reportAPI{rel: rel}
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}", h.reportEvent)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/report", h.reportRoom)
}

// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId} reports an event
// to the server admins.
func (h *reportAPI) reportEvent(r *http.Request) (any, error) {
	roomID, err := relationsRoomID(r)
	if err != nil {
		return nil, err
	}
	eventID := r.PathValue("eventId")
	if err := relations.ValidateEventID(eventID); err != nil {
		return nil, err
	}
	var body struct {
		Reason *string `json:"reason"`
		Score  *int    `json:"score"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	err = h.rel.ReportEvent(r.Context(), httpx.CallerFrom(r).UserID, relations.EventReport{
		RoomID: roomID, EventID: id.EventID(eventID), Reason: body.Reason, Score: body.Score,
	})
	if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// POST /_matrix/client/v3/rooms/{roomId}/report reports a whole room.
func (h *reportAPI) reportRoom(r *http.Request) (any, error) {
	roomID, err := relationsRoomID(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Reason *string `json:"reason"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if body.Reason == nil {
		return nil, httpx.BadJSON("Missing reason")
	}
	if err := h.rel.ReportRoom(r.Context(), httpx.CallerFrom(r).UserID, roomID, *body.Reason); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}
