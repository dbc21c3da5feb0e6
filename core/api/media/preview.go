package media

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// GET /_matrix/client/v1/media/preview_url returns Open Graph data for a
// URL, with any image re-hosted as an mxc URI. The ts parameter (a
// preferred snapshot time) is accepted and ignored, as Synapse mostly does.
func (a *api) previewURL(r *http.Request) (any, error) {
	raw := r.URL.Query().Get("url")
	if raw == "" {
		return nil, httpx.MissingParam("Missing string query parameter \"url\"")
	}
	og, err := a.preview.Preview(r.Context(), raw, string(httpx.CallerFrom(r).UserID))
	if err != nil {
		return nil, a.mapErr(err)
	}
	return og, nil
}

// previewDisabled answers preview_url when url_preview_enabled is false:
// 404 M_UNRECOGNIZED, what Synapse's client v1 API gives, since it does
// not register the endpoint at all then.
func previewDisabled(r *http.Request) (any, error) {
	return nil, httpx.Unrecognized("URL previews are disabled on this server")
}
