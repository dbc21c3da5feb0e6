package media

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	repo "github.com/gatehouse-chat/gatehouse/core/media"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

const (
	aliceToken = "alice-token"
	bobToken   = "bob-token"
)

// tokenAuth is a fixed token table standing in for core/accounts.
type tokenAuth map[string]*httpx.Caller

func (a tokenAuth) Authenticate(r *http.Request) (*httpx.Caller, error) {
	tok := httpx.AccessToken(r)
	if tok == "" {
		return nil, httpx.MissingToken()
	}
	if c, ok := a[tok]; ok {
		return c, nil
	}
	return nil, httpx.UnknownToken()
}

type env struct {
	t   testing.TB
	svc *repo.Service
	rt  *httpx.Router
	srv *httptest.Server
}

func newEnv(t testing.TB, db *storage.DB, maxUpload int64, opts Options) *env {
	t.Helper()
	return newEnvWith(t, db, maxUpload, func(*repo.Service) Options { return opts })
}

// newEnvWith is newEnv for options that need the Service.
func newEnvWith(t testing.TB, db *storage.DB, maxUpload int64, opts func(*repo.Service) Options) *env {
	t.Helper()
	svc, err := repo.New(db, t.TempDir(), "example.org", maxUpload, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	rt := httpx.NewRouter(tokenAuth{
		aliceToken: {UserID: id.UserID("@alice:example.org"), DeviceID: "A"},
		bobToken:   {UserID: id.UserID("@bob:example.org"), DeviceID: "B"},
	}, zerolog.Nop())
	Register(rt, svc, opts(svc))
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &env{t: t, svc: svc, rt: rt, srv: srv}
}

// do sends a request over the network and returns the response with its
// body read.
func (e *env) do(method, path, token string, body io.Reader, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, data
}

// upload posts data and returns the media ID from the content URI.
func (e *env) upload(contentType, filename string, data []byte) string {
	e.t.Helper()
	path := "/_matrix/media/v3/upload"
	if filename != "" {
		path += "?filename=" + filename
	}
	resp, body := e.do("POST", path, aliceToken, bytes.NewReader(data), "Content-Type", contentType)
	if resp.StatusCode != 200 {
		e.t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	_ = json.Unmarshal(body, &out)
	server, mediaID, err := repo.ParseMXC(out.ContentURI)
	if err != nil || server != "example.org" {
		e.t.Fatalf("content_uri %q: %v", out.ContentURI, err)
	}
	return mediaID
}

// wantError checks a Matrix error response.
func wantError(t *testing.T, what string, resp *http.Response, body []byte, status int, errcode string) {
	t.Helper()
	var e struct {
		ErrCode string `json:"errcode"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != status || e.ErrCode != errcode {
		t.Errorf("%s: got %d %s, want %d %s", what, resp.StatusCode, body, status, errcode)
	}
}

func testImage(w, h int, alpha bool) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: uint8(x), G: uint8(y), B: 200, A: 255}
			if alpha && x > w/2 {
				c.A = 128
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
