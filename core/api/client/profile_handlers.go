package client

import (
	"context"
	"errors"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Profile limits, Synapse's MAX_DISPLAYNAME_LEN and MAX_AVATAR_URL_LEN.
const (
	maxDisplayNameLen = 256
	maxAvatarURLLen   = 1000
)

// ProfileStore is what the profile endpoints need from accounts;
// *accounts.Service satisfies it. Each method returns storage.ErrNotFound
// for unknown and deactivated users, and may block on the database.
type ProfileStore interface {
	Profile(ctx context.Context, userID id.UserID) (accounts.Profile, error)
	// SetDisplayName and SetAvatarURL store a value; "" clears it.
	SetDisplayName(ctx context.Context, userID id.UserID, name string) error
	SetAvatarURL(ctx context.Context, userID id.UserID, url string) error
}

// ProfilePropagator copies a user's new profile into their memberships;
// *rooms.Service satisfies it. ProfileChanged is called after the store
// holds the new value and sends one event per joined room, so it blocks.
type ProfilePropagator interface {
	ProfileChanged(ctx context.Context, userID id.UserID) error
}

type profileAPI struct {
	store ProfileStore
	rooms ProfilePropagator
}

// RegisterProfile registers the profile endpoints. Reads need no token, as
// with Synapse's default require_auth_for_profile_requests: false.
func RegisterProfile(rt *httpx.Router, store ProfileStore, rooms ProfilePropagator) {
	h := &profileAPI{store: store, rooms: rooms}
	rt.Public("GET /_matrix/client/v3/profile/{userId}", h.getProfile)
	rt.Public("GET /_matrix/client/v3/profile/{userId}/displayname", h.getDisplayName)
	rt.Public("GET /_matrix/client/v3/profile/{userId}/avatar_url", h.getAvatarURL)
	rt.Authed("PUT /_matrix/client/v3/profile/{userId}/displayname", h.putDisplayName)
	rt.Authed("PUT /_matrix/client/v3/profile/{userId}/avatar_url", h.putAvatarURL)
}

// profileUser reads and checks the {userId} path parameter.
func profileUser(r *http.Request) (id.UserID, error) {
	userID := id.UserID(r.PathValue("userId"))
	if _, _, err := userID.ParseAndValidateRelaxed(); err != nil {
		return "", httpx.InvalidParam("Invalid user ID %q", userID)
	}
	return userID, nil
}

// profileOf loads a profile; users on other servers are unknown until
// federation queries exist.
func (h *profileAPI) profileOf(r *http.Request) (accounts.Profile, error) {
	userID, err := profileUser(r)
	if err != nil {
		return accounts.Profile{}, err
	}
	p, err := h.store.Profile(r.Context(), userID)
	if errors.Is(err, storage.ErrNotFound) {
		return p, httpx.NotFound("Profile of %s was not found", userID)
	}
	return p, err
}

// GET /_matrix/client/v3/profile/{userId} returns a user's profile.
func (h *profileAPI) getProfile(r *http.Request) (any, error) {
	p, err := h.profileOf(r)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if p.DisplayName != "" {
		out["displayname"] = p.DisplayName
	}
	if p.AvatarURL != "" {
		out["avatar_url"] = p.AvatarURL
	}
	return out, nil
}

// GET /_matrix/client/v3/profile/{userId}/displayname returns a user's
// display name ({} when unset, as in Synapse).
func (h *profileAPI) getDisplayName(r *http.Request) (any, error) {
	p, err := h.profileOf(r)
	if err != nil {
		return nil, err
	}
	if p.DisplayName == "" {
		return httpx.Empty, nil
	}
	return map[string]string{"displayname": p.DisplayName}, nil
}

// GET /_matrix/client/v3/profile/{userId}/avatar_url returns a user's avatar
// ({} when unset).
func (h *profileAPI) getAvatarURL(r *http.Request) (any, error) {
	p, err := h.profileOf(r)
	if err != nil {
		return nil, err
	}
	if p.AvatarURL == "" {
		return httpx.Empty, nil
	}
	return map[string]string{"avatar_url": p.AvatarURL}, nil
}
