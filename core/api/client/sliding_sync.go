package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/presence"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// SlidingSyncFeature is the unstable_features flag advertising MSC4186
// simplified sliding sync; Element X refuses servers without it.
const SlidingSyncFeature = "org.matrix.simplified_msc3575"

type slidingAPI struct{ sl *gsync.Sliding }

// RegisterSlidingSync adds MSC4186 simplified sliding sync on top of s.
// k and td serve the e2ee and to_device extensions; either may be nil.
func RegisterSlidingSync(rt *httpx.Router, s *gsync.Service, k *keys.Service, td *todevice.Service) {
	var e2ee gsync.SlidingE2EE
	if k != nil {
		e2ee = slidingE2EE{k: k, td: td}
	}
	h := &slidingAPI{sl: gsync.NewSliding(s, e2ee)}
	rt.Authed("POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync", h.sync)
}

// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync
// (MSC4186). pos, timeout and set_presence come in the query string (as
// matrix-rust-sdk sends them) or in the body (as the current MSC text
// puts them); conn_id and the rest in the body.
func (h *slidingAPI) sync(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	q := r.URL.Query()
	req := &gsync.SlidingRequest{UserID: c.UserID, DeviceID: c.DeviceID, Pos: q.Get("pos"),
		ConnID: q.Get("conn_id"), SetPresence: q.Get("set_presence")}
	timeout, err := httpx.QueryInt(r, "timeout", 0)
	if err != nil {
		return nil, err
	}
	req.Timeout = time.Duration(max(timeout, 0)) * time.Millisecond
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	if err := gsync.ParseSlidingBody(body, req); err != nil {
		return nil, err
	}
	if req.SetPresence != "" && !presence.ValidState(req.SetPresence) {
		return nil, httpx.InvalidParam("set_presence must be online, unavailable or offline")
	}
	return syncRaw(h.sl.Sync(r.Context(), req))
}

// slidingE2EE serves the E2EE extensions from core/keys and core/todevice.
type slidingE2EE struct {
	k  *keys.Service
	td *todevice.Service
}

var _ gsync.SlidingE2EE = slidingE2EE{}

func (e slidingE2EE) ToDevice(ctx context.Context, user id.UserID, device id.DeviceID, since, upto int64) ([]json.RawMessage, error) {
	if e.td == nil {
		return nil, nil
	}
	return e.td.ForSync(ctx, user, device, since, upto)
}

func (e slidingE2EE) DeviceLists(ctx context.Context, user id.UserID, since, upto int64) ([]id.UserID, []id.UserID, error) {
	return e.k.DeviceListChanges(ctx, user, since, upto)
}

func (e slidingE2EE) KeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, []string, error) {
	return e.k.DeviceKeyCounts(ctx, user, device)
}
