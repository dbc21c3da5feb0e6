package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
)

// GET /_matrix/client/v1/rooms/{roomId}/hierarchy pages through a space's
// tree of rooms, as far as the caller may see it.
func (h *navigationAPI) hierarchy(r *http.Request) (any, error) {
	root, err := directoryRoomID(r)
	if err != nil {
		return nil, err
	}
	q := directory.HierarchyQuery{From: r.URL.Query().Get("from"), MaxDepth: -1}
	if q.SuggestedOnly, err = relationsBool(r, "suggested_only"); err != nil {
		return nil, err
	}
	limit, err := httpx.QueryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Has("limit") && limit <= 0 {
		return nil, httpx.InvalidParam("limit must be a positive integer")
	}
	q.Limit = int(min(limit, directory.MaxHierarchyLimit))
	depth, err := httpx.QueryInt(r, "max_depth", -1)
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Has("max_depth") && depth < 0 {
		return nil, httpx.InvalidParam("max_depth must be a non-negative integer")
	}
	q.MaxDepth = int(min(depth, directory.MaxHierarchyDepth))
	return h.dir.Hierarchy(r.Context(), httpx.CallerFrom(r).UserID, root, q)
}
