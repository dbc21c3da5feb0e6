package client

import (
	"bytes"
	"encoding/json"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// syncAccountDataTarget returns the room ("" for global) and type of an
// account data path, after checking the caller owns it.
func syncAccountDataTarget(r *http.Request, what string) (*httpx.Caller, id.RoomID, string, error) {
	c, err := syncSelf(r, what)
	if err != nil {
		return nil, "", "", err
	}
	var room id.RoomID
	if r.PathValue("roomId") != "" {
		if room, err = syncRoomID(r); err != nil {
			return nil, "", "", err
		}
	}
	typ := r.PathValue("type")
	if typ == "" {
		return nil, "", "", httpx.InvalidParam("Missing account data type")
	}
	return c, room, typ, nil
}

// GET /_matrix/client/v3/user/{userId}/account_data/{type} (and the
// per-room /user/{userId}/rooms/{roomId}/account_data/{type}) returns account data.
func (h *syncAPI) getAccountData(r *http.Request) (any, error) {
	c, room, typ, err := syncAccountDataTarget(r, "read account data")
	if err != nil {
		return nil, err
	}
	if room == "" && typ == "m.push_rules" {
		return syncRaw(h.src.Push.AccountDataSince(r.Context(), c.UserID, 0))
	}
	return syncRaw(h.src.AccountData.Get(r.Context(), c.UserID, room, typ))
}

// PUT /_matrix/client/v3/user/{userId}/account_data/{type} (and the
// per-room form) sets account data. Types the server manages are refused.
func (h *syncAPI) putAccountData(r *http.Request) (any, error) {
	c, room, typ, err := syncAccountDataTarget(r, "add account data")
	if err != nil {
		return nil, err
	}
	if typ == fullyRead || typ == "m.push_rules" {
		return nil, httpx.NewError(http.StatusMethodNotAllowed, "M_BAD_JSON", "Cannot set %s through this API", typ)
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var shape map[string]json.RawMessage
	if err := httpx.DecodeBytes(body, &shape); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, bytes.TrimSpace(body)); err != nil || compact.Len() == 0 {
		compact.Reset()
		compact.WriteString("{}")
	}
	if err := h.src.AccountData.Set(r.Context(), c.UserID, room, typ, compact.Bytes()); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}
