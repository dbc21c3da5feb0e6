package media

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
)

// GET /_matrix/client/v1/media/config returns the upload size limit.
func (a *api) config(r *http.Request) (any, error) {
	return map[string]any{"m.upload.size": a.svc.MaxUploadSize()}, nil
}

func uploadParams(r *http.Request) repo.UploadParams {
	return repo.UploadParams{
		UserID:       string(httpx.CallerFrom(r).UserID),
		ContentType:  r.Header.Get("Content-Type"),
		FileName:     r.URL.Query().Get("filename"),
		Body:         r.Body,
		DeclaredSize: r.ContentLength,
	}
}

// POST /_matrix/media/v3/upload stores the request body as new media.
func (a *api) upload(r *http.Request) (any, error) {
	m, err := a.svc.Upload(r.Context(), uploadParams(r))
	if err != nil {
		return nil, a.mapErr(err)
	}
	return map[string]any{"content_uri": m.MXC()}, nil
}

// POST /_matrix/media/v1/create reserves an mxc URI for a later PUT.
func (a *api) create(r *http.Request) (any, error) {
	m, err := a.svc.Create(r.Context(), string(httpx.CallerFrom(r).UserID))
	if err != nil {
		return nil, a.mapErr(err)
	}
	return map[string]any{"content_uri": m.MXC(), "unused_expires_at": m.ExpiresTS}, nil
}

// PUT /_matrix/media/v3/upload/{serverName}/{mediaId} uploads the content
// for a URI reserved with /create.
func (a *api) uploadPending(r *http.Request) (any, error) {
	serverName, mediaID, err := mediaPath(r)
	if err != nil {
		return nil, err
	}
	if serverName != a.svc.ServerName() {
		return nil, httpx.NotFound("Media not found")
	}
	if err := a.svc.UploadPending(r.Context(), mediaID, uploadParams(r)); err != nil {
		return nil, a.mapErr(err)
	}
	return httpx.Empty, nil
}
