package media

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// FuzzMediaPaths sends arbitrary server names, media IDs and query
// strings to the download and thumbnail endpoints: every answer must be
// a Matrix client error or a success, never a 500.
func FuzzMediaPaths(f *testing.F) {
	f.Add("example.org", "abc", "width=1&height=1")
	f.Add("[::1]:80", "../../etc/passwd", "method=crop")
	f.Add("bad server", "x\x00y", "timeout_ms=-1&width=9&height=9&animated=true")
	f.Add("example.org:99999", "%2e%2e", "width=%00")
	e := newEnv(f, storagetest.NewSQLite(f), 1<<20, Options{})
	known := e.upload("image/png", "", encodePNG(f, testImage(8, 8, false)))
	f.Add("example.org", known, "width=4&height=2&method=crop")
	f.Fuzz(func(t *testing.T, server, mediaID, query string) {
		for _, base := range []string{
			"/_matrix/media/v3/download/",
			"/_matrix/media/v3/thumbnail/",
		} {
			u, err := url.Parse(base + url.PathEscape(server) + "/" + url.PathEscape(mediaID) + "?" + query)
			if err != nil {
				continue
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.URL, req.RequestURI = u, u.RequestURI()
			rec := httptest.NewRecorder()
			e.rt.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: %d %s", u, rec.Code, rec.Body)
			}
		}
	})
}
