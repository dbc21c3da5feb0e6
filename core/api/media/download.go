package media

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
)

// GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
// serves content; with authed false it is the legacy, tokenless
// GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}].
func (a *api) download(authed bool) httpx.Handler {
	return func(r *http.Request) (any, error) {
		serverName, mediaID, err := mediaPath(r)
		if err != nil {
			return nil, err
		}
		wait, err := waitParam(r)
		if err != nil {
			return nil, err
		}
		var (
			m *repo.Media
			c *repo.Content
		)
		if serverName == a.svc.ServerName() {
			m, c, err = a.svc.Open(r.Context(), serverName, mediaID, wait)
		} else if a.remote != nil {
			m, c, err = a.remote.Download(r.Context(), serverName, mediaID, a.svc.MaxUploadSize())
		} else {
			err = repo.ErrNotFound
		}
		if err != nil {
			return nil, a.mapErr(err)
		}
		name := m.UploadName
		if fn := repo.CleanFileName(r.PathValue("fileName")); fn != "" {
			name = fn
		}
		h := serveHeaders{contentType: c.ContentType, fileName: name, authed: authed, etag: m.SHA256}
		return httpx.Writer(func(w http.ResponseWriter) { h.serve(w, r, c) }), nil
	}
}

// inlineTypes are the types Synapse lets browsers render in place; all
// else is sent as an attachment. SVG and HTML are deliberately absent:
// they can run script in the homeserver's origin.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true, "audio/ogg": true,
	"audio/wave": true, "audio/wav": true, "audio/x-wav": true, "audio/x-pn-wav": true,
	"audio/flac": true, "audio/x-flac": true,
}

// contentDisposition builds an RFC 6266 header: mime.FormatMediaType
// quotes ASCII names and percent-encodes others as RFC 5987 filename*.
func contentDisposition(contentType, name string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	disp := "attachment"
	if inlineTypes[mt] {
		disp = "inline"
	}
	if name == "" {
		return disp
	}
	if v := mime.FormatMediaType(disp, map[string]string{"filename": name}); v != "" {
		return v
	}
	return disp
}

// serveContentType adds charset=utf-8 to text types that lack one, as
// Synapse does, so browsers do not guess an encoding.
func serveContentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	if (strings.HasPrefix(mt, "text/") || mt == "application/json") && params["charset"] == "" {
		return ct + "; charset=utf-8"
	}
	return ct
}

type serveHeaders struct {
	contentType string
	fileName    string
	authed      bool
	etag        string
}

// serve writes a media body with the headers that keep user content from
// acting in our origin: a sandboxing CSP, nosniff, and attachment
// disposition for anything a browser could execute.
func (h serveHeaders) serve(w http.ResponseWriter, r *http.Request, c *repo.Content) {
	defer c.Body.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", serveContentType(h.contentType))
	hdr.Set("Content-Disposition", contentDisposition(h.contentType, h.fileName))
	hdr.Set("Content-Security-Policy", "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';")
	hdr.Set("X-Content-Security-Policy", "sandbox;")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	// Content never changes under an ID. Authenticated media must not sit
	// in shared caches, which would hand it out without a token.
	if h.authed {
		hdr.Set("Cache-Control", "private, max-age=86400, immutable")
	} else {
		hdr.Set("Cache-Control", "public, max-age=86400, s-maxage=86400, immutable")
	}
	if h.etag != "" {
		hdr.Set("ETag", `"`+h.etag+`"`)
	}
	if rs, ok := c.Body.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", c.ModTime, rs)
		return
	}
	if c.Size > 0 {
		hdr.Set("Content-Length", strconv.FormatInt(c.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, c.Body)
}
