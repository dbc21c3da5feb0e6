package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
	"github.com/gatehouse-chat/gatehouse/core/relations"
)

type relationsAPI struct {
	rel *relations.Service
}

// RegisterRelations registers /relations and /threads.
func RegisterRelations(rt *httpx.Router, rel *relations.Service) {
	h := &relationsAPI{rel: rel}
	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}", h.relations)
	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}", h.relations)
	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", h.relations)
	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/threads", h.threads)
}

// relationsRoomID reads and checks the {roomId} path parameter.
func relationsRoomID(r *http.Request) (id.RoomID, error) {
	roomID := r.PathValue("roomId")
	return id.RoomID(roomID), directory.ValidateRoomID(roomID)
}

// relationsBool parses a boolean query parameter the way Synapse does:
// only "true" and "false".
func relationsBool(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, httpx.InvalidParam("Query parameter %q must be true or false", name)
	}
}

// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}
// pages through the events relating to an event (relType and eventType
// optional).
func (h *relationsAPI) relations(r *http.Request) (any, error) {
	roomID, err := relationsRoomID(r)
	if err != nil {
		return nil, err
	}
	eventID := r.PathValue("eventId")
	if err := relations.ValidateEventID(eventID); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	limit, err := httpx.QueryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	recurse, err := relationsBool(r, "recurse")
	if err != nil {
		return nil, err
	}
	if !recurse {
		// MSC3981's unstable name, still sent by some clients.
		if recurse, err = relationsBool(r, "org.matrix.msc3981.recurse"); err != nil {
			return nil, err
		}
	}
	return h.rel.Relations(r.Context(), httpx.CallerFrom(r).UserID, relations.Query{
		RoomID: roomID, EventID: id.EventID(eventID),
		RelType: r.PathValue("relType"), EventType: r.PathValue("eventType"),
		Dir: q.Get("dir"), From: q.Get("from"), To: q.Get("to"), Limit: limit, Recurse: recurse,
	})
}

// GET /_matrix/client/v1/rooms/{roomId}/threads lists a room's threads,
// most recently active first.
func (h *relationsAPI) threads(r *http.Request) (any, error) {
	roomID, err := relationsRoomID(r)
	if err != nil {
		return nil, err
	}
	limit, err := httpx.QueryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	return h.rel.Threads(r.Context(), httpx.CallerFrom(r).UserID, relations.ThreadsQuery{
		RoomID: roomID, Include: q.Get("include"), From: q.Get("from"), Limit: limit,
	})
}
