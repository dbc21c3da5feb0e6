package admin

import (
	"errors"
	"net/http"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// userJSON is Synapse's admin view of an account. creation_ts is in
// seconds, as Synapse reports it.
type userJSON struct {
	Name         id.UserID `json:"name"`
	DisplayName  *string   `json:"displayname"`
	AvatarURL    *string   `json:"avatar_url"`
	Admin        bool      `json:"admin"`
	IsGuest      bool      `json:"is_guest"`
	Deactivated  bool      `json:"deactivated"`
	Erased       bool      `json:"erased"`
	ShadowBanned bool      `json:"shadow_banned"`
	Locked       bool      `json:"locked"`
	UserType     *string   `json:"user_type"`
	AppServiceID *string   `json:"appservice_id"`
	CreationTS   int64     `json:"creation_ts"`
	ThreePIDs    []any     `json:"threepids"`
	ExternalIDs  []any     `json:"external_ids"`
}

func toUserJSON(u *accounts.User) userJSON {
	return userJSON{
		Name: u.UserID, DisplayName: optional(u.DisplayName), AvatarURL: optional(u.AvatarURL),
		Admin: u.IsAdmin, IsGuest: u.IsGuest, Deactivated: u.Deactivated, AppServiceID: optional(u.AppServiceID),
		CreationTS: u.CreatedTS / 1000, ThreePIDs: []any{}, ExternalIDs: []any{},
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// GET /_synapse/admin/v2/users/{userId} returns one local account.
func (h *adminAPI) getUser(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	return toUserJSON(u), nil
}

// localUser returns the path's {userId}: 400 M_INVALID_PARAM when it is no
// user ID, 400 for another server's user.
func (h *adminAPI) localUser(r *http.Request) (id.UserID, error) {
	userID := id.UserID(r.PathValue("userId"))
	if localpart, _, err := userID.ParseAndValidateRelaxed(); err != nil || localpart == "" {
		return "", httpx.InvalidParam("Invalid user ID %q", userID)
	}
	if !h.acc.IsLocal(userID) {
		return "", httpx.BadRequest("Can only look up local users")
	}
	return userID, nil
}

// existingUser returns the path's local account, or 404 M_NOT_FOUND.
func (h *adminAPI) existingUser(r *http.Request) (*accounts.User, error) {
	userID, err := h.localUser(r)
	if err != nil {
		return nil, err
	}
	u, err := h.acc.GetUser(r.Context(), userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("User not found")
	}
	return u, err
}

// GET /_synapse/admin/v2/users lists local accounts a page at a time
// (from, limit, name, guests, deactivated as in Synapse).
func (h *adminAPI) listUsers(r *http.Request) (any, error) {
	from, err := httpx.QueryInt(r, "from", 0)
	if err != nil {
		return nil, err
	}
	limit, err := httpx.QueryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	if from < 0 || limit < 0 || limit > 1000 {
		return nil, httpx.InvalidParam("from must be >= 0 and limit between 0 and 1000")
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		name = q.Get("user_id")
	}
	p := accounts.ListUsersParams{
		From: int(from), Limit: int(limit), Name: name,
		IncludeGuests: q.Get("guests") != "false", IncludeDeactivated: q.Get("deactivated") == "true",
	}
	users, total, err := h.acc.ListUsers(r.Context(), p)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"total": total}
	list := make([]userJSON, len(users))
	for i := range users {
		list[i] = toUserJSON(&users[i])
	}
	out["users"] = list
	if next := p.From + len(users); next < total && len(users) > 0 {
		out["next_token"] = strconv.Itoa(next)
	}
	return out, nil
}
