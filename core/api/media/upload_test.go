package media

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestUploadLimits(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, 1000, Options{})
		resp, body := e.do("POST", "/_matrix/media/v3/upload", "", strings.NewReader("x"))
		wantError(t, "no token", resp, body, 401, "M_MISSING_TOKEN")
		resp, body = e.do("POST", "/_matrix/media/v3/upload", "nonsense", strings.NewReader("x"))
		wantError(t, "bad token", resp, body, 401, "M_UNKNOWN_TOKEN")

		// Honest but too large.
		resp, body = e.do("POST", "/_matrix/media/v3/upload", aliceToken, bytes.NewReader(make([]byte, 1001)))
		wantError(t, "declared too large", resp, body, 413, "M_TOO_LARGE")

		// A Content-Length that lies: the request claims 10 bytes and
		// carries 5000. Served in-process, as a real client library
		// refuses to send such a request.
		req := httptest.NewRequest("POST", "/_matrix/media/v3/upload", bytes.NewReader(make([]byte, 5000)))
		req.ContentLength = 10
		req.Header.Set("Content-Length", "10")
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		rec := httptest.NewRecorder()
		e.rt.ServeHTTP(rec, req)
		wantError(t, "lying Content-Length", rec.Result(), rec.Body.Bytes(), 413, "M_TOO_LARGE")

		// No Content-Length at all (chunked), over the network.
		pr, pw := io.Pipe()
		go func() {
			for i := 0; i < 20; i++ {
				if _, err := pw.Write(make([]byte, 100)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		resp, body = e.do("POST", "/_matrix/media/v3/upload", aliceToken, pr)
		wantError(t, "chunked too large", resp, body, 413, "M_TOO_LARGE")

		var n int
		if err := db.QueryRow(t.Context(), `SELECT COUNT(*) FROM media`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d media rows after refused uploads (%v)", n, err)
		}
		// Exactly at the limit is fine.
		e.upload("application/octet-stream", "", make([]byte, 1000))
	})
}

func TestConfig(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 12345, Options{})
	for _, p := range []string{"/_matrix/client/v1/media/config", "/_matrix/media/v3/config", "/_matrix/media/r0/config"} {
		resp, body := e.do("GET", p, aliceToken, nil)
		var cfg map[string]int64
		if resp.StatusCode != 200 || json.Unmarshal(body, &cfg) != nil || cfg["m.upload.size"] != 12345 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
		resp, body = e.do("GET", p, "", nil)
		wantError(t, p+" without token", resp, body, 401, "M_MISSING_TOKEN")
	}
}

func TestAsyncUploadHTTP(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, 1<<20, Options{})
		resp, body := e.do("POST", "/_matrix/media/v1/create", "", nil)
		wantError(t, "create without token", resp, body, 401, "M_MISSING_TOKEN")

		resp, body = e.do("POST", "/_matrix/media/v1/create", aliceToken, nil)
		var created struct {
			ContentURI string `json:"content_uri"`
			Expires    int64  `json:"unused_expires_at"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &created) != nil || created.Expires <= time.Now().UnixMilli() {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		mediaID := strings.TrimPrefix(created.ContentURI, "mxc://example.org/")
		download := "/_matrix/client/v1/media/download/example.org/" + mediaID
		put := "/_matrix/media/v3/upload/example.org/" + mediaID

		resp, body = e.do("GET", download+"?timeout_ms=50", aliceToken, nil)
		wantError(t, "download before upload", resp, body, http.StatusGatewayTimeout, "M_NOT_YET_UPLOADED")
		resp, body = e.do("PUT", put, bobToken, strings.NewReader("bob"))
		wantError(t, "PUT by another user", resp, body, 403, "M_FORBIDDEN")
		resp, body = e.do("PUT", "/_matrix/media/v3/upload/other.org/"+mediaID, aliceToken, strings.NewReader("x"))
		wantError(t, "PUT to another server", resp, body, 404, "M_NOT_FOUND")

		resp, body = e.do("PUT", put+"?filename=a.txt", aliceToken, strings.NewReader("hello"), "Content-Type", "text/plain")
		if resp.StatusCode != 200 || string(body) != "{}" {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		resp, body = e.do("PUT", put, aliceToken, strings.NewReader("again"))
		wantError(t, "second PUT", resp, body, 409, "M_CANNOT_OVERWRITE_MEDIA")

		resp, body = e.do("GET", download, aliceToken, nil)
		if resp.StatusCode != 200 || string(body) != "hello" || resp.Header.Get("Content-Disposition") != "inline; filename=a.txt" {
			t.Errorf("download: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Disposition"))
		}
	})
}
