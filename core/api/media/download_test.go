package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	repo "github.com/gatehouse-chat/gatehouse/core/media"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestUploadDownloadRoundTrip(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, 1<<20, Options{})
		data := make([]byte, 200_000)
		_, _ = rand.Read(data)
		mediaID := e.upload("application/pdf", "r%C3%A9sum%C3%A9.pdf", data)
		sum := sha256.Sum256(data)

		v1 := "/_matrix/client/v1/media/download/example.org/" + mediaID
		resp, body := e.do("GET", v1, aliceToken, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("v1 download: %d, %d bytes, identical=%v", resp.StatusCode, len(body), bytes.Equal(body, data))
		}
		for header, want := range map[string]string{
			"Content-Type":                 "application/pdf",
			"Content-Disposition":          "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
			"Content-Length":               "200000",
			"Cross-Origin-Resource-Policy": "cross-origin",
			"X-Content-Type-Options":       "nosniff",
			"Cache-Control":                "private, max-age=86400, immutable",
			"ETag":                         `"` + hex.EncodeToString(sum[:]) + `"`,
			"Access-Control-Allow-Origin":  "*",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("%s = %q, want %q", header, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP = %q", csp)
		}

		// The token is required on v1 and not on the legacy paths.
		resp, body = e.do("GET", v1, "", nil)
		wantError(t, "v1 without token", resp, body, 401, "M_MISSING_TOKEN")
		for _, v := range []string{"v3", "r0", "v1"} {
			resp, body = e.do("GET", "/_matrix/media/"+v+"/download/example.org/"+mediaID, "", nil)
			if resp.StatusCode != 200 || !bytes.Equal(body, data) || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public") {
				t.Errorf("legacy %s download: %d, cache %q", v, resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
		}

		// A file name in the path overrides the uploaded one.
		resp, _ = e.do("GET", v1+"/other%20name.pdf", aliceToken, nil)
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="other name.pdf"` {
			t.Errorf("override disposition = %q", got)
		}
		// Range requests work, for seeking in videos.
		resp, body = e.do("GET", v1, aliceToken, nil, "Range", "bytes=10-19")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[10:20]) {
			t.Errorf("range: %d %x", resp.StatusCode, body)
		}
		resp, _ = e.do("GET", v1, aliceToken, nil, "If-None-Match", resp.Header.Get("ETag"))
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", resp.StatusCode)
		}
	})
}

func TestDownloadHeadersByType(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 1<<20, Options{})
	for _, c := range []struct {
		uploadType, name, wantType, wantDisp string
	}{
		{"text/html", "x.html", "text/html; charset=utf-8", "attachment; filename=x.html"},
		{"image/svg+xml", "x.svg", "image/svg+xml", "attachment; filename=x.svg"},
		{"image/png", "x.png", "image/png", "inline; filename=x.png"},
		{"text/plain; charset=iso-8859-1", "", "text/plain; charset=iso-8859-1", "inline"},
		{"this is not a type", "", "application/octet-stream", "attachment"},
	} {
		mediaID := e.upload(c.uploadType, c.name, []byte("<script>alert(1)</script>"))
		resp, _ := e.do("GET", "/_matrix/client/v1/media/download/example.org/"+mediaID, aliceToken, nil)
		if got := resp.Header.Get("Content-Type"); got != c.wantType {
			t.Errorf("%s: Content-Type = %q, want %q", c.uploadType, got, c.wantType)
		}
		if got := resp.Header.Get("Content-Disposition"); got != c.wantDisp {
			t.Errorf("%s: Content-Disposition = %q, want %q", c.uploadType, got, c.wantDisp)
		}
	}
}

func TestDownloadErrors(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 1<<20, Options{})
	for path, want := range map[string]struct {
		status  int
		errcode string
	}{
		"/_matrix/client/v1/media/download/example.org/doesNotExist":     {404, "M_NOT_FOUND"},
		"/_matrix/client/v1/media/download/example.org/bad.id":           {404, "M_NOT_FOUND"},
		"/_matrix/client/v1/media/download/bad_server!/abc":              {400, "M_INVALID_PARAM"},
		"/_matrix/client/v1/media/download/other.org/abc":                {404, "M_NOT_FOUND"},
		"/_matrix/client/v1/media/download/example.org/abc?timeout_ms=x": {400, "M_INVALID_PARAM"},
		"/_matrix/media/v3/download/example.org/doesNotExist":            {404, "M_NOT_FOUND"},
		"/_matrix/client/v1/media/download/example.org":                  {404, "M_UNRECOGNIZED"},
	} {
		resp, body := e.do("GET", path, aliceToken, nil)
		wantError(t, path, resp, body, want.status, want.errcode)
	}
}

// fakeRemote stands in for federation to check the RemoteFetcher seam.
type fakeRemote struct{}

func (fakeRemote) Download(ctx context.Context, server, mediaID string, max int64) (*repo.Media, *repo.Content, error) {
	if mediaID != "known" {
		return nil, nil, repo.ErrNotFound
	}
	return &repo.Media{Origin: server, MediaID: mediaID, UploadName: "r.txt"},
		&repo.Content{ContentType: "text/plain", Size: 6, Body: io.NopCloser(strings.NewReader("remote")), ModTime: time.Now()}, nil
}

func (fakeRemote) Thumbnail(ctx context.Context, server, mediaID string, req repo.ThumbnailRequest, max int64) (*repo.Content, error) {
	return nil, repo.ErrNotFound
}

func TestRemoteFetcherSeam(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 1<<20, Options{Remote: fakeRemote{}})
	resp, body := e.do("GET", "/_matrix/client/v1/media/download/other.org/known", aliceToken, nil)
	if resp.StatusCode != 200 || string(body) != "remote" || resp.Header.Get("Content-Disposition") != "inline; filename=r.txt" {
		t.Errorf("remote download: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Disposition"))
	}
	resp, body = e.do("GET", "/_matrix/client/v1/media/download/other.org/unknown", aliceToken, nil)
	wantError(t, "unknown remote", resp, body, 404, "M_NOT_FOUND")
}
