package media

import (
	"bytes"
	"fmt"
	"image"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// gifBomb is a 13-byte GIF header claiming a 65535x65535 screen.
var gifBomb = []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00")

func TestThumbnails(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, 10<<20, Options{})
		sources := map[string]string{
			"png":       e.upload("image/png", "a.png", encodePNG(t, testImage(800, 600, false))),
			"png-alpha": e.upload("image/png", "b.png", encodePNG(t, testImage(800, 600, true))),
			"jpeg":      e.upload("image/jpeg", "c.jpg", encodeJPEG(t, testImage(800, 600, false))),
		}
		for name, mediaID := range sources {
			for _, c := range []struct {
				query        string
				wantW, wantH int
			}{
				{"width=320&height=240&method=scale", 320, 240},
				{"width=100&height=100&method=scale", 100, 75},
				{"width=100&height=100", 100, 75}, // scale is the default
				{"width=96&height=96&method=crop", 96, 96},
				{"width=640&height=100&method=crop", 640, 100},
				{"width=1000&height=1000&method=crop", 600, 600},
				{"width=4000&height=3000&method=scale", 800, 600},
			} {
				path := fmt.Sprintf("/_matrix/client/v1/media/thumbnail/example.org/%s?%s", mediaID, c.query)
				resp, body := e.do("GET", path, aliceToken, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", name, c.query, resp.StatusCode, body)
				}
				img, format, err := image.Decode(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("%s %s: decode: %v", name, c.query, err)
				}
				if b := img.Bounds(); b.Dx() != c.wantW || b.Dy() != c.wantH {
					t.Errorf("%s %s: %dx%d, want %dx%d", name, c.query, b.Dx(), b.Dy(), c.wantW, c.wantH)
				}
				wantFormat := "jpeg"
				if name == "png-alpha" {
					wantFormat = "png"
				}
				if format != wantFormat || resp.Header.Get("Content-Type") != "image/"+wantFormat {
					t.Errorf("%s: format %s, Content-Type %q", name, format, resp.Header.Get("Content-Type"))
				}
				if resp.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" ||
					resp.Header.Get("Content-Disposition") != "inline; filename=thumbnail."+map[string]string{"jpeg": "jpg", "png": "png"}[format] {
					t.Errorf("%s: headers %v", name, resp.Header)
				}
			}
		}

		// Legacy thumbnails need no token; v1 ones do.
		legacy := "/_matrix/media/v3/thumbnail/example.org/" + sources["jpeg"] + "?width=32&height=32&method=crop"
		if resp, _ := e.do("GET", legacy, "", nil); resp.StatusCode != 200 {
			t.Errorf("legacy thumbnail: %d", resp.StatusCode)
		}
		resp, body := e.do("GET", "/_matrix/client/v1/media/thumbnail/example.org/"+sources["jpeg"]+"?width=32&height=32", "", nil)
		wantError(t, "v1 thumbnail without token", resp, body, 401, "M_MISSING_TOKEN")
	})
}

func TestThumbnailErrors(t *testing.T) {
	e := newEnv(t, storagetest.NewSQLite(t), 10<<20, Options{})
	img := e.upload("image/png", "", encodePNG(t, testImage(40, 30, false)))
	text := e.upload("text/plain", "", []byte("just words"))
	bomb := e.upload("image/gif", "", gifBomb)
	base := "/_matrix/client/v1/media/thumbnail/example.org/"
	for _, c := range []struct {
		path    string
		status  int
		errcode string
	}{
		{base + text + "?width=32&height=32", 404, "M_NOT_FOUND"},
		{base + bomb + "?width=32&height=32", 413, "M_TOO_LARGE"},
		{base + "unknownMedia?width=32&height=32", 404, "M_NOT_FOUND"},
		{base + img + "?width=abc&height=32", 400, "M_INVALID_PARAM"},
		{base + img + "?width=0&height=32", 400, "M_INVALID_PARAM"},
		{base + img + "?width=-5&height=32", 400, "M_INVALID_PARAM"},
		{base + img + "?width=32", 400, "M_MISSING_PARAM"},
		{base + img + "?width=32&height=32&method=stretch", 400, "M_INVALID_PARAM"},
		{base + img + "?width=32&height=32&animated=maybe", 400, "M_INVALID_PARAM"},
		{base + img + "?width=99999999999999999999&height=32", 400, "M_INVALID_PARAM"},
		{"/_matrix/client/v1/media/thumbnail/bad_server/" + img + "?width=32&height=32", 400, "M_INVALID_PARAM"},
		{"/_matrix/client/v1/media/thumbnail/other.org/" + img + "?width=32&height=32", 404, "M_NOT_FOUND"},
	} {
		resp, body := e.do("GET", c.path, aliceToken, nil)
		wantError(t, c.path, resp, body, c.status, c.errcode)
	}
	// A huge but valid size is clamped, and the image is not upscaled.
	resp, body := e.do("GET", base+img+"?width=1000000&height=1000000", aliceToken, nil)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil || cfg.Width != 40 {
		t.Errorf("huge request: %d %v %v", resp.StatusCode, cfg, err)
	}
}
