package admin

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/relations"
)

// GET /_synapse/admin/v1/event_reports lists reported events, newest first
// unless dir=f (from, limit, user_id, room_id, sender_user_id as in
// Synapse).
func (h *adminAPI) listEventReports(r *http.Request) (any, error) {
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
	dir := q.Get("dir")
	if dir != "" && dir != "f" && dir != "b" {
		return nil, httpx.InvalidParam("dir must be f or b")
	}
	list, total, err := h.reports.EventReports(r.Context(), relations.ReportListParams{
		From: int(from), Limit: int(limit), Forwards: dir == "f",
		UserID: q.Get("user_id"), RoomID: q.Get("room_id"), EventSender: q.Get("sender_user_id"),
	})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"event_reports": list, "total": total}
	if next := int(from) + len(list); next < total && len(list) > 0 {
		out["next_token"] = next
	}
	return out, nil
}

// GET /_synapse/admin/v1/event_reports/{reportId} returns one report with
// the reported event.
func (h *adminAPI) getEventReport(r *http.Request) (any, error) {
	return h.reports.EventReport(r.Context(), r.PathValue("reportId"))
}

// DELETE /_synapse/admin/v1/event_reports/{reportId} deletes a report.
func (h *adminAPI) deleteEventReport(r *http.Request) (any, error) {
	if err := h.reports.DeleteEventReport(r.Context(), r.PathValue("reportId")); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}
