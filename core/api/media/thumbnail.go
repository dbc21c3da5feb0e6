package media

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
)

// maxThumbnailSide clamps requested sizes. Nothing is upscaled anyway;
// the clamp keeps absurd requests from becoming distinct cache entries.
const maxThumbnailSide = 4096

// GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId} serves a
// thumbnail; with authed false it is the legacy, tokenless
// GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}.
func (a *api) thumbnail(authed bool) httpx.Handler {
	return func(r *http.Request) (any, error) {
		serverName, mediaID, err := mediaPath(r)
		if err != nil {
			return nil, err
		}
		req, err := thumbnailParams(r)
		if err != nil {
			return nil, err
		}
		wait, err := waitParam(r)
		if err != nil {
			return nil, err
		}
		var c *repo.Content
		if serverName == a.svc.ServerName() {
			c, err = a.svc.Thumbnail(r.Context(), serverName, mediaID, req, wait)
		} else if a.remote != nil {
			c, err = a.remote.Thumbnail(r.Context(), serverName, mediaID, req, a.svc.MaxUploadSize())
		} else {
			err = repo.ErrNotFound
		}
		if err != nil {
			return nil, a.mapErr(err)
		}
		h := serveHeaders{contentType: c.ContentType, fileName: thumbnailName(c.ContentType), authed: authed}
		return httpx.Writer(func(w http.ResponseWriter) { h.serve(w, r, c) }), nil
	}
}

// thumbnailParams reads width, height (required, positive), method
// (scale or crop, default scale) and animated (true or false).
func thumbnailParams(r *http.Request) (repo.ThumbnailRequest, error) {
	var req repo.ThumbnailRequest
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *int
	}{{"width", &req.Width}, {"height", &req.Height}} {
		s := q.Get(p.name)
		if s == "" {
			return req, httpx.MissingParam("Missing integer query parameter %q", p.name)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return req, httpx.InvalidParam("Query parameter %q must be a positive integer", p.name)
		}
		*p.dst = int(min(n, maxThumbnailSide))
	}
	switch req.Method = q.Get("method"); req.Method {
	case "":
		req.Method = repo.MethodScale
	case repo.MethodScale, repo.MethodCrop:
	default:
		return req, httpx.InvalidParam("Query parameter \"method\" must be \"scale\" or \"crop\"")
	}
	switch q.Get("animated") {
	case "", "false":
	case "true":
		req.Animated = true
	default:
		return req, httpx.InvalidParam("Query parameter \"animated\" must be true or false")
	}
	return req, nil
}

func thumbnailName(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return "thumbnail.jpg"
	case "image/png":
		return "thumbnail.png"
	case "image/gif":
		return "thumbnail.gif"
	}
	return "thumbnail"
}
