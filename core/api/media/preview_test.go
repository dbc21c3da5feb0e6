package media

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestPreviewDisabled(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 1<<20, Options{})
	for _, p := range []string{"/_matrix/client/v1/media/preview_url", "/_matrix/media/v3/preview_url", "/_matrix/media/r0/preview_url"} {
		resp, body := e.do("GET", p+"?url=https://example.com/", aliceToken, nil)
		wantError(t, p, resp, body, 404, "M_UNRECOGNIZED")
	}
}

// previewEnv enables previews with the default blacklist plus whitelist.
func previewEnv(t *testing.T, whitelist ...string) *env {
	t.Helper()
	return newEnvWith(t, storagetest.NewSQLite(t), 1<<20, func(svc *repo.Service) Options {
		pv, err := repo.NewPreviewer(svc, repo.PreviewConfig{
			Blacklist: config.Defaults().URLPreviewIPRangeBlacklist, Whitelist: whitelist,
		}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		return Options{Previewer: pv}
	})
}

func TestPreviewBlocksLoopbackByDefault(t *testing.T) {
	e := previewEnv(t)
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `<meta property="og:title" content="internal">`)
	}))
	defer target.Close()
	q := "?url=" + url.QueryEscape(target.URL)
	for _, p := range []string{"/_matrix/client/v1/media/preview_url", "/_matrix/media/v3/preview_url"} {
		resp, body := e.do("GET", p+q, aliceToken, nil)
		wantError(t, p, resp, body, 403, "M_FORBIDDEN")
		resp, body = e.do("GET", p+q, "", nil)
		wantError(t, p+" without token", resp, body, 401, "M_MISSING_TOKEN")
	}
	if hits.Load() != 0 {
		t.Errorf("loopback target was fetched %d times", hits.Load())
	}
	resp, body := e.do("GET", "/_matrix/client/v1/media/preview_url", aliceToken, nil)
	wantError(t, "no url", resp, body, 400, "M_MISSING_PARAM")
	resp, body = e.do("GET", "/_matrix/client/v1/media/preview_url?url=file:///etc/passwd", aliceToken, nil)
	wantError(t, "file url", resp, body, 400, "M_INVALID_PARAM")
}

func TestPreviewWhitelisted(t *testing.T) {
	e := previewEnv(t, "127.0.0.1/32")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><meta property="og:title" content="Hello"><title>x</title></head></html>`)
	}))
	defer target.Close()
	resp, body := e.do("GET", "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(target.URL), aliceToken, nil)
	var og map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &og) != nil || og["og:title"] != "Hello" {
		t.Errorf("preview: %d %s", resp.StatusCode, body)
	}
}
