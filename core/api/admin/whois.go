package admin

import (
	"cmp"
	"net/http"
	"slices"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// connectionJSON is one place a user was seen from.
type connectionJSON struct {
	IP        string  `json:"ip"`
	LastSeen  int64   `json:"last_seen"`
	UserAgent *string `json:"user_agent"`
}

// GET /_synapse/admin/v1/whois/{userId} lists where a local user's sessions
// were last seen from. As in Synapse, server admins may ask about anyone and
// users about themselves, and every connection sits under the device key ""
// in a single session (synapse-admin reads devices[""].sessions[0]).
// NOTSPEC: Gatehouse keeps only each device's latest IP and user agent, so
// there is one connection per device that has been used since login, newest
// first, not Synapse's history of every address.
func (h *adminAPI) whois(r *http.Request) (any, error) {
	if c := httpx.CallerFrom(r); c.UserID != id.UserID(r.PathValue("userId")) && !c.IsAdmin {
		return nil, httpx.Forbidden("You are not a server admin")
	}
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	devices, err := h.acc.Devices(r.Context(), u.UserID)
	if err != nil {
		return nil, err
	}
	conns := []connectionJSON{}
	for _, d := range devices {
		if d.LastSeenIP == "" && d.LastSeenTS == 0 {
			continue
		}
		conns = append(conns, connectionJSON{IP: d.LastSeenIP, LastSeen: d.LastSeenTS, UserAgent: optional(d.UserAgent)})
	}
	slices.SortStableFunc(conns, func(a, b connectionJSON) int { return cmp.Compare(b.LastSeen, a.LastSeen) })
	return map[string]any{
		"user_id": u.UserID,
		"devices": map[string]any{"": map[string]any{"sessions": []any{map[string]any{"connections": conns}}}},
	}, nil
}
