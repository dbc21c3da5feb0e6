package client

import (
	"encoding/json"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// syncAPI serves /sync and what it carries: room reads, filters, typing,
// receipts, read markers, account data, presence and push rules.
type syncAPI struct {
	s   *gsync.Service
	src gsync.Sources
}

// RegisterSync adds the sync endpoints. The services behind typing,
// receipts, account data, presence and push rules are the ones s was
// built with (gsync.Sources).
func RegisterSync(rt *httpx.Router, s *gsync.Service) {
	h := &syncAPI{s: s, src: s.Sources()}
	rt.Authed("GET /_matrix/client/v3/sync", h.sync)
	rt.Authed("POST /_matrix/client/v3/user/{userId}/filter", h.postFilter)
	rt.Authed("GET /_matrix/client/v3/user/{userId}/filter/{filterId}", h.getFilter)

	rt.Authed("GET /_matrix/client/v3/joined_rooms", h.joinedRooms)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/messages", h.messages)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}", h.context)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}", h.event)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/members", h.members)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/joined_members", h.joinedMembers)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/state", h.state)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}", h.stateEvent)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey...}", h.stateEvent)

	rt.Authed("PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}", h.typing)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}", h.receipt)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/read_markers", h.readMarkers)

	rt.Authed("GET /_matrix/client/v3/user/{userId}/account_data/{type}", h.getAccountData)
	rt.Authed("PUT /_matrix/client/v3/user/{userId}/account_data/{type}", h.putAccountData)
	rt.Authed("GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}", h.getAccountData)
	rt.Authed("PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}", h.putAccountData)

	rt.Authed("GET /_matrix/client/v3/presence/{userId}/status", h.getPresence)
	rt.Authed("PUT /_matrix/client/v3/presence/{userId}/status", h.putPresence)

	rt.Authed("GET /_matrix/client/v3/pushrules", h.getPushRules)
	rt.Authed("GET /_matrix/client/v3/pushrules/{$}", h.getPushRules)
	rt.Authed("GET /_matrix/client/v3/pushrules/global/{$}", h.getGlobalPushRules)
	rt.Authed("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", h.getPushRule)
	rt.Authed("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", h.putPushRule)
	rt.Authed("DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", h.deletePushRule)
	rt.Authed("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled", h.getPushRuleEnabled)
	rt.Authed("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled", h.putPushRuleEnabled)
	rt.Authed("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions", h.getPushRuleActions)
	rt.Authed("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions", h.putPushRuleActions)
}

// syncRaw wraps an already-encoded JSON body as a 200 response.
func syncRaw(body []byte, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return httpx.Response{Status: http.StatusOK, Body: json.RawMessage(body)}, nil
}

// syncSelf checks that the {userId} path parameter is the caller.
func syncSelf(r *http.Request, what string) (*httpx.Caller, error) {
	c := httpx.CallerFrom(r)
	if id.UserID(r.PathValue("userId")) != c.UserID {
		return nil, httpx.Forbidden("Cannot %s for other users", what)
	}
	return c, nil
}

// syncRoomID validates the {roomId} path parameter.
func syncRoomID(r *http.Request) (id.RoomID, error) {
	room := r.PathValue("roomId")
	if len(room) < 2 || room[0] != '!' {
		return "", httpx.InvalidParam("Invalid room ID %q", room)
	}
	return id.RoomID(room), nil
}
