// Package media is the HTTP surface of the media repository: uploads,
// downloads, thumbnails, the upload limit and URL previews, under both the
// authenticated client v1 paths (spec v1.11) and the legacy
// /_matrix/media/{r0,v1,v3} paths. Handlers are thin: the work is in
// core/media, whose errors are mapped to Matrix errcodes here.
//
// Decisions worth knowing:
//
//   - Legacy GET download and thumbnail are served without authentication,
//     as every server did before v1.11, because many clients and bridges
//     still use them (NOTSPEC: v1.11 deprecates them; Synapse freezes them
//     for new media once enable_authenticated_media is on). Legacy upload,
//     config and preview_url require a token, as in Synapse.
//   - Thumbnails of content that is not a decodable JPEG, PNG, GIF or WebP
//     answer 404 M_NOT_FOUND, as Synapse does; images over 40 megapixels
//     answer 413 M_TOO_LARGE, as the spec lists.
//   - With url_preview_enabled false, preview_url answers 404
//     M_UNRECOGNIZED without looking at the token, which is what Synapse's
//     unregistered v1 endpoint does (its legacy one says 400 after auth).
//   - Remote media answers 404 M_NOT_FOUND until Options.Remote is set.
package media

import (
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
)

// Options carries what Register needs beyond the Service.
type Options struct {
	// Previewer serves preview_url; nil when url_preview_enabled is false.
	Previewer *repo.Previewer
	// Remote fetches media from other homeservers; nil until federation
	// is wired, and remote mxc URIs then answer M_NOT_FOUND.
	Remote repo.RemoteFetcher
}

type api struct {
	svc     *repo.Service
	preview *repo.Previewer
	remote  repo.RemoteFetcher
}

// Register adds every media endpoint to rt.
func Register(rt *httpx.Router, svc *repo.Service, cfg Options) {
	a := &api{svc: svc, preview: cfg.Previewer, remote: cfg.Remote}
	previewRoute := rt.Authed
	previewHandler := httpx.Handler(a.previewURL)
	if a.preview == nil {
		previewRoute, previewHandler = rt.Public, previewDisabled
	}

	// Authenticated media (spec v1.11).
	rt.Authed("GET /_matrix/client/v1/media/config", a.config)
	rt.Authed("GET /_matrix/client/v1/media/download/{serverName}/{mediaId}", a.download(true))
	rt.Authed("GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}", a.download(true))
	rt.Authed("GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}", a.thumbnail(true))
	previewRoute("GET /_matrix/client/v1/media/preview_url", previewHandler)

	// Asynchronous upload (MSC2246, spec v1.7).
	rt.Authed("POST /_matrix/media/v1/create", a.create)
	rt.Authed("PUT /_matrix/media/v3/upload/{serverName}/{mediaId}", a.uploadPending)

	// Legacy paths, each also served under r0 and v1 as Synapse does.
	legacy(rt.Authed, "POST /_matrix/media/v3/upload", a.upload)
	legacy(rt.Authed, "GET /_matrix/media/v3/config", a.config)
	legacy(rt.Public, "GET /_matrix/media/v3/download/{serverName}/{mediaId}", a.download(false))
	legacy(rt.Public, "GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}", a.download(false))
	legacy(rt.Public, "GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}", a.thumbnail(false))
	legacy(previewRoute, "GET /_matrix/media/v3/preview_url", previewHandler)
}

type registerFunc func(pattern string, h httpx.Handler, mw ...httpx.Middleware)

func legacy(register registerFunc, v3Pattern string, h httpx.Handler) {
	for _, v := range []string{"/v3/", "/r0/", "/v1/"} {
		register(strings.Replace(v3Pattern, "/v3/", v, 1), h)
	}
}
