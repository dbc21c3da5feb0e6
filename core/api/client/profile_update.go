package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// PUT /_matrix/client/v3/profile/{userId}/displayname sets a display name
// and re-sends the user's memberships so rooms show it.
func (h *profileAPI) putDisplayName(r *http.Request) (any, error) {
	return h.putField(r, "displayname", func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if utf8.RuneCountInString(v) > maxDisplayNameLen {
			return "", httpx.InvalidParam("displayname is too long (max %d)", maxDisplayNameLen)
		}
		return v, nil
	})
}

// PUT /_matrix/client/v3/profile/{userId}/avatar_url sets an avatar and
// re-sends the user's memberships so rooms show it.
func (h *profileAPI) putAvatarURL(r *http.Request) (any, error) {
	return h.putField(r, "avatar_url", func(v string) (string, error) {
		if len(v) > maxAvatarURLLen {
			return "", httpx.InvalidParam("avatar_url is too long (max %d)", maxAvatarURLLen)
		}
		if _, err := id.ParseContentURI(v); err != nil {
			return "", httpx.InvalidParam("avatar_url must be an mxc:// URI")
		}
		return v, nil
	})
}

// putField is the shared body of the two PUTs: who may write, the body's
// shape, storing, and propagation when the value changed.
func (h *profileAPI) putField(r *http.Request, field string, check func(string) (string, error)) (any, error) {
	target, err := profileUser(r)
	if err != nil {
		return nil, err
	}
	caller := httpx.CallerFrom(r)
	if target != caller.UserID && !caller.IsAdmin {
		return nil, httpx.Forbidden("You cannot change another user's profile")
	}
	value, err := profileBodyField(r, field)
	if err != nil {
		return nil, err
	}
	if value, err = check(value); err != nil {
		return nil, err
	}
	old, err := h.store.Profile(r.Context(), target)
	if err == nil {
		if field == "displayname" {
			err = h.store.SetDisplayName(r.Context(), target, value)
		} else {
			err = h.store.SetAvatarURL(r.Context(), target, value)
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("User %s not found", target)
	} else if err != nil {
		return nil, err
	}
	if profileValue(old, field) != value {
		// The new value is stored; a room that refuses the new membership
		// event must not turn the whole request into an error.
		if err := h.rooms.ProfileChanged(r.Context(), target); err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Stringer("user_id", target).Msg("Failed to propagate profile change to rooms")
		}
	}
	return httpx.Empty, nil
}

// profileBodyField reads {field: string} as Synapse does: a missing field is
// M_BAD_JSON, a non-string one M_INVALID_PARAM.
func profileBodyField(r *http.Request, field string) (string, error) {
	var body map[string]json.RawMessage
	if err := httpx.Decode(r, &body); err != nil {
		return "", err
	}
	raw, ok := body[field]
	if !ok {
		return "", httpx.BadJSON("Missing %s", field)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil || string(raw) == "null" {
		return "", httpx.InvalidParam("%s must be a string", field)
	}
	return v, nil
}

func profileValue(p accounts.Profile, field string) string {
	if field == "displayname" {
		return p.DisplayName
	}
	return p.AvatarURL
}
