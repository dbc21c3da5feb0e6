package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
)

// GET /_matrix/client/v3/directory/list/room/{roomId} tells whether a room
// is in the published room list.
func (h *directoryAPI) getVisibility(r *http.Request) (any, error) {
	roomID, err := directoryRoomID(r)
	if err != nil {
		return nil, err
	}
	v, err := h.dir.Visibility(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	return map[string]string{"visibility": v}, nil
}

// PUT /_matrix/client/v3/directory/list/room/{roomId} publishes or
// withdraws a room. A missing visibility means "public", as in Synapse.
func (h *directoryAPI) putVisibility(r *http.Request) (any, error) {
	roomID, err := directoryRoomID(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		Visibility *string `json:"visibility"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	v := "public"
	if body.Visibility != nil {
		v = *body.Visibility
	}
	if err := h.dir.SetVisibility(r.Context(), httpx.CallerFrom(r), roomID, v); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_matrix/client/v3/publicRooms lists published rooms. Without
// allow_public_rooms_without_auth it needs a valid token; with it, a missing
// or unknown token is fine, as in Synapse.
func (h *directoryAPI) getPublicRooms(r *http.Request) (any, error) {
	if err := h.publicRoomsAuth(r); err != nil {
		return nil, err
	}
	if err := h.checkRoomListServer(r); err != nil {
		return nil, err
	}
	limit, err := httpx.QueryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	return h.dir.PublicRooms(r.Context(), directory.PublicRoomsQuery{
		Limit: clampPublicRoomsLimit(limit), Since: r.URL.Query().Get("since"),
	})
}

// POST /_matrix/client/v3/publicRooms lists published rooms with a filter.
func (h *directoryAPI) postPublicRooms(r *http.Request) (any, error) {
	if err := h.checkRoomListServer(r); err != nil {
		return nil, err
	}
	var body struct {
		Limit  *int64 `json:"limit"`
		Since  string `json:"since"`
		Filter *struct {
			GenericSearchTerm string    `json:"generic_search_term"`
			RoomTypes         []*string `json:"room_types"`
		} `json:"filter"`
		IncludeAllNetworks   bool   `json:"include_all_networks"`
		ThirdPartyInstanceID string `json:"third_party_instance_id"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if body.IncludeAllNetworks && body.ThirdPartyInstanceID != "" {
		return nil, httpx.InvalidParam("include_all_networks cannot be combined with third_party_instance_id")
	}
	q := directory.PublicRoomsQuery{Since: body.Since, ThirdPartyInstanceID: body.ThirdPartyInstanceID}
	if body.Limit != nil {
		q.Limit = clampPublicRoomsLimit(*body.Limit)
	}
	if body.Filter != nil {
		q.SearchTerm, q.RoomTypes = body.Filter.GenericSearchTerm, body.Filter.RoomTypes
	}
	return h.dir.PublicRooms(r.Context(), q)
}

func (h *directoryAPI) publicRoomsAuth(r *http.Request) error {
	if httpx.AccessToken(r) == "" {
		if h.allowNoAuth {
			return nil
		}
		return httpx.MissingToken()
	}
	if _, err := h.auth.Authenticate(r); err != nil && !h.allowNoAuth {
		return err
	}
	return nil
}

// checkRoomListServer refuses ?server= naming another server: its list
// would have to come over federation, which is not available.
func (h *directoryAPI) checkRoomListServer(r *http.Request) error {
	server := r.URL.Query().Get("server")
	if server == "" || server == h.serverName {
		return nil
	}
	if !id.ValidateServerName(server) {
		return httpx.InvalidParam("Invalid server name %q", server)
	}
	return httpx.NotFound("The room list of %s is not available: federation is not enabled", server)
}

// clampPublicRoomsLimit keeps huge limits from overflowing int; the
// directory caps pages anyway and refuses negative limits itself.
func clampPublicRoomsLimit(limit int64) int {
	if limit > directory.MaxPublicRoomsLimit {
		return directory.MaxPublicRoomsLimit
	}
	if limit < -1 {
		return -1
	}
	return int(limit)
}
