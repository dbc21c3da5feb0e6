package client

import (
	"encoding/json"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/backup"
)

type backupAPI struct {
	b *backup.Service
}

// RegisterBackup adds the server-side key backup endpoints (/room_keys).
func RegisterBackup(rt *httpx.Router, b *backup.Service) {
	h := &backupAPI{b: b}
	rt.Authed("POST /_matrix/client/v3/room_keys/version", h.createVersion)
	rt.Authed("GET /_matrix/client/v3/room_keys/version", h.getVersion)
	rt.Authed("GET /_matrix/client/v3/room_keys/version/{version}", h.getVersion)
	rt.Authed("PUT /_matrix/client/v3/room_keys/version/{version}", h.updateVersion)
	rt.Authed("DELETE /_matrix/client/v3/room_keys/version/{version}", h.deleteVersion)
	for _, p := range []string{"/_matrix/client/v3/room_keys/keys", "/_matrix/client/v3/room_keys/keys/{roomId}",
		"/_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}"} {
		rt.Authed("PUT "+p, h.putKeys)
		rt.Authed("GET "+p, h.getKeys)
		rt.Authed("DELETE "+p, h.deleteKeys)
	}
}

type versionBody struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   string          `json:"version"`
}

// POST /_matrix/client/v3/room_keys/version creates a new backup version.
func (h *backupAPI) createVersion(r *http.Request) (any, error) {
	var body versionBody
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	v, err := h.b.CreateVersion(r.Context(), httpx.CallerFrom(r).UserID, body.Algorithm, body.AuthData)
	if err != nil {
		return nil, err
	}
	return map[string]string{"version": v}, nil
}

// GET /_matrix/client/v3/room_keys/version[/{version}] describes the
// current (or the given) backup version, with its key count and etag.
func (h *backupAPI) getVersion(r *http.Request) (any, error) {
	return h.b.GetVersion(r.Context(), httpx.CallerFrom(r).UserID, r.PathValue("version"))
}

// PUT /_matrix/client/v3/room_keys/version/{version} updates a version's auth_data.
func (h *backupAPI) updateVersion(r *http.Request) (any, error) {
	var body versionBody
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	err := h.b.UpdateVersion(r.Context(), httpx.CallerFrom(r).UserID, r.PathValue("version"), body.Algorithm, body.AuthData, body.Version)
	if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// DELETE /_matrix/client/v3/room_keys/version/{version} deletes a version and its keys.
func (h *backupAPI) deleteVersion(r *http.Request) (any, error) {
	if err := h.b.DeleteVersion(r.Context(), httpx.CallerFrom(r).UserID, r.PathValue("version")); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

func backupSelector(r *http.Request) (backup.Selector, string, error) {
	version := r.URL.Query().Get("version")
	if version == "" {
		return backup.Selector{}, "", httpx.MissingParam("Missing version query parameter")
	}
	return backup.Selector{RoomID: id.RoomID(r.PathValue("roomId")), SessionID: r.PathValue("sessionId")}, version, nil
}

// PUT /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]] stores keys
// in the current backup version.
func (h *backupAPI) putKeys(r *http.Request) (any, error) {
	sel, version, err := backupSelector(r)
	if err != nil {
		return nil, err
	}
	data, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	keys, err := parseBackupKeys(data, sel)
	if err != nil {
		return nil, err
	}
	count, etag, err := h.b.PutKeys(r.Context(), httpx.CallerFrom(r).UserID, version, keys)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": count, "etag": etag}, nil
}

// parseBackupKeys reads the three body shapes of PUT /room_keys/keys.
func parseBackupKeys(data []byte, sel backup.Selector) (backup.Keys, error) {
	keys := backup.Keys{}
	if sel.SessionID != "" {
		k, err := backup.ParseKeyData(data)
		if err != nil {
			return nil, err
		}
		keys[sel.RoomID] = map[string]*backup.KeyData{sel.SessionID: k}
		return keys, nil
	}
	type roomBody struct {
		Sessions map[string]json.RawMessage `json:"sessions"`
	}
	rooms := map[id.RoomID]roomBody{}
	if sel.RoomID != "" {
		var rb roomBody
		if err := httpx.DecodeBytes(data, &rb); err != nil {
			return nil, err
		}
		if rb.Sessions == nil {
			return nil, httpx.MissingParam("Missing sessions")
		}
		rooms[sel.RoomID] = rb
	} else {
		var body struct {
			Rooms map[id.RoomID]roomBody `json:"rooms"`
		}
		if err := httpx.DecodeBytes(data, &body); err != nil {
			return nil, err
		}
		if body.Rooms == nil {
			return nil, httpx.MissingParam("Missing rooms")
		}
		rooms = body.Rooms
	}
	for room, rb := range rooms {
		keys[room] = map[string]*backup.KeyData{}
		for sid, raw := range rb.Sessions {
			k, err := backup.ParseKeyData(raw)
			if err != nil {
				return nil, err
			}
			keys[room][sid] = k
		}
	}
	return keys, nil
}

// GET /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]] reads keys
// from a backup version.
func (h *backupAPI) getKeys(r *http.Request) (any, error) {
	sel, version, err := backupSelector(r)
	if err != nil {
		return nil, err
	}
	return h.b.GetKeys(r.Context(), httpx.CallerFrom(r).UserID, version, sel)
}

// DELETE /_matrix/client/v3/room_keys/keys[/{roomId}[/{sessionId}]] deletes
// keys from a backup version.
func (h *backupAPI) deleteKeys(r *http.Request) (any, error) {
	sel, version, err := backupSelector(r)
	if err != nil {
		return nil, err
	}
	count, etag, err := h.b.DeleteKeys(r.Context(), httpx.CallerFrom(r).UserID, version, sel)
	if err != nil {
		return nil, err
	}
	return map[string]any{"count": count, "etag": etag}, nil
}
